/*
 * numbers: saturating int64 arithmetic for bounds (numbers.h).
 */
#include "proxy/numbers.h"

static int64_t non_negative(int64_t value) {
    return value > 0 ? value : 0;
}

int64_t tg__sat_add(int64_t a, int64_t b) {
    a = non_negative(a);
    b = non_negative(b);
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int64_t tg__sat_mul(int64_t a, int64_t b) {
    a = non_negative(a);
    b = non_negative(b);
    if (a == 0 || b == 0) {
        return 0;
    }
    return a > INT64_MAX / b ? INT64_MAX : a * b;
}

int64_t tg__div_up(int64_t a, int64_t b) {
    a = non_negative(a);
    return b > 0 ? a / b + (a % b != 0) : INT64_MAX;
}

int64_t tg__min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

int64_t tg__max64(int64_t a, int64_t b) {
    return a > b ? a : b;
}
