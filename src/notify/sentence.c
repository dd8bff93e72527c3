/*
 * sentence: each item said once in plain words, so the generic body's
 * "summary", the Slack message and a person reading a JSON line all read the
 * same. Amounts are the budget's currency without a symbol (a budget does not
 * know its currency), with two decimals unless more are needed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "notify/item.h"

/* Appends to buf at *used, never past size; a sentence cut short is still a string. */
static void add(char *buf, size_t size, size_t *used, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t size, size_t *used, const char *format, ...) {
    if (*used >= size) {
        return;
    }
    va_list args;
    va_start(args, format);
    int written = vsnprintf(buf + *used, size - *used, format, args);
    va_end(args);
    if (written > 0) {
        *used = *used + (size_t)written < size ? *used + (size_t)written : size;
    }
}

char *tg__money_text(int64_t micros, char *buf, size_t size) {
    char full[40];
    tg_money_format(micros, full, sizeof full); /* "482.000000" */
    char *point = strchr(full, '.');
    if (point != NULL) {
        size_t keep = strlen(full);
        /* Drop trailing zeros, but keep two decimals: "482.00", "0.0025". */
        while (keep > (size_t)(point - full) + 3 && full[keep - 1] == '0') {
            keep--;
        }
        full[keep] = '\0';
    }
    snprintf(buf, size, "%s", full);
    return buf;
}

static const char *class_name(int cls) {
    return cls >= 0 && cls < TG_CLASS_COUNT ? tg_class_str((tg_class)cls) : "any";
}

/* ", spent 482.00 of 500.00" or ", spent 12.00 (no limit)". */
static void add_spend(char *buf, size_t size, size_t *used, const tg_event *event) {
    char spent[40], limit[40];
    if (event->spent_micros == TG_NONE) {
        return;
    }
    tg__money_text(event->spent_micros, spent, sizeof spent);
    if (event->limit_micros == TG_NONE) {
        add(buf, size, used, "; spent %s (no limit)", spent);
    } else {
        add(buf, size, used, "; spent %s of %s", spent,
            tg__money_text(event->limit_micros, limit, sizeof limit));
    }
}

static void add_tools(char *buf, size_t size, size_t *used, const tg__notify_item *item,
                      const char *label) {
    for (int i = 0; i < item->tools_count; i++) {
        add(buf, size, used, "%s%s", i == 0 ? label : ", ", item->tools[i]);
    }
}

static void denied(char *buf, size_t size, size_t *used, const tg__notify_item *item) {
    const tg_event *event = &item->event;
    char asked[40];
    tg__money_text(item->amount_sum_micros, asked, sizeof asked);
    if (item->count == 1) {
        add(buf, size, used, "refused %s work on %s (%s), asked %s", class_name(event->cls),
            event->budget, event->reason >= 0 ? tg_reason_str((tg_reason)event->reason) : "refused",
            asked);
    } else {
        add(buf, size, used, "%lld refusals on %s (", (long long)item->count, event->budget);
        bool first = true;
        for (int r = 0; r < TG__NOTIFY_REASONS_COUNT; r++) {
            if (item->reasons[r] > 0) {
                add(buf, size, used, "%s%lld %s", first ? "" : ", ", (long long)item->reasons[r],
                    tg_reason_str((tg_reason)r));
                first = false;
            }
        }
        add(buf, size, used, "), %s asked in all", asked);
    }
    add_tools(buf, size, used, item, "; tools: ");
    add_spend(buf, size, used, event);
}

static void revoked(char *buf, size_t size, size_t *used, const tg__notify_item *item) {
    const tg_event *event = &item->event;
    char ceiling[40];
    add(buf, size, used, "%s work revoked on %s", class_name(event->cls), event->budget);
    if (event->threshold_micros != TG_NONE) {
        add(buf, size, used, " at its ceiling of %s",
            tg__money_text(event->threshold_micros, ceiling, sizeof ceiling));
    }
    add_spend(buf, size, used, event);
    if (event->count != TG_NONE) {
        add(buf, size, used, "; %lld open hold%s told to cancel", (long long)event->count,
            event->count == 1 ? "" : "s");
    }
    add_tools(buf, size, used, item, "; tools affected: ");
}

static void other(char *buf, size_t size, size_t *used, const tg__notify_item *item) {
    const tg_event *event = &item->event;
    char a[40], b[40];
    switch (event->kind) {
    case TG_EVENT_THRESHOLD_CROSSED:
        add(buf, size, used, "%s passed its %lld%% alert", event->budget,
            (long long)(event->count != TG_NONE ? event->count / 10000 : 0));
        add_spend(buf, size, used, event);
        break;
    case TG_EVENT_REINSTATED:
        add(buf, size, used, "%s work reinstated on %s", class_name(event->cls), event->budget);
        add_spend(buf, size, used, event);
        break;
    case TG_EVENT_OVERRUN: {
        /* "capped": the budget charges an agent at most its hold; the rest is only reported. */
        bool capped = strcmp(event->detail, "capped") == 0;
        add(buf, size, used,
            capped ? "overrun on %s: %s claimed against a hold of %s"
                   : "overrun on %s: charged %s against a hold of %s",
            event->budget,
            tg__money_text(event->amount_micros != TG_NONE ? event->amount_micros : 0, a, sizeof a),
            tg__money_text(event->held_micros != TG_NONE ? event->held_micros : 0, b, sizeof b));
        add(buf, size, used, "%s%s", event->tool[0] ? " by " : "", event->tool);
        add(buf, size, used, "%s", capped ? "; only the hold was charged (above_hold: cap)" : "");
        add_spend(buf, size, used, event);
        break;
    }
    case TG_EVENT_HOLD_EXPIRED:
        add(buf, size, used, "hold %llu on %s expired uncommitted; %s released",
            (unsigned long long)event->hold_id, event->budget,
            tg__money_text(event->amount_micros != TG_NONE ? event->amount_micros : 0, a,
                           sizeof a));
        add(buf, size, used, "%s%s", event->tool[0] ? " (" : "", event->tool);
        add(buf, size, used, "%s", event->tool[0] ? ")" : "");
        break;
    case TG_EVENT_WINDOW_ROLLED:
        add(buf, size, used, "%s closed a window", event->budget);
        add_spend(buf, size, used, event);
        add(buf, size, used, "; spend starts again from 0");
        break;
    case TG_EVENT_APPROVAL_REQUESTED:
        /* The commands to run, whole: a person reading Slack acts on this line alone. */
        add(buf, size, used, "approval %lld requested on %s: %s of %s work",
            (long long)event->count, event->budget,
            tg__money_text(event->amount_micros != TG_NONE ? event->amount_micros : 0, a, sizeof a),
            class_name(event->cls));
        add(buf, size, used, "%s%s", event->tool[0] ? " by " : "", event->tool);
        add(buf, size, used,
            "; approve: `tollgate approve %lld` (or POST /v1/approvals/%lld/approve), deny: "
            "`tollgate deny %lld`",
            (long long)event->count, (long long)event->count, (long long)event->count);
        break;
    case TG_EVENT_APPROVAL_DECIDED:
        add(buf, size, used, "approval %lld on %s: %s", (long long)event->count, event->budget,
            event->detail);
        break;
    default:
        add(buf, size, used, "budget %s %s", event->budget,
            event->detail[0] ? event->detail : "changed");
        break;
    }
}

void tg__item_sentence(const tg__notify_item *item, char *buf, size_t size) {
    size_t used = 0;
    if (size == 0) {
        return;
    }
    buf[0] = '\0';
    if (item->event.kind == TG_EVENT_DENIED) {
        denied(buf, size, &used, item);
    } else if (item->event.kind == TG_EVENT_REVOKED) {
        revoked(buf, size, &used, item);
    } else {
        other(buf, size, &used, item);
    }
    if (item->has_forecast) {
        char forecast[160];
        add(buf, size, &used, "; %s",
            tg__forecast_text(&item->forecast, forecast, sizeof forecast));
    }
}

void tg__item_title(const tg__notify_item *item, char *buf, size_t size) {
    const tg_event *event = &item->event;
    if (event->kind == TG_EVENT_DENIED && item->count > 1) {
        snprintf(buf, size, "%lld refusals on %s", (long long)item->count, event->budget);
        return;
    }
    char kind[32];
    snprintf(kind, sizeof kind, "%s", tg_event_kind_str(event->kind));
    for (char *c = kind; *c; c++) {
        *c = *c == '_' ? ' ' : *c;
    }
    snprintf(buf, size, "%s on %s", kind, event->budget);
}
