/*
 * filter: which events a sink wants (kinds, budget globs, a minimum severity)
 * and how urgent a budget's events are (the first matching urgency rule). Pure
 * lookups over the checked config, called for every event the sender reads.
 */
#include "core/path.h"
#include "notify/config.h"

bool tg__notify_filter_match(const tg__notify_filter *filter, tg_event_kind kind,
                             const char *budget, tg__severity severity) {
    if (filter->kinds_mask != 0 && (filter->kinds_mask & (UINT32_C(1) << kind)) == 0) {
        return false;
    }
    if (severity < filter->severity_min) {
        return false;
    }
    if (filter->budget_globs_count == 0) {
        return true;
    }
    for (int i = 0; i < filter->budget_globs_count; i++) {
        if (tg__glob_match(filter->budget_globs[i], budget)) {
            return true;
        }
    }
    return false;
}

void tg__notify_urgency_of(const tg__notify_config *config, const char *budget,
                           tg__urgency_mode *mode_out, int64_t *within_ms_out) {
    for (int i = 0; i < config->urgency_count; i++) {
        const tg__notify_urgency_rule *rule = &config->urgency[i];
        if (tg__glob_match(rule->budget_glob, budget)) {
            *mode_out = rule->mode;
            *within_ms_out =
                rule->within_ms != TG_NONE ? rule->within_ms : config->urgency_default_within_ms;
            return;
        }
    }
    *mode_out = config->urgency_default;
    *within_ms_out = config->urgency_default_within_ms;
}
