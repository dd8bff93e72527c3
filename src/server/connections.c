/*
 * connections: the open-connection count behind limits.connections_max, and the
 * overflow listener that refuses extra connections with a JSON 503. Loop thread
 * only. Connections are found by their bufferevent in an open-addressing table
 * (linear probing, backward-shift deletion) sized for twice the limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "server/connections.h"

struct tg__conns {
    struct event_base *base;
    struct evhttp *http;                   /* the API's server */
    struct evhttp_bound_socket *listening; /* its socket; NULL once stopped */
    struct evhttp *overflow;               /* answers 503 to connections past the limit */
    struct evhttp_bound_socket *overflow_listening;
    tg__conns_options options;
    int64_t open;     /* connections counted now */
    bool paused;      /* at the limit: the overflow listener accepts instead */
    tg__conn **slots; /* by key; NULL = empty */
    size_t capacity;  /* a power of two, > 2 * connections_max */
    tg__conn *oldest; /* FIFO of connections without a request yet */
    tg__conn *newest;
    uint64_t refused; /* connections the overflow listener answered */
};

static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- the table ------------------------------------------------------------------ */

static size_t home(const tg__conns *c, const void *key) {
    uint64_t h = (uint64_t)(uintptr_t)key * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 17) & (c->capacity - 1);
}

static size_t find_slot(const tg__conns *c, const void *key) {
    size_t i = home(c, key);
    while (c->slots[i] != NULL && c->slots[i]->key != key) {
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
        size_t want = home(c, c->slots[j]->key);
        bool movable = (j > i) ? (want <= i || want > j) : (want <= i && want > j);
        if (movable) {
            c->slots[i] = c->slots[j];
            c->slots[j] = NULL;
            i = j;
        }
    }
}

/* ---- the count and the pause ------------------------------------------------------- */

static void set_paused(tg__conns *c, bool paused) {
    if (c->paused == paused || c->listening == NULL || c->overflow_listening == NULL) {
        return;
    }
    c->paused = paused;
    struct evconnlistener *api = evhttp_bound_socket_get_listener(c->listening);
    struct evconnlistener *overflow = evhttp_bound_socket_get_listener(c->overflow_listening);
    if (paused) {
        evconnlistener_disable(api);
        evconnlistener_enable(overflow);
    } else {
        evconnlistener_disable(overflow);
        evconnlistener_enable(api);
    }
}

static void fifo_unlink(tg__conns *c, tg__conn *conn) {
    if (conn->older != NULL) {
        conn->older->newer = conn->newer;
    } else if (c->oldest == conn) {
        c->oldest = conn->newer;
    }
    if (conn->newer != NULL) {
        conn->newer->older = conn->older;
    } else if (c->newest == conn) {
        c->newest = conn->older;
    }
    conn->older = conn->newer = NULL;
}

/* The connection is gone (closed, or silent past its time): uncount and forget it. */
static void forget(tg__conns *c, tg__conn *conn) {
    fifo_unlink(c, conn);
    table_remove(c, conn->key);
    c->open--;
    if (c->open < c->options.connections_max) {
        set_paused(c, false);
    }
    conn->closed = true;
    conn->evcon = NULL;
    if (conn->replies_waiting == 0) {
        free(conn);
    }
}

static tg__conn *track(tg__conns *c, const void *key, int64_t now_ms) {
    size_t i = find_slot(c, key);
    if (c->slots[i] != NULL) {
        return c->slots[i]; /* a silent connection's bufferevent was freed and reused */
    }
    if ((size_t)c->open >= c->capacity / 2) {
        return NULL; /* cannot happen while the pause works; refuse rather than overfill */
    }
    tg__conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        return NULL;
    }
    conn->owner = c;
    conn->key = key;
    conn->accepted_ms = now_ms;
    c->slots[i] = conn;
    c->open++;
    if (c->open >= c->options.connections_max) {
        set_paused(c, true);
    }
    return conn;
}

/* evhttp's bufferevent callback: runs for every connection the API's listener accepts. */
static struct bufferevent *on_accept(struct event_base *base, void *arg) {
    tg__conns *c = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        return NULL;
    }
    int64_t now_ms = monotonic_ms();
    tg__conn *conn = track(c, bev, now_ms);
    if (conn != NULL && conn->evcon == NULL) {
        fifo_unlink(c, conn);
        conn->accepted_ms = now_ms;
        conn->older = c->newest;
        if (c->newest != NULL) {
            c->newest->newer = conn;
        } else {
            c->oldest = conn;
        }
        c->newest = conn;
    }
    return bev;
}

static void on_close(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    tg__conn *conn = arg;
    forget(conn->owner, conn);
}

tg__conn *tg__conns_adopt(tg__conns *c, struct evhttp_request *request) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(request);
    const void *key = evhttp_connection_get_bufferevent(evcon);
    size_t i = find_slot(c, key);
    tg__conn *conn = c->slots[i];
    if (conn != NULL && conn->evcon == evcon) {
        return conn; /* a later request on a known connection */
    }
    if (conn == NULL) {
        /* Forgotten as silent, yet alive (a very slow client): count it again now. */
        conn = track(c, key, monotonic_ms());
        if (conn == NULL) {
            return NULL;
        }
        conn->refused = c->open > c->options.connections_max;
    }
    fifo_unlink(c, conn);
    conn->evcon = evcon;
    evhttp_connection_set_closecb(evcon, on_close, conn);
    return conn;
}

void tg__conn_hold(tg__conn *conn) {
    conn->replies_waiting++;
}

void tg__conn_release(tg__conn *conn) {
    if (--conn->replies_waiting == 0 && conn->closed) {
        free(conn);
    }
}

void tg__conns_expire(tg__conns *c) {
    int64_t now_ms = monotonic_ms();
    int64_t ttl_ms = c->options.request_timeout_s * 1000 + 1000;
    while (c->oldest != NULL && now_ms - c->oldest->accepted_ms > ttl_ms) {
        forget(c, c->oldest);
    }
}

int64_t tg__conns_open(const tg__conns *c) {
    return c->open;
}

uint64_t tg__conns_refused(const tg__conns *c) {
    return c->refused;
}

/* ---- the overflow listener ----------------------------------------------------------- */

static void refuse(struct evhttp_request *request, void *arg) {
    ((tg__conns *)arg)->refused++;
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
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    evhttp_set_bevcb(http, on_accept, c);
    return c;
}

bool tg__conns_listen(tg__conns *c, struct evhttp_bound_socket *socket) {
    c->listening = socket;
    c->overflow = evhttp_new(c->base);
    int fd = dup(evhttp_bound_socket_get_fd(socket));
    if (c->overflow == NULL || fd < 0) {
        return false;
    }
    evhttp_set_timeout(c->overflow, 2);
    evhttp_set_max_headers_size(c->overflow, (ev_ssize_t)c->options.header_read_max_bytes);
    evhttp_set_max_body_size(c->overflow, (ev_ssize_t)c->options.body_read_max_bytes);
    evhttp_set_allowed_methods(c->overflow, 0xffff);
    evhttp_set_gencb(c->overflow, refuse, c);
    c->overflow_listening = evhttp_accept_socket_with_handle(c->overflow, fd);
    if (c->overflow_listening == NULL) {
        close(fd);
        return false;
    }
    evconnlistener_disable(evhttp_bound_socket_get_listener(c->overflow_listening));
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
    /* Left in the table: connections that never sent a request (evhttp_free closed
     * the others, and their close callbacks forgot them). */
    for (size_t i = 0; i < c->capacity; i++) {
        free(c->slots[i]);
    }
    free(c->slots);
    free(c);
}
