/*
 * wire: the ids of the LLM routes the proxy serves. Each route belongs to one
 * provider (provider.h), whose file lists its method, path and traits; the
 * functions here look a route up across every provider's table. Everything
 * else in src/proxy/ is told which route a call came in on, because the same
 * question (where is the model, the output cap, the usage?) has a different
 * answer on each.
 */
#ifndef TG_PROXY_WIRE_H
#define TG_PROXY_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "tollgate.h"

typedef enum {
    TG__ROUTE_OPENAI_CHAT = 0,            /* POST /v1/chat/completions */
    TG__ROUTE_OPENAI_RESPONSES = 1,       /* POST /v1/responses */
    TG__ROUTE_OPENAI_EMBEDDINGS = 2,      /* POST /v1/embeddings */
    TG__ROUTE_OPENAI_COMPLETIONS = 3,     /* POST /v1/completions (legacy) */
    TG__ROUTE_OPENAI_MODELS = 4,          /* GET /v1/models: free, passed through */
    TG__ROUTE_ANTHROPIC_MESSAGES = 5,     /* POST /v1/messages */
    TG__ROUTE_ANTHROPIC_COUNT = 6,        /* POST /v1/messages/count_tokens: free */
    TG__ROUTE_OPENAI_RESPONSE_GET = 7,    /* GET /v1/responses/{id}: settles a background run */
    TG__ROUTE_OPENAI_RESPONSE_CANCEL = 8, /* POST /v1/responses/{id}/cancel: the same */
    TG__ROUTE_GEMINI_GENERATE = 9,        /* POST /v1beta/models/{model}:generateContent */
    TG__ROUTE_GEMINI_STREAM = 10,         /* POST /v1beta/models/{model}:streamGenerateContent */
    TG__ROUTE_GEMINI_COUNT = 11           /* POST /v1beta/models/{model}:countTokens: free */
} tg__route;
#define TG__ROUTE_COUNT 12
#define TG__ROUTE_ID_SIZE_MAX 128 /* bytes of an id in a path ({id}), NUL included */

/*
 * Finds the route of a request line. `path` is the path without the query
 * string. TG_ERR_NOT_FOUND when no route matches (the daemon answers 404). A `{id}`
 * segment is one or more of [A-Za-z0-9_-], shorter than TG__ROUTE_ID_SIZE_MAX; a
 * `{model}` segment one or more of [A-Za-z0-9._-], shorter than TG_NAME_SIZE_MAX.
 */
tg_status tg__route_find(const char *method, const char *path, tg__route *out);

/* The `{id}` (or `{model}`) segment of a path on a route that has one, copied into out
 * (size bytes): TG_ERR_NOT_FOUND when the route has none or the path does not match it. */
tg_status tg__route_id(tg__route route, const char *path, char *out, size_t size);

/* True for routes whose calls cost money (and so are priced and held). */
bool tg__route_metered(tg__route route);

/* "openai.chat", "anthropic.messages", ...: stable names for logs and metrics. */
const char *tg__route_name(tg__route route);

#endif
