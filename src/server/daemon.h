/*
 * daemon: the state of a running `tollgate serve`, shared by the loop (http.c,
 * serve.c) and the request handlers (api*.c). Owned by the loop thread only; the
 * writer thread sees nothing of it but the commits it is handed (writer.h).
 */
#ifndef TG_SERVER_DAEMON_H
#define TG_SERVER_DAEMON_H

#include <jansson.h>

#include "server/server.h"

struct sqlite3;
struct tg__conns;

/* Histogram bounds for request and commit latency, in µs; a last +Inf bucket follows. */
#define TG__LATENCY_BOUNDS_US                                                                      \
    { 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000 }
#define TG__LATENCY_BUCKETS 12 /* the bounds above and +Inf */

typedef struct {
    uint64_t buckets[TG__LATENCY_BUCKETS]; /* not cumulative; metrics.c sums them */
    uint64_t count;
    uint64_t sum_us;
} tg__histogram;

/* Counters for GET /metrics. Plain integers: only the loop thread touches them. */
typedef struct {
    uint64_t requests;                 /* HTTP requests answered */
    uint64_t granted;                  /* holds and charges granted */
    uint64_t refused[TG_REASON_COUNT]; /* refusals by reason */
    uint64_t errors;                   /* 4xx/5xx other than 402 */
    tg__histogram latency;             /* request in to reply out, group commit included */
    uint64_t commits;                  /* group commits written */
    uint64_t commit_failures;          /* group commits the store refused */
    uint64_t commit_replies;           /* replies that waited on a group commit */
    tg__histogram commit_latency;      /* one group commit: transaction and fsync */
    uint64_t connections_refused;      /* first requests past connections_max */
} tg__metrics;

typedef struct {
    tg_engine *engine;        /* owned; loop thread only */
    tg__config *config;       /* owned; replaced on SIGHUP */
    const char *admin_secret; /* TOLLGATE_ADMIN_KEY, or NULL */
    tg__metrics metrics;
    struct sqlite3 *reader;           /* read-only connection to the SQLite file, or NULL */
    const struct tg__conns *conns;    /* open connections, for /metrics */
    struct tg__notifier *notifier;    /* src/notify's sender (owned by serve.c), or NULL */
    struct tg__proxy *proxy;          /* the LLM proxy (owned by serve.c), or NULL: proxy.h */
    struct tg__mcp_http *mcp;         /* MCP over HTTP (owned by serve.c), or NULL: mcp_http.h */
    struct tg__streams *streams;      /* GET /v1/events/stream (owned by serve.c), or NULL */
    tg_event events[TG__EVENTS_KEPT]; /* memory store: ring of the latest events */
    uint64_t events_total;            /* events seen since start */
} tg__daemon;

/* What a handler answers: an HTTP status and a JSON body (owned: the caller decrefs). */
typedef struct {
    int status;
    json_t *body;
    int64_t retry_after_ms; /* TG_NONE, or a Retry-After to send */
} tg__reply;

/* The caller's identity after authentication. */
typedef struct {
    tg__role role;
    const char *scope; /* "" for everything */
} tg__caller;

/* Decides one HTTP request. `body` may be NULL. Never fails: errors are replies. */
tg__reply tg__api_handle(tg__daemon *daemon, const char *method, const char *uri,
                         const char *authorization, const char *body, size_t body_size,
                         int64_t now_ms);

/* Builds an error reply {"error":{"code","message"}}. */
tg__reply tg__api_error(int status, const char *code, const char *message);

/* GET /v1/charges: charges after id `after_id` in [since_ms, until_ms), paged. */
tg__reply tg__charges_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                           int64_t since_ms, int64_t until_ms, int64_t after_id, int64_t limit);

/*
 * The daemon's read-only connection to the SQLite file (opened at first use), for
 * paging charges, events and history without touching the engine's connection,
 * which belongs to the writer thread. NULL on the memory store or when the file
 * cannot be opened (with a reply to send in *error_out).
 */
struct sqlite3 *tg__reader(tg__daemon *daemon, tg__reply *error_out);
void tg__reader_close(tg__daemon *daemon);

/* Prometheus text for GET /metrics; from malloc, caller frees. */
char *tg__metrics_text(tg__daemon *daemon, int64_t now_ms);
/* Counts one observation of `us` microseconds. */
void tg__histogram_observe(tg__histogram *histogram, int64_t us);

/* The engine's event callback: keeps the event for GET /v1/events (memory store). */
void tg__daemon_on_event(void *user, const tg_event *event);

int64_t tg__now_ms(void);

#endif
