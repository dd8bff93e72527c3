/*
 * plan: what to do with a call whose worst case does not fit the budget. The
 * daemon first tries to hold the full worst case; when the engine refuses and
 * says how much would pass now, the configured policy decides:
 *
 *   refuse  answer with a provider-shaped refusal (refusal.h)
 *   lower   shrink the output cap so the worst case fits, if the cap stays at
 *           least min_output_tokens (also gives a cap to a request without one)
 *   switch  call one of the configured cheaper models instead, tried in order:
 *           the first whose full worst case fits; failing that, the first that
 *           fits with its cap lowered (never below min_output_tokens)
 *
 * The daemon then holds plan.worst_case_micros, rewrites the request
 * (tg__plan_apply) and says what it did in a response header
 * (plan.header, e.g. "lowered max_tokens to 812").
 */
#ifndef TG_PROXY_PLAN_H
#define TG_PROXY_PLAN_H

#include <stdint.h>

#include "proxy/cost.h"
#include "proxy/request.h"
#include "tollgate.h"

typedef enum {
    TG__OVER_REFUSE = 0, /* refuse the call */
    TG__OVER_LOWER = 1,  /* lower the output cap */
    TG__OVER_SWITCH = 2  /* switch to a cheaper model */
} tg__over_policy;

#define TG__PLAN_SWITCH_MODELS_MAX 8 /* models a switch may try, in order */

typedef struct {
    tg__over_policy policy;               /* what to try */
    int64_t min_output_tokens;            /* lower: never cap below this (at least 1) */
    const char *const *switch_models;     /* switch: the models to call instead, in order */
    const tg__model_price *switch_prices; /* switch: their prices, same order */
    int64_t switch_count;                 /* switch: entries in both (1 to the max) */
} tg__plan_options;

typedef enum {
    TG__PLAN_AS_IS = 0,    /* the full worst case fits after all */
    TG__PLAN_LOWERED = 1,  /* output cap lowered */
    TG__PLAN_SWITCHED = 2, /* model switched (and maybe cap lowered) */
    TG__PLAN_REFUSED = 3   /* nothing fits */
} tg__plan_action;

typedef struct {
    tg__plan_action action;       /* the decision */
    int64_t worst_case_micros;    /* what to hold (the original worst case when refused) */
    int64_t max_output_tokens;    /* cap per choice to write, TG_NONE for unchanged */
    char model[TG_NAME_SIZE_MAX]; /* the model to call */
    int64_t switch_index;         /* switched: its place in options.switch_models, else -1 */
    char header[192];             /* a sentence for a response header, "" when as is */
} tg__plan;

/* Decides for a call given what would pass now (available_micros). Errors:
 * TG_ERR_INVALID (switch without models, or a name too long), TG_ERR_RANGE (overflow). */
tg_status tg__plan_make(const tg__request_info *info, const tg__model_price *price,
                        int64_t available_micros, const tg__plan_options *options, tg__plan *out,
                        tg_error *err);

/* Rewrites the request as planned (no change for as is and refused). */
tg_status tg__plan_apply(const tg__plan *plan, tg__request *request);

#endif
