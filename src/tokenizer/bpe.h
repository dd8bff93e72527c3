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

/* Bytes of scratch per byte of piece for pieces over TG__BPE_SMALL_MAX, plus a fixed
 * part for the windows that long pieces are merged in. */
#define TG__BPE_SCRATCH_PER_BYTE 40
#define TG__BPE_WINDOW_SCRATCH_BYTES (1024 * TG__BPE_SCRATCH_PER_BYTE)
/* Pieces up to this many bytes merge in a stack buffer with tiktoken's quadratic
 * scan for the lowest pair (bpe.c, merge_small: 32-bit keys compared eight or four at
 * a time, parts linked rather than shifted). Longer ones merge in windows of 32 bytes (bpe.c) that
 * are stitched together (below), or, if an input keeps the seams from holding, with a heap, O(n log
 * n), so no input can make encoding slow. From 256 bytes the two halves of a piece run their
 * windows at once, a merge step of each in turn, and are stitched at the middle the same way.
 *
 * Why windows may be stitched ("merge" here is the plain merge from single bytes,
 * without tiktoken's whole-piece shortcut): let A be the merge of bytes L and B that
 * of bytes R. If the last token a of A and the first token b of B merge to [a, b]
 * when only their own bytes a ++ b are merged, then the merge of L ++ R is A ++ B.
 * Merges never cross a boundary between final tokens, so the bytes of a (and of b)
 * go through the same merges inside L (R) as alone; the first merge across the seam
 * in L ++ R would be the lowest pair in the span of a ++ b at that moment, and the
 * merge of a ++ b alone would make it too, so [a, b] would not come out. Conversely
 * a prefix of A that ends at a token boundary is the merge of its own bytes, which
 * is what lets a window take back committed tokens when a seam does not hold. The
 * conformance test, test_tokenizer (windows against the heap) and fuzz_tokenizer
 * check this on inputs made to break seams. */
#define TG__BPE_SMALL_MAX 96

/*
 * Merges p[0..len) (len >= 1; end: end of p's buffer, for wide loads) and writes
 * the ranks to ids (room for len) unless ids is NULL. *count_out: how many tokens.
 * TG_ERR_NOMEM when scratch cannot grow.
 */
tg_status tg__bpe(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                  tg__bpe_scratch *scratch, uint32_t *ids, size_t *count_out);

/* A piece of 3 to TG__BPE_SMALL_MAX bytes that the caller knows is no whole token
 * (tg__bpe would look that up first): merged as tg__bpe merges it. ids: room for
 * len, or NULL to only count. Returns the count. Pieces of up to TG__BPE_SHORT_MAX
 * bytes take the short merges (bpe.c: merge_short_regs from 8 bytes with AVX2, else
 * merge_scan). */
#define TG__BPE_SHORT_MAX 31
size_t tg__bpe_short(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                     uint32_t *ids);

void tg__bpe_scratch_free(tg__bpe_scratch *scratch);

/* The heap merge alone, for tests that compare the windows against it: merges
 * p[0..len) (len >= 2) with memory of len * TG__BPE_SCRATCH_PER_BYTE bytes (8-byte
 * aligned); ids as for tg__bpe. Returns the count. */
size_t tg__bpe_merge_heap(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                          uint32_t *memory, uint32_t *ids);

/* For tests that compare the two ways of merging a long piece: the windows in one
 * run (merge_windows) and the two halves stepped in turn and stitched (merge_lanes).
 * Both merge p[0..len) (len >= 2) into ids (room for len) with memory of
 * TG__BPE_WINDOW_SCRATCH_BYTES (8-byte aligned), and return the count, or SIZE_MAX
 * when they give up (tg__bpe then takes the next way). */
size_t tg__bpe_merge_windows(const tg__vocab *vocab, const uint8_t *p, size_t len,
                             const uint8_t *end, uint32_t *memory, uint32_t *ids);
size_t tg__bpe_merge_lanes(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                           uint32_t *memory, uint32_t *ids);

#endif
