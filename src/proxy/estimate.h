/*
 * estimate: how many prompt tokens a request will be billed for, before the
 * call. OpenAI chat, responses and embeddings on a model the tokenizer knows
 * are counted exactly (tg_tokens_count_request, include/tollgate_tokens.h).
 * Anything else is a byte count: the text the model reads (messages, system,
 * instructions, tools, input, prompt) at four bytes a token, rounded up, plus
 * a margin, a few tokens per message, and a fixed amount per image, audio or
 * file part.
 */
#ifndef TG_PROXY_ESTIMATE_H
#define TG_PROXY_ESTIMATE_H

#include <jansson.h>
#include <stdint.h>

#include "proxy/wire.h"

#define TG__ESTIMATE_BYTES_PER_TOKEN 4 /* text bytes per token, rounded up */
#define TG__ESTIMATE_MARGIN_PERCENT 10 /* added on top of the text's tokens */
#define TG__ESTIMATE_FIXED_TOKENS 16   /* added once per request */
#define TG__ESTIMATE_MESSAGE_TOKENS 4  /* added per message (role, separators) */
#define TG__ESTIMATE_MEDIA_TOKENS 2000 /* per image, audio or file part */

/* Estimated prompt tokens of a parsed request body for `route` and `model`. */
int64_t tg__prompt_tokens_estimate(tg__route route, const char *model, const json_t *body);

#endif
