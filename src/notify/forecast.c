/*
 * forecast: burn rate. "At the last hour's rate, this budget reaches its
 * revocation threshold in 40 minutes" turns an alert at 50% into something a
 * person can act on. The rate is what the budget's subtree was charged over
 * the window before the event (the charges table, indexed by budget and
 * time); the target is the revocation threshold, or the hard limit once the
 * threshold is behind. The time is an estimate and the only float in the
 * notification path; amounts stay integer micros.
 */
#include <stdio.h>
#include <string.h>

#include "notify/item.h"

#define ETA_MS_MAX (INT64_C(100) * 365 * TG__NOTIFY_DAY_MS) /* beyond a century: "never" */

bool tg__forecast_compute(int64_t window_ms, int64_t burned_micros, int64_t spent_micros,
                          int64_t limit_micros, int64_t threshold_micros, tg__forecast *out) {
    if (limit_micros == TG_NONE || limit_micros <= 0 || window_ms <= 0) {
        return false;
    }
    tg__forecast forecast = {window_ms, burned_micros, spent_micros, limit_micros, true, TG_NONE};
    if (threshold_micros != TG_NONE && threshold_micros < limit_micros &&
        spent_micros < threshold_micros) {
        forecast.target_micros = threshold_micros;
        forecast.target_is_limit = false;
    }
    if (burned_micros > 0 && spent_micros < forecast.target_micros) {
        double eta = (double)(forecast.target_micros - spent_micros) * (double)window_ms /
                     (double)burned_micros;
        forecast.eta_ms = eta < (double)ETA_MS_MAX ? (int64_t)eta : TG_NONE;
    }
    *out = forecast;
    return true;
}

/* "40 minutes", "3 hours 5 minutes", "2 days": rounded so a person reads it at a glance. */
static void duration_text(int64_t ms, char *buf, size_t size) {
    int64_t minutes = ms / 60000;
    if (minutes < 1) {
        snprintf(buf, size, "under a minute");
    } else if (minutes < 120) {
        snprintf(buf, size, "%lld minute%s", (long long)minutes, minutes == 1 ? "" : "s");
    } else if (minutes < 48 * 60) {
        snprintf(buf, size, "%lld hours %lld minutes", (long long)(minutes / 60),
                 (long long)(minutes % 60));
    } else {
        snprintf(buf, size, "%lld days", (long long)(minutes / (24 * 60)));
    }
}

char *tg__forecast_text(const tg__forecast *forecast, char *buf, size_t size) {
    char window[64];
    if (forecast->window_ms == 3600000) {
        snprintf(window, sizeof window, "the last hour's");
    } else {
        char span[40];
        duration_text(forecast->window_ms, span, sizeof span);
        snprintf(window, sizeof window, "the last %s'", span);
    }
    const char *target = forecast->target_is_limit ? "its hard limit" : "its revocation threshold";
    if (forecast->spent_micros >= forecast->target_micros) {
        snprintf(buf, size, "spend has reached %s", target);
    } else if (forecast->eta_ms == TG_NONE) {
        snprintf(buf, size, "at %s rate (nothing charged), it does not reach %s", window, target);
    } else {
        char eta[40];
        duration_text(forecast->eta_ms, eta, sizeof eta);
        snprintf(buf, size, "at %s rate, this budget reaches %s in %s", window, target, eta);
    }
    return buf;
}
