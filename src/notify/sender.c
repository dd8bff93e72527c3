/*
 * sender: the notifier's thread. One loop: read newly durable events from the
 * outbox, hand each sink's ready messages to libcurl (webhooks) or write them
 * (JSON lines), collect what finished, save progress every SAVE_INTERVAL_MS,
 * and sleep in curl_multi_poll until a socket is ready, a retry or digest is
 * due, the poll interval passes, or tg__notify_wake() (curl_multi_wakeup)
 * says the engine committed. Everything here runs on that one thread except
 * start, wake, stop and the status copy, which are marked.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/path.h"
#include "core/quiet_thread.h"
#include "notify/notify.h"
#include "notify/schedule.h"
#include "notify/sink_types.h"
#include "notify/transport.h"
#include "engine/clock.h"

#define READ_BATCH 512      /* events read from the outbox in one statement */
#define SAVE_INTERVAL_MS 50 /* progress is saved at most this often (one short transaction) */
#define BUSY_RETRY_MS 2     /* the store was locked: try again this soon */
#define ERROR_SIZE 200

struct tg__notifier {
    tg__notify_config *config; /* owned */
    char store_path[4096];
    pthread_t thread;
    CURLM *multi;                               /* the thread's; woken from any thread */
    atomic_bool stop;                           /* set by tg__notify_stop */
    atomic_bool woken;                          /* set by tg__notify_wake */
    int64_t drain_ms;                           /* written before stop is set */
    pthread_mutex_t stats_lock;                 /* guards stats */
    tg__sink_stats stats[TG__NOTIFY_SINKS_MAX]; /* copies for tg__notify_status_json */
    /* The thread's own, from here on. */
    tg__outbox_source source; /* where events come from and progress goes (owned) */
    tg__outbox *outbox;       /* the SQLite outbox when it is the source (for enrich), or NULL */
    tg__sink_state *sinks[TG__NOTIFY_SINKS_MAX];
    tg__jsonl jsonl[TG__NOTIFY_SINKS_MAX]; /* jsonl sinks' files */
    bool failing[TG__NOTIFY_SINKS_MAX];    /* for logging a failure streak once */
    tg_event *events;                      /* READ_BATCH, for reading */
    uint32_t random;                       /* xorshift state: jitter */
    int64_t next_read_ms;                  /* poll the outbox even without a wake */
    int64_t last_save_ms;
    bool dirty;                       /* progress to save */
    uint64_t marked_through;          /* events.delivered_at_ms set up to here */
    uint64_t *unsaved;                /* TG__NOTIFY_WINDOW ids, scratch for saving */
    char said[TG_ERROR_MESSAGE_SIZE]; /* the last read or save error printed: a source that stays
                                down (Redis) is said once, not at every poll */
    int64_t in_flight;                /* webhooks being sent */
    struct attempt *flying;           /* list of those, for teardown */
};

/* A webhook attempt's record: which sink and batch it carries. Listed while in flight. */
typedef struct attempt {
    int sink;
    tg__batch batch;
    tg__webhook *webhook;
    struct attempt *prev, *next;
} attempt;

static uint32_t next_random(tg__notifier *n) {
    uint32_t x = n->random;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    n->random = x;
    return x;
}

/* ---- reading the outbox ---------------------------------------------------------------- */

/* Prints a read or save error unless it is the one printed last; "" after a success. */
static void say_error(tg__notifier *n, const char *message, const char *suffix) {
    if (strncmp(n->said, message, sizeof n->said - 1) != 0) {
        fprintf(stderr, "tollgate notify: %s%s\n", message, suffix);
        snprintf(n->said, sizeof n->said, "%s", message);
    }
}

/* Feeds every sink the events after its cursor, as far as its room goes. */
static void read_events(tg__notifier *n, int64_t now_ms) {
    for (int s = 0; s < n->config->sinks_count; s++) {
        for (;;) {
            size_t room = tg__sink_state_room(n->sinks[s], now_ms);
            size_t want = room < READ_BATCH ? room : READ_BATCH;
            size_t count = 0;
            tg_error err = {0};
            if (want == 0) {
                if (n->source.ops->keep != NULL) {
                    n->source.ops->keep(n->source.self, s); /* held entries stay this daemon's */
                }
                break;
            }
            tg_status status =
                n->source.ops->read(n->source.self, s, tg__sink_state_cursor(n->sinks[s]),
                                    n->events, want, &count, &err);
            if (status == TG_ERR_STATE) {
                n->next_read_ms = now_ms + BUSY_RETRY_MS; /* locked: soon again */
                return;
            }
            if (status != TG_OK) {
                say_error(n, err.message, "");
                break;
            }
            for (size_t i = 0; i < count; i++) {
                tg__sink_state_take(n->sinks[s], &n->events[i], now_ms);
            }
            n->dirty = n->dirty || count > 0; /* filtered events move done_through too */
            if (count < want) {
                break;
            }
        }
    }
}

/* ---- starting messages ------------------------------------------------------------------ */

static void log_failure(tg__notifier *n, int s, const char *error) {
    if (!n->failing[s]) {
        fprintf(stderr, "tollgate notify: sink '%s' failed: %s (retrying with backoff)\n",
                n->config->sinks[s].name, error);
        n->failing[s] = true;
    }
}

static void log_success(tg__notifier *n, int s) {
    if (n->failing[s]) {
        fprintf(stderr, "tollgate notify: sink '%s' delivers again\n", n->config->sinks[s].name);
        n->failing[s] = false;
    }
}

static void finish_batch(tg__notifier *n, int s, tg__batch *batch, bool delivered,
                         const char *error, int64_t retry_after_ms) {
    int64_t now_ms = tg__clock_monotonic_ms();
    if (delivered) {
        log_success(n, s);
        tg__sink_state_delivered(n->sinks[s], batch, now_ms);
    } else {
        log_failure(n, s, error);
        tg__sink_state_failed(n->sinks[s], batch, now_ms, next_random(n), error, retry_after_ms);
    }
    n->dirty = true;
}

/* A log sink's batch: one line an item, written at once in pieces of whole lines. */
static void write_log(tg__notifier *n, int s, tg__batch *batch,
                      const tg__notify_envelope *envelope) {
    const tg__sink_type *type = tg__sink_type_of(n->config->sinks[s].kind);
    char error[ERROR_SIZE] = "out of memory";
    tg__buf piece;
    tg__buf_init(&piece, TG__NOTIFY_LOG_PIECE_SIZE_MAX);
    bool ok = true;
    for (size_t next = 0; ok && next < batch->items_count;) {
        tg_status status = TG_OK;
        next = tg__sink_lines_fill(type, envelope, batch->items, next, batch->items_count, &piece,
                                   &status);
        if (status == TG_ERR_FULL) {
            snprintf(error, sizeof error, "a line longer than %d bytes",
                     TG__NOTIFY_LOG_PIECE_SIZE_MAX);
        }
        ok = status == TG_OK &&
             tg__jsonl_write(&n->jsonl[s], piece.data, piece.size, error, sizeof error);
        tg__buf_reset(&piece);
    }
    tg__buf_free(&piece);
    finish_batch(n, s, batch, ok, error, TG_NONE);
}

static void post(tg__notifier *n, int s, tg__batch *batch, const tg__notify_envelope *envelope) {
    const tg__notify_sink *sink = &n->config->sinks[s];
    size_t size = 0;
    char *body =
        tg__sink_type_of(sink->kind)->body(envelope, batch->items, batch->items_count, &size);
    attempt *record = body ? malloc(sizeof *record) : NULL;
    if (record == NULL) {
        free(body);
        finish_batch(n, s, batch, false, "cannot build the message body", TG_NONE);
        return;
    }
    *record = (attempt){s, *batch, NULL, NULL, n->flying};
    record->webhook = tg__webhook_start(n->multi, sink, body, size, envelope->sent_at_ms / 1000,
                                        batch->attempt, record);
    if (record->webhook == NULL) {
        finish_batch(n, s, &record->batch, false, "cannot set up the HTTP request", TG_NONE);
        free(record);
        return;
    }
    if (n->flying != NULL) {
        n->flying->prev = record;
    }
    n->flying = record;
    n->in_flight++;
}

static void unlink_attempt(tg__notifier *n, attempt *record) {
    if (record->prev != NULL) {
        record->prev->next = record->next;
    } else {
        n->flying = record->next;
    }
    if (record->next != NULL) {
        record->next->prev = record->prev;
    }
    n->in_flight--;
}

static void send_ready(tg__notifier *n, int64_t now_ms, int64_t *wake_at_ms) {
    for (int s = 0; s < n->config->sinks_count; s++) {
        tg__batch batch;
        while (tg__sink_state_next(n->sinks[s], now_ms, &batch, wake_at_ms)) {
            for (size_t i = 0; i < batch.items_count; i++) {
                if (n->outbox != NULL) { /* forecasts read the SQLite file's charges */
                    tg__outbox_enrich(n->outbox, n->config->forecast_window_ms, &batch.items[i]);
                }
                if (n->source.ops->event_id != NULL) { /* the ids receivers de-duplicate on */
                    tg__notify_item *item = &batch.items[i];
                    item->event.id = n->source.ops->event_id(n->source.self, s, item->event.id);
                    item->last_id = n->source.ops->event_id(n->source.self, s, item->last_id);
                }
            }
            tg__notify_envelope envelope = {n->config->sinks[s].name, batch.urgency,
                                            tg__clock_wall_ms()};
            if (tg__sink_type_of(n->config->sinks[s].kind)->delivery == TG__SINK_LOG) {
                write_log(n, s, &batch, &envelope);
            } else {
                post(n, s, &batch, &envelope);
            }
        }
    }
}

/* Hands every finished webhook back to its sink; true when any finished. */
static bool collect(tg__notifier *n) {
    bool any = false;
    CURLMsg *message;
    int left = 0;
    while ((message = curl_multi_info_read(n->multi, &left)) != NULL) {
        if (message->msg != CURLMSG_DONE) {
            continue;
        }
        tg__webhook *webhook = NULL;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&webhook);
        attempt *record = webhook->owner;
        char error[ERROR_SIZE];
        int64_t retry_after_ms = TG_NONE;
        bool delivered = tg__webhook_finish(n->multi, webhook, message->data.result, error,
                                            sizeof error, &retry_after_ms);
        unlink_attempt(n, record);
        finish_batch(n, record->sink, &record->batch, delivered, error, retry_after_ms);
        free(record);
        any = true;
    }
    return any;
}

/* ---- saving progress ------------------------------------------------------------------------ */

static void save(tg__notifier *n, int64_t now_ms) {
    tg__outbox_progress progress[TG__NOTIFY_SINKS_MAX];
    tg__outbox_dead *dead = NULL;
    size_t dead_count = 0, unsaved_used = 0;
    uint64_t lowest = UINT64_MAX;
    int sinks = n->config->sinks_count;
    for (int s = 0; s < sinks; s++) {
        tg__sink_state *state = n->sinks[s];
        uint64_t done = tg__sink_state_done_through(state);
        /* One scratch array, shared: each sink gets what the others left. */
        size_t count = tg__sink_state_unsaved(state, n->unsaved + unsaved_used,
                                              TG__NOTIFY_WINDOW - unsaved_used);
        progress[s] =
            (tg__outbox_progress){n->config->sinks[s].name, done, n->unsaved + unsaved_used, count};
        unsaved_used += count;
        lowest = done < lowest ? done : lowest;
        size_t sink_dead = 0;
        const tg__outbox_dead *list = tg__sink_state_dead(state, &sink_dead);
        if (sink_dead == 0) {
            continue;
        }
        tg__outbox_dead *grown = realloc(dead, (dead_count + sink_dead) * sizeof *dead);
        if (grown == NULL) {
            free(dead);
            return; /* out of memory: try again at the next save */
        }
        dead = grown;
        memcpy(dead + dead_count, list, sink_dead * sizeof *dead);
        dead_count += sink_dead;
    }
    tg_error err = {0};
    tg_status status =
        n->source.ops->save(n->source.self, progress, (size_t)sinks, dead, dead_count,
                            n->marked_through, lowest, tg__clock_wall_ms(), &err);
    if (status == TG_ERR_STATE) {
        /* The engine is committing: try again in a moment, not a whole interval later. */
        free(dead);
        n->last_save_ms = now_ms - SAVE_INTERVAL_MS + BUSY_RETRY_MS;
        return;
    }
    if (status != TG_OK) {
        say_error(n, err.message, " (will try again)");
    } else {
        for (int s = 0; s < sinks; s++) {
            tg__sink_state_saved(n->sinks[s]);
        }
        if (dead_count > 0) {
            fprintf(stderr,
                    "tollgate notify: gave up on %zu deliveries (see `tollgate events --failed`)\n",
                    dead_count);
        }
        n->marked_through = lowest > n->marked_through ? lowest : n->marked_through;
        n->dirty = false;
        n->said[0] = '\0'; /* the source answers again: a new failure is worth saying */
    }
    free(dead);
    n->last_save_ms = now_ms;
}

static void publish_stats(tg__notifier *n) {
    pthread_mutex_lock(&n->stats_lock);
    for (int s = 0; s < n->config->sinks_count; s++) {
        tg__sink_state_stats(n->sinks[s], &n->stats[s]);
    }
    pthread_mutex_unlock(&n->stats_lock);
}

/* ---- the loop -------------------------------------------------------------------------------- */

/* One turn; returns how long the thread may sleep. */
static int64_t turn(tg__notifier *n) {
    int64_t now_ms = tg__clock_monotonic_ms();
    if (atomic_exchange(&n->woken, false) || now_ms >= n->next_read_ms) {
        n->next_read_ms = now_ms + n->config->poll_ms;
        read_events(n, now_ms);
    }
    int64_t wake_at_ms = n->next_read_ms;
    send_ready(n, now_ms, &wake_at_ms);
    int running = 0;
    curl_multi_perform(n->multi, &running);
    if (collect(n)) {
        /* Finished messages free lanes and room: plan again before sleeping. */
        atomic_store(&n->woken, true);
        wake_at_ms = now_ms;
    }
    if (n->dirty) {
        if (now_ms - n->last_save_ms >= SAVE_INTERVAL_MS) {
            save(n, now_ms);
        } else if (n->last_save_ms + SAVE_INTERVAL_MS < wake_at_ms) {
            wake_at_ms = n->last_save_ms + SAVE_INTERVAL_MS;
        }
    }
    publish_stats(n);
    return wake_at_ms > now_ms ? wake_at_ms - now_ms : 0;
}

static void drain(tg__notifier *n) {
    int64_t deadline_ms = tg__clock_monotonic_ms() + n->drain_ms;
    while (n->in_flight > 0 && tg__clock_monotonic_ms() < deadline_ms) {
        int running = 0;
        curl_multi_perform(n->multi, &running);
        collect(n);
        curl_multi_poll(n->multi, NULL, 0, 10, NULL);
    }
    /* Past the drain time: abandon what is still in flight; the outbox still has it. */
    while (n->flying != NULL) {
        attempt *record = n->flying;
        char error[ERROR_SIZE];
        int64_t retry_after_ms = TG_NONE;
        unlink_attempt(n, record);
        tg__webhook_finish(n->multi, record->webhook, CURLE_ABORTED_BY_CALLBACK, error,
                           sizeof error, &retry_after_ms);
        tg__batch_free(&record->batch); /* not done: done_through stays before it */
        free(record);
    }
    save(n, tg__clock_monotonic_ms());
}

static void *run(void *user) {
    tg__notifier *n = user;
    while (!atomic_load(&n->stop)) {
        int64_t sleep_ms = turn(n);
        if (sleep_ms > 0 && !atomic_load(&n->stop)) {
            curl_multi_poll(n->multi, NULL, 0, (int)(sleep_ms < 60000 ? sleep_ms : 60000), NULL);
        }
    }
    drain(n);
    return NULL;
}

/* ---- start, wake, stop (the calling threads) --------------------------------------------- */

static void notifier_free(tg__notifier *n) {
    for (int s = 0; s < n->config->sinks_count; s++) {
        tg__sink_state_free(n->sinks[s]);
        tg__jsonl_close(&n->jsonl[s]);
    }
    if (n->source.ops != NULL) {
        n->source.ops->close(n->source.self);
    }
    if (n->multi != NULL) {
        curl_multi_cleanup(n->multi);
    }
    pthread_mutex_destroy(&n->stats_lock);
    free(n->events);
    free(n->unsaved);
    tg__notify_config_free(n->config);
    free(n);
    curl_global_cleanup();
}

/* Ids a sink finished out of order lie within the events it holds, so a sound file never
 * has more than the outbox loads. */
_Static_assert(TG__NOTIFY_WINDOW <= TG__OUTBOX_SENT_MAX, "a sink's window fits the outbox's load");

/* Loads each sink's saved progress and opens its file: everything that can fail, up front. */
static tg_status open_sinks(tg__notifier *n, tg_error *err) {
    int64_t backfill_from_ms = tg__clock_wall_ms() - n->config->backfill_ms;
    for (int s = 0; s < n->config->sinks_count; s++) {
        const tg__notify_sink *sink = &n->config->sinks[s];
        uint64_t done_through = 0, *sent = NULL;
        size_t sent_count = 0;
        tg_status status = n->source.ops->sink_load(n->source.self, s, sink->name, backfill_from_ms,
                                                    &done_through, &sent, &sent_count, err);
        if (status != TG_OK) {
            return status;
        }
        n->sinks[s] = tg__sink_state_new(n->config, s, done_through, sent, sent_count);
        if (n->sinks[s] == NULL) {
            return tg__fail(err, TG_ERR_NOMEM, "notify: out of memory");
        }
        n->marked_through =
            s == 0 || done_through < n->marked_through ? done_through : n->marked_through;
        char error[ERROR_SIZE];
        if (tg__sink_type_of(sink->kind)->delivery == TG__SINK_LOG &&
            !tg__jsonl_open(&n->jsonl[s], sink, error, sizeof error)) {
            return tg__fail(err, TG_ERR_IO, "notify: sink '%s': %s", sink->name, error);
        }
    }
    return TG_OK;
}

/* The source a program registered (tg__notify_use_source), else the SQLite file's outbox. */
static tg__outbox_source_open_fn source_open;
_Static_assert(TG__NOTIFY_SINKS_MAX <= TG__OUTBOX_SINKS_MAX, "a source serves every sink");
_Static_assert(TG__NOTIFY_NAME_SIZE_MAX <= TG__OUTBOX_SINK_NAME_SIZE, "a source keeps the names");

void tg__notify_use_source(tg__outbox_source_open_fn open) {
    source_open = open;
}

static tg_status open_source(tg__notifier *n, const char *store_path, tg_error *err) {
    if (source_open != NULL) {
        const char *names[TG__NOTIFY_SINKS_MAX];
        for (int s = 0; s < n->config->sinks_count; s++) {
            names[s] = n->config->sinks[s].name;
        }
        return source_open(names, n->config->sinks_count, n->config->claim_idle_ms, &n->source,
                           err);
    }
    tg_status status = tg__outbox_open(store_path, &n->outbox, err);
    if (status == TG_OK) {
        n->source = (tg__outbox_source){&tg__outbox_ops_sqlite, n->outbox};
    }
    return status;
}

tg_status tg__notify_start(tg__notify_config *config, const char *store_path, tg__notifier **out,
                           tg_error *err) {
    if (config->sinks_count == 0) {
        tg__notify_config_free(config);
        *out = NULL;
        return TG_OK;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tg__notify_config_free(config);
        return tg__fail(err, TG_ERR_IO, "notify: libcurl cannot start");
    }
    tg__notifier *n = calloc(1, sizeof *n);
    if (n == NULL) {
        tg__notify_config_free(config);
        curl_global_cleanup();
        return tg__fail(err, TG_ERR_NOMEM, "notify: out of memory");
    }
    n->config = config;
    pthread_mutex_init(&n->stats_lock, NULL);
    atomic_init(&n->stop, false);
    atomic_init(&n->woken, true);
    n->random = (uint32_t)tg__clock_wall_ms() ^ ((uint32_t)getpid() << 16) ^ 0x9e3779b9u;
    n->random = n->random ? n->random : 1;
    snprintf(n->store_path, sizeof n->store_path, "%s", store_path);
    n->events = malloc(READ_BATCH * sizeof *n->events);
    n->unsaved = malloc(TG__NOTIFY_WINDOW * sizeof *n->unsaved);
    n->multi = curl_multi_init();
    tg_status status = TG_OK;
    if (n->events == NULL || n->unsaved == NULL || n->multi == NULL) {
        status = tg__fail(err, TG_ERR_NOMEM, "notify: out of memory");
    } else if ((status = open_source(n, store_path, err)) == TG_OK) {
        status = open_sinks(n, err);
    }
    if (status == TG_OK && tg__quiet_thread_start(&n->thread, NULL, run, n) != 0) {
        status = tg__fail(err, TG_ERR_NOMEM, "notify: cannot start the sender thread");
    }
    if (status != TG_OK) {
        notifier_free(n);
        return status;
    }
    *out = n;
    return TG_OK;
}

/* The sinks need the sqlite store, or the redis one with its source registered: *out is
 * `config` (taken) when they may run. */
static tg_status check_store(tg__notify_config *config, const char *store_kind,
                             tg__notify_config **out, tg_error *err) {
    bool sqlite = store_kind != NULL && strcmp(store_kind, "sqlite") == 0;
    bool redis = store_kind != NULL && strcmp(store_kind, "redis") == 0 && source_open != NULL;
    if (config->sinks_count > 0 && !sqlite && !redis) {
        tg__notify_config_free(config);
        return tg__fail(err, TG_ERR_UNSUPPORTED,
                        "notify: sinks need the sqlite store (its events table is the outbox) or "
                        "the redis one (a consumer group per sink)");
    }
    *out = config;
    return TG_OK;
}

tg_status tg__notify_config_load_for(const char *config_file, const char *store_kind,
                                     tg__notify_config **out, tg_error *err) {
    tg__notify_config *config = NULL;
    tg_status status = tg__notify_config_load(config_file, &config, err);
    return status == TG_OK ? check_store(config, store_kind, out, err) : status;
}

tg_status tg__notify_config_read_for(struct fy_document *document, const char *store_kind,
                                     tg__notify_config **out, tg_error *err) {
    tg__notify_config *config = NULL;
    tg_status status = tg__notify_config_read(document, &config, err);
    return status == TG_OK ? check_store(config, store_kind, out, err) : status;
}

tg_status tg__notify_start_file(const char *config_file, const char *store_kind,
                                const char *store_path, tg__notifier **out, tg_error *err) {
    tg__notify_config *config = NULL;
    tg_status status = tg__notify_config_load_for(config_file, store_kind, &config, err);
    return status == TG_OK ? tg__notify_start(config, store_path, out, err) : status;
}

tg_status tg__notify_start_config(struct fy_document *document, const char *store_kind,
                                  const char *store_path, tg__notifier **out, tg_error *err) {
    tg__notify_config *config = NULL;
    tg_status status = tg__notify_config_read_for(document, store_kind, &config, err);
    return status == TG_OK ? tg__notify_start(config, store_path, out, err) : status;
}

tg_status tg__notify_restart(tg__notifier **notifier, tg__notify_config *config,
                             const char *store_path, tg_error *err) {
    tg__notifier *old = *notifier;
    /* The config is plain data (no pointers) from zeroed memory: equal bytes, same sinks. */
    if (old == NULL ? config->sinks_count == 0 : memcmp(old->config, config, sizeof *config) == 0) {
        tg__notify_config_free(config);
        return TG_OK;
    }
    tg__notify_config *previous = NULL;
    if (old != NULL) {
        previous = malloc(sizeof *previous);
        if (previous == NULL) {
            tg__notify_config_free(config);
            return tg__fail(err, TG_ERR_NOMEM, "notify: out of memory; the sinks are unchanged");
        }
        memcpy(previous, old->config, sizeof *previous);
    }
    /* One sender at a time owns the delivery state on disk, so the old one stops first.
     * No drain: the loop thread must not wait on a slow receiver, and what was in flight
     * is sent again by the new sender, with the same ids (receivers de-duplicate). */
    tg__notify_stop(old, 0);
    *notifier = NULL;
    tg_status status = tg__notify_start(config, store_path, notifier, err);
    if (status != TG_OK && previous != NULL) {
        tg_error again = {0};
        if (tg__notify_start(previous, store_path, notifier, &again) != TG_OK) {
            char first[sizeof again.message];
            snprintf(first, sizeof first, "%s",
                     err ? err->message : "notify: the new sinks cannot start");
            *notifier = NULL;
            return tg__fail(err, status,
                            "%s; and the previous sinks could not start again (%s): "
                            "notifications are off until a reload succeeds",
                            first, again.message);
        }
        return status; /* the previous sinks run again */
    }
    tg__notify_config_free(previous);
    return status;
}

void tg__notify_wake(tg__notifier *notifier) {
    if (notifier == NULL) {
        return;
    }
    atomic_store(&notifier->woken, true);
    curl_multi_wakeup(notifier->multi);
}

void tg__notify_stop(tg__notifier *notifier, int64_t drain_ms) {
    if (notifier == NULL) {
        return;
    }
    notifier->drain_ms = drain_ms > 0 ? drain_ms : 0;
    atomic_store(&notifier->stop, true);
    curl_multi_wakeup(notifier->multi);
    pthread_join(notifier->thread, NULL);
    notifier_free(notifier);
}

char *tg__notify_status_json(tg__notifier *notifier) {
    static const char *const kinds[] = {"webhook", "slack", "jsonl"};
    if (notifier == NULL) {
        return NULL;
    }
    json_t *sinks = json_array();
    pthread_mutex_lock(&notifier->stats_lock);
    for (int s = 0; s < notifier->config->sinks_count; s++) {
        const tg__sink_stats *st = &notifier->stats[s];
        json_array_append_new(
            sinks,
            json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "name", notifier->config->sinks[s].name,
                      "kind", kinds[notifier->config->sinks[s].kind], "waiting",
                      (json_int_t)st->waiting, "in_flight", (json_int_t)st->in_flight, "failures",
                      (json_int_t)st->failures, "delivered", (json_int_t)st->delivered, "dead",
                      (json_int_t)st->dead, "messages", (json_int_t)st->messages));
    }
    pthread_mutex_unlock(&notifier->stats_lock);
    json_t *body = json_pack("{s:o}", "sinks", sinks);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}
