/*
 * test_ledger_policy: who decides an action's impact class (policy rules: globs,
 * first match wins, a default; TG_CLASS_AUTO), and idempotency keys (a repeat
 * returns the first answer and changes nothing; the same key with other
 * arguments is a conflict; refusals are not remembered; keys are forgotten
 * after their ttl). Public API only, "memory" store; see model.h.
 */
#include "model.h"

/* ---- policy ------------------------------------------------------------------------------ */

static void test_policy_rules_first_match_wins(void **state) {
    (void)state;
    fx *f = fx_open();
    /* No rules: the default default is normal. */
    assert_i64(tg_policy_classify(f->engine, "acme", "x", "y"), TG_CLASS_NORMAL);
    tg_policy_rule rules[] = {
        {.tool_glob = "deploy_*", .cls = TG_CLASS_CRITICAL},
        {.tool_glob = "deploy_staging", .cls = TG_CLASS_LOW}, /* shadowed by the first */
        {.model_glob = "gpt-4?", .budget_glob = "acme/support*", .cls = TG_CLASS_HIGH},
        {.tool_glob = "*", .model_glob = "", .budget_glob = "*/batch", .cls = TG_CLASS_LOW},
        {.tool_glob = "lint", .cls = TG_CLASS_LOW},
        {.tool_glob = "lint", .cls = TG_CLASS_HIGH},
    };
    assert_ok(
        tg_policy_set(f->engine, rules, sizeof rules / sizeof rules[0], TG_CLASS_NORMAL, NULL));
    assert_i64(tg_policy_classify(f->engine, "acme", "deploy_prod", NULL), TG_CLASS_CRITICAL);
    assert_i64(tg_policy_classify(f->engine, "acme", "deploy_staging", NULL), TG_CLASS_CRITICAL);
    assert_i64(tg_policy_classify(f->engine, "acme", "deploy", NULL), TG_CLASS_NORMAL);
    assert_i64(tg_policy_classify(f->engine, "acme/support/a7", NULL, "gpt-4o"), TG_CLASS_HIGH);
    assert_i64(tg_policy_classify(f->engine, "acme/support", "x", "gpt-4"), TG_CLASS_NORMAL);
    assert_i64(tg_policy_classify(f->engine, "acme/coding", NULL, "gpt-4o"), TG_CLASS_NORMAL);
    /* '*' matches any run, '/' included, and an absent tool. */
    assert_i64(tg_policy_classify(f->engine, "acme/x/batch", NULL, NULL), TG_CLASS_LOW);
    assert_i64(tg_policy_classify(f->engine, "acme/x/batch", "t", "m"), TG_CLASS_LOW);
    assert_i64(tg_policy_classify(f->engine, "acme", "lint", NULL), TG_CLASS_LOW);
    /* Another default. */
    assert_ok(tg_policy_set(f->engine, rules, 1, TG_CLASS_HIGH, NULL));
    assert_i64(tg_policy_classify(f->engine, "acme", "lint", NULL), TG_CLASS_HIGH);
    /* No rules at all. */
    assert_ok(tg_policy_set(f->engine, NULL, 0, TG_CLASS_LOW, NULL));
    assert_i64(tg_policy_classify(f->engine, "acme", "deploy_prod", NULL), TG_CLASS_LOW);
    fx_close(f);
}

static void test_policy_decides_class_auto(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), USD(80), TG_WINDOW_DAY);
    tg_policy_rule rules[] = {
        {.tool_glob = "deploy_*", .cls = TG_CLASS_CRITICAL},
        {.model_glob = "cheap-*", .cls = TG_CLASS_LOW},
    };
    assert_ok(tg_policy_set(f->engine, rules, 2, TG_CLASS_NORMAL, NULL));
    fx_spend(f, "acme", USD(80), TG_CLASS_NORMAL); /* low and normal revoked */
    tg_reserve_request r = fx_reserve_request("acme", USD(5), TG_CLASS_AUTO);
    r.tool = "deploy_prod";
    tg_reserve_result out = fx_reserve_with(f, &r);
    assert_true(out.granted);
    assert_i64(out.cls, TG_CLASS_CRITICAL);
    assert_i64(fx_hold_info(f, out.hold_id).cls, TG_CLASS_CRITICAL);
    r.tool = "search";
    out = fx_reserve_with(f, &r);
    assert_false(out.granted);
    assert_i64(out.cls, TG_CLASS_NORMAL);
    assert_i64(out.refusal.reason, TG_REASON_REVOKED);
    r.tool = NULL;
    r.model = "cheap-mini";
    out = fx_reserve_with(f, &r);
    assert_i64(out.cls, TG_CLASS_LOW);
    /* Record with AUTO too: the class decides the ceiling it is checked against. */
    tg_record_request rec = fx_record_request("acme", USD(5), TG_CLASS_AUTO, false);
    rec.tool = "search";
    assert_false(fx_record_with(f, &rec).charged);
    rec.tool = "deploy_x";
    assert_true(fx_record_with(f, &rec).charged);
    fx_close(f);
}

static void test_policy_set_refuses_bad_rules_and_keeps_the_old_ones(void **state) {
    (void)state;
    fx *f = fx_open();
    tg_policy_rule good[] = {{.tool_glob = "a", .cls = TG_CLASS_HIGH}};
    assert_ok(tg_policy_set(f->engine, good, 1, TG_CLASS_LOW, NULL));
    tg_error err = {0};
    assert_status(tg_policy_set(f->engine, good, 1, TG_CLASS_AUTO, &err), TG_ERR_INVALID);
    assert_i64(err.status, TG_ERR_INVALID);
    tg_policy_rule bad_class[] = {{.tool_glob = "b", .cls = TG_CLASS_AUTO}};
    assert_status(tg_policy_set(f->engine, bad_class, 1, TG_CLASS_LOW, NULL), TG_ERR_INVALID);
    char long_glob[TG_NAME_SIZE_MAX + 1];
    memset(long_glob, 'x', TG_NAME_SIZE_MAX);
    long_glob[TG_NAME_SIZE_MAX] = '\0';
    tg_policy_rule too_long[] = {{.tool_glob = long_glob, .cls = TG_CLASS_LOW}};
    assert_status(tg_policy_set(f->engine, too_long, 1, TG_CLASS_LOW, NULL), TG_ERR_INVALID);
    assert_status(tg_policy_set(f->engine, good, TG_POLICY_RULES_MAX + 1, TG_CLASS_LOW, NULL),
                  TG_ERR_INVALID);
    assert_i64(tg_policy_classify(f->engine, "x", "a", NULL), TG_CLASS_HIGH);
    assert_i64(tg_policy_classify(f->engine, "x", "b", NULL), TG_CLASS_LOW);
    fx_close(f);
}

/* ---- idempotency -------------------------------------------------------------------------- */

static void test_idempotent_reserve(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    tg_reserve_request r = fx_reserve_request("acme", USD(30), TG_CLASS_NORMAL);
    r.idempotency_key = "req-1";
    r.tool = "search";
    tg_reserve_result first = fx_reserve_with(f, &r);
    assert_true(first.granted);
    assert_false(first.replayed);
    fx_clear_events(f);
    f->now_ms += SECOND_MS;
    tg_reserve_result again = fx_reserve_with(f, &r);
    assert_true(again.granted);
    assert_true(again.replayed);
    assert_i64(again.hold_id, first.hold_id);
    assert_i64(again.expires_at_ms, first.expires_at_ms);
    assert_i64(again.cls, first.cls);
    tg_budget_info info = fx_info(f, "acme");
    assert_i64(info.held_micros, USD(30));
    assert_i64(info.calls_held, 1);
    assert_i64(f->events_count, 0);
    /* The first answer even after the hold was committed. */
    fx_commit(f, first.hold_id, USD(10));
    again = fx_reserve_with(f, &r);
    assert_true(again.replayed);
    assert_i64(again.hold_id, first.hold_id);
    assert_i64(fx_info(f, "acme").held_micros, 0);
    /* Without a key (or with ""), every call is new. */
    r.idempotency_key = "";
    assert_false(fx_reserve_with(f, &r).replayed);
    assert_false(fx_reserve_with(f, &r).replayed);
    assert_i64(fx_info(f, "acme").held_micros, USD(60));
    fx_close(f);
}

static void test_idempotent_commit_release_record(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    uint64_t hold = fx_hold(f, "acme", USD(10), TG_CLASS_NORMAL);
    tg_commit_request c = {.hold_id = hold, .actual_micros = USD(12), .idempotency_key = "c-1"};
    tg_commit_result first, again;
    assert_ok(tg_commit(f->engine, &c, f->now_ms, &first, NULL));
    assert_false(first.replayed);
    fx_clear_events(f);
    assert_ok(tg_commit(f->engine, &c, f->now_ms, &again, NULL));
    assert_true(again.replayed);
    assert_i64(again.charged_micros, USD(12));
    assert_i64(again.overrun_micros, USD(2));
    assert_i64(again.charge_id, first.charge_id);
    assert_i64(fx_info(f, "acme").spent_micros, USD(12));
    assert_i64(f->events_count, 0);

    hold = fx_hold(f, "acme", USD(10), TG_CLASS_NORMAL);
    bool replayed = true;
    assert_ok(tg_release(f->engine, hold, "r-1", f->now_ms, &replayed, NULL));
    assert_false(replayed);
    assert_ok(tg_release(f->engine, hold, "r-1", f->now_ms, &replayed, NULL));
    assert_true(replayed);
    assert_status(tg_release(f->engine, hold, NULL, f->now_ms, NULL, NULL), TG_ERR_NOT_FOUND);

    tg_record_request rec = fx_record_request("acme", USD(5), TG_CLASS_NORMAL, false);
    rec.idempotency_key = "rec-1";
    tg_record_result r1 = fx_record_with(f, &rec);
    tg_record_result r2 = fx_record_with(f, &rec);
    assert_true(r1.charged && r2.charged);
    assert_false(r1.replayed);
    assert_true(r2.replayed);
    assert_i64(r2.charge_id, r1.charge_id);
    tg_budget_info info = fx_info(f, "acme");
    assert_i64(info.spent_micros, USD(17));
    assert_i64(info.calls_used, 2);
    fx_close(f);
}

static void test_idempotency_key_with_other_arguments_is_a_conflict(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    fx_put(f, "other", USD(100), TG_NONE, TG_WINDOW_DAY);
    tg_reserve_request r = fx_reserve_request("acme", USD(30), TG_CLASS_NORMAL);
    r.idempotency_key = "k";
    tg_reserve_result first = fx_reserve_with(f, &r);
    fx_clear_events(f);
    tg_reserve_request changed[6];
    for (int i = 0; i < 6; i++) {
        changed[i] = r;
    }
    changed[0].amount_micros = USD(31);
    changed[1].budget = "other";
    changed[2].cls = TG_CLASS_HIGH;
    changed[3].tool = "x";
    changed[4].ttl_ms = MINUTE_MS;
    changed[5].tokens = 1;
    for (int i = 0; i < 6; i++) {
        tg_reserve_result out;
        memset(&out, 0x5A, sizeof out);
        tg_error err = {0};
        assert_status(tg_reserve(f->engine, &changed[i], f->now_ms, &out, &err), TG_ERR_CONFLICT);
        assert_i64(err.status, TG_ERR_CONFLICT);
        assert_i64(out.hold_id, INT64_C(0x5A5A5A5A5A5A5A5A));
    }
    /* The same key for another kind of operation. */
    tg_commit_request c = {.hold_id = first.hold_id, .actual_micros = 1, .idempotency_key = "k"};
    tg_commit_result committed;
    assert_status(tg_commit(f->engine, &c, f->now_ms, &committed, NULL), TG_ERR_CONFLICT);
    assert_status(tg_release(f->engine, first.hold_id, "k", f->now_ms, NULL, NULL),
                  TG_ERR_CONFLICT);
    tg_record_request rec = fx_record_request("acme", 1, TG_CLASS_NORMAL, false);
    rec.idempotency_key = "k";
    tg_record_result recorded;
    assert_status(tg_record(f->engine, &rec, f->now_ms, &recorded, NULL), TG_ERR_CONFLICT);
    /* Nothing changed: one hold of 30, nothing spent, nothing reported. */
    tg_budget_info info = fx_info(f, "acme");
    assert_i64(info.held_micros, USD(30));
    assert_i64(info.spent_micros, 0);
    assert_i64(fx_info(f, "other").held_micros, 0);
    assert_true(fx_hold_open(f, first.hold_id));
    assert_i64(f->events_count, 0);
    /* Commit keys compare their arguments too. */
    c.idempotency_key = "c";
    assert_ok(tg_commit(f->engine, &c, f->now_ms, &committed, NULL));
    c.actual_micros = 2;
    assert_status(tg_commit(f->engine, &c, f->now_ms, &committed, NULL), TG_ERR_CONFLICT);
    fx_close(f);
}

static void test_idempotency_refusal_is_not_remembered(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    uint64_t big = fx_hold(f, "acme", USD(90), TG_CLASS_NORMAL);
    tg_reserve_request r = fx_reserve_request("acme", USD(20), TG_CLASS_NORMAL);
    r.idempotency_key = "retry-me";
    assert_false(fx_reserve_with(f, &r).granted);
    fx_release(f, big);
    tg_reserve_result out = fx_reserve_with(f, &r);
    assert_true(out.granted);
    assert_false(out.replayed);
    fx_close(f);
}

static void test_idempotency_keys_are_forgotten_after_the_ttl(void **state) {
    (void)state;
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.idempotency_ttl_ms = HOUR_MS;
    fx *f = fx_open_with(&options);
    fx_put(f, "acme", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    tg_record_request rec = fx_record_request("acme", USD(1), TG_CLASS_NORMAL, false);
    rec.idempotency_key = "once";
    tg_record_result first = fx_record_with(f, &rec);
    f->now_ms += HOUR_MS - 1;
    assert_true(fx_record_with(f, &rec).replayed);
    assert_i64(fx_info(f, "acme").spent_micros, USD(1));
    f->now_ms += 1;
    tg_record_result later = fx_record_with(f, &rec);
    assert_false(later.replayed);
    assert_true(later.charge_id > first.charge_id);
    assert_i64(fx_info(f, "acme").spent_micros, USD(2));
    /* Forgotten keys may be used with other arguments. */
    f->now_ms += HOUR_MS;
    rec.cost_micros = USD(3);
    assert_false(fx_record_with(f, &rec).replayed);
    assert_i64(fx_info(f, "acme").spent_micros, USD(5));
    fx_close(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        fx_test(test_policy_rules_first_match_wins),
        fx_test(test_policy_decides_class_auto),
        fx_test(test_policy_set_refuses_bad_rules_and_keeps_the_old_ones),
        fx_test(test_idempotent_reserve),
        fx_test(test_idempotent_commit_release_record),
        fx_test(test_idempotency_key_with_other_arguments_is_a_conflict),
        fx_test(test_idempotency_refusal_is_not_remembered),
        fx_test(test_idempotency_keys_are_forgotten_after_the_ttl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
