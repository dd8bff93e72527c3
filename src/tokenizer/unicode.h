/*
 * unicode: the character classes the pre-tokenization regular expressions use,
 * and UTF-8 decoding that never fails. The tables come from the Unicode Character
 * Database at build time (scripts/build-tokenizer-data.js writes
 * unicode_classes.c into the build directory).
 *
 * Invalid UTF-8 (a stray continuation byte, a truncated or overlong sequence, a
 * surrogate) decodes as one byte of class 0, the class of punctuation: such bytes
 * then go through byte-level BPE like any other, so every input has an encoding
 * and decode(encode(x)) == x for arbitrary bytes. Valid text, the only input the
 * reference accepts, is never affected.
 */
#ifndef TG_TOKENIZER_UNICODE_H
#define TG_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Class bits; keep in step with scripts/build-tokenizer-data.js. */
enum {
    TG__CLASS_LETTER = 1 << 0,  /* \p{L} */
    TG__CLASS_NUMBER = 1 << 1,  /* \p{N} */
    TG__CLASS_UPPER = 1 << 2,   /* [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], o200k's first word class */
    TG__CLASS_LOWER = 1 << 3,   /* [\p{Ll}\p{Lm}\p{Lo}\p{M}], o200k's second word class */
    TG__CLASS_SPACE = 1 << 4,   /* \s: the White_Space property */
    TG__CLASS_MARK = 1 << 5,    /* \p{M} */
    TG__CLASS_NEWLINE = 1 << 6, /* \r or \n (set only by tg__ascii_class) */
    TG__CLASS_END = 1 << 7      /* past the end of the text */
};

/* [^\s\p{L}\p{N}]: punctuation, symbols, marks in cl100k, and invalid bytes. */
static inline int tg__is_other(unsigned kind) {
    return (kind & (TG__CLASS_LETTER | TG__CLASS_NUMBER | TG__CLASS_SPACE | TG__CLASS_END)) == 0;
}

/* [^\r\n\p{L}\p{N}]: the optional character before a word. */
static inline int tg__is_prefix(unsigned kind) {
    return (kind & (TG__CLASS_LETTER | TG__CLASS_NUMBER | TG__CLASS_NEWLINE | TG__CLASS_END)) == 0;
}

extern const uint16_t tg__unicode_stage1[0x1100];
extern const uint8_t tg__unicode_stage2[];
extern const char tg__unicode_version[];
extern const uint8_t tg__ascii_class[128];

/* One decoded character: its class bits and the offset just past it. */
typedef struct {
    uint32_t cp;   /* code point; 0xFFFD stands in for an invalid byte */
    unsigned kind; /* TG__CLASS_* bits; 0 for punctuation and invalid bytes */
    size_t next;   /* offset of the next character */
} tg__char;

static inline unsigned tg__class_of(uint32_t cp) {
    if (cp < 128) {
        return tg__ascii_class[cp];
    }
    return tg__unicode_stage2[((uint32_t)tg__unicode_stage1[cp >> 8] << 8) | (cp & 0xff)];
}

/* Decodes the multi-byte sequence at s[i] (s[i] >= 0x80). */
static inline tg__char tg__decode_multi(const uint8_t *s, size_t n, size_t i) {
    tg__char c = {0xFFFD, 0, i + 1};
    uint32_t b0 = s[i];
    size_t need;
    uint32_t cp;
    uint32_t min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1, cp = b0 & 0x1F, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2, cp = b0 & 0x0F, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3, cp = b0 & 0x07, min = 0x10000;
    } else {
        return c;
    }
    if (n - i <= need) {
        return c;
    }
    for (size_t k = 1; k <= need; k++) {
        uint32_t b = s[i + k];
        if ((b & 0xC0) != 0x80) {
            return c;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return c;
    }
    c.cp = cp;
    c.kind = tg__class_of(cp);
    c.next = i + 1 + need;
    return c;
}

/* The character at s[i]; at i == n, kind TG__CLASS_END and next n. */
static inline tg__char tg__char_at(const uint8_t *s, size_t n, size_t i) {
    if (i >= n) {
        tg__char end = {0, TG__CLASS_END, n};
        return end;
    }
    if (s[i] < 0x80) {
        tg__char c = {s[i], tg__ascii_class[s[i]], i + 1};
        return c;
    }
    return tg__decode_multi(s, n, i);
}

#endif
