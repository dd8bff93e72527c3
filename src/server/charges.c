/*
 * charges: GET /v1/charges reads the charges table of the SQLite file through its
 * own read-only connection, so paging a large history never blocks the engine's
 * writes (WAL readers do not block the writer). The engine's header has no call
 * for reading charges back yet; when it does, this file should use it instead.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "server/daemon.h"

#define CHARGES_PAGE_MAX 1000 /* rows in one answer */

tg__reply tg__charges_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                           int64_t since_ms, int64_t until_ms, int64_t after_id, int64_t limit) {
    if (budget[0] != '\0' && caller->role != TG__ROLE_ADMIN &&
        !tg__path_in_scope(caller->scope, budget)) {
        return tg__api_error(403, "forbidden", "this key may not read that budget");
    }
    if (strcmp(daemon->config->store, "sqlite") != 0) {
        return tg__api_error(501, "unsupported", "charges are kept only by the sqlite store");
    }
    /* An agent without a budget filter sees its own subtree only. */
    const char *prefix = budget[0] != '\0' ? budget : caller->scope;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(daemon->config->store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return tg__api_error(503, "store_unavailable", "cannot open the ledger file to read");
    }
    sqlite3_busy_timeout(db, 1000);
    static const char sql[] =
        "SELECT id, time_ms, budget, hold_id, class, tool, model, tokens_in, tokens_out, "
        "cost_micros, held_micros FROM charges WHERE id > ?1 AND time_ms >= ?2 AND time_ms < ?3 "
        "AND (?4 = '' OR budget = ?4 OR substr(budget, 1, length(?4) + 1) = ?4 || '/') "
        "ORDER BY id LIMIT ?5";
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return tg__api_error(501, "unsupported", "the ledger file has no charges table");
    }
    sqlite3_bind_int64(statement, 1, after_id);
    sqlite3_bind_int64(statement, 2, since_ms);
    sqlite3_bind_int64(statement, 3, until_ms);
    sqlite3_bind_text(statement, 4, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(statement, 5, limit > 0 && limit <= CHARGES_PAGE_MAX ? limit : 100);
    json_t *rows = json_array();
    int64_t next = after_id;
    while (sqlite3_step(statement) == SQLITE_ROW) {
        next = sqlite3_column_int64(statement, 0);
        const char *text[4];
        for (int i = 0; i < 4; i++) {
            const unsigned char *value = sqlite3_column_text(statement, i == 0 ? 2 : 3 + i);
            text[i] = value ? (const char *)value : "";
        }
        json_array_append_new(
            rows, json_pack("{s:I,s:I,s:s,s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id", (json_int_t)next,
                            "time_ms", (json_int_t)sqlite3_column_int64(statement, 1), "budget",
                            text[0], "hold_id", (json_int_t)sqlite3_column_int64(statement, 3),
                            "class", text[1], "tool", text[2], "model", text[3], "tokens_in",
                            (json_int_t)sqlite3_column_int64(statement, 7), "tokens_out",
                            (json_int_t)sqlite3_column_int64(statement, 8), "cost_micros",
                            (json_int_t)sqlite3_column_int64(statement, 9), "held_micros",
                            (json_int_t)sqlite3_column_int64(statement, 10)));
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    tg__reply reply = {200, NULL, TG_NONE};
    reply.body = json_pack("{s:o,s:I}", "charges", rows, "next", (json_int_t)next);
    return reply;
}
