/*
 * config_apply: makes the engine match the config file, at start and on SIGHUP.
 * Declared budgets are put (tg_budget_put keeps spend, holds and the window),
 * the policy is replaced, and budgets the previous file declared but this one
 * does not are deleted, children first. A budget that cannot go yet (open holds,
 * or children created through the API) is kept, named on stderr, and carried
 * in the new config so the next SIGHUP tries again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static int by_path(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reverse path order puts "a/b" before "a": children are deleted before parents. */
static int by_path_reversed(const void *a, const void *b) {
    return -by_path(a, b);
}

static tg_status remove_undeclared(tg__config *config, const tg__config *previous,
                                   tg_engine *engine, int64_t now_ms, tg_error *err) {
    /* Static: too large for the stack; only the loop thread applies a config. */
    static const char *declared[TG__BUDGETS_MAX];
    static const tg__budget_decl *gone[TG__BUDGETS_MAX];
    for (int i = 0; i < config->budgets_count; i++) {
        declared[i] = config->budgets[i].path;
    }
    qsort(declared, (size_t)config->budgets_count, sizeof declared[0], by_path);
    int gone_count = 0;
    for (int i = 0; i < previous->budgets_count; i++) {
        const char *path = previous->budgets[i].path;
        if (bsearch(&path, declared, (size_t)config->budgets_count, sizeof declared[0], by_path) ==
            NULL) {
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
                config->budgets[config->budgets_count++] = *gone[i]; /* retried next SIGHUP */
            }
        } else {
            if (err != NULL) {
                *err = delete_err;
            }
            return status; /* the store failed: the reload fails */
        }
    }
    return TG_OK;
}

tg_status tg__config_apply(tg__config *config, const tg__config *previous, tg_engine *engine,
                           int64_t now_ms, tg_error *err) {
    for (int i = 0; i < config->budgets_count; i++) {
        tg_status status =
            tg_budget_put(engine, config->budgets[i].path, &config->budgets[i].spec, now_ms, err);
        if (status != TG_OK) {
            return status;
        }
    }
    /* Static: too large for the stack; the engine copies the rules, and only the loop
     * thread applies a config. */
    static tg_policy_rule rules[TG__RULES_MAX];
    for (int i = 0; i < config->rules_count; i++) {
        const tg__rule_decl *rule = &config->rules[i];
        rules[i] = (tg_policy_rule){rule->tool, rule->model, rule->budget, rule->cls};
    }
    tg_status status =
        tg_policy_set(engine, rules, (size_t)config->rules_count, config->default_class, err);
    if (status == TG_OK && previous != NULL) {
        status = remove_undeclared(config, previous, engine, now_ms, err);
    }
    return status;
}
