/*
 * windows: the budgets whose window ends at a known time, in a binary heap by
 * window end, so the tick rolls exactly the windows that ended and finds the next
 * deadline in O(1); nothing scans the budget table (a ledger may hold millions).
 * A lifetime window never ends and is never in the heap.
 */
#include "core/ledger_internal.h"

static int64_t end_at(const tg__ledger *ledger, int32_t pos) {
    return ledger->budgets[ledger->window_heap[pos]].window_end_ms;
}

static void swap(tg__ledger *ledger, int32_t a, int32_t b) {
    int32_t slot = ledger->window_heap[a];
    ledger->window_heap[a] = ledger->window_heap[b];
    ledger->window_heap[b] = slot;
    ledger->budgets[ledger->window_heap[a]].window_pos = a;
    ledger->budgets[ledger->window_heap[b]].window_pos = b;
}

static void sift_up(tg__ledger *ledger, int32_t pos) {
    while (pos > 0 && end_at(ledger, pos) < end_at(ledger, (pos - 1) / 2)) {
        swap(ledger, pos, (pos - 1) / 2);
        pos = (pos - 1) / 2;
    }
}

static void sift_down(tg__ledger *ledger, int32_t pos) {
    for (;;) {
        int32_t left = 2 * pos + 1, right = left + 1, least = pos;
        if (left < ledger->window_heap_count && end_at(ledger, left) < end_at(ledger, least)) {
            least = left;
        }
        if (right < ledger->window_heap_count && end_at(ledger, right) < end_at(ledger, least)) {
            least = right;
        }
        if (least == pos) {
            return;
        }
        swap(ledger, pos, least);
        pos = least;
    }
}

void tg__window_heap_remove(tg__ledger *ledger, int32_t slot) {
    int32_t pos = ledger->budgets[slot].window_pos;
    if (pos < 0) {
        return;
    }
    int32_t last = --ledger->window_heap_count;
    if (pos != last) {
        swap(ledger, pos, last);
    }
    ledger->budgets[slot].window_pos = -1;
    if (pos != last) {
        sift_down(ledger, pos);
        sift_up(ledger, pos);
    }
}

/* The heap has budgets_capacity slots (grown with the table), so this cannot fail. */
void tg__window_heap_fix(tg__ledger *ledger, int32_t slot) {
    tg__budget *budget = &ledger->budgets[slot];
    if (!budget->live || budget->window_end_ms == INT64_MAX) {
        tg__window_heap_remove(ledger, slot);
        return;
    }
    if (budget->window_pos < 0) {
        TG_VERIFY(ledger->window_heap_count < ledger->budgets_capacity);
        budget->window_pos = ledger->window_heap_count;
        ledger->window_heap[ledger->window_heap_count++] = slot;
    }
    sift_down(ledger, budget->window_pos);
    sift_up(ledger, budget->window_pos);
}

/* Rolls every window that ended by now_ms: each roll moves its budget down the heap. */
void tg__windows_roll(tg__ledger *ledger, int64_t now_ms) {
    while (ledger->window_heap_count > 0 && end_at(ledger, 0) <= now_ms) {
        int32_t slot = ledger->window_heap[0];
        tg__budget_roll(ledger, &ledger->budgets[slot], now_ms);
        TG_VERIFY(ledger->budgets[slot].window_end_ms > now_ms);
    }
}

int64_t tg__windows_next_end_ms(const tg__ledger *ledger) {
    return ledger->window_heap_count > 0 ? end_at(ledger, 0) : INT64_MAX;
}
