/*
 * plan: the over-budget policies. Lowering divides what fits by the number of
 * choices, because every choice may run to the cap; a cap below the operator's
 * minimum is refused instead (a reasoning model given 3 tokens answers nothing,
 * and that would still cost its prompt).
 */
#include <stdio.h>
#include <string.h>

#include "core/path.h"
#include "proxy/plan.h"

/* The largest cap per choice that fits, or 0 when none of at least `minimum` does. */
static tg_status fitting_cap(const tg__request_info *info, const tg__model_price *price,
                             int64_t available_micros, int64_t minimum, int64_t *cap_out) {
    int64_t total;
    int64_t fee = info->fee_bound_micros > 0 ? info->fee_bound_micros : 0;
    int64_t rounds = info->output_rounds > 1 ? info->output_rounds : 1;
    tg_status status =
        tg__cost_output_fit(price, tg__request_input_held(info),
                            available_micros > fee ? available_micros - fee : 0, &total);
    if (status != TG_OK) {
        return status;
    }
    /* Thinking beyond the cap (Gemini's budget) comes out of each choice's share first. */
    int64_t reasoning = info->reasoning_bound_tokens > 0 ? info->reasoning_bound_tokens : 0;
    int64_t cap = total / info->choices / rounds - reasoning;
    int64_t bound = tg__request_output_bound(info, price);
    if (bound > 0 && cap > bound / info->choices - reasoning) {
        cap = bound / info->choices - reasoning; /* never raise a cap */
    }
    cap = cap > 0 ? cap : 0;
    *cap_out = cap >= minimum ? cap : 0;
    return TG_OK;
}

static tg_status lowered(const tg__request_info *info, const tg__model_price *price, int64_t cap,
                         tg__plan *out) {
    tg__request_info capped = *info;
    capped.max_output_tokens = cap;
    tg_status status = tg__request_worst_case(&capped, price, &out->worst_case_micros, NULL);
    out->max_output_tokens = cap;
    return status;
}

/* Switches to the i-th model of the list when it fits (in full only, if `whole`);
 * plan->action stays refused when it does not. */
static tg_status switched(const tg__request_info *info, const tg__plan_options *options, int64_t i,
                          int64_t available_micros, int64_t minimum, bool whole, tg__plan *plan) {
    const char *model = options->switch_models[i];
    const tg__model_price *price = &options->switch_prices[i];
    if (model == NULL || strlen(model) >= TG_NAME_SIZE_MAX) {
        return TG_ERR_INVALID;
    }
    int64_t cap = 0;
    tg_status status = fitting_cap(info, price, available_micros, minimum, &cap);
    int64_t bound = tg__request_output_bound(info, price);
    bool full = bound >= 0 && cap * info->choices >= bound;
    if (status != TG_OK || cap <= 0 || (whole && !full)) {
        return status;
    }
    plan->action = TG__PLAN_SWITCHED;
    plan->switch_index = i;
    snprintf(plan->model, sizeof plan->model, "%s", model);
    status = lowered(info, price, cap, plan);
    plan->max_output_tokens = full ? TG_NONE : cap; /* the model's own bound holds */
    snprintf(plan->header, sizeof plan->header, "switched model %s to %s", info->model, model);
    if (plan->max_output_tokens != TG_NONE) {
        size_t used = strlen(plan->header);
        snprintf(plan->header + used, sizeof plan->header - used, ", %s %lld",
                 tg__request_cap_field(info), (long long)cap);
    }
    return status;
}

tg_status tg__plan_make(const tg__request_info *info, const tg__model_price *price,
                        int64_t available_micros, const tg__plan_options *options, tg__plan *out,
                        tg_error *err) {
    tg__plan plan = {.action = TG__PLAN_REFUSED, .max_output_tokens = TG_NONE, .switch_index = -1};
    snprintf(plan.model, sizeof plan.model, "%s", info->model);
    int64_t minimum = options->min_output_tokens > 0 ? options->min_output_tokens : 1;
    tg_status status = tg__request_worst_case(info, price, &plan.worst_case_micros, NULL);
    if (status == TG_OK && plan.worst_case_micros <= available_micros) {
        plan.action = TG__PLAN_AS_IS;
        *out = plan;
        return TG_OK;
    }
    plan.worst_case_micros = status == TG_OK ? plan.worst_case_micros : TG_NONE; /* unbounded */
    status = TG_OK;
    int64_t cap = 0;
    if (options->policy == TG__OVER_LOWER) {
        status = fitting_cap(info, price, available_micros, minimum, &cap);
        if (status == TG_OK && cap > 0) {
            plan.action = TG__PLAN_LOWERED;
            status = lowered(info, price, cap, &plan);
            snprintf(plan.header, sizeof plan.header, "lowered %s to %lld",
                     tg__request_cap_field(info), (long long)cap);
        }
    } else if (options->policy == TG__OVER_SWITCH) {
        if (options->switch_models == NULL || options->switch_prices == NULL ||
            options->switch_count < 1 || options->switch_count > TG__PLAN_SWITCH_MODELS_MAX) {
            return tg__fail(err, TG_ERR_INVALID, "switch policy without a model to switch to");
        }
        /* The list's order is the operator's preference: a model that runs the request
         * whole beats a later one, and beats an earlier one only cut short. */
        for (int pass = 0; status == TG_OK && plan.action == TG__PLAN_REFUSED && pass < 2; pass++) {
            for (int64_t i = 0;
                 status == TG_OK && plan.action == TG__PLAN_REFUSED && i < options->switch_count;
                 i++) {
                status = switched(info, options, i, available_micros, minimum, pass == 0, &plan);
            }
        }
    }
    if (status != TG_OK) {
        return tg__fail(err, status, "cannot plan this call: cost out of range");
    }
    *out = plan;
    return TG_OK;
}

tg_status tg__plan_apply(const tg__plan *plan, tg__request *request) {
    tg_status status = TG_OK;
    if (plan->action == TG__PLAN_SWITCHED) {
        status = tg__request_set_model(request, plan->model);
    }
    if (status == TG_OK && plan->max_output_tokens != TG_NONE &&
        (plan->action == TG__PLAN_LOWERED || plan->action == TG__PLAN_SWITCHED)) {
        status = tg__request_set_max_output(request, plan->max_output_tokens);
    }
    return status;
}
