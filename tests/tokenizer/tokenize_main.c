/*
 * tokenize_main: the C side of the conformance test (conformance.test.js). Reads a
 * file, encodes it with one encoding, and writes the ids as little-endian u32 to
 * stdout, so the test compares them with tiktoken's byte for byte.
 *
 * Usage: tg_tokenize ENCODING FILE [--special]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate_tokens.h"

#define INPUT_SIZE_MAX (64u << 20)

int main(int argc, char **argv) {
    tg_encoding encoding;
    if (argc < 3 || tg_encoding_parse(argv[1], &encoding) != TG_OK) {
        fputs("usage: tg_tokenize cl100k_base|o200k_base FILE [--special]\n", stderr);
        return 2;
    }
    unsigned flags = argc > 3 && strcmp(argv[3], "--special") == 0 ? TG_TOKENS_SPECIAL : 0;
    FILE *f = fopen(argv[2], "rb");
    if (f == NULL) {
        perror(argv[2]);
        return 1;
    }
    char *text = malloc(INPUT_SIZE_MAX);
    size_t len = text ? fread(text, 1, INPUT_SIZE_MAX, f) : 0;
    fclose(f);
    tg_tokenizer *tokenizer = NULL;
    uint32_t *ids = NULL;
    size_t count = 0;
    tg_status status = text ? tg_tokenizer_open(encoding, &tokenizer) : TG_ERR_NOMEM;
    if (status == TG_OK) {
        status = tg_tokens_encode(tokenizer, text, len, flags, &ids, &count);
    }
    if (status != TG_OK) {
        fprintf(stderr, "tg_tokenize: %s\n", tg_status_str(status));
        return 1;
    }
    fwrite(ids, sizeof *ids, count, stdout);
    free(ids);
    free(text);
    tg_tokenizer_close(tokenizer);
    return 0;
}
