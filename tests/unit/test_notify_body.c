/*
 * test_notify_body: what a message says. The Slack body has a fallback
 * "text", a header, one mrkdwn section per item and a context line, stays
 * inside Slack's limits (50 blocks, 150-character header, 3000-character
 * sections) for a digest of any size, and escapes what agents wrote ('<' would
 * start a link or an @channel mention). The generic body carries every field,
 * null where it does not apply, a summary's range and reasons, and the
 * forecast. Amounts read as people write them.
 */
#include <jansson.h>

#include "notify_fixture.h"

#include "core/buf.h"
#include "notify/sink_types.h"

static const tg__notify_envelope envelope = {"ops", TG__URGENCY_IMMEDIATE, NOON_MS};

static json_t *parse(char *text) {
    assert_non_null(text);
    json_error_t error;
    json_t *value = json_loads(text, 0, &error);
    if (value == NULL) {
        print_error("not JSON (%s): %s\n", error.text, text);
        fail();
    }
    free(text);
    return value;
}

static const char *block_text(json_t *blocks, size_t index) {
    json_t *block = json_array_get(blocks, index);
    json_t *text = json_object_get(block, "text");
    if (text == NULL) { /* context: the first element's text */
        text = json_object_get(json_array_get(json_object_get(block, "elements"), 0), "text");
        return json_string_value(text);
    }
    return json_string_value(json_object_get(text, "text"));
}

static void test_slack_revocation(void **state) {
    (void)state;
    tg__notify_item item;
    tg_event event =
        revoked_make(41, "team/support-agent", TG_CLASS_NORMAL, UNITS(482), UNITS(500));
    event.threshold_micros = UNITS(480);
    tg__item_from_event(&item, &event, tg__severity_of(&event));
    tg__item_add_tool(&item, "answer_ticket");
    size_t size = 0;
    json_t *body = parse(tg__body_slack(&envelope, &item, 1, &size));
    const char *text = json_string_value(json_object_get(body, "text"));
    assert_contains(text, "[warning] normal work revoked on team/support-agent at its ceiling of "
                          "480.00; spent 482.00 of 500.00; 3 open holds told to cancel; tools "
                          "affected: answer_ticket");
    json_t *blocks = json_object_get(body, "blocks");
    assert_i64(json_array_size(blocks), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 0), "type")),
                        "header");
    assert_string_equal(block_text(blocks, 0),
                        ":large_orange_circle: Tollgate: revoked on team/support-agent");
    assert_contains(block_text(blocks, 1), "*warning* normal work revoked");
    assert_contains(block_text(blocks, 1), "_event 41 · 2026-01-15 12:00:00 UTC_");
    assert_contains(block_text(blocks, 2), "Tollgate · sink ops · immediate");
    json_decref(body);
}

static void test_slack_escapes_agent_text(void **state) {
    (void)state;
    tg__notify_item item;
    tg_event event = denied_make(7, "team/a", TG_CLASS_LOW, TG_REASON_REVOKED, UNITS(1),
                                 "<!channel> & <https://evil|click>");
    tg__item_from_event(&item, &event, TG__SEVERITY_INFO);
    size_t size = 0;
    char *text = tg__body_slack(&envelope, &item, 1, &size);
    assert_lacks(text, "<!channel>");
    assert_contains(text, "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;");
    free(text);
}

static void test_slack_digest_stays_in_limits(void **state) {
    (void)state;
    enum { ITEMS = 60 };
    static tg__notify_item items[ITEMS];
    for (int i = 0; i < ITEMS; i++) {
        tg_event event = denied_make((uint64_t)(100 + i), "team/coding-agent", TG_CLASS_NORMAL,
                                     TG_REASON_REVOKED, UNITS(23), "code_completion");
        memset(event.tool, 'x', sizeof event.tool - 1); /* the longest tool name there is */
        tg__item_from_event(&items[i], &event, TG__SEVERITY_INFO);
    }
    tg__notify_envelope digest = {"ops", TG__URGENCY_DIGEST, NOON_MS};
    size_t size = 0;
    json_t *body = parse(tg__body_slack(&digest, items, ITEMS, &size));
    json_t *blocks = json_object_get(body, "blocks");
    assert_true(json_array_size(blocks) <= 50);
    assert_i64(json_array_size(blocks), 22); /* header, 20 sections, context */
    assert_true(strlen(block_text(blocks, 0)) <= 150);
    assert_string_equal(block_text(blocks, 0),
                        ":large_blue_circle: Tollgate: 60 notifications on team/coding-agent");
    for (size_t i = 1; i + 1 < json_array_size(blocks); i++) {
        assert_true(strlen(block_text(blocks, i)) <= 3000);
    }
    assert_contains(block_text(blocks, 21), "digest · and 40 more (to event 159)");
    json_decref(body);
}

static void test_json_refusal_summary(void **state) {
    (void)state;
    tg__notify_item item;
    tg_event first = denied_make(10, "team/support-agent", TG_CLASS_NORMAL, TG_REASON_REVOKED,
                                 UNITS(12) + 500000, "answer_ticket");
    tg__item_from_event(&item, &first, TG__SEVERITY_INFO);
    for (uint64_t id = 11; id < 1010; id++) {
        tg_event next = denied_make(id, "team/support-agent", id % 2 ? TG_CLASS_HIGH : TG_CLASS_LOW,
                                    id % 10 ? TG_REASON_REVOKED : TG_REASON_CEILING, UNITS(1),
                                    id % 3 ? "answer_ticket" : "search_kb");
        tg__item_add_denied(&item, &next, tg__severity_of(&next));
    }
    size_t size = 0;
    json_t *body = parse(tg__body_json(&envelope, &item, 1, &size));
    assert_string_equal(json_string_value(json_object_get(body, "type")), "tollgate.notification");
    assert_string_equal(json_string_value(json_object_get(body, "budget")), "team/support-agent");
    json_t *e = json_array_get(json_object_get(body, "events"), 0);
    assert_i64(json_integer_value(json_object_get(e, "id")), 10);
    assert_i64(json_integer_value(json_object_get(e, "last_id")), 1009);
    assert_i64(json_integer_value(json_object_get(e, "count")), 1000);
    assert_string_equal(json_string_value(json_object_get(e, "severity")), "warning"); /* high */
    assert_i64(json_integer_value(json_object_get(e, "amount_sum_micros")), UNITS(1011) + 500000);
    json_t *reasons = json_object_get(e, "reasons");
    assert_i64(json_integer_value(json_object_get(reasons, "ceiling")), 99);
    assert_i64(json_integer_value(json_object_get(reasons, "revoked")), 901);
    assert_i64(json_array_size(json_object_get(e, "tools")), 2);
    assert_contains(json_string_value(json_object_get(e, "summary")),
                    "1000 refusals on team/support-agent (99 ceiling, 901 revoked), 1011.50 "
                    "asked in all; tools: answer_ticket, search_kb");
    assert_true(json_is_null(json_object_get(e, "held_micros")));
    json_decref(body);
}

static void test_json_forecast_and_fields(void **state) {
    (void)state;
    tg__notify_item item;
    tg_event event = event_make(3, TG_EVENT_THRESHOLD_CROSSED, "team/coding-agent");
    event.spent_micros = UNITS(500);
    event.limit_micros = UNITS(1000);
    event.threshold_micros = UNITS(500);
    event.count = 500000;
    tg__item_from_event(&item, &event, tg__severity_of(&event));
    /* $150 in the last hour, $450 to go to the $950 threshold: three hours. */
    assert_true(tg__forecast_compute(3600000, UNITS(150), UNITS(500), UNITS(1000), UNITS(950),
                                     &item.forecast));
    item.has_forecast = true;
    size_t size = 0;
    char *line = tg__body_jsonl(&envelope, &item, &size);
    assert_int_equal(line[size - 1], '\n');
    json_t *e = parse(line);
    assert_i64(json_integer_value(json_object_get(e, "alert_ppm")), 500000);
    json_t *forecast = json_object_get(e, "forecast");
    assert_i64(json_integer_value(json_object_get(forecast, "eta_ms")), 3 * 3600000);
    assert_string_equal(json_string_value(json_object_get(forecast, "target")), "threshold");
    assert_string_equal(json_string_value(json_object_get(e, "summary")),
                        "team/coding-agent passed its 50% alert; spent 500.00 of 1000.00; at the "
                        "last hour's rate, this budget reaches its revocation threshold in 3 "
                        "hours 0 minutes");
    json_decref(e);
}

static void test_forecast_rules(void **state) {
    (void)state;
    tg__forecast f;
    char text[160];
    /* No limit: nothing to forecast. */
    assert_false(tg__forecast_compute(3600000, UNITS(1), UNITS(1), TG_NONE, TG_NONE, &f));
    /* 40 minutes: $30 left to the $480 threshold at $45 an hour. */
    assert_true(tg__forecast_compute(3600000, UNITS(45), UNITS(450), UNITS(500), UNITS(480), &f));
    assert_i64(f.eta_ms, 40 * 60000);
    assert_string_equal(tg__forecast_text(&f, text, sizeof text),
                        "at the last hour's rate, this budget reaches its revocation threshold in "
                        "40 minutes");
    /* Past the threshold: the hard limit is next. */
    assert_true(tg__forecast_compute(3600000, UNITS(10), UNITS(490), UNITS(500), UNITS(480), &f));
    assert_true(f.target_is_limit);
    assert_i64(f.eta_ms, 3600000);
    /* Nothing burned: no time. */
    assert_true(tg__forecast_compute(3600000, 0, UNITS(10), UNITS(500), UNITS(480), &f));
    assert_i64(f.eta_ms, TG_NONE);
    assert_contains(tg__forecast_text(&f, text, sizeof text), "does not reach");
    /* Huge amounts do not overflow. */
    assert_true(tg__forecast_compute(60000, 1, 0, TG_LIMIT_MAX, TG_NONE, &f));
    assert_i64(f.eta_ms, TG_NONE);
}

/* An overrun says what was charged; a capped one says the claim was not charged in full. */
static void test_overrun_sentences(void **state) {
    (void)state;
    tg_event event = event_make(7, TG_EVENT_OVERRUN, "team/a");
    event.amount_micros = UNITS(15);
    event.held_micros = UNITS(1);
    event.spent_micros = UNITS(15);
    event.limit_micros = UNITS(10);
    snprintf(event.tool, sizeof event.tool, "search");
    tg__notify_item item;
    tg__item_from_event(&item, &event, tg__severity_of(&event));
    char text[512];
    tg__item_sentence(&item, text, sizeof text);
    assert_contains(text, "overrun on team/a: charged 15.00 against a hold of 1.00 by search");
    assert_i64(tg__severity_of(&event), TG__SEVERITY_CRITICAL); /* spend above the limit */
    event.spent_micros = UNITS(1);
    snprintf(event.detail, sizeof event.detail, "capped");
    tg__item_from_event(&item, &event, tg__severity_of(&event));
    tg__item_sentence(&item, text, sizeof text);
    assert_contains(text, "overrun on team/a: 15.00 claimed against a hold of 1.00 by search; "
                          "only the hold was charged (above_hold: cap); spent 1.00 of 10.00");
}

/* An approval request is a warning whose Slack message carries the commands to decide it,
 * with its id; the JSON body names the id. */
static void test_approval_request_names_the_commands(void **state) {
    (void)state;
    tg_event event = event_make(9, TG_EVENT_APPROVAL_REQUESTED, "team/a");
    event.cls = TG_CLASS_NORMAL;
    event.amount_micros = 600000;
    event.count = 12;
    snprintf(event.tool, sizeof event.tool, "search");
    snprintf(event.detail, sizeof event.detail, "pending");
    tg__notify_item item;
    tg__item_from_event(&item, &event, tg__severity_of(&event));
    assert_i64(tg__severity_of(&event), TG__SEVERITY_WARNING);
    size_t size = 0;
    json_t *body = parse(tg__body_slack(&envelope, &item, 1, &size));
    const char *text = json_string_value(json_object_get(body, "text"));
    assert_contains(text, "approval 12 requested on team/a: 0.60 of normal work by search");
    assert_contains(text, "`tollgate approve 12`");
    assert_contains(text, "POST /v1/approvals/12/approve");
    assert_contains(text, "`tollgate deny 12`");
    json_decref(body);
    json_t *generic = parse(tg__body_json(&envelope, &item, 1, &size));
    char *dumped = json_dumps(generic, JSON_COMPACT);
    assert_contains(dumped, "\"approval_id\":12");
    free(dumped);
    json_decref(generic);
    event.kind = TG_EVENT_APPROVAL_DECIDED;
    snprintf(event.detail, sizeof event.detail, "denied");
    tg__item_from_event(&item, &event, tg__severity_of(&event));
    char sentence[512];
    tg__item_sentence(&item, sentence, sizeof sentence);
    assert_string_equal(sentence, "approval 12 on team/a: denied");
}

static void test_money_text(void **state) {
    (void)state;
    char text[40];
    assert_string_equal(tg__money_text(UNITS(482), text, sizeof text), "482.00");
    assert_string_equal(tg__money_text(2500, text, sizeof text), "0.0025");
    assert_string_equal(tg__money_text(UNITS(12) + 500000, text, sizeof text), "12.50");
    assert_string_equal(tg__money_text(1, text, sizeof text), "0.000001");
}

/* An item as large as its fields allow, each character escaped to two in JSON. */
static void big_item_make(tg__notify_item *item, uint64_t id) {
    char budget[TG_PATH_SIZE_MAX], tool[TG_NAME_SIZE_MAX];
    memset(budget, '"', sizeof budget - 1);
    budget[sizeof budget - 1] = '\0';
    memset(tool, '"', sizeof tool - 1);
    tool[sizeof tool - 1] = '\0';
    tg_event event = denied_make(id, budget, TG_CLASS_LOW, TG_REASON_CEILING, UNITS(1), tool);
    snprintf(event.detail, sizeof event.detail, "%s", tool);
    tg__item_from_event(item, &event, tg__severity_of(&event));
    for (int t = 0; t < TG__NOTIFY_TOOLS_MAX; t++) {
        tool[0] = (char)('a' + t); /* distinct names: the list keeps each once */
        tg__item_add_tool(item, tool);
    }
}

/* A JSON line's length, its newline included. */
static size_t line_size(const tg__notify_item *item) {
    size_t size = 0;
    char *line = tg__body_jsonl(&envelope, item, &size);
    assert_non_null(line);
    assert_int_equal(line[size - 1], '\n');
    assert_true(size <= TG__NOTIFY_LINE_SIZE_MAX);
    free(line);
    return size;
}

/* A body stops at TG__NOTIFY_BODY_SIZE_MAX: one just under it is whole JSON, one past it
 * is refused (NULL), never cut. */
static void test_json_body_limit(void **state) {
    (void)state;
    tg__notify_item one;
    big_item_make(&one, 1);
    size_t item_size = line_size(&one);
    assert_true(item_size > 2000);
    size_t past = TG__NOTIFY_BODY_SIZE_MAX / item_size + 2;
    size_t under = (TG__NOTIFY_BODY_SIZE_MAX - 4096) / item_size;
    tg__notify_item *items = calloc(past, sizeof *items);
    assert_non_null(items);
    for (size_t i = 0; i < past; i++) {
        big_item_make(&items[i], i + 1);
    }
    size_t size = 0;
    assert_null(tg__body_json(&envelope, items, past, &size));
    char *text = tg__body_json(&envelope, items, under, &size);
    assert_non_null(text);
    assert_true(size <= TG__NOTIFY_BODY_SIZE_MAX && size > TG__NOTIFY_BODY_SIZE_MAX / 2);
    assert_int_equal(strlen(text), size);
    json_t *body = parse(text);
    assert_i64(json_array_size(json_object_get(body, "events")), under);
    json_decref(body);
    free(items);
}

/* A log batch leaves in pieces of whole lines, none past TG__NOTIFY_LOG_PIECE_SIZE_MAX, that
 * together are every line once, in order; a line too long for an empty piece is an error. */
static void test_log_lines_in_pieces(void **state) {
    (void)state;
    const tg__sink_type *jsonl = tg__sink_type_find("jsonl");
    assert_non_null(jsonl);
    tg__notify_item one;
    big_item_make(&one, 1);
    size_t count = 2 * TG__NOTIFY_LOG_PIECE_SIZE_MAX / line_size(&one) + 3;
    tg__notify_item *items = calloc(count, sizeof *items);
    assert_non_null(items);
    tg__buf expected, written, piece;
    tg__buf_init(&expected, SIZE_MAX / 2);
    tg__buf_init(&written, SIZE_MAX / 2);
    for (size_t i = 0; i < count; i++) {
        big_item_make(&items[i], i + 1);
        size_t size = 0;
        char *line = tg__body_jsonl(&envelope, &items[i], &size);
        assert_ok(tg__buf_append(&expected, line, size));
        free(line);
    }
    tg__buf_init(&piece, TG__NOTIFY_LOG_PIECE_SIZE_MAX);
    int pieces = 0;
    for (size_t next = 0; next < count; pieces++) {
        tg_status status = TG_ERR_INVALID;
        size_t from = next;
        next = tg__sink_lines_fill(jsonl, &envelope, items, from, count, &piece, &status);
        assert_ok(status);
        assert_true(next > from);
        assert_true(piece.size > 0 && piece.size <= TG__NOTIFY_LOG_PIECE_SIZE_MAX);
        assert_int_equal(piece.data[piece.size - 1], '\n');
        assert_ok(tg__buf_append(&written, piece.data, piece.size));
        tg__buf_reset(&piece);
    }
    assert_true(pieces >= 3);
    assert_int_equal(written.size, expected.size);
    assert_memory_equal(written.data, expected.data, expected.size);
    tg__buf_free(&piece);
    /* A piece smaller than one line: refused at the first item, nothing appended. */
    tg__buf_init(&piece, 100);
    tg_status status = TG_OK;
    assert_int_equal(tg__sink_lines_fill(jsonl, &envelope, items, 2, count, &piece, &status), 2);
    assert_int_equal(status, TG_ERR_FULL);
    assert_int_equal(piece.size, 0);
    tg__buf_free(&piece);
    tg__buf_free(&expected);
    tg__buf_free(&written);
    free(items);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack_revocation),
        cmocka_unit_test(test_slack_escapes_agent_text),
        cmocka_unit_test(test_slack_digest_stays_in_limits),
        cmocka_unit_test(test_json_refusal_summary),
        cmocka_unit_test(test_json_forecast_and_fields),
        cmocka_unit_test(test_forecast_rules),
        cmocka_unit_test(test_overrun_sentences),
        cmocka_unit_test(test_approval_request_names_the_commands),
        cmocka_unit_test(test_money_text),
        cmocka_unit_test(test_json_body_limit),
        cmocka_unit_test(test_log_lines_in_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
