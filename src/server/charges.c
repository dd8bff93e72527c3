/*
 * charges: GET /v1/charges, paged from the charges table of the SQLite file
 * through the daemon's read-only connection (reader.c), so paging a large
 * history never touches the engine's connection. The columns are the store's
 * schema (docs/architecture.md): charges(id, time_ms, budget, hold_id, class,
 * tool, model, tokens_in, tokens_out, cost_micros, held_micros).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "server/daemon.h"

static const char charges_sql[] =
    "SELECT id, time_ms, budget, hold_id, class, tool, model, tokens_in, tokens_out, "
    "cost_micros, held_micros FROM charges WHERE id > ?1 AND time_ms >= ?2 AND time_ms < ?3 "
    "AND (?4 = '' OR budget = ?4 OR substr(budget, 1, length(?4) + 1) = ?4 || '/') "
    "ORDER BY id LIMIT ?5";

static json_t *charge_json(sqlite3_stmt *s) {
    const char *text[4];
    for (int i = 0; i < 4; i++) {
        const unsigned char *value = sqlite3_column_text(s, i == 0 ? 2 : 3 + i);
        text[i] = value ? (const char *)value : "";
    }
    return json_pack("{s:I,s:I,s:s,s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "time_ms",
                     (json_int_t)sqlite3_column_int64(s, 1), "budget", text[0], "hold_id",
                     (json_int_t)sqlite3_column_int64(s, 3), "class", text[1], "tool", text[2],
                     "model", text[3], "tokens_in", (json_int_t)sqlite3_column_int64(s, 7),
                     "tokens_out", (json_int_t)sqlite3_column_int64(s, 8), "cost_micros",
                     (json_int_t)sqlite3_column_int64(s, 9), "held_micros",
                     (json_int_t)sqlite3_column_int64(s, 10));
}

tg__reply tg__charges_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                           int64_t since_ms, int64_t until_ms, int64_t after_id, int64_t limit) {
    if (budget[0] != '\0' && caller->role != TG__ROLE_ADMIN &&
        !tg__path_in_scope(caller->scope, budget)) {
        return tg__api_error(403, "forbidden", "this key may not read that budget");
    }
    tg__reply error;
    sqlite3 *db = tg__reader(daemon, &error);
    if (db == NULL) {
        return error;
    }
    /* An agent without a budget filter sees its own subtree only. */
    const char *prefix = budget[0] != '\0' ? budget : caller->scope;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, charges_sql, -1, &s, NULL) != SQLITE_OK) {
        return tg__api_error(503, "store_unavailable", sqlite3_errmsg(db));
    }
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, since_ms);
    sqlite3_bind_int64(s, 3, until_ms);
    sqlite3_bind_text(s, 4, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, limit);
    json_t *rows = json_array();
    int64_t next = after_id;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        next = sqlite3_column_int64(s, 0);
        json_array_append_new(rows, charge_json(s));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(rows);
        return tg__api_error(503, "store_unavailable", sqlite3_errmsg(db));
    }
    return (tg__reply){200, json_pack("{s:o,s:I}", "charges", rows, "next", (json_int_t)next),
                       TG_NONE};
}
