/*
 * store_sqlite_read: reads the SQLite file back at open (meta, budgets parents
 * first, holds, idempotency keys, API keys) and serves budget history. Every column is
 * checked on the way in: an integer column must hold an integer in its range
 * (NULL only where "not set" is allowed), text must fit its field, and class
 * and window names must be known. A bad value is TG_ERR_CORRUPT naming the
 * table, the row, the column and the value, so a damaged or hand-edited file
 * stops the engine instead of skewing the ledger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/path.h"
#include "store/store_sqlite.h"

/* The columns read, in the order of the SELECTs below; names for error messages. */
static const char *const budget_columns[] = {
    "path",
    "cost_limit_micros",
    "calls_limit",
    "tokens_limit",
    "window",
    "timezone",
    "revoke_at_micros",
    "revoke_at_ppm",
    "low_ceiling_micros",
    "low_ceiling_ppm",
    "normal_ceiling_micros",
    "normal_ceiling_ppm",
    "high_ceiling_micros",
    "high_ceiling_ppm",
    "critical_ceiling_micros",
    "critical_ceiling_ppm",
    "alerts_ppm",
    "frozen",
    "window_start_ms",
    "window_end_ms",
    "spent_micros",
    "calls_used",
    "tokens_used",
    "alerts_fired",
    "revoked",
    "above_hold",
};
/* budget_templates, read beside the budgets (a merge by path), named as the LEFT JOIN
 * named them: the row is the budget's. */
static const char *const template_columns[] = {
    "path",
    "template.cost_limit_micros",
    "template.calls_limit",
    "template.tokens_limit",
    "template.window",
    "template.timezone",
    "template.revoke_at_micros",
    "template.revoke_at_ppm",
    "template.low_ceiling_micros",
    "template.low_ceiling_ppm",
    "template.normal_ceiling_micros",
    "template.normal_ceiling_ppm",
    "template.high_ceiling_micros",
    "template.high_ceiling_ppm",
    "template.critical_ceiling_micros",
    "template.critical_ceiling_ppm",
    "template.alerts_ppm",
    "template.above_hold",
    "template.children_max",
};
#define TEMPLATE_COLUMNS_COUNT ((int)(sizeof template_columns / sizeof template_columns[0]))
#define BUDGET_COLUMNS_COUNT ((int)(sizeof budget_columns / sizeof budget_columns[0]))

static const char *const hold_columns[] = {
    "id",   "budget", "amount_micros", "tokens",        "class",
    "tool", "model",  "created_at_ms", "expires_at_ms", "cancel_requested",
};
#define HOLD_COLUMNS_COUNT ((int)(sizeof hold_columns / sizeof hold_columns[0]))

static const char *const idem_columns[] = {
    "key",           "op",    "args_hash",      "created_ms",     "hold_id",
    "expires_at_ms", "class", "charged_micros", "overrun_micros", "charge_id",
    "capped",
};
#define IDEM_COLUMNS_COUNT ((int)(sizeof idem_columns / sizeof idem_columns[0]))

static const char *const api_key_columns[] = {
    "name", "sha256", "role", "scope", "class_max", "created_at_ms",
};
#define API_KEY_COLUMNS_COUNT ((int)(sizeof api_key_columns / sizeof api_key_columns[0]))

/* Window bounds a real clock can produce (about ±31,000 years); the lifetime
 * window's INT64_MIN/INT64_MAX are allowed separately. Keeps the time zone
 * arithmetic of a hand-edited row far from overflow. */
#define WINDOW_MS_MAX INT64_C(1000000000000000)

#define ROW_COLUMNS_MAX 48

/* One row being read: the first bad column stops it with a message naming it. */
typedef struct {
    sqlite3_stmt *statement;
    const char *table;                      /* "budgets", "holds", "idempotency" */
    const char *const *columns;             /* names by index */
    int types[ROW_COLUMNS_MAX];             /* SQLITE_INTEGER, ... as stored, before any conversion;
                                             * 0 until the column is first read */
    sqlite3_value *values[ROW_COLUMNS_MAX]; /* the column's value, set with its type */
    char row_name[96];                      /* how the row is named in messages: path, id, key */
    const char *file;                       /* the file, for messages */
    tg_error *err;
    bool ok; /* false after the first bad column */
} row_reader;

/*
 * Starts reading a row. A column's storage class is taken just before its value is
 * read (column_type), because a value's type is undefined once it has been converted;
 * each column is read once. The row is named by the text of column 0 (its key) in
 * messages.
 *
 * A column is fetched once as a value (sqlite3_column_value) and read through the
 * sqlite3_value_* calls: each sqlite3_column_* call checks the statement, enters and
 * leaves the connection's mutex and runs sqlite3ApiExit, and reading type then value
 * (then length, for text) that way was ~25% of a start-up of a million budgets. The
 * value is unprotected, which only matters across threads: the load reads on one.
 */
static void row_reader_init(row_reader *r, sqlite3_stmt *statement, const char *table,
                            const char *const *columns, const char *file, tg_error *err) {
    r->statement = statement;
    r->table = table;
    r->columns = columns;
    memset(r->types, 0, sizeof r->types);
    r->file = file;
    r->err = err;
    r->ok = true;
}

static int column_type(row_reader *r, int index) {
    if (r->types[index] == 0) {
        r->values[index] = sqlite3_column_value(r->statement, index);
        r->types[index] = sqlite3_value_type(r->values[index]);
    }
    return r->types[index];
}

/* The row's name for a message, from its key column: only a bad row is named, so a
 * start-up of a million good rows formats nothing. */
static const char *row_name(row_reader *r) {
    const unsigned char *key = sqlite3_column_text(r->statement, 0);
    size_t length = key ? strlen((const char *)key) : 0;
    snprintf(r->row_name, sizeof r->row_name, "'%.64s%s'", key ? (const char *)key : "",
             length > 64 ? "..." : "");
    return r->row_name;
}

static bool bad_column(row_reader *r, int index, const char *expected) {
    if (!r->ok) {
        return false;
    }
    r->ok = false;
    const unsigned char *text = sqlite3_column_text(r->statement, index);
    tg__fail(r->err, TG_ERR_CORRUPT, "%s: %s row %s: column %s is %s%.40s%s%s (expected %s)",
             r->file, r->table, row_name(r), r->columns[index], text ? "'" : "",
             text ? (const char *)text : "NULL", text ? "'" : "",
             text && strlen((const char *)text) > 40 ? "..." : "", expected);
    return false;
}

/* An INTEGER column in [min, max]. */
static bool read_int(row_reader *r, int index, int64_t min, int64_t max, int64_t *out) {
    if (!r->ok) {
        return false;
    }
    bool integer = column_type(r, index) == SQLITE_INTEGER;
    int64_t value = integer ? sqlite3_value_int64(r->values[index]) : 0;
    if (!integer || value < min || value > max) {
        char expected[96];
        snprintf(expected, sizeof expected, "an integer from %lld to %lld", (long long)min,
                 (long long)max);
        return bad_column(r, index, expected);
    }
    *out = value;
    return true;
}

/* NULL ("not set", TG_NONE) or an INTEGER in [0, max]. */
static bool read_optional(row_reader *r, int index, int64_t max, int64_t *out) {
    if (r->ok && column_type(r, index) == SQLITE_NULL) {
        *out = TG_NONE;
        return true;
    }
    return read_int(r, index, 0, max, out);
}

static bool read_bool(row_reader *r, int index, bool *out) {
    int64_t value = 0;
    if (!read_int(r, index, 0, 1, &value)) {
        return false;
    }
    *out = value != 0;
    return true;
}

/* A TEXT column that fits `size` bytes with its NUL and has no NUL inside. */
static bool read_text(row_reader *r, int index, char *dst, size_t size) {
    if (!r->ok) {
        return false;
    }
    const unsigned char *text =
        column_type(r, index) == SQLITE_TEXT ? sqlite3_value_text(r->values[index]) : NULL;
    int bytes = text != NULL ? sqlite3_value_bytes(r->values[index]) : 0;
    if (text == NULL || strlen((const char *)text) != (size_t)bytes ||
        !tg__copy_name(dst, size, (const char *)text)) {
        char expected[64];
        snprintf(expected, sizeof expected, "text of at most %zu bytes, without NUL", size - 1);
        return bad_column(r, index, expected);
    }
    return true;
}

static bool read_class(row_reader *r, int index, int *out) {
    char name[16];
    tg_class parsed;
    if (!read_text(r, index, name, sizeof name)) {
        return false;
    }
    if (tg_class_parse(name, &parsed) != TG_OK || parsed >= TG_CLASS_COUNT) {
        return bad_column(r, index, "low, normal, high or critical");
    }
    *out = (int)parsed;
    return true;
}

/* "800000,950000" → alerts; empty text is no alerts. Ranges are the spec check's. */
static bool parse_alerts(const char *text, tg_budget_spec *spec) {
    spec->alerts_count = 0;
    while (*text != '\0') {
        char *end = NULL;
        if (*text < '0' || *text > '9') {
            return false;
        }
        long long value = strtoll(text, &end, 10);
        if (spec->alerts_count == TG_ALERTS_MAX || value > TG_PPM ||
            (*end != ',' && *end != '\0') || (*end == ',' && end[1] == '\0')) {
            return false;
        }
        spec->alerts_ppm[spec->alerts_count++] = value;
        text = *end == ',' ? end + 1 : end;
    }
    return true;
}

tg_status tg__sqlite_load_rows(tg__store *store, sqlite3_stmt *s, tg__sqlite_load_row row,
                               const tg__store_loader *loader, const char *doing, tg_error *err) {
    tg_status status = TG_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((status = row(store, s, loader, err)) != TG_OK) {
            break;
        }
    }
    if (status == TG_OK && rc != SQLITE_DONE) {
        status = tg__sqlite_fail(store, err, doing);
    }
    sqlite3_finalize(s);
    return status;
}

/* Runs `sql`, handing each row to `row`; a row that fails stops the load. */
static tg_status each_row(tg__store *store, const char *sql, tg__sqlite_load_row row,
                          const tg__store_loader *loader, tg_error *err) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return tg__sqlite_fail(store, err, "preparing the load (damaged schema?)");
    }
    return tg__sqlite_load_rows(store, s, row, loader, "loading the ledger", err);
}

/* The spec's columns: base + 1 .. base + 16 as in the budgets table, above_hold at
 * `above_hold_at` (budgets added it last). */
static bool budget_spec_columns(row_reader *r, int base, int above_hold_at, tg_budget_spec *spec) {
    char window[16], alerts[TG_ALERTS_MAX * 24];
    if (!read_optional(r, base + 1, TG_LIMIT_MAX, &spec->cost_limit_micros) ||
        !read_optional(r, base + 2, TG_LIMIT_MAX, &spec->calls_limit) ||
        !read_optional(r, base + 3, TG_LIMIT_MAX, &spec->tokens_limit) ||
        !read_text(r, base + 4, window, sizeof window)) {
        return false;
    }
    if (tg_window_parse(window, &spec->window) != TG_OK) {
        return bad_column(r, base + 4, "lifetime, hour, day, week or month");
    }
    if (!read_text(r, base + 5, spec->timezone, sizeof spec->timezone) ||
        !read_optional(r, base + 6, TG_LIMIT_MAX, &spec->revoke_at.micros) ||
        !read_optional(r, base + 7, TG_PPM, &spec->revoke_at.ppm)) {
        return false;
    }
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        if (!read_optional(r, base + 8 + 2 * c, TG_LIMIT_MAX, &spec->class_ceiling[c].micros) ||
            !read_optional(r, base + 9 + 2 * c, TG_PPM, &spec->class_ceiling[c].ppm)) {
            return false;
        }
    }
    if (!read_text(r, base + 16, alerts, sizeof alerts)) {
        return false;
    }
    if (!parse_alerts(alerts, spec)) {
        return bad_column(r, base + 16, "up to 8 fractions in ppm separated by commas");
    }
    char above_hold[16];
    if (!read_text(r, above_hold_at, above_hold, sizeof above_hold)) {
        return false;
    }
    if (tg_above_hold_parse(above_hold, &spec->above_hold) != TG_OK) {
        return bad_column(r, above_hold_at, "charge or cap");
    }
    return true;
}

static bool budget_state_columns(row_reader *r, tg__budget_row *row) {
    int64_t fired = 0, revoked = 0;
    bool lifetime = row->spec.window == TG_WINDOW_LIFETIME;
    int64_t start_min = lifetime ? INT64_MIN : -WINDOW_MS_MAX;
    int64_t start_max = lifetime ? INT64_MIN : WINDOW_MS_MAX;
    int64_t end_min = lifetime ? INT64_MAX : -WINDOW_MS_MAX;
    int64_t end_max = lifetime ? INT64_MAX : WINDOW_MS_MAX;
    if (!read_bool(r, 17, &row->frozen) ||
        !read_int(r, 18, start_min, start_max, &row->window_start_ms) ||
        !read_int(r, 19, end_min, end_max, &row->window_end_ms) ||
        !read_int(r, 20, 0, TG_LIMIT_MAX, &row->spent_micros) ||
        !read_int(r, 21, 0, TG_LIMIT_MAX, &row->calls_used) ||
        !read_int(r, 22, 0, TG_LIMIT_MAX, &row->tokens_used) ||
        !read_int(r, 23, 0, (INT64_C(1) << TG_ALERTS_MAX) - 1, &fired) ||
        !read_int(r, 24, 0, (INT64_C(1) << TG_CLASS_COUNT) - 1, &revoked)) {
        return false;
    }
    if (row->window_end_ms <= row->window_start_ms) {
        return bad_column(r, 19, "a time after window_start_ms");
    }
    row->alerts_fired = (uint32_t)fired;
    row->revoked = (uint32_t)revoked;
    return true;
}

/* The template of the budget at `path`, when budget_templates (read in path order beside the
 * budgets) has one: its cursor is moved past every path before `path`. */
static tg_status template_columns_read(tg__store *store, sqlite3_stmt *t, int *t_rc,
                                       tg__budget_row *row, tg_error *err) {
    while (*t_rc == SQLITE_ROW) {
        /* A key that is not text (a hand-edited blob) matched no budget in the join either. */
        const unsigned char *key =
            sqlite3_column_type(t, 0) == SQLITE_TEXT ? sqlite3_column_text(t, 0) : NULL;
        int order = key != NULL ? strcmp((const char *)key, row->path) : -1;
        if (order > 0) {
            return TG_OK;
        }
        if (order == 0) {
            break;
        }
        *t_rc = sqlite3_step(t);
    }
    if (*t_rc != SQLITE_ROW) {
        return *t_rc == SQLITE_DONE ? TG_OK : tg__sqlite_fail(store, err, "loading templates");
    }
    row_reader r;
    row_reader_init(&r, t, "budgets", template_columns, store->path, err);
    row->has_template = true;
    if (!budget_spec_columns(&r, 0, 17, &row->template_spec) ||
        !read_int(&r, 18, 1, TG_LIMIT_MAX, &row->children_max)) {
        return TG_ERR_CORRUPT;
    }
    *t_rc = sqlite3_step(t);
    return TG_OK;
}

static tg_status budget_row(tg__store *store, sqlite3_stmt *s, sqlite3_stmt *t, int *t_rc,
                            const tg__store_loader *loader, tg_error *err) {
    tg__budget_row row;
    memset(&row, 0, sizeof row);
    tg_budget_spec_init(&row.spec);
    tg_budget_spec_init(&row.template_spec);
    row_reader r;
    row_reader_init(&r, s, "budgets", budget_columns, store->path, err);
    if (!read_text(&r, 0, row.path, sizeof row.path) ||
        !budget_spec_columns(&r, 0, 25, &row.spec) || !budget_state_columns(&r, &row)) {
        return TG_ERR_CORRUPT;
    }
    tg_status status = template_columns_read(store, t, t_rc, &row, err);
    return status == TG_OK ? loader->budget(loader->user, &row, err) : status;
}

/*
 * The budgets in path order, each with its template. budget_templates is read in the
 * same order beside them (a merge), not looked up per budget: a start-up of a million
 * budgets with a handful of templates pays for the handful. A template whose budget is
 * missing is skipped, as the LEFT JOIN this replaces skipped it.
 */
static tg_status load_budgets(tg__store *store, const tg__store_loader *loader, tg_error *err) {
    /* ORDER BY path puts "a" before "a/b" (a prefix sorts first in BINARY order): a
     * parent is restored before its children. Columns are named, not `*`, so a
     * column added by hand does not shift the others. */
    static const char budgets_sql[] =
        "SELECT path, cost_limit_micros, calls_limit, tokens_limit, window, timezone, "
        "revoke_at_micros, revoke_at_ppm, low_ceiling_micros, low_ceiling_ppm, "
        "normal_ceiling_micros, normal_ceiling_ppm, high_ceiling_micros, high_ceiling_ppm, "
        "critical_ceiling_micros, critical_ceiling_ppm, alerts_ppm, frozen, window_start_ms, "
        "window_end_ms, spent_micros, calls_used, tokens_used, alerts_fired, revoked, "
        "above_hold FROM budgets ORDER BY path";
    static const char templates_sql[] =
        "SELECT path, cost_limit_micros, calls_limit, tokens_limit, window, timezone, "
        "revoke_at_micros, revoke_at_ppm, low_ceiling_micros, low_ceiling_ppm, "
        "normal_ceiling_micros, normal_ceiling_ppm, high_ceiling_micros, high_ceiling_ppm, "
        "critical_ceiling_micros, critical_ceiling_ppm, alerts_ppm, above_hold, children_max "
        "FROM budget_templates ORDER BY path";
    sqlite3_stmt *s = NULL, *t = NULL;
    if (sqlite3_prepare_v2(store->db, budgets_sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->db, templates_sql, -1, &t, NULL) != SQLITE_OK) {
        tg_status status = tg__sqlite_fail(store, err, "preparing the load (damaged schema?)");
        sqlite3_finalize(s);
        sqlite3_finalize(t);
        return status;
    }
    tg_status status = TG_OK;
    int t_rc = sqlite3_step(t);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((status = budget_row(store, s, t, &t_rc, loader, err)) != TG_OK) {
            break;
        }
    }
    if (status == TG_OK && rc != SQLITE_DONE) {
        status = tg__sqlite_fail(store, err, "loading the ledger");
    }
    sqlite3_finalize(s);
    sqlite3_finalize(t);
    return status;
}

static tg_status hold_row(tg__store *store, sqlite3_stmt *s, const tg__store_loader *loader,
                          tg_error *err) {
    tg__hold_row row;
    memset(&row, 0, sizeof row);
    row_reader r;
    row_reader_init(&r, s, "holds", hold_columns, store->path, err);
    int64_t id = 0;
    if (!read_int(&r, 0, 1, INT64_MAX, &id) || !read_text(&r, 1, row.budget, sizeof row.budget) ||
        !read_int(&r, 2, 0, TG_AMOUNT_MAX, &row.amount_micros) ||
        !read_int(&r, 3, 0, TG_AMOUNT_MAX, &row.tokens) || !read_class(&r, 4, &row.cls) ||
        !read_text(&r, 5, row.tool, sizeof row.tool) ||
        !read_text(&r, 6, row.model, sizeof row.model) ||
        !read_int(&r, 7, INT64_MIN, INT64_MAX, &row.created_at_ms) ||
        !read_int(&r, 8, INT64_MIN, INT64_MAX, &row.expires_at_ms) ||
        !read_bool(&r, 9, &row.cancel_requested)) {
        return TG_ERR_CORRUPT;
    }
    row.id = (uint64_t)id;
    return loader->hold(loader->user, &row, err);
}

static tg_status idem_row(tg__store *store, sqlite3_stmt *s, const tg__store_loader *loader,
                          tg_error *err) {
    tg__idem_row row;
    memset(&row, 0, sizeof row);
    row_reader r;
    row_reader_init(&r, s, "idempotency", idem_columns, store->path, err);
    int64_t op = 0, args_hash = 0, hold_id = 0, cls = 0, charge_id = 0;
    if (!read_text(&r, 0, row.key, sizeof row.key) ||
        !read_int(&r, 1, TG__OP_RESERVE, TG__OP_RECORD, &op) ||
        !read_int(&r, 2, INT64_MIN, INT64_MAX, &args_hash) ||
        !read_int(&r, 3, INT64_MIN, INT64_MAX, &row.created_ms) ||
        !read_int(&r, 4, 0, INT64_MAX, &hold_id) ||
        !read_int(&r, 5, INT64_MIN, INT64_MAX, &row.expires_at_ms) ||
        !read_int(&r, 6, 0, TG_CLASS_COUNT - 1, &cls) ||
        !read_int(&r, 7, 0, TG_AMOUNT_MAX, &row.charged_micros) ||
        !read_int(&r, 8, 0, TG_AMOUNT_MAX, &row.overrun_micros) ||
        !read_int(&r, 9, 0, INT64_MAX, &charge_id) || !read_bool(&r, 10, &row.capped)) {
        return TG_ERR_CORRUPT;
    }
    /* The hash is 64 bits kept as the same bits in a signed integer. */
    row.op = (int)op;
    row.args_hash = (uint64_t)args_hash;
    row.hold_id = (uint64_t)hold_id;
    row.cls = (int)cls;
    row.charge_id = (uint64_t)charge_id;
    return loader->idem(loader->user, &row, err);
}

static tg_status api_key_row(tg__store *store, sqlite3_stmt *s, const tg__store_loader *loader,
                             tg_error *err) {
    tg_api_key row;
    memset(&row, 0, sizeof row);
    row_reader r;
    row_reader_init(&r, s, "api_keys", api_key_columns, store->path, err);
    char hex[2 * TG_API_KEY_SHA256_SIZE + 1];
    int cls = 0;
    if (!read_text(&r, 0, row.name, sizeof row.name) || !read_text(&r, 1, hex, sizeof hex) ||
        !read_text(&r, 2, row.role, sizeof row.role) ||
        !read_text(&r, 3, row.scope, sizeof row.scope) || !read_class(&r, 4, &cls) ||
        !read_int(&r, 5, INT64_MIN, INT64_MAX, &row.created_at_ms)) {
        return TG_ERR_CORRUPT;
    }
    /* Lowercase only, as written: an uppercase twin would pass UNIQUE as another key. */
    if (strspn(hex, "0123456789abcdef") != strlen(hex) ||
        !tg__hex_decode(hex, row.sha256, sizeof row.sha256)) {
        bad_column(&r, 1, "64 lowercase hex digits");
        return TG_ERR_CORRUPT;
    }
    row.class_max = (tg_class)cls;
    return loader->api_key(loader->user, &row, err);
}

/* The largest id in `table` plus one, 1 when empty: a floor for its counter. */
static tg_status next_id_floor(tg__store *store, const char *sql, uint64_t *out, tg_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(store->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t max = sqlite3_column_int64(s, 0);
        *out = max > 0 && max < INT64_MAX ? (uint64_t)max + 1 : 1;
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? TG_OK : tg__sqlite_fail(store, err, "reading the largest ids");
}

/* Tells a loader that sizes its table once (expected; NULL when it does not) how many rows
 * count_sql counts, plus one (next_id_floor's reading): a hint, not a promise. */
static tg_status rows_expected(tg__store *store, const char *count_sql,
                               tg_status (*expected)(void *user, int64_t count, tg_error *err),
                               void *user, tg_error *err) {
    if (expected == NULL) {
        return TG_OK;
    }
    uint64_t count = 0;
    tg_status status = next_id_floor(store, count_sql, &count, err);
    return status == TG_OK ? expected(user, (int64_t)count, err) : status;
}

/*
 * Meta rows are few and known by name; an unknown name is ignored (a newer
 * minor version may add counters that this one does not need). The charge and
 * event counters never go below the largest id on file: a counter behind its
 * table (a meta row restored from an older copy) would make every later write
 * collide with an existing row and fail.
 */
static tg_status load_meta(tg__store *store, const tg__store_loader *loader, tg_error *err) {
    tg__meta_row meta = {1, 1, 1};
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(store->db, "SELECT name, value FROM meta", -1, &s, NULL) != SQLITE_OK) {
        return tg__sqlite_fail(store, err, "reading meta (damaged schema?)");
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        bool integer = sqlite3_column_type(s, 1) == SQLITE_INTEGER; /* before any conversion */
        const char *name = (const char *)sqlite3_column_text(s, 0);
        int64_t value = integer ? sqlite3_column_int64(s, 1) : 0;
        uint64_t *field = name == NULL                          ? NULL
                          : strcmp(name, "next_hold_id") == 0   ? &meta.next_hold_id
                          : strcmp(name, "next_charge_id") == 0 ? &meta.next_charge_id
                          : strcmp(name, "next_event_id") == 0  ? &meta.next_event_id
                                                                : NULL;
        if (field != NULL && (!integer || value < 1)) {
            const char *text = (const char *)sqlite3_column_text(s, 1);
            tg_status status = tg__fail(err, TG_ERR_CORRUPT,
                                        "%s: meta row '%s': column value is %.40s (expected an "
                                        "integer of at least 1)",
                                        store->path, name, text ? text : "NULL");
            sqlite3_finalize(s);
            return status;
        }
        if (field != NULL) {
            *field = (uint64_t)value;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        return tg__sqlite_fail(store, err, "reading meta");
    }
    uint64_t charges_floor = 1, events_floor = 1;
    tg_status status = next_id_floor(store, "SELECT max(id) FROM charges", &charges_floor, err);
    if (status == TG_OK) {
        status = next_id_floor(store, "SELECT max(id) FROM events", &events_floor, err);
    }
    if (status != TG_OK) {
        return status;
    }
    meta.next_charge_id = meta.next_charge_id > charges_floor ? meta.next_charge_id : charges_floor;
    meta.next_event_id = meta.next_event_id > events_floor ? meta.next_event_id : events_floor;
    loader->meta(loader->user, &meta);
    return TG_OK;
}

static tg_status load_all(tg__store *store, const tg__store_loader *loader, tg_error *err) {
    _Static_assert(BUDGET_COLUMNS_COUNT == 26 && BUDGET_COLUMNS_COUNT <= ROW_COLUMNS_MAX,
                   "budgets has 26 columns");
    _Static_assert(TEMPLATE_COLUMNS_COUNT == 19, "budget_templates has 18 besides its path");
    _Static_assert(HOLD_COLUMNS_COUNT == 10, "holds has 10 columns");
    _Static_assert(IDEM_COLUMNS_COUNT == 11, "idempotency has 11 columns");
    _Static_assert(API_KEY_COLUMNS_COUNT == 6, "api_keys has 6 columns");
    /* A read transaction, so the four reads see one state of the file. */
    if (sqlite3_exec(store->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        return tg__sqlite_fail(store, err, "starting the load");
    }
    tg_status status = load_meta(store, loader, err);
    if (status == TG_OK) {
        status = rows_expected(store, "SELECT count(*) FROM budgets", loader->budgets_expected,
                               loader->user, err);
    }
    if (status == TG_OK) {
        status = load_budgets(store, loader, err);
    }
    if (status == TG_OK) {
        status = rows_expected(store, "SELECT count(*) FROM holds", loader->holds_expected,
                               loader->user, err);
    }
    if (status == TG_OK) {
        status = each_row(store,
                          "SELECT id, budget, amount_micros, tokens, class, tool, model, "
                          "created_at_ms, expires_at_ms, cancel_requested FROM holds ORDER BY id",
                          hold_row, loader, err);
    }
    if (status == TG_OK) {
        status = each_row(store,
                          "SELECT key, op, args_hash, created_ms, hold_id, expires_at_ms, class, "
                          "charged_micros, overrun_micros, charge_id, capped FROM idempotency "
                          "ORDER BY created_ms, key",
                          idem_row, loader, err);
    }
    if (status == TG_OK) {
        status = each_row(store,
                          "SELECT name, sha256, role, scope, class_max, created_at_ms "
                          "FROM api_keys ORDER BY name",
                          api_key_row, loader, err);
    }
    if (status == TG_OK && loader->approval != NULL) {
        status = tg__sqlite_load_approvals(store, loader, err);
    }
    sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
    return status;
}

/*
 * The load reads through a second, read-only connection without SQLite's mutex: the
 * store's own connection is FULLMUTEX, which takes a lock in every sqlite3_column_*
 * call, and a start-up of a million budgets makes some thirty of those per row. Only
 * this thread uses the reader, and it is closed before the load returns. A file that
 * cannot be opened twice (":memory:", a URI) is read through the store's connection.
 */
tg_status tg__sqlite_load(tg__store *store, const tg__store_loader *loader, tg_error *err) {
    sqlite3 *reader = NULL;
    bool second = store->path[0] != '\0' && strcmp(store->path, ":memory:") != 0 &&
                  strncmp(store->path, "file:", 5) != 0 &&
                  sqlite3_open_v2(store->path, &reader, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                                  NULL) == SQLITE_OK;
    if (!second) {
        sqlite3_close(reader); /* a failed open may still have made a handle */
        return load_all(store, loader, err);
    }
    sqlite3_busy_timeout(reader, 5000);
    sqlite3 *own = store->db;
    store->db = reader; /* load_all and its messages use store->db */
    tg_status status = load_all(store, loader, err);
    store->db = own;
    sqlite3_close(reader);
    return status;
}

tg_status tg__sqlite_history(tg__store *store, const char *path, tg_window_record *out, size_t max,
                             size_t *count_out, tg_error *err) {
    sqlite3_stmt *s = store->statements[TG__SQL_HISTORY];
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)(max > INT32_MAX ? INT32_MAX : max));
    size_t count = 0;
    int rc = SQLITE_DONE;
    while (count < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        out[count].window_start_ms = sqlite3_column_int64(s, 0);
        out[count].window_end_ms = sqlite3_column_int64(s, 1);
        out[count].spent_micros = sqlite3_column_int64(s, 2);
        out[count].calls_used = sqlite3_column_int64(s, 3);
        out[count].tokens_used = sqlite3_column_int64(s, 4);
        count++;
    }
    if (count == max) {
        rc = SQLITE_DONE; /* LIMIT ?2 stopped the query; nothing more was read */
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE) {
        return tg__sqlite_fail(store, err, "reading history");
    }
    *count_out = count;
    return TG_OK;
}
