/*
 * store_read: every read of the ledger's tables that is not the engine's load at open:
 * pages of charges, holds and events, closed windows, spend totals for reports, and the
 * notify dead letters. The daemon's JSON handlers, `tollgate report --db` and
 * `tollgate events --failed` read through this interface, so no SQL lives outside
 * src/store/ (docs/architecture.md, "Where SQL lives").
 *
 * Conventions, stated once:
 * - A reader is a read-only connection of its own to the SQLite file. The engine's
 *   connection belongs to the writer thread while a commit is in flight, so reads never
 *   use it; a WAL reader sees every committed transaction and never blocks the writer.
 *   A reader is used by one thread at a time; open one per thread.
 * - Pages are in id order (windows: newest first) and hold rows with id > after_id, at
 *   most `limit` of them. The caller passes the last id it saw as the next after_id;
 *   ids increase and commits land in order, so a page never skips a row that a later
 *   page could show.
 * - A budget filter is a budget path: that budget and its subtree ("a" matches "a" and
 *   "a/b", not "ab"). "" matches every budget.
 * - Rows reach the caller through a visit callback, one at a time, in order; the row is
 *   valid during the call only. A visit that returns false stops the read (TG_OK).
 * - Money is int64_t micros, times are Unix milliseconds (`_ms`).
 * - Errors: TG_ERR_INVALID for a bad argument (a limit out of range); TG_ERR_IO with
 *   SQLite's own message (as is, so a reply can quote it) when the file cannot be read.
 *   A failed read may have visited some rows already: the caller drops them.
 */
#ifndef TG_STORE_STORE_READ_H
#define TG_STORE_STORE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/journal.h"
#include "store/store.h" /* tg__charge_info */
#include "tollgate.h"

#define TG__STORE_PAGE_ROWS_MAX 100000    /* rows one page may ask for */
#define TG__STORE_SINK_NAME_SIZE_MAX 64   /* bytes in a notify sink's name, NUL included */
#define TG__STORE_DEAD_ERROR_SIZE_MAX 200 /* bytes of a dead letter's last error, NUL included */

typedef struct tg__store_reader tg__store_reader;

/*
 * Opens a read-only connection to the SQLite ledger at `path` (never creates it). A read
 * that meets a lock waits up to `busy_timeout_ms` (a checkpoint may hold the WAL index for
 * a moment) before failing. *out is freed with tg__store_reader_close. Errors: TG_ERR_IO
 * ("cannot open PATH: why"), TG_ERR_NOMEM.
 */
tg_status tg__store_reader_open(const char *path, int busy_timeout_ms, tg__store_reader **out,
                                tg_error *err);
/* Closes the connection and frees the reader. NULL is a no-op. */
void tg__store_reader_close(tg__store_reader *reader);

/* Which rows a page holds. */
typedef struct {
    const char *budget; /* budget filter (see above); never NULL */
    uint64_t after_id;  /* rows with id > after_id */
    size_t limit;       /* 1..TG__STORE_PAGE_ROWS_MAX rows at most */
} tg__store_page;

/* ---- charges (the charges table: one row per charge, forever) ------------------------- */

typedef bool (*tg__charge_visit)(void *user, const tg__charge_info *charge);

/* Charges of the page with since_ms <= time_ms < until_ms. */
tg_status tg__store_read_charges(tg__store_reader *reader, const tg__store_page *page,
                                 int64_t since_ms, int64_t until_ms, tg__charge_visit visit,
                                 void *user, tg_error *err);

/* ---- the spend log (charges joined with the calls table, docs/proxy.md "Spend log") ---- */

/* A charge and, when a proxied call made it, that call's spend-log row. */
typedef struct {
    tg__charge_info charge; /* the charges row */
    bool logged;            /* a calls row exists for it: `call` is set */
    tg__call_row call;      /* the call's row (zeroed when not logged) */
} tg__spend_row;

/* Filters of a spend page; each NULL or "" matches everything. Tags match one tag whole
 * ("a" matches "a,b", not "ab"). key, user and tag match only logged charges. */
typedef struct {
    const char *model;    /* the charge's model */
    const char *key;      /* the calling key's name */
    const char *user;     /* the request's user */
    const char *tag;      /* one of the call's tags */
    const char *provider; /* "openai", "anthropic" */
} tg__spend_filter;

typedef bool (*tg__spend_visit)(void *user, const tg__spend_row *row);

/* Charges of the page with since_ms <= time_ms < until_ms that pass the filter, each with
 * its call when logged, in id order. */
tg_status tg__store_read_spend(tg__store_reader *reader, const tg__store_page *page,
                               int64_t since_ms, int64_t until_ms, const tg__spend_filter *filter,
                               tg__spend_visit visit, void *user, tg_error *err);

/* What spend totals are grouped by; `day` is the UTC date of time_ms, "2026-11-28". */
typedef enum {
    TG__TOTALS_BY_BUDGET,
    TG__TOTALS_BY_TOOL,
    TG__TOTALS_BY_MODEL,
    TG__TOTALS_BY_DAY
} tg__totals_by;

/* One group of charges. */
typedef struct {
    char key[TG_PATH_SIZE_MAX]; /* the budget, tool, model or day; "" when the column is empty */
    int64_t charges;            /* how many charges */
    int64_t cost_micros;        /* their sum */
    int64_t tokens_in;          /* their sums */
    int64_t tokens_out;
} tg__charge_total;

typedef bool (*tg__total_visit)(void *user, const tg__charge_total *total);

/* Sums of the charges of `budget`'s subtree with since_ms <= time_ms < until_ms, one group
 * per distinct key, in key order (SQLite's byte order). Not paged: one group per key. */
tg_status tg__store_read_charge_totals(tg__store_reader *reader, tg__totals_by by,
                                       const char *budget, int64_t since_ms, int64_t until_ms,
                                       tg__total_visit visit, void *user, tg_error *err);

/* ---- holds (the holds table: open holds as of the last commit) ------------------------ */

typedef bool (*tg__hold_visit)(void *user, const tg__hold_row *hold);

tg_status tg__store_read_holds(tg__store_reader *reader, const tg__store_page *page,
                               tg__hold_visit visit, void *user, tg_error *err);

/* ---- events (the events table: the durable outbox) ------------------------------------ */

typedef bool (*tg__event_visit)(void *user, const tg_event *event);

/* A row whose kind this Tollgate does not know (a newer file) reads as budget_changed; an
 * unknown class or reason as -1 (not applicable). */
tg_status tg__store_read_events(tg__store_reader *reader, const tg__store_page *page,
                                tg__event_visit visit, void *user, tg_error *err);

/* The same, every budget, into out[0..max) (max <= TG__STORE_PAGE_ROWS_MAX); *count_out
 * says how many. */
tg_status tg__store_read_events_into(tg__store_reader *reader, uint64_t after_id, tg_event *out,
                                     size_t max, size_t *count_out, tg_error *err);

/* The newest event's id, 0 when there is none. */
tg_status tg__store_read_events_last_id(tg__store_reader *reader, uint64_t *id_out, tg_error *err);

/* ---- closed windows (the windows table: history) -------------------------------------- */

typedef bool (*tg__window_visit)(void *user, const tg_window_record *window);

/* The closed windows of exactly `budget` (no subtree), newest first, at most `limit`. */
tg_status tg__store_read_windows(tg__store_reader *reader, const char *budget, size_t limit,
                                 tg__window_visit visit, void *user, tg_error *err);

/* ---- notify dead letters (notify_dead, store_sqlite_notify.c) --------------------------- */

/* One delivery given up on. The event's fields are those of its row in events, when it is
 * still there (has_event). */
typedef struct {
    char sink[TG__STORE_SINK_NAME_SIZE_MAX];
    uint64_t event_id;
    bool has_event;                /* false: kind, budget and time_ms are not set */
    char kind[TG_NAME_SIZE_MAX];   /* the event's kind as stored, e.g. "revoked" */
    char budget[TG_PATH_SIZE_MAX]; /* the event's budget */
    int64_t time_ms;               /* when the event happened */
    int64_t failed_at_ms;          /* when the sender gave up */
    int64_t attempts;              /* deliveries tried */
    char last_error[TG__STORE_DEAD_ERROR_SIZE_MAX]; /* why the last one failed */
} tg__dead_letter;

typedef bool (*tg__dead_letter_visit)(void *user, const tg__dead_letter *dead);

/* Dead letters of the page (after_id and the budget filter apply to the event), in
 * (event_id, sink) order. A file no sender has touched has no dead letters. */
tg_status tg__store_read_dead_letters(tg__store_reader *reader, const tg__store_page *page,
                                      tg__dead_letter_visit visit, void *user, tg_error *err);

#endif
