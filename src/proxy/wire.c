/*
 * wire: the route table. A fixed list, because the proxy only understands the
 * calls it knows how to price; anything else is not forwarded.
 */
#include <string.h>

#include "proxy/wire.h"

typedef struct {
    const char *method; /* HTTP method */
    const char *path;   /* exact path, no query */
    tg__wire wire;      /* wire format */
    bool metered;       /* costs money */
    const char *name;   /* stable name */
} route_row;

static const route_row ROUTES[TG__ROUTE_COUNT] = {
    [TG__ROUTE_OPENAI_CHAT] = {"POST", "/v1/chat/completions", TG__WIRE_OPENAI, true,
                               "openai.chat"},
    [TG__ROUTE_OPENAI_RESPONSES] = {"POST", "/v1/responses", TG__WIRE_OPENAI, true,
                                    "openai.responses"},
    [TG__ROUTE_OPENAI_EMBEDDINGS] = {"POST", "/v1/embeddings", TG__WIRE_OPENAI, true,
                                     "openai.embeddings"},
    [TG__ROUTE_OPENAI_COMPLETIONS] = {"POST", "/v1/completions", TG__WIRE_OPENAI, true,
                                      "openai.completions"},
    [TG__ROUTE_OPENAI_MODELS] = {"GET", "/v1/models", TG__WIRE_OPENAI, false, "openai.models"},
    [TG__ROUTE_ANTHROPIC_MESSAGES] = {"POST", "/v1/messages", TG__WIRE_ANTHROPIC, true,
                                      "anthropic.messages"},
    [TG__ROUTE_ANTHROPIC_COUNT] = {"POST", "/v1/messages/count_tokens", TG__WIRE_ANTHROPIC, false,
                                   "anthropic.count_tokens"},
};

tg_status tg__route_find(const char *method, const char *path, tg__route *out) {
    if (method == NULL || path == NULL || out == NULL) {
        return TG_ERR_INVALID;
    }
    for (int i = 0; i < TG__ROUTE_COUNT; i++) {
        if (strcmp(ROUTES[i].method, method) == 0 && strcmp(ROUTES[i].path, path) == 0) {
            *out = (tg__route)i;
            return TG_OK;
        }
    }
    return TG_ERR_NOT_FOUND;
}

tg__wire tg__route_wire(tg__route route) {
    return (unsigned)route < TG__ROUTE_COUNT ? ROUTES[route].wire : TG__WIRE_OPENAI;
}

bool tg__route_metered(tg__route route) {
    return (unsigned)route < TG__ROUTE_COUNT && ROUTES[route].metered;
}

const char *tg__route_name(tg__route route) {
    return (unsigned)route < TG__ROUTE_COUNT ? ROUTES[route].name : "unknown";
}
