/*
 * test_waiters: waiting holds (wait_ms) through the public C API. Each test tries
 * to break one promise of include/tollgate.h's "Waiting holds": a waiter is granted
 * the moment it fits and in order per budget (a small one never passes an older
 * large one on a budget they share), refused at once when it can never fit in its
 * wait, refused at its deadline with advice, bounded, cancellable, and never past a
 * hard limit; a randomized run (seeds replayable with TG_WAITERS_SEED, how many with
 * TG_WAITERS_SEQUENCES) checks the
 * order, the limit and "decided exactly once" after every step.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit/assertions.h"

#define T0 INT64_C(1800000000000) /* a fixed "now", mid-hour */
#define MS(x) ((int64_t)(x))

static int ready_calls;

static void on_ready(void *user) {
    (void)user;
    ready_calls++;
}

static tg_engine *open_engine(void) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.on_wait_ready = on_ready;
    tg_engine *engine = NULL;
    tg_error err = {0};
    if (tg_engine_open(&options, T0, &engine, &err) != TG_OK) {
        fail_msg("open: %s", err.message);
    }
    ready_calls = 0;
    return engine;
}

static void put(tg_engine *engine, const char *path, int64_t limit, tg_window_kind window,
                int64_t now_ms) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = limit;
    spec.window = window;
    tg_error err = {0};
    if (tg_budget_put(engine, path, &spec, now_ms, &err) != TG_OK) {
        fail_msg("put %s: %s", path, err.message);
    }
}

/* A critical reserve (its ceiling is the limit, so only money decides). */
static tg_reserve_result reserve(tg_engine *engine, const char *budget, int64_t amount,
                                 int64_t wait_ms, int64_t now_ms) {
    tg_reserve_request request = {.budget = budget,
                                  .amount_micros = amount,
                                  .cls = TG_CLASS_CRITICAL,
                                  .ttl_ms = 3600 * 1000,
                                  .wait_ms = wait_ms};
    tg_reserve_result result;
    tg_error err = {0};
    if (tg_reserve(engine, &request, now_ms, &result, &err) != TG_OK) {
        fail_msg("reserve %s %" PRId64 ": %s", budget, amount, err.message);
    }
    return result;
}

static uint64_t hold(tg_engine *engine, const char *budget, int64_t amount) {
    tg_reserve_result r = reserve(engine, budget, amount, 0, T0);
    assert_true(r.granted);
    return r.hold_id;
}

static void commit(tg_engine *engine, uint64_t hold_id, int64_t actual, int64_t now_ms) {
    tg_commit_request request = {.hold_id = hold_id, .actual_micros = actual};
    tg_commit_result result;
    assert_ok(tg_commit(engine, &request, now_ms, &result, NULL));
}

static bool poll(tg_engine *engine, tg_wait_result *out) {
    return tg_wait_poll(engine, out);
}

static int64_t held(tg_engine *engine, const char *path, int64_t now_ms) {
    tg_budget_info info;
    assert_ok(tg_budget_get(engine, path, now_ms, &info, NULL));
    return info.held_micros;
}

/* ---- one waiter ------------------------------------------------------------------ */

static void granted_when_a_hold_is_released(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    uint64_t first = hold(engine, "a", 80);
    tg_reserve_result w = reserve(engine, "a", 50, 5000, T0);
    assert_false(w.granted);
    assert_true(w.waiting);
    assert_true(w.wait_id > 0);
    assert_i64(tg_wait_count(engine), 1);
    tg_wait_result done;
    assert_false(poll(engine, &done)); /* nothing decided yet */
    assert_i64(tg_engine_deadline_ms(engine), T0 + 5000);
    assert_ok(tg_release(engine, first, NULL, T0 + 10, NULL, NULL));
    assert_i64(ready_calls, 1);
    assert_true(poll(engine, &done));
    assert_i64(done.wait_id, w.wait_id);
    assert_ok(done.status);
    assert_true(done.result.granted);
    assert_i64(done.waited_ms, 10);
    tg_hold_info info;
    assert_ok(tg_hold_get(engine, done.result.hold_id, &info, NULL));
    assert_i64(info.amount_micros, 50);
    assert_i64(held(engine, "a", T0 + 10), 50);
    assert_i64(tg_wait_count(engine), 0);
    assert_false(poll(engine, &done)); /* decided exactly once */
    tg_engine_close(engine);
}

static void granted_when_a_commit_comes_in_below_its_hold(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    uint64_t first = hold(engine, "a", 100);
    tg_reserve_result w = reserve(engine, "a", 40, 5000, T0);
    assert_true(w.waiting);
    commit(engine, first, 70, T0 + 1); /* 30 left, nothing held: it can never fit now */
    tg_wait_result done;
    assert_true(poll(engine, &done));
    assert_false(done.result.granted);
    assert_i64(done.result.refusal.reason, TG_REASON_CEILING);
    tg_engine_close(engine);

    engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    first = hold(engine, "a", 100);
    w = reserve(engine, "a", 40, 5000, T0);
    commit(engine, first, 60, T0 + 1); /* exactly 40 left */
    assert_true(poll(engine, &done));
    assert_true(done.result.granted);
    tg_budget_info info;
    assert_ok(tg_budget_get(engine, "a", T0 + 1, &info, NULL));
    assert_i64(info.spent_micros + info.held_micros, 100); /* to the micro, not past */
    tg_engine_close(engine);
}

static void fits_now_is_granted_at_once(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    tg_reserve_result r = reserve(engine, "a", 100, 5000, T0);
    assert_true(r.granted);
    assert_false(r.waiting);
    assert_i64(r.wait_id, 0);
    tg_engine_close(engine);
}

/* ---- refused at once ---------------------------------------------------------------- */

static void never_fits_is_refused_at_once(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    /* More than the limit: no hold and no window can help. */
    tg_reserve_result r = reserve(engine, "a", 101, 60000, T0);
    assert_false(r.granted);
    assert_false(r.waiting);
    assert_i64(r.refusal.reason, TG_REASON_CEILING);
    /* Spent to the limit, nothing held, a lifetime window: only a person can help. */
    tg_record_request spend = {.budget = "a", .cost_micros = 100, .cls = TG_CLASS_CRITICAL};
    tg_record_result charged;
    assert_ok(tg_record(engine, &spend, T0, &charged, NULL));
    r = reserve(engine, "a", 1, 60000, T0);
    assert_false(r.waiting);
    assert_i64(r.refusal.retry_after_ms, TG_NONE);
    /* Frozen: a person's decision. */
    put(engine, "b", 100, TG_WINDOW_LIFETIME, T0);
    uint64_t h = hold(engine, "b", 60);
    assert_ok(tg_budget_freeze(engine, "b", true, T0, NULL));
    r = reserve(engine, "b", 10, 60000, T0);
    assert_false(r.waiting);
    assert_i64(r.refusal.reason, TG_REASON_FROZEN);
    (void)h;
    assert_i64(tg_wait_count(engine), 0);
    tg_engine_close(engine);
}

static void window_too_far_is_refused_at_once_near_enough_waits(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "h", 100, TG_WINDOW_HOUR, T0);
    tg_budget_info info;
    assert_ok(tg_budget_get(engine, "h", T0, &info, NULL));
    int64_t now = info.window_end_ms - 60000, to_end = 60000;
    tg_record_request spend = {.budget = "h", .cost_micros = 100, .cls = TG_CLASS_CRITICAL};
    tg_record_result charged;
    assert_ok(tg_record(engine, &spend, now, &charged, NULL));
    tg_reserve_result r = reserve(engine, "h", 10, to_end - 1, now);
    assert_false(r.waiting); /* the window ends a millisecond after the deadline */
    assert_false(r.granted);
    r = reserve(engine, "h", 110, to_end, now);
    assert_false(r.waiting); /* more than a fresh window's limit */
    r = reserve(engine, "h", 10, to_end, now);
    assert_true(r.waiting);
    /* The tick at the window's end rolls it and grants the waiter in the same call. */
    assert_i64(tg_engine_deadline_ms(engine), info.window_end_ms);
    assert_ok(tg_engine_tick(engine, info.window_end_ms, NULL));
    tg_wait_result done;
    assert_true(poll(engine, &done));
    assert_true(done.result.granted);
    tg_engine_close(engine);
}

static void bad_wait_is_an_error(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    tg_reserve_request request = {.budget = "a", .amount_micros = 1, .wait_ms = -1};
    tg_reserve_result result;
    tg_error err;
    assert_fails(tg_reserve(engine, &request, T0, &result, &err), err, TG_ERR_INVALID);
    request.wait_ms = TG_WAIT_MS_MAX + 1;
    assert_fails(tg_reserve(engine, &request, T0, &result, &err), err, TG_ERR_RANGE);
    request.wait_ms = 10;
    request.budget = "nope";
    assert_fails(tg_reserve(engine, &request, T0, &result, &err), err, TG_ERR_NOT_FOUND);
    tg_engine_close(engine);
}

/* ---- deadlines ---------------------------------------------------------------------- */

static void refused_at_its_deadline_with_advice(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    hold(engine, "a", 90);
    tg_reserve_result w = reserve(engine, "a", 50, 2000, T0);
    assert_true(w.waiting);
    assert_ok(tg_engine_tick(engine, T0 + 1999, NULL));
    tg_wait_result done;
    assert_false(poll(engine, &done)); /* one millisecond early */
    assert_ok(tg_engine_tick(engine, T0 + 2000, NULL));
    assert_true(poll(engine, &done));
    assert_ok(done.status);
    assert_false(done.result.granted);
    assert_false(done.result.waiting);
    assert_i64(done.result.refusal.reason, TG_REASON_CEILING);
    /* The usual advice: the open hold expires in an hour. */
    assert_i64(done.result.refusal.retry_after_ms, 3600 * 1000 - 2000);
    assert_i64(done.waited_ms, 2000);
    assert_i64(tg_engine_deadline_ms(engine), T0 + 3600 * 1000);
    tg_engine_close(engine);
}

/* ---- order -------------------------------------------------------------------------- */

static void small_does_not_pass_an_older_large(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    uint64_t h1 = hold(engine, "a", 60);
    uint64_t h2 = hold(engine, "a", 35); /* 5 free */
    tg_reserve_result large = reserve(engine, "a", 50, 10000, T0);
    assert_true(large.waiting);
    /* 10 would not fit either; 5 would fit now, but an older waiter waits for "a". */
    tg_reserve_result small = reserve(engine, "a", 5, 10000, T0);
    assert_true(small.waiting);
    assert_i64(held(engine, "a", T0), 95);
    commit(engine, h2, 0, T0 + 1); /* 40 free: the small fits, the large does not */
    tg_wait_result done;
    assert_false(poll(engine, &done));
    commit(engine, h1, 50, T0 + 2); /* 50 free: the large first, then no room for the small */
    assert_true(poll(engine, &done));
    assert_i64(done.wait_id, large.wait_id);
    assert_true(done.result.granted);
    /* The small one asked to wait whenever room could come (no wait_likely): the large
     * one's hold may still be released, so it waits on; at its deadline it is refused,
     * with advice. (test_waiters_likely: with wait_likely it is refused at once.) */
    assert_false(poll(engine, &done));
    assert_i64(tg_wait_count(engine), 1);
    assert_ok(tg_engine_tick(engine, T0 + 10000, NULL));
    assert_true(poll(engine, &done));
    assert_i64(done.wait_id, small.wait_id);
    assert_false(done.result.granted);
    tg_engine_close(engine);
}

static void a_sibling_waits_behind_an_elder_on_the_shared_parent(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "p", 100, TG_WINDOW_LIFETIME, T0);
    put(engine, "p/x", 100, TG_WINDOW_LIFETIME, T0);
    put(engine, "p/y", 100, TG_WINDOW_LIFETIME, T0);
    uint64_t h = hold(engine, "p/x", 100);
    tg_reserve_result elder = reserve(engine, "p/x", 80, 10000, T0);
    tg_reserve_result younger = reserve(engine, "p/y", 10, 10000, T0);
    assert_true(elder.waiting);
    assert_true(younger.waiting);
    commit(engine, h, 10, T0 + 1); /* 90 free on p: the elder (80) then the younger (10) */
    tg_wait_result done;
    assert_true(poll(engine, &done));
    assert_i64(done.wait_id, elder.wait_id);
    assert_true(done.result.granted);
    assert_true(poll(engine, &done));
    assert_i64(done.wait_id, younger.wait_id);
    assert_true(done.result.granted);
    assert_i64(held(engine, "p", T0 + 1), 90);
    tg_engine_close(engine);
}

static void an_unrelated_budget_is_not_held_back(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    put(engine, "b", 100, TG_WINDOW_LIFETIME, T0);
    hold(engine, "a", 100);
    uint64_t hb = hold(engine, "b", 100);
    assert_true(reserve(engine, "a", 50, 10000, T0).waiting);
    tg_reserve_result other = reserve(engine, "b", 50, 10000, T0);
    assert_true(other.waiting);
    assert_ok(tg_release(engine, hb, NULL, T0 + 1, NULL, NULL));
    tg_wait_result done;
    assert_true(poll(engine, &done));
    assert_i64(done.wait_id, other.wait_id);
    assert_true(done.result.granted);
    tg_engine_close(engine);
}

/* No starvation: small waiters keep coming while holds commit one by one; the large
 * waiter is granted as soon as the freed money adds up to it, before any younger one.
 * The smalls queue only while the elders' claims leave room for them: the rest could
 * never be granted (the limit is 100 for good) and are refused at once, not kept
 * waiting in vain. */
static void no_starvation_under_small_and_large_waiters(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    uint64_t holds[10];
    for (int i = 0; i < 10; i++) {
        holds[i] = hold(engine, "a", 10);
    }
    tg_reserve_result large = reserve(engine, "a", 60, 600000, T0);
    assert_true(large.waiting);
    uint64_t smalls[40];
    int smalls_count = 0;
    int64_t now = T0;
    bool large_granted = false;
    for (int i = 0; i < 10 && !large_granted; i++) {
        for (int k = 0; k < 4; k++) {
            tg_reserve_result s = reserve(engine, "a", 10, 600000, ++now);
            if (s.waiting) {
                smalls[smalls_count++] = s.wait_id;
            } else {
                /* Claimed in full by its elders: no wait advice, nothing to shrink to. */
                assert_false(s.granted);
                assert_i64(s.refusal.retry_after_ms, TG_NONE);
                assert_i64(s.refusal.max_amount_micros, 0);
                assert_int_equal(smalls_count, 4); /* 60 + 4 x 10 claims the 100 */
            }
        }
        commit(engine, holds[i], 0, ++now);
        tg_wait_result done;
        while (poll(engine, &done)) {
            /* Nothing younger than the large one is decided before it. */
            assert_i64(done.wait_id, large.wait_id);
            assert_true(done.result.granted);
            assert_i64(i, 5); /* the sixth freed 10 makes 60 */
            large_granted = true;
        }
    }
    assert_true(large_granted);
    (void)smalls;
    /* Then the smalls, in order, as the rest frees. */
    uint64_t expected = smalls[0];
    for (int i = 6; i < 10; i++) {
        commit(engine, holds[i], 0, ++now);
        tg_wait_result done;
        assert_true(poll(engine, &done));
        assert_i64(done.wait_id, expected);
        assert_true(done.result.granted);
        expected++;
        assert_false(poll(engine, &done));
    }
    tg_engine_close(engine);
}

/* ---- room from an admin ------------------------------------------------------------- */

static void granted_when_the_limit_is_raised(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    hold(engine, "a", 100);
    tg_reserve_result w = reserve(engine, "a", 30, 10000, T0);
    assert_true(w.waiting);
    put(engine, "a", 130, TG_WINDOW_LIFETIME, T0 + 5);
    tg_wait_result done;
    assert_true(poll(engine, &done));
    assert_true(done.result.granted);
    tg_engine_close(engine);
}

static void frozen_while_waiting_is_refused_at_once(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    uint64_t h = hold(engine, "a", 100);
    assert_true(reserve(engine, "a", 30, 10000, T0).waiting);
    assert_ok(tg_budget_freeze(engine, "a", true, T0 + 1, NULL));
    tg_wait_result done;
    assert_true(poll(engine, &done));
    assert_false(done.result.granted);
    assert_i64(done.result.refusal.reason, TG_REASON_FROZEN);
    (void)h;
    tg_engine_close(engine);
}

/* ---- bounds and cancel -------------------------------------------------------------- */

static void bounded_per_budget_and_in_total(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    char path[32];
    int budgets = TG_WAITERS_MAX / TG_WAITERS_PER_BUDGET_MAX + 1;
    for (int b = 0; b < budgets; b++) {
        snprintf(path, sizeof path, "b%d", b);
        /* Room for every waiter's claim of 1 once the hold goes. */
        put(engine, path, 2 * TG_WAITERS_PER_BUDGET_MAX, TG_WINDOW_LIFETIME, T0);
        hold(engine, path, 2 * TG_WAITERS_PER_BUDGET_MAX);
    }
    tg_reserve_request request = {
        .budget = "b0", .amount_micros = 1, .cls = TG_CLASS_CRITICAL, .wait_ms = 1000};
    tg_reserve_result result;
    tg_error err;
    for (int i = 0; i < TG_WAITERS_PER_BUDGET_MAX; i++) {
        assert_ok(tg_reserve(engine, &request, T0, &result, NULL));
        assert_true(result.waiting);
    }
    assert_fails(tg_reserve(engine, &request, T0, &result, &err), err, TG_ERR_FULL);
    for (int b = 1; b < budgets - 1; b++) {
        snprintf(path, sizeof path, "b%d", b);
        request.budget = path;
        for (int i = 0; i < TG_WAITERS_PER_BUDGET_MAX; i++) {
            assert_ok(tg_reserve(engine, &request, T0, &result, NULL));
        }
    }
    assert_i64(tg_wait_count(engine), TG_WAITERS_MAX);
    snprintf(path, sizeof path, "b%d", budgets - 1);
    request.budget = path;
    assert_fails(tg_reserve(engine, &request, T0, &result, &err), err, TG_ERR_FULL);
    /* A reserve that fits is still granted with the queue full. */
    put(engine, "free", 100, TG_WINDOW_LIFETIME, T0);
    request.budget = "free";
    assert_ok(tg_reserve(engine, &request, T0, &result, NULL));
    assert_true(result.granted);
    /* Deadlines: all refused in one tick; decisions not taken count against the bound. */
    assert_ok(tg_engine_tick(engine, T0 + 1000, NULL));
    assert_i64(tg_wait_count(engine), 0);
    request.budget = "b0";
    assert_fails(tg_reserve(engine, &request, T0 + 1000, &result, &err), err, TG_ERR_FULL);
    tg_wait_result done;
    int64_t decided = 0;
    while (tg_wait_poll(engine, &done)) {
        assert_false(done.result.granted);
        decided++;
    }
    assert_i64(decided, TG_WAITERS_MAX);
    assert_ok(tg_reserve(engine, &request, T0 + 1000, &result, NULL));
    assert_true(result.waiting);
    tg_engine_close(engine);
}

static void cancelled_waiter_is_never_decided(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "a", 100, TG_WINDOW_LIFETIME, T0);
    uint64_t h = hold(engine, "a", 100);
    tg_reserve_result first = reserve(engine, "a", 80, 10000, T0);
    tg_reserve_result second = reserve(engine, "a", 20, 10000, T0);
    tg_error err;
    assert_ok(tg_wait_cancel(engine, first.wait_id, T0, NULL));
    assert_fails(tg_wait_cancel(engine, first.wait_id, T0, &err), err, TG_ERR_NOT_FOUND);
    assert_fails(tg_wait_cancel(engine, 999, T0, &err), err, TG_ERR_NOT_FOUND);
    commit(engine, h, 80, T0 + 1); /* 20 free: the second, no longer behind the first */
    tg_wait_result done;
    assert_true(poll(engine, &done));
    assert_i64(done.wait_id, second.wait_id);
    assert_true(done.result.granted);
    assert_false(poll(engine, &done));
    assert_i64(held(engine, "a", T0 + 1), 20);
    tg_engine_close(engine);
}

static bool list_one(void *user, const tg_wait_info *info) {
    *(tg_wait_info *)user = *info;
    return false;
}

static void listed_with_what_it_waits_for(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    put(engine, "p", 100, TG_WINDOW_LIFETIME, T0);
    put(engine, "p/x", 1000, TG_WINDOW_LIFETIME, T0);
    hold(engine, "p/x", 100);
    tg_reserve_result w = reserve(engine, "p/x", 7, 3000, T0);
    tg_wait_info info = {0};
    assert_ok(tg_wait_list(engine, list_one, &info, NULL));
    assert_i64(info.wait_id, w.wait_id);
    assert_string_equal(info.budget, "p/x");
    assert_string_equal(info.blocked_at, "p");
    assert_i64(info.amount_micros, 7);
    assert_i64(info.cls, TG_CLASS_CRITICAL);
    assert_i64(info.deadline_ms, T0 + 3000);
    tg_engine_close(engine);
}

/* ---- randomized ------------------------------------------------------------------------ */

typedef struct {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
    uint64_t z = (r->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int64_t rng_range(rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

#define R_HOLDS_MAX 4096
#define R_WAITERS_MAX 4096
static const char *const r_paths[] = {"r", "r/a", "r/b", "r/a/x"};

typedef struct {
    uint64_t id;
    int path;
    int64_t amount;
    bool decided;
    bool cancelled;
} r_waiter;

typedef struct {
    tg_engine *engine;
    uint64_t holds[R_HOLDS_MAX];
    int holds_count;
    r_waiter waiters[R_WAITERS_MAX];
    int waiters_count;
    int64_t now;
    uint64_t seed;
    int step;
} r_state;

static bool r_on_path(int leaf, int budget) {
    /* r is on every path; r/a on r/a and r/a/x. */
    return budget == 0 || budget == leaf || (budget == 1 && leaf == 3);
}

static r_waiter *r_find(r_state *s, uint64_t id) {
    for (int i = 0; i < s->waiters_count; i++) {
        if (s->waiters[i].id == id) {
            return &s->waiters[i];
        }
    }
    return NULL;
}

/* Does budget `b` refuse `amount` now (money only: every class is critical)? */
static bool r_refuses(r_state *s, int b, int64_t amount) {
    tg_budget_info info;
    assert_ok(tg_budget_get(s->engine, r_paths[b], s->now, &info, NULL));
    return info.spent_micros + info.held_micros + amount > info.spec.cost_limit_micros;
}

static void r_check(r_state *s, const uint64_t *granted, int granted_count) {
    for (int b = 0; b < 4; b++) {
        tg_budget_info info;
        assert_ok(tg_budget_get(s->engine, r_paths[b], s->now, &info, NULL));
        if (info.spent_micros + info.held_micros > info.spec.cost_limit_micros) {
            fail_msg("seed %" PRIu64 " step %d: %s holds past its limit", s->seed, s->step,
                     r_paths[b]);
        }
    }
    /* The oldest waiter does not fit (or the pump would have granted it). */
    for (int i = 0; i < s->waiters_count; i++) {
        r_waiter *w = &s->waiters[i];
        if (w->decided || w->cancelled) {
            continue;
        }
        bool refused = false;
        for (int b = 0; b < 4; b++) {
            refused |= r_on_path(w->path, b) && r_refuses(s, b, w->amount);
        }
        if (!refused) {
            fail_msg("seed %" PRIu64 " step %d: the oldest waiter %" PRIu64 " fits but waits",
                     s->seed, s->step, w->id);
        }
        break;
    }
    /* A waiter granted this step took only room its elders still waiting could not use:
     * on each budget of its path, spend + holds + what those elders ask fits the limit. */
    for (int g = 0; g < granted_count; g++) {
        r_waiter *won = r_find(s, granted[g]);
        for (int b = 0; b < 4; b++) {
            if (!r_on_path(won->path, b)) {
                continue;
            }
            int64_t claimed = 0;
            for (int i = 0; i < s->waiters_count && s->waiters[i].id < won->id; i++) {
                r_waiter *elder = &s->waiters[i];
                if (!elder->decided && !elder->cancelled && r_on_path(elder->path, b)) {
                    claimed += elder->amount;
                }
            }
            if (r_refuses(s, b, claimed)) {
                fail_msg("seed %" PRIu64 " step %d: waiter %" PRIu64
                         " took room its elders (%" PRId64 ") wait for on %s",
                         s->seed, s->step, won->id, claimed, r_paths[b]);
            }
        }
    }
}

static void r_step(r_state *s, rng *r) {
    int op = (int)rng_range(r, 0, 9);
    s->now += rng_range(r, 0, 300);
    if (op <= 3 && s->waiters_count < R_WAITERS_MAX) {
        int path = (int)rng_range(r, 0, 3);
        int64_t amount = rng_range(r, 1, 70);
        tg_reserve_result w =
            reserve(s->engine, r_paths[path], amount, rng_range(r, 0, 3000), s->now);
        if (w.granted && s->holds_count < R_HOLDS_MAX) {
            s->holds[s->holds_count++] = w.hold_id;
        }
        if (w.waiting) {
            s->waiters[s->waiters_count++] = (r_waiter){w.wait_id, path, amount, false, false};
        }
    } else if (op <= 6 && s->holds_count > 0) {
        int i = (int)rng_range(r, 0, s->holds_count - 1);
        uint64_t id = s->holds[i];
        s->holds[i] = s->holds[--s->holds_count];
        tg_hold_info info;
        if (tg_hold_get(s->engine, id, &info, NULL) == TG_OK) {
            if (rng_range(r, 0, 1)) {
                commit(s->engine, id, rng_range(r, 0, info.amount_micros), s->now);
            } else {
                assert_ok(tg_release(s->engine, id, NULL, s->now, NULL, NULL));
            }
        }
    } else if (op == 7 && s->waiters_count > 0) {
        r_waiter *w = &s->waiters[rng_range(r, 0, s->waiters_count - 1)];
        tg_status status = tg_wait_cancel(s->engine, w->id, s->now, NULL);
        assert_true(status == (w->decided || w->cancelled ? TG_ERR_NOT_FOUND : TG_OK));
        w->cancelled = true;
    } else {
        assert_ok(tg_engine_tick(s->engine, s->now, NULL));
    }
    uint64_t granted[R_WAITERS_MAX];
    int granted_count = 0;
    tg_wait_result done;
    while (tg_wait_poll(s->engine, &done)) {
        r_waiter *w = r_find(s, done.wait_id);
        assert_non_null(w);
        assert_false(w->decided || w->cancelled); /* decided once, never after a cancel */
        w->decided = true;
        assert_ok(done.status);
        if (done.result.granted) {
            granted[granted_count++] = w->id;
            if (s->holds_count < R_HOLDS_MAX) {
                s->holds[s->holds_count++] = done.result.hold_id;
            }
        }
    }
    r_check(s, granted, granted_count);
}

static void randomized_order_limit_and_once(void **state) {
    (void)state;
    const char *env = getenv("TG_WAITERS_SEED");
    uint64_t first_seed = env != NULL ? strtoull(env, NULL, 10) : 18;
    const char *count = getenv("TG_WAITERS_SEQUENCES");
    int sequences = count != NULL ? atoi(count) : env != NULL ? 1 : 200;
    static r_state s;
    for (int q = 0; q < sequences; q++) {
        memset(&s, 0, sizeof s);
        s.seed = first_seed + (uint64_t)q;
        rng r = {s.seed};
        s.engine = open_engine();
        s.now = T0;
        put(s.engine, "r", rng_range(&r, 80, 200), TG_WINDOW_LIFETIME, T0);
        put(s.engine, "r/a", rng_range(&r, 50, 150), TG_WINDOW_LIFETIME, T0);
        put(s.engine, "r/b", rng_range(&r, 50, 150), TG_WINDOW_LIFETIME, T0);
        put(s.engine, "r/a/x", rng_range(&r, 30, 100), TG_WINDOW_LIFETIME, T0);
        for (s.step = 0; s.step < 300; s.step++) {
            r_step(&s, &r);
        }
        /* Every waiter is decided by its deadline: nothing waits forever. */
        s.now += TG_WAIT_MS_MAX;
        assert_ok(tg_engine_tick(s.engine, s.now, NULL));
        tg_wait_result done;
        while (tg_wait_poll(s.engine, &done)) {
            r_find(&s, done.wait_id)->decided = true;
        }
        for (int i = 0; i < s.waiters_count; i++) {
            assert_true(s.waiters[i].decided || s.waiters[i].cancelled);
        }
        assert_i64(tg_wait_count(s.engine), 0);
        tg_engine_close(s.engine);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(granted_when_a_hold_is_released),
        cmocka_unit_test(granted_when_a_commit_comes_in_below_its_hold),
        cmocka_unit_test(fits_now_is_granted_at_once),
        cmocka_unit_test(never_fits_is_refused_at_once),
        cmocka_unit_test(window_too_far_is_refused_at_once_near_enough_waits),
        cmocka_unit_test(bad_wait_is_an_error),
        cmocka_unit_test(refused_at_its_deadline_with_advice),
        cmocka_unit_test(small_does_not_pass_an_older_large),
        cmocka_unit_test(a_sibling_waits_behind_an_elder_on_the_shared_parent),
        cmocka_unit_test(an_unrelated_budget_is_not_held_back),
        cmocka_unit_test(no_starvation_under_small_and_large_waiters),
        cmocka_unit_test(granted_when_the_limit_is_raised),
        cmocka_unit_test(frozen_while_waiting_is_refused_at_once),
        cmocka_unit_test(bounded_per_budget_and_in_total),
        cmocka_unit_test(cancelled_waiter_is_never_decided),
        cmocka_unit_test(listed_with_what_it_waits_for),
        cmocka_unit_test(randomized_order_limit_and_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
