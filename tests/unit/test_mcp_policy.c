/*
 * test_mcp_policy: tool prices and classes (globs, first match wins), the cost
 * a result reports, the `mcp:` section of the YAML file (both rule forms, every
 * error, a failed read leaving the config as it was), and the refusal results
 * the agent reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/config.h"
#include "mcp/refusal.h"

static void test_glob(void **state) {
    (void)state;
    assert_true(tg__mcp_glob_match("refund_*", "refund_order"));
    assert_true(tg__mcp_glob_match("refund_*", "refund_"));
    assert_false(tg__mcp_glob_match("refund_*", "refun"));
    assert_true(tg__mcp_glob_match("*", ""));
    assert_true(tg__mcp_glob_match("?ead_*", "read_text_file"));
    assert_false(tg__mcp_glob_match("?", ""));
    assert_true(tg__mcp_glob_match("*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaab"));
    assert_false(tg__mcp_glob_match("*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_true(tg__mcp_glob_match("get-*-list", "get-roots-list"));
    assert_false(tg__mcp_glob_match("echo", "echo2"));
    /* The shared matcher (core/path.h) takes an empty pattern as "everything"; a tool
     * rule's empty glob has always matched only the empty name, and still does. */
    assert_true(tg__mcp_glob_match("", ""));
    assert_false(tg__mcp_glob_match("", "refund_order"));
    assert_true(tg__mcp_glob_match("**", ""));
    assert_false(tg__mcp_glob_match("a*", ""));
}

static tg__mcp_config *parse_ok(const char *yaml) {
    tg__mcp_config *config = malloc(sizeof *config);
    tg__mcp_config_defaults(config);
    tg_error err = {0};
    tg_status status = tg__mcp_config_parse(yaml, strlen(yaml), config, &err);
    if (status != TG_OK) {
        fail_msg("%s", err.message);
    }
    return config;
}

static void test_config_and_match(void **state) {
    (void)state;
    tg__mcp_config *config = parse_ok("budgets: []\n"
                                      "mcp:\n"
                                      "  database: /tmp/x.db\n"
                                      "  durability: relaxed\n"
                                      "  call_timeout_ms: 1500\n"
                                      "  calls_per_task: 40\n"
                                      "  message_size_max_bytes: 65536\n"
                                      "  calls_in_flight_max: 8\n"
                                      "  tools:\n"
                                      "    refund_*: critical\n"
                                      "    search_*: {cost: \"0.01\", class: low}\n"
                                      "    query_*: {cost: \"1.00\", charge: result}\n"
                                      "    search_web: high\n"
                                      "    \"*\": \"0.05\"\n");
    assert_string_equal(config->database, "/tmp/x.db");
    assert_int_equal(config->durability, TG_DURABILITY_RELAXED);
    assert_int_equal(config->call_timeout_ms, 1500);
    assert_int_equal(config->calls_per_task, 40);
    assert_int_equal(config->message_size_max_bytes, 65536);
    assert_int_equal(config->calls_in_flight_max, 8);
    assert_int_equal(config->tools.rules_count, 5);
    const tg__mcp_tool_rule *rule = tg__mcp_tools_match(&config->tools, "refund_order");
    assert_int_equal(rule->cls, TG_CLASS_CRITICAL);
    assert_int_equal(rule->cost_micros, 0);
    rule = tg__mcp_tools_match(&config->tools, "search_web"); /* the first match wins */
    assert_int_equal(rule->cls, TG_CLASS_LOW);
    assert_int_equal(rule->cost_micros, 10000);
    rule = tg__mcp_tools_match(&config->tools, "query_db");
    assert_int_equal(rule->charge, TG__MCP_CHARGE_RESULT);
    assert_int_equal(rule->cls, TG_CLASS_AUTO);
    assert_int_equal(rule->cost_micros, 1000000);
    rule = tg__mcp_tools_match(&config->tools, "anything");
    assert_int_equal(rule->cost_micros, 50000);
    assert_int_equal(rule->cls, TG_CLASS_AUTO);
    free(config);
    /* no mcp: section, the defaults */
    config = parse_ok("budgets: []\n");
    assert_int_equal(config->tools.rules_count, 0);
    assert_null(tg__mcp_tools_match(&config->tools, "x"));
    assert_int_equal(config->calls_per_task, TG_NONE);
    assert_string_equal(config->database, "tollgate-mcp.db");
    free(config);
}

static void expect_error(const char *yaml, const char *fragment) {
    tg__mcp_config *config = malloc(sizeof *config), *before = malloc(sizeof *before);
    tg__mcp_config_defaults(config);
    config->call_timeout_ms = 1234; /* must survive a failed read */
    *before = *config;
    tg_error err = {0};
    assert_int_not_equal(tg__mcp_config_parse(yaml, strlen(yaml), config, &err), TG_OK);
    if (strstr(err.message, fragment) == NULL) {
        fail_msg("'%s' does not say '%s'", err.message, fragment);
    }
    assert_memory_equal(config, before, sizeof *config);
    free(config);
    free(before);
}

static void test_config_errors(void **state) {
    (void)state;
    expect_error("mcp: [1]\n", "mcp must be a mapping");
    expect_error("mcp: {tool: {}}\n", "unknown mcp field 'tool'");
    expect_error("mcp: {call_timeout_ms: 10, tools: {a: superb}}\n", "cost 'superb'");
    expect_error("mcp: {tools: {a: {class: auto}}}\n", "class must be");
    expect_error("mcp: {tools: {a: {cost: \"-1\"}}}\n", "not an amount");
    expect_error("mcp: {tools: {a: {cost: \"0.0000001\"}}}\n", "not an amount");
    expect_error("mcp: {tools: {a: {charge: later}}}\n", "field 'charge'");
    expect_error("mcp: {tools: [a]}\n", "mcp.tools must be a mapping");
    expect_error("mcp: {call_timeout_ms: 0}\n", "call_timeout_ms");
    expect_error("mcp: {calls_per_task: many}\n", "calls_per_task");
    expect_error("mcp: {message_size_max_bytes: 10}\n", "message_size_max_bytes");
    expect_error("mcp: {durability: sometimes}\n", "strict or relaxed");
    expect_error("mcp: {database: \"\"}\n", "database");
    expect_error("mcp: {tools: {a: 1}\n", "cannot read or parse");
}

static void test_result_cost(void **state) {
    (void)state;
    struct {
        const char *json;
        bool found;
        int64_t cost;
    } cases[] = {
        {"{\"_meta\":{\"cost_micros\":1234}}", true, 1234},
        {"{\"_meta\":{\"cost_micros\":0}}", true, 0},
        {"{\"_meta\":{\"cost_micros\":-1}}", false, 0},
        {"{\"_meta\":{\"cost_micros\":1.5}}", false, 0},
        {"{\"_meta\":{\"cost_micros\":\"12\"}}", false, 0},
        {"{\"_meta\":{\"cost_micros\":1000000000000001}}", false, 0},
        {"{\"content\":[]}", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *result = json_loads(cases[i].json, 0, NULL);
        int64_t cost = -7;
        assert_int_equal(tg__mcp_result_cost(result, &cost), cases[i].found);
        assert_int_equal(cost, cases[i].found ? cases[i].cost : -7);
        json_decref(result);
    }
    assert_false(tg__mcp_result_cost(NULL, &(int64_t){0}));
}

static const char *text_of(json_t *message) {
    return json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(message, "result"), "content"), 0), "text"));
}

static void test_refusal_results(void **state) {
    (void)state;
    json_t *id = json_integer(5);
    tg_refusal refusal = {.reason = TG_REASON_REVOKED,
                          .budget = "acme/support",
                          .max_amount_micros = 5000000,
                          .retry_after_ms = 61000};
    /* 2026-01-01T00:00:00Z + 61 s */
    json_t *out = tg__mcp_refusal_result(id, "answer_ticket", TG_CLASS_NORMAL, &refusal, 8000000,
                                         true, INT64_C(1767225600000));
    assert_non_null(strstr(text_of(out), "budget acme/support, reason revoked"));
    assert_non_null(strstr(text_of(out), "5.000000"));
    assert_non_null(strstr(text_of(out), "Retry after 2026-01-01T00:01:01Z (in 61 s)"));
    json_t *meta = json_object_get(json_object_get(json_object_get(out, "result"), "_meta"),
                                   "tollgate/refusal");
    assert_string_equal(json_string_value(json_object_get(meta, "class")), "normal");
    assert_int_equal(json_integer_value(json_object_get(meta, "retry_after_ms")), 61000);
    assert_true(json_is_true(json_object_get(json_object_get(out, "result"), "isError")));
    /* What next: wait until now + 61 s, or shrink from 8 to 5; the same object, whole, in
     * structuredContent (the spec's place for what programs read). */
    json_t *next = json_object_get(meta, "next");
    assert_int_equal(json_integer_value(json_object_get(next, "wait_until_ms")),
                     INT64_C(1767225661000));
    assert_int_equal(json_integer_value(json_object_get(next, "wait_ms")), 61000);
    assert_int_equal(json_integer_value(json_object_get(next, "shrink_to_micros")), 5000000);
    assert_true(json_is_null(json_object_get(next, "approval")));
    json_t *structured = json_object_get(
        json_object_get(json_object_get(out, "result"), "structuredContent"), "tollgate_refusal");
    assert_true(json_equal(structured, meta));
    json_decref(out);
    /* Asked no more than the largest that fits: no shrink; not structured: _meta only. */
    out = tg__mcp_refusal_result(id, "answer_ticket", TG_CLASS_NORMAL, &refusal, 5000000, false, 0);
    assert_null(json_object_get(json_object_get(out, "result"), "structuredContent"));
    meta = json_object_get(json_object_get(json_object_get(out, "result"), "_meta"),
                           "tollgate/refusal");
    assert_true(json_is_null(json_object_get(json_object_get(meta, "next"), "shrink_to_micros")));
    json_decref(out);
    refusal.retry_after_ms = TG_NONE;
    refusal.reason = TG_REASON_FROZEN;
    out = tg__mcp_refusal_result(id, "x", TG_CLASS_LOW, &refusal, 0, true, 0);
    assert_non_null(strstr(text_of(out), "only a person can"));
    meta = json_object_get(json_object_get(json_object_get(out, "result"), "_meta"),
                           "tollgate/refusal");
    assert_true(json_is_null(json_object_get(meta, "retry_after_ms")));
    assert_true(json_is_null(json_object_get(json_object_get(meta, "next"), "wait_ms")));
    assert_true(json_is_null(json_object_get(json_object_get(meta, "next"), "wait_until_ms")));
    json_decref(out);
    out = tg__mcp_stop_result(id, "slow", "acme", TG__MCP_STOP_TIMEOUT, 400, NULL, 5000);
    assert_non_null(strstr(text_of(out), "within 400 ms"));
    json_decref(out);
    /* Every stop carries the ledger refusals' `next` object: a wait where a retry can pass
     * (timeout: now; ledger error, busy: a second), none where only a person can help, and
     * never a shrink (nothing was asked of the budget's room). */
    const struct {
        tg__mcp_stop stop;
        json_int_t wait_ms; /* -1: null */
    } stops[] = {{TG__MCP_STOP_CAP, -1},     {TG__MCP_STOP_REVOKED, -1},  {TG__MCP_STOP_TIMEOUT, 0},
                 {TG__MCP_STOP_SERVER, -1},  {TG__MCP_STOP_LEDGER, 1000}, {TG__MCP_STOP_BUSY, 1000},
                 {TG__MCP_STOP_UNLISTED, -1}};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        out = tg__mcp_stop_result(id, "t", "acme", stops[i].stop, 3, NULL, 5000);
        json_t *facts = json_object_get(
            json_object_get(json_object_get(json_object_get(out, "result"), "_meta"),
                            "tollgate/refusal"),
            "next");
        assert_non_null(facts);
        json_t *wait = json_object_get(facts, "wait_ms");
        json_t *until = json_object_get(facts, "wait_until_ms");
        if (stops[i].wait_ms < 0) {
            assert_true(json_is_null(wait) && json_is_null(until));
        } else {
            assert_int_equal(json_integer_value(wait), stops[i].wait_ms);
            assert_int_equal(json_integer_value(until), 5000 + stops[i].wait_ms);
        }
        assert_true(json_is_null(json_object_get(facts, "shrink_to_micros")));
        assert_true(json_is_null(json_object_get(facts, "approval")));
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(json_object_get(json_object_get(out, "result"), "_meta"),
                                "tollgate/refusal"),
                "reason")),
            tg__mcp_stop_str(stops[i].stop));
        json_decref(out);
    }
    assert_string_equal(tg__mcp_stop_str(TG__MCP_STOP_SERVER), "server_exited");
    json_decref(id);
}

/* Bytes that are not UTF-8 never reach libfyaml (0.7.12 can loop forever on them); the
 * daemon's own keys in `mcp:` are accepted and left to `tollgate serve`. */
static void test_config_utf8_and_serve_keys(void **state) {
    (void)state;
    tg__mcp_config *config = malloc(sizeof *config);
    tg__mcp_config_defaults(config);
    tg_error err = {0};
    const char bad[] = "mcp:\n  tools:\n    \"e\xff\xfe\": low\n";
    assert_int_equal(tg__mcp_config_parse(bad, sizeof bad - 1, config, &err), TG_ERR_INVALID);
    assert_non_null(strstr(err.message, "not UTF-8"));
    /* wait_ms: 0..TG_WAIT_MS_MAX, a whole number, else a clear error naming the rule */
    const char *waits = "mcp:\n  tools:\n    \"report_*\": {cost: \"0.50\", wait_ms: 2000}\n";
    assert_int_equal(tg__mcp_config_parse(waits, strlen(waits), config, &err), TG_OK);
    assert_int_equal(config->tools.rules[0].wait_ms, 2000);
    const char *too_long[] = {
        "mcp:\n  tools:\n    a: {wait_ms: 600001}\n", "mcp:\n  tools:\n    a: {wait_ms: -1}\n",
        "mcp:\n  tools:\n    a: {wait_ms: 2s}\n", "mcp:\n  tools:\n    a: {wait_ms: [1]}\n"};
    for (size_t i = 0; i < sizeof too_long / sizeof too_long[0]; i++) {
        tg__mcp_config_defaults(config);
        assert_int_equal(tg__mcp_config_parse(too_long[i], strlen(too_long[i]), config, &err),
                         TG_ERR_INVALID);
        assert_non_null(
            strstr(err.message, "tools 'a': wait_ms must be a whole number in 0..600000"));
    }
    tg__mcp_config_defaults(config);
    const char *serve = "mcp:\n"
                        "  sessions_max: 8\n"
                        "  session_idle_ms: 60000\n"
                        "  servers:\n"
                        "    - {name: x, command: [x], budget: a}\n"
                        "  call_timeout_ms: 1234\n";
    assert_int_equal(tg__mcp_config_parse(serve, strlen(serve), config, &err), TG_OK);
    assert_int_equal(config->call_timeout_ms, 1234);
    free(config);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_utf8_and_serve_keys),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_config_and_match),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_result_cost),
        cmocka_unit_test(test_refusal_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
