/*
 * events_stream: GET /v1/events/stream, server-sent events from the events table (SQLite),
 * or from the ledger-wide events stream on Redis (docs/multi-node.md, "Events": the same
 * ids as GET /v1/events, its collector wakes the pump when events were copied).
 *
 * Why the table and not the engine's callback: an event reaches the table in the
 * transaction of the mutation that caused it, so reading it from there after a
 * group commit (http.c calls tg__streams_wake where it wakes the notify sender)
 * streams exactly the durable events, in id order, and a reconnect with
 * Last-Event-ID is the same read from an older id. Each stream keeps `last_id`,
 * the last event it considered (sent, or filtered out), and reads pages after it.
 *
 * Memory is bounded per stream by limits.event_stream_buffer_max_bytes: a stream
 * writes events only while less than half of it is unsent, and goes on when the
 * client has read (the drained callback, or the sweep): whatever it has not been
 * sent yet waits in the table, which is the same read a reconnect does. So a slow
 * client falls behind rather than growing the daemon, and one that stops reading
 * (half the cap unsent for limits.request_timeout_s) is cut: its connection is
 * reset, so the kernel drops what it holds for it too. evhttp's own timeouts are
 * turned off on a stream, since they would end every quiet one; a keep-alive
 * comment goes after limits.event_stream_keepalive_ms of silence, so proxies and
 * clients can tell a quiet stream from a dead one.
 *
 * libevent detaches a request from its connection when the client closes
 * (evhttp_request_get_connection() is NULL then); the sweep finds those and frees
 * them with evhttp_send_reply_end(), as the proxy does (proxy.c). The connection's
 * close callback belongs to connections.c, so it is not used here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "notify/item.h"
#include "api/api.h"
#include "api/events_stream.h"
#include "config/keyring.h"
#include "store/store_read.h"
#include "engine/clock.h"
#include "server/store_redis.h"

#define STREAM_PAGE_EVENTS 256             /* events read from the table at once */
#define STREAM_PAGES_PER_PUMP 4            /* per stream and loop turn, so requests interleave */
#define STREAM_PUMP_BYTES_MAX (256 * 1024) /* written per loop turn, all streams together */
#define STREAM_SWEEP_MS_MAX 1000    /* gone clients and paced streams are looked at this often */
#define STREAM_QUERY_VALUE_MAX 4096 /* one decoded query value (kinds, budgets) */
#define STREAM_RETRY_MS 1000        /* the reconnect delay suggested to EventSource clients */

/* One client. Owned by the hub's list; freed when its request is ended. */
typedef struct stream {
    struct stream *prev, *next;
    struct evhttp_request *request; /* owned by libevent until evhttp_send_reply_end */
    tg__role role;
    char scope[TG_PATH_SIZE_MAX];          /* the key's subtree; "" = everything */
    unsigned char sha256[TG__SHA256_SIZE]; /* the key's hash: the stream ends when it goes */
    uint64_t ahead_of_id;                  /* a Last-Event-ID past the newest event, or 0 */
    tg__notify_filter filter;              /* from the query: kinds, budget globs, severity */
    uint64_t last_id;                      /* the last event considered: sent or filtered out */
    bool cut;                              /* reset for not reading; freed once libevent lets go */
    int64_t full_since_ms; /* monotonic: since when half the buffer cap is unsent; 0 */
    int64_t last_write_ms; /* monotonic: when something was last written */
} stream;

struct tg__streams {
    tg__daemon *daemon;
    struct event_base *base;
    struct event *pump;  /* lowest priority: read new events after this turn's commits */
    struct event *sweep; /* periodic: keep-alives, gone clients, a fallback read */
    stream *first;
    int64_t count;
    uint64_t cut_total; /* streams cut for not reading, since start */
    bool stopping;      /* SIGTERM: streams ended, new ones refused */
    size_t pump_bytes;  /* written in this loop turn: decisions wait while streams write */
    /* The last page read in this pump: live streams all wait after the same id, so one
     * read and one JSON text per event serve every one of them. */
    uint64_t page_after_id;            /* the page holds the events after this id */
    int page_count;                    /* -1: nothing read in this pump yet */
    tg_event page[STREAM_PAGE_EVENTS]; /* oldest first */
    tg__severity severity[STREAM_PAGE_EVENTS];
    char *text[STREAM_PAGE_EVENTS]; /* the SSE message of page[i], from malloc; NULL: not yet */
    size_t text_size[STREAM_PAGE_EVENTS];
};

/* ---- errors before the stream starts -------------------------------------------- */

static void send_error(struct evhttp_request *request, int status, const char *code,
                       const char *message, int64_t retry_after_s) {
    tg__reply reply = tg__api_error(status, code, message);
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    evhttp_add_header(headers, "Content-Type", "application/json");
    if (retry_after_s > 0) {
        char seconds[32];
        snprintf(seconds, sizeof seconds, "%" PRId64, retry_after_s);
        evhttp_add_header(headers, "Retry-After", seconds);
    }
    struct evbuffer *out = evbuffer_new();
    char *text = reply.body ? json_dumps(reply.body, JSON_COMPACT) : NULL;
    if (out != NULL && text != NULL) {
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
    }
    free(text);
    json_decref(reply.body);
    evhttp_send_reply(request, status, "Error", out);
    if (out != NULL) {
        evbuffer_free(out);
    }
}

/* ---- the query -------------------------------------------------------------------- */

/* Parses a comma-separated list in `text` (modified) with `each`; false on a bad item. */
static bool each_item(char *text, bool (*each)(const char *item, tg__notify_filter *filter),
                      tg__notify_filter *filter) {
    char *save = NULL;
    for (char *item = strtok_r(text, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        if (!each(item, filter)) {
            return false;
        }
    }
    return true;
}

static bool add_kind(const char *item, tg__notify_filter *filter) {
    tg_event_kind kind;
    if (tg__event_kind_parse(item, &kind) != TG_OK) {
        return false;
    }
    filter->kinds_mask |= UINT32_C(1) << kind;
    return true;
}

static bool add_glob(const char *item, tg__notify_filter *filter) {
    if (filter->budget_globs_count == TG__NOTIFY_GLOBS_MAX ||
        strlen(item) >= sizeof filter->budget_globs[0]) {
        return false;
    }
    snprintf(filter->budget_globs[filter->budget_globs_count++], sizeof filter->budget_globs[0],
             "%s", item);
    return true;
}

static bool parse_id(const char *text, uint64_t *out) {
    char *end = NULL;
    if (text[0] < '0' || text[0] > '9') {
        return false;
    }
    unsigned long long value = strtoull(text, &end, 10);
    if (*end != '\0' || value > INT64_MAX) {
        return false;
    }
    *out = value;
    return true;
}

/*
 * Reads kinds=, budgets=, severity= and the resume point (the Last-Event-ID header,
 * else since=) into *st. False with a message for the client.
 */
static bool parse_query(struct evhttp_request *request, const char *query, stream *st,
                        bool *has_start, char *message, size_t message_size) {
    char *text = malloc(STREAM_QUERY_VALUE_MAX);
    bool ok = text != NULL;
    if (ok && !(tg__api_query_text(query, "kinds", text, STREAM_QUERY_VALUE_MAX) &&
                each_item(text, add_kind, &st->filter))) {
        snprintf(message, message_size,
                 "query parameter 'kinds' is a comma-separated list of event kinds "
                 "(threshold_crossed, revoked, reinstated, denied, overrun, hold_expired, "
                 "window_rolled, budget_changed, approval_requested, approval_decided)");
        ok = false;
    }
    if (ok && !(tg__api_query_text(query, "budgets", text, STREAM_QUERY_VALUE_MAX) &&
                each_item(text, add_glob, &st->filter))) {
        snprintf(message, message_size,
                 "query parameter 'budgets' is at most %d comma-separated budget globs",
                 TG__NOTIFY_GLOBS_MAX);
        ok = false;
    }
    if (ok && !(tg__api_query_text(query, "severity", text, STREAM_QUERY_VALUE_MAX) &&
                (text[0] == '\0' || tg__severity_parse(text, &st->filter.severity_min) == TG_OK))) {
        snprintf(message, message_size, "query parameter 'severity' is info, warning or critical");
        ok = false;
    }
    const char *header =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Last-Event-ID");
    if (ok && header != NULL && header[0] != '\0') { /* empty: no event seen yet */
        *has_start = true;
        if (!parse_id(header, &st->last_id)) {
            snprintf(message, message_size, "the Last-Event-ID header is an event id");
            ok = false;
        }
    } else if (ok) {
        if (!tg__api_query_text(query, "since", text, STREAM_QUERY_VALUE_MAX) ||
            (text[0] != '\0' && !parse_id(text, &st->last_id))) {
            snprintf(message, message_size, "query parameter 'since' is an event id");
            ok = false;
        }
        *has_start = text[0] != '\0';
    }
    if (text == NULL) {
        snprintf(message, message_size, "out of memory");
    }
    free(text);
    return ok;
}

/* ---- writing ---------------------------------------------------------------------- */

static struct evbuffer *output_of(stream *st) {
    struct evhttp_connection *connection = evhttp_request_get_connection(st->request);
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    return events != NULL ? bufferevent_get_output(events) : NULL;
}

/* Bytes written to the stream and not yet taken by the kernel. */
static size_t unsent_bytes(stream *st) {
    struct evbuffer *output = output_of(st);
    return output != NULL ? evbuffer_get_length(output) : 0;
}

static void on_drained(struct evhttp_connection *connection, void *user) {
    (void)connection;
    tg__streams_wake(user); /* a paced stream may go on */
}

static void send_chunk(tg__streams *hub, stream *st, struct evbuffer *chunk) {
    if (evbuffer_get_length(chunk) > 0) {
        evhttp_send_reply_chunk_with_cb(st->request, chunk, on_drained, hub);
        st->last_write_ms = tg__clock_monotonic_ms();
    }
}

static bool visible(const stream *st, const tg_event *event, tg__severity severity) {
    if (st->role != TG__ROLE_ADMIN && !tg__path_in_scope(st->scope, event->budget)) {
        return false;
    }
    return tg__notify_filter_match(&st->filter, event->kind, event->budget, severity);
}

/* ---- the page cache ------------------------------------------------------------------ */

static void page_forget(tg__streams *hub) {
    for (int i = 0; i < STREAM_PAGE_EVENTS; i++) {
        free(hub->text[i]);
        hub->text[i] = NULL;
    }
    hub->page_count = -1;
}

/* ---- where the events come from: the SQLite events table, or Redis's ledger-wide stream -- */

static bool on_redis(const tg__streams *hub) {
    return strcmp(hub->daemon->config->store, "redis") == 0;
}

/* The newest event's id into *last_id; false when the store cannot be read now (the caller
 * retries or refuses). On Redis, `fresh` asks the server (a stream opening: one call); else
 * the id the collector last read, so the pump makes no call unless there is something to
 * read (a server that stops then delays the pump's read by its timeout once). */
static bool events_last(tg__streams *hub, uint64_t *last_id, bool fresh) {
    if (on_redis(hub) && !fresh) {
        *last_id = tg__store_redis_events_known();
        return true;
    }
    if (on_redis(hub)) {
        return tg__store_redis_events_last(last_id, NULL) == TG_OK;
    }
    tg__reply error = {0};
    tg__store_reader *reader = tg__reader(hub->daemon, &error);
    if (reader == NULL || tg__store_read_events_last_id(reader, last_id, NULL) != TG_OK) {
        json_decref(error.body);
        return false;
    }
    return true;
}

static tg_status events_after(tg__streams *hub, uint64_t after_id, tg_event *out, size_t max,
                              size_t *count_out) {
    if (on_redis(hub)) {
        return tg__store_redis_events_since(after_id, out, max, count_out, NULL);
    }
    tg__reply error = {0};
    tg__store_reader *reader = tg__reader(hub->daemon, &error);
    if (reader == NULL) {
        json_decref(error.body);
        return TG_ERR_IO;
    }
    return tg__store_read_events_into(reader, after_id, out, max, count_out, NULL);
}

/* The events after `after_id` (at most a page): from this pump's cache, or read. */
static int page_read(tg__streams *hub, uint64_t after_id) {
    if (hub->page_count >= 0 && hub->page_after_id == after_id) {
        return hub->page_count;
    }
    page_forget(hub);
    size_t read = 0;
    if (events_after(hub, after_id, hub->page, STREAM_PAGE_EVENTS, &read) != TG_OK) {
        return -1; /* the sweep tries again */
    }
    int count = (int)read;
    for (int i = 0; i < count; i++) {
        hub->severity[i] = tg__severity_of(&hub->page[i]);
    }
    hub->page_after_id = after_id;
    hub->page_count = count;
    return count;
}

/* Adds page[i] as SSE: id, event (its kind), data (GET /v1/events' JSON + severity). */
static bool page_format(tg__streams *hub, int i, struct evbuffer *chunk) {
    if (hub->text[i] == NULL) {
        const tg_event *event = &hub->page[i];
        json_t *json = tg__event_json(event);
        if (json == NULL) {
            return false;
        }
        json_object_set_new(json, "severity", json_string(tg__severity_str(hub->severity[i])));
        char *data = json_dumps(json, JSON_COMPACT); /* one line: strings escape newlines */
        json_decref(json);
        const char *kind = tg_event_kind_str(event->kind);
        size_t size = data != NULL ? strlen(data) + strlen(kind) + 64 : 0;
        hub->text[i] = data != NULL ? malloc(size) : NULL;
        if (hub->text[i] != NULL) {
            int length = snprintf(hub->text[i], size, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n",
                                  event->id, kind, data);
            hub->text_size[i] = (size_t)length;
        }
        free(data);
        if (hub->text[i] == NULL) {
            return false;
        }
    }
    return evbuffer_add(chunk, hub->text[i], hub->text_size[i]) == 0;
}

/* The client is not reading: reset the connection so the kernel drops what it holds too.
 * libevent sees the failure, detaches the request, and the sweep frees it. */
static void cut(tg__streams *hub, stream *st, size_t unsent) {
    struct evhttp_connection *connection = evhttp_request_get_connection(st->request);
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    evutil_socket_t fd = events != NULL ? bufferevent_getfd(events) : -1;
    if (fd >= 0) {
        struct linger reset = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        shutdown(fd, SHUT_RDWR);
    }
    st->cut = true;
    hub->cut_total++;
    fprintf(stderr,
            "tollgate: events stream cut after event %" PRIu64
            ": the client is not reading (%zu bytes unsent, "
            "limits.event_stream_buffer_max_bytes is %" PRId64 ")\n",
            st->last_id, unsent, hub->daemon->config->event_stream_buffer_max_bytes);
}

/*
 * Writes the events after st->last_id up to `table_last_id`. Returns true when the
 * stream has more to read now (it should be pumped again next turn).
 */
static bool pump_stream(tg__streams *hub, stream *st, uint64_t table_last_id) {
    size_t buffer_max = (size_t)hub->daemon->config->event_stream_buffer_max_bytes;
    for (int page = 0; page < STREAM_PAGES_PER_PUMP; page++) {
        if (st->last_id >= table_last_id) {
            return false;
        }
        if (hub->pump_bytes >= STREAM_PUMP_BYTES_MAX) {
            return true; /* the loop's turn is up: the next pump goes on */
        }
        if (unsent_bytes(st) >= buffer_max / 2) {
            return false; /* on_drained wakes the pump once the client has read */
        }
        int count = page_read(hub, st->last_id);
        if (count <= 0) {
            return false; /* a failed read: the sweep tries again */
        }
        struct evbuffer *chunk = evbuffer_new();
        if (chunk == NULL) {
            return false;
        }
        for (int i = 0; i < count; i++) {
            const tg_event *event = &hub->page[i];
            size_t chunk_bytes = evbuffer_get_length(chunk);
            if (unsent_bytes(st) + chunk_bytes >= buffer_max / 2 ||
                hub->pump_bytes + chunk_bytes >= STREAM_PUMP_BYTES_MAX) {
                break; /* the rest waits in the table until the client has read */
            }
            if (visible(st, event, hub->severity[i]) && !page_format(hub, i, chunk)) {
                break; /* out of memory: this event is read again next time */
            }
            st->last_id = event->id;
        }
        hub->pump_bytes += evbuffer_get_length(chunk);
        send_chunk(hub, st, chunk);
        evbuffer_free(chunk);
        size_t unsent = unsent_bytes(st);
        if (unsent > buffer_max) {
            cut(hub, st, unsent);
            return false;
        }
    }
    return st->last_id < table_last_id && unsent_bytes(st) < buffer_max / 2;
}

/* ---- the list ----------------------------------------------------------------------- */

static void unlink_stream(tg__streams *hub, stream *st) {
    if (st->prev != NULL) {
        st->prev->next = st->next;
    } else {
        hub->first = st->next;
    }
    if (st->next != NULL) {
        st->next->prev = st->prev;
    }
    hub->count--;
}

/* Ends the reply (a final chunk, or freeing a request whose client left) and frees. */
static void end_stream(tg__streams *hub, stream *st) {
    unlink_stream(hub, st);
    evhttp_send_reply_end(st->request);
    free(st);
}

static bool gone(const stream *st) {
    return evhttp_request_get_connection(st->request) == NULL;
}

/* Makes `st` the head of the list, keeping the order around the ring. */
static void rotate_to(tg__streams *hub, stream *st) {
    if (st == hub->first) {
        return;
    }
    stream *tail = st;
    while (tail->next != NULL) {
        tail = tail->next;
    }
    tail->next = hub->first;
    hub->first->prev = tail;
    st->prev->next = NULL;
    st->prev = NULL;
    hub->first = st;
}

static void on_pump(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    tg__streams *hub = user;
    if (hub->first == NULL) {
        return;
    }
    uint64_t table_last_id = 0;
    if (!events_last(hub, &table_last_id, false)) {
        return; /* the sweep tries again */
    }
    page_forget(hub); /* events committed since the last pump */
    hub->pump_bytes = 0;
    bool again = false;
    for (stream *st = hub->first, *next = NULL; st != NULL; st = next) {
        next = st->next;
        if (hub->pump_bytes >= STREAM_PUMP_BYTES_MAX) {
            rotate_to(hub, st); /* the streams not served this turn go first next turn */
            again = true;
            break;
        }
        if (gone(st)) {
            end_stream(hub, st);
        } else if (!st->cut) {
            again = pump_stream(hub, st, table_last_id) || again;
        }
    }
    if (again) {
        event_active(hub->pump, EV_WRITE, 0);
    }
}

/* True when half the buffer cap has stayed unsent for request_timeout_s: the client has
 * stopped reading (one that reads slowly drains it now and then, and only falls behind). */
static bool stalled(tg__streams *hub, stream *st, int64_t now_ms) {
    const tg__config *config = hub->daemon->config;
    if (unsent_bytes(st) < (size_t)config->event_stream_buffer_max_bytes / 2) {
        st->full_since_ms = 0;
        return false;
    }
    if (st->full_since_ms == 0) {
        st->full_since_ms = now_ms;
    }
    return now_ms - st->full_since_ms >= config->request_timeout_s * 1000;
}

static void on_sweep(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    tg__streams *hub = user;
    int64_t now_ms = tg__clock_monotonic_ms();
    int64_t keepalive_ms = hub->daemon->config->event_stream_keepalive_ms;
    for (stream *st = hub->first, *next = NULL; st != NULL; st = next) {
        next = st->next;
        if (gone(st)) {
            end_stream(hub, st);
        } else if (!st->cut && stalled(hub, st, now_ms)) {
            cut(hub, st, unsent_bytes(st));
        } else if (!st->cut && now_ms - st->last_write_ms >= keepalive_ms) {
            struct evbuffer *chunk = evbuffer_new();
            if (chunk != NULL) {
                evbuffer_add(chunk, ": keep-alive\n\n", 14);
                send_chunk(hub, st, chunk);
                evbuffer_free(chunk);
            }
        }
    }
    on_pump(-1, 0, hub); /* a wake-up missed, or a paced stream whose client read */
}

/* ---- requests ------------------------------------------------------------------------ */

static void start_stream(tg__streams *hub, stream *st) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(st->request);
    evhttp_add_header(headers, "Content-Type", "text/event-stream");
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    evhttp_add_header(headers, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
    evhttp_send_reply_start(st->request, 200, "OK");
    /* evhttp keeps its read and write timeouts (limits.request_timeout_s) while it
     * writes, which would end every quiet stream, and drop a stopped client without a
     * word. The sweep decides instead (stalled()); keep-alives prove a stream alive. */
    struct evhttp_connection *connection = evhttp_request_get_connection(st->request);
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(connection), NULL, NULL);
    struct evbuffer *chunk = evbuffer_new();
    if (chunk != NULL) {
        evbuffer_add_printf(chunk, "retry: %d\n: tollgate events after %" PRIu64 "\n\n",
                            STREAM_RETRY_MS, st->last_id);
        if (st->ahead_of_id != 0) {
            /* The id sets the client's Last-Event-ID back to the newest event, so a
             * reconnect resumes here; the data says why, for a person reading the log. */
            evbuffer_add_printf(
                chunk,
                "id: %" PRIu64 "\nevent: reset\ndata: {\"reason\":\"ahead\","
                "\"last_event_id\":%" PRIu64 ",\"newest_event_id\":%" PRIu64
                ",\"message\":\"Last-Event-ID %" PRIu64 " is past the newest event %" PRIu64
                " (a ledger restored or replaced?): the stream goes on after %" PRIu64
                "; take this id as the last one seen\"}\n\n",
                st->last_id, st->ahead_of_id, st->last_id, st->ahead_of_id, st->last_id,
                st->last_id);
        }
        send_chunk(hub, st, chunk);
        evbuffer_free(chunk);
    }
    st->next = hub->first;
    if (hub->first != NULL) {
        hub->first->prev = st;
    }
    hub->first = st;
    hub->count++;
    tg__streams_wake(hub);
}

/* Checks everything that can be refused, then starts the stream. */
static void open_stream(tg__streams *hub, struct evhttp_request *request, const char *query) {
    tg__caller caller;
    const char *authorization =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Authorization");
    if (!tg__authenticate(hub->daemon, authorization, &caller)) {
        send_error(request, 401, "unauthorized", "send 'Authorization: Bearer <key>'", 0);
        return;
    }
    if (caller.role == TG__ROLE_METRICS) {
        send_error(request, 403, "forbidden", "a metrics key may read /metrics only", 0);
        return;
    }
    if (hub->stopping) {
        send_error(request, 503, "stopping", "the daemon is stopping", 1);
        return;
    }
    if (strcmp(hub->daemon->config->store, "sqlite") != 0 && !on_redis(hub)) {
        send_error(request, 501, "unsupported",
                   "the event stream reads the durable events; use the sqlite or redis store", 0);
        return;
    }
    stream *st = calloc(1, sizeof *st);
    if (st == NULL) {
        send_error(request, 503, "full", "out of memory", 1);
        return;
    }
    st->request = request;
    st->role = caller.role;
    snprintf(st->scope, sizeof st->scope, "%s", caller.scope);
    memcpy(st->sha256, caller.sha256, sizeof st->sha256);
    bool has_start = false;
    char message[400];
    if (!parse_query(request, query, st, &has_start, message, sizeof message)) {
        free(st);
        send_error(request, 400, "invalid_query", message, 0);
        return;
    }
    if (hub->count >= hub->daemon->config->event_streams_max) {
        free(st);
        snprintf(message, sizeof message,
                 "the daemon serves limits.event_streams_max (%" PRId64
                 ") event streams; retry shortly",
                 hub->daemon->config->event_streams_max);
        send_error(request, 503, "too_many_streams", message, 1);
        return;
    }
    uint64_t table_last_id = 0;
    if (!events_last(hub, &table_last_id, true)) {
        free(st);
        send_error(request, 503, "store_unavailable", "cannot read the events", 1);
        return;
    }
    if (!has_start) {
        st->last_id = table_last_id; /* no resume point: what happens from now on */
    } else if (st->last_id > table_last_id) {
        /* Waiting for the table to pass an id it never gave would send nothing, maybe for
         * ever: go on after the newest event, and say so in the stream (start_stream). */
        st->ahead_of_id = st->last_id;
        st->last_id = table_last_id;
    }
    start_stream(hub, st);
}

bool tg__streams_handle(tg__streams *hub, struct evhttp_request *request) {
    if (hub == NULL) {
        return false;
    }
    const char *uri = evhttp_request_get_uri(request);
    const char *question = strchr(uri, '?');
    size_t path_size = question ? (size_t)(question - uri) : strlen(uri);
    static const char path[] = "/v1/events/stream";
    if (path_size != sizeof path - 1 || strncmp(uri, path, path_size) != 0) {
        return false;
    }
    if (evhttp_request_get_command(request) != EVHTTP_REQ_GET) {
        send_error(request, 405, "method_not_allowed",
                   "that method is not allowed on this resource", 0);
        return true;
    }
    open_stream(hub, request, question ? question + 1 : "");
    return true;
}

/* ---- the daemon's calls ---------------------------------------------------------------- */

tg__streams *tg__streams_new(struct event_base *base, tg__daemon *daemon) {
    tg__streams *hub = calloc(1, sizeof *hub);
    if (hub == NULL) {
        return NULL;
    }
    hub->daemon = daemon;
    hub->base = base;
    hub->page_count = -1;
    hub->pump = event_new(base, -1, 0, on_pump, hub);
    hub->sweep = event_new(base, -1, EV_PERSIST, on_sweep, hub);
    if (hub->pump == NULL || hub->sweep == NULL) {
        tg__streams_free(hub);
        return NULL;
    }
    event_priority_set(hub->pump, 2); /* after the turn's requests, like http.c's flush */
    int64_t keepalive_ms = daemon->config->event_stream_keepalive_ms;
    int64_t sweep_ms = keepalive_ms < STREAM_SWEEP_MS_MAX ? keepalive_ms : STREAM_SWEEP_MS_MAX;
    struct timeval interval = {(time_t)(sweep_ms / 1000), (suseconds_t)(sweep_ms % 1000) * 1000};
    event_add(hub->sweep, &interval);
    return hub;
}

void tg__streams_wake(tg__streams *hub) {
    if (hub != NULL && hub->first != NULL) {
        event_active(hub->pump, EV_WRITE, 0);
    }
}

int64_t tg__streams_count(const tg__streams *hub) {
    return hub != NULL ? hub->count : 0;
}

uint64_t tg__streams_cut_total(const tg__streams *hub) {
    return hub != NULL ? hub->cut_total : 0;
}

/* The stream's key was revoked or changed: a last event says so, then the stream ends. */
static void end_for_key(tg__streams *hub, stream *st) {
    struct evbuffer *chunk = evbuffer_new();
    if (chunk != NULL) {
        evbuffer_add_printf(chunk, "event: closed\ndata: {\"reason\":\"key_changed\","
                                   "\"message\":\"the key of this stream was revoked or "
                                   "changed\"}\n\n");
        send_chunk(hub, st, chunk);
        evbuffer_free(chunk);
    }
    end_stream(hub, st);
}

void tg__streams_keys_changed(tg__streams *hub) {
    if (hub == NULL) {
        return;
    }
    for (stream *st = hub->first, *next = NULL; st != NULL; st = next) {
        next = st->next;
        const tg__key *key = tg__keyring_find_hash(hub->daemon->keyring, st->sha256);
        if (gone(st)) {
            end_stream(hub, st);
        } else if (key == NULL || key->role != st->role || strcmp(key->scope, st->scope) != 0) {
            end_for_key(hub, st);
        }
    }
}

void tg__streams_stop(tg__streams *hub) {
    if (hub == NULL) {
        return;
    }
    hub->stopping = true;
    while (hub->first != NULL) {
        end_stream(hub, hub->first);
    }
}

void tg__streams_free(tg__streams *hub) {
    if (hub == NULL) {
        return;
    }
    while (hub->first != NULL) {
        end_stream(hub, hub->first);
    }
    page_forget(hub);
    if (hub->pump != NULL) {
        event_free(hub->pump);
    }
    if (hub->sweep != NULL) {
        event_free(hub->sweep);
    }
    free(hub);
}
