/*
 * policy: gives an action its impact class from operator-written rules, so an
 * agent cannot promote its own work to critical. First matching rule wins.
 */
#include <string.h>

#include "core/ledger_internal.h"

static void rules_free(tg__rule *rules, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(rules[i].tool_glob);
        free(rules[i].model_glob);
        free(rules[i].budget_glob);
    }
    free(rules);
}

/* strdup that keeps NULL, "" and "*" as NULL (matches anything, even no name). */
static bool dup_glob(const char *glob, char **out) {
    *out = NULL;
    if (glob == NULL || glob[0] == '\0' || strcmp(glob, "*") == 0) {
        return true;
    }
    *out = strdup(glob);
    return *out != NULL;
}

tg_status tg__ledger_policy_set(tg__ledger *ledger, const tg_policy_rule *rules, size_t count,
                                tg_class default_class, tg_error *err) {
    if (count > TG_POLICY_RULES_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "at most %d policy rules", TG_POLICY_RULES_MAX);
    }
    if ((unsigned)default_class >= TG_CLASS_COUNT) {
        return tg__fail(err, TG_ERR_INVALID,
                        "the default class must be low, normal, high or "
                        "critical");
    }
    for (size_t i = 0; i < count; i++) {
        if ((unsigned)rules[i].cls >= TG_CLASS_COUNT) {
            return tg__fail(err, TG_ERR_INVALID,
                            "rule %zu: class must be low, normal, high or "
                            "critical",
                            i + 1);
        }
        const char *globs[] = {rules[i].tool_glob, rules[i].model_glob, rules[i].budget_glob};
        for (size_t g = 0; g < 3; g++) {
            if (globs[g] != NULL && strnlen(globs[g], TG_NAME_SIZE_MAX) >= TG_NAME_SIZE_MAX) {
                return tg__fail(err, TG_ERR_INVALID, "rule %zu: pattern is too long", i + 1);
            }
        }
    }
    tg__rule *copy = calloc(count ? count : 1, sizeof *copy);
    if (copy == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory copying policy rules");
    }
    for (size_t i = 0; i < count; i++) {
        copy[i].cls = rules[i].cls;
        if (!dup_glob(rules[i].tool_glob, &copy[i].tool_glob) ||
            !dup_glob(rules[i].model_glob, &copy[i].model_glob) ||
            !dup_glob(rules[i].budget_glob, &copy[i].budget_glob)) {
            rules_free(copy, count);
            return tg__fail(err, TG_ERR_NOMEM, "out of memory copying policy rules");
        }
    }
    rules_free(ledger->rules, ledger->rules_count);
    ledger->rules = copy;
    ledger->rules_count = count;
    ledger->default_class = default_class;
    return TG_OK;
}

tg_class tg__ledger_classify(const tg__ledger *ledger, const char *budget, const char *tool,
                             const char *model) {
    for (size_t i = 0; i < ledger->rules_count; i++) {
        const tg__rule *rule = &ledger->rules[i];
        /* A rule that names a tool does not match an action without one. */
        if ((rule->tool_glob && !(tool && *tool && tg__glob_match(rule->tool_glob, tool))) ||
            (rule->model_glob && !(model && *model && tg__glob_match(rule->model_glob, model))) ||
            (rule->budget_glob && !tg__glob_match(rule->budget_glob, budget))) {
            continue;
        }
        return rule->cls;
    }
    return ledger->default_class;
}

void tg__policy_free(tg__ledger *ledger) {
    rules_free(ledger->rules, ledger->rules_count);
    ledger->rules = NULL;
    ledger->rules_count = 0;
}
