/*
 * holds: the table of open holds, indexed by id and ordered by deadline in a
 * binary heap, so expiry costs O(log n) per hold and nothing scans on the hot
 * path. Opening and closing a hold moves its amounts on every budget of its
 * path; deciding whether to open one is decide.c's job.
 */
#include <string.h>

#include "core/ledger_internal.h"

/* ---- the hold table and its expiry heap ---------------------------------- */

static bool hold_id_eq(const void *table, int32_t value, const void *key) {
    const tg__hold *holds = table;
    return holds[value].id == *(const uint64_t *)key;
}

int32_t tg__hold_find(const tg__ledger *ledger, uint64_t id) {
    return tg__map_get(&ledger->hold_index, tg__hash_u64(id), hold_id_eq, ledger->holds, &id);
}

static bool heap_less(const tg__ledger *ledger, int32_t a, int32_t b) {
    const tg__hold *ha = &ledger->holds[ledger->heap[a]], *hb = &ledger->holds[ledger->heap[b]];
    return ha->expires_at_ms < hb->expires_at_ms ||
           (ha->expires_at_ms == hb->expires_at_ms && ha->id < hb->id);
}

static void heap_swap(tg__ledger *ledger, int32_t a, int32_t b) {
    int32_t slot = ledger->heap[a];
    ledger->heap[a] = ledger->heap[b];
    ledger->heap[b] = slot;
    ledger->holds[ledger->heap[a]].heap_pos = a;
    ledger->holds[ledger->heap[b]].heap_pos = b;
}

static void heap_up(tg__ledger *ledger, int32_t pos) {
    while (pos > 0 && heap_less(ledger, pos, (pos - 1) / 2)) {
        heap_swap(ledger, pos, (pos - 1) / 2);
        pos = (pos - 1) / 2;
    }
}

static void heap_down(tg__ledger *ledger, int32_t pos) {
    for (;;) {
        int32_t left = 2 * pos + 1, right = left + 1, least = pos;
        if (left < ledger->holds_live && heap_less(ledger, left, least)) {
            least = left;
        }
        if (right < ledger->holds_live && heap_less(ledger, right, least)) {
            least = right;
        }
        if (least == pos) {
            return;
        }
        heap_swap(ledger, pos, least);
        pos = least;
    }
}

/* Grows the table (and the heap and scratch sized with it) to `capacity` slots. */
static tg_status holds_grow(tg__ledger *ledger, int32_t capacity, tg_error *err) {
    tg__hold *holds = realloc(ledger->holds, (size_t)capacity * sizeof *holds);
    if (holds == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the hold table");
    }
    ledger->holds = holds;
    int32_t *heap = realloc(ledger->heap, (size_t)capacity * sizeof *heap);
    if (heap == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the expiry heap");
    }
    ledger->heap = heap;
    tg__expiring *expiring = realloc(ledger->expiring, (size_t)capacity * sizeof *expiring);
    if (expiring == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the retry scratch");
    }
    ledger->expiring = expiring;
    for (int32_t i = capacity - 1; i >= ledger->holds_capacity; i--) {
        holds[i].id = 0;
        holds[i].next_free = ledger->holds_free;
        ledger->holds_free = i;
    }
    ledger->holds_capacity = capacity;
    return TG_OK;
}

tg_status tg__holds_reserve(tg__ledger *ledger, int64_t count, tg_error *err) {
    count = count < ledger->options.holds_max ? count : ledger->options.holds_max;
    if (count <= ledger->holds_capacity) {
        return TG_OK;
    }
    int64_t capacity = ledger->holds_capacity ? ledger->holds_capacity : 64;
    while (capacity < count) {
        capacity *= 2;
    }
    tg_status status = holds_grow(ledger, (int32_t)capacity, err);
    if (status == TG_OK && tg__map_reserve(&ledger->hold_index, (uint32_t)count) != TG_OK) {
        status = tg__fail(err, TG_ERR_NOMEM, "out of memory growing the hold index");
    }
    return status;
}

/* Takes a free slot (growing the table), not yet live: fill it, then tg__hold_open. */
tg_status tg__hold_slot_acquire(tg__ledger *ledger, int32_t *out, tg_error *err) {
    if (ledger->holds_live >= ledger->options.holds_max) {
        return tg__fail(err, TG_ERR_FULL, "the ledger holds its maximum of %lld open holds",
                        (long long)ledger->options.holds_max);
    }
    if (ledger->holds_free < 0) {
        tg_status status =
            holds_grow(ledger, ledger->holds_capacity ? ledger->holds_capacity * 2 : 64, err);
        if (status != TG_OK) {
            return status;
        }
    }
    if (tg__map_reserve(&ledger->hold_index, 1) != TG_OK) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the hold index");
    }
    *out = ledger->holds_free;
    return TG_OK;
}

bool tg__hold_on_path(const tg__ledger *ledger, const tg__hold *hold, int32_t budget) {
    for (int32_t slot = hold->budget; slot >= 0; slot = ledger->budgets[slot].parent) {
        if (slot == budget) {
            return true;
        }
    }
    return false;
}

void tg__hold_journal_put(tg__ledger *ledger, const tg__hold *hold) {
    tg__hold_op *op = TG_JOURNAL_PUSH(ledger, holds);
    if (op == NULL) {
        return;
    }
    op->kind = TG__HOLD_PUT;
    tg__hold_row *row = &op->row;
    row->id = hold->id;
    tg__copy_name(row->budget, sizeof row->budget, ledger->budgets[hold->budget].path);
    row->amount_micros = hold->amount_micros;
    row->tokens = hold->tokens;
    row->cls = hold->cls;
    memcpy(row->tool, hold->tool, sizeof row->tool);
    memcpy(row->model, hold->model, sizeof row->model);
    row->created_at_ms = hold->created_at_ms;
    row->expires_at_ms = hold->expires_at_ms;
    row->cancel_requested = hold->cancel_requested;
}

/* Adds (sign 1) or removes (sign -1) a hold's amounts on every budget of its path. */
static void hold_apply(tg__ledger *ledger, const tg__hold *hold, int sign) {
    for (int32_t slot = hold->budget; slot >= 0; slot = ledger->budgets[slot].parent) {
        tg__budget *budget = &ledger->budgets[slot];
        budget->held_micros += sign * hold->amount_micros;
        budget->calls_held += sign;
        budget->tokens_held += sign * hold->tokens;
        budget->holds += sign;
        TG_VERIFY(budget->held_micros >= 0 && budget->calls_held >= 0 && budget->tokens_held >= 0 &&
                  budget->holds >= 0);
    }
}

/* Makes slot (from hold_slot_acquire, filled in) a live hold. Cannot fail. */
void tg__hold_open(tg__ledger *ledger, int32_t slot) {
    tg__hold *hold = &ledger->holds[slot];
    ledger->holds_free = hold->next_free;
    TG_VERIFY(tg__map_put(&ledger->hold_index, tg__hash_u64(hold->id), slot) == TG_OK);
    hold->cancel_requested = false;
    hold->heap_pos = ledger->holds_live;
    ledger->heap[ledger->holds_live++] = slot;
    heap_up(ledger, hold->heap_pos);
    hold_apply(ledger, hold, 1);
    tg__hold_journal_put(ledger, hold);
}

/* Closes a live hold: removes its amounts and frees its slot. */
void tg__hold_close(tg__ledger *ledger, int32_t slot) {
    tg__hold *hold = &ledger->holds[slot];
    hold_apply(ledger, hold, -1);
    int32_t pos = hold->heap_pos, last = --ledger->holds_live;
    if (pos != last) {
        heap_swap(ledger, pos, last);
        heap_down(ledger, pos);
        heap_up(ledger, pos);
    }
    TG_VERIFY(tg__map_remove(&ledger->hold_index, tg__hash_u64(hold->id), slot));
    tg__hold_op *op = TG_JOURNAL_PUSH(ledger, holds);
    if (op != NULL) {
        op->kind = TG__HOLD_DELETE;
        op->row.id = hold->id;
    }
    hold->id = 0;
    hold->next_free = ledger->holds_free;
    ledger->holds_free = slot;
}

void tg__holds_expire(tg__ledger *ledger, int64_t now_ms) {
    while (ledger->holds_live > 0) {
        int32_t slot = ledger->heap[0];
        tg__hold *hold = &ledger->holds[slot];
        if (hold->expires_at_ms > now_ms) {
            return;
        }
        tg_event event;
        tg__event_init(&event, TG_EVENT_HOLD_EXPIRED, now_ms, ledger->budgets[hold->budget].path);
        event.cls = hold->cls;
        event.hold_id = hold->id;
        event.amount_micros = hold->amount_micros;
        event.held_micros = hold->amount_micros;
        tg__copy_name(event.tool, sizeof event.tool, hold->tool[0] ? hold->tool : hold->model);
        tg__settle_note(ledger, hold->amount_micros, 0);
        tg__hold_close(ledger, slot);
        tg__ledger_emit(ledger, &event);
    }
}
