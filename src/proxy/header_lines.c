/*
 * header_lines: header lines checked and written without printf (header_lines.h).
 */
#include <string.h>
#include <time.h>

#include "proxy/header_lines.h"

/* RFC 9110's tchar: "!#$%&'*+-.^_`|~", digits and letters, as bits of the ASCII codes
 * 0-63 and 64-127 (a test per byte: every header of every reply passes here). */
static bool is_tchar(unsigned char c) {
    static const uint64_t TCHAR_LOW = 0x03ff6cfa00000000u;
    static const uint64_t TCHAR_HIGH = 0x57ffffffc7fffffeu;
    return c < 64 ? (TCHAR_LOW >> c) & 1u : c < 128 ? (TCHAR_HIGH >> (c - 64)) & 1u : false;
}

bool tg__header_name_valid(const char *name, size_t size) {
    if (size == 0 || size >= TG__HEADER_NAME_SIZE_MAX) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        if (!is_tchar((unsigned char)name[i])) {
            return false;
        }
    }
    return true;
}

bool tg__header_line_add(tg__buf *lines, const char *name, size_t name_size, const char *value,
                         size_t value_size) {
    if (!tg__header_name_valid(name, name_size)) {
        return false;
    }
    for (size_t i = 0; i < value_size; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c <= '\r' && (c == '\r' || c == '\n' || c == '\0')) {
            return false;
        }
    }
    size_t before = lines->size;
    if (tg__buf_append(lines, name, name_size) != TG_OK ||
        tg__buf_append(lines, ": ", 2) != TG_OK ||
        tg__buf_append(lines, value, value_size) != TG_OK ||
        tg__buf_append(lines, "\r\n", 2) != TG_OK) {
        tg__buf_truncate(lines, before);
        return false;
    }
    return true;
}

static void two_digits(char *out, int value) {
    out[0] = (char)('0' + value / 10 % 10);
    out[1] = (char)('0' + value % 10);
}

void tg__http_date(int64_t seconds, char out[TG__HTTP_DATE_SIZE]) {
    static const char DAYS[] = "SunMonTueWedThuFriSat";
    static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t t = (time_t)seconds;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        memset(&tm, 0, sizeof tm); /* out of the format's range: the epoch's day */
        tm.tm_year = 70;
        tm.tm_mday = 1;
        tm.tm_wday = 4;
    }
    /* "Thu, 01 Jan 1970 00:00:00 GMT" */
    memcpy(out, DAYS + 3 * tm.tm_wday, 3);
    memcpy(out + 3, ", ", 2);
    two_digits(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, MONTHS + 3 * tm.tm_mon, 3);
    out[11] = ' ';
    int year = tm.tm_year + 1900;
    two_digits(out + 12, year / 100);
    two_digits(out + 14, year % 100);
    out[16] = ' ';
    two_digits(out + 17, tm.tm_hour);
    out[19] = ':';
    two_digits(out + 20, tm.tm_min);
    out[22] = ':';
    two_digits(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 5); /* with the NUL */
}

size_t tg__int64_text(int64_t value, char out[TG__INT64_TEXT_SIZE]) {
    char digits[TG__INT64_TEXT_SIZE];
    size_t count = 0;
    /* Negated digit by digit, so INT64_MIN needs no special case. */
    bool negative = value < 0;
    do {
        int digit = (int)(value % 10);
        digits[count++] = (char)('0' + (negative ? -digit : digit));
        value /= 10;
    } while (value != 0);
    size_t size = 0;
    if (negative) {
        out[size++] = '-';
    }
    while (count > 0) {
        out[size++] = digits[--count];
    }
    out[size] = '\0';
    return size;
}
