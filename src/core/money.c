/*
 * money: exact decimal text <-> int64 micros, with no floating point anywhere.
 * "0.1" must be exactly 100000 micros; a double cannot promise that.
 */
#include <stdio.h>
#include <string.h>

#include "tollgate.h"

/*
 * Parses "123" or "123.4567" with at most `decimals` fraction digits, scaled by
 * 10^decimals. A point needs digits on both sides: "1." and ".5" are refused, as a
 * typo ("1." for "1.5"?) must not be read as a different amount.
 */
static tg_status parse_fixed(const char *text, int decimals, int64_t max, int64_t *out) {
    if (text == NULL || *text == '\0') {
        return TG_ERR_INVALID;
    }
    int64_t value = 0;
    const char *p = text;
    bool whole_seen = false; /* any digit before the point */
    /* Leading zeros do not change the value, so only the digits after them count
     * toward the 19 that an int64 can hold. */
    while (*p == '0') {
        whole_seen = true;
        p++;
    }
    int significant_digits = 0;
    while (*p >= '0' && *p <= '9') {
        whole_seen = true;
        if (++significant_digits > 19) {
            return TG_ERR_RANGE;
        }
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_add_overflow(value, *p - '0', &value)) {
            return TG_ERR_RANGE;
        }
        p++;
    }
    int fraction_digits = 0;
    int64_t fraction = 0;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (++fraction_digits > decimals) {
                return TG_ERR_INVALID;
            }
            fraction = fraction * 10 + (*p - '0');
            p++;
        }
        if (fraction_digits == 0 || !whole_seen) {
            return TG_ERR_INVALID;
        }
    }
    if (*p != '\0' || (!whole_seen && fraction_digits == 0)) {
        return TG_ERR_INVALID;
    }
    for (int i = fraction_digits; i < decimals; i++) {
        fraction *= 10;
    }
    int64_t scale = 1;
    for (int i = 0; i < decimals; i++) {
        scale *= 10;
    }
    if (__builtin_mul_overflow(value, scale, &value) ||
        __builtin_add_overflow(value, fraction, &value) || value > max) {
        return TG_ERR_RANGE;
    }
    *out = value;
    return TG_OK;
}

tg_status tg_money_parse(const char *text, int64_t *micros_out) {
    return parse_fixed(text, 6, TG_LIMIT_MAX, micros_out);
}

tg_status tg_fraction_parse(const char *text, int64_t *ppm_out) {
    return parse_fixed(text, 6, TG_PPM, ppm_out);
}

char *tg_money_format(int64_t micros, char *buf, size_t size) {
    /* Negative amounts only appear in deltas; print them with a sign. */
    const char *sign = micros < 0 ? "-" : "";
    uint64_t magnitude = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
    snprintf(buf, size, "%s%llu.%06llu", sign, (unsigned long long)(magnitude / 1000000),
             (unsigned long long)(magnitude % 1000000));
    return buf;
}
