/*
 * redis_dead: the notifications given up on, on the Redis store, for GET /v1/notify/failed
 * (and `tollgate events --failed`, which asks a daemon). The notifier records each one
 * (redis_notify.h, tollgate.lua's tg_notify_ack) in the stream "tg:{roots}:notify:dead",
 * one entry per (sink, event) and at most TG__REDIS_NOTIFY_DEAD_KEEP, with the event's
 * budget, kind and time copied in; a sorted set beside it ("...:notify:dead:order") orders
 * them by (event id, sink), so a page here is the page SQLite's notify_dead gives
 * (store_read.h's tg__store_read_dead_letters): rows of events numbered above after_id, the
 * budget filter a subtree, at most `limit`. Read through tg__redis_call, so inside a
 * daemon's pass it is pipelined on the async connection like GET /v1/events, in calls that
 * each look at a bounded number of entries (TG__REDIS_NOTIFY_DEAD_LOOK).
 */
#ifndef TG_STORE_REDIS_DEAD_H
#define TG_STORE_REDIS_DEAD_H

#include "store/redis/redis_ledger.h"
#include "store/store_read.h"

#define TG__REDIS_NOTIFY_DEAD_KEEP 10000 /* dead letters kept: tollgate.lua's NOTIFY_DEAD_KEEP */
/* Index members one tg_notify_dead call looks at (tollgate.lua's NOTIFY_DEAD_LOOK), and the
 * rest of its last event's: a few ms of the server's time at most (docs/notifications.md),
 * so a page of a scoped key that matches few is many short calls, never one long one. */
#define TG__REDIS_NOTIFY_DEAD_LOOK 256
/* Calls one page makes at most: enough to look at every dead letter kept, so a page is never
 * short before the end (as on SQLite). */
#define TG__REDIS_NOTIFY_DEAD_CALLS_MAX 48
/* Rows one call answers (tollgate.lua's NOTIFY_DEAD_PAGE_MAX): an API page of 1,000 and one
 * more, to see whether the page's last event goes on (notify/failed.c). */
#define TG__REDIS_NOTIFY_DEAD_PAGE_MAX 1001

/*
 * Visits the dead letters of `page` (budget filter, after_id, limit 1..PAGE_MAX) in (event
 * id, sink) order. has_event is false when the ledger-wide stream had already trimmed the
 * event when it was given up (its budget unknown: only an unfiltered page shows it).
 * Errors: TG_ERR_INVALID (a limit out of range), TG_ERR_IO (Redis unreachable, or an answer
 * not as tollgate.lua gives it).
 */
tg_status tg__redis_dead_letters(tg__redis_ledger *ledger, const tg__store_page *page,
                                 tg__dead_letter_visit visit, void *user, tg_error *err);

#endif
