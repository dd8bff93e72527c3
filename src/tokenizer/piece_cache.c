/*
 * piece_cache: see piece_cache.h.
 */
#include "tokenizer/piece_cache.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/hash_mix.h"
#include "tokenizer/huge_alloc.h"

bool tg__piece_cache_init(tg__piece_cache *cache) {
    memset(cache, 0, sizeof *cache);
    cache->entries = calloc(TG__PIECE_CACHE_ENTRIES, sizeof *cache->entries);
    if (cache->entries == NULL) {
        return false;
    }
    pthread_mutex_init(&cache->lock, NULL);
    return true;
}

void tg__piece_cache_free(tg__piece_cache *cache) {
    for (size_t i = 0; i < TG__PIECE_CACHE_ENTRIES; i++) {
        free(cache->entries[i].bytes);
    }
    free(cache->entries);
    cache->entries = NULL;
    pthread_mutex_destroy(&cache->lock);
}

uint64_t tg__piece_hash(const uint8_t *p, size_t len) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
    h = tg__hash_mix(h, p, 0, len);
    return h ^ (h >> 32);
}

static uint32_t *ids_of(const tg__piece_entry *e) {
    return (uint32_t *)(e->bytes + ((e->len + 3) & ~(size_t)3));
}

static size_t entry_size(size_t len, size_t count) {
    return ((len + 3) & ~(size_t)3) + count * sizeof(uint32_t);
}

bool tg__piece_cache_get(tg__piece_cache *cache, uint64_t hash, const uint8_t *p, size_t len,
                         uint32_t *ids, size_t *count_out) {
    bool found = false;
    const tg__piece_entry *e = &cache->entries[hash % TG__PIECE_CACHE_ENTRIES];
    pthread_mutex_lock(&cache->lock);
    if (e->len == len && e->hash == hash && memcmp(e->bytes, p, len) == 0) {
        if (ids != NULL) {
            memcpy(ids, ids_of(e), e->count * sizeof *ids);
        }
        *count_out = e->count;
        found = true;
    }
    pthread_mutex_unlock(&cache->lock);
    return found;
}

void tg__piece_cache_put(tg__piece_cache *cache, uint64_t hash, const uint8_t *p, size_t len,
                         const uint32_t *ids, size_t count) {
    size_t size = entry_size(len, count);
    if (size > TG__PIECE_CACHE_BYTES_MAX / 4) {
        return; /* one piece may not take more than a quarter of the cache */
    }
    /* A long piece's entry in huge pages (huge_alloc.h): copying 3 MB of a 1 MiB
     * piece's bytes and ids into fresh 4 KiB pages cost ~750 page faults, more than
     * the merge. The cache is charged what the entry holds, rounding included. */
    size_t capacity;
    uint8_t *bytes = tg__huge_alloc(size, &capacity);
    if (bytes == NULL) {
        return;
    }
    memcpy(bytes, p, len);
    tg__piece_entry *e = &cache->entries[hash % TG__PIECE_CACHE_ENTRIES];
    uint8_t *old = NULL;
    pthread_mutex_lock(&cache->lock);
    size_t old_size = e->len != 0 ? e->charged : 0;
    if (cache->bytes_total - old_size + capacity <= TG__PIECE_CACHE_BYTES_MAX) {
        old = e->bytes;
        cache->bytes_total = cache->bytes_total - old_size + capacity;
        e->hash = hash;
        e->len = len;
        e->bytes = bytes;
        e->count = count;
        e->charged = capacity;
        memcpy(ids_of(e), ids, count * sizeof *ids);
        bytes = NULL;
    }
    pthread_mutex_unlock(&cache->lock);
    free(old);
    free(bytes);
}
