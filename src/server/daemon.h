/*
 * daemon: the state of a running `tollgate serve`, shared by the loop (http.c)
 * and the request handlers (api.c). Owned by the loop thread only.
 */
#ifndef TG_SERVER_DAEMON_H
#define TG_SERVER_DAEMON_H

#include <jansson.h>

#include "server/server.h"

/* Counters for GET /metrics. Plain integers: only the loop thread touches them. */
typedef struct {
    uint64_t requests;                      /* HTTP requests answered */
    uint64_t granted;                       /* holds and charges granted */
    uint64_t refused[TG_REASON_TOKENS + 1]; /* refusals by reason */
    uint64_t errors;                        /* 4xx/5xx other than 402 */
    uint64_t latency_buckets[8];            /* request latency histogram, see api.c */
    uint64_t latency_count;
    uint64_t latency_sum_us;
    uint64_t commits;               /* group commits written */
    uint64_t commit_latency_sum_us; /* time spent in batch_end */
} tg__metrics;

typedef struct {
    tg_engine *engine;        /* owned; loop thread only */
    tg__config *config;       /* owned; replaced on SIGHUP */
    const char *admin_secret; /* TOLLGATE_ADMIN_KEY, or NULL */
    tg__metrics metrics;
    tg_event events[TG__EVENTS_KEPT]; /* ring of the latest events */
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

/* Prometheus text for GET /metrics; from malloc, caller frees. */
char *tg__metrics_text(tg__daemon *daemon, int64_t now_ms);

/* The engine's event callback: keeps the event for GET /v1/events. */
void tg__daemon_on_event(void *user, const tg_event *event);

int64_t tg__now_ms(void);

#endif
