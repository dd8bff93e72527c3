/*
 * test_proxy_cost: exact integer pricing. Parts charged at their own price only
 * when the model has one; one rounding up per call; tiers by input size; a
 * per-request fee; worst cases at the dearest prices; the largest output that
 * fits a budget; and range errors instead of overflow.
 */
#include "proxy/cost.h"
#include "proxy_fixture.h"

static tg__model_price gpt4o(void) {
    tg__model_price p;
    tg__model_price_init(&p);
    tg__model_price_set(&p, TG__UNIT_INPUT, 2500000);
    tg__model_price_set(&p, TG__UNIT_CACHE_READ, 1250000);
    tg__model_price_set(&p, TG__UNIT_OUTPUT, 10000000);
    return p;
}

static int64_t cost_of(const tg__model_price *p, const tg__usage *u) {
    int64_t cost = -1;
    assert_ok(tg__cost_micros(p, u, &cost));
    return cost;
}

static void test_cost_plain_and_cached(void **state) {
    (void)state;
    tg__model_price p = gpt4o();
    tg__usage u = {0};
    u.counts[TG__UNIT_INPUT] = 1000;
    u.counts[TG__UNIT_OUTPUT] = 500;
    assert_i64(cost_of(&p, &u), 2500 + 5000); /* 1000 x $2.5/M + 500 x $10/M */
    u.counts[TG__UNIT_CACHE_READ] = 400;      /* inside the 1000 */
    assert_i64(cost_of(&p, &u), 600 * 2500000 / 1000000 + 400 * 1250000 / 1000000 + 5000);
    /* Reasoning without its own price is output at the output price. */
    u.counts[TG__UNIT_OUTPUT_REASONING] = 300;
    assert_i64(cost_of(&p, &u), 1500 + 500 + 5000);
    /* Rounded up once, from the exact sum: 1 token of $2.5/M is 2.5 micros -> 3. */
    tg__usage one = {0};
    one.counts[TG__UNIT_INPUT] = 1;
    assert_i64(cost_of(&p, &one), 3);
    one.counts[TG__UNIT_INPUT] = 2;
    assert_i64(cost_of(&p, &one), 5);
    tg__usage none = {0};
    assert_i64(cost_of(&p, &none), 0);
}

static void test_cost_unpriced_parts_stay_in_parent(void **state) {
    (void)state;
    tg__model_price p;
    tg__model_price_init(&p);
    tg__model_price_set(&p, TG__UNIT_INPUT, 3000000);
    tg__model_price_set(&p, TG__UNIT_OUTPUT, 15000000);
    tg__usage u = {0};
    u.counts[TG__UNIT_INPUT] = 1000;
    u.counts[TG__UNIT_CACHE_READ] = 900; /* no cache price: charged as input */
    u.counts[TG__UNIT_OUTPUT] = 100;
    assert_i64(cost_of(&p, &u), 3000 + 1500);
}

static void test_cost_anthropic_cache_writes(void **state) {
    (void)state;
    tg__model_price p;
    tg__model_price_init(&p);
    tg__model_price_set(&p, TG__UNIT_INPUT, 3000000);
    tg__model_price_set(&p, TG__UNIT_CACHE_READ, 300000);
    tg__model_price_set(&p, TG__UNIT_CACHE_WRITE, 3750000);
    tg__model_price_set(&p, TG__UNIT_CACHE_WRITE_1H, 6000000);
    tg__model_price_set(&p, TG__UNIT_OUTPUT, 15000000);
    tg__model_price_set(&p, TG__UNIT_WEB_SEARCHES, 10000000); /* $10 per thousand */
    tg__usage u = {0};
    u.counts[TG__UNIT_INPUT] = 10000; /* 1000 plain + 3000 read + 6000 written (2000 for 1h) */
    u.counts[TG__UNIT_CACHE_READ] = 3000;
    u.counts[TG__UNIT_CACHE_WRITE] = 6000;
    u.counts[TG__UNIT_CACHE_WRITE_1H] = 2000;
    u.counts[TG__UNIT_OUTPUT] = 1000;
    u.counts[TG__UNIT_WEB_SEARCHES] = 2;
    int64_t expected = 1000 * 3 + 3000 * 3 / 10 + 4000 * 375 / 100 + 2000 * 6 + 1000 * 15 + 20000;
    assert_i64(cost_of(&p, &u), expected);
}

static void test_cost_audio_overlap(void **state) {
    (void)state;
    tg__model_price p;
    tg__model_price_init(&p);
    tg__model_price_set(&p, TG__UNIT_INPUT, 1000000);
    tg__model_price_set(&p, TG__UNIT_CACHE_READ, 100000);
    tg__model_price_set(&p, TG__UNIT_INPUT_AUDIO, 10000000);
    tg__model_price_set(&p, TG__UNIT_CACHE_AUDIO_READ, 2000000);
    tg__usage u = {0};
    /* 1000 in: 300 cached (100 of them audio), 500 audio (so 400 uncached audio). */
    u.counts[TG__UNIT_INPUT] = 1000;
    u.counts[TG__UNIT_CACHE_READ] = 300;
    u.counts[TG__UNIT_INPUT_AUDIO] = 500;
    u.counts[TG__UNIT_CACHE_AUDIO_READ] = 100;
    /* plain text 300 x 1, cached text 200 x 0.1, audio 400 x 10, cached audio 100 x 2 */
    assert_i64(cost_of(&p, &u), 300 + 20 + 4000 + 200);
}

static void test_cost_tiers_and_fees(void **state) {
    (void)state;
    tg__model_price p;
    tg__model_price_init(&p);
    p.priced_mask = (1u << TG__UNIT_INPUT) | (1u << TG__UNIT_OUTPUT) | (1u << TG__UNIT_REQUESTS);
    p.rates[TG__UNIT_INPUT] = (tg__rate){.base_micros = 5000000,
                                         .tiers_count = 1,
                                         .tier_start_tokens = {200000},
                                         .tier_micros = {10000000}};
    p.rates[TG__UNIT_OUTPUT] = (tg__rate){.base_micros = 25000000,
                                          .tiers_count = 1,
                                          .tier_start_tokens = {200000},
                                          .tier_micros = {37500000}};
    p.rates[TG__UNIT_REQUESTS] = (tg__rate){.base_micros = 5000}; /* 5 micros a call */
    assert_ok(tg__model_price_check(&p, NULL));
    tg__usage u = {0};
    u.counts[TG__UNIT_INPUT] = 200000; /* not above the start: base */
    u.counts[TG__UNIT_OUTPUT] = 1000;
    assert_i64(cost_of(&p, &u), 1000000 + 25000 + 5);
    u.counts[TG__UNIT_INPUT] = 200001; /* above: every token at the tier price */
    assert_i64(cost_of(&p, &u), 2000010 + 37500 + 5);
    u.counts[TG__UNIT_REQUESTS] = 3;
    assert_i64(cost_of(&p, &u), 2000010 + 37500 + 15);
}

static void test_cost_bad_reports(void **state) {
    (void)state;
    tg__model_price p = gpt4o();
    tg__usage u = {0};
    u.counts[TG__UNIT_INPUT] = 100;
    u.counts[TG__UNIT_CACHE_READ] = 400; /* more than the total: charged in full */
    assert_i64(cost_of(&p, &u), 400 * 1250000 / 1000000);
    int64_t cost = 77;
    u.counts[TG__UNIT_OUTPUT] = -1;
    assert_status(tg__cost_micros(&p, &u, &cost), TG_ERR_RANGE);
    u.counts[TG__UNIT_OUTPUT] = TG__USAGE_COUNT_MAX + 1;
    assert_status(tg__cost_micros(&p, &u, &cost), TG_ERR_RANGE);
    assert_i64(cost, 77);
    /* The largest counts at the largest prices pass TG_AMOUNT_MAX: an error, no wrap. */
    tg__model_price dear;
    tg__model_price_init(&dear);
    tg__model_price_set(&dear, TG__UNIT_INPUT, TG__PRICE_MICROS_MAX);
    tg__usage huge = {0};
    huge.counts[TG__UNIT_INPUT] = TG__USAGE_COUNT_MAX;
    assert_status(tg__cost_micros(&dear, &huge, &cost), TG_ERR_RANGE);
    assert_status(tg__cost_worst_case(&dear, TG__USAGE_COUNT_MAX, 0, &cost), TG_ERR_RANGE);
}

static void test_worst_case_and_fit(void **state) {
    (void)state;
    tg__model_price p;
    tg__model_price_init(&p);
    tg__model_price_set(&p, TG__UNIT_INPUT, 3000000);
    tg__model_price_set(&p, TG__UNIT_CACHE_READ, 300000);
    tg__model_price_set(&p, TG__UNIT_CACHE_WRITE, 3750000); /* dearer than input */
    tg__model_price_set(&p, TG__UNIT_OUTPUT, 15000000);
    int64_t cost = 0;
    assert_ok(tg__cost_worst_case(&p, 1000, 2000, &cost));
    assert_i64(cost, 3750 + 30000);
    /* No actual usage of those sizes costs more. */
    tg__usage u = {0};
    u.counts[TG__UNIT_INPUT] = 1000;
    u.counts[TG__UNIT_CACHE_WRITE] = 1000;
    u.counts[TG__UNIT_OUTPUT] = 2000;
    assert_true(cost_of(&p, &u) <= cost);
    int64_t tokens = -1;
    assert_ok(tg__cost_output_fit(&p, 1000, 33750, &tokens));
    assert_i64(tokens, 2000);
    assert_ok(tg__cost_output_fit(&p, 1000, 33749, &tokens));
    assert_i64(tokens, 1999);
    assert_ok(tg__cost_worst_case(&p, 1000, tokens, &cost));
    assert_true(cost <= 33749);
    assert_ok(tg__cost_output_fit(&p, 1000, 3749, &tokens)); /* not even the prompt */
    assert_i64(tokens, 0);
    tg__model_price free_output;
    tg__model_price_init(&free_output);
    tg__model_price_set(&free_output, TG__UNIT_INPUT, 20000);
    assert_ok(tg__cost_output_fit(&free_output, 10, 1, &tokens));
    assert_i64(tokens, TG__USAGE_COUNT_MAX);
}

static void test_price_keys(void **state) {
    (void)state;
    for (int u = 0; u < TG__UNIT_COUNT; u++) {
        tg__unit back;
        assert_ok(tg__unit_from_price_key(tg__unit_price_key((tg__unit)u), &back));
        assert_i64(back, u);
    }
    tg__unit unit;
    assert_status(tg__unit_from_price_key("input_image_mtok", &unit), TG_ERR_NOT_FOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_plain_and_cached),
        cmocka_unit_test(test_cost_unpriced_parts_stay_in_parent),
        cmocka_unit_test(test_cost_anthropic_cache_writes),
        cmocka_unit_test(test_cost_audio_overlap),
        cmocka_unit_test(test_cost_tiers_and_fees),
        cmocka_unit_test(test_cost_bad_reports),
        cmocka_unit_test(test_worst_case_and_fit),
        cmocka_unit_test(test_price_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
