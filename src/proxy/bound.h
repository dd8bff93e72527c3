/*
 * bound: the most a provider can bill for one request, computed from the
 * request before it is forwarded (docs/proxy.md, "What a hold covers"). A hold is
 * this bound at the model's dearest prices; the proxy never guesses below it.
 *
 * The bound has three parts, written into the request's info:
 *   input_bound_tokens  every input token: text (one token per byte where no exact
 *                       tokenizer exists: a byte-level BPE never makes more tokens
 *                       than bytes), message framing, images by their dimensions
 *                       under the provider's formula (the formula's maximum when the
 *                       size cannot be read), documents by page count times a
 *                       per-page maximum, the provider's tool-use system prompt and
 *                       tool definitions, stored state (previous_response_id,
 *                       conversation) as Tollgate recorded it, and what server-side
 *                       tools' results can add
 *   output_rounds       samplings whose output cap can each be used (Anthropic runs
 *                       one sampling per server-tool use)
 *   fee_bound_micros    server-side tool fees: price per use times the uses allowed
 * What no request field bounds (a server tool without max_uses, a file by id, an
 * unknown previous_response_id) is refused with TG_ERR_RANGE and a sentence naming
 * it, unless the options give an explicit cap.
 *
 * One file per wire: bound_chat.c, bound_responses.c, bound_anthropic.c; the
 * shared walkers are here.
 */
#ifndef TG_PROXY_BOUND_H
#define TG_PROXY_BOUND_H

#include <jansson.h>
#include <stdint.h>

#include "proxy/cost.h"
#include "proxy/request.h"
#include "tollgate.h"

#define TG__BOUND_FIXED_TOKENS 64  /* once per request: the provider's own framing */
#define TG__BOUND_MESSAGE_TOKENS 8 /* per message or input item: role, separators */
#define TG__BOUND_NUMBER_TOKENS 24 /* a JSON number written out */
#define TG__BOUND_DEPTH_MAX 64     /* deeper JSON is refused as unbounded */
#define TG__BOUND_PDF_PAGE_TOKENS                                                                  \
    6000                                        /* default per-page maximum (twice the top of      \
                                                   Anthropic's published 1,500-3,000 range) */
#define TG__BOUND_CLAUDE_IMAGE_MAX 3279         /* 1568 x 1568 / 750, rounded up */
#define TG__BOUND_WEB_SEARCH_ANTHROPIC 10000    /* micros per use: $10 per 1,000 */
#define TG__BOUND_WEB_SEARCH_OPENAI 25000       /* micros per call: $25 per 1,000 (the dearest) */
#define TG__BOUND_FILE_SEARCH_OPENAI 2500       /* micros per call: $2.50 per 1,000 */
#define TG__BOUND_WEB_SEARCH_CHAT 30000         /* chat web_search_options: $30 per 1,000 */
#define TG__BOUND_CODE_INTERPRETER_OPENAI 30000 /* micros per container: $0.03 */

/* Recorded context tokens of a stored response or conversation, -1 when unknown. */
typedef int64_t (*tg__state_tokens_fn)(void *user, const char *id);

typedef struct {
    int64_t server_tool_uses_max;      /* uses allowed when the request sets no limit; 0 refuse */
    int64_t server_tool_result_tokens; /* tokens one use's results add; 0 = context window */
    int64_t stored_state_tokens_max;   /* an id Tollgate did not record; 0 refuse */
    int64_t pdf_page_tokens;           /* per page; 0 = TG__BOUND_PDF_PAGE_TOKENS */
    tg__state_tokens_fn state_tokens;  /* NULL: every id unknown */
    void *state_user;                  /* for state_tokens */
} tg__bound_options;

/* What a wire's bound found; filled by the bound_*.c files. */
typedef struct {
    const tg__model_price *price;     /* the model called */
    const tg__bound_options *options; /* caps from the config */
    int64_t input_tokens;             /* running total (saturating) */
    int64_t server_uses;              /* server-tool uses allowed */
    int64_t fee_per_use_micros;       /* the dearest fee among the server tools present */
    int64_t fee_micros;               /* fees not per use (containers) */
    bool server_tools;                /* any server-side tool: results add input */
    bool rounds_per_use;              /* each use is a new sampling with its own output cap */
} tg__bound_walk;

/*
 * Bounds a parsed request for the model's prices and writes info.input_bound_tokens,
 * info.output_rounds and info.fee_bound_micros. TG_ERR_RANGE (err names what is
 * unbounded), TG_ERR_INVALID (a malformed part), TG_ERR_NOMEM.
 */
tg_status tg__bound_request(tg__request *request, const tg__model_price *price,
                            const tg__bound_options *options, tg_error *err);

/* Shared: tokens of a JSON value's text, one per byte plus structure; media parts are
 * handed to `media` (which adds their bound and returns true when it took the part). */
typedef tg_status (*tg__bound_media_fn)(tg__bound_walk *walk, const json_t *part, bool *taken,
                                        tg_error *err);
tg_status tg__bound_json(tg__bound_walk *walk, const json_t *value, tg__bound_media_fn media,
                         int depth, tg_error *err);

/* Shared: tg__bound_json of each of body's top-level fields named in `fields` (count of
 * them; an absent one adds nothing), as the providers' bounds walk their request's text. */
tg_status tg__bound_fields(tg__bound_walk *walk, const json_t *body, const char *const *fields,
                           size_t count, tg__bound_media_fn media, tg_error *err);

/* Shared: a PDF's bound from base64 text (or a data: URL): pages x per-page maximum. */
tg_status tg__bound_pdf(tg__bound_walk *walk, const char *base64, size_t size, tg_error *err);

/* Shared: stored state by id (previous_response_id, conversation). */
tg_status tg__bound_state(tg__bound_walk *walk, const char *field, const char *id, tg_error *err);

/* Shared: the uses of server tools allowed, from the request's limit or the options. */
tg_status tg__bound_uses(tg__bound_walk *walk, int64_t requested, const char *what, tg_error *err);

/* The providers' bounds (provider.h's `bound`): plain bounds input, prompt and suffix. */
tg_status tg__bound_plain(tg__bound_walk *walk, const tg__request *request, tg_error *err);
tg_status tg__bound_chat(tg__bound_walk *walk, const tg__request *request, tg_error *err);
tg_status tg__bound_responses(tg__bound_walk *walk, const tg__request *request, tg_error *err);
tg_status tg__bound_anthropic(tg__bound_walk *walk, const tg__request *request, tg_error *err);

#endif
