/*
 * connections: every connection the daemon holds, from accept to close, and the
 * guard between each one's socket and libevent's evhttp.
 *
 * libevent 2.1's evhttp has no hook for a connection limit, answers malformed
 * framing with HTML, and only times a connection out when it is idle (a client
 * sending one header byte at a time is never idle). So each accepted socket is
 * wrapped in a filter bufferevent before evhttp gets it:
 *
 *   - counting: the filter is made at accept and its free callback runs when the
 *     connection is gone, so every connection counts against
 *     limits.connections_max until it is closed, whether or not it sent anything;
 *   - framing: every byte the client sends goes through the framing scanner
 *     (http_frame.h) before evhttp sees it; a refused request gets a JSON error
 *     with the right status, written after the replies of the requests before it,
 *     and the connection is closed (after a short linger, so the client reads it);
 *   - deadlines: a request's line and headers must arrive within
 *     limits.header_timeout_s of its first byte, its body within
 *     limits.body_timeout_s after them (408 request_timeout, then closed);
 *   - replies: output is written straight to the socket, and evhttp hears that a
 *     reply is written only once the kernel has all of it, so closing after a reply
 *     never cuts it short.
 *
 * At the limit the listener pauses and an overflow listener on the same socket
 * answers every new connection 503 too_many_connections and closes it. Out of
 * file descriptors (EMFILE), accepting backs off instead of spinning: a spare
 * descriptor is given up to accept the waiting client, answer it 503 and close
 * it, and both listeners pause for a while (100 ms, doubling to 1 s).
 */
#ifndef TG_SERVER_CONNECTIONS_H
#define TG_SERVER_CONNECTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "server/http_frame.h"

typedef struct tg__conns tg__conns;

/* One open connection. Owned by tg__conns; lives until closed and no reply waits on it. */
typedef struct tg__conn {
    struct tg__conns *owner;
    struct bufferevent *filter;      /* what evhttp reads and writes; the table's key */
    struct evhttp_connection *evcon; /* set at its first request */
    tg__frame frame;                 /* the client's bytes as read so far */
    struct event *deadline;          /* header or body deadline; the linger after an error */
    struct event *writable;          /* the socket takes output again */
    int deadline_phase;              /* what the deadline is armed for (tg__frame_phase) */
    uint64_t deadline_request;       /* ... and for which request (frame.requests) */
    uint64_t requests_done;          /* replies evhttp has finished writing */
    tg__frame_error error;           /* a refused request or a deadline; status 0: none */
    char reply[512];                 /* the error's HTTP reply, written by the guard */
    size_t reply_size, reply_sent;
    bool error_due;           /* the replies before the error are written: its turn */
    uint32_t replies_waiting; /* replies queued for a group commit */
    bool closed;              /* libevent let go of it: its requests are gone */
    bool counted;             /* counted against connections_max (the API listener's) */
    bool refused;             /* arrived past the limit: answer 503 and close */
} tg__conn;

typedef struct {
    int64_t connections_max;       /* open at once */
    int64_t header_size_max_bytes; /* request line and headers */
    int64_t body_size_max_bytes;   /* a request body */
    int64_t header_timeout_s;      /* from a request's first byte to its headers' end */
    int64_t body_timeout_s;        /* from the headers' end to the body's */
} tg__conns_options;

/* Guards the connections of `http` (sets its bufferevent callback). NULL on OOM. */
tg__conns *tg__conns_new(struct event_base *base, struct evhttp *http,
                         const tg__conns_options *options);

/* Starts the overflow listener beside `socket` (paused until the limit is reached), and
 * watches both for running out of descriptors. */
bool tg__conns_listen(tg__conns *conns, struct evhttp_bound_socket *socket);

/* The connection of a request (and counts the request's reply when it is written). Never
 * NULL but on OOM. */
tg__conn *tg__conns_adopt(tg__conns *conns, struct evhttp_request *request);

/* A reply will wait on the connection / has been sent or dropped. */
void tg__conn_hold(tg__conn *conn);
void tg__conn_release(tg__conn *conn);

/* Counts for /metrics. */
typedef struct {
    int64_t open;             /* connections open now */
    uint64_t refused;         /* answered 503 past connections_max */
    uint64_t malformed;       /* requests refused for their framing */
    uint64_t timed_out;       /* requests past their header or body deadline */
    uint64_t accept_backoffs; /* times accepting paused for want of descriptors */
} tg__conns_stats;

void tg__conns_stats_get(const tg__conns *conns, tg__conns_stats *out);

/* Stops accepting (SIGTERM, and before evhttp_free): both listeners are removed. */
void tg__conns_stop_listening(tg__conns *conns);

/* Frees what is left; call after evhttp_free (which closes every connection). */
void tg__conns_free(tg__conns *conns);

#endif
