/*
 * redis_events: a tree's events (redis_events.h), through tollgate.lua's read-only
 * function tg_events.
 */
#include "store/redis/redis_events.h"

#include <stdio.h>
#include <string.h>

#include "core/ledger_internal.h"
#include "store/redis/redis_internal.h"

#define ROW_FIELDS                                                                                 \
    15 /* seq, kind, time, budget, cls, reason, hold, amount, held, spent, limit,                  \
          threshold, count, tool, detail */

void tg__redis_event_fields(const redisReply *reply, size_t at, int64_t tree, tg_event *e) {
    memset(e, 0, sizeof *e);
    e->kind = (tg_event_kind)tg__redis_i64(reply, at);
    e->time_ms = tg__redis_i64(reply, at + 1);
    snprintf(e->budget, sizeof e->budget, "%s", tg__redis_str(reply, at + 2));
    e->cls = (int)tg__redis_i64(reply, at + 3);
    e->reason = (int)tg__redis_i64(reply, at + 4);
    int64_t hold = tg__redis_i64(reply, at + 5);
    e->hold_id = hold > 0 ? tg__redis_id_make(tree, hold) : 0;
    e->amount_micros = tg__redis_i64(reply, at + 6);
    e->held_micros = tg__redis_i64(reply, at + 7);
    e->spent_micros = tg__redis_i64(reply, at + 8);
    e->limit_micros = tg__redis_i64(reply, at + 9);
    e->threshold_micros = tg__redis_i64(reply, at + 10);
    e->count = tg__redis_i64(reply, at + 11);
    snprintf(e->tool, sizeof e->tool, "%s", tg__redis_str(reply, at + 12));
    snprintf(e->detail, sizeof e->detail, "%s", tg__redis_str(reply, at + 13));
}

/* One row of a tg_events answer, from element `at`: the tree's sequence, then the fields. */
static void row_of(const redisReply *reply, size_t at, int64_t tree, tg_event *e) {
    tg__redis_event_fields(reply, at + 1, tree, e);
    e->id = tg__redis_id_make(tree, tg__redis_i64(reply, at));
}

tg_status tg__redis_tree_events(tg__redis_ledger *ledger, const char *root, int64_t after_seq,
                                tg_event *out, size_t max, size_t *count_out, tg_error *err) {
    *count_out = 0;
    int64_t tree = 0;
    tg_status status = tg__redis_tree_of_root(ledger, root, false, &tree, err);
    if (status != TG_OK || tree == 0 || max == 0) {
        return status;
    }
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_prefix_of(root, prefix);
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_events", prefix);
    tg__redis_args_i64(&args, after_seq);
    tg__redis_args_i64(
        &args, (int64_t)(max < TG__REDIS_EVENTS_CALL_MAX ? max : TG__REDIS_EVENTS_CALL_MAX));
    redisReply *reply = NULL;
    if ((status = tg__redis_call(ledger, &args, 1, &reply, err)) != TG_OK) {
        return status;
    }
    size_t rows = (reply->elements - 1) / ROW_FIELDS;
    if ((reply->elements - 1) % ROW_FIELDS != 0 || rows > max) {
        tg__redis_done(ledger, reply);
        return tg__fail(err, TG_ERR_IO, "redis function tg_events answered %zu fields",
                        reply->elements);
    }
    for (size_t i = 0; i < rows; i++) {
        row_of(reply, 1 + i * ROW_FIELDS, tree, &out[i]);
    }
    *count_out = rows;
    tg__redis_done(ledger, reply);
    return TG_OK;
}
