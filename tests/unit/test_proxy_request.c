/*
 * test_proxy_request: reading requests of every route (model, stream, output
 * cap in each field, choices), refusing malformed or ambiguous ones, the output
 * bound and worst case, the prompt estimate, the rewrites (cap, model, stream
 * usage), and the refuse / lower / switch plans.
 */
#include "proxy/estimate.h"
#include "proxy/plan.h"
#include "proxy/provider.h"
#include "proxy/request.h"
#include "tollgate_tokens.h"
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

static tg__model_price price_gpt4o(void) {
    tg__model_price p;
    tg__model_price_init(&p);
    tg__model_price_set(&p, TG__UNIT_INPUT, 2500000);
    tg__model_price_set(&p, TG__UNIT_CACHE_READ, 1250000);
    tg__model_price_set(&p, TG__UNIT_OUTPUT, 10000000);
    p.context_window_tokens = 128000;
    p.max_output_tokens = 16384;
    return p;
}

static void test_request_fields(void **state) {
    (void)state;
    tg__request r = parse(TG__ROUTE_OPENAI_CHAT,
                          "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
                          "\"hi\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                          "\"max_completion_tokens\":500,\"max_tokens\":300,\"n\":3}");
    assert_string_equal(r.info.model, "gpt-4o");
    assert_true(r.info.stream);
    assert_true(r.info.stream_usage);
    assert_i64(r.info.max_output_tokens, 500); /* the larger of the two */
    assert_string_equal(r.info.max_output_field, "max_completion_tokens");
    assert_i64(r.info.choices, 3);
    assert_false(r.changed);
    tg__request_free(&r);
    r = parse(TG__ROUTE_OPENAI_RESPONSES,
              "{\"model\":\"o3\",\"input\":\"hi\",\"max_output_tokens\":null}");
    assert_i64(r.info.max_output_tokens, TG_NONE);
    assert_null(r.info.max_output_field);
    assert_false(r.info.stream);
    tg__request_free(&r);
    r = parse(TG__ROUTE_OPENAI_COMPLETIONS,
              "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"x\",\"max_tokens\":16,\"n\":2,"
              "\"best_of\":5}");
    assert_i64(r.info.choices, 5); /* best_of are all generated and billed */
    assert_i64(r.info.max_output_tokens, 16);
    tg__request_free(&r);
    r = parse(TG__ROUTE_ANTHROPIC_MESSAGES,
              "{\"model\":\"claude-sonnet-4-0\",\"max_tokens\":1024,\"messages\":[]}");
    assert_i64(r.info.max_output_tokens, 1024);
    assert_string_equal(r.info.max_output_field, "max_tokens");
    assert_i64(r.info.choices, 1);
    tg__request_free(&r);
    r = parse(TG__ROUTE_ANTHROPIC_COUNT, "{\"messages\":[]}"); /* not metered: model optional */
    assert_string_equal(r.info.model, "");
    tg__request_free(&r);
    tg__request_free(NULL);
}

static void test_request_refused(void **state) {
    (void)state;
    const struct {
        tg__route route;
        const char *body, *why;
    } bad[] = {
        {TG__ROUTE_OPENAI_CHAT, "", "not valid JSON"},
        {TG__ROUTE_OPENAI_CHAT, "[1]", "JSON object"},
        {TG__ROUTE_OPENAI_CHAT, "{\"messages\":[]}", "model is required"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"\"}", "model must be"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":7}", "model must be"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"a\",\"max_tokens\":-1}", "max_tokens"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"a\",\"max_tokens\":\"100\"}", "max_tokens"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"a\",\"max_tokens\":1.5}", "max_tokens"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"a\",\"n\":129}", "n must"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"a\",\"stream\":\"yes\"}", "stream must"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"a\",\"stream_options\":1}", "stream_options"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"a\",\"max_tokens\":5,\"max_tokens\":99999}",
         "duplicate"},
        {TG__ROUTE_ANTHROPIC_MESSAGES, "{\"model\":\"a\",\"max_tokens\":1e9}", "max_tokens"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg__request r = {.body = NULL};
        tg_error err = {0};
        tg_status status =
            tg__request_parse(bad[i].route, bad[i].body, strlen(bad[i].body), &r, &err);
        if (status != TG_ERR_INVALID || r.body != NULL || strstr(err.message, bad[i].why) == NULL) {
            print_error("case %zu: %s \"%s\", expected about \"%s\"\n", i, tg_status_str(status),
                        err.message, bad[i].why);
            fail();
        }
    }
}

static void test_output_bound_and_worst_case(void **state) {
    (void)state;
    tg__model_price p = price_gpt4o();
    tg__request r = parse(TG__ROUTE_OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"messages\":[]}");
    assert_i64(tg__request_output_bound(&r.info, &p), 16384); /* the model's maximum */
    p.max_output_tokens = 0;
    assert_i64(tg__request_output_bound(&r.info, &p), 128000); /* else its context window */
    p.context_window_tokens = 0;
    assert_i64(tg__request_output_bound(&r.info, &p), -1); /* nothing bounds it */
    int64_t cost = 0;
    tg_error err = {0};
    assert_status(tg__request_worst_case(&r.info, &p, &cost, &err), TG_ERR_RANGE);
    assert_contains(err.message, "max_tokens");
    tg__request_free(&r);
    p = price_gpt4o();
    r = parse(TG__ROUTE_OPENAI_CHAT,
              "{\"model\":\"gpt-4o\",\"messages\":[],\"max_tokens\":100000,\"n\":2}");
    assert_i64(tg__request_output_bound(&r.info, &p), 2 * 16384); /* the smaller, per choice */
    tg__request_free(&r);
    r = parse(TG__ROUTE_OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"messages\":[],\"max_tokens\":100}");
    assert_i64(tg__request_output_bound(&r.info, &p), 100);
    int64_t prompt = r.info.prompt_tokens_estimate;
    assert_ok(tg__request_worst_case(&r.info, &p, &cost, NULL));
    assert_i64(cost, (prompt * 2500000 + 100 * 10000000 + 999999) / 1000000);
    tg__request_free(&r);
    r = parse(TG__ROUTE_OPENAI_EMBEDDINGS, "{\"model\":\"e\",\"input\":[[1,2,3],[4,5]]}");
    assert_i64(tg__request_output_bound(&r.info, &p), 0);
    assert_i64(r.info.prompt_tokens_estimate, 5 + TG__ESTIMATE_FIXED_TOKENS + 2 * 4);
    tg__request_free(&r);
}

static void test_prompt_estimate(void **state) {
    (void)state;
    /* 400 bytes of text: 100 tokens, +10%, + fixed, + 1 message. */
    char body[1024];
    char text[401];
    memset(text, 'a', 400);
    text[400] = '\0';
    snprintf(
        body, sizeof body,
        "{\"model\":\"m\",\"metadata\":{\"ignored\":\"%s\"},\"messages\":[{\"content\":\"%s\"}]}",
        text, text);
    json_t *json = json_loads(body, 0, NULL);
    int64_t tokens = tg__prompt_tokens_estimate(TG__ROUTE_OPENAI_CHAT, "m", json);
    int64_t keys = (int64_t)strlen("content");
    int64_t text_tokens = (400 + keys + 3) / 4;
    assert_i64(tokens, text_tokens + (text_tokens * 10 + 99) / 100 + 16 + 4);
    json_decref(json);
    /* An image counts a fixed amount, not its base64 bytes. */
    json = json_loads("{\"messages\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
                      "\"data:image/png;base64,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}]}]}",
                      0, NULL);
    tokens = tg__prompt_tokens_estimate(TG__ROUTE_OPENAI_CHAT, "m", json);
    assert_i64(tokens, 16 + 4 + TG__ESTIMATE_MEDIA_TOKENS + (7 + 3) / 4 + 1);
    json_decref(json);
    /* A model the tokenizer knows is counted exactly, as tg_tokens_count_request counts. */
    const char *chat = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"Hello there, how are you today?\"}]}";
    json = json_loads(chat, 0, NULL);
    tg_prompt_count count;
    char *dumped = json_dumps(json, JSON_COMPACT);
    assert_ok(tg_tokens_count_request(TG_REQUEST_CHAT_COMPLETIONS, "gpt-4o", dumped, strlen(dumped),
                                      &count, NULL));
    free(dumped);
    tokens = tg__prompt_tokens_estimate(TG__ROUTE_OPENAI_CHAT, "gpt-4o", json);
    assert_i64(tokens, count.prompt_tokens);
    assert_true(tokens < 20); /* the byte estimate would say 16 fixed + 4 + text */
    json_decref(json);
}

static void test_rewrites(void **state) {
    (void)state;
    tg__request r =
        parse(TG__ROUTE_OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"temperature\":0.7,\"messages\":[],"
                                     "\"max_tokens\":900,\"stream\":true}");
    assert_ok(tg__request_set_max_output(&r, 250));
    assert_ok(tg__request_ensure_stream_usage(&r));
    assert_false(r.info.stream_usage); /* the client's own wish is kept */
    assert_ok(tg__request_set_model(&r, "gpt-4o-mini"));
    assert_status(tg__request_set_model(&r, ""), TG_ERR_INVALID);
    assert_true(r.changed);
    char *text;
    size_t size;
    assert_ok(tg__request_serialize(&r, &text, &size));
    assert_i64(size, strlen(text));
    /* Key order kept; max_tokens (the field the client used) lowered in place. */
    assert_string_equal(text, "{\"model\":\"gpt-4o-mini\",\"temperature\":0.69999999999999996,"
                              "\"messages\":[],\"max_tokens\":250,\"stream\":true,"
                              "\"stream_options\":{\"include_usage\":true}}");
    free(text);
    tg__request_free(&r);
    /* A chat request without a cap gets max_completion_tokens; others their field. */
    const struct {
        tg__route route;
        const char *body, *expected;
    } caps[] = {
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"m\"}",
         "{\"model\":\"m\",\"max_completion_tokens\":9}"},
        {TG__ROUTE_OPENAI_CHAT, "{\"model\":\"m\",\"max_completion_tokens\":50,\"max_tokens\":60}",
         "{\"model\":\"m\",\"max_completion_tokens\":9,\"max_tokens\":9}"},
        {TG__ROUTE_OPENAI_RESPONSES, "{\"model\":\"m\"}",
         "{\"model\":\"m\",\"max_output_tokens\":9}"},
        {TG__ROUTE_OPENAI_COMPLETIONS, "{\"model\":\"m\"}", "{\"model\":\"m\",\"max_tokens\":9}"},
        {TG__ROUTE_ANTHROPIC_MESSAGES, "{\"model\":\"m\",\"max_tokens\":4096}",
         "{\"model\":\"m\",\"max_tokens\":9}"},
    };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        r = parse(caps[i].route, caps[i].body);
        assert_ok(tg__request_set_max_output(&r, 9));
        assert_i64(r.info.max_output_tokens, 9);
        assert_ok(tg__request_serialize(&r, &text, &size));
        assert_string_equal(text, caps[i].expected);
        free(text);
        tg__request_free(&r);
    }
    /* Stream usage only where it exists, and kept when the client set it. */
    r = parse(TG__ROUTE_OPENAI_CHAT,
              "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    assert_ok(tg__request_ensure_stream_usage(&r));
    assert_false(r.changed);
    tg__request_free(&r);
    r = parse(TG__ROUTE_ANTHROPIC_MESSAGES, "{\"model\":\"m\",\"stream\":true}");
    assert_ok(tg__request_ensure_stream_usage(&r));
    assert_false(r.changed);
    tg__request_free(&r);
}

static void test_plans(void **state) {
    (void)state;
    tg__model_price p = price_gpt4o();
    tg__model_price mini;
    tg__model_price_init(&mini);
    tg__model_price_set(&mini, TG__UNIT_INPUT, 150000);
    tg__model_price_set(&mini, TG__UNIT_OUTPUT, 600000);
    mini.max_output_tokens = 16384;
    tg__request r =
        parse(TG__ROUTE_OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"messages\":[],\"max_tokens\":1000}");
    int64_t full;
    assert_ok(tg__request_worst_case(&r.info, &p, &full, NULL));
    tg__plan plan;
    tg__plan_options refuse = {.policy = TG__OVER_REFUSE};
    assert_ok(tg__plan_make(&r.info, &p, full, &refuse, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_AS_IS); /* it fits after all */
    assert_string_equal(plan.header, "");
    assert_ok(tg__plan_make(&r.info, &p, full - 1, &refuse, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_REFUSED);
    assert_i64(plan.worst_case_micros, full);
    /* Lower: the largest cap that fits. */
    tg__plan_options lower = {.policy = TG__OVER_LOWER, .min_output_tokens = 50};
    assert_ok(tg__plan_make(&r.info, &p, 5000, &lower, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_LOWERED);
    assert_true(plan.worst_case_micros <= 5000);
    assert_true(plan.max_output_tokens > 400 && plan.max_output_tokens < 500);
    int64_t one_more;
    assert_ok(tg__cost_worst_case(&p, r.info.prompt_tokens_estimate, plan.max_output_tokens + 1,
                                  &one_more));
    assert_true(one_more > 5000);
    assert_contains(plan.header, "lowered max_tokens to ");
    assert_ok(tg__plan_apply(&plan, &r));
    assert_i64(r.info.max_output_tokens, plan.max_output_tokens);
    /* Below the minimum: refused. */
    assert_ok(tg__plan_make(&r.info, &p, 200, &lower, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_REFUSED);
    tg__request_free(&r);
    /* Switch: the cheaper model, with its cap when it fits in full. */
    r = parse(TG__ROUTE_OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"messages\":[],\"max_tokens\":1000}");
    const char *mini_name[] = {"gpt-4o-mini"};
    tg__plan_options sw = {.policy = TG__OVER_SWITCH,
                           .switch_models = mini_name,
                           .switch_prices = &mini,
                           .switch_count = 1};
    assert_ok(tg__plan_make(&r.info, &p, 1000, &sw, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_SWITCHED);
    assert_string_equal(plan.model, "gpt-4o-mini");
    assert_i64(plan.max_output_tokens, TG_NONE);
    assert_string_equal(plan.header, "switched model gpt-4o to gpt-4o-mini");
    assert_ok(tg__plan_apply(&plan, &r));
    assert_string_equal(r.info.model, "gpt-4o-mini");
    assert_i64(r.info.max_output_tokens, 1000);
    /* ... and lowered on the cheaper model too when needed. */
    assert_ok(tg__plan_make(&r.info, &p, 100, &sw, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_SWITCHED);
    assert_true(plan.max_output_tokens > 0 && plan.max_output_tokens < 1000);
    assert_true(plan.worst_case_micros <= 100);
    /* A list: tried in order, a model that runs the call whole before one cut short. */
    tg__model_price dear = p, nano = mini;
    tg__model_price_set(&nano, TG__UNIT_INPUT, 100000);
    tg__model_price_set(&nano, TG__UNIT_OUTPUT, 400000);
    const char *names[] = {"gpt-4o-dear", "gpt-4o-mini", "gpt-4.1-nano"};
    tg__model_price list_prices[] = {dear, mini, nano};
    tg__plan_options list = {.policy = TG__OVER_SWITCH,
                             .min_output_tokens = 16,
                             .switch_models = names,
                             .switch_prices = list_prices,
                             .switch_count = 3};
    r.info.max_output_tokens = 1000;
    int64_t mini_full, nano_full;
    assert_ok(tg__request_worst_case(&r.info, &mini, &mini_full, NULL));
    assert_ok(tg__request_worst_case(&r.info, &nano, &nano_full, NULL));
    assert_true(nano_full < mini_full);
    assert_ok(tg__plan_make(&r.info, &p, mini_full, &list, &plan, NULL));
    assert_string_equal(plan.model, "gpt-4o-mini"); /* the first that fits whole, in order */
    assert_i64(plan.switch_index, 1);
    assert_i64(plan.max_output_tokens, TG_NONE);
    assert_ok(tg__plan_make(&r.info, &p, mini_full - 1, &list, &plan, NULL));
    assert_string_equal(plan.model, "gpt-4.1-nano"); /* whole on nano beats mini cut short */
    assert_i64(plan.worst_case_micros, nano_full);
    assert_ok(tg__plan_make(&r.info, &p, nano_full - 1, &list, &plan, NULL));
    assert_string_equal(plan.model, "gpt-4o-dear"); /* none whole: the first that fits cut */
    assert_true(plan.worst_case_micros <= nano_full - 1);
    assert_true(plan.max_output_tokens >= 16 && plan.max_output_tokens < 1000);
    assert_ok(tg__plan_make(&r.info, &p, 1, &list, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_REFUSED); /* none fits at all */
    assert_i64(plan.switch_index, -1);
    tg__plan_options broken = {.policy = TG__OVER_SWITCH};
    assert_status(tg__plan_make(&r.info, &p, 100, &broken, &plan, NULL), TG_ERR_INVALID);
    tg__request_free(&r);
    /* A request without a cap on a model without limits: lower gives it one. */
    tg__model_price open = price_gpt4o();
    open.max_output_tokens = open.context_window_tokens = 0;
    r = parse(TG__ROUTE_OPENAI_RESPONSES, "{\"model\":\"x\",\"input\":\"hi\"}");
    assert_ok(tg__plan_make(&r.info, &open, 10000, &lower, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_LOWERED);
    assert_contains(plan.header, "max_output_tokens");
    assert_ok(tg__plan_make(&r.info, &open, 10000, &refuse, &plan, NULL));
    assert_int_equal(plan.action, TG__PLAN_REFUSED);
    assert_i64(plan.worst_case_micros, TG_NONE);
    tg__request_free(&r);
}

/* Gemini: the model from the path, the stream from the route, the cap and candidates from
 * generationConfig, and the thinking budget held beyond the cap. */
static void test_gemini_request(void **state) {
    (void)state;
    const char *body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                       "\"generationConfig\":{\"maxOutputTokens\":100,\"candidateCount\":2,"
                       "\"thinkingConfig\":{\"thinkingBudget\":500}}}";
    tg__request r;
    tg_error err = {0};
    assert_ok(tg__request_parse_path(TG__ROUTE_GEMINI_STREAM, "gemini-2.5-flash", body,
                                     strlen(body), &r, &err));
    assert_string_equal(r.info.model, "gemini-2.5-flash");
    assert_true(r.info.stream);
    assert_i64(r.info.max_output_tokens, 100);
    assert_i64(r.info.choices, 2);
    assert_i64(r.info.reasoning_bound_tokens, 500);
    tg__model_price p = price_gpt4o();
    assert_i64(tg__request_output_bound(&r.info, &p), 2 * (100 + 500));
    assert_ok(tg__request_set_max_output(&r, 40));
    assert_i64(json_integer_value(
                   json_object_get(json_object_get(r.body, "generationConfig"), "maxOutputTokens")),
               40);
    tg__request_free(&r);
    /* No thinkingConfig (or a dynamic budget): the largest published budget is held. */
    body = "{\"contents\":\"hi\"}";
    assert_ok(tg__request_parse_path(TG__ROUTE_GEMINI_GENERATE, "gemini-2.5-flash", body,
                                     strlen(body), &r, &err));
    assert_false(r.info.stream);
    assert_i64(r.info.max_output_tokens, TG_NONE);
    assert_i64(r.info.reasoning_bound_tokens, 32768);
    assert_ok(tg__request_set_max_output(&r, 64)); /* adds generationConfig */
    assert_i64(json_integer_value(
                   json_object_get(json_object_get(r.body, "generationConfig"), "maxOutputTokens")),
               64);
    tg__request_free(&r);
    static const char *const BAD[] = {
        "{\"contents\":[],\"generationConfig\":[]}",
        "{\"contents\":[],\"generationConfig\":{\"maxOutputTokens\":-1}}",
        "{\"contents\":[],\"generationConfig\":{\"candidateCount\":9}}",
        "{\"contents\":[],\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":-2}}}",
        "{\"contents\":[],\"generationConfig\":{\"thinkingConfig\":7}}",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        assert_status(tg__request_parse_path(TG__ROUTE_GEMINI_GENERATE, "gemini-2.5-flash", BAD[i],
                                             strlen(BAD[i]), &r, NULL),
                      TG_ERR_INVALID);
    }
    /* Routes: the model segment takes dots; the v1 paths too. */
    tg__route route;
    char model[TG_NAME_SIZE_MAX];
    assert_ok(
        tg__route_find("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", &route));
    assert_int_equal(route, TG__ROUTE_GEMINI_STREAM);
    assert_ok(tg__route_id(route, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", model,
                           sizeof model));
    assert_string_equal(model, "gemini-2.5-flash");
    assert_ok(tg__route_find("POST", "/v1/models/gemini-2.0-flash:countTokens", &route));
    assert_false(tg__route_metered(route));
    assert_status(tg__route_find("POST", "/v1beta/models/:generateContent", &route),
                  TG_ERR_NOT_FOUND);
    assert_status(tg__route_find("POST", "/v1beta/models/a/b:generateContent", &route),
                  TG_ERR_NOT_FOUND);
}

static void test_routes(void **state) {
    (void)state;
    tg__route route;
    assert_ok(tg__route_find("POST", "/v1/chat/completions", &route));
    assert_int_equal(route, TG__ROUTE_OPENAI_CHAT);
    assert_ok(tg__route_find("POST", "/v1/messages/count_tokens", &route));
    assert_ptr_equal(tg__route_provider(route), &tg__provider_anthropic);
    assert_false(tg__route_metered(route));
    assert_ok(tg__route_find("GET", "/v1/models", &route));
    assert_string_equal(tg__route_name(route), "openai.models");
    assert_status(tg__route_find("GET", "/v1/chat/completions", &route), TG_ERR_NOT_FOUND);
    assert_status(tg__route_find("POST", "/v1/images/generations", &route), TG_ERR_NOT_FOUND);
    /* {id} routes: one id segment, nothing more, nothing less. */
    char id[TG__ROUTE_ID_SIZE_MAX];
    assert_ok(tg__route_find("GET", "/v1/responses/resp_abc-1", &route));
    assert_int_equal(route, TG__ROUTE_OPENAI_RESPONSE_GET);
    assert_ok(tg__route_id(route, "/v1/responses/resp_abc-1", id, sizeof id));
    assert_string_equal(id, "resp_abc-1");
    assert_ok(tg__route_find("POST", "/v1/responses/resp_1/cancel", &route));
    assert_int_equal(route, TG__ROUTE_OPENAI_RESPONSE_CANCEL);
    assert_ok(tg__route_id(route, "/v1/responses/resp_1/cancel", id, sizeof id));
    assert_string_equal(id, "resp_1");
    assert_status(tg__route_find("GET", "/v1/responses/", &route), TG_ERR_NOT_FOUND);
    assert_status(tg__route_find("GET", "/v1/responses/a/b", &route), TG_ERR_NOT_FOUND);
    assert_status(tg__route_find("GET", "/v1/responses/a.b", &route), TG_ERR_NOT_FOUND);
    assert_status(tg__route_find("POST", "/v1/responses/a/cancel/x", &route), TG_ERR_NOT_FOUND);
    assert_status(tg__route_find("DELETE", "/v1/responses/a", &route), TG_ERR_NOT_FOUND);
    char long_path[300] = "/v1/responses/";
    memset(long_path + strlen(long_path), 'x', TG__ROUTE_ID_SIZE_MAX);
    assert_status(tg__route_find("GET", long_path, &route), TG_ERR_NOT_FOUND);
    char small[4];
    assert_status(
        tg__route_id(TG__ROUTE_OPENAI_RESPONSE_GET, "/v1/responses/abcd", small, sizeof small),
        TG_ERR_NOT_FOUND);
    assert_status(tg__route_id(TG__ROUTE_OPENAI_CHAT, "/v1/chat/completions", id, sizeof id),
                  TG_ERR_NOT_FOUND);
    assert_true(tg__route_metered(TG__ROUTE_ANTHROPIC_MESSAGES));
}

/* Azure's deployment paths (provider_azure.c): OpenAI's routes by another path, the
 * deployment one segment of [A-Za-z0-9._-]; its table speaks Azure's auth, query and error
 * shape; OpenRouter's asks for usage accounting whatever the client said. */
static void test_azure_and_openrouter(void **state) {
    (void)state;
    tg__route route = TG__ROUTE_ANTHROPIC_MESSAGES;
    char deployment[64];
    assert_ok(tg__azure_route("/openai/deployments/prod-4o.v2_a/chat/completions", &route,
                              deployment, sizeof deployment));
    assert_int_equal(route, TG__ROUTE_OPENAI_CHAT);
    assert_string_equal(deployment, "prod-4o.v2_a");
    assert_ok(
        tg__azure_route("/openai/deployments/e/embeddings", &route, deployment, sizeof deployment));
    assert_int_equal(route, TG__ROUTE_OPENAI_EMBEDDINGS);
    assert_ok(tg__azure_route("/openai/deployments/c/completions", &route, deployment,
                              sizeof deployment));
    assert_int_equal(route, TG__ROUTE_OPENAI_COMPLETIONS);
    const char *BAD[] = {
        "/openai/deployments//chat/completions",
        "/openai/deployments/a/b/chat/completions",
        "/openai/deployments/a/chat/completions/",
        "/openai/deployments/a/audio/speech",
        "/openai/deployments/a%2F/chat/completions",
        "/openai/deployments/a",
        "/v1/chat/completions",
        "/openai/deployments/a/chat/completionsx",
        "",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        if (tg__azure_route(BAD[i], &route, deployment, sizeof deployment) != TG_ERR_NOT_FOUND) {
            print_error("%s matched\n", BAD[i]);
            fail();
        }
    }
    char small[4];
    assert_status(
        tg__azure_route("/openai/deployments/abcd/embeddings", &route, small, sizeof small),
        TG_ERR_NOT_FOUND);
    assert_ok(tg__azure_route("/openai/deployments/abc/embeddings", &route, small, sizeof small));
    assert_status(tg__azure_route(NULL, &route, small, sizeof small), TG_ERR_NOT_FOUND);

    char line[64];
    tg__provider_azure.auth_header("k1", line, sizeof line);
    assert_string_equal(line, "api-key: k1");
    const tg__provider *azure = &tg__provider_azure;
    assert_null(azure->query_error(TG__ROUTE_OPENAI_CHAT, "?api-version=2024-10-21"));
    assert_null(azure->query_error(TG__ROUTE_OPENAI_CHAT, "?x=1&api-version=2024-10-21&y=2"));
    const char *QUERIES[] = {
        NULL, "?", "?api-version=", "?api-version=&x=1", "?xapi-version=1", "?x=api-version=1"};
    for (size_t i = 0; i < sizeof QUERIES / sizeof QUERIES[0]; i++) {
        assert_non_null(azure->query_error(TG__ROUTE_OPENAI_CHAT, QUERIES[i]));
    }
    json_t *error =
        azure->error_body(429, "budget_exceeded", "no", json_pack("{s:s}", "budget", "t"));
    char *text = json_dumps(error, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"error\":{\"budget\":\"t\",\"code\":\"budget_exceeded\","
                              "\"message\":\"no\"}}");
    free(text);
    json_decref(error);

    const char *BODIES[] = {
        "{\"model\":\"openai/gpt-4o\",\"messages\":[]}",
        "{\"model\":\"openai/gpt-4o\",\"messages\":[],\"usage\":{\"include\":false}}",
        "{\"model\":\"openai/gpt-4o\",\"messages\":[],\"usage\":7}",
        "{\"model\":\"openai/gpt-4o\",\"messages\":[],\"usage\":{\"include\":true}}",
    };
    for (size_t i = 0; i < sizeof BODIES / sizeof BODIES[0]; i++) {
        tg__request r;
        assert_ok(tg__request_parse(TG__ROUTE_OPENAI_CHAT, BODIES[i], strlen(BODIES[i]), &r, NULL));
        assert_ok(tg__provider_openrouter.request_prepare(&r));
        assert_true(json_is_true(json_object_get(json_object_get(r.body, "usage"), "include")));
        assert_int_equal(r.changed, i != 3); /* already asked: sent as the client wrote it */
        tg__request_free(&r);
    }
    assert_true(tg__provider_openrouter.reports_cost);
    assert_false(tg__provider_openai.reports_cost);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_azure_and_openrouter),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_output_bound_and_worst_case),
        cmocka_unit_test(test_prompt_estimate),
        cmocka_unit_test(test_rewrites),
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_gemini_request),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
