/*
 * redis_async: the Redis ledger's asynchronous, pipelined connection on the
 * daemon's libevent loop (hiredis's libevent adapter), so many requests are in
 * flight on one connection and Redis makes one appendfsync-always fsync for all
 * of them (it fsyncs once per turn of its own loop).
 *
 * The ledger's operations stay synchronous functions (engine/ledger_ops.h); a
 * request is made asynchronous by running its handler in passes (replay):
 *
 *   1. The daemon calls tg__redis_async_enter(ledger, &state) and runs the
 *      request's handler. The first store call the handler makes that has no
 *      answer yet is sent on the async connection, and the call returns
 *      TG_ERR_IO ("parked"); whatever the handler answers is thrown away.
 *   2. tg__redis_async_leave says the request is parked. When Redis answers (or
 *      the call times out, or the connection drops) `resume(user, token)` runs
 *      on the loop, and the daemon runs the handler again from the start, with
 *      the same inputs and the same now_ms.
 *   3. In that pass the calls already answered get their remembered answers, in
 *      order (each checked to be the same command as the first time), and the
 *      next unanswered call parks again; when none parks, the handler's answer
 *      is the request's answer and leave frees the state.
 *
 * So a handler must be deterministic given its inputs and the store's answers
 * (the API handlers are: they parse, check, call the ledger, and build JSON);
 * a request with N store calls (a batch) takes N round trips.
 *
 * Bounds: every call in flight is answered within timeout_ms: when the oldest
 * passes its deadline the connection is dropped, and every call on it is
 * answered TG_ERR_IO (the daemon's 503 store_unavailable). The next call
 * reconnects (after retry_interval_ms; calls before it fail at once, not parked).
 * A reconnect sends AUTH, SELECT and FUNCTION LOAD REPLACE before the calls it
 * carries, so a server restarted without its data gets the library back.
 * Calls outside a pass (start-up, reload, ticks, the proxy) use the synchronous
 * connection (redis_conn.h).
 */
#ifndef TG_STORE_REDIS_ASYNC_H
#define TG_STORE_REDIS_ASYNC_H

#include <event2/event.h>
#include <stdbool.h>

#include "store/redis/redis_ledger.h"

#define TG__REDIS_PASS_CALLS_MAX 1024 /* store calls one request may make (a batch of 1000) */

/* Runs on the loop thread when a parked request's call is answered: run it again. */
typedef void (*tg__redis_resume_fn)(void *user, void *token);

/*
 * Makes calls made inside a pass use an async connection on `base` (connected on first
 * use). TG_ERR_NOMEM, TG_ERR_IO (no timer). Call once, after open.
 */
tg_status tg__redis_async_start(tg__redis_ledger *ledger, struct event_base *base,
                                tg__redis_resume_fn resume, void *user, tg_error *err);

/* Starts a pass of a request: *state is NULL on its first pass, then whatever leave left. */
void tg__redis_async_enter(tg__redis_ledger *ledger, void **state);

/*
 * Ends the pass. True: the request is parked (its answer this pass is to be thrown
 * away) and resume(user, token) will run. False: the answer stands; *state is freed and
 * NULL.
 */
bool tg__redis_async_leave(tg__redis_ledger *ledger, void **state, void *token);

/* Calls in flight on the async connection now, for tests and /metrics. */
int tg__redis_async_in_flight(const tg__redis_ledger *ledger);

#endif
