/*
 * usage_scan: a checking walk over a JSON body (usage_scan.h). Every function
 * returns false as soon as it is unsure or sees an error: the caller then parses the
 * body whole, which gives the very answer or message it gave before.
 */
#include <string.h>

#include "proxy/provider.h"
#include "proxy/usage_scan.h"

#define SCAN_DEPTH_MAX 64 /* deeper bodies go to the tree reader (jansson allows 2048) */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} scan;

typedef struct {
    const char *key; /* member name wanted, or NULL */
    const unsigned char *start;
    size_t size;
} member;

static void skip_space(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        s->p++;
    }
}

static int hex4(const unsigned char *p) {
    int value = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return -1;
        }
        value = value * 16 + d;
    }
    return value;
}

/* One \u escape at s->p (the backslash): a surrogate only as a whole pair, never
 * \u0000 (jansson refuses it without JSON_ALLOW_NUL). */
static bool skip_unicode(scan *s) {
    if (s->end - s->p < 6) {
        return false;
    }
    int value = hex4(s->p + 2);
    if (value <= 0 || (value >= 0xDC00 && value <= 0xDFFF)) {
        return false;
    }
    s->p += 6;
    if (value >= 0xD800 && value <= 0xDBFF) {
        if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u') {
            return false;
        }
        int low = hex4(s->p + 2);
        if (low < 0xDC00 || low > 0xDFFF) {
            return false;
        }
        s->p += 6;
    }
    return true;
}

/* One UTF-8 sequence of two to four bytes at s->p, as RFC 3629 (and jansson) allow. */
static bool skip_utf8(scan *s) {
    unsigned char c = s->p[0];
    int more;
    unsigned char low = 0x80, high = 0xBF; /* the second byte's range */
    if (c >= 0xC2 && c <= 0xDF) {
        more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        more = 2;
        low = c == 0xE0 ? 0xA0 : 0x80;
        high = c == 0xED ? 0x9F : 0xBF; /* not a surrogate */
    } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3;
        low = c == 0xF0 ? 0x90 : 0x80;
        high = c == 0xF4 ? 0x8F : 0xBF; /* not past U+10FFFF */
    } else {
        return false;
    }
    if (s->end - s->p <= more || s->p[1] < low || s->p[1] > high) {
        return false;
    }
    for (int i = 2; i <= more; i++) {
        if (s->p[i] < 0x80 || s->p[i] > 0xBF) {
            return false;
        }
    }
    s->p += 1 + more;
    return true;
}

/* A string at s->p (its quote); *escaped says whether it had any escape. */
static bool skip_string(scan *s, bool *escaped) {
    *escaped = false;
    s->p++;
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c < 0x20) {
            return false;
        }
        if (c >= 0x80) {
            if (!skip_utf8(s)) {
                return false;
            }
        } else if (c != '\\') {
            s->p++;
        } else {
            *escaped = true;
            if (s->end - s->p < 2) {
                return false;
            }
            unsigned char e = s->p[1];
            if (e == 'u') {
                if (!skip_unicode(s)) {
                    return false;
                }
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                s->p += 2;
            } else {
                return false;
            }
        }
    }
    return false;
}

static bool is_digit(const scan *s) {
    return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* A number of JSON's grammar that jansson reads without a range error: an integer of
 * at most 18 characters (within int64), a real without a large exponent. */
static bool skip_number(scan *s) {
    const unsigned char *start = s->p;
    bool real = false;
    int exponent_digits = 0;
    if (*s->p == '-') {
        s->p++;
    }
    if (!is_digit(s)) {
        return false;
    }
    if (*s->p == '0') {
        s->p++;
    } else {
        while (is_digit(s)) {
            s->p++;
        }
    }
    if (s->p < s->end && *s->p == '.') {
        real = true;
        s->p++;
        if (!is_digit(s)) {
            return false;
        }
        while (is_digit(s)) {
            s->p++;
        }
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        real = true;
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
            s->p++;
        }
        if (!is_digit(s)) {
            return false;
        }
        while (is_digit(s)) {
            s->p++;
            exponent_digits++;
        }
    }
    size_t size = (size_t)(s->p - start);
    return real ? size <= 64 && exponent_digits <= 2 : size <= 18;
}

static bool skip_word(scan *s, const char *word) {
    size_t size = strlen(word);
    if ((size_t)(s->end - s->p) < size || memcmp(s->p, word, size) != 0) {
        return false;
    }
    s->p += size;
    return true;
}

static bool skip_value(scan *s, int depth);

/* An object at s->p ('{'). For each wanted member, the last one's value is recorded
 * (jansson keeps the last of duplicate keys); a wanted key spelled with escapes
 * might be one of them, so the scan is unsure then. */
static bool skip_object(scan *s, int depth, member *wanted, int wanted_count) {
    s->p++;
    skip_space(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return true;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"') {
            return false;
        }
        const unsigned char *key = s->p + 1;
        bool escaped;
        if (!skip_string(s, &escaped) || (escaped && wanted_count > 0)) {
            return false;
        }
        size_t key_size = (size_t)(s->p - 1 - key);
        skip_space(s);
        if (s->p >= s->end || *s->p != ':') {
            return false;
        }
        s->p++;
        skip_space(s);
        const unsigned char *value = s->p;
        if (!skip_value(s, depth + 1)) {
            return false;
        }
        for (int i = 0; i < wanted_count; i++) {
            if (strlen(wanted[i].key) == key_size && memcmp(wanted[i].key, key, key_size) == 0) {
                wanted[i].start = value;
                wanted[i].size = (size_t)(s->p - value);
            }
        }
        skip_space(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_space(s);
        } else if (s->p < s->end && *s->p == '}') {
            s->p++;
            return true;
        } else {
            return false;
        }
    }
}

static bool skip_array(scan *s, int depth) {
    s->p++;
    skip_space(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return true;
    }
    for (;;) {
        if (!skip_value(s, depth + 1)) {
            return false;
        }
        skip_space(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_space(s);
        } else if (s->p < s->end && *s->p == ']') {
            s->p++;
            return true;
        } else {
            return false;
        }
    }
}

static bool skip_value(scan *s, int depth) {
    if (s->p >= s->end || depth > SCAN_DEPTH_MAX) {
        return false;
    }
    bool escaped;
    switch (*s->p) {
    case '{':
        return skip_object(s, depth, NULL, 0);
    case '[':
        return skip_array(s, depth);
    case '"':
        return skip_string(s, &escaped);
    case 't':
        return skip_word(s, "true");
    case 'f':
        return skip_word(s, "false");
    case 'n':
        return skip_word(s, "null");
    default:
        return skip_number(s);
    }
}

bool tg__usage_scan(tg__route route, const char *body, size_t size, const char **usage,
                    size_t *usage_size, bool *nested) {
    scan s = {(const unsigned char *)body, (const unsigned char *)body + size};
    const tg__provider *provider = tg__route_provider(route);
    member top[2] = {{provider != NULL ? provider->usage_key : "usage", NULL, 0},
                     {"response", NULL, 0}};
    skip_space(&s);
    if (body == NULL || s.p >= s.end || *s.p != '{' || !skip_object(&s, 1, top, 2)) {
        return false;
    }
    skip_space(&s);
    if (s.p != s.end) {
        return false; /* jansson refuses what follows the value */
    }
    member *found = &top[0];
    member inner = {"usage", NULL, 0};
    const tg__route_row *row = tg__route_row_of(route);
    if (found->start == NULL && row != NULL && row->usage_nested && top[1].start != NULL &&
        top[1].start[0] == '{') {
        scan response = {top[1].start, top[1].start + top[1].size};
        if (!skip_object(&response, 2, &inner, 1)) {
            return false; /* checked once already: cannot happen */
        }
        found = &inner;
    }
    *usage = (const char *)found->start;
    *usage_size = found->size;
    if (nested != NULL) {
        *nested = found == &inner;
    }
    return true;
}

bool tg__json_scan_object(const char *body, size_t size) {
    scan s = {(const unsigned char *)body, (const unsigned char *)body + size};
    skip_space(&s);
    if (body == NULL || s.p >= s.end || *s.p != '{' || !skip_object(&s, 1, NULL, 0)) {
        return false;
    }
    skip_space(&s);
    return s.p == s.end;
}
