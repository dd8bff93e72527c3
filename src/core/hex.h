/*
 * hex: one hex digit's value, for the few places that decode hex text (key hashes,
 * JSON \uXXXX escapes, URL percent escapes). Pure and inline: callers are byte loops.
 */
#ifndef TG_CORE_HEX_H
#define TG_CORE_HEX_H

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

#endif
