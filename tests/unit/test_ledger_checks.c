/*
 * test_ledger_checks: the always-on checks of reserve, commit, release and record
 * (core/checks.c) stop the process on a ledger whose counters were broken behind
 * its back, and stay silent on a sound one. Each breaking case runs in a child
 * process that must die of SIGABRT after naming the failed invariant; the parent
 * waits for it (no timing).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ledger_internal.h"
#include "core/tz.h"
#include "unit/assertions.h"

#define T0_MS INT64_C(1700000000000)
#define USD(n) ((int64_t)(n)*1000000)

typedef struct {
    tg__ledger *ledger;
    tg__tz *utc;
} fx;

static fx fx_open(void) {
    tg__ledger_options options = {.holds_max = 1000,
                                  .budgets_max = 100,
                                  .idempotency_max = 100,
                                  .idempotency_ttl_ms = 60000,
                                  .default_hold_ttl_ms = 60000,
                                  .max_hold_ttl_ms = 600000};
    fx f = {tg__ledger_new(&options), tg__tz_utc()};
    assert_non_null(f.ledger);
    assert_non_null(f.utc);
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = USD(100);
    spec.calls_limit = 60;
    assert_ok(tg__ledger_budget_put(f.ledger, "acme", &spec, f.utc, T0_MS, NULL));
    spec.cost_limit_micros = USD(60);
    assert_ok(tg__ledger_budget_put(f.ledger, "acme/a", &spec, f.utc, T0_MS, NULL));
    return f;
}

static void fx_close(fx *f) {
    tg__ledger_free(f->ledger);
    tg__tz_free(f->utc);
}

static uint64_t hold(fx *f, int64_t amount_micros) {
    tg_reserve_request r = {.budget = "acme/a", .amount_micros = amount_micros};
    tg_reserve_result out;
    assert_ok(tg__ledger_reserve(f->ledger, &r, T0_MS, &out, NULL));
    assert_true(out.granted);
    return out.hold_id;
}

static tg__budget *budget(fx *f, const char *path) {
    int32_t slot = tg__budget_find(f->ledger, path);
    assert_true(slot >= 0);
    return &f->ledger->budgets[slot];
}

typedef enum { DO_RESERVE, DO_COMMIT, DO_RELEASE, DO_RECORD } mutation;

/* Runs one mutation on the ledger, as a child would after the damage. */
static void mutate(fx *f, mutation what, uint64_t hold_id) {
    tg_status status = TG_OK;
    if (what == DO_RESERVE) {
        hold(f, USD(1));
    } else if (what == DO_COMMIT) {
        tg_commit_request r = {.hold_id = hold_id, .actual_micros = USD(1)};
        tg_commit_result out;
        status = tg__ledger_commit(f->ledger, &r, T0_MS, &out, NULL);
    } else if (what == DO_RELEASE) {
        status = tg__ledger_release(f->ledger, hold_id, NULL, T0_MS, NULL, NULL);
    } else {
        tg_record_request r = {.budget = "acme/a", .cost_micros = USD(1)};
        tg_record_result out;
        status = tg__ledger_record(f->ledger, &r, T0_MS, &out, NULL);
    }
    (void)status;
}

/*
 * In a child: a ledger with one open hold of $5 on acme/a, damaged by `damage`,
 * then `what`. The child must abort; it exits 0 if the mutation went through.
 */
static void expect_abort(void (*damage)(fx *f, uint64_t hold_id), mutation what) {
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        fx f = fx_open();
        uint64_t id = hold(&f, USD(5));
        damage(&f, id);
        mutate(&f, what, id);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void held_lost(fx *f, uint64_t hold_id) {
    (void)hold_id;
    budget(f, "acme")->held_micros -= USD(5); /* the root forgot the hold's money */
}

static void spent_negative(fx *f, uint64_t hold_id) {
    (void)hold_id;
    budget(f, "acme/a")->spent_micros = -1;
}

static void hold_uncounted(fx *f, uint64_t hold_id) {
    (void)hold_id;
    budget(f, "acme/a")->calls_held = 0; /* an open hold no longer counted as a call */
}

static void id_reused(fx *f, uint64_t hold_id) {
    f->ledger->next_hold_id = hold_id; /* the next hold would take the open one's id */
}

static void hold_forgotten(fx *f, uint64_t hold_id) {
    (void)hold_id;
    tg__budget *root = budget(f, "acme"); /* consistent in itself, but misses the hold */
    root->held_micros = 0;
    root->calls_held = 0;
    root->holds = 0;
}

static void test_damaged_ledger_stops_every_mutation(void **state) {
    (void)state;
    static const mutation all[] = {DO_RESERVE, DO_COMMIT, DO_RELEASE, DO_RECORD};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        expect_abort(spent_negative, all[i]);
        expect_abort(hold_uncounted, all[i]);
    }
    /* Money missing under one open hold is seen by the mutations that touch that hold
     * (the whole-ledger sum is tg__ledger_check's, O(holds), too dear per call). */
    expect_abort(held_lost, DO_COMMIT);
    expect_abort(held_lost, DO_RELEASE);
    expect_abort(hold_forgotten, DO_COMMIT);
    expect_abort(hold_forgotten, DO_RELEASE);
    expect_abort(id_reused, DO_RESERVE);
}

/* A sound ledger passes every check through a mix of all four mutations. */
static void test_sound_ledger_passes(void **state) {
    (void)state;
    fx f = fx_open();
    for (int round = 0; round < 40; round++) {
        uint64_t a = hold(&f, USD(1));
        uint64_t b = hold(&f, USD(1));
        mutate(&f, DO_COMMIT, a);
        mutate(&f, DO_RELEASE, b);
        if (round % 4 == 0) {
            mutate(&f, DO_RECORD, 0);
        }
    }
    assert_ok(tg__ledger_check(f.ledger, NULL));
    assert_i64(budget(&f, "acme")->spent_micros, USD(50));
    assert_i64(budget(&f, "acme")->held_micros, 0);
    /* Past acme/a's $60: refused, and the refusal changes nothing the checks would see. */
    tg_reserve_request r = {.budget = "acme/a", .amount_micros = USD(11)};
    tg_reserve_result out;
    assert_ok(tg__ledger_reserve(f.ledger, &r, T0_MS, &out, NULL));
    assert_false(out.granted);
    fx_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_damaged_ledger_stops_every_mutation),
        cmocka_unit_test(test_sound_ledger_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
