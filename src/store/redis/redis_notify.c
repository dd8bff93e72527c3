/*
 * redis_notify: the notifier's source on Redis (redis_notify.h): a consumer group per sink,
 * read and acknowledged through tollgate.lua's tg_notify_read and tg_notify_ack, and the
 * local numbering the notifier's scheduler sees.
 */
#include "store/redis/redis_notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "engine/clock.h"
#include "store/redis/redis_internal.h"

#define ROW_FIELDS 16 /* as tg_ledger_events: number, tree, kind, time, budget, 11 fields */
#define GROUP_PREFIX "notify:"
#define GROUP_SIZE (sizeof GROUP_PREFIX + TG__OUTBOX_SINK_NAME_SIZE)
#define ID_TEXT_SIZE 21 /* a uint64_t in decimal and a comma */

_Static_assert(TG__REDIS_NOTIFY_READ_MAX <= 1000, "one tg_notify_read answer (NOTIFY_READ_MAX)");
_Static_assert(TG__OUTBOX_SINKS_MAX + 5 <= TG__REDIS_ARGS_MAX, "one tg_notify_groups call");
_Static_assert(TG__REDIS_NOTIFY_HELD_MAX >= 2 * TG__REDIS_NOTIFY_READ_MAX,
               "a sink can hold what two reads bring");

/*
 * One sink's entries this daemon holds. Local ids 1, 2, 3, ... are handed to the scheduler
 * in the order entries are read (new or claimed); slot l % HELD_MAX says which ledger-wide
 * entry local id l is. Every local id up to acked_through is acknowledged, and so is any
 * above it marked acked; the scheduler never holds more than the slots between.
 */
typedef struct {
    char name[TG__OUTBOX_SINK_NAME_SIZE]; /* the sink's */
    char group[GROUP_SIZE];               /* "notify:" + name */
    uint64_t last_local;                  /* the last local id handed out */
    uint64_t acked_through;               /* local ids up to here are acknowledged */
    uint64_t own_after;                   /* reading its own pending entries after this id first */
    bool own_done;                        /* ... until none is left; then only new ones (">") */
    int64_t next_claim_ms;                /* monotonic: look for idle entries of others from then */
    int64_t next_tidy_ms;                 /* monotonic: look for consumers to delete from then */
    uint64_t *real;                       /* HELD_MAX: the ledger-wide id of each local id held */
    int64_t *touched_ms;                  /* HELD_MAX: monotonic, read or last refreshed */
    bool *acked;                          /* HELD_MAX: acknowledged (above acked_through) */
} sink_held;

typedef struct {
    tg__redis_ledger *ledger; /* owned: the notifier thread's own connection */
    char consumer[TG__REDIS_NOTIFY_CONSUMER_SIZE];
    int64_t claim_idle_ms;
    int count;
    sink_held sinks[TG__OUTBOX_SINKS_MAX];
    char ids[TG__REDIS_NOTIFY_ACK_MAX * ID_TEXT_SIZE + 1]; /* scratch: "ID,ID,..." */
} source;

static size_t slot_of(uint64_t local) {
    return (size_t)(local % TG__REDIS_NOTIFY_HELD_MAX);
}

/* ---- reading ------------------------------------------------------------------------------ */

/* True when the ledger-wide entry `real` is held, unacknowledged, by this sink already (an
 * entry of its own claimed back by XAUTOCLAIM: it is being sent, not to be taken twice). */
static bool held(const sink_held *h, uint64_t real) {
    for (uint64_t l = h->acked_through + 1; l <= h->last_local; l++) {
        if (!h->acked[slot_of(l)] && h->real[slot_of(l)] == real) {
            return true;
        }
    }
    return false;
}

/* "ID,ID,..." of the held entries not refreshed for a third of the claim time, marked
 * refreshed now (a failed call only makes the next read refresh them again soon after). */
static void refresh_list(source *src, sink_held *h, int64_t now_ms) {
    size_t used = 0, listed = 0;
    int64_t stale_ms = now_ms - src->claim_idle_ms / 3;
    src->ids[0] = '\0';
    for (uint64_t l = h->acked_through + 1;
         l <= h->last_local && listed < TG__REDIS_NOTIFY_REFRESH_MAX; l++) {
        size_t i = slot_of(l);
        if (h->acked[i] || h->touched_ms[i] > stale_ms) {
            continue;
        }
        used += (size_t)snprintf(src->ids + used, sizeof src->ids - used, "%llu,",
                                 (unsigned long long)h->real[i]);
        h->touched_ms[i] = now_ms;
        listed++;
    }
}

/* Takes the rows of a tg_notify_read answer as local ids into out[]; *count_out of them.
 * Claimed rows and rows of its own history may be entries this sink holds already (its own,
 * claimed back, or claimed and then read again as its own): those are skipped. */
static void take_rows(sink_held *h, const redisReply *reply, bool own_history, int64_t now_ms,
                      tg_event *out, size_t *count_out) {
    size_t rows = (reply->elements - 2) / ROW_FIELDS, claimed = (size_t)tg__redis_i64(reply, 1);
    size_t count = 0;
    for (size_t r = 0; r < rows; r++) {
        size_t at = 2 + r * ROW_FIELDS;
        uint64_t real = (uint64_t)tg__redis_i64(reply, at);
        if (r >= claimed && own_history) {
            h->own_after = real; /* its own history is read in id order */
        }
        if ((r < claimed || own_history) && held(h, real)) {
            continue;
        }
        tg_event *e = &out[count++];
        tg__redis_event_fields(reply, at + 2, tg__redis_i64(reply, at + 1), e);
        e->id = ++h->last_local;
        size_t i = slot_of(e->id);
        h->real[i] = real;
        h->touched_ms[i] = now_ms;
        h->acked[i] = false;
    }
    *count_out = count;
}

/* One tg_notify_read call for sink h: refreshes what it holds, claims when `claim`, reads up
 * to `want` (0: a refresh alone) from `from`. */
static tg_status group_read(source *src, sink_held *h, const char *from, size_t want, bool claim,
                            bool tidy, redisReply **reply_out, tg_error *err) {
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_notify_read", TG__REDIS_REGISTRY_KEY);
    tg__redis_args_str(&args, h->group);
    tg__redis_args_str(&args, src->consumer);
    tg__redis_args_str(&args, from);
    tg__redis_args_i64(&args, (int64_t)want);
    tg__redis_args_i64(&args, claim && want > 0 ? src->claim_idle_ms : 0);
    tg__redis_args_i64(&args, src->claim_idle_ms / 3);
    tg__redis_args_str(&args, src->ids);
    tg__redis_args_i64(&args, tidy ? TG__REDIS_NOTIFY_TIDY_IDLE_MS : 0);
    redisReply *reply = NULL;
    tg_status status = tg__redis_call(src->ledger, &args, 2, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    size_t rows = (reply->elements - 2) / ROW_FIELDS;
    if ((reply->elements - 2) % ROW_FIELDS != 0 || rows > want ||
        (size_t)tg__redis_i64(reply, 1) > rows) {
        tg__redis_done(src->ledger, reply);
        return tg__fail(err, TG_ERR_IO, "redis function tg_notify_read answered %zu fields",
                        reply->elements);
    }
    *reply_out = reply;
    return TG_OK;
}

static tg_status notify_read(void *self, int sink, uint64_t after_id, tg_event *out, size_t max,
                             size_t *count_out, tg_error *err) {
    source *src = self;
    sink_held *h = &src->sinks[sink];
    *count_out = 0;
    size_t room = TG__REDIS_NOTIFY_HELD_MAX - (size_t)(h->last_local - h->acked_through);
    size_t want = max < room ? max : room;
    want = want < TG__REDIS_NOTIFY_READ_MAX ? want : TG__REDIS_NOTIFY_READ_MAX;
    if (after_id != h->last_local) {
        return TG_OK; /* not this source's cursor: nothing to give */
    }
    int64_t now_ms = tg__clock_monotonic_ms();
    bool claim = want > 0 && now_ms >= h->next_claim_ms, tidy = now_ms >= h->next_tidy_ms;
    char from[ID_TEXT_SIZE + 4] = ">";
    bool own_history = !h->own_done;
    if (own_history) {
        snprintf(from, sizeof from, "%llu-0", (unsigned long long)h->own_after);
    }
    refresh_list(src, h, now_ms);
    if (want == 0 && src->ids[0] == '\0' && !tidy) {
        return TG_OK; /* full, and nothing to refresh yet */
    }
    redisReply *reply = NULL;
    tg_status status = group_read(src, h, from, want, claim, tidy, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    size_t rows = (reply->elements - 2) / ROW_FIELDS, claimed = (size_t)tg__redis_i64(reply, 1);
    if (own_history && want > 0 && rows == claimed) {
        h->own_done = true; /* nothing of its own left from before: new entries from now on */
    }
    take_rows(h, reply, own_history, now_ms, out, count_out);
    tg__redis_done(src->ledger, reply);
    h->next_claim_ms = claim ? now_ms + TG__REDIS_NOTIFY_CLAIM_EVERY_MS : h->next_claim_ms;
    h->next_tidy_ms = tidy ? now_ms + TG__REDIS_NOTIFY_TIDY_EVERY_MS : h->next_tidy_ms;
    return TG_OK;
}

/* The notifier holds all it can of this sink: no read, but what it holds is refreshed, so
 * a backlog behind a receiver that is down is not taken over by another daemon. */
static void notify_keep(void *self, int sink) {
    source *src = self;
    size_t count = 0;
    tg_error err = {0};
    notify_read(src, sink, src->sinks[sink].last_local, NULL, 0, &count, &err);
}

/* ---- acknowledging -------------------------------------------------------------------------- */

/* One tg_notify_ack call: the ids in src->ids, and a dead letter when `dead` is not NULL. */
static tg_status ack_call(source *src, const sink_held *h, const tg__outbox_dead *dead,
                          int64_t now_ms, tg_error *err) {
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_notify_ack", TG__REDIS_REGISTRY_KEY);
    tg__redis_args_str(&args, h->group);
    tg__redis_args_str(&args, src->ids);
    uint64_t event_id = 0;
    if (dead != NULL) {
        event_id = h->real[slot_of(dead->event_id)];
        tg__redis_args_str(&args, h->name);
        tg__redis_args_i64(&args, (int64_t)event_id);
        tg__redis_args_i64(&args, dead->attempts);
        tg__redis_args_str(&args, dead->error);
        tg__redis_args_i64(&args, now_ms);
    }
    redisReply *reply = NULL;
    tg_status status = tg__redis_call(src->ledger, &args, 2, &reply, err);
    if (status == TG_OK) {
        tg__redis_done(src->ledger, reply);
    }
    return status;
}

/* Acknowledges the held entries up to local id `through` and those in sent[] (local ids
 * finished above it), in calls of at most ACK_MAX ids; marks them acknowledged once Redis
 * said so. */
static tg_status ack_sink(source *src, sink_held *h, uint64_t through, const uint64_t *sent,
                          size_t sent_count, int64_t now_ms, tg_error *err) {
    uint64_t upto = through < h->last_local ? through : h->last_local;
    uint64_t batch[TG__REDIS_NOTIFY_ACK_MAX];
    size_t n = 0, next_sent = 0;
    uint64_t l = h->acked_through + 1;
    for (;;) {
        bool more = l <= upto || next_sent < sent_count;
        if (n == TG__REDIS_NOTIFY_ACK_MAX || (!more && n > 0)) {
            size_t used = 0;
            for (size_t i = 0; i < n; i++) {
                used += (size_t)snprintf(src->ids + used, sizeof src->ids - used, "%llu,",
                                         (unsigned long long)h->real[slot_of(batch[i])]);
            }
            tg_status status = ack_call(src, h, NULL, now_ms, err);
            if (status != TG_OK) {
                return status;
            }
            for (size_t i = 0; i < n; i++) {
                h->acked[slot_of(batch[i])] = true;
            }
            n = 0;
        }
        if (!more) {
            break;
        }
        uint64_t local = l <= upto ? l++ : sent[next_sent++];
        if (local > h->acked_through && local <= h->last_local && !h->acked[slot_of(local)]) {
            batch[n++] = local;
        }
    }
    while (h->acked_through < upto && h->acked[slot_of(h->acked_through + 1)]) {
        h->acked_through++;
    }
    return TG_OK;
}

static sink_held *sink_named(source *src, const char *name) {
    for (int s = 0; s < src->count; s++) {
        if (strcmp(src->sinks[s].name, name) == 0) {
            return &src->sinks[s];
        }
    }
    return NULL;
}

/* Dead letters first (their entries are still held, so their ids can be told), then each
 * sink's acknowledgements. A failure leaves the rest for the notifier's next save. */
static tg_status notify_save(void *self, const tg__outbox_progress *progress, size_t count,
                             const tg__outbox_dead *dead, size_t dead_count,
                             uint64_t delivered_after, uint64_t delivered_through, int64_t now_ms,
                             tg_error *err) {
    (void)delivered_after, (void)delivered_through;
    source *src = self;
    for (size_t d = 0; d < dead_count; d++) {
        sink_held *h = sink_named(src, dead[d].sink);
        if (h == NULL || dead[d].event_id <= h->acked_through ||
            h->acked[slot_of(dead[d].event_id)]) {
            continue; /* recorded by an earlier save whose acknowledgements went through */
        }
        src->ids[0] = '\0';
        tg_status status = ack_call(src, h, &dead[d], now_ms, err);
        if (status != TG_OK) {
            return status;
        }
    }
    for (size_t p = 0; p < count; p++) {
        sink_held *h = sink_named(src, progress[p].sink);
        if (h == NULL) {
            continue;
        }
        tg_status status = ack_sink(src, h, progress[p].done_through, progress[p].sent,
                                    progress[p].sent_count, now_ms, err);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* ---- the rest of the table ----------------------------------------------------------------- */

/* A notifier (re)starting: local ids begin again at 1, and this consumer's own pending
 * entries (left by the notifier before a reload) are read again first. */
static tg_status notify_sink_load(void *self, int sink, const char *name, int64_t backfill_from_ms,
                                  uint64_t *done_through_out, uint64_t **sent_out,
                                  size_t *sent_count_out, tg_error *err) {
    (void)name, (void)backfill_from_ms, (void)err;
    sink_held *h = &((source *)self)->sinks[sink];
    h->last_local = h->acked_through = h->own_after = 0;
    h->own_done = false;
    *done_through_out = 0;
    *sent_out = NULL;
    *sent_count_out = 0;
    return TG_OK;
}

static uint64_t notify_event_id(void *self, int sink, uint64_t id) {
    return ((source *)self)->sinks[sink].real[slot_of(id)];
}

static void notify_close(void *self) {
    source *src = self;
    if (src == NULL) {
        return;
    }
    for (int s = 0; s < TG__OUTBOX_SINKS_MAX; s++) {
        free(src->sinks[s].real);
        free(src->sinks[s].touched_ms);
        free(src->sinks[s].acked);
    }
    tg__redis_ledger_close(src->ledger);
    free(src);
}

/* Each sink's group, made now if new: at start, before the daemon's collector first copies
 * (so a daemon's own start-up events reach a sink that is new with it). */
static tg_status create_groups(source *src, tg_error *err) {
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_notify_groups", TG__REDIS_REGISTRY_KEY);
    for (int s = 0; s < src->count; s++) {
        tg__redis_args_str(&args, src->sinks[s].group);
    }
    redisReply *reply = NULL;
    tg_status status = tg__redis_call(src->ledger, &args, 2, &reply, err);
    if (status == TG_OK) {
        tg__redis_done(src->ledger, reply);
    }
    return status;
}

const tg__outbox_ops tg__redis_notify_ops = {notify_sink_load, notify_read,     notify_keep,
                                             notify_save,      notify_event_id, notify_close};

tg_status tg__redis_notify_source_open(const tg__redis_ledger_options *options,
                                       const char *consumer, int64_t claim_idle_ms,
                                       const char *const *names, int count, tg__outbox_source *out,
                                       tg_error *err) {
    if (count < 0 || count > TG__OUTBOX_SINKS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "notify: %d sinks, at most %d", count,
                        TG__OUTBOX_SINKS_MAX);
    }
    source *src = calloc(1, sizeof *src);
    if (src == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "notify: out of memory");
    }
    snprintf(src->consumer, sizeof src->consumer, "%s", consumer);
    src->claim_idle_ms = claim_idle_ms;
    src->count = count;
    for (int s = 0; s < count; s++) {
        sink_held *h = &src->sinks[s];
        snprintf(h->name, sizeof h->name, "%s", names[s]);
        snprintf(h->group, sizeof h->group, GROUP_PREFIX "%s", names[s]);
        h->real = calloc(TG__REDIS_NOTIFY_HELD_MAX, sizeof *h->real);
        h->touched_ms = calloc(TG__REDIS_NOTIFY_HELD_MAX, sizeof *h->touched_ms);
        h->acked = calloc(TG__REDIS_NOTIFY_HELD_MAX, sizeof *h->acked);
        if (h->real == NULL || h->touched_ms == NULL || h->acked == NULL) {
            notify_close(src);
            return tg__fail(err, TG_ERR_NOMEM, "notify: out of memory");
        }
    }
    tg_status status = tg__redis_ledger_open(options, &src->ledger, err);
    if (status == TG_OK) {
        status = create_groups(src, err);
    }
    if (status != TG_OK) {
        notify_close(src);
        return status;
    }
    *out = (tg__outbox_source){&tg__redis_notify_ops, src};
    return TG_OK;
}
