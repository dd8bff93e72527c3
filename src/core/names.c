/*
 * names: the stable text of every enum in the public API, and its reverse.
 * These strings appear in JSON, SQL rows and logs, so they never change.
 */
#include <string.h>

#include "tollgate.h"

const char *tg_status_str(tg_status status) {
    switch (status) {
    case TG_OK:
        return "ok";
    case TG_ERR_INVALID:
        return "invalid";
    case TG_ERR_NOT_FOUND:
        return "not_found";
    case TG_ERR_EXISTS:
        return "exists";
    case TG_ERR_CONFLICT:
        return "conflict";
    case TG_ERR_STATE:
        return "state";
    case TG_ERR_RANGE:
        return "range";
    case TG_ERR_FULL:
        return "full";
    case TG_ERR_NOMEM:
        return "nomem";
    case TG_ERR_IO:
        return "io";
    case TG_ERR_TZ:
        return "timezone";
    case TG_ERR_CORRUPT:
        return "corrupt";
    case TG_ERR_UNSUPPORTED:
        return "unsupported";
    }
    return "unknown";
}

static const char *const class_names[] = {"low", "normal", "high", "critical", "auto"};
static const char *const window_names[] = {"lifetime", "hour", "day", "week", "month"};
static const char *const reason_names[] = {"none",  "ceiling", "revoked", "frozen",
                                           "calls", "tokens",  "overrun"};
static const char *const above_hold_names[] = {"charge", "cap"};
_Static_assert(sizeof reason_names / sizeof reason_names[0] == TG_REASON_COUNT,
               "a name for every reason");
static const char *const event_names[] = {"threshold_crossed",
                                          "revoked",
                                          "reinstated",
                                          "denied",
                                          "overrun",
                                          "hold_expired",
                                          "window_rolled",
                                          "budget_changed",
                                          "approval_requested",
                                          "approval_decided"};
_Static_assert(sizeof event_names / sizeof event_names[0] == TG_EVENT_APPROVAL_DECIDED + 1,
               "a name for every event kind");
static const char *const approval_state_names[] = {"pending", "approved", "denied", "expired"};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *tg_class_str(tg_class c) {
    return (unsigned)c < COUNT_OF(class_names) ? class_names[c] : "unknown";
}

const char *tg_window_str(tg_window_kind w) {
    return (unsigned)w < COUNT_OF(window_names) ? window_names[w] : "unknown";
}

const char *tg_reason_str(tg_reason r) {
    return (unsigned)r < COUNT_OF(reason_names) ? reason_names[r] : "unknown";
}

const char *tg_above_hold_str(tg_above_hold a) {
    return (unsigned)a < COUNT_OF(above_hold_names) ? above_hold_names[a] : "unknown";
}

const char *tg_reason_text(tg_reason r) {
    switch (r) {
    case TG_REASON_CEILING:
        return "the amount would take spend and holds past the budget's cost limit";
    case TG_REASON_REVOKED:
        return "the amount would take this impact class past its ceiling on the budget, or the "
               "class is revoked there until the window rolls over or the limit is raised";
    case TG_REASON_FROZEN:
        return "an administrator froze the budget";
    case TG_REASON_CALLS:
        return "the budget's call limit is reached";
    case TG_REASON_TOKENS:
        return "the budget's token limit would be passed";
    case TG_REASON_OVERRUN:
        return "the budget's spend is above its cost limit after an overrun: every class is "
               "refused until the window rolls over or an administrator raises the limit above "
               "the spend";
    default:
        return "the budget refused it";
    }
}

const char *tg_event_kind_str(tg_event_kind kind) {
    return (unsigned)kind < COUNT_OF(event_names) ? event_names[kind] : "unknown";
}

static tg_status find_name(const char *const *names, size_t count, const char *text, int *out) {
    if (text == NULL) {
        return TG_ERR_INVALID;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(names[i], text) == 0) {
            *out = (int)i;
            return TG_OK;
        }
    }
    return TG_ERR_INVALID;
}

tg_status tg_class_parse(const char *text, tg_class *out) {
    int value;
    tg_status status = find_name(class_names, COUNT_OF(class_names), text, &value);
    if (status == TG_OK) {
        *out = (tg_class)value;
    }
    return status;
}

tg_status tg_window_parse(const char *text, tg_window_kind *out) {
    int value;
    tg_status status = find_name(window_names, COUNT_OF(window_names), text, &value);
    if (status == TG_OK) {
        *out = (tg_window_kind)value;
    }
    return status;
}

tg_status tg_above_hold_parse(const char *text, tg_above_hold *out) {
    int value;
    tg_status status = find_name(above_hold_names, COUNT_OF(above_hold_names), text, &value);
    if (status == TG_OK) {
        *out = (tg_above_hold)value;
    }
    return status;
}

const char *tg_approval_state_str(tg_approval_state state) {
    return (unsigned)state < COUNT_OF(approval_state_names) ? approval_state_names[state]
                                                            : "unknown";
}

tg_status tg_approval_state_parse(const char *text, tg_approval_state *out) {
    int value;
    tg_status status =
        find_name(approval_state_names, COUNT_OF(approval_state_names), text, &value);
    if (status == TG_OK) {
        *out = (tg_approval_state)value;
    }
    return status;
}
