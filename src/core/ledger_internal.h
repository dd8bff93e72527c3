/*
 * ledger_internal: the ledger's tables, shared by the files that implement it
 * (ledger.c, budget.c, holds.c, idempotency.c, policy.c). Nothing outside
 * src/core/ includes this.
 *
 * Tables are arrays of slots addressed by int32 index, with a hash index on top
 * (core/map.h): budgets by path, holds by id, keys by text. Slots are reused
 * through free lists, so a ledger's memory is bounded by its maximums.
 */
#ifndef TG_CORE_LEDGER_INTERNAL_H
#define TG_CORE_LEDGER_INTERNAL_H

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/ledger.h"
#include "core/map.h"
#include "core/path.h"

/* Cheap invariant checks stay on in release builds (TG_VERIFY): a broken ledger must stop,
 * not spend. */
#include "core/verify.h"

typedef struct {
    char *path;         /* full path, from malloc at its exact size (a ledger may hold millions);
                         * NULL for a free slot */
    int32_t parent;     /* slot of the parent, -1 for a root */
    int32_t children;   /* live children */
    int32_t next_free;  /* free list link when the slot is free */
    int32_t holds;      /* open holds whose path includes this budget */
    bool live;          /* slot in use */
    bool dirty;         /* changed since the journal was last finished */
    bool listed;        /* on the dirty list (kept across a slot's reuse) */
    bool path_in_chunk; /* path is in a restore chunk (budget_index.c), not its own malloc */
    int32_t window_pos; /* position in the window heap, -1 when not in it */
    bool frozen;        /* frozen by an admin */
    const tg_budget_spec *spec; /* as declared; shared with budgets of the same spec (specs.c) */
    const tg__tz *tz;           /* window zone; owned by the engine */
    const tg_budget_spec *template_spec; /* a child made on first use gets it; NULL: none */
    const tg__tz *template_tz;
    int64_t children_max;    /* bound on children a template may bring it to */
    int64_t window_start_ms; /* current window [start, end) */
    int64_t window_end_ms;
    int64_t spent_micros; /* charged in this window */
    int64_t held_micros;  /* open holds on this budget */
    int64_t calls_used;
    int64_t calls_held;
    int64_t tokens_used;
    int64_t tokens_held;
    int64_t threshold_micros;               /* derived: TG_NONE without a cost limit */
    int64_t ceiling_micros[TG_CLASS_COUNT]; /* derived per class: TG_NONE = unlimited */
    uint32_t alerts_fired;                  /* bit i: alert i reported this window */
    uint32_t revoked;                       /* bit c: class c revoked this window */
} tg__budget;

typedef struct tg__spec_entry tg__spec_entry; /* specs.c */
typedef struct tg__path_chunk tg__path_chunk; /* budget_index.c */

typedef struct {
    uint64_t id;      /* 0 for a free slot */
    int32_t budget;   /* leaf budget slot */
    int32_t heap_pos; /* position in the expiry heap */
    int32_t next_free;
    int32_t cls;
    bool cancel_requested; /* its class was revoked on its path */
    int64_t amount_micros;
    int64_t tokens;
    int64_t created_at_ms;
    int64_t expires_at_ms;
    char tool[TG_NAME_SIZE_MAX];
    char model[TG_NAME_SIZE_MAX];
} tg__hold;

typedef struct {
    tg__idem_row row; /* key "" for a free slot */
    int32_t next_free;
    int32_t fifo_next; /* insertion order, for forgetting after the ttl */
} tg__idem;

typedef struct {
    char *tool_glob; /* from malloc, or NULL */
    char *model_glob;
    char *budget_glob;
    tg_class cls;
} tg__rule;

/* An open hold's expiry and what it frees in one dimension (retry advice, decide.c). */
typedef struct {
    int64_t at_ms;
    int64_t amount;
} tg__expiring;

/* settle.c: the share of a hold that commits, over the holds that closed. */
typedef struct {
    int64_t closed;   /* holds noted, up to the moving mean's span and beyond */
    int64_t mean_ppm; /* charged / held, parts per million (0..2e6) */
    int64_t dev_ppm;  /* mean absolute deviation around it */
} tg__settle;

struct tg__ledger {
    tg__ledger_options options;

    tg__budget *budgets; /* from malloc, grows up to budgets_max */
    int32_t budgets_capacity;
    int32_t budgets_live;
    int32_t budgets_free;        /* free list head, -1 when empty */
    tg__map budget_index;        /* path -> slot */
    tg__map_slot *index_pending; /* restored, not yet in budget_index (from malloc); NULL:
                                  * none. tg__budget_find puts them in first. */
    int32_t index_pending_count;
    int32_t index_pending_capacity;
    tg__path_chunk *path_chunks; /* restored budgets' paths; freed with the ledger */
    int32_t *dirty;              /* budgets_capacity slots marked since the last journal */
    int32_t dirty_count;
    int32_t *window_heap; /* live budget slots with a window end, earliest first */
    int32_t window_heap_count;
    int32_t restore_last; /* the budget restored last, -1: its chain holds the next one's parent */

    tg__spec_entry **specs; /* each from malloc, never moved; freed with the ledger */
    int32_t specs_capacity;
    int32_t specs_live;
    int32_t specs_free; /* free list head, -1 when empty */
    int32_t specs_last; /* the slot interned last, tried first; -1 before any */
    tg__map spec_index; /* spec hash -> slot */

    tg__hold *holds; /* from malloc, grows up to holds_max */
    int32_t holds_capacity;
    int32_t holds_live;
    int32_t holds_free;
    tg__map hold_index;     /* id -> slot */
    int32_t *heap;          /* hold slots ordered by expires_at_ms */
    tg__expiring *expiring; /* holds_capacity scratch rows for retry advice on a refusal */

    tg__idem *keys; /* idempotency keys */
    int32_t keys_capacity;
    int32_t keys_live;
    int32_t keys_free;
    int32_t keys_oldest; /* FIFO head, -1 when empty */
    int32_t keys_newest;
    tg__map key_index;

    tg__rule *rules;
    size_t rules_count;
    tg_class default_class;

    tg_api_key *api_keys; /* dense, unordered; from malloc, up to TG_API_KEYS_MAX */
    int32_t api_keys_count;
    int32_t api_keys_capacity;
    tg__map api_key_names;  /* name -> index */
    tg__map api_key_hashes; /* sha256 -> index */

    tg_approval_info *approvals; /* approvals.c: in id order, up to TG_APPROVALS_KEPT_MAX */
    int32_t approvals_count;
    int32_t approvals_capacity;
    int64_t approvals_pending; /* of them, pending */
    uint64_t next_approval_id; /* from 1; restored as one past the largest stored */

    uint64_t next_hold_id;
    uint64_t next_charge_id;
    uint64_t next_event_id;

    tg__journal journal;
    bool journal_broken; /* a row could not be kept: nothing may be acknowledged */

    tg__settle settle; /* how much of a hold usually commits (settle.c) */
};

/*
 * Locked by an overrun: spend is above the cost limit (a commit above its hold, a
 * forced record, a limit lowered below spend). Derived, never stored, so it holds
 * across restarts and lifts by itself when the window rolls or the limit is raised.
 */
static inline bool tg__budget_locked(const tg__budget *budget) {
    return budget->spec->cost_limit_micros >= 0 &&
           budget->spent_micros > budget->spec->cost_limit_micros;
}

/* budget_index.c: the path index (completed at the first lookup after a start-up), and
 * budget paths (a restored one in a shared chunk, others from malloc). */
int32_t tg__budget_find(const tg__ledger *ledger, const char *path);
/* Keeps the next `count` puts aside until the first lookup (a start-up); the index must
 * already have room for them. */
tg_status tg__budget_index_defer(tg__ledger *ledger, int64_t count, tg_error *err);
void tg__budget_index_flush(tg__ledger *ledger);
tg_status tg__budget_index_put(tg__ledger *ledger, const char *path, int32_t slot);
void tg__budget_index_remove(tg__ledger *ledger, const char *path, int32_t slot);
/* A copy of `path` (NULL when out of memory), in a chunk when `restoring`. */
char *tg__budget_path_copy(tg__ledger *ledger, const char *path, bool restoring, bool *in_chunk);
void tg__budget_path_free(tg__budget *budget);
/* Frees every path, the chunks and the index. */
void tg__budget_index_free(tg__ledger *ledger);

/* budget.c */
/* Fills chain[] with the slots from the leaf to the root; returns the depth. */
int tg__budget_chain(const tg__ledger *ledger, int32_t leaf, int32_t chain[TG_PATH_DEPTH_MAX]);
/* Rolls the budget's window if now_ms is past its end. */
void tg__budget_roll(tg__ledger *ledger, tg__budget *budget, int64_t now_ms);
/* Reports alerts and revocations that the budget's spend has reached. */
void tg__budget_check_levels(tg__ledger *ledger, int32_t slot, int64_t now_ms);
void tg__budget_mark(tg__ledger *ledger, tg__budget *budget);
/* Grows the budget table so `live_max` budgets fit and the index so `creates` more
 * paths go in, without allocating. */
tg_status tg__budgets_reserve(tg__ledger *ledger, int64_t live_max, int64_t creates, tg_error *err);
/* A new slot for a stored budget, linked under its parent, without events or journal. */
tg_status tg__budget_restore_slot(tg__ledger *ledger, const char *path, int32_t *out,
                                  tg_error *err);
/* Puts a budget in the window heap, or moves it after its window end changed. */
void tg__window_heap_fix(tg__ledger *ledger, int32_t slot);
void tg__window_heap_remove(tg__ledger *ledger, int32_t slot);
/* windows.c: rolls the windows that ended by now_ms; the earliest end, or INT64_MAX. */
void tg__windows_roll(tg__ledger *ledger, int64_t now_ms);
int64_t tg__windows_next_end_ms(const tg__ledger *ledger);
/* What class `cls` could still hold on the path from `leaf` with a call of `tokens`
 * tokens: 0 when a budget is frozen, has the class revoked, or is out of calls or
 * tokens; TG_NONE when unlimited. */
int64_t tg__budget_headroom(tg__ledger *ledger, int32_t leaf, int cls, int64_t tokens);
void tg__budget_derive(tg__budget *budget);
tg_status tg__budget_spec_check(const tg_budget_spec *spec, tg_error *err);

/* tg__ledger_budget_put whose budget_changed event for a new budget says `created_detail`. */
tg_status tg__budget_put_as(tg__ledger *ledger, const char *path, const tg_budget_spec *spec,
                            const tg__tz *tz, int64_t now_ms, const char *created_detail,
                            tg_error *err);
/* templates.c: a missing child made from its parent's template; TG_ERR_NOT_FOUND when the
 * parent has none, TG_ERR_FULL at its bound. */
tg_status tg__budget_from_template(tg__ledger *ledger, const char *path, int64_t now_ms,
                                   int32_t *out, tg_error *err);
/* Sets or (spec NULL) removes a budget's template, without checks or events. */
tg_status tg__template_assign(tg__ledger *ledger, int32_t slot, const tg_budget_spec *spec,
                              const tg__tz *tz, int64_t children_max, tg_error *err);

/* specs.c: budget specs kept once, shared by reference count. */
/* The shared copy of `spec` with one more reference. TG_ERR_NOMEM unless reserved. */
tg_status tg__spec_intern(tg__ledger *ledger, const tg_budget_spec *spec,
                          const tg_budget_spec **out, tg_error *err);
/* Drops a reference from tg__spec_intern (NULL: nothing). */
void tg__spec_release(tg__ledger *ledger, const tg_budget_spec *spec);
/* Makes sure the next `count` interns cannot fail. */
tg_status tg__specs_reserve(tg__ledger *ledger, int64_t count, tg_error *err);
void tg__specs_free(tg__ledger *ledger);
/* budget.c: field by field; padding and the bytes after a zone name's NUL do not count. */
bool tg__spec_same(const tg_budget_spec *a, const tg_budget_spec *b);

/* holds.c */
/* Grows the table and index so `count` holds fit (at most holds_max), at once. */
tg_status tg__holds_reserve(tg__ledger *ledger, int64_t count, tg_error *err);
int32_t tg__hold_find(const tg__ledger *ledger, uint64_t id);
/* Takes a free slot, growing the table; fill it, then tg__hold_open (which cannot fail). */
tg_status tg__hold_slot_acquire(tg__ledger *ledger, int32_t *out, tg_error *err);
void tg__hold_open(tg__ledger *ledger, int32_t slot);
/* Removes a live hold's amounts from its path and frees its slot. */
void tg__hold_close(tg__ledger *ledger, int32_t slot);
/* settle.c: note a hold that closed (held, and what it charged: 0 for a release or an
 * expiry); and the money open holds worth `held_micros` are likely to free, learnt from
 * the holds that closed (all of it while none has). */
void tg__settle_note(tg__ledger *ledger, int64_t held_micros, int64_t charged_micros);
int64_t tg__settle_likely_free(const tg__ledger *ledger, int64_t held_micros);
void tg__holds_expire(tg__ledger *ledger, int64_t now_ms);
void tg__hold_journal_put(tg__ledger *ledger, const tg__hold *hold);
bool tg__hold_on_path(const tg__ledger *ledger, const tg__hold *hold, int32_t budget);

/* checks.c: always-on pre- and post-conditions of reserve, commit, release and record,
 * each O(path length); a failed one is a ledger bug and stops the process (TG_VERIFY). */
typedef struct {
    int64_t spent_micros;
    int64_t held_micros;
    int64_t calls_used; /* in a delta: 1 when a charge is made */
    int64_t calls_held; /* in a delta: 1 when a hold opens, -1 when one closes */
    int64_t tokens_used;
    int64_t tokens_held;
} tg__path_counts;

/* A path's counters and the ledger's id counters before a mutation. */
typedef struct {
    int depth;
    int32_t holds_live;
    uint64_t next_hold_id;
    uint64_t next_charge_id;
    tg__path_counts counts[TG_PATH_DEPTH_MAX]; /* chain order, leaf first */
} tg__path_snapshot;

/* Pre-condition: the path from tg__budget_chain is linked and its counters in range;
 * records them in *out for tg__path_after. */
void tg__path_before(const tg__ledger *ledger, const int32_t *chain, int depth,
                     tg__path_snapshot *out);
/* Post-condition: every budget of the path moved by exactly `delta`, and ids by one
 * per hold opened and charge made. */
void tg__path_after(const tg__ledger *ledger, const int32_t *chain, const tg__path_snapshot *before,
                    const tg__path_counts *delta);
/* The hold in `slot` (found by its id, or just indexed) is live and counted on every
 * budget of its path. */
void tg__hold_verify_open(const tg__ledger *ledger, int32_t slot, const int32_t *chain, int depth);
/* After a grant: every budget of the path is within its limits for class `cls`. */
void tg__path_verify_granted(const tg__ledger *ledger, const int32_t *chain, int depth, int cls);

/* decide.c */
/* `value` is 0..max, else TG_ERR_INVALID (negative) or TG_ERR_RANGE, naming `what`. The
 * redis ledger makes its checks with it too, so both ledgers refuse alike. */
tg_status tg__amount_check(int64_t value, const char *what, int64_t max, tg_error *err);

/* idempotency.c */
/* Looks a key up. TG_OK with *found NULL when new; TG_ERR_CONFLICT when its
 * arguments differ. Forgets keys older than the ttl first. */
tg_status tg__idem_lookup(tg__ledger *ledger, const char *key, tg__op_kind op, uint64_t args_hash,
                          int64_t now_ms, const tg__idem_row **found, tg_error *err);
/* Makes sure a following tg__idem_remember for `key` cannot fail (no-op without a key). */
tg_status tg__idem_prepare(tg__ledger *ledger, const char *key, tg_error *err);
tg_status tg__idem_remember(tg__ledger *ledger, const tg__idem_row *row);
tg_status tg__idem_check_key(const char *key, tg_error *err);
void tg__idem_free(tg__ledger *ledger);

/* policy.c */
void tg__policy_free(tg__ledger *ledger);

/* api_keys.c */
void tg__api_keys_free(tg__ledger *ledger);

/* approvals.c */
void tg__approvals_free(tg__ledger *ledger);

/* ledger.c */
/* Emits an event: gives it an id, journals it, calls the callback. */
void tg__ledger_emit(tg__ledger *ledger, tg_event *event);
/* An event with every optional field set to "not applicable". */
void tg__event_init(tg_event *event, tg_event_kind kind, int64_t now_ms, const char *budget);
/*
 * Appends a zeroed row to a journal array and returns it, or NULL when not
 * journaling. On OOM it marks the journal broken (the engine then refuses to
 * acknowledge anything and must be reopened) and returns NULL.
 */
void *tg__journal_push(tg__ledger *ledger, void *rows, size_t item_size);

#define TG_JOURNAL_PUSH(ledger, array)                                                             \
    ((ledger)->options.journal ? tg__journal_push((ledger), &(ledger)->journal.array,              \
                                                  sizeof(*(ledger)->journal.array.items))          \
                               : NULL)

#endif
