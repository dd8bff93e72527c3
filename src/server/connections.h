/*
 * connections: every connection the daemon holds open, counted against
 * limits.connections_max. libevent 2.1's evhttp has no hook for a connection
 * limit, so the count is kept from what it does offer: a bufferevent callback
 * on every accept (open), and a close callback set at a connection's first
 * request (close). A connection that closes before sending a request is never
 * reported; it is forgotten after request_timeout_s (+1 s), when libevent has
 * surely closed it. At the limit the listener pauses and an overflow listener
 * on the same socket answers every new connection 503 too_many_connections and
 * closes it, so an extra client hears why instead of hanging.
 */
#ifndef TG_SERVER_CONNECTIONS_H
#define TG_SERVER_CONNECTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

typedef struct tg__conns tg__conns;

/* One open connection. Owned by tg__conns; lives until closed and no reply waits on it. */
typedef struct tg__conn {
    struct tg__conns *owner;
    const void *key;                 /* its bufferevent, as a key only: never dereferenced */
    struct evhttp_connection *evcon; /* set at its first request */
    int64_t accepted_ms;             /* for forgetting silent connections */
    struct tg__conn *older, *newer;  /* FIFO of connections without a request yet */
    uint32_t replies_waiting;        /* replies queued for a group commit */
    bool closed;                     /* libevent closed it: its requests are gone */
    bool refused;                    /* arrived past the limit: answer 503 and close */
} tg__conn;

typedef struct {
    int64_t connections_max;       /* open at once */
    int64_t request_timeout_s;     /* libevent closes silent connections after this */
    int64_t header_read_max_bytes; /* libevent's own caps for the overflow listener */
    int64_t body_read_max_bytes;
} tg__conns_options;

/* Counts the connections of `http` (sets its bufferevent callback). NULL on OOM. */
tg__conns *tg__conns_new(struct event_base *base, struct evhttp *http,
                         const tg__conns_options *options);

/* Starts the overflow listener beside `socket` (paused until the limit is reached). */
bool tg__conns_listen(tg__conns *conns, struct evhttp_bound_socket *socket);

/* The connection of a request, adopted at its first request. Never NULL but on OOM. */
tg__conn *tg__conns_adopt(tg__conns *conns, struct evhttp_request *request);

/* A reply will wait on the connection / has been sent or dropped. */
void tg__conn_hold(tg__conn *conn);
void tg__conn_release(tg__conn *conn);

/* Forgets connections that never sent a request and must be closed by now. */
void tg__conns_expire(tg__conns *conns);

/* Open connections now (gauge for /metrics), and how many the overflow listener refused. */
int64_t tg__conns_open(const tg__conns *conns);
uint64_t tg__conns_refused(const tg__conns *conns);

/* Stops accepting (SIGTERM, and before evhttp_free): both listeners are removed. */
void tg__conns_stop_listening(tg__conns *conns);

/* Frees what is left; call after evhttp_free (which closes every connection). */
void tg__conns_free(tg__conns *conns);

#endif
