/*
 * ledger: creation, events, the journal hand-off, restoring a persisted state,
 * the time-driven tick, and the invariant check. Decisions are in decide.c,
 * the budget tree in budget.c, the hold table in holds.c.
 */
#include <string.h>

#include "core/ledger_internal.h"

tg__ledger *tg__ledger_new(const tg__ledger_options *options) {
    tg__ledger *ledger = calloc(1, sizeof *ledger);
    if (ledger == NULL) {
        return NULL;
    }
    ledger->options = *options;
    ledger->budgets_free = -1;
    ledger->restore_last = -1;
    ledger->specs_free = -1;
    ledger->specs_last = -1;
    ledger->holds_free = -1;
    ledger->keys_free = -1;
    ledger->keys_oldest = -1;
    ledger->keys_newest = -1;
    ledger->default_class = TG_CLASS_NORMAL;
    ledger->next_hold_id = 1;
    ledger->next_charge_id = 1;
    ledger->next_event_id = 1;
    ledger->next_approval_id = 1;
    return ledger;
}

void tg__ledger_free(tg__ledger *ledger) {
    if (ledger == NULL) {
        return;
    }
    tg__budget_index_free(ledger);
    free(ledger->budgets);
    free(ledger->dirty);
    free(ledger->window_heap);
    tg__specs_free(ledger);
    free(ledger->holds);
    free(ledger->heap);
    free(ledger->expiring);
    tg__map_free(&ledger->hold_index);
    tg__idem_free(ledger);
    tg__policy_free(ledger);
    tg__api_keys_free(ledger);
    tg__approvals_free(ledger);
    tg__journal_free(&ledger->journal);
    free(ledger);
}

void tg__event_init(tg_event *event, tg_event_kind kind, int64_t now_ms, const char *budget) {
    memset(event, 0, sizeof *event);
    event->kind = kind;
    event->time_ms = now_ms;
    tg__copy_name(event->budget, sizeof event->budget, budget);
    event->cls = -1;
    event->reason = -1;
    event->amount_micros = TG_NONE;
    event->held_micros = TG_NONE;
    event->spent_micros = TG_NONE;
    event->limit_micros = TG_NONE;
    event->threshold_micros = TG_NONE;
    event->count = TG_NONE;
}

void tg__ledger_emit(tg__ledger *ledger, tg_event *event) {
    event->id = ledger->next_event_id++;
    tg_event *row = TG_JOURNAL_PUSH(ledger, events);
    if (row != NULL) {
        *row = *event;
    }
    if (ledger->options.on_event != NULL) {
        ledger->options.on_event(ledger->options.on_event_user, event);
    }
}

static void budget_to_row(const tg__budget *budget, tg__budget_row *row) {
    tg__copy_name(row->path, sizeof row->path, budget->path);
    row->spec = *budget->spec;
    row->frozen = budget->frozen;
    row->window_start_ms = budget->window_start_ms;
    row->window_end_ms = budget->window_end_ms;
    row->spent_micros = budget->spent_micros;
    row->calls_used = budget->calls_used;
    row->tokens_used = budget->tokens_used;
    row->alerts_fired = budget->alerts_fired;
    row->revoked = budget->revoked;
    row->has_template = budget->template_spec != NULL;
    if (row->has_template) {
        row->template_spec = *budget->template_spec;
    }
    row->children_max = budget->children_max;
}

tg__journal *tg__ledger_journal(tg__ledger *ledger) {
    /* In proportion to what changed: a ledger of a million budgets finishes a batch
     * that touched three in three steps. */
    for (int32_t i = 0; i < ledger->dirty_count; i++) {
        tg__budget *budget = &ledger->budgets[ledger->dirty[i]];
        budget->listed = false;
        if (!budget->live || !budget->dirty) {
            continue; /* deleted since it was marked */
        }
        budget->dirty = false;
        tg__budget_row *row = TG_JOURNAL_PUSH(ledger, budgets);
        if (row != NULL) {
            budget_to_row(budget, row);
        }
    }
    ledger->dirty_count = 0;
    ledger->journal.meta =
        (tg__meta_row){ledger->next_hold_id, ledger->next_charge_id, ledger->next_event_id};
    return &ledger->journal;
}

bool tg__ledger_journal_broken(const tg__ledger *ledger) {
    return ledger->journal_broken;
}

int64_t tg__ledger_holds_open(const tg__ledger *ledger) {
    return ledger->holds_live;
}

int64_t tg__ledger_budgets_count(const tg__ledger *ledger) {
    return ledger->budgets_live;
}

void tg__ledger_journal_swap(tg__ledger *ledger, tg__journal *other) {
    tg__journal held = ledger->journal;
    ledger->journal = *other;
    *other = held;
}

void tg__ledger_tick(tg__ledger *ledger, int64_t now_ms) {
    tg__holds_expire(ledger, now_ms);
    tg__windows_roll(ledger, now_ms);
}

int64_t tg__ledger_deadline_ms(const tg__ledger *ledger) {
    int64_t next = tg__windows_next_end_ms(ledger);
    if (ledger->holds_live > 0) {
        int64_t expires = ledger->holds[ledger->heap[0]].expires_at_ms;
        next = expires < next ? expires : next;
    }
    return next;
}

bool tg__ledger_pending(const tg__ledger *ledger) {
    return ledger->dirty_count > 0 || !tg__journal_empty(&ledger->journal);
}

/* ---- restoring ------------------------------------------------------------ */

tg_status tg__ledger_budgets_reserve(tg__ledger *ledger, int64_t count, tg_error *err) {
    count = count < ledger->options.budgets_max ? count : ledger->options.budgets_max;
    tg_status status = count > 0 ? tg__budgets_reserve(ledger, count, count, err) : TG_OK;
    /* The start-up restores them without a lookup: their index entries wait (budget_index.c). */
    return status == TG_OK ? tg__budget_index_defer(ledger, count, err) : status;
}

tg_status tg__ledger_holds_reserve(tg__ledger *ledger, int64_t count, tg_error *err) {
    return count > 0 ? tg__holds_reserve(ledger, count, err) : TG_OK;
}

void tg__ledger_restore_meta(tg__ledger *ledger, const tg__meta_row *meta) {
    ledger->next_hold_id = meta->next_hold_id > 0 ? meta->next_hold_id : 1;
    ledger->next_charge_id = meta->next_charge_id > 0 ? meta->next_charge_id : 1;
    ledger->next_event_id = meta->next_event_id > 0 ? meta->next_event_id : 1;
}

tg_status tg__ledger_restore_budget(tg__ledger *ledger, const tg__budget_row *row, const tg__tz *tz,
                                    const tg__tz *template_tz, tg_error *err) {
    tg_error why = {0};
    tg_status status = tg__path_check(row->path, &why);
    if (status != TG_OK || (status = tg__budget_spec_check(&row->spec, &why)) != TG_OK) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored budget '%.64s' is invalid: %s", row->path,
                        why.message);
    }
    if (row->spent_micros < 0 || row->calls_used < 0 || row->tokens_used < 0 ||
        row->window_end_ms <= row->window_start_ms) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored budget '%s' has negative counters", row->path);
    }
    if (row->has_template &&
        tg__template_check(&row->template_spec, row->children_max, &why) != TG_OK) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored budget '%.64s' is invalid: %s", row->path,
                        why.message);
    }
    /* Filled from the row directly: no window computed, no event, nothing journaled
     * (a million of these make the start-up). */
    const tg_budget_spec *spec;
    if ((status = tg__spec_intern(ledger, &row->spec, &spec, err)) != TG_OK) {
        return status;
    }
    int32_t slot;
    status = tg__budget_restore_slot(ledger, row->path, &slot, err);
    if (status != TG_OK) {
        tg__spec_release(ledger, spec);
        return status == TG_ERR_NOT_FOUND
                   ? tg__fail(err, TG_ERR_CORRUPT, "stored budget '%s' has no parent", row->path)
                   : status;
    }
    tg__budget *budget = &ledger->budgets[slot];
    budget->spec = spec;
    budget->tz = tz;
    budget->frozen = row->frozen;
    budget->window_start_ms = row->window_start_ms;
    budget->window_end_ms = row->window_end_ms;
    budget->spent_micros = row->spent_micros;
    budget->calls_used = row->calls_used;
    budget->tokens_used = row->tokens_used;
    budget->alerts_fired = row->alerts_fired;
    budget->revoked = row->revoked;
    tg__budget_derive(budget);
    tg__window_heap_fix(ledger, slot);
    if (row->has_template) {
        /* A failed intern leaves the budget without its template: the load fails anyway. */
        return tg__template_assign(ledger, slot, &row->template_spec, template_tz,
                                   row->children_max, err);
    }
    return TG_OK;
}

tg_status tg__ledger_restore_hold(tg__ledger *ledger, const tg__hold_row *row, tg_error *err) {
    int32_t leaf = tg__budget_find(ledger, row->budget);
    if (leaf < 0) {
        return tg__fail(err, TG_ERR_CORRUPT,
                        "stored hold %llu is on budget '%.64s', which is missing",
                        (unsigned long long)row->id, row->budget);
    }
    if (row->id == 0 || row->amount_micros < 0 || row->amount_micros > TG_AMOUNT_MAX ||
        row->tokens < 0 || row->tokens > TG_AMOUNT_MAX || (unsigned)row->cls >= TG_CLASS_COUNT ||
        tg__hold_find(ledger, row->id) >= 0) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored hold %llu is invalid",
                        (unsigned long long)row->id);
    }
    /* What reserve's path_room keeps true; many hand-made holds could break it. */
    for (int32_t slot = leaf; slot >= 0; slot = ledger->budgets[slot].parent) {
        const tg__budget *budget = &ledger->budgets[slot];
        if (budget->held_micros + row->amount_micros > TG_LIMIT_MAX ||
            budget->tokens_held + row->tokens > TG_LIMIT_MAX) {
            return tg__fail(err, TG_ERR_CORRUPT,
                            "stored holds on budget '%s' add up to more than %lld (at hold %llu)",
                            budget->path, (long long)TG_LIMIT_MAX, (unsigned long long)row->id);
        }
    }
    int32_t slot;
    tg_status status = tg__hold_slot_acquire(ledger, &slot, err);
    if (status != TG_OK) {
        return status;
    }
    tg__hold *hold = &ledger->holds[slot];
    hold->id = row->id;
    hold->budget = leaf;
    hold->cls = row->cls;
    hold->amount_micros = row->amount_micros;
    hold->tokens = row->tokens;
    hold->created_at_ms = row->created_at_ms;
    hold->expires_at_ms = row->expires_at_ms;
    memcpy(hold->tool, row->tool, sizeof hold->tool);
    memcpy(hold->model, row->model, sizeof hold->model);
    hold->tool[sizeof hold->tool - 1] = hold->model[sizeof hold->model - 1] = '\0';
    bool journal = ledger->options.journal;
    ledger->options.journal = false;
    tg__hold_open(ledger, slot);
    ledger->options.journal = journal;
    hold->cancel_requested = row->cancel_requested;
    if (row->id >= ledger->next_hold_id) {
        ledger->next_hold_id = row->id + 1;
    }
    return TG_OK;
}

/* ---- invariants ----------------------------------------------------------- */

tg_status tg__ledger_check(const tg__ledger *ledger, tg_error *err) {
    size_t held_size_bytes = ((size_t)ledger->budgets_capacity + 1) * 3 * sizeof(int64_t);
    int64_t *held = calloc(1, held_size_bytes);
    if (held == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory checking the ledger");
    }
    tg_status status = TG_OK;
    for (int32_t i = 0; i < ledger->holds_capacity; i++) {
        const tg__hold *hold = &ledger->holds[i];
        if (hold->id == 0) {
            continue;
        }
        for (int32_t s = hold->budget; s >= 0; s = ledger->budgets[s].parent) {
            held[3 * s] += hold->amount_micros;
            held[3 * s + 1] += 1;
            held[3 * s + 2] += hold->tokens;
        }
    }
    for (int32_t i = 0; i < ledger->budgets_capacity && status == TG_OK; i++) {
        const tg__budget *b = &ledger->budgets[i];
        if (!b->live) {
            continue;
        }
        if (b->held_micros != held[3 * i] || b->calls_held != held[3 * i + 1] ||
            b->tokens_held != held[3 * i + 2] || b->spent_micros < 0 || b->calls_used < 0 ||
            b->tokens_used < 0 || b->window_end_ms <= b->window_start_ms) {
            status = tg__fail(err, TG_ERR_CORRUPT,
                              "budget '%s': held %lld but its holds sum to %lld (or a negative "
                              "counter)",
                              b->path, (long long)b->held_micros, (long long)held[3 * i]);
        }
    }
    free(held);
    return status;
}
