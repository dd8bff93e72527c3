/*
 * mcp_http_session: one MCP session of `tollgate serve`: its stdio child on the
 * daemon's loop, the relay session between them, and the routing of every
 * message for the agent onto one HTTP stream, as Streamable HTTP asks (each
 * message on exactly one stream):
 *   - a response goes to the POST that carried its request: as the JSON body, or
 *     as the last event of that POST's SSE stream, which then ends;
 *   - progress for a waiting request goes to that request's POST, which becomes an
 *     SSE stream at the first one (when the client accepts text/event-stream);
 *   - everything else (list_changed, logging, the server's own requests) goes to
 *     the session's GET stream, or waits (bounded) until the client opens it.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "core/path.h"
#include "mcp/http/mcp_http_internal.h"
#include "server/peer.h"

#define READ_CHUNK_BYTES 65536
#define READS_PER_EVENT 16 /* per readable event, so one child cannot starve the loop */

/* ---- replies and streams ---------------------------------------------------------------- */

bool tg__mcp_http_client_gone(struct evhttp_request *request) {
    return request == NULL || evhttp_request_get_connection(request) == NULL;
}

/*
 * Has the client of a POST not yet answered left? evhttp does not read a connection whose
 * request waits for its reply, so it never sees the FIN then (a tools/call waiting for room
 * would stay queued for a client that left): the socket is asked directly, with a peek that
 * consumes nothing (server/peer.h), as http.c does for its long polls. Bytes waiting: still there.
 */
static bool post_client_left(struct evhttp_request *request) {
    if (tg__mcp_http_client_gone(request)) {
        return true;
    }
    evutil_socket_t fd = tg__peer_fd(request);
    return fd >= 0 && tg__peer_left(fd);
}

/* Unsent bytes on the request's connection: a client that stopped reading. */
size_t tg__mcp_http_buffered(struct evhttp_request *request) {
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    return events != NULL ? evbuffer_get_length(bufferevent_get_output(events)) : 0;
}

/*
 * libevent keeps reading a connection once its reply has started, with the
 * read timeout of limits.request_timeout_s: a quiet stream would be cut. While
 * a stream is open only writes time out; the end of the stream restores both.
 */
static void stream_timeouts(struct evhttp_request *request, int64_t timeout_s, bool streaming) {
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    if (events == NULL) {
        return;
    }
    struct timeval limit = {(time_t)timeout_s, 0};
    bufferevent_set_timeouts(events, streaming ? NULL : &limit, &limit);
}

static void sse_end(struct evhttp_request *request, int64_t timeout_s) {
    stream_timeouts(request, timeout_s, false);
    evhttp_send_reply_end(request); /* frees the request, also one whose client left */
}

static void sse_start(struct evhttp_request *request, const char *session_id, int64_t timeout_s) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    evhttp_remove_header(headers, "Content-Type");
    evhttp_add_header(headers, "Content-Type", "text/event-stream");
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    if (evhttp_find_header(headers, "Mcp-Session-Id") == NULL) {
        evhttp_add_header(headers, "Mcp-Session-Id", session_id);
    }
    evhttp_send_reply_start(request, 200, "OK");
    stream_timeouts(request, timeout_s, true);
}

/* One message as one SSE event: messages are single-line JSON, so one data: line; an id
 * (GET-stream messages: the client resumes after it with Last-Event-ID), or none (0). */
void tg__mcp_http_sse_event(struct evhttp_request *request, uint64_t id, const char *message,
                            size_t size) {
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        return;
    }
    if (id != 0) {
        evbuffer_add_printf(out, "id: %" PRIu64 "\n", id);
    }
    evbuffer_add(out, "event: message\ndata: ", 21);
    evbuffer_add(out, message, size);
    evbuffer_add(out, "\n\n", 2);
    evhttp_send_reply_chunk(request, out);
    evbuffer_free(out);
}

/* The final answer of a POST; frees the request (libevent does, also for a gone client). */
static int64_t timeout_s(const mcp_session *session) {
    return session->owner->daemon->config->request_timeout_s;
}

static void post_answer(mcp_session *session, mcp_post *post, const char *message, size_t size) {
    if (post->request == NULL) {
        return;
    }
    if (post->streaming) {
        tg__mcp_http_sse_event(post->request, 0, message, size);
        sse_end(post->request, timeout_s(session));
    } else {
        struct evbuffer *out = evbuffer_new();
        evhttp_add_header(evhttp_request_get_output_headers(post->request), "Content-Type",
                          "application/json");
        if (out != NULL) {
            evbuffer_add(out, message, size);
        }
        evhttp_send_reply(post->request, 200, "OK", out);
        if (out != NULL) {
            evbuffer_free(out);
        }
    }
    post->request = NULL;
}

static void post_unlink(mcp_session *session, mcp_post *post) {
    for (mcp_post **at = &session->posts; *at != NULL; at = &(*at)->next) {
        if (*at == post) {
            *at = post->next;
            session->posts_count--;
            free(post);
            return;
        }
    }
}

static mcp_post *post_by_id(mcp_session *session, const char *id_text) {
    for (mcp_post *post = session->posts; post != NULL; post = post->next) {
        if (strcmp(post->id_text, id_text) == 0) {
            return post;
        }
    }
    return NULL;
}

static mcp_post *post_by_progress(mcp_session *session, const char *token) {
    for (mcp_post *post = session->posts; post != NULL; post = post->next) {
        if (post->progress_token[0] != '\0' && strcmp(post->progress_token, token) == 0) {
            return post;
        }
    }
    return NULL;
}

void tg__mcp_http_stream_close(mcp_session *session) {
    if (session->stream != NULL) {
        sse_end(session->stream, timeout_s(session));
        session->stream = NULL;
    }
}

void tg__mcp_http_sse_start(mcp_session *session, struct evhttp_request *request) {
    sse_start(request, session->id, timeout_s(session));
}

/* The relay's message for the agent: routed as the file's comment says. */
static void send_agent(void *user, const char *message, size_t size) {
    mcp_session *session = user;
    tg__rpc_message parsed;
    tg__rpc_parse(message, size, &parsed);
    mcp_post *post = NULL;
    if (parsed.kind == TG__RPC_RESPONSE && !parsed.id_too_long) {
        post = post_by_id(session, parsed.id_text);
        if (post != NULL) {
            post_answer(session, post, message, size);
            post_unlink(session, post);
            tg__rpc_message_clear(&parsed);
            return;
        }
    } else if (parsed.kind == TG__RPC_NOTIFICATION &&
               strcmp(parsed.method, "notifications/progress") == 0) {
        char token[TG__RPC_ID_TEXT_SIZE];
        json_t *value = json_object_get(parsed.params, "progressToken");
        post = value != NULL && tg__rpc_id_text(value, token) ? post_by_progress(session, token)
                                                              : NULL;
    }
    tg__rpc_message_clear(&parsed);
    if (post != NULL && post->request == NULL) {
        return; /* progress for a request whose client left: nobody waits for it */
    }
    if (post != NULL && post->sse_ok && !tg__mcp_http_client_gone(post->request)) {
        if (!post->streaming) {
            sse_start(post->request, session->id, timeout_s(session));
            post->streaming = true;
        }
        tg__mcp_http_sse_event(post->request, 0, message, size);
        return;
    }
    tg__mcp_http_stream_message(session, message, size);
}

/* ---- the child ---------------------------------------------------------------------------- */

static void write_child(mcp_session *session) {
    if (session->child.to_child < 0) {
        tg__mcp_queue_clear(&session->to_server);
        return;
    }
    if (tg__mcp_queue_write(&session->to_server, session->child.to_child) != TG_OK) {
        close(session->child.to_child); /* the child closed its stdin: it is on its way out */
        session->child.to_child = -1;
        event_del(session->child_write);
        return;
    }
    if (session->to_server.size > 0) {
        event_add(session->child_write, NULL);
    } else {
        event_del(session->child_write);
    }
}

static void send_server(void *user, const char *message, size_t size) {
    mcp_session *session = user;
    if (session->child.to_child < 0) {
        return;
    }
    if (tg__mcp_queue_line(&session->to_server, message, size) != TG_OK) {
        fprintf(stderr,
                "tollgate: mcp session %.8s: dropped a %zu-byte message for the server: it is "
                "not reading its input\n",
                session->id, size);
        return;
    }
    write_child(session);
}

static void on_child_writable(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    write_child(user);
}

static void server_line(void *user, const char *line, size_t size, bool too_long) {
    mcp_session *session = user;
    if (too_long) {
        tg__mcp_session_too_long(session->relay, false);
    } else if (size > 0) {
        tg__mcp_session_from_server(session->relay, line, size, tg__now_ms());
    }
}

/* The child's output ended: every waiting request is answered, then the session ends. */
static void server_gone(mcp_session *session) {
    session->server_gone = true;
    event_del(session->child_read);
    /* Reaped before its last output was read: take what the pipe still holds. */
    char chunk[READ_CHUNK_BYTES];
    for (int i = 0; session->child.from_child >= 0 && i < READS_PER_EVENT; i++) {
        ssize_t got = read(session->child.from_child, chunk, sizeof chunk);
        if (got <= 0) {
            break;
        }
        (void)tg__rpc_framer_push(&session->framer, chunk, (size_t)got, server_line, session);
    }
    if (session->child.from_child >= 0) {
        close(session->child.from_child);
        session->child.from_child = -1;
    }
    fprintf(stderr, "tollgate: mcp session %.8s (%s): the MCP server closed its output or exited\n",
            session->id, session->server->name);
    tg__mcp_session_server_gone(session->relay, tg__now_ms());
    session->owner->flush(session->owner->flush_user); /* the released holds */
    tg__mcp_http_session_end(session, "the MCP server exited");
}

static void on_child_readable(evutil_socket_t fd, short what, void *user) {
    (void)what;
    mcp_session *session = user;
    char chunk[READ_CHUNK_BYTES];
    bool ended = false;
    for (int i = 0; i < READS_PER_EVENT; i++) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got > 0) {
            if (tg__rpc_framer_push(&session->framer, chunk, (size_t)got, server_line, session) !=
                TG_OK) {
                fprintf(stderr, "tollgate: mcp: out of memory framing a message\n");
            }
        } else if (got < 0 && errno == EINTR) {
            continue;
        } else {
            ended = got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
            break;
        }
    }
    session->owner->flush(session->owner->flush_user);
    if (ended) {
        server_gone(session); /* frees the session: touch nothing after */
    }
}

/* ---- the session ---------------------------------------------------------------------------- */

static bool session_id(char out[TG__MCP_HTTP_SESSION_ID_SIZE]) {
    unsigned char random[16];
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) {
        return false;
    }
    for (size_t i = 0; i < sizeof random; i++) {
        snprintf(out + 2 * i, 3, "%02x", random[i]);
    }
    return true;
}

static void session_free(mcp_session *session) {
    if (session->child_read != NULL) {
        event_free(session->child_read);
    }
    if (session->child_write != NULL) {
        event_free(session->child_write);
    }
    tg__rpc_framer_free(&session->framer);
    tg__mcp_queue_free(&session->to_server);
    tg__mcp_queue_free(&session->stream_log);
    free(session);
}

mcp_session *tg__mcp_http_session_new(tg__mcp_http *mcp, const tg__mcp_http_server *server,
                                      tg_error *err) {
    mcp_session *session = calloc(1, sizeof *session);
    if (session == NULL || !session_id(session->id)) {
        free(session);
        tg__fail(err, TG_ERR_NOMEM, "no memory or randomness for a new session");
        return NULL;
    }
    session->owner = mcp;
    session->server = server;
    session->child = (tg__mcp_child){.to_child = -1, .from_child = -1};
    session->posts_max = (size_t)server->config->calls_in_flight_max + 16;
    session->active_ms = tg__now_ms();
    tg__rpc_framer_init(&session->framer, (size_t)server->config->message_size_max_bytes);
    tg__mcp_queue_init(&session->to_server, TG__MCP_HTTP_QUEUE_BYTES +
                                                2 * (size_t)server->config->message_size_max_bytes);
    tg__mcp_queue_init(&session->stream_log, TG__MCP_HTTP_STREAM_LOG_BYTES_MAX);
    session->stream_next_id = 1;
    if (tg__mcp_child_spawn(server->argv, &session->child, err) != TG_OK) {
        session_free(session);
        return NULL;
    }
    tg__mcp_session_options options = {
        .engine = mcp->daemon->engine,
        .config = server->config,
        .budget = server->budget,
        .to_agent = send_agent,
        .to_server = send_server,
        .user = session,
        .log = stderr,
    };
    session->child_read = event_new(mcp->base, session->child.from_child, EV_READ | EV_PERSIST,
                                    on_child_readable, session);
    session->child_write =
        event_new(mcp->base, session->child.to_child, EV_WRITE, on_child_writable, session);
    if (session->child_read == NULL || session->child_write == NULL ||
        tg__mcp_session_new(&options, &session->relay, err) != TG_OK) {
        tg__mcp_child_stop(&session->child, 0, 100);
        session_free(session);
        return NULL;
    }
    event_add(session->child_read, NULL);
    session->next = mcp->sessions;
    mcp->sessions = session;
    mcp->sessions_count++;
    fprintf(stderr, "tollgate: mcp session %.8s (%s): started '%s' (pid %d)\n", session->id,
            server->name, server->argv[0], (int)session->child.pid);
    return session;
}

/* The child outlives its session briefly: stdin closed now, signals later, reaped by sweep. */
static void child_retire(tg__mcp_http *mcp, tg__mcp_child *child) {
    if (child->to_child >= 0) {
        close(child->to_child);
        child->to_child = -1;
    }
    if (child->from_child >= 0) {
        close(child->from_child);
        child->from_child = -1;
    }
    if (tg__mcp_child_reap(child)) {
        return;
    }
    mcp_dying *dying = malloc(sizeof *dying);
    if (dying == NULL) {
        kill(child->pid, SIGKILL); /* no memory to wait politely */
        return;
    }
    int64_t now = tg__now_ms();
    *dying = (mcp_dying){child->pid, now + TG__MCP_HTTP_STOP_GRACE_MS,
                         now + 2 * TG__MCP_HTTP_STOP_GRACE_MS, mcp->dying};
    mcp->dying = dying;
}

void tg__mcp_http_dying_sweep(tg__mcp_http *mcp, int64_t now_ms, bool final) {
    for (mcp_dying **at = &mcp->dying; *at != NULL;) {
        mcp_dying *dying = *at;
        tg__mcp_child child = {.pid = dying->pid, .to_child = -1, .from_child = -1};
        if (final) {
            tg__mcp_child_stop(&child, 200, 500); /* the daemon is exiting: wait, briefly */
        }
        if (tg__mcp_child_reap(&child)) {
            *at = dying->next;
            free(dying);
            continue;
        }
        if (now_ms >= dying->kill_at_ms) {
            kill(dying->pid, SIGKILL);
        } else if (now_ms >= dying->term_at_ms) {
            kill(dying->pid, SIGTERM);
            dying->term_at_ms = INT64_MAX;
        }
        at = &dying->next;
    }
}

void tg__mcp_http_session_end(mcp_session *session, const char *why) {
    tg__mcp_http *mcp = session->owner;
    for (mcp_session **at = &mcp->sessions; *at != NULL; at = &(*at)->next) {
        if (*at == session) {
            *at = session->next;
            mcp->sessions_count--;
            break;
        }
    }
    /* Holds of calls still open are released; their POSTs are answered below. */
    tg__mcp_session_free(session->relay, tg__now_ms());
    session->relay = NULL;
    mcp->flush(mcp->flush_user);
    while (session->posts != NULL) {
        mcp_post *post = session->posts;
        char message[TG__RPC_ID_TEXT_SIZE + 256];
        int size = snprintf(message, sizeof message,
                            "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":%d,\"message\":"
                            "\"Tollgate ended the MCP session: %s\"}}",
                            post->id_text, TG__RPC_SERVER_GONE, why);
        post_answer(session, post, message, (size_t)size < sizeof message ? (size_t)size : 0);
        post_unlink(session, post);
    }
    tg__mcp_http_stream_close(session);
    event_del(session->child_read);
    event_del(session->child_write);
    child_retire(mcp, &session->child);
    fprintf(stderr, "tollgate: mcp session %.8s (%s) ended: %s\n", session->id,
            session->server->name, why);
    session_free(session);
}

void tg__mcp_http_session_from_agent(mcp_session *session, const char *body, size_t size) {
    session->active_ms = tg__now_ms();
    tg__mcp_session_from_agent(session->relay, body, size, session->active_ms);
    session->owner->flush(session->owner->flush_user);
}

/*
 * POSTs whose client left (an agent that cancelled closes its request): libevent's
 * request is freed now, a late answer is dropped for a while, then the POST is
 * forgotten, so cancelled calls whose server never answers do not pile up.
 */
static void sweep_posts(mcp_session *session, int64_t now_ms) {
    for (mcp_post *post = session->posts, *next; post != NULL; post = next) {
        next = post->next;
        if (post->request == NULL && now_ms - post->gone_ms > TG__MCP_HTTP_GONE_KEEP_MS) {
            post_unlink(session, post);
            continue;
        }
        if (post->request != NULL && post_client_left(post->request)) {
            post->gone_ms = now_ms;
            /* A tools/call still waiting for room is dropped: nothing is held for it. */
            tg__mcp_session_agent_left(session->relay, post->id_text, now_ms);
            if (post->streaming) {
                sse_end(post->request, timeout_s(session));
            } else {
                evhttp_send_reply(post->request, 500, "Gone", NULL);
            }
            post->request = NULL;
        }
    }
}

bool tg__mcp_http_session_sweep(mcp_session *session, int64_t now_ms) {
    tg__mcp_session_tick(session->relay, now_ms);
    sweep_posts(session, now_ms);
    if (session->stream != NULL && tg__mcp_http_client_gone(session->stream)) {
        tg__mcp_http_stream_close(session);
    } else if (session->stream != NULL &&
               now_ms - session->stream_written_ms >= TG__MCP_HTTP_KEEPALIVE_MS) {
        struct evbuffer *out = evbuffer_new();
        if (out != NULL) {
            evbuffer_add(out, ": keep-alive\n\n", 14);
            evhttp_send_reply_chunk(session->stream, out);
            evbuffer_free(out);
        }
        session->stream_written_ms = now_ms;
    }
    if (session->stream != NULL || session->posts != NULL) {
        session->active_ms = now_ms;
    }
    if (now_ms - session->active_ms > session->owner->config->session_idle_ms) {
        tg__mcp_http_session_end(session, "idle past mcp.session_idle_ms");
        return false;
    }
    /* The child exited but something (a grandchild) keeps its output open. */
    if (!session->server_gone && tg__mcp_child_reap(&session->child)) {
        server_gone(session);
        return false;
    }
    return true;
}
