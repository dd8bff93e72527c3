/*
 * severity: how much an event matters, derived from what it says, so filters
 * ("only warnings and worse") and Slack's emphasis mean the same thing for
 * every sink. The rules, documented in docs/notifications.md:
 *
 *   critical  revoking critical-class work; any revocation, alert or overrun
 *             that leaves the budget under 1% of its limit; a refusal of
 *             critical-class work; an overrun that left spend above the limit
 *   warning   revoking low, normal or high work; an alert at 80% or more; an
 *             overrun (actual above its hold); refusing high-class work or a
 *             refusal because an admin froze the budget; a budget frozen
 *   info      everything else: lower alerts, reinstatements, refusals of
 *             routine work (the revocation already said why), expired holds,
 *             rolled windows, budget changes
 */
#include <string.h>

#include "notify/item.h"

#define WARNING_ALERT_PPM 800000 /* an alert at or above 80% of the limit is a warning */

static const char *const severity_names[] = {"info", "warning", "critical"};

const char *tg__severity_str(tg__severity severity) {
    return severity >= TG__SEVERITY_INFO && severity <= TG__SEVERITY_CRITICAL
               ? severity_names[severity]
               : "info";
}

tg_status tg__severity_parse(const char *text, tg__severity *out) {
    for (int i = 0; i <= TG__SEVERITY_CRITICAL; i++) {
        if (strcmp(text, severity_names[i]) == 0) {
            *out = (tg__severity)i;
            return TG_OK;
        }
    }
    return TG_ERR_INVALID;
}

tg_status tg__event_kind_parse(const char *text, tg_event_kind *out) {
    for (int kind = 0; kind < TG__NOTIFY_KINDS_COUNT; kind++) {
        if (strcmp(text, tg_event_kind_str((tg_event_kind)kind)) == 0) {
            *out = (tg_event_kind)kind;
            return TG_OK;
        }
    }
    return TG_ERR_INVALID;
}

/* Under 1% of the limit left: limit - spent < limit / 100, without overflow. */
bool tg__budget_nearly_spent(const tg_event *event) {
    if (event->limit_micros == TG_NONE || event->limit_micros <= 0 ||
        event->spent_micros == TG_NONE) {
        return false;
    }
    return event->limit_micros - event->spent_micros < event->limit_micros / 100;
}

static tg__severity revoked(const tg_event *event) {
    return event->cls == TG_CLASS_CRITICAL || tg__budget_nearly_spent(event) ? TG__SEVERITY_CRITICAL
                                                                             : TG__SEVERITY_WARNING;
}

static tg__severity denied(const tg_event *event) {
    if (event->cls == TG_CLASS_CRITICAL) {
        return TG__SEVERITY_CRITICAL;
    }
    if (event->cls == TG_CLASS_HIGH || event->reason == TG_REASON_FROZEN) {
        return TG__SEVERITY_WARNING;
    }
    return TG__SEVERITY_INFO;
}

static tg__severity overrun(const tg_event *event) {
    bool above_limit = event->limit_micros != TG_NONE && event->spent_micros != TG_NONE &&
                       event->spent_micros > event->limit_micros;
    return above_limit || tg__budget_nearly_spent(event) ? TG__SEVERITY_CRITICAL
                                                         : TG__SEVERITY_WARNING;
}

static tg__severity threshold(const tg_event *event) {
    if (tg__budget_nearly_spent(event)) {
        return TG__SEVERITY_CRITICAL;
    }
    return event->count != TG_NONE && event->count >= WARNING_ALERT_PPM ? TG__SEVERITY_WARNING
                                                                        : TG__SEVERITY_INFO;
}

tg__severity tg__severity_of(const tg_event *event) {
    switch (event->kind) {
    case TG_EVENT_REVOKED:
        return revoked(event);
    case TG_EVENT_DENIED:
        return denied(event);
    case TG_EVENT_OVERRUN:
        return overrun(event);
    case TG_EVENT_THRESHOLD_CROSSED:
        return threshold(event);
    case TG_EVENT_APPROVAL_REQUESTED:
        return TG__SEVERITY_WARNING; /* a person is asked to act */
    case TG_EVENT_BUDGET_CHANGED:
        return strcmp(event->detail, "frozen") == 0 ? TG__SEVERITY_WARNING : TG__SEVERITY_INFO;
    default:
        return TG__SEVERITY_INFO;
    }
}
