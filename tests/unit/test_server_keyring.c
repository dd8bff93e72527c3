/*
 * The keyring's secret cache (keyring.h): a secret is found the same with the cache
 * as by its hash, every time, whatever else was asked before (many keys sharing 64
 * slots, guesses, prefixes, long secrets); a new ring (what every key change builds)
 * knows nothing of the old one's secrets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/keyring.h"

#define KEYS 200 /* more than the cache's slots: entries are evicted and found again */

static void secret_of(int i, char *out, size_t size) {
    snprintf(out, size, "tg_secret_%03d_%s", i, i % 7 == 0 ? "padded-out-longer" : "x");
}

static tg__config *config_with_keys(int count, int skip) {
    tg__config *config = calloc(1, sizeof *config);
    assert_non_null(config);
    tg__config_defaults(config);
    for (int i = 0; i < count; i++) {
        if (i == skip) {
            continue;
        }
        tg__key *key = &config->keys[config->keys_count++];
        memset(key, 0, sizeof *key);
        snprintf(key->name, sizeof key->name, "k%d", i);
        char secret[64];
        secret_of(i, secret, sizeof secret);
        tg__key_hash(secret, key->sha256);
        key->role = TG__ROLE_AGENT;
        key->class_max = TG_CLASS_NORMAL;
    }
    return config;
}

/* Found by the cache exactly as by the hash, or NULL for both. */
static const tg__key *find_both(tg__keyring *ring, const char *secret) {
    unsigned char hash[TG__SHA256_SIZE];
    tg__key_hash(secret, hash);
    const tg__key *by_hash = tg__keyring_find_hash(ring, hash);
    const tg__key *by_secret = tg__keyring_find_secret(ring, secret);
    assert_ptr_equal(by_secret, by_hash);
    return by_secret;
}

static void test_found_as_by_hash(void **state) {
    (void)state;
    tg__config *config = config_with_keys(KEYS, -1);
    tg__keyring *ring = tg__keyring_build(config, "admin-secret", NULL);
    assert_non_null(ring);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < KEYS; i++) {
            char secret[64], name[16];
            secret_of(i, secret, sizeof secret);
            const tg__key *key = find_both(ring, secret);
            assert_non_null(key);
            snprintf(name, sizeof name, "k%d", i);
            assert_string_equal(key->name, name);
            /* Near misses between two lookups of real keys: a prefix, one byte more,
             * one byte changed, the empty secret. None is found, none disturbs. */
            char near[80];
            snprintf(near, sizeof near, "%.*s", (int)strlen(secret) - 1, secret);
            assert_null(find_both(ring, near));
            snprintf(near, sizeof near, "%s!", secret);
            assert_null(find_both(ring, near));
            snprintf(near, sizeof near, "%s", secret);
            near[3] ^= 1;
            assert_null(find_both(ring, near));
            assert_null(find_both(ring, ""));
            /* The same key again, now likely from the cache. */
            assert_ptr_equal(find_both(ring, secret), key);
        }
    }
    const tg__key *admin = find_both(ring, "admin-secret");
    assert_non_null(admin);
    assert_int_equal(admin->role, TG__ROLE_ADMIN);
    assert_null(tg__keyring_find_secret(ring, NULL));
    assert_null(tg__keyring_find_secret(NULL, "admin-secret"));
    tg__keyring_free(ring);
    free(config);
}

/* Secrets as long as a cache entry or longer are found by their hash every time. */
static void test_long_secrets(void **state) {
    (void)state;
    tg__config *config = calloc(1, sizeof *config);
    assert_non_null(config);
    tg__config_defaults(config);
    char secrets[3][300];
    size_t sizes[3] = {127, 128, 299};
    for (int i = 0; i < 3; i++) {
        memset(secrets[i], 'a' + i, sizes[i]);
        secrets[i][sizes[i]] = '\0';
        tg__key *key = &config->keys[config->keys_count++];
        snprintf(key->name, sizeof key->name, "long%d", i);
        tg__key_hash(secrets[i], key->sha256);
        key->role = TG__ROLE_READ;
    }
    tg__keyring *ring = tg__keyring_build(config, NULL, NULL);
    assert_non_null(ring);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            assert_non_null(find_both(ring, secrets[i]));
            char shorter[300];
            snprintf(shorter, sizeof shorter, "%.*s", (int)sizes[i] - 1, secrets[i]);
            assert_null(find_both(ring, shorter));
        }
    }
    tg__keyring_free(ring);
    free(config);
}

/* A key removed from the config (a reload builds a new ring): its secret, cached in
 * the old ring a moment before, is not found in the new one; the others still are. */
static void test_new_ring_forgets(void **state) {
    (void)state;
    tg__config *before = config_with_keys(10, -1);
    tg__config *after = config_with_keys(10, 4);
    tg__keyring *ring = tg__keyring_build(before, NULL, NULL);
    char gone[64], kept[64];
    secret_of(4, gone, sizeof gone);
    secret_of(5, kept, sizeof kept);
    for (int i = 0; i < 3; i++) {
        assert_non_null(find_both(ring, gone));
        assert_non_null(find_both(ring, kept));
    }
    tg__keyring_free(ring);
    ring = tg__keyring_build(after, NULL, NULL);
    assert_null(find_both(ring, gone));
    assert_non_null(find_both(ring, kept));
    assert_null(find_both(ring, gone));
    tg__keyring_free(ring);
    free(before);
    free(after);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_found_as_by_hash),
        cmocka_unit_test(test_long_secrets),
        cmocka_unit_test(test_new_ring_forgets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
