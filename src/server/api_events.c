/*
 * api_events: keeps the latest events from the engine's callback in a ring and
 * pages them for GET /v1/events.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"

/* ---- Events ------------------------------------------------------------------- */

void tg__daemon_on_event(void *user, const tg_event *event) {
    tg__daemon *daemon = user;
    daemon->events[daemon->events_total % TG__EVENTS_KEPT] = *event;
    daemon->events_total++;
}

tg__reply tg__api_list_events(tg__daemon *daemon, const tg__caller *caller, uint64_t since,
                              uint64_t limit) {
    json_t *list = json_array();
    uint64_t first =
        daemon->events_total > TG__EVENTS_KEPT ? daemon->events_total - TG__EVENTS_KEPT : 0;
    uint64_t next = since;
    for (uint64_t i = first; i < daemon->events_total && json_array_size(list) < limit; i++) {
        const tg_event *event = &daemon->events[i % TG__EVENTS_KEPT];
        if (event->id <= since || !tg__may_touch(caller, event->budget)) {
            continue;
        }
        next = event->id;
        json_array_append_new(
            list,
            json_pack("{s:I,s:s,s:I,s:s,s:o,s:o,s:I,s:o,s:o,s:s,s:s}", "id", (json_int_t)event->id,
                      "kind", tg_event_kind_str(event->kind), "time_ms", (json_int_t)event->time_ms,
                      "budget", event->budget, "class",
                      event->cls >= 0 ? json_string(tg_class_str(event->cls)) : json_null(),
                      "reason",
                      event->reason >= 0 ? json_string(tg_reason_str(event->reason)) : json_null(),
                      "hold_id", (json_int_t)event->hold_id, "amount_micros",
                      tg__json_optional(event->amount_micros), "spent_micros",
                      tg__json_optional(event->spent_micros), "tool", event->tool, "detail",
                      event->detail));
    }
    return tg__api_ok(json_pack("{s:o,s:I}", "events", list, "next", (json_int_t)next));
}
