/*
 * schedule: taking events in, planning each lane's next message, and
 * completing messages. The rules are stated in schedule.h; this file keeps
 * them, and the invariants: a slot is in exactly one of its lane's waiting
 * list, one batch, or done; the ring's head slot is never done (done slots at
 * the head are retired at once), so done_through is the head's id - 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/sink_state.h"

tg__sink_state *tg__sink_state_new(const tg__notify_config *config, int sink_index,
                                   uint64_t done_through, uint64_t *sent, size_t sent_count) {
    tg__sink_state *state = calloc(1, sizeof *state);
    if (state == NULL) {
        free(sent);
        return NULL;
    }
    state->config = config;
    state->sink = &config->sinks[sink_index];
    state->cursor = done_through;
    state->skip = sent;
    state->skip_count = sent_count;
    state->failing_since_ms = TG_NONE;
    state->slots = calloc(TG__NOTIFY_WINDOW, sizeof *state->slots);
    state->lanes = calloc(TG__NOTIFY_LANES_MAX, sizeof *state->lanes);
    state->lanes_free = calloc(TG__NOTIFY_LANES_MAX, sizeof *state->lanes_free);
    state->index = calloc(INDEX_CAPACITY, sizeof *state->index);
    state->active = calloc(TG__NOTIFY_LANES_MAX, sizeof *state->active);
    state->dead = calloc(TG__NOTIFY_DEAD_MAX, sizeof *state->dead);
    if (!state->slots || !state->lanes || !state->lanes_free || !state->index || !state->active ||
        !state->dead) {
        tg__sink_state_free(state);
        return NULL;
    }
    for (int32_t i = TG__NOTIFY_LANES_MAX - 1; i >= 0; i--) {
        state->lanes_free[state->lanes_free_count++] = i;
    }
    return state;
}

void tg__sink_state_free(tg__sink_state *state) {
    if (state == NULL) {
        return;
    }
    free(state->slots);
    free(state->lanes);
    free(state->lanes_free);
    free(state->index);
    free(state->active);
    free(state->dead);
    free(state->skip);
    free(state);
}

void tg__batch_free(tg__batch *batch) {
    free(batch->positions);
    free(batch->items);
    batch->positions = NULL;
    batch->items = NULL;
}

/* ---- taking events ------------------------------------------------------------------ */

size_t tg__sink_state_room(tg__sink_state *state, int64_t now_ms) {
    if (state->lanes_free_count == 0) {
        tg__lanes_collect(state, now_ms);
    }
    size_t held = (size_t)(state->ring_tail - state->ring_head);
    size_t room = TG__NOTIFY_WINDOW - held;
    /* Each event may need a new lane: never take more than there are free lanes. */
    return room < (size_t)state->lanes_free_count ? room : (size_t)state->lanes_free_count;
}

uint64_t tg__sink_state_cursor(const tg__sink_state *state) {
    return state->cursor;
}

/* True when `id` was finished before a restart (ids come in ascending, like skip[]). */
static bool skipped(tg__sink_state *state, uint64_t id) {
    while (state->skip_next < state->skip_count && state->skip[state->skip_next] < id) {
        state->skip_next++;
    }
    return state->skip_next < state->skip_count && state->skip[state->skip_next] == id;
}

void tg__sink_state_take(tg__sink_state *state, const tg_event *event, int64_t now_ms) {
    if (event->id <= state->cursor) {
        return; /* read twice: already taken */
    }
    state->cursor = event->id;
    tg__severity severity = tg__severity_of(event);
    if (skipped(state, event->id) ||
        !tg__notify_filter_match(&state->sink->filter, event->kind, event->budget, severity)) {
        return;
    }
    int32_t lane_index = tg__lane_get(state, event->budget);
    if (lane_index < 0 || state->ring_tail - state->ring_head >= TG__NOTIFY_WINDOW) {
        abort(); /* the caller asked room() first: a programmer error, not input */
    }
    int64_t position = state->ring_tail++;
    tg__slot *slot = tg__slot_at(state, position);
    *slot = (tg__slot){*event, severity, now_ms, NONE_POSITION, 0, lane_index, SLOT_WAITING, false};
    tg__lane *lane = &state->lanes[lane_index];
    if (lane->tail == NONE_POSITION) {
        lane->head = position;
    } else {
        tg__slot_at(state, lane->tail)->next = position;
    }
    lane->tail = position;
    lane->waiting++;
    tg__lane_activate(state, lane_index);
}

/* ---- planning a message ------------------------------------------------------------- */

static void lower(int64_t *wake_at_ms, int64_t at_ms) {
    if (at_ms < *wake_at_ms) {
        *wake_at_ms = at_ms;
    }
}

/* A digest lane sends when its oldest event has waited within_ms, or something urgent waits. */
static bool digest_due(tg__sink_state *state, const tg__lane *lane, int64_t now_ms,
                       int64_t *wake_at_ms) {
    if (lane->mode != TG__URGENCY_DIGEST || lane->waiting >= state->config->batch_events_max) {
        return true;
    }
    int64_t due_ms = tg__slot_at(state, lane->head)->read_at_ms + lane->within_ms;
    if (now_ms >= due_ms) {
        return true;
    }
    for (int64_t p = lane->head; p != NONE_POSITION; p = tg__slot_at(state, p)->next) {
        if (tg__slot_at(state, p)->severity == TG__SEVERITY_CRITICAL) {
            return true;
        }
    }
    lower(wake_at_ms, due_ms);
    return false;
}

/*
 * Walks the lane from its head, turning events into items, and returns the
 * first position not taken. A run of refusals is one item; at the end of the
 * lane it waits for the refusal interval.
 */
static int64_t plan_items(tg__sink_state *state, tg__lane *lane, int64_t now_ms,
                          tg__notify_item *items, size_t *items_count, int64_t *wake_at_ms) {
    size_t count = 0;
    int64_t p = lane->head;
    bool aggregate = state->sink->aggregate_denied;
    size_t capacity = (size_t)state->config->batch_events_max;
    capacity = (size_t)lane->waiting < capacity ? (size_t)lane->waiting : capacity;
    while (p != NONE_POSITION && count < capacity) {
        tg__slot *slot = tg__slot_at(state, p);
        if (slot->event.kind != TG_EVENT_DENIED || !aggregate) {
            tg__item_from_event(&items[count++], &slot->event, slot->severity);
            p = slot->next;
            continue;
        }
        int64_t end = slot->next;
        while (end != NONE_POSITION && tg__slot_at(state, end)->event.kind == TG_EVENT_DENIED) {
            end = tg__slot_at(state, end)->next;
        }
        int64_t allowed_ms = lane->denied_sent_ms == TG_NONE
                                 ? now_ms
                                 : lane->denied_sent_ms + state->config->denied_interval_ms;
        if (end == NONE_POSITION && now_ms < allowed_ms) {
            lower(wake_at_ms, allowed_ms);
            break;
        }
        tg__notify_item *item = &items[count++];
        tg__item_from_event(item, &slot->event, slot->severity);
        for (int64_t q = slot->next; q != end; q = tg__slot_at(state, q)->next) {
            tg__item_add_denied(item, &tg__slot_at(state, q)->event,
                                tg__slot_at(state, q)->severity);
        }
        p = end;
    }
    *items_count = count;
    return p;
}

/* Moves the lane's waiting events up to `stop` into the batch. */
static bool detach(tg__sink_state *state, int32_t lane_index, int64_t stop, int64_t now_ms,
                   tg__batch *out) {
    tg__lane *lane = &state->lanes[lane_index];
    size_t count = 0;
    for (int64_t p = lane->head; p != stop; p = tg__slot_at(state, p)->next) {
        count++;
    }
    out->positions = malloc(count * sizeof *out->positions);
    if (out->positions == NULL) {
        return false;
    }
    bool has_denied = false;
    size_t i = 0;
    for (int64_t p = lane->head; p != stop; p = tg__slot_at(state, p)->next) {
        tg__slot *slot = tg__slot_at(state, p);
        slot->state = SLOT_SENDING;
        slot->attempts++;
        has_denied = has_denied || slot->event.kind == TG_EVENT_DENIED;
        out->positions[i++] = p;
    }
    out->positions_count = count;
    out->lane = lane_index;
    out->urgency = lane->mode;
    out->attempt = tg__slot_at(state, lane->head)->attempts;
    lane->head = stop;
    if (stop == NONE_POSITION) {
        lane->tail = NONE_POSITION;
    }
    lane->waiting -= (int64_t)count;
    lane->in_flight = true;
    if (has_denied) {
        lane->denied_sent_ms = now_ms;
    }
    state->in_flight++;
    tg__lane_deactivate(state, lane_index);
    return true;
}

static bool plan_lane(tg__sink_state *state, int32_t lane_index, int64_t now_ms, tg__batch *out,
                      int64_t *wake_at_ms) {
    tg__lane *lane = &state->lanes[lane_index];
    if (lane->in_flight || lane->waiting == 0) {
        return false;
    }
    if (lane->next_attempt_ms > now_ms) {
        lower(wake_at_ms, lane->next_attempt_ms);
        return false;
    }
    if (!digest_due(state, lane, now_ms, wake_at_ms)) {
        return false;
    }
    /* Never more items than events waiting: a lane of one event allocates one item. */
    size_t capacity = (size_t)state->config->batch_events_max;
    capacity = (size_t)lane->waiting < capacity ? (size_t)lane->waiting : capacity;
    tg__notify_item *items = malloc(capacity * sizeof *items);
    if (items == NULL) {
        return false;
    }
    size_t count = 0;
    int64_t stop = plan_items(state, lane, now_ms, items, &count, wake_at_ms);
    memset(out, 0, sizeof *out);
    if (count == 0 || !detach(state, lane_index, stop, now_ms, out)) {
        free(items);
        return false;
    }
    out->items = items;
    out->items_count = count;
    return true;
}

bool tg__sink_state_next(tg__sink_state *state, int64_t now_ms, tg__batch *out,
                         int64_t *wake_at_ms) {
    if (state->failures > 0) {
        /* A failing sink gets one probe at a time, after its own backoff. */
        if (state->in_flight > 0) {
            return false;
        }
        if (now_ms < state->next_attempt_ms) {
            lower(wake_at_ms, state->next_attempt_ms);
            return false;
        }
    }
    if (state->in_flight >= state->sink->concurrency) {
        return false;
    }
    int32_t count = state->active_count;
    for (int32_t k = 0; k < count; k++) {
        int32_t at = (state->rotate + k) % count;
        if (plan_lane(state, state->active[at], now_ms, out, wake_at_ms)) {
            state->rotate = at + 1;
            return true;
        }
    }
    return false;
}

/* ---- completing a message ----------------------------------------------------------- */

/* Done slots at the head leave the ring: that is what moves done_through. */
static void retire(tg__sink_state *state) {
    while (state->ring_head < state->ring_tail &&
           tg__slot_at(state, state->ring_head)->state == SLOT_DONE) {
        state->ring_head++;
    }
}

void tg__sink_state_delivered(tg__sink_state *state, tg__batch *batch, int64_t now_ms) {
    for (size_t i = 0; i < batch->positions_count; i++) {
        tg__slot_at(state, batch->positions[i])->state = SLOT_DONE;
    }
    tg__lane *lane = &state->lanes[batch->lane];
    lane->in_flight = false;
    lane->failures = 0;
    lane->next_attempt_ms = 0;
    state->in_flight--;
    state->stats.delivered += (int64_t)batch->positions_count;
    state->stats.messages++;
    if (state->failures > 0) {
        /* The receiver is back: every lane waiting on a retry may go now. */
        state->failures = 0;
        state->failing_since_ms = TG_NONE;
        for (int32_t i = 0; i < state->active_count; i++) {
            state->lanes[state->active[i]].next_attempt_ms = 0;
            state->lanes[state->active[i]].failures = 0;
        }
    }
    retire(state);
    tg__lane_release_if_idle(state, batch->lane, now_ms);
    tg__batch_free(batch);
}

/* Puts a failed batch's events back at the front of their lane, in order. */
static void requeue(tg__sink_state *state, const tg__batch *batch) {
    tg__lane *lane = &state->lanes[batch->lane];
    int64_t first = batch->positions[0];
    int64_t last = batch->positions[batch->positions_count - 1];
    for (size_t i = 0; i < batch->positions_count; i++) {
        tg__slot_at(state, batch->positions[i])->state = SLOT_WAITING;
    }
    tg__slot_at(state, last)->next = lane->head;
    if (lane->head == NONE_POSITION) {
        lane->tail = last;
    }
    lane->head = first;
    lane->waiting += (int64_t)batch->positions_count;
    lane->in_flight = false;
    tg__lane_activate(state, batch->lane);
}

/* Dead-letters the lane's oldest waiting events that have waited past give_up_after_ms. */
static void give_up(tg__sink_state *state, int32_t lane_index, int64_t now_ms, const char *error) {
    tg__lane *lane = &state->lanes[lane_index];
    int64_t cutoff_ms = now_ms - state->config->retry.give_up_after_ms;
    while (lane->head != NONE_POSITION && !lane->in_flight &&
           state->dead_count < TG__NOTIFY_DEAD_MAX) {
        tg__slot *slot = tg__slot_at(state, lane->head);
        if (slot->read_at_ms > cutoff_ms) {
            break;
        }
        tg__outbox_dead *dead = &state->dead[state->dead_count++];
        dead->sink = state->sink->name;
        dead->event_id = slot->event.id;
        dead->attempts = slot->attempts;
        snprintf(dead->error, sizeof dead->error, "%s", error);
        slot->state = SLOT_DONE;
        lane->head = slot->next;
        lane->waiting--;
        state->stats.dead++;
    }
    if (lane->head == NONE_POSITION) {
        lane->tail = NONE_POSITION;
    }
    tg__lane_deactivate(state, lane_index);
}

void tg__sink_state_failed(tg__sink_state *state, tg__batch *batch, int64_t now_ms, uint32_t random,
                           const char *error, int64_t retry_after_ms) {
    requeue(state, batch);
    tg__lane *lane = &state->lanes[batch->lane];
    state->in_flight--;
    lane->failures++;
    state->failures++;
    int64_t wait_ms = tg__backoff_ms(&state->config->retry, lane->failures, random);
    lane->next_attempt_ms = now_ms + (wait_ms > retry_after_ms ? wait_ms : retry_after_ms);
    wait_ms = tg__backoff_ms(&state->config->retry, state->failures, random >> 7);
    state->next_attempt_ms = now_ms + (wait_ms > retry_after_ms ? wait_ms : retry_after_ms);
    if (state->failing_since_ms == TG_NONE) {
        state->failing_since_ms = now_ms;
    }
    give_up(state, batch->lane, now_ms, error);
    /* A sink down for the whole give-up time: every lane's old events go, not one per probe. */
    if (now_ms - state->failing_since_ms >= state->config->retry.give_up_after_ms) {
        for (int32_t i = state->active_count - 1; i >= 0; i--) {
            give_up(state, state->active[i], now_ms, error);
        }
    }
    int32_t lane_index = batch->lane;
    tg__batch_free(batch);
    retire(state);
    tg__lane_release_if_idle(state, lane_index, now_ms);
}

/* ---- what to save ------------------------------------------------------------------- */

uint64_t tg__sink_state_done_through(const tg__sink_state *state) {
    if (state->ring_head == state->ring_tail) {
        return state->cursor;
    }
    return state->slots[state->ring_head % TG__NOTIFY_WINDOW].event.id - 1;
}

size_t tg__sink_state_unsaved(const tg__sink_state *state, uint64_t *ids, size_t max) {
    size_t count = 0;
    for (int64_t p = state->ring_head; p < state->ring_tail && count < max; p++) {
        const tg__slot *slot = &state->slots[p % TG__NOTIFY_WINDOW];
        if (slot->state == SLOT_DONE && !slot->saved) {
            ids[count++] = slot->event.id;
        }
    }
    return count;
}

const tg__outbox_dead *tg__sink_state_dead(const tg__sink_state *state, size_t *count_out) {
    *count_out = state->dead_count;
    return state->dead;
}

void tg__sink_state_saved(tg__sink_state *state) {
    for (int64_t p = state->ring_head; p < state->ring_tail; p++) {
        tg__slot *slot = tg__slot_at(state, p);
        slot->saved = slot->saved || slot->state == SLOT_DONE;
    }
    state->dead_count = 0;
}

void tg__sink_state_stats(const tg__sink_state *state, tg__sink_stats *out) {
    *out = state->stats;
    out->in_flight = state->in_flight;
    out->failures = state->failures;
    out->waiting = 0;
    for (int32_t i = 0; i < state->active_count; i++) {
        out->waiting += state->lanes[state->active[i]].waiting;
    }
}
