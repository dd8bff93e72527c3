/*
 * failed: the dead-letter list, for the API and `tollgate events --failed`.
 * Read with a short-lived read-only connection of its own, so it can be called
 * from the daemon's loop or the command line while the sender writes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "core/path.h"
#include "notify/notify.h"

static const char list_sql[] =
    "SELECT d.sink, d.event_id, e.kind, e.budget, e.time_ms, d.failed_at_ms, d.attempts,"
    " d.last_error FROM notify_dead d LEFT JOIN events e ON e.id = d.event_id"
    " WHERE d.event_id > ?1 AND (?3 = '' OR e.budget = ?3"
    " OR substr(e.budget, 1, length(?3) + 1) = ?3 || '/')"
    " ORDER BY d.event_id, d.sink LIMIT ?2";

static json_t *text_or_null(sqlite3_stmt *s, int column) {
    const char *text = (const char *)sqlite3_column_text(s, column);
    json_t *value = text ? json_string(text) : NULL;
    return value ? value : json_null();
}

static json_t *row_json(sqlite3_stmt *s) {
    return json_pack("{s:o,s:I,s:o,s:o,s:o,s:I,s:I,s:o}", "sink", text_or_null(s, 0), "event_id",
                     (json_int_t)sqlite3_column_int64(s, 1), "kind", text_or_null(s, 2), "budget",
                     text_or_null(s, 3), "time_ms",
                     sqlite3_column_type(s, 4) == SQLITE_NULL
                         ? json_null()
                         : json_integer(sqlite3_column_int64(s, 4)),
                     "failed_at_ms", (json_int_t)sqlite3_column_int64(s, 5), "attempts",
                     (json_int_t)sqlite3_column_int64(s, 6), "last_error", text_or_null(s, 7));
}

/* True when the store has no notify_dead table yet (no sender ever ran on it). */
static bool no_table(sqlite3 *db) {
    return strstr(sqlite3_errmsg(db), "no such table") != NULL;
}

tg_status tg__notify_failed_json(const char *store_path, uint64_t after_id, int64_t limit,
                                 char **json_out, tg_error *err) {
    return tg__notify_failed_json_scoped(store_path, "", after_id, limit, json_out, err);
}

tg_status tg__notify_failed_json_scoped(const char *store_path, const char *scope,
                                        uint64_t after_id, int64_t limit, char **json_out,
                                        tg_error *err) {
    if (limit < 1 || limit > 1000) {
        return tg__fail(err, TG_ERR_INVALID, "limit must be between 1 and 1000");
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_open_v2(store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        tg_status status = tg__fail(err, TG_ERR_IO, "cannot open %s: %s", store_path,
                                    db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return status;
    }
    sqlite3_busy_timeout(db, 2000);
    json_t *list = json_array();
    uint64_t next = after_id;
    tg_status status = TG_OK;
    if (sqlite3_prepare_v2(db, list_sql, -1, &s, NULL) != SQLITE_OK) {
        if (!no_table(db)) {
            status = tg__fail(err, TG_ERR_IO, "cannot read %s: %s", store_path, sqlite3_errmsg(db));
        }
    } else {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)after_id);
        sqlite3_bind_int64(s, 2, limit);
        sqlite3_bind_text(s, 3, scope, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            json_array_append_new(list, row_json(s));
            next = (uint64_t)sqlite3_column_int64(s, 1);
        }
        if (rc != SQLITE_DONE) {
            status = tg__fail(err, TG_ERR_IO, "cannot read %s: %s", store_path, sqlite3_errmsg(db));
        }
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    json_t *body = json_pack("{s:o,s:I}", "failed", list, "next", (json_int_t)next);
    char *text = status == TG_OK && body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (status == TG_OK && text == NULL) {
        status = tg__fail(err, TG_ERR_NOMEM, "out of memory listing failed deliveries");
    }
    if (status == TG_OK) {
        *json_out = text;
    }
    return status;
}
