/*
 * redis_notify: notifications on the Redis store, delivered once across daemons. Each sink
 * is a consumer group ("notify:SINK") on the ledger-wide events stream (redis_collect.h,
 * "tg:{roots}:events"); each daemon's notifier reads as a consumer of its own, so every
 * entry goes to one daemon and waits in the group's pending list until that daemon
 * acknowledges it: delivered, not wanted by the sink's filter, or given up after the retry
 * policy (notify/schedule.h). A daemon that dies holding entries stops refreshing them, and
 * once they have been idle for the claim time another daemon claims them (XAUTOCLAIM) and
 * sends them. tollgate.lua's tg_notify_read and tg_notify_ack do the group's work, each in
 * one call in the registry's slot (so it works on a cluster too).
 *
 * The source below plugs this into the notifier (store/store_outbox.h's tg__outbox_ops), on
 * the notifier's own thread with its own synchronous connection, so neither a slow Redis
 * nor a slow receiver ever delays a decision on the daemon's loop. The notifier's scheduler
 * wants each sink's events with ascending ids, and claimed entries are older than what the
 * daemon already read: so the source numbers events in the order it reads them (local ids)
 * and tells receivers the ledger-wide ids (event_id).
 *
 * At least once, not exactly once: the edges where a receiver sees an event twice (with the
 * same id) are docs/notifications.md's "On Redis" list.
 */
#ifndef TG_STORE_REDIS_NOTIFY_H
#define TG_STORE_REDIS_NOTIFY_H

#include "store/redis/redis_ledger.h"
#include "store/store_outbox.h"

#define TG__REDIS_NOTIFY_READ_MAX 256        /* entries one read takes, new and claimed together */
#define TG__REDIS_NOTIFY_HELD_MAX 8192       /* entries a sink may hold unacknowledged per daemon */
#define TG__REDIS_NOTIFY_REFRESH_MAX 256     /* held entries one read refreshes */
#define TG__REDIS_NOTIFY_ACK_MAX 1024        /* entries one acknowledgement call names */
#define TG__REDIS_NOTIFY_CLAIM_EVERY_MS 500  /* look for other daemons' idle entries this often */
#define TG__REDIS_NOTIFY_TIDY_EVERY_MS 60000 /* and for consumers to delete this often */
#define TG__REDIS_NOTIFY_TIDY_IDLE_MS                                                              \
    3600000                                /* a consumer idle this long, with nothing              \
                                              pending, is deleted from its group */
#define TG__REDIS_NOTIFY_CONSUMER_SIZE 128 /* "HOST-PID", NUL included */

/*
 * Opens a source for the sinks names[count]: its own connection (a ledger opened with
 * `options`, which are read during the call only), consumer name `consumer` in every sink's
 * group. Entries idle for claim_idle_ms are claimed from other consumers; this source
 * refreshes those it holds every claim_idle_ms / 3, so a live daemon keeps what it is still
 * sending however long its receiver takes. Errors: those of tg__redis_ledger_open,
 * TG_ERR_NOMEM.
 */
tg_status tg__redis_notify_source_open(const tg__redis_ledger_options *options,
                                       const char *consumer, int64_t claim_idle_ms,
                                       const char *const *names, int count, tg__outbox_source *out,
                                       tg_error *err);

extern const tg__outbox_ops tg__redis_notify_ops;

#endif
