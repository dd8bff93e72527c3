/*
 * notify: telling people. The daemon (or any program using the SQLite store)
 * starts a notifier with one call; it runs a sender thread of its own, with its
 * own connection to the store file, that reads the durable outbox (the events
 * table, written in the same transaction as the mutation that caused each
 * event), delivers every event to the sinks of the config's `notify:` section
 * at least once, in id order per budget, and records what it delivered. It
 * never blocks decisions: the engine's thread only calls tg__notify_wake().
 * See docs/notifications.md.
 *
 * The hooks, in the order a program calls them:
 *
 *     tg__notifier *notifier = NULL;
 *     if (tg__notify_start_file(config_file, "sqlite", store_path, &notifier, &err) != TG_OK) {
 *         ... refuse to start: err.message says why ...
 *     }
 *     ... after every durable commit (a batch_end or group commit that returned TG_OK):
 *     tg__notify_wake(notifier);
 *     ... at shutdown, after the last sync:
 *     tg__notify_stop(notifier, 1000);
 *
 * and for the dead-letter list, from any thread: tg__notify_failed_json().
 */
#ifndef TG_NOTIFY_NOTIFY_H
#define TG_NOTIFY_NOTIFY_H

#include <stdint.h>

#include "notify/config.h"
#include "store/store_outbox.h"

typedef struct tg__notifier tg__notifier;

/*
 * Reads the `notify:` section of `config_file` and starts the sender on the
 * store file `store_path` (which the engine has opened: the file exists and
 * has its tables). No section or no sinks: TG_OK with *out = NULL, and every
 * call below accepts NULL. Sinks with a store other than "sqlite" (or "redis" once
 * tg__notify_use_source has registered its source): TG_ERR_UNSUPPORTED (no durable
 * outbox to send from). Other errors:
 * TG_ERR_INVALID (the section), TG_ERR_IO (the file, a JSON-lines file),
 * TG_ERR_NOMEM. Call from the thread that will call tg__notify_stop().
 */
tg_status tg__notify_start_file(const char *config_file, const char *store_kind,
                                const char *store_path, tg__notifier **out, tg_error *err);

/* The `notify:` section of `config_file`, checked against the store kind as
 * tg__notify_start_file does, without starting anything. *out from malloc:
 * tg__notify_config_free, or pass it to tg__notify_start / tg__notify_restart. */
tg_status tg__notify_config_load_for(const char *config_file, const char *store_kind,
                                     tg__notify_config **out, tg_error *err);
/* The two above from the config file's parsed document (the daemon reads its file once);
 * the document stays the caller's. */
struct fy_document;
tg_status tg__notify_start_config(struct fy_document *document, const char *store_kind,
                                  const char *store_path, tg__notifier **out, tg_error *err);
tg_status tg__notify_config_read_for(struct fy_document *document, const char *store_kind,
                                     tg__notify_config **out, tg_error *err);

/*
 * SIGHUP: runs the sinks of `config` (taken, freed on every path) instead of those
 * of *notifier (which may be NULL: no sinks yet). An identical config changes
 * nothing. Otherwise the old sender stops without a drain (messages in flight are
 * sent again by the new one, with the same ids) and a new one starts from the
 * delivery state on disk; a sink that is new starts at backfill_ms, a removed one
 * keeps its rows. If the new sinks cannot start (e.g. a JSON-lines file cannot be
 * opened), the previous ones start again and the error is returned; if even they
 * cannot, *notifier is NULL and the error says notifications are off. Call from
 * the thread that started the notifier (the daemon's loop), which blocks only while
 * the old sender thread saves its progress and exits.
 */
tg_status tg__notify_restart(tg__notifier **notifier, tg__notify_config *config,
                             const char *store_path, tg_error *err);

/*
 * Makes every notifier started from now on read through sources `open` makes instead of the
 * SQLite file's outbox, and lets sinks run with store kind "redis" (the daemon on Redis
 * registers store/redis/redis_notify.h's consumer groups; NULL goes back to the file).
 * Process-wide; call before the first start, from the thread that starts notifiers.
 */
void tg__notify_use_source(tg__outbox_source_open_fn open);

/* The same with a config already read; takes `config` (freed by the notifier, or on failure). */
tg_status tg__notify_start(tg__notify_config *config, const char *store_path, tg__notifier **out,
                           tg_error *err);

/*
 * Tells the sender new events are durable, so it reads them now instead of at
 * its next poll (config poll_ms). Any thread; never blocks; cheap enough to
 * call after every commit.
 */
void tg__notify_wake(tg__notifier *notifier);

/*
 * Stops the sender: no new messages; those in flight get up to drain_ms to
 * finish; progress is saved; the thread is joined and everything freed.
 * Whatever was not delivered stays in the outbox for the next start.
 */
void tg__notify_stop(tg__notifier *notifier, int64_t drain_ms);

/*
 * Each sink's counters as JSON: {"sinks":[{"name","kind","waiting","in_flight",
 * "failures","delivered","dead","messages"}]}. Any thread. From malloc, caller
 * frees; NULL when out of memory or notifier is NULL.
 */
char *tg__notify_status_json(tg__notifier *notifier);

/*
 * The dead-letter list of the store at `store_path`, oldest first, after event
 * id `after_id`, at most `limit` (1..1000) entries:
 * {"failed":[{"sink","event_id","kind","budget","time_ms","failed_at_ms",
 * "attempts","last_error"}],"next":<last event id, for the next page>}.
 * Reads with a connection of its own (any thread; the route GET
 * /v1/notify/failed and `tollgate events --failed` use it). *json_out from
 * malloc, caller frees. A store without notify tables has an empty list.
 */
tg_status tg__notify_failed_json(const char *store_path, uint64_t after_id, int64_t limit,
                                 char **json_out, tg_error *err);
/* The same, only events of budget `scope` and its subtree ("" = every budget): what an
 * agent key scoped to `scope` may see. A dead letter whose event row is gone is left out
 * unless scope is "". */
tg_status tg__notify_failed_json_scoped(const char *store_path, const char *scope,
                                        uint64_t after_id, int64_t limit, char **json_out,
                                        tg_error *err);

/* One page of dead letters from a store (store_read.h's tg__store_read_dead_letters
 * conventions: event ids above page->after_id, page->budget a subtree, (event id, sink)
 * order); `source` is the reader's own state. */
typedef tg_status (*tg__dead_letter_read)(void *source, const tg__store_page *page,
                                          tg__dead_letter_visit visit, void *user, tg_error *err);
/* The same answer as tg__notify_failed_json_scoped, read with `read` (the Redis store's
 * dead-letter stream, server/store_redis.h): the answer's shape, order, paging and limits
 * do not depend on the store. Errors: TG_ERR_INVALID (limit), those of `read`, TG_ERR_NOMEM. */
tg_status tg__notify_failed_json_from(tg__dead_letter_read read, void *source, const char *scope,
                                      uint64_t after_id, int64_t limit, char **json_out,
                                      tg_error *err);

#endif
