/*
 * holds: GET /v1/holds, the open holds of a subtree, paged by id from the holds table of
 * the SQLite file through the daemon's read-only connection (reader.c), like charges.c.
 * The table is what the last group commit wrote, so a hold answered to its client is
 * listed (strict durability writes it before the answer). The console lists a budget's
 * open holds with it, and an admin releases a stuck one with POST /v1/holds/{id}/release.
 */
#include <string.h>

#include <sqlite3.h>

#include "server/daemon.h"

static const char holds_sql[] =
    "SELECT id, budget, amount_micros, tokens, class, tool, model, created_at_ms, "
    "expires_at_ms, cancel_requested FROM holds WHERE id > ?1 "
    "AND (?2 = '' OR budget = ?2 OR substr(budget, 1, length(?2) + 1) = ?2 || '/') "
    "ORDER BY id LIMIT ?3";

static const char *column_text(sqlite3_stmt *s, int column) {
    const unsigned char *value = sqlite3_column_text(s, column);
    return value ? (const char *)value : "";
}

static json_t *hold_json(sqlite3_stmt *s) {
    return json_pack(
        "{s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:I,s:I,s:b}", "id", (json_int_t)sqlite3_column_int64(s, 0),
        "budget", column_text(s, 1), "amount_micros", (json_int_t)sqlite3_column_int64(s, 2),
        "tokens", (json_int_t)sqlite3_column_int64(s, 3), "class", column_text(s, 4), "tool",
        column_text(s, 5), "model", column_text(s, 6), "created_at_ms",
        (json_int_t)sqlite3_column_int64(s, 7), "expires_at_ms",
        (json_int_t)sqlite3_column_int64(s, 8), "cancel_requested", sqlite3_column_int(s, 9) != 0);
}

tg__reply tg__holds_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                         int64_t after_id, int64_t limit) {
    if (budget[0] != '\0' && caller->role != TG__ROLE_ADMIN &&
        !tg__path_in_scope(caller->scope, budget)) {
        return tg__api_error(403, "forbidden", "this key may not read that budget");
    }
    tg__reply error;
    sqlite3 *db = tg__reader(daemon, &error);
    if (db == NULL) {
        return error;
    }
    /* Without a budget filter a scoped key sees its own subtree only. */
    const char *prefix =
        budget[0] != '\0' || caller->role == TG__ROLE_ADMIN ? budget : caller->scope;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, holds_sql, -1, &s, NULL) != SQLITE_OK) {
        return tg__api_error(503, "store_unavailable", sqlite3_errmsg(db));
    }
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_text(s, 2, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, limit);
    json_t *rows = json_array();
    int64_t next = after_id;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        next = sqlite3_column_int64(s, 0);
        json_array_append_new(rows, hold_json(s));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(rows);
        return tg__api_error(503, "store_unavailable", sqlite3_errmsg(db));
    }
    return (tg__reply){200, json_pack("{s:o,s:I}", "holds", rows, "next", (json_int_t)next),
                       TG_NONE};
}
