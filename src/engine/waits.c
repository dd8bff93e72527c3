/*
 * waits: the engine's side of waiting holds (include/tollgate.h, "Waiting holds").
 * The queue and its decisions are core's (src/core/waiters.c, pure); the engine
 * pumps it after each call that can make room, so a waiter is granted in the call
 * that freed the money, and its grant rides that call's durability like any other
 * mutation. Waiters are never written to the store: they are requests in flight,
 * not ledger state, and a restart forgets them with nothing held.
 */
#include "engine/engine_internal.h"

void tg__engine_pump(tg_engine *engine, int64_t now_ms) {
    if (tg__ledger_approvals_pending(engine->ledger) > 0 && !engine->failed &&
        tg__ledger_approvals_deadline_ms(engine->ledger) <= now_ms) {
        tg__engine_approvals_expire(engine, now_ms);
    }
    if (tg__waiters_count(engine->waiters) > 0 && !engine->failed) {
        tg__waiters_pump(engine->waiters, engine->ledger, now_ms);
    }
}

bool tg_wait_poll(tg_engine *engine, tg_wait_result *out) {
    return tg__waiters_poll(engine->waiters, out);
}

tg_status tg_wait_list(tg_engine *engine, bool (*fn)(void *user, const tg_wait_info *info),
                       void *user, tg_error *err) {
    (void)err;
    return tg__waiters_list(engine->waiters, fn, user);
}

int64_t tg_wait_count(const tg_engine *engine) {
    return tg__waiters_count(engine->waiters);
}
