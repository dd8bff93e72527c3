/*
 * keyring: the table of keys behind authentication (keyring.h). The keys are
 * copied into a dense array; an open-addressing index (linear probing, a power
 * of two at least twice the count) maps the first 8 bytes of a hash to its
 * entry. Built whole and swapped in: rebuilding is rare (a reload, a key API
 * call), finding is on every request. The secret cache lives and dies with its
 * ring, so any key change (which always builds a new ring) empties it: a removed
 * or rotated secret is never found in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "config/keyring.h"

/* The secret cache (tg__keyring_find_secret): secrets recently found, so that a
 * keep-alive agent's every request does not hash its key again. Direct-mapped by a
 * seeded hash of the secret; a secret as long as an entry or longer is not cached. */
#define CACHE_SLOTS 64 /* a power of two */
#define CACHE_SECRET_SIZE 128

typedef struct {
    unsigned char secret[CACHE_SECRET_SIZE]; /* zero-padded, so equal length is part of equal */
    int32_t at;                              /* index into keys, -1 empty */
} cache_entry;

struct tg__keyring {
    tg__key *keys; /* from malloc */
    int count;
    int capacity;
    int32_t *slots;      /* index into keys, -1 empty; from malloc */
    uint32_t slots_mask; /* slots count - 1 */
    cache_entry cache[CACHE_SLOTS];
    uint64_t cache_seed; /* random per ring: which slot a secret takes is not guessable */
};

static uint32_t home(const unsigned char sha256[TG__SHA256_SIZE], uint32_t mask) {
    uint32_t bits;
    memcpy(&bits, sha256, sizeof bits); /* a hash's bytes are already uniform */
    return bits & mask;
}

const tg__key *tg__keyring_find_hash(const tg__keyring *ring,
                                     const unsigned char sha256[TG__SHA256_SIZE]) {
    if (ring == NULL) {
        return NULL;
    }
    for (uint32_t i = home(sha256, ring->slots_mask);; i = (i + 1) & ring->slots_mask) {
        int32_t at = ring->slots[i];
        if (at < 0) {
            return NULL;
        }
        if (CRYPTO_memcmp(ring->keys[at].sha256, sha256, TG__SHA256_SIZE) == 0) {
            return &ring->keys[at];
        }
    }
}

/* FNV-1a over the secret, seeded, then mixed (a slot from the high bits). */
static uint32_t cache_slot(const tg__keyring *ring, const unsigned char *secret, size_t size) {
    uint64_t h = 1469598103934665603ull ^ ring->cache_seed;
    for (size_t i = 0; i < size; i++) {
        h = (h ^ secret[i]) * 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(h >> 58) & (CACHE_SLOTS - 1);
}

const tg__key *tg__keyring_find_secret(tg__keyring *ring, const char *secret) {
    if (ring == NULL || secret == NULL) {
        return NULL;
    }
    size_t size = strlen(secret);
    unsigned char padded[CACHE_SECRET_SIZE] = {0};
    cache_entry *entry = NULL;
    if (size < CACHE_SECRET_SIZE) {
        memcpy(padded, secret, size);
        entry = &ring->cache[cache_slot(ring, padded, size)];
        /* Compared whole whether the slot is taken or not, in constant time: the time
         * says nothing of how much of a cached secret a guess matches. */
        if (CRYPTO_memcmp(entry->secret, padded, CACHE_SECRET_SIZE) == 0 && entry->at >= 0) {
            OPENSSL_cleanse(padded, sizeof padded);
            return &ring->keys[entry->at];
        }
    }
    unsigned char hash[TG__SHA256_SIZE];
    tg__key_hash(secret, hash);
    const tg__key *key = tg__keyring_find_hash(ring, hash);
    if (key != NULL && entry != NULL) {
        /* Only secrets of real keys are kept: guesses cannot evict them wholesale. */
        memcpy(entry->secret, padded, CACHE_SECRET_SIZE);
        entry->at = (int32_t)(key - ring->keys);
    }
    OPENSSL_cleanse(padded, sizeof padded);
    return key;
}

static bool add(tg__keyring *ring, const tg__key *key) {
    if (tg__keyring_find_hash(ring, key->sha256) != NULL) {
        return true; /* the first declaration of a hash wins (config, then env, then ledger) */
    }
    if (ring->count == ring->capacity) {
        return false; /* sized before: cannot happen */
    }
    ring->keys[ring->count] = *key;
    uint32_t i = home(key->sha256, ring->slots_mask);
    while (ring->slots[i] >= 0) {
        i = (i + 1) & ring->slots_mask;
    }
    ring->slots[i] = ring->count++;
    return true;
}

typedef struct {
    tg__keyring *ring;
    bool ok;
} ledger_walk;

static bool add_ledger_key(void *user, const tg_api_key *stored) {
    ledger_walk *walk = user;
    tg__key key;
    memset(&key, 0, sizeof key);
    snprintf(key.name, sizeof key.name, "%s", stored->name);
    memcpy(key.sha256, stored->sha256, TG__SHA256_SIZE);
    if (!tg__role_parse(stored->role, &key.role)) {
        return true; /* a role this version does not know grants nothing */
    }
    snprintf(key.scope, sizeof key.scope, "%s", stored->scope);
    key.class_max = stored->class_max;
    key.source = TG__KEY_FROM_LEDGER;
    key.created_at_ms = stored->created_at_ms;
    walk->ok = add(walk->ring, &key) && walk->ok;
    return walk->ok;
}

static int count_ledger_keys(tg_engine *engine);

tg__keyring *tg__keyring_build(const tg__config *config, const char *admin_secret,
                               tg_engine *engine) {
    tg__keyring *ring = calloc(1, sizeof *ring);
    if (ring == NULL) {
        return NULL;
    }
    ring->capacity = config->keys_count + 1 + count_ledger_keys(engine);
    uint32_t slots = 16;
    while (slots < 2 * (uint32_t)ring->capacity) {
        slots *= 2;
    }
    ring->keys = calloc((size_t)ring->capacity, sizeof *ring->keys);
    ring->slots = malloc(slots * sizeof *ring->slots);
    ring->slots_mask = slots - 1;
    if (ring->keys == NULL || ring->slots == NULL) {
        tg__keyring_free(ring);
        return NULL;
    }
    memset(ring->slots, 0xff, slots * sizeof *ring->slots); /* every slot -1 */
    for (int i = 0; i < CACHE_SLOTS; i++) {
        ring->cache[i].at = -1;
    }
    if (RAND_bytes((unsigned char *)&ring->cache_seed, sizeof ring->cache_seed) != 1) {
        ring->cache_seed = 0; /* still correct; only the slots become predictable */
    }
    bool ok = true;
    for (int i = 0; i < config->keys_count; i++) {
        ok = add(ring, &config->keys[i]) && ok;
    }
    if (admin_secret != NULL) {
        tg__key admin = {.name = "TOLLGATE_ADMIN_KEY",
                         .role = TG__ROLE_ADMIN,
                         .class_max = TG_CLASS_CRITICAL,
                         .source = TG__KEY_FROM_ENV};
        tg__key_hash(admin_secret, admin.sha256);
        ok = add(ring, &admin) && ok;
    }
    ledger_walk walk = {ring, true};
    if (engine != NULL) {
        tg_api_key_list(engine, add_ledger_key, &walk, NULL);
    }
    if (!ok || !walk.ok) {
        tg__keyring_free(ring);
        return NULL;
    }
    return ring;
}

static bool count_one(void *user, const tg_api_key *key) {
    (void)key;
    (*(int *)user)++;
    return true;
}

static int count_ledger_keys(tg_engine *engine) {
    int count = 0;
    if (engine != NULL) {
        tg_api_key_list(engine, count_one, &count, NULL);
    }
    return count;
}

void tg__keyring_free(tg__keyring *ring) {
    if (ring == NULL) {
        return;
    }
    free(ring->keys);
    free(ring->slots);
    OPENSSL_cleanse(ring->cache, sizeof ring->cache); /* the secrets */
    free(ring);
}

int tg__keyring_count(const tg__keyring *ring) {
    return ring != NULL ? ring->count : 0;
}

const tg__key *tg__keyring_at(const tg__keyring *ring, int i) {
    return ring != NULL && i >= 0 && i < ring->count ? &ring->keys[i] : NULL;
}
