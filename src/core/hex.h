/*
 * hex: one hex digit's value, for the few places that decode hex text (key hashes,
 * JSON \uXXXX escapes, URL percent escapes), inline since callers are byte loops; and
 * bytes to hex text and back (hex.c), for the keys' SHA-256 in config files, the API, the
 * CLI and the SQLite store's api_keys table. Pure.
 */
#ifndef TG_CORE_HEX_H
#define TG_CORE_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* 0..15 for [0-9a-fA-F], -1 for any other character. */
static inline int tg__hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The size bytes of in as 2 * size lowercase hex digits and a NUL, into out (2 * size + 1
 * bytes). */
void tg__hex_encode(const unsigned char *in, size_t size, char *out);

/* Exactly 2 * size hex digits (either case) into size bytes of out. False, out partly
 * written, on any other text. */
bool tg__hex_decode(const char *text, unsigned char *out, size_t size);

#endif
