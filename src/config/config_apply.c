/*
 * config_apply: makes the engine match the config file, at start and on a
 * reload, all or nothing. First every declared budget and the policy are
 * checked against the live ledger without changing anything (tg_budget_check:
 * spec, time zone, parent, a limit below this window's spend); only when the
 * whole file passes is it applied. So a refused file leaves the ledger, and the
 * file on disk, as they were.
 *
 * Applying: budgets are put parents first (a file may list a child before its
 * parent); one whose spec is unchanged is not touched, so a reload of the same
 * file emits no budget_changed event. The policy is replaced. Budgets the
 * previous file declared but this one does not are deleted, children first; one
 * that cannot go yet (open holds, or children created through the API) is kept,
 * named on stderr, and carried in the new config so the next reload tries again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "config/config.h"

static int by_path(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reverse path order puts "a/b" before "a": children are deleted before parents. */
static int by_path_reversed(const void *a, const void *b) {
    return -by_path(a, b);
}

/* Shallower first; the file's order among equals. */
static int by_depth(const void *a, const void *b) {
    const tg__budget_decl *x = *(const tg__budget_decl *const *)a;
    const tg__budget_decl *y = *(const tg__budget_decl *const *)b;
    int dx = 0, dy = 0;
    for (const char *p = x->path; *p != '\0'; p++) {
        dx += *p == '/';
    }
    for (const char *p = y->path; *p != '\0'; p++) {
        dy += *p == '/';
    }
    return dx != dy ? dx - dy : (x < y ? -1 : x > y);
}

/* Static: too large for the stack; only the loop thread applies a config. */
static const tg__budget_decl *ordered[TG__BUDGETS_MAX];
static const char *declared[TG__BUDGETS_MAX];

static void order_parents_first(const tg__config *config) {
    for (int i = 0; i < config->budgets_count; i++) {
        ordered[i] = &config->budgets[i];
    }
    qsort(ordered, (size_t)config->budgets_count, sizeof ordered[0], by_depth);
}

static void sort_declared(const tg__config *config) {
    for (int i = 0; i < config->budgets_count; i++) {
        declared[i] = config->budgets[i].path;
    }
    qsort(declared, (size_t)config->budgets_count, sizeof declared[0], by_path);
}

static bool is_declared(const tg__config *config, const char *path) {
    return bsearch(&path, declared, (size_t)config->budgets_count, sizeof declared[0], by_path) !=
           NULL;
}

static bool parent_declared(const tg__config *config, const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return false;
    }
    char parent[TG_PATH_SIZE_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
    return is_declared(config, parent);
}

bool tg__budget_spec_equal(const tg_budget_spec *a, const tg_budget_spec *b) {
    if (a->cost_limit_micros != b->cost_limit_micros || a->calls_limit != b->calls_limit ||
        a->tokens_limit != b->tokens_limit || a->window != b->window ||
        strcmp(a->timezone, b->timezone) != 0 || a->revoke_at.micros != b->revoke_at.micros ||
        a->revoke_at.ppm != b->revoke_at.ppm || a->alerts_count != b->alerts_count ||
        a->above_hold != b->above_hold) {
        return false;
    }
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        if (a->class_ceiling[c].micros != b->class_ceiling[c].micros ||
            a->class_ceiling[c].ppm != b->class_ceiling[c].ppm) {
            return false;
        }
    }
    for (int i = 0; i < a->alerts_count; i++) {
        if (a->alerts_ppm[i] != b->alerts_ppm[i]) {
            return false;
        }
    }
    return true;
}

/* The config's rules as the engine takes them (borrowing the config's strings). */
static tg_policy_rule *policy_rules(const tg__config *config) {
    static tg_policy_rule rules[TG__RULES_MAX];
    for (int i = 0; i < config->rules_count; i++) {
        const tg__rule_decl *rule = &config->rules[i];
        rules[i] = (tg_policy_rule){rule->tool, rule->model, rule->budget, rule->cls};
    }
    return rules;
}

static tg_status check_budget(const tg__config *config, const tg__budget_decl *decl,
                              tg_engine *engine, int64_t now_ms, int64_t *created, tg_error *err) {
    tg_error why = {0};
    tg_budget_info info;
    if (tg_budget_get(engine, decl->path, now_ms, &info, NULL) != TG_OK) {
        (*created)++;
    }
    tg_status status = tg_budget_check(engine, decl->path, &decl->spec, now_ms, &why);
    if (status == TG_OK && decl->has_template &&
        (status = tg_budget_template_check(engine, &decl->template_spec, decl->children_max,
                                           &why)) != TG_OK) {
        return tg__fail(err, status, "config: budget '%s' (line %d): template: %s", decl->path,
                        decl->line, why.message);
    }
    if (status == TG_ERR_NOT_FOUND && parent_declared(config, decl->path)) {
        return TG_OK; /* its parent is made first */
    }
    if (status != TG_OK) {
        return tg__fail(err, status == TG_ERR_NOT_FOUND ? TG_ERR_INVALID : status,
                        "config: budget '%s' (line %d): %s", decl->path, decl->line, why.message);
    }
    return TG_OK;
}

tg_status tg__config_check(const tg__config *config, tg_engine *engine, int64_t now_ms,
                           tg_error *err) {
    sort_declared(config);
    int64_t created = 0;
    for (int i = 0; i < config->budgets_count; i++) {
        tg_status status = check_budget(config, &config->budgets[i], engine, now_ms, &created, err);
        if (status != TG_OK) {
            return status;
        }
    }
    tg_engine_stats stats;
    tg_engine_stats_get(engine, &stats);
    if (stats.budgets + created > config->budgets_max) {
        return tg__fail(err, TG_ERR_FULL,
                        "config: the file adds %lld budgets to the %lld there are, past "
                        "limits.budgets_max (%lld)",
                        (long long)created, (long long)stats.budgets,
                        (long long)config->budgets_max);
    }
    for (int i = 0; i < config->rules_count; i++) {
        const tg__rule_decl *rule = &config->rules[i];
        if (strlen(rule->budget) >= TG_NAME_SIZE_MAX) {
            return tg__fail(err, TG_ERR_INVALID,
                            "config: policy rule %d: its budget pattern is longer than %d bytes",
                            i + 1, TG_NAME_SIZE_MAX - 1);
        }
    }
    return TG_OK;
}

static tg_status remove_undeclared(tg__config *config, const tg__config *previous,
                                   tg_engine *engine, int64_t now_ms, tg_error *err) {
    static const tg__budget_decl *gone[TG__BUDGETS_MAX];
    int gone_count = 0;
    for (int i = 0; i < previous->budgets_count; i++) {
        if (!is_declared(config, previous->budgets[i].path)) {
            gone[gone_count++] = &previous->budgets[i];
        }
    }
    qsort(gone, (size_t)gone_count, sizeof gone[0], by_path_reversed);
    for (int i = 0; i < gone_count; i++) {
        tg_error delete_err = {0};
        tg_status status = tg_budget_delete(engine, gone[i]->path, now_ms, &delete_err);
        if (status == TG_OK) {
            fprintf(stderr, "tollgate: budget %s removed from the file: deleted\n", gone[i]->path);
        } else if (status == TG_ERR_NOT_FOUND) {
            continue; /* already deleted through the API */
        } else if (status == TG_ERR_STATE) {
            fprintf(stderr, "tollgate: budget %s removed from the file but kept: %s\n",
                    gone[i]->path, delete_err.message);
            if (config->budgets_count < TG__BUDGETS_MAX) {
                config->budgets[config->budgets_count++] = *gone[i]; /* retried next reload */
            }
        } else {
            if (err != NULL) {
                *err = delete_err;
            }
            return status; /* the store failed: the engine refuses every write from now on */
        }
    }
    return TG_OK;
}

static tg_status put_changed(const tg__config *config, tg_engine *engine, int64_t now_ms,
                             int *changed, tg_error *err) {
    order_parents_first(config);
    for (int i = 0; i < config->budgets_count; i++) {
        const tg__budget_decl *decl = ordered[i];
        tg_budget_info info;
        bool same = tg_budget_get(engine, decl->path, now_ms, &info, NULL) == TG_OK &&
                    tg__budget_spec_equal(&info.spec, &decl->spec);
        /* A template is set when the file gives one; a budget whose entry gives none keeps
         * the template an admin set over the API (the file does not speak of it). */
        bool same_template =
            !decl->has_template ||
            (same && info.has_template &&
             tg__budget_spec_equal(&info.template_spec, &decl->template_spec) &&
             info.children_max ==
                 (decl->children_max > 0 ? decl->children_max : TG_CHILDREN_MAX_DEFAULT));
        if (same && same_template) {
            continue; /* as declared already: no event, nothing to write */
        }
        tg_status status =
            same ? TG_OK : tg_budget_put(engine, decl->path, &decl->spec, now_ms, err);
        if (status == TG_OK && !same_template) {
            status = tg_budget_template_set(engine, decl->path, &decl->template_spec,
                                            decl->children_max, now_ms, err);
        }
        if (status != TG_OK) {
            return status; /* checked first: only a failed store or memory gets here */
        }
        (*changed)++;
    }
    return TG_OK;
}

tg_status tg__config_apply(tg__config *config, const tg__config *previous, tg_engine *engine,
                           int64_t now_ms, tg_error *err) {
    return tg__config_apply_counted(config, previous, engine, now_ms, NULL, err);
}

tg_status tg__config_apply_counted(tg__config *config, const tg__config *previous,
                                   tg_engine *engine, int64_t now_ms, tg__apply_summary *summary,
                                   tg_error *err) {
    tg__apply_summary counted = {0, 0};
    tg_status status = tg__config_check(config, engine, now_ms, err);
    if (status != TG_OK) {
        return status;
    }
    status = tg_policy_set(engine, policy_rules(config), (size_t)config->rules_count,
                           config->default_class, err);
    if (status == TG_OK) {
        status = put_changed(config, engine, now_ms, &counted.budgets_changed, err);
    }
    if (status == TG_OK && previous != NULL) {
        int before = config->budgets_count;
        status = remove_undeclared(config, previous, engine, now_ms, err);
        counted.budgets_kept = config->budgets_count - before;
    }
    if (summary != NULL) {
        *summary = counted;
    }
    return status;
}
