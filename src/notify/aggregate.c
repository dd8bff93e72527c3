/*
 * aggregate: refusals summed up. A budget out of money may see a thousand
 * refusals a second; a person wants one message per interval saying how many,
 * why, for which tools and how much was asked, not a thousand messages. The
 * sender (lane.c) decides which refusals go together; this file only adds
 * them up.
 */
#include <string.h>

#include "notify/item.h"

void tg__item_from_event(tg__notify_item *item, const tg_event *event, tg__severity severity) {
    memset(item, 0, sizeof *item);
    item->event = *event;
    item->severity = severity;
    item->count = 1;
    item->last_id = event->id;
    item->last_time_ms = event->time_ms;
    if (event->kind == TG_EVENT_DENIED) {
        item->amount_sum_micros = event->amount_micros > 0 ? event->amount_micros : 0;
        if (event->reason >= 0 && event->reason < TG__NOTIFY_REASONS_COUNT) {
            item->reasons[event->reason] = 1;
        }
        tg__item_add_tool(item, event->tool);
    }
}

void tg__item_add_tool(tg__notify_item *item, const char *tool) {
    if (tool == NULL || tool[0] == '\0') {
        return;
    }
    for (int i = 0; i < item->tools_count; i++) {
        if (strcmp(item->tools[i], tool) == 0) {
            return;
        }
    }
    if (item->tools_count < TG__NOTIFY_TOOLS_MAX) {
        size_t length = strnlen(tool, TG_NAME_SIZE_MAX - 1);
        memcpy(item->tools[item->tools_count], tool, length);
        item->tools[item->tools_count][length] = '\0';
        item->tools_count++;
    }
}

void tg__item_add_denied(tg__notify_item *item, const tg_event *event, tg__severity severity) {
    item->count++;
    item->last_id = event->id;
    item->last_time_ms = event->time_ms;
    if (severity > item->severity) {
        item->severity = severity;
    }
    int64_t amount = event->amount_micros > 0 ? event->amount_micros : 0;
    /* Saturate: a summary of many huge asks must not wrap around. */
    item->amount_sum_micros =
        amount > INT64_MAX - item->amount_sum_micros ? INT64_MAX : item->amount_sum_micros + amount;
    if (event->reason >= 0 && event->reason < TG__NOTIFY_REASONS_COUNT) {
        item->reasons[event->reason]++;
    }
    /* The summary reports the budget's state after its last refusal. */
    item->event.spent_micros = event->spent_micros;
    item->event.limit_micros = event->limit_micros;
    tg__item_add_tool(item, event->tool);
}
