/*
 * ledger: the budgets, holds and rules that decide whether a paid action may
 * run. Pure: no I/O, no clock (every call takes now_ms), no threads. The engine
 * wraps it with a store and time zone files; tests drive it directly.
 *
 * Every mutation leaves rows in the ledger's journal (when journaling is on),
 * which the engine hands to a store as one transaction.
 */
#ifndef TG_CORE_LEDGER_H
#define TG_CORE_LEDGER_H

#include "core/journal.h"
#include "core/tz.h"
#include "tollgate.h"

typedef struct tg__ledger tg__ledger;

typedef struct {
    int64_t holds_max;
    int64_t budgets_max;
    int64_t idempotency_max;
    int64_t idempotency_ttl_ms;
    int64_t default_hold_ttl_ms;
    int64_t max_hold_ttl_ms;
    bool journal; /* keep rows for a store; off for the memory store */
    tg_event_fn on_event;
    void *on_event_user;
} tg__ledger_options;

/* From malloc; free with tg__ledger_free. NULL on OOM. */
tg__ledger *tg__ledger_new(const tg__ledger_options *options);
void tg__ledger_free(tg__ledger *ledger);

/* The journal of mutations since the last tg__journal_clear. Finishes it first:
 * appends the latest rows of every changed budget and the id counters. */
tg__journal *tg__ledger_journal(tg__ledger *ledger);

/* Budgets. `tz` is owned by the caller and must outlive the ledger. */
tg_status tg__ledger_budget_put(tg__ledger *ledger, const char *path, const tg_budget_spec *spec,
                                const tg__tz *tz, int64_t now_ms, tg_error *err);
/* What tg__ledger_budget_put would refuse now (path, spec, missing parent), changing
 * nothing. A limit below the spend is not refused: the budget is locked (overruns). */
/* One operation of tg__ledger_budgets_apply; `tz` as for tg__ledger_budget_put. */
typedef struct {
    const char *path;
    bool remove;
    const tg_budget_spec *spec;
    const tg__tz *tz;
    const tg_budget_spec *child_template; /* NULL: keep, unless remove_template */
    const tg__tz *template_tz;
    int64_t children_max;
    bool remove_template;
} tg__budget_op;

typedef tg_budget_counts tg__bulk_counts;

/* As tg_budgets_apply (budget_bulk.c): all operations checked, then all applied. */
tg_status tg__ledger_budgets_apply(tg__ledger *ledger, const tg__budget_op *ops, size_t count,
                                   int64_t now_ms, tg__bulk_counts *counts, tg_error *err);

tg_status tg__ledger_budget_check(const tg__ledger *ledger, const char *path,
                                  const tg_budget_spec *spec, int64_t now_ms, tg_error *err);
/* What tg__ledger_template_set refuses in a template and bound alone (templates.c). */
tg_status tg__template_check(const tg_budget_spec *spec, int64_t children_max, tg_error *err);
/* As tg_budget_template_set; `tz` is the template's zone. */
tg_status tg__ledger_template_set(tg__ledger *ledger, const char *path, const tg_budget_spec *tmpl,
                                  const tg__tz *tz, int64_t children_max, int64_t now_ms,
                                  tg_error *err);
tg_status tg__ledger_budget_delete(tg__ledger *ledger, const char *path, int64_t now_ms,
                                   tg_error *err);
tg_status tg__ledger_budget_freeze(tg__ledger *ledger, const char *path, bool frozen,
                                   int64_t now_ms, tg_error *err);
tg_status tg__ledger_budget_get(tg__ledger *ledger, const char *path, int64_t now_ms,
                                tg_budget_info *out, tg_error *err);
tg_status tg__ledger_budget_list(tg__ledger *ledger, const char *prefix,
                                 bool (*fn)(void *user, const char *path), void *user,
                                 tg_error *err);

/* Up to `limit` paths starting with `prefix` (NULL or "" for all) and sorting after
 * `after` (NULL for the first page), in path order (budget_page.c). */
tg_status tg__ledger_budget_page(const tg__ledger *ledger, const char *prefix, const char *after,
                                 size_t limit, char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out,
                                 tg_error *err);
/* The first `limit` budget paths in path order that `keep` accepts, in one pass; *matched_out
 * counts all it accepted (so a caller can say how many it left out). */
tg_status tg__ledger_budget_select(const tg__ledger *ledger,
                                   bool (*keep)(void *user, const char *path), void *user,
                                   size_t limit, char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out,
                                   size_t *matched_out, tg_error *err);

tg_status tg__ledger_policy_set(tg__ledger *ledger, const tg_policy_rule *rules, size_t count,
                                tg_class default_class, tg_error *err);
tg_class tg__ledger_classify(const tg__ledger *ledger, const char *budget, const char *tool,
                             const char *model);

/* API keys, as documented for their tg_ counterparts in tollgate.h. */
tg_status tg__ledger_api_key_put(tg__ledger *ledger, const tg_api_key *key, bool replace,
                                 int64_t now_ms, tg_error *err);
tg_status tg__ledger_api_key_delete(tg__ledger *ledger, const char *name, tg_error *err);
tg_status tg__ledger_api_key_list(const tg__ledger *ledger,
                                  bool (*fn)(void *user, const tg_api_key *key), void *user,
                                  tg_error *err);

/* Operations, as documented for their tg_ counterparts in tollgate.h. */
tg_status tg__ledger_reserve(tg__ledger *ledger, const tg_reserve_request *request, int64_t now_ms,
                             tg_reserve_result *out, tg_error *err);
/* The same, granting at most `cap` (an ask above it is refused, or shrunk to it with
 * min_amount_micros): the waiters leave their elders' claims out this way. */
tg_status tg__ledger_reserve_within(tg__ledger *ledger, const tg_reserve_request *request,
                                    int64_t cap, int64_t now_ms, tg_reserve_result *out,
                                    tg_error *err);
tg_status tg__ledger_commit(tg__ledger *ledger, const tg_commit_request *request, int64_t now_ms,
                            tg_commit_result *out, tg_error *err);
tg_status tg__ledger_release(tg__ledger *ledger, uint64_t hold_id, const char *key, int64_t now_ms,
                             bool *replayed_out, tg_error *err);
tg_status tg__ledger_record(tg__ledger *ledger, const tg_record_request *request, int64_t now_ms,
                            tg_record_result *out, tg_error *err);
tg_status tg__ledger_hold_get(tg__ledger *ledger, uint64_t hold_id, tg_hold_info *out,
                              tg_error *err);

/* Expires holds past their deadline and rolls closed windows, up to now_ms. O(what
 * expired or rolled): both come off ordered heaps. */
void tg__ledger_tick(tg__ledger *ledger, int64_t now_ms);

/* When tg__ledger_tick next has work: the earliest hold expiry or window end, INT64_MAX
 * when none. A daemon sleeps until then instead of ticking. */
int64_t tg__ledger_deadline_ms(const tg__ledger *ledger);

/* True when a mutation left rows (or dirty budgets) that no journal has taken yet. */
bool tg__ledger_pending(const tg__ledger *ledger);

/* Journals one spend-log row (calls.c): copied; dropped when the ledger does not journal. */
void tg__ledger_call_log(tg__ledger *ledger, const tg__call_row *row);

/* Sizes the budget table and index for `count` budgets at once (at most budgets_max),
 * so restoring a million does not grow them twenty times. */
tg_status tg__ledger_budgets_reserve(tg__ledger *ledger, int64_t count, tg_error *err);
/* The same for `count` open holds (at most holds_max). */
tg_status tg__ledger_holds_reserve(tg__ledger *ledger, int64_t count, tg_error *err);

/* Restoring a persisted state, in this order: meta, budgets (parents first), holds, keys,
 * API keys. */
void tg__ledger_restore_meta(tg__ledger *ledger, const tg__meta_row *meta);
tg_status tg__ledger_restore_budget(tg__ledger *ledger, const tg__budget_row *row, const tg__tz *tz,
                                    const tg__tz *template_tz, tg_error *err);
tg_status tg__ledger_restore_hold(tg__ledger *ledger, const tg__hold_row *row, tg_error *err);
tg_status tg__ledger_restore_idem(tg__ledger *ledger, const tg__idem_row *row, tg_error *err);
tg_status tg__ledger_restore_api_key(tg__ledger *ledger, const tg_api_key *row, tg_error *err);

/* ---- approvals.c (tollgate.h, "Approvals") ---- */
/* What an ask says wrong alone: its wait out of range, its words too long. */
tg_status tg__approval_ask_check(const tg_approval_ask *ask, tg_error *err);
/* What tg__ledger_approval_open would refuse for `budget` now: the wait, the reason's
 * length, the bounds. Changes nothing. */
tg_status tg__ledger_approval_check(const tg__ledger *ledger, const char *budget,
                                    const tg_approval_ask *ask, tg_error *err);
/* A pending approval for request `r` (refused as `refused`, class `cls`), answered under
 * `wait_id`; journals it and emits approval_requested. */
tg_status tg__ledger_approval_open(tg__ledger *ledger, const tg_reserve_request *r, tg_class cls,
                                   const tg_refusal *refused, const tg_approval_ask *ask,
                                   uint64_t wait_id, int64_t now_ms, uint64_t *id_out,
                                   tg_error *err);
/* Approves (reserving at once through tg__ledger_reserve: *reserved is its answer) or
 * denies (*reserved a refusal, reason revoked). TG_ERR_STATE when not pending (*out
 * filled). */
tg_status tg__ledger_approval_decide(tg__ledger *ledger, uint64_t id, const tg_approval_verdict *v,
                                     int64_t now_ms, tg_approval_info *out,
                                     tg_reserve_result *reserved, tg_error *err);
/* Expires a pending approval with outcome `why` ("client_gone"); TG_ERR_NOT_FOUND when it
 * is not pending. `out` may be NULL. */
tg_status tg__ledger_approval_expire(tg__ledger *ledger, uint64_t id, const char *why,
                                     int64_t now_ms, tg_approval_info *out);
/* The earliest pending deadline, INT64_MAX when none. */
int64_t tg__ledger_approvals_deadline_ms(const tg__ledger *ledger);
/* Expires every pending approval due by now_ms, calling fn with each after it. */
void tg__ledger_approvals_expire_due(tg__ledger *ledger, int64_t now_ms,
                                     void (*fn)(void *user, const tg_approval_info *info),
                                     void *user);
/* Lookups: the kept approval, or NULL. By wait: the one answered under that waiter. */
const tg_approval_info *tg__ledger_approval_find(const tg__ledger *ledger, uint64_t id);
const tg_approval_info *tg__ledger_approval_by_wait(const tg__ledger *ledger, uint64_t wait_id);
/* Newest first; stops when fn returns false. */
void tg__ledger_approval_list(const tg__ledger *ledger,
                              bool (*fn)(void *user, const tg_approval_info *info), void *user);
int64_t tg__ledger_approvals_pending(const tg__ledger *ledger);
/* At open, in id order. A pending row stays pending until tg__ledger_approvals_restart. */
tg_status tg__ledger_restore_approval(tg__ledger *ledger, const tg_approval_info *row,
                                      tg_error *err);
/* After a load: every pending approval expires with outcome "restart" (its caller's
 * connection died with the old process), journaled for the next write. */
void tg__ledger_approvals_restart(tg__ledger *ledger, int64_t now_ms);

/* Checks every invariant (sums of holds, no negative counters); TG_ERR_CORRUPT with a
 * sentence if one fails. O(budgets + holds): for tests and after restoring. */
tg_status tg__ledger_check(const tg__ledger *ledger, tg_error *err);

/* True when a journal row was lost to OOM: the engine must fail and reopen. */
bool tg__ledger_journal_broken(const tg__ledger *ledger);

/* Open holds now. */
int64_t tg__ledger_holds_open(const tg__ledger *ledger);

/* Live budgets now. */
int64_t tg__ledger_budgets_count(const tg__ledger *ledger);

/*
 * Exchanges the ledger's journal with *other, rows and buffers: the ledger keeps
 * journaling into what *other held (normally an empty journal whose buffers are
 * warm), and *other receives the batch just decided, for another thread to
 * write. Finish the journal first (tg__ledger_journal). Core keeps no pointer
 * into journal rows, so the swap is safe between any two operations.
 */
void tg__ledger_journal_swap(tg__ledger *ledger, tg__journal *other);

#endif
