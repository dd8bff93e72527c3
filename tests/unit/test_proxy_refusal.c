/*
 * test_proxy_refusal: refusals and errors in each provider's own shape (what
 * the SDKs parse into their error classes), money as exact micros and text,
 * and the retry headers: Retry-After rounded up, and x-should-retry true only
 * for a short wait.
 */
#include "proxy/provider.h"
#include "proxy/refusal.h"
#include "proxy_fixture.h"

#include <jansson.h>

static json_t *write_refusal(const tg__provider *wire, const tg__refusal *refusal,
                             tg__refusal_headers *headers) {
    tg__buf body;
    tg__buf_init(&body, 1 << 16);
    assert_ok(tg__refusal_write(wire, refusal, 30000, &body, headers));
    json_t *json = json_loads(body.data, 0, NULL);
    assert_non_null(json);
    tg__buf_free(&body);
    return json;
}

static void test_refusal_openai(void **state) {
    (void)state;
    tg__refusal refusal = {.budget = "acme/support",
                           .reason = "revoked",
                           .needed_micros = 2500000,
                           .remaining_micros = 1200000,
                           .retry_after_ms = 1500};
    tg__refusal_headers h;
    json_t *json = write_refusal(&tg__provider_openai, &refusal, &h);
    const json_t *error = json_object_get(json, "error");
    assert_string_equal(json_string_value(json_object_get(error, "type")), "insufficient_quota");
    assert_string_equal(json_string_value(json_object_get(error, "code")), "budget_exceeded");
    assert_true(json_is_null(json_object_get(error, "param")));
    assert_string_equal(json_string_value(json_object_get(error, "budget")), "acme/support");
    assert_string_equal(json_string_value(json_object_get(error, "reason")), "revoked");
    assert_i64(json_integer_value(json_object_get(error, "remaining_micros")), 1200000);
    assert_string_equal(json_string_value(json_object_get(error, "remaining")), "$1.200000");
    assert_i64(json_integer_value(json_object_get(error, "retry_after_ms")), 1500);
    assert_contains(json_string_value(json_object_get(error, "message")),
                    "budget acme/support refused this call (revoked): it may cost up to "
                    "$2.500000 and $1.200000 remains. Retry later.");
    assert_int_equal(h.http_status, 429);
    assert_string_equal(h.retry_after, "2"); /* 1.5 s rounded up */
    assert_string_equal(h.retry_after_ms, "1500");
    assert_string_equal(h.should_retry, "true");
    json_decref(json);
}

/* final_status: a refusal not worth an automatic retry takes it, in status and body; a
 * short wait (x-should-retry: true) stays 429 so every SDK retries it soon. */
static void test_refusal_final_status(void **state) {
    (void)state;
    tg__refusal refusal = {.budget = "acme",
                           .reason = "ceiling",
                           .needed_micros = 10,
                           .remaining_micros = 1,
                           .retry_after_ms = TG_NONE,
                           .final_status = 402};
    tg__refusal_headers h;
    json_t *json = write_refusal(&tg__provider_anthropic, &refusal, &h);
    assert_int_equal(h.http_status, 402);
    assert_string_equal(h.should_retry, "false");
    const json_t *error = json_object_get(json, "error");
    assert_string_equal(json_string_value(json_object_get(error, "type")), "billing_error");
    json_decref(json);
    refusal.retry_after_ms = 40000; /* beyond the automatic 30000: still final */
    json = write_refusal(&tg__provider_gemini, &refusal, &h);
    assert_int_equal(h.http_status, 402);
    assert_i64(json_integer_value(json_object_get(json_object_get(json, "error"), "code")), 402);
    json_decref(json);
    refusal.retry_after_ms = 1500; /* soon: every SDK may retry it, as a 429 */
    json = write_refusal(&tg__provider_openai, &refusal, &h);
    assert_int_equal(h.http_status, 429);
    assert_string_equal(h.should_retry, "true");
    json_decref(json);
}

static void test_refusal_anthropic_no_retry(void **state) {
    (void)state;
    tg__refusal refusal = {.code = "budget_frozen",
                           .budget = "acme",
                           .reason = "frozen",
                           .needed_micros = TG_NONE,
                           .remaining_micros = TG_NONE,
                           .retry_after_ms = TG_NONE};
    tg__refusal_headers h;
    json_t *json = write_refusal(&tg__provider_anthropic, &refusal, &h);
    assert_string_equal(json_string_value(json_object_get(json, "type")), "error");
    const json_t *error = json_object_get(json, "error");
    assert_string_equal(json_string_value(json_object_get(error, "type")), "rate_limit_error");
    const json_t *details = json_object_get(error, "details");
    assert_string_equal(json_string_value(json_object_get(details, "error_code")), "budget_frozen");
    assert_null(json_object_get(details, "remaining_micros"));
    assert_true(json_is_null(json_object_get(details, "retry_after_ms")));
    assert_contains(json_string_value(json_object_get(error, "message")),
                    "An administrator must raise the limit.");
    assert_string_equal(h.retry_after, "");
    assert_string_equal(h.should_retry, "false");
    json_decref(json);
    /* A long wait: Retry-After says so, but SDKs are told not to sleep on it. */
    refusal.retry_after_ms = 3600000;
    json = write_refusal(&tg__provider_anthropic, &refusal, &h);
    assert_string_equal(h.retry_after, "3600");
    assert_string_equal(h.should_retry, "false");
    json_decref(json);
}

/* Google's shape: {"error":{"code","message","status","details":[ErrorInfo]}}, Tollgate's
 * fields as ErrorInfo metadata (a map of strings). */
static void test_refusal_gemini(void **state) {
    (void)state;
    tg__refusal refusal = {.budget = "acme/support",
                           .reason = "ceiling",
                           .needed_micros = 2500000,
                           .remaining_micros = 1200000,
                           .retry_after_ms = 1500};
    tg__refusal_headers h;
    json_t *json = write_refusal(&tg__provider_gemini, &refusal, &h);
    const json_t *error = json_object_get(json, "error");
    assert_i64(json_integer_value(json_object_get(error, "code")), 429);
    assert_string_equal(json_string_value(json_object_get(error, "status")), "RESOURCE_EXHAUSTED");
    assert_non_null(strstr(json_string_value(json_object_get(error, "message")), "acme/support"));
    const json_t *info = json_array_get(json_object_get(error, "details"), 0);
    assert_string_equal(json_string_value(json_object_get(info, "@type")),
                        "type.googleapis.com/google.rpc.ErrorInfo");
    assert_string_equal(json_string_value(json_object_get(info, "reason")), "budget_exceeded");
    assert_string_equal(json_string_value(json_object_get(info, "domain")), "tollgate");
    const json_t *metadata = json_object_get(info, "metadata");
    assert_string_equal(json_string_value(json_object_get(metadata, "budget")), "acme/support");
    assert_string_equal(json_string_value(json_object_get(metadata, "needed_micros")), "2500000");
    assert_string_equal(json_string_value(json_object_get(metadata, "retry_after_ms")), "1500");
    assert_int_equal(h.http_status, 429);
    json_decref(json);
    tg__buf out;
    tg__buf_init(&out, 4096);
    assert_ok(tg__error_write_event(TG__ROUTE_GEMINI_STREAM, "upstream_failed", "gone", 0, &out));
    assert_non_null(strstr(out.data, "data: {\"error\":{\"code\":500"));
    assert_non_null(strstr(out.data, "\"status\":\"INTERNAL\""));
    tg__buf_free(&out);
}

static void test_errors_by_status(void **state) {
    (void)state;
    const struct {
        const tg__provider *wire;
        int status;
        const char *type;
    } cases[] = {
        {&tg__provider_openai, 400, "invalid_request_error"},
        {&tg__provider_openai, 502, "server_error"},
        {&tg__provider_anthropic, 400, "invalid_request_error"},
        {&tg__provider_anthropic, 404, "not_found_error"},
        {&tg__provider_anthropic, 504, "api_error"},
        {&tg__provider_anthropic, 529, "overloaded_error"},
        {&tg__provider_gemini, 400, "INVALID_ARGUMENT"},
        {&tg__provider_gemini, 504, "DEADLINE_EXCEEDED"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg__buf body;
        tg__buf_init(&body, 4096);
        assert_ok(tg__error_write(cases[i].wire, cases[i].status, "model_not_priced",
                                  "no \"price\"\n for it", &body));
        json_t *json = json_loads(body.data, 0, NULL);
        assert_non_null(json);
        const json_t *error = json_object_get(json, "error");
        const json_t *type = json_object_get(error, "type");
        if (type == NULL) {
            type = json_object_get(error, "status"); /* Google names it status */
        }
        assert_string_equal(json_string_value(type), cases[i].type);
        assert_string_equal(json_string_value(json_object_get(error, "message")),
                            "no \"price\"\n for it");
        json_decref(json);
        tg__buf_free(&body);
    }
}

static void test_error_events(void **state) {
    (void)state;
    tg__buf out;
    tg__buf_init(&out, 4096);
    assert_ok(tg__error_write_event(TG__ROUTE_OPENAI_CHAT, "upstream_failed", "gone", 0, &out));
    assert_contains(out.data, "data: {\"error\":{\"message\":\"gone\",\"type\":\"server_error\"");
    tg__buf_reset(&out);
    assert_ok(
        tg__error_write_event(TG__ROUTE_ANTHROPIC_MESSAGES, "upstream_failed", "gone", 0, &out));
    assert_contains(out.data,
                    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"");
    tg__buf_reset(&out);
    assert_ok(
        tg__error_write_event(TG__ROUTE_OPENAI_RESPONSES, "upstream_failed", "gone", 12, &out));
    assert_contains(out.data, "\"sequence_number\":12");
    /* A full buffer is an error, not a truncated body. */
    tg__buf small;
    tg__buf_init(&small, 16);
    assert_status(tg__error_write(&tg__provider_openai, 400, "x", "a message", &small),
                  TG_ERR_FULL);
    assert_i64(small.size, 0);
    tg__buf_free(&small);
    tg__buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusal_openai),
        cmocka_unit_test(test_refusal_final_status),
        cmocka_unit_test(test_refusal_anthropic_no_retry),
        cmocka_unit_test(test_refusal_gemini),
        cmocka_unit_test(test_errors_by_status),
        cmocka_unit_test(test_error_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
