/*
 * fuzz_tokenizer: arbitrary bytes through both encodings. Checks that
 * decode(encode(x)) == x (with and without special tokens), that counting agrees
 * with encoding, and that every id is one the decoder knows. The first byte picks
 * the encoding so one corpus covers both.
 */
#include <stdlib.h>
#include <string.h>

#include "tollgate_tokens.h"

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
    return 0;
}
