/*
 * test_waiters_likely: a refusal says reliably whether waiting can help, and a shrink
 * to fit is granted by construction (issue 18, retry success). Each test tries to
 * break one promise: a waiting hold queues only when the holds that closed so far say
 * open holds are likely to free the room (core/settle.c), or a window rolls within
 * its wait; otherwise it is refused at once with no wait advice from holds; a request
 * with min_amount_micros that does not fit is granted the largest amount that fits now,
 * never one the elders' claims already took, and never below its minimum.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit/assertions.h"

#define T0 INT64_C(1800000000000) /* a fixed "now", on the hour */
#define HOUR_MS INT64_C(3600000)

static tg_engine *open_engine(void) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    tg_engine *engine = NULL;
    tg_error err = {0};
    if (tg_engine_open(&options, T0, &engine, &err) != TG_OK) {
        fail_msg("open: %s", err.message);
    }
    return engine;
}

static void put(tg_engine *engine, const char *path, int64_t limit, tg_window_kind window) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = limit;
    spec.window = window;
    tg_error err = {0};
    if (tg_budget_put(engine, path, &spec, T0, &err) != TG_OK) {
        fail_msg("put %s: %s", path, err.message);
    }
}

/* A critical reserve (its ceiling is the limit, so only money decides). */
static tg_reserve_result ask(tg_engine *engine, const char *budget, int64_t amount, int64_t min,
                             int64_t wait_ms, int64_t now_ms) {
    tg_reserve_request request = {.budget = budget,
                                  .amount_micros = amount,
                                  .cls = TG_CLASS_CRITICAL,
                                  .ttl_ms = 3600 * 1000,
                                  .wait_ms = wait_ms,
                                  .min_amount_micros = min,
                                  .wait_likely = true};
    tg_reserve_result result;
    tg_error err = {0};
    if (tg_reserve(engine, &request, now_ms, &result, &err) != TG_OK) {
        fail_msg("reserve %s %" PRId64 ": %s", budget, amount, err.message);
    }
    return result;
}

static uint64_t hold(tg_engine *engine, const char *budget, int64_t amount) {
    tg_reserve_result r = ask(engine, budget, amount, 0, 0, T0);
    assert_true(r.granted);
    return r.hold_id;
}

static void commit(tg_engine *engine, uint64_t hold_id, int64_t actual) {
    tg_commit_request request = {.hold_id = hold_id, .actual_micros = actual};
    tg_commit_result result;
    assert_ok(tg_commit(engine, &request, T0, &result, NULL));
}

static int64_t held(tg_engine *engine, const char *path) {
    tg_budget_info info;
    assert_ok(tg_budget_get(engine, path, T0, &info, NULL));
    return info.held_micros;
}

/* Closes `n` holds on `path` of 100 each, committing `actual` of each. */
static void teach(tg_engine *engine, const char *path, int n, int64_t actual) {
    for (int i = 0; i < n; i++) {
        commit(engine, hold(engine, path, 100), actual);
    }
}

/* Holds that commit in full: a waiter whose only hope is an open hold is refused at
 * once, and the ledger's advice to come back when that hold expires is dropped. */
static void hopeless_wait_is_refused_at_once_without_advice(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "learn", 100000, TG_WINDOW_LIFETIME);
    teach(engine, "learn", 20, 100); /* every hold so far committed all of it */
    put(engine, "a", 1000, TG_WINDOW_LIFETIME);
    hold(engine, "a", 900);
    tg_reserve_result r = ask(engine, "a", 200, 0, 60000, T0);
    assert_false(r.waiting);
    assert_false(r.granted);
    assert_i64(r.refusal.reason, TG_REASON_CEILING);
    assert_i64(r.refusal.retry_after_ms, TG_NONE); /* the hold expires in an hour: no use */
    assert_i64(r.refusal.max_amount_micros, 100);
    assert_i64(tg_wait_count(engine), 0);
    tg_engine_close(engine);
}

/* Without wait_likely (the default: the proxy's and the MCP gateway's configured waits,
 * and any client that does not ask) the same ledger queues the request, since the open
 * hold could still be released; its release then grants it. */
static void without_wait_likely_it_queues_whenever_room_could_come(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "learn", 100000, TG_WINDOW_LIFETIME);
    teach(engine, "learn", 20, 100);
    put(engine, "a", 1000, TG_WINDOW_LIFETIME);
    uint64_t h = hold(engine, "a", 900);
    tg_reserve_request request = {
        .budget = "a", .amount_micros = 200, .cls = TG_CLASS_CRITICAL, .wait_ms = 60000};
    tg_reserve_result r;
    assert_ok(tg_reserve(engine, &request, T0, &r, NULL));
    assert_true(r.waiting);
    assert_i64(tg_wait_count(engine), 1);
    commit(engine, h, 0);
    tg_wait_result done;
    assert_true(tg_wait_poll(engine, &done));
    assert_i64(done.wait_id, r.wait_id);
    assert_true(done.result.granted);
    assert_i64(held(engine, "a"), 200);
    tg_engine_close(engine);
}

/* Holds that are mostly released: the same waiter queues and is granted. */
static void likely_wait_queues_and_is_granted(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "learn", 100000, TG_WINDOW_LIFETIME);
    teach(engine, "learn", 20, 0); /* every hold so far was left unused */
    put(engine, "a", 1000, TG_WINDOW_LIFETIME);
    uint64_t h = hold(engine, "a", 900);
    tg_reserve_result r = ask(engine, "a", 200, 0, 60000, T0);
    assert_true(r.waiting);
    commit(engine, h, 0);
    tg_wait_result done;
    assert_true(tg_wait_poll(engine, &done));
    assert_true(done.result.granted);
    tg_engine_close(engine);
}

/* A routine (normal) waiter on a budget whose revoke_at keeps the rest for critical work.
 * Holds commit 20% of their amount (so 80% of an open hold is likely to free), the budget
 * has spent 400 and a critical hold of 300 is open, and a normal call asks 300 with a
 * wait. The open hold alone would leave room: 400 + 60 + 300 = 760 under the ceiling of
 * 800. But critical work does not queue behind a routine waiter, and while the open holds
 * settle about as much new work arrives as is open now: with it the routine class ends at
 * 820, past its ceiling, is revoked, and the waiter would wait in vain (the burst
 * scenario's failure), so it is refused at once. The same ask on a budget whose routine
 * ceiling is its limit (nothing can overtake the waiter) queues and is granted when the
 * critical hold goes. */
static void a_waiter_that_critical_work_overtakes_is_refused_at_once(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "learn", 100000, TG_WINDOW_LIFETIME);
    teach(engine, "learn", 20, 20);
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = 1000;
    spec.window = TG_WINDOW_LIFETIME;
    spec.revoke_at.micros = 800;
    assert_ok(tg_budget_put(engine, "guarded", &spec, T0, NULL));
    put(engine, "open", 800, TG_WINDOW_LIFETIME);
    const char *paths[] = {"guarded", "open"};
    for (int i = 0; i < 2; i++) {
        tg_record_request spend = {
            .budget = paths[i], .cost_micros = 400, .cls = TG_CLASS_CRITICAL};
        tg_record_result spent;
        assert_ok(tg_record(engine, &spend, T0, &spent, NULL));
        assert_true(spent.charged);
        uint64_t critical = hold(engine, paths[i], 300);
        tg_reserve_request request = {.budget = paths[i],
                                      .amount_micros = 300,
                                      .cls = TG_CLASS_NORMAL,
                                      .ttl_ms = 3600 * 1000,
                                      .wait_ms = 60000,
                                      .wait_likely = true};
        tg_reserve_result r;
        assert_ok(tg_reserve(engine, &request, T0, &r, NULL));
        if (i == 0) {
            assert_false(r.waiting);
            assert_false(r.granted);
            assert_i64(r.refusal.reason, TG_REASON_REVOKED); /* over the routine ceiling */
            assert_i64(tg_wait_count(engine), 0);
            continue;
        }
        assert_true(r.waiting);
        assert_ok(tg_release(engine, critical, NULL, T0, NULL, NULL));
        tg_wait_result done;
        assert_true(tg_wait_poll(engine, &done));
        assert_true(done.result.granted);
        assert_i64(done.result.amount_micros, 300);
    }
    tg_engine_close(engine);
}

/* Holds that commit 90% (a spread of a few percent): 10% of the open holds is not
 * promised in full, only what is left after the mean and two deviations. */
static void the_margin_follows_the_spread(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "learn", 100000, TG_WINDOW_LIFETIME);
    for (int i = 0; i < 40; i++) {
        commit(engine, hold(engine, "learn", 100), i % 2 ? 88 : 92); /* mean 90, spread 2 */
    }
    put(engine, "a", 10000, TG_WINDOW_LIFETIME);
    hold(engine, "a", 10000);
    /* Likely freed: about 10000 x (1 - 0.90 - 2 x 0.02) = 600, give or take the moving
     * mean's last steps. */
    assert_true(ask(engine, "a", 500, 0, 60000, T0).waiting);
    tg_reserve_result r = ask(engine, "a", 300, 0, 60000, T0); /* 500 + 300 > 600 */
    assert_false(r.waiting);
    assert_false(r.granted);
    assert_i64(r.refusal.retry_after_ms, TG_NONE);
    tg_engine_close(engine);
}

/* Whatever the holds do, a window that rolls within the wait still queues. */
static void a_window_roll_within_the_wait_still_queues(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "learn", 100000, TG_WINDOW_LIFETIME);
    teach(engine, "learn", 20, 100);
    put(engine, "h", 1000, TG_WINDOW_HOUR);
    hold(engine, "h", 1000);
    int64_t now = T0 + HOUR_MS - 60000, to_roll = 60000; /* a minute before the roll */
    tg_reserve_result r = ask(engine, "h", 200, 0, to_roll + 10, now);
    assert_true(r.waiting);
    tg_reserve_result late = ask(engine, "h", 200, 0, to_roll - 10, now);
    assert_false(late.waiting);
    assert_false(late.granted);
    assert_i64(late.refusal.retry_after_ms, to_roll); /* the roll is kept as advice */
    tg_engine_close(engine);
}

/* Shrink to fit: granted in the same decision at the largest amount that fits. */
static void shrink_to_fit_is_granted_by_construction(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 1000, TG_WINDOW_LIFETIME);
    hold(engine, "a", 700);
    tg_reserve_result r = ask(engine, "a", 500, 100, 0, T0);
    assert_true(r.granted);
    assert_i64(r.amount_micros, 300);
    tg_hold_info info;
    assert_ok(tg_hold_get(engine, r.hold_id, &info, NULL));
    assert_i64(info.amount_micros, 300);
    assert_i64(held(engine, "a"), 1000);
    /* Nothing left: below the minimum, refused with nothing to shrink to. */
    tg_reserve_result none = ask(engine, "a", 500, 1, 0, T0);
    assert_false(none.granted);
    assert_i64(none.refusal.max_amount_micros, 0);
    tg_engine_close(engine);
}

static void shrink_never_goes_below_its_minimum(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 1000, TG_WINDOW_LIFETIME);
    hold(engine, "a", 901);
    tg_reserve_result r = ask(engine, "a", 500, 100, 0, T0); /* 99 fits, 100 asked at least */
    assert_false(r.granted);
    assert_i64(r.refusal.max_amount_micros, 99);
    assert_i64(held(engine, "a"), 901);
    /* A minimum above the amount is an error, not a grant of more than asked. */
    tg_reserve_request bad = {.budget = "a", .amount_micros = 10, .min_amount_micros = 11};
    tg_reserve_result out;
    tg_error err;
    assert_fails(tg_reserve(engine, &bad, T0, &out, &err), err, TG_ERR_INVALID);
    bad.wait_ms = 1000;
    assert_fails(tg_reserve(engine, &bad, T0, &out, &err), err, TG_ERR_INVALID);
    bad.min_amount_micros = -1;
    assert_fails(tg_reserve(engine, &bad, T0, &out, &err), err, TG_ERR_INVALID);
    tg_engine_close(engine);
}

/* A shrink never takes the room an older waiter claims: the elder waits on p/x for its
 * window to roll and claims 50 on the shared parent p; a newcomer on p/y that cannot
 * wait shrinks to what p has left after that claim, not to what the ledger alone has. */
static void shrink_leaves_the_elders_claims(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "learn", 100000, TG_WINDOW_LIFETIME);
    teach(engine, "learn", 20, 100); /* holds commit in full: only windows help */
    put(engine, "p", 1000, TG_WINDOW_LIFETIME);
    put(engine, "p/x", 100, TG_WINDOW_HOUR);
    put(engine, "p/y", TG_NONE, TG_WINDOW_LIFETIME);
    hold(engine, "p/x", 100);
    int64_t now = T0 + HOUR_MS - 60000, to_roll = 60000; /* a minute before the roll */
    assert_true(ask(engine, "p/x", 50, 0, to_roll + 10, now).waiting);
    tg_reserve_result r = ask(engine, "p/y", 900, 10, 1000, now);
    assert_false(r.waiting);
    assert_true(r.granted);
    assert_i64(r.amount_micros, 850); /* 1000 - 100 held - 50 claimed; the ledger has 900 */
    assert_i64(held(engine, "p"), 950);
    /* Without a minimum the same ask is refused, told it may shrink to 0 now. */
    r = ask(engine, "p/y", 900, 0, 1000, now);
    assert_false(r.granted);
    assert_false(r.waiting);
    assert_i64(r.refusal.max_amount_micros, 0);
    assert_i64(r.refusal.retry_after_ms, TG_NONE);
    tg_engine_close(engine);
}

static void shrink_replays_its_first_answer(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 1000, TG_WINDOW_LIFETIME);
    hold(engine, "a", 800);
    tg_reserve_request r = {.budget = "a",
                            .amount_micros = 500,
                            .cls = TG_CLASS_CRITICAL,
                            .min_amount_micros = 100,
                            .idempotency_key = "again"};
    tg_reserve_result first, second;
    assert_ok(tg_reserve(engine, &r, T0, &first, NULL));
    assert_true(first.granted);
    assert_i64(first.amount_micros, 200);
    assert_ok(tg_reserve(engine, &r, T0 + 5, &second, NULL));
    assert_true(second.replayed);
    assert_i64(second.hold_id, first.hold_id);
    assert_i64(second.amount_micros, 200);
    assert_i64(held(engine, "a"), 1000);
    /* The same key with another minimum is another request: a conflict. */
    r.min_amount_micros = 150;
    tg_error err;
    assert_fails(tg_reserve(engine, &r, T0 + 6, &second, &err), err, TG_ERR_CONFLICT);
    tg_engine_close(engine);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hopeless_wait_is_refused_at_once_without_advice),
        cmocka_unit_test(without_wait_likely_it_queues_whenever_room_could_come),
        cmocka_unit_test(likely_wait_queues_and_is_granted),
        cmocka_unit_test(the_margin_follows_the_spread),
        cmocka_unit_test(a_waiter_that_critical_work_overtakes_is_refused_at_once),
        cmocka_unit_test(a_window_roll_within_the_wait_still_queues),
        cmocka_unit_test(shrink_to_fit_is_granted_by_construction),
        cmocka_unit_test(shrink_never_goes_below_its_minimum),
        cmocka_unit_test(shrink_leaves_the_elders_claims),
        cmocka_unit_test(shrink_replays_its_first_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
