/*
 * schedule: one sink's deliveries, decided in memory, no I/O and no clock of
 * its own (time comes in as monotonic milliseconds), so the rules are unit
 * tested on their own (tests/unit/test_notify_schedule.c).
 *
 * Events come in in id order (tg__sink_state_take). Each goes to the lane of
 * its budget: a lane sends one message at a time, oldest events first, so a
 * receiver sees each budget's events in id order; different budgets go in
 * parallel up to the sink's concurrency. A lane's next message is ready when
 *   - the lane is not in flight and its own retry wait is over;
 *   - immediate urgency, or digest and the oldest waiting event has waited
 *     within_ms, or a critical event waits, or batch_events_max are waiting;
 *   - for a run of refusals at the end of the lane (with aggregate_denied):
 *     denied_interval_ms has passed since the lane's last refusal message.
 *     A later event of another kind flushes the run at once, so order holds.
 * A failure puts the message's events back at the front of their lane and
 * backs off both the lane and the sink (while a sink fails, one message at a
 * time probes it); the first success after failures releases every lane.
 * Events of a sink that has failed for retry.give_up_after_ms, and that have
 * waited that long, are dead-lettered.
 *
 * The events held are a ring of TG__NOTIFY_WINDOW slots in id order; the
 * oldest unfinished one gives done_through (see outbox.h). Past the window the
 * sink reads no more until it drains: the outbox on disk is the buffer.
 */
#ifndef TG_NOTIFY_SCHEDULE_H
#define TG_NOTIFY_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify/item.h"
#include "notify/outbox.h"

#define TG__NOTIFY_WINDOW 4096                       /* events one sink holds in memory */
#define TG__NOTIFY_LANES_MAX (2 * TG__NOTIFY_WINDOW) /* budgets with events or recent refusals */
#define TG__NOTIFY_DEAD_MAX TG__NOTIFY_WINDOW        /* dead letters waiting to be saved */

typedef struct tg__sink_state tg__sink_state;

/* What one message carries. Made by tg__sink_state_next(); handed back to delivered/failed. */
typedef struct {
    int32_t lane;       /* the lane it came from */
    int64_t *positions; /* its events' ring positions, in id order (owned) */
    size_t positions_count;
    tg__notify_item *items; /* what the body says (owned) */
    size_t items_count;
    tg__urgency_mode urgency; /* of its budget */
    int64_t attempt;          /* 1 on the first try */
} tg__batch;

/*
 * A sink's state, from its saved progress: events up to done_through are
 * finished, and so are the ids in sent[] (taken: freed by the state).
 * `config` is borrowed and must outlive the state. NULL when out of memory.
 */
tg__sink_state *tg__sink_state_new(const tg__notify_config *config, int sink_index,
                                   uint64_t done_through, uint64_t *sent, size_t sent_count);
void tg__sink_state_free(tg__sink_state *state);

/* How many more events it can take now (0: the window or the lane table is full). */
size_t tg__sink_state_room(tg__sink_state *state, int64_t now_ms);
/* The highest event id taken; read on from here. */
uint64_t tg__sink_state_cursor(const tg__sink_state *state);
/* Takes the next event (id above the cursor; room() > 0), filtering it. */
void tg__sink_state_take(tg__sink_state *state, const tg_event *event, int64_t now_ms);

/*
 * The next message ready now, if any. Otherwise lowers *wake_at_ms to when one
 * could become ready (a retry, a digest's bound, a refusal interval); a
 * message finishing also makes others ready, and the caller asks again then.
 */
bool tg__sink_state_next(tg__sink_state *state, int64_t now_ms, tg__batch *out,
                         int64_t *wake_at_ms);
/* The receiver took the batch. Frees its arrays. */
void tg__sink_state_delivered(tg__sink_state *state, tg__batch *batch, int64_t now_ms);
/*
 * The attempt failed with `error` (a sentence). Waits at least retry_after_ms
 * (TG_NONE: none asked). `random` feeds the jitter. Frees the batch's arrays.
 */
void tg__sink_state_failed(tg__sink_state *state, tg__batch *batch, int64_t now_ms, uint32_t random,
                           const char *error, int64_t retry_after_ms);
void tg__batch_free(tg__batch *batch);

/* ---- what to save --------------------------------------------------------------------- */

uint64_t tg__sink_state_done_through(const tg__sink_state *state);
/* Ids finished above done_through and not saved yet, into ids[] (at most max). */
size_t tg__sink_state_unsaved(const tg__sink_state *state, uint64_t *ids, size_t max);
/* Dead letters not saved yet. */
const tg__outbox_dead *tg__sink_state_dead(const tg__sink_state *state, size_t *count_out);
/* After a successful save of the above: remembers they are saved. */
void tg__sink_state_saved(tg__sink_state *state);

/* ---- for monitoring and tests --------------------------------------------------------- */

typedef struct {
    int64_t waiting;   /* events taken, not yet sent */
    int64_t in_flight; /* messages being sent */
    int64_t failures;  /* the sink's failures in a row */
    int64_t delivered; /* events delivered since start */
    int64_t dead;      /* events dead-lettered since start */
    int64_t messages;  /* messages delivered since start */
} tg__sink_stats;

void tg__sink_state_stats(const tg__sink_state *state, tg__sink_stats *out);

#endif
