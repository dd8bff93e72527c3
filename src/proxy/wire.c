/*
 * wire: the route table. A fixed list, because the proxy only understands the
 * calls it knows how to price; anything else is not forwarded.
 */
#include <string.h>

#include "proxy/wire.h"

typedef struct {
    const char *method; /* HTTP method */
    const char *path;   /* path without query; "{id}" stands for one id segment */
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
    [TG__ROUTE_OPENAI_RESPONSE_GET] = {"GET", "/v1/responses/{id}", TG__WIRE_OPENAI, false,
                                       "openai.responses.retrieve"},
    [TG__ROUTE_OPENAI_RESPONSE_CANCEL] = {"POST", "/v1/responses/{id}/cancel", TG__WIRE_OPENAI,
                                          false, "openai.responses.cancel"},
};

static bool id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Matches path against pattern; the {id} segment (if any) is reported by start and size. */
static bool match(const char *pattern, const char *path, const char **id, size_t *id_size) {
    const char *hole = strstr(pattern, "{id}");
    if (hole == NULL) {
        return strcmp(pattern, path) == 0;
    }
    size_t before = (size_t)(hole - pattern);
    if (strncmp(pattern, path, before) != 0) {
        return false;
    }
    const char *start = path + before;
    const char *end = start;
    while (id_char(*end)) {
        end++;
    }
    if (end == start || (size_t)(end - start) >= TG__ROUTE_ID_SIZE_MAX ||
        strcmp(hole + 4, end) != 0) {
        return false;
    }
    *id = start;
    *id_size = (size_t)(end - start);
    return true;
}

tg_status tg__route_find(const char *method, const char *path, tg__route *out) {
    if (method == NULL || path == NULL || out == NULL) {
        return TG_ERR_INVALID;
    }
    for (int i = 0; i < TG__ROUTE_COUNT; i++) {
        const char *id;
        size_t id_size;
        if (strcmp(ROUTES[i].method, method) == 0 && match(ROUTES[i].path, path, &id, &id_size)) {
            *out = (tg__route)i;
            return TG_OK;
        }
    }
    return TG_ERR_NOT_FOUND;
}

tg_status tg__route_id(tg__route route, const char *path, char *out, size_t size) {
    const char *id = NULL;
    size_t id_size = 0;
    if ((unsigned)route >= TG__ROUTE_COUNT || path == NULL || out == NULL ||
        !match(ROUTES[route].path, path, &id, &id_size) || id == NULL || id_size >= size) {
        return TG_ERR_NOT_FOUND;
    }
    memcpy(out, id, id_size);
    out[id_size] = '\0';
    return TG_OK;
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
