/*
 * request: what the proxy reads from an LLM request body before forwarding it,
 * and the few rewrites a budget may require. The body is parsed once; when
 * nothing needs to change the daemon forwards the client's original bytes.
 *
 * Read per route, the cap and choices by the route's provider (provider.h; a field
 * that is present but malformed is an error, answered
 * 400, so the proxy never guesses less than the upstream will do):
 *   model       "model" (required on metered routes)
 *   stream      "stream": true; OpenAI stream_options.include_usage
 *   output cap  chat: max_completion_tokens or max_tokens (the larger if both);
 *               responses: max_output_tokens; completions, Anthropic: max_tokens
 *   choices     chat: n; completions: the larger of n and best_of (each is billed)
 * Duplicate keys are refused: upstream parsers may take the other copy, and a
 * second "max_tokens" must not slip past the hold.
 */
#ifndef TG_PROXY_REQUEST_H
#define TG_PROXY_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/cost.h"
#include "proxy/wire.h"
#include "tollgate.h"

#define TG__REQUEST_BODY_SIZE_MAX (64 * 1024 * 1024) /* bytes of a request body parsed */
#define TG__REQUEST_CHOICES_MAX 128                  /* n (OpenAI's own maximum) */

typedef struct {
    tg__route route;                /* the route it came in on */
    char model[TG_NAME_SIZE_MAX];   /* as the client sent it ("" on unmetered routes without one) */
    bool stream;                    /* a streamed response was asked for */
    bool stream_usage;              /* OpenAI: the client itself asked for the usage chunk */
    int64_t max_output_tokens;      /* the request's cap per choice, TG_NONE when absent */
    const char *max_output_field;   /* the field that carries it (static), NULL when absent */
    int64_t choices;                /* outputs generated and billed per call, >= 1 */
    int64_t reasoning_bound_tokens; /* per choice, generated beyond the cap at most (Gemini's
                                       thinking budget); 0 when the cap covers it */
    int64_t prompt_tokens_estimate; /* estimate.h */
    int64_t input_bound_tokens;     /* bound.h: every input token billable; TG_NONE until
                                       bounded (the estimate is held then) */
    int64_t output_rounds;          /* bound.h: samplings that each may use the cap, >= 1 */
    int64_t fee_bound_micros;       /* bound.h: server-side tool fees at most */
    bool cap_defaulted;             /* the client sent no output cap: Tollgate set it */
} tg__request_info;

typedef struct {
    json_t *body;          /* the parsed body; owned, released by tg__request_free */
    tg__request_info info; /* read from body; kept up to date by the rewrites */
    bool changed;          /* rewritten: forward tg__request_serialize, not the original */
} tg__request;

/*
 * Parses and reads a request body. TG_ERR_INVALID (not a JSON object, duplicate
 * keys, a field of the wrong type or range; err says which), TG_ERR_FULL (past
 * TG__REQUEST_BODY_SIZE_MAX), TG_ERR_NOMEM. *out is set only on success.
 */
tg_status tg__request_parse(tg__route route, const char *body, size_t size, tg__request *out,
                            tg_error *err);

/* The same for a route whose model is in the path (Gemini: /models/{model}:...): path_model
 * is the model, and a "model" in the body is not read. NULL path_model: tg__request_parse. */
tg_status tg__request_parse_path(tg__route route, const char *path_model, const char *body,
                                 size_t size, tg__request *out, tg_error *err);

/* Releases the body. NULL is a no-op. */
void tg__request_free(tg__request *request);

/*
 * Output tokens the worst case assumes: the smallest of the request's cap, the
 * model's maximum output and its context window (whichever are known), times
 * the choices. 0 on routes without output; -1 when nothing bounds it.
 */
int64_t tg__request_output_bound(const tg__request_info *info, const tg__model_price *price);

/* Input tokens held: the bound when computed, else the estimate. */
int64_t tg__request_input_held(const tg__request_info *info);

/*
 * The worst-case cost of the call (what to hold): the input bound (bound.h) plus
 * the output bound times the sampling rounds, at the model's dearest prices, plus
 * server-tool fees. TG_ERR_RANGE when the output is
 * unbounded (err asks for max_tokens; the "lower" policy can set one) or the
 * cost overflows.
 */
tg_status tg__request_worst_case(const tg__request_info *info, const tg__model_price *price,
                                 int64_t *cost_micros_out, tg_error *err);

/* Sets the output cap per choice in the route's field (adding it when absent;
 * chat adds max_completion_tokens, and lowers max_tokens too when present). */
tg_status tg__request_set_max_output(tg__request *request, int64_t tokens);

/* The field the request's output cap is (or would be) in: the one the client used, else
 * the provider's field for the route ("max_tokens", "max_output_tokens"...). Static. */
const char *tg__request_cap_field(const tg__request_info *info);

/* Replaces the model. TG_ERR_INVALID when the name is empty or too long. */
tg_status tg__request_set_model(tg__request *request, const char *model);

/*
 * On an OpenAI chat or completions stream, sets stream_options.include_usage so
 * the upstream reports usage; info.stream_usage keeps the client's own wish (the
 * stream tracker then hides the usage chunk from a client that did not ask).
 * Does nothing on other routes or when already set.
 */
tg_status tg__request_ensure_stream_usage(tg__request *request);

/* The (rewritten) body as compact JSON. *body_out from malloc; caller frees. */
tg_status tg__request_serialize(const tg__request *request, char **body_out, size_t *size_out);

#endif
