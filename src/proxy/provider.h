/*
 * provider: one function table per LLM provider the proxy speaks to, and one
 * list of them (as curl keeps its TLS backends in lib/vtls/). Everything in the
 * proxy that differs by provider is reached through its table: the routes it
 * serves, the header that carries its key, how a request's output cap and
 * choices are read and rewritten, how its input is bounded, how its usage reads
 * from a body and a stream, the shape of its errors and how a stream it sends
 * is ended cleanly. The rest of src/proxy/ and the daemon's proxy
 * (src/proxy/runtime/proxy*.c) ask the table and never name a provider.
 *
 * A new provider is one file (provider_NAME.c, with helpers beside it when
 * large) defining a tg__provider, its route ids in wire.h, and a line in
 * TG__PROVIDERS (provider.c). docs/architecture.md says the same.
 */
#ifndef TG_PROXY_PROVIDER_H
#define TG_PROXY_PROVIDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/bound.h"
#include "core/buf.h"
#include "proxy/cost.h"
#include "proxy/request.h"
#include "proxy/sse.h"
#include "proxy/stream.h"
#include "proxy/usage_view.h"
#include "proxy/wire.h"
#include "tollgate.h"

#define TG__PROVIDERS_MAX 8 /* providers in TG__PROVIDERS */

/* One route a provider serves, and the traits shared code reads off it. */
typedef struct {
    tg__route route;    /* its id (wire.h) */
    const char *method; /* HTTP method */
    const char *path;   /* path without query; "{id}" stands for one id segment */
    bool metered;       /* costs money: priced, held, charged */
    const char *name;   /* stable name for logs and metrics ("openai.chat") */
    bool output;        /* generates output tokens (false: embeddings) */
    bool usage_nested;  /* the usage may sit under "response" (Responses API) */
    bool token_ids;     /* prompts may be arrays of token ids (counted one each) */
    int count_kind;     /* tg_request_kind for an exact prompt count, -1 none */
    bool stream_exact;  /* a stream's text may be counted exactly (stream_exact.c) */
} tg__route_row;

typedef struct tg__provider {
    const char *name;            /* "openai": its key under upstreams: and its id in the prices */
    const char *prices_id;       /* its provider id in the price data ("google" for gemini) */
    const char *usage_key;       /* the member of a response holding its usage ("usage") */
    int index;                   /* its place in TG__PROVIDERS (the daemon's upstream slot) */
    const tg__route_row *routes; /* the routes it serves */
    size_t routes_count;         /* entries in routes */
    /* Writes the header line that carries the provider key into line (size bytes). */
    void (*auth_header)(const char *key, char *line, size_t size);
    /* Why the query string of a call on `route` cannot be proxied (a sentence), or NULL when
     * it can; NULL function: any query is passed on. */
    const char *(*query_error)(tg__route route, const char *query);
    /* Reads the output cap (per choice) and the choices of a request body into info
     * (info->route is set). TG_ERR_INVALID with err for a malformed field. */
    tg_status (*request_read)(tg__request_info *info, const json_t *body, tg_error *err);
    /* The cap a call without one gets on a route: `configured` (proxy.default_max_output_tokens)
     * or the provider's own default; TG_NONE where the provider requires the client's. */
    int64_t (*cap_default)(tg__route route, int64_t configured);
    /* The field an output cap goes in on a route when the request has none. */
    const char *(*cap_field)(tg__route route);
    /* The field named in the refusal of a call nothing bounds ("set max_tokens"). */
    const char *(*cap_hint)(tg__route route);
    /* Sets the cap per choice in the body (request_set_max_output's work); TG_ERR_INVALID
     * on a route without a cap. */
    tg_status (*request_set_cap)(tg__request *request, int64_t tokens);
    /* On a stream, asks the upstream to report usage (NULL: it always does). */
    tg_status (*request_stream_usage)(tg__request *request);
    /* Bounds the request's input (bound.h); NULL bounds input, prompt and suffix as text. */
    tg_status (*bound)(tg__bound_walk *walk, const tg__request *request, tg_error *err);
    /* Merges a usage object of the route's shape into *out (usage.h's contract). */
    tg_status (*usage_merge)(tg__route route, const tg__usage_view *usage, tg__usage *out);
    /* The route's usage object for *usage (a cut stream's last event). */
    json_t *(*usage_to_json)(tg__route route, const tg__usage *usage);
    /* The provider's error body; `details` (taken, may be NULL) carries Tollgate's fields. */
    json_t *(*error_body)(int http_status, const char *code, const char *message, json_t *details);
    /* Writes an error as an event inside a started stream. */
    tg_status (*error_event)(tg__route route, const char *code, const char *message,
                             int64_t sequence_number, tg__buf *out);
    /* Reads one upstream stream event (stream.h's tg__stream_event contract). */
    void (*stream_event)(tg__stream *stream, const tg__sse_event *event, bool *forward);
    /* Appends the events that end the stream now (stream.h's tg__stream_write_end). */
    tg_status (*stream_end)(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                            tg__buf *out);
    /* Rewrites a metered request before it is sent, streamed or not (OpenRouter asks for
     * its usage accounting); NULL: sent as read. TG_ERR_NOMEM. */
    tg_status (*request_prepare)(tg__request *request);
    /* The upstream states what it billed (OpenRouter's usage.cost): the proxy charges the
     * larger of that and its own price, never above the hold (docs/proxy.md). */
    bool reports_cost;
} tg__provider;

extern const tg__provider tg__provider_openai;
extern const tg__provider tg__provider_anthropic;
extern const tg__provider tg__provider_gemini;

/* An HTTP status's name in a provider's error bodies (OpenAI's and Anthropic's error
 * "type", Gemini's google.rpc.Code status). */
typedef struct {
    int status;       /* HTTP */
    const char *name; /* static */
} tg__status_name;

/* The name of `status` in table (count rows); else server_name for a 5xx, client_name for
 * any other (refusal.c). */
const char *tg__status_name_find(const tg__status_name *table, size_t count, int status,
                                 const char *server_name, const char *client_name);

/* Providers that speak OpenAI's wire on OpenAI's routes and differ in how they are
 * reached (auth, paths, error shape, cost reports). Not in TG__PROVIDERS: a named
 * upstream's `wire:` selects them (proxy/runtime/proxy_config.c), and the proxy reaches them
 * through OpenAI's route ids. */
extern const tg__provider tg__provider_azure;
extern const tg__provider tg__provider_openrouter;

/* Azure's deployment paths: /openai/deployments/{deployment}/chat/completions (and
 * /completions, /embeddings) is OpenAI's route of the same name, its model the deployment
 * (which the config maps to a model name for prices). TG_ERR_NOT_FOUND for any other path
 * or a deployment name that is not 1 to size-1 of [A-Za-z0-9._-]. */
tg_status tg__azure_route(const char *path, tg__route *route, char *deployment, size_t size);

/* OpenAI's wire functions (provider_openai.c), shared by the providers above. */
void tg__openai_auth_header(const char *key, char *line, size_t size);
tg_status tg__openai_request_read(tg__request_info *info, const json_t *body, tg_error *err);
int64_t tg__openai_cap_default(tg__route route, int64_t configured);
const char *tg__openai_cap_field(tg__route route);
const char *tg__openai_cap_hint(tg__route route);
tg_status tg__openai_request_set_cap(tg__request *request, int64_t tokens);
tg_status tg__openai_request_stream_usage(tg__request *request);
tg_status tg__openai_bound(tg__bound_walk *walk, const tg__request *request, tg_error *err);
tg_status tg__openai_usage_merge(tg__route route, const tg__usage_view *usage, tg__usage *out);
json_t *tg__openai_usage_to_json(tg__route route, const tg__usage *usage);
json_t *tg__openai_error_body(int status, const char *code, const char *message, json_t *details);
tg_status tg__openai_error_event(tg__route route, const char *code, const char *message,
                                 int64_t sequence_number, tg__buf *out);

/* The members of a table that speaks OpenAI's wire unchanged (auth_header, error_body,
 * query_error and request_stream_usage are each table's own). */
#define TG__OPENAI_WIRE                                                                            \
    .usage_key = "usage", .index = -1, .routes = NULL, .routes_count = 0,                          \
    .request_read = tg__openai_request_read, .cap_default = tg__openai_cap_default,                \
    .cap_field = tg__openai_cap_field, .cap_hint = tg__openai_cap_hint,                            \
    .request_set_cap = tg__openai_request_set_cap, .bound = tg__openai_bound,                      \
    .usage_merge = tg__openai_usage_merge, .usage_to_json = tg__openai_usage_to_json,              \
    .error_event = tg__openai_error_event, .stream_event = tg__openai_stream_event,                \
    .stream_end = tg__openai_stream_end

/* The providers' larger parts, in files beside their tables. */
void tg__openai_stream_event(tg__stream *stream, const tg__sse_event *event, bool *forward);
tg_status tg__openai_stream_end(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                                tg__buf *out);

/* Every provider, NULL-terminated, in index order (wire.c). */
extern const tg__provider *const TG__PROVIDERS[];

/* The provider serving a route, and its row (NULL for an unknown route). */
const tg__provider *tg__route_provider(tg__route route);
const tg__route_row *tg__route_row_of(tg__route route);

/* The provider named `name` ("openai"), NULL when none is. */
const tg__provider *tg__provider_find(const char *name);

/* Shared by the providers' files. */

/* Reads an optional count at object[key] in [0, max]; null counts as absent (TG_NONE). */
tg_status tg__request_read_count(const json_t *object, const char *key, int64_t max, int64_t *out,
                                 tg_error *err);

/* Sets body[key] to an integer. TG_ERR_NOMEM. */
tg_status tg__request_set_integer(json_t *body, const char *key, int64_t value);

/* A provider's request_set_cap, once it knows where the cap goes: object[field] = tokens
 * (object: the body or an object in it), recorded in request->info (field: static) and the
 * body marked changed. TG_ERR_NOMEM, and then request->info is unchanged. */
tg_status tg__request_set_cap_field(tg__request *request, json_t *object, const char *field,
                                    int64_t tokens);

/* Appends one SSE event (named, or data-only when name is NULL) to out; takes `data`. */
tg_status tg__stream_put_event(tg__buf *out, const char *name, json_t *data);

/* A count in a usage object: usage[object][key] (object NULL: usage[key]) as `unit`. */
typedef struct {
    const char *object; /* sub-object of usage holding the key, NULL for usage itself */
    const char *key;    /* the count's name */
    tg__unit unit;      /* where it goes in tg__usage */
} tg__count_path;

/* Reads the counts present at `paths` into *out (absent ones stay). TG_ERR_INVALID for a
 * count that is not a non-negative integer in range (*out may be partly written). */
tg_status tg__usage_merge_paths(const tg__usage_view *usage, const tg__count_path *paths,
                                size_t count, tg__usage *out);

/* Reads an optional count at object[key] (object may be NULL): *present says if it was. */
tg_status tg__usage_read_count(const tg__usage_view *object, const char *key, bool *present,
                               int64_t *out);

/* The stream helpers providers' readers share (stream.c). */
void tg__stream_copy_string(char *dst, size_t size, const json_t *value);
/* Marks a choice (a candidate) in stream->choices by its "index" (0 when not an integer):
 * finished when its finish_key is a string, else open; returns the index. */
json_int_t tg__stream_choice_mark(tg__stream *stream, const json_t *choice, const char *finish_key);
void tg__stream_count_text(tg__stream *stream, const json_t *value);
void tg__stream_keep_text(tg__stream *stream, const char *text, size_t size);
void tg__stream_read_usage(tg__stream *stream, const json_t *usage, bool final);

#endif
