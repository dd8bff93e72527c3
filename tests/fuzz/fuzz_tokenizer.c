/*
 * fuzz_tokenizer: arbitrary bytes through both encodings. Checks that
 * decode(encode(x)) == x (with and without special tokens), that counting agrees
 * with encoding, and that every id is one the decoder knows. The first byte picks
 * the encoding so one corpus covers both. The bytes are also merged as one long
 * piece both ways bpe.c can (stitched windows, whole-piece heap), which must agree,
 * and the whole text must encode as its pieces merged one by one (the call's memo of
 * short pieces, short_memo.h, must change nothing).
 */
#include <stdlib.h>
#include <string.h>

#include "tollgate_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer_internal.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FUZZ_INPUT_SIZE_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const tg_tokenizer *tokenizer, const char *text, size_t len, unsigned flags) {
    uint32_t *ids = NULL;
    size_t count = 0;
    size_t counted = 0;
    FUZZ_CHECK(tg_tokens_encode(tokenizer, text, len, flags, &ids, &count) == TG_OK);
    FUZZ_CHECK(tg_tokens_count(tokenizer, text, len, flags, &counted) == TG_OK);
    FUZZ_CHECK(count == counted);
    FUZZ_CHECK(count <= len);
    char *back = NULL;
    size_t back_len = 0;
    FUZZ_CHECK(tg_tokens_decode(tokenizer, ids, count, &back, &back_len) == TG_OK);
    FUZZ_CHECK(back_len == len);
    FUZZ_CHECK(len == 0 || memcmp(back, text, len) == 0);
    free(back);
    free(ids);
}

/* The merge of p[0..len) as one piece (the small merge up to TG__BPE_SMALL_MAX bytes,
 * windows beyond) must equal the heap merge. */
static void check_windows(const tg_tokenizer *tokenizer, const uint8_t *p, size_t len) {
    const tg__vocab *vocab = &tokenizer->vocab;
    if (len < 3 || tg__vocab_rank(vocab, p, len, p + len) != TG__RANK_NONE) {
        return; /* one or two bytes and whole tokens take neither */
    }
    uint32_t *windows = malloc(len * sizeof *windows);
    uint32_t *heap = malloc(len * sizeof *heap);
    uint32_t *memory = malloc(len * TG__BPE_SCRATCH_PER_BYTE);
    FUZZ_CHECK(windows != NULL && heap != NULL && memory != NULL);
    tg__bpe_scratch scratch = {0};
    size_t count = 0;
    FUZZ_CHECK(tg__bpe(vocab, p, len, p + len, &scratch, windows, &count) == TG_OK);
    size_t expected = tg__bpe_merge_heap(vocab, p, len, p + len, memory, heap);
    FUZZ_CHECK(count == expected);
    FUZZ_CHECK(memcmp(windows, heap, count * sizeof *heap) == 0);
    tg__bpe_scratch_free(&scratch);
    free(memory);
    free(heap);
    free(windows);
}

/* The ids of the whole text must be those of its pieces merged one by one: pieces
 * that come back in one call are taken from the call's memo (short_memo.h). */
static void check_pieces_alone(const tg_tokenizer *tokenizer, const uint8_t *p, size_t len) {
    uint32_t *ids = NULL;
    size_t count = 0;
    FUZZ_CHECK(tg_tokens_encode(tokenizer, (const char *)p, len, 0, &ids, &count) == TG_OK);
    uint32_t *alone = malloc((len + 1) * sizeof *alone);
    FUZZ_CHECK(alone != NULL);
    tg__bpe_scratch scratch = {0};
    size_t total = 0;
    for (size_t i = 0; i < len;) {
        size_t stop = tokenizer->split(p, len, i);
        size_t got = 0;
        FUZZ_CHECK(tg__bpe(&tokenizer->vocab, p + i, stop - i, p + len, &scratch, alone + total,
                           &got) == TG_OK);
        total += got;
        FUZZ_CHECK(total <= count);
        i = stop;
    }
    FUZZ_CHECK(total == count);
    FUZZ_CHECK(count == 0 || memcmp(alone, ids, count * sizeof *ids) == 0);
    tg__bpe_scratch_free(&scratch);
    free(alone);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > FUZZ_INPUT_SIZE_MAX) {
        return 0;
    }
    tg_encoding encoding = data[0] & 1 ? TG_ENCODING_O200K_BASE : TG_ENCODING_CL100K_BASE;
    const tg_tokenizer *tokenizer = tg_tokenizer_shared(encoding);
    if (tokenizer == NULL) {
        return 0; /* built without the rank tables */
    }
    const char *text = (const char *)data + 1;
    check(tokenizer, text, size - 1, 0);
    check(tokenizer, text, size - 1, TG_TOKENS_SPECIAL);
    check_windows(tokenizer, data + 1, size - 1);
    check_pieces_alone(tokenizer, data + 1, size - 1);
    return 0;
}
