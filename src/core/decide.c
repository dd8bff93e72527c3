/*
 * decide: reserve, commit, release and record. Reserve walks from the budget to
 * the root and holds the worst case on every budget, or refuses at the first
 * one that cannot take it and says why, how much would pass, and when to retry.
 * A budget whose spend an overrun took above its limit takes nothing at all
 * until spend is back within it; commits and forced records, which settle work
 * already done, are never refused for their amount (docs/ledger.md, "Overruns").
 *
 * Every operation validates and acquires what can fail (hold slots, index room,
 * idempotency room, overflow) before it changes anything, so a call that fails
 * changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "core/ledger_internal.h"

/* ---- deciding ------------------------------------------------------------ */

typedef struct {
    int64_t amount_micros;
    int64_t tokens;
    int cls;
} ask;

/* What a hold frees when it goes, in the dimension a refusal is about. */
typedef enum { FREES_CALLS, FREES_TOKENS, FREES_MICROS } frees;

static int compare_expiry(const void *a, const void *b) {
    int64_t x = ((const tg__expiring *)a)->at_ms, y = ((const tg__expiring *)b)->at_ms;
    return (x > y) - (x < y);
}

/*
 * The earliest time by which the open holds on `budget`'s subtree that have
 * expired by then free at least `needed`, the holds still open counted in full;
 * TG_NONE when all of them together free less. Not the first expiry: that hold
 * may be one of many, and a retry then would be refused again (docs/ledger.md).
 */
static int64_t enough_expired(const tg__ledger *ledger, int32_t budget, frees dimension,
                              int64_t needed) {
    if (ledger->budgets[budget].holds == 0) {
        return TG_NONE;
    }
    int32_t count = 0;
    for (int32_t i = 0; i < ledger->holds_live; i++) {
        const tg__hold *hold = &ledger->holds[ledger->heap[i]];
        if (tg__hold_on_path(ledger, hold, budget)) {
            int64_t amount = dimension == FREES_CALLS    ? 1
                             : dimension == FREES_TOKENS ? hold->tokens
                                                         : hold->amount_micros;
            ledger->expiring[count++] = (tg__expiring){hold->expires_at_ms, amount};
        }
    }
    /* Only on a refusal that holds could help, over the holds on one path. */
    qsort(ledger->expiring, (size_t)count, sizeof *ledger->expiring, compare_expiry);
    int64_t freed = 0;
    for (int32_t i = 0; i < count; i++) {
        freed += ledger->expiring[i].amount; /* each bounded by TG_LIMIT_MAX, as their sum */
        if (freed >= needed) {
            return ledger->expiring[i].at_ms;
        }
    }
    return TG_NONE;
}

/*
 * When could a retry succeed? `used` is spent, `held` is open holds, `level` the
 * limit the ask must pass. If the ask fits once holds go, when enough of them
 * have expired (or sooner, as some commit below their worst case); if it fits
 * only in a fresh window, or the window rolls first, when the window rolls;
 * otherwise never without a person (TG_NONE).
 */
static int64_t retry_after(const tg__ledger *ledger, int32_t slot, frees dimension, int64_t used,
                           int64_t held, int64_t asked, int64_t level, bool holds_matter,
                           int64_t now_ms) {
    const tg__budget *budget = &ledger->budgets[slot];
    int64_t at = TG_NONE;
    if (holds_matter && (__int128)used + asked <= level) {
        /* At most `held`, as the ask fits under the level with no holds at all. */
        int64_t needed = (int64_t)((__int128)used + held + asked - level);
        at = enough_expired(ledger, slot, dimension, needed);
    }
    if (asked <= level && budget->window_end_ms != INT64_MAX &&
        (at < 0 || budget->window_end_ms < at)) {
        at = budget->window_end_ms;
    }
    return at < 0 ? TG_NONE : (at - now_ms > 1 ? at - now_ms : 1);
}

/* Checks one budget; fills *refusal and returns false when it refuses. */
static bool budget_admits(const tg__ledger *ledger, int32_t slot, const ask *a, int64_t now_ms,
                          tg_refusal *refusal) {
    const tg__budget *b = &ledger->budgets[slot];
    int64_t never = TG_NONE;
    if (b->frozen) {
        *refusal = (tg_refusal){TG_REASON_FROZEN, "", 0, never};
    } else if (tg__budget_locked(b)) {
        /* Holds going away leave spend above the limit: only a new window (if the ask
         * fits the class there) or a person helps. */
        *refusal = (tg_refusal){TG_REASON_OVERRUN, "", 0,
                                retry_after(ledger, slot, FREES_MICROS, 0, 0, a->amount_micros,
                                            b->ceiling_micros[a->cls], false, now_ms)};
    } else if (b->spec->calls_limit >= 0 &&
               b->calls_used + b->calls_held + 1 > b->spec->calls_limit) {
        *refusal = (tg_refusal){TG_REASON_CALLS, "", 0,
                                retry_after(ledger, slot, FREES_CALLS, b->calls_used, b->calls_held,
                                            1, b->spec->calls_limit, true, now_ms)};
    } else if (b->spec->tokens_limit >= 0 &&
               (__int128)b->tokens_used + b->tokens_held + a->tokens > b->spec->tokens_limit) {
        *refusal =
            (tg_refusal){TG_REASON_TOKENS, "", 0,
                         retry_after(ledger, slot, FREES_TOKENS, b->tokens_used, b->tokens_held,
                                     a->tokens, b->spec->tokens_limit, true, now_ms)};
    } else if (b->spec->cost_limit_micros >= 0) {
        int64_t limit = b->spec->cost_limit_micros, ceiling = b->ceiling_micros[a->cls];
        /* 128-bit: spend and holds are bounded by TG_LIMIT_MAX each, so the sum cannot wrap. */
        __int128 total = (__int128)b->spent_micros + b->held_micros + a->amount_micros;
        bool revoked = (b->revoked & (1u << a->cls)) != 0;
        if (total <= limit && !revoked && total <= ceiling) {
            return true;
        }
        /*
         * Either way a retry of this class passes only under its own ceiling (which
         * is at most the limit), and a revoked class waits for the window whatever
         * the holds do.
         */
        *refusal =
            (tg_refusal){total > limit ? TG_REASON_CEILING : TG_REASON_REVOKED, "", 0,
                         retry_after(ledger, slot, FREES_MICROS, b->spent_micros, b->held_micros,
                                     a->amount_micros, ceiling, !revoked, now_ms)};
    } else {
        return true;
    }
    tg__copy_name(refusal->budget, sizeof refusal->budget, b->path);
    return false;
}

/* Walks the path from the leaf; false with *refusal at the first budget that refuses. */
static bool path_admits(tg__ledger *ledger, const int32_t *chain, int depth, const ask *a,
                        int64_t now_ms, tg_refusal *refusal) {
    for (int i = 0; i < depth; i++) {
        if (!budget_admits(ledger, chain[i], a, now_ms, refusal)) {
            if (refusal->reason == TG_REASON_CEILING || refusal->reason == TG_REASON_REVOKED) {
                /* The largest amount that passes the whole path, not only this budget. */
                int64_t room = tg__budget_headroom(ledger, chain[0], a->cls, a->tokens);
                refusal->max_amount_micros = room < 0 ? 0 : room;
            }
            return false;
        }
    }
    return true;
}

static void emit_denied(tg__ledger *ledger, const tg_refusal *refusal, const ask *a,
                        const char *tool, int64_t now_ms) {
    tg_event event;
    tg__event_init(&event, TG_EVENT_DENIED, now_ms, refusal->budget);
    event.cls = a->cls;
    event.reason = refusal->reason;
    event.amount_micros = a->amount_micros;
    int32_t slot = tg__budget_find(ledger, refusal->budget);
    if (slot >= 0) {
        event.spent_micros = ledger->budgets[slot].spent_micros;
        event.limit_micros = ledger->budgets[slot].spec->cost_limit_micros;
    }
    tg__copy_name(event.tool, sizeof event.tool, tool);
    tg__ledger_emit(ledger, &event);
}

/* Rejects amounts that would push a counter on the path past TG_LIMIT_MAX. */
static tg_status path_room(const tg__ledger *ledger, const int32_t *chain, int depth,
                           int64_t held_delta, int64_t spent_delta, int64_t tokens_delta,
                           tg_error *err) {
    for (int i = 0; i < depth; i++) {
        const tg__budget *b = &ledger->budgets[chain[i]];
        if ((__int128)b->held_micros + held_delta > TG_LIMIT_MAX ||
            (__int128)b->spent_micros + spent_delta > TG_LIMIT_MAX ||
            (__int128)b->tokens_used + b->tokens_held + tokens_delta > TG_LIMIT_MAX) {
            return tg__fail(err, TG_ERR_RANGE, "budget '%s' cannot count that much more", b->path);
        }
    }
    return TG_OK;
}

tg_status tg__amount_check(int64_t value, const char *what, int64_t max, tg_error *err) {
    if (value < 0) {
        return tg__fail(err, TG_ERR_INVALID, "%s may not be negative (got %lld)", what,
                        (long long)value);
    }
    if (value > max) {
        return tg__fail(err, TG_ERR_RANGE, "%s %lld is above the maximum of %lld", what,
                        (long long)value, (long long)max);
    }
    return TG_OK;
}

static tg_status name_check(const char *name, const char *what, tg_error *err) {
    if (name != NULL && strnlen(name, TG_NAME_SIZE_MAX) >= TG_NAME_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "%s name is longer than %d bytes", what,
                        TG_NAME_SIZE_MAX - 1);
    }
    return TG_OK;
}

/* Resolves the leaf budget and rolls every window on its path. */
static tg_status path_resolve(tg__ledger *ledger, const char *path, int64_t now_ms,
                              int32_t chain[TG_PATH_DEPTH_MAX], int *depth, tg_error *err) {
    tg_status status = tg__path_check(path, err);
    if (status != TG_OK) {
        return status;
    }
    int32_t leaf = tg__budget_find(ledger, path);
    if (leaf < 0 &&
        (status = tg__budget_from_template(ledger, path, now_ms, &leaf, err)) != TG_OK) {
        return status;
    }
    *depth = tg__budget_chain(ledger, leaf, chain);
    for (int i = 0; i < *depth; i++) {
        tg__budget_roll(ledger, &ledger->budgets[chain[i]], now_ms);
    }
    return TG_OK;
}

/* A running hash of an operation's arguments, to tell a repeat from a reuse of a key. */
typedef struct {
    uint64_t h;
} args_hash;

static void hash_bytes(args_hash *a, const void *data, size_t size) {
    a->h = tg__hash_u64(a->h ^ tg__hash_bytes(data, size));
}

static void hash_i64(args_hash *a, int64_t v) {
    hash_bytes(a, &v, sizeof v);
}

static void hash_str(args_hash *a, const char *s) {
    hash_bytes(a, s ? s : "", s ? strlen(s) + 1 : 1);
}

/* What reserve and record both name: tool, model, idempotency key and class. */
static tg_status labels_check(const char *tool, const char *model, const char *key, tg_class cls,
                              tg_error *err) {
    tg_status status;
    if ((status = name_check(tool, "tool", err)) != TG_OK ||
        (status = name_check(model, "model", err)) != TG_OK ||
        (status = tg__idem_check_key(key, err)) != TG_OK) {
        return status;
    }
    if ((unsigned)cls > TG_CLASS_AUTO) {
        return tg__fail(err, TG_ERR_INVALID, "unknown impact class %d", (int)cls);
    }
    return TG_OK;
}

static tg_status reserve_check(const tg__ledger *ledger, const tg_reserve_request *r,
                               tg_error *err) {
    tg_status status;
    if ((status = tg__amount_check(r->amount_micros, "amount", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens, "tokens", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->ttl_ms, "ttl_ms", ledger->options.max_hold_ttl_ms, err)) !=
            TG_OK ||
        (status = labels_check(r->tool, r->model, r->idempotency_key, r->cls, err)) != TG_OK) {
        return status;
    }
    return TG_OK;
}

static void reserve_answer(const tg__ledger *ledger, const tg__idem_row *row, int64_t asked,
                           tg_reserve_result *out) {
    memset(out, 0, sizeof *out);
    int32_t slot = tg__hold_find(ledger, row->hold_id);
    out->amount_micros = slot >= 0 ? ledger->holds[slot].amount_micros : asked;
    out->granted = true;
    out->hold_id = row->hold_id;
    out->expires_at_ms = row->expires_at_ms;
    out->cls = (tg_class)row->cls;
    out->replayed = true;
}

static tg_status remember(tg__ledger *ledger, const char *key, tg__op_kind op, uint64_t hash,
                          int64_t now_ms, tg__idem_row *row) {
    if (key == NULL || key[0] == '\0') {
        return TG_OK;
    }
    tg__copy_name(row->key, sizeof row->key, key);
    row->op = op;
    row->args_hash = hash;
    row->created_ms = now_ms;
    return tg__idem_remember(ledger, row);
}

/*
 * Shrink to fit (min_amount_micros): an ask refused (or above `cap`) becomes the largest
 * amount that passes the path now, at most `cap`, when that is at least the minimum;
 * false (and *refusal as it was) when none is. The refusal's max_amount_micros is that
 * amount by definition, so the shrunk ask is admitted by construction.
 */
static bool shrink_to_fit(tg__ledger *ledger, const int32_t *chain, int depth, ask *a,
                          int64_t min_micros, int64_t cap, int64_t now_ms, tg_refusal *refusal) {
    int64_t room = refusal->max_amount_micros < cap ? refusal->max_amount_micros : cap;
    if (min_micros <= 0 || room < min_micros || room >= a->amount_micros) {
        return false;
    }
    ask shrunk = *a;
    shrunk.amount_micros = room;
    tg_refusal again;
    if (!path_admits(ledger, chain, depth, &shrunk, now_ms, &again)) {
        return false;
    }
    *a = shrunk;
    return true;
}

tg_status tg__ledger_reserve(tg__ledger *ledger, const tg_reserve_request *r, int64_t now_ms,
                             tg_reserve_result *out, tg_error *err) {
    return tg__ledger_reserve_within(ledger, r, INT64_MAX, now_ms, out, err);
}

tg_status tg__ledger_reserve_within(tg__ledger *ledger, const tg_reserve_request *r, int64_t cap,
                                    int64_t now_ms, tg_reserve_result *out, tg_error *err) {
    tg_status status = reserve_check(ledger, r, err);
    if (status != TG_OK) {
        return status;
    }
    if (r->min_amount_micros < 0 || r->min_amount_micros > r->amount_micros) {
        return tg__fail(err, TG_ERR_INVALID,
                        "min_amount_micros must be between 0 and the amount (got %lld)",
                        (long long)r->min_amount_micros);
    }
    tg__holds_expire(ledger, now_ms);
    args_hash hash = {TG__OP_RESERVE};
    hash_str(&hash, r->budget), hash_i64(&hash, r->amount_micros), hash_i64(&hash, r->tokens);
    hash_i64(&hash, r->cls), hash_str(&hash, r->tool), hash_str(&hash, r->model);
    hash_i64(&hash, r->ttl_ms);
    if (r->min_amount_micros > 0) {
        hash_i64(&hash, r->min_amount_micros); /* only when set: older keys keep their hash */
    }
    const tg__idem_row *first = NULL;
    status =
        tg__idem_lookup(ledger, r->idempotency_key, TG__OP_RESERVE, hash.h, now_ms, &first, err);
    if (status != TG_OK || first != NULL) {
        if (first != NULL) {
            reserve_answer(ledger, first, r->amount_micros, out);
        }
        return status;
    }
    int32_t chain[TG_PATH_DEPTH_MAX];
    int depth = 0; /* set by path_resolve; 0 keeps a Release build's flow analysis quiet */
    if ((status = path_resolve(ledger, r->budget, now_ms, chain, &depth, err)) != TG_OK ||
        (status = path_room(ledger, chain, depth, r->amount_micros, 0, r->tokens, err)) != TG_OK) {
        return status;
    }
    tg__path_snapshot before;
    tg__path_before(ledger, chain, depth, &before);
    const char *tool = r->tool && r->tool[0] ? r->tool : r->model;
    ask a = {r->amount_micros, r->tokens,
             r->cls == TG_CLASS_AUTO
                 ? (int)tg__ledger_classify(ledger, r->budget, r->tool, r->model)
                 : (int)r->cls};
    tg_refusal refusal;
    bool admitted = path_admits(ledger, chain, depth, &a, now_ms, &refusal);
    if (admitted && a.amount_micros > cap) {
        /* Fits the ledger but not the room the caller left (waiters.c: elders' claims). */
        admitted = false;
        refusal = (tg_refusal){TG_REASON_CEILING, "", cap, TG_NONE};
        tg__copy_name(refusal.budget, sizeof refusal.budget, r->budget);
    }
    if (!admitted) {
        admitted =
            shrink_to_fit(ledger, chain, depth, &a, r->min_amount_micros, cap, now_ms, &refusal);
    }
    if (!admitted) {
        emit_denied(ledger, &refusal, &a, tool, now_ms);
        memset(out, 0, sizeof *out);
        out->cls = (tg_class)a.cls;
        out->refusal = refusal;
        return TG_OK;
    }
    int32_t slot;
    if ((status = tg__hold_slot_acquire(ledger, &slot, err)) != TG_OK ||
        (status = tg__idem_prepare(ledger, r->idempotency_key, err)) != TG_OK) {
        return status;
    }
    tg__hold *hold = &ledger->holds[slot];
    TG_VERIFY(tg__hold_find(ledger, ledger->next_hold_id) < 0); /* ids are taken once */
    hold->id = ledger->next_hold_id++;
    hold->budget = chain[0];
    hold->cls = a.cls;
    hold->amount_micros = a.amount_micros; /* the ask, or what it shrank to */
    hold->tokens = r->tokens;
    hold->created_at_ms = now_ms;
    int64_t ttl = r->ttl_ms > 0 ? r->ttl_ms : ledger->options.default_hold_ttl_ms;
    hold->expires_at_ms = now_ms > INT64_MAX - ttl ? INT64_MAX : now_ms + ttl;
    tg__copy_name(hold->tool, sizeof hold->tool, r->tool);
    tg__copy_name(hold->model, sizeof hold->model, r->model);
    tg__hold_open(ledger, slot);
    for (int i = 0; i < depth; i++) {
        tg__budget_mark(ledger, &ledger->budgets[chain[i]]);
    }
    tg__hold_verify_open(ledger, slot, chain, depth);
    TG_VERIFY(tg__hold_find(ledger, hold->id) == slot); /* commit and release find it */
    tg__path_after(ledger, chain, &before,
                   &(tg__path_counts){
                       .held_micros = a.amount_micros, .calls_held = 1, .tokens_held = r->tokens});
    tg__path_verify_granted(ledger, chain, depth, a.cls);
    tg__idem_row row = {.hold_id = hold->id, .expires_at_ms = hold->expires_at_ms, .cls = a.cls};
    TG_VERIFY(remember(ledger, r->idempotency_key, TG__OP_RESERVE, hash.h, now_ms, &row) == TG_OK);
    memset(out, 0, sizeof *out);
    out->granted = true;
    out->hold_id = row.hold_id;
    out->expires_at_ms = row.expires_at_ms;
    out->cls = (tg_class)a.cls;
    out->amount_micros = a.amount_micros;
    return TG_OK;
}

/* Charges `cost` on every budget of the path and writes the charge row; levels are
 * reported after the overrun (report_levels), so an admin reads cause before effect. */
static uint64_t charge_path(tg__ledger *ledger, const int32_t *chain, int depth,
                            const tg__charge_row *proto, int64_t now_ms) {
    for (int i = 0; i < depth; i++) {
        tg__budget *budget = &ledger->budgets[chain[i]];
        budget->spent_micros += proto->cost_micros;
        budget->calls_used += 1;
        budget->tokens_used += proto->tokens_in + proto->tokens_out;
        tg__budget_mark(ledger, budget);
    }
    uint64_t id = ledger->next_charge_id++;
    tg__charge_row *row = TG_JOURNAL_PUSH(ledger, charges);
    if (row != NULL) {
        *row = *proto;
        row->id = id;
        row->time_ms = now_ms;
    }
    return id;
}

/* Alerts, and revocations: every class on a budget a charge left above its limit. */
static void report_levels(tg__ledger *ledger, const int32_t *chain, int depth, int64_t now_ms) {
    for (int i = 0; i < depth; i++) {
        tg__budget_check_levels(ledger, chain[i], now_ms);
    }
}

/* How a charge passed its hold: not at all, charged in full, or capped at the hold. */
typedef enum { WITHIN_HOLD, ABOVE_HOLD_CHARGED, ABOVE_HOLD_CAPPED } hold_passed;

/*
 * One overrun event for a charge that went above its hold or left a budget of
 * its path above its limit (a forced record, a commit of a hold granted before
 * an admin lowered the limit), naming the first budget from the leaf up that is
 * above its limit, or the leaf when only the hold was passed. `claimed_micros`
 * is the actual cost given, which a capped commit did not charge in full.
 */
static void report_overrun(tg__ledger *ledger, const int32_t *chain, int depth,
                           const tg__charge_row *charge, hold_passed above, int64_t claimed_micros,
                           int64_t now_ms) {
    const tg__budget *named = above != WITHIN_HOLD ? &ledger->budgets[chain[0]] : NULL;
    for (int i = 0; i < depth; i++) {
        const tg__budget *b = &ledger->budgets[chain[i]];
        if (tg__budget_locked(b)) {
            named = b;
            break;
        }
    }
    if (named == NULL) {
        return;
    }
    tg_event event;
    tg__event_init(&event, TG_EVENT_OVERRUN, now_ms, named->path);
    event.cls = charge->cls;
    event.hold_id = charge->hold_id;
    event.amount_micros = claimed_micros;
    event.held_micros = charge->held_micros;
    event.spent_micros = named->spent_micros;
    event.limit_micros = named->spec->cost_limit_micros;
    tg__copy_name(event.tool, sizeof event.tool, charge->tool[0] ? charge->tool : charge->model);
    tg__copy_name(event.detail, sizeof event.detail, above == ABOVE_HOLD_CAPPED ? "capped" : "");
    tg__ledger_emit(ledger, &event);
}

/* Does a budget of the path cap an agent's commit above its hold (above_hold: cap)? */
static bool path_caps(const tg__ledger *ledger, const int32_t *chain, int depth) {
    for (int i = 0; i < depth; i++) {
        if (ledger->budgets[chain[i]].spec->above_hold == TG_ABOVE_HOLD_CAP) {
            return true;
        }
    }
    return false;
}

static void commit_answer(const tg__idem_row *row, tg_commit_result *out) {
    memset(out, 0, sizeof *out);
    out->charged_micros = row->charged_micros;
    out->overrun_micros = row->overrun_micros;
    out->charge_id = row->charge_id;
    out->capped = row->capped;
}

tg_status tg__ledger_commit(tg__ledger *ledger, const tg_commit_request *r, int64_t now_ms,
                            tg_commit_result *out, tg_error *err) {
    tg_status status;
    if ((status = tg__amount_check(r->actual_micros, "actual cost", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens_in, "tokens_in", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens_out, "tokens_out", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__idem_check_key(r->idempotency_key, err)) != TG_OK) {
        return status;
    }
    tg__holds_expire(ledger, now_ms);
    args_hash hash = {TG__OP_COMMIT};
    hash_i64(&hash, (int64_t)r->hold_id), hash_i64(&hash, r->actual_micros);
    hash_i64(&hash, r->tokens_in), hash_i64(&hash, r->tokens_out);
    if (r->agent_reported) {
        hash_i64(&hash, 1); /* only when set: keys remembered before the flag keep their hash */
    }
    const tg__idem_row *first = NULL;
    status =
        tg__idem_lookup(ledger, r->idempotency_key, TG__OP_COMMIT, hash.h, now_ms, &first, err);
    if (status != TG_OK || first != NULL) {
        if (first != NULL) {
            commit_answer(first, out);
            out->replayed = true;
        }
        return status;
    }
    int32_t slot = tg__hold_find(ledger, r->hold_id);
    if (slot < 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND,
                        "hold %llu is not open (never made, or already committed, released or "
                        "expired)",
                        (unsigned long long)r->hold_id);
    }
    const tg__hold *hold = &ledger->holds[slot];
    int32_t chain[TG_PATH_DEPTH_MAX];
    int depth = tg__budget_chain(ledger, hold->budget, chain);
    for (int i = 0; i < depth; i++) {
        tg__budget_roll(ledger, &ledger->budgets[chain[i]], now_ms);
    }
    tg__hold_verify_open(ledger, slot, chain, depth);
    tg__path_snapshot before;
    tg__path_before(ledger, chain, depth, &before);
    if ((status = path_room(ledger, chain, depth, 0, r->actual_micros, r->tokens_in + r->tokens_out,
                            err)) != TG_OK ||
        (status = tg__idem_prepare(ledger, r->idempotency_key, err)) != TG_OK) {
        return status;
    }
    int64_t held = hold->amount_micros, held_tokens = hold->tokens;
    hold_passed above = r->actual_micros <= held                               ? WITHIN_HOLD
                        : r->agent_reported && path_caps(ledger, chain, depth) ? ABOVE_HOLD_CAPPED
                                                                               : ABOVE_HOLD_CHARGED;
    tg__charge_row charge = {.hold_id = hold->id,
                             .cls = hold->cls,
                             .tokens_in = r->tokens_in,
                             .tokens_out = r->tokens_out,
                             .cost_micros = above == ABOVE_HOLD_CAPPED ? held : r->actual_micros,
                             .held_micros = held};
    tg__copy_name(charge.budget, sizeof charge.budget, ledger->budgets[hold->budget].path);
    memcpy(charge.tool, hold->tool, sizeof charge.tool);
    memcpy(charge.model, hold->model, sizeof charge.model);
    tg__hold_close(ledger, slot);
    tg__settle_note(ledger, held, charge.cost_micros);
    tg__idem_row row = {.charged_micros = charge.cost_micros,
                        .overrun_micros = above == WITHIN_HOLD ? 0 : r->actual_micros - held,
                        .capped = above == ABOVE_HOLD_CAPPED};
    row.charge_id = charge_path(ledger, chain, depth, &charge, now_ms);
    tg__path_after(ledger, chain, &before,
                   &(tg__path_counts){.spent_micros = charge.cost_micros,
                                      .held_micros = -held,
                                      .calls_used = 1,
                                      .calls_held = -1,
                                      .tokens_used = r->tokens_in + r->tokens_out,
                                      .tokens_held = -held_tokens});
    report_overrun(ledger, chain, depth, &charge, above, r->actual_micros, now_ms);
    report_levels(ledger, chain, depth, now_ms);
    TG_VERIFY(remember(ledger, r->idempotency_key, TG__OP_COMMIT, hash.h, now_ms, &row) == TG_OK);
    commit_answer(&row, out);
    return TG_OK;
}

tg_status tg__ledger_release(tg__ledger *ledger, uint64_t hold_id, const char *key, int64_t now_ms,
                             bool *replayed_out, tg_error *err) {
    tg_status status = tg__idem_check_key(key, err);
    if (status != TG_OK) {
        return status;
    }
    tg__holds_expire(ledger, now_ms);
    args_hash hash = {TG__OP_RELEASE};
    hash_i64(&hash, (int64_t)hold_id);
    const tg__idem_row *first = NULL;
    status = tg__idem_lookup(ledger, key, TG__OP_RELEASE, hash.h, now_ms, &first, err);
    if (status != TG_OK || first != NULL) {
        if (first != NULL && replayed_out != NULL) {
            *replayed_out = true;
        }
        return status;
    }
    int32_t slot = tg__hold_find(ledger, hold_id);
    if (slot < 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND,
                        "hold %llu is not open (never made, or already committed, released or "
                        "expired)",
                        (unsigned long long)hold_id);
    }
    if ((status = tg__idem_prepare(ledger, key, err)) != TG_OK) {
        return status;
    }
    int32_t chain[TG_PATH_DEPTH_MAX];
    int depth = tg__budget_chain(ledger, ledger->holds[slot].budget, chain);
    tg__hold_verify_open(ledger, slot, chain, depth);
    tg__path_snapshot before;
    tg__path_before(ledger, chain, depth, &before);
    tg__path_counts delta = {.held_micros = -ledger->holds[slot].amount_micros,
                             .calls_held = -1,
                             .tokens_held = -ledger->holds[slot].tokens};
    tg__settle_note(ledger, ledger->holds[slot].amount_micros, 0);
    tg__hold_close(ledger, slot);
    for (int i = 0; i < depth; i++) {
        tg__budget_mark(ledger, &ledger->budgets[chain[i]]);
    }
    tg__path_after(ledger, chain, &before, &delta);
    tg__idem_row row = {0};
    TG_VERIFY(remember(ledger, key, TG__OP_RELEASE, hash.h, now_ms, &row) == TG_OK);
    if (replayed_out != NULL) {
        *replayed_out = false;
    }
    return TG_OK;
}

static tg_status record_check(const tg_record_request *r, tg_error *err) {
    tg_status status;
    if ((status = tg__amount_check(r->cost_micros, "cost", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens_in, "tokens_in", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens_out, "tokens_out", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = labels_check(r->tool, r->model, r->idempotency_key, r->cls, err)) != TG_OK) {
        return status;
    }
    return TG_OK;
}

tg_status tg__ledger_record(tg__ledger *ledger, const tg_record_request *r, int64_t now_ms,
                            tg_record_result *out, tg_error *err) {
    tg_status status = record_check(r, err);
    if (status != TG_OK) {
        return status;
    }
    tg__holds_expire(ledger, now_ms);
    args_hash hash = {TG__OP_RECORD};
    hash_str(&hash, r->budget), hash_i64(&hash, r->cost_micros), hash_i64(&hash, r->tokens_in);
    hash_i64(&hash, r->tokens_out), hash_i64(&hash, r->cls), hash_str(&hash, r->tool);
    hash_str(&hash, r->model), hash_i64(&hash, r->force);
    const tg__idem_row *first = NULL;
    status =
        tg__idem_lookup(ledger, r->idempotency_key, TG__OP_RECORD, hash.h, now_ms, &first, err);
    if (status != TG_OK || first != NULL) {
        if (first != NULL) {
            memset(out, 0, sizeof *out);
            out->charged = true;
            out->charge_id = first->charge_id;
            out->replayed = true;
        }
        return status;
    }
    int32_t chain[TG_PATH_DEPTH_MAX];
    int depth = 0; /* set by path_resolve; 0 keeps a Release build's flow analysis quiet */
    int64_t tokens = r->tokens_in + r->tokens_out;
    if ((status = path_resolve(ledger, r->budget, now_ms, chain, &depth, err)) != TG_OK ||
        (status = path_room(ledger, chain, depth, 0, r->cost_micros, tokens, err)) != TG_OK) {
        return status;
    }
    tg__path_snapshot before;
    tg__path_before(ledger, chain, depth, &before);
    ask a = {r->cost_micros, tokens,
             r->cls == TG_CLASS_AUTO
                 ? (int)tg__ledger_classify(ledger, r->budget, r->tool, r->model)
                 : (int)r->cls};
    tg_refusal refusal;
    if (!r->force && !path_admits(ledger, chain, depth, &a, now_ms, &refusal)) {
        emit_denied(ledger, &refusal, &a, r->tool && r->tool[0] ? r->tool : r->model, now_ms);
        memset(out, 0, sizeof *out);
        out->refusal = refusal;
        return TG_OK;
    }
    if ((status = tg__idem_prepare(ledger, r->idempotency_key, err)) != TG_OK) {
        return status;
    }
    tg__charge_row charge = {.cls = a.cls,
                             .tokens_in = r->tokens_in,
                             .tokens_out = r->tokens_out,
                             .cost_micros = r->cost_micros};
    tg__copy_name(charge.budget, sizeof charge.budget, ledger->budgets[chain[0]].path);
    tg__copy_name(charge.tool, sizeof charge.tool, r->tool);
    tg__copy_name(charge.model, sizeof charge.model, r->model);
    tg__idem_row row = {.charged_micros = r->cost_micros};
    row.charge_id = charge_path(ledger, chain, depth, &charge, now_ms);
    tg__path_after(
        ledger, chain, &before,
        &(tg__path_counts){.spent_micros = r->cost_micros, .calls_used = 1, .tokens_used = tokens});
    report_overrun(ledger, chain, depth, &charge, WITHIN_HOLD, r->cost_micros, now_ms);
    report_levels(ledger, chain, depth, now_ms);
    TG_VERIFY(remember(ledger, r->idempotency_key, TG__OP_RECORD, hash.h, now_ms, &row) == TG_OK);
    memset(out, 0, sizeof *out);
    out->charged = true;
    out->charge_id = row.charge_id;
    return TG_OK;
}

tg_status tg__ledger_hold_get(tg__ledger *ledger, uint64_t hold_id, tg_hold_info *out,
                              tg_error *err) {
    int32_t slot = tg__hold_find(ledger, hold_id);
    if (slot < 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "hold %llu is not open",
                        (unsigned long long)hold_id);
    }
    const tg__hold *hold = &ledger->holds[slot];
    memset(out, 0, sizeof *out);
    out->id = hold->id;
    tg__copy_name(out->budget, sizeof out->budget, ledger->budgets[hold->budget].path);
    out->amount_micros = hold->amount_micros;
    out->tokens = hold->tokens;
    out->cls = (tg_class)hold->cls;
    memcpy(out->tool, hold->tool, sizeof out->tool);
    memcpy(out->model, hold->model, sizeof out->model);
    out->created_at_ms = hold->created_at_ms;
    out->expires_at_ms = hold->expires_at_ms;
    out->cancel_requested = hold->cancel_requested;
    return TG_OK;
}
