/*
 * store_redis: `store: {kind: redis, url: ..., timeout_ms: ...}` for the daemon. Opens the
 * Redis ledger (src/store/redis/) from the config and plugs it into the engine
 * (tg__engine_ledger_plug), so every reserve, commit, release, record and budget call of the
 * daemon is one atomic function call in Redis, shared by every daemon on that server.
 *
 * A step, written as one (docs/multi-node.md): the connection is synchronous hiredis with
 * a short timeout (store.timeout_ms, default 500 ms) on connect and on every reply, on the
 * daemon's loop thread. A stopped or unreachable server costs at most one timeout per
 * reconnect interval; calls in between fail at once, so every request is answered 503
 * store_unavailable within about store.timeout_ms instead of hanging. hiredis's libevent
 * adapter (async, pipelined) is the next step.
 */
#ifndef TG_SERVER_STORE_REDIS_H
#define TG_SERVER_STORE_REDIS_H

#include "config/config.h"

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

#endif
