/*
 * store_sqlite_notify: the notify tables (the sender's delivery state, beside the events
 * table it reads as its outbox; store_outbox.h describes each) and the dead-letter list
 * read for the API and `tollgate events --failed`.
 *
 * Why the tables are not a migration step: they were created by the notify module with
 * IF NOT EXISTS before the store owned them, so files in use have them at any
 * user_version, or not at all. Making them a step would give the same schema two version
 * numbers. So they are created at store open (and at outbox open, for a file this
 * Tollgate's engine has not opened yet), idempotently, outside the numbered steps.
 */
#include <string.h>

#include "core/path.h"
#include "store/store_sqlite_reader.h"

static const char tables_sql[] =
    "CREATE TABLE IF NOT EXISTS notify_sinks ("
    " name TEXT PRIMARY KEY, done_through_id INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS notify_sent ("
    " sink TEXT NOT NULL, event_id INTEGER NOT NULL, PRIMARY KEY (sink, event_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS notify_dead ("
    " sink TEXT NOT NULL, event_id INTEGER NOT NULL, failed_at_ms INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, last_error TEXT NOT NULL, PRIMARY KEY (sink, event_id))"
    " WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS notify_dead_by_event ON notify_dead (event_id);";

static tg_status failed(sqlite3 *db, tg_error *err, const char *doing) {
    return tg__fail(err, tg__sqlite_status(db), "%s while %s", sqlite3_errmsg(db), doing);
}

tg_status tg__sqlite_notify_tables(sqlite3 *db, tg_error *err) {
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return failed(db, err, "starting to create the notify tables");
    }
    if (sqlite3_exec(db, tables_sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        tg_status status = failed(db, err, "creating the notify tables");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return status;
    }
    return TG_OK;
}

/* ---- dead letters ------------------------------------------------------------------------ */

static const char dead_sql[] =
    "SELECT d.sink, d.event_id, e.kind, e.budget, e.time_ms, d.failed_at_ms, d.attempts,"
    " d.last_error FROM notify_dead d LEFT JOIN events e ON e.id = d.event_id"
    " WHERE d.event_id > ?1 AND " TG__SQLITE_SUBTREE("e.budget",
                                                     "2") " ORDER BY d.event_id, d.sink LIMIT ?3";

static void dead_from_row(sqlite3_stmt *s, tg__dead_letter *dead) {
    memset(dead, 0, sizeof *dead);
    tg__sqlite_column_copy(s, 0, dead->sink, sizeof dead->sink);
    dead->event_id = (uint64_t)sqlite3_column_int64(s, 1);
    dead->has_event = sqlite3_column_type(s, 4) != SQLITE_NULL;
    tg__sqlite_column_copy(s, 2, dead->kind, sizeof dead->kind);
    tg__sqlite_column_copy(s, 3, dead->budget, sizeof dead->budget);
    dead->time_ms = sqlite3_column_int64(s, 4);
    dead->failed_at_ms = sqlite3_column_int64(s, 5);
    dead->attempts = sqlite3_column_int64(s, 6);
    tg__sqlite_column_copy(s, 7, dead->last_error, sizeof dead->last_error);
}

static bool dead_row(sqlite3_stmt *s, const tg__sqlite_visit *visit) {
    tg__dead_letter dead;
    dead_from_row(s, &dead);
    return visit->visit.dead_letter(visit->user, &dead);
}

tg_status tg__store_read_dead_letters(tg__store_reader *reader, const tg__store_page *page,
                                      tg__dead_letter_visit visit, void *user, tg_error *err) {
    sqlite3_stmt *s = NULL;
    tg_error start_err = {0};
    tg_status status = tg__sqlite_page_start(reader, page, dead_sql, &s, &start_err);
    /* No notify_dead table: a file no engine of this version has opened (a reader does not
     * make it) has no dead letters. */
    if (status == TG_ERR_IO && strstr(start_err.message, "no such table") != NULL) {
        return TG_OK;
    }
    if (status != TG_OK) {
        return tg__fail(err, status, "%s", start_err.message);
    }
    tg__sqlite_visit context = {user, {.dead_letter = visit}};
    return tg__sqlite_read_rows(reader, s, dead_row, &context, err);
}
