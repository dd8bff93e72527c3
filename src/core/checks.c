/*
 * checks: the pre- and post-conditions of the four ledger mutations (reserve,
 * commit, release, record), on in release builds like every TG_VERIFY.
 *
 * Each mutation touches only the budgets of one path, so each check costs
 * O(path length): counters in range before; after, every budget of the path
 * moved by exactly what the operation says (the incremental form of "held is
 * the sum of the open holds, spent the sum of the window's charges", which
 * tg__ledger_check verifies in full, O(budgets + holds), when a test asks), a
 * granted hold within every limit of its path, and ids handed out once.
 * A failure is a bug in the ledger, never bad input (that was refused
 * before), so it stops the process: a broken ledger must not keep spending.
 */
#include "core/ledger_internal.h"

/* One budget's counters must be in range whatever happened before. */
static void budget_verify(const tg__budget *b) {
    TG_VERIFY(b->live);
    TG_VERIFY(b->spent_micros >= 0 && b->calls_used >= 0 && b->tokens_used >= 0);
    TG_VERIFY(b->held_micros >= 0 && b->calls_held >= 0 && b->tokens_held >= 0 && b->holds >= 0);
    TG_VERIFY(b->held_micros <= TG_LIMIT_MAX && b->tokens_held <= TG_LIMIT_MAX);
    /* Every open hold on the budget is counted in it. */
    TG_VERIFY(b->calls_held == b->holds && (b->holds > 0 || b->held_micros == 0));
}

void tg__path_before(const tg__ledger *ledger, const int32_t *chain, int depth,
                     tg__path_snapshot *out) {
    TG_VERIFY(depth >= 1 && depth <= TG_PATH_DEPTH_MAX);
    out->depth = depth;
    out->holds_live = ledger->holds_live;
    out->next_hold_id = ledger->next_hold_id;
    out->next_charge_id = ledger->next_charge_id;
    for (int i = 0; i < depth; i++) {
        const tg__budget *b = &ledger->budgets[chain[i]];
        budget_verify(b);
        TG_VERIFY(i + 1 == depth ? b->parent < 0 : b->parent == chain[i + 1]);
        out->counts[i] = (tg__path_counts){b->spent_micros, b->held_micros, b->calls_used,
                                           b->calls_held,   b->tokens_used, b->tokens_held};
    }
}

void tg__hold_verify_open(const tg__ledger *ledger, int32_t slot, const int32_t *chain, int depth) {
    const tg__hold *hold = &ledger->holds[slot];
    TG_VERIFY(hold->id != 0 && hold->id < ledger->next_hold_id);
    TG_VERIFY(hold->budget == chain[0] && ledger->holds_live > 0);
    /* An open hold is counted on every budget of its path. */
    for (int i = 0; i < depth; i++) {
        const tg__budget *b = &ledger->budgets[chain[i]];
        TG_VERIFY(b->holds >= 1 && b->held_micros >= hold->amount_micros &&
                  b->tokens_held >= hold->tokens);
    }
}

void tg__path_after(const tg__ledger *ledger, const int32_t *chain, const tg__path_snapshot *before,
                    const tg__path_counts *delta) {
    for (int i = 0; i < before->depth; i++) {
        const tg__budget *b = &ledger->budgets[chain[i]];
        const tg__path_counts *was = &before->counts[i];
        budget_verify(b);
        TG_VERIFY(b->spent_micros == was->spent_micros + delta->spent_micros &&
                  b->held_micros == was->held_micros + delta->held_micros);
        TG_VERIFY(b->calls_used == was->calls_used + delta->calls_used &&
                  b->calls_held == was->calls_held + delta->calls_held);
        TG_VERIFY(b->tokens_used == was->tokens_used + delta->tokens_used &&
                  b->tokens_held == was->tokens_held + delta->tokens_held);
    }
    /* Ids are counters: a new hold or charge took the next one, so none repeats. */
    int64_t holds_opened = delta->calls_held;
    int64_t charges_made = delta->calls_used;
    TG_VERIFY(ledger->holds_live == before->holds_live + holds_opened);
    TG_VERIFY(ledger->next_hold_id == before->next_hold_id + (holds_opened > 0 ? 1 : 0));
    TG_VERIFY(ledger->next_charge_id == before->next_charge_id + (uint64_t)charges_made);
}

void tg__path_verify_granted(const tg__ledger *ledger, const int32_t *chain, int depth, int cls) {
    for (int i = 0; i < depth; i++) {
        const tg__budget *b = &ledger->budgets[chain[i]];
        const tg_budget_spec *spec = b->spec;
        /* 128-bit: each counter is bounded by TG_LIMIT_MAX, so the sums cannot wrap. */
        __int128 cost = (__int128)b->spent_micros + b->held_micros;
        TG_VERIFY(!b->frozen);
        TG_VERIFY(spec->cost_limit_micros < 0 ||
                  (cost <= spec->cost_limit_micros &&
                   (b->ceiling_micros[cls] < 0 || cost <= b->ceiling_micros[cls])));
        TG_VERIFY(spec->calls_limit < 0 || b->calls_used + b->calls_held <= spec->calls_limit);
        TG_VERIFY(spec->tokens_limit < 0 ||
                  (__int128)b->tokens_used + b->tokens_held <= spec->tokens_limit);
    }
}
