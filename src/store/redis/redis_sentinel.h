/*
 * redis_sentinel: where the primary is, asked of Redis Sentinel before every connect when
 * `store.url` is redis-sentinel://...#master (redis_url.h). The sentinels are asked in the
 * order the URL gives, and the first that names the master wins; nothing is cached, so a
 * connection dropped by a failover (the old primary gone, or answering READONLY as a
 * replica, or refusing FUNCTION LOAD) finds the new primary at its next connect.
 *
 * The question is synchronous, also for the daemon's async connection: a sentinel on a
 * reachable host answers in a round trip, and one that is down refuses at once; one that
 * drops packets costs at most TG__REDIS_SENTINEL_TIMEOUT_MS (or the store's timeout, if
 * shorter), once per retry interval, since a failed connect is not tried again before it.
 */
#ifndef TG_STORE_REDIS_SENTINEL_H
#define TG_STORE_REDIS_SENTINEL_H

#include "store/redis/redis_conn.h"

#define TG__REDIS_SENTINEL_TIMEOUT_MS 250 /* connect and answer, per sentinel asked */

/*
 * Sets conn->host and conn->port to the master conn->sentinels names. A no-op (TG_OK) when
 * conn->sentinels is NULL or empty. TG_ERR_IO when no sentinel names it, with each
 * sentinel's reason (unreachable, an error reply, "no master named X").
 */
tg_status tg__redis_sentinel_resolve(tg__redis_conn *conn, tg_error *err);

#endif
