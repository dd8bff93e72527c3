/*
 * redis_read: the charges of the Redis ledger, paged by charge id, for GET /v1/charges and
 * `tollgate report` on `store: {kind: redis}` (docs/multi-node.md, "Charges").
 *
 * Each tree keeps its charges in a stream ("tg:{ROOT}:spend") whose entry ids are the
 * charges' sequences, trimmed to about its newest million (tollgate.lua, CHARGES_KEEP).
 * A page follows store_read.h's conventions (ids increasing, rows with id > after_id,
 * a budget filter is a subtree) with two differences:
 *   - A page may hold fewer than `limit` rows before the end: a read looks at a bounded
 *     number of entries (TG__REDIS_READ_CALLS_MAX calls of at most 1,000 entries each,
 *     so no read holds the server long). *next_out is where the next page starts, and
 *     the end is a page with no rows.
 *   - Without a budget filter, a page walks the trees in number order, one call per tree
 *     at least: an admin's read of every tree costs a round trip per tree.
 * The calls go through tg__redis_call, so inside a daemon's pass they are pipelined on
 * the async connection like the decisions (redis_async.h).
 */
#ifndef TG_STORE_REDIS_READ_H
#define TG_STORE_REDIS_READ_H

#include "store/redis/redis_ledger.h"
#include "store/store_read.h"

#define TG__REDIS_READ_CALLS_MAX 64 /* tg_charges calls one page makes, at most */

/*
 * Visits the charges of `page` (budget filter, after_id, limit) with since_ms <= time_ms <
 * until_ms and, when `model` is not "", that model, in id order. *next_out: the after_id
 * of the next page (the last id looked at, matched or not; page->after_id when none).
 * Errors: TG_ERR_IO (Redis unreachable, or a reply not as tollgate.lua answers),
 * TG_ERR_INVALID (a limit out of range).
 */
tg_status tg__redis_read_charges(tg__redis_ledger *ledger, const tg__store_page *page,
                                 int64_t since_ms, int64_t until_ms, const char *model,
                                 tg__charge_visit visit, void *user, uint64_t *next_out,
                                 tg_error *err);

#endif
