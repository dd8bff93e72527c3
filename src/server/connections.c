/*
 * connections: the open-connection count behind limits.connections_max, the guard
 * in front of evhttp (framing, deadlines, replies written whole), the overflow
 * listener that refuses extra connections with a JSON 503, and the back-off when
 * the process runs out of descriptors. Loop thread only.
 *
 * A connection is a filter bufferevent over a socket bufferevent, both closing on
 * free; evhttp gets the filter. Its input callback feeds the framing scanner and
 * passes on only what the scanner took; its output callback writes straight to
 * the socket; its free callback (run by libevent once evhttp has let go) uncounts
 * it. Connections are found by their filter in an open-addressing table (linear
 * probing, backward-shift deletion) sized for twice the limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "server/connections.h"
#include "server/daemon.h"
#include "engine/clock.h"

#define LINGER_MS 2000              /* after an error reply: time for the client to read it */
#define OVERFLOW_DEADLINE_S 2       /* the overflow listener's deadline for a request */
#define BACKOFF_MS_FIRST 100        /* accepting pauses this long when out of descriptors */
#define BACKOFF_MS_MAX 1000         /* ... doubling while it lasts, up to this */
#define BACKOFF_SAID_EVERY_MS 10000 /* stderr says so at most this often */

struct tg__conns {
    struct event_base *base;
    struct evhttp *http;                   /* the API's server */
    struct evhttp_bound_socket *listening; /* its socket; NULL once stopped */
    struct evhttp *overflow;               /* answers 503 to connections past the limit */
    struct evhttp_bound_socket *overflow_listening;
    tg__conns_options options;
    int64_t open;            /* connections counted now */
    bool paused;             /* at the limit: the overflow listener accepts instead */
    bool backing_off;        /* out of descriptors: neither listener accepts for a while */
    int64_t backoff_ms;      /* the current pause */
    int64_t backoff_said_ms; /* monotonic: when stderr last said so */
    struct event *backoff;   /* ends the pause */
    int spare_fd;            /* kept open to be given up when accept() says EMFILE */
    tg__conn **slots;        /* counted connections by filter; NULL = empty */
    size_t capacity;         /* a power of two, > 2 * connections_max */
    tg__conns_stats stats;
    /* Every live connection, counted or not, to orphan them at free (their filters are
     * freed by libevent after the owner). */
    struct conn_link *all;
};

/* A connection and its place in the owner's list. */
typedef struct conn_link {
    tg__conn conn;
    struct conn_link *prev, *next;
} conn_link;

static conn_link *link_of(tg__conn *conn) {
    return (conn_link *)conn; /* conn is the first member */
}

/* ---- the table ------------------------------------------------------------------ */

static size_t home(const tg__conns *c, const void *key) {
    uint64_t h = (uint64_t)(uintptr_t)key * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 17) & (c->capacity - 1);
}

static size_t find_slot(const tg__conns *c, const void *key) {
    size_t i = home(c, key);
    while (c->slots[i] != NULL && (const void *)c->slots[i]->filter != key) {
        i = (i + 1) & (c->capacity - 1);
    }
    return i;
}

static void table_remove(tg__conns *c, const void *key) {
    size_t i = find_slot(c, key);
    if (c->slots[i] == NULL) {
        return;
    }
    c->slots[i] = NULL;
    /* Backward shift: move later entries of the run into the hole when their home allows. */
    for (size_t j = (i + 1) & (c->capacity - 1); c->slots[j] != NULL;
         j = (j + 1) & (c->capacity - 1)) {
        size_t want = home(c, c->slots[j]->filter);
        bool movable = (j > i) ? (want <= i || want > j) : (want <= i && want > j);
        if (movable) {
            c->slots[i] = c->slots[j];
            c->slots[j] = NULL;
            i = j;
        }
    }
}

/* ---- the listeners: the limit and the back-off -------------------------------------------- */

static void apply_listeners(tg__conns *c) {
    if (c->listening == NULL || c->overflow_listening == NULL) {
        return;
    }
    struct evconnlistener *api = evhttp_bound_socket_get_listener(c->listening);
    struct evconnlistener *overflow = evhttp_bound_socket_get_listener(c->overflow_listening);
    if (c->backing_off || c->paused) {
        evconnlistener_disable(api);
    } else {
        evconnlistener_enable(api);
    }
    if (c->backing_off || !c->paused) {
        evconnlistener_disable(overflow);
    } else {
        evconnlistener_enable(overflow);
    }
}

static void set_paused(tg__conns *c, bool paused) {
    if (c->paused != paused) {
        c->paused = paused;
        apply_listeners(c);
    }
}

static void on_backoff_end(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    tg__conns *c = arg;
    c->backing_off = false;
    apply_listeners(c);
}

/* The answer to a client accepted only to be told there is no room. */
static const char no_room[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    "Connection: close\r\nContent-Length: 106\r\n\r\n"
    "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"the daemon is out of file "
    "descriptors; retry shortly\"}}\n";

static tg__conns *error_owner; /* the daemon's one tg__conns, for the listener error callback */

/* accept() failed for want of descriptors: give up the spare one to take the waiting
 * client off the queue (telling it why), then pause accepting instead of spinning on a
 * listener that stays readable. */
static void out_of_descriptors(tg__conns *c, evutil_socket_t listen_fd, int why) {
    if (c->spare_fd >= 0) {
        close(c->spare_fd);
        c->spare_fd = -1;
        int client = accept(listen_fd, NULL, NULL);
        if (client >= 0) {
            ssize_t sent = send(client, no_room, sizeof no_room - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)sent; /* best effort: the client is closed either way */
            close(client);
            c->stats.refused++;
        }
        c->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    c->stats.accept_backoffs++;
    c->backoff_ms = c->backoff_ms > 0 ? c->backoff_ms : BACKOFF_MS_FIRST; /* 0 after an accept */
    c->backing_off = true;
    apply_listeners(c);
    struct timeval pause = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
    event_add(c->backoff, &pause);
    int64_t now_ms = tg__clock_monotonic_ms();
    if (now_ms - c->backoff_said_ms >= BACKOFF_SAID_EVERY_MS) {
        c->backoff_said_ms = now_ms;
        fprintf(stderr,
                "tollgate: accept: %s: pausing accepts for %lld ms (connections open: %lld; raise "
                "ulimit -n or lower limits.connections_max)\n",
                strerror(why), (long long)c->backoff_ms, (long long)c->open);
    }
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MS_MAX ? BACKOFF_MS_MAX : c->backoff_ms * 2;
}

static void on_listener_error(struct evconnlistener *listener, void *arg) {
    (void)arg;
    int why = EVUTIL_SOCKET_ERROR();
    tg__conns *c = error_owner;
    if (c == NULL) {
        return;
    }
    if (why == EMFILE || why == ENFILE || why == ENOBUFS || why == ENOMEM) {
        out_of_descriptors(c, evconnlistener_get_fd(listener), why);
        return;
    }
    /* Anything else (ECONNABORTED is retried by libevent itself): say it, once a while. */
    int64_t now_ms = tg__clock_monotonic_ms();
    if (now_ms - c->backoff_said_ms >= BACKOFF_SAID_EVERY_MS) {
        c->backoff_said_ms = now_ms;
        fprintf(stderr, "tollgate: accept: %s\n", strerror(why));
    }
}

/* ---- errors answered by the guard ------------------------------------------------------------ */

static const char *reason_phrase(int status) {
    switch (status) {
    case 400:
        return "Bad Request";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    default:
        return "HTTP Version Not Supported";
    }
}

static void format_reply(tg__conn *conn) {
    tg__reply reply = tg__api_error(conn->error.status, conn->error.code, conn->error.message);
    char *body = reply.body != NULL ? json_dumps(reply.body, JSON_COMPACT) : NULL;
    json_decref(reply.body);
    int length = snprintf(conn->reply, sizeof conn->reply,
                          "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: "
                          "close\r\nContent-Length: %zu\r\n\r\n%s\n",
                          conn->error.status, reason_phrase(conn->error.status),
                          body != NULL ? strlen(body) + 1 : 1, body != NULL ? body : "");
    free(body);
    conn->reply_size = length > 0 && (size_t)length < sizeof conn->reply ? (size_t)length : 0;
    conn->reply_sent = 0;
}

/* False once evhttp has freed the connection: bufferevent_free clears the filter's
 * callbacks at once, while libevent frees its memory (guard_free) only later. Events of
 * ours that fire in between must leave it alone. */
static bool filter_alive(const tg__conn *conn) {
    bufferevent_event_cb events = NULL;
    bufferevent_getcb(conn->filter, NULL, NULL, &events, NULL);
    return events != NULL;
}

/* Calls on_writable once the socket takes more output. */
static void on_writable(evutil_socket_t fd, short what, void *arg);

static bool make_writable(tg__conn *conn) {
    if (conn->writable == NULL) {
        /* Made at the first need: evhttp gives the filter its descriptor after accept. */
        conn->writable = event_new(bufferevent_get_base(conn->filter),
                                   bufferevent_getfd(conn->filter), EV_WRITE, on_writable, conn);
    }
    return conn->writable != NULL;
}

static void wait_writable(tg__conn *conn) {
    if (make_writable(conn)) {
        event_add(conn->writable, NULL);
    }
}

/* evhttp adds a reply to the filter's output before it enables writing, and a filter
 * only writes when output is added while writing is enabled: so each addition also
 * asks for a write a moment later, once evhttp has enabled it. */
static void on_output_added(struct evbuffer *output, const struct evbuffer_cb_info *info,
                            void *arg) {
    (void)output;
    tg__conn *conn = arg;
    if (info->n_added > 0 && make_writable(conn)) {
        event_active(conn->writable, EV_WRITE, 1);
    }
}

/* Tells evhttp the client is gone: it frees the connection (and so the filter). */
static void close_connection(tg__conn *conn) {
    bufferevent_trigger_event(conn->filter, BEV_EVENT_EOF | BEV_EVENT_READING,
                              BEV_TRIG_DEFER_CALLBACKS);
}

/* Writes what is left of the error reply; once all of it is out, lingers for the client
 * to read it (what it still sends is dropped), then closes. */
static void write_reply(tg__conn *conn) {
    evutil_socket_t fd = bufferevent_getfd(conn->filter);
    while (fd >= 0 && conn->reply_sent < conn->reply_size) {
        ssize_t sent = send(fd, conn->reply + conn->reply_sent, conn->reply_size - conn->reply_sent,
                            MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent <= 0) {
            if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                wait_writable(conn);
                return;
            }
            close_connection(conn);
            return;
        }
        conn->reply_sent += (size_t)sent;
    }
    if (fd >= 0) {
        shutdown(fd, SHUT_WR);
    }
    struct timeval linger = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
    event_add(conn->deadline, &linger);
}

/* The current request is refused (framing or a deadline): nothing more of it reaches
 * evhttp; the error is answered after the replies of the requests before it. */
static void refuse(tg__conn *conn, const tg__frame_error *error) {
    conn->error = *error;
    if (conn->owner != NULL) {
        if (error->status == 408) {
            conn->owner->stats.timed_out++;
        } else {
            conn->owner->stats.malformed++;
        }
    }
    event_del(conn->deadline);
    format_reply(conn);
    if (conn->requests_done == conn->frame.requests) {
        conn->error_due = true;
        write_reply(conn);
    } /* else on_reply_done writes it */
}

static void on_reply_done(struct evhttp_request *request, void *arg) {
    (void)request;
    tg__conn *conn = arg;
    conn->requests_done++;
    if (conn->error.status != 0 && !conn->error_due &&
        conn->requests_done == conn->frame.requests) {
        conn->error_due = true;
        write_reply(conn); /* evhttp's output is all written: the error goes after it */
    }
}

/* ---- deadlines
 * ----------------------------------------------------------------------------------- */

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    tg__conn *conn = arg;
    if (!filter_alive(conn)) {
        return;
    }
    if (conn->error.status != 0) {
        close_connection(conn); /* the linger after an error reply is over */
        return;
    }
    tg__frame_error late = {408, "request_timeout", ""};
    bool head = conn->deadline_phase == TG__FRAME_HEAD;
    int64_t seconds = conn->owner == NULL ? 0
                      : head              ? conn->owner->options.header_timeout_s
                                          : conn->owner->options.body_timeout_s;
    snprintf(late.message, sizeof late.message,
             "the request's %s did not arrive within limits.%s (%lld s)",
             head ? "line and headers" : "body", head ? "header_timeout_s" : "body_timeout_s",
             (long long)seconds);
    refuse(conn, &late);
}

/* Arms the deadline of the request being read, once per phase: it counts from the
 * phase's first byte, however slowly the rest comes. */
static void update_deadline(tg__conn *conn) {
    tg__frame_phase phase = tg__frame_phase_of(&conn->frame);
    if (phase == TG__FRAME_IDLE) {
        event_del(conn->deadline);
        conn->deadline_phase = TG__FRAME_IDLE;
        return;
    }
    if ((int)phase == conn->deadline_phase && conn->deadline_request == conn->frame.requests) {
        return;
    }
    conn->deadline_phase = (int)phase;
    conn->deadline_request = conn->frame.requests;
    int64_t seconds = conn->owner == NULL       ? OVERFLOW_DEADLINE_S
                      : !conn->counted          ? OVERFLOW_DEADLINE_S
                      : phase == TG__FRAME_HEAD ? conn->owner->options.header_timeout_s
                                                : conn->owner->options.body_timeout_s;
    struct timeval after = {(time_t)seconds, 0};
    event_add(conn->deadline, &after);
}

/* ---- the filter -------------------------------------------------------------------------------
 */

/* The client's bytes: through the scanner, on to evhttp as far as they are good. */
static enum bufferevent_filter_result guard_input(struct evbuffer *from_socket,
                                                  struct evbuffer *to_evhttp, ev_ssize_t limit,
                                                  enum bufferevent_flush_mode mode, void *arg) {
    (void)limit;
    (void)mode;
    tg__conn *conn = arg;
    size_t passed = 0;
    while (conn->error.status == 0 && evbuffer_get_length(from_socket) > 0) {
        struct evbuffer_iovec piece;
        evbuffer_peek(from_socket, -1, NULL, &piece, 1);
        size_t skipped = 0;
        tg__frame_error error;
        size_t taken =
            tg__frame_scan(&conn->frame, piece.iov_base, piece.iov_len, &skipped, &error);
        evbuffer_drain(from_socket, skipped);
        evbuffer_remove_buffer(from_socket, to_evhttp, taken - skipped);
        passed += taken - skipped;
        if (error.status != 0) {
            refuse(conn, &error);
        }
    }
    /* After an error (and while lingering), whatever the client sends is dropped. */
    evbuffer_drain(from_socket, evbuffer_get_length(from_socket));
    if (conn->error.status == 0) {
        update_deadline(conn);
    }
    return passed > 0 ? BEV_OK : BEV_NEED_MORE;
}

/* evhttp's output is written by on_writable, never here: the filter calls this inside
 * evhttp's own calls, before evhttp has said what to do once the output is written (it
 * adds a reply's last bytes, then sets the callback), so a write here would report a
 * reply written to a callback not yet there, and evhttp would wait for ever. */
static enum bufferevent_filter_result guard_output(struct evbuffer *from_evhttp,
                                                   struct evbuffer *unused, ev_ssize_t limit,
                                                   enum bufferevent_flush_mode mode, void *arg) {
    (void)from_evhttp;
    (void)unused;
    (void)limit;
    (void)mode;
    (void)arg;
    return BEV_NEED_MORE;
}

/* Writes evhttp's output straight to the socket. evhttp hears that its output is
 * written (its write callback) only once the kernel has every byte, so closing after a
 * reply never cuts it short. */
static void write_output(tg__conn *conn) {
    struct evbuffer *output = bufferevent_get_output(conn->filter);
    evutil_socket_t fd = bufferevent_getfd(conn->filter);
    bool writing = (bufferevent_get_enabled(conn->filter) & EV_WRITE) != 0;
    if (fd < 0 || evbuffer_get_length(output) == 0) {
        return;
    }
    int wrote = evbuffer_write(output, fd);
    if (wrote < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        bufferevent_trigger_event(conn->filter, BEV_EVENT_ERROR | BEV_EVENT_WRITING,
                                  BEV_TRIG_DEFER_CALLBACKS);
        return;
    }
    if (evbuffer_get_length(output) > 0) {
        if (wrote > 0 && writing) {
            bufferevent_enable(conn->filter, EV_WRITE); /* progress: evhttp's write timeout
                                                         * starts again, as on a socket */
        }
        wait_writable(conn); /* the kernel is full: go on when it takes more */
    } else if (writing) {
        bufferevent_trigger(conn->filter, EV_WRITE, 0); /* evhttp: the reply is written */
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    tg__conn *conn = arg;
    if (!filter_alive(conn)) {
        return;
    }
    if (conn->error_due && conn->reply_sent < conn->reply_size) {
        write_reply(conn); /* its turn: every reply before it is written */
        return;
    }
    write_output(conn);
}

static void forget(tg__conns *c, tg__conn *conn) {
    conn_link *link = link_of(conn);
    if (link->prev != NULL) {
        link->prev->next = link->next;
    } else if (c->all == link) {
        c->all = link->next;
    }
    if (link->next != NULL) {
        link->next->prev = link->prev;
    }
    link->prev = link->next = NULL;
    if (conn->counted) {
        table_remove(c, conn->filter);
        c->open--;
        c->stats.open = c->open;
        if (c->open < c->options.connections_max) {
            set_paused(c, false);
        }
    }
}

/* libevent frees the filter once evhttp has let go of the connection: it is gone. */
static void guard_free(void *arg) {
    tg__conn *conn = arg;
    if (conn->owner != NULL) {
        forget(conn->owner, conn);
    }
    event_free(conn->deadline);
    if (conn->writable != NULL) {
        event_free(conn->writable);
    }
    conn->deadline = conn->writable = NULL;
    conn->closed = true;
    conn->evcon = NULL;
    if (conn->replies_waiting == 0) {
        free(link_of(conn));
    }
}

/* A guarded connection: a filter over a socket bufferevent, for evhttp. NULL on OOM. */
static tg__conn *guard_new(tg__conns *c, struct event_base *base, bool counted) {
    conn_link *link = calloc(1, sizeof *link);
    struct bufferevent *socket = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct event *deadline = link != NULL ? event_new(base, -1, 0, on_deadline, link) : NULL;
    struct bufferevent *filter =
        socket != NULL && deadline != NULL
            ? bufferevent_filter_new(socket, guard_input, guard_output, BEV_OPT_CLOSE_ON_FREE,
                                     guard_free, link)
            : NULL;
    if (filter == NULL) {
        if (socket != NULL) {
            bufferevent_free(socket);
        }
        if (deadline != NULL) {
            event_free(deadline);
        }
        free(link);
        return NULL;
    }
    tg__conn *conn = &link->conn;
    conn->owner = c;
    conn->filter = filter;
    evbuffer_add_cb(bufferevent_get_output(filter), on_output_added, conn);
    conn->deadline = deadline;
    conn->counted = counted;
    tg__frame_init(&conn->frame, (uint64_t)c->options.header_size_max_bytes,
                   (uint64_t)c->options.body_size_max_bytes);
    link->next = c->all;
    if (c->all != NULL) {
        c->all->prev = link;
    }
    c->all = link;
    return conn;
}

/* Counts a connection of the API's listener against the limit. */
static bool track(tg__conns *c, tg__conn *conn) {
    size_t i = find_slot(c, conn->filter);
    if ((size_t)c->open >= c->capacity / 2) {
        return false; /* cannot happen while the pause works; refuse rather than overfill */
    }
    c->slots[i] = conn;
    c->open++;
    c->stats.open = c->open;
    if (c->open >= c->options.connections_max) {
        set_paused(c, true);
    }
    return true;
}

/* evhttp's bufferevent callbacks: one per accepted connection, before its first byte. */
static struct bufferevent *on_accept(struct event_base *base, void *arg) {
    tg__conns *c = arg;
    c->backoff_ms = 0; /* accepting works: the next shortage starts with a short pause */
    tg__conn *conn = guard_new(c, base, true);
    if (conn != NULL && !track(c, conn)) {
        conn->counted = false;
        conn->refused = true;
    }
    return conn != NULL ? conn->filter : NULL;
}

static struct bufferevent *on_overflow_accept(struct event_base *base, void *arg) {
    tg__conn *conn = guard_new(arg, base, false);
    return conn != NULL ? conn->filter : NULL;
}

tg__conn *tg__conns_adopt(tg__conns *c, struct evhttp_request *request) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(request);
    struct bufferevent *filter = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
    tg__conn *conn = filter != NULL ? c->slots[find_slot(c, filter)] : NULL;
    if (conn == NULL) {
        return NULL;
    }
    conn->evcon = evcon;
    evhttp_request_set_on_complete_cb(request, on_reply_done, conn);
    return conn;
}

void tg__conn_hold(tg__conn *conn) {
    conn->replies_waiting++;
}

void tg__conn_release(tg__conn *conn) {
    if (--conn->replies_waiting == 0 && conn->closed) {
        free(link_of(conn));
    }
}

void tg__conns_stats_get(const tg__conns *c, tg__conns_stats *out) {
    *out = c->stats;
}

/* ---- the overflow listener ----------------------------------------------------------- */

static void refuse_overflow(struct evhttp_request *request, void *arg) {
    ((tg__conns *)arg)->stats.refused++;
    static const char body[] =
        "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"the daemon holds "
        "limits.connections_max connections; retry shortly\"}}\n";
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    evhttp_add_header(headers, "Content-Type", "application/json");
    evhttp_add_header(headers, "Retry-After", "1");
    evhttp_add_header(headers, "Connection", "close");
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, sizeof body - 1);
    evhttp_send_reply(request, 503, "Service Unavailable", out);
    evbuffer_free(out);
}

tg__conns *tg__conns_new(struct event_base *base, struct evhttp *http,
                         const tg__conns_options *options) {
    tg__conns *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->base = base;
    c->http = http;
    c->options = *options;
    c->capacity = 64;
    while (c->capacity <= (size_t)options->connections_max * 2 + 64) {
        c->capacity *= 2;
    }
    c->slots = calloc(c->capacity, sizeof *c->slots);
    c->backoff = evtimer_new(base, on_backoff_end, c);
    c->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    c->backoff_said_ms = -BACKOFF_SAID_EVERY_MS;
    if (c->slots == NULL || c->backoff == NULL) {
        tg__conns_free(c);
        return NULL;
    }
    evhttp_set_bevcb(http, on_accept, c);
    error_owner = c;
    return c;
}

bool tg__conns_listen(tg__conns *c, struct evhttp_bound_socket *socket) {
    c->listening = socket;
    c->overflow = evhttp_new(c->base);
    int fd = dup(evhttp_bound_socket_get_fd(socket));
    if (c->overflow == NULL || fd < 0) {
        return false;
    }
    evhttp_set_timeout(c->overflow, OVERFLOW_DEADLINE_S);
    evhttp_set_allowed_methods(c->overflow, 0xffff);
    evhttp_set_bevcb(c->overflow, on_overflow_accept, c);
    evhttp_set_gencb(c->overflow, refuse_overflow, c);
    c->overflow_listening = evhttp_accept_socket_with_handle(c->overflow, fd);
    if (c->overflow_listening == NULL) {
        close(fd);
        return false;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(socket), on_listener_error);
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(c->overflow_listening),
                                on_listener_error);
    apply_listeners(c);
    return true;
}

void tg__conns_stop_listening(tg__conns *c) {
    if (c->listening != NULL) {
        evhttp_del_accept_socket(c->http, c->listening);
        c->listening = NULL;
    }
    if (c->overflow_listening != NULL) {
        evhttp_del_accept_socket(c->overflow, c->overflow_listening);
        c->overflow_listening = NULL;
    }
}

void tg__conns_free(tg__conns *c) {
    if (c == NULL) {
        return;
    }
    if (c->overflow != NULL) {
        evhttp_free(c->overflow);
    }
    /* libevent frees the filters of the connections closed just now later, when the base
     * goes: their conns outlive the owner, so they forget it. */
    for (conn_link *link = c->all; link != NULL; link = link->next) {
        link->conn.owner = NULL;
    }
    if (error_owner == c) {
        error_owner = NULL;
    }
    if (c->backoff != NULL) {
        event_free(c->backoff);
    }
    if (c->spare_fd >= 0) {
        close(c->spare_fd);
    }
    free(c->slots);
    free(c);
}
