/*
 * vocab: builds the hash table of vocab.h from an embedded rank blob, checking
 * the blob's shape first so a damaged build fails loudly instead of miscounting.
 */
#include "tokenizer/vocab.h"

#include <stdlib.h>

#define BLOB_HEADER_BYTES 32
#define RANK_BITS 24
#define TOKEN_LEN_BITS 8

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

static tg_status insert(tg__vocab *vocab, uint32_t rank) {
    const uint8_t *p = vocab->bytes + vocab->offsets[rank];
    size_t len = vocab->offsets[rank + 1] - vocab->offsets[rank];
    const uint8_t *end = vocab->bytes + vocab->offsets[vocab->count];
    if (tg__vocab_rank(vocab, p, len, end) != TG__RANK_NONE) {
        return TG_ERR_CORRUPT; /* the same bytes twice */
    }
    uint64_t lo;
    uint32_t hi;
    tg__vocab_key(p, len, end, &lo, &hi);
    size_t i = tg__vocab_hash(lo, hi, p, len) & vocab->mask;
    while (vocab->slots[i].rank_len != 0) {
        i = (i + 1) & vocab->mask;
    }
    vocab->slots[i].lo = lo;
    vocab->slots[i].hi = hi;
    vocab->slots[i].rank_len = rank | (uint32_t)len << RANK_BITS;
    if (len == 1) {
        vocab->byte_rank[*p] = rank;
    } else if (len == 2) {
        vocab->pair_rank[p[0] | (uint32_t)p[1] << 8] = rank;
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
    v.slots = aligned_alloc(64, slots * sizeof *v.slots);
    v.pair_rank = malloc(65536 * sizeof *v.pair_rank);
    if (v.slots == NULL || v.pair_rank == NULL) {
        free(v.slots);
        free(v.pair_rank);
        return TG_ERR_NOMEM;
    }
    memset(v.pair_rank, 0xFF, 65536 * sizeof *v.pair_rank);
    memset(v.slots, 0, slots * sizeof *v.slots);
    memset(v.byte_rank, 0xFF, sizeof v.byte_rank);
    for (uint32_t r = 0; r < count && status == TG_OK; r++) {
        status = insert(&v, r);
    }
    for (int b = 0; b < 256 && status == TG_OK; b++) {
        if (v.byte_rank[b] == TG__RANK_NONE) {
            status = TG_ERR_CORRUPT; /* byte-level BPE needs every single byte */
        }
    }
    if (status != TG_OK) {
        free(v.slots);
        free(v.pair_rank);
        return status;
    }
    *vocab = v;
    return TG_OK;
}

void tg__vocab_close(tg__vocab *vocab) {
    free(vocab->slots);
    free(vocab->pair_rank);
    vocab->slots = NULL;
    vocab->pair_rank = NULL;
}
