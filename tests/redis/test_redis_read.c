/*
 * test_redis_read: pages of charges read back from the Redis ledger (redis_read.h) equal
 * what a reference list of the charges made says they must be, for every filter (a
 * subtree, "a" never matching "ab", a time range, a model) and every page size, with ids
 * increasing across pages and trees; and a filter that matches nothing for tens of
 * thousands of entries gives short pages that still reach the one row at the end.
 * Seeds are replayable: TG_REDIS_READ_SEED.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis/redis_server.h"
#include "store/redis/redis_internal.h"
#include "store/redis/redis_read.h"

#define T0_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define CHARGES 600                  /* charges made by the random test */
#define QUERIES 300                  /* random page walks over them */
#define SCAN_FILLER 70000            /* entries no filter matches, past 64 calls of 1,000 */

static redis_server server;

static const char *const budgets[] = {"a", "a/x", "a/x/y", "a/xy", "ab", "ab/z", "b", "b/q"};
#define BUDGETS (sizeof budgets / sizeof *budgets)
static const char *const filters[] = {"", "a", "a/x", "a/xy", "ab", "b", "b/q", "zz", "a/x/y/w"};
#define FILTERS (sizeof filters / sizeof *filters)
static const char *const models[] = {"", "m-small", "m-big"};
#define MODELS (sizeof models / sizeof *models)

static uint64_t rng_state;
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static int64_t rng_range(int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

static tg__redis_ledger *open_ledger(void) {
    redisContext *c = redisConnect("127.0.0.1", server.port);
    assert_true(c != NULL && !c->err);
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    redisFree(c);
    tg__redis_ledger_options o;
    tg__redis_ledger_options_init(&o);
    o.port = server.port;
    o.timeout_ms = 10000; /* a loaded machine, an ASan build */
    tg__redis_ledger *ledger = NULL;
    tg_error err = {0};
    if (tg__redis_ledger_open(&o, &ledger, &err) != TG_OK) {
        print_error("open: %s\n", err.message);
        fail();
    }
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    for (size_t i = 0; i < BUDGETS; i++) {
        assert_int_equal(tg__ledger_ops_redis.budget_put(ledger, budgets[i], &spec, T0_MS, NULL),
                         TG_OK);
    }
    return ledger;
}

/* ---- the reference: every charge made, as the reader must give it back ---------------- */

static tg__charge_info made[CHARGES];
static size_t made_count;

static bool in_subtree(const char *path, const char *filter) {
    size_t n = strlen(filter);
    return n == 0 || (strncmp(path, filter, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

static void make_charges(tg__redis_ledger *ledger) {
    int64_t now = T0_MS;
    for (made_count = 0; made_count < CHARGES; made_count++) {
        tg__charge_info *c = &made[made_count];
        memset(c, 0, sizeof *c);
        now += rng_range(0, 3) * 1000; /* some charges share a millisecond */
        const char *budget = budgets[rng_range(0, BUDGETS - 1)];
        const char *model = models[rng_range(0, MODELS - 1)];
        const char *tool = rng_range(0, 1) ? "search" : "";
        int64_t cost = rng_range(0, 5000), in = rng_range(0, 900), out = rng_range(0, 900);
        tg_class cls = (tg_class)rng_range(0, 3);
        snprintf(c->budget, sizeof c->budget, "%s", budget);
        snprintf(c->tool, sizeof c->tool, "%s", tool);
        snprintf(c->model, sizeof c->model, "%s", model);
        c->time_ms = now, c->cls = cls, c->tokens_in = in, c->tokens_out = out;
        c->cost_micros = cost;
        if (rng_range(0, 1)) { /* a hold committed */
            int64_t held = cost + rng_range(0, 100);
            tg_reserve_request rq = {
                .budget = budget, .amount_micros = held, .cls = cls, .tool = tool, .model = model};
            tg_reserve_result r;
            assert_int_equal(tg__ledger_ops_redis.reserve(ledger, &rq, now, &r, NULL), TG_OK);
            assert_true(r.granted);
            tg_commit_request cq = {
                .hold_id = r.hold_id, .actual_micros = cost, .tokens_in = in, .tokens_out = out};
            tg_commit_result cr;
            assert_int_equal(tg__ledger_ops_redis.commit(ledger, &cq, now, &cr, NULL), TG_OK);
            c->id = cr.charge_id, c->hold_id = r.hold_id, c->held_micros = held;
        } else {
            tg_record_request rq = {.budget = budget,
                                    .cost_micros = cost,
                                    .tokens_in = in,
                                    .tokens_out = out,
                                    .cls = cls,
                                    .tool = tool,
                                    .model = model};
            tg_record_result r;
            assert_int_equal(tg__ledger_ops_redis.record(ledger, &rq, now, &r, NULL), TG_OK);
            assert_true(r.charged);
            c->id = r.charge_id;
        }
    }
}

/* Reads come in id order: the tree's number, then its sequence (not the order made). */
static int by_id(const void *x, const void *y) {
    uint64_t a = ((const tg__charge_info *)x)->id, b = ((const tg__charge_info *)y)->id;
    return (a > b) - (a < b);
}

/* ---- reading pages --------------------------------------------------------------------- */

typedef struct {
    tg__charge_info rows[CHARGES + 1];
    size_t count;      /* rows of the whole walk */
    size_t page_count; /* rows of the current page */
} collected;

static bool take(void *user, const tg__charge_info *charge) {
    collected *c = user;
    assert_true(c->count < CHARGES + 1);
    c->rows[c->count++] = *charge;
    c->page_count++;
    return true;
}

/* Pages through a filter to the end (a page whose next is its after); the pages walked. */
static int walk(tg__redis_ledger *ledger, const char *budget, int64_t since, int64_t until,
                const char *model, size_t limit, collected *out) {
    out->count = 0;
    uint64_t after = 0;
    int pages = 0;
    for (;;) {
        tg__store_page page = {.budget = budget, .after_id = after, .limit = limit};
        uint64_t next = 0;
        out->page_count = 0;
        tg_error err = {0};
        tg_status status =
            tg__redis_read_charges(ledger, &page, since, until, model, take, out, &next, &err);
        if (status != TG_OK) {
            print_error("read: %s\n", err.message);
            fail();
        }
        pages++;
        assert_true(out->page_count <= limit);
        assert_true(next >= after);
        if (next == after) {
            assert_int_equal(out->page_count, 0);
            return pages;
        }
        after = next;
        assert_true(pages < 100000);
    }
}

static void same_charge(const tg__charge_info *want, const tg__charge_info *got) {
    assert_int_equal(got->id, want->id);
    assert_int_equal(got->time_ms, want->time_ms);
    assert_string_equal(got->budget, want->budget);
    assert_int_equal(got->hold_id, want->hold_id);
    assert_int_equal(got->cls, want->cls);
    assert_string_equal(got->tool, want->tool);
    assert_string_equal(got->model, want->model);
    assert_int_equal(got->tokens_in, want->tokens_in);
    assert_int_equal(got->tokens_out, want->tokens_out);
    assert_int_equal(got->cost_micros, want->cost_micros);
    assert_int_equal(got->held_micros, want->held_micros);
}

static void test_pages_match_reference(void **state) {
    (void)state;
    const char *seed_text = getenv("TG_REDIS_READ_SEED");
    uint64_t seed = seed_text && *seed_text ? strtoull(seed_text, NULL, 0) : 20261207;
    rng_state = seed;
    print_message("redis read: seed %" PRIu64 " (replay with TG_REDIS_READ_SEED)\n", seed);
    tg__redis_ledger *ledger = open_ledger();
    make_charges(ledger);
    int64_t last_ms = made[made_count - 1].time_ms;
    qsort(made, made_count, sizeof *made, by_id);
    static collected got;
    for (int q = 0; q < QUERIES; q++) {
        const char *budget = filters[rng_range(0, FILTERS - 1)];
        const char *model = rng_range(0, 2) == 0 ? models[rng_range(1, MODELS - 1)] : "";
        int64_t since = rng_range(0, 1) ? INT64_MIN : rng_range(T0_MS, last_ms + 1000);
        int64_t until = rng_range(0, 1)
                            ? INT64_MAX
                            : rng_range(since == INT64_MIN ? T0_MS : since, last_ms + 1000);
        size_t limit = (size_t)(rng_range(0, 3) == 0 ? 1000 : rng_range(1, 40));
        walk(ledger, budget, since, until, model, limit, &got);
        size_t want = 0;
        for (size_t i = 0; i < made_count; i++) {
            const tg__charge_info *c = &made[i];
            if (in_subtree(c->budget, budget) && c->time_ms >= since && c->time_ms < until &&
                (model[0] == '\0' || strcmp(c->model, model) == 0)) {
                if (want >= got.count) {
                    print_error("query %d (budget '%s' model '%s' limit %zu): charge %" PRIu64
                                " missing\n",
                                q, budget, model, limit, c->id);
                    fail();
                }
                same_charge(c, &got.rows[want++]);
            }
        }
        assert_int_equal(got.count, want);
    }
    /* Ids increase across trees: the whole read without a filter is in id order. */
    walk(ledger, "", INT64_MIN, INT64_MAX, "", 7, &got);
    assert_int_equal(got.count, made_count);
    for (size_t i = 1; i < got.count; i++) {
        assert_true(got.rows[i].id > got.rows[i - 1].id);
    }
    tg__redis_ledger_close(ledger);
}

/* 70,000 entries the filter does not match, then one it does: a page looks at 64,000
 * entries at most, so the first page is empty but moves the cursor, and the walk still
 * finds the row. The filler is written straight into the stream (as charge() writes it). */
static void test_short_pages_reach_the_end(void **state) {
    (void)state;
    tg__redis_ledger *ledger = open_ledger();
    tg_record_request rq = {.budget = "b/q", .cost_micros = 7, .cls = TG_CLASS_NORMAL};
    tg_record_result r;
    assert_int_equal(tg__ledger_ops_redis.record(ledger, &rq, T0_MS, &r, NULL), TG_OK);
    redisContext *c = redisConnect("127.0.0.1", server.port);
    assert_true(c != NULL && !c->err);
    for (int seq = 2; seq <= SCAN_FILLER + 1; seq++) {
        redisAppendCommand(c, "XADD tg:{b}:spend %d-0 seq %d time %lld budget b cost 1", seq, seq,
                           (long long)T0_MS);
    }
    redisAppendCommand(c, "XADD tg:{b}:spend %d-0 seq %d time %lld budget b/q cost 9",
                       SCAN_FILLER + 2, SCAN_FILLER + 2, (long long)T0_MS);
    for (int i = 0; i < SCAN_FILLER + 1; i++) {
        redisReply *reply = NULL;
        assert_int_equal(redisGetReply(c, (void **)&reply), REDIS_OK);
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        freeReplyObject(reply);
    }
    redisFree(c);
    static collected got;
    /* From the first record on: one page for the record, empty pages over the filler. */
    int pages = walk(ledger, "b/q", INT64_MIN, INT64_MAX, "", 10, &got);
    assert_int_equal(got.count, 2);
    assert_int_equal(got.rows[0].id, r.charge_id);
    assert_int_equal(got.rows[1].cost_micros, 9);
    assert_int_equal(got.rows[1].id, tg__redis_id_make((int64_t)(r.charge_id >> TG__REDIS_SEQ_BITS),
                                                       SCAN_FILLER + 2));
    print_message("redis read: %d pages over %d entries for 2 rows\n", pages, SCAN_FILLER + 2);
    assert_true(pages >= 3); /* 70,002 entries need two pages of looking, then the end */
    tg__redis_ledger_close(ledger);
}

static int setup(void **state) {
    (void)state;
    redis_server_start(&server, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    redis_server_stop(&server);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_match_reference),
        cmocka_unit_test(test_short_pages_reach_the_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
