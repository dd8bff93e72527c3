/*
 * store_sqlite_read: reads the SQLite file back at open (meta, budgets parents
 * first, holds, idempotency keys) and serves budget history. Every column is
 * checked on the way in: text too long for its field, an unknown class or
 * window name, or a malformed alert list is TG_ERR_CORRUPT naming the row, so a
 * damaged or hand-edited file stops the engine instead of skewing the ledger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "store/store_sqlite.h"

/* Copies a text column into a fixed field; false when it is NULL or too long. */
static bool column_text(sqlite3_stmt *s, int index, char *dst, size_t size) {
    const unsigned char *text = sqlite3_column_text(s, index);
    if (text == NULL) {
        return false;
    }
    return tg__copy_name(dst, size, (const char *)text);
}

static bool column_class(sqlite3_stmt *s, int index, int *cls) {
    const unsigned char *text = sqlite3_column_text(s, index);
    tg_class parsed;
    if (text == NULL || tg_class_parse((const char *)text, &parsed) != TG_OK ||
        parsed >= TG_CLASS_COUNT) {
        return false;
    }
    *cls = (int)parsed;
    return true;
}

/* "800000,950000" → alerts; empty text is no alerts. */
static bool parse_alerts(const char *text, tg_budget_spec *spec) {
    spec->alerts_count = 0;
    while (*text != '\0') {
        char *end = NULL;
        long long value = strtoll(text, &end, 10);
        if (end == text || spec->alerts_count == TG_ALERTS_MAX || (*end != ',' && *end != '\0')) {
            return false;
        }
        spec->alerts_ppm[spec->alerts_count++] = value;
        text = *end == ',' ? end + 1 : end;
    }
    return true;
}

/* Runs `sql`, handing each row to `row`; a row that fails stops the load. */
static tg_status each_row(tg__store *store, const char *sql,
                          tg_status (*row)(sqlite3_stmt *s, const tg__store_loader *loader,
                                           tg_error *err),
                          const tg__store_loader *loader, tg_error *err) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return tg__sqlite_fail(store, err, "preparing the load");
    }
    tg_status status = TG_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((status = row(s, loader, err)) != TG_OK) {
            break;
        }
    }
    if (status == TG_OK && rc != SQLITE_DONE) {
        status = tg__sqlite_fail(store, err, "loading the ledger");
    }
    sqlite3_finalize(s);
    return status;
}

static tg_status budget_row(sqlite3_stmt *s, const tg__store_loader *loader, tg_error *err) {
    tg__budget_row row;
    memset(&row, 0, sizeof row);
    tg_budget_spec_init(&row.spec);
    tg_budget_spec *spec = &row.spec;
    char window[16], alerts[TG_ALERTS_MAX * 24];
    bool ok = column_text(s, 0, row.path, sizeof row.path) &&
              column_text(s, 4, window, sizeof window) &&
              tg_window_parse(window, &spec->window) == TG_OK &&
              column_text(s, 5, spec->timezone, sizeof spec->timezone) &&
              column_text(s, 16, alerts, sizeof alerts) && parse_alerts(alerts, spec);
    if (!ok) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored budget '%.64s' has a malformed column",
                        row.path);
    }
    spec->cost_limit_micros = tg__sqlite_column_optional(s, 1);
    spec->calls_limit = tg__sqlite_column_optional(s, 2);
    spec->tokens_limit = tg__sqlite_column_optional(s, 3);
    spec->revoke_at.micros = tg__sqlite_column_optional(s, 6);
    spec->revoke_at.ppm = tg__sqlite_column_optional(s, 7);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        spec->class_ceiling[c].micros = tg__sqlite_column_optional(s, 8 + 2 * c);
        spec->class_ceiling[c].ppm = tg__sqlite_column_optional(s, 9 + 2 * c);
    }
    row.frozen = sqlite3_column_int(s, 17) != 0;
    row.window_start_ms = sqlite3_column_int64(s, 18);
    row.window_end_ms = sqlite3_column_int64(s, 19);
    row.spent_micros = sqlite3_column_int64(s, 20);
    row.calls_used = sqlite3_column_int64(s, 21);
    row.tokens_used = sqlite3_column_int64(s, 22);
    row.alerts_fired = (uint32_t)sqlite3_column_int64(s, 23);
    row.revoked = (uint32_t)sqlite3_column_int64(s, 24);
    return loader->budget(loader->user, &row, err);
}

static tg_status hold_row(sqlite3_stmt *s, const tg__store_loader *loader, tg_error *err) {
    tg__hold_row row;
    memset(&row, 0, sizeof row);
    row.id = (uint64_t)sqlite3_column_int64(s, 0);
    if (!column_text(s, 1, row.budget, sizeof row.budget) || !column_class(s, 4, &row.cls) ||
        !column_text(s, 5, row.tool, sizeof row.tool) ||
        !column_text(s, 6, row.model, sizeof row.model)) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored hold %llu has a malformed column",
                        (unsigned long long)row.id);
    }
    row.amount_micros = sqlite3_column_int64(s, 2);
    row.tokens = sqlite3_column_int64(s, 3);
    row.created_at_ms = sqlite3_column_int64(s, 7);
    row.expires_at_ms = sqlite3_column_int64(s, 8);
    row.cancel_requested = sqlite3_column_int(s, 9) != 0;
    return loader->hold(loader->user, &row, err);
}

static tg_status idem_row(sqlite3_stmt *s, const tg__store_loader *loader, tg_error *err) {
    tg__idem_row row;
    memset(&row, 0, sizeof row);
    if (!column_text(s, 0, row.key, sizeof row.key)) {
        return tg__fail(err, TG_ERR_CORRUPT, "a stored idempotency key is malformed");
    }
    row.op = sqlite3_column_int(s, 1);
    if (row.op < TG__OP_RESERVE || row.op > TG__OP_RECORD) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored idempotency key '%s' has operation %d",
                        row.key, row.op);
    }
    row.args_hash = (uint64_t)sqlite3_column_int64(s, 2);
    row.created_ms = sqlite3_column_int64(s, 3);
    row.hold_id = (uint64_t)sqlite3_column_int64(s, 4);
    row.expires_at_ms = sqlite3_column_int64(s, 5);
    row.cls = sqlite3_column_int(s, 6);
    row.charged_micros = sqlite3_column_int64(s, 7);
    row.overrun_micros = sqlite3_column_int64(s, 8);
    row.charge_id = (uint64_t)sqlite3_column_int64(s, 9);
    return loader->idem(loader->user, &row, err);
}

/* Meta rows are few and known by name; an unknown name is ignored (a newer
 * minor version may add counters that this one does not need). */
static tg_status load_meta(tg__store *store, const tg__store_loader *loader, tg_error *err) {
    tg__meta_row meta = {1, 1, 1};
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(store->db, "SELECT name, value FROM meta", -1, &s, NULL) != SQLITE_OK) {
        return tg__sqlite_fail(store, err, "reading meta");
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        int64_t value = sqlite3_column_int64(s, 1);
        uint64_t *field = name == NULL                          ? NULL
                          : strcmp(name, "next_hold_id") == 0   ? &meta.next_hold_id
                          : strcmp(name, "next_charge_id") == 0 ? &meta.next_charge_id
                          : strcmp(name, "next_event_id") == 0  ? &meta.next_event_id
                                                                : NULL;
        if (field != NULL) {
            if (value < 1) {
                sqlite3_finalize(s);
                return tg__fail(err, TG_ERR_CORRUPT, "stored meta %s is %lld", name,
                                (long long)value);
            }
            *field = (uint64_t)value;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        return tg__sqlite_fail(store, err, "reading meta");
    }
    loader->meta(loader->user, &meta);
    return TG_OK;
}

tg_status tg__sqlite_load(tg__store *store, const tg__store_loader *loader, tg_error *err) {
    /* A read transaction, so the four reads see one state of the file. */
    if (sqlite3_exec(store->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        return tg__sqlite_fail(store, err, "starting the load");
    }
    tg_status status = load_meta(store, loader, err);
    /* ORDER BY path puts "a" before "a/b": a parent is restored before its children. */
    if (status == TG_OK) {
        status = each_row(store, "SELECT * FROM budgets ORDER BY path", budget_row, loader, err);
    }
    if (status == TG_OK) {
        status = each_row(store, "SELECT * FROM holds ORDER BY id", hold_row, loader, err);
    }
    if (status == TG_OK) {
        status = each_row(store, "SELECT * FROM idempotency ORDER BY created_ms, key", idem_row,
                          loader, err);
    }
    sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
    return status;
}

tg_status tg__sqlite_history(tg__store *store, const char *path, tg_window_record *out, size_t max,
                             size_t *count_out, tg_error *err) {
    sqlite3_stmt *s = store->statements[TG__SQL_HISTORY];
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)(max > INT32_MAX ? INT32_MAX : max));
    size_t count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && count < max) {
        out[count].window_start_ms = sqlite3_column_int64(s, 0);
        out[count].window_end_ms = sqlite3_column_int64(s, 1);
        out[count].spent_micros = sqlite3_column_int64(s, 2);
        out[count].calls_used = sqlite3_column_int64(s, 3);
        out[count].tokens_used = sqlite3_column_int64(s, 4);
        count++;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        return tg__sqlite_fail(store, err, "reading history");
    }
    *count_out = count;
    return TG_OK;
}
