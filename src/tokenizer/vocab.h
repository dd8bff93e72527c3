/*
 * vocab: the rank table of one encoding, as an open-addressing hash table from token
 * bytes to rank. The table is laid out at build time (src/tokenizer/gen/vocab_gen.c,
 * run by CMake, writes NAME.table beside the rank blob of
 * scripts/build-tokenizer-data.js) and embedded in the library, so opening a
 * tokenizer only points at it (tg__vocab_map): no table is built in the process, and
 * the pages of the table that lookups touch are read in on first use. Building at
 * open (tg__vocab_open) remains for the generator itself and for a library built
 * without the generated tables.
 *
 * Why 16-byte slots that hold the first 12 bytes of the token: a lookup is then one
 * cache line, with no second fetch to compare bytes, for all but the few tokens
 * longer than 12 bytes. Most lookups during BPE are misses (pairs that are no
 * token): a bit filter in front of the slots answers nearly all of them from L2,
 * and the rest end at the first empty slot; the table is kept under 40% full.
 */
#ifndef TG_TOKENIZER_VOCAB_H
#define TG_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer/hash_mix.h"
#include "tollgate.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the rank tables are little-endian");

#define TG__RANK_NONE UINT32_MAX
#define TG__KEY_INLINE_BYTES 12

typedef struct {
    uint64_t lo;       /* bytes 0..7 of the token, zero-padded */
    uint32_t hi;       /* bytes 8..11, zero-padded */
    uint32_t rank_len; /* rank | length << 24; 0 marks an empty slot */
} tg__vocab_slot;

_Static_assert(sizeof(tg__vocab_slot) == 16, "four slots to a cache line");

typedef struct {
    const uint32_t *offsets;     /* count + 1 offsets into bytes; embedded, not owned */
    const uint8_t *bytes;        /* every token's bytes in rank order; embedded, not owned */
    uint32_t count;              /* ranks are 0 .. count - 1 */
    uint32_t token_len_max;      /* longest token, bytes */
    const uint32_t *byte_rank;   /* rank of each one-byte token (256) */
    const uint32_t *pair_rank;   /* rank of each two-byte string (b0 | b1 << 8), or
                                    TG__RANK_NONE; 256 KiB, so the first round of every
                                    merge (all adjacent byte pairs) stays in cache */
    const tg__vocab_slot *slots; /* mask + 1 of them */
    size_t mask;                 /* slot count - 1, a power of two minus one */
    const uint64_t *filter;      /* filter_mask + 1 bits, two set for every token
                                    (tg__vocab_filter_bits). A clear bit answers a miss
                                    from L2 (256-512 KiB) where the slots (4-8 MiB)
                                    would cost a miss to L3 or memory; most lookups
                                    while merging are misses */
    size_t filter_mask;          /* filter bits - 1, a power of two minus one */
    void *owned;                 /* from malloc, the one allocation holding pair_rank,
                                    filter and slots when built at open; NULL when
                                    they point into an embedded table */
} tg__vocab;

/* The layout of a table built ahead (NAME.table, little-endian): this header, then
 * byte_rank (256 x u32), pair_rank (65536 x u32), the filter ((filter_mask + 1) / 8
 * bytes) and the slots ((mask + 1) x 16 bytes), each at a multiple of 64 bytes. */
#define TG__VOCAB_TABLE_MAGIC "TGVTB1\0\0"
#define TG__VOCAB_TABLE_VERSION 1 /* raise with any change to the hash or the layout */

typedef struct {
    char magic[8];          /* TG__VOCAB_TABLE_MAGIC */
    uint32_t version;       /* TG__VOCAB_TABLE_VERSION */
    uint32_t count;         /* tokens, as in the rank blob */
    uint64_t blob_size;     /* bytes of the rank blob it was built from */
    uint64_t mask;          /* tg__vocab.mask */
    uint64_t filter_mask;   /* tg__vocab.filter_mask */
    uint32_t token_len_max; /* tg__vocab.token_len_max */
    uint32_t reserved[5];   /* zero */
} tg__vocab_table_header;

_Static_assert(sizeof(tg__vocab_table_header) == 64, "the header is one cache line");

/* Bytes of the table a vocab lays out (header included). */
uint64_t tg__vocab_table_size(const tg__vocab *vocab);

/* Builds the table from an embedded blob. TG_ERR_CORRUPT for a malformed blob. */
tg_status tg__vocab_open(tg__vocab *vocab, const uint8_t *blob, uint64_t size);
/* Points at a table laid out ahead from the same blob, in constant time.
 * TG_ERR_CORRUPT when the table does not belong to the blob or fails a spot check. */
tg_status tg__vocab_map(tg__vocab *vocab, const uint8_t *blob, uint64_t size, const uint8_t *table,
                        uint64_t table_size);
void tg__vocab_close(tg__vocab *vocab);

/* The first 12 bytes of p[0..len) as two zero-padded words. Reads up to 16 bytes
 * at once when the buffer (ending at end) has them, so short keys cost two loads. */
static inline void tg__vocab_key(const uint8_t *p, size_t len, const uint8_t *end, uint64_t *lo,
                                 uint32_t *hi) {
    uint64_t a = 0;
    uint32_t b = 0;
    if ((size_t)(end - p) >= 12) {
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 4);
    } else {
        uint8_t buf[12] = {0};
        memcpy(buf, p, len < 12 ? len : 12);
        memcpy(&a, buf, 8);
        memcpy(&b, buf + 8, 4);
    }
    if (len < 8) {
        a &= ((uint64_t)1 << (8 * len)) - 1;
        b = 0;
    } else if (len < 12) {
        b &= (uint32_t)(((uint64_t)1 << (8 * (len - 8))) - 1);
    }
    *lo = a;
    *hi = b;
}

static inline uint64_t tg__vocab_hash(uint64_t lo, uint32_t hi, const uint8_t *p, size_t len) {
    uint64_t h = (lo ^ 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
    h ^= (((uint64_t)hi << 8) | len) * 0x94D049BB133111EBull;
    /* Bytes past the inline key a word at a time: runs of spaces or dashes look up
     * keys of up to 255 bytes once per merge. */
    h = tg__hash_mix(h, p, TG__KEY_INLINE_BYTES, len);
    h ^= h >> 31;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

/* The filter bits of a hash: two bits of one 64-bit word (a blocked Bloom filter),
 * from hash bits the slot index does not use. Two bits to a word answer as many
 * misses as one bit in a filter twice the size, for one load. */
static inline uint64_t tg__vocab_filter_bits(uint64_t hash, size_t *word_out, size_t filter_mask) {
    size_t bit = (size_t)(hash >> 32) & filter_mask;
    *word_out = bit / 64;
    return (uint64_t)1 << (bit % 64) | (uint64_t)1 << ((hash >> 26) & 63);
}

/* Whether some token may have this hash (false: certainly none). */
static inline bool tg__vocab_filter_has(const tg__vocab *vocab, uint64_t hash) {
    size_t word;
    uint64_t bits = tg__vocab_filter_bits(hash, &word, vocab->filter_mask);
    return (vocab->filter[word] & bits) == bits;
}

/* Rank of the two-byte token p[0..2), or TG__RANK_NONE. */
static inline uint32_t tg__vocab_rank2(const tg__vocab *vocab, const uint8_t *p) {
    return vocab->pair_rank[p[0] | (uint32_t)p[1] << 8];
}

/* Rank of the token p[0..len), or TG__RANK_NONE. end: end of p's buffer. Always
 * inlined: the merge loops call it twice per merge, and as a call it spent a quarter
 * of its instructions saving and restoring registers (callgrind). */
__attribute__((always_inline)) static inline uint32_t
tg__vocab_rank(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end) {
    if (len > vocab->token_len_max) {
        return TG__RANK_NONE;
    }
    uint64_t lo;
    uint32_t hi;
    tg__vocab_key(p, len, end, &lo, &hi);
    uint64_t hash = tg__vocab_hash(lo, hi, p, len);
    if (!tg__vocab_filter_has(vocab, hash)) {
        return TG__RANK_NONE;
    }
    size_t i = hash & vocab->mask;
    for (;;) {
        const tg__vocab_slot *slot = &vocab->slots[i];
        if (slot->rank_len == 0) {
            return TG__RANK_NONE;
        }
        if (slot->lo == lo && slot->hi == hi && (slot->rank_len >> 24) == len) {
            uint32_t rank = slot->rank_len & 0xFFFFFF;
            if (len <= TG__KEY_INLINE_BYTES ||
                memcmp(vocab->bytes + vocab->offsets[rank] + TG__KEY_INLINE_BYTES,
                       p + TG__KEY_INLINE_BYTES, len - TG__KEY_INLINE_BYTES) == 0) {
                return rank;
            }
        }
        i = (i + 1) & vocab->mask;
    }
}

#endif
