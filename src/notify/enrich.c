/*
 * enrich: what a threshold or revocation message says beyond its event row,
 * read from the ledger's own tables at sending time. The burn rate comes from
 * the charges of the budget's subtree over the forecast window before the
 * event (charges_by_budget makes that two index ranges); the revocation
 * threshold from the budgets row; the tools a revocation affects are those
 * the revoked class used on the budget in that window. All best effort: a
 * query that fails leaves the item as it was, and the message still goes.
 */
#include <stdio.h>
#include <string.h>

#include "notify/outbox.h"

/* The budget and its subtree: path = ?1, or ?2 <= path < ?3 ("b/" <= path < "b0"). */
#define SUBTREE "(budget = ?1 OR (budget >= ?2 AND budget < ?3))"

static const char burned_sql[] = "SELECT coalesce(sum(cost_micros), 0) FROM charges WHERE " SUBTREE
                                 " AND time_ms > ?4 AND time_ms <= ?5";
static const char budget_sql[] =
    "SELECT cost_limit_micros, revoke_at_micros, revoke_at_ppm FROM budgets WHERE path = ?1";
static const char tools_sql[] =
    "SELECT CASE WHEN tool != '' THEN tool ELSE model END AS name, count(*) AS n FROM charges"
    " WHERE " SUBTREE " AND class = ?4 AND time_ms > ?5 AND time_ms <= ?6 AND name != ''"
    " GROUP BY name ORDER BY n DESC, name LIMIT 5";

typedef struct {
    char lower[TG_PATH_SIZE_MAX + 1]; /* "b/" */
    char upper[TG_PATH_SIZE_MAX + 1]; /* "b0": '0' is the byte after '/' */
} subtree;

static sqlite3_stmt *prepare_subtree(sqlite3 *db, const char *sql, const char *budget,
                                     subtree *bounds) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return NULL;
    }
    snprintf(bounds->lower, sizeof bounds->lower, "%s/", budget);
    snprintf(bounds->upper, sizeof bounds->upper, "%s0", budget);
    sqlite3_bind_text(s, 1, budget, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, bounds->lower, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, bounds->upper, -1, SQLITE_STATIC);
    return s;
}

static bool burned(sqlite3 *db, const char *budget, int64_t since_ms, int64_t until_ms,
                   int64_t *out) {
    subtree bounds;
    sqlite3_stmt *s = prepare_subtree(db, burned_sql, budget, &bounds);
    if (s == NULL) {
        return false;
    }
    sqlite3_bind_int64(s, 4, since_ms);
    sqlite3_bind_int64(s, 5, until_ms);
    bool ok = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER;
    if (ok) {
        *out = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return ok;
}

/* The revocation threshold as the core derives it (budget.c: an amount, or ppm rounded down). */
static bool threshold(sqlite3 *db, const char *budget, int64_t *limit_out, int64_t *threshold_out) {
    sqlite3_stmt *s = NULL;
    bool ok = sqlite3_prepare_v2(db, budget_sql, -1, &s, NULL) == SQLITE_OK &&
              sqlite3_bind_text(s, 1, budget, -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER;
    if (ok) {
        int64_t limit = sqlite3_column_int64(s, 0);
        int64_t level = limit;
        if (sqlite3_column_type(s, 1) == SQLITE_INTEGER) {
            level = sqlite3_column_int64(s, 1);
        } else if (sqlite3_column_type(s, 2) == SQLITE_INTEGER) {
            level = (int64_t)((__int128)limit * sqlite3_column_int64(s, 2) / TG_PPM);
        }
        *limit_out = limit;
        *threshold_out = level < limit ? level : limit;
    }
    sqlite3_finalize(s);
    return ok;
}

static void tools(sqlite3 *db, const char *budget, int cls, int64_t since_ms, int64_t until_ms,
                  tg__notify_item *item) {
    subtree bounds;
    sqlite3_stmt *s = prepare_subtree(db, tools_sql, budget, &bounds);
    if (s == NULL || cls < 0 || cls >= TG_CLASS_COUNT) {
        sqlite3_finalize(s);
        return;
    }
    sqlite3_bind_text(s, 4, tg_class_str((tg_class)cls), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, since_ms);
    sqlite3_bind_int64(s, 6, until_ms);
    while (sqlite3_step(s) == SQLITE_ROW) {
        tg__item_add_tool(item, (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
}

void tg__outbox_enrich(tg__outbox *outbox, int64_t window_ms, tg__notify_item *item) {
    const tg_event *event = &item->event;
    if (window_ms <= 0 ||
        (event->kind != TG_EVENT_THRESHOLD_CROSSED && event->kind != TG_EVENT_REVOKED)) {
        return;
    }
    sqlite3 *db = tg__outbox_db(outbox);
    int64_t since_ms =
        event->time_ms > INT64_MIN + window_ms ? event->time_ms - window_ms : INT64_MIN;
    if (event->kind == TG_EVENT_REVOKED && item->tools_count == 0) {
        tools(db, event->budget, event->cls, since_ms, event->time_ms, item);
    }
    int64_t limit = TG_NONE, level = TG_NONE, spent_in_window = 0;
    if (threshold(db, event->budget, &limit, &level) &&
        burned(db, event->budget, since_ms, event->time_ms, &spent_in_window)) {
        int64_t spent = event->spent_micros != TG_NONE ? event->spent_micros : 0;
        item->has_forecast =
            tg__forecast_compute(window_ms, spent_in_window, spent, limit, level, &item->forecast);
    }
}
