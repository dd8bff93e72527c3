/*
 * store_sqlite_reader: the read-only connection of store_read.h, and the pages read
 * through it that are plain rows: charges, their totals, holds, closed windows. Each
 * read is one statement prepared, stepped to its end and finalized, so a reader never
 * keeps a read snapshot open between calls (that would stop the WAL from being
 * checkpointed). Events and dead letters are in their own files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "store/store_sqlite_reader.h"

tg_status tg__sqlite_read_fail(sqlite3 *db, tg_error *err) {
    return tg__fail(err, TG_ERR_IO, "%s", db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

tg_status tg__sqlite_status(sqlite3 *db) {
    int code = db != NULL ? sqlite3_errcode(db) & 0xff : SQLITE_NOMEM;
    return code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? TG_ERR_CORRUPT
           : code == SQLITE_BUSY || code == SQLITE_LOCKED  ? TG_ERR_STATE
                                                           : TG_ERR_IO;
}

tg_status tg__store_reader_open(const char *path, int busy_timeout_ms, tg__store_reader **out,
                                tg_error *err) {
    tg__store_reader *reader = calloc(1, sizeof *reader);
    if (reader == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory");
    }
    if (sqlite3_open_v2(path, &reader->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        tg_status status = tg__sqlite_read_fail(reader->db, err);
        tg__store_reader_close(reader);
        return status;
    }
    sqlite3_busy_timeout(reader->db, busy_timeout_ms);
    *out = reader;
    return TG_OK;
}

void tg__store_reader_close(tg__store_reader *reader) {
    if (reader == NULL) {
        return;
    }
    sqlite3_close(reader->db);
    free(reader);
}

void tg__sqlite_column_copy(sqlite3_stmt *s, int column, char *out, size_t size) {
    const unsigned char *text = sqlite3_column_text(s, column);
    snprintf(out, size, "%s", text != NULL ? (const char *)text : "");
}

static int class_of(sqlite3_stmt *s, int column) {
    const unsigned char *text = sqlite3_column_text(s, column);
    tg_class cls;
    return text != NULL && tg_class_parse((const char *)text, &cls) == TG_OK ? (int)cls : -1;
}

tg_status tg__sqlite_read_rows(tg__store_reader *reader, sqlite3_stmt *s,
                               bool (*row)(sqlite3_stmt *s, const tg__sqlite_visit *visit),
                               const tg__sqlite_visit *visit, tg_error *err) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!row(s, visit)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    tg_status status = rc == SQLITE_DONE ? TG_OK : tg__sqlite_read_fail(reader->db, err);
    sqlite3_finalize(s);
    return status;
}

tg_status tg__sqlite_read_prepare(tg__store_reader *reader, const char *sql, sqlite3_stmt **out,
                                  tg_error *err) {
    if (sqlite3_prepare_v2(reader->db, sql, -1, out, NULL) != SQLITE_OK) {
        sqlite3_finalize(*out);
        *out = NULL;
        return tg__sqlite_read_fail(reader->db, err);
    }
    return TG_OK;
}

tg_status tg__sqlite_page_start(tg__store_reader *reader, const tg__store_page *page,
                                const char *sql, sqlite3_stmt **out, tg_error *err) {
    if (page->limit < 1 || page->limit > TG__STORE_PAGE_ROWS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "a page holds 1 to %d rows", TG__STORE_PAGE_ROWS_MAX);
    }
    tg_status status = tg__sqlite_read_prepare(reader, sql, out, err);
    if (status != TG_OK) {
        return status;
    }
    uint64_t after_id = page->after_id > INT64_MAX ? INT64_MAX : page->after_id;
    sqlite3_bind_int64(*out, 1, (sqlite3_int64)after_id);
    sqlite3_bind_text(*out, 2, page->budget, -1, SQLITE_STATIC);
    sqlite3_bind_int64(*out, 3, (sqlite3_int64)page->limit);
    return TG_OK;
}

tg_status tg__sqlite_read_page(tg__store_reader *reader, const tg__store_page *page,
                               const char *sql,
                               bool (*row)(sqlite3_stmt *s, const tg__sqlite_visit *visit),
                               const tg__sqlite_visit *visit, tg_error *err) {
    sqlite3_stmt *s = NULL;
    tg_status status = tg__sqlite_page_start(reader, page, sql, &s, err);
    return status != TG_OK ? status : tg__sqlite_read_rows(reader, s, row, visit, err);
}

/* ---- charges ------------------------------------------------------------------------- */

static const char charges_sql[] = "SELECT " TG__SQLITE_CHARGE_COLUMNS
                                  " FROM charges WHERE id > ?1 AND time_ms >= ?4 AND time_ms < ?5 "
                                  "AND " TG__SQLITE_SUBTREE("budget", "2") " ORDER BY id LIMIT ?3";

void tg__sqlite_charge_decode(sqlite3_stmt *s, tg__charge_info *charge) {
    memset(charge, 0, sizeof *charge);
    charge->id = (uint64_t)sqlite3_column_int64(s, 0);
    charge->time_ms = sqlite3_column_int64(s, 1);
    tg__sqlite_column_copy(s, 2, charge->budget, sizeof charge->budget);
    charge->hold_id = (uint64_t)sqlite3_column_int64(s, 3);
    charge->cls = class_of(s, 4);
    tg__sqlite_column_copy(s, 5, charge->tool, sizeof charge->tool);
    tg__sqlite_column_copy(s, 6, charge->model, sizeof charge->model);
    charge->tokens_in = sqlite3_column_int64(s, 7);
    charge->tokens_out = sqlite3_column_int64(s, 8);
    charge->cost_micros = sqlite3_column_int64(s, 9);
    charge->held_micros = sqlite3_column_int64(s, 10);
}

static bool charge_row(sqlite3_stmt *s, const tg__sqlite_visit *visit) {
    tg__charge_info charge;
    tg__sqlite_charge_decode(s, &charge);
    return visit->visit.charge(visit->user, &charge);
}

tg_status tg__store_read_charges(tg__store_reader *reader, const tg__store_page *page,
                                 int64_t since_ms, int64_t until_ms, tg__charge_visit visit,
                                 void *user, tg_error *err) {
    sqlite3_stmt *s = NULL;
    tg_status status = tg__sqlite_page_start(reader, page, charges_sql, &s, err);
    if (status != TG_OK) {
        return status;
    }
    sqlite3_bind_int64(s, 4, since_ms);
    sqlite3_bind_int64(s, 5, until_ms);
    tg__sqlite_visit context = {user, {.charge = visit}};
    return tg__sqlite_read_rows(reader, s, charge_row, &context, err);
}

/* ---- totals ---------------------------------------------------------------------------- */

/* The key column of each grouping, by tg__totals_by. */
static const char *const totals_key_sql[] = {
    [TG__TOTALS_BY_BUDGET] = "budget",
    [TG__TOTALS_BY_TOOL] = "tool",
    [TG__TOTALS_BY_MODEL] = "model",
    [TG__TOTALS_BY_DAY] = "date(time_ms / 1000, 'unixepoch')",
};

static bool total_row(sqlite3_stmt *s, const tg__sqlite_visit *visit) {
    tg__charge_total total = {
        .charges = sqlite3_column_int64(s, 1),
        .cost_micros = sqlite3_column_int64(s, 2),
        .tokens_in = sqlite3_column_int64(s, 3),
        .tokens_out = sqlite3_column_int64(s, 4),
    };
    tg__sqlite_column_copy(s, 0, total.key, sizeof total.key);
    return visit->visit.total(visit->user, &total);
}

tg_status tg__store_read_charge_totals(tg__store_reader *reader, tg__totals_by by,
                                       const char *budget, int64_t since_ms, int64_t until_ms,
                                       tg__total_visit visit, void *user, tg_error *err) {
    if ((int)by < 0 || by > TG__TOTALS_BY_DAY) {
        return tg__fail(err, TG_ERR_INVALID, "no such grouping of charges");
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT %s, count(*), sum(cost_micros), sum(tokens_in), sum(tokens_out) "
             "FROM charges WHERE time_ms >= ?1 AND time_ms < ?2 AND " TG__SQLITE_SUBTREE(
                 "budget", "3") " GROUP BY 1 ORDER BY 1",
             totals_key_sql[by]);
    sqlite3_stmt *s = NULL;
    tg_status status = tg__sqlite_read_prepare(reader, sql, &s, err);
    if (status != TG_OK) {
        return status;
    }
    sqlite3_bind_int64(s, 1, since_ms);
    sqlite3_bind_int64(s, 2, until_ms);
    sqlite3_bind_text(s, 3, budget, -1, SQLITE_STATIC);
    tg__sqlite_visit context = {user, {.total = visit}};
    return tg__sqlite_read_rows(reader, s, total_row, &context, err);
}

/* ---- holds ----------------------------------------------------------------------------- */

static const char holds_sql[] =
    "SELECT id, budget, amount_micros, tokens, class, tool, model, created_at_ms, "
    "expires_at_ms, cancel_requested FROM holds WHERE id > ?1 "
    "AND " TG__SQLITE_SUBTREE("budget", "2") " ORDER BY id LIMIT ?3";

static bool hold_row(sqlite3_stmt *s, const tg__sqlite_visit *visit) {
    tg__hold_row hold = {
        .id = (uint64_t)sqlite3_column_int64(s, 0),
        .amount_micros = sqlite3_column_int64(s, 2),
        .tokens = sqlite3_column_int64(s, 3),
        .cls = class_of(s, 4),
        .created_at_ms = sqlite3_column_int64(s, 7),
        .expires_at_ms = sqlite3_column_int64(s, 8),
        .cancel_requested = sqlite3_column_int(s, 9) != 0,
    };
    tg__sqlite_column_copy(s, 1, hold.budget, sizeof hold.budget);
    tg__sqlite_column_copy(s, 5, hold.tool, sizeof hold.tool);
    tg__sqlite_column_copy(s, 6, hold.model, sizeof hold.model);
    return visit->visit.hold(visit->user, &hold);
}

tg_status tg__store_read_holds(tg__store_reader *reader, const tg__store_page *page,
                               tg__hold_visit visit, void *user, tg_error *err) {
    tg__sqlite_visit context = {user, {.hold = visit}};
    return tg__sqlite_read_page(reader, page, holds_sql, hold_row, &context, err);
}

/* ---- closed windows ---------------------------------------------------------------------- */

/* Windows of exactly the budget ?2 (not its subtree), newest first; ?1 goes unused
 * (SQLite allows the gap): windows have no id to page by. */
static const char windows_sql[] =
    "SELECT window_start_ms, window_end_ms, spent_micros, calls_used, tokens_used FROM windows "
    "WHERE budget = ?2 ORDER BY window_start_ms DESC LIMIT ?3";

static bool window_row(sqlite3_stmt *s, const tg__sqlite_visit *visit) {
    tg_window_record window = {
        .window_start_ms = sqlite3_column_int64(s, 0),
        .window_end_ms = sqlite3_column_int64(s, 1),
        .spent_micros = sqlite3_column_int64(s, 2),
        .calls_used = sqlite3_column_int64(s, 3),
        .tokens_used = sqlite3_column_int64(s, 4),
    };
    return visit->visit.window(visit->user, &window);
}

tg_status tg__store_read_windows(tg__store_reader *reader, const char *budget, size_t limit,
                                 tg__window_visit visit, void *user, tg_error *err) {
    tg__store_page page = {.budget = budget, .after_id = 0, .limit = limit};
    tg__sqlite_visit context = {user, {.window = visit}};
    return tg__sqlite_read_page(reader, &page, windows_sql, window_row, &context, err);
}
