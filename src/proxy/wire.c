/*
 * wire: route lookup over the providers' route tables (provider.h). A fixed list,
 * because the proxy only understands the calls it knows how to price; anything
 * else is not forwarded.
 */
#include <string.h>

#include "proxy/provider.h"
#include "proxy/wire.h"

const tg__provider *const TG__PROVIDERS[] = {&tg__provider_openai, &tg__provider_anthropic,
                                             &tg__provider_gemini, NULL};

_Static_assert(sizeof TG__PROVIDERS / sizeof TG__PROVIDERS[0] <= TG__PROVIDERS_MAX + 1,
               "TG__PROVIDERS_MAX is the most providers");

static bool id_char(char c, bool model) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || (model && c == '.');
}

/* Matches path against pattern; the {id} or {model} segment (if any) is reported by start
 * and size. */
static bool match(const char *pattern, const char *path, const char **id, size_t *id_size) {
    const char *hole = strstr(pattern, "{id}");
    bool model = hole == NULL && (hole = strstr(pattern, "{model}")) != NULL;
    if (hole == NULL) {
        return strcmp(pattern, path) == 0;
    }
    size_t before = (size_t)(hole - pattern);
    if (strncmp(pattern, path, before) != 0) {
        return false;
    }
    const char *start = path + before;
    const char *end = start;
    while (id_char(*end, model)) {
        end++;
    }
    size_t size_max = model ? TG_NAME_SIZE_MAX : TG__ROUTE_ID_SIZE_MAX;
    if (end == start || (size_t)(end - start) >= size_max ||
        strcmp(hole + (model ? 7 : 4), end) != 0) {
        return false;
    }
    *id = start;
    *id_size = (size_t)(end - start);
    return true;
}

/* The row of route and, in *provider_out, the provider whose table holds it; NULL when none
 * does. */
static const tg__route_row *route_find(tg__route route, const tg__provider **provider_out) {
    for (int p = 0; TG__PROVIDERS[p] != NULL; p++) {
        const tg__provider *provider = TG__PROVIDERS[p];
        for (size_t i = 0; i < provider->routes_count; i++) {
            if (provider->routes[i].route == route) {
                *provider_out = provider;
                return &provider->routes[i];
            }
        }
    }
    *provider_out = NULL;
    return NULL;
}

const tg__route_row *tg__route_row_of(tg__route route) {
    const tg__provider *provider;
    return route_find(route, &provider);
}

const tg__provider *tg__route_provider(tg__route route) {
    const tg__provider *provider;
    route_find(route, &provider);
    return provider;
}

const tg__provider *tg__provider_find(const char *name) {
    for (int p = 0; name != NULL && TG__PROVIDERS[p] != NULL; p++) {
        if (strcmp(TG__PROVIDERS[p]->name, name) == 0) {
            return TG__PROVIDERS[p];
        }
    }
    return NULL;
}

tg_status tg__route_find(const char *method, const char *path, tg__route *out) {
    if (method == NULL || path == NULL || out == NULL) {
        return TG_ERR_INVALID;
    }
    for (int p = 0; TG__PROVIDERS[p] != NULL; p++) {
        const tg__provider *provider = TG__PROVIDERS[p];
        for (size_t i = 0; i < provider->routes_count; i++) {
            const tg__route_row *row = &provider->routes[i];
            const char *id;
            size_t id_size;
            if (strcmp(row->method, method) == 0 && match(row->path, path, &id, &id_size)) {
                *out = row->route;
                return TG_OK;
            }
        }
    }
    return TG_ERR_NOT_FOUND;
}

tg_status tg__route_id(tg__route route, const char *path, char *out, size_t size) {
    const tg__route_row *row = tg__route_row_of(route);
    const char *id = NULL;
    size_t id_size = 0;
    if (row == NULL || path == NULL || out == NULL || !match(row->path, path, &id, &id_size) ||
        id == NULL || id_size >= size) {
        return TG_ERR_NOT_FOUND;
    }
    memcpy(out, id, id_size);
    out[id_size] = '\0';
    return TG_OK;
}

bool tg__route_metered(tg__route route) {
    const tg__route_row *row = tg__route_row_of(route);
    return row != NULL && row->metered;
}

const char *tg__route_name(tg__route route) {
    const tg__route_row *row = tg__route_row_of(route);
    return row != NULL ? row->name : "unknown";
}
