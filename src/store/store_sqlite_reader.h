/*
 * What the SQLite files behind store_read.h and store_outbox.h share: the reader's
 * connection, the one decoder of an events row, and the notify tables' creation. Nothing
 * outside src/store includes this.
 */
#ifndef TG_STORE_STORE_SQLITE_READER_H
#define TG_STORE_STORE_SQLITE_READER_H

#include <sqlite3.h>

#include "store/store_read.h"

struct tg__store_reader {
    sqlite3 *db; /* read-only; owned */
};

/* The columns every events read selects, in the order tg__sqlite_event_decode reads them. */
#define TG__SQLITE_EVENT_COLUMNS                                                                   \
    "id, kind, time_ms, budget, class, reason, hold_id, amount_micros, held_micros, "              \
    "spent_micros, limit_micros, threshold_micros, count, tool, detail"

/* The columns every charges read selects first, in the order tg__sqlite_charge_decode
 * reads them (the spend log's join selects the same with its table's alias). */
#define TG__SQLITE_CHARGE_COLUMNS                                                                  \
    "id, time_ms, budget, hold_id, class, tool, model, tokens_in, tokens_out, cost_micros, "       \
    "held_micros"

/* The budget filter of store_read.h on column `column` with the filter bound as ?N. */
#define TG__SQLITE_SUBTREE(column, n)                                                              \
    "(?" n " = '' OR " column " = ?" n " OR substr(" column ", 1, length(?" n ") + 1) = ?" n       \
    " || '/')"

/* A row of TG__SQLITE_EVENT_COLUMNS back into an event. False when its kind is unknown (a
 * newer file): the event is then filled with kind budget_changed, for a caller that lists
 * it anyway; the outbox skips it. */
bool tg__sqlite_event_decode(sqlite3_stmt *statement, tg_event *event);

/* Columns 0..10 of a row (TG__SQLITE_CHARGE_COLUMNS: the charges page and the spend log)
 * back into a charge; a class it does not know reads as -1. */
void tg__sqlite_charge_decode(sqlite3_stmt *statement, tg__charge_info *charge);

/* The connection's last SQLite code as a status: TG_ERR_CORRUPT (not a database, damaged),
 * TG_ERR_STATE (busy or locked: try again), else TG_ERR_IO (a NULL db too: out of memory). */
tg_status tg__sqlite_status(sqlite3 *db);

/* Fails with TG_ERR_IO and SQLite's message as is. */
tg_status tg__sqlite_read_fail(sqlite3 *db, tg_error *err);

/* The caller's visit of one read, whichever kind of row it takes. */
typedef struct {
    void *user;
    union {
        tg__charge_visit charge;
        tg__total_visit total;
        tg__hold_visit hold;
        tg__event_visit event;
        tg__window_visit window;
        tg__dead_letter_visit dead_letter;
        tg__spend_visit spend;
    } visit;
} tg__sqlite_visit;

/* Prepares `sql` on the reader's connection; *out is NULL when it fails. */
tg_status tg__sqlite_read_prepare(tg__store_reader *reader, const char *sql, sqlite3_stmt **out,
                                  tg_error *err);

/* Checks a page (TG_ERR_INVALID unless 1 <= limit <= TG__STORE_PAGE_ROWS_MAX), prepares
 * `sql` and binds the page as ?1 after_id, ?2 budget filter, ?3 limit: every page query
 * numbers them so, and its own parameters from ?4. An after_id past INT64_MAX is past every
 * row (ids are SQLite integers), not a negative number before them all. */
tg_status tg__sqlite_page_start(tg__store_reader *reader, const tg__store_page *page,
                                const char *sql, sqlite3_stmt **out, tg_error *err);

/* Steps a bound statement to its end, handing each row to `row` until it returns false (a
 * visit that stops: TG_OK); finalizes the statement. */
tg_status tg__sqlite_read_rows(tg__store_reader *reader, sqlite3_stmt *statement,
                               bool (*row)(sqlite3_stmt *statement, const tg__sqlite_visit *visit),
                               const tg__sqlite_visit *visit, tg_error *err);

/* A whole page: tg__sqlite_page_start, then tg__sqlite_read_rows. */
tg_status tg__sqlite_read_page(tg__store_reader *reader, const tg__store_page *page,
                               const char *sql,
                               bool (*row)(sqlite3_stmt *statement, const tg__sqlite_visit *visit),
                               const tg__sqlite_visit *visit, tg_error *err);

/* A text column into out (truncated to size; NULL reads as ""). */
void tg__sqlite_column_copy(sqlite3_stmt *statement, int column, char *out, size_t size);

/* Creates the notify tables if missing (store_sqlite_notify.c says why they are not a
 * migration step). Runs in its own transaction. */
tg_status tg__sqlite_notify_tables(sqlite3 *db, tg_error *err);

#endif
