/*
 * test_crash: kill -9 at random points, many times, and check that nothing
 * acknowledged is lost and nothing unacknowledged is half there.
 *
 * Each cycle forks a child that opens the strict SQLite-backed engine on one
 * file and runs random reserves, commits, releases and records (every one with
 * an idempotency key) on a small budget tree, plus an occasional tick. Before
 * each operation it writes an intent to a pipe, and after each acknowledged
 * one the answer (fixed-size records, atomic on a pipe). The parent SIGKILLs
 * it after a random 0-30 ms, reads everything it said, and then, as a restart
 * would, opens the engine on the file and checks:
 *
 *   - every acknowledged charge is in the charges table exactly once, under the
 *     id it was acknowledged with and its key, and the table holds nothing else;
 *   - every acknowledged open hold is still open with its amount, unless it
 *     reached its deadline (then a hold_expired event says so);
 *   - the operation in flight at the kill either happened entirely (its key, its
 *     charge or hold) or not at all; a refusal or an error left no key;
 *   - each budget's spend is the sum of the charges of its subtree in its current
 *     window, and its closed windows plus that spend account for every charge once;
 *   - spend above a cost limit only with an overrun event in that window;
 *   - held amounts read through tg_budget_get equal the sums of the holds table;
 *   - an acknowledged keyed operation repeated after the restart returns the
 *     first answer and charges nothing again; other arguments are a conflict.
 *
 * The cycle count adapts to a time budget (TG_CRASH_SECONDS, default 20) but is
 * at least 50. The seed is printed; TG_CRASH_SEED replays the same choices
 * (the kill points depend on timing as well). Time is simulated: one real
 * microsecond is ten simulated milliseconds, so hour windows roll every 0.36 s
 * and holds expire within a few cycles.
 */
#include "unit/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CYCLES_MIN 50
#define CYCLES_MAX 2000
#define SECONDS_DEFAULT 20
#define KILL_AFTER_US_MAX 30000
#define READY_TIMEOUT_MS 20000
#define KEY_SIZE 24
#define REPLAYS_PER_CYCLE 4

/* ---- simulated time ------------------------------------------------------------------------- */

static struct timespec clock_start; /* set once, inherited by every child */

static int64_t real_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - clock_start.tv_sec) * 1000000 +
           (now.tv_nsec - clock_start.tv_nsec) / 1000;
}

/* One real microsecond is ten simulated milliseconds; never goes back, across processes. */
static int64_t sim_now_ms(void) {
    return T0_MS + real_us() * 10;
}

static uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int64_t rng_below(uint64_t *state, int64_t bound) {
    return (int64_t)(rng_next(state) % (uint64_t)bound);
}

/* ---- the budget tree ------------------------------------------------------------------------ */

typedef struct {
    const char *path;
    int64_t limit_micros; /* TG_NONE: no cost limit */
    tg_window_kind window;
    const char *timezone;
    int64_t calls_limit;
} budget_decl;

static const budget_decl tree[] = {
    {"org", USD(400), TG_WINDOW_HOUR, "", TG_NONE},
    {"org/a", USD(250), TG_WINDOW_HOUR, "Asia/Kolkata", TG_NONE}, /* rolls at :30 UTC */
    {"org/a/x", TG_NONE, TG_WINDOW_HOUR, "", TG_NONE},
    {"org/a/y", USD(100), TG_WINDOW_DAY, "Asia/Taipei", 400},
    {"org/b", USD(40), TG_WINDOW_HOUR, "", TG_NONE},
};
#define TREE_COUNT ((int)(sizeof tree / sizeof tree[0]))

/* True when `path` is budget b or below it. */
static bool in_subtree(const char *path, int b) {
    size_t len = strlen(tree[b].path);
    return strncmp(path, tree[b].path, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static void tree_spec(int b, tg_budget_spec *spec) {
    tg_budget_spec_init(spec);
    spec->cost_limit_micros = tree[b].limit_micros;
    spec->calls_limit = tree[b].calls_limit;
    spec->window = tree[b].window;
    snprintf(spec->timezone, sizeof spec->timezone, "%s", tree[b].timezone);
    if (b == 0) {
        spec->revoke_at.ppm = 900000;
        spec->alerts_ppm[0] = 500000;
        spec->alerts_ppm[1] = 900000;
        spec->alerts_count = 2;
    } else if (b == 1) {
        spec->class_ceiling[TG_CLASS_LOW].ppm = 600000;
    } else if (b == 4) {
        spec->class_ceiling[TG_CLASS_HIGH].micros = USD(35);
    }
}

/* ---- operations, as the child runs them and the parent repeats them ------------------------- */

typedef enum { OP_RESERVE = 1, OP_COMMIT, OP_RELEASE, OP_RECORD, OP_TICK } op_kind;

typedef struct {
    int32_t op; /* op_kind */
    int32_t leaf;
    int32_t cls;
    int32_t force;
    char key[KEY_SIZE];
    int64_t amount_micros; /* reserve: amount; commit: actual; record: cost */
    int64_t tokens;        /* reserve: tokens; commit, record: tokens_in */
    int64_t tokens_out;
    int64_t ttl_ms;
    uint64_t hold_id; /* commit, release */
} op_args;

typedef struct {
    int32_t status;   /* tg_status */
    int32_t granted;  /* reserve granted, record charged */
    int32_t replayed; /* an idempotent repeat */
    int32_t cls;
    int32_t reason; /* tg_reason of a refusal */
    uint64_t hold_id;
    uint64_t charge_id;
    int64_t expires_at_ms;
    int64_t charged_micros;
    int64_t overrun_micros;
} op_answer;

typedef enum { MSG_READY = 1, MSG_INTENT, MSG_ACK, MSG_FATAL } msg_kind;

/* What the child writes to the pipe: well under PIPE_BUF, so each write is whole or absent. */
typedef struct {
    int32_t kind; /* msg_kind */
    int32_t status;
    int64_t now_ms;
    op_args args;
    op_answer answer;
} msg;
_Static_assert(sizeof(msg) < 512, "a message is written atomically");

static tg_engine_options engine_options(const char *path) {
    tg_engine_options o;
    tg_engine_options_init(&o);
    o.store = "sqlite";
    o.path = path;
    o.durability = TG_DURABILITY_STRICT;
    o.idempotency_ttl_ms = INT64_C(365) * DAY_MS; /* every key outlives the test */
    return o;
}

static tg_status run_op(tg_engine *engine, const op_args *a, int64_t now_ms, op_answer *out) {
    memset(out, 0, sizeof *out);
    tg_status status = TG_OK;
    if (a->op == OP_RESERVE) {
        tg_reserve_request r = {.budget = tree[a->leaf].path,
                                .amount_micros = a->amount_micros,
                                .tokens = a->tokens,
                                .cls = (tg_class)a->cls,
                                .tool = "search",
                                .model = "model-small",
                                .ttl_ms = a->ttl_ms,
                                .idempotency_key = a->key};
        tg_reserve_result result;
        status = tg_reserve(engine, &r, now_ms, &result, NULL);
        if (status == TG_OK) {
            out->granted = result.granted;
            out->replayed = result.replayed;
            out->hold_id = result.hold_id;
            out->expires_at_ms = result.expires_at_ms;
            out->cls = result.cls;
            out->reason = result.granted ? TG_REASON_NONE : result.refusal.reason;
        }
    } else if (a->op == OP_COMMIT) {
        tg_commit_request r = {.hold_id = a->hold_id,
                               .actual_micros = a->amount_micros,
                               .tokens_in = a->tokens,
                               .tokens_out = a->tokens_out,
                               .idempotency_key = a->key};
        tg_commit_result result;
        status = tg_commit(engine, &r, now_ms, &result, NULL);
        if (status == TG_OK) {
            out->granted = true;
            out->replayed = result.replayed;
            out->charge_id = result.charge_id;
            out->charged_micros = result.charged_micros;
            out->overrun_micros = result.overrun_micros;
        }
    } else if (a->op == OP_RELEASE) {
        bool replayed = false;
        status = tg_release(engine, a->hold_id, a->key, now_ms, &replayed, NULL);
        out->granted = status == TG_OK;
        out->replayed = replayed;
    } else if (a->op == OP_RECORD) {
        tg_record_request r = {.budget = tree[a->leaf].path,
                               .cost_micros = a->amount_micros,
                               .tokens_in = a->tokens,
                               .tokens_out = a->tokens_out,
                               .cls = (tg_class)a->cls,
                               .tool = "refund",
                               .force = a->force != 0,
                               .idempotency_key = a->key};
        tg_record_result result;
        status = tg_record(engine, &r, now_ms, &result, NULL);
        if (status == TG_OK) {
            out->granted = result.charged;
            out->replayed = result.replayed;
            out->charge_id = result.charge_id;
            out->charged_micros = result.charged ? a->amount_micros : 0;
            out->reason = result.charged ? TG_REASON_NONE : result.refusal.reason;
        }
    } else {
        status = tg_engine_tick(engine, now_ms, NULL);
    }
    out->status = status;
    return status;
}

/* ---- the child ------------------------------------------------------------------------------ */

static void child_send(int fd, const msg *m) {
    const char *p = (const char *)m;
    size_t left = sizeof *m;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            _exit(4); /* the parent is gone */
        }
        p += n;
        left -= (size_t)n;
    }
}

/* Picks the next operation; holds[] are the ones this child believes open. */
static void child_pick(uint64_t *rng, const uint64_t *holds, size_t holds_count, int cycle, int seq,
                       op_args *a) {
    memset(a, 0, sizeof *a);
    snprintf(a->key, sizeof a->key, "k%d-%d", cycle, seq);
    int64_t roll = rng_below(rng, 100);
    if (holds_count == 0 && roll >= 35 && roll < 70) {
        roll = rng_below(rng, 35); /* nothing to commit or release: reserve */
    }
    a->leaf = (int32_t)rng_below(rng, TREE_COUNT);
    a->cls = (int32_t)rng_below(rng, TG_CLASS_COUNT);
    if (roll < 35) {
        a->op = OP_RESERVE;
        a->amount_micros = rng_below(rng, 200) * 10000; /* up to $2 */
        a->tokens = rng_below(rng, 2000);
        /* Short ttls expire within a cycle or two; long ones outlive several. */
        a->ttl_ms = rng_below(rng, 4) == 0 ? (60 + rng_below(rng, 240)) * SECOND_MS
                                           : (10 + rng_below(rng, 50)) * MINUTE_MS;
    } else if (roll < 70) {
        a->op = roll < 58 ? OP_COMMIT : OP_RELEASE;
        a->hold_id = holds[rng_below(rng, (int64_t)holds_count)];
        /* Usually within the hold (unknown here: up to $2), sometimes above it. */
        a->amount_micros =
            rng_below(rng, 5) == 0 ? rng_below(rng, 300) * 10000 : rng_below(rng, 100) * 10000;
        a->tokens = rng_below(rng, 1000);
        a->tokens_out = rng_below(rng, 1000);
    } else if (roll < 96) {
        a->op = OP_RECORD;
        a->amount_micros = rng_below(rng, 100) * 10000; /* up to $1 */
        a->tokens = rng_below(rng, 500);
        a->tokens_out = rng_below(rng, 500);
        a->force = rng_below(rng, 10) == 0;
    } else {
        a->op = OP_TICK;
        a->key[0] = '\0';
    }
}

static void child_main(int fd, const char *path, uint64_t seed, int cycle, uint64_t *holds,
                       size_t holds_count, size_t holds_capacity) {
    uint64_t rng = seed ^ ((uint64_t)cycle * UINT64_C(0x2545F4914F6CDD1D));
    tg_engine_options o = engine_options(path);
    tg_engine *engine = NULL;
    tg_error err = {0};
    msg m;
    memset(&m, 0, sizeof m);
    tg_status status = tg_engine_open(&o, sim_now_ms(), &engine, &err);
    if (status != TG_OK) {
        m.kind = MSG_FATAL;
        m.status = status;
        snprintf(m.args.key, sizeof m.args.key, "%.23s", err.message);
        child_send(fd, &m);
        fprintf(stderr, "child: tg_engine_open: %s\n", err.message);
        _exit(3);
    }
    m.kind = MSG_READY;
    child_send(fd, &m);
    for (int seq = 0; seq < 1000000; seq++) {
        memset(&m, 0, sizeof m);
        child_pick(&rng, holds, holds_count, cycle, seq, &m.args);
        m.kind = MSG_INTENT;
        m.now_ms = sim_now_ms();
        child_send(fd, &m);
        run_op(engine, &m.args, m.now_ms, &m.answer);
        m.kind = MSG_ACK;
        child_send(fd, &m);
        /* Keep the child's list of open holds as the answers say. */
        if (m.args.op == OP_RESERVE && m.answer.status == TG_OK && m.answer.granted &&
            holds_count < holds_capacity) {
            holds[holds_count++] = m.answer.hold_id;
        } else if (m.args.op == OP_COMMIT || m.args.op == OP_RELEASE) {
            for (size_t i = 0; i < holds_count; i++) {
                if (holds[i] == m.args.hold_id) {
                    holds[i] = holds[--holds_count];
                    break;
                }
            }
        }
    }
    _exit(0);
}

/* ---- the parent's model of what was acknowledged --------------------------------------------- */

typedef struct {
    uint64_t id;
    int32_t leaf;
    int64_t amount_micros;
    int64_t tokens;
    int64_t expires_at_ms;
} model_hold;

typedef struct {
    uint64_t id;
    int32_t leaf;
    int64_t cost_micros;
    char key[KEY_SIZE];
} model_charge;

/* A keyed operation that changed something, with its first answer: repeated after restarts. */
typedef struct {
    op_args args;
    op_answer answer;
} model_done;

#define ARRAY(type)                                                                                \
    struct {                                                                                       \
        type *items;                                                                               \
        size_t count;                                                                              \
        size_t capacity;                                                                           \
    }

/* Every ARRAY(...) has this layout. */
typedef struct {
    void *items;
    size_t count;
    size_t capacity;
} any_array;

/* Appends a zeroed item, growing the array; aborts the test when memory runs out. */
static void *array_push(void *array_ptr, size_t item_size) {
    any_array *array = array_ptr;
    if (array->count == array->capacity) {
        size_t capacity = array->capacity ? array->capacity * 2 : 64;
        void *items = realloc(array->items, capacity * item_size);
        assert_non_null(items);
        array->items = items;
        array->capacity = capacity;
    }
    char *item = (char *)array->items + array->count++ * item_size;
    memset(item, 0, item_size);
    return item;
}

#define PUSH(array) ((__typeof__((array).items))array_push(&(array), sizeof *(array).items))

typedef struct {
    ARRAY(model_hold) holds;     /* believed open */
    ARRAY(model_charge) charges; /* every charge, in acknowledgement order */
    ARRAY(model_done) done;
    uint64_t hold_id_max;   /* every hold id seen so far */
    uint64_t charge_id_max; /* every charge id seen so far */
    int64_t charges_sum_micros;
} model;

typedef struct {
    int cycles;
    int killed_before_ready;
    int64_t acked[OP_TICK + 1];
    int64_t refused;
    int64_t refused_by_reason[TG_REASON_COUNT];
    int64_t not_found; /* commit or release of a hold that had expired */
    int64_t inflight_applied;
    int64_t inflight_absent;
    int64_t charges_verified;
    int64_t holds_verified;
    int64_t holds_expired;
    int64_t replays;
    int64_t conflicts;
    int64_t overruns_over_limit;
} stats;

/* Everything one cycle needs besides the model. */
typedef struct {
    const char *path;
    tg_engine *engine;     /* the restarted engine */
    sqlite3 *db;           /* a person's connection to the same file */
    int64_t killed_at_ms;  /* no operation of the child is later than this */
    int64_t now_ms;        /* the restart's time */
    ARRAY(size_t) fresh;   /* charges[] acknowledged in this cycle */
    ARRAY(op_args) absent; /* keyed operations that must have left no key */
} cycle_ctx;

static model_hold *model_find_hold(model *m, uint64_t id, size_t *index) {
    for (size_t i = 0; i < m->holds.count; i++) {
        if (m->holds.items[i].id == id) {
            if (index != NULL) {
                *index = i;
            }
            return &m->holds.items[i];
        }
    }
    return NULL;
}

static void model_drop_hold(model *m, size_t index) {
    m->holds.items[index] = m->holds.items[--m->holds.count];
}

/* ---- SQL helpers --------------------------------------------------------------------------- */

static sqlite3_stmt *sql_prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(db));
        fail();
    }
    return s;
}

/* The integer of a one-row query with up to two integer or text parameters. */
static int64_t sql_int(sqlite3 *db, const char *sql, const char *text, int64_t number) {
    sqlite3_stmt *s = sql_prepare(db, sql);
    if (text != NULL) {
        sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, number);
    } else {
        sqlite3_bind_int64(s, 1, number);
    }
    int rc = sqlite3_step(s);
    int64_t value = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : INT64_MIN;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) {
        print_error("%s: no row (%s)\n", sql, sqlite3_errmsg(db));
        fail();
    }
    return value;
}

#define check(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_error("crash test: %s failed: ", #cond);                                         \
            print_error(__VA_ARGS__);                                                              \
            print_error("\n");                                                                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* ---- folding what the child said into the model -------------------------------------------- */

static void add_charge(model *m, cycle_ctx *c, uint64_t id, int32_t leaf, int64_t cost_micros,
                       const char *key) {
    check(id > m->charge_id_max, "charge id %llu reuses an old one (max %llu)",
          (unsigned long long)id, (unsigned long long)m->charge_id_max);
    m->charge_id_max = id;
    model_charge *charge = PUSH(m->charges);
    charge->id = id;
    charge->leaf = leaf;
    charge->cost_micros = cost_micros;
    snprintf(charge->key, sizeof charge->key, "%s", key);
    m->charges_sum_micros += cost_micros;
    *PUSH(c->fresh) = m->charges.count - 1;
}

/* A commit or release answered not_found: the hold must have reached its deadline. */
static void hold_gone_by_expiry(model *m, cycle_ctx *c, uint64_t id, int64_t at_ms, stats *st) {
    size_t index = 0;
    model_hold *hold = model_find_hold(m, id, &index);
    check(hold != NULL, "hold %llu was never acknowledged open", (unsigned long long)id);
    check(hold->expires_at_ms <= at_ms, "open hold %llu (deadline %lld) was not found at %lld",
          (unsigned long long)id, (long long)hold->expires_at_ms, (long long)at_ms);
    check(sql_int(c->db, "SELECT count(*) FROM events WHERE kind = 'hold_expired' AND hold_id = ?1",
                  NULL, (int64_t)id) == 1,
          "hold %llu expired without one hold_expired event", (unsigned long long)id);
    model_drop_hold(m, index);
    st->holds_expired++;
}

/* An operation that happened (acknowledged, or in flight and found on disk). */
static void apply_done(model *m, cycle_ctx *c, const op_args *a, const op_answer *answer,
                       int64_t now_ms) {
    if (a->op == OP_RESERVE) {
        check(answer->hold_id > m->hold_id_max, "hold id %llu reuses an old one (max %llu)",
              (unsigned long long)answer->hold_id, (unsigned long long)m->hold_id_max);
        m->hold_id_max = answer->hold_id;
        model_hold *hold = PUSH(m->holds);
        hold->id = answer->hold_id;
        hold->leaf = a->leaf;
        hold->amount_micros = a->amount_micros;
        hold->tokens = a->tokens;
        hold->expires_at_ms = answer->expires_at_ms;
        check(answer->expires_at_ms == now_ms + a->ttl_ms, "hold %llu deadline",
              (unsigned long long)answer->hold_id);
    } else if (a->op == OP_COMMIT || a->op == OP_RELEASE) {
        size_t index = 0;
        model_hold *hold = model_find_hold(m, a->hold_id, &index);
        check(hold != NULL, "hold %llu closed but never acknowledged open",
              (unsigned long long)a->hold_id);
        if (a->op == OP_COMMIT) {
            int64_t overrun =
                a->amount_micros > hold->amount_micros ? a->amount_micros - hold->amount_micros : 0;
            check(answer->charged_micros == a->amount_micros && answer->overrun_micros == overrun,
                  "commit of hold %llu answered %lld charged, %lld overrun",
                  (unsigned long long)a->hold_id, (long long)answer->charged_micros,
                  (long long)answer->overrun_micros);
            add_charge(m, c, answer->charge_id, hold->leaf, a->amount_micros, a->key);
        }
        model_drop_hold(m, index);
    } else if (a->op == OP_RECORD) {
        add_charge(m, c, answer->charge_id, a->leaf, a->amount_micros, a->key);
    }
    if (a->op != OP_TICK) {
        model_done *done = PUSH(m->done);
        done->args = *a;
        done->answer = *answer;
    }
}

static void apply_ack(model *m, cycle_ctx *c, const msg *ack, stats *st) {
    const op_args *a = &ack->args;
    const op_answer *answer = &ack->answer;
    st->acked[a->op]++;
    check(!answer->replayed, "a fresh key %s was answered as a repeat", a->key);
    if ((a->op == OP_COMMIT || a->op == OP_RELEASE) && answer->status == TG_ERR_NOT_FOUND) {
        hold_gone_by_expiry(m, c, a->hold_id, ack->now_ms, st);
        *PUSH(c->absent) = *a;
        st->not_found++;
        return;
    }
    check(answer->status == TG_OK, "%s (op %d, key %s) returned %s", "an operation", a->op, a->key,
          tg_status_str((tg_status)answer->status));
    if ((a->op == OP_RESERVE || a->op == OP_RECORD) && !answer->granted) {
        check(!(a->op == OP_RECORD && a->force), "a forced record was refused");
        *PUSH(c->absent) = *a;
        st->refused++;
        st->refused_by_reason[answer->reason]++;
        return;
    }
    apply_done(m, c, a, answer, ack->now_ms);
}

/* The operation in flight at the kill: on disk entirely (its key says so) or not at all. */
static void resolve_in_flight(model *m, cycle_ctx *c, const msg *intent, stats *st) {
    const op_args *a = &intent->args;
    sqlite3_stmt *s = sql_prepare(c->db, "SELECT op, hold_id, expires_at_ms, class, "
                                         "charged_micros, overrun_micros, charge_id "
                                         "FROM idempotency WHERE key = ?1");
    sqlite3_bind_text(s, 1, a->key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        st->inflight_absent++;
        return;
    }
    op_answer answer = {.status = TG_OK, .granted = true};
    int op = sqlite3_column_int(s, 0);
    answer.hold_id = (uint64_t)sqlite3_column_int64(s, 1);
    answer.expires_at_ms = sqlite3_column_int64(s, 2);
    answer.cls = sqlite3_column_int(s, 3);
    answer.charged_micros = sqlite3_column_int64(s, 4);
    answer.overrun_micros = sqlite3_column_int64(s, 5);
    answer.charge_id = (uint64_t)sqlite3_column_int64(s, 6);
    sqlite3_finalize(s);
    check(op == a->op, "key %s was stored for operation %d, not %d", a->key, op, a->op);
    /* The time it ran is between the intent and the kill; a reserve's deadline tells it. */
    int64_t ran_at_ms = a->op == OP_RESERVE ? answer.expires_at_ms - a->ttl_ms : intent->now_ms;
    check(ran_at_ms >= intent->now_ms && ran_at_ms <= c->killed_at_ms, "in-flight time of %s",
          a->key);
    apply_done(m, c, a, &answer, ran_at_ms);
    st->inflight_applied++;
}

/* ---- checking the file after the restart ---------------------------------------------------- */

static void check_charges(model *m, cycle_ctx *c, stats *st) {
    sqlite3_stmt *s = sql_prepare(c->db, "SELECT budget, cost_micros FROM charges WHERE id = ?1");
    for (size_t i = 0; i < c->fresh.count; i++) {
        const model_charge *charge = &m->charges.items[c->fresh.items[i]];
        sqlite3_bind_int64(s, 1, (int64_t)charge->id);
        check(sqlite3_step(s) == SQLITE_ROW, "acknowledged charge %llu (key %s) is not on disk",
              (unsigned long long)charge->id, charge->key);
        check(strcmp((const char *)sqlite3_column_text(s, 0), tree[charge->leaf].path) == 0 &&
                  sqlite3_column_int64(s, 1) == charge->cost_micros,
              "charge %llu differs on disk", (unsigned long long)charge->id);
        sqlite3_reset(s);
        check(sql_int(c->db, "SELECT count(*) FROM idempotency WHERE key = ?1 AND charge_id = ?2",
                      charge->key, (int64_t)charge->id) == 1,
              "charge %llu is not remembered under its key %s", (unsigned long long)charge->id,
              charge->key);
        st->charges_verified++;
    }
    sqlite3_finalize(s);
    /* Nothing else, nothing twice. */
    check(sql_int(c->db, "SELECT count(*) FROM charges", NULL, 0) == (int64_t)m->charges.count,
          "the charges table has %lld rows, %zu were acknowledged or found in flight",
          (long long)sql_int(c->db, "SELECT count(*) FROM charges", NULL, 0), m->charges.count);
    check(sql_int(c->db, "SELECT coalesce(sum(cost_micros), 0) FROM charges", NULL, 0) ==
              m->charges_sum_micros,
          "charges sum to another total than acknowledged");
    for (size_t i = 0; i < c->absent.count; i++) {
        check(sql_int(c->db, "SELECT count(*) FROM idempotency WHERE key = ?1",
                      c->absent.items[i].key, 0) == 0,
              "key %s of a refusal or error was remembered", c->absent.items[i].key);
    }
}

/* Holds on disk are exactly the model's open holds, less those that reached their deadline. */
static void check_holds(model *m, cycle_ctx *c, int64_t until_ms, stats *st) {
    sqlite3_stmt *s = sql_prepare(c->db, "SELECT id, budget, amount_micros, tokens FROM holds");
    size_t on_disk = 0;
    bool *seen = calloc(m->holds.count + 1, sizeof *seen);
    assert_non_null(seen);
    while (sqlite3_step(s) == SQLITE_ROW) {
        uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
        size_t index = 0;
        model_hold *hold = model_find_hold(m, id, &index);
        check(hold != NULL, "hold %llu is on disk but was never acknowledged or in flight",
              (unsigned long long)id);
        check(strcmp((const char *)sqlite3_column_text(s, 1), tree[hold->leaf].path) == 0 &&
                  sqlite3_column_int64(s, 2) == hold->amount_micros &&
                  sqlite3_column_int64(s, 3) == hold->tokens,
              "hold %llu differs on disk", (unsigned long long)id);
        seen[index] = true;
        on_disk++;
        st->holds_verified++;
    }
    sqlite3_finalize(s);
    /* Those not on disk expired; walk backwards as model_drop_hold moves the last one. */
    for (size_t i = m->holds.count; i-- > 0;) {
        if (!seen[i]) {
            seen[i] = seen[m->holds.count - 1];
            hold_gone_by_expiry(m, c, m->holds.items[i].id, until_ms, st);
        }
    }
    free(seen);
    check(on_disk == m->holds.count, "holds on disk");
}

typedef struct {
    int64_t spent_micros;
    int64_t calls_used;
    int64_t window_start_ms;
    int64_t window_end_ms;
    int64_t in_window_micros; /* charges of the subtree in [start, end) */
    int64_t in_window_calls;
    int64_t all_micros; /* every charge of the subtree */
} budget_sums;

static void budget_sums_read(cycle_ctx *c, budget_sums sums[TREE_COUNT]) {
    memset(sums, 0, TREE_COUNT * sizeof *sums);
    sqlite3_stmt *s = sql_prepare(c->db, "SELECT spent_micros, calls_used, window_start_ms, "
                                         "window_end_ms FROM budgets WHERE path = ?1");
    for (int b = 0; b < TREE_COUNT; b++) {
        sqlite3_bind_text(s, 1, tree[b].path, -1, SQLITE_STATIC);
        check(sqlite3_step(s) == SQLITE_ROW, "budget %s is on disk", tree[b].path);
        sums[b].spent_micros = sqlite3_column_int64(s, 0);
        sums[b].calls_used = sqlite3_column_int64(s, 1);
        sums[b].window_start_ms = sqlite3_column_int64(s, 2);
        sums[b].window_end_ms = sqlite3_column_int64(s, 3);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    s = sql_prepare(c->db, "SELECT budget, time_ms, cost_micros FROM charges");
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(s, 0);
        int64_t time_ms = sqlite3_column_int64(s, 1), cost = sqlite3_column_int64(s, 2);
        for (int b = 0; b < TREE_COUNT; b++) {
            if (!in_subtree(path, b)) {
                continue;
            }
            sums[b].all_micros += cost;
            if (time_ms >= sums[b].window_start_ms && time_ms < sums[b].window_end_ms) {
                sums[b].in_window_micros += cost;
                sums[b].in_window_calls++;
            }
        }
    }
    sqlite3_finalize(s);
}

/* Spend is the sum of the window's charges; windows account for every charge once; limits hold. */
static void check_budgets(cycle_ctx *c, stats *st) {
    budget_sums sums[TREE_COUNT];
    budget_sums_read(c, sums);
    for (int b = 0; b < TREE_COUNT; b++) {
        const budget_sums *x = &sums[b];
        check(x->spent_micros == x->in_window_micros && x->calls_used == x->in_window_calls,
              "%s spent %lld in %lld calls; its window's charges are %lld in %lld", tree[b].path,
              (long long)x->spent_micros, (long long)x->calls_used, (long long)x->in_window_micros,
              (long long)x->in_window_calls);
        int64_t closed = sql_int(c->db,
                                 "SELECT coalesce(sum(spent_micros), 0) FROM windows WHERE "
                                 "budget = ?1",
                                 tree[b].path, 0);
        check(closed + x->spent_micros == x->all_micros,
              "%s: closed windows %lld + spend %lld != all charges %lld", tree[b].path,
              (long long)closed, (long long)x->spent_micros, (long long)x->all_micros);
        if (tree[b].limit_micros >= 0 && x->spent_micros > tree[b].limit_micros) {
            sqlite3_stmt *s = sql_prepare(
                c->db, "SELECT count(*) FROM events WHERE kind = 'overrun' AND time_ms >= ?2 AND "
                       "time_ms < ?3 AND (budget = ?1 OR budget LIKE ?1 || '/%')");
            sqlite3_bind_text(s, 1, tree[b].path, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, x->window_start_ms);
            sqlite3_bind_int64(s, 3, x->window_end_ms);
            check(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0,
                  "%s spent %lld over its limit %lld without an overrun event", tree[b].path,
                  (long long)x->spent_micros, (long long)tree[b].limit_micros);
            sqlite3_finalize(s);
            st->overruns_over_limit++;
        }
    }
}

/* tg_budget_get's held amounts are the holds table's sums over each subtree. */
static void check_engine_view(model *m, cycle_ctx *c, stats *st) {
    tg_budget_info info[TREE_COUNT];
    for (int b = 0; b < TREE_COUNT; b++) {
        tg_error err = {0};
        tg_status status = tg_budget_get(c->engine, tree[b].path, c->now_ms, &info[b], &err);
        check(status == TG_OK, "tg_budget_get(%s): %s", tree[b].path, err.message);
    }
    /* The gets expired holds past their deadline and rolled windows: check the file again. */
    check_holds(m, c, c->now_ms, st);
    check_budgets(c, st);
    int64_t held[TREE_COUNT][3] = {{0}};
    sqlite3_stmt *s = sql_prepare(c->db, "SELECT budget, amount_micros, tokens FROM holds");
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(s, 0);
        for (int b = 0; b < TREE_COUNT; b++) {
            if (in_subtree(path, b)) {
                held[b][0] += sqlite3_column_int64(s, 1);
                held[b][1] += 1;
                held[b][2] += sqlite3_column_int64(s, 2);
            }
        }
    }
    sqlite3_finalize(s);
    budget_sums sums[TREE_COUNT];
    budget_sums_read(c, sums);
    for (int b = 0; b < TREE_COUNT; b++) {
        check(info[b].held_micros == held[b][0] && info[b].calls_held == held[b][1] &&
                  info[b].tokens_held == held[b][2],
              "%s holds %lld in %lld calls by tg_budget_get, %lld in %lld by the holds table",
              tree[b].path, (long long)info[b].held_micros, (long long)info[b].calls_held,
              (long long)held[b][0], (long long)held[b][1]);
        check(info[b].spent_micros == sums[b].spent_micros &&
                  info[b].window_start_ms == sums[b].window_start_ms,
              "%s: tg_budget_get and the budgets table disagree", tree[b].path);
    }
}

/* Repeats keyed operations: same answer, nothing charged or held again; other arguments conflict.
 */
static void check_replays(model *m, cycle_ctx *c, uint64_t *rng, stats *st) {
    if (m->done.count == 0) {
        return;
    }
    int64_t charges = sql_int(c->db, "SELECT count(*) FROM charges", NULL, 0);
    int64_t holds = sql_int(c->db, "SELECT count(*) FROM holds", NULL, 0);
    for (int i = 0; i < REPLAYS_PER_CYCLE; i++) {
        /* The newest (perhaps the one found in flight) first, then any. */
        size_t pick = i == 0 ? m->done.count - 1 : (size_t)rng_below(rng, (int64_t)m->done.count);
        const model_done *done = &m->done.items[pick];
        op_answer again;
        run_op(c->engine, &done->args, c->now_ms, &again);
        const op_answer *first = &done->answer;
        check(again.status == TG_OK && again.replayed && again.granted,
              "repeating %s returned %s (replayed %d)", done->args.key,
              tg_status_str((tg_status)again.status), again.replayed);
        check(again.hold_id == first->hold_id && again.charge_id == first->charge_id,
              "repeating %s answered other ids", done->args.key);
        if (done->args.op == OP_RESERVE) {
            check(again.expires_at_ms == first->expires_at_ms && again.cls == first->cls,
                  "repeating reserve %s", done->args.key);
        } else if (done->args.op == OP_COMMIT) {
            check(again.charged_micros == first->charged_micros &&
                      again.overrun_micros == first->overrun_micros,
                  "repeating commit %s", done->args.key);
        }
        st->replays++;
    }
    /* The same key with another amount (or hold) is a conflict and changes nothing. */
    model_done other = m->done.items[rng_below(rng, (int64_t)m->done.count)];
    if (other.args.op == OP_RELEASE) {
        other.args.hold_id++;
    } else {
        other.args.amount_micros++;
    }
    op_answer conflict;
    run_op(c->engine, &other.args, c->now_ms, &conflict);
    check(conflict.status == TG_ERR_CONFLICT, "reusing key %s with other arguments returned %s",
          other.args.key, tg_status_str((tg_status)conflict.status));
    st->conflicts++;
    check(sql_int(c->db, "SELECT count(*) FROM charges", NULL, 0) == charges &&
              sql_int(c->db, "SELECT count(*) FROM holds", NULL, 0) == holds,
          "repeats changed the ledger");
}

/* ---- one cycle ------------------------------------------------------------------------------ */

typedef struct {
    ARRAY(msg) msgs;
    char partial[sizeof(msg)];
    size_t partial_size;
} inbox;

/* Reads what is there; false at end of file. */
static bool inbox_read(inbox *in, int fd) {
    char buffer[64 * 1024];
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return true;
    }
    if (n <= 0) {
        return false;
    }
    for (ssize_t i = 0; i < n; i++) {
        in->partial[in->partial_size++] = buffer[i];
        if (in->partial_size == sizeof(msg)) {
            memcpy(PUSH(in->msgs), in->partial, sizeof(msg));
            in->partial_size = 0;
        }
    }
    return true;
}

static bool inbox_has_ready(const inbox *in) {
    for (size_t i = 0; i < in->msgs.count; i++) {
        if (in->msgs.items[i].kind == MSG_READY || in->msgs.items[i].kind == MSG_FATAL) {
            return true;
        }
    }
    return false;
}

/* Reads until `deadline_us` (real time), or until the child is ready when `until_ready`. */
static void inbox_wait(inbox *in, int fd, int64_t deadline_us, bool until_ready) {
    for (;;) {
        int64_t left_us = deadline_us - real_us();
        if (left_us <= 0 || (until_ready && inbox_has_ready(in))) {
            return;
        }
        /* poll waits whole milliseconds; the last one is polled without waiting. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left_us / 1000)) > 0 && !inbox_read(in, fd)) {
            return; /* the child is gone */
        }
    }
}

/* Forks a child on the file, lets it work for a random while, SIGKILLs it; *in gets what it said.
 */
static void run_child(const model *m, const char *path, uint64_t seed, uint64_t *rng, int cycle,
                      inbox *in, stats *st) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    (void)fcntl(fds[0], F_SETPIPE_SZ, 1 << 20); /* best effort: the child rarely waits on us */
    size_t capacity = m->holds.count + 4096;
    uint64_t *holds = calloc(capacity, sizeof *holds);
    assert_non_null(holds);
    for (size_t i = 0; i < m->holds.count; i++) {
        holds[i] = m->holds.items[i].id;
    }
    bool early = rng_below(rng, 8) == 0; /* kill while it opens: recovery of the open itself */
    int64_t after_us = early ? rng_below(rng, 3000) : rng_below(rng, KILL_AFTER_US_MAX + 1);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[0]);
        child_main(fds[1], path, seed, cycle, holds, m->holds.count, capacity);
    }
    close(fds[1]);
    free(holds);
    if (!early) {
        inbox_wait(in, fds[0], real_us() + READY_TIMEOUT_MS * INT64_C(1000), true);
        check(inbox_has_ready(in), "the child did not open the engine in %d ms", READY_TIMEOUT_MS);
    }
    inbox_wait(in, fds[0], real_us() + after_us, false);
    kill(child, SIGKILL);
    int status = 0;
    while (inbox_read(in, fds[0])) {
    }
    close(fds[0]);
    assert_int_equal(waitpid(child, &status, 0), child);
    for (size_t i = 0; i < in->msgs.count; i++) {
        check(in->msgs.items[i].kind != MSG_FATAL, "the child could not open the engine: %s (%s)",
              tg_status_str((tg_status)in->msgs.items[i].status), in->msgs.items[i].args.key);
    }
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child ended by itself (%d)",
          status);
    st->killed_before_ready += !inbox_has_ready(in);
}

/* Restarts on the file as a new process would, folds what the child said into the model, checks. */
static void restart_and_check(model *m, const char *path, const inbox *in, uint64_t *rng,
                              stats *st) {
    cycle_ctx c = {.path = path, .killed_at_ms = sim_now_ms()};
    tg_engine_options o = engine_options(path);
    tg_error err = {0};
    c.now_ms = sim_now_ms();
    tg_status opened = tg_engine_open(&o, c.now_ms, &c.engine, &err);
    check(opened == TG_OK, "reopening after the kill: %s: %s", tg_status_str(opened), err.message);
    assert_int_equal(sqlite3_open_v2(path, &c.db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    const msg *pending = NULL;
    for (size_t i = 0; i < in->msgs.count; i++) {
        const msg *x = &in->msgs.items[i];
        if (x->kind == MSG_INTENT) {
            pending = x;
        } else if (x->kind == MSG_ACK) {
            check(pending != NULL && strcmp(pending->args.key, x->args.key) == 0, "ack order");
            pending = NULL;
            apply_ack(m, &c, x, st);
        }
    }
    if (pending != NULL && pending->args.op != OP_TICK) {
        resolve_in_flight(m, &c, pending, st);
    }
    check_charges(m, &c, st);
    check_holds(m, &c, c.killed_at_ms, st);
    check_budgets(&c, st);
    check_engine_view(m, &c, st);
    check_replays(m, &c, rng, st);
    sqlite3_close(c.db);
    tg_engine_close(c.engine);
    free(c.fresh.items);
    free(c.absent.items);
}

static void run_cycle(model *m, const char *path, uint64_t seed, uint64_t *rng, int cycle,
                      stats *st) {
    inbox in = {0};
    run_child(m, path, seed, rng, cycle, &in, st);
    restart_and_check(m, path, &in, rng, st);
    free(in.msgs.items);
    st->cycles++;
}

/* ---- the test ------------------------------------------------------------------------------- */

static char test_dir[64];

static void remove_dir(void) {
    DIR *dir = opendir(test_dir);
    if (dir == NULL) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char child[sizeof test_dir + sizeof entry->d_name + 2];
        snprintf(child, sizeof child, "%s/%s", test_dir, entry->d_name);
        if (entry->d_name[0] != '.') {
            unlink(child);
        }
    }
    closedir(dir);
    rmdir(test_dir);
}

static int teardown(void **state) {
    (void)state;
    remove_dir();
    return 0;
}

static int64_t env_int(const char *name, int64_t fallback) {
    const char *text = getenv(name);
    return text != NULL && text[0] != '\0' ? strtoll(text, NULL, 0) : fallback;
}

/* Every charge ever acknowledged is on disk once, under its id, and nothing else is. */
static void check_all_charges(model *m, const char *path) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = sql_prepare(db, "SELECT id, cost_micros FROM charges ORDER BY id");
    size_t i = 0;
    /* The model is in acknowledgement order, which is id order (ids only grow). */
    while (sqlite3_step(s) == SQLITE_ROW) {
        check(i < m->charges.count, "more charges on disk than acknowledged");
        check((uint64_t)sqlite3_column_int64(s, 0) == m->charges.items[i].id &&
                  sqlite3_column_int64(s, 1) == m->charges.items[i].cost_micros,
              "charge %zu on disk differs from the acknowledged one", i);
        i++;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    check(i == m->charges.count, "acknowledged charges missing at the end");
}

static void test_kill_nine_loses_nothing_acknowledged(void **state) {
    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &clock_start);
    uint64_t seed = (uint64_t)env_int("TG_CRASH_SEED", 0);
    if (seed == 0) {
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    }
    int64_t budget_us = env_int("TG_CRASH_SECONDS", SECONDS_DEFAULT) * 1000000;
    printf("crash test: seed %llu (TG_CRASH_SEED=%llu replays the choices)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    snprintf(test_dir, sizeof test_dir, "/tmp/tg-crash-XXXXXX");
    assert_non_null(mkdtemp(test_dir));
    char path[128];
    snprintf(path, sizeof path, "%s/ledger.db", test_dir);

    /* The budget tree, made by the first "restart". */
    tg_engine_options o = engine_options(path);
    tg_engine *engine = NULL;
    assert_int_equal(tg_engine_open(&o, sim_now_ms(), &engine, NULL), TG_OK);
    for (int b = 0; b < TREE_COUNT; b++) {
        tg_budget_spec spec;
        tree_spec(b, &spec);
        tg_error err = {0};
        tg_status status = tg_budget_put(engine, tree[b].path, &spec, sim_now_ms(), &err);
        check(status == TG_OK, "tg_budget_put(%s): %s", tree[b].path, err.message);
    }
    tg_engine_close(engine);

    model m = {0};
    stats st = {0};
    uint64_t rng = seed;
    int64_t started_us = real_us();
    while (st.cycles < CYCLES_MIN ||
           (st.cycles < CYCLES_MAX && real_us() - started_us < budget_us)) {
        run_cycle(&m, path, seed, &rng, st.cycles, &st);
    }
    check_all_charges(&m, path);
    int64_t acked = 0;
    for (int op = OP_RESERVE; op <= OP_TICK; op++) {
        acked += st.acked[op];
    }
    printf("crash test: %d cycles (%d killed before the engine was open) in %.1f s; %lld "
           "operations acknowledged (%lld reserves, %lld commits, %lld releases, %lld records, "
           "%lld ticks; %lld refused: %lld ceiling, %lld revoked, %lld calls; %lld on expired "
           "holds); in flight at the kill: %lld "
           "found done, %lld absent; verified %lld charges, %lld hold sightings, %lld expiries, "
           "%lld repeats, %lld conflicts, %lld budgets over a limit with an overrun; seed %llu\n",
           st.cycles, st.killed_before_ready, (double)(real_us() - started_us) / 1e6,
           (long long)acked, (long long)st.acked[OP_RESERVE], (long long)st.acked[OP_COMMIT],
           (long long)st.acked[OP_RELEASE], (long long)st.acked[OP_RECORD],
           (long long)st.acked[OP_TICK], (long long)st.refused,
           (long long)st.refused_by_reason[TG_REASON_CEILING],
           (long long)st.refused_by_reason[TG_REASON_REVOKED],
           (long long)st.refused_by_reason[TG_REASON_CALLS], (long long)st.not_found,
           (long long)st.inflight_applied, (long long)st.inflight_absent,
           (long long)st.charges_verified, (long long)st.holds_verified,
           (long long)st.holds_expired, (long long)st.replays, (long long)st.conflicts,
           (long long)st.overruns_over_limit, (unsigned long long)seed);
    free(m.holds.items);
    free(m.charges.items);
    free(m.done.items);
    check(st.cycles >= CYCLES_MIN && acked > 0, "too little was tested");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill_nine_loses_nothing_acknowledged, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
