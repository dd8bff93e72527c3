/*
 * waiters: reserves that wait for room (wait_ms) instead of being refused, decided
 * first come first served per budget. Pure like the rest of core: no clock (every
 * call takes now_ms), no I/O, no threads. The engine owns one beside its ledger and
 * pumps it after every call that can make room (commit, release, tick, budget
 * changes); the public contract is "Waiting holds" in include/tollgate.h and the
 * policy is written out in docs/ledger.md.
 */
#ifndef TG_CORE_WAITERS_H
#define TG_CORE_WAITERS_H

#include "core/ledger.h"

typedef struct tg__waiters tg__waiters;

/* From malloc; free with tg__waiters_free (which drops waiters and undelivered
 * decisions alike). `on_ready` (may be NULL) is called, with `user`, each time a
 * decision joins the done queue; it must not call back into the ledger. NULL on OOM. */
tg__waiters *tg__waiters_new(int64_t waiters_max, int64_t per_budget_max,
                             void (*on_ready)(void *user), void *user);
void tg__waiters_free(tg__waiters *waiters);

/*
 * tg_reserve with request->wait_ms honoured: decides at once (granted, or refused when
 * it cannot fit within its wait), or queues it (out->waiting, out->wait_id). A request
 * with wait_ms 0 is a plain tg__ledger_reserve.
 */
tg_status tg__waiters_reserve(tg__waiters *waiters, tg__ledger *ledger,
                              const tg_reserve_request *request, int64_t now_ms,
                              tg_reserve_result *out, tg_error *err);

/* Grants every waiter that fits now in arrival order (never one behind an older waiter
 * on a budget of its path), and refuses those past their deadline or that can no
 * longer fit within it. O(waiters x path length), plus one reserve per decision. */
void tg__waiters_pump(tg__waiters *waiters, tg__ledger *ledger, int64_t now_ms);

/* The earliest waiter deadline, INT64_MAX when none waits. */
int64_t tg__waiters_deadline_ms(const tg__waiters *waiters);

/* Takes the oldest decision not yet taken; false when none. */
bool tg__waiters_poll(tg__waiters *waiters, tg_wait_result *out);

/* Drops a waiting request; TG_ERR_NOT_FOUND when none has that id. */
tg_status tg__waiters_cancel(tg__waiters *waiters, uint64_t wait_id, tg_error *err);

/* Waiting requests, in arrival order. */
tg_status tg__waiters_list(const tg__waiters *waiters,
                           bool (*fn)(void *user, const tg_wait_info *info), void *user);

/* Requests waiting now (decisions not yet taken are not counted). */
int64_t tg__waiters_count(const tg__waiters *waiters);

/* A place in the waiters' bound and done queue for a request that waits for a person
 * (an approval, tollgate.h): never pumped, ended by tg__waiters_slot_close or cancelled
 * by tg__waiters_cancel. TG_ERR_FULL past waiters_max. */
tg_status tg__waiters_slot_open(tg__waiters *waiters, const char *budget, int64_t now_ms,
                                int64_t deadline_ms, uint64_t *wait_id, tg_error *err);
/* Gives a slot its decision (out may be NULL when status != TG_OK), which tg__waiters_poll
 * then returns like a pumped waiter's; false when no such slot is open. */
bool tg__waiters_slot_close(tg__waiters *waiters, uint64_t wait_id, tg_status status,
                            const tg_reserve_result *out, const char *message, int64_t now_ms);

#endif
