/*
 * test_ledger_scenarios: the seed's three scenarios (issue 2) played through the
 * engine as worked examples, asserting every decision:
 *   support agents   $500/day, revocation at $480;
 *   coding agents   $1000/day, revocation at $950;
 *   data analysis   $2000/day, revocation at $1800.
 * Windows are UTC days starting at T0 (2025-01-01).
 */
#include "model.h"

static void at(fx *f, int hour, int minute) {
    f->now_ms = T0_MS + hour * HOUR_MS + minute * MINUTE_MS;
}

static int64_t until_midnight(const fx *f) {
    return T0_MS + DAY_MS - f->now_ms;
}

/*
 * Support: routine replies stop at $480; escalations (high) may go on to $490;
 * critical work (a refund tool) to $500 and never beyond what it held, except
 * that an actual cost above the hold is charged and reported.
 */
static void test_scenario_support_500_a_day_revoked_at_480(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "acme/support", USD(500), USD(480), TG_WINDOW_DAY);
    fx_put(f, "acme/support/agent-7", TG_NONE, TG_NONE, TG_WINDOW_DAY);
    const char *agent = "acme/support/agent-7";
    tg_budget_info info = fx_info(f, "acme/support");
    assert_i64(info.ceiling_micros[TG_CLASS_LOW], USD(480));
    assert_i64(info.ceiling_micros[TG_CLASS_NORMAL], USD(480));
    assert_i64(info.ceiling_micros[TG_CLASS_HIGH], USD(490));
    assert_i64(info.ceiling_micros[TG_CLASS_CRITICAL], USD(500));

    /* 09:00 a long conversation: held $400, cost $380. */
    at(f, 9, 0);
    uint64_t hold = fx_hold(f, agent, USD(400), TG_CLASS_NORMAL);
    assert_i64(fx_info(f, "acme").held_micros, USD(400));
    tg_commit_result committed = fx_commit(f, hold, USD(380));
    assert_i64(committed.overrun_micros, 0);
    assert_i64(fx_info(f, "acme/support").spent_micros, USD(380));
    assert_i64(fx_info(f, "acme").spent_micros, USD(380));

    /* 10:00 another $120 of routine work would pass $480: refused, $100 would pass,
     * and only tomorrow helps. */
    at(f, 10, 0);
    tg_reserve_result out = fx_reserve(f, agent, USD(120), TG_CLASS_NORMAL);
    assert_false(out.granted);
    assert_refusal(out.refusal, TG_REASON_REVOKED, "acme/support", USD(100), 14 * HOUR_MS);
    assert_non_null(fx_find(f, TG_EVENT_DENIED, "acme/support", TG_CLASS_NORMAL));

    /* $100 passes, and spend reaching $480 revokes low and normal. */
    hold = fx_hold(f, agent, USD(100), TG_CLASS_NORMAL);
    fx_clear_events(f);
    fx_commit(f, hold, USD(100));
    info = fx_info(f, "acme/support");
    assert_i64(info.spent_micros, USD(480));
    assert_true(info.revoked[TG_CLASS_LOW] && info.revoked[TG_CLASS_NORMAL]);
    assert_false(info.revoked[TG_CLASS_HIGH] || info.revoked[TG_CLASS_CRITICAL]);
    assert_i64(fx_count(f, TG_EVENT_REVOKED), 2);
    assert_i64(fx_find(f, TG_EVENT_REVOKED, "acme/support", TG_CLASS_NORMAL)->threshold_micros,
               USD(480));
    out = fx_reserve(f, agent, USD(1), TG_CLASS_LOW);
    assert_refusal(out.refusal, TG_REASON_REVOKED, "acme/support", 0, 14 * HOUR_MS);

    /* 11:00 an escalation (high) may use the band up to $490. */
    at(f, 11, 0);
    out = fx_reserve(f, agent, USD(11), TG_CLASS_HIGH);
    assert_refusal(out.refusal, TG_REASON_REVOKED, "acme/support", USD(10), 13 * HOUR_MS);
    hold = fx_hold(f, agent, USD(10), TG_CLASS_HIGH);
    fx_commit(f, hold, USD(10));
    assert_true(fx_info(f, "acme/support").revoked[TG_CLASS_HIGH]);

    /* 12:00 a refund (critical): $15 would pass the limit; $10 is what is left. */
    at(f, 12, 0);
    out = fx_reserve(f, agent, USD(15), TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_CEILING, "acme/support", USD(10), until_midnight(f));
    hold = fx_hold(f, agent, USD(10), TG_CLASS_CRITICAL);
    fx_clear_events(f);
    /* It really cost $12: charged, and reported as an overrun past the limit. */
    committed = fx_commit(f, hold, USD(12));
    assert_i64(committed.charged_micros, USD(12));
    assert_i64(committed.overrun_micros, USD(2));
    const tg_event *overrun = fx_find(f, TG_EVENT_OVERRUN, NULL, -1);
    assert_non_null(overrun);
    assert_string_equal(overrun->budget, "acme/support");
    assert_i64(overrun->spent_micros, USD(502));
    assert_i64(overrun->limit_micros, USD(500));
    assert_non_null(fx_find(f, TG_EVENT_REVOKED, "acme/support", TG_CLASS_CRITICAL));
    /* Above its limit: locked for every class, critical included, until midnight. */
    assert_true(fx_info(f, "acme/support").locked);
    out = fx_reserve(f, agent, 0, TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_OVERRUN, "acme/support", 0, until_midnight(f));

    /* Midnight: a new day, every class back. */
    fx_clear_events(f);
    f->now_ms = T0_MS + DAY_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL));
    info = fx_info(f, "acme/support");
    assert_i64(info.spent_micros, 0);
    assert_i64(fx_count(f, TG_EVENT_WINDOW_ROLLED), 2); /* the team and the agent */
    assert_i64(fx_find(f, TG_EVENT_WINDOW_ROLLED, "acme/support", -1)->spent_micros, USD(502));
    assert_i64(fx_count(f, TG_EVENT_REINSTATED), 4);
    assert_true(fx_reserve(f, agent, USD(400), TG_CLASS_NORMAL).granted);
    /* The lifetime root kept everything. */
    assert_i64(fx_info(f, "acme").spent_micros, USD(502));
    fx_close(f);
}

/*
 * Coding: classes come from policy (deploys are critical, test runs high, lint
 * low, the rest normal); alerts at 50%, 80% and 100%. Spend reaching $950
 * revokes routine work and tells an in-flight lint to cancel; a deploy still
 * fits in the band once the cancelled lint is released.
 */
static void test_scenario_coding_1000_a_day_revoked_at_950(void **state) {
    (void)state;
    fx *f = fx_open();
    tg_budget_spec spec = fx_spec(USD(1000), USD(950), TG_WINDOW_DAY);
    spec.alerts_ppm[0] = 500000;
    spec.alerts_ppm[1] = 800000;
    spec.alerts_ppm[2] = 1000000;
    spec.alerts_count = 3;
    fx_put(f, "acme", TG_NONE, TG_NONE, TG_WINDOW_DAY);
    fx_put_spec(f, "acme/coding", &spec);
    fx_put(f, "acme/coding/agent", TG_NONE, TG_NONE, TG_WINDOW_DAY);
    const char *agent = "acme/coding/agent";
    tg_policy_rule rules[] = {
        {.tool_glob = "deploy_*", .cls = TG_CLASS_CRITICAL},
        {.tool_glob = "run_tests", .cls = TG_CLASS_HIGH},
        {.tool_glob = "lint*", .cls = TG_CLASS_LOW},
    };
    assert_ok(tg_policy_set(f->engine, rules, 3, TG_CLASS_NORMAL, NULL));
    tg_reserve_request r = fx_reserve_request(agent, 0, TG_CLASS_AUTO);

    /* 08:00 editing: held $600, cost $520: the 50% alert. */
    at(f, 8, 0);
    r.tool = "edit_file";
    r.amount_micros = USD(600);
    tg_reserve_result out = fx_reserve_with(f, &r);
    assert_true(out.granted);
    assert_i64(out.cls, TG_CLASS_NORMAL);
    fx_commit(f, out.hold_id, USD(520));
    const tg_event *alert = fx_find(f, TG_EVENT_THRESHOLD_CROSSED, "acme/coding", -1);
    assert_non_null(alert);
    assert_i64(alert->count, 500000);
    assert_i64(fx_count(f, TG_EVENT_THRESHOLD_CROSSED), 1);

    /* 09:00 a test run (high, ceiling $975): $300, the 80% alert. */
    at(f, 9, 0);
    r.tool = "run_tests";
    r.amount_micros = USD(300);
    out = fx_reserve_with(f, &r);
    assert_i64(out.cls, TG_CLASS_HIGH);
    fx_commit(f, out.hold_id, USD(300));
    assert_i64(fx_count(f, TG_EVENT_THRESHOLD_CROSSED), 2);
    assert_i64(fx_info(f, "acme/coding").spent_micros, USD(820));

    /* 10:00 an edit of $200 would pass the limit: refused, $130 would pass. */
    at(f, 10, 0);
    r.tool = "edit_file";
    r.amount_micros = USD(200);
    out = fx_reserve_with(f, &r);
    assert_refusal(out.refusal, TG_REASON_CEILING, "acme/coding", USD(130), 14 * HOUR_MS);
    /* An edit of $100 and a lint of $30 fit exactly under $950. */
    r.amount_micros = USD(100);
    uint64_t edit = fx_reserve_with(f, &r).hold_id;
    r.tool = "lint_all";
    r.amount_micros = USD(30);
    out = fx_reserve_with(f, &r);
    assert_true(out.granted);
    assert_i64(out.cls, TG_CLASS_LOW);
    uint64_t lint = out.hold_id;
    assert_i64(fx_info(f, "acme/coding").remaining_micros[TG_CLASS_NORMAL], 0);

    /* The edit really cost $130: overrun, spend reaches $950, routine work revoked,
     * the in-flight lint told to cancel. */
    fx_clear_events(f);
    tg_commit_result committed = fx_commit(f, edit, USD(130));
    assert_i64(committed.overrun_micros, USD(30));
    assert_string_equal(fx_find(f, TG_EVENT_OVERRUN, NULL, -1)->budget, agent);
    assert_i64(fx_find(f, TG_EVENT_REVOKED, "acme/coding", TG_CLASS_LOW)->count, 1);
    assert_i64(fx_find(f, TG_EVENT_REVOKED, "acme/coding", TG_CLASS_NORMAL)->count, 0);
    assert_true(fx_hold_info(f, lint).cancel_requested);

    /* A deploy of $50 does not fit while the lint is held; $20 would; the lint's
     * expiry is when a retry could succeed. */
    r.tool = "deploy_prod";
    r.amount_micros = USD(50);
    out = fx_reserve_with(f, &r);
    assert_i64(out.cls, TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_CEILING, "acme/coding", USD(20), 10 * MINUTE_MS);
    fx_release(f, lint); /* the agent obeys the cancel */
    out = fx_reserve_with(f, &r);
    assert_true(out.granted);
    fx_commit(f, out.hold_id, USD(45));
    tg_budget_info info = fx_info(f, "acme/coding");
    assert_i64(info.spent_micros, USD(995));
    assert_true(info.revoked[TG_CLASS_HIGH]);
    assert_false(info.revoked[TG_CLASS_CRITICAL]);
    assert_i64(info.remaining_micros[TG_CLASS_CRITICAL], USD(5));
    assert_null(fx_find(f, TG_EVENT_THRESHOLD_CROSSED, "acme/coding", -1)); /* 100% not reached */
    r.tool = "edit_file";
    r.amount_micros = USD(1);
    out = fx_reserve_with(f, &r);
    assert_refusal(out.refusal, TG_REASON_REVOKED, "acme/coding", 0, 14 * HOUR_MS);

    /* Next day: alerts report again, classes are back. */
    f->now_ms = T0_MS + DAY_MS + 8 * HOUR_MS;
    fx_clear_events(f);
    r.amount_micros = USD(600);
    out = fx_reserve_with(f, &r);
    assert_true(out.granted);
    fx_commit(f, out.hold_id, USD(600));
    assert_i64(fx_count(f, TG_EVENT_THRESHOLD_CROSSED), 1);
    fx_close(f);
}

/*
 * Data analysis: a team budget over two agents, each with its own limit. The
 * team's threshold stops routine work of both; a forced record (a warehouse
 * query billed after the fact) passes the team's limit and is reported.
 */
static void test_scenario_data_2000_a_day_revoked_at_1800(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "acme/data", USD(2000), USD(1800), TG_WINDOW_DAY);
    fx_put(f, "acme/data/etl", USD(1500), TG_NONE, TG_WINDOW_DAY);
    fx_put(f, "acme/data/reports", USD(800), TG_NONE, TG_WINDOW_DAY);
    tg_budget_info info = fx_info(f, "acme/data");
    assert_i64(info.ceiling_micros[TG_CLASS_HIGH], USD(1900));
    assert_i64(info.ceiling_micros[TG_CLASS_CRITICAL], USD(2000));

    /* 06:00 the ETL run's queries are recorded: $1200. */
    at(f, 6, 0);
    fx_spend(f, "acme/data/etl", USD(1200), TG_CLASS_NORMAL);

    /* 09:00 a report of $700 fits its own $800 but not the team's $1800. */
    at(f, 9, 0);
    tg_reserve_result out = fx_reserve(f, "acme/data/reports", USD(700), TG_CLASS_NORMAL);
    assert_refusal(out.refusal, TG_REASON_REVOKED, "acme/data", USD(600), 15 * HOUR_MS);
    /* A report of $900 passes its own limit first: the agent's budget is named. */
    out = fx_reserve(f, "acme/data/reports", USD(900), TG_CLASS_NORMAL);
    assert_refusal(out.refusal, TG_REASON_CEILING, "acme/data/reports", USD(600), TG_NONE);
    uint64_t hold = fx_hold(f, "acme/data/reports", USD(600), TG_CLASS_NORMAL);
    fx_clear_events(f);
    fx_commit(f, hold, USD(600));
    assert_i64(fx_count(f, TG_EVENT_REVOKED), 2);
    info = fx_info(f, "acme/data");
    assert_i64(info.spent_micros, USD(1800));
    assert_true(info.revoked[TG_CLASS_NORMAL]);
    /* Both agents' routine work is now refused by the team budget. */
    out = fx_reserve(f, "acme/data/etl", USD(1), TG_CLASS_NORMAL);
    assert_refusal(out.refusal, TG_REASON_REVOKED, "acme/data", 0, 15 * HOUR_MS);
    assert_i64(fx_info(f, "acme/data/etl").remaining_micros[TG_CLASS_NORMAL], 0);

    /* 10:00 a high-impact ETL step of $100 fits the band up to $1900. */
    at(f, 10, 0);
    hold = fx_hold(f, "acme/data/etl", USD(100), TG_CLASS_HIGH);
    fx_commit(f, hold, USD(100));
    assert_i64(fx_info(f, "acme/data/etl").spent_micros, USD(1300));

    /* 11:00 a critical query of $150 without force would pass $2000: refused. */
    at(f, 11, 0);
    tg_record_result rec = fx_record(f, "acme/data/etl", USD(150), TG_CLASS_CRITICAL, false);
    assert_false(rec.charged);
    assert_refusal(rec.refusal, TG_REASON_CEILING, "acme/data", USD(100), 13 * HOUR_MS);
    /* It already ran: recorded with force, past the team's limit, reported. */
    fx_clear_events(f);
    rec = fx_record(f, "acme/data/etl", USD(150), TG_CLASS_CRITICAL, true);
    assert_true(rec.charged);
    const tg_event *overrun = fx_find(f, TG_EVENT_OVERRUN, NULL, -1);
    assert_non_null(overrun);
    assert_string_equal(overrun->budget, "acme/data"); /* the ETL agent is within its own */
    assert_i64(overrun->spent_micros, USD(2050));
    assert_i64(overrun->amount_micros, USD(150));
    assert_i64(fx_info(f, "acme/data/etl").spent_micros, USD(1450));
    assert_i64(fx_info(f, "acme").spent_micros, USD(2050));
    out = fx_reserve(f, "acme/data/reports", 0, TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_OVERRUN, "acme/data", 0, 13 * HOUR_MS);

    /* Midnight: the team starts over. */
    f->now_ms = T0_MS + DAY_MS;
    info = fx_info(f, "acme/data");
    assert_i64(info.spent_micros, 0);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        assert_false(info.revoked[c]);
    }
    assert_true(fx_reserve(f, "acme/data/reports", USD(700), TG_CLASS_NORMAL).granted);
    fx_close(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        fx_test(test_scenario_support_500_a_day_revoked_at_480),
        fx_test(test_scenario_coding_1000_a_day_revoked_at_950),
        fx_test(test_scenario_data_2000_a_day_revoked_at_1800),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
