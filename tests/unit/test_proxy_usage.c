/*
 * test_proxy_usage: usage read from complete responses of every route, in the
 * providers' real shapes: OpenAI cached, audio and reasoning details, the
 * Responses API's names, Anthropic's cache reads and writes (outside its
 * input_tokens) with the one-hour part and web searches; missing usage and bad
 * counts are errors, never a free call.
 */
#include "proxy/usage.h"
#include "proxy_fixture.h"

static tg__usage read_body(tg__route route, const char *body) {
    tg__usage usage;
    memset(&usage, 0xAB, sizeof usage);
    tg_error err = {0};
    if (tg__usage_from_body(route, body, strlen(body), &usage, &err) != TG_OK) {
        print_error("%s\n", err.message);
        fail();
    }
    return usage;
}

static void test_usage_openai_chat(void **state) {
    (void)state;
    tg__usage u = read_body(
        TG__ROUTE_OPENAI_CHAT,
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[],"
        "\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":300,\"total_tokens\":1500,"
        "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":128,\"audio_tokens\":5,"
        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}");
    assert_i64(u.counts[TG__UNIT_INPUT], 1200);
    assert_i64(u.counts[TG__UNIT_CACHE_READ], 1024);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 300);
    assert_i64(u.counts[TG__UNIT_OUTPUT_REASONING], 128);
    assert_i64(u.counts[TG__UNIT_OUTPUT_AUDIO], 5);
    assert_i64(u.counts[TG__UNIT_REQUESTS], 1);
    assert_false(u.estimated);
    /* Embeddings and legacy completions use the same names, without details. */
    u = read_body(
        TG__ROUTE_OPENAI_EMBEDDINGS,
        "{\"object\":\"list\",\"data\":[],\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}");
    assert_i64(u.counts[TG__UNIT_INPUT], 8);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 0);
    assert_i64(u.counts[TG__UNIT_CACHE_READ], 0);
}

static void test_usage_openai_responses(void **state) {
    (void)state;
    tg__usage u = read_body(
        TG__ROUTE_OPENAI_RESPONSES,
        "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":[],"
        "\"usage\":{\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":12},"
        "\"output_tokens\":87,\"output_tokens_details\":{\"reasoning_tokens\":40},"
        "\"total_tokens\":123}}");
    assert_i64(u.counts[TG__UNIT_INPUT], 36);
    assert_i64(u.counts[TG__UNIT_CACHE_READ], 12);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 87);
    assert_i64(u.counts[TG__UNIT_OUTPUT_REASONING], 40);
}

static void test_usage_anthropic(void **state) {
    (void)state;
    tg__usage u = read_body(
        TG__ROUTE_ANTHROPIC_MESSAGES,
        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
        "\"usage\":{\"input_tokens\":50,\"cache_creation_input_tokens\":2000,"
        "\"cache_read_input_tokens\":3000,\"cache_creation\":{\"ephemeral_5m_input_tokens\":1500,"
        "\"ephemeral_1h_input_tokens\":500},\"output_tokens\":503,"
        "\"server_tool_use\":{\"web_search_requests\":2},\"service_tier\":\"standard\"}}");
    assert_i64(u.counts[TG__UNIT_INPUT], 5050);
    assert_i64(u.counts[TG__UNIT_CACHE_READ], 3000);
    assert_i64(u.counts[TG__UNIT_CACHE_WRITE], 2000);
    assert_i64(u.counts[TG__UNIT_CACHE_WRITE_1H], 500);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 503);
    assert_i64(u.counts[TG__UNIT_WEB_SEARCHES], 2);
    /* Merging a later report (message_delta) keeps what it does not mention. */
    json_t *delta = json_loads("{\"output_tokens\":900,\"cache_read_input_tokens\":3100}", 0, NULL);
    assert_ok(tg__usage_merge_json(TG__ROUTE_ANTHROPIC_MESSAGES, delta, &u));
    json_decref(delta);
    assert_i64(u.counts[TG__UNIT_INPUT], 5150);
    assert_i64(u.counts[TG__UNIT_CACHE_READ], 3100);
    assert_i64(u.counts[TG__UNIT_CACHE_WRITE], 2000);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 900);
}

static void test_usage_missing_or_bad(void **state) {
    (void)state;
    const struct {
        tg__route route;
        const char *body;
        tg_status status;
    } cases[] = {
        {TG__ROUTE_OPENAI_CHAT, "{\"choices\":[]}", TG_ERR_NOT_FOUND},
        {TG__ROUTE_OPENAI_CHAT, "{\"usage\":null}", TG_ERR_NOT_FOUND},
        {TG__ROUTE_OPENAI_CHAT, "not json", TG_ERR_INVALID},
        {TG__ROUTE_OPENAI_CHAT, "{\"usage\":{\"prompt_tokens\":-5}}", TG_ERR_INVALID},
        {TG__ROUTE_OPENAI_CHAT, "{\"usage\":{\"prompt_tokens\":1.5}}", TG_ERR_INVALID},
        {TG__ROUTE_OPENAI_CHAT, "{\"usage\":{\"prompt_tokens\":\"12\"}}", TG_ERR_INVALID},
        {TG__ROUTE_ANTHROPIC_MESSAGES, "{\"usage\":{\"input_tokens\":1,\"output_tokens\":1e30}}",
         TG_ERR_INVALID},
        {TG__ROUTE_OPENAI_CHAT, "{\"usage\":{\"prompt_tokens\":2000000000000}}", TG_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg__usage u = {.counts = {42}};
        tg_error err = {0};
        tg_status status =
            tg__usage_from_body(cases[i].route, cases[i].body, strlen(cases[i].body), &u, &err);
        if (status != cases[i].status || u.counts[0] != 42 || err.message[0] == '\0') {
            print_error("case %zu: %s (%s)\n", i, tg_status_str(status), err.message);
            fail();
        }
    }
}

static void test_usage_estimate_and_json(void **state) {
    (void)state;
    assert_i64(tg__usage_output_estimate(0, 0), 0);
    assert_i64(tg__usage_output_estimate(9, 1), 3); /* bytes / 4, rounded up */
    assert_i64(tg__usage_output_estimate(9, 7), 7); /* at least one per event */
    tg__usage u = {0};
    u.counts[TG__UNIT_INPUT] = 100;
    u.counts[TG__UNIT_CACHE_READ] = 30;
    u.counts[TG__UNIT_OUTPUT] = 7;
    json_t *json = tg__usage_to_json(TG__ROUTE_ANTHROPIC_MESSAGES, &u);
    char *text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":30,"
                              "\"input_tokens\":70,\"output_tokens\":7}");
    free(text);
    json_decref(json);
    /* What Tollgate writes reads back as the same usage. */
    const tg__route routes[] = {TG__ROUTE_OPENAI_CHAT, TG__ROUTE_OPENAI_RESPONSES,
                                TG__ROUTE_ANTHROPIC_MESSAGES};
    for (size_t r = 0; r < 3; r++) {
        json = tg__usage_to_json(routes[r], &u);
        tg__usage back = {0};
        assert_ok(tg__usage_merge_json(routes[r], json, &back));
        json_decref(json);
        assert_i64(back.counts[TG__UNIT_INPUT], 100);
        assert_i64(back.counts[TG__UNIT_OUTPUT], 7);
    }
}

static void test_usage_estimated_from_body(void **state) {
    (void)state;
    const char *body = "{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                       "\"assistant\",\"content\":\"Hello there, friend\"}}]}";
    tg__usage u;
    assert_ok(tg__usage_estimate_body(TG__ROUTE_OPENAI_CHAT, body, strlen(body), 77, &u, NULL));
    assert_true(u.estimated);
    assert_i64(u.counts[TG__UNIT_INPUT], 77);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 7); /* "assistant" + 19 bytes of text, 4 a token */
    body = "{\"content\":[{\"type\":\"text\",\"text\":\"abcd\"}]}";
    assert_ok(
        tg__usage_estimate_body(TG__ROUTE_ANTHROPIC_MESSAGES, body, strlen(body), 5, &u, NULL));
    assert_i64(u.counts[TG__UNIT_OUTPUT], 2);
    assert_status(tg__usage_estimate_body(TG__ROUTE_OPENAI_CHAT, "{", 1, 5, &u, NULL),
                  TG_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_openai_chat),
        cmocka_unit_test(test_usage_openai_responses),
        cmocka_unit_test(test_usage_anthropic),
        cmocka_unit_test(test_usage_missing_or_bad),
        cmocka_unit_test(test_usage_estimate_and_json),
        cmocka_unit_test(test_usage_estimated_from_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
