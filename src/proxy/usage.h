/*
 * usage: the token counts a provider reports for a call, read into tg__usage
 * (cost.h) so they can be priced. The shapes differ by route:
 *
 *   OpenAI chat, completions, embeddings: usage.prompt_tokens (cached included),
 *     prompt_tokens_details.{cached_tokens,audio_tokens}, completion_tokens
 *     (reasoning included), completion_tokens_details.{reasoning_tokens,audio_tokens}
 *   OpenAI responses: usage.input_tokens, input_tokens_details.cached_tokens,
 *     output_tokens, output_tokens_details.reasoning_tokens
 *   Anthropic: usage.input_tokens is the uncached part only; cache_read_input_tokens
 *     and cache_creation_input_tokens are added to it (cache_creation.
 *     ephemeral_1h_input_tokens is the one-hour part), output_tokens,
 *     server_tool_use.web_search_requests
 *
 * Every call also counts one request (for per-request fees).
 */
#ifndef TG_PROXY_USAGE_H
#define TG_PROXY_USAGE_H

#include <jansson.h>
#include <stddef.h>

#include "proxy/cost.h"
#include "proxy/usage_view.h"
#include "proxy/wire.h"
#include "tollgate.h"

#define TG__RESPONSE_SIZE_MAX (64 * 1024 * 1024) /* bytes of a non-streamed response read */

/*
 * Reads the usage of a complete (non-streamed) response body, without building the
 * body's tree when it can (usage_scan.h), nor the usage object's (usage_view.h). TG_ERR_NOT_FOUND
 * when the body carries no usage (the caller then estimates and marks the
 * charge estimated), TG_ERR_INVALID when it is not JSON or a count is not a
 * count. *out is written only on success.
 */
tg_status tg__usage_from_body(tg__route route, const char *body, size_t size, tg__usage *out,
                              tg_error *err);

/*
 * The same by parsing the whole body into a tree: what tg__usage_from_body does
 * when its scan (usage_scan.h) is unsure, and the reference its answers must equal
 * (the unit tests and the fuzz target compare the two).
 */
tg_status tg__usage_from_body_tree(tg__route route, const char *body, size_t size, tg__usage *out,
                                   tg_error *err);

/*
 * The two above, also giving the cost the body's top "usage" object reports
 * (tg__usage_cost_micros: OpenRouter's usage.cost) in *cost_micros, -1 when it reports
 * none or none readable, from the one read of the usage (the answer is not read again
 * for it). cost_micros may be NULL; it is written only on success, as *out.
 */
tg_status tg__usage_read_body(tg__route route, const char *body, size_t size, tg__usage *out,
                              int64_t *cost_micros, tg_error *err);
tg_status tg__usage_read_body_tree(tg__route route, const char *body, size_t size, tg__usage *out,
                                   int64_t *cost_micros, tg_error *err);

/*
 * Reads a usage object (the value of a "usage" key) in the route's shape. Counts
 * that are absent stay as they are in *out, so Anthropic's stream can merge its
 * message_start and message_delta reports; set *out to zeros for a fresh read.
 * TG_ERR_INVALID when a count is not a non-negative integer in range (*out is
 * then unchanged).
 */
tg_status tg__usage_merge_json(tg__route route, const json_t *usage, tg__usage *out);
/* The same of a view (usage_view.h): a tree's value or a plain answer's indexed text. */
tg_status tg__usage_merge_view(tg__route route, const tg__usage_view *usage, tg__usage *out);

/*
 * Usage for a complete response that reported none: the prompt estimate as
 * input, and output counted from the text the response carries (choices,
 * output or content) as for a stream. Marked estimated. TG_ERR_INVALID when the
 * body is not JSON (the caller then charges its worst case).
 */
tg_status tg__usage_estimate_body(tg__route route, const char *body, size_t size,
                                  int64_t prompt_tokens_estimate, tg__usage *out, tg_error *err);

/* Output tokens estimated from streamed text: at least one per event that carried
 * text, and at least one per four bytes, whichever is more. */
int64_t tg__usage_output_estimate(int64_t text_bytes, int64_t text_events);

/*
 * The cost an upstream reported in a usage object (OpenRouter: usage.cost, in USD
 * credits) as micros. The report comes as a JSON number, often a float; it is turned
 * into micros through its decimal text (twelve places, rounded half up to a micro) and is
 * only ever compared with the proxy's own integer price, never summed. TG_ERR_NOT_FOUND
 * when there is none, TG_ERR_INVALID when negative or past TG_AMOUNT_MAX.
 */
tg_status tg__usage_cost_micros(const json_t *usage, int64_t *out);
tg_status tg__usage_view_cost_micros(const tg__usage_view *usage, int64_t *out);

/* Writes the route's usage object for *usage (for a cut stream's last event). */
json_t *tg__usage_to_json(tg__route route, const tg__usage *usage);

#endif
