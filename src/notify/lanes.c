/*
 * lanes: the lane table of one sink. A budget's lane is found through an
 * open-addressing index (linear probing, at most half full, deletion by
 * backward shift so no tombstones pile up); lanes are allocated from a fixed
 * table with a free stack, and lanes with waiting events sit in an active list
 * so planning looks only at lanes that have something to send. A lane lives
 * while it has events, or while its refusal interval runs (its last refusal
 * message decides when the next may go).
 */
#include <string.h>

#include "notify/sink_state.h"
#include "notify/sink_types.h"

_Static_assert((INDEX_CAPACITY & (INDEX_CAPACITY - 1)) == 0, "the index size is a power of two");
_Static_assert(INDEX_CAPACITY >= 2 * TG__NOTIFY_LANES_MAX, "the index stays at most half full");

tg__slot *tg__slot_at(tg__sink_state *state, int64_t position) {
    return &state->slots[position % TG__NOTIFY_WINDOW];
}

/* FNV-1a: budget paths are short; this spreads them well enough for linear probing. */
static uint32_t hash_of(const char *text) {
    uint32_t hash = 2166136261u;
    for (; *text; text++) {
        hash = (hash ^ (unsigned char)*text) * 16777619u;
    }
    return hash;
}

/* The index slot holding `budget`, or the empty slot where it would go. */
static uint32_t index_find(const tg__sink_state *state, const char *budget) {
    uint32_t mask = INDEX_CAPACITY - 1;
    uint32_t at = hash_of(budget) & mask;
    while (state->index[at] != 0 &&
           strcmp(state->lanes[state->index[at] - 1].budget, budget) != 0) {
        at = (at + 1) & mask;
    }
    return at;
}

/* Backward-shift deletion: later entries of the probe run move up into the hole. */
static void index_remove(tg__sink_state *state, uint32_t hole) {
    uint32_t mask = INDEX_CAPACITY - 1;
    state->index[hole] = 0;
    for (uint32_t at = (hole + 1) & mask; state->index[at] != 0; at = (at + 1) & mask) {
        uint32_t home = hash_of(state->lanes[state->index[at] - 1].budget) & mask;
        /* Move it if its home is not in (hole, at], cyclically. */
        bool stays = hole <= at ? (home > hole && home <= at) : (home > hole || home <= at);
        if (!stays) {
            state->index[hole] = state->index[at];
            state->index[at] = 0;
            hole = at;
        }
    }
}

int32_t tg__lane_get(tg__sink_state *state, const char *budget) {
    uint32_t at = index_find(state, budget);
    if (state->index[at] != 0) {
        return (int32_t)state->index[at] - 1;
    }
    if (state->lanes_free_count == 0) {
        return -1;
    }
    int32_t lane_index = state->lanes_free[--state->lanes_free_count];
    tg__lane *lane = &state->lanes[lane_index];
    memset(lane, 0, sizeof *lane);
    memcpy(lane->budget, budget, strnlen(budget, TG_PATH_SIZE_MAX - 1));
    lane->used = true;
    lane->head = lane->tail = NONE_POSITION;
    lane->active_at = -1;
    lane->denied_sent_ms = TG_NONE;
    if (tg__sink_type_of(state->sink->kind)->delivery == TG__SINK_LOG) {
        lane->mode = TG__URGENCY_IMMEDIATE; /* a log is written at once */
        lane->within_ms = 0;
    } else {
        tg__notify_urgency_of(state->config, lane->budget, &lane->mode, &lane->within_ms);
    }
    state->index[at] = (uint32_t)lane_index + 1;
    return lane_index;
}

bool tg__lane_release_if_idle(tg__sink_state *state, int32_t lane_index, int64_t now_ms) {
    tg__lane *lane = &state->lanes[lane_index];
    bool interval_running = lane->denied_sent_ms != TG_NONE &&
                            now_ms - lane->denied_sent_ms < state->config->denied_interval_ms;
    if (!lane->used || lane->waiting > 0 || lane->in_flight || interval_running) {
        return false;
    }
    index_remove(state, index_find(state, lane->budget));
    lane->used = false;
    state->lanes_free[state->lanes_free_count++] = lane_index;
    return true;
}

void tg__lanes_collect(tg__sink_state *state, int64_t now_ms) {
    for (int32_t i = 0; i < TG__NOTIFY_LANES_MAX; i++) {
        tg__lane_release_if_idle(state, i, now_ms);
    }
}

void tg__lane_activate(tg__sink_state *state, int32_t lane_index) {
    tg__lane *lane = &state->lanes[lane_index];
    if (lane->active_at < 0 && lane->waiting > 0) {
        lane->active_at = state->active_count;
        state->active[state->active_count++] = lane_index;
    }
}

void tg__lane_deactivate(tg__sink_state *state, int32_t lane_index) {
    tg__lane *lane = &state->lanes[lane_index];
    if (lane->active_at < 0 || lane->waiting > 0) {
        return;
    }
    /* Swap-remove: order in the list does not matter, `rotate` gives fairness. */
    int32_t last = state->active[--state->active_count];
    state->active[lane->active_at] = last;
    state->lanes[last].active_at = lane->active_at;
    lane->active_at = -1;
}
