/*
 * sign: the HMAC-SHA256 signature of a webhook body. The timestamp is signed
 * with the body so a captured request cannot be replayed later with a fresh
 * timestamp; receivers reject timestamps older than a few minutes (see
 * docs/notifications.md for the check, with code).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "notify/item.h"

bool tg__hmac_sha256(const char *key, const void *first, size_t first_size, const void *second,
                     size_t second_size, unsigned char out[32]) {
    /* Two parts through one context, so the body is never copied behind the prefix. */
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *context = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    size_t length = 0;
    bool ok = context != NULL &&
              EVP_MAC_init(context, (const unsigned char *)key, strlen(key), params) == 1 &&
              EVP_MAC_update(context, first, first_size) == 1 &&
              EVP_MAC_update(context, second, second_size) == 1 &&
              EVP_MAC_final(context, out, &length, 32) == 1 && length == 32;
    EVP_MAC_CTX_free(context);
    EVP_MAC_free(mac);
    return ok;
}

bool tg__notify_sign(const char *secret, int64_t timestamp_s, const char *body, size_t size,
                     char out[TG__NOTIFY_SIGNATURE_SIZE]) {
    char prefix[40];
    int prefix_length = snprintf(prefix, sizeof prefix, "v1:%lld:", (long long)timestamp_s);
    unsigned char digest[32];
    if (prefix_length < 0 ||
        !tg__hmac_sha256(secret, prefix, (size_t)prefix_length, body, size, digest)) {
        return false;
    }
    memcpy(out, "v1=", 3);
    for (size_t i = 0; i < sizeof digest; i++) {
        snprintf(out + 3 + 2 * i, 3, "%02x", digest[i]);
    }
    return true;
}
