/*
 * budget_bulk: many budgets created, updated and deleted as one change. Every
 * operation is checked against the ledger as the earlier operations of the same
 * request leave it, before any is applied; then all are applied, and they cannot
 * fail, so a request changes every budget it names or none. This is how an API
 * client builds a ledger of a million budgets a few thousand at a time.
 */
#include <string.h>

#include "core/ledger_internal.h"

typedef struct {
    const tg__budget_op *ops;
} op_table;

static bool op_path_eq(const void *table, int32_t value, const void *key) {
    const op_table *ops = table;
    return strcmp(ops->ops[value].path, key) == 0;
}

static int32_t op_find(const tg__map *names, const op_table *table, const char *path) {
    return tg__map_get(names, tg__hash_str(path), op_path_eq, table, path);
}

/* Fails naming the operation, so a client finds its line in a list of thousands. */
static tg_status op_fail(tg_error *err, tg_status status, size_t index, const tg_error *why) {
    return tg__fail(err, status, "operation %zu: %s", index, why->message);
}

/* The checks on one operation that need nothing but the operation itself. */
static tg_status check_alone(const tg__budget_op *op, tg_error *why) {
    tg_status status = tg__path_check(op->path, why);
    if (status != TG_OK || op->remove) {
        return status;
    }
    if (op->spec == NULL) {
        return tg__fail(why, TG_ERR_INVALID, "no budget spec given for '%s'", op->path);
    }
    if (op->child_template != NULL && op->remove_template) {
        return tg__fail(why, TG_ERR_INVALID, "budget '%s' both sets and removes its template",
                        op->path);
    }
    if ((status = tg__budget_spec_check(op->spec, why)) != TG_OK) {
        return status;
    }
    return tg__template_check(op->child_template, op->children_max, why);
}

/* A put's parent: in the ledger and not deleted here, or created by an earlier op. */
static tg_status check_parent(const tg__ledger *ledger, const tg__map *names, const op_table *table,
                              size_t index, tg_error *why) {
    const char *path = table->ops[index].path;
    size_t length = tg__path_parent_len(path);
    if (length == 0) {
        return TG_OK;
    }
    char parent[TG_PATH_SIZE_MAX];
    memcpy(parent, path, length);
    parent[length] = '\0';
    int32_t named = op_find(names, table, parent);
    if (named >= 0 && table->ops[named].remove) {
        return tg__fail(why, TG_ERR_STATE, "budget '%s' is put under '%s', which is deleted", path,
                        parent);
    }
    if (tg__budget_find(ledger, parent) >= 0) {
        return TG_OK;
    }
    if (named >= 0 && (size_t)named < index) {
        return TG_OK;
    }
    return tg__fail(why, TG_ERR_NOT_FOUND,
                    named >= 0 ? "the parent of budget '%s' is created after it; list parents first"
                               : "the parent of budget '%s' does not exist; create it first",
                    path);
}

/* A delete: the budget exists, has no open hold, and every child is deleted before it. */
static tg_status check_delete(const tg__ledger *ledger, const op_table *table, size_t index,
                              const int32_t *children_deleted, tg_error *why) {
    const char *path = table->ops[index].path;
    int32_t slot = tg__budget_find(ledger, path);
    if (slot < 0) {
        return tg__fail(why, TG_ERR_NOT_FOUND, "no budget '%s'", path);
    }
    const tg__budget *budget = &ledger->budgets[slot];
    if (budget->holds > 0) {
        return tg__fail(why, TG_ERR_STATE, "budget '%s' has %d open holds", path, budget->holds);
    }
    if (budget->children > children_deleted[index]) {
        return tg__fail(why, TG_ERR_STATE,
                        "budget '%s' has %d children not deleted before it in this request", path,
                        budget->children - children_deleted[index]);
    }
    return TG_OK;
}

/* Counts, for each delete, how many of its children are deleted before it. */
static void count_children_deleted(const tg__map *names, const op_table *table, size_t index,
                                   int32_t *children_deleted) {
    const char *path = table->ops[index].path;
    size_t length = tg__path_parent_len(path);
    if (length == 0) {
        return;
    }
    char parent[TG_PATH_SIZE_MAX];
    memcpy(parent, path, length);
    parent[length] = '\0';
    int32_t named = op_find(names, table, parent);
    if (named >= 0 && (size_t)named > index && table->ops[named].remove) {
        children_deleted[named]++;
    }
}

static tg_status check_all(const tg__ledger *ledger, const tg__budget_op *ops, size_t count,
                           tg__map *names, int32_t *children_deleted, int64_t *peak_out,
                           int64_t *creates_out, tg_error *err) {
    op_table table = {ops};
    tg_error why = {0};
    tg_status status;
    for (size_t i = 0; i < count; i++) {
        if ((status = check_alone(&ops[i], &why)) != TG_OK) {
            return op_fail(err, status, i, &why);
        }
        if (op_find(names, &table, ops[i].path) >= 0) {
            return tg__fail(err, TG_ERR_INVALID,
                            "operation %zu: budget '%s' is named twice in one request", i,
                            ops[i].path);
        }
        if (tg__map_put(names, tg__hash_str(ops[i].path), (int32_t)i) != TG_OK) {
            return tg__fail(err, TG_ERR_NOMEM, "out of memory checking %zu budgets", count);
        }
    }
    int64_t live = ledger->budgets_live, peak = live, creates = 0;
    for (size_t i = 0; i < count; i++) {
        if (ops[i].remove) {
            count_children_deleted(names, &table, i, children_deleted);
        }
    }
    for (size_t i = 0; i < count; i++) {
        bool exists = tg__budget_find(ledger, ops[i].path) >= 0;
        if (ops[i].remove) {
            status = check_delete(ledger, &table, i, children_deleted, &why);
            live--;
        } else {
            status = exists ? TG_OK : check_parent(ledger, names, &table, i, &why);
            live += exists ? 0 : 1;
            creates += exists ? 0 : 1;
        }
        if (status != TG_OK) {
            return op_fail(err, status, i, &why);
        }
        if (live > ledger->options.budgets_max) {
            return tg__fail(err, TG_ERR_FULL,
                            "operation %zu: the ledger holds its maximum of %lld budgets", i,
                            (long long)ledger->options.budgets_max);
        }
        peak = live > peak ? live : peak;
    }
    *peak_out = peak;
    *creates_out = creates;
    return TG_OK;
}

tg_status tg__ledger_budgets_apply(tg__ledger *ledger, const tg__budget_op *ops, size_t count,
                                   int64_t now_ms, tg__bulk_counts *counts, tg_error *err) {
    if (count > TG_BUDGET_OPS_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "at most %d budget operations in one request",
                        TG_BUDGET_OPS_MAX);
    }
    tg__map names = {0};
    int32_t *children_deleted = calloc(count + 1, sizeof *children_deleted);
    if (children_deleted == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory checking %zu budgets", count);
    }
    int64_t peak = 0, creates = 0;
    tg__holds_expire(ledger, now_ms); /* as a single put or delete would see the holds */
    tg_status status =
        check_all(ledger, ops, count, &names, children_deleted, &peak, &creates, err);
    tg__map_free(&names);
    free(children_deleted);
    if (status == TG_OK) {
        status = tg__budgets_reserve(ledger, peak, creates, err);
    }
    int64_t puts = 0;
    for (size_t i = 0; i < count; i++) {
        puts += !ops[i].remove;
        puts += !ops[i].remove && ops[i].child_template != NULL; /* its template's spec too */
    }
    if (status == TG_OK) {
        /* Each put may bring a spec not seen yet (a freed entry keeps its memory, so the
         * table stays at the most distinct specs ever alive at once plus one request). */
        status = tg__specs_reserve(ledger, puts, err);
    }
    if (status != TG_OK) {
        return status;
    }
    tg__bulk_counts done = {0};
    for (size_t i = 0; i < count; i++) {
        tg_error why = {0};
        bool exists = tg__budget_find(ledger, ops[i].path) >= 0;
        if (ops[i].remove) {
            status = tg__ledger_budget_delete(ledger, ops[i].path, now_ms, &why);
            done.deleted++;
        } else {
            status =
                tg__ledger_budget_put(ledger, ops[i].path, ops[i].spec, ops[i].tz, now_ms, &why);
            exists ? done.updated++ : done.created++;
            if (status == TG_OK && (ops[i].child_template != NULL || ops[i].remove_template)) {
                status =
                    tg__ledger_template_set(ledger, ops[i].path, ops[i].child_template,
                                            ops[i].template_tz, ops[i].children_max, now_ms, &why);
            }
        }
        /* Checked above with room reserved: a failure here would break the promise that a
         * request applies whole, so it is a bug, not an input error. */
        TG_VERIFY(status == TG_OK);
    }
    if (counts != NULL) {
        *counts = done;
    }
    return TG_OK;
}
