/*
 * backtrack: a long piece's merge in about linear time, without merging: the
 * backtracking encoder of GitHub's `bpe` crate (rust-gems, crates/bpe). It walks the
 * piece taking the longest token that starts at each position and keeps a token only
 * when the pair it makes with the token before is one that BPE itself would leave
 * apart (tg__pair_valid); otherwise it tries the next shorter token that is a prefix
 * of it, and when none is left it takes back the token before and marks the position
 * as one no valid encoding passes through. The result is BPE's own (the crate proves
 * it and tests it against tiktoken; here test_tokenizer and fuzz_tokenizer compare it
 * with the merge loops of bpe.c on random bytes and long pieces).
 *
 * Why it is faster on long novel pieces: the merge pays a vector scan and two lookups
 * per merge, about one merge per byte; the walk pays one hash and filter probe per
 * byte and a few lookups per output token.
 */
#ifndef TG_TOKENIZER_BACKTRACK_H
#define TG_TOKENIZER_BACKTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

/* A token as the walk carries it: rank | length in bytes << 24, so that undoing a
 * merge needs no second load for the lengths of the parts (vocab.h, split). */
#define TG__TOKEN_RANK(packed) ((packed)&TG__PREFIX_NONE)
#define TG__TOKEN_LEN(packed) ((packed) >> 24)

/* Whether BPE leaves tokens left and right (packed), whose bytes meet at p[seam],
 * apart: true when no token made across the seam from parts of them would have
 * merged before the merges that built left and right. Undoes the merges of both
 * (split) from the last one, and at each step asks whether the two parts facing the
 * seam form a token that BPE builds from exactly them and that ranks below the merge
 * undone. The parts facing the seam are a suffix of left and a prefix of right, so
 * their bytes are always p[seam - left part's length .. seam + right part's length). */
static inline bool tg__pair_valid(const tg__vocab *vocab, const uint8_t *p, size_t seam,
                                  const uint8_t *end, uint32_t left, uint32_t right) {
    const uint32_t *split = vocab->split;
    uint32_t limit = UINT32_MAX; /* the highest rank that may still merge across */
    for (;;) {
        uint32_t left_rank = TG__TOKEN_RANK(left);
        uint32_t right_rank = TG__TOKEN_RANK(right);
        if (tg__vocab_pair_has(vocab, left_rank, right_rank)) {
            size_t left_len = TG__TOKEN_LEN(left);
            uint32_t both =
                tg__vocab_rank(vocab, p + seam - left_len, left_len + TG__TOKEN_LEN(right), end);
            if (both < limit && split[2 * (size_t)both] == left &&
                split[2 * (size_t)both + 1] == right) {
                return false;
            }
        }
        if (left_rank > right_rank) {
            limit = left_rank;
            left = split[2 * (size_t)left_rank + 1];
            if (TG__TOKEN_RANK(left) == limit) {
                limit = right_rank + 1;
                right = split[2 * (size_t)right_rank];
                if (TG__TOKEN_RANK(right) + 1 == limit) {
                    return true;
                }
            }
        } else {
            limit = right_rank + 1;
            right = split[2 * (size_t)right_rank];
            if (TG__TOKEN_RANK(right) + 1 == limit) {
                limit = left_rank;
                left = split[2 * (size_t)left_rank + 1];
                if (TG__TOKEN_RANK(left) == limit) {
                    return true;
                }
            }
        }
    }
}

/* Words of memory tg__bpe_backtrack needs for a piece of len bytes. */
#define TG__BACKTRACK_WORDS(len) (2 * ((len) / 64 + 1))

/*
 * Encodes p[0..len) (len >= 1; end: end of p's buffer) into ids (room for len).
 * memory: TG__BACKTRACK_WORDS(len) 32-bit words, 8-byte aligned. Returns the count,
 * or SIZE_MAX when the walk gave up (a step budget proportional to len, which the
 * vocabularies never reach; the caller then merges the piece another way).
 */
size_t tg__bpe_backtrack(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                         uint32_t *memory, uint32_t *ids);

#endif
