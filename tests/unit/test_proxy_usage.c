/*
 * test_proxy_usage: usage read from complete responses of every route, in the
 * providers' real shapes: OpenAI cached, audio and reasoning details, the
 * Responses API's names, Anthropic's cache reads and writes (outside its
 * input_tokens) with the one-hour part and web searches; missing usage and bad
 * counts are errors, never a free call.
 */
#include <stdio.h>

#include "proxy/scan_load.h"
#include "proxy/usage.h"
#include "proxy/usage_scan.h"
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

/* Gemini: promptTokenCount includes the cached part; tool-use prompt tokens are more
 * input; thoughts are output beside candidatesTokenCount; audio parts by modality. */
static void test_usage_gemini(void **state) {
    (void)state;
    tg__usage u = read_body(
        TG__ROUTE_GEMINI_GENERATE,
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}],\"role\":\"model\"},"
        "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":1000,"
        "\"cachedContentTokenCount\":600,\"candidatesTokenCount\":40,\"thoughtsTokenCount\":300,"
        "\"toolUsePromptTokenCount\":25,\"totalTokenCount\":1365,\"promptTokensDetails\":["
        "{\"modality\":\"TEXT\",\"tokenCount\":900},{\"modality\":\"AUDIO\",\"tokenCount\":100}],"
        "\"cacheTokensDetails\":[{\"modality\":\"AUDIO\",\"tokenCount\":50}]},"
        "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"abc\"}");
    assert_i64(u.counts[TG__UNIT_INPUT], 1025);
    assert_i64(u.counts[TG__UNIT_CACHE_READ], 600);
    assert_i64(u.counts[TG__UNIT_INPUT_AUDIO], 100);
    assert_i64(u.counts[TG__UNIT_CACHE_AUDIO_READ], 50);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 340);
    assert_i64(u.counts[TG__UNIT_OUTPUT_REASONING], 300);
    assert_i64(u.counts[TG__UNIT_REQUESTS], 1);
    /* "usage" is not Gemini's key: a body without usageMetadata reports nothing. */
    static const char NOT_GEMINI[] = "{\"usage\":{\"prompt_tokens\":5}}";
    static const char BAD_COUNT[] = "{\"usageMetadata\":{\"thoughtsTokenCount\":-1}}";
    tg__usage none;
    assert_status(
        tg__usage_from_body(TG__ROUTE_GEMINI_GENERATE, NOT_GEMINI, strlen(NOT_GEMINI), &none, NULL),
        TG_ERR_NOT_FOUND);
    assert_status(
        tg__usage_from_body(TG__ROUTE_GEMINI_GENERATE, BAD_COUNT, strlen(BAD_COUNT), &none, NULL),
        TG_ERR_INVALID);
    /* Written back for a cut stream's last chunk. */
    json_t *json = tg__usage_to_json(TG__ROUTE_GEMINI_STREAM, &u);
    assert_i64(json_integer_value(json_object_get(json, "promptTokenCount")), 1025);
    assert_i64(json_integer_value(json_object_get(json, "candidatesTokenCount")), 40);
    assert_i64(json_integer_value(json_object_get(json, "thoughtsTokenCount")), 300);
    assert_i64(json_integer_value(json_object_get(json, "totalTokenCount")), 1365);
    json_decref(json);
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

/* Reads a body both ways: the scan (tg__usage_from_body) must give what the whole
 * tree gives, status, message and every count. Returns the status; *out the usage. */
static tg_status read_both(tg__route route, const char *body, size_t size, tg__usage *out) {
    tg__usage fast, tree;
    /* Poisoned, so that a field one reader leaves unset shows; compared bytewise (a
     * poisoned bool is not a value to load). */
    memset(&fast, 0x5A, sizeof fast);
    memset(&tree, 0x5A, sizeof tree);
    tg_error fast_err = {0}, tree_err = {0};
    tg_status fast_status = tg__usage_from_body(route, body, size, &fast, &fast_err);
    tg_status tree_status = tg__usage_from_body_tree(route, body, size, &tree, &tree_err);
    if (fast_status != tree_status || strcmp(fast_err.message, tree_err.message) != 0 ||
        memcmp(fast.counts, tree.counts, sizeof fast.counts) != 0 ||
        memcmp(&fast.estimated, &tree.estimated, sizeof fast.estimated) != 0) {
        print_error("route %d, body %.*s: scan %s (%s), tree %s (%s)\n", (int)route, (int)size,
                    body, tg_status_str(fast_status), fast_err.message, tg_status_str(tree_status),
                    tree_err.message);
        fail();
    }
    /* With the reported cost: the same answer, and the same cost, both ways; the cost is
     * the one the body's top "usage" states (what the proxy read before from the whole
     * tree), -1 when it states none, and untouched on a failure. */
    tg__usage with_cost;
    int64_t fast_cost = -7, tree_cost = -7;
    tg_status cost_status = tg__usage_read_body(route, body, size, &with_cost, &fast_cost, NULL);
    tg_status cost_tree_status =
        tg__usage_read_body_tree(route, body, size, &with_cost, &tree_cost, NULL);
    int64_t expected_cost = -7;
    if (tree_status == TG_OK) {
        json_t *root = json_loadb(body, size, 0, NULL);
        expected_cost = -1;
        if (tg__usage_cost_micros(json_object_get(root, "usage"), &expected_cost) != TG_OK) {
            expected_cost = -1;
        }
        json_decref(root);
    }
    if (cost_status != fast_status || cost_tree_status != tree_status || fast_cost != tree_cost ||
        fast_cost != expected_cost) {
        print_error("route %d, body %.*s: cost scan %lld, tree %lld, expected %lld\n", (int)route,
                    (int)size, body, (long long)fast_cost, (long long)tree_cost,
                    (long long)expected_cost);
        fail();
    }
    *out = fast;
    return fast_status;
}

static tg_status read_both_text(tg__route route, const char *body, tg__usage *out) {
    return read_both(route, body, strlen(body), out);
}

/* Bodies made to fool a reader that looks for "usage" in the text: usage inside a
 * string, a tool call's arguments, a nested object; two usage keys; keys and
 * strings with escapes; invalid UTF-8, \u0000, lone surrogates; numbers jansson
 * refuses; deep nesting; trailing bytes. Each read the same as the whole tree. */
static void test_usage_scan_equals_tree(void **state) {
    (void)state;
    static const tg__route ROUTES[] = {TG__ROUTE_OPENAI_CHAT, TG__ROUTE_OPENAI_RESPONSES,
                                       TG__ROUTE_OPENAI_EMBEDDINGS, TG__ROUTE_ANTHROPIC_MESSAGES};
    static const char *const BODIES[] = {
        /* usage inside strings, before and after the real one */
        "{\"choices\":[{\"message\":{\"content\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":999}\"}}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}",
        "{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2},\"note\":\"\\\"usage\\\":"
        "{\\\"prompt_tokens\\\":999}\"}",
        "{\"choices\":[{\"text\":\"usage: {\\\"prompt_tokens\\\": 999}\"}]}",
        "{\"usage\":\"{\\\"prompt_tokens\\\":999}\"}",
        /* in a tool call's arguments, and an Anthropic tool_use input */
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"usage\\\":{\\\"prompt_tokens\\\":"
        "999}}\"}}]}}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}",
        "{\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"usage\":"
        "{\"input_tokens\":999,\"output_tokens\":999}}}],\"usage\":{\"input_tokens\":11,"
        "\"output_tokens\":4}}",
        "{\"content\":[{\"type\":\"tool_use\",\"input\":{\"usage\":{\"input_tokens\":999}}}]}",
        /* two usage keys: jansson keeps the last */
        "{\"usage\":{\"prompt_tokens\":1},\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":9}}",
        "{\"usage\":{\"prompt_tokens\":1},\"x\":[1,2,{\"usage\":3}],\"usage\":null}",
        "{\"usage\":{\"prompt_tokens\":1,\"prompt_tokens\":8}}",
        "{\"usage\":{\"input_tokens\":1,\"output_tokens\":2},\"usage\":{\"input_tokens\":3}}",
        /* escaped keys: a top key that decodes to usage, one that only looks close */
        "{\"us\\u0061ge\":{\"prompt_tokens\":6}}",
        "{\"usage\\u0000\":{\"prompt_tokens\":6}}",
        "{\"usage \":{\"prompt_tokens\":6},\"Usage\":{\"prompt_tokens\":6}}",
        "{\"x\":{\"us\\u0061ge\":1},\"usage\":{\"prompt_tokens\":6}}",
        /* Responses: response.usage when there is no top usage, last response wins */
        "{\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":"
        "12,\"output_tokens\":5,\"output_tokens_details\":{\"reasoning_tokens\":2}}}}",
        "{\"response\":{\"usage\":{\"input_tokens\":1}},\"response\":{\"usage\":{\"input_tokens\":"
        "2}}}",
        "{\"usage\":null,\"response\":{\"usage\":{\"input_tokens\":3}}}",
        "{\"response\":{\"us\\u0061ge\":{\"input_tokens\":3}}}",
        "{\"response\":[{\"usage\":{\"input_tokens\":3}}]}",
        "{\"response\":{\"usage\":{\"input_tokens\":3},\"usage\":7}}",
        /* not an object where one is wanted */
        "{\"usage\":[{\"prompt_tokens\":1}]}",
        "{\"usage\":12}",
        "{\"usage\":true}",
        "{}",
        "[]",
        "[{\"usage\":{\"prompt_tokens\":1}}]",
        "null",
        "\"usage\"",
        "",
        "   ",
        /* whitespace, trailing bytes */
        " \t\r\n{ \"usage\" : { \"prompt_tokens\" : 4 } } \n",
        "{\"usage\":{\"prompt_tokens\":4}} x",
        "{\"usage\":{\"prompt_tokens\":4}}{}",
        "{\"usage\":{\"prompt_tokens\":4}",
        "{\"usage\":{\"prompt_tokens\":4}},",
        "{\"usage\":{\"prompt_tokens\":4},}",
        "{\"a\":[1,],\"usage\":{\"prompt_tokens\":4}}",
        /* strings: escapes, UTF-8, surrogates, control bytes */
        "{\"t\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\ud83d\\ude00 \\n\\t\\\"\\\\\\/\","
        "\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\\ud83d\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\\ude00\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\\ud83dx\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\\u0000\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\\u00e9\\u0041\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\\x\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\\u12G4\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\xc3\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\xc0\xaf\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\xed\xa0\x80\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\xf4\x90\x80\x80\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\xe0\x80\x80\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\xff\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"a\tb\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"t\":\"\x7f\",\"usage\":{\"prompt_tokens\":4}}",
        "{\"usage\":{\"prompt_tokens\":4},\"t\":\"unterminated}",
        /* numbers outside the usage, some jansson refuses */
        "{\"n\":[0,-0,1.5,-2.5e-3,1E+2,123456789012345678],\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":99999999999999999999,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":-9223372036854775808,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":9223372036854775807,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":1e400,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":1e-400,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":01,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":1.,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":.5,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":-,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":+1,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":1e,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":NaN,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":tru,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":truex,\"usage\":{\"prompt_tokens\":4}}",
        "{\"n\":[true,false,null],\"usage\":{\"prompt_tokens\":4}}",
        /* a reported cost (OpenRouter's usage.cost): read from the top usage only */
        "{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"cost\":0.000123,"
        "\"cost_details\":{\"upstream_inference_cost\":null}}}",
        "{\"usage\":{\"prompt_tokens\":3,\"cost\":-1}}",
        "{\"usage\":{\"prompt_tokens\":3,\"cost\":\"0.1\"}}",
        "{\"usage\":{\"prompt_tokens\":3,\"cost\":1e3,\"cost\":2.5e-3}}",
        "{\"response\":{\"usage\":{\"input_tokens\":3,\"cost\":1}}}",
        "{\"usage\":{\"input_tokens\":3,\"cost\":1},\"response\":{\"usage\":{\"cost\":2}}}",
        /* bad counts inside the usage: an error either way */
        "{\"usage\":{\"prompt_tokens\":-1}}",
        "{\"usage\":{\"prompt_tokens\":1e3}}",
        "{\"usage\":{\"prompt_tokens\":99999999999999999999}}",
        "{\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":\"3\"}}",
    };
    for (size_t b = 0; b < sizeof BODIES / sizeof BODIES[0]; b++) {
        for (size_t r = 0; r < sizeof ROUTES / sizeof ROUTES[0]; r++) {
            tg__usage u;
            read_both_text(ROUTES[r], BODIES[b], &u);
        }
    }
    /* Deep nesting, in and around the usage; a NUL byte inside and after the body. */
    char deep[4096];
    size_t at = (size_t)snprintf(deep, sizeof deep, "{\"x\":");
    for (int i = 0; i < 1000; i++) {
        deep[at++] = '[';
    }
    for (int i = 0; i < 1000; i++) {
        deep[at++] = ']';
    }
    at += (size_t)snprintf(deep + at, sizeof deep - at, ",\"usage\":{\"prompt_tokens\":4}}");
    tg__usage u;
    for (size_t r = 0; r < sizeof ROUTES / sizeof ROUTES[0]; r++) {
        read_both(ROUTES[r], deep, at, &u);
        static const char WITH_NUL[] = "{\"t\":\"a\0b\",\"usage\":{\"prompt_tokens\":4}}";
        read_both(ROUTES[r], WITH_NUL, sizeof WITH_NUL - 1, &u);
        static const char NUL_AFTER[] = "{\"usage\":{\"prompt_tokens\":4}}\0";
        read_both(ROUTES[r], NUL_AFTER, sizeof NUL_AFTER - 1, &u);
    }
    /* And the answers are the real ones, not merely equal. */
    assert_ok(read_both_text(TG__ROUTE_OPENAI_CHAT, BODIES[0], &u));
    assert_i64(u.counts[TG__UNIT_INPUT], 5);
    assert_ok(read_both_text(TG__ROUTE_OPENAI_CHAT, BODIES[4], &u));
    assert_i64(u.counts[TG__UNIT_INPUT], 7);
    assert_ok(read_both_text(TG__ROUTE_ANTHROPIC_MESSAGES, BODIES[5], &u));
    assert_i64(u.counts[TG__UNIT_INPUT], 11);
    assert_int_equal(read_both_text(TG__ROUTE_OPENAI_CHAT, BODIES[2], &u), TG_ERR_NOT_FOUND);
    assert_int_equal(read_both_text(TG__ROUTE_ANTHROPIC_MESSAGES, BODIES[6], &u), TG_ERR_NOT_FOUND);
    assert_ok(read_both_text(TG__ROUTE_OPENAI_CHAT, BODIES[7], &u));
    assert_i64(u.counts[TG__UNIT_INPUT], 2);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 9);
    assert_int_equal(read_both_text(TG__ROUTE_OPENAI_CHAT, BODIES[8], &u), TG_ERR_NOT_FOUND);
    assert_ok(read_both_text(TG__ROUTE_OPENAI_CHAT, BODIES[11], &u));
    assert_i64(u.counts[TG__UNIT_INPUT], 6);
    assert_ok(read_both_text(TG__ROUTE_OPENAI_RESPONSES, BODIES[15], &u));
    assert_i64(u.counts[TG__UNIT_OUTPUT_REASONING], 2);
    assert_ok(read_both_text(TG__ROUTE_OPENAI_RESPONSES, BODIES[16], &u));
    assert_i64(u.counts[TG__UNIT_INPUT], 2);
    assert_int_equal(read_both_text(TG__ROUTE_OPENAI_RESPONSES, BODIES[17], &u), TG_ERR_NOT_FOUND);
    int64_t cost = -7;
    assert_ok(tg__usage_read_body(TG__ROUTE_OPENAI_CHAT, BODIES[71], strlen(BODIES[71]), &u, &cost,
                                  NULL));
    assert_i64(cost, 123);
    assert_i64(u.counts[TG__UNIT_INPUT], 3);
    assert_ok(tg__usage_read_body(TG__ROUTE_OPENAI_CHAT, BODIES[74], strlen(BODIES[74]), &u, &cost,
                                  NULL));
    assert_i64(cost, 2500); /* the last of two */
    assert_ok(tg__usage_read_body(TG__ROUTE_OPENAI_RESPONSES, BODIES[75], strlen(BODIES[75]), &u,
                                  &cost, NULL));
    assert_i64(cost, -1); /* a nested usage's cost was never read */
    assert_ok(tg__usage_read_body(TG__ROUTE_OPENAI_RESPONSES, BODIES[76], strlen(BODIES[76]), &u,
                                  &cost, NULL));
    assert_i64(cost, 1000000);
    /* The common answers are read by the scan itself, not by falling back. */
    const char *text;
    size_t size;
    assert_true(
        tg__usage_scan(TG__ROUTE_OPENAI_CHAT, BODIES[4], strlen(BODIES[4]), &text, &size, NULL));
    assert_true(tg__usage_scan(TG__ROUTE_OPENAI_RESPONSES, BODIES[15], strlen(BODIES[15]), &text,
                               &size, NULL));
    assert_int_equal(size, strlen("{\"input_tokens\":12,\"output_tokens\":5,"
                                  "\"output_tokens_details\":{\"reasoning_tokens\":2}}"));
    assert_false(
        tg__usage_scan(TG__ROUTE_OPENAI_CHAT, BODIES[11], strlen(BODIES[11]), &text, &size, NULL));
}

/* ---- scan_load: the tree of scanned text, built without jansson's reader ------------- */

typedef struct {
    uint64_t state; /* xorshift64* */
    char *out;      /* text being written */
    size_t used;    /* bytes of out */
    size_t size;    /* room in out */
} gen;

static uint64_t gen_next(gen *g) {
    g->state ^= g->state >> 12;
    g->state ^= g->state << 25;
    g->state ^= g->state >> 27;
    return g->state * UINT64_C(2685821657736338717);
}

static void gen_put(gen *g, const char *text) {
    size_t size = strlen(text);
    assert_true(g->used + size < g->size);
    memcpy(g->out + g->used, text, size + 1);
    g->used += size;
}

static void gen_space(gen *g) {
    static const char *const SPACES[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
    gen_put(g, SPACES[gen_next(g) % 7]);
}

/* A string: plain bytes, every escape JSON has, pairs, raw UTF-8; sometimes longer than
 * the loader's stack buffer, so its heap path is taken too. */
static void gen_string(gen *g) {
    static const char *const PIECES[] = {"a",
                                         "Z",
                                         " ",
                                         "usage",
                                         "\\\"",
                                         "\\\\",
                                         "\\/",
                                         "\\b",
                                         "\\f",
                                         "\\n",
                                         "\\r",
                                         "\\t",
                                         "\\u00e9",
                                         "\\u20AC",
                                         "\\ud83d\\ude00",
                                         "\\uDBFF\\uDFFF",
                                         "\\u0001",
                                         "\\u007f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\x7f",
                                         "0",
                                         ":",
                                         ",",
                                         "{",
                                         "]"};
    size_t count = gen_next(g) % 8 == 0 ? 60 + gen_next(g) % 80 : gen_next(g) % 6;
    gen_put(g, "\"");
    for (size_t i = 0; i < count; i++) {
        gen_put(g, PIECES[gen_next(g) % (sizeof PIECES / sizeof PIECES[0])]);
    }
    gen_put(g, "\"");
}

static void gen_number(gen *g) {
    static const char *const REALS[] = {
        "1.5",     "-0.0",     "2.5e-3", "1E+2", "123.456e7", "0.1",   "-1e-99",
        "9.99e99", "0.000123", "3.0",    "1e0",  "-2E-0",     "5e+07", "0.30000000000000004"};
    char text[32];
    switch (gen_next(g) % 4) {
    case 0:
        gen_put(g, REALS[gen_next(g) % (sizeof REALS / sizeof REALS[0])]);
        return;
    case 1: /* up to 18 characters, the scan's most for an integer */
        snprintf(text, sizeof text, "%lld",
                 (long long)(gen_next(g) % UINT64_C(999999999999999999)));
        break;
    case 2:
        snprintf(text, sizeof text, "-%lld",
                 (long long)(gen_next(g) % UINT64_C(99999999999999999)));
        break;
    default:
        snprintf(text, sizeof text, "%d", (int)(gen_next(g) % 100) - 50);
    }
    gen_put(g, text);
}

static void gen_value(gen *g, int depth) {
    static const char *const KEYS[] = {"\"a\"",    "\"b\"",        "\"a\"", "\"us\\u0061ge\"",
                                       "\"k\\n\"", "\"\xc3\xa9\"", "\"\"",  "\"prompt_tokens\""};
    uint64_t kind = gen_next(g) % (depth >= 4 ? 5 : 7);
    if (kind == 0) {
        gen_string(g);
    } else if (kind == 1) {
        gen_number(g);
    } else if (kind == 2) {
        static const char *const WORDS[] = {"true", "false", "null"};
        gen_put(g, WORDS[gen_next(g) % 3]);
    } else if (kind == 3 || kind == 5) { /* objects: duplicate keys included */
        size_t members = gen_next(g) % 5;
        gen_put(g, "{");
        for (size_t i = 0; i < members; i++) {
            gen_space(g);
            gen_put(g, KEYS[gen_next(g) % (sizeof KEYS / sizeof KEYS[0])]);
            gen_space(g);
            gen_put(g, ":");
            gen_space(g);
            gen_value(g, depth + 1);
            gen_space(g);
            gen_put(g, i + 1 < members ? "," : "");
        }
        gen_put(g, "}");
    } else {
        size_t items = gen_next(g) % 5;
        gen_put(g, "[");
        for (size_t i = 0; i < items; i++) {
            gen_space(g);
            gen_value(g, depth + 1);
            gen_space(g);
            gen_put(g, i + 1 < items ? "," : "");
        }
        gen_put(g, "]");
    }
}

/* The loaded tree and jansson's are the same: json_equal, and the same text written out
 * without sorting (members in the same order, reals the same doubles). */
static void assert_loads_as_jansson(const char *text, size_t size) {
    json_t *fast = tg__scan_load(text, size, 0);
    json_error_t error;
    json_t *reference = json_loadb(text, size, JSON_DECODE_ANY, &error);
    if (reference == NULL) {
        print_error("text %.*s: jansson refuses it: %s\n", (int)size, text, error.text);
        fail();
    }
    if (fast == NULL || !json_equal(fast, reference)) {
        print_error("text %.*s: not loaded as jansson loads it\n", (int)size, text);
        fail();
    }
    char *fast_text = json_dumps(fast, JSON_ENCODE_ANY | JSON_COMPACT);
    char *reference_text = json_dumps(reference, JSON_ENCODE_ANY | JSON_COMPACT);
    assert_non_null(fast_text);
    assert_string_equal(fast_text, reference_text);
    free(fast_text);
    free(reference_text);
    json_decref(fast);
    json_decref(reference);
}

/* The index (usage_view.h) reads every provider's usage shape where it lies, and reads it
 * as the tree of the same text does: the same counts, the same errors, the same cost; it
 * gives up on an escaped string and past its node bound, never answering differently. */
static void test_usage_view_equals_tree(void **state) {
    (void)state;
    static const struct {
        const char *usage;
        bool indexed; /* the index takes it (else the caller builds the tree) */
    } CASES[] = {
        {"{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15,"
         "\"prompt_tokens_details\":{\"cached_tokens\":4,\"audio_tokens\":0},"
         "\"completion_tokens_details\":{\"reasoning_tokens\":2,\"audio_tokens\":1}}",
         true},
        {"{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens\":4,"
         "\"output_tokens_details\":{\"reasoning_tokens\":1},\"total_tokens\":13}",
         true},
        {"{\"input_tokens\":3,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":20,"
         "\"cache_creation\":{\"ephemeral_1h_input_tokens\":20},\"output_tokens\":7,"
         "\"server_tool_use\":{\"web_search_requests\":2}}",
         true},
        {"{\"promptTokenCount\":10,\"candidatesTokenCount\":3,\"thoughtsTokenCount\":7,"
         "\"cachedContentTokenCount\":4,\"toolUsePromptTokenCount\":2,\"promptTokensDetails\":"
         "[{\"modality\":\"TEXT\",\"tokenCount\":4},{\"modality\":\"AUDIO\",\"tokenCount\":6}],"
         "\"candidatesTokensDetails\":[{\"modality\":\"AUDIO\",\"tokenCount\":1}]}",
         true},
        {"{\"prompt_tokens\":1,\"prompt_tokens\":2,\"completion_tokens\":-0,\"cost\":0.000123456}",
         true},
        {"{\"prompt_tokens\":-1,\"completion_tokens\":2}", true},
        {"{\"prompt_tokens\":1.0,\"completion_tokens\":2}", true},
        {"{\"prompt_tokens\":\"1\",\"completion_tokens\":2,\"cost\":\"0.1\"}", true},
        {"{\"prompt_tokens\":null,\"input_tokens\":5,\"output_tokens\":true}", true},
        {"{\"promptTokenCount\":1,\"promptTokensDetails\":[{\"modality\":\"AUDIO\","
         "\"tokenCount\":-3}]}",
         true},
        {"{\"prompt_tokens\":999999999999999999,\"completion_tokens\":1,\"cost\":12}", true},
        {" { \"prompt_tokens\" : 3 , \"completion_tokens\" : [ ] , \"x\" : { } } ", true},
        {"{\"pr\\u006fmpt_tokens\":7,\"completion_tokens\":1}", false},
        {"{\"promptTokenCount\":1,\"promptTokensDetails\":[{\"modality\":\"AUD\\u0049O\","
         "\"tokenCount\":3}]}",
         false},
    };
    static const tg__route ROUTES[] = {TG__ROUTE_OPENAI_CHAT, TG__ROUTE_OPENAI_RESPONSES,
                                       TG__ROUTE_ANTHROPIC_MESSAGES, TG__ROUTE_GEMINI_GENERATE};
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        const char *text = CASES[c].usage;
        tg__usage_text index;
        assert_int_equal(tg__usage_text_index(&index, text, strlen(text)), CASES[c].indexed);
        if (!CASES[c].indexed) {
            continue;
        }
        json_t *tree = json_loads(text, 0, NULL);
        assert_non_null(tree);
        tg__usage_view by_text = tg__usage_view_text(&index);
        tg__usage_view by_tree = tg__usage_view_json(tree);
        for (size_t r = 0; r < sizeof ROUTES / sizeof ROUTES[0]; r++) {
            tg__usage a = {0}, b = {0};
            assert_int_equal(tg__usage_merge_view(ROUTES[r], &by_text, &a),
                             tg__usage_merge_view(ROUTES[r], &by_tree, &b));
            assert_memory_equal(a.counts, b.counts, sizeof a.counts);
        }
        int64_t cost_text = -7, cost_tree = -7;
        assert_int_equal(tg__usage_view_cost_micros(&by_text, &cost_text),
                         tg__usage_view_cost_micros(&by_tree, &cost_tree));
        assert_true(cost_text == cost_tree);
        json_decref(tree);
    }
    /* Past the bound of values: given up, not cut short. */
    char big[8192];
    size_t at = (size_t)snprintf(big, sizeof big, "{\"prompt_tokens\":1,\"pad\":[");
    for (int i = 0; i < TG__USAGE_TEXT_NODES_MAX; i++) {
        at += (size_t)snprintf(big + at, sizeof big - at, "%s%d", i ? "," : "", i);
    }
    at += (size_t)snprintf(big + at, sizeof big - at, "]}");
    tg__usage_text index;
    assert_false(tg__usage_text_index(&index, big, at));
    /* ...and such a body read through the tree: the same answer. */
    char body[8300];
    int body_size = snprintf(body, sizeof body, "{\"usage\":%.*s}", (int)at, big);
    tg__usage fast = {0}, slow = {0};
    assert_int_equal(
        tg__usage_from_body(TG__ROUTE_OPENAI_CHAT, body, (size_t)body_size, &fast, NULL), TG_OK);
    assert_int_equal(
        tg__usage_from_body_tree(TG__ROUTE_OPENAI_CHAT, body, (size_t)body_size, &slow, NULL),
        TG_OK);
    assert_int_equal(fast.counts[TG__UNIT_INPUT], 1);
    assert_memory_equal(fast.counts, slow.counts, sizeof fast.counts);
}

static void test_scan_load_equals_jansson(void **state) {
    (void)state;
    static const char *const TEXTS[] = {
        "{}",
        "[]",
        "{\"a\":[]}",
        "\"\"",
        "0",
        "-0",
        "-0.0",
        "true",
        "null",
        "{\"prompt_tokens\":8,\"completion_tokens\":16,\"total_tokens\":24,\"prompt_tokens_"
        "details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{"
        "\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
        "\"rejected_prediction_tokens\":0},\"cost\":0.000123,\"is_byok\":false,"
        "\"cost_details\":{\"upstream_inference_cost\":null}}",
        "{\"a\":1,\"b\":2,\"a\":3}",       /* the last kept, in the first's place */
        "{\"us\\u0061ge\":1,\"usage\":2}", /* an escaped key is the same key */
        "{\"k\":\"\\ud83d\\ude00 \\u00e9 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}",
        " \t{ \"a\" : [ 1 , 2.5e-3 , -7 ] }\r\n",
        "{\"n\":123456789012345678,\"m\":-12345678901234567,\"r\":9.99e99,\"s\":1e-99}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++) {
        assert_loads_as_jansson(TEXTS[i], strlen(TEXTS[i]));
    }
    /* Not what the scan accepts: refused (NULL), never a tree. */
    static const char *const REFUSED[] = {
        "",         "{",   "[1,]",  "{\"a\":1} x", "-",           "\"abc",       "{\"a\"}",
        "{\"a\":}", "tru", "[1 2]", "\"\\x\"",     "\"\\u0000\"", "\"\\udc00\"", "\"\\ud800\""};
    for (size_t i = 0; i < sizeof REFUSED / sizeof REFUSED[0]; i++) {
        json_t *value = tg__scan_load(REFUSED[i], strlen(REFUSED[i]), 0);
        if (value != NULL) {
            print_error("text %s loaded\n", REFUSED[i]);
            fail();
        }
    }
    assert_null(tg__scan_load(NULL, 0, 0));
    /* Random usage objects, every one of which the scan accepts inside an answer: the
     * tree the proxy reads its counts from is jansson's tree. Seeded: a failure replays. */
    static char text[1 << 16], body[(1 << 16) + 64];
    size_t checked = 0, duplicates = 0;
    for (uint64_t seed = 1; seed <= 3000; seed++) {
        gen g = {seed * UINT64_C(0x9E3779B97F4A7C15), text, 0, sizeof text};
        gen_value(&g, 0);
        int size = snprintf(body, sizeof body, "{\"id\":\"x\",\"usage\":%s}", text);
        const char *usage;
        size_t usage_size;
        bool nested = true;
        if (!tg__usage_scan(TG__ROUTE_OPENAI_CHAT, body, (size_t)size, &usage, &usage_size,
                            &nested)) {
            print_error("seed %llu: the scan refused %s\n", (unsigned long long)seed, body);
            fail();
        }
        assert_false(nested);
        assert_int_equal(usage_size, g.used);
        assert_loads_as_jansson(usage, usage_size);
        tg__usage tree;
        read_both(TG__ROUTE_OPENAI_CHAT, body, (size_t)size, &tree);
        /* The whole body as a request: refused alike when a key comes twice anywhere. */
        assert_true(tg__json_scan_object(body, (size_t)size));
        json_t *fast = tg__scan_load(body, (size_t)size, JSON_REJECT_DUPLICATES);
        json_t *reference = json_loadb(body, (size_t)size, JSON_REJECT_DUPLICATES, NULL);
        assert_true((fast == NULL) == (reference == NULL));
        assert_true(fast == NULL || json_equal(fast, reference));
        duplicates += fast == NULL;
        json_decref(fast);
        json_decref(reference);
        checked++;
    }
    assert_int_equal(checked, 3000);
    assert_true(duplicates > 100 && duplicates < 2900); /* both kinds were tried */
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

/* OpenRouter's usage.cost, a float of USD credits, into micros through its decimal text:
 * exact for every price a call can have, half a micro rounding up, and anything that is not
 * a non-negative amount in range refused rather than read as 0. */
static void test_usage_cost_reported(void **state) {
    (void)state;
    const struct {
        const char *usage;
        tg_status status;
        int64_t micros;
    } cases[] = {
        {"{\"cost\":0.000123}", TG_OK, 123},
        {"{\"cost\":0.0001234999}", TG_OK, 123},
        {"{\"cost\":0.0001235}", TG_OK, 124},
        {"{\"cost\":1.1}", TG_OK, 1100000},
        {"{\"cost\":0.1}", TG_OK, 100000},
        {"{\"cost\":3}", TG_OK, 3000000},
        {"{\"cost\":0}", TG_OK, 0},
        {"{\"cost\":0.0}", TG_OK, 0},
        {"{\"cost\":-0.0}", TG_OK, 0}, /* found by fuzz_usage: read as -3 micros before */
        {"{\"cost\":-0e308}", TG_OK, 0},
        {"{\"cost\":1e-7}", TG_OK, 0},
        {"{\"cost\":2.5e-3}", TG_OK, 2500},
        {"{\"cost\":9000000.5}", TG_OK, INT64_C(9000000500000)},
        {"{\"cost\":-0.01}", TG_ERR_INVALID, 0},
        {"{\"cost\":-1}", TG_ERR_INVALID, 0},
        {"{\"cost\":1e300}", TG_ERR_INVALID, 0},
        {"{\"cost\":99999999999999}", TG_ERR_INVALID, 0},
        {"{\"cost\":\"0.01\"}", TG_ERR_NOT_FOUND, 0},
        {"{\"cost\":null}", TG_ERR_NOT_FOUND, 0},
        {"{\"prompt_tokens\":3}", TG_ERR_NOT_FOUND, 0},
        {"[]", TG_ERR_NOT_FOUND, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *usage = json_loads(cases[i].usage, 0, NULL);
        assert_non_null(usage);
        int64_t micros = -7;
        tg_status status = tg__usage_cost_micros(usage, &micros);
        json_decref(usage);
        if (status != cases[i].status || (status == TG_OK && micros != cases[i].micros) ||
            (status != TG_OK && micros != -7)) {
            print_error("%s: %d %lld\n", cases[i].usage, (int)status, (long long)micros);
            fail();
        }
    }
    int64_t micros = -7;
    assert_status(tg__usage_cost_micros(NULL, &micros), TG_ERR_NOT_FOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_cost_reported),
        cmocka_unit_test(test_usage_openai_chat),
        cmocka_unit_test(test_usage_openai_responses),
        cmocka_unit_test(test_usage_anthropic),
        cmocka_unit_test(test_usage_gemini),
        cmocka_unit_test(test_usage_missing_or_bad),
        cmocka_unit_test(test_usage_scan_equals_tree),
        cmocka_unit_test(test_usage_view_equals_tree),
        cmocka_unit_test(test_scan_load_equals_jansson),
        cmocka_unit_test(test_usage_estimate_and_json),
        cmocka_unit_test(test_usage_estimated_from_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
