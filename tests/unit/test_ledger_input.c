/*
 * test_ledger_input: bad input gets a clear error and changes nothing.
 *
 * Each test builds the same small ledger (spend, holds, an idempotency key),
 * snapshots every budget (tg_budget_get) and every hold (tg_hold_get), makes a
 * bad call, and checks: the status, the error's status and sentence, the
 * output left untouched, no event, and a snapshot identical to the one before.
 * Money and fraction text is in test_ledger_money.c.
 */
#include "model.h"

/* ---- the ledger every test starts from --------------------------------------------- */

static const char *const paths[] = {"acme", "acme/a", "acme/a/x", "solo"};
#define PATHS_COUNT ((int)(sizeof paths / sizeof paths[0]))

typedef struct {
    fx *f;
    uint64_t holds[2];
} world;

static world world_open_with(const tg_engine_options *options) {
    world w = {0};
    w.f = fx_open_with(options);
    fx *f = w.f;
    tg_budget_spec spec = fx_spec(USD(100), USD(80), TG_WINDOW_DAY);
    spec.calls_limit = 10;
    spec.tokens_limit = 1000;
    spec.alerts_ppm[0] = 500000;
    spec.alerts_count = 1;
    fx_put_spec(f, "acme", &spec);
    spec = fx_spec(USD(50), TG_NONE, TG_WINDOW_HOUR);
    snprintf(spec.timezone, sizeof spec.timezone, "UTC");
    fx_put_spec(f, "acme/a", &spec);
    fx_put(f, "acme/a/x", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "solo", USD(10), TG_NONE, TG_WINDOW_LIFETIME);
    f->now_ms = T0_MS + HOUR_MS + 5 * MINUTE_MS;
    tg_record_request rec = fx_record_request("acme/a", USD(30), TG_CLASS_NORMAL, false);
    rec.tokens_in = 10;
    assert_true(fx_record_with(f, &rec).charged);
    w.holds[0] = fx_hold(f, "acme/a/x", USD(10), TG_CLASS_HIGH);
    tg_reserve_request r = fx_reserve_request("acme", USD(5), TG_CLASS_LOW);
    r.idempotency_key = "k1";
    r.tokens = 7;
    w.holds[1] = fx_reserve_with(f, &r).hold_id;
    return w;
}

static world world_open(void) {
    return world_open_with(NULL);
}

typedef struct {
    tg_budget_info budgets[PATHS_COUNT];
    tg_status hold_status[2];
    tg_hold_info holds[2];
    size_t events_total;
} snapshot;

static void snapshot_take(world *w, snapshot *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < PATHS_COUNT; i++) {
        assert_ok(tg_budget_get(w->f->engine, paths[i], w->f->now_ms, &s->budgets[i], NULL));
    }
    for (int i = 0; i < 2; i++) {
        s->hold_status[i] = tg_hold_get(w->f->engine, w->holds[i], &s->holds[i], NULL);
    }
    s->events_total = w->f->events_total;
}

static snapshot before_call(world *w) {
    snapshot s;
    snapshot_take(w, &s);
    return s;
}

static void assert_unchanged(world *w, const snapshot *before) {
    assert_i64(w->f->events_total, before->events_total); /* the bad call reported nothing */
    snapshot after;
    snapshot_take(w, &after);
    for (int i = 0; i < PATHS_COUNT; i++) {
        if (memcmp(&after.budgets[i], &before->budgets[i], sizeof after.budgets[i]) != 0) {
            print_error("budget '%s' changed: spent %lld -> %lld, held %lld -> %lld\n", paths[i],
                        (long long)before->budgets[i].spent_micros,
                        (long long)after.budgets[i].spent_micros,
                        (long long)before->budgets[i].held_micros,
                        (long long)after.budgets[i].held_micros);
            fail();
        }
    }
    for (int i = 0; i < 2; i++) {
        assert_i64(after.hold_status[i], before->hold_status[i]);
        assert_memory_equal(&after.holds[i], &before->holds[i], sizeof after.holds[i]);
    }
}

static void world_close(world *w) {
    fx_close(w->f);
}

/* Tries a reserve that must fail with `expected` and change nothing. */
static void reserve_fails(world *w, const tg_reserve_request *r, tg_status expected) {
    snapshot before = before_call(w);
    tg_reserve_result out;
    memset(&out, 0x5A, sizeof out);
    tg_error err;
    assert_fails(tg_reserve(w->f->engine, r, w->f->now_ms, &out, &err), err, expected);
    assert_i64(out.hold_id, INT64_C(0x5A5A5A5A5A5A5A5A)); /* output untouched */
    assert_unchanged(w, &before);
}

static void commit_fails(world *w, const tg_commit_request *r, tg_status expected) {
    snapshot before = before_call(w);
    tg_commit_result out;
    memset(&out, 0x5A, sizeof out);
    tg_error err;
    assert_fails(tg_commit(w->f->engine, r, w->f->now_ms, &out, &err), err, expected);
    assert_i64(out.charge_id, INT64_C(0x5A5A5A5A5A5A5A5A));
    assert_unchanged(w, &before);
}

static void record_fails(world *w, const tg_record_request *r, tg_status expected) {
    snapshot before = before_call(w);
    tg_record_result out;
    memset(&out, 0x5A, sizeof out);
    tg_error err;
    assert_fails(tg_record(w->f->engine, r, w->f->now_ms, &out, &err), err, expected);
    assert_i64(out.charge_id, INT64_C(0x5A5A5A5A5A5A5A5A));
    assert_unchanged(w, &before);
}

static void put_fails(world *w, const char *path, const tg_budget_spec *spec, tg_status expected) {
    snapshot before = before_call(w);
    tg_error err;
    assert_fails(tg_budget_put(w->f->engine, path, spec, w->f->now_ms, &err), err, expected);
    assert_unchanged(w, &before);
}

/* ---- negative amounts --------------------------------------------------------------- */

static void test_negative_amounts_are_refused(void **state) {
    (void)state;
    world w = world_open();
    tg_reserve_request r = fx_reserve_request("acme/a", -1, TG_CLASS_NORMAL);
    reserve_fails(&w, &r, TG_ERR_INVALID);
    r.amount_micros = INT64_MIN;
    reserve_fails(&w, &r, TG_ERR_INVALID);
    r.amount_micros = 1;
    r.tokens = -1;
    reserve_fails(&w, &r, TG_ERR_INVALID);
    r.tokens = 0;
    r.ttl_ms = -1;
    reserve_fails(&w, &r, TG_ERR_INVALID);

    tg_commit_request c = {.hold_id = w.holds[0], .actual_micros = -1};
    commit_fails(&w, &c, TG_ERR_INVALID);
    c.actual_micros = 1;
    c.tokens_in = -5;
    commit_fails(&w, &c, TG_ERR_INVALID);
    c.tokens_in = 0;
    c.tokens_out = INT64_MIN;
    commit_fails(&w, &c, TG_ERR_INVALID);

    tg_record_request rec = fx_record_request("acme/a", -1, TG_CLASS_NORMAL, true);
    record_fails(&w, &rec, TG_ERR_INVALID);
    rec.cost_micros = 1;
    rec.tokens_in = -1;
    record_fails(&w, &rec, TG_ERR_INVALID);
    rec.tokens_in = 0;
    rec.tokens_out = -1;
    record_fails(&w, &rec, TG_ERR_INVALID);

    tg_budget_spec spec = fx_spec(-2, TG_NONE, TG_WINDOW_DAY);
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec = fx_spec(USD(50), TG_NONE, TG_WINDOW_DAY);
    spec.calls_limit = -7;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec.calls_limit = TG_NONE;
    spec.tokens_limit = INT64_MIN;
    put_fails(&w, "acme/b", &spec, TG_ERR_INVALID);
    spec.tokens_limit = TG_NONE;
    spec.revoke_at.micros = -5;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    world_close(&w);
}

/* ---- numbers near INT64_MAX ----------------------------------------------------------- */

static void test_huge_numbers_are_refused(void **state) {
    (void)state;
    world w = world_open();
    tg_reserve_request r = fx_reserve_request("acme/a/x", INT64_MAX, TG_CLASS_CRITICAL);
    reserve_fails(&w, &r, TG_ERR_RANGE);
    r.amount_micros = TG_AMOUNT_MAX + 1;
    reserve_fails(&w, &r, TG_ERR_RANGE);
    r.amount_micros = 1;
    r.tokens = INT64_MAX;
    reserve_fails(&w, &r, TG_ERR_RANGE);
    r.tokens = 0;
    r.ttl_ms = INT64_MAX;
    reserve_fails(&w, &r, TG_ERR_RANGE);

    tg_commit_request c = {.hold_id = w.holds[0], .actual_micros = INT64_MAX};
    commit_fails(&w, &c, TG_ERR_RANGE);
    c.actual_micros = TG_AMOUNT_MAX + 1;
    commit_fails(&w, &c, TG_ERR_RANGE);
    c.actual_micros = 0;
    c.tokens_in = INT64_MAX;
    c.tokens_out = INT64_MAX; /* their sum would wrap */
    commit_fails(&w, &c, TG_ERR_RANGE);

    tg_record_request rec = fx_record_request("acme/a/x", INT64_MAX, TG_CLASS_CRITICAL, true);
    record_fails(&w, &rec, TG_ERR_RANGE);
    rec.cost_micros = 0;
    rec.tokens_in = INT64_MAX;
    rec.tokens_out = INT64_MAX;
    record_fails(&w, &rec, TG_ERR_RANGE);

    tg_budget_spec spec = fx_spec(INT64_MAX, TG_NONE, TG_WINDOW_DAY);
    put_fails(&w, "acme/a", &spec, TG_ERR_RANGE);
    put_fails(&w, "acme/new", &spec, TG_ERR_RANGE);
    spec.cost_limit_micros = TG_LIMIT_MAX + 1;
    put_fails(&w, "acme/a", &spec, TG_ERR_RANGE);
    spec.cost_limit_micros = TG_LIMIT_MAX;
    spec.calls_limit = INT64_MAX;
    put_fails(&w, "acme/a", &spec, TG_ERR_RANGE);
    spec.calls_limit = TG_NONE;
    spec.tokens_limit = INT64_MAX;
    put_fails(&w, "acme/a", &spec, TG_ERR_RANGE);
    spec.tokens_limit = TG_NONE;
    spec.revoke_at.micros = INT64_MAX;
    put_fails(&w, "acme/a", &spec, TG_ERR_RANGE);
    spec.revoke_at = (tg_level){TG_NONE, INT64_MAX};
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec.revoke_at = (tg_level){TG_NONE, TG_NONE};
    spec.alerts_ppm[0] = INT64_MAX;
    spec.alerts_count = 1;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);

    /* The largest values allowed work, and derived levels do not overflow. */
    spec = fx_spec(TG_LIMIT_MAX, TG_NONE, TG_WINDOW_DAY);
    spec.revoke_at.ppm = 999999;
    spec.alerts_ppm[0] = 999999;
    spec.alerts_count = 1;
    fx_put_spec(w.f, "max", &spec);
    tg_budget_info info = fx_info(w.f, "max");
    assert_i64(info.threshold_micros, TG_LIMIT_MAX / TG_PPM * 999999);
    assert_i64(info.ceiling_micros[TG_CLASS_CRITICAL], TG_LIMIT_MAX);
    assert_true(fx_reserve(w.f, "max", TG_AMOUNT_MAX, TG_CLASS_LOW).granted);
    world_close(&w);
}

static void test_counters_cannot_overflow(void **state) {
    (void)state;
    world w = world_open();
    fx *f = w.f;
    fx_put(f, "spent", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "held", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    /* 1000 x 1e15 = 1e18 = TG_LIMIT_MAX, the most any counter may hold. */
    for (int i = 0; i < 1000; i++) {
        assert_true(fx_record(f, "spent", TG_AMOUNT_MAX, TG_CLASS_NORMAL, true).charged);
        fx_hold(f, "held", TG_AMOUNT_MAX, TG_CLASS_NORMAL);
    }
    assert_i64(fx_info(f, "spent").spent_micros, TG_LIMIT_MAX);
    assert_i64(fx_info(f, "held").held_micros, TG_LIMIT_MAX);
    snapshot before = before_call(&w);
    tg_budget_info spent_before = fx_info(f, "spent"), held_before = fx_info(f, "held");
    tg_record_request rec = fx_record_request("spent", 1, TG_CLASS_NORMAL, true);
    tg_record_result recorded;
    tg_error err;
    assert_fails(tg_record(f->engine, &rec, f->now_ms, &recorded, &err), err, TG_ERR_RANGE);
    tg_reserve_request r = fx_reserve_request("held", 1, TG_CLASS_NORMAL);
    tg_reserve_result reserved;
    assert_fails(tg_reserve(f->engine, &r, f->now_ms, &reserved, &err), err, TG_ERR_RANGE);
    assert_unchanged(&w, &before);
    tg_budget_info spent_after = fx_info(f, "spent"), held_after = fx_info(f, "held");
    assert_memory_equal(&spent_after, &spent_before, sizeof spent_after);
    assert_memory_equal(&held_after, &held_before, sizeof held_after);
    world_close(&w);
}

/* ---- unknown budgets and malformed paths ------------------------------------------------- */

static void test_unknown_budget(void **state) {
    (void)state;
    world w = world_open();
    const char *unknown[] = {"nope", "acme/nope", "acme/a/x/y"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        tg_reserve_request r = fx_reserve_request(unknown[i], 1, TG_CLASS_NORMAL);
        reserve_fails(&w, &r, TG_ERR_NOT_FOUND);
        tg_record_request rec = fx_record_request(unknown[i], 1, TG_CLASS_NORMAL, true);
        record_fails(&w, &rec, TG_ERR_NOT_FOUND);
        snapshot before = before_call(&w);
        tg_error err;
        tg_budget_info info;
        memset(&info, 0x5A, sizeof info);
        assert_fails(tg_budget_get(w.f->engine, unknown[i], w.f->now_ms, &info, &err), err,
                     TG_ERR_NOT_FOUND);
        assert_i64(info.spent_micros, INT64_C(0x5A5A5A5A5A5A5A5A));
        assert_fails(tg_budget_delete(w.f->engine, unknown[i], w.f->now_ms, &err), err,
                     TG_ERR_NOT_FOUND);
        assert_fails(tg_budget_freeze(w.f->engine, unknown[i], true, w.f->now_ms, &err), err,
                     TG_ERR_NOT_FOUND);
        assert_unchanged(&w, &before);
    }
    /* A child of an unknown budget. */
    tg_budget_spec spec = fx_spec(USD(1), TG_NONE, TG_WINDOW_DAY);
    put_fails(&w, "nope/child", &spec, TG_ERR_NOT_FOUND);
    /* Unknown holds. */
    tg_commit_request c = {.hold_id = 424242, .actual_micros = 1};
    commit_fails(&w, &c, TG_ERR_NOT_FOUND);
    snapshot before = before_call(&w);
    tg_error err;
    bool replayed = true;
    assert_fails(tg_release(w.f->engine, 424242, NULL, w.f->now_ms, &replayed, &err), err,
                 TG_ERR_NOT_FOUND);
    assert_true(replayed);
    tg_hold_info hold;
    assert_fails(tg_hold_get(w.f->engine, 424242, &hold, &err), err, TG_ERR_NOT_FOUND);
    assert_unchanged(&w, &before);
    world_close(&w);
}

static void test_malformed_paths(void **state) {
    (void)state;
    world w = world_open();
    char long_path[TG_PATH_SIZE_MAX + 2];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    const char *bad[] = {"",       "/acme",   "acme/",   "acme//a", "acme/a b", "acme/../acme",
                         "acme/ä", "acme\t",  long_path, ".",       "acme/.",   "./acme",
                         "..",     "acme/..", "acme/./a"};
    tg_budget_spec spec = fx_spec(USD(1), TG_NONE, TG_WINDOW_DAY);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_reserve_request r = fx_reserve_request(bad[i], 1, TG_CLASS_NORMAL);
        reserve_fails(&w, &r, TG_ERR_INVALID);
        tg_record_request rec = fx_record_request(bad[i], 1, TG_CLASS_NORMAL, true);
        record_fails(&w, &rec, TG_ERR_INVALID);
        put_fails(&w, bad[i], &spec, TG_ERR_INVALID);
        snapshot before = before_call(&w);
        tg_error err;
        tg_budget_info info;
        assert_fails(tg_budget_get(w.f->engine, bad[i], w.f->now_ms, &info, &err), err,
                     TG_ERR_INVALID);
        assert_fails(tg_budget_delete(w.f->engine, bad[i], w.f->now_ms, &err), err, TG_ERR_INVALID);
        assert_fails(tg_budget_freeze(w.f->engine, bad[i], true, w.f->now_ms, &err), err,
                     TG_ERR_INVALID);
        tg_window_record records[2];
        size_t count = 0;
        assert_fails(tg_budget_history(w.f->engine, bad[i], records, 2, &count, &err), err,
                     TG_ERR_INVALID);
        assert_unchanged(&w, &before);
    }
    tg_reserve_request r = fx_reserve_request(NULL, 1, TG_CLASS_NORMAL);
    reserve_fails(&w, &r, TG_ERR_INVALID);
    world_close(&w);
}

/* ---- specs ------------------------------------------------------------------------------ */

static void test_limit_below_current_spend(void **state) {
    (void)state;
    world w = world_open();
    /* Below what is spent is accepted and locks the budget (test_ledger_overrun.c). */
    tg_budget_spec spec = fx_spec(USD(30) - 1, TG_NONE, TG_WINDOW_HOUR);
    snprintf(spec.timezone, sizeof spec.timezone, "UTC");
    fx_put_spec(w.f, "acme/a", &spec);
    assert_true(fx_info(w.f, "acme/a").locked);
    assert_i64(fx_info(w.f, "acme/a").spent_micros, USD(30));
    /* Equal to what is spent is not an overrun (every class is revoked all the same). */
    spec = fx_spec(USD(30), TG_NONE, TG_WINDOW_HOUR);
    snprintf(spec.timezone, sizeof spec.timezone, "UTC");
    fx_put_spec(w.f, "acme/a", &spec);
    tg_budget_info info = fx_info(w.f, "acme/a");
    assert_i64(info.spec.cost_limit_micros, USD(30));
    assert_true(info.revoked[TG_CLASS_CRITICAL]);
    assert_false(info.locked);
    world_close(&w);
}

static void test_invalid_specs(void **state) {
    (void)state;
    world w = world_open();
    tg_budget_spec spec = fx_spec(USD(50), TG_NONE, TG_WINDOW_DAY);
    spec.revoke_at = (tg_level){USD(40), 800000}; /* both forms */
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec.revoke_at = (tg_level){TG_NONE, TG_PPM + 1};
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec.revoke_at = (tg_level){USD(50) + 1, TG_NONE}; /* above the limit */
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec = fx_spec(TG_NONE, USD(1), TG_WINDOW_DAY); /* a threshold without a limit */
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec = fx_spec(TG_NONE, TG_NONE, TG_WINDOW_DAY);
    spec.class_ceiling[TG_CLASS_HIGH].ppm = 500000;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec = fx_spec(TG_NONE, TG_NONE, TG_WINDOW_DAY);
    spec.alerts_ppm[0] = 500000;
    spec.alerts_count = 1;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec = fx_spec(USD(50), TG_NONE, TG_WINDOW_DAY);
    spec.alerts_count = TG_ALERTS_MAX + 1;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec.alerts_count = -1;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec.alerts_count = 1;
    spec.alerts_ppm[0] = 0;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec.alerts_ppm[0] = TG_PPM + 1;
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    spec = fx_spec(USD(50), TG_NONE, (tg_window_kind)9);
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    put_fails(&w, "acme/a", NULL, TG_ERR_INVALID);
    world_close(&w);
}

static void test_unknown_time_zone(void **state) {
    (void)state;
    world w = world_open();
    const char *zones[] = {"Mars/Olympus_Mons", "Nowhere",    "../../etc/passwd",
                           "/etc/localtime",    "Asia/",      "Europe/Paris\"",
                           "Asia/Taipei/x",     "leapseconds"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        tg_budget_spec spec = fx_spec(USD(50), TG_NONE, TG_WINDOW_DAY);
        snprintf(spec.timezone, sizeof spec.timezone, "%s", zones[i]);
        put_fails(&w, "acme/a", &spec, TG_ERR_TZ);  /* an update */
        put_fails(&w, "acme/tz", &spec, TG_ERR_TZ); /* a creation */
    }
    /* A zone name that fills the buffer without its NUL. */
    tg_budget_spec spec = fx_spec(USD(50), TG_NONE, TG_WINDOW_DAY);
    memset(spec.timezone, 'A', sizeof spec.timezone);
    put_fails(&w, "acme/a", &spec, TG_ERR_INVALID);
    world_close(&w);
}

/* ---- names, keys, classes ------------------------------------------------------------------ */

static void test_too_long_names_and_keys(void **state) {
    (void)state;
    world w = world_open();
    char name[TG_NAME_SIZE_MAX + 1], key[TG_KEY_SIZE_MAX + 1];
    memset(name, 'n', TG_NAME_SIZE_MAX);
    name[TG_NAME_SIZE_MAX] = '\0'; /* 128 bytes: one too many */
    memset(key, 'k', TG_KEY_SIZE_MAX);
    key[TG_KEY_SIZE_MAX] = '\0';

    tg_reserve_request r = fx_reserve_request("acme/a", 1, TG_CLASS_NORMAL);
    r.tool = name;
    reserve_fails(&w, &r, TG_ERR_INVALID);
    r.tool = NULL;
    r.model = name;
    reserve_fails(&w, &r, TG_ERR_INVALID);
    r.model = NULL;
    r.idempotency_key = key;
    reserve_fails(&w, &r, TG_ERR_INVALID);

    tg_record_request rec = fx_record_request("acme/a", 1, TG_CLASS_NORMAL, true);
    rec.tool = name;
    record_fails(&w, &rec, TG_ERR_INVALID);
    rec.tool = NULL;
    rec.model = name;
    record_fails(&w, &rec, TG_ERR_INVALID);
    rec.model = NULL;
    rec.idempotency_key = key;
    record_fails(&w, &rec, TG_ERR_INVALID);

    tg_commit_request c = {.hold_id = w.holds[0], .actual_micros = 1, .idempotency_key = key};
    commit_fails(&w, &c, TG_ERR_INVALID);
    snapshot before = before_call(&w);
    tg_error err;
    assert_fails(tg_release(w.f->engine, w.holds[0], key, w.f->now_ms, NULL, &err), err,
                 TG_ERR_INVALID);
    assert_unchanged(&w, &before);

    /* One byte shorter is fine. */
    name[TG_NAME_SIZE_MAX - 1] = '\0';
    key[TG_KEY_SIZE_MAX - 1] = '\0';
    r.tool = name;
    r.model = name;
    r.idempotency_key = key;
    tg_reserve_result out = fx_reserve_with(w.f, &r);
    assert_true(out.granted);
    assert_string_equal(fx_hold_info(w.f, out.hold_id).tool, name);
    assert_true(fx_reserve_with(w.f, &r).replayed);
    world_close(&w);
}

static void test_unknown_class(void **state) {
    (void)state;
    world w = world_open();
    tg_reserve_request r = fx_reserve_request("acme/a", 1, (tg_class)7);
    reserve_fails(&w, &r, TG_ERR_INVALID);
    r.cls = (tg_class)-1;
    reserve_fails(&w, &r, TG_ERR_INVALID);
    tg_record_request rec = fx_record_request("acme/a", 1, (tg_class)5, true);
    record_fails(&w, &rec, TG_ERR_INVALID);
    world_close(&w);
}

/* ---- tables at their maximum ---------------------------------------------------------------- */

static void test_tables_at_their_maximum(void **state) {
    (void)state;
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.holds_max = 3; /* the world opens 2 */
    options.budgets_max = 5;
    options.idempotency_max = 2; /* the world uses 1 */
    world w = world_open_with(&options);
    fx_put(w.f, "fifth", TG_NONE, TG_NONE, TG_WINDOW_DAY);
    tg_budget_spec spec = fx_spec(TG_NONE, TG_NONE, TG_WINDOW_DAY);
    put_fails(&w, "sixth", &spec, TG_ERR_FULL);

    tg_record_request rec = fx_record_request("acme/a", 1, TG_CLASS_NORMAL, false);
    rec.idempotency_key = "k2";
    assert_true(fx_record_with(w.f, &rec).charged); /* the second key */
    tg_reserve_request r = fx_reserve_request("acme/a", 1, TG_CLASS_NORMAL);
    r.idempotency_key = "k3"; /* a third key: refused before any hold is made */
    reserve_fails(&w, &r, TG_ERR_FULL);
    r.idempotency_key = NULL;
    uint64_t third = fx_reserve_with(w.f, &r).hold_id;
    reserve_fails(&w, &r, TG_ERR_FULL);
    tg_commit_request c = {.hold_id = third, .actual_micros = 1, .idempotency_key = "k4"};
    commit_fails(&w, &c, TG_ERR_FULL);
    fx_release(w.f, third);
    assert_true(fx_reserve_with(w.f, &r).granted);
    world_close(&w);
}

/* ---- engine options ---------------------------------------------------------------------- */

static void test_engine_options_validated(void **state) {
    (void)state;
    tg_engine_options options;
    tg_engine *engine = (tg_engine *)&options; /* must stay untouched */
    tg_error err;
    tg_engine_options_init(&options);
    options.store = "nope";
    assert_fails(tg_engine_open(&options, T0_MS, &engine, &err), err, TG_ERR_INVALID);
    int64_t *fields[] = {&options.holds_max,           &options.budgets_max,
                         &options.idempotency_max,     &options.idempotency_ttl_ms,
                         &options.default_hold_ttl_ms, &options.max_hold_ttl_ms};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        tg_engine_options_init(&options);
        *fields[i] = 0;
        assert_fails(tg_engine_open(&options, T0_MS, &engine, &err), err, TG_ERR_INVALID);
        *fields[i] = -1;
        assert_fails(tg_engine_open(&options, T0_MS, &engine, &err), err, TG_ERR_INVALID);
    }
    tg_engine_options_init(&options);
    options.default_hold_ttl_ms = options.max_hold_ttl_ms + 1;
    assert_fails(tg_engine_open(&options, T0_MS, &engine, &err), err, TG_ERR_INVALID);
    assert_ptr_equal(engine, (tg_engine *)&options);
    tg_engine_close(NULL); /* a no-op */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        fx_test(test_negative_amounts_are_refused),
        fx_test(test_huge_numbers_are_refused),
        fx_test(test_counters_cannot_overflow),
        fx_test(test_unknown_budget),
        fx_test(test_malformed_paths),
        fx_test(test_limit_below_current_spend),
        fx_test(test_invalid_specs),
        fx_test(test_unknown_time_zone),
        fx_test(test_too_long_names_and_keys),
        fx_test(test_unknown_class),
        fx_test(test_tables_at_their_maximum),
        fx_test(test_engine_options_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
