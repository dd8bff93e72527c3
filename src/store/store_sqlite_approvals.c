/*
 * store_sqlite_approvals: the approvals table (migration 7): one row per approval, put
 * again at each transition, so the row is the approval as it last stood: who asked and
 * why, who decided, when, the class and amount approved, the hold it became, how it
 * ended. Read back at open (the kept ones and every pending one), checked column by
 * column like every other table: a bad value stops the engine as TG_ERR_CORRUPT.
 */
#include <string.h>

#include "core/path.h"
#include "store/store_sqlite.h"

bool tg__sqlite_write_approval(tg__store *store, const tg_approval_info *a) {
    sqlite3_stmt *s = store->statements[TG__SQL_APPROVAL_PUT];
    /* approved_class: NULL until approved (the class granted at) */
    const char *approved_class =
        (unsigned)a->approved_cls < TG_CLASS_AUTO ? tg_class_str(a->approved_cls) : NULL;
    TG__BIND_COLUMNS(
        s, 1, TG__INT_COLUMN(a->id), TG__TEXT_COLUMN(a->budget), TG__INT_COLUMN(a->amount_micros),
        TG__INT_COLUMN(a->tokens), TG__TEXT_COLUMN(tg_class_str(a->cls)), TG__TEXT_COLUMN(a->tool),
        TG__TEXT_COLUMN(a->model), TG__TEXT_COLUMN(a->refused_at), TG__TEXT_COLUMN(a->reason),
        TG__TEXT_COLUMN(a->requested_by), TG__INT_COLUMN(a->requested_at_ms),
        TG__INT_COLUMN(a->deadline_ms), TG__TEXT_COLUMN(tg_approval_state_str(a->state)),
        TG__TEXT_COLUMN(a->decided_by), TG__OPTIONAL_COLUMN(a->decided_at_ms),
        TG__TEXT_COLUMN(a->note), TG__TEXT_COLUMN(approved_class),
        TG__INT_COLUMN(a->approved_micros), TG__INT_COLUMN(a->hold_id),
        TG__TEXT_COLUMN(a->outcome));
    return tg__sqlite_step_done(s);
}

/* ---- load ----------------------------------------------------------------------- */

static const char *const columns[] = {
    "id",      "budget",     "amount_micros", "tokens",       "class",           "tool",
    "model",   "refused_at", "reason",        "requested_by", "requested_at_ms", "deadline_ms",
    "state",   "decided_by", "decided_at_ms", "note",         "approved_class",  "approved_micros",
    "hold_id", "outcome",
};
#define COLUMNS_COUNT ((int)(sizeof columns / sizeof columns[0]))

/* One row being read; the first bad column names itself in *err. */
typedef struct {
    sqlite3_stmt *s;
    const char *file;
    tg_error *err;
    bool ok;
} reader;

static bool bad(reader *r, int column, const char *expected) {
    if (r->ok) {
        tg__fail(r->err, TG_ERR_CORRUPT, "%s: approvals row %lld: column %s is not %s", r->file,
                 (long long)sqlite3_column_int64(r->s, 0), columns[column], expected);
    }
    r->ok = false;
    return false;
}

static bool read_int(reader *r, int column, int64_t min, int64_t max, bool nullable, int64_t *out) {
    int type = sqlite3_column_type(r->s, column);
    if (nullable && type == SQLITE_NULL) {
        *out = TG_NONE;
        return true;
    }
    int64_t value = sqlite3_column_int64(r->s, column);
    if (type != SQLITE_INTEGER || value < min || value > max) {
        return bad(r, column, "an integer in range");
    }
    *out = value;
    return true;
}

static bool read_text(reader *r, int column, char *out, size_t size) {
    const unsigned char *text = sqlite3_column_text(r->s, column);
    if (sqlite3_column_type(r->s, column) != SQLITE_TEXT || text == NULL ||
        !tg__copy_name(out, size, (const char *)text)) {
        return bad(r, column, "text of the right length");
    }
    return true;
}

static bool read_class(reader *r, int column, bool nullable, tg_class *out) {
    if (nullable && sqlite3_column_type(r->s, column) == SQLITE_NULL) {
        *out = (tg_class)-1;
        return true;
    }
    char text[16];
    if (!read_text(r, column, text, sizeof text) || tg_class_parse(text, out) != TG_OK ||
        *out == TG_CLASS_AUTO) {
        return bad(r, column, "a class");
    }
    return true;
}

static tg_status row(tg__store *store, sqlite3_stmt *s, const tg__store_loader *loader,
                     tg_error *err) {
    tg_approval_info a;
    memset(&a, 0, sizeof a);
    reader r = {s, store->path, err, true};
    int64_t id = 0, hold = 0;
    char state[16];
    bool ok =
        read_int(&r, 0, 1, INT64_MAX, false, &id) && read_text(&r, 1, a.budget, sizeof a.budget) &&
        read_int(&r, 2, 0, TG_AMOUNT_MAX, false, &a.amount_micros) &&
        read_int(&r, 3, 0, TG_AMOUNT_MAX, false, &a.tokens) && read_class(&r, 4, false, &a.cls) &&
        read_text(&r, 5, a.tool, sizeof a.tool) && read_text(&r, 6, a.model, sizeof a.model) &&
        read_text(&r, 7, a.refused_at, sizeof a.refused_at) &&
        read_text(&r, 8, a.reason, sizeof a.reason) &&
        read_text(&r, 9, a.requested_by, sizeof a.requested_by) &&
        read_int(&r, 10, INT64_MIN + 1, INT64_MAX, false, &a.requested_at_ms) &&
        read_int(&r, 11, INT64_MIN + 1, INT64_MAX, false, &a.deadline_ms) &&
        read_text(&r, 12, state, sizeof state) &&
        (tg_approval_state_parse(state, &a.state) == TG_OK || bad(&r, 12, "a state")) &&
        read_text(&r, 13, a.decided_by, sizeof a.decided_by) &&
        read_int(&r, 14, INT64_MIN + 1, INT64_MAX, true, &a.decided_at_ms) &&
        read_text(&r, 15, a.note, sizeof a.note) && read_class(&r, 16, true, &a.approved_cls) &&
        read_int(&r, 17, 0, TG_AMOUNT_MAX, false, &a.approved_micros) &&
        read_int(&r, 18, 0, INT64_MAX, false, &hold) &&
        read_text(&r, 19, a.outcome, sizeof a.outcome);
    if (!ok) {
        return TG_ERR_CORRUPT;
    }
    a.id = (uint64_t)id;
    a.hold_id = (uint64_t)hold;
    return loader->approval(loader->user, &a, err);
}

tg_status tg__sqlite_load_approvals(tg__store *store, const tg__store_loader *loader,
                                    tg_error *err) {
    _Static_assert(COLUMNS_COUNT == 20, "approvals has 20 columns");
    /* The newest TG_APPROVALS_KEPT_MAX, and every pending one (to expire it: "restart"). */
    static const char sql[] =
        "SELECT id, budget, amount_micros, tokens, class, tool, model, refused_at, reason, "
        "requested_by, requested_at_ms, deadline_ms, state, decided_by, decided_at_ms, note, "
        "approved_class, approved_micros, hold_id, outcome FROM approvals "
        "WHERE state = 'pending' OR id > coalesce((SELECT id FROM approvals ORDER BY id DESC "
        "LIMIT 1 OFFSET ?1), 0) ORDER BY id";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return tg__sqlite_fail(store, err, "preparing the approvals' load (damaged schema?)");
    }
    sqlite3_bind_int(s, 1, TG_APPROVALS_KEPT_MAX);
    return tg__sqlite_load_rows(store, s, row, loader, "loading the approvals", err);
}
