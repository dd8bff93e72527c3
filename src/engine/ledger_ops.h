/*
 * ledger_ops: the seam at the level of ledger operations. One function table,
 * one implementation per place where the ledger's state lives and its
 * decisions are made:
 *
 *   - "local" (ledger_ops_local in engine.c): the core deciding in this
 *     process's memory, its journal written by a store (memory or SQLite). What
 *     every engine used before this seam existed, unchanged.
 *   - "redis" (src/store/redis/): the state lives in a Redis (or Valkey) server
 *     and every decision is one server-side function call there, so any number
 *     of processes share one exact ledger.
 *
 * The seam sits above the store's journal (store.h) on purpose: a journal of
 * decisions made in one process's memory cannot be shared by two processes, an
 * operation can. The public tg_reserve(), tg_commit(), ... of tollgate.h call
 * through this table, so their documentation is the contract of every entry
 * below; what an implementation must add to it is written here.
 *
 * Conventions, kept by every implementation:
 *   - Units as in tollgate.h: money in int64_t micros, time in Unix ms passed in
 *     as `now_ms` (an implementation reads no clock for a decision), fractions in
 *     ppm. Limits as in tollgate.h (TG_AMOUNT_MAX per amount, TG_PATH_DEPTH_MAX,
 *     TG_KEY_SIZE_MAX, ...), except where an implementation names a lower one
 *     (redis: every limit and counter below TG__LEDGER_REDIS_COUNTER_MAX, 2^53 - 1,
 *     see redis_ledger.h), and refuses more with TG_ERR_RANGE.
 *   - Atomic: each call is all or nothing. Reserve holds its amount on every
 *     budget of the path or on none; commit releases the hold and charges the
 *     whole path in one step; a failed call (status != TG_OK) changes nothing and
 *     leaves its outputs untouched. A concurrent observer (another thread, another
 *     daemon) never sees half of an operation.
 *   - Time-driven work is part of the call: holds whose expires_at_ms <= now_ms
 *     are released (by every call but budget_freeze; local: in the whole ledger,
 *     redis: in the tree the call names) and the windows of the path a reserve,
 *     commit, record, budget_get or budget_put touches are rolled when their end
 *     <= now_ms, before the call decides, so a result never depends on when a
 *     tick last ran (test_redis_ledger ticks the local side at random to check).
 *   - Idempotent: reserve, commit, release and record with an idempotency key
 *     (1..TG_KEY_SIZE_MAX - 1 bytes; NULL or "" for none) return the first
 *     answer with `replayed` set and change nothing when repeated with the same
 *     arguments within the idempotency ttl; the same key with other arguments or
 *     another operation is TG_ERR_CONFLICT. A refusal is not remembered. Keys are
 *     one space per ledger (local) or per budget tree (redis: a key is stored
 *     under its tree's hash tag; the same key on two trees is two keys).
 *   - Durable: an implementation acknowledges (returns TG_OK) only what its
 *     durability mode promises: local strict, on disk; redis, what the server
 *     accepted (its AOF policy and replicas decide the rest: docs/multi-node.md).
 *   - Ids: hold and charge ids are unique per ledger and never reused. Their
 *     values are an implementation's (local: counters from 1; redis: the tree's
 *     number in the high bits), so compare them only within one implementation.
 *   - Thread safety: an implementation's `self` is used by one thread at a time,
 *     like a tg_engine.
 */
#ifndef TG_ENGINE_LEDGER_OPS_H
#define TG_ENGINE_LEDGER_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate.h"

#define TG__LEDGER_EVENTS_MAX 100000 /* events one events_since call may return */

typedef struct {
    const char *name; /* "local", "redis" */

    /* As tg_reserve: holds the worst case on every budget of the path, or refuses. */
    tg_status (*reserve)(void *self, const tg_reserve_request *request, int64_t now_ms,
                         tg_reserve_result *out, tg_error *err);
    /* As tg_commit: closes the hold and charges the actual cost on its whole path. */
    tg_status (*commit)(void *self, const tg_commit_request *request, int64_t now_ms,
                        tg_commit_result *out, tg_error *err);
    /* As tg_release: closes the hold, charging nothing. *replayed_out may be NULL. */
    tg_status (*release)(void *self, uint64_t hold_id, const char *idempotency_key, int64_t now_ms,
                         bool *replayed_out, tg_error *err);
    /* As tg_record: charges a cost incurred without a hold (refused like a reserve
     * unless `force`). */
    tg_status (*record)(void *self, const tg_record_request *request, int64_t now_ms,
                        tg_record_result *out, tg_error *err);
    /* As tg_hold_get: an open hold (after expiry at now_ms for redis). */
    tg_status (*hold_get)(void *self, uint64_t hold_id, int64_t now_ms, tg_hold_info *out,
                          tg_error *err);

    /* As tg_budget_put: creates (parent must exist) or updates one budget. */
    tg_status (*budget_put)(void *self, const char *path, const tg_budget_spec *spec,
                            int64_t now_ms, tg_error *err);
    /* As tg_budget_get: the budget as it stands at now_ms (its window rolled first). */
    tg_status (*budget_get)(void *self, const char *path, int64_t now_ms, tg_budget_info *out,
                            tg_error *err);
    /* As tg_budget_delete: no children, no open holds (TG_ERR_STATE otherwise). */
    tg_status (*budget_delete)(void *self, const char *path, int64_t now_ms, tg_error *err);
    /* As tg_budgets_apply: many creates, updates and deletes as one change, all or none, a
     * refusal naming the operation's index ("operation 3: ..."), counts as tollgate.h's. What
     * an implementation may add: a lower bound on operations per call (redis:
     * TG__REDIS_BUDGET_OPS_MAX) and a narrower scope of one call (redis: one budget tree,
     * TG_ERR_UNSUPPORTED naming the trees otherwise), both refused before anything changes.
     * NULL: changes of one budget at a time only (the engine refuses more than one). */
    tg_status (*budgets_apply)(void *self, const tg_budget_op *ops, size_t count, int64_t now_ms,
                               tg_budget_counts *counts, tg_error *err);
    /* As tg_budget_freeze. */
    tg_status (*budget_freeze)(void *self, const char *path, bool frozen, int64_t now_ms,
                               tg_error *err);
    /* As tg_budget_page: up to `limit` paths starting with `prefix` ("" or NULL: all) after
     * `after` (NULL: from the first), in the implementation's listing order (local: path
     * order; redis: tree by tree, docs/multi-node.md), so `after` = a page's last path
     * gives the next page. */
    tg_status (*budget_page)(void *self, const char *prefix, const char *after, size_t limit,
                             char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out, tg_error *err);

    /*
     * Durable events with id > after_id, oldest first, at most `max` (1..TG__LEDGER_EVENTS_MAX)
     * into out[]; *count_out says how many. Only events already durable are returned,
     * so a reader that passes the last id it saw never misses one. TG_ERR_UNSUPPORTED
     * where events are not kept (local with the memory store) or cannot be read so
     * yet (redis: each tree's stream apart, no order across trees yet).
     */
    tg_status (*events_since)(void *self, uint64_t after_id, tg_event *out, size_t max,
                              size_t *count_out, tg_error *err);

    /* As tg_policy_set: the rules that give TG_CLASS_AUTO requests their class. NULL when the
     * engine's own ledger classifies (local). */
    tg_status (*policy_set)(void *self, const tg_policy_rule *rules, size_t count,
                            tg_class default_class, tg_error *err);
} tg__ledger_ops;

/* Today's engine: core in memory, journal written by the engine's store. `self` is the
 * tg_engine. */
extern const tg__ledger_ops tg__ledger_ops_local;

/*
 * Makes `engine`'s public ledger calls (tg_reserve, tg_commit, tg_release, tg_record,
 * tg_hold_get, tg_budget_put/get/delete/freeze) go through `ops` with `self`, right after
 * tg_engine_open and before any of them. The engine owns `self` from then on and calls
 * close(self) in tg_engine_close. Why a plug rather than a store name at open: the Redis
 * implementation needs hiredis, which libtollgate does not link; the daemon that does opens
 * it and plugs it in (src/server/store_redis.c). What stays in the engine's own ledger (API
 * keys, history, events, waits) is the local one, empty of budgets.
 */
void tg__engine_ledger_plug(tg_engine *engine, const tg__ledger_ops *ops, void *self,
                            void (*close)(void *self));

/* True when the engine decides through a plugged implementation instead of its own ledger. */
bool tg__engine_ledger_plugged(const tg_engine *engine);

#endif
