/*
 * test_proxy_bound: the request bound (src/proxy/bound*.c) as pure functions: every
 * wire's parts add up, what no field bounds is refused with a sentence naming it, the
 * options' caps (zero: refuse; huge: saturate), and counts a client controls that
 * would overflow int64 (max_uses, max_tool_calls, n, depth) saturate instead of
 * wrapping into a small hold. Also numbers.c, which every sum goes through.
 */
#include "proxy/bound.h"
#include "proxy/numbers.h"
#include "proxy/request.h"
#include "proxy_fixture.h"

static tg__request parse(tg__route route, const char *body) {
    tg__request r;
    tg_error err = {0};
    if (tg__request_parse(route, body, strlen(body), &r, &err) != TG_OK) {
        print_error("%s\n", err.message);
        fail();
    }
    return r;
}

static tg__model_price price_of(const char *model, int64_t context, int64_t max_output) {
    tg__model_price p;
    tg__model_price_init(&p);
    snprintf(p.model, sizeof p.model, "%s", model);
    tg__model_price_set(&p, TG__UNIT_INPUT, 150000);
    tg__model_price_set(&p, TG__UNIT_OUTPUT, 600000);
    p.context_window_tokens = context;
    p.max_output_tokens = max_output;
    return p;
}

static const tg__bound_options NO_CAPS = {0};

/* Bounds body on route; the status, with the request kept for the caller in *out. */
static tg_status bound(tg__route route, const char *body, const tg__model_price *price,
                       const tg__bound_options *options, tg__request *out, tg_error *err) {
    *out = parse(route, body);
    memset(err, 0, sizeof *err);
    return tg__bound_request(out, price, options, err);
}

static void expect_refused(tg__route route, const char *body, const tg__bound_options *options,
                           const char *named) {
    tg__model_price price = price_of("gpt-4o-mini", 128000, 16384);
    tg__request r;
    tg_error err;
    assert_status(bound(route, body, &price, options, &r, &err), TG_ERR_RANGE);
    if (strstr(err.message, named) == NULL) {
        print_error("'%s' does not name '%s'\n", err.message, named);
        fail();
    }
    tg__request_free(&r);
}

static void test_numbers(void **state) {
    (void)state;
    assert_i64(tg__sat_add(INT64_MAX, 1), INT64_MAX);
    assert_i64(tg__sat_add(INT64_MAX - 1, 1), INT64_MAX);
    assert_i64(tg__sat_add(-5, 3), 3); /* negative inputs count as 0 */
    assert_i64(tg__sat_mul(INT64_MAX, 2), INT64_MAX);
    assert_i64(tg__sat_mul(INT64_C(3037000500), INT64_C(3037000500)), INT64_MAX);
    assert_i64(tg__sat_mul(INT64_C(3037000499), INT64_C(3037000499)), INT64_C(9223372030926249001));
    assert_i64(tg__sat_mul(0, INT64_MAX), 0);
    assert_i64(tg__sat_mul(-1, 5), 0);
    assert_i64(tg__div_up(7, 2), 4);
    assert_i64(tg__div_up(8, 2), 4);
    assert_i64(tg__div_up(0, 3), 0);
    assert_i64(tg__div_up(5, 0), INT64_MAX); /* no divisor: unbounded, never 0 */
    assert_i64(tg__div_up(INT64_MAX, 1), INT64_MAX);
    assert_i64(tg__min64(-1, 1), -1);
    assert_i64(tg__max64(-1, 1), 1);
}

static void test_text_is_bounded_per_byte(void **state) {
    (void)state;
    tg__model_price price = price_of("gpt-4o-mini", 128000, 16384);
    tg__request r;
    tg_error err;
    char body[4096];
    char text[2001];
    memset(text, 'a', 2000);
    text[2000] = '\0';
    snprintf(body, sizeof body,
             "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\","
             "\"content\":\"%s\"}]}",
             text);
    assert_ok(bound(TG__ROUTE_OPENAI_CHAT, body, &price, &NO_CAPS, &r, &err));
    assert_true(r.info.input_bound_tokens >= 2000 + TG__BOUND_FIXED_TOKENS);
    assert_true(r.info.input_bound_tokens < 2000 + 4 * TG__BOUND_FIXED_TOKENS);
    assert_i64(r.info.output_rounds, 1);
    assert_i64(r.info.fee_bound_micros, 0);
    tg__request_free(&r);
    /* The same text on every wire bounds at least every byte. */
    snprintf(body, sizeof body,
             "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"system\":\"%s\","
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             text);
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES, body, &price, &NO_CAPS, &r, &err));
    assert_true(r.info.input_bound_tokens >= 2000);
    tg__request_free(&r);
    snprintf(body, sizeof body,
             "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":10,\"instructions\":\"%s\","
             "\"input\":\"hi\"}",
             text);
    assert_ok(bound(TG__ROUTE_OPENAI_RESPONSES, body, &price, &NO_CAPS, &r, &err));
    assert_true(r.info.input_bound_tokens >= 2000);
    tg__request_free(&r);
    snprintf(body, sizeof body, "{\"model\":\"text-embedding-3-small\",\"input\":\"%s\"}", text);
    assert_ok(bound(TG__ROUTE_OPENAI_EMBEDDINGS, body, &price, &NO_CAPS, &r, &err));
    assert_true(r.info.input_bound_tokens >= 2000);
    tg__request_free(&r);
}

static void test_context_window_caps_one_sampling(void **state) {
    (void)state;
    tg__model_price small = price_of("gpt-4o-mini", 100, 50);
    tg__request r;
    tg_error err;
    assert_ok(bound(TG__ROUTE_OPENAI_CHAT,
                    "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":"
                    "\"user\",\"content\":\"a long enough text to pass one hundred tokens when "
                    "counted one per byte, which this sentence is meant to do.\"}]}",
                    &small, &NO_CAPS, &r, &err));
    assert_i64(r.info.input_bound_tokens, 100);
    tg__request_free(&r);
    /* An unknown context window (0) caps nothing. */
    tg__model_price unknown = price_of("gpt-4o-mini", 0, 0);
    assert_ok(bound(TG__ROUTE_OPENAI_CHAT,
                    "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[]}", &unknown,
                    &NO_CAPS, &r, &err));
    assert_true(r.info.input_bound_tokens >= TG__BOUND_FIXED_TOKENS);
    tg__request_free(&r);
}

static void test_unbounded_parts_refused(void **state) {
    (void)state;
    expect_refused(TG__ROUTE_OPENAI_RESPONSES,
                   "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\",\"tools\":[{\"type\":"
                   "\"web_search\"}]}",
                   &NO_CAPS, "max_tool_calls");
    expect_refused(TG__ROUTE_OPENAI_RESPONSES,
                   "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\",\"max_tool_calls\":1,"
                   "\"tools\":[{\"type\":\"image_generation\"}]}",
                   &NO_CAPS, "image_generation");
    expect_refused(TG__ROUTE_OPENAI_RESPONSES,
                   "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\",\"tools\":[{\"type\":"
                   "\"teleport\"}]}",
                   &NO_CAPS, "teleport");
    expect_refused(TG__ROUTE_OPENAI_RESPONSES,
                   "{\"model\":\"gpt-4o-mini\",\"input\":[{\"role\":\"user\",\"content\":[{"
                   "\"type\":\"input_file\",\"file_id\":\"file-1\"}]}]}",
                   &NO_CAPS, "file_id");
    expect_refused(TG__ROUTE_OPENAI_RESPONSES,
                   "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\",\"previous_response_id\":"
                   "\"resp_x\"}",
                   &NO_CAPS, "previous_response_id");
    expect_refused(TG__ROUTE_OPENAI_RESPONSES,
                   "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\",\"conversation\":{\"id\":"
                   "\"conv_x\"}}",
                   &NO_CAPS, "conversation");
    expect_refused(TG__ROUTE_OPENAI_CHAT,
                   "{\"model\":\"gpt-4o-mini\",\"messages\":[],\"prediction\":{\"type\":"
                   "\"content\",\"content\":\"x\"}}",
                   &NO_CAPS, "prediction");
    expect_refused(TG__ROUTE_ANTHROPIC_MESSAGES,
                   "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"messages\":[],"
                   "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]}",
                   &NO_CAPS, "unbounded");
    expect_refused(TG__ROUTE_ANTHROPIC_MESSAGES,
                   "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"messages\":[],"
                   "\"tools\":[{\"type\":\"code_execution_20250522\",\"name\":\"x\"}]}",
                   &NO_CAPS, "container time");
    /* A PDF whose pages cannot be counted. */
    expect_refused(TG__ROUTE_ANTHROPIC_MESSAGES,
                   "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"messages\":[{\"role\":"
                   "\"user\",\"content\":[{\"type\":\"document\",\"source\":{\"type\":\"base64\","
                   "\"media_type\":\"application/pdf\",\"data\":\"aGVsbG8=\"}}]}]}",
                   &NO_CAPS, "PDF");
}

static void test_nesting_limit(void **state) {
    (void)state;
    char body[1024];
    size_t at = (size_t)snprintf(body, sizeof body,
                                 "{\"model\":\"gpt-4o-mini\",\"max_tokens\":1,\"messages\":[{"
                                 "\"role\":\"user\",\"content\":\"x\",\"deep\":");
    for (int i = 0; i < TG__BOUND_DEPTH_MAX + 2; i++) {
        body[at++] = '[';
    }
    for (int i = 0; i < TG__BOUND_DEPTH_MAX + 2; i++) {
        body[at++] = ']';
    }
    snprintf(body + at, sizeof body - at, "}]}");
    expect_refused(TG__ROUTE_OPENAI_CHAT, body, &NO_CAPS, "deeper");
}

static int64_t recorded(void *user, const char *id) {
    (void)user;
    return strcmp(id, "resp_known") == 0 ? 5000 : -1;
}

static void test_stored_state(void **state) {
    (void)state;
    tg__model_price price = price_of("gpt-4o-mini", 128000, 16384);
    tg__request r;
    tg_error err;
    const char *known = "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":1,\"input\":\"hi\","
                        "\"previous_response_id\":\"resp_known\"}";
    const char *plain = "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":1,\"input\":\"hi\"}";
    tg__bound_options options = {.state_tokens = recorded};
    assert_ok(bound(TG__ROUTE_OPENAI_RESPONSES, plain, &price, &options, &r, &err));
    int64_t base = r.info.input_bound_tokens;
    tg__request_free(&r);
    assert_ok(bound(TG__ROUTE_OPENAI_RESPONSES, known, &price, &options, &r, &err));
    assert_true(r.info.input_bound_tokens >= base + 5000);
    tg__request_free(&r);
    /* An id never recorded: the configured cap, or refused without one. */
    options.stored_state_tokens_max = 7000;
    assert_ok(bound(TG__ROUTE_OPENAI_RESPONSES,
                    "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":1,\"input\":\"hi\","
                    "\"previous_response_id\":\"resp_other\"}",
                    &price, &options, &r, &err));
    assert_true(r.info.input_bound_tokens >= base + 7000);
    tg__request_free(&r);
    /* A huge cap saturates at the context window (one sampling), never wraps. */
    options.stored_state_tokens_max = INT64_MAX;
    assert_ok(bound(TG__ROUTE_OPENAI_RESPONSES,
                    "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":1,\"input\":\"hi\","
                    "\"previous_response_id\":\"resp_other\",\"conversation\":\"conv_1\"}",
                    &price, &options, &r, &err));
    assert_i64(r.info.input_bound_tokens, 128000);
    tg__request_free(&r);
}

static void test_server_tools(void **state) {
    (void)state;
    tg__model_price price = price_of("gpt-4o-mini", 128000, 16384);
    tg__request r;
    tg_error err;
    /* OpenAI: the dearest fee per call times max_tool_calls; results up to the window. */
    assert_ok(bound(TG__ROUTE_OPENAI_RESPONSES,
                    "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":10,\"input\":\"hi\","
                    "\"max_tool_calls\":3,\"tools\":[{\"type\":\"file_search\"},{\"type\":"
                    "\"web_search\"},{\"type\":\"code_interpreter\"}]}",
                    &price, &NO_CAPS, &r, &err));
    assert_i64(r.info.fee_bound_micros,
               3 * TG__BOUND_WEB_SEARCH_OPENAI + TG__BOUND_CODE_INTERPRETER_OPENAI);
    assert_true(r.info.input_bound_tokens >= 3 * 128000);
    assert_i64(r.info.output_rounds, 1);
    tg__request_free(&r);
    /* max_tool_calls 0: no use, no fee beyond the container. */
    assert_ok(bound(TG__ROUTE_OPENAI_RESPONSES,
                    "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":10,\"input\":\"hi\","
                    "\"max_tool_calls\":0,\"tools\":[{\"type\":\"web_search\"}]}",
                    &price, &NO_CAPS, &r, &err));
    assert_i64(r.info.fee_bound_micros, 0);
    tg__request_free(&r);
    /* Anthropic: each use is a sampling of its own. */
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES,
                    "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"messages\":[],"
                    "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\","
                    "\"max_uses\":3}]}",
                    &price, &NO_CAPS, &r, &err));
    assert_i64(r.info.output_rounds, 4);
    assert_i64(r.info.fee_bound_micros, 3 * TG__BOUND_WEB_SEARCH_ANTHROPIC);
    tg__request_free(&r);
    /* No limit in the request: proxy.server_tool_uses_max. */
    tg__bound_options options = {.server_tool_uses_max = 2};
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES,
                    "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"messages\":[],"
                    "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]}",
                    &price, &options, &r, &err));
    assert_i64(r.info.output_rounds, 3);
    assert_i64(r.info.fee_bound_micros, 2 * TG__BOUND_WEB_SEARCH_ANTHROPIC);
    tg__request_free(&r);
    /* Results with no known context window and no configured size: unbounded. */
    tg__model_price unknown = price_of("gpt-4o-mini", 0, 0);
    assert_status(bound(TG__ROUTE_OPENAI_RESPONSES,
                        "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":10,\"input\":\"hi\","
                        "\"max_tool_calls\":1,\"tools\":[{\"type\":\"web_search\"}]}",
                        &unknown, &NO_CAPS, &r, &err),
                  TG_ERR_RANGE);
    assert_non_null(strstr(err.message, "server_tool_result_tokens"));
    tg__request_free(&r);
}

/* Counts a client controls that would overflow int64 saturate: the bound stays "too
 * much", never a small number, and the worst case is refused or at the maximum. */
static void test_overflow_saturates(void **state) {
    (void)state;
    tg__model_price price = price_of("gpt-4o-mini", 128000, 16384);
    tg__request r;
    tg_error err;
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES,
                    "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":100000,\"messages\":[],"
                    "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"a\","
                    "\"max_uses\":9223372036854775807},{\"type\":\"web_search_20250305\","
                    "\"name\":\"b\",\"max_uses\":9223372036854775807}]}",
                    &price, &NO_CAPS, &r, &err));
    assert_i64(r.info.output_rounds, INT64_MAX);
    assert_i64(r.info.fee_bound_micros, TG_AMOUNT_MAX);
    assert_i64(r.info.input_bound_tokens, TG__USAGE_COUNT_MAX);
    int64_t worst = 0;
    tg_status status = tg__request_worst_case(&r.info, &price, &worst, &err);
    assert_true(status == TG_ERR_RANGE || worst >= TG_AMOUNT_MAX);
    tg__request_free(&r);
    assert_ok(bound(TG__ROUTE_OPENAI_RESPONSES,
                    "{\"model\":\"gpt-4o-mini\",\"max_output_tokens\":10,\"input\":\"hi\","
                    "\"max_tool_calls\":9223372036854775807,\"tools\":[{\"type\":"
                    "\"web_search\"}]}",
                    &price, &NO_CAPS, &r, &err));
    assert_i64(r.info.fee_bound_micros, TG_AMOUNT_MAX);
    assert_i64(r.info.input_bound_tokens, TG__USAGE_COUNT_MAX);
    tg__request_free(&r);
    /* A huge configured cap on uses and results. */
    tg__bound_options huge = {.server_tool_uses_max = INT64_MAX,
                              .server_tool_result_tokens = INT64_MAX};
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES,
                    "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"messages\":[],"
                    "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"a\"}]}",
                    &price, &huge, &r, &err));
    assert_i64(r.info.fee_bound_micros, TG_AMOUNT_MAX);
    assert_i64(r.info.input_bound_tokens, TG__USAGE_COUNT_MAX);
    tg__request_free(&r);
}

static void test_images_and_pdf_pages(void **state) {
    (void)state;
    tg__model_price price = price_of("claude-sonnet-4-0", 200000, 64000);
    tg__request r;
    tg_error err;
    /* An image whose size cannot be read: the formula's maximum. */
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES,
                    "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"messages\":[{\"role\":"
                    "\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"url\","
                    "\"url\":\"https://example.com/a.png\"}}]}]}",
                    &price, &NO_CAPS, &r, &err));
    assert_true(r.info.input_bound_tokens >= TG__BOUND_CLAUDE_IMAGE_MAX);
    tg__request_free(&r);
    /* A 2-page PDF at a configured per-page maximum; a huge one saturates. */
    const char *pdf =
        "JVBERi0xLjQKMSAwIG9iaiA8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4gZW5kb2JqCjMg"
        "MCBvYmogPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiA+PiBlbmRvYmoKNCAwIG9iaiA8PCAvVHlw"
        "ZSAvUGFnZSAvUGFyZW50IDIgMCBSID4+IGVuZG9iagoyIDAgb2JqIDw8IC9UeXBlIC9QYWdlcyAvS2lk"
        "cyBbMyAwIFIgNCAwIFJdIC9Db3VudCAyID4+IGVuZG9iagolJUVPRgo=";
    char body[2048];
    snprintf(body, sizeof body,
             "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":10,\"messages\":[{\"role\":"
             "\"user\",\"content\":[{\"type\":\"document\",\"source\":{\"type\":\"base64\","
             "\"media_type\":\"application/pdf\",\"data\":\"%s\"}}]}]}",
             pdf);
    tg__bound_options options = {.pdf_page_tokens = 1000};
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES, body, &price, &options, &r, &err));
    assert_true(r.info.input_bound_tokens >= 2000);
    assert_true(r.info.input_bound_tokens < 2000 + 4 * TG__BOUND_FIXED_TOKENS);
    tg__request_free(&r);
    options.pdf_page_tokens = 0; /* the default */
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES, body, &price, &options, &r, &err));
    assert_true(r.info.input_bound_tokens >= 2 * TG__BOUND_PDF_PAGE_TOKENS);
    tg__request_free(&r);
    options.pdf_page_tokens = INT64_MAX;
    assert_ok(bound(TG__ROUTE_ANTHROPIC_MESSAGES, body, &price, &options, &r, &err));
    assert_i64(r.info.input_bound_tokens, 200000); /* the context window */
    tg__request_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_text_is_bounded_per_byte),
        cmocka_unit_test(test_context_window_caps_one_sampling),
        cmocka_unit_test(test_unbounded_parts_refused),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_stored_state),
        cmocka_unit_test(test_server_tools),
        cmocka_unit_test(test_overflow_saturates),
        cmocka_unit_test(test_images_and_pdf_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
