/*
 * vocab: the rank table of one encoding, as an open-addressing hash table from token
 * bytes to rank, built when a tokenizer opens from the table embedded in the library
 * (format: scripts/build-tokenizer-data.js).
 *
 * Why 16-byte slots that hold the first 12 bytes of the token: a lookup is then one
 * cache line, with no second fetch to compare bytes, for all but the few tokens
 * longer than 12 bytes. Most lookups during BPE are misses (pairs that are no
 * token), which end at the first empty slot; the table is kept under 40% full.
 */
#ifndef TG_TOKENIZER_VOCAB_H
#define TG_TOKENIZER_VOCAB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
    const uint32_t *offsets; /* count + 1 offsets into bytes; embedded, not owned */
    const uint8_t *bytes;    /* every token's bytes in rank order; embedded, not owned */
    uint32_t count;          /* ranks are 0 .. count - 1 */
    uint32_t token_len_max;  /* longest token, bytes */
    uint32_t byte_rank[256]; /* rank of each one-byte token */
    uint32_t *pair_rank;     /* from malloc: rank of each two-byte string (b0 | b1 << 8),
                                or TG__RANK_NONE; 256 KiB, so the first round of every
                                merge (all adjacent byte pairs) stays in cache */
    tg__vocab_slot *slots;   /* from aligned_alloc; mask + 1 of them */
    size_t mask;             /* slot count - 1, a power of two minus one */
} tg__vocab;

/* Builds the table from an embedded blob. TG_ERR_CORRUPT for a malformed blob. */
tg_status tg__vocab_open(tg__vocab *vocab, const uint8_t *blob, uint64_t size);
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
    for (size_t i = TG__KEY_INLINE_BYTES; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001B3ull;
    }
    h ^= h >> 31;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

/* Rank of the two-byte token p[0..2), or TG__RANK_NONE. */
static inline uint32_t tg__vocab_rank2(const tg__vocab *vocab, const uint8_t *p) {
    return vocab->pair_rank[p[0] | (uint32_t)p[1] << 8];
}

/* Rank of the token p[0..len), or TG__RANK_NONE. end: end of p's buffer. */
static inline uint32_t tg__vocab_rank(const tg__vocab *vocab, const uint8_t *p, size_t len,
                                      const uint8_t *end) {
    if (len > vocab->token_len_max) {
        return TG__RANK_NONE;
    }
    uint64_t lo;
    uint32_t hi;
    tg__vocab_key(p, len, end, &lo, &hi);
    size_t i = tg__vocab_hash(lo, hi, p, len) & vocab->mask;
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
