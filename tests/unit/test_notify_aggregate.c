/*
 * test_notify_aggregate: refusals summed up and digests, through one sink's
 * schedule. A thousand refusals in a second make one message at once (the
 * first) and then one per denied_interval_ms per budget, with every refusal in
 * exactly one message; another kind of event flushes a waiting run so order
 * holds; budgets are summed up apart. A digest lane waits up to its bound, a
 * critical event goes at once and takes what waited with it, and a full batch
 * does not wait.
 */
#include "notify/schedule.h"
#include "notify_fixture.h"

static tg__notify_config *config_new(tg__sink_kind kind) {
    tg__notify_config *config = calloc(1, sizeof *config);
    tg__notify_config_defaults(config);
    config->sinks_count = 1;
    snprintf(config->sinks[0].name, sizeof config->sinks[0].name, "hook");
    config->sinks[0].kind = kind;
    config->sinks[0].concurrency = 4;
    config->sinks[0].aggregate_denied = kind != TG__SINK_JSONL;
    config->denied_interval_ms = 10000;
    return config;
}

/* Delivers the next ready batch and returns how many events its items stand for (0: none). */
static int64_t deliver_next(tg__sink_state *state, int64_t now_ms, tg__batch *copy_items) {
    tg__batch batch;
    int64_t wake_ms = INT64_MAX;
    if (!tg__sink_state_next(state, now_ms, &batch, &wake_ms)) {
        return 0;
    }
    int64_t events = 0;
    for (size_t i = 0; i < batch.items_count; i++) {
        events += batch.items[i].count;
    }
    if (copy_items != NULL) {
        copy_items->items_count = batch.items_count;
        copy_items->items = malloc(batch.items_count * sizeof *batch.items);
        memcpy(copy_items->items, batch.items, batch.items_count * sizeof *batch.items);
    }
    tg__sink_state_delivered(state, &batch, now_ms);
    return events;
}

static void test_thousand_refusals_one_message_per_interval(void **state) {
    (void)state;
    tg__notify_config *config = config_new(TG__SINK_WEBHOOK);
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    int64_t now_ms = 1000;
    int64_t delivered = 0, messages = 0;
    uint64_t id = 1;
    /* Two seconds of refusals, 1000 a second, delivered as the sender would. */
    for (int ms = 0; ms < 2000; ms++, now_ms++) {
        tg_event e = denied_make(id++, "team/support-agent", TG_CLASS_NORMAL, TG_REASON_REVOKED,
                                 UNITS(1), "answer_ticket");
        assert_true(tg__sink_state_room(s, now_ms) > 0);
        tg__sink_state_take(s, &e, now_ms);
        int64_t events = deliver_next(s, now_ms, NULL);
        delivered += events;
        messages += events > 0;
    }
    assert_i64(messages, 1); /* the first refusal, at once */
    assert_i64(delivered, 1);
    int64_t wake_ms = INT64_MAX;
    tg__batch batch;
    assert_false(tg__sink_state_next(s, now_ms, &batch, &wake_ms));
    assert_i64(wake_ms, 1000 + 10000); /* when the interval since the first message ends */
    tg__batch summary = {0};
    assert_i64(deliver_next(s, 11000, &summary), 1999);
    assert_i64(summary.items_count, 1);
    assert_i64(summary.items[0].event.id, 2);
    assert_i64(summary.items[0].last_id, 2000);
    assert_i64(summary.items[0].amount_sum_micros, UNITS(1999));
    free(summary.items);
    assert_i64(tg__sink_state_done_through(s), 2000);
    tg__sink_state_free(s);
    free(config);
}

static void test_other_kind_flushes_the_run(void **state) {
    (void)state;
    tg__notify_config *config = config_new(TG__SINK_WEBHOOK);
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    tg_event first = denied_make(1, "b", TG_CLASS_LOW, TG_REASON_REVOKED, 1, "t");
    tg__sink_state_take(s, &first, 0);
    assert_i64(deliver_next(s, 0, NULL), 1);
    for (uint64_t id = 2; id <= 50; id++) {
        tg_event e = denied_make(id, "b", TG_CLASS_LOW, TG_REASON_REVOKED, 1, "t");
        tg__sink_state_take(s, &e, 1);
    }
    assert_i64(deliver_next(s, 2, NULL), 0); /* the run waits for its interval */
    tg_event revoked = revoked_make(51, "b", TG_CLASS_HIGH, UNITS(90), UNITS(100));
    tg__sink_state_take(s, &revoked, 3);
    tg__batch got = {0};
    assert_i64(deliver_next(s, 3, &got), 50); /* summary of 2..50, then the revocation */
    assert_i64(got.items_count, 2);
    assert_i64(got.items[0].event.kind, TG_EVENT_DENIED);
    assert_i64(got.items[0].count, 49);
    assert_i64(got.items[1].event.id, 51);
    free(got.items);
    tg__sink_state_free(s);
    free(config);
}

static void test_budgets_summed_apart(void **state) {
    (void)state;
    tg__notify_config *config = config_new(TG__SINK_SLACK);
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    for (uint64_t id = 1; id <= 40; id++) {
        tg_event e = denied_make(id, id % 2 ? "team/a" : "team/b", TG_CLASS_NORMAL,
                                 TG_REASON_REVOKED, 1, "t");
        tg__sink_state_take(s, &e, 0);
    }
    /* One message per budget, each for its 20 refusals. */
    assert_i64(deliver_next(s, 0, NULL), 20);
    assert_i64(deliver_next(s, 0, NULL), 20);
    assert_i64(deliver_next(s, 0, NULL), 0);
    assert_i64(tg__sink_state_done_through(s), 40);
    tg__sink_state_free(s);
    free(config);
}

static void test_jsonl_keeps_every_refusal(void **state) {
    (void)state;
    tg__notify_config *config = config_new(TG__SINK_JSONL);
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    for (uint64_t id = 1; id <= 5; id++) {
        tg_event e = denied_make(id, "b", TG_CLASS_NORMAL, TG_REASON_REVOKED, 1, "t");
        tg__sink_state_take(s, &e, 0);
    }
    tg__batch got = {0};
    assert_i64(deliver_next(s, 0, &got), 5);
    assert_i64(got.items_count, 5);
    free(got.items);
    tg__sink_state_free(s);
    free(config);
}

static void test_digest_bound_and_critical(void **state) {
    (void)state;
    tg__notify_config *config = config_new(TG__SINK_WEBHOOK);
    config->urgency_default = TG__URGENCY_DIGEST;
    config->urgency_default_within_ms = 2000;
    config->batch_events_max = 10;
    tg__sink_state *s = tg__sink_state_new(config, 0, 0, NULL, 0);
    tg_event e = event_make(1, TG_EVENT_THRESHOLD_CROSSED, "team/coding-agent");
    tg__sink_state_take(s, &e, 100);
    e = event_make(2, TG_EVENT_HOLD_EXPIRED, "team/coding-agent");
    tg__sink_state_take(s, &e, 900);
    tg__batch batch;
    int64_t wake_ms = INT64_MAX;
    assert_false(tg__sink_state_next(s, 2099, &batch, &wake_ms));
    assert_i64(wake_ms, 2100); /* the oldest's bound */
    assert_i64(deliver_next(s, 2100, NULL), 2);
    /* A critical event does not wait, and takes the waiting ones along, in order. */
    e = event_make(3, TG_EVENT_WINDOW_ROLLED, "team/coding-agent");
    tg__sink_state_take(s, &e, 3000);
    e = revoked_make(4, "team/coding-agent", TG_CLASS_CRITICAL, UNITS(1000), UNITS(1000));
    tg__sink_state_take(s, &e, 3001);
    tg__batch got = {0};
    assert_i64(deliver_next(s, 3001, &got), 2);
    assert_i64(got.items[0].event.id, 3);
    assert_i64(got.items[1].event.id, 4);
    free(got.items);
    /* A full batch does not wait either. */
    for (uint64_t id = 5; id < 15; id++) {
        e = event_make(id, TG_EVENT_HOLD_EXPIRED, "team/coding-agent");
        tg__sink_state_take(s, &e, 4000);
    }
    assert_i64(deliver_next(s, 4000, NULL), 10);
    tg__sink_state_free(s);
    free(config);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_refusals_one_message_per_interval),
        cmocka_unit_test(test_other_kind_flushes_the_run),
        cmocka_unit_test(test_budgets_summed_apart),
        cmocka_unit_test(test_jsonl_keeps_every_refusal),
        cmocka_unit_test(test_digest_bound_and_critical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
