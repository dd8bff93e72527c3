/*
 * test_model: the engine against a reference model, on random operation sequences.
 *
 * Each sequence builds a random budget tree (one or two roots, up to three
 * levels, random cost/calls/tokens limits, thresholds absolute or fractional,
 * class overrides, alerts; lifetime, hour or day windows in UTC), then plays
 * about 200 random steps: time passing (sometimes by hours or days), tick,
 * reserve, commit (actual below, at and above the hold, by an agent or not, on
 * budgets that charge or cap an agent's overrun), release, record with and
 * without force, freeze and unfreeze, cost limit updates (raised, lowered,
 * removed, below spend, the same again), idempotent repeats with the same and
 * with other arguments, and calls that must fail. After every step it checks
 * that the engine and the model agree on:
 *   - the call's status and every output field (granted, hold id, deadline,
 *     class, refusal reason and budget, max_amount, retry_after, charged,
 *     overrun, charge id, replayed; outputs untouched on failure);
 *   - every event of the step (as a multiset: kind, budget, class, reason,
 *     hold, amounts, spend, limit, level, count, tool, detail);
 *   - every budget's state (window, spent, held, calls, tokens, threshold,
 *     ceilings, remaining per class, revoked flags, locked, frozen) and every open
 *     hold (amount, class, deadline, cancel_requested);
 * and that no budget's spend passes its limit except by charges reported as
 * overruns (forced records, commits above their hold, commits after an admin
 * lowered the limit) or by an admin putting the limit below the spend, nor its
 * spend and holds except by forced records and commit overruns while its limit
 * was never lowered; and that a budget above its limit has every class revoked.
 *
 * The model is written from include/tollgate.h and DESIGN.md with plain arrays
 * and loops: every derived number (held sums, ceilings, headroom) is recomputed
 * from scratch each time it is needed. Where the documents are silent, the
 * model follows the implementation and says so in a "Decision:" comment.
 *
 * Where the implementation once disagreed with the documents (retry_after of a
 * `ceiling` refusal, max_amount and remaining ignoring calls and tokens,
 * removing a cost limit leaving classes revoked; see test_ledger_ops.c,
 * test_ledger_rules.c), the model follows the documents.
 *
 * Deterministic: TG_MODEL_SEED (default below) and TG_MODEL_SEQUENCES (default
 * 3000). A failure prints the sequence's seed, the step, and the last steps.
 */
#include "model.h"

#include <inttypes.h>

#define M_BUDGETS_MAX 32    /* a tree of at most 14, and children made from templates */
#define M_HOLDS_MAX 1024    /* holds made in one sequence (at most one per step) */
#define M_KEYS_MAX 512      /* idempotency keys remembered in one sequence */
#define M_REQUESTS_MAX 1024 /* keyed requests kept for repeats */
#define M_EVENTS_MAX 1024   /* events in one step */
#define M_STEPS 200
#define M_TRACE 24 /* steps printed on failure */

#define M_DEFAULT_TTL_MS (10 * MINUTE_MS)
#define M_MAX_TTL_MS (24 * HOUR_MS)
#define M_IDEM_TTL_MS (45 * MINUTE_MS)

/* ---- random numbers --------------------------------------------------------------------- */

typedef struct {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
    uint64_t z = (r->state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t rng_range(rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static bool rng_chance(rng *r, int percent) {
    return (int)(rng_next(r) % 100) < percent;
}

/* ---- failure context --------------------------------------------------------------------- */

static struct {
    uint64_t seed;
    int step;
    char trace[M_TRACE][160];
    int trace_count;
} ctx;

static void trace(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void trace(const char *format, ...) {
    char *line = ctx.trace[ctx.trace_count % M_TRACE];
    int used = snprintf(line, sizeof ctx.trace[0], "step %3d: ", ctx.step);
    va_list args;
    va_start(args, format);
    vsnprintf(line + used, sizeof ctx.trace[0] - (size_t)used, format, args);
    va_end(args);
    ctx.trace_count++;
}

static void m_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void m_fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    char message[512];
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    print_error("model mismatch at step %d: %s\n", ctx.step, message);
    int first = ctx.trace_count > M_TRACE ? ctx.trace_count - M_TRACE : 0;
    for (int i = first; i < ctx.trace_count; i++) {
        print_error("  %s\n", ctx.trace[i % M_TRACE]);
    }
    print_error("replay: TG_MODEL_SEED=%" PRIu64 " TG_MODEL_SEQUENCES=1\n", ctx.seed);
    fail();
}

#define M_EQ(what, engine_value, model_value)                                                      \
    do {                                                                                           \
        int64_t e_ = (int64_t)(engine_value), m_ = (int64_t)(model_value);                         \
        if (e_ != m_) {                                                                            \
            m_fail("%s: engine %lld, model %lld", (what), (long long)e_, (long long)m_);           \
        }                                                                                          \
    } while (0)

/* ---- vocabulary shared by the model and the driver --------------------------------------- */

static const char *const tool_names[] = {"", "search", "t1", "deploy_x", "deploy"};
static const char *const model_names[] = {"", "m-small", "m-big"};
#define TOOLS_COUNT 5
#define MODELS_COUNT 3

static const tg_policy_rule policy_rules[] = {
    {.tool_glob = "deploy_*", .cls = TG_CLASS_CRITICAL},
    {.model_glob = "m-small", .budget_glob = "r/a*", .cls = TG_CLASS_LOW},
    {.tool_glob = "t?", .cls = TG_CLASS_HIGH},
    {.budget_glob = "s*", .cls = TG_CLASS_LOW},
};
#define RULES_COUNT 4
#define POLICY_DEFAULT TG_CLASS_NORMAL

enum { OP_RESERVE = 1, OP_COMMIT, OP_RELEASE, OP_RECORD };
static const char *const op_names[] = {"", "reserve", "commit", "release", "record"};

/* One request, as the driver sends it and the model receives it. */
typedef struct {
    int op;
    char key[16];      /* "" for none */
    int budget;        /* budget index; -1 is a path that does not exist */
    int64_t amount;    /* reserve: amount; record: cost */
    int64_t tokens;    /* reserve */
    int64_t tokens_in; /* commit, record */
    int64_t tokens_out;
    int cls;          /* tg_class, TG_CLASS_AUTO included */
    int tool, model;  /* indexes into tool_names, model_names */
    int64_t ttl;      /* reserve */
    bool force;       /* record */
    bool agent;       /* commit: the actual cost is the agent's word (agent_reported) */
    uint64_t hold_id; /* commit, release */
    char child[8];    /* reserve, record: "" or a child of `budget` that may not exist yet */
} m_request;

/* An event with the fields the engine reports, "not applicable" as in tollgate.h. */
typedef struct {
    int kind;
    char budget[TG_PATH_SIZE_MAX];
    int cls, reason;
    uint64_t hold_id;
    int64_t amount, held, spent, limit, threshold, count;
    char tool[TG_NAME_SIZE_MAX];
    char detail[TG_NAME_SIZE_MAX];
} m_event;

/* ---- the model ------------------------------------------------------------------------------ */

typedef struct {
    char path[TG_PATH_SIZE_MAX];
    int parent;          /* index, -1 for a root */
    tg_budget_spec spec; /* as declared */
    bool frozen;
    int64_t window_start, window_end; /* [start, end) */
    int64_t spent, calls_used, tokens_used;
    bool revoked[TG_CLASS_COUNT];
    bool alert_fired[TG_ALERTS_MAX];
    int64_t slack;     /* this window: forced records and commit overruns charged here */
    int64_t reported;  /* this window: costs of charges here that were reported as overruns */
    int64_t excused;   /* spend above limit + reported left by an admin's last limit update */
    bool lowered;      /* its limit was lowered or added under open holds at some point */
    bool has_template; /* missing children named in a reserve or record are made from it */
    tg_budget_spec template_spec;
    int64_t children_max;
} m_budget;

typedef struct {
    uint64_t id;
    int leaf;
    int64_t amount, tokens;
    int cls;
    int tool, model;
    int64_t created, expires;
    bool open;
    bool cancel_requested;
} m_hold;

typedef struct {
    m_request request; /* the first call's arguments (and its key) */
    int64_t created;
    /* the first answer */
    uint64_t hold_id;
    int64_t expires;
    int cls;
    int64_t charged, overrun;
    bool capped;
    uint64_t charge_id;
} m_key;

typedef struct {
    tg_status status;
    tg_reserve_result reserve;
    tg_commit_result commit;
    bool release_replayed;
    tg_record_result record;
} m_answer;

typedef struct {
    m_budget budgets[M_BUDGETS_MAX];
    int budgets_count;
    m_hold holds[M_HOLDS_MAX]; /* every hold ever made; holds[i].id == i + 1 */
    int holds_count;
    m_key keys[M_KEYS_MAX];
    int keys_count;
    uint64_t next_charge_id;
    int64_t now;
    m_event events[M_EVENTS_MAX]; /* expected events of this step */
    int events_count;
} model;

static void m_event_init(m_event *e, int kind, const char *budget) {
    memset(e, 0, sizeof *e);
    e->kind = kind;
    snprintf(e->budget, sizeof e->budget, "%s", budget);
    e->cls = -1;
    e->reason = -1;
    e->amount = e->held = e->spent = e->limit = e->threshold = e->count = TG_NONE;
}

static m_event *m_emit(model *m, int kind, const char *budget) {
    if (m->events_count >= M_EVENTS_MAX) {
        m_fail("too many events in one step");
    }
    m_event *e = &m->events[m->events_count++];
    m_event_init(e, kind, budget);
    return e;
}

static const char *tool_or_model(int tool, int model_index) {
    return tool_names[tool][0] ? tool_names[tool] : model_names[model_index];
}

/* Is budget b on the path from leaf to its root? */
static bool m_on_path(const model *m, int leaf, int b) {
    for (int i = leaf; i >= 0; i = m->budgets[i].parent) {
        if (i == b) {
            return true;
        }
    }
    return false;
}

/* Sums of the open holds whose path includes budget b. */
static void m_held(const model *m, int b, int64_t *amount, int64_t *calls, int64_t *tokens) {
    *amount = *calls = *tokens = 0;
    for (int i = 0; i < m->holds_count; i++) {
        const m_hold *h = &m->holds[i];
        if (h->open && m_on_path(m, h->leaf, b)) {
            *amount += h->amount;
            *calls += 1;
            *tokens += h->tokens;
        }
    }
}

/* A level (absolute, or a fraction of the limit) in micros; TG_NONE when unset.
 * Decision: a fraction rounds down, so a ceiling is never above what was declared. */
static int64_t m_level(tg_level level, int64_t limit) {
    if (level.micros >= 0) {
        return level.micros;
    }
    if (level.ppm >= 0) {
        return limit * level.ppm / TG_PPM;
    }
    return TG_NONE;
}

/* The revocation threshold: as declared, or the whole limit when unset. */
static int64_t m_threshold(const m_budget *b) {
    int64_t limit = b->spec.cost_limit_micros;
    if (limit < 0) {
        return TG_NONE;
    }
    int64_t threshold = m_level(b->spec.revoke_at, limit);
    return threshold < 0 || threshold > limit ? limit : threshold;
}

/* A class's ceiling: its override, else low and normal at the threshold, high
 * half-way between threshold and limit (rounded down), critical at the limit. */
static int64_t m_ceiling(const m_budget *b, int cls) {
    int64_t limit = b->spec.cost_limit_micros;
    if (limit < 0) {
        return TG_NONE;
    }
    int64_t override = m_level(b->spec.class_ceiling[cls], limit);
    if (override >= 0) {
        return override < limit ? override : limit;
    }
    int64_t threshold = m_threshold(b);
    switch (cls) {
    case TG_CLASS_LOW:
    case TG_CLASS_NORMAL:
        return threshold;
    case TG_CLASS_HIGH:
        return threshold + (limit - threshold) / 2;
    default:
        return limit;
    }
}

/* The documents: a budget whose spend is above its cost limit is locked by the
 * overrun, for every class, until spend is back within the limit. */
static bool m_locked(const m_budget *b) {
    return b->spec.cost_limit_micros >= 0 && b->spent > b->spec.cost_limit_micros;
}

static void m_window(tg_window_kind kind, int64_t now, int64_t *start, int64_t *end) {
    int64_t length = kind == TG_WINDOW_HOUR ? HOUR_MS : kind == TG_WINDOW_DAY ? DAY_MS : 0;
    if (length == 0) {
        *start = INT64_MIN;
        *end = INT64_MAX;
        return;
    }
    *start = now - now % length; /* times here are positive */
    *end = *start + length;
}

static void m_close_hold(m_hold *h) {
    h->open = false;
}

/* The time-driven work: holds past their deadline are released and reported;
 * windows that closed roll (spend, calls and tokens reset, alerts rearm, and a
 * revocation lifts unless the class's ceiling is still reached, i.e. is 0).
 * Decision: `window_rolled` carries the closed window's spend and, in `count`,
 * its calls. */
static void m_time_work(model *m) {
    for (;;) {
        m_hold *first = NULL;
        for (int i = 0; i < m->holds_count; i++) {
            m_hold *h = &m->holds[i];
            if (h->open && h->expires <= m->now && (first == NULL || h->expires < first->expires)) {
                first = h;
            }
        }
        if (first == NULL) {
            break;
        }
        m_close_hold(first);
        m_event *e = m_emit(m, TG_EVENT_HOLD_EXPIRED, m->budgets[first->leaf].path);
        e->cls = first->cls;
        e->hold_id = first->id;
        e->amount = e->held = first->amount;
        snprintf(e->tool, sizeof e->tool, "%s", tool_or_model(first->tool, first->model));
    }
    for (int i = 0; i < m->budgets_count; i++) {
        m_budget *b = &m->budgets[i];
        if (m->now < b->window_end) {
            continue;
        }
        m_event *e = m_emit(m, TG_EVENT_WINDOW_ROLLED, b->path);
        e->spent = b->spent;
        e->limit = b->spec.cost_limit_micros;
        e->count = b->calls_used;
        b->spent = b->calls_used = b->tokens_used = 0;
        b->slack = b->reported = b->excused = 0;
        memset(b->alert_fired, 0, sizeof b->alert_fired);
        m_window(b->spec.window, m->now, &b->window_start, &b->window_end);
        for (int c = 0; c < TG_CLASS_COUNT; c++) {
            int64_t ceiling = m_ceiling(b, c);
            if (!b->revoked[c] || (ceiling >= 0 && b->spent >= ceiling)) {
                continue;
            }
            b->revoked[c] = false;
            e = m_emit(m, TG_EVENT_REINSTATED, b->path);
            e->cls = c;
            e->spent = b->spent;
            e->limit = b->spec.cost_limit_micros;
            e->threshold = ceiling;
        }
    }
}

/* What an open hold frees in the dimension a refusal is about: 'c'alls,
 * 't'okens or 'm'oney. */
static int64_t m_frees(const m_hold *h, char dimension) {
    return dimension == 'c' ? 1 : dimension == 't' ? h->tokens : h->amount;
}

/* When could a retry succeed, seen from budget b? The documents: if without the
 * holds `used + asked` fits `level`, at the first time t by which the holds under
 * b expiring at or before t free enough (the later ones counted in full), unless
 * b's window rolls first; else when the window rolls, if `asked` alone fits; else
 * never without a person. Tries every hold's expiry as t (quadratic, on purpose:
 * not the implementation's sort). */
static int64_t m_retry(const model *m, int b, char dimension, int64_t used, int64_t asked,
                       int64_t level, bool holds_matter) {
    int64_t at = TG_NONE;
    if (holds_matter && used + asked <= level) {
        int64_t held = 0;
        for (int i = 0; i < m->holds_count; i++) {
            if (m->holds[i].open && m_on_path(m, m->holds[i].leaf, b)) {
                held += m_frees(&m->holds[i], dimension);
            }
        }
        int64_t needed = used + held + asked - level;
        for (int i = 0; i < m->holds_count; i++) {
            const m_hold *t = &m->holds[i];
            if (!t->open || !m_on_path(m, t->leaf, b) || (at >= 0 && t->expires >= at)) {
                continue;
            }
            int64_t freed = 0;
            for (int j = 0; j < m->holds_count; j++) {
                const m_hold *h = &m->holds[j];
                if (h->open && m_on_path(m, h->leaf, b) && h->expires <= t->expires) {
                    freed += m_frees(h, dimension);
                }
            }
            if (freed >= needed) {
                at = t->expires;
            }
        }
    }
    int64_t window_end = m->budgets[b].window_end;
    if (asked <= level && window_end != INT64_MAX && (at < 0 || window_end < at)) {
        at = window_end;
    }
    return at < 0 ? TG_NONE : at - m->now;
}

/* The largest amount class `cls` could hold on the whole path now; TG_NONE when
 * nothing limits it. The documents: nothing passes a frozen budget, a revoked
 * class, a budget out of calls, or out of tokens for the request. */
static int64_t m_room(const model *m, int leaf, int cls, int64_t tokens) {
    int64_t room = TG_NONE;
    for (int i = leaf; i >= 0; i = m->budgets[i].parent) {
        const m_budget *b = &m->budgets[i];
        int64_t held, calls_held, tokens_held;
        m_held(m, i, &held, &calls_held, &tokens_held);
        if (b->frozen || m_locked(b) || b->revoked[cls]) {
            return 0;
        }
        if (b->spec.calls_limit >= 0 && b->calls_used + calls_held + 1 > b->spec.calls_limit) {
            return 0;
        }
        if (b->spec.tokens_limit >= 0 &&
            b->tokens_used + tokens_held + tokens > b->spec.tokens_limit) {
            return 0;
        }
        int64_t ceiling = m_ceiling(b, cls);
        if (ceiling < 0) {
            continue;
        }
        int64_t here = ceiling - b->spent - held;
        here = here < 0 ? 0 : here;
        room = room < 0 || here < room ? here : room;
    }
    return room;
}

/*
 * Walks from the leaf to the root; false with *refusal at the first budget that
 * refuses. The order within one budget: frozen, then an overrun's lock
 * (`overrun`, as the header lists them), then calls, then tokens, then the cost
 * limit (`ceiling`), then the class's ceiling or a revocation (`revoked`).
 */
static bool m_walk(const model *m, int leaf, int64_t amount, int64_t tokens, int cls,
                   tg_refusal *refusal) {
    for (int i = leaf; i >= 0; i = m->budgets[i].parent) {
        const m_budget *b = &m->budgets[i];
        int64_t held, calls_held, tokens_held;
        m_held(m, i, &held, &calls_held, &tokens_held);
        memset(refusal, 0, sizeof *refusal);
        refusal->reason = TG_REASON_NONE;
        if (b->frozen) {
            refusal->reason = TG_REASON_FROZEN;
            refusal->retry_after_ms = TG_NONE;
        } else if (m_locked(b)) {
            /* The documents: nothing passes; open holds going away cannot help (they
             * leave spend where it is), a new window can if the ask fits the class. */
            refusal->reason = TG_REASON_OVERRUN;
            refusal->retry_after_ms = m_retry(m, i, 'm', 0, amount, m_ceiling(b, cls), false);
        } else if (b->spec.calls_limit >= 0 &&
                   b->calls_used + calls_held + 1 > b->spec.calls_limit) {
            refusal->reason = TG_REASON_CALLS;
            refusal->retry_after_ms =
                m_retry(m, i, 'c', b->calls_used, 1, b->spec.calls_limit, true);
        } else if (b->spec.tokens_limit >= 0 &&
                   b->tokens_used + tokens_held + tokens > b->spec.tokens_limit) {
            refusal->reason = TG_REASON_TOKENS;
            refusal->retry_after_ms =
                m_retry(m, i, 't', b->tokens_used, tokens, b->spec.tokens_limit, true);
        } else if (b->spec.cost_limit_micros >= 0) {
            int64_t limit = b->spec.cost_limit_micros, ceiling = m_ceiling(b, cls);
            int64_t total = b->spent + held + amount;
            if (total > limit) {
                refusal->reason = TG_REASON_CEILING;
            } else if (b->revoked[cls] || total > ceiling) {
                refusal->reason = TG_REASON_REVOKED;
            }
            if (refusal->reason != TG_REASON_NONE) {
                /* The documents: a retry of this class passes only under its ceiling,
                 * and a revoked class waits for the window whatever the holds do. */
                refusal->retry_after_ms =
                    m_retry(m, i, 'm', b->spent, amount, ceiling, !b->revoked[cls]);
                int64_t room = m_room(m, leaf, cls, tokens);
                refusal->max_amount_micros = room < 0 ? 0 : room;
            }
        }
        if (refusal->reason != TG_REASON_NONE) {
            snprintf(refusal->budget, sizeof refusal->budget, "%s", b->path);
            return false;
        }
    }
    return true;
}

/* Tells every open hold of class `cls` under budget b to cancel; how many were told
 * (holds already told are not counted again). */
static int64_t m_cancel(model *m, int b, int cls) {
    int64_t told = 0;
    for (int i = 0; i < m->holds_count; i++) {
        m_hold *h = &m->holds[i];
        if (h->open && h->cls == cls && !h->cancel_requested && m_on_path(m, h->leaf, b)) {
            h->cancel_requested = true;
            told++;
        }
    }
    return told;
}

/* After spend changed on budget b: alerts reached (rounded up: "80% reached" means at
 * least 80% spent) are reported once per window; classes whose ceiling is reached are
 * revoked, and their open holds told to cancel. */
static void m_levels(model *m, int index) {
    m_budget *b = &m->budgets[index];
    int64_t limit = b->spec.cost_limit_micros;
    if (limit < 0) {
        return;
    }
    for (int i = 0; i < b->spec.alerts_count; i++) {
        int64_t level = (limit * b->spec.alerts_ppm[i] + TG_PPM - 1) / TG_PPM;
        if (b->alert_fired[i] || b->spent < level) {
            continue;
        }
        b->alert_fired[i] = true;
        m_event *e = m_emit(m, TG_EVENT_THRESHOLD_CROSSED, b->path);
        e->spent = b->spent;
        e->limit = limit;
        e->threshold = level;
        e->count = b->spec.alerts_ppm[i];
    }
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        int64_t ceiling = m_ceiling(b, c);
        if (b->revoked[c] || b->spent < ceiling) {
            continue;
        }
        b->revoked[c] = true;
        int64_t told = m_cancel(m, index, c);
        m_event *e = m_emit(m, TG_EVENT_REVOKED, b->path);
        e->cls = c;
        e->spent = b->spent;
        e->limit = limit;
        e->threshold = ceiling;
        e->count = told;
    }
    /* A ceiling raised above spend (an admin raised the limit) lifts the revocation. */
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        int64_t ceiling = m_ceiling(b, c);
        if (!b->revoked[c] || b->spent >= ceiling) {
            continue;
        }
        b->revoked[c] = false;
        m_event *e = m_emit(m, TG_EVENT_REINSTATED, b->path);
        e->cls = c;
        e->spent = b->spent;
        e->limit = limit;
        e->threshold = ceiling;
    }
}

/*
 * Charges `cost` on every budget of the path, then reports what it reached.
 * An overrun (a commit above its hold, or a charge leaving a budget above its
 * limit) is one event, with the amount claimed (`claimed`), which a capped
 * commit charged only up to its hold (detail "capped"). Decision: it names the
 * first budget from the leaf up that is above its limit, else the leaf.
 */
static uint64_t m_charge(model *m, int leaf, int64_t cost, int64_t tokens, int cls,
                         uint64_t hold_id, int64_t held_amount, bool above_hold, bool forced,
                         const char *tool, int64_t claimed, bool capped) {
    for (int i = leaf; i >= 0; i = m->budgets[i].parent) {
        m_budget *b = &m->budgets[i];
        b->spent += cost;
        b->calls_used += 1;
        b->tokens_used += tokens;
        b->slack += forced ? cost : 0;
        b->slack += above_hold ? cost - held_amount : 0;
    }
    uint64_t charge_id = m->next_charge_id++;
    for (int i = leaf; i >= 0; i = m->budgets[i].parent) {
        m_levels(m, i);
    }
    int named = above_hold ? leaf : -1;
    for (int i = leaf; i >= 0; i = m->budgets[i].parent) {
        const m_budget *b = &m->budgets[i];
        if (b->spec.cost_limit_micros >= 0 && b->spent > b->spec.cost_limit_micros) {
            named = i;
            break;
        }
    }
    for (int i = leaf; named >= 0 && i >= 0; i = m->budgets[i].parent) {
        m->budgets[i].reported += cost;
    }
    if (named >= 0) {
        const m_budget *b = &m->budgets[named];
        m_event *e = m_emit(m, TG_EVENT_OVERRUN, b->path);
        e->cls = cls;
        e->hold_id = hold_id;
        e->amount = claimed;
        e->held = held_amount;
        e->spent = b->spent;
        e->limit = b->spec.cost_limit_micros;
        snprintf(e->tool, sizeof e->tool, "%s", tool);
        snprintf(e->detail, sizeof e->detail, "%s", capped ? "capped" : "");
    }
    return charge_id;
}

static bool m_glob(const char *pattern, const char *text) {
    if (*pattern == '\0') {
        return *text == '\0';
    }
    if (*pattern == '*') {
        return m_glob(pattern + 1, text) || (*text != '\0' && m_glob(pattern, text + 1));
    }
    if (*text != '\0' && (*pattern == '?' || *pattern == *text)) {
        return m_glob(pattern + 1, text + 1);
    }
    return false;
}

/* First matching rule wins, else the default. Decision: a rule that names a tool
 * (or model) does not match an action without one. */
static int m_classify(const char *budget, const char *tool, const char *model_name) {
    for (int i = 0; i < RULES_COUNT; i++) {
        const tg_policy_rule *rule = &policy_rules[i];
        if (rule->tool_glob && !(tool[0] && m_glob(rule->tool_glob, tool))) {
            continue;
        }
        if (rule->model_glob && !(model_name[0] && m_glob(rule->model_glob, model_name))) {
            continue;
        }
        if (rule->budget_glob && !m_glob(rule->budget_glob, budget)) {
            continue;
        }
        return rule->cls;
    }
    return POLICY_DEFAULT;
}

static bool m_same_arguments(const m_request *a, const m_request *b) {
    if (a->op != b->op) {
        return false;
    }
    switch (a->op) {
    case OP_RESERVE:
        return a->budget == b->budget && strcmp(a->child, b->child) == 0 &&
               a->amount == b->amount && a->tokens == b->tokens && a->cls == b->cls &&
               a->tool == b->tool && a->model == b->model && a->ttl == b->ttl;
    case OP_COMMIT:
        return a->hold_id == b->hold_id && a->amount == b->amount && a->tokens_in == b->tokens_in &&
               a->tokens_out == b->tokens_out && a->agent == b->agent;
    case OP_RELEASE:
        return a->hold_id == b->hold_id;
    default:
        return a->budget == b->budget && strcmp(a->child, b->child) == 0 &&
               a->amount == b->amount && a->tokens_in == b->tokens_in &&
               a->tokens_out == b->tokens_out && a->cls == b->cls && a->tool == b->tool &&
               a->model == b->model && a->force == b->force;
    }
}

/* The remembered key, if any and not yet forgotten (a key lives for the ttl). */
static m_key *m_key_find(model *m, const char *key) {
    for (int i = 0; i < m->keys_count; i++) {
        m_key *k = &m->keys[i];
        if (strcmp(k->request.key, key) == 0 && m->now - k->created < M_IDEM_TTL_MS) {
            return k;
        }
    }
    return NULL;
}

static m_key *m_key_new(model *m, const m_request *r) {
    for (int i = 0; i < m->keys_count; i++) { /* a forgotten key's slot is reused */
        if (strcmp(m->keys[i].request.key, r->key) == 0) {
            memset(&m->keys[i], 0, sizeof m->keys[i]);
            m->keys[i].request = *r;
            m->keys[i].created = m->now;
            return &m->keys[i];
        }
    }
    if (m->keys_count >= M_KEYS_MAX) {
        m_fail("model key table full");
    }
    m_key *k = &m->keys[m->keys_count++];
    memset(k, 0, sizeof *k);
    k->request = *r;
    k->created = m->now;
    return k;
}

/*
 * Looks a key up: 1 when this is a repeat (answer filled), 0 when the request is
 * new, -1 when the key was used with other arguments (TG_ERR_CONFLICT).
 */
static int m_key_lookup(model *m, const m_request *r, m_answer *a) {
    if (r->key[0] == '\0') {
        return 0;
    }
    m_key *k = m_key_find(m, r->key);
    if (k == NULL) {
        return 0;
    }
    if (!m_same_arguments(&k->request, r)) {
        a->status = TG_ERR_CONFLICT;
        return -1;
    }
    a->status = TG_OK;
    switch (r->op) {
    case OP_RESERVE:
        memset(&a->reserve, 0, sizeof a->reserve);
        a->reserve.granted = true;
        a->reserve.hold_id = k->hold_id;
        a->reserve.expires_at_ms = k->expires;
        a->reserve.cls = (tg_class)k->cls;
        a->reserve.replayed = true;
        break;
    case OP_COMMIT:
        memset(&a->commit, 0, sizeof a->commit);
        a->commit.charged_micros = k->charged;
        a->commit.overrun_micros = k->overrun;
        a->commit.capped = k->capped;
        a->commit.charge_id = k->charge_id;
        a->commit.replayed = true;
        break;
    case OP_RELEASE:
        a->release_replayed = true;
        break;
    default:
        memset(&a->record, 0, sizeof a->record);
        a->record.charged = true;
        a->record.charge_id = k->charge_id;
        a->record.replayed = true;
        break;
    }
    return 1;
}

static const char *m_path(const model *m, int budget) {
    return budget >= 0 ? m->budgets[budget].path : "r/zz";
}

/* The path a request names: its budget's, or a child of it. In a static buffer. */
static const char *m_request_path(const model *m, const m_request *r) {
    static char path[TG_PATH_SIZE_MAX];
    snprintf(path, sizeof path, "%s%s%s", m_path(m, r->budget), r->child[0] ? "/" : "", r->child);
    return path;
}

static int m_children(const model *m, int parent) {
    int n = 0;
    for (int i = 0; i < m->budgets_count; i++) {
        n += m->budgets[i].parent == parent;
    }
    return n;
}

static void m_levels(model *m, int index);

/*
 * The budget a reserve or record names, made from its parent's template when it is a
 * missing child of a budget with one (tollgate.h, "Templates"): made before the
 * decision, and kept even when the decision refuses. -1 with *status set when there
 * is none to use.
 */
static int m_resolve(model *m, const m_request *r, tg_status *status) {
    if (r->budget < 0) {
        *status = TG_ERR_NOT_FOUND;
        return -1;
    }
    if (r->child[0] == '\0') {
        return r->budget;
    }
    const char *path = m_request_path(m, r);
    for (int i = 0; i < m->budgets_count; i++) {
        if (strcmp(m->budgets[i].path, path) == 0) {
            return i;
        }
    }
    const m_budget *parent = &m->budgets[r->budget];
    if (!parent->has_template) {
        *status = TG_ERR_NOT_FOUND;
        return -1;
    }
    if (m_children(m, r->budget) >= parent->children_max) {
        *status = TG_ERR_FULL;
        return -1;
    }
    if (m->budgets_count >= M_BUDGETS_MAX) {
        m_fail("model budget table full");
    }
    m_budget *b = &m->budgets[m->budgets_count];
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s", path);
    b->parent = r->budget;
    b->spec = parent->template_spec;
    m_window(b->spec.window, m->now, &b->window_start, &b->window_end);
    int index = m->budgets_count++;
    m_event *e = m_emit(m, TG_EVENT_BUDGET_CHANGED, b->path);
    snprintf(e->detail, sizeof e->detail, "created from template");
    m_levels(m, index);
    return index;
}

static void m_denied(model *m, const tg_refusal *refusal, int cls, int64_t amount,
                     const char *tool) {
    int b = 0;
    while (strcmp(m->budgets[b].path, refusal->budget) != 0) {
        b++;
    }
    m_event *e = m_emit(m, TG_EVENT_DENIED, refusal->budget);
    e->cls = cls;
    e->reason = refusal->reason;
    e->amount = amount;
    e->spent = m->budgets[b].spent;
    e->limit = m->budgets[b].spec.cost_limit_micros;
    snprintf(e->tool, sizeof e->tool, "%s", tool);
}

/* Reserve. A refusal changes nothing and is not remembered under its key. */
static void m_reserve(model *m, const m_request *r, m_answer *a) {
    if (r->amount < 0 || r->tokens < 0 || r->ttl < 0) {
        a->status = TG_ERR_INVALID;
        return;
    }
    if (r->amount > TG_AMOUNT_MAX || r->tokens > TG_AMOUNT_MAX || r->ttl > M_MAX_TTL_MS) {
        a->status = TG_ERR_RANGE;
        return;
    }
    /* Decision (impl order): the key is looked up before the budget is. */
    if (m_key_lookup(m, r, a) != 0) {
        return;
    }
    tg_status status = TG_OK;
    int leaf = m_resolve(m, r, &status);
    if (leaf < 0) {
        a->status = status;
        return;
    }
    const char *path = m->budgets[leaf].path;
    int cls = r->cls == TG_CLASS_AUTO ? m_classify(path, tool_names[r->tool], model_names[r->model])
                                      : r->cls;
    a->status = TG_OK;
    memset(&a->reserve, 0, sizeof a->reserve);
    a->reserve.cls = (tg_class)cls;
    tg_refusal refusal;
    if (!m_walk(m, leaf, r->amount, r->tokens, cls, &refusal)) {
        m_denied(m, &refusal, cls, r->amount, tool_or_model(r->tool, r->model));
        a->reserve.refusal = refusal;
        return;
    }
    if (m->holds_count >= M_HOLDS_MAX) {
        m_fail("model hold table full");
    }
    m_hold *h = &m->holds[m->holds_count];
    memset(h, 0, sizeof *h);
    h->id = (uint64_t)m->holds_count + 1;
    m->holds_count++;
    h->leaf = leaf;
    h->amount = r->amount;
    h->tokens = r->tokens;
    h->cls = cls;
    h->tool = r->tool;
    h->model = r->model;
    h->created = m->now;
    h->expires = m->now + (r->ttl > 0 ? r->ttl : M_DEFAULT_TTL_MS);
    h->open = true;
    a->reserve.granted = true;
    a->reserve.hold_id = h->id;
    a->reserve.expires_at_ms = h->expires;
    if (r->key[0]) {
        m_key *k = m_key_new(m, r);
        k->hold_id = h->id;
        k->expires = h->expires;
        k->cls = cls;
    }
}

static m_hold *m_open_hold(model *m, uint64_t id) {
    if (id == 0 || id > (uint64_t)m->holds_count || !m->holds[id - 1].open) {
        return NULL;
    }
    return &m->holds[id - 1];
}

/* Commit: the hold goes, the actual cost is charged on every budget of its path;
 * above the hold it is still charged, and reported; unless the cost is the agent's
 * word and a budget of the path caps that (above_hold cap): then only the hold is. */
static void m_commit(model *m, const m_request *r, m_answer *a) {
    if (r->amount < 0 || r->tokens_in < 0 || r->tokens_out < 0) {
        a->status = TG_ERR_INVALID;
        return;
    }
    if (m_key_lookup(m, r, a) != 0) {
        return;
    }
    m_hold *h = m_open_hold(m, r->hold_id);
    if (h == NULL) {
        a->status = TG_ERR_NOT_FOUND;
        return;
    }
    m_close_hold(h);
    bool above = r->amount > h->amount, capped = false;
    for (int i = h->leaf; above && r->agent && i >= 0; i = m->budgets[i].parent) {
        capped = capped || m->budgets[i].spec.above_hold == TG_ABOVE_HOLD_CAP;
    }
    a->status = TG_OK;
    memset(&a->commit, 0, sizeof a->commit);
    a->commit.charged_micros = capped ? h->amount : r->amount;
    a->commit.overrun_micros = above ? r->amount - h->amount : 0;
    a->commit.capped = capped;
    a->commit.charge_id =
        m_charge(m, h->leaf, a->commit.charged_micros, r->tokens_in + r->tokens_out, h->cls, h->id,
                 h->amount, above, false, tool_or_model(h->tool, h->model), r->amount, capped);
    if (r->key[0]) {
        m_key *k = m_key_new(m, r);
        k->charged = a->commit.charged_micros;
        k->overrun = a->commit.overrun_micros;
        k->capped = capped;
        k->charge_id = a->commit.charge_id;
    }
}

static void m_release(model *m, const m_request *r, m_answer *a) {
    if (m_key_lookup(m, r, a) != 0) {
        return;
    }
    m_hold *h = m_open_hold(m, r->hold_id);
    if (h == NULL) {
        a->status = TG_ERR_NOT_FOUND;
        return;
    }
    m_close_hold(h);
    a->status = TG_OK;
    a->release_replayed = false;
    if (r->key[0]) {
        m_key_new(m, r);
    }
}

/* Record: without force it is checked like a reserve (holds count); with force it
 * is always charged (the cost was incurred), even on a frozen budget. */
static void m_record(model *m, const m_request *r, m_answer *a) {
    if (r->amount < 0 || r->tokens_in < 0 || r->tokens_out < 0) {
        a->status = TG_ERR_INVALID;
        return;
    }
    if (r->amount > TG_AMOUNT_MAX) {
        a->status = TG_ERR_RANGE;
        return;
    }
    if (m_key_lookup(m, r, a) != 0) {
        return;
    }
    tg_status status = TG_OK;
    int leaf = m_resolve(m, r, &status);
    if (leaf < 0) {
        a->status = status;
        return;
    }
    const char *path = m->budgets[leaf].path;
    int cls = r->cls == TG_CLASS_AUTO ? m_classify(path, tool_names[r->tool], model_names[r->model])
                                      : r->cls;
    int64_t tokens = r->tokens_in + r->tokens_out;
    a->status = TG_OK;
    memset(&a->record, 0, sizeof a->record);
    tg_refusal refusal;
    if (!r->force && !m_walk(m, leaf, r->amount, tokens, cls, &refusal)) {
        m_denied(m, &refusal, cls, r->amount, tool_or_model(r->tool, r->model));
        a->record.refusal = refusal;
        return;
    }
    a->record.charged = true;
    a->record.charge_id = m_charge(m, leaf, r->amount, tokens, cls, 0, 0, false, r->force,
                                   tool_or_model(r->tool, r->model), r->amount, false);
    if (r->key[0]) {
        m_key_new(m, r)->charge_id = a->record.charge_id;
    }
}

static bool m_level_same(tg_level a, tg_level b) {
    return a.micros == b.micros && a.ppm == b.ppm;
}

static bool m_spec_same(const tg_budget_spec *a, const tg_budget_spec *b) {
    bool same = a->cost_limit_micros == b->cost_limit_micros && a->calls_limit == b->calls_limit &&
                a->tokens_limit == b->tokens_limit && a->window == b->window &&
                strcmp(a->timezone, b->timezone) == 0 && m_level_same(a->revoke_at, b->revoke_at) &&
                a->alerts_count == b->alerts_count && a->above_hold == b->above_hold;
    for (int c = 0; same && c < TG_CLASS_COUNT; c++) {
        same = m_level_same(a->class_ceiling[c], b->class_ceiling[c]);
    }
    for (int i = 0; same && i < a->alerts_count; i++) {
        same = a->alerts_ppm[i] == b->alerts_ppm[i];
    }
    return same;
}

/*
 * An admin's update of a budget (same window): the new levels apply at once
 * (revocations, lifts, alerts). A cost limit below what is spent is accepted
 * and locks the budget (the invariant excuses the gap the admin opened); the
 * same spec again changes and reports nothing (a reload of an unchanged config).
 * Lowering a limit under open holds lets their commits pass it: the invariant's
 * allowance grows by what the holds already had beyond the new limit.
 */
static tg_status m_update(model *m, int index, const tg_budget_spec *spec) {
    m_budget *b = &m->budgets[index];
    int64_t limit = spec->cost_limit_micros;
    if (m_spec_same(&b->spec, spec)) {
        return TG_OK;
    }
    b->excused = limit >= 0 && b->spent > limit + b->reported ? b->spent - limit - b->reported : 0;
    int64_t old_limit = b->spec.cost_limit_micros;
    b->lowered = b->lowered || (limit >= 0 && (old_limit < 0 || limit < old_limit));
    b->spec = *spec;
    m_event *e = m_emit(m, TG_EVENT_BUDGET_CHANGED, b->path);
    snprintf(e->detail, sizeof e->detail, "updated");
    m_levels(m, index);
    if (limit < 0) {
        /* The documents: no limit, nothing reached; a revocation lifts. */
        for (int c = 0; c < TG_CLASS_COUNT; c++) {
            if (b->revoked[c]) {
                b->revoked[c] = false;
                e = m_emit(m, TG_EVENT_REINSTATED, b->path);
                e->cls = c;
                e->spent = b->spent;
            }
        }
    }
    return TG_OK;
}

static void m_freeze(model *m, int b, bool frozen) {
    if (m->budgets[b].frozen != frozen) {
        m->budgets[b].frozen = frozen;
        m_event *e = m_emit(m, TG_EVENT_BUDGET_CHANGED, m->budgets[b].path);
        snprintf(e->detail, sizeof e->detail, "%s", frozen ? "frozen" : "unfrozen");
    }
}

/* ---- building a random tree ----------------------------------------------------------------- */

/* Another cost limit for budget b: raised, lowered (to no less than spent), below
 * spent (which locks it), removed (with its levels and alerts), added, or the
 * same; and sometimes the other above_hold. */
static tg_budget_spec random_update(rng *r, const model *m, int index) {
    const m_budget *b = &m->budgets[index];
    tg_budget_spec spec = b->spec;
    if (rng_chance(r, 15)) {
        spec.above_hold =
            spec.above_hold == TG_ABOVE_HOLD_CAP ? TG_ABOVE_HOLD_CHARGE : TG_ABOVE_HOLD_CAP;
    }
    int64_t limit = spec.cost_limit_micros, kind = rng_range(r, 0, 99);
    if (limit < 0) {
        if (kind < 60) {
            spec.cost_limit_micros = rng_range(r, b->spent, b->spent + 30000);
        }
        return spec;
    }
    if (kind < 30) {
        spec.cost_limit_micros = limit + rng_range(r, 1, 10000);
    } else if (kind < 60 && b->spent <= limit) {
        spec.cost_limit_micros = rng_range(r, b->spent, limit);
    } else if (kind < 70 && b->spent > 0) {
        spec.cost_limit_micros = b->spent - rng_range(r, 1, b->spent);
    } else if (kind < 85) {
        tg_budget_spec_init(&spec);
        spec.calls_limit = b->spec.calls_limit;
        spec.tokens_limit = b->spec.tokens_limit;
        spec.window = b->spec.window;
        spec.above_hold = b->spec.above_hold;
        return spec;
    }
    int64_t new_limit = spec.cost_limit_micros;
    if (spec.revoke_at.micros > new_limit) {
        spec.revoke_at.micros = new_limit;
    }
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        if (spec.class_ceiling[c].micros > new_limit) {
            spec.class_ceiling[c].micros = new_limit;
        }
    }
    return spec;
}

static tg_level random_level(rng *r, int64_t limit) {
    if (rng_chance(r, 50)) {
        return (tg_level){rng_range(r, 0, limit), TG_NONE};
    }
    static const int64_t fractions[] = {500000, 800000, 900000, 950000, 1000000};
    int64_t ppm = rng_chance(r, 60) ? fractions[rng_range(r, 0, 4)] : rng_range(r, 0, TG_PPM);
    return (tg_level){TG_NONE, ppm};
}

static tg_budget_spec random_spec(rng *r) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    int64_t window = rng_range(r, 0, 9);
    spec.window = window < 2 ? TG_WINDOW_LIFETIME : window < 6 ? TG_WINDOW_HOUR : TG_WINDOW_DAY;
    if (rng_chance(r, 25)) {
        spec.calls_limit = rng_range(r, 1, 25);
    }
    if (rng_chance(r, 20)) {
        spec.tokens_limit = rng_range(r, 200, 5000);
    }
    if (rng_chance(r, 30)) {
        spec.above_hold = TG_ABOVE_HOLD_CAP;
    }
    if (!rng_chance(r, 85)) {
        return spec;
    }
    int64_t limit = rng_range(r, 1000, 40000);
    spec.cost_limit_micros = limit;
    if (rng_chance(r, 70)) {
        spec.revoke_at = random_level(r, limit);
    }
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        if (rng_chance(r, 12)) {
            spec.class_ceiling[c] = random_level(r, limit);
        }
    }
    spec.alerts_count = (int)rng_range(r, 0, 3);
    for (int i = 0; i < spec.alerts_count; i++) {
        spec.alerts_ppm[i] = rng_range(r, 1, TG_PPM);
    }
    return spec;
}

static void add_budget(model *m, fx *f, rng *r, const char *path, int parent) {
    m_budget *b = &m->budgets[m->budgets_count];
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s", path);
    b->parent = parent;
    b->spec = random_spec(r);
    m_window(b->spec.window, m->now, &b->window_start, &b->window_end);
    int index = m->budgets_count++;
    m_event *e = m_emit(m, TG_EVENT_BUDGET_CHANGED, path);
    snprintf(e->detail, sizeof e->detail, "created");
    m_levels(m, index); /* a ceiling of 0 is reached at once */
    tg_error err = {0};
    tg_status status = tg_budget_put(f->engine, path, &b->spec, m->now, &err);
    if (status != TG_OK) {
        m_fail("tg_budget_put(%s): %s: %s", path, tg_status_str(status), err.message);
    }
}

/* A budget's template as tg_budget_template_set sets it (NULL removes): reported only
 * when it changes. */
static void m_template_set(model *m, int index, const tg_budget_spec *tmpl, int64_t children_max) {
    m_budget *b = &m->budgets[index];
    int64_t bound = children_max <= 0 ? TG_CHILDREN_MAX_DEFAULT : children_max;
    if (tmpl == NULL
            ? !b->has_template
            : b->has_template && b->children_max == bound && m_spec_same(&b->template_spec, tmpl)) {
        return;
    }
    b->has_template = tmpl != NULL;
    b->children_max = tmpl != NULL ? bound : 0;
    if (tmpl != NULL) {
        b->template_spec = *tmpl;
    } else {
        tg_budget_spec_init(&b->template_spec);
    }
    m_event *e = m_emit(m, TG_EVENT_BUDGET_CHANGED, b->path);
    snprintf(e->detail, sizeof e->detail, tmpl != NULL ? "template set" : "template removed");
}

/* Only budgets one below a root get templates: "r/zz", the path that never exists, stays
 * a missing child of a budget without one. */
static bool may_have_template(const model *m, int index) {
    int parent = m->budgets[index].parent;
    return parent >= 0 && m->budgets[parent].parent < 0;
}

static void build_tree(model *m, fx *f, rng *r) {
    static const char *const second[] = {"a", "b", "c"};
    static const char *const third[] = {"x", "y"};
    int first = m->budgets_count;
    int roots = rng_chance(r, 30) ? 2 : 1;
    for (int root = 0; root < roots; root++) {
        char path[32];
        snprintf(path, sizeof path, "%s", root ? "s" : "r");
        int root_index = m->budgets_count;
        add_budget(m, f, r, path, -1);
        int children = (int)rng_range(r, 1, root ? 1 : 3);
        for (int c = 0; c < children; c++) {
            snprintf(path, sizeof path, "%s/%s", root ? "s" : "r", second[c]);
            int child_index = m->budgets_count;
            add_budget(m, f, r, path, root_index);
            int grandchildren = (int)rng_range(r, 0, 2);
            for (int g = 0; g < grandchildren; g++) {
                snprintf(path, sizeof path, "%s/%s/%s", root ? "s" : "r", second[c], third[g]);
                add_budget(m, f, r, path, child_index);
            }
        }
    }
    for (int i = first; i < m->budgets_count; i++) {
        if (may_have_template(m, i) && rng_chance(r, 50)) {
            tg_budget_spec tmpl = random_spec(r);
            int64_t children_max = rng_range(r, 1, 3);
            m_template_set(m, i, &tmpl, children_max);
            tg_error err = {0};
            tg_status status = tg_budget_template_set(f->engine, m->budgets[i].path, &tmpl,
                                                      children_max, m->now, &err);
            if (status != TG_OK) {
                m_fail("tg_budget_template_set(%s): %s: %s", m->budgets[i].path,
                       tg_status_str(status), err.message);
            }
        }
    }
}

/* ---- comparing --------------------------------------------------------------------------------
 */

static void event_from_engine(const tg_event *in, m_event *out) {
    m_event_init(out, in->kind, in->budget);
    out->cls = in->cls;
    out->reason = in->reason;
    out->hold_id = in->hold_id;
    out->amount = in->amount_micros;
    out->held = in->held_micros;
    out->spent = in->spent_micros;
    out->limit = in->limit_micros;
    out->threshold = in->threshold_micros;
    out->count = in->count;
    snprintf(out->tool, sizeof out->tool, "%s", in->tool);
    snprintf(out->detail, sizeof out->detail, "%s", in->detail);
}

static int event_compare(const void *pa, const void *pb) {
    const m_event *a = pa, *b = pb;
    int64_t fields_a[] = {a->kind, a->cls,   a->reason, (int64_t)a->hold_id, a->amount,
                          a->held, a->spent, a->limit,  a->threshold,        a->count};
    int64_t fields_b[] = {b->kind, b->cls,   b->reason, (int64_t)b->hold_id, b->amount,
                          b->held, b->spent, b->limit,  b->threshold,        b->count};
    for (size_t i = 0; i < sizeof fields_a / sizeof fields_a[0]; i++) {
        if (fields_a[i] != fields_b[i]) {
            return fields_a[i] < fields_b[i] ? -1 : 1;
        }
    }
    int order = strcmp(a->budget, b->budget);
    if (order == 0) {
        order = strcmp(a->tool, b->tool);
    }
    return order != 0 ? order : strcmp(a->detail, b->detail);
}

static void print_events(const char *who, const m_event *events, int count) {
    print_error("%s events (%d):\n", who, count);
    for (int i = 0; i < count; i++) {
        const m_event *e = &events[i];
        print_error("  %-17s %-8s cls %d reason %d hold %" PRIu64 " amount %lld held %lld "
                    "spent %lld limit %lld level %lld count %lld tool '%s' %s\n",
                    tg_event_kind_str((tg_event_kind)e->kind), e->budget, e->cls, e->reason,
                    e->hold_id, (long long)e->amount, (long long)e->held, (long long)e->spent,
                    (long long)e->limit, (long long)e->threshold, (long long)e->count, e->tool,
                    e->detail);
    }
}

static void compare_events(model *m, fx *f) {
    static m_event engine_events[M_EVENTS_MAX];
    if (f->events_count > M_EVENTS_MAX) {
        m_fail("too many engine events in one step");
    }
    int count = (int)f->events_count;
    for (int i = 0; i < count; i++) {
        event_from_engine(&f->events[i], &engine_events[i]);
        if (f->events[i].time_ms != m->now) {
            m_fail("event %s has time %lld, not now %lld", tg_event_kind_str(f->events[i].kind),
                   (long long)f->events[i].time_ms, (long long)m->now);
        }
    }
    qsort(engine_events, (size_t)count, sizeof engine_events[0], event_compare);
    qsort(m->events, (size_t)m->events_count, sizeof m->events[0], event_compare);
    bool same = count == m->events_count;
    for (int i = 0; same && i < count; i++) {
        same = event_compare(&engine_events[i], &m->events[i]) == 0;
    }
    if (!same) {
        print_events("engine", engine_events, count);
        print_events("model", m->events, m->events_count);
        m_fail("the step's events differ");
    }
}

static void compare_refusal(const char *op, const tg_refusal *e, const tg_refusal *x) {
    char what[160];
    snprintf(what, sizeof what, "%s refusal reason", op);
    M_EQ(what, e->reason, x->reason);
    if (strcmp(e->budget, x->budget) != 0) {
        m_fail("%s refusal budget: engine '%s', model '%s'", op, e->budget, x->budget);
    }
    snprintf(what, sizeof what, "%s refusal max_amount_micros (%s at %.64s)", op,
             tg_reason_str(x->reason), x->budget);
    M_EQ(what, e->max_amount_micros, x->max_amount_micros);
    snprintf(what, sizeof what, "%s refusal retry_after_ms (%s at %.64s)", op,
             tg_reason_str(x->reason), x->budget);
    M_EQ(what, e->retry_after_ms, x->retry_after_ms);
}

static void compare_answer(int op, const m_answer *e, const m_answer *x) {
    if (e->status != x->status) {
        m_fail("%s status: engine %s, model %s", op_names[op], tg_status_str(e->status),
               tg_status_str(x->status));
    }
    if (x->status != TG_OK) {
        return; /* outputs untouched: checked by the driver */
    }
    switch (op) {
    case OP_RESERVE:
        M_EQ("reserve granted", e->reserve.granted, x->reserve.granted);
        M_EQ("reserve hold_id", e->reserve.hold_id, x->reserve.hold_id);
        M_EQ("reserve expires_at_ms", e->reserve.expires_at_ms, x->reserve.expires_at_ms);
        M_EQ("reserve cls", e->reserve.cls, x->reserve.cls);
        M_EQ("reserve replayed", e->reserve.replayed, x->reserve.replayed);
        if (!x->reserve.granted) {
            compare_refusal("reserve", &e->reserve.refusal, &x->reserve.refusal);
        }
        break;
    case OP_COMMIT:
        M_EQ("commit charged_micros", e->commit.charged_micros, x->commit.charged_micros);
        M_EQ("commit overrun_micros", e->commit.overrun_micros, x->commit.overrun_micros);
        M_EQ("commit capped", e->commit.capped, x->commit.capped);
        M_EQ("commit charge_id", e->commit.charge_id, x->commit.charge_id);
        M_EQ("commit replayed", e->commit.replayed, x->commit.replayed);
        break;
    case OP_RELEASE:
        M_EQ("release replayed", e->release_replayed, x->release_replayed);
        break;
    default:
        M_EQ("record charged", e->record.charged, x->record.charged);
        M_EQ("record charge_id", e->record.charge_id, x->record.charge_id);
        M_EQ("record replayed", e->record.replayed, x->record.replayed);
        if (!x->record.charged) {
            compare_refusal("record", &e->record.refusal, &x->record.refusal);
        }
        break;
    }
}

static void compare_budgets(model *m, fx *f) {
    for (int i = 0; i < m->budgets_count; i++) {
        const m_budget *b = &m->budgets[i];
        tg_budget_info info;
        tg_error err = {0};
        tg_status status = tg_budget_get(f->engine, b->path, m->now, &info, &err);
        if (status != TG_OK) {
            m_fail("tg_budget_get(%s): %s: %s", b->path, tg_status_str(status), err.message);
        }
        int64_t held, calls_held, tokens_held;
        m_held(m, i, &held, &calls_held, &tokens_held);
        char what[160];
#define BUDGET_EQ(field, engine_value, model_value)                                                \
    do {                                                                                           \
        snprintf(what, sizeof what, "%.64s %s", b->path, field);                                   \
        M_EQ(what, engine_value, model_value);                                                     \
    } while (0)
        BUDGET_EQ("frozen", info.frozen, b->frozen);
        BUDGET_EQ("window_start_ms", info.window_start_ms, b->window_start);
        BUDGET_EQ("window_end_ms", info.window_end_ms, b->window_end);
        BUDGET_EQ("spent_micros", info.spent_micros, b->spent);
        BUDGET_EQ("held_micros", info.held_micros, held);
        BUDGET_EQ("calls_used", info.calls_used, b->calls_used);
        BUDGET_EQ("calls_held", info.calls_held, calls_held);
        BUDGET_EQ("tokens_used", info.tokens_used, b->tokens_used);
        BUDGET_EQ("tokens_held", info.tokens_held, tokens_held);
        BUDGET_EQ("threshold_micros", info.threshold_micros, m_threshold(b));
        BUDGET_EQ("locked", info.locked, m_locked(b));
        BUDGET_EQ("above_hold", info.spec.above_hold, b->spec.above_hold);
        BUDGET_EQ("has_template", info.has_template, b->has_template);
        BUDGET_EQ("children_max", info.children_max, b->children_max);
        BUDGET_EQ("children", info.children, m_children(m, i));
        BUDGET_EQ("template cost limit", info.template_spec.cost_limit_micros,
                  b->has_template ? b->template_spec.cost_limit_micros : TG_NONE);
        BUDGET_EQ("cost limit", info.spec.cost_limit_micros, b->spec.cost_limit_micros);
        BUDGET_EQ("window", info.spec.window, b->spec.window);
        for (int c = 0; c < TG_CLASS_COUNT; c++) {
            snprintf(what, sizeof what, "%.64s ceiling_micros[%s]", b->path,
                     tg_class_str((tg_class)c));
            M_EQ(what, info.ceiling_micros[c], m_ceiling(b, c));
            snprintf(what, sizeof what, "%.64s remaining_micros[%s]", b->path,
                     tg_class_str((tg_class)c));
            M_EQ(what, info.remaining_micros[c], m_room(m, i, c, 0));
            snprintf(what, sizeof what, "%.64s revoked[%s]", b->path, tg_class_str((tg_class)c));
            M_EQ(what, info.revoked[c], b->revoked[c]);
        }
#undef BUDGET_EQ
        /* The invariant: spend passes the limit only by charges reported as overruns
         * (forced records, commits above their hold, commits after a lowered limit);
         * and while the limit was never lowered under them, holds stay within it too. */
        int64_t limit = b->spec.cost_limit_micros;
        if (limit >= 0 && b->spent > limit + b->reported + b->excused) {
            m_fail("%s: spent %lld is past limit %lld + reported overruns %lld + limit put "
                   "below spend %lld",
                   b->path, (long long)b->spent, (long long)limit, (long long)b->reported,
                   (long long)b->excused);
        }
        for (int c = 0; m_locked(b) && c < TG_CLASS_COUNT; c++) {
            if (!b->revoked[c]) {
                m_fail("%s is above its limit but %s is not revoked", b->path,
                       tg_class_str((tg_class)c));
            }
        }
        if (limit >= 0 && !b->lowered && (held > limit || b->spent + held > limit + b->slack)) {
            m_fail("%s: spent %lld + held %lld is past limit %lld + forced and overrun %lld",
                   b->path, (long long)b->spent, (long long)held, (long long)limit,
                   (long long)b->slack);
        }
    }
}

static void compare_holds(model *m, fx *f, int changed_from) {
    for (int i = 0; i < m->holds_count; i++) {
        const m_hold *h = &m->holds[i];
        tg_hold_info info;
        if (!h->open) {
            /* Closed holds are looked at only in the step that closed them (cheap enough). */
            if (i >= changed_from || (ctx.step % 16) == 0) {
                if (tg_hold_get(f->engine, h->id, &info, NULL) != TG_ERR_NOT_FOUND) {
                    m_fail("hold %" PRIu64 " is closed in the model, open in the engine", h->id);
                }
            }
            continue;
        }
        tg_status status = tg_hold_get(f->engine, h->id, &info, NULL);
        if (status != TG_OK) {
            m_fail("hold %" PRIu64 " is open in the model: engine says %s", h->id,
                   tg_status_str(status));
        }
        M_EQ("hold amount", info.amount_micros, h->amount);
        M_EQ("hold tokens", info.tokens, h->tokens);
        M_EQ("hold cls", info.cls, h->cls);
        M_EQ("hold created_at_ms", info.created_at_ms, h->created);
        M_EQ("hold expires_at_ms", info.expires_at_ms, h->expires);
        M_EQ("hold cancel_requested", info.cancel_requested, h->cancel_requested);
        if (strcmp(info.budget, m->budgets[h->leaf].path) != 0 ||
            strcmp(info.tool, tool_names[h->tool]) != 0 ||
            strcmp(info.model, model_names[h->model]) != 0) {
            m_fail("hold %" PRIu64 ": budget/tool/model differ", h->id);
        }
    }
}

/* ---- driving the engine ------------------------------------------------------------------------
 */

static const char *opt_name(const char *const *names, int index) {
    return index == 0 ? NULL : names[index];
}

static void engine_call(fx *f, const model *m, const m_request *r, m_answer *a) {
    memset(a, 0x5A, sizeof *a);
    m_answer untouched;
    memset(&untouched, 0x5A, sizeof untouched);
    tg_error err = {0};
    const char *key = r->key[0] ? r->key : (r->op == OP_RELEASE ? NULL : "");
    switch (r->op) {
    case OP_RESERVE: {
        tg_reserve_request q = {.budget = m_request_path(m, r),
                                .amount_micros = r->amount,
                                .tokens = r->tokens,
                                .cls = (tg_class)r->cls,
                                .tool = opt_name(tool_names, r->tool),
                                .model = opt_name(model_names, r->model),
                                .ttl_ms = r->ttl,
                                .idempotency_key = key};
        a->status = tg_reserve(f->engine, &q, m->now, &a->reserve, &err);
        if (a->status != TG_OK && memcmp(&a->reserve, &untouched.reserve, sizeof a->reserve)) {
            m_fail("failed reserve touched its output");
        }
        break;
    }
    case OP_COMMIT: {
        tg_commit_request q = {.hold_id = r->hold_id,
                               .actual_micros = r->amount,
                               .tokens_in = r->tokens_in,
                               .tokens_out = r->tokens_out,
                               .idempotency_key = key,
                               .agent_reported = r->agent};
        a->status = tg_commit(f->engine, &q, m->now, &a->commit, &err);
        if (a->status != TG_OK && memcmp(&a->commit, &untouched.commit, sizeof a->commit)) {
            m_fail("failed commit touched its output");
        }
        break;
    }
    case OP_RELEASE: {
        bool replayed = true;
        a->status = tg_release(f->engine, r->hold_id, key, m->now, &replayed, &err);
        a->release_replayed = replayed;
        if (a->status != TG_OK && !replayed) {
            m_fail("failed release touched its output");
        }
        break;
    }
    default: {
        tg_record_request q = {.budget = m_request_path(m, r),
                               .cost_micros = r->amount,
                               .tokens_in = r->tokens_in,
                               .tokens_out = r->tokens_out,
                               .cls = (tg_class)r->cls,
                               .tool = opt_name(tool_names, r->tool),
                               .model = opt_name(model_names, r->model),
                               .force = r->force,
                               .idempotency_key = key};
        a->status = tg_record(f->engine, &q, m->now, &a->record, &err);
        if (a->status != TG_OK && memcmp(&a->record, &untouched.record, sizeof a->record)) {
            m_fail("failed record touched its output");
        }
        break;
    }
    }
    if (a->status != TG_OK && (err.status != a->status || err.message[0] == '\0')) {
        m_fail("%s failed with %s but the error says %s '%s'", op_names[r->op],
               tg_status_str(a->status), tg_status_str(err.status), err.message);
    }
}

static void model_call(model *m, const m_request *r, m_answer *a) {
    memset(a, 0, sizeof *a);
    switch (r->op) {
    case OP_RESERVE:
        m_reserve(m, r, a);
        break;
    case OP_COMMIT:
        m_commit(m, r, a);
        break;
    case OP_RELEASE:
        m_release(m, r, a);
        break;
    default:
        m_record(m, r, a);
        break;
    }
}

/* ---- random requests
 * ------------------------------------------------------------------------------ */

typedef struct {
    m_request requests[M_REQUESTS_MAX]; /* keyed requests made, for repeats */
    int count;
    int keys_made;
} history;

static void random_key(rng *r, history *h, m_request *q, int percent) {
    q->key[0] = '\0';
    if (rng_chance(r, percent)) {
        snprintf(q->key, sizeof q->key, "k%d", h->keys_made++);
    }
}

static int random_class(rng *r) {
    return rng_chance(r, 15) ? TG_CLASS_AUTO : (int)rng_range(r, 0, TG_CLASS_COUNT - 1);
}

/* Some hold id: usually an open one, sometimes closed, rarely one never made. */
static uint64_t random_hold(rng *r, const model *m) {
    int open[M_HOLDS_MAX], count = 0;
    for (int i = 0; i < m->holds_count; i++) {
        if (m->holds[i].open) {
            open[count++] = i;
        }
    }
    int64_t pick = rng_range(r, 0, 99);
    if (pick < 85 && count > 0) {
        return m->holds[open[rng_range(r, 0, count - 1)]].id;
    }
    if (pick < 97 && m->holds_count > 0) {
        return (uint64_t)rng_range(r, 1, m->holds_count);
    }
    return (uint64_t)m->holds_count + 1 + (uint64_t)rng_range(r, 0, 5);
}

/* Often the exact room left for the class (or one micro either side), so that spend
 * lands exactly on ceilings and limits. */
static void exact_amount(rng *r, const model *m, m_request *q) {
    if (q->cls == TG_CLASS_AUTO || !rng_chance(r, 20)) {
        return;
    }
    int64_t room = m_room(m, q->budget, q->cls, 0);
    if (room >= 0) {
        room += rng_range(r, -1, 1);
        q->amount = room < 0 ? 0 : room;
    }
}

/* Sometimes names a child of a budget with a template instead ("u1".."u4": made on first
 * use up to children_max, then refused as full); without a key, since the key of a
 * first use and of a later call naming the made budget by its index would differ. */
static void random_child(rng *r, const model *m, m_request *q) {
    int parents[M_BUDGETS_MAX], count = 0;
    for (int i = 0; i < m->budgets_count; i++) {
        if (m->budgets[i].has_template) {
            parents[count++] = i;
        }
    }
    if (count == 0 || !rng_chance(r, 20)) {
        return;
    }
    q->budget = parents[rng_range(r, 0, count - 1)];
    snprintf(q->child, sizeof q->child, "u%d", (int)rng_range(r, 1, 4));
    q->key[0] = '\0';
}

static m_request random_reserve(rng *r, const model *m, history *h) {
    m_request q = {.op = OP_RESERVE};
    q.budget = (int)rng_range(r, 0, m->budgets_count - 1);
    q.amount = rng_chance(r, 10) ? 0 : rng_range(r, 1, rng_chance(r, 80) ? 2000 : 8000);
    q.tokens = rng_chance(r, 50) ? 0 : rng_range(r, 1, 800);
    q.cls = random_class(r);
    q.tool = (int)rng_range(r, 0, TOOLS_COUNT - 1);
    q.model = (int)rng_range(r, 0, MODELS_COUNT - 1);
    exact_amount(r, m, &q);
    int64_t ttl = rng_range(r, 0, 99);
    q.ttl = ttl < 30   ? 0
            : ttl < 97 ? rng_range(r, SECOND_MS, 40 * MINUTE_MS)
                       : rng_range(r, HOUR_MS, 3 * HOUR_MS);
    random_key(r, h, &q, 25);
    random_child(r, m, &q);
    return q;
}

static m_request random_commit(rng *r, const model *m, history *h) {
    m_request q = {.op = OP_COMMIT};
    q.hold_id = random_hold(r, m);
    int64_t held = 2000;
    if (q.hold_id >= 1 && q.hold_id <= (uint64_t)m->holds_count) {
        held = m->holds[q.hold_id - 1].amount;
    }
    int64_t kind = rng_range(r, 0, 99);
    q.amount = kind < 60   ? rng_range(r, 0, held)
               : kind < 70 ? held
                           : held + rng_range(r, 1, held + 2000);
    q.tokens_in = rng_chance(r, 50) ? 0 : rng_range(r, 0, 500);
    q.tokens_out = rng_chance(r, 50) ? 0 : rng_range(r, 0, 500);
    q.agent = rng_chance(r, 50);
    random_key(r, h, &q, 25);
    return q;
}

static m_request random_release(rng *r, const model *m, history *h) {
    m_request q = {.op = OP_RELEASE};
    q.hold_id = random_hold(r, m);
    random_key(r, h, &q, 20);
    return q;
}

static m_request random_record(rng *r, const model *m, history *h) {
    m_request q = {.op = OP_RECORD};
    q.budget = (int)rng_range(r, 0, m->budgets_count - 1);
    q.amount = rng_chance(r, 10) ? 0 : rng_range(r, 1, rng_chance(r, 70) ? 1200 : 4000);
    q.tokens_in = rng_chance(r, 50) ? 0 : rng_range(r, 0, 300);
    q.tokens_out = rng_chance(r, 50) ? 0 : rng_range(r, 0, 300);
    q.cls = random_class(r);
    q.tool = (int)rng_range(r, 0, TOOLS_COUNT - 1);
    q.model = (int)rng_range(r, 0, MODELS_COUNT - 1);
    q.force = rng_chance(r, 20);
    exact_amount(r, m, &q);
    random_key(r, h, &q, 25);
    random_child(r, m, &q);
    return q;
}

/* A repeat of an earlier keyed request: as it was, or its key with other arguments. */
static bool random_repeat(rng *r, const model *m, history *h, m_request *q) {
    if (h->count == 0) {
        return false;
    }
    *q = h->requests[rng_range(r, 0, h->count - 1)];
    if (rng_chance(r, 70)) {
        return true;
    }
    char key[16];
    memcpy(key, q->key, sizeof key);
    switch (rng_range(r, 0, 6)) {
    case 0: /* another kind of operation under the same key */
        *q = rng_chance(r, 50) ? random_release(r, m, h) : random_record(r, m, h);
        break;
    case 1:
        q->amount += 1;
        break;
    case 2:
        if (rng_chance(r, 50)) {
            q->tokens_in += 1;
        } else {
            q->tokens_out += 1;
        }
        q->tokens += 1;
        break;
    case 5:
        q->ttl = q->ttl == 0 ? M_DEFAULT_TTL_MS : 0; /* the same deadline, asked otherwise */
        q->force = !q->force;
        q->agent = !q->agent;
        break;
    case 6:
        if (rng_chance(r, 50)) {
            q->tool = (q->tool + 1) % TOOLS_COUNT;
        } else {
            q->model = (q->model + 1) % MODELS_COUNT;
        }
        break;
    case 3:
        q->hold_id += 1;
        q->budget = (q->budget + 1) % m->budgets_count;
        break;
    default:
        q->cls = (q->cls + 1) % TG_CLASS_COUNT;
        q->force = !q->force;
        break;
    }
    memcpy(q->key, key, sizeof key);
    return true;
}

/* Requests that must fail, and change nothing. */
static m_request random_invalid(rng *r, const model *m, history *h) {
    m_request q;
    switch (rng_range(r, 0, 5)) {
    case 0:
        q = random_reserve(r, m, h);
        q.amount = -rng_range(r, 1, 1000);
        break;
    case 1:
        q = random_reserve(r, m, h);
        q.amount = TG_AMOUNT_MAX + rng_range(r, 1, 1000);
        break;
    case 2:
        q = random_reserve(r, m, h);
        q.ttl = M_MAX_TTL_MS + rng_range(r, 1, HOUR_MS);
        break;
    case 3:
        q = random_reserve(r, m, h);
        q.budget = -1;
        break;
    case 4:
        q = random_record(r, m, h);
        q.budget = -1;
        break;
    default:
        q = random_commit(r, m, h);
        q.tokens_out = -1;
        break;
    }
    q.key[0] = '\0';
    return q;
}

static void describe(const model *m, const m_request *q) {
    trace("%s%s%s %s amount %lld tokens %lld/%lld/%lld cls %s tool '%s' model '%s' ttl %lld "
          "%s%shold %" PRIu64 " now %lld",
          op_names[q->op], q->key[0] ? " key " : "", q->key, m_request_path(m, q),
          (long long)q->amount, (long long)q->tokens, (long long)q->tokens_in,
          (long long)q->tokens_out, tg_class_str((tg_class)q->cls), tool_names[q->tool],
          model_names[q->model], (long long)q->ttl, q->force ? "force " : "",
          q->agent ? "agent " : "", q->hold_id, (long long)m->now);
}

/* ---- one sequence
 * -------------------------------------------------------------------------------- */

/* How much time passes before a step; `tempo` > 1 slows a whole sequence down so
 * that many holds are open at once. */
static int64_t random_time_step(rng *r, int64_t tempo) {
    int64_t kind = rng_range(r, 0, 999);
    if (kind < 550) {
        return rng_range(r, 0, 20 * SECOND_MS) / tempo;
    }
    if (kind < 850) {
        return rng_range(r, 0, 5 * MINUTE_MS) / tempo;
    }
    if (kind < 970) {
        return rng_range(r, 0, 40 * MINUTE_MS) / tempo;
    }
    if (kind < 995) {
        return rng_range(r, 0, 3 * HOUR_MS);
    }
    return rng_range(r, 0, 2 * DAY_MS);
}

/* Sometimes time goes exactly to (or one millisecond before) the next deadline the
 * model knows: a hold's expiry, a window's end, a key's forgetting. Boundaries are
 * where off-by-one mistakes live. */
static bool boundary_time(rng *r, const model *m, int64_t *now) {
    int64_t next = INT64_MAX;
    int64_t which = rng_range(r, 0, 2);
    for (int i = 0; which == 0 && i < m->holds_count; i++) {
        if (m->holds[i].open && m->holds[i].expires < next) {
            next = m->holds[i].expires;
        }
    }
    for (int i = 0; which == 1 && i < m->budgets_count; i++) {
        if (m->budgets[i].window_end < next) {
            next = m->budgets[i].window_end;
        }
    }
    for (int i = 0; which == 2 && i < m->keys_count; i++) {
        int64_t forget = m->keys[i].created + M_IDEM_TTL_MS;
        if (forget > m->now && forget < next) {
            next = forget;
        }
    }
    if (next == INT64_MAX) {
        return false;
    }
    next -= rng_chance(r, 50) ? 1 : 0;
    if (next < m->now) {
        return false;
    }
    *now = next;
    return true;
}

typedef struct {
    long steps, reserves, granted, refused, commits, overruns, releases, records, forced, replays,
        conflicts, failures, expiries, rolls, revocations, freezes, updates, capped,
        updates_below_spend, locked_steps, templated, template_full, template_changes, bulk_applied,
        bulk_created;
    long by_reason[TG_REASON_COUNT]; /* refusals by reason */
    long failed_op[5];               /* failed calls by operation */
} stats;

static void count_events(const model *m, stats *s) {
    for (int i = 0; i < m->events_count; i++) {
        s->expiries += m->events[i].kind == TG_EVENT_HOLD_EXPIRED;
        s->rolls += m->events[i].kind == TG_EVENT_WINDOW_ROLLED;
        s->revocations += m->events[i].kind == TG_EVENT_REVOKED;
        s->overruns += m->events[i].kind == TG_EVENT_OVERRUN;
        s->templated += strcmp(m->events[i].detail, "created from template") == 0;
        s->template_changes += strncmp(m->events[i].detail, "template ", 9) == 0;
    }
}

/* An admin changes a budget's cost limit. */
static void step_update(model *m, fx *f, rng *r, stats *s) {
    int b = (int)rng_range(r, 0, m->budgets_count - 1);
    tg_budget_spec spec = random_update(r, m, b);
    trace("update %s cost limit %lld -> %lld now %lld", m->budgets[b].path,
          (long long)m->budgets[b].spec.cost_limit_micros, (long long)spec.cost_limit_micros,
          (long long)m->now);
    tg_error err = {0};
    tg_status engine_status = tg_budget_put(f->engine, m->budgets[b].path, &spec, m->now, &err);
    s->updates_below_spend +=
        spec.cost_limit_micros >= 0 && spec.cost_limit_micros < m->budgets[b].spent;
    tg_status model_status = m_update(m, b, &spec);
    if (engine_status != model_status) {
        m_fail("update status: engine %s (%s), model %s", tg_status_str(engine_status), err.message,
               tg_status_str(model_status));
    }
    s->updates++;
}

/*
 * An admin changes up to three budgets in one tg_budgets_apply. The model applies
 * them one after the other (the documented meaning); a request with a bad operation
 * anywhere in it (a budget under a parent that does not exist, or a budget named
 * twice) must change nothing at all, events included.
 */
/* Sometimes a bulk request also creates a budget, at most two a run: under one it does
 * not otherwise name, two or three levels down (so neither it nor its parent can have a
 * template, and no children_max is in play) and without a template; the table keeps
 * room for every child templates may still make. -1 when it does not. */
static int bulk_create_parent(const model *m, rng *r, const int *chosen, size_t count) {
    int made = 0;
    for (int i = 0; i < m->budgets_count; i++) {
        const char *last = strrchr(m->budgets[i].path, '/');
        made += last != NULL && last[1] == 'n';
    }
    if (made >= 2 || !rng_chance(r, 30)) {
        return -1;
    }
    int p = (int)rng_range(r, 0, m->budgets_count - 1);
    int depth = 0;
    for (const char *c = m->budgets[p].path; *c != '\0'; c++) {
        depth += *c == '/';
    }
    bool unfit = m->budgets[p].has_template || depth < 2 || depth > 3;
    for (size_t i = 0; i < count; i++) {
        unfit = unfit || chosen[i] == p;
    }
    return unfit ? -1 : p;
}

/* The model's side of a bulk create: as add_budget, without calling the engine. */
static void m_bulk_create(model *m, int parent, const char *path, const tg_budget_spec *spec) {
    m_budget *b = &m->budgets[m->budgets_count];
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s", path);
    b->parent = parent;
    b->spec = *spec;
    m_window(b->spec.window, m->now, &b->window_start, &b->window_end);
    int index = m->budgets_count++;
    m_event *e = m_emit(m, TG_EVENT_BUDGET_CHANGED, path);
    snprintf(e->detail, sizeof e->detail, "created");
    m_levels(m, index);
}

static void step_bulk_update(model *m, fx *f, rng *r, stats *s) {
    static int created_names; /* n1, n2, ...: never a template child's name (u1..u4) */
    tg_budget_spec specs[5], templates[3];
    tg_budget_op ops[5];
    char created_path[TG_PATH_SIZE_MAX];
    int chosen[3];
    size_t count = 0;
    int want = (int)rng_range(r, 1, 3);
    for (int tries = 0; tries < 8 && (int)count < want; tries++) {
        int b = (int)rng_range(r, 0, m->budgets_count - 1);
        bool named = false;
        for (size_t i = 0; i < count; i++) {
            named = named || chosen[i] == b;
        }
        if (!named) {
            chosen[count] = b;
            specs[count] = random_update(r, m, b);
            ops[count] = (tg_budget_op){.path = m->budgets[b].path, .spec = &specs[count]};
            /* Templates change in bulk too: set (a new spec or bound), removed, kept. */
            int64_t change = rng_range(r, 0, 99);
            if (may_have_template(m, b) && change < 30) {
                templates[count] = random_spec(r);
                ops[count].child_template = &templates[count];
                ops[count].children_max = rng_chance(r, 20) ? TG_NONE : rng_range(r, 1, 3);
            } else if (change < 40) {
                ops[count].remove_template = true;
            }
            count++;
        }
    }
    /* A create rides last, so the model applies it after the updates, as the engine does. */
    int create_parent = bulk_create_parent(m, r, chosen, count);
    size_t total = count;
    if (create_parent >= 0) {
        int n = snprintf(created_path, sizeof created_path, "%s/n%d",
                         m->budgets[create_parent].path, ++created_names);
        if (n < 0 || (size_t)n >= sizeof created_path) {
            fail_msg("a created path does not fit: %s/n%d", m->budgets[create_parent].path,
                     created_names);
        }
        specs[4] = random_spec(r);
        ops[total++] = (tg_budget_op){.path = created_path, .spec = &specs[4]};
    }
    int bad = rng_chance(r, 25) ? (int)rng_range(r, 1, 2) : 0;
    size_t at = bad ? (size_t)rng_range(r, 0, (int64_t)total) : total;
    if (bad) {
        for (size_t i = total; i > at; i--) {
            ops[i] = ops[i - 1];
        }
        tg_budget_spec_init(&specs[3]);
        ops[at] = (tg_budget_op){.path = bad == 1 ? "nowhere/x" : m->budgets[chosen[0]].path,
                                 .spec = &specs[3]};
    }
    trace("bulk update of %zu budgets%s%s now %lld", count,
          create_parent >= 0 ? " creating one" : "", bad ? " with a bad operation" : "",
          (long long)m->now);
    tg_error err = {0};
    tg_budget_counts counts = {0};
    tg_status status =
        tg_budgets_apply(f->engine, ops, total + (bad ? 1 : 0), m->now, &counts, &err);
    tg_status expected = bad == 1 ? TG_ERR_NOT_FOUND : bad == 2 ? TG_ERR_INVALID : TG_OK;
    if (status != expected) {
        m_fail("bulk update: engine %s (%s), model %s", tg_status_str(status), err.message,
               tg_status_str(expected));
    }
    if (status != TG_OK) {
        return; /* nothing applied: the comparisons after this step check it */
    }
    s->bulk_applied++;
    int64_t created = create_parent >= 0 ? 1 : 0;
    if (counts.updated != (int64_t)count || counts.created != created || counts.deleted != 0) {
        m_fail("bulk update counted %lld updated of %zu, %lld created of %lld",
               (long long)counts.updated, count, (long long)counts.created, (long long)created);
    }
    for (size_t i = 0; i < count; i++) {
        s->updates_below_spend += specs[i].cost_limit_micros >= 0 &&
                                  specs[i].cost_limit_micros < m->budgets[chosen[i]].spent;
        m_update(m, chosen[i], &specs[i]);
        if (ops[i].child_template != NULL || ops[i].remove_template) {
            m_template_set(m, chosen[i], ops[i].child_template, ops[i].children_max);
        }
        s->updates++;
    }
    if (create_parent >= 0) {
        m_bulk_create(m, create_parent, created_path, &specs[4]);
        s->bulk_created++;
    }
}

/* An admin freezes or unfreezes a budget: mostly unfreezes what is frozen, so that
 * budgets are frozen a small part of the time; sometimes asks for the state a
 * budget already has. */
static void step_freeze(model *m, fx *f, rng *r, stats *s) {
    int b = (int)rng_range(r, 0, m->budgets_count - 1);
    for (int i = 0; i < m->budgets_count; i++) {
        if (m->budgets[i].frozen && rng_chance(r, 70)) {
            b = i;
            break;
        }
    }
    bool frozen = m->budgets[b].frozen ? rng_chance(r, 10) : rng_chance(r, 30);
    trace("%s %s now %lld", frozen ? "freeze" : "unfreeze", m->budgets[b].path, (long long)m->now);
    assert_ok(tg_budget_freeze(f->engine, m->budgets[b].path, frozen, m->now, NULL));
    m_freeze(m, b, frozen);
    s->freezes++;
}

static void count_answer(const m_request *q, const m_answer *a, stats *s) {
    bool ok = a->status == TG_OK;
    bool refused = ok && ((q->op == OP_RESERVE && !a->reserve.granted) ||
                          (q->op == OP_RECORD && !a->record.charged));
    s->reserves += q->op == OP_RESERVE;
    s->granted += q->op == OP_RESERVE && ok && a->reserve.granted;
    s->refused += refused;
    if (refused) {
        s->by_reason[q->op == OP_RESERVE ? a->reserve.refusal.reason : a->record.refusal.reason]++;
    }
    s->commits += q->op == OP_COMMIT && ok;
    s->capped += q->op == OP_COMMIT && ok && a->commit.capped && !a->commit.replayed;
    s->releases += q->op == OP_RELEASE && ok;
    s->records += q->op == OP_RECORD && ok;
    s->forced += q->op == OP_RECORD && q->force && ok;
    s->conflicts += a->status == TG_ERR_CONFLICT;
    s->failures += !ok;
    s->failed_op[q->op] += !ok;
    s->template_full += a->status == TG_ERR_FULL && q->child[0] != '\0';
}

/* A request to both; their answers must agree. */
static void step_call(model *m, fx *f, history *h, const m_request *q, stats *s) {
    describe(m, q);
    m_answer engine_answer, model_answer;
    engine_call(f, m, q, &engine_answer);
    model_call(m, q, &model_answer);
    compare_answer(q->op, &engine_answer, &model_answer);
    if (q->key[0] && h->count < M_REQUESTS_MAX && model_answer.status == TG_OK) {
        h->requests[h->count++] = *q;
    }
    count_answer(q, &model_answer, s);
}

/* One step: time passes (the model does the time-driven work eagerly, the engine as
 * it likes: on tick, or lazily in the next calls), one operation, then everything
 * is compared. */
static void play_step(model *m, fx *f, rng *r, history *h, int64_t tempo, stats *s) {
    fx_clear_events(f);
    m->events_count = 0;
    int holds_before = m->holds_count;
    if (!rng_chance(r, 8) || !boundary_time(r, m, &m->now)) {
        m->now += random_time_step(r, tempo);
    }
    m_time_work(m);
    if (rng_chance(r, 25)) {
        assert_ok(tg_engine_tick(f->engine, m->now, NULL));
    }
    int64_t kind = rng_range(r, 0, 99);
    m_request q;
    if (kind < 33) {
        q = random_reserve(r, m, h);
    } else if (kind < 52) {
        q = random_commit(r, m, h);
    } else if (kind < 59) {
        q = random_release(r, m, h);
    } else if (kind < 70) {
        q = random_record(r, m, h);
    } else if (kind < 86) {
        if (!random_repeat(r, m, h, &q)) {
            q = random_record(r, m, h);
        } else {
            s->replays++;
        }
    } else if (kind < 91) {
        q = random_invalid(r, m, h);
    } else {
        q.op = 0;
    }
    if (q.op != 0) {
        step_call(m, f, h, &q, s);
    } else if (kind < 93) {
        if (rng_chance(r, 50)) {
            step_update(m, f, r, s);
        } else {
            step_bulk_update(m, f, r, s);
        }
    } else if (kind < 95) {
        step_freeze(m, f, r, s);
    } else {
        trace("time passes, now %lld", (long long)m->now);
    }
    compare_budgets(m, f);
    compare_holds(m, f, holds_before);
    compare_events(m, f);
    count_events(m, s);
    bool locked = false;
    for (int i = 0; i < m->budgets_count; i++) {
        locked = locked || m_locked(&m->budgets[i]);
    }
    s->locked_steps += locked;
    s->steps++;
}

static void run_sequence(uint64_t seed, stats *s) {
    static model m; /* large: not on the stack */
    static history h;
    memset(&m, 0, sizeof m);
    memset(&h, 0, sizeof h);
    m.next_charge_id = 1;
    ctx.seed = seed;
    ctx.step = 0;
    ctx.trace_count = 0;
    rng r = {seed};
    m.now = T0_MS + rng_range(&r, 0, DAY_MS);
    int64_t tempo = rng_chance(&r, 40) ? 10 : 1;

    tg_engine_options options;
    tg_engine_options_init(&options);
    options.default_hold_ttl_ms = M_DEFAULT_TTL_MS;
    options.max_hold_ttl_ms = M_MAX_TTL_MS;
    options.idempotency_ttl_ms = M_IDEM_TTL_MS;
    fx *f = fx_open_with(&options);
    assert_ok(tg_policy_set(f->engine, policy_rules, RULES_COUNT, POLICY_DEFAULT, NULL));
    build_tree(&m, f, &r);
    trace("tree of %d budgets, seed %" PRIu64, m.budgets_count, seed);
    compare_events(&m, f);
    compare_budgets(&m, f);
    for (ctx.step = 1; ctx.step <= M_STEPS; ctx.step++) {
        play_step(&m, f, &r, &h, tempo, s);
    }
    fx_close(f);
}

static uint64_t env_u64(const char *name, uint64_t fallback) {
    const char *text = getenv(name);
    return text && *text ? strtoull(text, NULL, 0) : fallback;
}

static void test_model_random_sequences(void **state) {
    (void)state;
    uint64_t seed = env_u64("TG_MODEL_SEED", 20250101);
    uint64_t sequences = env_u64("TG_MODEL_SEQUENCES", 3000);
    stats s = {0};
    for (uint64_t i = 0; i < sequences; i++) {
        run_sequence(seed + i, &s);
    }
    print_message("model: %" PRIu64 " sequences from seed %" PRIu64 ", %ld steps: %ld reserves "
                  "(%ld granted), %ld refusals, %ld commits (%ld overrun events), %ld releases, "
                  "%ld records (%ld forced), %ld repeats (%ld conflicts), %ld failed calls, "
                  "%ld expiries, %ld rollovers, %ld revocations, %ld freezes, %ld updates\n",
                  sequences, seed, s.steps, s.reserves, s.granted, s.refused, s.commits, s.overruns,
                  s.releases, s.records, s.forced, s.replays, s.conflicts, s.failures, s.expiries,
                  s.rolls, s.revocations, s.freezes, s.updates);
    print_message("model: refusals by reason: ceiling %ld, revoked %ld, frozen %ld, calls %ld, "
                  "tokens %ld, overrun %ld; failed calls: reserve %ld, commit %ld, release %ld, "
                  "record %ld\n",
                  s.by_reason[TG_REASON_CEILING], s.by_reason[TG_REASON_REVOKED],
                  s.by_reason[TG_REASON_FROZEN], s.by_reason[TG_REASON_CALLS],
                  s.by_reason[TG_REASON_TOKENS], s.by_reason[TG_REASON_OVERRUN],
                  s.failed_op[OP_RESERVE], s.failed_op[OP_COMMIT], s.failed_op[OP_RELEASE],
                  s.failed_op[OP_RECORD]);
    print_message("model: overruns: %ld steps with a budget locked above its limit, %ld commits "
                  "capped at their hold, %ld limits put below spend\n",
                  s.locked_steps, s.capped, s.updates_below_spend);
    print_message("model: templates: %ld children made on first use, %ld refused at "
                  "children_max, %ld templates set or removed; %ld bulk requests applied, "
                  "%ld budgets created by them\n",
                  s.templated, s.template_full, s.template_changes, s.bulk_applied, s.bulk_created);
    /* The run must have reached what it claims to cover. */
    assert_true(s.templated > 0 && s.template_full > 0 && s.template_changes > 0 &&
                s.bulk_applied > 0 && s.bulk_created > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        fx_test(test_model_random_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
