/*
 * piece_cache: see piece_cache.h.
 */
#include "tokenizer/piece_cache.h"

#include <stdlib.h>
#include <string.h>

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
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    for (; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001B3ull;
    }
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
    uint8_t *bytes = malloc(size);
    if (bytes == NULL) {
        return;
    }
    memcpy(bytes, p, len);
    tg__piece_entry *e = &cache->entries[hash % TG__PIECE_CACHE_ENTRIES];
    uint8_t *old = NULL;
    pthread_mutex_lock(&cache->lock);
    size_t old_size = e->len != 0 ? entry_size(e->len, e->count) : 0;
    if (cache->bytes_total - old_size + size <= TG__PIECE_CACHE_BYTES_MAX) {
        old = e->bytes;
        cache->bytes_total = cache->bytes_total - old_size + size;
        e->hash = hash;
        e->len = len;
        e->bytes = bytes;
        e->count = count;
        memcpy(ids_of(e), ids, count * sizeof *ids);
        bytes = NULL;
    }
    pthread_mutex_unlock(&cache->lock);
    free(old);
    free(bytes);
}
