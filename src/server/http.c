/*
 * http: requests in, replies out, and the group-commit pipeline between them.
 *
 * Every request is decided on the loop thread the moment evhttp hands it over;
 * its reply joins the open batch. A lowest-priority "flush" event runs after the
 * loop turn's requests: it detaches the batch's mutations as one group commit
 * (tg_engine_batch_detach) and gives it to the writer thread. The loop goes on
 * deciding the next batch while the writer writes; when the writer reports, the
 * written batch's replies are sent and the batch that grew meanwhile is
 * detached. So at most one commit is in flight, each fsync carries everything
 * that arrived during the previous one, and no reply is sent before its
 * mutations are on disk (strict). Relaxed mode answers at once.
 *
 * Limits are answered here, in JSON: headers and bodies past the configured
 * maximum (libevent is given a higher cap, see docs/api.md), connections past
 * connections_max (connections.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "notify/notify.h"
#include "server/connections.h"
#include "server/console_assets.h"
#include "api/events_stream.h"
#include "server/http.h"
#include "server/peer.h"
#include "mcp/http/mcp_http.h"
#include "proxy/runtime/proxy.h"
#include "server/store_redis.h"
#include "server/writer.h"
#include "engine/clock.h"

/* evhttp's own caps, above the guard's (connections.c refuses first, in JSON): evhttp's
 * answers are HTML, so they must never be the ones a client gets. */
#define READ_SLACK_BYTES (64 * 1024)

/* A reply waiting for its batch's commit. */
typedef struct {
    struct evhttp_request *request; /* gone once conn->closed */
    tg__conn *conn;                 /* holds a reference until sent or dropped */
    tg__reply reply;
    int64_t started_us; /* when the request was handed over, for the latency histogram */
} pending;

typedef struct {
    /* A turn's requests, and waiters decided in it (each waiter once, so at most
     * TG_WAITERS_MAX more than the requests' backpressure bound). */
    pending items[TG__REPLIES_MAX + TG_WAITERS_MAX];
    int count;
} reply_list;
#define REPLIES_CAPACITY (TG__REPLIES_MAX + TG_WAITERS_MAX)

/* A long poll: POST /v1/holds with wait_ms whose waiter waits in the engine. */
typedef struct {
    uint64_t wait_id;
    struct evhttp_request *request; /* gone once conn->closed */
    tg__conn *conn;                 /* holds a reference until answered or dropped */
    int64_t started_us;
} parked;

/* A request waiting for its answer from Redis (store_redis.h), decided again when it comes. */
typedef struct {
    tg__http *h;
    struct evhttp_request *request; /* gone once conn->closed */
    tg__conn *conn;                 /* holds a reference until answered or dropped */
    int64_t started_us;
    int64_t now_ms; /* every pass decides at the request's own time */
    void *state;    /* the Redis ledger's memory of the answers so far */
} redis_wait;

/* How often parked long polls are checked for a client that left. */
#define SWEEP_MS 20

struct tg__http {
    tg__daemon *daemon;
    struct event_base *base;
    struct evhttp *server;
    tg__conns *conns;
    tg__writer *writer;
    struct event *flush;    /* lowest priority: runs after a turn's requests */
    struct event *deadline; /* the engine's next time-driven work (tg__http_tick) */
    struct event *sweep;    /* while long polls wait: drops those whose client left */
    parked *parked;         /* TG_WAITERS_MAX slots, the first parked_count in use */
    int parked_count;
    int64_t armed_ms; /* when `deadline` fires, INT64_MAX when it is not armed */
    reply_list lists[2];
    reply_list *open;    /* replies of the batch being decided */
    reply_list *writing; /* replies of the batch the writer is writing */
    bool strict;         /* replies wait for their commit */
    int64_t header_size_max_bytes;
    int64_t body_size_max_bytes;
    bool store_failed; /* said once on stderr */
    bool stopping;     /* the writer is stopping: nothing more is detached */
    int port;          /* the listener's, as bound (the kernel's choice for port 0) */
};

/* ---- replies ---------------------------------------------------------------------- */

static void send_reply(struct evhttp_request *request, tg__reply *reply, bool close) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    evhttp_add_header(headers, "Content-Type", "application/json");
    if (close) {
        evhttp_add_header(headers, "Connection", "close");
    }
    if ((reply->status == 402 || reply->status == 503) && reply->retry_after_ms != TG_NONE) {
        char seconds[32];
        snprintf(seconds, sizeof seconds, "%" PRId64, (reply->retry_after_ms + 999) / 1000);
        evhttp_add_header(headers, "Retry-After", seconds);
    }
    struct evbuffer *out = evbuffer_new();
    char *text = reply->body ? json_dumps(reply->body, JSON_COMPACT) : NULL;
    if (text != NULL) {
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
        free(text);
    }
    evhttp_send_reply(request, reply->status, reply->status == 200 ? "OK" : "Error", out);
    evbuffer_free(out);
    json_decref(reply->body);
    reply->body = NULL;
}

static void send_pending(tg__http *h, pending *item) {
    if (!item->conn->closed) {
        send_reply(item->request, &item->reply, false);
    } else {
        json_decref(item->reply.body);
    }
    tg__histogram_observe(&h->daemon->metrics.latency, tg__clock_monotonic_us() - item->started_us);
    tg__conn_release(item->conn);
}

static void send_all(tg__http *h, reply_list *list) {
    for (int i = 0; i < list->count; i++) {
        send_pending(h, &list->items[i]);
    }
    list->count = 0;
}

/* The store failed: no reply of the batch may claim success. */
static void fail_all(reply_list *list) {
    for (int i = 0; i < list->count; i++) {
        json_decref(list->items[i].reply.body);
        list->items[i].reply = tg__api_error(503, "store_unavailable",
                                             "the store failed to write; nothing was acknowledged");
    }
}

/* ---- the pipeline ------------------------------------------------------------------ */

/* The longest sleep between ticks: a wall-clock jump is noticed within a minute. */
#define DEADLINE_SLEEP_MAX_MS 60000
/* Strict mode: refusal events (which need no fsync of their own) wait this long for a
 * write to ride with, then are committed on their own. */
#define EVENTS_DELAY_MS 10

/*
 * Sleeps until the engine next has time-driven work (a hold expiry, a window end,
 * a relaxed sync) instead of ticking: an idle daemon wakes once a minute at most,
 * whatever the size of its ledger.
 */
static void arm(tg__http *h) {
    if (h->deadline == NULL || h->stopping || tg__writer_busy(h->writer)) {
        return; /* the writer's report flushes again, and arms then */
    }
    tg_engine *engine = h->daemon->engine;
    int64_t now_ms = tg__now_ms();
    int64_t due = tg_engine_deadline_ms(engine);
    if (h->strict && tg_engine_pending(engine) && now_ms + EVENTS_DELAY_MS < due) {
        due = now_ms + EVENTS_DELAY_MS;
    }
    if (due > now_ms + DEADLINE_SLEEP_MAX_MS) {
        due = now_ms + DEADLINE_SLEEP_MAX_MS;
    }
    if (evtimer_pending(h->deadline, NULL) && h->armed_ms <= due) {
        return; /* already armed for that or sooner */
    }
    int64_t wait_ms = due > now_ms ? due - now_ms : 0;
    struct timeval wait = {(time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000};
    h->armed_ms = due;
    evtimer_add(h->deadline, &wait);
}

static void flush_batch(tg__http *h, bool force);

/* Ends the open batch (below), then sleeps until the next time-driven work. */
static void flush(tg__http *h, bool force) {
    flush_batch(h, force);
    arm(h);
}

/* The parked long poll of a waiter, removed from the table; false when none. */
static bool unpark(tg__http *h, uint64_t wait_id, parked *out) {
    for (int i = 0; i < h->parked_count; i++) {
        if (h->parked[i].wait_id == wait_id) {
            *out = h->parked[i];
            h->parked[i] = h->parked[--h->parked_count];
            return true;
        }
    }
    return false;
}

/*
 * Has the client of a long poll left? evhttp stops reading a connection while its
 * request waits for a reply, so it never sees the client's FIN or RST then: the
 * socket is asked directly (a peek that consumes nothing). Bytes waiting (a pipelined
 * request) mean the client is still there.
 */
static bool client_gone(const parked *p) {
    if (p->conn->closed || evhttp_request_get_connection(p->request) == NULL) {
        return true;
    }
    evutil_socket_t fd = bufferevent_getfd(p->conn->filter);
    return fd < 0 || tg__peer_left(fd);
}

/* The client left: answer anyway, with Connection: close, so that evhttp closes the
 * connection and frees the request (a reply to a closed socket goes nowhere). */
static void drop_parked(const parked *p) {
    if (!p->conn->closed && evhttp_request_get_connection(p->request) != NULL) {
        tg__reply reply = tg__api_error(409, "client_gone", "the client left; nothing was held");
        send_reply(p->request, &reply, true);
    }
    tg__conn_release(p->conn);
}

/*
 * Waiters the engine decided during this turn: each reply joins the open batch, whose
 * commit holds the grant, so it is sent once the grant is durable. A grant whose
 * client left is released in the same batch: nothing is held for a client that left.
 */
static void drain_waits(tg__http *h) {
    tg_engine *engine = h->daemon->engine;
    tg_wait_result decided;
    /* A full batch leaves the rest in the engine (they count against TG_WAITERS_MAX)
     * for the next flush, once the writer has taken this one. */
    while (h->open->count < REPLIES_CAPACITY && tg_wait_poll(engine, &decided)) {
        parked p;
        bool found = unpark(h, decided.wait_id, &p);
        if (!found && (tg__mcp_http_wait_decided(h->daemon->mcp, &decided) ||
                       tg__proxy_wait_decided(h->daemon->proxy, &decided))) {
            continue; /* an MCP tools/call's or a proxied call's waiter: its owner goes on */
        }
        if (!found || client_gone(&p)) {
            if (decided.status == TG_OK && decided.result.granted) {
                tg_release(engine, decided.result.hold_id, NULL, tg__now_ms(), NULL, NULL);
            }
            h->daemon->metrics.waits_abandoned++;
            if (found) {
                drop_parked(&p);
            }
            continue;
        }
        tg__reply reply = tg__api_wait_reply(h->daemon, &decided);
        if (reply.status != 200 && reply.status != 402) {
            h->daemon->metrics.errors++;
        }
        h->open->items[h->open->count++] = (pending){p.request, p.conn, reply, p.started_us};
    }
}

/* Ends the open batch: detaches its commit for the writer, or answers it at once. */
static void flush_batch(tg__http *h, bool force) {
    drain_waits(h);
    if (!h->strict) {
        send_all(h, h->open); /* relaxed: acknowledged first, synced within the interval */
    }
    if (h->stopping || tg__writer_busy(h->writer)) {
        return; /* the writer's report flushes again: this batch keeps growing until then */
    }
    tg_engine *engine = h->daemon->engine;
    tg_group_commit *commit = NULL;
    tg_error err = {0};
    tg_status status = tg_engine_batch_detach(engine, tg__now_ms(), force, &commit, &err);
    tg_engine_batch_begin(engine); /* the engine is always inside a batch: it never writes */
    if (status != TG_OK) {
        if (!h->store_failed) {
            fprintf(stderr, "tollgate: the store failed; every write is refused: %s\n",
                    err.message);
            h->store_failed = true;
        }
        fail_all(h->open);
        send_all(h, h->open);
        return;
    }
    if (commit == NULL) {
        send_all(h, h->open); /* nothing in this batch needs a disk to be true */
        return;
    }
    reply_list *written = h->open;
    h->open = h->writing;
    h->writing = written;
    h->daemon->metrics.commit_replies += (uint64_t)written->count;
    tg__writer_submit(h->writer, commit);
}

/* The writer's report, on the loop thread. */
static void on_written(void *user, tg_group_commit *commit, tg_status status, const char *message,
                       int64_t write_us) {
    tg__http *h = user;
    tg_engine_commit_done(h->daemon->engine, commit, status);
    if (status == TG_OK) {
        tg__notify_wake(h->daemon->notifier);
        tg__streams_wake(h->daemon->streams); /* SSE clients see only durable events */
    }
    tg__metrics *metrics = &h->daemon->metrics;
    metrics->commits++;
    tg__histogram_observe(&metrics->commit_latency, write_us);
    if (status != TG_OK) {
        metrics->commit_failures++;
        fprintf(stderr, "tollgate: group commit failed: %s\n", message);
        fail_all(h->writing);
    }
    send_all(h, h->writing);
    flush(h, false); /* at once: what arrived during this write is the next group, and the
                      * writer starts on it while the loop decides what comes next */
}

static void on_flush(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    flush(user, false);
}

/* Long polls whose client left: their waiters are cancelled (never granted). */
static void on_sweep(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    tg__http *h = user;
    for (int i = 0; i < h->parked_count;) {
        parked *p = &h->parked[i];
        if (!client_gone(p)) {
            i++;
            continue;
        }
        /* Not found: decided this turn and not yet drained; drain_waits, finding no
         * parked request, releases a grant and counts it. */
        if (tg_wait_cancel(h->daemon->engine, p->wait_id, tg__now_ms(), NULL) == TG_OK) {
            h->daemon->metrics.waits_abandoned++;
        }
        drop_parked(p);
        *p = h->parked[--h->parked_count];
    }
    if (h->parked_count > 0) {
        struct timeval every = {0, SWEEP_MS * 1000};
        evtimer_add(h->sweep, &every);
    }
    flush(h, false); /* a cancel may have granted the waiters behind it */
}

/* A waiter cancelled over the API: its long poll is answered 409 cancelled. */
static void on_wait_cancelled(void *user, uint64_t wait_id) {
    tg__http *h = user;
    parked p;
    if (!unpark(h, wait_id, &p)) {
        /* An MCP tools/call's or a proxied call's waiter: its owner answers (nothing held). */
        tg_wait_result cancelled = {.wait_id = wait_id, .status = TG_ERR_NOT_FOUND};
        snprintf(cancelled.message, sizeof cancelled.message,
                 "(its wait for room was cancelled over the API; nothing was held)");
        if (!tg__mcp_http_wait_decided(h->daemon->mcp, &cancelled)) {
            (void)tg__proxy_wait_decided(h->daemon->proxy, &cancelled); /* 503 to its client */
        }
        return;
    }
    tg__reply reply =
        tg__api_error(409, "cancelled", "the waiting request was cancelled; nothing was held");
    if (h->open->count < REPLIES_CAPACITY) {
        h->open->items[h->open->count++] = (pending){p.request, p.conn, reply, p.started_us};
    } else {
        send_pending(h, &(pending){p.request, p.conn, reply, p.started_us}); /* nothing to sync */
    }
}

/* Keeps a long poll's request until its waiter is decided (drain_waits). */
static void park(tg__http *h, struct evhttp_request *request, tg__conn *conn, tg__reply *reply,
                 int64_t started_us) {
    json_t *id = json_object_get(reply->body, "wait_id");
    uint64_t wait_id = (uint64_t)json_integer_value(id);
    json_decref(reply->body);
    tg__conn_hold(conn);
    /* The engine bounds its waiters at TG_WAITERS_MAX, the table's size. */
    h->parked[h->parked_count++] = (parked){wait_id, request, conn, started_us};
    if (!evtimer_pending(h->sweep, NULL)) {
        struct timeval every = {0, SWEEP_MS * 1000};
        evtimer_add(h->sweep, &every);
    }
}

/* ---- requests ---------------------------------------------------------------------- */

static const char *method_name(struct evhttp_request *request) {
    switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    default:
        return "OTHER";
    }
}

/* Bytes of the request line and headers, as the client sent them (near enough). */
static size_t header_bytes(struct evhttp_request *request) {
    size_t total = strlen(evhttp_request_get_uri(request)) + 16;
    struct evkeyval *header;
    TAILQ_FOREACH(header, evhttp_request_get_input_headers(request), next) {
        total += strlen(header->key) + strlen(header->value) + 4;
    }
    return total;
}

/* True when the request comes from this host (127.0.0.0/8, ::1). */
static bool from_loopback(struct evhttp_request *request) {
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    char *address = NULL;
    ev_uint16_t port = 0;
    if (connection == NULL) {
        return false;
    }
    evhttp_connection_get_peer(connection, &address, &port);
    return address != NULL && (strncmp(address, "127.", 4) == 0 || strcmp(address, "::1") == 0 ||
                               strncmp(address, "::ffff:127.", 11) == 0);
}

/* /metrics shows every budget's spend: a key that may read (admin, read, metrics), unless
 * the config opens it to scrapers on this host. 0 when allowed, else the reply's status. */
static tg__reply metrics_refusal(tg__http *h, struct evhttp_request *request) {
    tg__reply allowed = {0, NULL, TG_NONE};
    if (h->daemon->config->metrics_open_on_loopback && from_loopback(request)) {
        return allowed;
    }
    tg__caller caller;
    const char *authorization =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Authorization");
    if (!tg__authenticate(h->daemon, authorization, &caller)) {
        return tg__api_error(401, "unauthorized",
                             "send 'Authorization: Bearer <key>' (an admin, read or metrics "
                             "key), or set metrics: {open_on_loopback: true} for a local scraper");
    }
    if (caller.role == TG__ROLE_AGENT) {
        return tg__api_error(403, "forbidden", "an agent key may not read /metrics");
    }
    return allowed;
}

static void send_metrics(tg__http *h, struct evhttp_request *request) {
    char *text = tg__metrics_text(h->daemon, tg__now_ms());
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, text, strlen(text));
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(request, 200, "OK", out);
    evbuffer_free(out);
}

static tg__reply decide(tg__http *h, struct evhttp_request *request, int64_t now_ms) {
    char message[160];
    if (header_bytes(request) > (size_t)h->header_size_max_bytes) {
        snprintf(message, sizeof message,
                 "the request line and headers pass limits.header_size_max_bytes (%" PRId64 ")",
                 h->header_size_max_bytes);
        return tg__api_error(431, "headers_too_large", message);
    }
    struct evbuffer *input = evhttp_request_get_input_buffer(request);
    size_t body_size = evbuffer_get_length(input);
    if (body_size > (size_t)h->body_size_max_bytes) {
        snprintf(message, sizeof message,
                 "the body is %zu bytes; limits.body_size_max_bytes is %" PRId64, body_size,
                 h->body_size_max_bytes);
        return tg__api_error(413, "body_too_large", message);
    }
    const char *body = body_size ? (const char *)evbuffer_pullup(input, -1) : NULL;
    const char *authorization =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Authorization");
    return tg__api_handle(h->daemon, method_name(request), evhttp_request_get_uri(request),
                          authorization, body, body_size, now_ms);
}

/* ---- the route table ----------------------------------------------------------------
 * Every request goes down this one table, first match wins: the place a new front end
 * (the console's own API, say) plugs in. A route with a path serves that path (and its
 * query), or every path under it when the path ends in '/'; one with "" claims its own
 * paths (the proxy's come from its provider tables and upstreams, MCP's from its servers)
 * and answers false for a request that is not its, so the next route is tried. */

/* Who checks a route's caller. */
typedef enum {
    ROUTE_AUTH_NONE,    /* nobody: the console's files (it calls the API with a key) */
    ROUTE_AUTH_METRICS, /* here, before the handler: an admin, read or metrics key, or
                         * this host when metrics.open_on_loopback (metrics_refusal) */
    ROUTE_AUTH_OWN      /* the front end, through tg__authenticate (auth.c) */
} route_auth;

typedef struct {
    const char *method; /* NULL: any (the front end answers 405 in its own shape) */
    const char *path;   /* see above */
    route_auth auth;
    /* True when it took the request (answered, or will answer later). */
    bool (*handle)(tg__http *h, struct evhttp_request *request, tg__conn *conn, int64_t started_us);
} route;

static bool route_metrics(tg__http *h, struct evhttp_request *request, tg__conn *conn,
                          int64_t started_us) {
    (void)conn, (void)started_us;
    enum evhttp_cmd_type method = evhttp_request_get_command(request);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        /* Scrapers GET it; any other method was answered with the text until
         * tests/unit/test_server_routes.c asked. */
        h->daemon->metrics.errors++;
        tg__reply refused = tg__api_error(405, "method_not_allowed", "/metrics is read with GET");
        evhttp_add_header(evhttp_request_get_output_headers(request), "Allow", "GET, HEAD");
        send_reply(request, &refused, false);
        return true;
    }
    send_metrics(h, request);
    return true;
}

static bool route_console(tg__http *h, struct evhttp_request *request, tg__conn *conn,
                          int64_t started_us) {
    (void)conn, (void)started_us;
    if (!tg__console_handle(request)) {
        return false;
    }
    h->daemon->metrics.requests++; /* / and /ui/: the web console's files */
    return true;
}

static bool route_proxy(tg__http *h, struct evhttp_request *request, tg__conn *conn,
                        int64_t started_us) {
    (void)conn, (void)started_us;
    if (!tg__proxy_handle(h->daemon->proxy, request)) {
        return false;
    }
    h->daemon->metrics.requests++; /* answered by the proxy when its call ends */
    return true;
}

static bool route_mcp(tg__http *h, struct evhttp_request *request, tg__conn *conn,
                      int64_t started_us) {
    (void)conn, (void)started_us;
    if (!tg__mcp_http_handle(h->daemon->mcp, request)) {
        return false;
    }
    h->daemon->metrics.requests++; /* /mcp/{name}: answered when the MCP server answers */
    return true;
}

static bool route_stream(tg__http *h, struct evhttp_request *request, tg__conn *conn,
                         int64_t started_us) {
    (void)conn, (void)started_us;
    if (!tg__streams_handle(h->daemon->streams, request)) {
        return false;
    }
    h->daemon->metrics.requests++; /* an error, or a stream kept in events_stream.c */
    return true;
}

static void answer(tg__http *h, struct evhttp_request *request, tg__conn *conn, int64_t started_us,
                   tg__reply reply, bool hold);
static bool redis_park(redis_wait *wait, tg__reply *reply);

/* The JSON API (src/api, its own table in api.c), decided now and answered with the
 * batch its mutations are committed in. */
static bool route_api(tg__http *h, struct evhttp_request *request, tg__conn *conn,
                      int64_t started_us) {
    /* With Redis, the request may wait for its answer there: see redis_resume. */
    int64_t now_ms = tg__now_ms();
    redis_wait *wait = NULL;
    void *state = NULL;
    tg__store_redis_enter(&state);
    if (state != NULL && (wait = malloc(sizeof *wait)) == NULL) {
        (void)tg__store_redis_leave(&state, NULL); /* out of memory: decided synchronously */
    }
    tg__metrics before = h->daemon->metrics; /* a parked pass counts nothing: its last will */
    tg__reply reply = decide(h, request, now_ms);
    if (wait != NULL) {
        *wait = (redis_wait){h, request, conn, started_us, now_ms, state};
        if (redis_park(wait, &reply)) {
            h->daemon->metrics = before;
            h->daemon->metrics.requests++;
            tg__conn_hold(conn);
            return true;
        }
    }
    h->daemon->metrics.requests++;
    answer(h, request, conn, started_us, reply, true);
    return true;
}

/* The rest of a decided request: parked as a long poll, or its reply into the open batch.
 * `hold`: take a reference on conn (a resumed request holds one already). */
static void answer(tg__http *h, struct evhttp_request *request, tg__conn *conn, int64_t started_us,
                   tg__reply reply, bool hold) {
    if (reply.status == TG__STATUS_WAITING) {
        if (!hold) {
            tg__conn_release(conn); /* park takes its own */
        }
        park(h, request, conn, &reply, started_us);
        return;
    }
    if (reply.status != 200 && reply.status != 402) {
        h->daemon->metrics.errors++;
    }
    if (h->open->count >= TG__REPLIES_MAX) { /* decided waiters may have passed it */
        /* Backpressure: a full batch waits for the writer rather than grow. */
        if (tg__writer_busy(h->writer)) {
            tg__writer_wait(h->writer); /* reports, and flushes the full batch */
        } else {
            flush(h, false);
        }
    }
    if (hold) {
        tg__conn_hold(conn);
    }
    h->open->items[h->open->count++] = (pending){request, conn, reply, started_us};
    event_active(h->flush, EV_WRITE, 0);
}

static const route ROUTES[] = {
    {NULL, "/metrics", ROUTE_AUTH_METRICS, route_metrics}, /* Prometheus text (metrics.c) */
    {NULL, "", ROUTE_AUTH_NONE, route_console},            /* / and /ui/ (console_assets.c) */
    {NULL, "", ROUTE_AUTH_OWN, route_proxy},               /* the LLM proxy (src/proxy/runtime) */
    {NULL, "", ROUTE_AUTH_OWN, route_mcp},                 /* MCP over HTTP (src/mcp/http) */
    {NULL, "", ROUTE_AUTH_OWN, route_stream},              /* GET /v1/events/stream (src/api) */
    {NULL, "", ROUTE_AUTH_OWN, route_api},                 /* the JSON API, 404 included */
};

static bool route_matches(const route *r, struct evhttp_request *request, const char *uri) {
    if (r->method != NULL && strcmp(r->method, method_name(request)) != 0) {
        return false;
    }
    size_t length = strlen(r->path);
    if (strncmp(uri, r->path, length) != 0) {
        return false;
    }
    return length == 0 || r->path[length - 1] == '/' || uri[length] == '\0' || uri[length] == '?';
}

static void on_request(struct evhttp_request *request, void *user) {
    tg__http *h = user;
    int64_t started_us = tg__clock_monotonic_us();
    tg__conn *conn = tg__conns_adopt(h->conns, request);
    if (conn == NULL || conn->refused) {
        h->daemon->metrics.connections_refused++;
        tg__reply refused =
            tg__api_error(503, "too_many_connections",
                          "the daemon holds limits.connections_max connections; retry shortly");
        refused.retry_after_ms = 1000;
        send_reply(request, &refused, true);
        return;
    }
    const char *uri = evhttp_request_get_uri(request);
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        const route *r = &ROUTES[i];
        if (!route_matches(r, request, uri)) {
            continue;
        }
        if (r->auth == ROUTE_AUTH_METRICS) {
            tg__reply refused = metrics_refusal(h, request);
            if (refused.status != 0) {
                h->daemon->metrics.errors++;
                send_reply(request, &refused, false);
                return;
            }
        }
        if (r->handle(h, request, conn, started_us)) {
            return;
        }
    }
}

/* ---- requests waiting for Redis (store_redis.h): decided again when it answers ---------- */

/* Ends a pass: true when the Redis store parked the request (its reply is thrown away
 * and `wait` kept until redis_resume), false when the reply stands (`wait` is freed). */
static bool redis_park(redis_wait *wait, tg__reply *reply) {
    if (tg__store_redis_leave(&wait->state, wait)) {
        json_decref(reply->body);
        return true;
    }
    free(wait);
    return false;
}

static void redis_resume(void *user, void *token) {
    redis_wait *wait = token;
    tg__http *h = user;
    struct evhttp_request *request = wait->request;
    tg__conn *conn = wait->conn;
    if (conn->closed || evhttp_request_get_connection(request) == NULL) {
        tg__store_redis_abandon(&wait->state); /* the client left: nothing to answer */
        tg__conn_release(conn);
        free(wait);
        return;
    }
    int64_t started_us = wait->started_us;
    tg__metrics before = h->daemon->metrics;
    tg__store_redis_enter(&wait->state);
    tg__reply reply = decide(h, request, wait->now_ms);
    if (redis_park(wait, &reply)) {
        h->daemon->metrics = before; /* counted by its last pass */
    } else {
        answer(h, request, conn, started_us, reply, false); /* conn's reference passes on */
    }
}

/* ---- the daemon's calls ---------------------------------------------------------------- */

void tg__http_tick(tg__http *h) {
    tg_error err = {0};
    if (tg_engine_tick(h->daemon->engine, tg__now_ms(), &err) != TG_OK && !h->store_failed) {
        fprintf(stderr, "tollgate: tick: %s\n", err.message);
    }
    flush(h, true); /* expired holds, rolled windows, and refusal events go to disk */
}

static void on_deadline(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    tg__http *h = user;
    h->armed_ms = INT64_MAX;
    tg__http_tick(h);
}

int tg__http_port(const tg__http *h) {
    return h->port;
}

size_t tg__http_routes_count(void) {
    return sizeof ROUTES / sizeof ROUTES[0];
}

void tg__http_flush_soon(tg__http *h) {
    event_active(h->flush, EV_WRITE, 0);
}

void tg__http_stop_listening(tg__http *h) {
    tg__conns_stop_listening(h->conns);
}

bool tg__http_idle(const tg__http *h) {
    return !tg__writer_busy(h->writer) && h->open->count == 0 && h->writing->count == 0;
}

static bool bind_listener(tg__http *h, const tg__config *config, int port) {
    errno = 0;
    struct evhttp_bound_socket *socket =
        evhttp_bind_socket_with_handle(h->server, config->address, (ev_uint16_t)port);
    if (socket == NULL) {
        /* libevent keeps errno from the failed getaddrinfo, socket, bind or listen. */
        int why = errno;
        fprintf(stderr, "tollgate: cannot listen on %s:%d: %s%s\n", config->address, port,
                why != 0 ? strerror(why) : "the address does not resolve to one to listen on",
                why == EADDRINUSE ? " (is another tollgate or program using this port?)"
                : why == EACCES   ? " (ports below 1024 need privileges)"
                                  : "");
        return false;
    }
    /* libevent listens with a backlog of 128: a burst of new connections beyond it (512
     * agents starting at once) loses SYNs and waits a one-second retransmit. Calling
     * listen again raises the backlog to the system's maximum (net.core.somaxconn). */
    listen(evhttp_bound_socket_get_fd(socket), SOMAXCONN);
    if (!tg__conns_listen(h->conns, socket)) {
        fprintf(stderr, "tollgate: cannot start the overflow listener\n");
        return false;
    }
    struct sockaddr_storage address;
    ev_socklen_t length = sizeof address;
    getsockname(evhttp_bound_socket_get_fd(socket), (struct sockaddr *)&address, &length);
    /* Tests and scripts read this line to find a port chosen by the kernel. */
    h->port = ntohs(((struct sockaddr_in *)&address)->sin_port);
    printf("tollgate: listening on http://%s:%d\n", config->address, h->port);
    fflush(stdout);
    return true;
}

tg__http *tg__http_start(struct event_base *base, tg__daemon *daemon, const tg__config *config,
                         int port) {
    tg__http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return NULL;
    }
    h->daemon = daemon;
    h->base = base;
    h->open = &h->lists[0];
    h->writing = &h->lists[1];
    h->strict = config->durability == TG_DURABILITY_STRICT;
    h->header_size_max_bytes = config->header_size_max_bytes;
    h->body_size_max_bytes = config->body_size_max_bytes;
    tg__conns_options limits = {config->connections_max, config->header_size_max_bytes,
                                config->body_size_max_bytes, config->header_timeout_s,
                                config->body_timeout_s};
    h->server = evhttp_new(base);
    h->conns = h->server ? tg__conns_new(base, h->server, &limits) : NULL;
    h->writer = tg__writer_start(base, on_written, h);
    h->flush = event_new(base, -1, 0, on_flush, h);
    h->deadline = evtimer_new(base, on_deadline, h);
    h->sweep = evtimer_new(base, on_sweep, h);
    h->parked = calloc(TG_WAITERS_MAX, sizeof *h->parked);
    h->armed_ms = INT64_MAX;
    if (h->server == NULL || h->conns == NULL || h->writer == NULL || h->flush == NULL ||
        h->deadline == NULL || h->sweep == NULL || h->parked == NULL) {
        fprintf(stderr, "tollgate: cannot start the HTTP server (out of memory or threads)\n");
        tg__http_finish(h);
        return NULL;
    }
    daemon->conns = h->conns;
    daemon->wait_cancelled = on_wait_cancelled;
    daemon->wait_cancelled_user = h;
    event_priority_set(h->flush, 2);
    evhttp_set_max_headers_size(h->server,
                                (ev_ssize_t)(2 * config->header_size_max_bytes + READ_SLACK_BYTES));
    evhttp_set_max_body_size(h->server,
                             (ev_ssize_t)(2 * config->body_size_max_bytes + READ_SLACK_BYTES));
    evhttp_set_timeout(h->server, (int)config->request_timeout_s);
    /* Every method reaches the router, which answers 405 in JSON. */
    evhttp_set_allowed_methods(h->server, 0xffff);
    evhttp_set_gencb(h->server, on_request, h);
    if (!bind_listener(h, config, port >= 0 ? port : config->port)) {
        tg__http_finish(h);
        return NULL;
    }
    tg_error err = {0};
    if (tg__store_redis_async(base, redis_resume, h, &err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start: %s\n", err.message);
        tg__http_finish(h);
        return NULL;
    }
    tg__http_tick(h); /* holds that expired while the daemon was down; arms the deadline */
    return h;
}

/* Stopping: every long poll is answered 503 now, its waiter cancelled (nothing held). */
void tg__http_refuse_waiting(tg__http *h) {
    while (h->parked_count > 0) {
        parked p = h->parked[--h->parked_count];
        tg_wait_cancel(h->daemon->engine, p.wait_id, tg__now_ms(), NULL);
        tg__reply reply = tg__api_error(503, "shutting_down",
                                        "the daemon is stopping; nothing was held for this "
                                        "request: send it again");
        reply.retry_after_ms = 1000;
        if (!client_gone(&p)) {
            send_reply(p.request, &reply, true);
        } else {
            json_decref(reply.body);
        }
        tg__conn_release(p.conn);
    }
}

bool tg__http_finish(tg__http *h) {
    if (h == NULL) {
        return true;
    }
    if (h->parked != NULL && h->daemon->engine != NULL) {
        tg__http_refuse_waiting(h);
    }
    if (h->writer != NULL) {
        /* Whatever is still decided but unanswered: commit it and answer it. */
        while (tg__writer_busy(h->writer) || h->open->count > 0) {
            tg__writer_wait(h->writer);
            flush(h, true);
        }
        h->stopping = true;
        tg__writer_stop(h->writer);
        h->writer = NULL;
    }
    send_all(h, h->open);
    send_all(h, h->writing);
    /* The pipeline kept the engine inside a batch; with no writer left, end it here. */
    tg_error err = {0};
    bool ok = tg_engine_batch_end(h->daemon->engine, &err) == TG_OK && !h->store_failed;
    if (h->conns != NULL) {
        tg__conns_stop_listening(h->conns);
    }
    if (h->server != NULL) {
        evhttp_free(h->server); /* closes every connection; their close callbacks run */
    }
    tg__conns_free(h->conns);
    if (h->flush != NULL) {
        event_free(h->flush);
    }
    if (h->deadline != NULL) {
        event_free(h->deadline);
    }
    if (h->sweep != NULL) {
        event_free(h->sweep);
    }
    free(h->parked);
    h->daemon->conns = NULL;
    h->daemon->wait_cancelled = NULL;
    free(h);
    return ok;
}
