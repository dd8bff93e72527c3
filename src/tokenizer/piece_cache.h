/*
 * piece_cache: the token ids of recently merged long pieces, shared by every call on
 * one tokenizer. A long piece (a run of letters, CJK text without punctuation, a
 * blob) costs O(n log n) to merge; the same piece often comes back (a system prompt
 * resent with every request), and then it costs one hash and one memcmp. Short
 * pieces are not cached: merging them is cheaper than the lock.
 *
 * Thread-safe (one mutex, taken only for pieces of TG__PIECE_CACHE_MIN_BYTES or more).
 * Bounded: TG__PIECE_CACHE_ENTRIES entries, direct-mapped by hash (a new piece
 * replaces the one in its slot), and TG__PIECE_CACHE_BYTES_MAX bytes in all.
 */
#ifndef TG_TOKENIZER_PIECE_CACHE_H
#define TG_TOKENIZER_PIECE_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG__PIECE_CACHE_MIN_BYTES 32
/* 8192 entries: text with many distinct long pieces (indentation of every width,
 * padding, a document of space runs) thrashed 1024 direct-mapped slots; the slots are
 * calloc'd (256 KiB, fresh zero pages), so the size costs opening nothing. */
#define TG__PIECE_CACHE_ENTRIES 8192
#define TG__PIECE_CACHE_BYTES_MAX ((size_t)16 << 20)

typedef struct {
    uint64_t hash;  /* of the piece's bytes */
    size_t len;     /* bytes of the piece; 0 for an empty entry */
    uint8_t *bytes; /* from malloc: the piece, then its ids (owned) */
    size_t count;   /* ids after the bytes */
} tg__piece_entry;

typedef struct {
    pthread_mutex_t lock;     /* guards what follows */
    tg__piece_entry *entries; /* from calloc, TG__PIECE_CACHE_ENTRIES;
                                 slot: hash % entries */
    size_t bytes_total;       /* bytes held by entries */
} tg__piece_cache;

/* false when out of memory (nothing to free then). */
bool tg__piece_cache_init(tg__piece_cache *cache);
void tg__piece_cache_free(tg__piece_cache *cache);

uint64_t tg__piece_hash(const uint8_t *p, size_t len);

/* Copies the cached ids of p[0..len) to ids (room for len; NULL to only count) and
 * sets *count_out; false if the piece is not cached. */
bool tg__piece_cache_get(tg__piece_cache *cache, uint64_t hash, const uint8_t *p, size_t len,
                         uint32_t *ids, size_t *count_out);

/* Remembers the ids of p[0..len); silently skipped when out of memory. */
void tg__piece_cache_put(tg__piece_cache *cache, uint64_t hash, const uint8_t *p, size_t len,
                         const uint32_t *ids, size_t count);

#endif
