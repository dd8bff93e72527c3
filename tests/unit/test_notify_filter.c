/*
 * test_notify_filter: the `notify:` section and what it decides. A full
 * section reads into every field; each kind of mistake is refused with a
 * sentence naming it (unknown keys, bad kinds, URLs, header injection,
 * duplicate names, a missing secret variable); a file without the section has
 * no sinks. Filters by kind, budget glob and minimum severity; urgency by the
 * first matching rule; and the severity table of docs/notifications.md.
 */
#include "notify/config.h"
#include "notify/sink_types.h"
#include "notify_fixture.h"

static const char full[] = "port: 8420\n"
                           "budgets: [{path: team, limit: \"10\"}]\n"
                           "notify:\n"
                           "  sinks:\n"
                           "    - name: ops-slack\n"
                           "      kind: slack\n"
                           "      url: https://hooks.slack.com/services/T0/B0/XX\n"
                           "      secret_env: TG_TEST_SECRET\n"
                           "      timeout_ms: 1500\n"
                           "      concurrency: 2\n"
                           "      headers: {X-Team: ops, Authorization: Bearer abc}\n"
                           "      filter:\n"
                           "        kinds: [revoked, threshold_crossed, denied]\n"
                           "        budgets: [\"team/support-*\", \"team/coding-agent\"]\n"
                           "        severity: warning\n"
                           "    - name: audit\n"
                           "      kind: jsonl\n"
                           "      file: /var/log/tollgate/events.jsonl\n"
                           "      rotate_bytes: 1048576\n"
                           "      rotate_keep: 3\n"
                           "  urgency:\n"
                           "    default: immediate\n"
                           "    within_ms: 1500\n"
                           "    budgets:\n"
                           "      - {budget: \"team/coding-*\", mode: digest, within_ms: 2000}\n"
                           "      - {budget: \"team/*\", mode: digest}\n"
                           "  denied_interval_ms: 5000\n"
                           "  forecast_window_ms: 1800000\n"
                           "  retry: {initial_ms: 100, max_ms: 5000, give_up_after_ms: 60000}\n";

static tg__notify_config *parse_ok(const char *text) {
    tg__notify_config *config = NULL;
    tg_error err = {0};
    tg_status status = tg__notify_config_parse(text, strlen(text), &config, &err);
    if (status != TG_OK) {
        print_error("parse failed: %s\n", err.message);
        fail();
    }
    return config;
}

static void parse_fails(const char *text, const char *why) {
    tg__notify_config *config = NULL;
    tg_error err = {0};
    assert_true(tg__notify_config_parse(text, strlen(text), &config, &err) != TG_OK);
    assert_null(config);
    assert_contains(err.message, why);
}

static void test_full_section(void **state) {
    (void)state;
    setenv("TG_TEST_SECRET", "whsec_1", 1);
    tg__notify_config *c = parse_ok(full);
    assert_i64(c->sinks_count, 2);
    const tg__notify_sink *slack = &c->sinks[0];
    assert_string_equal(slack->name, "ops-slack");
    assert_i64(slack->kind, TG__SINK_SLACK);
    assert_string_equal(slack->secret, "whsec_1");
    assert_i64(slack->timeout_ms, 1500);
    assert_i64(slack->concurrency, 2);
    assert_i64(slack->headers_count, 2);
    assert_string_equal(slack->headers[1], "Authorization: Bearer abc");
    assert_true(slack->aggregate_denied);
    assert_i64(slack->filter.kinds_mask, (1u << TG_EVENT_REVOKED) |
                                             (1u << TG_EVENT_THRESHOLD_CROSSED) |
                                             (1u << TG_EVENT_DENIED));
    assert_i64(slack->filter.budget_globs_count, 2);
    assert_i64(slack->filter.severity_min, TG__SEVERITY_WARNING);
    const tg__notify_sink *audit = &c->sinks[1];
    assert_i64(audit->kind, TG__SINK_JSONL);
    assert_false(audit->aggregate_denied); /* a log keeps every refusal */
    assert_i64(audit->rotate_bytes, 1048576);
    assert_i64(audit->rotate_keep, 3);
    assert_i64(c->urgency_count, 2);
    assert_i64(c->denied_interval_ms, 5000);
    assert_i64(c->forecast_window_ms, 1800000);
    assert_i64(c->retry.initial_ms, 100);
    assert_i64(c->retry.give_up_after_ms, 60000);
    tg__notify_config_free(c);
}

static void test_no_section(void **state) {
    (void)state;
    tg__notify_config *c = parse_ok("port: 1\nstore: {kind: memory}\n");
    assert_i64(c->sinks_count, 0);
    tg__notify_config_free(c);
    c = parse_ok("");
    assert_i64(c->sinks_count, 0);
    tg__notify_config_free(c);
}

static void test_mistakes(void **state) {
    (void)state;
    unsetenv("TG_TEST_MISSING");
    parse_fails("notify: {sink: []}\n", "unknown notify field 'sink'");
    parse_fails("notify: {sinks: [{name: a, kind: teams, url: http://x}]}\n",
                "sink kind must be webhook, slack or jsonl");
    parse_fails("notify: {sinks: [{name: a, kind: [webhook], url: http://x}]}\n", "sink kind");
    parse_fails("notify: {sinks: [{name: a, url: http://x}]}\n", "needs a kind");
    parse_fails("notify: {sinks: [{name: a, kind: webhook, url: ftp://x}]}\n", "http://");
    parse_fails("notify: {sinks: [{name: a, kind: jsonl}]}\n", "needs a file");
    parse_fails("notify: {sinks: [{kind: jsonl, file: x}]}\n", "needs a name");
    parse_fails("notify: {sinks: [{name: 'a b', kind: jsonl, file: x}]}\n", "needs a name");
    parse_fails("notify: {sinks: [{name: a, kind: jsonl, file: x}, {name: a, kind: jsonl, "
                "file: y}]}\n",
                "two sinks are named 'a'");
    parse_fails("notify: {sinks: [{name: a, kind: webhook, url: http://x, headers: "
                "{\"X-A\": \"v\\r\\nX-Injected: 1\"}}]}\n",
                "one-line value");
    parse_fails("notify: {sinks: [{name: a, kind: webhook, url: http://x, headers: "
                "{\"Bad Name\": v}}]}\n",
                "header 'Bad Name'");
    parse_fails("notify: {sinks: [{name: a, kind: webhook, url: http://x, secret_env: "
                "TG_TEST_MISSING}]}\n",
                "not set in the environment");
    parse_fails("notify: {sinks: [{name: a, kind: webhook, url: http://x, timeout_ms: -5}]}\n",
                "timeout_ms");
    parse_fails("notify: {sinks: [{name: a, kind: webhook, url: http://x, filter: {kinds: "
                "[revoked, exploded]}}]}\n",
                "'exploded' is not an event kind");
    parse_fails("notify: {sinks: [{name: a, kind: webhook, url: http://x, filter: {severity: "
                "loud}}]}\n",
                "severity must be");
    parse_fails("notify: {urgency: {default: later}}\n", "immediate or digest");
    parse_fails("notify: {retry: {initial_ms: 500, max_ms: 100}}\n", "at least initial_ms");
    parse_fails("notify: [1, 2]\n", "'notify' must be a mapping");
    parse_fails("- just\n- a list\n", "must hold a mapping");
    parse_fails("notify: {sinks: [{name: a\n", "cannot read or parse YAML text: line 2");
    /* libfyaml 0.7.12 would loop forever on this directive: refused before it sees it. */
    parse_fails("%\x80\nnotify: {}\n", "is not UTF-8 text (byte 1)");
}

static void test_filter_match(void **state) {
    (void)state;
    setenv("TG_TEST_SECRET", "whsec_1", 1);
    tg__notify_config *c = parse_ok(full);
    const tg__notify_filter *f = &c->sinks[0].filter;
    assert_true(
        tg__notify_filter_match(f, TG_EVENT_REVOKED, "team/support-agent", TG__SEVERITY_WARNING));
    assert_true(
        tg__notify_filter_match(f, TG_EVENT_REVOKED, "team/coding-agent", TG__SEVERITY_CRITICAL));
    /* Kind not listed, budget not matched, severity too low. */
    assert_false(
        tg__notify_filter_match(f, TG_EVENT_OVERRUN, "team/support-agent", TG__SEVERITY_CRITICAL));
    assert_false(
        tg__notify_filter_match(f, TG_EVENT_REVOKED, "team/data-agent", TG__SEVERITY_CRITICAL));
    assert_false(
        tg__notify_filter_match(f, TG_EVENT_DENIED, "team/support-agent", TG__SEVERITY_INFO));
    /* An empty filter takes everything. */
    assert_true(tg__notify_filter_match(&c->sinks[1].filter, TG_EVENT_WINDOW_ROLLED, "x",
                                        TG__SEVERITY_INFO));
    tg__urgency_mode mode;
    int64_t within_ms;
    tg__notify_urgency_of(c, "team/coding-agent", &mode, &within_ms);
    assert_i64(mode, TG__URGENCY_DIGEST);
    assert_i64(within_ms, 2000);
    tg__notify_urgency_of(c, "team/support-agent", &mode, &within_ms);
    assert_i64(mode, TG__URGENCY_DIGEST);
    assert_i64(within_ms, 1500); /* the rule gave no bound: the default's */
    tg__notify_urgency_of(c, "acme", &mode, &within_ms);
    assert_i64(mode, TG__URGENCY_IMMEDIATE);
    tg__notify_config_free(c);
}

static void test_severity_table(void **state) {
    (void)state;
    /* Revocations: routine work is a warning; critical work, or under 1% left, critical. */
    tg_event e = revoked_make(1, "b", TG_CLASS_NORMAL, UNITS(480), UNITS(500));
    assert_i64(tg__severity_of(&e), TG__SEVERITY_WARNING);
    e = revoked_make(1, "b", TG_CLASS_HIGH, UNITS(490), UNITS(500));
    assert_i64(tg__severity_of(&e), TG__SEVERITY_WARNING);
    e = revoked_make(1, "b", TG_CLASS_CRITICAL, UNITS(500), UNITS(500));
    assert_i64(tg__severity_of(&e), TG__SEVERITY_CRITICAL);
    e = revoked_make(1, "b", TG_CLASS_LOW, UNITS(495) + 1, UNITS(500)); /* 4.999999 left < 5 */
    assert_i64(tg__severity_of(&e), TG__SEVERITY_CRITICAL);
    e = revoked_make(1, "b", TG_CLASS_LOW, UNITS(495), UNITS(500)); /* exactly 1% left */
    assert_i64(tg__severity_of(&e), TG__SEVERITY_WARNING);
    /* Alerts: info below 80%, warning from 80%, critical at the end. */
    e = event_make(2, TG_EVENT_THRESHOLD_CROSSED, "b");
    e.limit_micros = UNITS(100);
    e.spent_micros = UNITS(50);
    e.count = 500000;
    assert_i64(tg__severity_of(&e), TG__SEVERITY_INFO);
    e.spent_micros = UNITS(80);
    e.count = 800000;
    assert_i64(tg__severity_of(&e), TG__SEVERITY_WARNING);
    e.spent_micros = UNITS(100);
    e.count = 1000000;
    assert_i64(tg__severity_of(&e), TG__SEVERITY_CRITICAL);
    /* Refusals: routine info, high or frozen warning, critical work critical. */
    e = denied_make(3, "b", TG_CLASS_NORMAL, TG_REASON_REVOKED, 1, "t");
    assert_i64(tg__severity_of(&e), TG__SEVERITY_INFO);
    e = denied_make(3, "b", TG_CLASS_NORMAL, TG_REASON_FROZEN, 1, "t");
    assert_i64(tg__severity_of(&e), TG__SEVERITY_WARNING);
    e = denied_make(3, "b", TG_CLASS_CRITICAL, TG_REASON_CEILING, 1, "t");
    assert_i64(tg__severity_of(&e), TG__SEVERITY_CRITICAL);
    /* Overruns: warning; critical once spend is above the limit. */
    e = event_make(4, TG_EVENT_OVERRUN, "b");
    e.spent_micros = UNITS(10);
    e.limit_micros = UNITS(100);
    assert_i64(tg__severity_of(&e), TG__SEVERITY_WARNING);
    e.spent_micros = UNITS(101);
    assert_i64(tg__severity_of(&e), TG__SEVERITY_CRITICAL);
    /* The rest. */
    e = event_make(5, TG_EVENT_BUDGET_CHANGED, "b");
    snprintf(e.detail, sizeof e.detail, "frozen");
    assert_i64(tg__severity_of(&e), TG__SEVERITY_WARNING);
    snprintf(e.detail, sizeof e.detail, "created");
    assert_i64(tg__severity_of(&e), TG__SEVERITY_INFO);
    e = event_make(6, TG_EVENT_HOLD_EXPIRED, "b");
    assert_i64(tg__severity_of(&e), TG__SEVERITY_INFO);
}

/* The sink table (sink_types.h): a row for every kind, in kind order, named as the config
 * names it, each delivered by what it defines (a POST sink a body, a log sink a line), and
 * the row decides what a sink reads as: a webhook sums refusals up, a log does not. */
static void test_sink_table(void **state) {
    (void)state;
    int rows = 0;
    for (int i = 0; TG__SINK_TYPES[i] != NULL; i++, rows++) {
        const tg__sink_type *type = TG__SINK_TYPES[i];
        assert_int_equal(type->kind, i);
        assert_ptr_equal(tg__sink_type_of(type->kind), type);
        assert_ptr_equal(tg__sink_type_find(type->name), type);
        assert_non_null(type->check);
        assert_true(type->delivery == TG__SINK_POST ? type->body != NULL && type->line == NULL
                                                    : type->line != NULL && type->body == NULL);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(TG__SINK_TYPES[j]->name, type->name);
        }
    }
    assert_int_equal(rows, TG__SINK_JSONL + 1);
    assert_null(tg__sink_type_find("teams"));
    assert_null(tg__sink_type_find(NULL));
    assert_null(tg__sink_type_find("Webhook"));
    tg__notify_config *config = parse_ok("notify: {sinks: [{name: a, kind: webhook, url: "
                                         "http://x}, {name: b, kind: slack, url: https://y}, "
                                         "{name: c, kind: jsonl, file: \"-\"}]}\n");
    assert_int_equal(config->sinks_count, 3);
    assert_int_equal(tg__sink_type_of(config->sinks[0].kind)->delivery, TG__SINK_POST);
    assert_true(config->sinks[0].aggregate_denied);
    assert_int_equal(config->sinks[1].kind, TG__SINK_SLACK);
    assert_true(config->sinks[1].aggregate_denied);
    assert_int_equal(tg__sink_type_of(config->sinks[2].kind)->delivery, TG__SINK_LOG);
    assert_false(config->sinks[2].aggregate_denied);
    tg__notify_config_free(config);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_section),   cmocka_unit_test(test_no_section),
        cmocka_unit_test(test_mistakes),       cmocka_unit_test(test_filter_match),
        cmocka_unit_test(test_severity_table), cmocka_unit_test(test_sink_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
