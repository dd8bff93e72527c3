/*
 * store_sqlite: the ledger in one SQLite file. WAL with synchronous=FULL, so a
 * COMMIT returns only after its WAL frames are fsync'ed; each journal is one
 * BEGIN IMMEDIATE transaction with cached prepared statements. The tables are
 * meant to be read by people with plain SQL: names over numbers, NULL for "no
 * limit", one row per thing (see docs/architecture.md, "SQLite schema").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/hex.h"
#include "core/path.h"
#include "store/store_sqlite.h"
#include "store/store_sqlite_reader.h"

/* The schema, by version: user_version counts the steps applied. Add a step at
 * the end for every change; never edit a step that has shipped. */
static const char *const migrations[] = {
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE budgets ("
    " path TEXT PRIMARY KEY, cost_limit_micros INTEGER, calls_limit INTEGER,"
    " tokens_limit INTEGER, window TEXT NOT NULL, timezone TEXT NOT NULL,"
    " revoke_at_micros INTEGER, revoke_at_ppm INTEGER,"
    " low_ceiling_micros INTEGER, low_ceiling_ppm INTEGER,"
    " normal_ceiling_micros INTEGER, normal_ceiling_ppm INTEGER,"
    " high_ceiling_micros INTEGER, high_ceiling_ppm INTEGER,"
    " critical_ceiling_micros INTEGER, critical_ceiling_ppm INTEGER,"
    " alerts_ppm TEXT NOT NULL, frozen INTEGER NOT NULL,"
    " window_start_ms INTEGER NOT NULL, window_end_ms INTEGER NOT NULL,"
    " spent_micros INTEGER NOT NULL, calls_used INTEGER NOT NULL, tokens_used INTEGER NOT NULL,"
    " alerts_fired INTEGER NOT NULL, revoked INTEGER NOT NULL);"
    "CREATE TABLE holds ("
    " id INTEGER PRIMARY KEY, budget TEXT NOT NULL, amount_micros INTEGER NOT NULL,"
    " tokens INTEGER NOT NULL, class TEXT NOT NULL, tool TEXT NOT NULL, model TEXT NOT NULL,"
    " created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL,"
    " cancel_requested INTEGER NOT NULL);"
    "CREATE TABLE charges ("
    " id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, budget TEXT NOT NULL,"
    " hold_id INTEGER NOT NULL, class TEXT NOT NULL, tool TEXT NOT NULL, model TEXT NOT NULL,"
    " tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, cost_micros INTEGER NOT NULL,"
    " held_micros INTEGER NOT NULL);"
    "CREATE INDEX charges_by_budget ON charges (budget, time_ms);"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY, kind TEXT NOT NULL, time_ms INTEGER NOT NULL, budget TEXT NOT NULL,"
    " class TEXT, reason TEXT, hold_id INTEGER NOT NULL, amount_micros INTEGER,"
    " held_micros INTEGER, spent_micros INTEGER, limit_micros INTEGER, threshold_micros INTEGER,"
    " count INTEGER, tool TEXT NOT NULL, detail TEXT NOT NULL, delivered_at_ms INTEGER);"
    "CREATE TABLE windows ("
    " budget TEXT NOT NULL, window_start_ms INTEGER NOT NULL, window_end_ms INTEGER NOT NULL,"
    " spent_micros INTEGER NOT NULL, calls_used INTEGER NOT NULL, tokens_used INTEGER NOT NULL,"
    " PRIMARY KEY (budget, window_start_ms));"
    "CREATE TABLE idempotency ("
    " key TEXT PRIMARY KEY, op INTEGER NOT NULL, args_hash INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, hold_id INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL,"
    " class INTEGER NOT NULL, charged_micros INTEGER NOT NULL, overrun_micros INTEGER NOT NULL,"
    " charge_id INTEGER NOT NULL);",
    /* 2: what an agent's commit above its hold charges on a budget's subtree (docs/ledger.md),
     * and whether a remembered commit's overrun was capped, for its idempotent repeat. */
    "ALTER TABLE budgets ADD COLUMN above_hold TEXT NOT NULL DEFAULT 'charge';"
    "ALTER TABLE idempotency ADD COLUMN capped INTEGER NOT NULL DEFAULT 0;",
    /* 3: the daemon's bearer keys (POST /v1/keys): the SHA-256 of each secret, as hex. */
    "CREATE TABLE api_keys ("
    " name TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, role TEXT NOT NULL,"
    " scope TEXT NOT NULL, class_max TEXT NOT NULL, created_at_ms INTEGER NOT NULL);",
    /* 4: budgets kept in path order (WITHOUT ROWID): the start-up reads them parents first
     * in one pass instead of a lookup per row from the path index (a million budgets), and
     * each write of a budget changes one b-tree instead of two. Same columns, same order. */
    "CREATE TABLE budgets_by_path ("
    " path TEXT PRIMARY KEY, cost_limit_micros INTEGER, calls_limit INTEGER,"
    " tokens_limit INTEGER, window TEXT NOT NULL, timezone TEXT NOT NULL,"
    " revoke_at_micros INTEGER, revoke_at_ppm INTEGER,"
    " low_ceiling_micros INTEGER, low_ceiling_ppm INTEGER,"
    " normal_ceiling_micros INTEGER, normal_ceiling_ppm INTEGER,"
    " high_ceiling_micros INTEGER, high_ceiling_ppm INTEGER,"
    " critical_ceiling_micros INTEGER, critical_ceiling_ppm INTEGER,"
    " alerts_ppm TEXT NOT NULL, frozen INTEGER NOT NULL,"
    " window_start_ms INTEGER NOT NULL, window_end_ms INTEGER NOT NULL,"
    " spent_micros INTEGER NOT NULL, calls_used INTEGER NOT NULL, tokens_used INTEGER NOT NULL,"
    " alerts_fired INTEGER NOT NULL, revoked INTEGER NOT NULL,"
    " above_hold TEXT NOT NULL DEFAULT 'charge') WITHOUT ROWID;"
    "INSERT INTO budgets_by_path ("
    " path, cost_limit_micros, calls_limit, tokens_limit, window, timezone,"
    " revoke_at_micros, revoke_at_ppm, low_ceiling_micros, low_ceiling_ppm,"
    " normal_ceiling_micros, normal_ceiling_ppm, high_ceiling_micros,"
    " high_ceiling_ppm, critical_ceiling_micros, critical_ceiling_ppm, alerts_ppm,"
    " frozen, window_start_ms, window_end_ms, spent_micros, calls_used, tokens_used,"
    " alerts_fired, revoked, above_hold"
    ") SELECT "
    " path, cost_limit_micros, calls_limit, tokens_limit, window, timezone,"
    " revoke_at_micros, revoke_at_ppm, low_ceiling_micros, low_ceiling_ppm,"
    " normal_ceiling_micros, normal_ceiling_ppm, high_ceiling_micros,"
    " high_ceiling_ppm, critical_ceiling_micros, critical_ceiling_ppm, alerts_ppm,"
    " frozen, window_start_ms, window_end_ms, spent_micros, calls_used, tokens_used,"
    " alerts_fired, revoked, above_hold"
    " FROM budgets;"
    "DROP TABLE budgets;"
    "ALTER TABLE budgets_by_path RENAME TO budgets;",
    /* 5: templates (per-user budgets made on first use): the spec a budget's children
     * get, in the budget spec's columns, and the bound on its children. A budget without
     * a template has no row here. */
    "CREATE TABLE budget_templates ("
    " path TEXT PRIMARY KEY, cost_limit_micros INTEGER, calls_limit INTEGER,"
    " tokens_limit INTEGER, window TEXT NOT NULL, timezone TEXT NOT NULL,"
    " revoke_at_micros INTEGER, revoke_at_ppm INTEGER,"
    " low_ceiling_micros INTEGER, low_ceiling_ppm INTEGER,"
    " normal_ceiling_micros INTEGER, normal_ceiling_ppm INTEGER,"
    " high_ceiling_micros INTEGER, high_ceiling_ppm INTEGER,"
    " critical_ceiling_micros INTEGER, critical_ceiling_ppm INTEGER,"
    " alerts_ppm TEXT NOT NULL, above_hold TEXT NOT NULL, children_max INTEGER NOT NULL)"
    " WITHOUT ROWID;",
    /* 6: the spend log: one row per proxied call, beside its charge (charge_id, 0 when
     * nothing was charged), with what the charges table does not say: the provider's
     * request id, tokens by kind, key, user, tags, latency, outcome (docs/proxy.md). */
    "CREATE TABLE calls ("
    " id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, charge_id INTEGER NOT NULL,"
    " request_id TEXT NOT NULL, provider TEXT NOT NULL, route TEXT NOT NULL,"
    " model TEXT NOT NULL, budget TEXT NOT NULL, key TEXT NOT NULL, user TEXT NOT NULL,"
    " tags TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,"
    " tokens_cached INTEGER NOT NULL, tokens_reasoning INTEGER NOT NULL,"
    " cost_micros INTEGER NOT NULL, held_micros INTEGER NOT NULL, latency_ms INTEGER NOT NULL,"
    " status INTEGER NOT NULL, outcome TEXT NOT NULL);"
    "CREATE INDEX calls_by_charge ON calls (charge_id);",
    /* 7: approvals (issue 18): a refused reserve that asked a person, one row per approval,
     * rewritten at each transition: who asked and why, who decided, when, the class and
     * amount approved, the hold it became, how it ended (docs/ledger.md, "Approvals"). */
    "CREATE TABLE approvals ("
    " id INTEGER PRIMARY KEY, budget TEXT NOT NULL, amount_micros INTEGER NOT NULL,"
    " tokens INTEGER NOT NULL, class TEXT NOT NULL, tool TEXT NOT NULL, model TEXT NOT NULL,"
    " refused_at TEXT NOT NULL, reason TEXT NOT NULL, requested_by TEXT NOT NULL,"
    " requested_at_ms INTEGER NOT NULL, deadline_ms INTEGER NOT NULL, state TEXT NOT NULL,"
    " decided_by TEXT NOT NULL, decided_at_ms INTEGER, note TEXT NOT NULL,"
    " approved_class TEXT, approved_micros INTEGER NOT NULL, hold_id INTEGER NOT NULL,"
    " outcome TEXT NOT NULL);"
    "CREATE INDEX approvals_by_state ON approvals (state, id);",
    /* 8: meta kept by name (WITHOUT ROWID). A rowid table with a TEXT PRIMARY KEY is two
     * b-trees, the rows and the key's index, and every commit advances a counter (a charge
     * next_charge_id, a hold next_hold_id): two pages of each commit's WAL were meta's,
     * now one (docs/benchmarks.md, run M). A row without a name (only a hand edit makes
     * one) matched no counter at load and is left behind. */
    "CREATE TABLE meta_by_name (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta_by_name SELECT name, value FROM meta WHERE name IS NOT NULL;"
    "DROP TABLE meta;"
    "ALTER TABLE meta_by_name RENAME TO meta;",
};
#define MIGRATIONS_COUNT ((int)(sizeof migrations / sizeof migrations[0]))

static const char *const statements_sql[TG__SQL_COUNT] = {
    [TG__SQL_BEGIN] = "BEGIN IMMEDIATE",
    [TG__SQL_COMMIT] = "COMMIT",
    [TG__SQL_ROLLBACK] = "ROLLBACK",
    [TG__SQL_BUDGET_DELETE] = "DELETE FROM budgets WHERE path = ?1",
    /* The windows a deleted budget closed up to its deletion; a budget of the same path
     * created again in the same batch keeps the windows it closes after that. */
    [TG__SQL_BUDGET_WINDOWS_DELETE] = "DELETE FROM windows WHERE budget = ?1 AND "
                                      "window_end_ms <= ?2",
    [TG__SQL_BUDGET_PUT] =
        "INSERT OR REPLACE INTO budgets VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
        "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
    [TG__SQL_TEMPLATE_PUT] =
        "INSERT OR REPLACE INTO budget_templates VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    [TG__SQL_TEMPLATE_DELETE] = "DELETE FROM budget_templates WHERE path = ?1",
    [TG__SQL_HOLD_PUT] =
        "INSERT OR REPLACE INTO holds VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [TG__SQL_HOLD_DELETE] = "DELETE FROM holds WHERE id = ?1",
    [TG__SQL_CHARGE_PUT] =
        "INSERT INTO charges VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [TG__SQL_CALL_PUT] = "INSERT INTO calls VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                         "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    [TG__SQL_EVENT_PUT] = "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                          "?11, ?12, ?13, ?14, ?15, NULL)",
    [TG__SQL_WINDOW_PUT] = "INSERT OR REPLACE INTO windows VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [TG__SQL_IDEM_PUT] =
        "INSERT OR REPLACE INTO idempotency VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11)",
    [TG__SQL_IDEM_DELETE] = "DELETE FROM idempotency WHERE key = ?1",
    [TG__SQL_META_PUT] = "INSERT OR REPLACE INTO meta VALUES (?1, ?2)",
    [TG__SQL_API_KEY_PUT] = "INSERT OR REPLACE INTO api_keys VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [TG__SQL_API_KEY_DELETE] = "DELETE FROM api_keys WHERE name = ?1",
    [TG__SQL_APPROVAL_PUT] = "INSERT OR REPLACE INTO approvals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                             "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    [TG__SQL_HISTORY] = "SELECT window_start_ms, window_end_ms, spent_micros, calls_used, "
                        "tokens_used FROM windows WHERE budget = ?1 "
                        "ORDER BY window_start_ms DESC LIMIT ?2",
};

tg_status tg__sqlite_fail(tg__store *store, tg_error *err, const char *doing) {
    /* A file that is not a database, or a damaged one, is content to repair, not I/O to retry. */
    int code = store->db ? sqlite3_errcode(store->db) & 0xff : SQLITE_NOMEM;
    tg_status status = code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? TG_ERR_CORRUPT : TG_ERR_IO;
    return tg__fail(err, status, "sqlite %s: %s while %s", store->path,
                    store->db ? sqlite3_errmsg(store->db) : "cannot allocate", doing);
}

void tg__sqlite_bind_optional(sqlite3_stmt *statement, int index, int64_t value) {
    if (value == TG_NONE) {
        sqlite3_bind_null(statement, index);
    } else {
        sqlite3_bind_int64(statement, index, value);
    }
}

void tg__sqlite_bind_columns(sqlite3_stmt *statement, int first, const tg__column *columns,
                             int count) {
    for (int i = 0; i < count; i++) {
        const tg__column *column = &columns[i];
        if (column->kind == TG__COLUMN_TEXT) {
            tg__sqlite_bind_text(statement, first + i, column->text);
        } else if (column->kind == TG__COLUMN_OPTIONAL) {
            tg__sqlite_bind_optional(statement, first + i, column->number);
        } else {
            sqlite3_bind_int64(statement, first + i, column->number);
        }
    }
}

/* ---- open / close --------------------------------------------------------- */

/* True when the file has tables of its own (or cannot tell): not a fresh file. */
static bool has_tables(tg__store *store) {
    sqlite3_stmt *s = NULL;
    bool found = sqlite3_prepare_v2(store->db,
                                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name "
                                    "NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1",
                                    -1, &s, NULL) != SQLITE_OK ||
                 sqlite3_step(s) != SQLITE_DONE;
    sqlite3_finalize(s);
    return found;
}

static tg_status migrate(tg__store *store, tg_error *err) {
    sqlite3_stmt *version_statement = NULL;
    int version = 0;
    bool read = sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &version_statement,
                                   NULL) == SQLITE_OK &&
                sqlite3_step(version_statement) == SQLITE_ROW;
    if (read) {
        version = sqlite3_column_int(version_statement, 0);
    }
    sqlite3_finalize(version_statement);
    if (!read) {
        return tg__sqlite_fail(store, err, "reading the schema version");
    }
    if (version < 0) {
        return tg__fail(err, TG_ERR_CORRUPT, "%s has schema version %d, which no tollgate writes",
                        store->path, version);
    }
    if (version == 0 && has_tables(store)) {
        return tg__fail(err, TG_ERR_CORRUPT,
                        "%s is an SQLite file with tables but no tollgate schema version: another "
                        "program's database? (tollgate leaves it alone)",
                        store->path);
    }
    if (version > MIGRATIONS_COUNT) {
        return tg__fail(err, TG_ERR_CORRUPT,
                        "%s has schema version %d; this tollgate knows up to %d (newer file?)",
                        store->path, version, MIGRATIONS_COUNT);
    }
    for (int step = version; step < MIGRATIONS_COUNT; step++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", step + 1);
        if (sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            return tg__sqlite_fail(store, err, "starting a schema migration");
        }
        if (sqlite3_exec(store->db, migrations[step], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(store->db, bump, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            tg_status status = tg__sqlite_fail(store, err, "migrating the schema");
            sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
            return status;
        }
    }
    return TG_OK;
}

static tg_status lock_file(tg__store *store, tg_error *err) {
    store->lock_fd = open(store->path, O_RDWR | O_CLOEXEC);
    if (store->lock_fd < 0) {
        return tg__fail(err, TG_ERR_IO, "cannot open %s to lock it: %s", store->path,
                        strerror(errno));
    }
    if (flock(store->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        return tg__fail(err, TG_ERR_STATE,
                        "%s is in use by another tollgate process (a daemon or an mcp gateway): "
                        "each ledger file has one writer",
                        store->path);
    }
    return TG_OK;
}

static void sqlite_close(tg__store *store) {
    if (store == NULL) {
        return;
    }
    tg__checkpointer_stop(store);
    for (int i = 0; i < TG__SQL_COUNT; i++) {
        sqlite3_finalize(store->statements[i]);
    }
    sqlite3_close(store->db);
    /* Only after SQLite is closed: closing any descriptor of the file drops the
     * process's POSIX locks on it, SQLite's included. */
    if (store->lock_fd >= 0) {
        close(store->lock_fd);
    }
    free(store);
}

static tg_status sqlite_open(const tg_engine_options *options, tg__store **out, tg_error *err) {
    if (options->path == NULL || options->path[0] == '\0') {
        return tg__fail(err, TG_ERR_INVALID, "the sqlite store needs a file path");
    }
    if (strlen(options->path) >= sizeof(((tg__store *)0)->path)) {
        return tg__fail(err, TG_ERR_INVALID, "the sqlite file path is too long");
    }
    tg__store *store = calloc(1, sizeof *store);
    if (store == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory opening the sqlite store");
    }
    strcpy(store->path, options->path);
    store->lock_fd = -1;
    tg_status status = TG_OK;
    if (sqlite3_open_v2(options->path, &store->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        status = tg__sqlite_fail(store, err, "opening");
        goto fail;
    }
    /* Two engines writing one file would each trust their own ledger in memory and
     * drift apart silently; the second one is refused. Readers (tollgate report,
     * the daemon's read connections, sqlite3) do not take this lock. */
    if ((status = lock_file(store, err)) != TG_OK) {
        goto fail;
    }
    /* Another process (tollgate report, a person with sqlite3) may read the file:
     * wait for its locks a little rather than fail a write at once. */
    sqlite3_busy_timeout(store->db, 5000);
    sqlite3_stmt *mode = NULL;
    bool wal =
        sqlite3_prepare_v2(store->db, "PRAGMA journal_mode = WAL", -1, &mode, NULL) == SQLITE_OK &&
        sqlite3_step(mode) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(mode, 0), "wal") == 0;
    sqlite3_finalize(mode);
    if (!wal) {
        bool foreign = (sqlite3_errcode(store->db) & 0xff) == SQLITE_NOTADB;
        status = tg__sqlite_fail(store, err,
                                 foreign ? "opening (is it a tollgate ledger?)"
                                         : "switching to WAL (is the folder writable?)");
        goto fail;
    }
    if (sqlite3_exec(store->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF", NULL, NULL,
                     NULL) != SQLITE_OK) {
        status = tg__sqlite_fail(store, err, "setting synchronous=FULL");
        goto fail;
    }
    if ((status = migrate(store, err)) != TG_OK ||
        (status = tg__sqlite_notify_tables(store->db, err)) != TG_OK) {
        goto fail;
    }
    for (int i = 0; i < TG__SQL_COUNT; i++) {
        if (sqlite3_prepare_v3(store->db, statements_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &store->statements[i], NULL) != SQLITE_OK) {
            /* The schema is at the current version yet lacks a table or column: edited by hand. */
            status =
                (sqlite3_errcode(store->db) & 0xff) == SQLITE_ERROR ? TG_ERR_CORRUPT : TG_ERR_IO;
            tg__fail(err, status, "sqlite %s: %s while preparing statements (damaged schema?)",
                     store->path, sqlite3_errmsg(store->db));
            goto fail;
        }
    }
    if ((status = tg__checkpointer_start(store, err)) != TG_OK) {
        goto fail;
    }
    *out = store;
    return TG_OK;
fail:
    sqlite_close(store);
    return status;
}

/* ---- writes ---------------------------------------------------------------- */

/* Runs a bound statement to completion and resets it for the next use. */
bool tg__sqlite_step_done(sqlite3_stmt *statement) {
    int rc = sqlite3_step(statement);
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    return rc == SQLITE_DONE;
}

static const char *class_text(int cls) {
    return cls >= 0 && cls < TG_CLASS_COUNT ? tg_class_str((tg_class)cls) : NULL;
}

void tg__sqlite_bind_text(sqlite3_stmt *statement, int index, const char *text) {
    if (text == NULL) {
        sqlite3_bind_null(statement, index);
    } else {
        sqlite3_bind_text(statement, index, text, -1, SQLITE_STATIC);
    }
}

static bool write_path(sqlite3_stmt *statement, const char *text) {
    tg__sqlite_bind_text(statement, 1, text);
    return tg__sqlite_step_done(statement);
}

/* The spec's columns 2..17 (as ?2..?17) of a budgets or budget_templates row; `alerts`
 * is the buffer the alert list is formatted into, bound until the step. */
static void bind_spec(sqlite3_stmt *s, const tg_budget_spec *spec, char *alerts, size_t size) {
    size_t used = 0;
    alerts[0] = '\0';
    for (int i = 0; i < spec->alerts_count && i < TG_ALERTS_MAX; i++) {
        used += (size_t)snprintf(alerts + used, size - used, "%s%lld", i ? "," : "",
                                 (long long)spec->alerts_ppm[i]);
    }
    TG__BIND_COLUMNS(
        s, 2, TG__OPTIONAL_COLUMN(spec->cost_limit_micros), TG__OPTIONAL_COLUMN(spec->calls_limit),
        TG__OPTIONAL_COLUMN(spec->tokens_limit), TG__TEXT_COLUMN(tg_window_str(spec->window)),
        TG__TEXT_COLUMN(spec->timezone), TG__OPTIONAL_COLUMN(spec->revoke_at.micros),
        TG__OPTIONAL_COLUMN(spec->revoke_at.ppm));
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        tg__sqlite_bind_optional(s, 9 + 2 * c, spec->class_ceiling[c].micros);
        tg__sqlite_bind_optional(s, 10 + 2 * c, spec->class_ceiling[c].ppm);
    }
    tg__sqlite_bind_text(s, 17, alerts);
}

/* A budget's template row follows its budget row: written, or deleted when it has none. */
static bool write_template(tg__store *store, const tg__budget_row *row) {
    if (!row->has_template) {
        return write_path(store->statements[TG__SQL_TEMPLATE_DELETE], row->path);
    }
    sqlite3_stmt *s = store->statements[TG__SQL_TEMPLATE_PUT];
    char alerts[TG_ALERTS_MAX * 12 + 1];
    tg__sqlite_bind_text(s, 1, row->path);
    bind_spec(s, &row->template_spec, alerts, sizeof alerts);
    tg__sqlite_bind_text(s, 18, tg_above_hold_str(row->template_spec.above_hold));
    sqlite3_bind_int64(s, 19, row->children_max);
    return tg__sqlite_step_done(s);
}

static bool write_budget(tg__store *store, const tg__budget_row *row) {
    sqlite3_stmt *s = store->statements[TG__SQL_BUDGET_PUT];
    const tg_budget_spec *spec = &row->spec;
    char alerts[TG_ALERTS_MAX * 12 + 1];
    tg__sqlite_bind_text(s, 1, row->path);
    bind_spec(s, spec, alerts, sizeof alerts);
    TG__BIND_COLUMNS(s, 18, TG__INT_COLUMN(row->frozen), TG__INT_COLUMN(row->window_start_ms),
                     TG__INT_COLUMN(row->window_end_ms), TG__INT_COLUMN(row->spent_micros),
                     TG__INT_COLUMN(row->calls_used), TG__INT_COLUMN(row->tokens_used),
                     TG__INT_COLUMN(row->alerts_fired), TG__INT_COLUMN(row->revoked),
                     TG__TEXT_COLUMN(tg_above_hold_str(spec->above_hold)));
    return tg__sqlite_step_done(s) && write_template(store, row);
}

static bool write_hold(tg__store *store, const tg__hold_op *op) {
    if (op->kind == TG__HOLD_DELETE) {
        sqlite3_stmt *s = store->statements[TG__SQL_HOLD_DELETE];
        sqlite3_bind_int64(s, 1, (sqlite3_int64)op->row.id);
        return tg__sqlite_step_done(s);
    }
    const tg__hold_row *row = &op->row;
    sqlite3_stmt *s = store->statements[TG__SQL_HOLD_PUT];
    TG__BIND_COLUMNS(s, 1, TG__INT_COLUMN(row->id), TG__TEXT_COLUMN(row->budget),
                     TG__INT_COLUMN(row->amount_micros), TG__INT_COLUMN(row->tokens),
                     TG__TEXT_COLUMN(class_text(row->cls)), TG__TEXT_COLUMN(row->tool),
                     TG__TEXT_COLUMN(row->model), TG__INT_COLUMN(row->created_at_ms),
                     TG__INT_COLUMN(row->expires_at_ms), TG__INT_COLUMN(row->cancel_requested));
    return tg__sqlite_step_done(s);
}

static bool write_charge(tg__store *store, const tg__charge_row *row) {
    sqlite3_stmt *s = store->statements[TG__SQL_CHARGE_PUT];
    TG__BIND_COLUMNS(s, 1, TG__INT_COLUMN(row->id), TG__INT_COLUMN(row->time_ms),
                     TG__TEXT_COLUMN(row->budget), TG__INT_COLUMN(row->hold_id),
                     TG__TEXT_COLUMN(class_text(row->cls)), TG__TEXT_COLUMN(row->tool),
                     TG__TEXT_COLUMN(row->model), TG__INT_COLUMN(row->tokens_in),
                     TG__INT_COLUMN(row->tokens_out), TG__INT_COLUMN(row->cost_micros),
                     TG__INT_COLUMN(row->held_micros));
    return tg__sqlite_step_done(s);
}

static bool write_call(tg__store *store, const tg__call_row *row) {
    sqlite3_stmt *s = store->statements[TG__SQL_CALL_PUT];
    sqlite3_bind_int64(s, 1, row->time_ms);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)row->charge_id);
    const char *texts[] = {row->request_id, row->provider, row->route, row->model,
                           row->budget,     row->key,      row->user,  row->tags};
    for (int i = 0; i < 8; i++) {
        tg__sqlite_bind_text(s, 3 + i, texts[i]);
    }
    const int64_t numbers[] = {row->tokens_in,        row->tokens_out,  row->tokens_cached,
                               row->tokens_reasoning, row->cost_micros, row->held_micros,
                               row->latency_ms,       row->status};
    for (int i = 0; i < 8; i++) {
        sqlite3_bind_int64(s, 11 + i, numbers[i]);
    }
    tg__sqlite_bind_text(s, 19, row->outcome);
    return tg__sqlite_step_done(s);
}

static bool write_event(tg__store *store, const tg_event *event) {
    sqlite3_stmt *s = store->statements[TG__SQL_EVENT_PUT];
    TG__BIND_COLUMNS(
        s, 1, TG__INT_COLUMN(event->id), TG__TEXT_COLUMN(tg_event_kind_str(event->kind)),
        TG__INT_COLUMN(event->time_ms), TG__TEXT_COLUMN(event->budget),
        TG__TEXT_COLUMN(class_text(event->cls)),
        TG__TEXT_COLUMN(event->reason >= 0 ? tg_reason_str((tg_reason)event->reason) : NULL),
        TG__INT_COLUMN(event->hold_id), TG__OPTIONAL_COLUMN(event->amount_micros),
        TG__OPTIONAL_COLUMN(event->held_micros), TG__OPTIONAL_COLUMN(event->spent_micros),
        TG__OPTIONAL_COLUMN(event->limit_micros), TG__OPTIONAL_COLUMN(event->threshold_micros),
        TG__OPTIONAL_COLUMN(event->count), TG__TEXT_COLUMN(event->tool),
        TG__TEXT_COLUMN(event->detail));
    return tg__sqlite_step_done(s);
}

static bool write_window(tg__store *store, const tg__window_row *row) {
    sqlite3_stmt *s = store->statements[TG__SQL_WINDOW_PUT];
    TG__BIND_COLUMNS(
        s, 1, TG__TEXT_COLUMN(row->budget), TG__INT_COLUMN(row->window.window_start_ms),
        TG__INT_COLUMN(row->window.window_end_ms), TG__INT_COLUMN(row->window.spent_micros),
        TG__INT_COLUMN(row->window.calls_used), TG__INT_COLUMN(row->window.tokens_used));
    return tg__sqlite_step_done(s);
}

static bool write_idem(tg__store *store, const tg__idem_row *row) {
    sqlite3_stmt *s = store->statements[TG__SQL_IDEM_PUT];
    /* The hash is 64 bits; SQLite keeps it as the same bits in a signed integer. */
    TG__BIND_COLUMNS(s, 1, TG__TEXT_COLUMN(row->key), TG__INT_COLUMN(row->op),
                     TG__INT_COLUMN(row->args_hash), TG__INT_COLUMN(row->created_ms),
                     TG__INT_COLUMN(row->hold_id), TG__INT_COLUMN(row->expires_at_ms),
                     TG__INT_COLUMN(row->cls), TG__INT_COLUMN(row->charged_micros),
                     TG__INT_COLUMN(row->overrun_micros), TG__INT_COLUMN(row->charge_id),
                     TG__INT_COLUMN(row->capped));
    return tg__sqlite_step_done(s);
}

static bool write_meta(tg__store *store, const tg__meta_row *meta) {
    const struct {
        const char *name;
        uint64_t value;
    } values[] = {{"next_hold_id", meta->next_hold_id},
                  {"next_charge_id", meta->next_charge_id},
                  {"next_event_id", meta->next_event_id}};
    sqlite3_stmt *s = store->statements[TG__SQL_META_PUT];
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        tg__sqlite_bind_text(s, 1, values[i].name);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)values[i].value);
        if (!tg__sqlite_step_done(s)) {
            return false;
        }
    }
    return true;
}

static bool write_api_key(tg__store *store, const tg_api_key *key) {
    char hex[2 * TG_API_KEY_SHA256_SIZE + 1];
    tg__hex_encode(key->sha256, sizeof key->sha256, hex);
    sqlite3_stmt *s = store->statements[TG__SQL_API_KEY_PUT];
    TG__BIND_COLUMNS(s, 1, TG__TEXT_COLUMN(key->name), TG__TEXT_COLUMN(hex),
                     TG__TEXT_COLUMN(key->role), TG__TEXT_COLUMN(key->scope),
                     TG__TEXT_COLUMN(class_text(key->class_max)),
                     TG__INT_COLUMN(key->created_at_ms));
    return tg__sqlite_step_done(s);
}

/*
 * Up to when the windows of deleted budget `path` go: all of them (INT64_MAX),
 * unless a budget of the same path was created again in this batch; then those
 * closed before the last deletion (its "deleted" event), since the new
 * budget's windows end after it was created.
 */
static int64_t deleted_at_ms(const tg__journal *j, const char *path) {
    bool created_again = false;
    for (uint32_t i = 0; i < j->budgets.count && !created_again; i++) {
        created_again = strcmp(j->budgets.items[i].path, path) == 0;
    }
    for (uint32_t i = j->events.count; created_again && i-- > 0;) {
        const tg_event *event = &j->events.items[i];
        if (event->kind == TG_EVENT_BUDGET_CHANGED && strcmp(event->detail, "deleted") == 0 &&
            strcmp(event->budget, path) == 0) {
            return event->time_ms;
        }
    }
    return INT64_MAX;
}

/*
 * A deleted budget's closed windows go with it, including those it closed
 * earlier in this batch (their rows come after the deletion in write order).
 * Run after the windows are written.
 */
static bool delete_windows(tg__store *store, const tg__journal *j) {
    sqlite3_stmt *s = store->statements[TG__SQL_BUDGET_WINDOWS_DELETE];
    for (uint32_t i = 0; i < j->budgets_deleted.count; i++) {
        const char *path = j->budgets_deleted.items[i].path;
        tg__sqlite_bind_text(s, 1, path);
        sqlite3_bind_int64(s, 2, deleted_at_ms(j, path));
        if (!tg__sqlite_step_done(s)) {
            return false;
        }
    }
    return true;
}

static bool delete_budget(tg__store *store, const tg__path_row *row) {
    return write_path(store->statements[TG__SQL_BUDGET_DELETE], row->path) &&
           write_path(store->statements[TG__SQL_TEMPLATE_DELETE], row->path);
}

static bool delete_idem(tg__store *store, const tg__key_row *row) {
    return write_path(store->statements[TG__SQL_IDEM_DELETE], row->key);
}

static bool delete_api_key(tg__store *store, const tg__name_row *row) {
    return write_path(store->statements[TG__SQL_API_KEY_DELETE], row->name);
}

/* Writes each row of the journal's list `rows` with `write(store, row)`; the first that
 * fails fails the batch. A macro because each list has its own row type. */
#define WRITE_EACH(rows, write)                                                                    \
    for (uint32_t i = 0; i < (rows).count; i++) {                                                  \
        if (!write(store, &(rows).items[i])) {                                                     \
            return false;                                                                          \
        }                                                                                          \
    }

/* Every row of the journal, in the order that keeps the tables consistent. */
static bool write_rows(tg__store *store, const tg__journal *j) {
    WRITE_EACH(j->budgets_deleted, delete_budget);
    WRITE_EACH(j->budgets, write_budget);
    WRITE_EACH(j->holds, write_hold);
    WRITE_EACH(j->charges, write_charge);
    WRITE_EACH(j->events, write_event);
    WRITE_EACH(j->calls, write_call);
    WRITE_EACH(j->windows, write_window);
    if (!delete_windows(store, j)) {
        return false;
    }
    WRITE_EACH(j->idem_deleted, delete_idem);
    WRITE_EACH(j->idem_put, write_idem);
    WRITE_EACH(j->api_keys_deleted, delete_api_key);
    WRITE_EACH(j->api_keys_put, write_api_key);
    WRITE_EACH(j->approvals, tg__sqlite_write_approval);
    return write_meta(store, &j->meta);
}

#undef WRITE_EACH

/* The pages a commit wrote and read, from SQLite's counters (reset as they are read). */
static void count_commit(tg__store *store) {
    int current = 0;
    int highwater = 0;
    atomic_fetch_add(&store->stats.commits, 1);
    if (sqlite3_db_status(store->db, SQLITE_DBSTATUS_CACHE_WRITE, &current, &highwater, 1) ==
        SQLITE_OK) {
        atomic_fetch_add(&store->stats.pages_written, (uint64_t)current);
    }
    if (sqlite3_db_status(store->db, SQLITE_DBSTATUS_CACHE_MISS, &current, &highwater, 1) ==
        SQLITE_OK) {
        atomic_fetch_add(&store->stats.pages_read, (uint64_t)current);
    }
}

static void sqlite_stats(tg__store *store, tg__store_counts *out) {
    out->commits = atomic_load(&store->stats.commits);
    out->pages_written = atomic_load(&store->stats.pages_written);
    out->pages_read = atomic_load(&store->stats.pages_read);
    out->checkpoints = atomic_load(&store->stats.checkpoints);
    out->checkpoints_inline = atomic_load(&store->stats.checkpoints_inline);
    out->checkpoint_frames_inline = atomic_load(&store->stats.checkpoint_frames_inline);
    out->wal_frames = atomic_load(&store->stats.wal_frames);
    out->wal_frames_max = atomic_load(&store->stats.wal_frames_max);
    out->wal_restarts = atomic_load(&store->stats.wal_restarts);
}

static tg_status sqlite_write(tg__store *store, const tg__journal *journal, tg_error *err) {
    int current = 0;
    int highwater = 0;
    /* Count from here: reads of history on this connection are not the commit's. */
    sqlite3_db_status(store->db, SQLITE_DBSTATUS_CACHE_WRITE, &current, &highwater, 1);
    sqlite3_db_status(store->db, SQLITE_DBSTATUS_CACHE_MISS, &current, &highwater, 1);
    if (!tg__sqlite_step_done(store->statements[TG__SQL_BEGIN])) {
        return tg__sqlite_fail(store, err, "starting a transaction");
    }
    if (!write_rows(store, journal)) {
        tg_status status = tg__sqlite_fail(store, err, "writing the ledger");
        tg__sqlite_step_done(store->statements[TG__SQL_ROLLBACK]);
        return status;
    }
    if (!tg__sqlite_step_done(store->statements[TG__SQL_COMMIT])) {
        tg_status status = tg__sqlite_fail(store, err, "committing");
        if (!sqlite3_get_autocommit(store->db)) {
            tg__sqlite_step_done(store->statements[TG__SQL_ROLLBACK]);
        }
        return status;
    }
    count_commit(store);
    return TG_OK;
}

const tg__store_ops tg__store_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .load = tg__sqlite_load,
    .write = sqlite_write,
    .history = tg__sqlite_history,
    .stats = sqlite_stats,
    .persistent = true,
};
