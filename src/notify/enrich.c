/*
 * enrich: what a threshold or revocation message says beyond its event row,
 * read from the ledger's own tables at sending time (store/store_outbox.h). The
 * burn rate comes from the charges of the budget's subtree over the forecast
 * window before the event; the revocation threshold from the budgets row; the
 * tools a revocation affects are those the revoked class used on the budget in
 * that window. All best effort: a query that fails leaves the item as it was,
 * and the message still goes.
 */
#include "notify/outbox.h"

/* The revocation threshold as the core derives it (budget.c: an amount, or ppm rounded down). */
static bool threshold(tg__outbox *outbox, const char *budget, int64_t *limit_out,
                      int64_t *threshold_out) {
    int64_t limit = 0, at_micros = TG_NONE, at_ppm = TG_NONE;
    if (!tg__outbox_revoke_at(outbox, budget, &limit, &at_micros, &at_ppm)) {
        return false;
    }
    int64_t level = limit;
    if (at_micros != TG_NONE) {
        level = at_micros;
    } else if (at_ppm != TG_NONE) {
        level = (int64_t)((__int128)limit * at_ppm / TG_PPM);
    }
    *limit_out = limit;
    *threshold_out = level < limit ? level : limit;
    return true;
}

static void add_tool(void *user, const char *name) {
    tg__item_add_tool(user, name);
}

void tg__outbox_enrich(tg__outbox *outbox, int64_t window_ms, tg__notify_item *item) {
    const tg_event *event = &item->event;
    if (window_ms <= 0 ||
        (event->kind != TG_EVENT_THRESHOLD_CROSSED && event->kind != TG_EVENT_REVOKED)) {
        return;
    }
    int64_t since_ms =
        event->time_ms > INT64_MIN + window_ms ? event->time_ms - window_ms : INT64_MIN;
    if (event->kind == TG_EVENT_REVOKED && item->tools_count == 0 && event->cls >= 0 &&
        event->cls < TG_CLASS_COUNT) {
        tg__outbox_tools(outbox, event->budget, (tg_class)event->cls, since_ms, event->time_ms,
                         add_tool, item);
    }
    int64_t limit = TG_NONE, level = TG_NONE, spent_in_window = 0;
    if (threshold(outbox, event->budget, &limit, &level) &&
        tg__outbox_spent(outbox, event->budget, since_ms, event->time_ms, &spent_in_window)) {
        int64_t spent = event->spent_micros != TG_NONE ? event->spent_micros : 0;
        item->has_forecast =
            tg__forecast_compute(window_ms, spent_in_window, spent, limit, level, &item->forecast);
    }
}
