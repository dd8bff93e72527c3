/*
 * short_memo: the ids of the short pieces one call has merged already, so that a
 * piece that comes back later in the same text costs a hash and a compare instead
 * of a merge. Text repeats its pieces (a word that is no single token comes back
 * throughout a document; runs of U+FFFD in binary junk come in a few lengths), and
 * on first sight each merge of a short piece costs lookups that miss the cache.
 * The tokenizer's piece cache (piece_cache.h) keeps long pieces across calls behind
 * a lock; this memo lives and dies with one call, so it needs none.
 *
 * Bounded: TG__SHORT_MEMO_ENTRIES direct-mapped entries (a new piece replaces the
 * one in its slot), allocated only once a call has merged TG__SHORT_MEMO_AFTER
 * pieces, so short calls pay nothing.
 */
#ifndef TG_TOKENIZER_SHORT_MEMO_H
#define TG_TOKENIZER_SHORT_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG__SHORT_MEMO_ENTRIES 512
#define TG__SHORT_MEMO_BYTES_MAX 31 /* below the piece cache's TG__PIECE_CACHE_MIN_BYTES */
#define TG__SHORT_MEMO_IDS_MAX 21   /* a piece with more ids is not remembered */
#define TG__SHORT_MEMO_AFTER 16     /* merges before the memo is allocated */

typedef struct {
    uint64_t hash;                           /* tg__piece_hash of the piece */
    uint32_t ids[TG__SHORT_MEMO_IDS_MAX];    /* its ids; unset when the call only counts */
    uint8_t len;                             /* bytes of the piece; 0 for an empty entry */
    uint8_t count;                           /* ids */
    uint8_t bytes[TG__SHORT_MEMO_BYTES_MAX]; /* the piece */
} tg__short_entry;

_Static_assert(sizeof(tg__short_entry) == 128, "two cache lines to an entry");

typedef struct {
    tg__short_entry *entries; /* from calloc once merges reach TG__SHORT_MEMO_AFTER;
                                 NULL before (or when out of memory: no memo then) */
    size_t merges;            /* pieces merged in the call so far */
} tg__short_memo;

/* Copies the remembered ids of p[0..len) (len <= TG__SHORT_MEMO_BYTES_MAX) to ids
 * (NULL to only count) and sets *count_out; false when not remembered. */
bool tg__short_memo_get(const tg__short_memo *memo, uint64_t hash, const uint8_t *p, size_t len,
                        uint32_t *ids, size_t *count_out);

/* Remembers a merge (ids NULL when the call only counts); allocates the memo once
 * enough merges have happened, silently skipped when out of memory. */
void tg__short_memo_put(tg__short_memo *memo, uint64_t hash, const uint8_t *p, size_t len,
                        const uint32_t *ids, size_t count);

void tg__short_memo_free(tg__short_memo *memo);

#endif
