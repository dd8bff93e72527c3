/*
 * proxy_reply: the upstream's answer, passed to the client, and the call's
 * settlement. A plain answer is read whole, its usage priced and committed,
 * then sent. A stream is passed on whole event by whole event as it arrives
 * (the SSE parser says where each event ends), its output counted; when the
 * hold is used up, or the call's class is revoked, the stream is ended in the
 * provider's own format and the upstream transfer aborted.
 *
 * Settlement, whatever happens: an answer with usage commits its price; a stream
 * commits what went by (reported, else counted and marked estimated), also when
 * cut, broken or left by its client; a call that produced nothing (upstream
 * error status, timeout or failure before the first event, a client gone before
 * a plain answer) releases its hold and is charged nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "proxy/refusal.h"
#include "proxy/usage.h"
#include "server/proxy_internal.h"

/* Upstream response headers not passed on: hop-by-hop, or set by libevent. */
static const char *const DROPPED_HEADERS[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "date",
    "server",         "content-encoding",  NULL};

/* ---- settlement ----------------------------------------------------------------- */

/* Commits `usage` at the call's prices, or releases the hold when usage is NULL. */
static void settle(proxy_call *call, const tg__usage *usage) {
    if (call->hold_id == 0) {
        return;
    }
    tg_engine *engine = call->proxy->daemon->engine;
    tg_error err = {0};
    int64_t cost_micros = call->hold_micros;
    tg_status status;
    if (usage == NULL) {
        status = tg_release(engine, call->hold_id, NULL, tg__now_ms(), NULL, &err);
    } else {
        if (tg__cost_micros(&call->price, usage, &cost_micros) != TG_OK) {
            cost_micros = call->hold_micros; /* a report out of range: charge the worst case */
        }
        tg_commit_request request = {call->hold_id,
                                     cost_micros,
                                     usage->counts[TG__UNIT_INPUT],
                                     usage->counts[TG__UNIT_OUTPUT],
                                     NULL,
                                     false};
        tg_commit_result result;
        status = tg_commit(engine, &request, tg__now_ms(), &result, &err);
    }
    if (status != TG_OK) {
        fprintf(stderr, "tollgate: proxy: settling hold %llu: %s\n",
                (unsigned long long)call->hold_id, err.message);
    }
    call->hold_id = 0;
    call->proxy->flush(call->proxy->flush_user);
}

/* Commits the hold's whole amount: the call happened but its usage is unknown. */
static void settle_worst(proxy_call *call) {
    if (call->hold_id == 0) {
        return;
    }
    tg_commit_request request = {call->hold_id, call->hold_micros, 0, 0, NULL, false};
    tg_commit_result result;
    tg_commit(call->proxy->daemon->engine, &request, tg__now_ms(), &result, NULL);
    call->hold_id = 0;
    call->proxy->flush(call->proxy->flush_user);
}

/* ---- headers -------------------------------------------------------------------- */

size_t tg__proxy_on_header(char *data, size_t size, size_t count, void *user) {
    proxy_call *call = user;
    size_t length = size * count;
    if (length >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        tg__buf_reset(&call->response_headers); /* a new response (after a 100 Continue) */
        return length;
    }
    const char *colon = memchr(data, ':', length);
    if (colon == NULL) {
        return length;
    }
    char name[128];
    size_t name_size = (size_t)(colon - data);
    if (name_size == 0 || name_size >= sizeof name) {
        return length;
    }
    memcpy(name, data, name_size);
    name[name_size] = '\0';
    for (int i = 0; DROPPED_HEADERS[i] != NULL; i++) {
        if (strcasecmp(name, DROPPED_HEADERS[i]) == 0) {
            return length;
        }
    }
    size_t value_size = length - name_size - 1;
    const char *value = colon + 1;
    while (value_size > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_size--;
    }
    while (value_size > 0 && (value[value_size - 1] == '\r' || value[value_size - 1] == '\n')) {
        value_size--;
    }
    /* Past the limit a header is dropped rather than the call failed. */
    tg__buf_printf(&call->response_headers, "%s\n%.*s\n", name, (int)value_size, value);
    return length;
}

/* Adds the upstream's headers (name and value on alternate lines) and Tollgate's. */
static void add_headers(proxy_call *call, bool stream) {
    struct evkeyvalq *out = evhttp_request_get_output_headers(call->request);
    char *text = call->response_headers.data;
    while (text != NULL && *text != '\0') {
        char *name = text;
        char *value = strchr(name, '\n');
        if (value == NULL) {
            break;
        }
        *value++ = '\0';
        char *end = strchr(value, '\n');
        if (end == NULL) {
            break;
        }
        *end = '\0';
        evhttp_add_header(out, name, value);
        text = end + 1;
    }
    tg__buf_reset(&call->response_headers);
    if (evhttp_find_header(out, "Content-Type") == NULL) {
        evhttp_add_header(out, "Content-Type", stream ? "text/event-stream" : "application/json");
    }
    if (call->plan_header[0] != '\0') {
        evhttp_add_header(out, "x-tollgate-plan", call->plan_header);
    }
}

/* ---- plain answers -------------------------------------------------------------- */

static void send_plain(proxy_call *call, int status, const char *body, size_t size) {
    struct evbuffer *buffer = evbuffer_new();
    evbuffer_add(buffer, body, size);
    evhttp_send_reply(call->request, status, status == 200 ? "OK" : "Error", buffer);
    evbuffer_free(buffer);
    call->replied = true;
}

void tg__proxy_send_error(proxy_call *call, int status, const char *code, const char *message) {
    tg__buf body;
    tg__buf_init(&body, 64 * 1024);
    tg__error_write(call->wire, status, code, message, &body);
    evhttp_add_header(evhttp_request_get_output_headers(call->request), "Content-Type",
                      "application/json");
    send_plain(call, status, body.data ? body.data : "{}", body.size);
    tg__buf_free(&body);
    call->proxy->daemon->metrics.errors++;
}

static void finish_plain(proxy_call *call, CURLcode result) {
    if (result == CURLE_OPERATION_TIMEDOUT) {
        settle(call, NULL);
        tg__proxy_send_error(call, 504, "upstream_timeout", "Tollgate: the upstream timed out");
        return;
    }
    if (result != CURLE_OK) {
        settle(call, NULL);
        char message[TG_ERROR_MESSAGE_SIZE];
        snprintf(message, sizeof message, "Tollgate: the upstream call failed: %s",
                 call->client_gone ? "the client left" : curl_easy_strerror(result));
        tg__proxy_send_error(call, 502, "upstream_error", message);
        return;
    }
    if (call->status == 200 && call->metered) {
        tg__usage usage;
        const char *body = call->response.data ? call->response.data : "";
        tg_status status =
            tg__usage_from_body(call->route, body, call->response.size, &usage, NULL);
        if (status == TG_ERR_NOT_FOUND) {
            status =
                tg__usage_estimate_body(call->route, body, call->response.size,
                                        call->parsed.info.prompt_tokens_estimate, &usage, NULL);
        }
        if (status != TG_OK) {
            settle_worst(call); /* a 200 whose body cannot be read: its worst case */
        } else {
            settle(call, &usage);
        }
    } else {
        settle(call, NULL); /* the provider's error: nothing was produced */
    }
    add_headers(call, false);
    send_plain(call, call->status ? (int)call->status : 502,
               call->response.data ? call->response.data : "", call->response.size);
}

/* ---- streams ------------------------------------------------------------------- */

/* True when the stream has used its hold up, or its class was revoked. */
static bool used_up(proxy_call *call) {
    tg__usage usage;
    int64_t cost_micros = 0;
    tg__stream_usage(&call->stream, call->parsed.info.prompt_tokens_estimate, &usage);
    if (tg__cost_micros(&call->price, &usage, &cost_micros) != TG_OK ||
        cost_micros > call->hold_micros) {
        return true;
    }
    tg_hold_info hold;
    return tg_hold_get(call->proxy->daemon->engine, call->hold_id, &hold, NULL) == TG_OK &&
           hold.cancel_requested;
}

/* One whole event from the upstream: passed on (unless hidden), then the hold checked.
 * The check follows the event so that the client never sees an ending out of order. */
static tg_status on_event(void *context, const tg__sse_event *event) {
    proxy_call *call = context;
    bool forward = true;
    tg_status status = tg__stream_event(&call->stream, event, &forward);
    if (status != TG_OK) {
        return status;
    }
    if (forward) {
        status =
            tg__buf_append(&call->out, call->held.data ? call->held.data : "", call->held.size);
        if (status == TG_OK) {
            status = tg__buf_append(&call->out, call->piece + call->piece_used,
                                    event->end_offset - call->piece_used);
        }
    }
    tg__buf_reset(&call->held);
    call->piece_used = event->end_offset;
    if (status == TG_OK && !call->stream.finished && used_up(call)) {
        call->cut = true;
        return TG_ERR_STATE; /* stops the feed: nothing after the cut is passed on */
    }
    return status;
}

static void send_out(proxy_call *call) {
    if (call->out.size > 0 && !tg__proxy_client_gone(call)) {
        struct evbuffer *buffer = evbuffer_new();
        evbuffer_add(buffer, call->out.data, call->out.size);
        evhttp_send_reply_chunk(call->request, buffer);
        evbuffer_free(buffer);
    }
    tg__buf_reset(&call->out);
}

/* Ends the client's stream: Tollgate's ending when cut, an error event when the
 * upstream broke off, nothing more when it finished or the client left. */
static void end_stream(proxy_call *call, const char *error_code, const char *error_message) {
    if (!call->stream.finished && !tg__proxy_client_gone(call)) {
        if (call->cut) {
            tg__usage usage;
            tg__stream_usage(&call->stream, call->parsed.info.prompt_tokens_estimate, &usage);
            tg__stream_write_end(&call->stream, &usage, tg__now_ms(), &call->out);
        } else if (error_code != NULL) {
            tg__error_write_event(call->route, error_code, error_message,
                                  call->stream.sequence_number, &call->out);
        }
    }
    send_out(call);
    evhttp_send_reply_end(call->request);
    call->replied = true;
}

/* A stream goes out as many small writes, each soon after the last: without
 * TCP_NODELAY, Nagle holds each one until the client acknowledges the one before. */
static void set_no_delay(proxy_call *call) {
    struct evhttp_connection *connection = evhttp_request_get_connection(call->request);
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    evutil_socket_t fd = events != NULL ? bufferevent_getfd(events) : -1;
    if (fd >= 0) {
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
}

static void start_stream(proxy_call *call) {
    set_no_delay(call);
    tg__stream_init(&call->stream, call->route, call->parsed.info.model,
                    call->parsed.info.stream_usage);
    add_headers(call, true);
    evhttp_add_header(evhttp_request_get_output_headers(call->request), "Cache-Control",
                      "no-cache");
    evhttp_send_reply_start(call->request, 200, "OK");
    call->streaming = true;
}

/* Returns the bytes taken; anything else makes curl abort the transfer. */
size_t tg__proxy_on_body(char *data, size_t size, size_t count, void *user) {
    proxy_call *call = user;
    size_t length = size * count;
    if (call->status == 0) {
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->status);
        if (call->status == 200 && call->metered && call->parsed.info.stream) {
            start_stream(call);
        }
    }
    if (tg__proxy_client_gone(call) || call->replied) {
        return CURL_WRITEFUNC_ERROR;
    }
    if (!call->streaming) {
        return tg__buf_append(&call->response, data, length) == TG_OK ? length
                                                                      : CURL_WRITEFUNC_ERROR;
    }
    if (tg__proxy_client_slow(call)) {
        call->paused = true; /* curl keeps the piece; the sweep resumes it once drained */
        return CURL_WRITEFUNC_PAUSE;
    }
    call->piece = data;
    call->piece_used = 0;
    tg_status status = tg__sse_feed(&call->sse, data, length, on_event, call, NULL, NULL);
    if (call->cut) {
        end_stream(call, NULL, NULL);
        return CURL_WRITEFUNC_ERROR;
    }
    if (status == TG_OK) {
        status = tg__buf_append(&call->held, data + call->piece_used, length - call->piece_used);
    }
    send_out(call);
    return status == TG_OK ? length : CURL_WRITEFUNC_ERROR;
}

static void finish_stream(proxy_call *call, CURLcode result) {
    if (!call->replied) {
        const char *code =
            result == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "upstream_error";
        char message[TG_ERROR_MESSAGE_SIZE];
        snprintf(message, sizeof message, "Tollgate: the upstream stream broke off: %s",
                 result == CURLE_OK ? "it ended before its last event"
                                    : curl_easy_strerror(result));
        end_stream(call, code, message);
    }
    if (call->stream.started) {
        tg__usage usage;
        tg__stream_usage(&call->stream, call->parsed.info.prompt_tokens_estimate, &usage);
        settle(call, &usage);
    } else {
        settle(call, NULL);
    }
}

void tg__proxy_call_done(proxy_call *call, CURLcode result) {
    if (!call->replied || call->streaming) {
        tg__proxy_client_gone(call);
        if (call->streaming) {
            finish_stream(call, result);
        } else {
            finish_plain(call, result);
        }
    }
    settle(call, NULL); /* an admission that failed after its hold */
    tg__proxy_call_free(call);
}
