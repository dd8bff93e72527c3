/*
 * backtrack: the encoder of backtrack.h.
 */
#include "tokenizer/backtrack.h"

/* Steps per byte before the walk gives up: each position is marked dead at most once
 * and each step tries a token or takes one back, so real inputs stay far below. */
#define STEPS_PER_BYTE_MAX 64

/* The longest token that p[0..avail) starts with (avail >= 1), packed (backtrack.h). Grows the
 * candidate a byte at a time while the walk filter says a longer token may start with it, and looks
 * up only the lengths that the token filter lets through. */
static uint32_t longest_at(const tg__vocab *vocab, const uint8_t *p, size_t avail,
                           const uint8_t *end) {
    uint32_t best = vocab->byte_rank[p[0]] | 1u << 24;
    size_t len_max = avail < vocab->token_len_max ? avail : vocab->token_len_max;
    for (size_t len = 2; len <= len_max; len++) {
        uint64_t lo;
        uint32_t hi;
        tg__vocab_key(p, len, end, &lo, &hi);
        uint64_t hash = tg__vocab_hash(lo, hi, p, len);
        uint32_t rank = TG__RANK_NONE;
        if (len == 2) {
            rank = tg__vocab_rank2(vocab, p);
        } else if (tg__vocab_filter_has(vocab, hash)) {
            rank = tg__vocab_probe(vocab, p, len, lo, hi, hash);
        }
        if (rank != TG__RANK_NONE) {
            best = rank | (uint32_t)len << 24;
        }
        if (!tg__vocab_walk_has(vocab, hash)) {
            break;
        }
    }
    return best;
}

size_t tg__bpe_backtrack(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                         uint32_t *memory, uint32_t *ids) {
    /* dead: bit k set when no encoding of p[k..len) that BPE could make follows the
     * tokens before k (the crate's bitfield, inverted so that zeroing clears it). */
    uint64_t *dead = (uint64_t *)memory;
    memset(dead, 0, (len / 64 + 1) * sizeof *dead);
    size_t steps_left = len * STEPS_PER_BYTE_MAX;
    size_t count = 0;
    size_t pos = 0;
    uint32_t next = longest_at(vocab, p, len, end);
    while (pos < len) {
        uint32_t token = next; /* packed, as the ids are until the end */
        for (;;) {
            if (steps_left-- == 0) {
                return SIZE_MAX;
            }
            size_t stop = pos + TG__TOKEN_LEN(token);
            if ((dead[stop / 64] >> (stop % 64) & 1) == 0 &&
                (count == 0 || tg__pair_valid(vocab, p, pos, end, ids[count - 1], token))) {
                ids[count++] = token;
                pos = stop;
                if (pos < len) {
                    next = longest_at(vocab, p + pos, len - pos, end);
                }
                break;
            }
            uint32_t shorter = vocab->prefix[TG__TOKEN_RANK(token)];
            if (shorter != TG__PREFIX_NONE) {
                token = shorter;
                continue;
            }
            /* No token fits here after the one before: take that one back. */
            if (count == 0) {
                return SIZE_MAX; /* cannot happen for BPE's own vocabularies */
            }
            dead[pos / 64] |= (uint64_t)1 << (pos % 64);
            next = ids[--count];
            pos -= TG__TOKEN_LEN(next);
            break;
        }
    }
    for (size_t k = 0; k < count; k++) {
        ids[k] = TG__TOKEN_RANK(ids[k]);
    }
    return count;
}
