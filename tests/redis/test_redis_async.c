/*
 * test_redis_async: the Redis ledger's async, pipelined connection and its passes
 * (store/redis/redis_async.h), driven as the daemon drives them, on a redis-server
 * the test starts (AOF with appendfsync always, the strict setting):
 *   - many requests parked at once are all in flight on one connection, each answered
 *     exactly once, and the ledger's spend is exactly the sum of the answers;
 *   - a request of two calls (a batch) is answered call by call, replayed in order;
 *   - a pass that makes another call when run again is refused, nothing more is sent;
 *   - a stopped server (SIGSTOP): every parked request answered TG_ERR_IO within the
 *     timeout, and service comes back by itself after SIGCONT.
 * Every wait is for a condition (the loop runs until the requests are answered), with a
 * generous deadline that only fails the test.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "redis/redis_server.h"
#include "store/redis/redis_async.h"
#include "store/redis/redis_ledger.h"

#define T0_MS INT64_C(1790000000000)
#define REQUESTS 200
#define WAIT_MS 60000 /* a condition's deadline: only a broken test gets there */

static redis_server server;

typedef struct request {
    void *state;
    int calls;          /* a record, then calls - 1 budget_gets (a batch) */
    int64_t cost;       /* micros */
    int64_t cost_again; /* the cost of a later pass: != cost only to test the check */
    int passes;
    bool done;
    tg_status status;
    tg_record_result out;
    tg_budget_info info;
    char message[TG_ERROR_MESSAGE_SIZE];
    int64_t parked_ms, answered_ms;
} request;

static tg__redis_ledger *ledger;
static int answered;

/* One pass of a request, as http.c runs a handler: every pass from the start. */
static void run_pass(request *r) {
    tg__redis_async_enter(ledger, &r->state);
    tg_record_request q = {.budget = "acme/a",
                           .cost_micros = r->passes == 0 ? r->cost : r->cost_again,
                           .cls = TG_CLASS_HIGH};
    tg_error err = {0};
    tg_status status = tg__ledger_ops_redis.record(ledger, &q, T0_MS, &r->out, &err);
    for (int c = 1; c < r->calls && status == TG_OK; c++) {
        status = tg__ledger_ops_redis.budget_get(ledger, "acme/a", T0_MS, &r->info, &err);
    }
    r->passes++;
    if (tg__redis_async_leave(ledger, &r->state, r)) {
        return; /* parked: resume runs it again */
    }
    r->done = true;
    r->status = status;
    snprintf(r->message, sizeof r->message, "%s", err.message);
    r->answered_ms = redis_clock_ms();
    answered++;
}

static void resume(void *user, void *token) {
    (void)user;
    run_pass(token);
}

/* Runs the loop until `count` requests are answered (the condition), or fails. */
static void loop_until(struct event_base *base, int count) {
    int64_t deadline = redis_clock_ms() + WAIT_MS;
    while (answered < count) {
        assert_true(redis_clock_ms() < deadline);
        event_base_loop(base, EVLOOP_ONCE);
    }
}

static struct event_base *open_async(int64_t timeout_ms) {
    tg__redis_ledger_options o;
    tg__redis_ledger_options_init(&o);
    o.port = server.port;
    o.timeout_ms = timeout_ms;
    o.retry_interval_ms = 100;
    assert_int_equal(tg__redis_ledger_open(&o, &ledger, NULL), TG_OK);
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    assert_int_equal(tg__ledger_ops_redis.budget_put(ledger, "acme", &spec, T0_MS, NULL), TG_OK);
    assert_int_equal(tg__ledger_ops_redis.budget_put(ledger, "acme/a", &spec, T0_MS, NULL), TG_OK);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    assert_int_equal(tg__redis_async_start(ledger, base, resume, NULL, NULL), TG_OK);
    answered = 0;
    return base;
}

static void close_async(struct event_base *base) {
    tg__redis_ledger_close(ledger);
    ledger = NULL;
    event_base_free(base);
}

static int64_t spent(void) {
    tg_budget_info info;
    assert_int_equal(tg__ledger_ops_redis.budget_get(ledger, "acme/a", T0_MS, &info, NULL), TG_OK);
    return info.spent_micros;
}

static void test_pipelined(void **state) {
    (void)state;
    struct event_base *base = open_async(10000);
    int64_t before = spent();
    static request r[REQUESTS];
    memset(r, 0, sizeof r);
    int64_t sum = 0;
    for (int i = 0; i < REQUESTS; i++) {
        r[i].calls = i % 50 == 1 ? 7 : i % 4 == 0 ? 2 : 1; /* 7: past the inline memo */
        r[i].cost = r[i].cost_again = 1 + i;
        sum += r[i].cost;
        run_pass(&r[i]);
        assert_false(r[i].done); /* parked: nothing is answered before Redis answers */
    }
    /* All of them are in flight at once on one connection (and the connect steps). */
    assert_true(tg__redis_async_in_flight(ledger) >= REQUESTS);
    loop_until(base, REQUESTS);
    for (int i = 0; i < REQUESTS; i++) {
        assert_int_equal(r[i].status, TG_OK);
        assert_true(r[i].out.charged);
        assert_int_equal(r[i].passes, r[i].calls + 1); /* one pass per call, and the last */
        for (int j = 0; j < i; j++) {
            assert_true(r[i].out.charge_id != r[j].out.charge_id);
        }
        if (r[i].calls >= 2) {
            assert_true(r[i].info.spent_micros >= r[i].cost); /* read after its own charge */
        }
    }
    assert_int_equal(spent() - before, sum); /* each charged once: no call sent twice */
    assert_int_equal(tg__redis_async_in_flight(ledger), 0);
    close_async(base);
}

static void test_replay_checked(void **state) {
    (void)state;
    struct event_base *base = open_async(10000);
    int64_t before = spent();
    request r = {.calls = 2, .cost = 7, .cost_again = 8}; /* the second pass differs */
    run_pass(&r);
    loop_until(base, 1);
    assert_int_equal(r.status, TG_ERR_IO);
    assert_non_null(strstr(r.message, "another redis call"));
    assert_int_equal(r.passes, 2);
    assert_int_equal(spent() - before, 7); /* the first call ran once, nothing else was sent */
    close_async(base);
}

static void test_stopped(void **state) {
    (void)state;
    const int64_t timeout_ms = 300;
    struct event_base *base = open_async(timeout_ms);
    request warm = {.calls = 1, .cost = 1, .cost_again = 1};
    run_pass(&warm); /* connected before the stop */
    loop_until(base, 1);
    assert_int_equal(warm.status, TG_OK);
    answered = 0;
    static request r[50];
    memset(r, 0, sizeof r);
    kill(server.pid, SIGSTOP);
    for (int i = 0; i < 50; i++) {
        r[i].calls = 1;
        r[i].cost = r[i].cost_again = 1;
        r[i].parked_ms = redis_clock_ms();
        run_pass(&r[i]);
    }
    loop_until(base, 50);
    int64_t slowest = 0;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(r[i].status, TG_ERR_IO);
        int64_t took = r[i].answered_ms - r[i].parked_ms;
        slowest = took > slowest ? took : slowest;
    }
    print_message("SIGSTOP: 50 parked requests answered TG_ERR_IO, slowest after %lld ms "
                  "(timeout %lld): %s\n",
                  (long long)slowest, (long long)timeout_ms, r[0].message);
    /* The bound: the timeout, plus what a loaded machine adds to run the loop. */
    assert_true(slowest < timeout_ms + 2000);
    kill(server.pid, SIGCONT);
    /* Back by itself: a request is answered 200-like again (a condition, polled). */
    int64_t deadline = redis_clock_ms() + WAIT_MS;
    for (int n = 0;; n++) {
        assert_true(redis_clock_ms() < deadline);
        request again = {.calls = 1, .cost = 1, .cost_again = 1};
        answered = 0;
        run_pass(&again);
        loop_until(base, 1);
        if (again.status == TG_OK) {
            print_message("after SIGCONT: answered again at attempt %d\n", n + 1);
            break;
        }
    }
    close_async(base);
}

static int setup(void **state) {
    (void)state;
    const char *strict[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};
    redis_server_start(&server, strict);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    redis_server_stop(&server);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_replay_checked),
        cmocka_unit_test(test_stopped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
