/*
 * tool_fees: what the OpenAI Responses built-in tools a call used cost beyond its
 * tokens. The provider bills them per use (web_search, file_search) or per
 * container (code_interpreter), and reports the uses only as output items
 * (`web_search_call`, `file_search_call`, `code_interpreter_call`), not in usage:
 * the settlement counts those items, in a plain answer's `output` or a stream's
 * `response.output_item.done` events, and charges them at the per-use prices the
 * hold was computed with (bound.h), so a call that used what it was held for is
 * charged at most its hold.
 */
#ifndef TG_PROXY_TOOL_FEES_H
#define TG_PROXY_TOOL_FEES_H

#include <jansson.h>
#include <stdint.h>

typedef struct {
    int64_t web_searches;      /* web_search_call items */
    int64_t file_searches;     /* file_search_call items */
    int64_t code_interpreters; /* code_interpreter_call items (one container is billed) */
} tg__tool_uses;

/* Counts one output item (anything else, or not an object, is ignored). */
void tg__tool_uses_add_item(tg__tool_uses *uses, const json_t *item);

/* Counts the items of a response object's `output` array (or of `response.output`
 * for an event that wraps it). */
void tg__tool_uses_add_response(tg__tool_uses *uses, const json_t *response);

/* The fees of those uses in micros (saturating at TG_AMOUNT_MAX). */
int64_t tg__tool_uses_fee_micros(const tg__tool_uses *uses);

/* Chat Completions: a request with web_search_options runs one search (search models
 * search on every call), billed per call; 0 for any other request. */
int64_t tg__chat_search_fee_micros(const json_t *request_body);

#endif
