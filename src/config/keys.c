/*
 * keys: bearer keys are never stored, only their SHA-256 (and its hex in files);
 * finding a request's key is the keyring's (keyring.c), scopes are here.
 */
#include <string.h>

#include <openssl/sha.h>

#include "core/hex.h"
#include "config/config.h"

void tg__key_hash(const char *secret, unsigned char out[TG__SHA256_SIZE]) {
    SHA256((const unsigned char *)secret, strlen(secret), out);
}

void tg__hex_encode(const unsigned char in[TG__SHA256_SIZE], char out[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < TG__SHA256_SIZE; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[64] = '\0';
}

bool tg__hex_decode(const char *text, unsigned char out[TG__SHA256_SIZE]) {
    if (strlen(text) != 2 * TG__SHA256_SIZE) {
        return false;
    }
    for (int i = 0; i < TG__SHA256_SIZE; i++) {
        int high = tg__hex_value(text[2 * i]);
        int low = tg__hex_value(text[2 * i + 1]);
        if (high < 0 || low < 0) {
            return false;
        }
        out[i] = (unsigned char)(high << 4 | low);
    }
    return true;
}

bool tg__path_in_scope(const char *scope, const char *path) {
    size_t length = strlen(scope);
    if (length == 0) {
        return true;
    }
    return strncmp(scope, path, length) == 0 && (path[length] == '\0' || path[length] == '/');
}
