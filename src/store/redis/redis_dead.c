/*
 * redis_dead: pages of the notifications given up on (redis_dead.h), through
 * tollgate.lua's read-only tg_notify_dead.
 */
#include "store/redis/redis_dead.h"

#include <stdio.h>
#include <string.h>

#include "core/path.h"
#include "store/redis/redis_internal.h"

#define ROW_FIELDS                                                                                 \
    9 /* sink, event, has event, kind, budget, time, given up at, attempts, error                  \
       */

/* One row of a tg_notify_dead answer, from element `at`, as the SQLite reader gives it. */
static void row_of(const redisReply *reply, size_t at, tg__dead_letter *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->sink, sizeof d->sink, "%s", tg__redis_str(reply, at));
    d->event_id = (uint64_t)tg__redis_i64(reply, at + 1);
    d->has_event = tg__redis_i64(reply, at + 2) != 0;
    if (d->has_event) {
        snprintf(d->kind, sizeof d->kind, "%s",
                 tg_event_kind_str((tg_event_kind)tg__redis_i64(reply, at + 3)));
        snprintf(d->budget, sizeof d->budget, "%s", tg__redis_str(reply, at + 4));
        d->time_ms = tg__redis_i64(reply, at + 5);
    }
    d->failed_at_ms = tg__redis_i64(reply, at + 6);
    d->attempts = tg__redis_i64(reply, at + 7);
    snprintf(d->last_error, sizeof d->last_error, "%s", tg__redis_str(reply, at + 8));
}

/* One tg_notify_dead call: up to `want` rows after `after`, visited; *through_out and
 * *more_out as tollgate.lua answers; *rows_out rows visited, *stop_out when visit said so. */
static tg_status dead_call(tg__redis_ledger *ledger, const char *scope, uint64_t after, size_t want,
                           tg__dead_letter_visit visit, void *user, uint64_t *through_out,
                           bool *more_out, size_t *rows_out, bool *stop_out, tg_error *err) {
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_notify_dead", TG__REDIS_REGISTRY_KEY);
    tg__redis_args_i64(&args, (int64_t)after);
    tg__redis_args_i64(&args, (int64_t)want);
    tg__redis_args_str(&args, scope);
    redisReply *reply = NULL;
    tg_status status = tg__redis_call(ledger, &args, 3, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    size_t rows = (reply->elements - 3) / ROW_FIELDS;
    if ((reply->elements - 3) % ROW_FIELDS != 0 || rows > want) {
        size_t elements = reply->elements;
        tg__redis_done(ledger, reply);
        return tg__fail(err, TG_ERR_IO, "redis function tg_notify_dead answered %zu fields",
                        elements);
    }
    *through_out = (uint64_t)tg__redis_i64(reply, 1);
    *more_out = tg__redis_i64(reply, 2) != 0;
    *rows_out = rows;
    *stop_out = false;
    for (size_t r = 0; r < rows && !*stop_out; r++) {
        tg__dead_letter dead;
        row_of(reply, 3 + r * ROW_FIELDS, &dead);
        *stop_out = !visit(user, &dead);
    }
    tg__redis_done(ledger, reply);
    return TG_OK;
}

tg_status tg__redis_dead_letters(tg__redis_ledger *ledger, const tg__store_page *page,
                                 tg__dead_letter_visit visit, void *user, tg_error *err) {
    if (page->limit < 1 || page->limit > TG__REDIS_NOTIFY_DEAD_PAGE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "limit must be between 1 and %d",
                        TG__REDIS_NOTIFY_DEAD_PAGE_MAX);
    }
    uint64_t after = page->after_id;
    size_t listed = 0;
    for (int calls = 0; calls < TG__REDIS_NOTIFY_DEAD_CALLS_MAX && listed < page->limit; calls++) {
        uint64_t through = 0;
        bool more = false, stop = false;
        size_t rows = 0;
        tg_status status = dead_call(ledger, page->budget, after, page->limit - listed, visit, user,
                                     &through, &more, &rows, &stop, err);
        if (status != TG_OK) {
            return status;
        }
        listed += rows;
        if (stop || !more || through <= after) {
            break;
        }
        after = through;
    }
    return TG_OK;
}
