/*
 * api_events: GET /v1/events?since=ID&limit=N. On the SQLite store the events
 * table is paged (durable: every event since the file began, across restarts);
 * on the memory store the latest TG__EVENTS_KEPT events the engine reported are
 * kept in a ring; on Redis, the ledger-wide stream its collectors fill. All answer with the same
 * fields, oldest first, and `next` to pass as `since`. Ids increase and commits land in order, so a
 * page never skips an event that a later page could show.
 */
#include <string.h>

#include <stdlib.h>

#include "api/api.h"
#include "server/store_redis.h"
#include "store/store_read.h"

/* Reads of the ledger-wide stream one page on Redis may make: a key scoped to a quiet subtree
 * of a busy ledger gets short pages (its `next` still moves on) rather than a long read. */
#define REDIS_EVENTS_READS_MAX 16

void tg__daemon_on_event(void *user, const tg_event *event) {
    tg__daemon *daemon = user;
    if (strcmp(daemon->config->store, "sqlite") == 0) {
        return; /* the events table keeps them */
    }
    daemon->events[daemon->events_total % TG__EVENTS_KEPT] = *event;
    daemon->events_total++;
}

json_t *tg__event_json(const tg_event *e) {
    return json_pack(
        "{s:I,s:s,s:I,s:s,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:s}", "id", (json_int_t)e->id,
        "kind", tg_event_kind_str(e->kind), "time_ms", (json_int_t)e->time_ms, "budget", e->budget,
        "class", e->cls >= 0 ? json_string(tg_class_str((tg_class)e->cls)) : json_null(), "reason",
        e->reason >= 0 ? json_string(tg_reason_str((tg_reason)e->reason)) : json_null(), "hold_id",
        (json_int_t)e->hold_id, "amount_micros", tg__json_optional(e->amount_micros), "held_micros",
        tg__json_optional(e->held_micros), "spent_micros", tg__json_optional(e->spent_micros),
        "limit_micros", tg__json_optional(e->limit_micros), "threshold_micros",
        tg__json_optional(e->threshold_micros), "count", tg__json_optional(e->count), "tool",
        e->tool, "detail", e->detail);
}

static tg__reply from_ring(tg__daemon *daemon, const tg__caller *caller, uint64_t since,
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
        json_array_append_new(list, tg__event_json(event));
    }
    return tg__api_ok(json_pack("{s:o,s:I}", "events", list, "next", (json_int_t)next));
}

/* ---- the events table (store/store_read.h) ------------------------------------------- */

static bool event_json(void *user, const tg_event *event) {
    tg__json_page *page = user;
    page->next = (int64_t)event->id;
    json_array_append_new(page->rows, tg__event_json(event));
    return true;
}

static tg__reply from_table(tg__store_reader *reader, const tg__caller *caller, uint64_t since,
                            uint64_t limit) {
    tg__store_page query = {
        .budget = tg__read_subtree(caller, ""), .after_id = since, .limit = (size_t)limit};
    tg__json_page page = {json_array(), (int64_t)since};
    tg_error err = {0};
    tg_status status = tg__store_read_events(reader, &query, event_json, &page, &err);
    return tg__json_page_reply("events", &page, status, &err);
}

/* ---- Redis: the ledger-wide events stream its collectors fill (docs/multi-node.md) ----- */

static tg__reply from_redis(const tg__caller *caller, uint64_t since, uint64_t limit) {
    tg_event *events = malloc((size_t)limit * sizeof *events);
    if (events == NULL) {
        return tg__api_error(503, "full", "out of memory");
    }
    json_t *list = json_array();
    uint64_t next = since;
    tg_error err = {0};
    tg_status status = TG_OK;
    for (int reads = 0; reads < REDIS_EVENTS_READS_MAX && json_array_size(list) < limit; reads++) {
        size_t count = 0;
        status = tg__store_redis_events_since(next, events, (size_t)limit - json_array_size(list),
                                              &count, &err);
        if (status != TG_OK || count == 0) {
            break;
        }
        for (size_t i = 0; i < count; i++) {
            next = events[i].id; /* looked at: a scoped key's page moves on past the others' */
            if (tg__may_touch(caller, events[i].budget)) {
                json_array_append_new(list, tg__event_json(&events[i]));
            }
        }
    }
    free(events);
    if (status != TG_OK) {
        json_decref(list);
        return tg__api_error(503, "store_unavailable", err.message);
    }
    return tg__api_ok(json_pack("{s:o,s:I}", "events", list, "next", (json_int_t)next));
}

tg__reply tg__api_list_events(tg__daemon *daemon, const tg__caller *caller, uint64_t since,
                              uint64_t limit) {
    if (strcmp(daemon->config->store, "redis") == 0) {
        return from_redis(caller, since, limit);
    }
    if (strcmp(daemon->config->store, "sqlite") != 0) {
        return from_ring(daemon, caller, since, limit);
    }
    tg__reply error;
    tg__store_reader *reader = tg__reader(daemon, &error);
    return reader != NULL ? from_table(reader, caller, since, limit) : error;
}
