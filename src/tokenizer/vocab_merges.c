/*
 * vocab_merges: the merge map of vocab.h, built from the token slots: for every token
 * that BPE builds from its own bytes, the two tokens its last merge joins.
 *
 * Why that pair alone is exact (tiktoken merges the lowest-ranked adjacent pair, the
 * leftmost of equals, looking pairs up by their bytes). Suppose that during the merge
 * of some piece, parts a and b (bytes spanning S) merge into token t. Every earlier
 * merge inside S was the lowest pair of the whole piece at its moment, so also the
 * lowest (and leftmost) of the pairs inside S, and the pairs inside S do not depend
 * on anything outside S. So merging the bytes of t alone makes the same merges in the
 * same order and ends with a + b: (a, b) is the pair this map holds for t. A pair of
 * adjacent parts whose bytes form a token t but which is not t's last pair can
 * therefore never be the pair that merges; it is never the lowest, and leaving it out
 * of the candidates changes no choice. A token whose own bytes do not merge to it is
 * never made by merging (it can only be a whole piece, which tg__vocab_rank finds).
 * test_tokenizer and fuzz_tokenizer compare merges through this map with the heap
 * merge, which still looks pairs up by their bytes.
 */
#include "tokenizer/vocab.h"

#define TOKEN_BYTES_MAX 256 /* vocab.c: a token is under 256 bytes */

/* Merges the bytes of token rank as tiktoken does and reports the two parts of the
 * last merge; false when the merge does not end in the token itself. Quadratic in
 * the token's length (at most 255 bytes), once per token at build time. */
static bool last_merge(const tg__vocab *v, uint32_t rank, uint32_t *left, uint32_t *right) {
    const uint8_t *p = v->bytes + v->offsets[rank];
    size_t len = v->offsets[rank + 1] - v->offsets[rank];
    const uint8_t *end = v->bytes + v->offsets[v->count];
    uint32_t start[TOKEN_BYTES_MAX + 1]; /* start[k]: first byte of part k; start[parts] = len */
    uint32_t token[TOKEN_BYTES_MAX];     /* rank of part k */
    uint32_t pair[TOKEN_BYTES_MAX];      /* rank of parts k and k + 1 merged */
    if (len < 2 || len > TOKEN_BYTES_MAX - 1) {
        return false;
    }
    for (size_t k = 0; k < len; k++) {
        start[k] = (uint32_t)k;
        token[k] = v->byte_rank[p[k]];
        pair[k] = k + 1 < len ? tg__vocab_rank(v, p + k, 2, end) : TG__RANK_NONE;
    }
    start[len] = (uint32_t)len;
    size_t parts = len;
    for (;;) {
        size_t at = 0;
        for (size_t k = 1; k + 1 < parts; k++) {
            if (pair[k] < pair[at]) {
                at = k;
            }
        }
        uint32_t best = pair[at];
        if (best == TG__RANK_NONE) {
            return false;
        }
        if (parts == 2) {
            *left = token[0];
            *right = token[1];
            return best == rank; /* their bytes are the token's, so always */
        }
        /* Part at + 1 joins part at. */
        token[at] = best;
        memmove(&start[at + 1], &start[at + 2], (parts - at - 1) * sizeof *start);
        memmove(&token[at + 1], &token[at + 2], (parts - at - 2) * sizeof *token);
        memmove(&pair[at + 1], &pair[at + 2], (parts - at - 2) * sizeof *pair);
        parts--;
        pair[at] = at + 1 < parts ? tg__vocab_rank(v, p + start[at], start[at + 2] - start[at], end)
                                  : TG__RANK_NONE;
        if (at > 0) {
            pair[at - 1] = tg__vocab_rank(v, p + start[at - 1], start[at + 1] - start[at - 1], end);
        }
    }
}

/* Puts a pair in a map of mask + 1 slots. */
static tg_status put(uint64_t *map, size_t mask, uint64_t hash, uint64_t key, uint32_t rank) {
    size_t i = hash & mask;
    while (map[i] != 0) {
        if (map[i] >> TG__MERGE_ID_BITS == key) {
            return TG_ERR_CORRUPT; /* two tokens of the same bytes */
        }
        i = (i + 1) & mask;
    }
    map[i] = key << TG__MERGE_ID_BITS | (rank + 1);
    return TG_OK;
}

tg_status tg__vocab_merges_fill(const tg__vocab *vocab, uint64_t *merges, uint64_t *filter) {
    if (vocab->count >= TG__MERGE_ID_MASK) {
        return TG_ERR_CORRUPT; /* ids and rank + 1 would not fit their bits */
    }
    for (uint32_t rank = 0; rank < vocab->count; rank++) {
        uint32_t left, right;
        if (!last_merge(vocab, rank, &left, &right)) {
            continue;
        }
        uint64_t key = tg__vocab_merge_key(left, right);
        uint64_t hash = tg__vocab_merge_hash(key);
        size_t word;
        uint64_t bits = tg__vocab_filter_bits(hash, &word, vocab->merge_filter_mask);
        filter[word] |= bits;
        tg_status status = put(merges, vocab->merge_mask, hash, key, rank);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}
