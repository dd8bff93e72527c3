/*
 * test_notify_backoff: the retry schedule. Waits double from initial_ms up to
 * max_ms; jitter keeps each wait within [base/2, base], so retries spread out
 * but never come sooner than half the base; and any failure count, however
 * large, gives a capped wait without overflow.
 */
#include "notify_fixture.h"

static const tg__notify_backoff policy = {500, 60000, 86400000};

static void test_doubling_without_jitter(void **state) {
    (void)state;
    /* random = half adds the whole jitter (the base itself); 0 adds none (half the base). */
    const int64_t bases[] = {500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
    for (int failures = 1; failures <= 9; failures++) {
        int64_t base = bases[failures - 1];
        int64_t half = base / 2;
        assert_i64(tg__backoff_ms(&policy, failures, (uint32_t)half), base);
        assert_i64(tg__backoff_ms(&policy, failures, 0), base - half);
    }
}

static void test_jitter_bounds(void **state) {
    (void)state;
    uint32_t random = 12345;
    for (int failures = 1; failures <= 40; failures++) {
        for (int i = 0; i < 1000; i++) {
            random = random * 1103515245u + 12345u;
            int64_t wait_ms = tg__backoff_ms(&policy, failures, random);
            int64_t base = failures >= 8 ? 60000 : 500 << (failures - 1);
            assert_true(wait_ms >= base / 2);
            assert_true(wait_ms <= base);
        }
    }
}

static void test_huge_failure_counts(void **state) {
    (void)state;
    assert_i64(tg__backoff_ms(&policy, INT64_MAX, 0), 30000);
    const tg__notify_backoff tiny = {1, 1, 1};
    assert_i64(tg__backoff_ms(&tiny, 1000000, UINT32_MAX), 1);
    const tg__notify_backoff big = {3600000, 3600000, 1};
    assert_i64(tg__backoff_ms(&big, 5, 1800000), 3600000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubling_without_jitter),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_huge_failure_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
