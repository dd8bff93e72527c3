/*
 * api_events: GET /v1/events?since=ID&limit=N. On the SQLite store the events
 * table is paged (durable: every event since the file began, across restarts);
 * on the memory store the latest TG__EVENTS_KEPT events the engine reported are
 * kept in a ring. Both answer with the same fields, oldest first, and `next` to
 * pass as `since`. Ids increase and commits land in order, so a page never
 * skips an event that a later page could show.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "server/api.h"

void tg__daemon_on_event(void *user, const tg_event *event) {
    tg__daemon *daemon = user;
    if (strcmp(daemon->config->store, "sqlite") == 0) {
        return; /* the events table keeps them */
    }
    daemon->events[daemon->events_total % TG__EVENTS_KEPT] = *event;
    daemon->events_total++;
}

json_t *tg__event_json(const tg_event *e) {
    return json_pack(
        "{s:I,s:s,s:I,s:s,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:s}", "id", (json_int_t)e->id,
        "kind", tg_event_kind_str(e->kind), "time_ms", (json_int_t)e->time_ms, "budget", e->budget,
        "class", e->cls >= 0 ? json_string(tg_class_str((tg_class)e->cls)) : json_null(), "reason",
        e->reason >= 0 ? json_string(tg_reason_str((tg_reason)e->reason)) : json_null(), "hold_id",
        (json_int_t)e->hold_id, "amount_micros", tg__json_optional(e->amount_micros), "held_micros",
        tg__json_optional(e->held_micros), "spent_micros", tg__json_optional(e->spent_micros),
        "limit_micros", tg__json_optional(e->limit_micros), "threshold_micros",
        tg__json_optional(e->threshold_micros), "count", tg__json_optional(e->count), "tool",
        e->tool, "detail", e->detail);
}

static tg__reply from_ring(tg__daemon *daemon, const tg__caller *caller, uint64_t since,
                           uint64_t limit) {
    json_t *list = json_array();
    uint64_t first =
        daemon->events_total > TG__EVENTS_KEPT ? daemon->events_total - TG__EVENTS_KEPT : 0;
    uint64_t next = since;
    for (uint64_t i = first; i < daemon->events_total && json_array_size(list) < limit; i++) {
        const tg_event *event = &daemon->events[i % TG__EVENTS_KEPT];
        if (event->id <= since || !tg__may_touch(caller, event->budget)) {
            continue;
        }
        next = event->id;
        json_array_append_new(list, tg__event_json(event));
    }
    return tg__api_ok(json_pack("{s:o,s:I}", "events", list, "next", (json_int_t)next));
}

/* ---- the events table ------------------------------------------------------------ */

static const char events_sql[] =
    "SELECT id, kind, time_ms, budget, class, reason, hold_id, amount_micros, held_micros, "
    "spent_micros, limit_micros, threshold_micros, count, tool, detail FROM events "
    "WHERE id > ?1 AND (?2 = '' OR budget = ?2 OR substr(budget, 1, length(?2) + 1) = ?2 || '/') "
    "ORDER BY id LIMIT ?3";

static int64_t column_optional(sqlite3_stmt *s, int index) {
    return sqlite3_column_type(s, index) == SQLITE_NULL ? TG_NONE : sqlite3_column_int64(s, index);
}

static void column_copy(sqlite3_stmt *s, int index, char *out, size_t size) {
    const unsigned char *text = sqlite3_column_text(s, index);
    snprintf(out, size, "%s", text ? (const char *)text : "");
}

/* Names back to enums; an unknown name (a newer file) reads as "not applicable". */
static int parse_name(sqlite3_stmt *s, int index, const char *(*name)(int), int count) {
    const unsigned char *text = sqlite3_column_text(s, index);
    for (int i = 0; text != NULL && i < count; i++) {
        if (strcmp((const char *)text, name(i)) == 0) {
            return i;
        }
    }
    return -1;
}

static const char *kind_name(int i) {
    return tg_event_kind_str((tg_event_kind)i);
}
static const char *class_name(int i) {
    return tg_class_str((tg_class)i);
}
static const char *reason_name(int i) {
    return tg_reason_str((tg_reason)i);
}

static void event_from_row(sqlite3_stmt *s, tg_event *e) {
    memset(e, 0, sizeof *e);
    e->id = (uint64_t)sqlite3_column_int64(s, 0);
    int kind = parse_name(s, 1, kind_name, TG_EVENT_BUDGET_CHANGED + 1);
    e->kind = kind >= 0 ? (tg_event_kind)kind : TG_EVENT_BUDGET_CHANGED;
    e->time_ms = sqlite3_column_int64(s, 2);
    column_copy(s, 3, e->budget, sizeof e->budget);
    e->cls = parse_name(s, 4, class_name, TG_CLASS_COUNT);
    e->reason = parse_name(s, 5, reason_name, TG_REASON_COUNT);
    e->hold_id = (uint64_t)sqlite3_column_int64(s, 6);
    e->amount_micros = column_optional(s, 7);
    e->held_micros = column_optional(s, 8);
    e->spent_micros = column_optional(s, 9);
    e->limit_micros = column_optional(s, 10);
    e->threshold_micros = column_optional(s, 11);
    e->count = column_optional(s, 12);
    column_copy(s, 13, e->tool, sizeof e->tool);
    column_copy(s, 14, e->detail, sizeof e->detail);
}

static tg__reply from_table(tg__daemon *daemon, sqlite3 *db, const tg__caller *caller,
                            uint64_t since, uint64_t limit) {
    (void)daemon;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, events_sql, -1, &s, NULL) != SQLITE_OK) {
        return tg__api_error(503, "store_unavailable", sqlite3_errmsg(db));
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)since);
    sqlite3_bind_text(s, 2, caller->role == TG__ROLE_ADMIN ? "" : caller->scope, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
    json_t *list = json_array();
    uint64_t next = since;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        tg_event event;
        event_from_row(s, &event);
        next = event.id;
        json_array_append_new(list, tg__event_json(&event));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return tg__api_error(503, "store_unavailable", sqlite3_errmsg(db));
    }
    return tg__api_ok(json_pack("{s:o,s:I}", "events", list, "next", (json_int_t)next));
}

static const char events_after_sql[] =
    "SELECT id, kind, time_ms, budget, class, reason, hold_id, amount_micros, held_micros, "
    "spent_micros, limit_micros, threshold_micros, count, tool, detail FROM events "
    "WHERE id > ?1 ORDER BY id LIMIT ?2";

bool tg__events_read(sqlite3 *db, uint64_t after_id, int limit, tg_event *out, int *count_out) {
    sqlite3_stmt *s = NULL;
    *count_out = 0;
    if (sqlite3_prepare_v2(db, events_after_sql, -1, &s, NULL) != SQLITE_OK) {
        return false;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after_id);
    sqlite3_bind_int64(s, 2, limit);
    int rc = SQLITE_DONE;
    int count = 0;
    while (count < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        event_from_row(s, &out[count++]);
    }
    bool ok = count == limit || rc == SQLITE_DONE;
    sqlite3_finalize(s);
    *count_out = count;
    return ok;
}

bool tg__events_last_id(sqlite3 *db, uint64_t *out) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM events", -1, &s, NULL) !=
        SQLITE_OK) {
        return false;
    }
    bool ok = sqlite3_step(s) == SQLITE_ROW;
    if (ok) {
        *out = (uint64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return ok;
}

tg__reply tg__api_list_events(tg__daemon *daemon, const tg__caller *caller, uint64_t since,
                              uint64_t limit) {
    if (strcmp(daemon->config->store, "sqlite") != 0) {
        return from_ring(daemon, caller, since, limit);
    }
    tg__reply error;
    sqlite3 *db = tg__reader(daemon, &error);
    return db != NULL ? from_table(daemon, db, caller, since, limit) : error;
}
