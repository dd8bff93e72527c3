/*
 * approvals: the state machine of a refused reserve that asks a person (tollgate.h,
 * "Approvals"). Pure like the rest of core: no clock, no I/O. An approval is pending,
 * then exactly once approved, denied or expired; every transition is a journal row (the
 * approvals table is the record of who asked, who decided, when, what, and how it
 * ended) and an event. Why it lives in the ledger and not beside it like the waiters:
 * an approval is ledger history (it survives restarts in the store), and approving it
 * reserves through the ledger's own reserve, so the hard limit and every check apply.
 *
 * Kept in one array ordered by id (ids only grow, restored rows come in id order), at
 * most TG_APPROVALS_KEPT_MAX: when full, the oldest decided one is forgotten in memory
 * (its row stays in the store). Pending ones are bounded in total and per budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ledger_internal.h"

_Static_assert(TG_APPROVALS_PENDING_MAX < TG_APPROVALS_KEPT_MAX,
               "a full table always has a decided approval to forget");
_Static_assert(TG_APPROVALS_PENDING_MAX <= TG_WAITERS_MAX, "each pending approval has a waiter");

void tg__approvals_free(tg__ledger *ledger) {
    free(ledger->approvals);
    ledger->approvals = NULL;
    ledger->approvals_count = ledger->approvals_capacity = 0;
}

/* The index of approval `id`, or -1 (binary search: the array is in id order). */
static int32_t find(const tg__ledger *ledger, uint64_t id) {
    int32_t lo = 0, hi = ledger->approvals_count - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        uint64_t at = ledger->approvals[mid].id;
        if (at == id) {
            return mid;
        }
        if (at < id) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return -1;
}

/* Room for one more at the end: grows the array, or forgets the oldest decided one. */
static tg_status make_room(tg__ledger *ledger, tg_error *err) {
    if (ledger->approvals_count >= TG_APPROVALS_KEPT_MAX) {
        for (int32_t i = 0; i < ledger->approvals_count; i++) {
            if (ledger->approvals[i].state != TG_APPROVAL_PENDING) {
                memmove(&ledger->approvals[i], &ledger->approvals[i + 1],
                        (size_t)(ledger->approvals_count - i - 1) * sizeof *ledger->approvals);
                ledger->approvals_count--;
                break;
            }
        }
    }
    if (ledger->approvals_count < ledger->approvals_capacity) {
        return TG_OK;
    }
    int32_t capacity = ledger->approvals_capacity ? ledger->approvals_capacity * 2 : 64;
    capacity = capacity > TG_APPROVALS_KEPT_MAX ? TG_APPROVALS_KEPT_MAX : capacity;
    tg_approval_info *grown = realloc(ledger->approvals, (size_t)capacity * sizeof *grown);
    if (grown == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory keeping an approval");
    }
    ledger->approvals = grown;
    ledger->approvals_capacity = capacity;
    return TG_OK;
}

/* The journal row and the event of a transition. */
static void record(tg__ledger *ledger, const tg_approval_info *a, tg_event_kind kind,
                   int64_t now_ms) {
    tg_approval_info *row = TG_JOURNAL_PUSH(ledger, approvals);
    if (row != NULL) {
        *row = *a;
    }
    tg_event event;
    tg__event_init(&event, kind, now_ms, a->budget);
    event.cls = (int)(a->state == TG_APPROVAL_APPROVED ? a->approved_cls : a->cls);
    event.amount_micros = a->state == TG_APPROVAL_APPROVED ? a->approved_micros : a->amount_micros;
    event.hold_id = a->hold_id;
    event.count = (int64_t)a->id; /* the approval's id: what the approve/deny commands take */
    tg__copy_name(event.tool, sizeof event.tool, a->tool[0] ? a->tool : a->model);
    tg__copy_name(event.detail, sizeof event.detail,
                  kind == TG_EVENT_APPROVAL_REQUESTED ? "pending" : a->outcome);
    tg__ledger_emit(ledger, &event);
}

static int64_t pending_on(const tg__ledger *ledger, const char *budget) {
    int64_t same = 0;
    for (int32_t i = 0; i < ledger->approvals_count; i++) {
        const tg_approval_info *a = &ledger->approvals[i];
        same += a->state == TG_APPROVAL_PENDING && strcmp(a->budget, budget) == 0;
    }
    return same;
}

tg_status tg__approval_ask_check(const tg_approval_ask *ask, tg_error *err) {
    if (ask->wait_ms < 1 || ask->wait_ms > TG_APPROVAL_WAIT_MS_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "an approval's wait_ms is 1..%d (got %lld)",
                        TG_APPROVAL_WAIT_MS_MAX, (long long)ask->wait_ms);
    }
    if ((ask->reason != NULL &&
         strnlen(ask->reason, TG_APPROVAL_TEXT_SIZE_MAX) >= TG_APPROVAL_TEXT_SIZE_MAX) ||
        (ask->requested_by != NULL &&
         strnlen(ask->requested_by, TG_API_KEY_NAME_SIZE_MAX) >= TG_API_KEY_NAME_SIZE_MAX)) {
        return tg__fail(err, TG_ERR_INVALID, "an approval's reason is at most %d bytes",
                        TG_APPROVAL_TEXT_SIZE_MAX - 1);
    }
    return TG_OK;
}

tg_status tg__ledger_approval_check(const tg__ledger *ledger, const char *budget,
                                    const tg_approval_ask *ask, tg_error *err) {
    tg_status status = tg__approval_ask_check(ask, err);
    if (status != TG_OK) {
        return status;
    }
    if (ledger->approvals_pending >= TG_APPROVALS_PENDING_MAX) {
        return tg__fail(err, TG_ERR_FULL, "%d approvals already wait for a person; retry later",
                        TG_APPROVALS_PENDING_MAX);
    }
    if (pending_on(ledger, budget) >= TG_APPROVALS_PER_BUDGET_MAX) {
        return tg__fail(err, TG_ERR_FULL, "%d approvals already wait on budget '%s'",
                        TG_APPROVALS_PER_BUDGET_MAX, budget);
    }
    return TG_OK;
}

tg_status tg__ledger_approval_open(tg__ledger *ledger, const tg_reserve_request *r, tg_class cls,
                                   const tg_refusal *refused, const tg_approval_ask *ask,
                                   uint64_t wait_id, int64_t now_ms, uint64_t *id_out,
                                   tg_error *err) {
    tg_status status = tg__ledger_approval_check(ledger, r->budget, ask, err);
    if (status != TG_OK || (status = make_room(ledger, err)) != TG_OK) {
        return status;
    }
    tg_approval_info *a = &ledger->approvals[ledger->approvals_count++];
    memset(a, 0, sizeof *a);
    a->id = ledger->next_approval_id++;
    a->wait_id = wait_id;
    tg__copy_name(a->budget, sizeof a->budget, r->budget);
    a->amount_micros = r->amount_micros;
    a->tokens = r->tokens;
    a->cls = cls;
    tg__copy_name(a->tool, sizeof a->tool, r->tool);
    tg__copy_name(a->model, sizeof a->model, r->model);
    tg__copy_name(a->refused_at, sizeof a->refused_at, refused->budget);
    tg__copy_name(a->reason, sizeof a->reason, ask->reason);
    tg__copy_name(a->requested_by, sizeof a->requested_by, ask->requested_by);
    a->requested_at_ms = now_ms;
    a->deadline_ms = now_ms + ask->wait_ms;
    a->state = TG_APPROVAL_PENDING;
    a->decided_at_ms = TG_NONE;
    a->approved_cls = (tg_class)-1;
    ledger->approvals_pending++;
    record(ledger, a, TG_EVENT_APPROVAL_REQUESTED, now_ms);
    *id_out = a->id;
    return TG_OK;
}

/* Ends a pending approval in `state` with `outcome`. */
static void close_as(tg__ledger *ledger, tg_approval_info *a, tg_approval_state state,
                     const char *by, const char *note, const char *outcome, int64_t now_ms) {
    TG_VERIFY(a->state == TG_APPROVAL_PENDING && ledger->approvals_pending > 0);
    a->state = state;
    tg__copy_name(a->decided_by, sizeof a->decided_by, by);
    tg__copy_name(a->note, sizeof a->note, note);
    tg__copy_name(a->outcome, sizeof a->outcome, outcome);
    a->decided_at_ms = now_ms;
    ledger->approvals_pending--;
    record(ledger, a, TG_EVENT_APPROVAL_DECIDED, now_ms);
}

static tg_status verdict_check(const tg_approval_info *a, const tg_approval_verdict *v,
                               tg_error *err) {
    if (v->by == NULL || v->by[0] == '\0' ||
        strnlen(v->by, TG_API_KEY_NAME_SIZE_MAX) >= TG_API_KEY_NAME_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "a decision names who made it (1..%d bytes)",
                        TG_API_KEY_NAME_SIZE_MAX - 1);
    }
    if (v->note != NULL &&
        strnlen(v->note, TG_APPROVAL_TEXT_SIZE_MAX) >= TG_APPROVAL_TEXT_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "a note is at most %d bytes",
                        TG_APPROVAL_TEXT_SIZE_MAX - 1);
    }
    if (v->approve && (v->amount_micros < 0 || v->amount_micros > a->amount_micros)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "the amount approved is 1..%lld micros (what was asked; got %lld)",
                        (long long)a->amount_micros, (long long)v->amount_micros);
    }
    if (v->approve && (unsigned)v->cls > TG_CLASS_AUTO) {
        return tg__fail(err, TG_ERR_INVALID, "unknown class %d", (int)v->cls);
    }
    return TG_OK;
}

tg_status tg__ledger_approval_decide(tg__ledger *ledger, uint64_t id, const tg_approval_verdict *v,
                                     int64_t now_ms, tg_approval_info *out,
                                     tg_reserve_result *reserved, tg_error *err) {
    int32_t at = find(ledger, id);
    if (at < 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no approval %llu", (unsigned long long)id);
    }
    tg_approval_info *a = &ledger->approvals[at];
    if (a->state != TG_APPROVAL_PENDING) {
        *out = *a;
        return tg__fail(err, TG_ERR_STATE, "approval %llu is already %s (%s)",
                        (unsigned long long)id, tg_approval_state_str(a->state), a->outcome);
    }
    tg_status status = verdict_check(a, v, err);
    if (status != TG_OK) {
        return status;
    }
    memset(reserved, 0, sizeof *reserved);
    if (!v->approve) {
        reserved->cls = a->cls;
        reserved->refusal.reason = TG_REASON_REVOKED;
        tg__copy_name(reserved->refusal.budget, sizeof reserved->refusal.budget, a->refused_at);
        reserved->refusal.retry_after_ms = TG_NONE;
        close_as(ledger, a, TG_APPROVAL_DENIED, v->by, v->note, "denied", now_ms);
        *out = *a;
        return TG_OK;
    }
    tg_reserve_request request = {.budget = a->budget,
                                  .amount_micros =
                                      v->amount_micros > 0 ? v->amount_micros : a->amount_micros,
                                  .tokens = a->tokens,
                                  .cls = v->cls == TG_CLASS_AUTO ? TG_CLASS_CRITICAL : v->cls,
                                  .tool = a->tool[0] ? a->tool : NULL,
                                  .model = a->model[0] ? a->model : NULL};
    status = tg__ledger_reserve(ledger, &request, now_ms, reserved, err);
    if (status != TG_OK) {
        return status; /* still pending: nothing was decided */
    }
    char outcome[TG_NAME_SIZE_MAX] = "granted";
    if (!reserved->granted) {
        snprintf(outcome, sizeof outcome, "refused: %s at %.80s",
                 tg_reason_str(reserved->refusal.reason), reserved->refusal.budget);
    }
    a->approved_cls = request.cls;
    a->approved_micros = request.amount_micros;
    a->hold_id = reserved->granted ? reserved->hold_id : 0;
    close_as(ledger, a, TG_APPROVAL_APPROVED, v->by, v->note, outcome, now_ms);
    *out = *a;
    return TG_OK;
}

tg_status tg__ledger_approval_expire(tg__ledger *ledger, uint64_t id, const char *why,
                                     int64_t now_ms, tg_approval_info *out) {
    int32_t at = find(ledger, id);
    if (at < 0 || ledger->approvals[at].state != TG_APPROVAL_PENDING) {
        return TG_ERR_NOT_FOUND;
    }
    close_as(ledger, &ledger->approvals[at], TG_APPROVAL_EXPIRED, "", "", why, now_ms);
    if (out != NULL) {
        *out = ledger->approvals[at];
    }
    return TG_OK;
}

int64_t tg__ledger_approvals_deadline_ms(const tg__ledger *ledger) {
    int64_t due = INT64_MAX;
    for (int32_t i = 0; ledger->approvals_pending > 0 && i < ledger->approvals_count; i++) {
        const tg_approval_info *a = &ledger->approvals[i];
        if (a->state == TG_APPROVAL_PENDING && a->deadline_ms < due) {
            due = a->deadline_ms;
        }
    }
    return due;
}

void tg__ledger_approvals_expire_due(tg__ledger *ledger, int64_t now_ms,
                                     void (*fn)(void *user, const tg_approval_info *info),
                                     void *user) {
    for (int32_t i = 0; ledger->approvals_pending > 0 && i < ledger->approvals_count; i++) {
        tg_approval_info *a = &ledger->approvals[i];
        if (a->state == TG_APPROVAL_PENDING && a->deadline_ms <= now_ms) {
            close_as(ledger, a, TG_APPROVAL_EXPIRED, "", "", "expired", now_ms);
            fn(user, a);
        }
    }
}

const tg_approval_info *tg__ledger_approval_find(const tg__ledger *ledger, uint64_t id) {
    int32_t at = find(ledger, id);
    return at >= 0 ? &ledger->approvals[at] : NULL;
}

const tg_approval_info *tg__ledger_approval_by_wait(const tg__ledger *ledger, uint64_t wait_id) {
    for (int32_t i = ledger->approvals_count - 1; wait_id != 0 && i >= 0; i--) {
        if (ledger->approvals[i].wait_id == wait_id) {
            return &ledger->approvals[i];
        }
    }
    return NULL;
}

void tg__ledger_approval_list(const tg__ledger *ledger,
                              bool (*fn)(void *user, const tg_approval_info *info), void *user) {
    for (int32_t i = ledger->approvals_count - 1; i >= 0; i--) {
        if (!fn(user, &ledger->approvals[i])) {
            break;
        }
    }
}

int64_t tg__ledger_approvals_pending(const tg__ledger *ledger) {
    return ledger->approvals_pending;
}

tg_status tg__ledger_restore_approval(tg__ledger *ledger, const tg_approval_info *row,
                                      tg_error *err) {
    if (row->id == 0 || (ledger->approvals_count > 0 &&
                         row->id <= ledger->approvals[ledger->approvals_count - 1].id)) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored approval %llu is out of order",
                        (unsigned long long)row->id);
    }
    if ((unsigned)row->state > TG_APPROVAL_EXPIRED || (unsigned)row->cls >= TG_CLASS_AUTO) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored approval %llu has a bad state or class",
                        (unsigned long long)row->id);
    }
    tg_status status = make_room(ledger, err);
    if (status != TG_OK) {
        return status;
    }
    tg_approval_info *a = &ledger->approvals[ledger->approvals_count++];
    *a = *row;
    a->wait_id = 0; /* its waiter was in the process that stopped */
    ledger->approvals_pending += a->state == TG_APPROVAL_PENDING;
    if (row->id >= ledger->next_approval_id) {
        ledger->next_approval_id = row->id + 1;
    }
    return TG_OK;
}

void tg__ledger_approvals_restart(tg__ledger *ledger, int64_t now_ms) {
    for (int32_t i = 0; ledger->approvals_pending > 0 && i < ledger->approvals_count; i++) {
        tg_approval_info *a = &ledger->approvals[i];
        if (a->state == TG_APPROVAL_PENDING) {
            close_as(ledger, a, TG_APPROVAL_EXPIRED, "", "", "restart", now_ms);
        }
    }
}
