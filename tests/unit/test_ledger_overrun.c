/*
 * test_ledger_overrun: overruns contained, one test per rule of docs/ledger.md,
 * "Overruns": a charge above a hold or past a limit stays truthful and is
 * reported; a budget left above its limit is locked for every class until its
 * spend is back within the limit; an admin may put a limit below spend (it
 * locks); the same spec again changes nothing; and a budget may cap an agent's
 * commit above its hold (above_hold: cap). Public API only, "memory" store.
 */
#include "model.h"

/* The index of the first recorded event of `kind` (budget NULL: any), or -1. */
static int event_index(const fx *f, tg_event_kind kind, const char *budget) {
    for (size_t i = 0; i < f->events_count; i++) {
        if (f->events[i].kind == kind &&
            (budget == NULL || strcmp(f->events[i].budget, budget) == 0)) {
            return (int)i;
        }
    }
    return -1;
}

static uint64_t agent_commit(fx *f, uint64_t hold_id, int64_t actual_micros, const char *key,
                             tg_commit_result *out) {
    tg_commit_request r = {.hold_id = hold_id,
                           .actual_micros = actual_micros,
                           .idempotency_key = key,
                           .agent_reported = true};
    assert_ok(tg_commit(f->engine, &r, f->now_ms, out, NULL));
    return out->charge_id;
}

/* Every class refused with `overrun` at `budget`, nothing allowed, retry when given. */
static void assert_locked_for_every_class(fx *f, const char *path, const char *budget,
                                          int64_t retry_after_ms) {
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        tg_reserve_result out = fx_reserve(f, path, 0, (tg_class)c);
        assert_false(out.granted);
        assert_refusal(out.refusal, TG_REASON_OVERRUN, budget, 0, retry_after_ms);
        tg_record_result rec = fx_record(f, path, 1, (tg_class)c, false);
        assert_false(rec.charged);
        assert_refusal(rec.refusal, TG_REASON_OVERRUN, budget, 0, retry_after_ms);
    }
}

/* ---- a commit above its hold ------------------------------------------------------------- */

static void test_commit_past_the_limit_is_charged_reported_and_locks(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), USD(80), TG_WINDOW_DAY);
    fx_put(f, "acme/a", TG_NONE, TG_NONE, TG_WINDOW_DAY);
    uint64_t low = fx_hold(f, "acme/a", USD(5), TG_CLASS_LOW);
    uint64_t hold = fx_hold(f, "acme/a", USD(50), TG_CLASS_CRITICAL);
    fx_clear_events(f);
    tg_commit_result out = fx_commit(f, hold, USD(130));
    /* Truthful: the whole amount, on every budget of the path. */
    assert_i64(out.charged_micros, USD(130));
    assert_i64(out.overrun_micros, USD(80));
    assert_false(out.capped);
    assert_i64(fx_info(f, "acme/a").spent_micros, USD(130));
    assert_i64(fx_info(f, "acme").spent_micros, USD(130));
    /* One overrun event naming the budget above its limit, before the revocations. */
    assert_i64(fx_count(f, TG_EVENT_OVERRUN), 1);
    const tg_event *overrun = fx_find(f, TG_EVENT_OVERRUN, "acme", -1);
    assert_non_null(overrun);
    assert_i64(overrun->amount_micros, USD(130));
    assert_i64(overrun->held_micros, USD(50));
    assert_i64(overrun->spent_micros, USD(130));
    assert_i64(overrun->limit_micros, USD(100));
    assert_string_equal(overrun->detail, "");
    /* Every class revoked on the locked budget; the open low hold told to cancel. */
    assert_i64(fx_count(f, TG_EVENT_REVOKED), TG_CLASS_COUNT);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        const tg_event *revoked = fx_find(f, TG_EVENT_REVOKED, "acme", c);
        assert_non_null(revoked);
        assert_true(event_index(f, TG_EVENT_OVERRUN, NULL) <
                    event_index(f, TG_EVENT_REVOKED, NULL));
    }
    assert_i64(fx_find(f, TG_EVENT_REVOKED, "acme", TG_CLASS_LOW)->count, 1);
    assert_true(fx_hold_info(f, low).cancel_requested);
    tg_budget_info info = fx_info(f, "acme");
    assert_true(info.locked);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        assert_true(info.revoked[c]);
        assert_i64(info.remaining_micros[c], 0);
    }
    assert_false(fx_info(f, "acme/a").locked); /* no limit of its own */
    /* Locked for every class, critical included, until the window rolls (midnight UTC). */
    assert_locked_for_every_class(f, "acme/a", "acme", DAY_MS);
    assert_locked_for_every_class(f, "acme", "acme", DAY_MS);
    /* Work already granted still settles: the money is spent or the hold goes. */
    assert_i64(fx_commit(f, low, USD(1)).charged_micros, USD(1));
    assert_i64(fx_info(f, "acme").spent_micros, USD(131));
    fx_close(f);
}

static void test_forced_record_past_the_limit_locks(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_HOUR);
    f->now_ms += 20 * MINUTE_MS;
    fx_spend(f, "acme", USD(90), TG_CLASS_NORMAL);
    fx_clear_events(f);
    tg_record_result out = fx_record(f, "acme", USD(30), TG_CLASS_LOW, true);
    assert_true(out.charged);
    assert_i64(fx_count(f, TG_EVENT_OVERRUN), 1);
    assert_non_null(fx_find(f, TG_EVENT_REVOKED, "acme", TG_CLASS_CRITICAL));
    assert_true(fx_info(f, "acme").locked);
    assert_locked_for_every_class(f, "acme", "acme", 40 * MINUTE_MS);
    /* A forced record still goes in (a cost already incurred), and is reported again. */
    fx_clear_events(f);
    assert_true(fx_record(f, "acme", USD(1), TG_CLASS_LOW, true).charged);
    assert_i64(fx_count(f, TG_EVENT_OVERRUN), 1);
    assert_i64(fx_count(f, TG_EVENT_REVOKED), 0); /* already revoked */
    assert_i64(fx_info(f, "acme").spent_micros, USD(121));
    fx_close(f);
}

/* Which budgets lock: those whose own spend passed their limit; what lies below them is
 * refused through the walk, their siblings under an unlocked parent are not. */
static void test_only_budgets_above_their_limit_lock(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(1000), TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "acme/a", USD(10), TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "acme/a/x", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "acme/b", USD(10), TG_NONE, TG_WINDOW_LIFETIME);
    uint64_t hold = fx_hold(f, "acme/a/x", USD(5), TG_CLASS_NORMAL);
    fx_commit(f, hold, USD(25));
    assert_true(fx_info(f, "acme/a").locked);
    assert_false(fx_info(f, "acme").locked);
    assert_false(fx_info(f, "acme/b").locked);
    /* Lifetime: only a person can help. */
    assert_locked_for_every_class(f, "acme/a/x", "acme/a", TG_NONE);
    assert_locked_for_every_class(f, "acme/a", "acme/a", TG_NONE);
    assert_true(fx_reserve(f, "acme/b", USD(10), TG_CLASS_LOW).granted);
    assert_true(fx_reserve(f, "acme", USD(100), TG_CLASS_LOW).granted);
    fx_close(f);
}

/* The walk names the first budget from the leaf up; within one budget, frozen comes
 * first, then the lock, then calls and tokens. */
static void test_lock_in_the_walk_order(void **state) {
    (void)state;
    fx *f = fx_open();
    tg_budget_spec spec = fx_spec(USD(10), TG_NONE, TG_WINDOW_DAY);
    spec.calls_limit = 1;
    fx_put_spec(f, "acme", &spec);
    fx_put(f, "acme/a", USD(50), TG_NONE, TG_WINDOW_DAY);
    assert_true(fx_record(f, "acme/a", USD(20), TG_CLASS_LOW, true).charged);
    /* acme: locked and out of calls: the lock is named, it is what a person must fix. */
    assert_i64(fx_reserve(f, "acme", 0, TG_CLASS_LOW).refusal.reason, TG_REASON_OVERRUN);
    /* A refusal at the leaf comes first. */
    tg_reserve_result out = fx_reserve(f, "acme/a", USD(31), TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_CEILING, "acme/a", 0, DAY_MS);
    fx_freeze(f, "acme", true);
    out = fx_reserve(f, "acme/a", 0, TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_FROZEN, "acme", 0, TG_NONE);
    fx_freeze(f, "acme", false);
    /* An ask larger than the class's ceiling would not fit a new window either. */
    out = fx_reserve(f, "acme", USD(11), TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_OVERRUN, "acme", 0, TG_NONE);
    fx_close(f);
}

/* ---- when the lock lifts ------------------------------------------------------------------- */

static void test_a_new_window_lifts_the_lock(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), USD(80), TG_WINDOW_DAY);
    assert_true(fx_record(f, "acme", USD(150), TG_CLASS_LOW, true).charged);
    assert_true(fx_info(f, "acme").locked);
    fx_clear_events(f);
    f->now_ms = T0_MS + DAY_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL));
    assert_non_null(fx_find(f, TG_EVENT_WINDOW_ROLLED, "acme", -1));
    assert_i64(fx_count(f, TG_EVENT_REINSTATED), TG_CLASS_COUNT);
    tg_budget_info info = fx_info(f, "acme");
    assert_false(info.locked);
    assert_i64(info.spent_micros, 0);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        assert_false(info.revoked[c]);
        assert_true(fx_reserve(f, "acme", USD(1), (tg_class)c).granted);
    }
    fx_close(f);
}

static void test_raising_the_limit_above_spend_lifts_the_lock(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), USD(80), TG_WINDOW_LIFETIME);
    assert_true(fx_record(f, "acme", USD(150), TG_CLASS_LOW, true).charged);
    /* Raised to exactly the spend: no longer above it, but critical is at its ceiling. */
    fx_clear_events(f);
    fx_put(f, "acme", USD(150), USD(80), TG_WINDOW_LIFETIME);
    tg_budget_info info = fx_info(f, "acme");
    assert_false(info.locked);
    assert_true(info.revoked[TG_CLASS_CRITICAL]);
    assert_i64(fx_count(f, TG_EVENT_REINSTATED), 0);
    tg_reserve_result out = fx_reserve(f, "acme", USD(1), TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_CEILING, "acme", 0, TG_NONE);
    /* Above the spend: critical and high (half-way, 240) come back; low and normal
     * stay at their threshold of 80, which the spend is past. */
    fx_clear_events(f);
    fx_put(f, "acme", USD(400), USD(80), TG_WINDOW_LIFETIME);
    assert_i64(fx_count(f, TG_EVENT_REINSTATED), 2);
    assert_non_null(fx_find(f, TG_EVENT_REINSTATED, "acme", TG_CLASS_CRITICAL));
    assert_non_null(fx_find(f, TG_EVENT_REINSTATED, "acme", TG_CLASS_HIGH));
    assert_true(fx_reserve(f, "acme", USD(50), TG_CLASS_CRITICAL).granted);
    assert_i64(fx_reserve(f, "acme", 0, TG_CLASS_NORMAL).refusal.reason, TG_REASON_REVOKED);
    /* No limit at all: nothing is locked or revoked. */
    fx_clear_events(f);
    fx_put(f, "acme", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    assert_i64(fx_count(f, TG_EVENT_REINSTATED), 2);
    assert_true(fx_reserve(f, "acme", USD(1000), TG_CLASS_LOW).granted);
    fx_close(f);
}

/* ---- an admin's limit below spend; the same spec again -------------------------------------- */

static void test_a_limit_below_spend_is_accepted_and_locks(void **state) {
    (void)state;
    fx *f = fx_open();
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    fx_spend(f, "acme", USD(40), TG_CLASS_NORMAL);
    uint64_t hold = fx_hold(f, "acme", USD(10), TG_CLASS_NORMAL);
    fx_clear_events(f);
    fx_put(f, "acme", USD(30), TG_NONE, TG_WINDOW_DAY);
    tg_budget_info info = fx_info(f, "acme");
    assert_true(info.locked);
    assert_i64(info.spent_micros, USD(40)); /* the past is not rewritten */
    assert_i64(info.spec.cost_limit_micros, USD(30));
    assert_non_null(fx_find(f, TG_EVENT_BUDGET_CHANGED, "acme", -1));
    assert_i64(fx_count(f, TG_EVENT_REVOKED), TG_CLASS_COUNT);
    assert_i64(fx_count(f, TG_EVENT_OVERRUN), 0); /* an admin's decision, not an overrun */
    assert_true(fx_hold_info(f, hold).cancel_requested);
    assert_locked_for_every_class(f, "acme", "acme", DAY_MS);
    /* The hold granted before still commits, and leaves the budget above its limit. */
    fx_clear_events(f);
    assert_i64(fx_commit(f, hold, USD(5)).charged_micros, USD(5));
    assert_i64(fx_count(f, TG_EVENT_OVERRUN), 1);
    assert_i64(fx_info(f, "acme").spent_micros, USD(45));
    fx_close(f);
}

static void test_the_same_spec_again_changes_and_reports_nothing(void **state) {
    (void)state;
    fx *f = fx_open();
    tg_budget_spec spec = fx_spec(USD(100), TG_NONE, TG_WINDOW_DAY);
    spec.revoke_at = (tg_level){TG_NONE, 800000};
    spec.alerts_ppm[0] = 500000;
    spec.alerts_count = 1;
    spec.above_hold = TG_ABOVE_HOLD_CAP;
    fx_put_spec(f, "acme", &spec);
    assert_true(fx_record(f, "acme", USD(120), TG_CLASS_LOW, true).charged);
    tg_budget_info before = fx_info(f, "acme");
    fx_clear_events(f);
    tg_budget_spec same = spec;
    same.alerts_ppm[3] = 42; /* past alerts_count: not part of the spec */
    fx_put_spec(f, "acme", &same);
    assert_i64(f->events_count, 0);
    tg_budget_info after = fx_info(f, "acme");
    assert_i64(after.spent_micros, before.spent_micros);
    assert_true(after.locked);
    /* A real change is an update, reported. */
    spec.above_hold = TG_ABOVE_HOLD_CHARGE;
    fx_put_spec(f, "acme", &spec);
    assert_i64(fx_count(f, TG_EVENT_BUDGET_CHANGED), 1);
    assert_i64(fx_info(f, "acme").spec.above_hold, TG_ABOVE_HOLD_CHARGE);
    fx_close(f);
}

/* ---- above_hold: cap --------------------------------------------------------------------- */

static void test_cap_charges_an_agent_the_hold_and_reports_the_rest(void **state) {
    (void)state;
    fx *f = fx_open();
    tg_budget_spec spec = fx_spec(USD(100), TG_NONE, TG_WINDOW_DAY);
    spec.above_hold = TG_ABOVE_HOLD_CAP;
    fx_put_spec(f, "acme", &spec);                        /* the root caps its whole tree */
    fx_put(f, "acme/a", USD(10), TG_NONE, TG_WINDOW_DAY); /* charges, but is under acme */
    tg_reserve_request r = fx_reserve_request("acme/a", USD(2), TG_CLASS_NORMAL);
    r.tool = "search";
    uint64_t hold = fx_reserve_with(f, &r).hold_id;
    fx_clear_events(f);
    tg_commit_result out;
    agent_commit(f, hold, USD(1000), "agent-1", &out);
    assert_true(out.capped);
    assert_i64(out.charged_micros, USD(2));
    assert_i64(out.overrun_micros, USD(998));
    assert_i64(fx_info(f, "acme/a").spent_micros, USD(2));
    assert_i64(fx_info(f, "acme").spent_micros, USD(2));
    assert_false(fx_info(f, "acme").locked);
    assert_i64(fx_count(f, TG_EVENT_OVERRUN), 1);
    const tg_event *overrun = fx_find(f, TG_EVENT_OVERRUN, "acme/a", -1);
    assert_non_null(overrun);
    assert_string_equal(overrun->detail, "capped");
    assert_i64(overrun->amount_micros, USD(1000)); /* what the agent claimed */
    assert_i64(overrun->held_micros, USD(2));
    assert_i64(overrun->spent_micros, USD(2));
    assert_string_equal(overrun->tool, "search");
    assert_i64(fx_count(f, TG_EVENT_REVOKED), 0);
    /* The repeat answers the same; the same key without the agent flag is another call. */
    tg_commit_result again;
    agent_commit(f, hold, USD(1000), "agent-1", &again);
    assert_true(again.replayed && again.capped);
    assert_i64(again.charged_micros, USD(2));
    assert_i64(again.charge_id, out.charge_id);
    tg_commit_request admin = {
        .hold_id = hold, .actual_micros = USD(1000), .idempotency_key = "agent-1"};
    assert_status(tg_commit(f->engine, &admin, f->now_ms, &again, NULL), TG_ERR_CONFLICT);
    fx_close(f);
}

static void test_cap_applies_only_to_an_agents_word_above_the_hold(void **state) {
    (void)state;
    fx *f = fx_open();
    tg_budget_spec spec = fx_spec(USD(100), TG_NONE, TG_WINDOW_DAY);
    spec.above_hold = TG_ABOVE_HOLD_CAP;
    fx_put_spec(f, "capped", &spec);
    fx_put(f, "open", USD(100), TG_NONE, TG_WINDOW_DAY);
    tg_commit_result out;
    /* Within the hold: charged as given. */
    agent_commit(f, fx_hold(f, "capped", USD(5), TG_CLASS_LOW), USD(3), NULL, &out);
    assert_false(out.capped);
    assert_i64(out.charged_micros, USD(3));
    /* Not the agent's word (Tollgate measured it, or an admin said so): in full. */
    out = fx_commit(f, fx_hold(f, "capped", USD(5), TG_CLASS_LOW), USD(8));
    assert_false(out.capped);
    assert_i64(out.charged_micros, USD(8));
    /* An agent on a path where no budget caps: in full, and the lock follows. */
    agent_commit(f, fx_hold(f, "open", USD(5), TG_CLASS_LOW), USD(150), NULL, &out);
    assert_false(out.capped);
    assert_i64(out.charged_micros, USD(150));
    assert_true(fx_info(f, "open").locked);
    assert_i64(fx_info(f, "capped").spent_micros, USD(11));
    fx_close(f);
}

/* ---- names and checks ---------------------------------------------------------------------- */

static void test_names_texts_and_checks(void **state) {
    (void)state;
    assert_string_equal(tg_reason_str(TG_REASON_OVERRUN), "overrun");
    for (int r = 1; r < TG_REASON_COUNT; r++) {
        assert_true(strlen(tg_reason_text((tg_reason)r)) > 20);
    }
    assert_contains(tg_reason_text(TG_REASON_OVERRUN), "raises the limit");
    tg_above_hold above = TG_ABOVE_HOLD_CHARGE;
    assert_ok(tg_above_hold_parse("cap", &above));
    assert_i64(above, TG_ABOVE_HOLD_CAP);
    assert_status(tg_above_hold_parse("refuse", &above), TG_ERR_INVALID);
    assert_status(tg_above_hold_parse(NULL, &above), TG_ERR_INVALID);
    assert_i64(above, TG_ABOVE_HOLD_CAP); /* untouched on failure */
    assert_string_equal(tg_above_hold_str(TG_ABOVE_HOLD_CHARGE), "charge");
    assert_string_equal(tg_above_hold_str((tg_above_hold)7), "unknown");
    fx *f = fx_open();
    tg_budget_spec spec = fx_spec(USD(1), TG_NONE, TG_WINDOW_DAY);
    spec.above_hold = (tg_above_hold)2;
    tg_error err = {0};
    assert_status(tg_budget_put(f->engine, "acme", &spec, f->now_ms, &err), TG_ERR_INVALID);
    assert_contains(err.message, "above_hold");
    fx_close(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        fx_test(test_commit_past_the_limit_is_charged_reported_and_locks),
        fx_test(test_forced_record_past_the_limit_locks),
        fx_test(test_only_budgets_above_their_limit_lock),
        fx_test(test_lock_in_the_walk_order),
        fx_test(test_a_new_window_lifts_the_lock),
        fx_test(test_raising_the_limit_above_spend_lifts_the_lock),
        fx_test(test_a_limit_below_spend_is_accepted_and_locks),
        fx_test(test_the_same_spec_again_changes_and_reports_nothing),
        fx_test(test_cap_charges_an_agent_the_hold_and_reports_the_rest),
        fx_test(test_cap_applies_only_to_an_agents_word_above_the_hold),
        fx_test(test_names_texts_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
