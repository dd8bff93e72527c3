/*
 * approvals: the engine's side of approvals (include/tollgate.h, "Approvals"). The state
 * machine and its record are the ledger's (src/core/approvals.c, pure); the waiter that
 * carries the answer back to the agent is a slot of the waiters (src/core/waiters.c), so
 * the daemon's long poll, its bound and its "client left" sweep serve approvals exactly
 * as they serve waiting holds. This file ties the two: open both or neither, answer the
 * waiter when the approval ends, expire the approval when its waiter is cancelled.
 */
#include <string.h>

#include "core/path.h"
#include "engine/engine_internal.h"

static tg_status local_only(const tg_engine *engine, tg_error *err) {
    if (engine->ledger_ops != &tg__ledger_ops_local) {
        return tg__fail(err, TG_ERR_UNSUPPORTED, "approvals need the local ledger (not Redis)");
    }
    return tg__engine_usable(engine, err);
}

tg_status tg_approval_request(tg_engine *engine, const tg_reserve_request *request,
                              const tg_approval_ask *ask, int64_t now_ms, tg_reserve_result *out,
                              uint64_t *approval_id_out, tg_error *err) {
    tg_status status = local_only(engine, err);
    if (status != TG_OK) {
        return status;
    }
    if (request == NULL || ask == NULL || request->wait_ms != 0) {
        return tg__fail(err, TG_ERR_INVALID, "an approval request waits by its ask, not wait_ms");
    }
    if ((status = tg__approval_ask_check(ask, err)) != TG_OK) {
        return status;
    }
    tg_reserve_result result;
    status = tg__ledger_reserve(engine->ledger, request, now_ms, &result, err);
    if (status != TG_OK || result.granted || result.refusal.reason != TG_REASON_REVOKED) {
        if (status == TG_OK) {
            *out = result; /* granted, or refused for what no person may lift */
        }
        return tg__engine_settle(engine, status, now_ms, err);
    }
    uint64_t wait_id = 0, approval_id = 0;
    status = tg__ledger_approval_check(engine->ledger, request->budget, ask, err);
    if (status == TG_OK) {
        status = tg__waiters_slot_open(engine->waiters, request->budget, now_ms,
                                       now_ms + ask->wait_ms, &wait_id, err);
    }
    if (status == TG_OK) {
        status = tg__ledger_approval_open(engine->ledger, request, result.cls, &result.refusal, ask,
                                          wait_id, now_ms, &approval_id, err);
        if (status != TG_OK) {
            (void)tg__waiters_cancel(engine->waiters, wait_id, NULL);
        }
    }
    if (status == TG_OK) {
        memset(out, 0, sizeof *out);
        out->cls = result.cls;
        out->waiting = true;
        out->wait_id = wait_id;
        *approval_id_out = approval_id;
    }
    return tg__engine_settle(engine, status, now_ms, err);
}

/* Answers the waiter of an approval that just ended (none after a restart or a cancel). */
static void answer(tg_engine *engine, const tg_approval_info *a, const tg_reserve_result *out,
                   int64_t now_ms) {
    if (a->wait_id != 0) {
        (void)tg__waiters_slot_close(engine->waiters, a->wait_id, TG_OK, out, NULL, now_ms);
    }
}

tg_status tg_approval_decide(tg_engine *engine, uint64_t approval_id,
                             const tg_approval_verdict *verdict, int64_t now_ms,
                             tg_approval_info *out, tg_error *err) {
    tg_status status = local_only(engine, err);
    if (status != TG_OK) {
        return status;
    }
    if (verdict == NULL || out == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "no verdict given");
    }
    tg_reserve_result reserved;
    status = tg__ledger_approval_decide(engine->ledger, approval_id, verdict, now_ms, out,
                                        &reserved, err);
    if (status == TG_OK) {
        answer(engine, out, &reserved, now_ms);
    }
    return tg__engine_settle(engine, status, now_ms, err);
}

/* A refusal for an approval that ended without a grant: the class's refusal, no retry
 * advice (only a person could help, and the person said no or was not there). */
static tg_reserve_result refused_as(const tg_approval_info *a) {
    tg_reserve_result out = {0};
    out.cls = a->cls;
    out.refusal.reason = TG_REASON_REVOKED;
    tg__copy_name(out.refusal.budget, sizeof out.refusal.budget, a->refused_at);
    out.refusal.retry_after_ms = TG_NONE;
    return out;
}

static void expired(void *user, const tg_approval_info *a) {
    tg_engine *engine = user;
    tg_reserve_result out = refused_as(a);
    answer(engine, a, &out, a->decided_at_ms);
}

void tg__engine_approvals_expire(tg_engine *engine, int64_t now_ms) {
    tg__ledger_approvals_expire_due(engine->ledger, now_ms, expired, engine);
}

tg_status tg__engine_wait_cancel(tg_engine *engine, uint64_t wait_id, int64_t now_ms,
                                 tg_error *err) {
    const tg_approval_info *a = tg__ledger_approval_by_wait(engine->ledger, wait_id);
    tg_status status = tg__waiters_cancel(engine->waiters, wait_id, err);
    if (status == TG_OK && a != NULL && a->state == TG_APPROVAL_PENDING) {
        (void)tg__ledger_approval_expire(engine->ledger, a->id, "client_gone", now_ms, NULL);
    }
    return status;
}

tg_status tg_approval_get(tg_engine *engine, uint64_t approval_id, tg_approval_info *out,
                          tg_error *err) {
    const tg_approval_info *a = tg__ledger_approval_find(engine->ledger, approval_id);
    if (a == NULL) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no approval %llu", (unsigned long long)approval_id);
    }
    *out = *a;
    return TG_OK;
}

tg_status tg_approval_by_wait(tg_engine *engine, uint64_t wait_id, tg_approval_info *out,
                              tg_error *err) {
    const tg_approval_info *a = tg__ledger_approval_by_wait(engine->ledger, wait_id);
    if (a == NULL) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no approval waits under %llu",
                        (unsigned long long)wait_id);
    }
    *out = *a;
    return TG_OK;
}

tg_status tg_approval_list(tg_engine *engine, bool (*fn)(void *user, const tg_approval_info *info),
                           void *user, tg_error *err) {
    (void)err;
    tg__ledger_approval_list(engine->ledger, fn, user);
    return TG_OK;
}

int64_t tg_approval_pending_count(const tg_engine *engine) {
    return tg__ledger_approvals_pending(engine->ledger);
}
