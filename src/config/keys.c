/*
 * keys: bearer keys are never stored, only their SHA-256 (and its hex in files);
 * finding a request's key is the keyring's (keyring.c), scopes are here.
 */
#include <string.h>

#include <openssl/sha.h>

#include "config/config.h"

void tg__key_hash(const char *secret, unsigned char out[TG__SHA256_SIZE]) {
    SHA256((const unsigned char *)secret, strlen(secret), out);
}

bool tg__path_in_scope(const char *scope, const char *path) {
    size_t length = strlen(scope);
    if (length == 0) {
        return true;
    }
    return strncmp(scope, path, length) == 0 && (path[length] == '\0' || path[length] == '/');
}
