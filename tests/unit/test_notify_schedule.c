/*
 * test_notify_schedule: one sink's deliveries under failure. Each budget's
 * events go out in id order, one message in flight per budget, budgets in
 * parallel up to the concurrency; a failed message comes back at the front of
 * its lane after a backoff, and while the sink fails one probe goes at a
 * time; the first success releases every lane. Events that waited past the
 * give-up time of a failing sink are dead-lettered, in order. done_through
 * moves only past finished events; out-of-order finishes are reported for
 * saving; after a restart, events finished before are skipped.
 */
#include "notify/schedule.h"
#include "notify_fixture.h"

static tg__notify_config *config_new(void) {
    tg__notify_config *config = calloc(1, sizeof *config);
    tg__notify_config_defaults(config);
    config->sinks_count = 1;
    snprintf(config->sinks[0].name, sizeof config->sinks[0].name, "hook");
    config->sinks[0].kind = TG__SINK_WEBHOOK;
    config->sinks[0].concurrency = 2;
    config->retry = (tg__notify_backoff){100, 1000, 10000};
    return config;
}

static void take(tg__sink_state *s, uint64_t id, const char *budget, int64_t now_ms) {
    tg_event e = event_make(id, TG_EVENT_THRESHOLD_CROSSED, budget);
    tg__sink_state_take(s, &e, now_ms);
}

static bool next(tg__sink_state *s, int64_t now_ms, tg__batch *out) {
    int64_t wake_ms = INT64_MAX;
    return tg__sink_state_next(s, now_ms, out, &wake_ms);
}

static void test_order_and_concurrency(void **state) {
    (void)state;
    tg__notify_config *config = config_new();
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    take(s, 1, "a", 0);
    take(s, 2, "b", 0);
    take(s, 3, "c", 0);
    tg__batch first, second, third;
    assert_true(next(s, 0, &first));
    assert_true(next(s, 0, &second));
    assert_false(next(s, 0, &third)); /* concurrency 2 */
    take(s, 4, "a", 0);               /* waits: a's lane is in flight */
    uint64_t first_id = first.items[0].event.id;
    tg__sink_state_delivered(s, &second, 1);
    assert_true(next(s, 1, &third)); /* c (a is still in flight) */
    assert_i64(third.items[0].event.id, 3);
    /* Out of order: 2 and 3 finished, 1 not: done_through stays at 0; 2 reported to save. */
    tg__sink_state_delivered(s, &third, 2);
    assert_i64(tg__sink_state_done_through(s), 0);
    uint64_t ids[8];
    assert_i64(tg__sink_state_unsaved(s, ids, 8), 2);
    tg__sink_state_saved(s);
    assert_i64(tg__sink_state_unsaved(s, ids, 8), 0);
    assert_i64(first_id, 1);
    tg__sink_state_delivered(s, &first, 3);
    assert_i64(tg__sink_state_done_through(s), 3);
    tg__batch fourth;
    assert_true(next(s, 3, &fourth));
    assert_i64(fourth.items[0].event.id, 4);
    tg__sink_state_delivered(s, &fourth, 4);
    assert_i64(tg__sink_state_done_through(s), 4);
    tg__sink_state_free(s);
    free(config);
}

static void test_failure_backoff_probe_and_recovery(void **state) {
    (void)state;
    tg__notify_config *config = config_new();
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    take(s, 1, "a", 0);
    take(s, 2, "b", 0);
    tg__batch a, b, probe;
    assert_true(next(s, 0, &a));
    assert_true(next(s, 0, &b));
    tg__sink_state_failed(s, &a, 10, 0, "connection refused", TG_NONE); /* waits 50..100 */
    tg__sink_state_failed(s, &b, 10, 0, "connection refused", TG_NONE);
    int64_t wake_ms = INT64_MAX;
    assert_false(tg__sink_state_next(s, 20, &probe, &wake_ms));
    assert_true(wake_ms > 20 && wake_ms <= 10 + 200);
    take(s, 3, "a", 30); /* queued behind 1 */
    /* The probe: one message at a time while failing. */
    assert_true(next(s, 1000, &probe));
    tg__batch second;
    assert_false(next(s, 1000, &second));
    uint64_t seen_a[4];
    int seen_a_count = 0;
    for (size_t i = 0; i < probe.items_count; i++) {
        if (probe.items[i].event.budget[0] == 'a') {
            seen_a[seen_a_count++] = probe.items[i].event.id;
        }
    }
    tg__sink_state_delivered(s, &probe, 1001); /* back: every lane may go at once */
    tg__batch batch;
    while (next(s, 1001, &batch)) {
        for (size_t i = 0; i < batch.items_count; i++) {
            if (batch.items[i].event.budget[0] == 'a') {
                seen_a[seen_a_count++] = batch.items[i].event.id;
            }
        }
        tg__sink_state_delivered(s, &batch, 1002);
    }
    assert_i64(seen_a_count, 2); /* lane a: 1 then 3, never 3 first */
    assert_i64(seen_a[0], 1);
    assert_i64(seen_a[1], 3);
    assert_i64(tg__sink_state_done_through(s), 3);
    tg__sink_stats stats;
    tg__sink_state_stats(s, &stats);
    assert_i64(stats.delivered, 3);
    assert_i64(stats.failures, 0);
    tg__sink_state_free(s);
    free(config);
}

static void test_requeue_keeps_order(void **state) {
    (void)state;
    tg__notify_config *config = config_new();
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    take(s, 1, "a", 0);
    take(s, 2, "a", 0);
    tg__batch batch;
    assert_true(next(s, 0, &batch));
    assert_i64(batch.items_count, 2);
    take(s, 3, "a", 1);
    tg__sink_state_failed(s, &batch, 1, 0, "HTTP 503: busy", 5000); /* Retry-After 5 s */
    int64_t wake_ms = INT64_MAX;
    assert_false(tg__sink_state_next(s, 4000, &batch, &wake_ms));
    assert_true(next(s, 5001, &batch));
    assert_i64(batch.items_count, 3);
    assert_i64(batch.attempt, 2);
    for (size_t i = 0; i < 3; i++) {
        assert_i64(batch.items[i].event.id, i + 1);
    }
    tg__sink_state_delivered(s, &batch, 5002);
    assert_i64(tg__sink_state_done_through(s), 3);
    tg__sink_state_free(s);
    free(config);
}

static void test_give_up_dead_letters(void **state) {
    (void)state;
    tg__notify_config *config = config_new();
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    take(s, 1, "a", 0);
    take(s, 2, "b", 0);
    tg__batch batch;
    int64_t now_ms = 0;
    /* Fail every probe until the give-up time (10 s) has passed. */
    while (now_ms < 20000) {
        int64_t wake_ms = INT64_MAX;
        if (tg__sink_state_next(s, now_ms, &batch, &wake_ms)) {
            tg__sink_state_failed(s, &batch, now_ms, 7, "connection refused", TG_NONE);
        }
        now_ms += 50;
    }
    size_t count = 0;
    const tg__outbox_dead *dead = tg__sink_state_dead(s, &count);
    assert_i64(count, 2);
    assert_i64(dead[0].event_id + dead[1].event_id, 3);
    assert_string_equal(dead[0].error, "connection refused");
    assert_true(dead[0].attempts >= 1);
    assert_i64(tg__sink_state_done_through(s), 2);
    tg__sink_state_saved(s);
    tg__sink_state_dead(s, &count);
    assert_i64(count, 0);
    tg__sink_state_free(s);
    free(config);
}

static void test_restart_skips_finished(void **state) {
    (void)state;
    tg__notify_config *config = config_new();
    uint64_t *sent = malloc(2 * sizeof *sent);
    sent[0] = 12;
    sent[1] = 14;
    tg__sink_state *s = tg__sink_state_new(config, 0, 10, sent, 2);
    assert_i64(tg__sink_state_cursor(s), 10);
    for (uint64_t id = 11; id <= 15; id++) {
        take(s, id, "a", 0);
    }
    tg__batch batch;
    assert_true(next(s, 0, &batch));
    assert_i64(batch.items_count, 3);
    assert_i64(batch.items[0].event.id, 11);
    assert_i64(batch.items[1].event.id, 13);
    assert_i64(batch.items[2].event.id, 15);
    tg__sink_state_delivered(s, &batch, 1);
    assert_i64(tg__sink_state_done_through(s), 15);
    tg__sink_state_free(s);
    free(config);
}

static void test_filter_moves_done_through(void **state) {
    (void)state;
    tg__notify_config *config = config_new();
    config->sinks[0].filter.kinds_mask = 1u << TG_EVENT_REVOKED;
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    for (uint64_t id = 1; id <= 100; id++) {
        take(s, id, "a", 0); /* threshold_crossed: not wanted */
    }
    assert_i64(tg__sink_state_done_through(s), 100);
    tg__batch batch;
    assert_false(next(s, 0, &batch));
    tg__sink_state_free(s);
    free(config);
}

static void test_window_room(void **state) {
    (void)state;
    tg__notify_config *config = config_new();
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    uint64_t id = 1;
    while (tg__sink_state_room(s, 0) > 0) {
        char budget[32];
        snprintf(budget, sizeof budget, "b%llu", (unsigned long long)id);
        take(s, id++, budget, 0);
    }
    assert_i64(id - 1, TG__NOTIFY_WINDOW);
    tg__batch batch;
    assert_true(next(s, 0, &batch));
    tg__sink_state_delivered(s, &batch, 0);
    assert_i64(tg__sink_state_room(s, 0), 1);
    tg__sink_state_free(s);
    free(config);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_concurrency),
        cmocka_unit_test(test_failure_backoff_probe_and_recovery),
        cmocka_unit_test(test_requeue_keeps_order),
        cmocka_unit_test(test_give_up_dead_letters),
        cmocka_unit_test(test_restart_skips_finished),
        cmocka_unit_test(test_filter_moves_done_through),
        cmocka_unit_test(test_window_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
