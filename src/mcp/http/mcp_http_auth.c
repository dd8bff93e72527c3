/*
 * mcp_http_auth: who may use an MCP server of `tollgate serve`, and what a client
 * that may not is told. Keys are the API's (an admin key, or an agent key whose
 * scope covers the server's budget); a request from a browser page must come from
 * this daemon's own origin. A 401 carries WWW-Authenticate, as RFC 6750 and MCP's
 * authorization spec ask: without it, MCP clients start an OAuth login against a
 * server that has none. It points at the server's protected-resource metadata
 * (RFC 9728), served here without a key, which lists no authorization server: a
 * Tollgate key is made by an admin (`tollgate keys create`), not by OAuth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/path.h"
#include "mcp/http/mcp_http_internal.h"

/* ---- who may use a server ------------------------------------------------------------------- */

/* As the API authenticates (api.c): a configured key, or TOLLGATE_ADMIN_KEY. An agent key
 * may use a server whose budget is inside its scope; a read key none. */
int tg__mcp_http_authorize(const tg__daemon *daemon, const tg__mcp_http_server *server,
                           const char *authorization, const char **why) {
    if (authorization == NULL || strncmp(authorization, "Bearer ", 7) != 0) {
        *why = "send Authorization: Bearer <a Tollgate key> (an agent key whose scope covers the "
               "server's budget, or an admin key)";
        return 401;
    }
    const tg__key *key = tg__daemon_key_find(daemon, authorization + 7); /* auth.c */
    if (key == NULL) {
        *why = "unknown key";
        return 401;
    }
    if (key->role == TG__ROLE_ADMIN ||
        (key->role == TG__ROLE_AGENT && tg__path_in_scope(key->scope, server->budget))) {
        return 0;
    }
    *why = "this key may not spend on the server's budget (its scope or role does not cover it)";
    return 403;
}

/*
 * MCP asks servers to check Origin against DNS rebinding: a web page in a browser
 * sends one. Requests without it (agents, SDKs) pass; with it, its host and port must
 * be the Host the request was sent to.
 */
bool tg__mcp_http_origin_allowed(const char *origin, const char *host) {
    if (origin == NULL) {
        return true;
    }
    const char *authority = strstr(origin, "://");
    if (authority == NULL || host == NULL) {
        return false;
    }
    authority += 3;
    size_t length = strcspn(authority, "/");
    return strlen(host) == length && strncasecmp(authority, host, length) == 0;
}

/* ---- 401: how to authenticate ------------------------------------------------------------------
 */

/* The request's Host, when it is one a URL may carry as is (else NULL). */
static const char *plain_host(struct evhttp_request *request) {
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(request), "Host");
    if (host == NULL || host[0] == '\0' || strlen(host) > 255 ||
        host[strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")] !=
            '\0') {
        return NULL;
    }
    return host;
}

/*
 * A 401 says how to authenticate (RFC 6750, and MCP's authorization spec): without
 * WWW-Authenticate, MCP clients start an OAuth login against a server that has none.
 * The header names the scheme and points at this server's protected-resource metadata
 * (RFC 9728), which lists no authorization server: a Tollgate key is made by an admin.
 */
void tg__mcp_http_unauthorized(struct evhttp_request *request, const tg__mcp_http_server *server,
                               bool key_sent, const char *why) {
    char challenge[768];
    const char *host = plain_host(request);
    int used = snprintf(challenge, sizeof challenge,
                        "Bearer realm=\"tollgate\"%s, error_description=\"%s\"",
                        key_sent ? ", error=\"invalid_token\"" : "",
                        key_sent ? "unknown key: send a Tollgate key an admin made (tollgate "
                                   "keys create)"
                                 : "send Authorization: Bearer <a Tollgate key>; an admin makes "
                                   "one with tollgate keys create");
    if (host != NULL && used > 0 && (size_t)used < sizeof challenge) {
        snprintf(challenge + used, sizeof challenge - (size_t)used,
                 ", resource_metadata=\"http://%s" TG__MCP_HTTP_METADATA_PATH "/mcp/%s\"", host,
                 server->name);
    }
    evhttp_add_header(evhttp_request_get_output_headers(request), "WWW-Authenticate", challenge);
    tg__mcp_http_error_reply(request, 401, NULL, TG__RPC_INVALID_REQUEST, why);
}

/* GET /.well-known/oauth-protected-resource/mcp/{name}: RFC 9728 metadata, no key needed. */
void tg__mcp_http_resource_metadata(struct evhttp_request *request,
                                    const tg__mcp_http_server *server) {
    const char *host = plain_host(request);
    char resource[512];
    snprintf(resource, sizeof resource, "http://%s/mcp/%s", host ? host : "127.0.0.1",
             server->name);
    char name[128];
    snprintf(name, sizeof name, "Tollgate MCP gateway: %s", server->name);
    json_t *body =
        json_pack("{s:s,s:[s],s:s,s:s}", "resource", resource, "bearer_methods_supported", "header",
                  "resource_name", name, "tollgate_key_hint",
                  "no OAuth: send Authorization: Bearer <key>, a key an admin made "
                  "with tollgate keys create");
    tg__mcp_http_json_reply(request, body != NULL ? 200 : 503, body);
}
