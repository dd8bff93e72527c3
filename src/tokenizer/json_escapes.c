/*
 * json_escapes: the rewrite behind tg__json_load_lenient. The text is scanned escape by
 * escape ("\\" always consumes the next character, so an escaped backslash followed
 * by "u0000" is left alone); only \uXXXX escapes are looked at. Bodies without such
 * escapes (nearly all) are handed to jansson as they are, without a copy.
 */
#include "tokenizer/json_escapes.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"

/* The code unit of the escape "\uXXXX" at text[at], or -1 when there is none there. */
static long escape_at(const char *text, size_t len, size_t at) {
    if (at + 6 > len || text[at] != '\\' || text[at + 1] != 'u') {
        return -1;
    }
    long unit = 0;
    for (size_t k = 2; k < 6; k++) {
        int v = tg__hex_value(text[at + k]);
        if (v < 0) {
            return -1;
        }
        unit = unit * 16 + v;
    }
    return unit;
}

static bool is_high(long unit) {
    return unit >= 0xD800 && unit <= 0xDBFF;
}

static bool is_low(long unit) {
    return unit >= 0xDC00 && unit <= 0xDFFF;
}

/* Counts the escapes to rewrite, and rewrites them into out (a copy of text) if given. */
static size_t scan(const char *text, size_t len, char *out) {
    size_t found = 0;
    const char *p = text;
    const char *end = text + len;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        size_t at = (size_t)(p - text);
        long unit = escape_at(text, len, at);
        if (unit < 0) {
            p += p + 1 < end ? 2 : 1; /* another escape: skip the escaped character */
            continue;
        }
        bool bad = false;
        size_t width = 6;
        if (is_high(unit)) {
            if (is_low(escape_at(text, len, at + 6))) {
                width = 12; /* a valid pair */
            } else {
                bad = true;
            }
        } else if (is_low(unit) || unit == 0) {
            bad = true;
        }
        if (bad) {
            found++;
            if (out != NULL) {
                memcpy(out + at, "\\uFFFD", 6);
            }
        }
        p += width;
    }
    return found;
}

json_t *tg__json_load_lenient(const char *text, size_t len, size_t flags, json_error_t *error) {
    if (text == NULL || scan(text, len, NULL) == 0) {
        return json_loadb(text, len, flags, error);
    }
    char *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        if (error != NULL) {
            memset(error, 0, sizeof *error);
            strcpy(error->text, "out of memory");
        }
        return NULL;
    }
    memcpy(copy, text, len);
    scan(text, len, copy);
    json_t *root = json_loadb(copy, len, flags, error);
    free(copy);
    return root;
}
