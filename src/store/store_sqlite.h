/*
 * store_sqlite internals shared by its two files: store_sqlite.c (connection,
 * schema, writes) and store_sqlite_read.c (load at open, history). Nothing
 * outside src/store includes this.
 */
#ifndef TG_STORE_STORE_SQLITE_H
#define TG_STORE_STORE_SQLITE_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

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
    TG__SQL_APPROVAL_PUT,
    TG__SQL_COUNT
};

/* What the engine's commits cost in pages, for /metrics and bench/scale.js: written by
 * the thread that commits (and the checkpointer), read by any, hence atomics. */
typedef struct {
    _Atomic uint64_t commits;            /* transactions written by sqlite_write */
    _Atomic uint64_t pages_written;      /* WAL frames those commits appended */
    _Atomic uint64_t pages_read;         /* pages they read from the file (page cache misses) */
    _Atomic uint64_t checkpoints;        /* checkpoints that ran, on either thread */
    _Atomic uint64_t checkpoints_inline; /* of them, inside a commit (a catch-up, or the bound) */
    _Atomic uint64_t checkpoint_frames_inline; /* frames those copied */
    _Atomic uint64_t wal_frames;               /* frames in the WAL after the last commit */
    _Atomic uint64_t wal_frames_max;           /* the most it held after a commit */
    _Atomic uint64_t wal_restarts;             /* times the WAL started over from its first frame */
} tg__store_stats;

typedef struct tg__checkpointer tg__checkpointer;

struct tg__store {
    sqlite3 *db;
    sqlite3_stmt *statements[TG__SQL_COUNT];
    int lock_fd; /* flock'ed for the connection's life: one writer process per file */
    tg__checkpointer *checkpointer; /* owned; NULL until started (store_sqlite_checkpoint.c) */
    tg__store_stats stats;          /* counters since open */
    char path[4096];
};

/* Takes the WAL's checkpoints out of the engine's commits (store_sqlite_checkpoint.c):
 * a thread with its own connection, woken by the WAL hook. Stop before closing db;
 * stop without a start is a no-op. */
tg_status tg__checkpointer_start(tg__store *store, tg_error *err);
void tg__checkpointer_stop(tg__store *store);

/* Fails with TG_ERR_IO and SQLite's own message, naming what was being done. */
tg_status tg__sqlite_fail(tg__store *store, tg_error *err, const char *doing);

tg_status tg__sqlite_load(tg__store *store, const tg__store_loader *loader, tg_error *err);
/* Steps a bound write to its end and clears it for the next row; false unless it is done. */
bool tg__sqlite_step_done(sqlite3_stmt *statement);
/* Binds text, or NULL for a NULL pointer; SQLITE_STATIC: `text` must outlive the step. */
void tg__sqlite_bind_text(sqlite3_stmt *statement, int index, const char *text);

/* One row of a load, handed to the loader; a status other than TG_OK stops the load. */
typedef tg_status (*tg__sqlite_load_row)(tg__store *store, sqlite3_stmt *statement,
                                         const tg__store_loader *loader, tg_error *err);
/* Steps a prepared and bound statement to its end, handing each row to `row`; a step that
 * fails is TG_ERR_IO naming `doing`. Finalizes the statement (store_sqlite_read.c). */
tg_status tg__sqlite_load_rows(tg__store *store, sqlite3_stmt *statement, tg__sqlite_load_row row,
                               const tg__store_loader *loader, const char *doing, tg_error *err);

/* store_sqlite_approvals.c: one approval row of a batch (the approval after one
 * transition, upserted by id); and the kept ones, pending included, in id order, at open. */
bool tg__sqlite_write_approval(tg__store *store, const tg_approval_info *approval);
tg_status tg__sqlite_load_approvals(tg__store *store, const tg__store_loader *loader,
                                    tg_error *err);
tg_status tg__sqlite_history(tg__store *store, const char *path, tg_window_record *out, size_t max,
                             size_t *count_out, tg_error *err);

/* NULL columns stand for TG_NONE, so `SELECT` shows "no limit" as NULL (the reader
 * checks them column by column). */
void tg__sqlite_bind_optional(sqlite3_stmt *statement, int index, int64_t value);

/* One parameter of a row, as TG__BIND_COLUMNS takes them: the columns of a write read as
 * one list in the table's order instead of a numbered bind call each. */
typedef enum { TG__COLUMN_INTEGER, TG__COLUMN_TEXT, TG__COLUMN_OPTIONAL } tg__column_kind;
typedef struct {
    tg__column_kind kind;
    int64_t number;   /* INTEGER; OPTIONAL (TG_NONE binds NULL) */
    const char *text; /* TEXT (NULL binds NULL; SQLITE_STATIC: must outlive the step) */
} tg__column;
#define TG__INT_COLUMN(x) ((tg__column){TG__COLUMN_INTEGER, (int64_t)(x), NULL})
#define TG__TEXT_COLUMN(x) ((tg__column){TG__COLUMN_TEXT, 0, (x)})
#define TG__OPTIONAL_COLUMN(x) ((tg__column){TG__COLUMN_OPTIONAL, (int64_t)(x), NULL})

/* Binds columns[i] to parameter first + i. */
void tg__sqlite_bind_columns(sqlite3_stmt *statement, int first, const tg__column *columns,
                             int count);
#define TG__BIND_COLUMNS(statement, first, ...)                                                    \
    tg__sqlite_bind_columns((statement), (first), (const tg__column[]){__VA_ARGS__},               \
                            (int)(sizeof((const tg__column[]){__VA_ARGS__}) / sizeof(tg__column)))

#endif
