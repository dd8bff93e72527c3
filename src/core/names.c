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
static const char *const reason_names[] = {"none",   "ceiling", "revoked",
                                           "frozen", "calls",   "tokens"};
static const char *const event_names[] = {
    "threshold_crossed", "revoked",      "reinstated",    "denied",
    "overrun",           "hold_expired", "window_rolled", "budget_changed"};

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
