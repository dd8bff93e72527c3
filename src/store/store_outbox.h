/*
 * store_outbox: the notify sender's own connection to the store's SQLite file. The events
 * table is the durable outbox (an event is written in the same transaction as
 * the mutation that caused it); this connection reads it in id order and keeps
 * each sink's delivery state beside it, in tables the store creates at open
 * (store_sqlite_notify.c):
 *
 *   notify_sinks (name, done_through_id, updated_at_ms)
 *       every event id <= done_through_id is finished for that sink:
 *       delivered, not wanted by its filter, or dead-lettered
 *   notify_sent (sink, event_id)
 *       events finished out of order above done_through_id (another budget's
 *       event still in flight); deleted once done_through_id passes them
 *   notify_dead (sink, event_id, failed_at_ms, attempts, last_error)
 *       the dead-letter list: given up after retry.give_up_after_ms
 *
 * and sets events.delivered_at_ms once every configured sink is finished with
 * an event and none dead-lettered it. WAL lets this connection read while the
 * engine writes; its writes are one short transaction every few milliseconds
 * with synchronous=NORMAL (no fsync of its own: losing the last marks to a power
 * cut only sends those events again, with the same ids), so it holds the write
 * lock for well under a millisecond. Used by the sender thread only.
 */
#ifndef TG_STORE_STORE_OUTBOX_H
#define TG_STORE_STORE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "store/store_read.h"

/* last_error kept for a dead letter */
#define TG__NOTIFY_ERROR_SIZE TG__STORE_DEAD_ERROR_SIZE_MAX

typedef struct tg__outbox tg__outbox;

/* Ids a sink may have finished out of order above its position. The sender holds at most
 * 4096 events of a sink at a time (TG__NOTIFY_WINDOW), so more is a damaged file. */
#define TG__OUTBOX_SENT_MAX 65536

/*
 * Opens the store file (which the engine has created and migrated), checks it
 * is in WAL mode and has the events table, and creates the notify tables if
 * missing (the store makes them at its own open; a file no engine of this version has
 * opened yet may lack them). *out is freed with tg__outbox_close(). Errors: TG_ERR_IO,
 * TG_ERR_CORRUPT (not a Tollgate store), TG_ERR_NOMEM.
 */
tg_status tg__outbox_open(const char *path, tg__outbox **out, tg_error *err);
void tg__outbox_close(tg__outbox *outbox);

/*
 * Every call below that touches the file may fail with TG_ERR_STATE when the engine
 * held a lock for more than ~2 ms: nothing happened, try again shortly.
 */

/* Up to `max` events with id > after_id, in id order, into out[]; *count_out says how many. */
tg_status tg__outbox_read(tg__outbox *outbox, uint64_t after_id, tg_event *out, size_t max,
                          size_t *count_out, tg_error *err);

/*
 * A sink's saved progress. A sink never seen before starts after the newest
 * event older than `backfill_from_ms` (so adding a sink does not replay months
 * of history). *sent_out lists the ids above *done_through_out already
 * finished (from malloc, caller frees; NULL when none), at most TG__OUTBOX_SENT_MAX:
 * more is TG_ERR_CORRUPT.
 */
tg_status tg__outbox_sink_load(tg__outbox *outbox, const char *sink, int64_t backfill_from_ms,
                               uint64_t *done_through_out, uint64_t **sent_out,
                               size_t *sent_count_out, tg_error *err);

/* One sink's progress since the last save. */
typedef struct {
    const char *sink;
    uint64_t done_through; /* see notify_sinks */
    const uint64_t *sent;  /* ids finished above done_through, not saved before */
    size_t sent_count;
} tg__outbox_progress;

/* One dead letter. */
typedef struct {
    const char *sink;
    uint64_t event_id;
    int64_t attempts;
    char error[TG__NOTIFY_ERROR_SIZE];
} tg__outbox_dead;

/*
 * Saves progress and dead letters in one short transaction, and marks
 * delivered_at_ms = now_ms on events in (delivered_after, delivered_through]
 * that no sink dead-lettered. Errors leave nothing saved (the caller keeps
 * its progress and tries again): TG_ERR_IO, including a lock held past the
 * busy timeout.
 */
tg_status tg__outbox_save(tg__outbox *outbox, const tg__outbox_progress *progress, size_t count,
                          const tg__outbox_dead *dead, size_t dead_count, uint64_t delivered_after,
                          uint64_t delivered_through, int64_t now_ms, tg_error *err);

/* ---- the sender's source of events ---------------------------------------------------- */

/*
 * Where a notifier reads events and keeps its progress: this file's outbox (the SQLite
 * store), or a Redis consumer group per sink (store/redis/redis_notify.h). The sender sees
 * the same calls either way: a sink's events come with ids above its cursor, in ascending
 * order; `save` hears which are finished; `keep` runs instead of `read` while the sink is
 * full. A source may number events in its own order:
 * event_id gives the id a receiver is told (NULL: the ids are the events' own).
 * Every function runs on the sender thread only; `sink` is the sink's index in the config.
 */
typedef struct {
    tg_status (*sink_load)(void *self, int sink, const char *name, int64_t backfill_from_ms,
                           uint64_t *done_through_out, uint64_t **sent_out, size_t *sent_count_out,
                           tg_error *err);
    tg_status (*read)(void *self, int sink, uint64_t after_id, tg_event *out, size_t max,
                      size_t *count_out, tg_error *err);
    /* The sink can take nothing now (its window is full): keep what it holds (NULL: no-op). */
    void (*keep)(void *self, int sink);
    tg_status (*save)(void *self, const tg__outbox_progress *progress, size_t count,
                      const tg__outbox_dead *dead, size_t dead_count, uint64_t delivered_after,
                      uint64_t delivered_through, int64_t now_ms, tg_error *err);
    uint64_t (*event_id)(void *self, int sink, uint64_t id);
    void (*close)(void *self);
} tg__outbox_ops;

#define TG__OUTBOX_SINKS_MAX 16      /* sinks one source serves (notify's TG__NOTIFY_SINKS_MAX) */
#define TG__OUTBOX_SINK_NAME_SIZE 64 /* a sink's name, NUL included (TG__NOTIFY_NAME_SIZE_MAX) */

typedef struct {
    const tg__outbox_ops *ops; /* NULL: no source */
    void *self;                /* owned: ops->close frees it */
} tg__outbox_source;

/*
 * Opens a source for the sinks named in names[count] (a notifier's start and restart), with
 * the config's notify.claim_idle_ms (a source shared by several processes takes over a dead
 * one's events after that long). A program whose store is not SQLite registers one with
 * tg__notify_use_source (notify.h).
 */
typedef tg_status (*tg__outbox_source_open_fn)(const char *const *names, int count,
                                               int64_t claim_idle_ms, tg__outbox_source *out,
                                               tg_error *err);

/* This file's outbox as a source (tg__outbox_open; the ops take a tg__outbox). */
extern const tg__outbox_ops tg__outbox_ops_sqlite;

/* ---- what a message says beyond its event (notify/enrich.c): best effort, false when the
 * file could not say ------------------------------------------------------------------- */

/* The sum of the costs charged to `budget`'s subtree with since_ms < time_ms <= until_ms. */
bool tg__outbox_spent(tg__outbox *outbox, const char *budget, int64_t since_ms, int64_t until_ms,
                      int64_t *spent_micros_out);

/* The budget's cost limit and revocation threshold as configured: an amount
 * (*revoke_at_micros_out) or a fraction in ppm (*revoke_at_ppm_out), each TG_NONE when not
 * set. False when the budget has no row or no cost limit. */
bool tg__outbox_revoke_at(tg__outbox *outbox, const char *budget, int64_t *limit_micros_out,
                          int64_t *revoke_at_micros_out, int64_t *revoke_at_ppm_out);

/* The tools (or models, for a charge without a tool) class `cls` was charged for on
 * `budget`'s subtree with since_ms < time_ms <= until_ms, most charges first, at most
 * TG__OUTBOX_TOOLS_MAX, each handed to visit (the name lives during the call only). */
#define TG__OUTBOX_TOOLS_MAX 5
void tg__outbox_tools(tg__outbox *outbox, const char *budget, tg_class cls, int64_t since_ms,
                      int64_t until_ms, void (*visit)(void *user, const char *name), void *user);

#endif
