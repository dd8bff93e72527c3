/*
 * test_redis_bulk: tg_budgets_apply (many budgets as one change) on the redis ledger against
 * the local one. Two engines, one on its own memory ledger and one with the redis ledger
 * plugged in (as the daemon does), get the same bulk requests; after each they must give the
 * same status, the same message (the redis one naming its budget tree after a budgets_max
 * refusal), the same created/updated/deleted counts, and then hold the same budgets (every
 * path of the test's universe: present or not, limit, children, spend, held).
 *
 *   - directed: a request that creates, updates and deletes at once; each kind of failure
 *     (missing parent, parent created later, put under a deleted parent, delete of a budget
 *     missing, with children, with an open hold, bad path, bad spec, a path named twice, a
 *     create past budgets_max) at the first, a middle and the last operation of a request
 *     whose other operations would all succeed: the whole request refused naming that
 *     operation's index, and nothing changed on either side;
 *   - random: requests of 1 to 6 operations over a small tree (duplicates, parents after
 *     children, deletes of parents and children in both orders, budgets_max small), so the
 *     order-dependent checks meet each other;
 *   - what only the redis ledger refuses: two budget trees in one request (naming both, before
 *     anything changes) and more than TG__REDIS_BUDGET_OPS_MAX operations.
 * Replay a random run with TG_REDIS_BULK_SEED.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine/ledger_ops.h"
#include "redis/redis_server.h"
#include "store/redis/redis_ledger.h"
#include "tollgate.h"
#include "unit/assertions.h"

#define T0_MS INT64_C(1735689600000) /* 2025-01-01T00:00:00Z */
#define RANDOM_REQUESTS 400
#define RANDOM_OPS_MAX 6

static redis_server server;

typedef struct {
    tg_engine *local;
    tg_engine *redis;
    int64_t now_ms;
} pair;

static void flush_server(void) {
    redisContext *c = redisConnect("127.0.0.1", server.port);
    assert_true(c != NULL && !c->err);
    redisReply *reply = redisCommand(c, "FLUSHALL");
    assert_true(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    redisFree(c);
}

static void redis_close(void *self) {
    tg__redis_ledger_close(self);
}

static void pair_open(pair *p, int64_t budgets_max) {
    memset(p, 0, sizeof *p);
    p->now_ms = T0_MS;
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.budgets_max = budgets_max;
    assert_ok(tg_engine_open(&options, p->now_ms, &p->local, NULL));
    assert_ok(tg_engine_open(&options, p->now_ms, &p->redis, NULL));
    flush_server();
    tg__redis_ledger_options o;
    tg__redis_ledger_options_init(&o);
    o.port = server.port;
    o.timeout_ms = 10000; /* a loaded machine, an ASan build */
    o.budgets_max = budgets_max;
    tg__redis_ledger *ledger = NULL;
    assert_ok(tg__redis_ledger_open(&o, &ledger, NULL));
    tg__engine_ledger_plug(p->redis, &tg__ledger_ops_redis, ledger, redis_close);
}

static void pair_close(pair *p) {
    tg_engine_close(p->local);
    tg_engine_close(p->redis);
}

/* Every path a request of this test may name. */
static const char *const universe[] = {
    "acme",    "acme/a",  "acme/b",  "acme/a/x", "acme/a/y", "acme/b/z", "acme/c",  "acme/c/1",
    "acme/n1", "acme/n2", "acme/n3", "acme/n4",  "acme/n5",  "acme/n6",  "acme/n7", "acme/a/x/w"};
#define UNIVERSE_COUNT (sizeof universe / sizeof universe[0])

/* What a budget is, as far as a bulk change decides it. */
typedef struct {
    tg_status status;
    int64_t limit, children, spent, held;
} budget_state;

static budget_state state_of(tg_engine *engine, const char *path, int64_t now_ms) {
    tg_budget_info info;
    budget_state s = {tg_budget_get(engine, path, now_ms, &info, NULL), 0, 0, 0, 0};
    if (s.status == TG_OK) {
        s = (budget_state){TG_OK, info.spec.cost_limit_micros, info.children, info.spent_micros,
                           info.held_micros};
    }
    return s;
}

static void snapshot(tg_engine *engine, int64_t now_ms, budget_state *out) {
    for (size_t i = 0; i < UNIVERSE_COUNT; i++) {
        out[i] = state_of(engine, universe[i], now_ms);
    }
}

static void same_states(const budget_state *a, const budget_state *b, const char *what) {
    for (size_t i = 0; i < UNIVERSE_COUNT; i++) {
        if (a[i].status != b[i].status || a[i].limit != b[i].limit ||
            a[i].children != b[i].children || a[i].spent != b[i].spent || a[i].held != b[i].held) {
            print_error("%s: budget '%s': status %d/%d limit %lld/%lld children %lld/%lld "
                        "spent %lld/%lld held %lld/%lld\n",
                        what, universe[i], a[i].status, b[i].status, (long long)a[i].limit,
                        (long long)b[i].limit, (long long)a[i].children, (long long)b[i].children,
                        (long long)a[i].spent, (long long)b[i].spent, (long long)a[i].held,
                        (long long)b[i].held);
            fail();
        }
    }
}

/* The same request on both sides: same status, message and counts, then the same budgets.
 * Returns the status. */
static tg_status apply_both(pair *p, const tg_budget_op *ops, size_t count) {
    p->now_ms += 1000;
    tg_budget_counts lc = {-1, -1, -1}, rc = {-1, -1, -1};
    tg_error le = {0}, re = {0};
    tg_status ls = tg_budgets_apply(p->local, ops, count, p->now_ms, &lc, &le);
    tg_status rs = tg_budgets_apply(p->redis, ops, count, p->now_ms, &rc, &re);
    if (ls != rs) {
        print_error("local %d '%s', redis %d '%s'\n", ls, le.message, rs, re.message);
        fail();
    }
    if (ls == TG_ERR_FULL) { /* redis names the tree it counts in */
        char expected[sizeof le.message + 64];
        snprintf(expected, sizeof expected, "%s (budget tree 'acme')", le.message);
        assert_string_equal(re.message, expected);
    } else {
        assert_string_equal(re.message, le.message);
    }
    if (ls == TG_OK) {
        assert_i64(rc.created, lc.created);
        assert_i64(rc.updated, lc.updated);
        assert_i64(rc.deleted, lc.deleted);
    }
    budget_state a[UNIVERSE_COUNT], b[UNIVERSE_COUNT];
    snapshot(p->local, p->now_ms, a);
    snapshot(p->redis, p->now_ms, b);
    same_states(a, b, "after a request");
    return ls;
}

static tg_budget_spec spec_of(int64_t limit) {
    tg_budget_spec s;
    tg_budget_spec_init(&s);
    s.cost_limit_micros = limit;
    return s;
}

static tg_budget_op put(const char *path, const tg_budget_spec *spec) {
    return (tg_budget_op){.path = path, .spec = spec};
}

static tg_budget_op del(const char *path) {
    return (tg_budget_op){.path = path, .remove = true};
}

/* acme (a (x, y), b (z)), a hold open on acme/b/z (through each engine's own reserve). */
static void base_tree(pair *p) {
    static tg_budget_spec spec;
    spec = spec_of(1000000);
    const tg_budget_op ops[] = {put("acme", &spec),     put("acme/a", &spec),
                                put("acme/a/x", &spec), put("acme/a/y", &spec),
                                put("acme/b", &spec),   put("acme/b/z", &spec)};
    assert_ok(apply_both(p, ops, 6));
    tg_reserve_request q = {.budget = "acme/b/z", .amount_micros = 5, .cls = TG_CLASS_LOW};
    q.ttl_ms = 24 * INT64_C(3600000);
    tg_reserve_result r;
    assert_ok(tg_reserve(p->local, &q, p->now_ms, &r, NULL));
    assert_true(r.granted);
    assert_ok(tg_reserve(p->redis, &q, p->now_ms, &r, NULL));
    assert_true(r.granted);
}

static void test_success(void **state) {
    (void)state;
    pair p;
    pair_open(&p, 100);
    base_tree(&p);
    tg_budget_spec more = spec_of(2000000), same = spec_of(1000000);
    /* Created, created under it, updated, updated with its own spec, deleted child then its
     * parent, counted as the local ledger counts them. */
    const tg_budget_op ops[] = {put("acme/c", &more), put("acme/c/1", &more), put("acme/a", &more),
                                put("acme/b", &same), del("acme/a/x"),        del("acme/a/y"),
                                put("acme/n1", &same)};
    assert_ok(apply_both(&p, ops, 7));
    tg_budget_counts counts;
    const tg_budget_op gone[] = {del("acme/c/1"), del("acme/c")};
    assert_ok(tg_budgets_apply(p.redis, gone, 2, p.now_ms, &counts, NULL));
    assert_i64(counts.deleted, 2);
    assert_i64(counts.created + counts.updated, 0);
    assert_int_equal(tg_budget_get(p.redis, "acme/c", p.now_ms, &(tg_budget_info){0}, NULL),
                     TG_ERR_NOT_FOUND);
    /* An empty request changes nothing and answers zero counts on both. */
    assert_ok(tg_budgets_apply(p.local, gone, 2, p.now_ms, NULL, NULL));
    assert_ok(apply_both(&p, ops, 0));
    pair_close(&p);
}

/* One failing operation `bad` (with `extra` before it when the failure needs one) at the
 * index `at` of five operations, the others new budgets that would all be made. */
typedef struct {
    const char *name;
    tg_status status;
    tg_budget_op bad;
    bool twice;         /* the bad op names operation 0's path again (needs at >= 1) */
    tg_budget_op extra; /* an op put right before `bad` when its path is set */
} failure;

static void fail_at(const failure *f, size_t at, int64_t budgets_max) {
    pair p;
    pair_open(&p, budgets_max);
    base_tree(&p);
    static tg_budget_spec spec;
    spec = spec_of(3000000);
    static const char *const fresh[] = {"acme/n1", "acme/n2", "acme/n3",
                                        "acme/n4", "acme/n5", "acme/n6"};
    tg_budget_op ops[7];
    size_t count = 0, next = 0;
    for (size_t i = 0; i < 5; i++) {
        if (i == at) {
            if (f->extra.path != NULL) {
                ops[count++] = f->extra;
            }
            ops[count++] = f->twice ? put(ops[0].path, &spec) : f->bad;
        } else {
            ops[count++] = put(fresh[next++], &spec);
        }
    }
    budget_state before[UNIVERSE_COUNT], after[UNIVERSE_COUNT];
    snapshot(p.redis, p.now_ms, before);
    tg_error err = {0};
    tg_status status = tg_budgets_apply(p.redis, ops, count, p.now_ms + 1000, NULL, &err);
    if (status != f->status) {
        print_error("%s at %zu: %d '%s'\n", f->name, at, status, err.message);
        fail();
    }
    char index[32];
    size_t bad_index = at + (f->extra.path != NULL ? 1 : 0);
    snprintf(index, sizeof index, "operation %zu: ", bad_index);
    if (strncmp(err.message, index, strlen(index)) != 0) {
        print_error("%s at %zu: '%s' does not start with '%s'\n", f->name, at, err.message, index);
        fail();
    }
    snapshot(p.redis, p.now_ms, after);
    same_states(before, after, "a refused request changed the tree");
    assert_int_equal(apply_both(&p, ops, count), f->status); /* and so does the local ledger */
    pair_close(&p);
}

static void test_failures(void **state) {
    (void)state;
    static tg_budget_spec spec, bad_spec;
    spec = spec_of(3000000);
    bad_spec = spec_of(3000000);
    bad_spec.revoke_at.ppm = 2000000; /* a threshold above the limit */
    const failure failures[] = {
        {"no parent", TG_ERR_NOT_FOUND, put("acme/q/r", &spec), false, {0}},
        {"under a deleted parent", TG_ERR_STATE, put("acme/a/x/w", &spec), false, del("acme/a/x")},
        {"delete missing", TG_ERR_NOT_FOUND, del("acme/c"), false, {0}},
        {"delete with children", TG_ERR_STATE, del("acme/a"), false, {0}},
        {"delete with a hold", TG_ERR_STATE, del("acme/b/z"), false, {0}},
        {"bad path", TG_ERR_INVALID, put("acme//x", &spec), false, {0}},
        {"bad spec", TG_ERR_INVALID, put("acme/n7", &bad_spec), false, {0}},
        {"named twice", TG_ERR_INVALID, {0}, true, {0}},
    };
    for (size_t k = 0; k < sizeof failures / sizeof failures[0]; k++) {
        const size_t positions[] = {0, 2, 4}; /* first, middle, last */
        for (size_t j = 0; j < 3; j++) {
            size_t at = positions[j];
            if (failures[k].twice && at == 0) {
                at = 1; /* the first op that can repeat an earlier path */
            }
            fail_at(&failures[k], at, 100);
        }
    }
    /* "parent later": the parent created after its child in the same request. */
    pair p;
    pair_open(&p, 100);
    base_tree(&p);
    const tg_budget_op late[] = {put("acme/c/1", &spec), put("acme/c", &spec)};
    assert_int_equal(apply_both(&p, late, 2), TG_ERR_NOT_FOUND);
    tg_error err = {0};
    assert_int_equal(tg_budgets_apply(p.redis, late, 2, p.now_ms, NULL, &err), TG_ERR_NOT_FOUND);
    assert_contains(err.message, "operation 0: ");
    assert_contains(err.message, "list parents first");
    /* A parent deleted after its child in the same request is fine; before it, refused. */
    const tg_budget_op wrong[] = {del("acme/a"), del("acme/a/x"), del("acme/a/y")};
    assert_int_equal(apply_both(&p, wrong, 3), TG_ERR_STATE);
    const tg_budget_op right[] = {del("acme/a/x"), del("acme/a/y"), del("acme/a")};
    assert_ok(apply_both(&p, right, 3));
    pair_close(&p);
}

/* budgets_max: the base tree has 6 budgets; a limit of 6 + at makes the create at `at` the
 * one too many, after the deletes before it freed their places. */
static void test_budgets_max(void **state) {
    (void)state;
    static const failure full = {"past budgets_max", TG_ERR_FULL, {0}, false, {0}};
    for (size_t at = 0; at < 5; at += 2) {
        failure f = full;
        static tg_budget_spec spec;
        spec = spec_of(3000000);
        f.bad = put("acme/n7", &spec);
        fail_at(&f, at, 6 + (int64_t)at);
    }
    /* A delete earlier in the request frees a place for a create later in it. */
    pair p;
    pair_open(&p, 6);
    base_tree(&p);
    tg_budget_spec spec = spec_of(1);
    const tg_budget_op swap[] = {del("acme/a/x"), put("acme/n1", &spec)};
    assert_ok(apply_both(&p, swap, 2));
    const tg_budget_op over[] = {put("acme/n2", &spec), del("acme/n1")};
    assert_int_equal(apply_both(&p, over, 2), TG_ERR_FULL);
    pair_close(&p);
}

typedef struct {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
    uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static size_t rng_below(rng *r, size_t n) {
    return (size_t)(rng_next(r) % n);
}

/* Random requests over a tree of 7 paths, budgets_max 3 to 7. */
static void test_random(void **state) {
    (void)state;
    const char *env = getenv("TG_REDIS_BULK_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    print_message("test_random: TG_REDIS_BULK_SEED=%llu\n", (unsigned long long)seed);
    rng r = {seed};
    static const char *const paths[] = {"acme",     "acme/a",   "acme/b",   "acme/a/x",
                                        "acme/a/y", "acme/b/z", "acme//bad"};
    tg_budget_spec specs[4];
    for (int i = 0; i < 4; i++) {
        specs[i] = spec_of(1000 * (i + 1));
    }
    specs[3].revoke_at.ppm = 2000000; /* invalid */
    int outcomes[8] = {0};
    for (int round = 0; round < 4; round++) {
        pair p;
        pair_open(&p, 3 + (int64_t)rng_below(&r, 5));
        for (int n = 0; n < RANDOM_REQUESTS / 4; n++) {
            tg_budget_op ops[RANDOM_OPS_MAX];
            size_t count = 1 + rng_below(&r, RANDOM_OPS_MAX);
            for (size_t i = 0; i < count; i++) {
                size_t k = rng_below(&r, 100) < 3 ? 6 : rng_below(&r, 6);
                bool remove = rng_below(&r, 100) < 30;
                size_t s = rng_below(&r, 100) < 3 ? 3 : rng_below(&r, 3);
                ops[i] = remove ? del(paths[k]) : put(paths[k], &specs[s]);
            }
            tg_status status = apply_both(&p, ops, count);
            outcomes[-status < 8 ? -status : 0]++;
        }
        pair_close(&p);
    }
    /* The run met successes and the main refusals, or it tested little. Not budgets_max:
     * in some seeds (4 of 61 tried) no request gets past every other check with a
     * create too many, so a full tree is tested where it is made on purpose
     * (test_budgets_max), and here only compared when it comes. */
    assert_true(outcomes[0] > 0);
    assert_true(outcomes[-TG_ERR_NOT_FOUND] > 0 && outcomes[-TG_ERR_STATE] > 0);
    assert_true(outcomes[-TG_ERR_INVALID] > 0);
}

/* What only the redis ledger refuses, before anything changes. */
static void test_redis_scope(void **state) {
    (void)state;
    pair p;
    pair_open(&p, 2 * TG__REDIS_BUDGET_OPS_MAX);
    base_tree(&p);
    tg_budget_spec spec = spec_of(1);
    const tg_budget_op trees[] = {put("acme/n1", &spec), put("zeta", &spec), put("acme/n2", &spec)};
    tg_error err = {0};
    assert_int_equal(tg_budgets_apply(p.redis, trees, 3, p.now_ms, NULL, &err), TG_ERR_UNSUPPORTED);
    assert_contains(err.message, "operation 1: ");
    assert_contains(err.message, "'zeta'");
    assert_contains(err.message, "'acme'");
    assert_int_equal(tg_budget_get(p.redis, "acme/n1", p.now_ms, &(tg_budget_info){0}, NULL),
                     TG_ERR_NOT_FOUND);
    assert_int_equal(tg_budget_get(p.redis, "zeta", p.now_ms, &(tg_budget_info){0}, NULL),
                     TG_ERR_NOT_FOUND);
    /* One request per tree works. */
    assert_ok(tg_budgets_apply(p.redis, trees + 1, 1, p.now_ms, NULL, NULL));
    /* The bound on operations per call, refused before anything changes. */
    size_t count = TG__REDIS_BUDGET_OPS_MAX + 1;
    tg_budget_op *many = calloc(count, sizeof *many);
    char(*names)[32] = calloc(count, sizeof *names);
    assert_non_null(many);
    assert_non_null(names);
    for (size_t i = 0; i < count; i++) {
        snprintf(names[i], sizeof names[i], "acme/m%zu", i);
        many[i] = put(names[i], &spec);
    }
    err = (tg_error){0};
    assert_int_equal(tg_budgets_apply(p.redis, many, count, p.now_ms, NULL, &err), TG_ERR_RANGE);
    assert_contains(err.message, "at most 1000");
    /* Exactly the bound passes, in one call. */
    tg_budget_counts counts;
    assert_ok(tg_budgets_apply(p.redis, many, count - 1, p.now_ms, &counts, NULL));
    assert_i64(counts.created, TG__REDIS_BUDGET_OPS_MAX);
    assert_int_equal(tg_budget_get(p.redis, "acme/m999", p.now_ms, &(tg_budget_info){0}, NULL),
                     TG_OK);
    free(many);
    free(names);
    pair_close(&p);
}

static int start_server(void **state) {
    (void)state;
    redis_server_start(&server, NULL);
    return 0;
}

static int stop_server(void **state) {
    (void)state;
    redis_server_stop(&server);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success),     cmocka_unit_test(test_failures),
        cmocka_unit_test(test_budgets_max), cmocka_unit_test(test_redis_scope),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
