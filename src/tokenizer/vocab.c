/*
 * vocab: builds the hash table of vocab.h from an embedded rank blob, checking
 * the blob's shape first so a damaged build fails loudly instead of miscounting.
 */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <sys/mman.h>

#define BLOB_HEADER_BYTES 32
#define RANK_BITS 24
#define TOKEN_LEN_BITS 8
#define FILTER_BITS_PER_TOKEN 16

static uint32_t read_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static tg_status check_blob(const uint8_t *blob, uint64_t size, uint32_t *count_out) {
    if (size < BLOB_HEADER_BYTES || memcmp(blob, "TGBPE1\0\0", 8) != 0 ||
        ((uintptr_t)blob & 3) != 0) {
        return TG_ERR_CORRUPT;
    }
    uint32_t count = read_u32(blob + 8);
    uint32_t total = read_u32(blob + 12);
    uint32_t len_max = read_u32(blob + 16);
    if (count < 256 || count >= (1u << RANK_BITS) || len_max == 0 ||
        len_max >= (1u << TOKEN_LEN_BITS) ||
        size != BLOB_HEADER_BYTES + 4 * ((uint64_t)count + 1) + total) {
        return TG_ERR_CORRUPT;
    }
    const uint32_t *offsets = (const uint32_t *)(blob + BLOB_HEADER_BYTES);
    if (offsets[0] != 0 || offsets[count] != total) {
        return TG_ERR_CORRUPT;
    }
    for (uint32_t r = 0; r < count; r++) {
        if (offsets[r + 1] <= offsets[r] || offsets[r + 1] - offsets[r] > len_max) {
            return TG_ERR_CORRUPT;
        }
    }
    *count_out = count;
    return TG_OK;
}

/* The slot table is 4-8 MiB that every lookup touches at random. In 2 MiB pages,
 * where the kernel offers them (transparent huge pages, "madvise" mode), filling it
 * takes a handful of page faults instead of thousands (a third of opening a
 * tokenizer) and lookups stop missing the TLB. */
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

static tg__vocab_slot *slots_alloc(size_t count) {
    size_t bytes = count * sizeof(tg__vocab_slot);
    size_t align = bytes % HUGE_PAGE_BYTES == 0 ? HUGE_PAGE_BYTES : 64;
    tg__vocab_slot *slots = aligned_alloc(align, bytes);
    if (slots == NULL) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (align == HUGE_PAGE_BYTES) {
        (void)madvise(slots, bytes, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages */
    }
#endif
    memset(slots, 0, bytes);
    return slots;
}

/* One token's key, hashed ahead of its insert so the slot can be prefetched. */
typedef struct {
    const uint8_t *p; /* the token's bytes, in the blob */
    size_t len;       /* their length */
    uint64_t lo;      /* tg__vocab_key */
    uint32_t hi;      /* tg__vocab_key */
    uint64_t hash;    /* tg__vocab_hash */
} pending;

static void prepare(const tg__vocab *vocab, uint32_t rank, pending *out) {
    out->p = vocab->bytes + vocab->offsets[rank];
    out->len = vocab->offsets[rank + 1] - vocab->offsets[rank];
    const uint8_t *end = vocab->bytes + vocab->offsets[vocab->count];
    tg__vocab_key(out->p, out->len, end, &out->lo, &out->hi);
    out->hash = tg__vocab_hash(out->lo, out->hi, out->p, out->len);
    __builtin_prefetch(&vocab->slots[out->hash & vocab->mask], 1);
}

/* Inserts a prepared token. The probe passes every slot a lookup of the same bytes
 * would, so a token already there (the same bytes twice) is found on the way. */
static tg_status insert(tg__vocab *vocab, uint32_t rank, const pending *t) {
    size_t i = t->hash & vocab->mask;
    while (vocab->slots[i].rank_len != 0) {
        const tg__vocab_slot *slot = &vocab->slots[i];
        if (slot->lo == t->lo && slot->hi == t->hi && (slot->rank_len >> RANK_BITS) == t->len) {
            uint32_t other = slot->rank_len & ((1u << RANK_BITS) - 1);
            if (t->len <= TG__KEY_INLINE_BYTES ||
                memcmp(vocab->bytes + vocab->offsets[other], t->p, t->len) == 0) {
                return TG_ERR_CORRUPT; /* the same bytes twice */
            }
        }
        i = (i + 1) & vocab->mask;
    }
    vocab->slots[i].lo = t->lo;
    vocab->slots[i].hi = t->hi;
    vocab->slots[i].rank_len = rank | (uint32_t)t->len << RANK_BITS;
    size_t word;
    uint64_t bits = tg__vocab_filter_bits(t->hash, &word, vocab->filter_mask);
    vocab->filter[word] |= bits;
    if (t->len == 1) {
        vocab->byte_rank[*t->p] = rank;
    } else if (t->len == 2) {
        vocab->pair_rank[t->p[0] | (uint32_t)t->p[1] << 8] = rank;
    }
    return TG_OK;
}

/* Inserts every rank, hashing INSERT_AHEAD tokens before inserting them: the slots
 * are random lines of a 4-8 MiB table, and a prefetch per token lets their misses
 * overlap instead of waiting for each in turn (the bulk of opening a tokenizer). */
#define INSERT_AHEAD 16

static tg_status insert_all(tg__vocab *vocab) {
    pending ahead[INSERT_AHEAD];
    for (uint32_t r = 0; r < vocab->count && r < INSERT_AHEAD; r++) {
        prepare(vocab, r, &ahead[r]);
    }
    for (uint32_t r = 0; r < vocab->count; r++) {
        pending t = ahead[r % INSERT_AHEAD];
        if (r + INSERT_AHEAD < vocab->count) {
            prepare(vocab, r + INSERT_AHEAD, &ahead[r % INSERT_AHEAD]);
        }
        tg_status status = insert(vocab, r, &t);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

tg_status tg__vocab_open(tg__vocab *vocab, const uint8_t *blob, uint64_t size) {
    uint32_t count;
    tg_status status = check_blob(blob, size, &count);
    if (status != TG_OK) {
        return status;
    }
    tg__vocab v = {0};
    v.count = count;
    v.token_len_max = read_u32(blob + 16);
    v.offsets = (const uint32_t *)(blob + BLOB_HEADER_BYTES);
    v.bytes = blob + BLOB_HEADER_BYTES + 4 * ((size_t)count + 1);
    size_t slots = 1024;
    while (slots < (size_t)count * 5 / 2) {
        slots *= 2;
    }
    v.mask = slots - 1;
    /* 16 filter bits per token, two set per token: about 1.5% of misses still reach
     * the slots. Measured on long words: one bit per token in 32 bits 4-14% slower
     * (its 1 MiB crowds L2), one bit in 16 bits (6% reach the slots) slower still;
     * two bits in 8 bits per token 3-5% slower. */
    size_t filter_bits = 1024;
    while (filter_bits < (size_t)count * FILTER_BITS_PER_TOKEN) {
        filter_bits *= 2;
    }
    v.filter_mask = filter_bits - 1;
    v.slots = slots_alloc(slots);
    v.pair_rank = malloc(65536 * sizeof *v.pair_rank);
    v.filter = calloc(filter_bits / 64, sizeof *v.filter);
    if (v.slots == NULL || v.pair_rank == NULL || v.filter == NULL) {
        free(v.slots);
        free(v.pair_rank);
        free(v.filter);
        return TG_ERR_NOMEM;
    }
    memset(v.pair_rank, 0xFF, 65536 * sizeof *v.pair_rank);
    memset(v.byte_rank, 0xFF, sizeof v.byte_rank);
    status = insert_all(&v);
    for (int b = 0; b < 256 && status == TG_OK; b++) {
        if (v.byte_rank[b] == TG__RANK_NONE) {
            status = TG_ERR_CORRUPT; /* byte-level BPE needs every single byte */
        }
    }
    if (status != TG_OK) {
        free(v.slots);
        free(v.pair_rank);
        free(v.filter);
        return status;
    }
    *vocab = v;
    return TG_OK;
}

void tg__vocab_close(tg__vocab *vocab) {
    free(vocab->slots);
    free(vocab->pair_rank);
    free(vocab->filter);
    vocab->slots = NULL;
    vocab->pair_rank = NULL;
    vocab->filter = NULL;
}
