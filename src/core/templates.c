/*
 * templates: per-user budgets made on first use. A budget may carry a template (the
 * spec its children get) and a bound on its children; a reserve or record naming a
 * missing direct child of such a budget makes the child first (decide.c calls
 * tg__budget_from_template), in the same operation and so the same group commit as
 * the decision. A million end users then need no million admin calls, and a typo in
 * a path under a budget without a template is still TG_ERR_NOT_FOUND.
 */
#include <string.h>

#include "core/ledger_internal.h"

tg_status tg__template_check(const tg_budget_spec *spec, int64_t children_max, tg_error *err) {
    if (children_max < TG_NONE || children_max > TG_LIMIT_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "children_max must be 1..%lld", (long long)TG_LIMIT_MAX);
    }
    tg_error why;
    if (spec != NULL && tg__budget_spec_check(spec, &why) != TG_OK) {
        return tg__fail(err, why.status, "template: %s", why.message);
    }
    return TG_OK;
}

tg_status tg__template_assign(tg__ledger *ledger, int32_t slot, const tg_budget_spec *spec,
                              const tg__tz *tz, int64_t children_max, tg_error *err) {
    tg__budget *budget = &ledger->budgets[slot];
    const tg_budget_spec *shared = NULL;
    if (spec != NULL) {
        tg_status status = tg__spec_intern(ledger, spec, &shared, err);
        if (status != TG_OK) {
            return status;
        }
    }
    tg__spec_release(ledger, budget->template_spec);
    budget->template_spec = shared;
    budget->template_tz = spec != NULL ? tz : NULL;
    budget->children_max =
        spec == NULL ? 0 : (children_max <= 0 ? TG_CHILDREN_MAX_DEFAULT : children_max);
    return TG_OK;
}

static bool template_same(const tg__budget *budget, const tg_budget_spec *spec, const tg__tz *tz,
                          int64_t children_max) {
    if (spec == NULL || budget->template_spec == NULL) {
        return spec == NULL && budget->template_spec == NULL;
    }
    int64_t bound = children_max <= 0 ? TG_CHILDREN_MAX_DEFAULT : children_max;
    return budget->template_tz == tz && budget->children_max == bound &&
           tg__spec_same(budget->template_spec, spec);
}

tg_status tg__ledger_template_set(tg__ledger *ledger, const char *path, const tg_budget_spec *tmpl,
                                  const tg__tz *tz, int64_t children_max, int64_t now_ms,
                                  tg_error *err) {
    tg_status status = tg__path_check(path, err);
    if (status != TG_OK || (status = tg__template_check(tmpl, children_max, err)) != TG_OK) {
        return status;
    }
    int32_t slot = tg__budget_find(ledger, path);
    if (slot < 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no budget '%s'", path);
    }
    tg__budget *budget = &ledger->budgets[slot];
    if (template_same(budget, tmpl, tz, children_max)) {
        return TG_OK; /* a reload of an unchanged config reports nothing */
    }
    if ((status = tg__template_assign(ledger, slot, tmpl, tz, children_max, err)) != TG_OK) {
        return status;
    }
    tg__budget_mark(ledger, budget);
    tg_event event;
    tg__event_init(&event, TG_EVENT_BUDGET_CHANGED, now_ms, path);
    tg__copy_name(event.detail, sizeof event.detail,
                  tmpl != NULL ? "template set" : "template removed");
    tg__ledger_emit(ledger, &event);
    return TG_OK;
}

tg_status tg__budget_from_template(tg__ledger *ledger, const char *path, int64_t now_ms,
                                   int32_t *out, tg_error *err) {
    size_t len = tg__path_parent_len(path);
    int32_t parent = -1;
    if (len > 0) {
        char parent_path[TG_PATH_SIZE_MAX];
        memcpy(parent_path, path, len);
        parent_path[len] = '\0';
        parent = tg__budget_find(ledger, parent_path);
    }
    if (parent < 0 || ledger->budgets[parent].template_spec == NULL) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no budget '%s'", path);
    }
    const tg__budget *p = &ledger->budgets[parent];
    if (p->children >= p->children_max) {
        return tg__fail(err, TG_ERR_FULL,
                        "budget '%s' has its maximum of %lld children (children_max); no budget "
                        "'%s' is made from its template",
                        p->path, (long long)p->children_max, path);
    }
    /* The put checks the path, interns the shared spec and links the child, or fails
     * leaving nothing behind. */
    tg_status status = tg__budget_put_as(ledger, path, p->template_spec, p->template_tz, now_ms,
                                         "created from template", err);
    if (status != TG_OK) {
        return status;
    }
    *out = tg__budget_find(ledger, path);
    TG_VERIFY(*out >= 0);
    return TG_OK;
}
