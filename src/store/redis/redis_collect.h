/*
 * redis_collect: the Redis ledger's events in one order, for a reader whose cursor is one
 * number (events_since, GET /v1/events, the SSE stream's Last-Event-ID).
 *
 * Every decision writes its events to its tree's stream (redis_events.h), numbered within
 * the tree; the trees are in no order among themselves. The collector copies each tree's new
 * events into one ledger-wide stream in the registry's slot ("tg:{roots}:events"), whose own
 * numbers 1, 2, 3, ... are the events' ids there. A copy is two calls, one per slot (a tree
 * and the registry may be on two masters of a cluster): tg_events_pack reads a batch of the
 * tree's events after its copied position, tg_collect appends the batch only if that
 * position is still the one it was read after, and advances it in the same atomic call. So
 * every event is copied exactly once, in its tree's order, whichever processes collect at
 * once, and a process killed between the two calls has copied nothing.
 *
 * Which trees have new events: those this process's own decisions touched since its last
 * collect (remembered as the calls are answered: no call of their own), and, in turn, a
 * slice of every tree (one call a tree: what catches the events of a process that died
 * before copying them, or of one that never collects, as `tollgate mcp` or the CLI). The
 * cost is in calls per tree, never per budget.
 */
#ifndef TG_STORE_REDIS_COLLECT_H
#define TG_STORE_REDIS_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "store/redis/redis_ledger.h"
#include "tollgate.h"

#define TG__REDIS_COLLECT_CALLS_MAX 128 /* Redis calls one collect makes, at most */
#define TG__REDIS_COLLECT_BATCH 256     /* events one copy moves, at most */
#define TG__REDIS_SWEEP_TREES 16        /* trees looked at in turn per collect */
#define TG__REDIS_DIRTY_MAX 256         /* trees remembered as touched between collects */

/*
 * Copies new events into the ledger-wide stream: first the trees this process touched, then
 * the next TG__REDIS_SWEEP_TREES trees in turn (all of them, as far as the calls go, when more
 * were touched than TG__REDIS_DIRTY_MAX), in at most TG__REDIS_COLLECT_CALLS_MAX calls on the
 * synchronous connection. *copied_out (may be NULL) counts the events this call appended. A
 * tree not finished stays remembered for the next collect. Errors: TG_ERR_IO.
 */
tg_status tg__redis_events_collect(tg__redis_ledger *ledger, int64_t *copied_out, tg_error *err);

/*
 * The ledger-wide events numbered after `after_id`, oldest first, at most `max` (any size;
 * read TG__REDIS_EVENTS_CALL_MAX a call), into out; *count_out of them; *last_id_out (may be
 * NULL) is the stream's last number. Nothing is collected. Errors: TG_ERR_IO.
 */
tg_status tg__redis_ledger_events(tg__redis_ledger *ledger, uint64_t after_id, tg_event *out,
                                  size_t max, size_t *count_out, uint64_t *last_id_out,
                                  tg_error *err);

/* The ledger-wide stream's last number (0: none yet) into *last_id_out. Errors: TG_ERR_IO. */
tg_status tg__redis_ledger_events_last(tg__redis_ledger *ledger, uint64_t *last_id_out,
                                       tg_error *err);

#endif
