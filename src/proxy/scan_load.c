/*
 * scan_load: builds the jansson tree of text tg__usage_scan accepted (scan_load.h).
 * Every step still checks the grammar it relies on and gives up (NULL) on anything
 * else, so a caller that passed other text gets NULL, not a wrong tree; but the
 * checks the scan made once (UTF-8, escape values, number ranges) are not repeated.
 */
#include <errno.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "proxy/scan_load.h"

#define LOAD_DEPTH_MAX 64    /* as the scan's SCAN_DEPTH_MAX: deeper text is not loaded */
#define NUMBER_SIZE_MAX 64   /* the scan's longest number */
#define STRING_STACK_MAX 256 /* a decoded string this short needs no malloc */

typedef struct {
    const char *p;          /* next byte */
    const char *end;        /* one past the last */
    bool reject_duplicates; /* JSON_REJECT_DUPLICATES: a key twice in an object fails */
} cursor;

static json_t *load_value(cursor *c, int depth);

static void skip_space(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

/* Four hex digits at p, -1 when they are not. */
static long hex4(const char *p) {
    long value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = tg__hex_value(p[i]);
        if (digit < 0) {
            return -1;
        }
        value = value * 16 + digit;
    }
    return value;
}

/* Writes code point `cp` as UTF-8 at out; returns the bytes written. */
static size_t put_utf8(char *out, unsigned long cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escapes of a string's body (size bytes at in) into out, which has room
 * for size bytes (an escape never decodes longer than it is written). Returns the
 * decoded size, or (size_t)-1 for an escape the scan would not have passed. */
static size_t decode(const char *in, size_t size, char *out) {
    size_t used = 0;
    for (size_t i = 0; i < size;) {
        if (in[i] != '\\') {
            out[used++] = in[i++];
            continue;
        }
        if (i + 1 >= size) {
            return (size_t)-1;
        }
        char e = in[i + 1];
        static const char FROM[] = "\"\\/bfnrt", TO[] = "\"\\/\b\f\n\r\t";
        const char *simple = e != '\0' ? strchr(FROM, e) : NULL;
        if (simple != NULL) {
            out[used++] = TO[simple - FROM];
            i += 2;
            continue;
        }
        long unit = e == 'u' && i + 6 <= size ? hex4(in + i + 2) : -1;
        if (unit <= 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) {
            return (size_t)-1; /* \u0000, a lone low half, or no escape at all */
        }
        i += 6;
        unsigned long cp = (unsigned long)unit;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            long low = i + 6 <= size && in[i] == '\\' && in[i + 1] == 'u' ? hex4(in + i + 2) : -1;
            if (low < 0xDC00 || low > 0xDFFF) {
                return (size_t)-1;
            }
            cp = 0x10000 + (((unsigned long)unit - 0xD800) << 10) + ((unsigned long)low - 0xDC00);
            i += 6;
        }
        used += put_utf8(out + used, cp);
    }
    return used;
}

/* A string at c->p (its quote): its decoded bytes handed to make(bytes, size). */
static json_t *load_string_with(cursor *c, json_t *(*make)(const char *, size_t, void *),
                                void *user) {
    const char *start = ++c->p;
    bool escaped = false;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\') {
            escaped = true;
            c->p++; /* the escaped byte is never the closing quote */
        }
        c->p++;
    }
    if (c->p >= c->end) {
        return NULL;
    }
    size_t size = (size_t)(c->p - start);
    c->p++;
    if (!escaped) {
        return make(start, size, user);
    }
    char stack[STRING_STACK_MAX];
    char *out = size <= sizeof stack ? stack : malloc(size);
    if (out == NULL) {
        return NULL;
    }
    size_t used = decode(start, size, out);
    json_t *made = used != (size_t)-1 ? make(out, used, user) : NULL;
    if (out != stack) {
        free(out);
    }
    return made;
}

static json_t *make_string(const char *bytes, size_t size, void *user) {
    (void)user;
    return json_stringn_nocheck(bytes, size);
}

/* An object member: its key (decoded) and the value that follows it, set on the object
 * as jansson's reader sets it. Returns the object, NULL on failure. */
typedef struct {
    json_t *object; /* being built */
    cursor *c;      /* positioned after the key */
    int depth;      /* the object's */
} member;

static json_t *set_member(const char *key, size_t key_size, void *user) {
    member *m = user;
    skip_space(m->c);
    if (m->c->p >= m->c->end || *m->c->p != ':') {
        return NULL;
    }
    m->c->p++;
    skip_space(m->c);
    if (m->c->reject_duplicates && json_object_getn(m->object, key, key_size) != NULL) {
        return NULL; /* jansson's reader refuses it, with its message: the caller's fallback */
    }
    json_t *value = load_value(m->c, m->depth + 1);
    if (value == NULL || json_object_setn_new_nocheck(m->object, key, key_size, value) != 0) {
        return NULL; /* setn frees value on failure */
    }
    return m->object;
}

static json_t *load_object(cursor *c, int depth) {
    json_t *object = json_object();
    c->p++;
    skip_space(c);
    if (object != NULL && c->p < c->end && *c->p == '}') {
        c->p++;
        return object;
    }
    member m = {object, c, depth};
    while (object != NULL) {
        if (c->p >= c->end || *c->p != '"' || load_string_with(c, set_member, &m) == NULL) {
            break;
        }
        skip_space(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            skip_space(c);
        } else if (c->p < c->end && *c->p == '}') {
            c->p++;
            return object;
        } else {
            break;
        }
    }
    json_decref(object);
    return NULL;
}

static json_t *load_array(cursor *c, int depth) {
    json_t *array = json_array();
    c->p++;
    skip_space(c);
    if (array != NULL && c->p < c->end && *c->p == ']') {
        c->p++;
        return array;
    }
    while (array != NULL) {
        json_t *item = load_value(c, depth + 1);
        if (item == NULL || json_array_append_new(array, item) != 0) {
            break;
        }
        skip_space(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            skip_space(c);
        } else if (c->p < c->end && *c->p == ']') {
            c->p++;
            return array;
        } else {
            break;
        }
    }
    json_decref(array);
    return NULL;
}

/* A number: an integer (at most 18 characters, so within int64, as the scan passes) by
 * its digits; a real by strtod as jansson reads it (its jsonp_strtod: strtod with the
 * locale's decimal point put in), so only where that point is "." (the C locale). */
static json_t *load_number(cursor *c) {
    const char *start = c->p;
    bool real = false;
    while (c->p < c->end && strchr("0123456789+-.eE", *c->p) != NULL && *c->p != '\0') {
        real = real || *c->p == '.' || *c->p == 'e' || *c->p == 'E';
        c->p++;
    }
    size_t size = (size_t)(c->p - start);
    if (size == 0 || size > NUMBER_SIZE_MAX || (!real && size > 18)) {
        return NULL;
    }
    if (!real) {
        bool negative = *start == '-';
        if (size == (size_t)negative) {
            return NULL; /* a sign without digits */
        }
        int64_t value = 0;
        for (const char *d = start + negative; d < c->p; d++) {
            if (*d < '0' || *d > '9') {
                return NULL;
            }
            value = value * 10 + (*d - '0');
        }
        return json_integer(negative ? -value : value);
    }
    const char *point = localeconv()->decimal_point;
    if (point == NULL || strcmp(point, ".") != 0) {
        return NULL;
    }
    char text[NUMBER_SIZE_MAX + 1];
    memcpy(text, start, size);
    text[size] = '\0';
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (end != text + size || errno == ERANGE) {
        return NULL; /* the scan passes no number jansson would refuse: not expected */
    }
    return json_real(value);
}

static bool take_word(cursor *c, const char *word) {
    size_t size = strlen(word);
    if ((size_t)(c->end - c->p) < size || memcmp(c->p, word, size) != 0) {
        return false;
    }
    c->p += size;
    return true;
}

static json_t *load_value(cursor *c, int depth) {
    if (c->p >= c->end || depth > LOAD_DEPTH_MAX) {
        return NULL;
    }
    switch (*c->p) {
    case '{':
        return load_object(c, depth);
    case '[':
        return load_array(c, depth);
    case '"':
        return load_string_with(c, make_string, NULL);
    case 't':
        return take_word(c, "true") ? json_true() : NULL;
    case 'f':
        return take_word(c, "false") ? json_false() : NULL;
    case 'n':
        return take_word(c, "null") ? json_null() : NULL;
    default:
        return load_number(c);
    }
}

json_t *tg__scan_load(const char *text, size_t size, size_t flags) {
    if (text == NULL || (flags & ~(size_t)JSON_REJECT_DUPLICATES) != 0) {
        return NULL;
    }
    cursor c = {text, text + size, (flags & JSON_REJECT_DUPLICATES) != 0};
    skip_space(&c);
    json_t *value = load_value(&c, 1);
    skip_space(&c);
    if (value != NULL && c.p != c.end) {
        json_decref(value);
        return NULL;
    }
    return value;
}
