/*
 * store_redis: `store: {kind: redis, url: ..., timeout_ms: ...}` for the daemon. Opens the
 * Redis ledger (src/store/redis/) from the config and plugs it into the engine
 * (tg__engine_ledger_plug), so every reserve, commit, release, record and budget call of the
 * daemon is one atomic function call in Redis, shared by every daemon on that server.
 *
 * Two connections (docs/multi-node.md): API requests use an async, pipelined one on the
 * daemon's loop (store/redis/redis_async.h: a request waiting for Redis is parked and run
 * again when its answer comes, so many are in flight at once and Redis makes one fsync for
 * all of them); start-up, reloads, ticks and the proxy use a synchronous one. Both time out
 * after store.timeout_ms: a stopped or unreachable server gets every request answered 503
 * store_unavailable within about that bound, and calls fail at once for the reconnect
 * interval after a failure instead of each waiting.
 */
#ifndef TG_SERVER_STORE_REDIS_H
#define TG_SERVER_STORE_REDIS_H

#include "config/config.h"
#include "store/store_read.h"

/* After a failure, calls fail fast this long before a reconnect is tried. Short, so service
 * is back well within a second of the server's return. */
#define TG__STORE_REDIS_RETRY_INTERVAL_MS 200

/*
 * Connects to config->redis (AUTH with its user and password, SELECT its db, loads the
 * function library) and plugs the ledger into `engine`, which owns it from then on. Call
 * right after tg_engine_open. Errors: TG_ERR_IO (cannot reach or log in to the server),
 * TG_ERR_UNSUPPORTED (this build has no hiredis), TG_ERR_INVALID, TG_ERR_NOMEM.
 */
tg_status tg__store_redis_plug(const tg__config *config, tg_engine *engine, tg_error *err);

struct event_base;

/* Runs when a parked request's Redis call is answered: decide it again (http.c). */
typedef void (*tg__store_redis_resume_fn)(void *user, void *token);

/* Starts the async connection on `base` for the plugged ledger; TG_OK and nothing done
 * when no Redis ledger is plugged. */
tg_status tg__store_redis_async(struct event_base *base, tg__store_redis_resume_fn resume,
                                void *user, tg_error *err);

/* Around each decision of an API request (redis_async.h): `state` is NULL at first. leave
 * is true when the request is parked: throw its answer away, resume(user, token) follows.
 * abandon frees the state of a parked request whose client left. No-ops without Redis. */
void tg__store_redis_enter(void **state);
bool tg__store_redis_leave(void **state, void *token);
void tg__store_redis_abandon(void **state);

/* The plugged ledger's charges (store/redis/redis_read.h: pages may be short; the end is an
 * empty page). TG_ERR_UNSUPPORTED when no Redis ledger is plugged. */
tg_status tg__store_redis_read_charges(const tg__store_page *page, int64_t since_ms,
                                       int64_t until_ms, const char *model, tg__charge_visit visit,
                                       void *user, uint64_t *next_out, tg_error *err);

/* The ledger-wide events (store/redis/redis_collect.h), read without collecting: the ids of
 * GET /v1/events and the SSE stream on Redis. TG_ERR_UNSUPPORTED when no Redis ledger is
 * plugged. */
tg_status tg__store_redis_events_since(uint64_t after_id, tg_event *out, size_t max,
                                       size_t *count_out, tg_error *err);
tg_status tg__store_redis_events_last(uint64_t *last_id_out, tg_error *err);

/* The notifications given up on (store/redis/redis_dead.h: a page as SQLite's notify_dead
 * gives it), for GET /v1/notify/failed on Redis. TG_ERR_UNSUPPORTED when no Redis ledger is
 * plugged. */
tg_status tg__store_redis_dead_letters(const tg__store_page *page, tg__dead_letter_visit visit,
                                       void *user, tg_error *err);

/* How often the daemon collects the trees' new events into the ledger-wide stream. */
#define TG__STORE_REDIS_COLLECT_MS 100

/*
 * Starts the collector's timer on `base`: every TG__STORE_REDIS_COLLECT_MS, a bounded collect
 * (store/redis/redis_collect.h) run in passes of the async connection like a request, so a
 * slow or stopped server delays it, never the loop (on the synchronous fallback,
 * TOLLGATE_REDIS_SYNC=1, it is synchronous too); a tick finding the last collect still
 * waiting skips. `wake(user)` runs when a collect copied events or found the ledger-wide
 * stream's last id moved (another daemon copied). TG_OK and nothing done without a Redis
 * ledger. _stop drops a waiting collect and collects once more on the synchronous
 * connection (what this daemon decided is copied before it exits); a no-op when not
 * started.
 */
tg_status tg__store_redis_collector_start(struct event_base *base, void (*wake)(void *user),
                                          void *user, tg_error *err);
/* Stopping: no collect begins from now on (_stop still makes the last one). _busy: a collect
 * waits for Redis; the daemon drains until it has ended (its calls end within timeout_ms). */
void tg__store_redis_collector_pause(void);
bool tg__store_redis_collector_busy(void);

/* The ledger-wide stream's last id as the last collect read it (0 before the first): what
 * the SSE pump reads up to, without a call of its own. */
uint64_t tg__store_redis_events_known(void);
void tg__store_redis_collector_stop(void);

#endif
