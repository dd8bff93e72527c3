/*
 * store_sqlite_events: reading the events table, the durable outbox: the one decoder of an
 * events row (the daemon's pages and stream, and the notify outbox all use it) and the
 * pages of store_read.h.
 */
#include <string.h>

#include "core/path.h"
#include "store/store_sqlite_reader.h"

static int64_t column_optional(sqlite3_stmt *s, int column) {
    return sqlite3_column_type(s, column) == SQLITE_NULL ? TG_NONE
                                                         : sqlite3_column_int64(s, column);
}

/* Names back to enums; an unknown name (a newer file) reads as -1, "not applicable". */
static int parse_name(sqlite3_stmt *s, int column, const char *(*name)(int), int count) {
    const unsigned char *text = sqlite3_column_text(s, column);
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

bool tg__sqlite_event_decode(sqlite3_stmt *s, tg_event *e) {
    memset(e, 0, sizeof *e);
    e->id = (uint64_t)sqlite3_column_int64(s, 0);
    int kind = parse_name(s, 1, kind_name, TG_EVENT_APPROVAL_DECIDED + 1);
    e->kind = kind >= 0 ? (tg_event_kind)kind : TG_EVENT_BUDGET_CHANGED;
    e->time_ms = sqlite3_column_int64(s, 2);
    tg__sqlite_column_copy(s, 3, e->budget, sizeof e->budget);
    e->cls = parse_name(s, 4, class_name, TG_CLASS_COUNT);
    e->reason = parse_name(s, 5, reason_name, TG_REASON_COUNT);
    e->hold_id = (uint64_t)sqlite3_column_int64(s, 6);
    e->amount_micros = column_optional(s, 7);
    e->held_micros = column_optional(s, 8);
    e->spent_micros = column_optional(s, 9);
    e->limit_micros = column_optional(s, 10);
    e->threshold_micros = column_optional(s, 11);
    e->count = column_optional(s, 12);
    tg__sqlite_column_copy(s, 13, e->tool, sizeof e->tool);
    tg__sqlite_column_copy(s, 14, e->detail, sizeof e->detail);
    return kind >= 0;
}

static const char events_sql[] = "SELECT " TG__SQLITE_EVENT_COLUMNS " FROM events WHERE id > ?1 "
                                 "AND " TG__SQLITE_SUBTREE("budget", "2") " ORDER BY id LIMIT ?3";

static bool event_row(sqlite3_stmt *s, const tg__sqlite_visit *visit) {
    tg_event event;
    tg__sqlite_event_decode(s, &event);
    return visit->visit.event(visit->user, &event);
}

tg_status tg__store_read_events(tg__store_reader *reader, const tg__store_page *page,
                                tg__event_visit visit, void *user, tg_error *err) {
    tg__sqlite_visit context = {user, {.event = visit}};
    return tg__sqlite_read_page(reader, page, events_sql, event_row, &context, err);
}

typedef struct {
    tg_event *out;
    size_t count;
} into_context;

static bool into(void *user, const tg_event *event) {
    into_context *context = user;
    context->out[context->count++] = *event;
    return true;
}

tg_status tg__store_read_events_into(tg__store_reader *reader, uint64_t after_id, tg_event *out,
                                     size_t max, size_t *count_out, tg_error *err) {
    into_context context = {out, 0};
    tg__store_page page = {.budget = "", .after_id = after_id, .limit = max};
    tg_status status = tg__store_read_events(reader, &page, into, &context, err);
    if (status == TG_OK) {
        *count_out = context.count;
    }
    return status;
}

tg_status tg__store_read_events_last_id(tg__store_reader *reader, uint64_t *id_out, tg_error *err) {
    sqlite3_stmt *s = NULL;
    bool ok = sqlite3_prepare_v2(reader->db, "SELECT coalesce(max(id), 0) FROM events", -1, &s,
                                 NULL) == SQLITE_OK &&
              sqlite3_step(s) == SQLITE_ROW;
    if (ok) {
        *id_out = (uint64_t)sqlite3_column_int64(s, 0);
    }
    tg_status status = ok ? TG_OK : tg__sqlite_read_fail(reader->db, err);
    sqlite3_finalize(s);
    return status;
}
