/*
 * fuzz_tokens_request: tg_tokens_count_request on any bytes. The first byte picks the
 * request kind and whether the model comes from the body or is forced to a
 * fine-tuned name. A body is counted or refused with a message, never crashes; a
 * count is non-negative, its parts add up, it repeats exactly, and a fine-tuned name
 * counts like its base model.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate_tokens.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const models[] = {NULL, "gpt-4o-mini", "gpt-3.5-turbo-0125", "claude-sonnet-4"};

static tg_status count(tg_request_kind kind, const char *model, const char *body, size_t len,
                       tg_prompt_count *out) {
    tg_error err = {0};
    tg_status status = tg_tokens_count_request(kind, model, body, len, out, &err);
    FUZZ_CHECK(status == TG_OK || status == TG_ERR_INVALID || status == TG_ERR_NOMEM);
    FUZZ_CHECK(status != TG_ERR_INVALID || err.message[0] != '\0');
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    tg_request_kind kind = (tg_request_kind)(1 + data[0] % 4);
    const char *model = models[(data[0] / 4) % 4];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    tg_prompt_count a, b;
    if (count(kind, model, body, len, &a) != TG_OK) {
        return 0;
    }
    FUZZ_CHECK(a.text_tokens >= 0 && a.image_tokens >= 0 && a.prompt_tokens >= 0);
    FUZZ_CHECK(a.images_unsized <= a.images);
    if (kind != TG_REQUEST_ANTHROPIC_MESSAGES) {
        FUZZ_CHECK(a.prompt_tokens == a.text_tokens + a.image_tokens);
    }
    FUZZ_CHECK(count(kind, model, body, len, &b) == TG_OK);
    FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0);
    if (model != NULL && kind != TG_REQUEST_ANTHROPIC_MESSAGES) {
        char ft[64];
        strcpy(ft, "ft:");
        strcat(ft, model);
        strcat(ft, ":org::id");
        FUZZ_CHECK(count(kind, ft, body, len, &b) == TG_OK);
        FUZZ_CHECK(b.prompt_tokens == a.prompt_tokens && b.encoding == a.encoding);
    }
    return 0;
}
