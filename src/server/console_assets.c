/*
 * console_assets: serves the web console (docs/console.md) from the table compiled into
 * the daemon, so it works on a machine with no internet and no second server.
 *
 * Only GET and HEAD, only the names in the table: a path is never joined to a folder, so
 * nothing outside the table can be reached ("/ui/../x" is just an unknown name). Every
 * answer carries a strict Content-Security-Policy (the bundle has no inline script or
 * style, and talks only to this daemon), and an ETag: the browser revalidates each load
 * ("no-cache") and gets 304 without a body while the binary is the same.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server/console_assets.h"

#define CONSOLE_PREFIX "/ui/"
#define CONSOLE_NAME_SIZE_MAX 64 /* the longest asset name looked up; longer is not found */

/* 'self' for the bundle and the API; uPlot's canvas needs no more. Styles set by script
 * through the CSSOM (uPlot, Preact) are not inline styles in the CSP sense. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static void common_headers(struct evkeyvalq *headers) {
    evhttp_add_header(headers, "Content-Security-Policy", csp);
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(headers, "Referrer-Policy", "no-referrer");
    evhttp_add_header(headers, "X-Frame-Options", "DENY");
}

static void send_error(struct evhttp_request *request, int status, const char *code,
                       const char *message) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    common_headers(headers);
    evhttp_add_header(headers, "Content-Type", "application/json");
    if (status == 405) {
        evhttp_add_header(headers, "Allow", "GET, HEAD");
    }
    struct evbuffer *out = evbuffer_new();
    if (out != NULL) {
        /* code and message are constants of this file: no JSON escaping needed. */
        evbuffer_add_printf(out, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code,
                            message);
    }
    evhttp_send_reply(request, status, "Error", out);
    if (out != NULL) {
        evbuffer_free(out);
    }
}

static void send_redirect(struct evhttp_request *request) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    common_headers(headers);
    evhttp_add_header(headers, "Location", CONSOLE_PREFIX);
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    evhttp_send_reply(request, 302, "Found", NULL);
}

static const tg__console_asset *find_asset(const char *name) {
    for (size_t i = 0; i < tg__console_assets_count; i++) {
        if (strcmp(tg__console_assets[i].name, name) == 0) {
            return &tg__console_assets[i];
        }
    }
    return NULL;
}

/* True when If-None-Match names this ETag (one of a list, or '*'). */
static bool not_modified(struct evhttp_request *request, const char *etag) {
    const char *wanted =
        evhttp_find_header(evhttp_request_get_input_headers(request), "If-None-Match");
    if (wanted == NULL) {
        return false;
    }
    size_t length = strlen(etag);
    for (const char *at = wanted; (at = strstr(at, etag)) != NULL; at += length) {
        char after = at[length];
        if (after == '\0' || after == ',' || after == ' ') {
            return true;
        }
    }
    return strcmp(wanted, "*") == 0;
}

static void send_asset(struct evhttp_request *request, const tg__console_asset *asset) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    common_headers(headers);
    evhttp_add_header(headers, "ETag", asset->etag);
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    if (not_modified(request, asset->etag)) {
        evhttp_send_reply(request, 304, "Not Modified", NULL);
        return;
    }
    evhttp_add_header(headers, "Content-Type", asset->content_type);
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        send_error(request, 503, "full", "out of memory");
        return;
    }
    /* The table is static: the buffer refers to it instead of copying it. */
    evbuffer_add_reference(out, asset->data, asset->size_bytes, NULL, NULL);
    evhttp_send_reply(request, 200, "OK", out);
    evbuffer_free(out);
}

bool tg__console_handle(struct evhttp_request *request) {
    const char *uri = evhttp_request_get_uri(request);
    size_t path_size = strcspn(uri, "?#");
    bool root = path_size == 1 && uri[0] == '/';
    bool bare = path_size == 3 && strncmp(uri, "/ui", 3) == 0;
    bool under = strncmp(uri, CONSOLE_PREFIX, strlen(CONSOLE_PREFIX)) == 0;
    if (!root && !bare && !under) {
        return false;
    }
    enum evhttp_cmd_type method = evhttp_request_get_command(request);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        send_error(request, 405, "method_not_allowed", "the console is read with GET or HEAD");
        return true;
    }
    if (root || bare) {
        send_redirect(request);
        return true;
    }
    if (tg__console_assets_count == 0) {
        send_error(request, 404, "console_not_built",
                   "this tollgate was built without the console (node_modules was missing: run "
                   "scripts/setup, then build again)");
        return true;
    }
    char name[CONSOLE_NAME_SIZE_MAX];
    size_t name_size = path_size - strlen(CONSOLE_PREFIX);
    const tg__console_asset *asset = NULL;
    if (name_size == 0) {
        asset = find_asset("index.html");
    } else if (name_size < sizeof name) {
        memcpy(name, uri + strlen(CONSOLE_PREFIX), name_size);
        name[name_size] = '\0';
        asset = find_asset(name);
    }
    if (asset == NULL) {
        send_error(request, 404, "not_found", "no such file in the console");
        return true;
    }
    send_asset(request, asset);
    return true;
}
