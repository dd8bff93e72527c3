/*
 * mcp_http: the /mcp/{name} routes (Streamable HTTP, MCP 2025-03-26 and
 * 2025-06-18): POST carries one JSON-RPC message from the agent, GET opens the
 * session's stream of server-to-client messages, DELETE ends the session. A
 * session is made by a POST of `initialize` without Mcp-Session-Id and gets one
 * child process of its own (the simplest faithful relay: a stdio server keeps
 * per-connection state, so sessions cannot share one); sessions_max bounds them.
 *
 * Every error on these routes is a JSON-RPC error object, so MCP clients can
 * show it: 400 (bad message, missing session id), 401/403 (keys, as the API),
 * 404 (unknown server or session: the client initializes again), 405, 406,
 * 413, 503 (sessions_max).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/path.h"
#include "mcp/http/mcp_http_internal.h"

/* ---- replies ---------------------------------------------------------------------------- */

void tg__mcp_http_error_reply(struct evhttp_request *request, int status, const char *id_text,
                              int code, const char *message) {
    json_t *id = id_text != NULL ? json_loads(id_text, JSON_DECODE_ANY, NULL) : NULL;
    json_t *body = tg__rpc_error(id, code, message);
    json_decref(id);
    tg__mcp_http_json_reply(request, status, body);
}

void tg__mcp_http_json_reply(struct evhttp_request *request, int status, json_t *body) {
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct evbuffer *out = evbuffer_new();
    if (text != NULL && out != NULL) {
        evbuffer_add(out, text, strlen(text));
    }
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type",
                      "application/json");
    evhttp_send_reply(request, status, status == 200 ? "OK" : "Error", out);
    if (out != NULL) {
        evbuffer_free(out);
    }
}

static void empty_reply(struct evhttp_request *request, int status, const char *session_id) {
    if (session_id != NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(request), "Mcp-Session-Id", session_id);
    }
    evhttp_send_reply(request, status, status == 202 ? "Accepted" : "OK", NULL);
}

/* ---- the routes ------------------------------------------------------------------------------ */

static const tg__mcp_http_server *server_named(const tg__mcp_http *mcp, const char *name,
                                               size_t length) {
    for (int i = 0; i < mcp->config->servers_count; i++) {
        const tg__mcp_http_server *server = &mcp->config->servers[i];
        if (strlen(server->name) == length && memcmp(server->name, name, length) == 0) {
            return server;
        }
    }
    return NULL;
}

/* A session is found only with the key that made it, so a leaked session id alone is useless
 * (MCP asks servers to bind session ids to the user). */
static mcp_session *session_by_id(tg__mcp_http *mcp, const tg__mcp_http_server *server,
                                  const char *id, const unsigned char *caller) {
    for (mcp_session *session = mcp->sessions; session != NULL; session = session->next) {
        if (session->server == server && strcmp(session->id, id) == 0 &&
            memcmp(session->caller, caller, TG__SHA256_SIZE) == 0) {
            return session;
        }
    }
    return NULL;
}

static bool accepts(struct evhttp_request *request, const char *type) {
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(request), "Accept");
    return accept == NULL || strstr(accept, type) != NULL || strstr(accept, "*/*") != NULL;
}

/* The session named by Mcp-Session-Id, or NULL after answering 400/404. */
static mcp_session *require_session(tg__mcp_http *mcp, const tg__mcp_http_server *server,
                                    struct evhttp_request *request, const char *id_text,
                                    const unsigned char *caller) {
    const char *id =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Mcp-Session-Id");
    if (id == NULL) {
        tg__mcp_http_error_reply(request, 400, id_text, TG__RPC_INVALID_REQUEST,
                                 "Mcp-Session-Id header required: initialize a session first");
        return NULL;
    }
    mcp_session *session = session_by_id(mcp, server, id, caller);
    if (session == NULL) {
        tg__mcp_http_error_reply(request, 404, id_text, TG__RPC_SERVER_GONE,
                                 "no such MCP session (ended, expired, or its server exited): "
                                 "initialize a new one");
    }
    return session;
}

static mcp_session *open_session(tg__mcp_http *mcp, const tg__mcp_http_server *server,
                                 struct evhttp_request *request, const char *id_text,
                                 const unsigned char *caller) {
    if (mcp->sessions_count >= mcp->config->sessions_max) {
        evhttp_add_header(evhttp_request_get_output_headers(request), "Retry-After", "5");
        tg__mcp_http_error_reply(request, 503, id_text, TG__RPC_SERVER_GONE,
                                 "Tollgate holds mcp.sessions_max MCP sessions already; end one "
                                 "(DELETE) or retry later");
        return NULL;
    }
    tg_error err = {0};
    mcp_session *session = tg__mcp_http_session_new(mcp, server, &err);
    if (session != NULL) {
        memcpy(session->caller, caller, TG__SHA256_SIZE);
    }
    if (session == NULL) {
        fprintf(stderr, "tollgate: mcp: %s: %s\n", server->name, err.message);
        tg__mcp_http_error_reply(request, 503, id_text, TG__RPC_SERVER_GONE,
                                 "Tollgate could not start the MCP server for this session");
    }
    return session;
}

/* A POST of a request waits for its response; notifications and responses get 202. */
static void post_wait(mcp_session *session, struct evhttp_request *request,
                      const tg__rpc_message *message) {
    mcp_post *post = calloc(1, sizeof *post);
    if (post == NULL || session->posts_count >= session->posts_max) {
        free(post);
        tg__mcp_http_error_reply(request, 503, message->id_text, TG__RPC_SERVER_GONE,
                                 "too many requests of this session are waiting");
        return;
    }
    post->request = request;
    memcpy(post->id_text, message->id_text, sizeof post->id_text);
    json_t *token = json_object_get(json_object_get(message->params, "_meta"), "progressToken");
    if (token == NULL || !tg__rpc_id_text(token, post->progress_token)) {
        post->progress_token[0] = '\0';
    }
    post->sse_ok = accepts(request, "text/event-stream");
    post->next = session->posts;
    session->posts = post;
    session->posts_count++;
    evhttp_add_header(evhttp_request_get_output_headers(request), "Mcp-Session-Id", session->id);
}

static bool waiting(const mcp_session *session, const char *id_text) {
    for (const mcp_post *post = session->posts; post != NULL; post = post->next) {
        if (strcmp(post->id_text, id_text) == 0) {
            return true;
        }
    }
    return false;
}

/* Messages the relay would refuse anyway are answered here, on this POST. */
static bool unreadable(struct evhttp_request *request, const tg__rpc_message *message) {
    if (message->kind == TG__RPC_BATCH) {
        tg__mcp_http_error_reply(request, 400, NULL, TG__RPC_INVALID_REQUEST,
                                 "JSON-RPC batches are not relayed by Tollgate (MCP 2025-06-18 "
                                 "removed them); send messages one by one");
    } else if (message->kind == TG__RPC_INVALID) {
        tg__mcp_http_error_reply(request, 400, NULL,
                                 message->root == NULL ? TG__RPC_PARSE_ERROR
                                                       : TG__RPC_INVALID_REQUEST,
                                 "not a JSON-RPC 2.0 message Tollgate can read (UTF-8 JSON, no "
                                 "duplicate keys, integers within 64 bits)");
    } else if (message->id_too_long) {
        tg__mcp_http_error_reply(request, 400, NULL, TG__RPC_INVALID_REQUEST,
                                 "Tollgate accepts request ids of at most 255 bytes");
    } else {
        return false;
    }
    return true;
}

static void on_post(tg__mcp_http *mcp, const tg__mcp_http_server *server,
                    struct evhttp_request *request, const unsigned char *caller) {
    struct evbuffer *input = evhttp_request_get_input_buffer(request);
    size_t size = evbuffer_get_length(input);
    if (size > (size_t)server->config->message_size_max_bytes) {
        tg__mcp_http_error_reply(request, 413, NULL, TG__RPC_INVALID_REQUEST,
                                 "message longer than Tollgate's mcp message_size_max_bytes");
        return;
    }
    const char *body = size > 0 ? (const char *)evbuffer_pullup(input, -1) : "";
    tg__rpc_message message;
    tg__rpc_parse(body, size, &message);
    if (unreadable(request, &message)) {
        tg__rpc_message_clear(&message);
        return;
    }
    bool request_kind = message.kind == TG__RPC_REQUEST;
    const char *id_text = request_kind ? message.id_text : NULL;
    bool has_id =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Mcp-Session-Id") != NULL;
    mcp_session *session = NULL;
    if (!has_id && request_kind && strcmp(message.method, "initialize") == 0) {
        session = open_session(mcp, server, request, id_text, caller);
    } else {
        session = require_session(mcp, server, request, id_text, caller);
    }
    if (session != NULL && request_kind && waiting(session, message.id_text)) {
        tg__mcp_http_error_reply(request, 200, id_text, TG__RPC_INVALID_REQUEST,
                                 "a request with this id is already in flight");
    } else if (session != NULL && request_kind) {
        post_wait(session, request, &message);
        tg__mcp_http_session_from_agent(session, body, size); /* may answer the POST at once */
    } else if (session != NULL) {
        char id[TG__MCP_HTTP_SESSION_ID_SIZE];
        memcpy(id, session->id, sizeof id);
        tg__mcp_http_session_from_agent(session, body, size);
        empty_reply(request, 202, id);
    }
    tg__rpc_message_clear(&message);
}

static void on_get(tg__mcp_http *mcp, const tg__mcp_http_server *server,
                   struct evhttp_request *request, const unsigned char *caller) {
    if (!accepts(request, "text/event-stream")) {
        tg__mcp_http_error_reply(request, 406, NULL, TG__RPC_INVALID_REQUEST,
                                 "GET opens an event stream: send Accept: text/event-stream");
        return;
    }
    mcp_session *session = require_session(mcp, server, request, NULL, caller);
    if (session == NULL) {
        return;
    }
    /* Last-Event-ID: the last message of this session's GET stream the client received. */
    const char *last =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Last-Event-ID");
    uint64_t after = 0;
    if (last != NULL) {
        char *end = NULL;
        after = strtoull(last, &end, 10);
        if (last[0] < '0' || last[0] > '9' || *end != '\0' || strlen(last) > 20 ||
            after > tg__mcp_http_stream_newest(session)) {
            tg__mcp_http_error_reply(request, 400, NULL, TG__RPC_INVALID_REQUEST,
                                     "Last-Event-ID must be the id of a message this session's "
                                     "stream sent; open the stream without it to get what was "
                                     "never sent");
            return;
        }
    }
    tg__mcp_http_session_open_stream(session, request, last != NULL, after);
}

static void on_delete(tg__mcp_http *mcp, const tg__mcp_http_server *server,
                      struct evhttp_request *request, const unsigned char *caller) {
    mcp_session *session = require_session(mcp, server, request, NULL, caller);
    if (session != NULL) {
        tg__mcp_http_session_end(session, "the client ended it (DELETE)");
        empty_reply(request, 200, NULL);
    }
}

bool tg__mcp_http_handle(tg__mcp_http *mcp, struct evhttp_request *request) {
    if (mcp == NULL) {
        return false;
    }
    const char *uri = evhttp_request_get_uri(request);
    size_t length = strcspn(uri, "?#");
    bool metadata = strncmp(uri, TG__MCP_HTTP_METADATA_PATH "/mcp/",
                            sizeof TG__MCP_HTTP_METADATA_PATH "/mcp/" - 1) == 0;
    if (metadata) {
        uri += strlen(TG__MCP_HTTP_METADATA_PATH);
        length -= strlen(TG__MCP_HTTP_METADATA_PATH);
    }
    if (length < 4 || strncmp(uri, "/mcp", 4) != 0 || (length > 4 && uri[4] != '/')) {
        return false;
    }
    const char *name = length > 5 ? uri + 5 : "";
    size_t name_length = length > 5 ? length - 5 : 0;
    const tg__mcp_http_server *server = server_named(mcp, name, name_length);
    if (server == NULL) {
        tg__mcp_http_error_reply(request, 404, NULL, TG__RPC_INVALID_REQUEST,
                                 "no MCP server of that name: see mcp.servers in the config");
        return true;
    }
    if (metadata) {
        if (evhttp_request_get_command(request) != EVHTTP_REQ_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(request), "Allow", "GET");
            tg__mcp_http_error_reply(request, 405, NULL, TG__RPC_INVALID_REQUEST,
                                     "the protected-resource metadata is read with GET");
        } else {
            tg__mcp_http_resource_metadata(request, server);
        }
        return true;
    }
    struct evkeyvalq *headers = evhttp_request_get_input_headers(request);
    if (!tg__mcp_http_origin_allowed(evhttp_find_header(headers, "Origin"),
                                     evhttp_find_header(headers, "Host"))) {
        tg__mcp_http_error_reply(request, 403, NULL, TG__RPC_INVALID_REQUEST,
                                 "the Origin header names another host than this daemon");
        return true;
    }
    const char *why = NULL;
    const char *authorization = evhttp_find_header(headers, "Authorization");
    int denied = tg__mcp_http_authorize(mcp->daemon, server, authorization, &why);
    if (denied == 401) {
        tg__mcp_http_unauthorized(request, server, authorization != NULL, why);
        return true;
    }
    if (denied != 0) {
        tg__mcp_http_error_reply(request, denied, NULL, TG__RPC_INVALID_REQUEST, why);
        return true;
    }
    unsigned char caller[TG__SHA256_SIZE];
    tg__key_hash(authorization + 7, caller); /* authorize checked the "Bearer " prefix */
    switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_POST:
        on_post(mcp, server, request, caller);
        break;
    case EVHTTP_REQ_GET:
        on_get(mcp, server, request, caller);
        break;
    case EVHTTP_REQ_DELETE:
        on_delete(mcp, server, request, caller);
        break;
    default:
        evhttp_add_header(evhttp_request_get_output_headers(request), "Allow", "GET, POST, DELETE");
        tg__mcp_http_error_reply(request, 405, NULL, TG__RPC_INVALID_REQUEST,
                                 "MCP endpoints take POST, GET and DELETE");
        break;
    }
    return true;
}

/* ---- time and events ------------------------------------------------------------------------- */

static void sweep_all(tg__mcp_http *mcp) {
    int64_t now = tg__now_ms();
    for (mcp_session *session = mcp->sessions; session != NULL;) {
        mcp_session *next = session->next; /* the sweep may end the session */
        (void)tg__mcp_http_session_sweep(session, now);
        session = next;
    }
    tg__mcp_http_dying_sweep(mcp, now, false);
    if (mcp->sessions != NULL) {
        mcp->flush(mcp->flush_user); /* timeouts and cancellations released holds */
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    sweep_all(user);
}

bool tg__mcp_http_wait_decided(tg__mcp_http *mcp, const tg_wait_result *decided) {
    if (mcp == NULL) {
        return false;
    }
    for (mcp_session *session = mcp->sessions; session != NULL; session = session->next) {
        if (tg__mcp_session_wait_decided(session->relay, decided, tg__now_ms())) {
            return true;
        }
    }
    return false;
}

void tg__mcp_http_note_event(tg__mcp_http *mcp, const tg_event *event) {
    if (mcp == NULL || mcp->sessions == NULL) {
        return;
    }
    for (mcp_session *session = mcp->sessions; session != NULL; session = session->next) {
        tg__mcp_session_note_event(session->relay, event);
    }
    /* The sessions act after the engine call that caused the event, in this loop turn. */
    event_active(mcp->refresh, EV_WRITE, 0);
}

/* Serves `config` (taken). */
static tg_status start(tg__mcp_http_config *config, struct event_base *base, tg__daemon *daemon,
                       tg__mcp_http_flush_fn flush, void *flush_user, tg__mcp_http **out,
                       tg_error *err) {
    tg__mcp_http *mcp = calloc(1, sizeof *mcp);
    if (mcp == NULL) {
        tg__mcp_http_config_free(config);
        return tg__fail(err, TG_ERR_NOMEM, "mcp: out of memory");
    }
    *mcp = (tg__mcp_http){
        .base = base, .daemon = daemon, .config = config, .flush = flush, .flush_user = flush_user};
    mcp->sweep = event_new(base, -1, EV_PERSIST, on_sweep, mcp);
    mcp->refresh = event_new(base, -1, 0, on_sweep, mcp);
    if (mcp->sweep == NULL || mcp->refresh == NULL) {
        tg__mcp_http_free(mcp);
        return tg__fail(err, TG_ERR_NOMEM, "mcp: out of memory");
    }
    struct timeval interval = {0, TG__MCP_HTTP_SWEEP_MS * 1000};
    event_add(mcp->sweep, &interval);
    for (int i = 0; i < config->servers_count; i++) {
        fprintf(stderr, "tollgate: mcp: serving /mcp/%s (budget %s)\n", config->servers[i].name,
                config->servers[i].budget);
    }
    *out = mcp;
    return TG_OK;
}

tg_status tg__mcp_http_start_config(struct fy_document *config_document, struct event_base *base,
                                    tg__daemon *daemon, tg__mcp_http_flush_fn flush,
                                    void *flush_user, tg__mcp_http **out, tg_error *err) {
    *out = NULL;
    tg__mcp_http_config *config = NULL;
    tg_status status = tg__mcp_http_config_read(config_document, &config, err);
    if (status != TG_OK || config == NULL) {
        return status;
    }
    return start(config, base, daemon, flush, flush_user, out, err);
}

static bool same_command(const tg__mcp_http_server *a, const tg__mcp_http_server *b) {
    for (int i = 0; i <= TG__MCP_HTTP_ARGS_MAX; i++) {
        if (a->argv[i] == NULL || b->argv[i] == NULL) {
            return a->argv[i] == b->argv[i];
        }
        if (strcmp(a->argv[i], b->argv[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* Moves each session to its server's entry in `fresh`, or ends it when the entry is gone or
 * runs another command or budget (the client initializes again and gets the new one). */
static void move_sessions(tg__mcp_http *mcp, const tg__mcp_http_config *fresh, int64_t now_ms) {
    for (mcp_session *session = mcp->sessions, *next; session != NULL; session = next) {
        next = session->next;
        const tg__mcp_http_server *entry = NULL;
        for (int i = 0; i < fresh->servers_count && entry == NULL; i++) {
            if (strcmp(fresh->servers[i].name, session->server->name) == 0) {
                entry = &fresh->servers[i];
            }
        }
        if (entry == NULL || !same_command(entry, session->server) ||
            strcmp(entry->budget, session->server->budget) != 0) {
            tg__mcp_http_session_end(session, entry == NULL
                                                  ? "its server left the config (SIGHUP)"
                                                  : "its server's command or budget changed "
                                                    "(SIGHUP)");
            continue;
        }
        session->server = entry;
        tg__mcp_session_set_config(session->relay, entry->config);
        tg__mcp_session_refresh(session->relay, now_ms); /* classes may have moved */
    }
}

tg_status tg__mcp_http_reload(tg__mcp_http **mcp, tg__mcp_http_config *fresh,
                              struct event_base *base, tg__daemon *daemon,
                              tg__mcp_http_flush_fn flush, void *flush_user, tg_error *err) {
    if (*mcp == NULL) {
        return fresh == NULL ? TG_OK : start(fresh, base, daemon, flush, flush_user, mcp, err);
    }
    if (fresh == NULL) {
        tg__mcp_http_free(*mcp); /* no servers any more: every session ends */
        *mcp = NULL;
        fprintf(stderr, "tollgate: mcp: the config serves no MCP servers any more\n");
        return TG_OK;
    }
    move_sessions(*mcp, fresh, tg__now_ms());
    tg__mcp_http_config_free((*mcp)->config);
    (*mcp)->config = fresh;
    for (int i = 0; i < fresh->servers_count; i++) {
        fprintf(stderr, "tollgate: mcp: serving /mcp/%s (budget %s)\n", fresh->servers[i].name,
                fresh->servers[i].budget);
    }
    (*mcp)->flush((*mcp)->flush_user);
    return TG_OK;
}

void tg__mcp_http_free(tg__mcp_http *mcp) {
    if (mcp == NULL) {
        return;
    }
    while (mcp->sessions != NULL) {
        tg__mcp_http_session_end(mcp->sessions, "the daemon is stopping");
    }
    tg__mcp_http_dying_sweep(mcp, tg__now_ms(), true);
    if (mcp->sweep != NULL) {
        event_free(mcp->sweep);
    }
    if (mcp->refresh != NULL) {
        event_free(mcp->refresh);
    }
    tg__mcp_http_config_free(mcp->config);
    free(mcp);
}
