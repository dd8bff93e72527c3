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
 * A collect copies new events into the ledger-wide stream: first the trees this process
 * touched, then the next TG__REDIS_SWEEP_TREES trees in turn (as many as the calls allow
 * while more were touched than TG__REDIS_DIRTY_MAX), in at most TG__REDIS_COLLECT_CALLS_MAX
 * calls, then reads the stream's last number. A tree not finished is taken up first by the
 * next collect.
 *
 * begin takes the trees touched so far and saves the state; run does the work, through
 * tg__redis_call: on the synchronous connection, or inside a pass of the async one
 * (redis_async.h), where it is run again from the saved state at each pass until no call
 * parks; end drops the saved state. A run that fails keeps what it did (positions are only
 * hints: tg_collect compares them). *copied_out (may be NULL) counts the events appended;
 * *last_id_out (may be NULL) is the ledger-wide stream's last number then. Errors: TG_ERR_IO,
 * TG_ERR_NOMEM (begin: the state cannot be saved; run then goes on from it unsaved, which
 * is only safe outside a pass).
 */
tg_status tg__redis_collect_begin(tg__redis_ledger *ledger, tg_error *err);
tg_status tg__redis_collect_run(tg__redis_ledger *ledger, int64_t *copied_out,
                                uint64_t *last_id_out, tg_error *err);
void tg__redis_collect_end(tg__redis_ledger *ledger);

/* begin, run and end on the synchronous connection (outside any pass). */
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
