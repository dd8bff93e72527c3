/*
 * daemon: the state of a running `tollgate serve`, shared by the loop (http.c,
 * serve.c) and the request handlers (api*.c). Owned by the loop thread only; the
 * writer thread sees nothing of it but the commits it is handed (writer.h).
 */
#ifndef TG_SERVER_DAEMON_H
#define TG_SERVER_DAEMON_H

#include <jansson.h>

#include "config/config.h"
#include "server/loop.h"

struct tg__store_reader;
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
    uint64_t waits_granted;            /* waiting holds granted (long polls answered 200) */
    uint64_t waits_refused;            /* ... refused at or before their deadline */
    uint64_t waits_abandoned;          /* ... whose client left: cancelled, or released */
    uint64_t cost_reports;             /* proxy: calls whose upstream reported its cost */
    uint64_t cost_disagreements;       /* ... where it differed from the proxy's own price */
} tg__metrics;

typedef struct {
    tg_engine *engine;           /* owned; loop thread only */
    tg__config *config;          /* owned; replaced by a reload */
    const char *config_file;     /* the file a reload reads */
    const char *admin_secret;    /* TOLLGATE_ADMIN_KEY, or NULL */
    struct tg__keyring *keyring; /* owned: every key accepted now (keyring.h); NULL: none */
    tg__metrics metrics;
    struct tg__store_reader *reader; /* read-only connection to the SQLite file, or NULL */
    const struct tg__conns *conns;   /* open connections, for /metrics */
    struct tg__notifier *notifier;   /* src/notify's sender (owned by serve.c), or NULL */
    struct tg__proxy *proxy;         /* the LLM proxy (owned by serve.c), or NULL: proxy.h */
    struct tg__mcp_http *mcp;        /* MCP over HTTP (owned by serve.c), or NULL: mcp_http.h */
    struct tg__streams *streams;     /* GET /v1/events/stream (owned by serve.c), or NULL */
    struct event_base *base;         /* the loop (serve.c), for what a reload starts */
    void (*flush)(void *user);       /* commits a settle made outside a request soon */
    /* Answers the long poll of a waiter cancelled over the API (http.c); NULL: none. */
    void (*wait_cancelled)(void *user, uint64_t wait_id);
    void *wait_cancelled_user;
    void *flush_user;
    tg_event events[TG__EVENTS_KEPT]; /* memory store: ring of the latest events */
    uint64_t events_total;            /* events seen since start */
} tg__daemon;

/* What a handler answers: an HTTP status and a JSON body (owned: the caller decrefs). */
typedef struct {
    int status;
    json_t *body;
    int64_t retry_after_ms; /* TG_NONE, or a Retry-After to send */
} tg__reply;

/* The caller's identity after authentication: a copy, valid whatever the keys do next. */
typedef struct {
    tg__role role;
    char scope[TG_PATH_SIZE_MAX]; /* "" for everything */
    tg_class class_max;           /* the highest class its actions may get */
    char name[64];                /* the key's name, for messages */
    /* The first 8 bytes of the key's SHA-256 as hex: the caller's own space of
     * idempotency keys, so that one key can neither take nor read another's. */
    char key_id[17];
    unsigned char sha256[TG__SHA256_SIZE]; /* the key's hash, to find it again */
} tg__caller;

/* Decides one HTTP request. `body` may be NULL. Never fails: errors are replies. */
tg__reply tg__api_handle(tg__daemon *daemon, const char *method, const char *uri,
                         const char *authorization, const char *body, size_t body_size,
                         int64_t now_ms);

/* Not an HTTP status: POST /v1/holds with wait_ms queued a waiter; the body is
 * {"wait_id": N} and the real reply comes when it is decided (http.c parks the request). */
#define TG__STATUS_WAITING 1

/* The reply of a decided waiter (api_holds.c): 200 granted, 402 refused, or an error. */
tg__reply tg__api_wait_reply(tg__daemon *daemon, const tg_wait_result *decided);

/* GET /v1/holds?state=waiting: the waiters of `budget`'s subtree (api_holds.c). */
tg__reply tg__api_waiting_list(tg__daemon *daemon, const tg__caller *caller, const char *budget);

/* POST /v1/waits/{id}/cancel (api_holds.c). */
tg__reply tg__api_wait_cancel(tg__daemon *daemon, const tg__caller *caller, uint64_t wait_id,
                              int64_t now_ms);

/* Builds an error reply {"error":{"code","message"}}. */
tg__reply tg__api_error(int status, const char *code, const char *message);

/* The filters of GET /v1/charges beyond budget and time: each "" for any (charges.c). */
typedef struct {
    char model[TG_NAME_SIZE_MAX];
    char key[64];
    char user[128];
    char tag[64];
    char provider[32];
} tg__charges_filter;

/* GET /v1/charges: charges after id `after_id` in [since_ms, until_ms), paged, each with
 * its proxied call's spend-log fields (docs/api.md). filter may be NULL. */
tg__reply tg__charges_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                           int64_t since_ms, int64_t until_ms, int64_t after_id, int64_t limit,
                           const tg__charges_filter *filter);

/* GET /v1/holds: open holds of `budget`'s subtree with an id above `after_id`, paged
 * (holds.c, for the console's budget page and its "release a stuck hold"). */
tg__reply tg__holds_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                         int64_t after_id, int64_t limit);

/*
 * The daemon's read-only connection to the SQLite file (opened at first use;
 * src/store/store_read.h), for paging charges, events and history without touching the
 * engine's connection, which belongs to the writer thread. NULL on the memory store or
 * when the file cannot be opened (with a reply to send in *error_out).
 */
struct tg__store_reader *tg__reader(tg__daemon *daemon, tg__reply *error_out);
void tg__reader_close(tg__daemon *daemon);

/* A page read through the reader, becoming a reply: the JSON rows so far and the last id
 * listed, which the reply names `next` (the cursor for the following page). */
typedef struct {
    json_t *rows;
    int64_t next;
} tg__json_page;

/* 200 {"<name>": rows, "next": next} when the read returned TG_OK; otherwise the rows are
 * dropped and the answer is 503 store_unavailable with the read's message. */
tg__reply tg__json_page_reply(const char *name, tg__json_page *page, tg_status status,
                              const tg_error *err);

/* Prometheus text for GET /metrics; from malloc, caller frees. */
char *tg__metrics_text(tg__daemon *daemon, int64_t now_ms);
/* Counts one observation of `us` microseconds. */
void tg__histogram_observe(tg__histogram *histogram, int64_t us);

/*
 * Authenticates an Authorization header value ("Bearer <secret>"; NULL: none) against
 * the keyring (auth.c). False: unknown or missing key (answer 401).
 */
bool tg__authenticate(const tg__daemon *daemon, const char *authorization, tg__caller *out);
/* The key of a bearer secret, or NULL. Valid until the keys change. */
const tg__key *tg__daemon_key_find(const tg__daemon *daemon, const char *secret);
/* The keys changed (a reload, or a key created, revoked, rotated): rebuilds the keyring and
 * ends the event streams of keys that are gone or changed. */
void tg__daemon_keys_changed(tg__daemon *daemon);
/* The class to ask the engine for an action of `caller`: TG_CLASS_AUTO (the policy decides)
 * when the policy's class for budget, tool and model is within the key's class_max, else
 * class_max itself: the policy may lower a key's work, never raise it past that. */
tg_class tg__caller_class(const tg__daemon *daemon, const tg__caller *caller, const char *budget,
                          const char *tool, const char *model);

/* The engine's event callback: keeps the event for GET /v1/events (memory store). */
void tg__daemon_on_event(void *user, const tg_event *event);

#endif
