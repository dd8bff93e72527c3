/*
 * wire: the LLM routes the proxy serves and the two wire formats they speak.
 * Everything else in src/proxy/ is told which route a call came in on, because
 * the same question (where is the model, the output cap, the usage?) has a
 * different answer on each.
 */
#ifndef TG_PROXY_WIRE_H
#define TG_PROXY_WIRE_H

#include <stdbool.h>

#include "tollgate.h"

typedef enum {
    TG__WIRE_OPENAI = 0,   /* OpenAI and OpenAI-compatible upstreams */
    TG__WIRE_ANTHROPIC = 1 /* Anthropic Messages */
} tg__wire;

typedef enum {
    TG__ROUTE_OPENAI_CHAT = 0,        /* POST /v1/chat/completions */
    TG__ROUTE_OPENAI_RESPONSES = 1,   /* POST /v1/responses */
    TG__ROUTE_OPENAI_EMBEDDINGS = 2,  /* POST /v1/embeddings */
    TG__ROUTE_OPENAI_COMPLETIONS = 3, /* POST /v1/completions (legacy) */
    TG__ROUTE_OPENAI_MODELS = 4,      /* GET /v1/models: free, passed through */
    TG__ROUTE_ANTHROPIC_MESSAGES = 5, /* POST /v1/messages */
    TG__ROUTE_ANTHROPIC_COUNT = 6     /* POST /v1/messages/count_tokens: free */
} tg__route;
#define TG__ROUTE_COUNT 7

/*
 * Finds the route of a request line. `path` is the path without the query
 * string. TG_ERR_NOT_FOUND when no route matches (the daemon answers 404).
 */
tg_status tg__route_find(const char *method, const char *path, tg__route *out);

/* The wire format a route speaks. */
tg__wire tg__route_wire(tg__route route);

/* True for routes whose calls cost money (and so are priced and held). */
bool tg__route_metered(tg__route route);

/* "openai.chat", "anthropic.messages", ...: stable names for logs and metrics. */
const char *tg__route_name(tg__route route);

#endif
