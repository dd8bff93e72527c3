/*
 * tollgate.h: the public C API of libtollgate. This header is the documentation.
 *
 * Tollgate enforces spending budgets on AI agents at run time. Every paid action
 * passes a gate that prices it, holds its worst-case cost against every budget
 * from its own up to the root (reserve), lets it run or refuses it, and then
 * charges what it really cost (commit) or drops the hold (release).
 *
 * Conventions, kept by every function below:
 *   - Money is int64_t micro-units of the budget's currency (1 USD = 1,000,000),
 *     never floating point. Fractions are int64_t parts per million (ppm).
 *   - Time is passed in as Unix milliseconds (`now_ms`); the library reads no
 *     clock of its own, so a decision is reproducible from its inputs.
 *   - Fallible functions return tg_status. TG_OK is 0. A failed call leaves its
 *     outputs untouched, frees what it allocated, and changes no ledger state.
 *     An optional `tg_error *err` receives a human sentence on failure.
 *   - Handles are opaque, made by an open or new function and freed by the
 *     matching close or free function; passing NULL to those is a no-op.
 *   - Strings passed in are copied; pointers returned are owned by the library
 *     unless the declaration says "caller frees".
 *   - Thread safety: a tg_engine is not thread-safe. Use one engine from one
 *     thread at a time (the daemon owns it on its event-loop thread). The one
 *     exception is tg_group_commit_write(), made to run on a writer thread.
 */
#ifndef TOLLGATE_H
#define TOLLGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_VERSION "0.1.0"

/* ---- Status codes --------------------------------------------------------- */

typedef enum {
    TG_OK = 0,
    TG_ERR_INVALID = -1,     /* bad argument: malformed path, negative amount, ... */
    TG_ERR_NOT_FOUND = -2,   /* no such budget or hold */
    TG_ERR_EXISTS = -3,      /* already exists (e.g. creating a budget twice) */
    TG_ERR_CONFLICT = -4,    /* idempotency key reused with different arguments */
    TG_ERR_STATE = -5,       /* not allowed now (hold already closed, budget has children) */
    TG_ERR_RANGE = -6,       /* number out of range or a sum would overflow */
    TG_ERR_FULL = -7,        /* a table reached its configured maximum */
    TG_ERR_NOMEM = -8,       /* out of memory */
    TG_ERR_IO = -9,          /* the store failed; the engine refuses writes until reopened */
    TG_ERR_TZ = -10,         /* unknown or malformed time zone */
    TG_ERR_CORRUPT = -11,    /* the store's content is inconsistent */
    TG_ERR_UNSUPPORTED = -12 /* the store cannot do this (e.g. history in memory) */
} tg_status;

/* A stable lowercase name for a status ("ok", "invalid", ...). Never NULL. */
const char *tg_status_str(tg_status status);

#define TG_ERROR_MESSAGE_SIZE 256

/* Detail of a failure, filled by a function that fails when the caller passes one. */
typedef struct {
    tg_status status;                    /* same value the function returned */
    char message[TG_ERROR_MESSAGE_SIZE]; /* a sentence for a person; NUL-terminated */
} tg_error;

/* ---- Limits ------------------------------------------------------------------ */

#define TG_PATH_SIZE_MAX 256                      /* bytes in a budget path, NUL included */
#define TG_PATH_DEPTH_MAX 8                       /* segments in a budget path */
#define TG_SEGMENT_SIZE_MAX 64                    /* bytes in one path segment */
#define TG_NAME_SIZE_MAX 128                      /* bytes in a tool or model name, NUL included */
#define TG_KEY_SIZE_MAX 128                       /* bytes in an idempotency key, NUL included */
#define TG_ALERTS_MAX 8                           /* alert thresholds per budget */
#define TG_AMOUNT_MAX INT64_C(1000000000000000)   /* 1e15 micros = 1e9 currency units per call */
#define TG_LIMIT_MAX INT64_C(1000000000000000000) /* 1e18: any limit or counter */
#define TG_PPM 1000000                            /* 1.0 as parts per million */
#define TG_NONE (-1)                              /* "not set" for an optional int64 field */

/* ---- Vocabulary ------------------------------------------------------------- */

typedef enum {
    TG_CLASS_LOW = 0,
    TG_CLASS_NORMAL = 1,
    TG_CLASS_HIGH = 2,
    TG_CLASS_CRITICAL = 3,
    TG_CLASS_AUTO = 4 /* in a request: let the policy rules decide */
} tg_class;
#define TG_CLASS_COUNT 4

typedef enum {
    TG_WINDOW_LIFETIME = 0,
    TG_WINDOW_HOUR = 1,
    TG_WINDOW_DAY = 2,
    TG_WINDOW_WEEK = 3, /* ISO weeks: from Monday 00:00 local */
    TG_WINDOW_MONTH = 4
} tg_window_kind;

typedef enum {
    TG_REASON_NONE = 0,
    TG_REASON_CEILING = 1, /* spend + holds + amount would pass the cost limit */
    TG_REASON_REVOKED = 2, /* ... would pass this class's ceiling (below the limit) */
    TG_REASON_FROZEN = 3,  /* an admin froze the budget */
    TG_REASON_CALLS = 4,   /* the call limit is reached */
    TG_REASON_TOKENS = 5,  /* the token limit would be passed */
    TG_REASON_OVERRUN = 6  /* spend is above the cost limit (an overrun): locked for every class */
} tg_reason;
#define TG_REASON_COUNT 7

/*
 * What a commit whose actual cost passes its hold charges, when that cost is the
 * agent's own word (tg_commit_request.agent_reported). See docs/ledger.md.
 */
typedef enum {
    TG_ABOVE_HOLD_CHARGE = 0, /* the whole actual cost (the default: the money is spent) */
    TG_ABOVE_HOLD_CAP = 1     /* the hold's amount only; the excess is reported, not charged */
} tg_above_hold;

/* Stable lowercase names, and the reverse; a parse returns TG_ERR_INVALID on unknown text. */
const char *tg_class_str(tg_class c);
const char *tg_window_str(tg_window_kind w);
const char *tg_reason_str(tg_reason r);
const char *tg_above_hold_str(tg_above_hold a); /* "charge", "cap" */
tg_status tg_class_parse(const char *text, tg_class *out);
tg_status tg_window_parse(const char *text, tg_window_kind *out);
tg_status tg_above_hold_parse(const char *text, tg_above_hold *out);

/* A sentence for a person saying what a refusal's reason means and what helps. Never NULL. */
const char *tg_reason_text(tg_reason r);

/*
 * Parses a decimal money amount ("12.5", "0.000001", "500") into micros, exactly
 * (no floating point). More than 6 decimals, a sign, a point without digits on
 * both sides ("1.", ".5"), or a value past TG_LIMIT_MAX give TG_ERR_INVALID or
 * TG_ERR_RANGE.
 */
tg_status tg_money_parse(const char *text, int64_t *micros_out);
/* Parses a fraction ("0.8", "1", "0.955") into ppm (0..TG_PPM), exactly. */
tg_status tg_fraction_parse(const char *text, int64_t *ppm_out);
/* Formats micros as "12.500000" into buf (at least 32 bytes). Returns buf. */
char *tg_money_format(int64_t micros, char *buf, size_t size);

/* ---- Budgets -------------------------------------------------------------- */

/*
 * A threshold or a class ceiling: either an absolute amount in micros or a
 * fraction (ppm) of the cost limit. Exactly one of the two is >= 0; both
 * TG_NONE means "not set" (use the default).
 */
typedef struct {
    int64_t micros; /* absolute amount, or TG_NONE */
    int64_t ppm;    /* fraction of the cost limit in ppm, or TG_NONE */
} tg_level;

/*
 * What an operator declares about a budget. Start from tg_budget_spec_init(),
 * which sets every optional field to "not set".
 */
typedef struct {
    int64_t cost_limit_micros;              /* spend limit per window, or TG_NONE for none */
    int64_t calls_limit;                    /* calls per window, or TG_NONE */
    int64_t tokens_limit;                   /* tokens per window, or TG_NONE */
    tg_window_kind window;                  /* when spend resets */
    char timezone[64];                      /* IANA zone name for window alignment; "" = UTC */
    tg_level revoke_at;                     /* revocation threshold; unset = the whole limit */
    tg_level class_ceiling[TG_CLASS_COUNT]; /* per-class overrides; unset = default */
    int64_t alerts_ppm[TG_ALERTS_MAX];      /* alert thresholds as fractions of the limit */
    int alerts_count;                       /* how many of alerts_ppm are used */
    tg_above_hold above_hold; /* an agent's commit above its hold, on this budget's subtree */
} tg_budget_spec;

/* Fills *spec with the defaults: no limits, lifetime window, UTC, no alerts, above_hold charge. */
void tg_budget_spec_init(tg_budget_spec *spec);

/* A budget as it stands, from tg_budget_get(). Plain data; the caller owns it. */
typedef struct {
    char path[TG_PATH_SIZE_MAX]; /* e.g. "acme/support/agent-7" */
    tg_budget_spec spec;         /* as declared */
    bool frozen;                 /* frozen by an admin: everything refused */
    int64_t window_start_ms;     /* current window [start, end); INT64_MIN/MAX for lifetime */
    int64_t window_end_ms;
    int64_t spent_micros;     /* charged in this window */
    int64_t held_micros;      /* sum of open holds that include this budget */
    int64_t calls_used;       /* calls charged in this window */
    int64_t calls_held;       /* open holds */
    int64_t tokens_used;      /* tokens charged in this window */
    int64_t tokens_held;      /* tokens held by open holds */
    int64_t threshold_micros; /* effective revocation threshold, TG_NONE without a limit */
    int64_t ceiling_micros[TG_CLASS_COUNT];   /* effective per-class ceilings, TG_NONE = none */
    int64_t remaining_micros[TG_CLASS_COUNT]; /* what each class could still hold here now */
    bool revoked[TG_CLASS_COUNT];             /* classes revoked here by spend in this window */
    bool locked;       /* spend is above the cost limit: every class refused (reason overrun) */
    bool has_template; /* children are made on first use (tg_budget_template_set) */
    tg_budget_spec template_spec; /* what such a child gets, when has_template */
    int64_t children_max;         /* how many children a template may bring it to */
    int64_t children;             /* live children now, however made */
} tg_budget_info;

/* One closed window, from tg_budget_history(). */
typedef struct {
    int64_t window_start_ms;
    int64_t window_end_ms;
    int64_t spent_micros;
    int64_t calls_used;
    int64_t tokens_used;
} tg_window_record;

/* ---- Policy: who decides a call's impact class ------------------------------ */

/*
 * A rule gives a class to an action whose tool, model and budget path match its
 * glob patterns ('*' any run of characters, '?' one character; NULL or "" or
 * "*" matches anything). Rules are tried in order; the first match wins; no
 * match gives the policy's default class.
 */
typedef struct {
    const char *tool_glob;
    const char *model_glob;
    const char *budget_glob;
    tg_class cls;
} tg_policy_rule;

#define TG_POLICY_RULES_MAX 1024

/* ---- Events ----------------------------------------------------------------- */

typedef enum {
    TG_EVENT_THRESHOLD_CROSSED = 0, /* spend passed an alert threshold (once per window) */
    TG_EVENT_REVOKED = 1,           /* a class's ceiling was reached on a budget */
    TG_EVENT_REINSTATED = 2,        /* a revoked class may spend again */
    TG_EVENT_DENIED = 3,            /* a reserve or record was refused */
    TG_EVENT_OVERRUN = 4,           /* a charge passed its hold, or left spend above a limit */
    TG_EVENT_HOLD_EXPIRED = 5,      /* a hold reached its deadline and was released */
    TG_EVENT_WINDOW_ROLLED = 6,     /* a budget's window closed and spend reset */
    TG_EVENT_BUDGET_CHANGED =
        7, /* created (from template), updated, deleted, frozen, template set */
    TG_EVENT_APPROVAL_REQUESTED = 8, /* a refused reserve asks a person (count: approval id) */
    TG_EVENT_APPROVAL_DECIDED = 9    /* approved, denied or expired (detail; count: its id) */
} tg_event_kind;

const char *tg_event_kind_str(tg_event_kind kind);

/*
 * An event. Fields that do not apply to a kind are TG_NONE (numbers), -1
 * (class, reason) or "" (strings). Passed to the callback by pointer; valid
 * only during the call.
 */
typedef struct {
    uint64_t id; /* increasing, unique per ledger; for de-duplication */
    tg_event_kind kind;
    int64_t time_ms;               /* the `now_ms` of the operation that caused it */
    char budget[TG_PATH_SIZE_MAX]; /* the budget it is about */
    int cls;                       /* tg_class, or -1 */
    int reason;                    /* tg_reason for denied, or -1 */
    uint64_t hold_id;              /* the hold concerned, or 0 */
    int64_t amount_micros;         /* asked (denied), actual (overrun), released (expired) */
    int64_t held_micros;           /* the hold's amount (overrun) */
    int64_t spent_micros;          /* the budget's spend after the operation */
    int64_t limit_micros;          /* the budget's cost limit, or TG_NONE */
    int64_t threshold_micros;      /* alert level crossed, or the class ceiling revoked at */
    int64_t count;                 /* holds told to cancel (revoked); alert ppm (threshold) */
    char tool[TG_NAME_SIZE_MAX];   /* tool or model of the hold concerned */
    char detail[TG_NAME_SIZE_MAX]; /* e.g. "created", "frozen"; "capped": overrun not charged */
} tg_event;

/* Called for every event, on the engine's thread, after the event is decided. */
typedef void (*tg_event_fn)(void *user, const tg_event *event);

/* ---- Engine ----------------------------------------------------------------- */

typedef struct tg_engine tg_engine;

typedef enum {
    TG_DURABILITY_STRICT = 0, /* a mutation returns only after it is on disk (fsync) */
    TG_DURABILITY_RELAXED = 1 /* returns at once; synced within sync_interval_ms */
} tg_durability;

typedef struct {
    const char *store;           /* "memory" or "sqlite" */
    const char *path;            /* SQLite file path (sqlite only) */
    tg_durability durability;    /* default strict */
    int64_t sync_interval_ms;    /* relaxed: longest time before a sync; default 50 */
    const char *zoneinfo_dir;    /* where TZif files live; default /usr/share/zoneinfo */
    int64_t holds_max;           /* open holds at once; default 1,000,000 */
    int64_t budgets_max;         /* budgets; default 100,000 */
    int64_t idempotency_max;     /* remembered keys; default 1,000,000 */
    int64_t idempotency_ttl_ms;  /* how long a key is remembered; default 24 h */
    int64_t default_hold_ttl_ms; /* hold ttl when a request gives none; default 10 min */
    int64_t max_hold_ttl_ms;     /* longest ttl a request may ask; default 24 h */
    tg_event_fn on_event;        /* optional */
    void *on_event_user;         /* passed to on_event */
    /* Optional: told that a waiting reserve was decided (take it with tg_wait_poll). Called
     * from inside the engine call that decided it: it must not call the engine. */
    void (*on_wait_ready)(void *user);
    void *on_wait_user; /* passed to on_wait_ready */
} tg_engine_options;

/* Fills *options with the defaults above (store "memory"). */
void tg_engine_options_init(tg_engine_options *options);

/*
 * Opens an engine. With the sqlite store, creates the file if it does not
 * exist, migrates its schema, and replays it into exactly the state last
 * acknowledged. `now_ms` is the time of opening (holds past their deadline are
 * expired by the first operation). *out is freed with tg_engine_close().
 */
tg_status tg_engine_open(const tg_engine_options *options, int64_t now_ms, tg_engine **out,
                         tg_error *err);

/* Syncs what is pending, then frees the engine. NULL is a no-op. */
void tg_engine_close(tg_engine *engine);

/*
 * Does the time-driven work up to `now_ms`: expires holds past their deadline,
 * rolls windows that have closed, and in relaxed mode syncs when the interval
 * has passed. Call it at tg_engine_deadline_ms() (the daemon arms a timer for it)
 * or periodically; its cost is what expired or rolled, never the ledger's size.
 */
tg_status tg_engine_tick(tg_engine *engine, int64_t now_ms, tg_error *err);

/*
 * When tg_engine_tick next has work: the earliest open hold's expiry, the earliest
 * window end, and in relaxed mode the sync due for unsynced mutations. INT64_MAX
 * when nothing is due, ever: an idle program may sleep until then.
 */
int64_t tg_engine_deadline_ms(const tg_engine *engine);

/* True when mutations left rows that are not yet written or detached. */
bool tg_engine_pending(const tg_engine *engine);

/*
 * Group commit. Between tg_engine_batch_begin() and tg_engine_batch_end(), the
 * mutations of a strict engine are not yet durable and must not be acknowledged
 * to anyone; tg_engine_batch_end() writes them all in one transaction with one
 * fsync and returns TG_OK only when they are on disk. Without a batch, each
 * strict mutation is its own transaction. A failed batch_end puts the engine in
 * TG_ERR_IO: every later mutation fails until it is closed and reopened, which
 * restores the last durable state.
 */
void tg_engine_batch_begin(tg_engine *engine);
tg_status tg_engine_batch_end(tg_engine *engine, tg_error *err);

/*
 * Writes everything pending now, in any mode. TG_ERR_STATE while a detached
 * commit is in flight (see below): the engine never writes beside a writer.
 */
tg_status tg_engine_sync(tg_engine *engine, tg_error *err);

/*
 * Pipelined group commit: decide on one thread, write on another (the daemon
 * does this; a program that can block on fsync needs none of it).
 *
 * tg_engine_batch_detach() ends a batch like tg_engine_batch_end() but writes
 * nothing: the batch's rows move into *commit_out, and the engine goes on
 * deciding the next batch into a fresh journal at once. tg_group_commit_write()
 * writes a commit in one transaction with one fsync; it may run on any thread,
 * touches only the store (never the ledger), and is the only user of the
 * store's connection while commits are in flight. tg_engine_commit_done() hands
 * the commit back, on the engine's thread, with the status tg_group_commit_write()
 * returned; its buffers are reused by a later detach.
 *
 * What a caller must keep:
 *   - The mutations of a detached batch are not durable, and must not be
 *     acknowledged, until tg_group_commit_write() of its commit returned TG_OK.
 *   - Commits are written one at a time, in the order they were detached (one
 *     writer thread does it). Once one fails, every later one fails without
 *     writing, and tg_engine_commit_done() with a failure puts the engine in
 *     TG_ERR_IO as a failed tg_engine_batch_end() would.
 *   - At most TG_COMMITS_IN_FLIGHT_MAX commits are detached and not yet done
 *     (TG_ERR_FULL beyond).
 *   - While a commit is in flight the engine writes nothing itself: mutate
 *     inside a batch (a strict mutation outside one returns TG_ERR_STATE and
 *     its rows wait for the next commit), and tg_engine_sync() and
 *     tg_budget_history() return TG_ERR_STATE.
 *   - Every detached commit is done before tg_engine_close().
 *
 * *commit_out is NULL when there is nothing to write now: when the batch holds
 * nothing that needs an fsync (refusals only leave `denied` events, which ride
 * with the next commit unless `force`), and in relaxed mode also while the oldest
 * pending mutation is younger than sync_interval_ms (`force` does not shorten
 * it), so a relaxed caller acknowledges at once and detaches on a timer.
 * Errors: TG_ERR_IO (the engine failed earlier), TG_ERR_FULL, TG_ERR_NOMEM.
 */
typedef struct tg_group_commit tg_group_commit;

#define TG_COMMITS_IN_FLIGHT_MAX 4

tg_status tg_engine_batch_detach(tg_engine *engine, int64_t now_ms, bool force,
                                 tg_group_commit **commit_out, tg_error *err);
tg_status tg_group_commit_write(tg_group_commit *commit, tg_error *err);
void tg_engine_commit_done(tg_engine *engine, tg_group_commit *commit, tg_status status);

/* Counts for monitoring, read on the engine's thread. */
typedef struct {
    int64_t holds_open;        /* holds granted and not yet committed, released or expired */
    int64_t budgets;           /* budgets in the tree */
    int64_t commits_in_flight; /* detached and not yet done */
    /* The store's writes since open (zeros for the memory store); safe to read while a
     * commit is in flight. Pages per commit is the cost of durability that should not
     * grow with the ledger (docs/benchmarks.md). */
    int64_t store_commits;            /* transactions written */
    int64_t store_pages_written;      /* pages (SQLite: WAL frames) they wrote */
    int64_t store_pages_read;         /* pages they read from the file */
    int64_t store_checkpoints;        /* WAL checkpoints run (SQLite), off the commit path or not */
    int64_t store_checkpoints_inline; /* of them, inside a commit (a short catch-up, or the
                                       * WAL past its bound) */
    int64_t store_checkpoint_pages_inline; /* pages (frames) those copied */
    int64_t store_wal_frames;              /* frames (pages) in the WAL after the last commit */
    int64_t store_wal_frames_max;          /* the most frames it held after a commit */
    int64_t store_wal_restarts;            /* times the WAL started over, all of it checkpointed */
} tg_engine_stats;

void tg_engine_stats_get(const tg_engine *engine, tg_engine_stats *out);

/* ---- Budgets and policy ------------------------------------------------------- */

/*
 * Creates or updates the budget at `path` ("acme/support/agent-7": segments of
 * [A-Za-z0-9._-], 1..63 bytes each, at most TG_PATH_DEPTH_MAX). The parent must
 * exist (TG_ERR_NOT_FOUND otherwise): a typo never creates a phantom tree.
 * Updating keeps spend, holds and the window. A cost limit below what is spent
 * now is accepted and locks the budget (every reserve on its subtree refused
 * with TG_REASON_OVERRUN) until spend is back within the limit: an admin's
 * decision to stop the spending, never a rewrite of what was spent. Putting
 * the spec a budget already has changes nothing and reports nothing. Changing
 * the window kind or zone starts a new window.
 */
tg_status tg_budget_put(tg_engine *engine, const char *path, const tg_budget_spec *spec,
                        int64_t now_ms, tg_error *err);

/*
 * Templates, for per-user budgets: a budget with a template makes a missing child
 * on first use. A reserve or record naming "acme/users/u42" when "acme/users" has a
 * template and "acme/users/u42" does not exist creates it with the template's spec
 * (limits, window, zone, ceilings, alerts, above_hold) in the same operation, with a
 * budget_changed event whose detail is "created from template", then decides as
 * usual (the child stays made even when that first call is refused). Only direct
 * children are made, never a deeper path. A parent already at `children_max` live
 * children (made by template or by hand) refuses with TG_ERR_FULL; a parent without
 * a template keeps the plain TG_ERR_NOT_FOUND.
 */
#define TG_CHILDREN_MAX_DEFAULT 100000 /* children a template may bring a parent to */

/*
 * Sets (tmpl != NULL) or removes (tmpl == NULL) the template of the budget at `path`,
 * with a bound of `children_max` children (TG_NONE or 0: TG_CHILDREN_MAX_DEFAULT;
 * at most TG_LIMIT_MAX). Children already made keep their spec. TG_ERR_NOT_FOUND
 * without such a budget; TG_ERR_INVALID or TG_ERR_TZ for a bad template.
 */
tg_status tg_budget_template_set(tg_engine *engine, const char *path, const tg_budget_spec *tmpl,
                                 int64_t children_max, int64_t now_ms, tg_error *err);

/* What tg_budget_template_set would refuse in `tmpl` and `children_max` (a bad spec,
 * TG_ERR_TZ, a bound out of range), changing nothing: for a caller checking a config
 * whole before applying any of it. */
tg_status tg_budget_template_check(tg_engine *engine, const tg_budget_spec *tmpl,
                                   int64_t children_max, tg_error *err);

#define TG_BUDGET_OPS_MAX 10000 /* operations in one tg_budgets_apply */

/* One operation of tg_budgets_apply. */
typedef struct {
    const char *path;           /* the budget; named at most once per call */
    bool remove;                /* delete it (no open holds; children deleted before it) */
    const tg_budget_spec *spec; /* create or update with this spec; unused by a delete */
    /* Optional: also set this template (as tg_budget_template_set); NULL keeps the
     * budget's template as it is, unless remove_template. */
    const tg_budget_spec *child_template;
    int64_t children_max; /* with child_template: TG_NONE or 0 for the default */
    bool remove_template; /* drop the budget's template */
} tg_budget_op;

/* What tg_budgets_apply did. */
typedef struct {
    int64_t created;
    int64_t updated; /* including puts of the spec a budget already had */
    int64_t deleted;
} tg_budget_counts;

/*
 * Creates, updates and deletes many budgets as one change: every operation is
 * checked as the earlier ones leave the ledger (a parent created earlier in `ops`
 * counts; children must be deleted before their parent), and either all apply
 * or none does. Each applies as tg_budget_put or tg_budget_delete would, events
 * included. Errors name the operation's index ("operation 12: ..."). At most
 * TG_BUDGET_OPS_MAX operations (TG_ERR_RANGE). `counts` may be NULL.
 */
tg_status tg_budgets_apply(tg_engine *engine, const tg_budget_op *ops, size_t count, int64_t now_ms,
                           tg_budget_counts *counts, tg_error *err);

/*
 * What tg_budget_put(engine, path, spec, now_ms) would refuse, changing nothing: a
 * malformed path or spec, an unknown time zone (TG_ERR_TZ), a cost limit below what
 * the budget has spent in its window, a missing parent (TG_ERR_NOT_FOUND). For a
 * caller that must apply many budgets all or nothing (the daemon's config).
 */
tg_status tg_budget_check(tg_engine *engine, const char *path, const tg_budget_spec *spec,
                          int64_t now_ms, tg_error *err);

/* Deletes a budget without children or open holds (TG_ERR_STATE otherwise). */
tg_status tg_budget_delete(tg_engine *engine, const char *path, int64_t now_ms, tg_error *err);

/* Freezes (everything refused) or unfreezes a budget and so its subtree. */
tg_status tg_budget_freeze(tg_engine *engine, const char *path, bool frozen, int64_t now_ms,
                           tg_error *err);

/* The budget as it stands at `now_ms` (rolling its window first if it closed). */
tg_status tg_budget_get(tg_engine *engine, const char *path, int64_t now_ms, tg_budget_info *out,
                        tg_error *err);

/*
 * One page of budget paths in path order: up to `limit` paths that start with
 * `prefix` (NULL or "" for every budget) and sort after `after` (NULL for the first
 * page; pass the last path of a page for the next). `paths` has room for `limit`
 * paths; *count_out says how many were written. The cost is one pass over the
 * budgets (no sort of them all), so a client can page through millions.
 */
tg_status tg_budget_page(tg_engine *engine, const char *prefix, const char *after, size_t limit,
                         char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out, tg_error *err);

/*
 * The first `limit` budget paths in path order among those `keep` accepts (called once
 * per budget, on the caller's thread, with the engine's ledger as it is: it must not call
 * the engine). `paths` has room for `limit`; *count_out says how many were written and
 * *matched_out (when not NULL) how many `keep` accepted in all. One pass over the
 * budgets, O(limit) memory: /metrics picks the budgets it exports with it.
 */
tg_status tg_budget_select(tg_engine *engine, bool (*keep)(void *user, const char *path),
                           void *user, size_t limit, char (*paths)[TG_PATH_SIZE_MAX],
                           size_t *count_out, size_t *matched_out, tg_error *err);

/*
 * Lists budget paths starting with `prefix` ("" for all), in path order.
 * Calls fn for each; stops early when fn returns false.
 */
tg_status tg_budget_list(tg_engine *engine, const char *prefix,
                         bool (*fn)(void *user, const char *path), void *user, tg_error *err);

/*
 * Closed windows of a budget, newest first, at most `max` into out[];
 * *count_out says how many. Needs a persistent store (TG_ERR_UNSUPPORTED on
 * "memory"). Writes what is pending first, so TG_ERR_STATE while a detached
 * commit is in flight.
 */
tg_status tg_budget_history(tg_engine *engine, const char *path, tg_window_record *out, size_t max,
                            size_t *count_out, tg_error *err);

/* Replaces the policy rules (copied). count <= TG_POLICY_RULES_MAX. */
tg_status tg_policy_set(tg_engine *engine, const tg_policy_rule *rules, size_t count,
                        tg_class default_class, tg_error *err);

/* The class the policy gives to an action (tool, model may be NULL). */
tg_class tg_policy_classify(const tg_engine *engine, const char *budget, const char *tool,
                            const char *model);

/* ---- API keys ------------------------------------------------------------------ */

/*
 * The bearer keys of a daemon built on the engine, kept with the ledger so that
 * they are durable like budgets (the `api_keys` table with the SQLite store) and
 * change in the same group commits. The engine decides nothing with them; it
 * keeps them, checks their fields and that names and hashes are unique. Only a
 * key's SHA-256 is kept, never the secret.
 */
#define TG_API_KEY_NAME_SIZE_MAX 64 /* bytes in a key's name, NUL included */
#define TG_API_KEY_ROLE_SIZE_MAX 16 /* bytes in a role name, NUL included */
#define TG_API_KEYS_MAX 100000      /* keys one ledger keeps */
#define TG_API_KEY_SHA256_SIZE 32   /* bytes of a key's hash */

typedef struct {
    char name[TG_API_KEY_NAME_SIZE_MAX];          /* [A-Za-z0-9._-], 1..63 bytes; unique */
    unsigned char sha256[TG_API_KEY_SHA256_SIZE]; /* SHA-256 of the secret; unique */
    char role[TG_API_KEY_ROLE_SIZE_MAX];          /* the caller's word for what it may do */
    char scope[TG_PATH_SIZE_MAX];                 /* a budget path, or "" for every budget */
    tg_class class_max;                           /* the highest class its actions may get */
    int64_t created_at_ms;                        /* when made or last given a new secret */
} tg_api_key;

/*
 * Adds a key (replace = false: TG_ERR_EXISTS when the name is taken) or replaces
 * the key of that name (replace = true: TG_ERR_NOT_FOUND when there is none), e.g.
 * with a new hash to rotate its secret. TG_ERR_EXISTS when another key has the same
 * hash; TG_ERR_INVALID for a bad name, role, scope or class; TG_ERR_FULL past
 * TG_API_KEYS_MAX. created_at_ms is set to now_ms.
 */
tg_status tg_api_key_put(tg_engine *engine, const tg_api_key *key, bool replace, int64_t now_ms,
                         tg_error *err);

/* Deletes the key of that name (TG_ERR_NOT_FOUND when there is none). */
tg_status tg_api_key_delete(tg_engine *engine, const char *name, int64_t now_ms, tg_error *err);

/* Calls fn for each key, in name order; stops early when fn returns false. */
tg_status tg_api_key_list(tg_engine *engine, bool (*fn)(void *user, const tg_api_key *key),
                          void *user, tg_error *err);

/* ---- Holds and charges -------------------------------------------------------- */

typedef struct {
    const char *budget;          /* path of the budget the action is charged to */
    int64_t amount_micros;       /* worst-case cost to hold, 0..TG_AMOUNT_MAX */
    int64_t tokens;              /* worst-case tokens, 0 if not counted */
    tg_class cls;                /* TG_CLASS_AUTO: the policy decides from tool/model */
    const char *tool;            /* optional: tool name (policy, events, charges) */
    const char *model;           /* optional: model name */
    int64_t ttl_ms;              /* 0: the engine's default; at most max_hold_ttl_ms */
    const char *idempotency_key; /* optional */
    int64_t wait_ms; /* 0: decide now; else wait up to this long for room (Waiting holds) */
    /* > 0: shrink to fit. When amount_micros does not fit now (and, with wait_ms, waiting
     * is unlikely to help), grant the largest amount from this up to amount_micros that
     * fits now, in the same decision, instead of refusing; 0: never shrink. At most
     * amount_micros. The local ledger only (a Redis ledger ignores it). */
    int64_t min_amount_micros;
    /* With wait_ms: false (the default), queue whenever open holds COULD make room, as
     * the request asked to wait; true, queue only when they are LIKELY to (the share of
     * a hold this ledger sees committed, learnt from closed holds), else refuse at once
     * so the agent does not wait in vain. The local ledger only. */
    bool wait_likely;
} tg_reserve_request;

/* Why a request was refused, filled when a reserve or record is refused. */
typedef struct {
    tg_reason reason;
    char budget[TG_PATH_SIZE_MAX]; /* the first budget from the leaf up that refused */
    int64_t max_amount_micros;     /* the largest amount that would pass now for this class */
    int64_t retry_after_ms; /* when a retry could succeed, or TG_NONE: only a person can help */
} tg_refusal;

typedef struct {
    bool granted;          /* false: see refusal */
    uint64_t hold_id;      /* granted: the hold, > 0 */
    int64_t expires_at_ms; /* granted: the hold's deadline */
    tg_class cls;          /* the class the action was given */
    tg_refusal refusal;    /* !granted && !waiting */
    bool replayed;         /* an idempotent repeat: this is the first answer */
    bool waiting;          /* queued (wait_ms): the answer comes from tg_wait_poll */
    uint64_t wait_id;      /* waiting: its id, > 0, for tg_wait_poll and tg_wait_cancel */
    int64_t amount_micros; /* granted by the local ledger: the amount held, below the ask
                            * when shrunk to fit (min_amount_micros); 0 otherwise */
} tg_reserve_result;

/*
 * Reserve (authorize): walks from the budget to the root and refuses at the
 * first budget where it is frozen, its spend is above its cost limit (overrun:
 * an overrun locked it for every class, critical included, until the window
 * rolls over or the limit is raised to the spend), the call or token limit
 * would be passed, or spend + holds + amount would pass the limit (ceiling) or
 * the class's ceiling (revoked). Otherwise holds the amount on every budget of
 * the path atomically.
 * A refusal returns TG_OK with granted=false and changes nothing (so a refusal
 * is not remembered under its idempotency key: a retry decides afresh).
 * Errors: TG_ERR_INVALID, TG_ERR_NOT_FOUND (budget), TG_ERR_CONFLICT
 * (key reused with other arguments), TG_ERR_FULL (holds_max), TG_ERR_IO.
 * With wait_ms > 0 it may queue instead of refusing (see "Waiting holds" below):
 * TG_ERR_RANGE for wait_ms above TG_WAIT_MS_MAX, TG_ERR_FULL past TG_WAITERS_MAX or
 * TG_WAITERS_PER_BUDGET_MAX.
 */
tg_status tg_reserve(tg_engine *engine, const tg_reserve_request *request, int64_t now_ms,
                     tg_reserve_result *out, tg_error *err);

typedef struct {
    uint64_t hold_id;
    int64_t actual_micros; /* what the action really cost, 0..TG_AMOUNT_MAX */
    int64_t tokens_in;     /* actual tokens, for the record and token limits */
    int64_t tokens_out;
    const char *idempotency_key; /* optional */
    /* The actual cost is the agent's own word (the daemon sets it for agent keys), not
     * a cost Tollgate measured (its proxy, its MCP gateway) or an admin's: budgets
     * whose above_hold is TG_ABOVE_HOLD_CAP then charge at most the hold. */
    bool agent_reported;
} tg_commit_request;

typedef struct {
    int64_t charged_micros; /* what was charged: actual, or the hold's amount when capped */
    int64_t overrun_micros; /* actual above the hold, 0 if none (charged unless capped) */
    uint64_t charge_id;     /* the charge row */
    bool capped;            /* the overrun was not charged (above_hold cap on the path) */
    bool replayed;
} tg_commit_result;

/*
 * Commit (capture): releases the hold and charges the actual cost on every
 * budget of its path. Actual above the hold is still charged (the money is
 * spent) and reported as an overrun event; so is a commit that leaves a budget
 * above its limit (an admin lowered the limit under open holds). A budget left
 * above its limit is locked (TG_REASON_OVERRUN) and every class revoked on it
 * until spend is back within the limit. The one exception: an agent_reported
 * commit on a path where a budget's above_hold is TG_ABOVE_HOLD_CAP charges the
 * hold's amount only (capped = true) and reports the rest as an overrun event
 * whose detail is "capped". Tokens are charged as given either way.
 * TG_ERR_NOT_FOUND for an unknown, expired or already closed hold (an
 * idempotent repeat returns the first answer).
 */
tg_status tg_commit(tg_engine *engine, const tg_commit_request *request, int64_t now_ms,
                    tg_commit_result *out, tg_error *err);

/* Release (void): drops a hold; nothing is charged. */
tg_status tg_release(tg_engine *engine, uint64_t hold_id, const char *idempotency_key,
                     int64_t now_ms, bool *replayed_out, tg_error *err);

typedef struct {
    const char *budget;
    int64_t cost_micros; /* 0..TG_AMOUNT_MAX */
    int64_t tokens_in;
    int64_t tokens_out;
    tg_class cls; /* TG_CLASS_AUTO: policy */
    const char *tool;
    const char *model;
    bool force; /* charge even past limits (the money is already spent) */
    const char *idempotency_key;
} tg_record_request;

typedef struct {
    bool charged; /* false: refused (only without force), see refusal */
    uint64_t charge_id;
    tg_refusal refusal;
    bool replayed;
} tg_record_result;

/*
 * Record: charges a cost that happened without a hold. Without `force` it is
 * checked like a reserve and refused the same way; with `force` it is always
 * charged (a cost already incurred), which may pass a limit: that is reported
 * as an overrun event, and locks the budget as a commit above its hold does.
 */
tg_status tg_record(tg_engine *engine, const tg_record_request *request, int64_t now_ms,
                    tg_record_result *out, tg_error *err);

/* A hold as it stands. */
typedef struct {
    uint64_t id;
    char budget[TG_PATH_SIZE_MAX];
    int64_t amount_micros;
    int64_t tokens;
    tg_class cls;
    char tool[TG_NAME_SIZE_MAX];
    char model[TG_NAME_SIZE_MAX];
    int64_t created_at_ms;
    int64_t expires_at_ms;
    bool cancel_requested; /* its class was revoked on a budget of its path: stop the work */
} tg_hold_info;

/* An open hold. TG_ERR_NOT_FOUND once it is committed, released or expired. */
tg_status tg_hold_get(tg_engine *engine, uint64_t hold_id, tg_hold_info *out, tg_error *err);

/* ---- Waiting holds -------------------------------------------------------------- */

/*
 * A reserve with wait_ms > 0 that does not fit now but could within its wait queues
 * instead of being refused: tg_reserve answers granted=false, waiting=true and a
 * wait_id, and the engine decides it later, inside whichever call makes room (a
 * commit, a release, a tick that expires holds or rolls a window, a budget put that
 * raises a limit or unfreezes), or refuses it at its deadline with the usual refusal
 * and advice. "Could fit" means, on every budget of its path that would refuse it
 * now: open holds there are likely to make room (the share of a hold that is usually
 * not committed, learnt from the holds that closed; in full before any closed), after
 * older waiters' claims, or the window rolls before the deadline and the ask fits a
 * fresh window. Otherwise (more than the limit or the class's ceiling, a frozen
 * budget, a revoked class or an overrun lock whose window ends after the deadline,
 * holds that will likely be committed) it is refused at once, as without wait_ms but
 * for the advice: retry_after_ms is only ever a window roll then (TG_NONE otherwise),
 * and max_amount_micros leaves older waiters' claims out. A waiter that becomes
 * unlikely to fit is refused then, not at its deadline.
 *
 * Order (docs/ledger.md, "Waiting holds"): waiters are decided first come first
 * served per budget. A waiter is never granted while an older waiter waits for a
 * budget of its path, so a small request cannot overtake an older large one that the
 * money being freed would fit; room is offered to waiters in the same call that frees
 * it, before any later request is decided. A reserve without wait_ms is not queued
 * behind waiters (it is decided on what fits now, as always).
 *
 * Nothing of a waiter is durable: a closed engine or a restarted daemon forgets its
 * waiters (nothing was held for them), and their callers see the connection end.
 */
#define TG_WAITERS_MAX 10000            /* waiting reserves in one engine */
#define TG_WAITERS_PER_BUDGET_MAX 1000  /* waiting reserves naming one budget */
#define TG_WAIT_MS_MAX (10 * 60 * 1000) /* the longest wait_ms */

/* A waiter decided: granted (a hold is open), refused at its deadline, or failed. */
typedef struct {
    uint64_t wait_id;
    tg_status status;         /* TG_OK: see result; else why it failed (budget deleted...) */
    tg_reserve_result result; /* status TG_OK: granted, or refused with advice */
    int64_t waited_ms;        /* from queueing to the decision */
    char message[TG_ERROR_MESSAGE_SIZE]; /* status != TG_OK: a sentence */
} tg_wait_result;

/* Takes the next decided waiter, oldest decision first. False when none is ready. */
bool tg_wait_poll(tg_engine *engine, tg_wait_result *out);

/* Cancels a waiter (its caller went away): it is dropped and never decided, and the
 * room it claimed is offered to the waiters behind it (which may be granted in this
 * call). TG_ERR_NOT_FOUND when no such waiter waits (decided, cancelled or unknown). */
tg_status tg_wait_cancel(tg_engine *engine, uint64_t wait_id, int64_t now_ms, tg_error *err);

/* A waiter as it stands. */
typedef struct {
    uint64_t wait_id;
    char budget[TG_PATH_SIZE_MAX];
    int64_t amount_micros;
    int64_t tokens;
    tg_class cls;
    char tool[TG_NAME_SIZE_MAX];
    char model[TG_NAME_SIZE_MAX];
    int64_t created_at_ms;             /* when it was queued */
    int64_t deadline_ms;               /* when it is refused if still waiting */
    char blocked_at[TG_PATH_SIZE_MAX]; /* the budget it waits for ("" when behind a waiter) */
} tg_wait_info;

/* Calls fn for each waiter in arrival order; stops early when fn returns false. */
tg_status tg_wait_list(tg_engine *engine, bool (*fn)(void *user, const tg_wait_info *info),
                       void *user, tg_error *err);

/* Waiters queued now. */
int64_t tg_wait_count(const tg_engine *engine);

/* ---- Approvals ------------------------------------------------------------------ */

/*
 * A reserve refused only because its class may not spend there now (reason revoked: the
 * class's ceiling, or the class revoked; never the hard limit, a frozen budget, calls or
 * tokens) may ask a person instead of failing: tg_approval_request makes it a pending
 * approval with an id, emits TG_EVENT_APPROVAL_REQUESTED, and waits like a waiting hold
 * (its answer comes from tg_wait_poll under the returned wait_id). An admin then decides
 * it once (tg_approval_decide): approved, it is reserved at once for the amount and class
 * approved (default critical, whose ceiling is the hard limit), granted if the money is
 * still there and refused with the ledger's reason if not; denied, or expired at its
 * deadline (or when its waiter is cancelled: the client left), it is refused. Every
 * transition is a journal row (table approvals: who asked, who decided, when, what, the
 * outcome) and a TG_EVENT_APPROVAL_DECIDED event. A pending approval does not survive
 * a restart: its caller's connection is gone, so at open it is expired (outcome
 * "restart"), nothing held. The local ledger only (a plugged ledger: TG_ERR_UNSUPPORTED).
 */
#define TG_APPROVALS_PENDING_MAX 1000          /* pending approvals in one engine */
#define TG_APPROVALS_PER_BUDGET_MAX 100        /* pending approvals naming one budget */
#define TG_APPROVALS_KEPT_MAX 10000            /* approvals kept in memory (older: the store) */
#define TG_APPROVAL_TEXT_SIZE_MAX 256          /* bytes of a reason or a note, NUL included */
#define TG_APPROVAL_WAIT_MS_MAX TG_WAIT_MS_MAX /* the longest an approval waits */

typedef enum {
    TG_APPROVAL_PENDING = 0,  /* waiting for a person */
    TG_APPROVAL_APPROVED = 1, /* approved: hold_id > 0 if granted, else refused (outcome) */
    TG_APPROVAL_DENIED = 2,   /* denied by a person */
    TG_APPROVAL_EXPIRED = 3   /* nobody decided in time, the client left, or a restart */
} tg_approval_state;

const char *tg_approval_state_str(tg_approval_state state);
/* TG_ERR_INVALID for anything but the four names above. */
tg_status tg_approval_state_parse(const char *text, tg_approval_state *out);

/* An approval as it stands. Strings are NUL-terminated, "" when not known. */
typedef struct {
    uint64_t id;                            /* > 0, increasing */
    uint64_t wait_id;                       /* the waiter its answer comes under (0: restored) */
    char budget[TG_PATH_SIZE_MAX];          /* the budget asked */
    int64_t amount_micros;                  /* the amount asked */
    int64_t tokens;                         /* tokens asked */
    tg_class cls;                           /* the class it was refused for */
    char tool[TG_NAME_SIZE_MAX];            /* tool of the request */
    char model[TG_NAME_SIZE_MAX];           /* model of the request */
    char refused_at[TG_PATH_SIZE_MAX];      /* the budget that refused it */
    char reason[TG_APPROVAL_TEXT_SIZE_MAX]; /* why the agent asks (its words) */
    char requested_by[TG_API_KEY_NAME_SIZE_MAX]; /* the key that asked */
    int64_t requested_at_ms;                     /* when it was asked */
    int64_t deadline_ms;                         /* when it expires if still pending */
    tg_approval_state state;
    char decided_by[TG_API_KEY_NAME_SIZE_MAX]; /* the admin, "" for expiry */
    int64_t decided_at_ms;                     /* TG_NONE while pending */
    char note[TG_APPROVAL_TEXT_SIZE_MAX];      /* the admin's words */
    tg_class approved_cls;                     /* approved: the class granted at, else -1 */
    int64_t approved_micros;                   /* approved: the amount, else 0 */
    uint64_t hold_id;                          /* approved and granted: the hold, else 0 */
    char outcome[TG_NAME_SIZE_MAX]; /* "granted", "refused: <reason> at <budget>", "denied",
                                     * "expired", "client_gone", "restart" */
} tg_approval_info;

typedef struct {
    int64_t wait_ms;          /* 1..TG_APPROVAL_WAIT_MS_MAX: how long the agent waits */
    const char *reason;       /* optional: the agent's words, < TG_APPROVAL_TEXT_SIZE_MAX */
    const char *requested_by; /* optional: the key's name */
} tg_approval_ask;

/*
 * Reserves `request` (its wait_ms must be 0); when refused for reason revoked, opens an
 * approval instead: out->waiting = true, out->wait_id for tg_wait_poll, *approval_id_out
 * its id. Granted or refused for any other reason, it answers like tg_reserve.
 * TG_ERR_FULL past TG_APPROVALS_PENDING_MAX or TG_APPROVALS_PER_BUDGET_MAX (or the
 * waiters' bound), TG_ERR_RANGE for a wait_ms out of range, TG_ERR_INVALID for a reason
 * too long.
 */
tg_status tg_approval_request(tg_engine *engine, const tg_reserve_request *request,
                              const tg_approval_ask *ask, int64_t now_ms, tg_reserve_result *out,
                              uint64_t *approval_id_out, tg_error *err);

typedef struct {
    bool approve;          /* true: approve; false: deny */
    tg_class cls;          /* approve: the class to grant at; TG_CLASS_AUTO: critical */
    int64_t amount_micros; /* approve: 1..the amount asked; 0: the amount asked */
    const char *by;        /* the admin's key name (required) */
    const char *note;      /* optional, < TG_APPROVAL_TEXT_SIZE_MAX */
} tg_approval_verdict;

/*
 * Decides a pending approval once; *out is the approval after it. Its waiter gets the
 * answer (granted, or refused with the reason). TG_ERR_NOT_FOUND for an unknown id,
 * TG_ERR_STATE when it is no longer pending (approved, denied, expired: *out is filled
 * with it), TG_ERR_INVALID for an amount above the ask or a missing `by`.
 */
tg_status tg_approval_decide(tg_engine *engine, uint64_t approval_id,
                             const tg_approval_verdict *verdict, int64_t now_ms,
                             tg_approval_info *out, tg_error *err);

/* An approval kept in memory (the last TG_APPROVALS_KEPT_MAX). TG_ERR_NOT_FOUND if not. */
tg_status tg_approval_get(tg_engine *engine, uint64_t approval_id, tg_approval_info *out,
                          tg_error *err);

/* The approval whose answer comes under `wait_id`; TG_ERR_NOT_FOUND when none. */
tg_status tg_approval_by_wait(tg_engine *engine, uint64_t wait_id, tg_approval_info *out,
                              tg_error *err);

/* Calls fn for each approval kept, newest first; stops when fn returns false. */
tg_status tg_approval_list(tg_engine *engine, bool (*fn)(void *user, const tg_approval_info *info),
                           void *user, tg_error *err);

/* Pending approvals now. */
int64_t tg_approval_pending_count(const tg_engine *engine);

#ifdef __cplusplus
}
#endif

#endif /* TOLLGATE_H */
