/*
 * waiters: the queue of reserves that wait for room (see waiters.h). Why a queue
 * and not advice: an agent refused today can only guess when to come back, since
 * retry_after_ms cannot know which open holds will commit below their worst case.
 * A waiter is told the moment the money is there instead.
 *
 * Fairness is first come first served per budget, by claims: walking the queue
 * oldest first, a waiter that does not fit claims its amount on every budget of its
 * path, and a younger waiter fits only in the room left after the claims of its
 * elders. So the money a commit frees on a budget goes to the oldest waiter that
 * needs it, even if a younger small one would fit first; the small one gets only what
 * the elders cannot use. A waiter refused for something money does not cure (calls,
 * tokens, a frozen or locked budget) closes that budget to younger waiters instead.
 * Each waiter node carries its own decision, so deciding never allocates (a grant
 * cannot be lost to OOM between the ledger and the caller).
 */
#include <stdlib.h>
#include <string.h>

#include "core/ledger_internal.h"
#include "core/waiters.h"

typedef struct waiter {
    struct waiter *prev, *next; /* the wait list (arrival order) or the done list */
    tg_wait_info info;          /* id, budget, ask, times, blocked_at */
    char key[TG_KEY_SIZE_MAX];  /* idempotency key, "" for none */
    bool has_tool, has_model;   /* NULL and "" differ for the policy */
    bool likely;                /* wait_likely: waits only while room is likely to come */
    int64_t ttl_ms;
    tg_reason blocked_reason; /* why it waits at info.blocked_at */
    tg_wait_result result;    /* filled when decided */
} waiter;

typedef struct {
    waiter *head, *tail;
} waiter_list;

/* What the waiters walked so far in one pass ask of a budget. */
typedef struct {
    uint32_t generation;    /* stale marks read as empty */
    bool closed;            /* an elder waits here for something money does not cure */
    int64_t claimed_micros; /* elders' amounts on this budget */
    int64_t until_ms;       /* the latest deadline of those elders */
} mark;

struct tg__waiters {
    int64_t waiters_max;    /* waiting + decided not yet taken */
    int64_t per_budget_max; /* waiting on one leaf budget */
    void (*on_ready)(void *user);
    void *user;
    waiter_list waiting; /* oldest first */
    waiter_list done;    /* decisions not yet taken, oldest first */
    waiter_list slots;   /* requests waiting for a person (approvals), never pumped */
    int64_t waiting_count;
    int64_t done_count;
    int64_t slots_count;
    uint64_t next_id;
    mark *marks; /* per budget slot; sized to the ledger's budget table */
    int32_t marks_capacity;
    uint32_t generation; /* the current pump's marks */
};

tg__waiters *tg__waiters_new(int64_t waiters_max, int64_t per_budget_max,
                             void (*on_ready)(void *user), void *user) {
    tg__waiters *waiters = calloc(1, sizeof *waiters);
    if (waiters != NULL) {
        waiters->waiters_max = waiters_max;
        waiters->per_budget_max = per_budget_max;
        waiters->on_ready = on_ready;
        waiters->user = user;
        waiters->next_id = 1;
    }
    return waiters;
}

static void list_free(waiter_list *list) {
    while (list->head != NULL) {
        waiter *next = list->head->next;
        free(list->head);
        list->head = next;
    }
    list->tail = NULL;
}

void tg__waiters_free(tg__waiters *waiters) {
    if (waiters == NULL) {
        return;
    }
    list_free(&waiters->waiting);
    list_free(&waiters->done);
    list_free(&waiters->slots);
    free(waiters->marks);
    free(waiters);
}

static void list_append(waiter_list *list, waiter *w) {
    w->next = NULL;
    w->prev = list->tail;
    if (list->tail != NULL) {
        list->tail->next = w;
    } else {
        list->head = w;
    }
    list->tail = w;
}

static void list_unlink(waiter_list *list, waiter *w) {
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        list->head = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    } else {
        list->tail = w->prev;
    }
    w->prev = w->next = NULL;
}

/* ---- what fits, and what could ------------------------------------------------------ */

/* Would budget `b` take the ask now, after `claimed` for elders? TG_REASON_NONE if so. */
static tg_reason budget_refuses(const tg__budget *b, int cls, int64_t amount, int64_t tokens,
                                int64_t claimed) {
    if (b->frozen) {
        return TG_REASON_FROZEN;
    }
    if (tg__budget_locked(b)) {
        return TG_REASON_OVERRUN;
    }
    if (b->spec->calls_limit >= 0 && b->calls_used + b->calls_held + 1 > b->spec->calls_limit) {
        return TG_REASON_CALLS;
    }
    if (b->spec->tokens_limit >= 0 &&
        (__int128)b->tokens_used + b->tokens_held + tokens > b->spec->tokens_limit) {
        return TG_REASON_TOKENS;
    }
    if (b->spec->cost_limit_micros >= 0) {
        __int128 total = (__int128)b->spent_micros + b->held_micros + claimed + amount;
        if (total > b->spec->cost_limit_micros) {
            return TG_REASON_CEILING;
        }
        if ((b->revoked & (1u << cls)) != 0 || total > b->ceiling_micros[cls]) {
            return TG_REASON_REVOKED;
        }
    }
    return TG_REASON_NONE;
}

/*
 * Could budget `b` take the ask by `deadline_ms`, after `claimed` for elders? Yes when
 * it takes it now; when open holds on it could make room in every dimension that
 * refuses (all of them, as the request asked to wait; with `likely` (wait_likely) only
 * the share of a hold that usually does not commit, settle.c: a live agent commits most
 * of it); or when its window rolls by then and the ask fits a fresh window. A frozen
 * budget waits for a person: no. A request that would wait in vain is refused at once
 * with its advice (shrink, or nothing).
 */
/* Can work of a class above `cls` spend past `cls`'s ceiling on `b` (revoke_at below the
 * limit keeps the rest for critical work)? Then it overtakes a waiter of class `cls`. */
static bool overtaken(const tg__budget *b, int cls) {
    int64_t own = b->ceiling_micros[cls];
    if (own < 0) {
        return false;
    }
    for (int c = cls + 1; c < TG_CLASS_COUNT; c++) {
        if (b->ceiling_micros[c] < 0 || b->ceiling_micros[c] > own) {
            return true;
        }
    }
    return false;
}

static bool budget_could(const tg__ledger *ledger, const tg__budget *b, int cls, int64_t amount,
                         int64_t tokens, int64_t deadline_ms, int64_t claimed, bool likely) {
    if (budget_refuses(b, cls, amount, tokens, claimed) == TG_REASON_NONE) {
        return true;
    }
    if (b->frozen) {
        return false;
    }
    int64_t ceiling = b->ceiling_micros[cls];
    bool fresh_fits = (b->spec->calls_limit < 0 || b->spec->calls_limit >= 1) &&
                      (b->spec->tokens_limit < 0 || tokens <= b->spec->tokens_limit) &&
                      (b->spec->cost_limit_micros < 0 || (ceiling < 0 || amount <= ceiling));
    if (fresh_fits && b->window_end_ms != INT64_MAX && b->window_end_ms <= deadline_ms) {
        return true;
    }
    if (tg__budget_locked(b) || b->holds == 0) {
        return false; /* spend is above the limit, or nothing is held to free */
    }
    bool calls_ok = b->spec->calls_limit < 0 || b->calls_used + 1 <= b->spec->calls_limit;
    bool tokens_ok =
        b->spec->tokens_limit < 0 || (__int128)b->tokens_used + tokens <= b->spec->tokens_limit;
    /* The holds settled: what they are likely to leave as spend, the elders' claims,
     * and the ask, under the limit and the class's ceiling. */
    int64_t freed = likely ? tg__settle_likely_free(ledger, b->held_micros) : b->held_micros;
    __int128 after = (__int128)b->spent_micros + b->held_micros - freed + claimed + amount;
    if (likely && overtaken(b, cls)) {
        /* Work of a class that may spend past this one's ceiling does not queue behind
         * the waiter, and in the time the open holds settle about as much new work
         * arrives as is open now (Little's law): count it, at the share that commits,
         * or a class about to be revoked sends its waiters to wait in vain. */
        after += b->held_micros - freed;
    }
    bool cost_ok = b->spec->cost_limit_micros < 0 ||
                   ((b->revoked & (1u << cls)) == 0 && after <= b->spec->cost_limit_micros &&
                    (ceiling < 0 || after <= ceiling));
    return calls_ok && tokens_ok && cost_ok;
}

/* The mark of a budget slot in this pass (defined below); NULL past the marks. */
static mark *mark_of(tg__waiters *waiters, int32_t slot);

static bool path_could(tg__waiters *waiters, const tg__ledger *ledger, const int32_t *chain,
                       int depth, const waiter *w) {
    for (int i = 0; i < depth; i++) {
        const mark *m = mark_of(waiters, chain[i]);
        if (!budget_could(ledger, &ledger->budgets[chain[i]], (int)w->info.cls,
                          w->info.amount_micros, w->info.tokens, w->info.deadline_ms,
                          m != NULL ? m->claimed_micros : 0, w->likely)) {
            return false;
        }
    }
    return true;
}

/* The largest amount of class `cls` that fits the path now after the elders' claims
 * (at most `max`): a shrink to it is granted at once, not queued behind them. */
static int64_t room_after_claims(tg__waiters *waiters, const tg__ledger *ledger,
                                 const int32_t *chain, int depth, int cls, int64_t max) {
    for (int i = 0; i < depth; i++) {
        const tg__budget *b = &ledger->budgets[chain[i]];
        const mark *m = mark_of(waiters, chain[i]);
        if (b->spec->cost_limit_micros < 0) {
            continue;
        }
        int64_t level = b->spec->cost_limit_micros;
        if (b->ceiling_micros[cls] >= 0 && b->ceiling_micros[cls] < level) {
            level = b->ceiling_micros[cls];
        }
        __int128 room = (__int128)level - b->spent_micros - b->held_micros -
                        (m != NULL ? m->claimed_micros : 0);
        max = room < max ? (room < 0 ? 0 : (int64_t)room) : max;
    }
    return max;
}

/* The leaf's path with every window rolled to now_ms; depth 0 when the budget is gone. */
static int path_of(tg__ledger *ledger, const char *budget, int64_t now_ms,
                   int32_t chain[TG_PATH_DEPTH_MAX]) {
    int32_t leaf = tg__budget_find(ledger, budget);
    if (leaf < 0) {
        return 0;
    }
    int depth = tg__budget_chain(ledger, leaf, chain);
    for (int i = 0; i < depth; i++) {
        tg__budget_roll(ledger, &ledger->budgets[chain[i]], now_ms);
    }
    return depth;
}

/* ---- deciding ----------------------------------------------------------------------- */

static tg_reserve_request request_of(const waiter *w) {
    return (tg_reserve_request){.budget = w->info.budget,
                                .amount_micros = w->info.amount_micros,
                                .tokens = w->info.tokens,
                                .cls = w->info.cls,
                                .tool = w->has_tool ? w->info.tool : NULL,
                                .model = w->has_model ? w->info.model : NULL,
                                .ttl_ms = w->ttl_ms,
                                .idempotency_key = w->key[0] ? w->key : NULL,
                                .wait_likely = w->likely};
}

/* Moves a waiter to the done list with its decision, and tells the owner. */
static void finish(tg__waiters *waiters, waiter *w, tg_status status, const tg_reserve_result *out,
                   const tg_error *err, int64_t now_ms) {
    list_unlink(&waiters->waiting, w);
    waiters->waiting_count--;
    memset(&w->result, 0, sizeof w->result);
    w->result.wait_id = w->info.wait_id;
    w->result.status = status;
    if (out != NULL) {
        w->result.result = *out;
    }
    w->result.result.cls = w->info.cls;
    w->result.waited_ms = now_ms > w->info.created_at_ms ? now_ms - w->info.created_at_ms : 0;
    if (status != TG_OK && err != NULL) {
        memcpy(w->result.message, err->message, sizeof w->result.message);
    }
    list_append(&waiters->done, w);
    waiters->done_count++;
    if (waiters->on_ready != NULL) {
        waiters->on_ready(waiters->user);
    }
}

/*
 * A refusal's wait advice once the waiters judged that waiting is unlikely to help:
 * the ledger's own retry_after_ms counts open holds as money about to free (it cannot
 * know they will commit), so only a window roll is kept; advice from holds is dropped
 * (TG_NONE), as a retry then would be refused again (settle.c).
 */
static void keep_window_advice(const tg__ledger *ledger, tg_refusal *refusal, int64_t now_ms) {
    int32_t slot = tg__budget_find(ledger, refusal->budget);
    if (refusal->retry_after_ms == TG_NONE || slot < 0) {
        return;
    }
    int64_t end = ledger->budgets[slot].window_end_ms;
    if (end == INT64_MAX || now_ms + refusal->retry_after_ms < end) {
        refusal->retry_after_ms = TG_NONE;
    }
}

/* Grants or refuses through the ledger's own reserve, so every rule, check, journal row
 * and event is the ordinary one. `hopeless`: it was judged unable to fit by its deadline,
 * so a refusal's wait advice is the window's only. */
static void decide(tg__waiters *waiters, tg__ledger *ledger, waiter *w, int64_t now_ms,
                   bool hopeless) {
    tg_reserve_request request = request_of(w);
    tg_reserve_result out;
    tg_error err = {0};
    tg_status status = tg__ledger_reserve(ledger, &request, now_ms, &out, &err);
    if (status == TG_OK && !out.granted && hopeless) {
        keep_window_advice(ledger, &out.refusal, now_ms);
    }
    finish(waiters, w, status, status == TG_OK ? &out : NULL, &err, now_ms);
}

/* Sizes the marks to the budget table; false on OOM (the pump then keeps strict order). */
static bool marks_fit(tg__waiters *waiters, const tg__ledger *ledger) {
    if (waiters->marks_capacity >= ledger->budgets_capacity) {
        return true;
    }
    mark *grown = realloc(waiters->marks, (size_t)ledger->budgets_capacity * sizeof *grown);
    if (grown == NULL) {
        return false;
    }
    memset(grown + waiters->marks_capacity, 0,
           (size_t)(ledger->budgets_capacity - waiters->marks_capacity) * sizeof *grown);
    waiters->marks = grown;
    waiters->marks_capacity = ledger->budgets_capacity;
    return true;
}

/* The mark of a budget slot in this pass; NULL past the marks (no room to keep them). */
static mark *mark_of(tg__waiters *waiters, int32_t slot) {
    if (slot < 0 || slot >= waiters->marks_capacity) {
        return NULL;
    }
    mark *m = &waiters->marks[slot];
    if (m->generation != waiters->generation) {
        *m = (mark){.generation = waiters->generation};
    }
    return m;
}

/* A waiter that keeps waiting: its amount is claimed on every budget of its path, and
 * a budget refusing it for what money does not cure is closed to younger waiters. */
static void claim(tg__waiters *waiters, const waiter *w, const int32_t *chain, int depth,
                  int32_t refused_at, tg_reason reason) {
    for (int i = 0; i < depth; i++) {
        mark *m = mark_of(waiters, chain[i]);
        if (m == NULL) {
            continue;
        }
        m->claimed_micros += w->info.amount_micros; /* each <= TG_AMOUNT_MAX, at most
                                                       TG_WAITERS_MAX of them */
        m->until_ms = w->info.deadline_ms > m->until_ms ? w->info.deadline_ms : m->until_ms;
        if (chain[i] == refused_at && reason != TG_REASON_CEILING && reason != TG_REASON_REVOKED) {
            m->closed = true;
        }
    }
}

/*
 * The first budget of the path that refuses the waiter after its elders' claims, or
 * -1. With `claims` false, as the ledger sees it alone. A closed budget refuses.
 */
static int32_t path_refuses(tg__waiters *waiters, const tg__ledger *ledger, const int32_t *chain,
                            int depth, const waiter *w, bool claims, tg_reason *reason) {
    for (int i = 0; i < depth; i++) {
        mark *m = claims ? mark_of(waiters, chain[i]) : NULL;
        if (m != NULL && m->closed) {
            *reason = TG_REASON_CALLS;
            return chain[i];
        }
        *reason =
            budget_refuses(&ledger->budgets[chain[i]], (int)w->info.cls, w->info.amount_micros,
                           w->info.tokens, m != NULL ? m->claimed_micros : 0);
        if (*reason != TG_REASON_NONE) {
            return chain[i];
        }
    }
    return -1;
}

/* Refused at its deadline while it would fit but for its elders' claims on `slot`: the
 * advice is to come back when they are decided (at the latest their last deadline). */
static void refuse_behind(tg__waiters *waiters, const tg__ledger *ledger, waiter *w, int32_t slot,
                          tg_reason reason, int64_t now_ms) {
    tg_reserve_result out = {0};
    out.refusal.reason = reason == TG_REASON_REVOKED ? TG_REASON_REVOKED : TG_REASON_CEILING;
    tg__copy_name(out.refusal.budget, sizeof out.refusal.budget, ledger->budgets[slot].path);
    const mark *m = mark_of(waiters, slot);
    int64_t until = m != NULL ? m->until_ms : now_ms;
    out.refusal.retry_after_ms = until > now_ms ? until - now_ms : 1;
    finish(waiters, w, TG_OK, &out, NULL, now_ms);
}

/* Starts a pass: fresh marks. False when they cannot be sized (then every budget is
 * treated as closed behind the first waiter that keeps waiting: strict order). */
static bool pass_begin(tg__waiters *waiters, const tg__ledger *ledger) {
    waiters->generation++;
    return marks_fit(waiters, ledger);
}

/* One waiter in a pump: granted, refused, or left waiting with its claims made. */
static void pump_one(tg__waiters *waiters, tg__ledger *ledger, waiter *w, int64_t now_ms,
                     bool *strict_block) {
    int32_t chain[TG_PATH_DEPTH_MAX];
    int depth = path_of(ledger, w->info.budget, now_ms, chain);
    if (depth == 0) {
        tg_error err;
        tg__fail(&err, TG_ERR_NOT_FOUND, "budget '%s' was deleted while the request waited",
                 w->info.budget);
        finish(waiters, w, TG_ERR_NOT_FOUND, NULL, &err, now_ms);
        return;
    }
    bool due = now_ms >= w->info.deadline_ms;
    tg_reason reason = TG_REASON_NONE, alone_reason = TG_REASON_NONE;
    int32_t refused_at = path_refuses(waiters, ledger, chain, depth, w, true, &reason);
    if (*strict_block && refused_at < 0) {
        refused_at = chain[depth - 1], reason = TG_REASON_CEILING;
    }
    int32_t alone_at = path_refuses(waiters, ledger, chain, depth, w, false, &alone_reason);
    if (refused_at < 0) {
        decide(waiters, ledger, w, now_ms, false); /* fits: granted */
        return;
    }
    bool could = path_could(waiters, ledger, chain, depth, w);
    if (due || !could) {
        if (alone_at < 0) {
            refuse_behind(waiters, ledger, w, refused_at, reason, now_ms); /* not past elders */
        } else {
            decide(waiters, ledger, w, now_ms, !could); /* the usual refusal and advice */
        }
        return;
    }
    tg__copy_name(w->info.blocked_at, sizeof w->info.blocked_at,
                  ledger->budgets[alone_at >= 0 ? alone_at : refused_at].path);
    w->blocked_reason = alone_at >= 0 ? alone_reason : reason;
    claim(waiters, w, chain, depth, refused_at, reason);
    *strict_block = waiters->marks_capacity < ledger->budgets_capacity;
}

void tg__waiters_pump(tg__waiters *waiters, tg__ledger *ledger, int64_t now_ms) {
    if (waiters->waiting.head == NULL) {
        return;
    }
    tg__holds_expire(ledger, now_ms);
    bool strict_block = false;
    (void)pass_begin(waiters, ledger);
    for (waiter *w = waiters->waiting.head, *next; w != NULL; w = next) {
        next = w->next; /* pump_one may move w to the done list */
        pump_one(waiters, ledger, w, now_ms, &strict_block);
    }
}

/* ---- queueing ---------------------------------------------------------------------- */

static tg_status wait_check(const tg_reserve_request *r, tg_error *err) {
    if (r->wait_ms < 0) {
        return tg__fail(err, TG_ERR_INVALID, "wait_ms may not be negative (got %lld)",
                        (long long)r->wait_ms);
    }
    if (r->wait_ms > TG_WAIT_MS_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "wait_ms %lld is above the maximum of %d",
                        (long long)r->wait_ms, TG_WAIT_MS_MAX);
    }
    if (r->min_amount_micros < 0 || r->min_amount_micros > r->amount_micros) {
        return tg__fail(err, TG_ERR_INVALID,
                        "min_amount_micros must be between 0 and the amount (got %lld)",
                        (long long)r->min_amount_micros);
    }
    return TG_OK;
}

/* What tg__ledger_reserve would refuse in the arguments alone, for a request queued
 * without being tried. */
static tg_status args_check(const tg__ledger *ledger, const tg_reserve_request *r, tg_error *err) {
    if (r->amount_micros < 0 || r->amount_micros > TG_AMOUNT_MAX || r->tokens < 0 ||
        r->tokens > TG_AMOUNT_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "amount and tokens must be between 0 and %lld",
                        (long long)TG_AMOUNT_MAX);
    }
    if (r->ttl_ms < 0 || r->ttl_ms > ledger->options.max_hold_ttl_ms) {
        return tg__fail(err, TG_ERR_RANGE, "ttl_ms must be between 0 and %lld",
                        (long long)ledger->options.max_hold_ttl_ms);
    }
    if ((r->tool != NULL && strnlen(r->tool, TG_NAME_SIZE_MAX) >= TG_NAME_SIZE_MAX) ||
        (r->model != NULL && strnlen(r->model, TG_NAME_SIZE_MAX) >= TG_NAME_SIZE_MAX)) {
        return tg__fail(err, TG_ERR_INVALID, "tool and model names are at most %d bytes",
                        TG_NAME_SIZE_MAX - 1);
    }
    return tg__idem_check_key(r->idempotency_key, err);
}

/* The claims of every waiter now (they all wait, so all are elders of a newcomer). */
static bool claims_all(tg__waiters *waiters, tg__ledger *ledger, int64_t now_ms) {
    bool sized = pass_begin(waiters, ledger);
    for (const waiter *w = waiters->waiting.head; w != NULL; w = w->next) {
        int32_t chain[TG_PATH_DEPTH_MAX];
        int depth = path_of(ledger, w->info.budget, now_ms, chain);
        int32_t at = tg__budget_find(ledger, w->info.blocked_at);
        claim(waiters, w, chain, depth, at, w->blocked_reason);
    }
    return sized;
}

static tg_status room_check(const tg__waiters *waiters, const char *budget, tg_error *err) {
    if (waiters->waiting_count + waiters->done_count + waiters->slots_count >=
        waiters->waiters_max) {
        return tg__fail(err, TG_ERR_FULL, "%lld requests already wait; retry later",
                        (long long)waiters->waiters_max);
    }
    int64_t same = 0;
    for (const waiter *w = waiters->waiting.head; w != NULL; w = w->next) {
        same += strcmp(w->info.budget, budget) == 0;
    }
    if (same >= waiters->per_budget_max) {
        return tg__fail(err, TG_ERR_FULL, "%lld requests already wait on budget '%s'",
                        (long long)same, budget);
    }
    return TG_OK;
}

static tg_status enqueue(tg__waiters *waiters, const tg_reserve_request *r, int cls,
                         const tg_refusal *refusal, int64_t now_ms, tg_reserve_result *out,
                         tg_error *err) {
    tg_status status = room_check(waiters, r->budget, err);
    if (status != TG_OK) {
        return status;
    }
    waiter *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory queueing a waiting request");
    }
    w->info.wait_id = waiters->next_id++;
    tg__copy_name(w->info.budget, sizeof w->info.budget, r->budget);
    w->info.amount_micros = r->amount_micros;
    w->info.tokens = r->tokens;
    w->info.cls = (tg_class)cls;
    w->has_tool = r->tool != NULL;
    w->likely = r->wait_likely;
    w->has_model = r->model != NULL;
    tg__copy_name(w->info.tool, sizeof w->info.tool, r->tool);
    tg__copy_name(w->info.model, sizeof w->info.model, r->model);
    tg__copy_name(w->key, sizeof w->key, r->idempotency_key);
    w->ttl_ms = r->ttl_ms;
    w->info.created_at_ms = now_ms;
    w->info.deadline_ms = now_ms + r->wait_ms;
    if (refusal != NULL) {
        tg__copy_name(w->info.blocked_at, sizeof w->info.blocked_at, refusal->budget);
        w->blocked_reason = refusal->reason;
    }
    list_append(&waiters->waiting, w);
    waiters->waiting_count++;
    memset(out, 0, sizeof *out);
    out->cls = (tg_class)cls;
    out->waiting = true;
    out->wait_id = w->info.wait_id;
    return TG_OK;
}

tg_status tg__waiters_reserve(tg__waiters *waiters, tg__ledger *ledger, const tg_reserve_request *r,
                              int64_t now_ms, tg_reserve_result *out, tg_error *err) {
    tg_status status = wait_check(r, err);
    if (status != TG_OK || r->wait_ms == 0) {
        return status != TG_OK ? status : tg__ledger_reserve(ledger, r, now_ms, out, err);
    }
    tg_reserve_request now = *r;
    now.wait_ms = 0;
    int32_t chain[TG_PATH_DEPTH_MAX];
    int depth = r->budget != NULL && tg__path_check(r->budget, NULL) == TG_OK
                    ? path_of(ledger, r->budget, now_ms, chain)
                    : 0;
    if (depth == 0 || (unsigned)r->cls > TG_CLASS_AUTO ||
        (status = args_check(ledger, r, NULL)) != TG_OK) {
        /* A missing budget (or one a template makes), or a bad argument: the ledger's
         * own reserve says what is wrong, or makes the budget and decides. */
        if ((status = tg__ledger_reserve(ledger, &now, now_ms, out, err)) != TG_OK ||
            out->granted || (depth = path_of(ledger, r->budget, now_ms, chain)) == 0) {
            return status;
        }
    }
    int cls = r->cls == TG_CLASS_AUTO
                  ? (int)tg__ledger_classify(ledger, r->budget, r->tool, r->model)
                  : (int)r->cls;
    waiter probe = {.info = {.amount_micros = r->amount_micros,
                             .tokens = r->tokens,
                             .cls = (tg_class)cls,
                             .deadline_ms = now_ms + r->wait_ms},
                    .likely = r->wait_likely};
    bool sized = claims_all(waiters, ledger, now_ms);
    tg_reason reason = TG_REASON_NONE;
    int32_t refused_at = path_refuses(waiters, ledger, chain, depth, &probe, true, &reason);
    if (!sized && waiters->waiting.head != NULL && refused_at < 0) {
        refused_at = chain[depth - 1], reason = TG_REASON_CEILING; /* strict order */
    }
    tg_reason alone_reason = TG_REASON_NONE;
    int32_t alone_at = path_refuses(waiters, ledger, chain, depth, &probe, false, &alone_reason);
    bool could = refused_at < 0 || path_could(waiters, ledger, chain, depth, &probe);
    int64_t room = waiters->waiting.head != NULL
                       ? room_after_claims(waiters, ledger, chain, depth, cls, INT64_MAX)
                       : INT64_MAX;
    if (!could && alone_at < 0 && r->min_amount_micros <= 0) {
        /* It fits the ledger alone but not behind its elders, and waiting is unlikely to
         * help: refused, never granted ahead of them. Shrinking to what they leave works. */
        memset(out, 0, sizeof *out);
        out->cls = (tg_class)cls;
        out->refusal.reason = reason == TG_REASON_REVOKED ? TG_REASON_REVOKED : TG_REASON_CEILING;
        tg__copy_name(out->refusal.budget, sizeof out->refusal.budget,
                      ledger->budgets[refused_at].path);
        out->refusal.max_amount_micros =
            room_after_claims(waiters, ledger, chain, depth, cls, r->amount_micros);
        out->refusal.retry_after_ms = TG_NONE;
        return TG_OK;
    }
    if (!could) {
        /* Waiting is unlikely to help: shrunk to fit in the room the elders leave (with
         * min_amount_micros), or the usual refusal, its shrink advice lowered to that room. */
        status = tg__ledger_reserve_within(ledger, &now, room, now_ms, out, err);
        if (status == TG_OK && !out->granted) {
            keep_window_advice(ledger, &out->refusal, now_ms);
            out->refusal.max_amount_micros =
                out->refusal.max_amount_micros < room ? out->refusal.max_amount_micros : room;
        }
        return status;
    }
    if (refused_at < 0) {
        return tg__ledger_reserve(ledger, &now, now_ms, out, err); /* fits after every claim */
    }
    tg_refusal refusal = {.reason = alone_at >= 0 ? alone_reason : reason};
    tg__copy_name(refusal.budget, sizeof refusal.budget,
                  ledger->budgets[alone_at >= 0 ? alone_at : refused_at].path);
    return enqueue(waiters, r, cls, &refusal, now_ms, out, err);
}

/* ---- reading and cancelling --------------------------------------------------------- */

int64_t tg__waiters_deadline_ms(const tg__waiters *waiters) {
    int64_t due = INT64_MAX;
    for (const waiter *w = waiters->waiting.head; w != NULL; w = w->next) {
        due = w->info.deadline_ms < due ? w->info.deadline_ms : due;
    }
    return due;
}

bool tg__waiters_poll(tg__waiters *waiters, tg_wait_result *out) {
    waiter *w = waiters->done.head;
    if (w == NULL) {
        return false;
    }
    list_unlink(&waiters->done, w);
    waiters->done_count--;
    *out = w->result;
    free(w);
    return true;
}

/* Frees the waiter of wait_id if it is on list (count counts that list). */
static bool list_drop(waiter_list *list, int64_t *count, uint64_t wait_id) {
    for (waiter *w = list->head; w != NULL; w = w->next) {
        if (w->info.wait_id == wait_id) {
            list_unlink(list, w);
            (*count)--;
            free(w);
            return true;
        }
    }
    return false;
}

tg_status tg__waiters_cancel(tg__waiters *waiters, uint64_t wait_id, tg_error *err) {
    if (list_drop(&waiters->waiting, &waiters->waiting_count, wait_id) ||
        list_drop(&waiters->slots, &waiters->slots_count, wait_id)) {
        return TG_OK;
    }
    return tg__fail(err, TG_ERR_NOT_FOUND, "no request %llu is waiting",
                    (unsigned long long)wait_id);
}

tg_status tg__waiters_list(const tg__waiters *waiters,
                           bool (*fn)(void *user, const tg_wait_info *info), void *user) {
    for (const waiter *w = waiters->waiting.head; w != NULL; w = w->next) {
        if (!fn(user, &w->info)) {
            break;
        }
    }
    return TG_OK;
}

int64_t tg__waiters_count(const tg__waiters *waiters) {
    return waiters->waiting_count;
}

/* ---- slots: requests that wait for a person ------------------------------------------ */

tg_status tg__waiters_slot_open(tg__waiters *waiters, const char *budget, int64_t now_ms,
                                int64_t deadline_ms, uint64_t *wait_id, tg_error *err) {
    if (waiters->waiting_count + waiters->done_count + waiters->slots_count >=
        waiters->waiters_max) {
        return tg__fail(err, TG_ERR_FULL, "%lld requests already wait; retry later",
                        (long long)waiters->waiters_max);
    }
    waiter *w = calloc(1, sizeof *w); /* its decision later needs no allocation */
    if (w == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory keeping a request for approval");
    }
    w->info.wait_id = waiters->next_id++;
    tg__copy_name(w->info.budget, sizeof w->info.budget, budget);
    w->info.created_at_ms = now_ms;
    w->info.deadline_ms = deadline_ms;
    list_append(&waiters->slots, w);
    waiters->slots_count++;
    *wait_id = w->info.wait_id;
    return TG_OK;
}

bool tg__waiters_slot_close(tg__waiters *waiters, uint64_t wait_id, tg_status status,
                            const tg_reserve_result *out, const char *message, int64_t now_ms) {
    waiter *w = waiters->slots.head;
    while (w != NULL && w->info.wait_id != wait_id) {
        w = w->next;
    }
    if (w == NULL) {
        return false;
    }
    list_unlink(&waiters->slots, w);
    waiters->slots_count--;
    memset(&w->result, 0, sizeof w->result);
    w->result.wait_id = wait_id;
    w->result.status = status;
    if (out != NULL) {
        w->result.result = *out;
    }
    w->result.waited_ms = now_ms > w->info.created_at_ms ? now_ms - w->info.created_at_ms : 0;
    if (message != NULL) {
        tg__copy_name(w->result.message, sizeof w->result.message, message);
    }
    list_append(&waiters->done, w);
    waiters->done_count++;
    if (waiters->on_ready != NULL) {
        waiters->on_ready(waiters->user);
    }
    return true;
}
