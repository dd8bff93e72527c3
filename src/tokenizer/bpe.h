/*
 * bpe: byte-pair merging of one piece, exactly as tiktoken merges: start from the
 * piece's single bytes, and repeatedly merge the adjacent pair whose concatenation
 * has the lowest rank (the leftmost of equal ranks) until no pair is a token.
 */
#ifndef TG_TOKENIZER_BPE_H
#define TG_TOKENIZER_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

/* Working memory for long pieces, grown on demand and kept across the pieces of one
 * call; starts zeroed, freed with tg__bpe_scratch_free. */
typedef struct {
    void *memory;          /* from malloc; owned */
    size_t capacity_bytes; /* size of memory */
} tg__bpe_scratch;

/* Bytes of scratch per byte of piece for pieces over TG__BPE_SMALL_MAX. */
#define TG__BPE_SCRATCH_PER_BYTE 40
/* Pieces up to this many bytes merge in a stack buffer with tiktoken's quadratic
 * scan; longer ones with a heap, O(n log n), so no input can make encoding slow. */
#define TG__BPE_SMALL_MAX 96

/*
 * Merges p[0..len) (len >= 1; end: end of p's buffer, for wide loads) and writes
 * the ranks to ids (room for len) unless ids is NULL. *count_out: how many tokens.
 * TG_ERR_NOMEM when scratch cannot grow.
 */
tg_status tg__bpe(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                  tg__bpe_scratch *scratch, uint32_t *ids, size_t *count_out);

void tg__bpe_scratch_free(tg__bpe_scratch *scratch);

#endif
