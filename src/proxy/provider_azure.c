/*
 * provider_azure: Azure OpenAI. The wire is OpenAI's (the same bodies, streams and
 * usage), so the table borrows OpenAI's functions; what differs is how a call is
 * reached and answered:
 *
 *   - paths name a deployment, not a model: POST /openai/deployments/{deployment}/
 *     chat/completions?api-version=... (and /completions, /embeddings). The config maps
 *     each deployment to the model it serves (upstreams.NAME.deployments), because the
 *     deployment's name says nothing reliable about what it costs;
 *   - the key travels in an `api-key` header, and every call needs `api-version`;
 *   - errors are Azure's: {"error": {"code", "message"}}, without OpenAI's type/param.
 *
 * Prices are the price data's `azure` provider, which falls back to `openai` for the
 * models it does not list itself (docs/proxy.md, "Azure OpenAI").
 */
#include <stdio.h>
#include <string.h>

#include "proxy/provider.h"

static const struct {
    const char *tail; /* the path after the deployment */
    tg__route route;  /* OpenAI's route it is */
} AZURE_ROUTES[] = {
    {"/chat/completions", TG__ROUTE_OPENAI_CHAT},
    {"/completions", TG__ROUTE_OPENAI_COMPLETIONS},
    {"/embeddings", TG__ROUTE_OPENAI_EMBEDDINGS},
};

#define DEPLOYMENTS_PREFIX "/openai/deployments/"

tg_status tg__azure_route(const char *path, tg__route *route, char *deployment, size_t size) {
    size_t prefix = strlen(DEPLOYMENTS_PREFIX);
    if (path == NULL || route == NULL || deployment == NULL ||
        strncmp(path, DEPLOYMENTS_PREFIX, prefix) != 0) {
        return TG_ERR_NOT_FOUND;
    }
    const char *name = path + prefix;
    size_t name_size = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789._-");
    if (name_size == 0 || name_size >= size) {
        return TG_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < sizeof AZURE_ROUTES / sizeof AZURE_ROUTES[0]; i++) {
        if (strcmp(name + name_size, AZURE_ROUTES[i].tail) == 0) {
            memcpy(deployment, name, name_size);
            deployment[name_size] = '\0';
            *route = AZURE_ROUTES[i].route;
            return TG_OK;
        }
    }
    return TG_ERR_NOT_FOUND;
}

static void auth_header(const char *key, char *line, size_t size) {
    snprintf(line, size, "api-key: %s", key);
}

/* Azure answers a call without api-version with a 404 that names no cause; say it. */
static const char *query_error(tg__route route, const char *query) {
    (void)route;
    const char *found = query != NULL ? strstr(query, "api-version=") : NULL;
    bool parameter = found != NULL && (found == query + 1 || found[-1] == '&');
    return parameter && found[12] != '\0' && found[12] != '&'
               ? NULL
               : "Tollgate: an Azure OpenAI call needs the api-version query parameter "
                 "(?api-version=2024-10-21)";
}

/* Azure's shape: code and message (Tollgate's details beside them). */
static json_t *error_body(int status, const char *code, const char *message, json_t *details) {
    (void)status;
    json_t *error = json_pack("{s:s,s:s}", "code", code, "message", message);
    if (error != NULL && details != NULL) {
        json_object_update(error, details);
    }
    json_decref(details);
    return error ? json_pack("{s:o}", "error", error) : NULL;
}

const tg__provider tg__provider_azure = {
    .name = "azure",
    .prices_id = "azure",
    TG__OPENAI_WIRE,
    .auth_header = auth_header,
    .query_error = query_error,
    .request_stream_usage = tg__openai_request_stream_usage,
    .error_body = error_body,
};
