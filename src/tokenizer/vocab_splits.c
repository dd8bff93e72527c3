/*
 * vocab_splits: the parts of the rank table that the backtracking encoder reads
 * (backtrack.h), derived from the tokens alone as the `bpe` crate does: for each
 * token its longest proper prefix that is a token, the pair of tokens BPE merged it
 * from, and a filter of every proper prefix of a token. Run at build time by
 * vocab_gen through tg__vocab_open (a second or so per encoding), so opening a
 * tokenizer still only points at the table.
 */
#include "tokenizer/backtrack.h"

/* Sets a string's bits in the walk filter. */
static void walk_add(const tg__vocab *vocab, uint64_t *walk_filter, const uint8_t *p, size_t len,
                     const uint8_t *end) {
    uint64_t lo;
    uint32_t hi;
    tg__vocab_key(p, len, end, &lo, &hi);
    size_t word;
    uint64_t bits = tg__vocab_walk_bits(tg__vocab_hash(lo, hi, p, len), &word, vocab->filter_mask);
    walk_filter[word] |= bits;
}

void tg__vocab_splits_build(const tg__vocab *vocab, uint32_t *prefix, uint32_t *split,
                            uint64_t *walk_filter, uint64_t *pair_filter) {
    const uint8_t *end = vocab->bytes + vocab->offsets[vocab->count];
    for (uint32_t r = 0; r < vocab->count; r++) {
        const uint8_t *p = vocab->bytes + vocab->offsets[r];
        size_t len = vocab->offsets[r + 1] - vocab->offsets[r];
        prefix[r] = TG__PREFIX_NONE;
        for (size_t k = len - 1; k >= 1 && prefix[r] == TG__PREFIX_NONE; k--) {
            uint32_t rank = tg__vocab_rank(vocab, p, k, end);
            prefix[r] = rank != TG__RANK_NONE ? rank | (uint32_t)k << 24 : TG__PREFIX_NONE;
        }
        for (size_t k = 1; k < len; k++) {
            walk_add(vocab, walk_filter, p, k, end);
        }
        /* Not merged yet: a lookup of a token of a later rank finds no pair. */
        split[2 * (size_t)r] = TG__RANK_NONE;
        split[2 * (size_t)r + 1] = TG__RANK_NONE;
    }
    /* In rank order, so the pairs a check reads are those of lower ranks: the first
     * split of the token, from its longest prefix down, into two lower-ranked tokens
     * that BPE leaves apart is the merge that made it. */
    for (uint32_t r = 0; r < vocab->count; r++) {
        const uint8_t *p = vocab->bytes + vocab->offsets[r];
        size_t len = vocab->offsets[r + 1] - vocab->offsets[r];
        uint32_t found_left = r | (uint32_t)len << 24;
        uint32_t found_right = found_left;
        for (uint32_t left = prefix[r]; left != TG__PREFIX_NONE;
             left = prefix[TG__TOKEN_RANK(left)]) {
            size_t left_len = TG__TOKEN_LEN(left);
            uint32_t right = tg__vocab_rank(vocab, p + left_len, len - left_len, end);
            if (TG__TOKEN_RANK(left) < r && right < r &&
                tg__pair_valid(vocab, p, left_len, end, left,
                               right | (uint32_t)(len - left_len) << 24)) {
                found_left = left;
                found_right = right | (uint32_t)(len - left_len) << 24;
                size_t word;
                uint64_t bits =
                    tg__vocab_pair_bits(TG__TOKEN_RANK(left), right, &word, vocab->filter_mask);
                pair_filter[word] |= bits;
                break;
            }
        }
        split[2 * (size_t)r] = found_left;
        split[2 * (size_t)r + 1] = found_right;
    }
}
