/*
 * store_sqlite internals shared by its two files: store_sqlite.c (connection,
 * schema, writes) and store_sqlite_read.c (load at open, history). Nothing
 * outside src/store includes this.
 */
#ifndef TG_STORE_STORE_SQLITE_H
#define TG_STORE_STORE_SQLITE_H

#include <sqlite3.h>

#include "store/store.h"

/* Prepared statements kept for the life of the connection: one per row kind. */
enum {
    TG__SQL_BEGIN,
    TG__SQL_COMMIT,
    TG__SQL_ROLLBACK,
    TG__SQL_BUDGET_DELETE,
    TG__SQL_BUDGET_WINDOWS_DELETE,
    TG__SQL_BUDGET_PUT,
    TG__SQL_TEMPLATE_PUT,
    TG__SQL_TEMPLATE_DELETE,
    TG__SQL_HOLD_PUT,
    TG__SQL_HOLD_DELETE,
    TG__SQL_CHARGE_PUT,
    TG__SQL_EVENT_PUT,
    TG__SQL_WINDOW_PUT,
    TG__SQL_IDEM_PUT,
    TG__SQL_IDEM_DELETE,
    TG__SQL_META_PUT,
    TG__SQL_HISTORY,
    TG__SQL_API_KEY_PUT,
    TG__SQL_API_KEY_DELETE,
    TG__SQL_CALL_PUT,
    TG__SQL_COUNT
};

struct tg__store {
    sqlite3 *db;
    sqlite3_stmt *statements[TG__SQL_COUNT];
    int lock_fd; /* flock'ed for the connection's life: one writer process per file */
    char path[4096];
};

/* Fails with TG_ERR_IO and SQLite's own message, naming what was being done. */
tg_status tg__sqlite_fail(tg__store *store, tg_error *err, const char *doing);

tg_status tg__sqlite_load(tg__store *store, const tg__store_loader *loader, tg_error *err);
tg_status tg__sqlite_history(tg__store *store, const char *path, tg_window_record *out, size_t max,
                             size_t *count_out, tg_error *err);

/* NULL columns stand for TG_NONE, so `SELECT` shows "no limit" as NULL (the reader
 * checks them column by column). */
void tg__sqlite_bind_optional(sqlite3_stmt *statement, int index, int64_t value);

#endif
