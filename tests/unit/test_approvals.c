/*
 * test_approvals: the approval state machine (include/tollgate.h, "Approvals") through
 * the public C API. Each test tries to break one promise: only a class refusal asks a
 * person (never the hard limit), an approval is decided exactly once, an approved one is
 * granted once for the amount and class approved and never past the hard limit (refused
 * with the reason when the money went meanwhile), a denied or expired one is refused,
 * its waiter is answered exactly once, a cancelled waiter expires it with nothing held,
 * pending ones are bounded per budget and in total, and a restart expires pending ones
 * while keeping the record (SQLite).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit/assertions.h"

#define T0 INT64_C(1800000000000) /* a fixed "now" */

static tg_engine *open_at(const char *path) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    if (path != NULL) {
        options.store = "sqlite";
        options.path = path;
    }
    tg_engine *engine = NULL;
    tg_error err = {0};
    if (tg_engine_open(&options, T0, &engine, &err) != TG_OK) {
        fail_msg("open: %s", err.message);
    }
    return engine;
}

/* A budget of `limit` whose low and normal classes stop at half of it. */
static void put(tg_engine *engine, const char *path, int64_t limit) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = limit;
    spec.revoke_at = (tg_level){TG_NONE, 500000};
    tg_error err = {0};
    if (tg_budget_put(engine, path, &spec, T0, &err) != TG_OK) {
        fail_msg("put %s: %s", path, err.message);
    }
}

static tg_reserve_request normal(const char *budget, int64_t amount) {
    return (tg_reserve_request){
        .budget = budget, .amount_micros = amount, .cls = TG_CLASS_NORMAL, .tool = "search"};
}

/* Asks for approval; returns the approval id (0 when answered at once, in *out). */
static uint64_t ask(tg_engine *engine, const char *budget, int64_t amount, int64_t wait_ms,
                    tg_reserve_result *out) {
    tg_reserve_request request = normal(budget, amount);
    tg_approval_ask asked = {
        .wait_ms = wait_ms, .reason = "customer is waiting", .requested_by = "agent-1"};
    uint64_t id = 0;
    tg_error err = {0};
    if (tg_approval_request(engine, &request, &asked, T0, out, &id, &err) != TG_OK) {
        fail_msg("approval request: %s", err.message);
    }
    return out->waiting ? id : 0;
}

static tg_approval_verdict approve_by(const char *by) {
    return (tg_approval_verdict){.approve = true, .cls = TG_CLASS_AUTO, .by = by};
}

static tg_wait_result answer(tg_engine *engine) {
    tg_wait_result decided;
    assert_true(tg_wait_poll(engine, &decided));
    return decided;
}

static int64_t held(tg_engine *engine, const char *path) {
    tg_budget_info info;
    assert_ok(tg_budget_get(engine, path, T0, &info, NULL));
    return info.held_micros;
}

/* ---- who may ask -------------------------------------------------------------------- */

static void fits_is_granted_without_a_person(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_result out;
    assert_i64(ask(engine, "a", 400, 1000, &out), 0);
    assert_true(out.granted);
    assert_i64(tg_approval_pending_count(engine), 0);
    tg_engine_close(engine);
}

static void past_the_hard_limit_never_asks(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_result out;
    assert_i64(ask(engine, "a", 1001, 1000, &out), 0);
    assert_false(out.granted);
    assert_false(out.waiting);
    assert_i64(out.refusal.reason, TG_REASON_CEILING);
    assert_ok(tg_budget_freeze(engine, "a", true, T0, NULL));
    assert_i64(ask(engine, "a", 600, 1000, &out), 0);
    assert_i64(out.refusal.reason, TG_REASON_FROZEN);
    assert_i64(tg_approval_pending_count(engine), 0);
    tg_engine_close(engine);
}

static void bad_asks_are_errors(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_request request = normal("a", 600);
    tg_reserve_result out;
    uint64_t id = 0;
    tg_error err = {0};
    tg_approval_ask no_wait = {.wait_ms = 0};
    assert_fails(tg_approval_request(engine, &request, &no_wait, T0, &out, &id, &err), err,
                 TG_ERR_RANGE);
    tg_approval_ask too_long = {.wait_ms = TG_APPROVAL_WAIT_MS_MAX + 1};
    assert_fails(tg_approval_request(engine, &request, &too_long, T0, &out, &id, &err), err,
                 TG_ERR_RANGE);
    char reason[TG_APPROVAL_TEXT_SIZE_MAX + 1];
    memset(reason, 'x', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    tg_approval_ask wordy = {.wait_ms = 10, .reason = reason};
    assert_fails(tg_approval_request(engine, &request, &wordy, T0, &out, &id, &err), err,
                 TG_ERR_INVALID);
    request.wait_ms = 10;
    tg_approval_ask fine = {.wait_ms = 10};
    assert_fails(tg_approval_request(engine, &request, &fine, T0, &out, &id, &err), err,
                 TG_ERR_INVALID);
    assert_i64(tg_approval_pending_count(engine), 0);
    assert_i64(tg_wait_count(engine), 0);
    tg_engine_close(engine);
}

/* ---- deciding ----------------------------------------------------------------------- */

static void approved_is_granted_once_at_critical(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_result out;
    uint64_t id = ask(engine, "a", 600, 60000, &out);
    assert_true(id > 0);
    assert_true(out.waiting);
    assert_false(tg_wait_poll(engine, &(tg_wait_result){0}));
    tg_approval_info info;
    tg_approval_verdict verdict = approve_by("alice");
    assert_ok(tg_approval_decide(engine, id, &verdict, T0 + 5, &info, NULL));
    assert_i64(info.state, TG_APPROVAL_APPROVED);
    assert_i64(info.approved_cls, TG_CLASS_CRITICAL);
    assert_true(info.hold_id > 0);
    assert_string_equal(info.decided_by, "alice");
    assert_string_equal(info.outcome, "granted");
    tg_wait_result decided = answer(engine);
    assert_i64(decided.wait_id, out.wait_id);
    assert_true(decided.result.granted);
    assert_i64(decided.result.hold_id, info.hold_id);
    assert_i64(held(engine, "a"), 600);
    /* Twice: refused, nothing more held, nobody answered again. */
    tg_error err = {0};
    assert_fails(tg_approval_decide(engine, id, &verdict, T0 + 6, &info, &err), err, TG_ERR_STATE);
    assert_i64(info.state, TG_APPROVAL_APPROVED);
    tg_approval_verdict deny = {.approve = false, .by = "bob"};
    assert_fails(tg_approval_decide(engine, id, &deny, T0 + 6, &info, &err), err, TG_ERR_STATE);
    assert_false(tg_wait_poll(engine, &decided));
    assert_i64(held(engine, "a"), 600);
    tg_engine_close(engine);
}

static void approved_for_less_and_a_lower_class(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_result out;
    uint64_t id = ask(engine, "a", 600, 60000, &out);
    tg_approval_info info;
    tg_error err = {0};
    tg_approval_verdict more = {
        .approve = true, .cls = TG_CLASS_CRITICAL, .amount_micros = 601, .by = "alice"};
    assert_fails(tg_approval_decide(engine, id, &more, T0, &info, &err), err, TG_ERR_INVALID);
    tg_approval_verdict nobody = {.approve = true, .cls = TG_CLASS_CRITICAL};
    assert_fails(tg_approval_decide(engine, id, &nobody, T0, &info, &err), err, TG_ERR_INVALID);
    assert_i64(tg_approval_pending_count(engine), 1); /* bad verdicts decide nothing */
    tg_approval_verdict less = {.approve = true,
                                .cls = TG_CLASS_HIGH,
                                .amount_micros = 300,
                                .by = "alice",
                                .note = "half of it"};
    assert_ok(tg_approval_decide(engine, id, &less, T0, &info, NULL));
    assert_i64(info.approved_micros, 300);
    assert_i64(info.approved_cls, TG_CLASS_HIGH);
    assert_string_equal(info.note, "half of it");
    tg_hold_info hold;
    assert_ok(tg_hold_get(engine, info.hold_id, &hold, NULL));
    assert_i64(hold.amount_micros, 300);
    assert_i64(hold.cls, TG_CLASS_HIGH);
    tg_engine_close(engine);
}

static void approved_when_the_money_went_is_refused_with_the_reason(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_result out;
    uint64_t id = ask(engine, "a", 600, 60000, &out);
    /* Meanwhile critical work takes the reserve band. */
    tg_reserve_request critical = {.budget = "a", .amount_micros = 700, .cls = TG_CLASS_CRITICAL};
    tg_reserve_result taken;
    assert_ok(tg_reserve(engine, &critical, T0, &taken, NULL));
    assert_true(taken.granted);
    tg_approval_info info;
    tg_approval_verdict verdict = approve_by("alice");
    assert_ok(tg_approval_decide(engine, id, &verdict, T0, &info, NULL));
    assert_i64(info.state, TG_APPROVAL_APPROVED);
    assert_i64(info.hold_id, 0);
    assert_string_equal(info.outcome, "refused: ceiling at a");
    tg_wait_result decided = answer(engine);
    assert_false(decided.result.granted);
    assert_i64(decided.result.refusal.reason, TG_REASON_CEILING);
    assert_i64(held(engine, "a"), 700); /* never past the hard limit */
    tg_engine_close(engine);
}

static void denied_is_refused(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_result out;
    uint64_t id = ask(engine, "a", 600, 60000, &out);
    tg_approval_info info;
    tg_approval_verdict deny = {.approve = false, .by = "bob", .note = "not today"};
    assert_ok(tg_approval_decide(engine, id, &deny, T0, &info, NULL));
    assert_i64(info.state, TG_APPROVAL_DENIED);
    tg_wait_result decided = answer(engine);
    assert_false(decided.result.granted);
    assert_i64(decided.result.refusal.reason, TG_REASON_REVOKED);
    assert_i64(decided.result.refusal.retry_after_ms, TG_NONE);
    tg_approval_verdict verdict = approve_by("alice");
    tg_error err = {0};
    assert_fails(tg_approval_decide(engine, id, &verdict, T0, &info, &err), err, TG_ERR_STATE);
    assert_i64(held(engine, "a"), 0);
    tg_engine_close(engine);
}

static void expires_at_its_deadline_and_cannot_be_approved_after(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_result out;
    uint64_t id = ask(engine, "a", 600, 1000, &out);
    assert_i64(tg_engine_deadline_ms(engine), T0 + 1000);
    assert_ok(tg_engine_tick(engine, T0 + 999, NULL));
    assert_false(tg_wait_poll(engine, &(tg_wait_result){0}));
    assert_ok(tg_engine_tick(engine, T0 + 1000, NULL));
    tg_wait_result decided = answer(engine);
    assert_false(decided.result.granted);
    tg_approval_info info;
    assert_ok(tg_approval_get(engine, id, &info, NULL));
    assert_i64(info.state, TG_APPROVAL_EXPIRED);
    assert_string_equal(info.outcome, "expired");
    tg_approval_verdict verdict = approve_by("alice");
    tg_error err = {0};
    assert_fails(tg_approval_decide(engine, id, &verdict, T0 + 2000, &info, &err), err,
                 TG_ERR_STATE);
    assert_i64(held(engine, "a"), 0);
    assert_false(tg_wait_poll(engine, &decided));
    tg_engine_close(engine);
}

static void cancelled_waiter_expires_it_with_nothing_held(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "a", 1000);
    tg_reserve_result out;
    uint64_t id = ask(engine, "a", 600, 60000, &out);
    assert_ok(tg_wait_cancel(engine, out.wait_id, T0, NULL));
    tg_approval_info info;
    assert_ok(tg_approval_get(engine, id, &info, NULL));
    assert_i64(info.state, TG_APPROVAL_EXPIRED);
    assert_string_equal(info.outcome, "client_gone");
    tg_approval_verdict verdict = approve_by("alice");
    tg_error err = {0};
    assert_fails(tg_approval_decide(engine, id, &verdict, T0, &info, &err), err, TG_ERR_STATE);
    assert_false(tg_wait_poll(engine, &(tg_wait_result){0}));
    assert_i64(held(engine, "a"), 0);
    tg_engine_close(engine);
}

static void unknown_id_is_not_found(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    tg_approval_info info;
    tg_approval_verdict verdict = approve_by("alice");
    tg_error err = {0};
    assert_fails(tg_approval_decide(engine, 42, &verdict, T0, &info, &err), err, TG_ERR_NOT_FOUND);
    assert_fails(tg_approval_get(engine, 42, &info, &err), err, TG_ERR_NOT_FOUND);
    tg_engine_close(engine);
}

/* ---- bounds ------------------------------------------------------------------------- */

static void bounded_per_budget_and_in_total(void **state) {
    (void)state;
    tg_engine *engine = open_at(NULL);
    put(engine, "root", INT64_C(1000000000000));
    char path[64];
    int budgets = TG_APPROVALS_PENDING_MAX / TG_APPROVALS_PER_BUDGET_MAX + 1;
    for (int b = 0; b < budgets; b++) {
        snprintf(path, sizeof path, "root/b%d", b);
        put(engine, path, 1000);
    }
    tg_reserve_result out;
    tg_error err = {0};
    tg_reserve_request request = normal("root/b0", 600);
    tg_approval_ask asked = {.wait_ms = 60000};
    uint64_t id = 0;
    for (int i = 0; i < TG_APPROVALS_PER_BUDGET_MAX; i++) {
        assert_true(ask(engine, "root/b0", 600, 60000, &out) > 0);
    }
    assert_fails(tg_approval_request(engine, &request, &asked, T0, &out, &id, &err), err,
                 TG_ERR_FULL);
    assert_contains(err.message, "root/b0");
    for (int b = 1; b < budgets - 1; b++) {
        snprintf(path, sizeof path, "root/b%d", b);
        for (int i = 0; i < TG_APPROVALS_PER_BUDGET_MAX; i++) {
            assert_true(ask(engine, path, 600, 60000, &out) > 0);
        }
    }
    assert_i64(tg_approval_pending_count(engine), TG_APPROVALS_PENDING_MAX);
    snprintf(path, sizeof path, "root/b%d", budgets - 1);
    request.budget = path;
    assert_fails(tg_approval_request(engine, &request, &asked, T0, &out, &id, &err), err,
                 TG_ERR_FULL);
    assert_i64(tg_approval_pending_count(engine), TG_APPROVALS_PENDING_MAX);
    assert_i64(held(engine, "root"), 0);
    /* Deciding one makes room for one. */
    tg_approval_verdict deny = {.approve = false, .by = "bob"};
    tg_approval_info info;
    assert_ok(tg_approval_decide(engine, 1, &deny, T0, &info, NULL));
    assert_ok(tg_approval_request(engine, &request, &asked, T0, &out, &id, &err));
    assert_true(out.waiting);
    tg_engine_close(engine);
}

/* ---- restart ------------------------------------------------------------------------ */

static void restart_expires_pending_and_keeps_the_record(void **state) {
    (void)state;
    char path[] = "/tmp/tg_test_approvals_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    tg_engine *engine = open_at(path);
    put(engine, "a", 1000);
    tg_reserve_result out;
    uint64_t approved = ask(engine, "a", 600, 60000, &out);
    uint64_t pending = ask(engine, "a", 550, 60000, &out);
    tg_approval_info info;
    tg_approval_verdict verdict = approve_by("alice");
    assert_ok(tg_approval_decide(engine, approved, &verdict, T0, &info, NULL));
    tg_engine_close(engine);

    engine = open_at(path);
    assert_i64(tg_approval_pending_count(engine), 0);
    assert_ok(tg_approval_get(engine, approved, &info, NULL));
    assert_i64(info.state, TG_APPROVAL_APPROVED);
    assert_string_equal(info.decided_by, "alice");
    assert_string_equal(info.reason, "customer is waiting");
    assert_string_equal(info.requested_by, "agent-1");
    assert_ok(tg_approval_get(engine, pending, &info, NULL));
    assert_i64(info.state, TG_APPROVAL_EXPIRED);
    assert_string_equal(info.outcome, "restart");
    tg_error err = {0};
    assert_fails(tg_approval_decide(engine, pending, &verdict, T0, &info, &err), err, TG_ERR_STATE);
    /* New ids continue after the stored ones. */
    uint64_t next = ask(engine, "a", 100, 60000, &out); /* 600 held: normal is past its ceiling */
    assert_true(next > pending);
    tg_engine_close(engine);

    /* The expiry was written: a third open sees it without expiring it again. */
    engine = open_at(path);
    assert_ok(tg_approval_get(engine, pending, &info, NULL));
    assert_string_equal(info.outcome, "restart");
    tg_engine_close(engine);
    unlink(path);
    char side[sizeof path + 8];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static int events_seen[TG_EVENT_APPROVAL_DECIDED + 1];
static char last_detail[TG_NAME_SIZE_MAX];

static void on_event(void *user, const tg_event *event) {
    (void)user;
    events_seen[event->kind]++;
    snprintf(last_detail, sizeof last_detail, "%s", event->detail);
}

static void events_name_the_approval(void **state) {
    (void)state;
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.on_event = on_event;
    tg_engine *engine = NULL;
    assert_ok(tg_engine_open(&options, T0, &engine, NULL));
    put(engine, "a", 1000);
    memset(events_seen, 0, sizeof events_seen);
    tg_reserve_result out;
    uint64_t id = ask(engine, "a", 600, 60000, &out);
    assert_i64(events_seen[TG_EVENT_APPROVAL_REQUESTED], 1);
    tg_approval_info info;
    tg_approval_verdict deny = {.approve = false, .by = "bob"};
    assert_ok(tg_approval_decide(engine, id, &deny, T0, &info, NULL));
    assert_i64(events_seen[TG_EVENT_APPROVAL_DECIDED], 1);
    assert_string_equal(last_detail, "denied");
    assert_string_equal(tg_event_kind_str(TG_EVENT_APPROVAL_REQUESTED), "approval_requested");
    tg_approval_state parsed;
    assert_ok(tg_approval_state_parse("expired", &parsed));
    assert_i64(parsed, TG_APPROVAL_EXPIRED);
    assert_status(tg_approval_state_parse("maybe", &parsed), TG_ERR_INVALID);
    tg_engine_close(engine);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fits_is_granted_without_a_person),
        cmocka_unit_test(past_the_hard_limit_never_asks),
        cmocka_unit_test(bad_asks_are_errors),
        cmocka_unit_test(approved_is_granted_once_at_critical),
        cmocka_unit_test(approved_for_less_and_a_lower_class),
        cmocka_unit_test(approved_when_the_money_went_is_refused_with_the_reason),
        cmocka_unit_test(denied_is_refused),
        cmocka_unit_test(expires_at_its_deadline_and_cannot_be_approved_after),
        cmocka_unit_test(cancelled_waiter_expires_it_with_nothing_held),
        cmocka_unit_test(unknown_id_is_not_found),
        cmocka_unit_test(bounded_per_budget_and_in_total),
        cmocka_unit_test(restart_expires_pending_and_keeps_the_record),
        cmocka_unit_test(events_name_the_approval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
