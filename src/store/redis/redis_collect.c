/*
 * redis_collect: the collector and the reads of the ledger-wide events stream
 * (redis_collect.h), through tollgate.lua's tg_events_pack, tg_collect, tg_copied and
 * tg_ledger_events.
 */
#include "store/redis/redis_collect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ledger_internal.h"
#include "store/redis/redis_events.h"
#include "store/redis/redis_internal.h"

#define ROW_FIELDS 16 /* number, tree, kind, time, budget, then the 11 optional fields */
#define SWEEP_OVERFLOW_TREES 1024 /* looked at per collect while touched trees overflowed */

_Static_assert(TG__REDIS_COLLECT_DIRTY == TG__REDIS_DIRTY_MAX, "one bound, two headers");
_Static_assert(TG__REDIS_COLLECT_BATCH <= TG__REDIS_EVENTS_CALL_MAX,
               "a batch is one tg_events_pack call");
_Static_assert(TG__REDIS_SWEEP_TREES + 4 <= TG__REDIS_ARGS_MAX, "one tg_copied call a slice");

/* The functions whose calls may emit events (every function wrapped in `emitting`). */
static const char *const EMITTING[] = {
    "tg_reserve",    "tg_commit",     "tg_release",       "tg_record",        "tg_hold_get",
    "tg_budget_put", "tg_budget_get", "tg_budget_delete", "tg_budget_freeze", "tg_budgets_apply",
};

/* Read-only functions: nothing for WAIT to wait for (redis_internal.h). */
static const char *const READ_ONLY[] = {
    "tg_events_pack",
    "tg_copied",
    "tg_ledger_events",
    "tg_trees",
};

bool tg__redis_call_waits(const tg__redis_args *args, bool synchronous) {
    if (args->count < 2 || strcmp(args->argv[0], "FCALL") != 0) {
        return true;
    }
    for (size_t i = 0; i < sizeof READ_ONLY / sizeof READ_ONLY[0]; i++) {
        if (strcmp(args->argv[1], READ_ONLY[i]) == 0) {
            return false;
        }
    }
    /* The notifier's reads and acknowledgements: one lost in a failover only sends its
     * entries again (redis_notify.h), and the notifier's thread is not to wait for replicas. */
    if (strncmp(args->argv[1], "tg_notify_", 10) == 0) {
        return false;
    }
    return !(synchronous && strcmp(args->argv[1], "tg_collect") == 0);
}

void tg__redis_touched(tg__redis_ledger *ledger, const tg__redis_args *args) {
    if (args->count < 4 || strcmp(args->argv[0], "FCALL") != 0) {
        return;
    }
    bool emitting = false;
    for (size_t i = 0; i < sizeof EMITTING / sizeof EMITTING[0] && !emitting; i++) {
        emitting = strcmp(args->argv[1], EMITTING[i]) == 0;
    }
    const char *prefix = args->argv[3]; /* "tg:{ROOT}:" */
    size_t size = args->lens[3];
    if (!emitting || size < 6 || strncmp(prefix, "tg:{", 4) != 0 ||
        size - 6 >= TG_SEGMENT_SIZE_MAX) {
        return;
    }
    char root[TG_SEGMENT_SIZE_MAX];
    memcpy(root, prefix + 4, size - 6);
    root[size - 6] = '\0';
    tg__redis_collector *c = &ledger->collector;
    for (int i = c->touched_count - 1; i >= 0; i--) { /* the latest first: trees repeat */
        if (strcmp(c->touched[i], root) == 0) {
            return;
        }
    }
    if (c->touched_count == TG__REDIS_COLLECT_DIRTY) {
        c->touched_overflow = true; /* the sweep finds it */
        return;
    }
    memcpy(c->touched[c->touched_count++], root, sizeof root);
}

/* The copied position of `tree` as last seen, or -1. */
static int64_t known_copied(const tg__redis_collect_state *c, int64_t tree) {
    size_t at = (size_t)tree % TG__REDIS_TREE_CACHE;
    return c->copied_tree[at] == tree ? c->copied_seq[at] : -1;
}

static void know_copied(tg__redis_collect_state *c, int64_t tree, int64_t seq) {
    size_t at = (size_t)tree % TG__REDIS_TREE_CACHE;
    c->copied_tree[at] = tree;
    c->copied_seq[at] = seq;
}

/* What one collect shares. */
typedef struct {
    tg__redis_ledger *ledger;
    int calls;      /* made so far, at most TG__REDIS_COLLECT_CALLS_MAX */
    int64_t copied; /* events appended */
} run;

/* Through tg__redis_call: a reply is given back with tg__redis_done (inside a pass it is the
 * pass's), before the next call. */
static tg_status call(run *r, tg__redis_args *args, size_t fields, redisReply **reply,
                      tg_error *err) {
    r->calls++;
    return tg__redis_call(r->ledger, args, fields, reply, err);
}

/* The copied positions of trees first..first+count-1 into seqs (tg_copied). */
static tg_status copied_of(run *r, int64_t first, int count, int64_t *seqs, tg_error *err) {
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_copied", TG__REDIS_REGISTRY_KEY);
    for (int i = 0; i < count; i++) {
        tg__redis_args_i64(&args, first + i);
    }
    redisReply *reply = NULL;
    tg_status status = call(r, &args, 1 + (size_t)count, &reply, err);
    if (status == TG_OK) {
        for (int i = 0; i < count; i++) {
            seqs[i] = tg__redis_i64(reply, 1 + (size_t)i);
            know_copied(&r->ledger->collector.state, first + i, seqs[i]);
        }
        tg__redis_done(r->ledger, reply);
    }
    return status;
}

/*
 * Copies the new events of tree `tree` (root `root`) from position `seq` (-1: unknown) on,
 * batch by batch while the calls last. *done_out: nothing more was there to copy.
 */
static tg_status collect_tree(run *r, const char *root, int64_t tree, int64_t seq, bool *done_out,
                              tg_error *err) {
    *done_out = false;
    tg_status status = TG_OK;
    if (seq < 0 && (r->calls + 3 > TG__REDIS_COLLECT_CALLS_MAX ||
                    (status = copied_of(r, tree, 1, &seq, err)) != TG_OK)) {
        return status;
    }
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_prefix_of(root, prefix);
    while (r->calls + 2 <= TG__REDIS_COLLECT_CALLS_MAX) {
        tg__redis_args args;
        tg__redis_args_fcall(&args, "tg_events_pack", prefix);
        tg__redis_args_i64(&args, seq);
        tg__redis_args_i64(&args, TG__REDIS_COLLECT_BATCH);
        redisReply *pack = NULL;
        if ((status = call(r, &args, 3, &pack, err)) != TG_OK) {
            return status;
        }
        int64_t count = tg__redis_i64(pack, 1);
        const redisReply *packed = pack->element[2];
        if (count == 0 || packed->type != REDIS_REPLY_STRING) {
            tg__redis_done(r->ledger, pack);
            know_copied(&r->ledger->collector.state, tree, seq);
            *done_out = true;
            return TG_OK;
        }
        /* A copy: the reply is given back before the next call (a pass's replies are its). */
        size_t packed_size = packed->len;
        char *batch = malloc(packed_size > 0 ? packed_size : 1);
        if (batch != NULL) {
            memcpy(batch, packed->str, packed_size);
        }
        tg__redis_done(r->ledger, pack);
        if (batch == NULL) {
            return tg__fail(err, TG_ERR_NOMEM, "out of memory for a batch of events");
        }
        tg__redis_args_fcall(&args, "tg_collect", TG__REDIS_REGISTRY_KEY);
        tg__redis_args_i64(&args, tree);
        tg__redis_args_i64(&args, seq);
        tg__redis_args_bytes(&args, batch, packed_size);
        redisReply *reply = NULL;
        status = call(r, &args, 3, &reply, err);
        free(batch);
        if (status != TG_OK) {
            return status;
        }
        seq = tg__redis_i64(reply, 1); /* moved on by us, or by another collector */
        int64_t appended = tg__redis_i64(reply, 2);
        tg__redis_done(r->ledger, reply);
        know_copied(&r->ledger->collector.state, tree, seq);
        r->copied += appended;
        if (appended > 0 && count < TG__REDIS_COLLECT_BATCH) {
            *done_out = true; /* the tree's stream ended with this batch */
            return TG_OK;
        }
    }
    return TG_OK;
}

/* The trees this process touched: each one finished is forgotten, the rest wait. */
static tg_status collect_touched(run *r, tg_error *err) {
    tg__redis_collect_state *c = &r->ledger->collector.state;
    int kept = 0;
    tg_status status = TG_OK;
    for (int i = 0; i < c->dirty_count; i++) {
        bool done = false;
        int64_t tree = 0;
        if (status == TG_OK &&
            (status = tg__redis_tree_of_root(r->ledger, c->dirty[i], false, &tree, err)) == TG_OK) {
            if (tree == 0) {
                done = true; /* a root whose tree was never made: no events */
            } else {
                status = collect_tree(r, c->dirty[i], tree, known_copied(c, tree), &done, err);
            }
        }
        if (!done) {
            memmove(c->dirty[kept++], c->dirty[i], sizeof c->dirty[i]);
        }
    }
    c->dirty_count = kept;
    return status;
}

/* The next trees of the sweep's round over every tree, `trees` of them at most. */
static tg_status sweep(run *r, int64_t trees, tg_error *err) {
    tg__redis_collect_state *c = &r->ledger->collector.state;
    tg_status status = TG_OK;
    while (trees > 0 && r->calls + 3 <= TG__REDIS_COLLECT_CALLS_MAX) {
        if (c->sweep_next < 1 || c->sweep_next > c->sweep_last) {
            tg__redis_args args;
            tg__redis_args_fcall(&args, "tg_trees", TG__REDIS_REGISTRY_KEY);
            redisReply *reply = NULL;
            if ((status = call(r, &args, 2, &reply, err)) != TG_OK) {
                return status;
            }
            c->sweep_last = tg__redis_i64(reply, 1);
            tg__redis_done(r->ledger, reply);
            c->sweep_next = 1;
            if (c->sweep_last == 0) {
                return TG_OK;
            }
            c->dirty_overflow = false; /* a whole round starts: every tree is seen again */
        }
        int64_t left = c->sweep_last - c->sweep_next + 1;
        int count = (int)(left < TG__REDIS_SWEEP_TREES ? left : TG__REDIS_SWEEP_TREES);
        if (count > trees) {
            count = (int)trees;
        }
        int64_t seqs[TG__REDIS_SWEEP_TREES];
        if ((status = copied_of(r, c->sweep_next, count, seqs, err)) != TG_OK) {
            return status;
        }
        for (int i = 0; i < count; i++) {
            int64_t tree = c->sweep_next;
            char root[TG_SEGMENT_SIZE_MAX];
            bool done = true;
            if ((status = tg__redis_root_of_tree(r->ledger, tree, root, err)) != TG_OK) {
                return status;
            }
            if (root[0] != '\0' &&
                (status = collect_tree(r, root, tree, seqs[i], &done, err)) != TG_OK) {
                return status;
            }
            if (!done) {
                return TG_OK; /* the calls ran out: this tree first next time */
            }
            c->sweep_next++;
        }
        trees -= count;
    }
    return TG_OK;
}

tg_status tg__redis_collect_begin(tg__redis_ledger *ledger, tg_error *err) {
    tg__redis_collector *c = &ledger->collector;
    tg__redis_collect_state *state = &c->state;
    for (int i = 0; i < c->touched_count; i++) {
        bool known = false;
        for (int j = 0; j < state->dirty_count && !known; j++) {
            known = strcmp(state->dirty[j], c->touched[i]) == 0;
        }
        if (!known && state->dirty_count == TG__REDIS_COLLECT_DIRTY) {
            state->dirty_overflow = true;
        } else if (!known) {
            memcpy(state->dirty[state->dirty_count++], c->touched[i], sizeof c->touched[i]);
        }
    }
    state->dirty_overflow = state->dirty_overflow || c->touched_overflow;
    c->touched_count = 0;
    c->touched_overflow = false;
    free(c->saved);
    c->saved = malloc(sizeof *c->saved);
    if (c->saved == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory saving the collector's state");
    }
    *c->saved = *state;
    return TG_OK;
}

tg_status tg__redis_collect_run(tg__redis_ledger *ledger, int64_t *copied_out,
                                uint64_t *last_id_out, tg_error *err) {
    tg__redis_collector *c = &ledger->collector;
    if (c->saved != NULL) {
        c->state = *c->saved; /* every pass from the same state makes the same calls */
    }
    run r = {ledger, 0, 0};
    tg_status status = collect_touched(&r, err);
    if (status == TG_OK) {
        status =
            sweep(&r, c->state.dirty_overflow ? SWEEP_OVERFLOW_TREES : TG__REDIS_SWEEP_TREES, err);
    }
    uint64_t last_id = 0;
    if (status == TG_OK) {
        status = tg__redis_ledger_events_last(ledger, &last_id, err);
    }
    if (copied_out != NULL) {
        *copied_out = r.copied;
    }
    if (last_id_out != NULL) {
        *last_id_out = last_id;
    }
    return status;
}

void tg__redis_collect_end(tg__redis_ledger *ledger) {
    free(ledger->collector.saved);
    ledger->collector.saved = NULL;
}

tg_status tg__redis_events_collect(tg__redis_ledger *ledger, int64_t *copied_out, tg_error *err) {
    tg_status status = tg__redis_collect_begin(ledger, err);
    if (status == TG_OK || status == TG_ERR_NOMEM) {
        status = tg__redis_collect_run(ledger, copied_out, NULL, err);
    }
    tg__redis_collect_end(ledger);
    return status;
}

/* ---- reading ------------------------------------------------------------------------ */

/* One row of a tg_ledger_events answer, from element `at`: the ledger-wide number, the
 * tree's number, then the fields a tree's row has. */
static void row_of(const redisReply *reply, size_t at, tg_event *e) {
    tg__redis_event_fields(reply, at + 2, tg__redis_i64(reply, at + 1), e);
    e->id = (uint64_t)tg__redis_i64(reply, at);
}

tg_status tg__redis_ledger_events(tg__redis_ledger *ledger, uint64_t after_id, tg_event *out,
                                  size_t max, size_t *count_out, uint64_t *last_id_out,
                                  tg_error *err) {
    size_t count = 0;
    uint64_t last_id = 0;
    do {
        size_t want =
            max - count < TG__REDIS_EVENTS_CALL_MAX ? max - count : TG__REDIS_EVENTS_CALL_MAX;
        tg__redis_args args;
        tg__redis_args_fcall(&args, "tg_ledger_events", TG__REDIS_REGISTRY_KEY);
        tg__redis_args_i64(&args, (int64_t)after_id);
        tg__redis_args_i64(&args, (int64_t)(want > 0 ? want : 1));
        redisReply *reply = NULL;
        tg_status status = tg__redis_call(ledger, &args, 2, &reply, err);
        if (status != TG_OK) {
            return status;
        }
        last_id = (uint64_t)tg__redis_i64(reply, 1);
        size_t rows = (reply->elements - 2) / ROW_FIELDS;
        if ((reply->elements - 2) % ROW_FIELDS != 0 || rows > want) {
            tg__redis_done(ledger, reply);
            return tg__fail(err, TG_ERR_IO, "redis function tg_ledger_events answered %zu fields",
                            reply->elements);
        }
        for (size_t i = 0; i < rows; i++) {
            row_of(reply, 2 + i * ROW_FIELDS, &out[count + i]);
        }
        tg__redis_done(ledger, reply);
        count += rows;
        if (rows == 0 || rows < want) {
            break;
        }
        after_id = out[count - 1].id;
    } while (count < max);
    *count_out = count;
    if (last_id_out != NULL) {
        *last_id_out = last_id;
    }
    return TG_OK;
}

tg_status tg__redis_ledger_events_last(tg__redis_ledger *ledger, uint64_t *last_id_out,
                                       tg_error *err) {
    tg_event none;
    size_t count = 0;
    /* After a number no stream reaches (and exact in Lua): only the last number answers. */
    return tg__redis_ledger_events(ledger, UINT64_C(1) << 52, &none, 1, &count, last_id_out, err);
}
