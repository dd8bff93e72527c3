/*
 * hex: bytes to hex text and back (hex.h), one copy for every folder that keeps a key's
 * SHA-256 as text.
 */
#include <string.h>

#include "core/hex.h"

void tg__hex_encode(const unsigned char *in, size_t size, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * size] = '\0';
}

bool tg__hex_decode(const char *text, unsigned char *out, size_t size) {
    if (strlen(text) != 2 * size) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        int high = tg__hex_value(text[2 * i]);
        int low = tg__hex_value(text[2 * i + 1]);
        if (high < 0 || low < 0) {
            return false;
        }
        out[i] = (unsigned char)(high << 4 | low);
    }
    return true;
}
