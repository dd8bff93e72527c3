/*
 * test_proxy_stream: following real-shaped streams of each provider through the
 * SSE parser: usage as reported (OpenAI's usage chunk, Anthropic's running
 * totals, the Responses API's completed event), the usage chunk hidden from a
 * client that did not ask, output estimated from text when usage is missing
 * (marked estimated), and the clean endings written when a stream is cut,
 * checked by parsing them back.
 */
#include "proxy/stream.h"
#include "proxy_fixture.h"

typedef struct {
    tg__stream *stream;
    int forwarded;
    int hidden;
} follow_ctx;

static tg_status follow(void *context, const tg__sse_event *event) {
    follow_ctx *f = context;
    bool forward = true;
    tg_status status = tg__stream_event(f->stream, event, &forward);
    forward ? f->forwarded++ : f->hidden++;
    return status;
}

static follow_ctx feed(tg__stream *stream, const char *text) {
    tg__sse_parser parser;
    tg__sse_init(&parser, 0, 0);
    follow_ctx f = {.stream = stream};
    /* In pieces of 7 bytes, so events straddle reads. */
    for (size_t at = 0, size = strlen(text); at < size; at += 7) {
        assert_ok(tg__sse_feed(&parser, text + at, size - at < 7 ? size - at : 7, follow, &f, NULL,
                               NULL));
    }
    tg__sse_free(&parser);
    return f;
}

/* Parses written events back: "type|data" lines, and the JSON of the last one. */
typedef struct {
    char log[16384];
    json_t *last;
} parsed;

static tg_status parse_back(void *context, const tg__sse_event *event) {
    parsed *p = context;
    size_t used = strlen(p->log);
    snprintf(p->log + used, sizeof p->log - used, "%s|%s\n", event->type, event->data);
    if (strcmp(event->data, "[DONE]") != 0) {
        json_decref(p->last);
        p->last = json_loads(event->data, 0, NULL);
        assert_non_null(p->last); /* every written event is JSON */
    }
    return TG_OK;
}

static void write_end(tg__stream *stream, const tg__usage *usage, parsed *out) {
    tg__buf buf;
    tg__buf_init(&buf, 1 << 20);
    assert_ok(tg__stream_write_end(stream, usage, NOON_MS, &buf));
    assert_true(stream->finished);
    memset(out, 0, sizeof *out);
    tg__sse_parser parser;
    tg__sse_init(&parser, 0, 0);
    size_t complete = 0;
    assert_ok(tg__sse_feed(&parser, buf.data, buf.size, parse_back, out, &complete, NULL));
    assert_i64(complete, buf.size); /* whole events only */
    tg__sse_free(&parser);
    /* A second call writes nothing. */
    size_t before = buf.size;
    assert_ok(tg__stream_write_end(stream, usage, NOON_MS, &buf));
    assert_i64(buf.size, before);
    tg__buf_free(&buf);
}

static const char *const CHAT_STREAM =
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello "
    "there\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
    "\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]},\"finish_reason\":null}]}\n\n";

static const char *const CHAT_TAIL =
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,"
    "\"completion_tokens\":10,\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
    "data: [DONE]\n\n";

static void test_openai_chat_reported(void **state) {
    (void)state;
    char text[8192];
    snprintf(text, sizeof text, "%s%s", CHAT_STREAM, CHAT_TAIL);
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "gpt-4o", false);
    follow_ctx f = feed(&s, text);
    assert_int_equal(f.hidden, 1); /* the usage chunk: Tollgate asked for it, not the client */
    assert_int_equal(f.forwarded, 5);
    assert_true(s.finished);
    assert_string_equal(s.id, "chatcmpl-9");
    assert_string_equal(s.model, "gpt-4o-2024-08-06");
    tg__usage u;
    tg__stream_usage(&s, 5000, &u);
    assert_false(u.estimated);
    assert_i64(u.counts[TG__UNIT_INPUT], 19);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 10);
    tg__stream_free(&s);
    /* A client that asked sees it. */
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "gpt-4o", true);
    f = feed(&s, text);
    assert_int_equal(f.hidden, 0);
    tg__stream_free(&s);
}

static void test_openai_chat_cut(void **state) {
    (void)state;
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "gpt-4o", true);
    feed(&s, CHAT_STREAM);
    assert_false(s.finished);
    /* No usage yet: "Hello there" (11 bytes) and 7 bytes of arguments, 2 text events. */
    assert_i64(tg__stream_output_tokens(&s), 5);
    tg__usage u;
    tg__stream_usage(&s, 1234, &u);
    assert_true(u.estimated);
    assert_i64(u.counts[TG__UNIT_INPUT], 1234);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 5);
    parsed p;
    write_end(&s, &u, &p);
    assert_contains(p.log, "\"finish_reason\":\"length\"");
    assert_contains(p.log, "\"id\":\"chatcmpl-9\"");
    assert_contains(p.log, "\"usage\":{\"prompt_tokens\":1234,\"completion_tokens\":5");
    assert_contains(p.log, "|[DONE]\n");
    assert_true(strstr(p.log, "\"role\"") == NULL); /* the choice had its role already */
    json_decref(p.last);
    tg__stream_free(&s);
}

static void test_openai_cut_before_anything(void **state) {
    (void)state;
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "gpt-4o-mini", false);
    tg__usage u = {0};
    parsed p;
    write_end(&s, &u, &p);
    /* A role is given, so SDKs that assemble the message find one. */
    assert_contains(p.log, "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}");
    assert_contains(p.log, "\"model\":\"gpt-4o-mini\"");
    assert_contains(p.log, "\"created\":1768478400");
    assert_true(strstr(p.log, "usage") == NULL);
    json_decref(p.last);
    tg__stream_free(&s);
    /* Legacy completions: text chunks. */
    tg__stream_init(&s, TG__ROUTE_OPENAI_COMPLETIONS, "gpt-3.5-turbo-instruct", false);
    feed(&s,
         "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
         "\"choices\":[{\"text\":\"abcd\",\"index\":0,\"logprobs\":null,\"finish_reason\":null},"
         "{\"text\":\"x\",\"index\":1,\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n");
    assert_i64(tg__stream_output_tokens(&s), 2);
    write_end(&s, &u, &p);
    assert_contains(p.log, "\"object\":\"text_completion\"");
    assert_contains(p.log, "\"index\":0");
    assert_true(strstr(p.log, "\"index\":1") == NULL); /* finished already */
    json_decref(p.last);
    tg__stream_free(&s);
}

static const char *const ANTHROPIC_STREAM =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\","
    "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-20250514\",\"stop_reason\":"
    "null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,"
    "\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Hello, world! How are you?\"}}\n\n";

static void test_anthropic_reported_and_cut(void **state) {
    (void)state;
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_ANTHROPIC_MESSAGES, "claude-sonnet-4-0", false);
    feed(&s, ANTHROPIC_STREAM);
    assert_true(s.started);
    assert_i64(s.open_block, 0);
    /* Input as reported at the start; output estimated above the start's 1. */
    tg__usage u;
    tg__stream_usage(&s, 9999, &u);
    assert_i64(u.counts[TG__UNIT_INPUT], 125);
    assert_i64(u.counts[TG__UNIT_CACHE_READ], 100);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 7); /* 26 bytes */
    assert_true(u.estimated);
    parsed p;
    write_end(&s, &u, &p);
    assert_string_equal(p.log,
                        "content_block_stop|{\"type\":\"content_block_stop\",\"index\":0}\n"
                        "message_delta|{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                        "\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n"
                        "message_stop|{\"type\":\"message_stop\"}\n");
    json_decref(p.last);
    tg__stream_free(&s);
    /* The whole stream: message_delta's total is final. */
    char text[8192];
    snprintf(text, sizeof text, "%s%s", ANTHROPIC_STREAM,
             "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
             "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
             "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n"
             "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    tg__stream_init(&s, TG__ROUTE_ANTHROPIC_MESSAGES, "claude-sonnet-4-0", false);
    feed(&s, text);
    assert_true(s.finished);
    tg__stream_usage(&s, 9999, &u);
    assert_false(u.estimated);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 15);
    tg__stream_free(&s);
}

/* message_start without usage, then message_delta with output_tokens alone: the
 * input was never reported, so it is the caller's held figure, not a free zero. A
 * later report that does carry input_tokens (or one before it) counts. */
static void test_anthropic_delta_usage_without_input(void **state) {
    (void)state;
    static const char *const START =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_02\",\"type\":\"message\","
        "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-0\"}}\n\n";
    static const char *const END =
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"output_tokens\":0}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    char text[4096];
    snprintf(text, sizeof text, "%s%s", START, END);
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_ANTHROPIC_MESSAGES, "claude-sonnet-4-0", false);
    feed(&s, text);
    assert_true(s.finished);
    assert_true(s.output_final);
    assert_false(s.input_reported);
    tg__usage u;
    tg__stream_usage(&s, 4321, &u);
    assert_i64(u.counts[TG__UNIT_INPUT], 4321);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 0);
    assert_true(u.estimated);
    tg__stream_free(&s);
    /* input_tokens: null is not a report either. */
    snprintf(text, sizeof text, "%s%s", START,
             "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":"
             "{\"input_tokens\":null,\"output_tokens\":3}}\n\n");
    tg__stream_init(&s, TG__ROUTE_ANTHROPIC_MESSAGES, "claude-sonnet-4-0", false);
    feed(&s, text);
    assert_false(s.input_reported);
    tg__stream_free(&s);
    /* input_tokens in the delta (newer API versions send it there): reported. */
    snprintf(text, sizeof text, "%s%s", START,
             "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":"
             "{\"input_tokens\":12,\"output_tokens\":3}}\n\n");
    tg__stream_init(&s, TG__ROUTE_ANTHROPIC_MESSAGES, "claude-sonnet-4-0", false);
    feed(&s, text);
    assert_true(s.input_reported);
    tg__stream_usage(&s, 4321, &u);
    assert_i64(u.counts[TG__UNIT_INPUT], 12);
    assert_false(u.estimated);
    tg__stream_free(&s);
    /* Reported at the start, a delta with output alone keeps it reported. */
    snprintf(text, sizeof text, "%s%s", ANTHROPIC_STREAM, END);
    tg__stream_init(&s, TG__ROUTE_ANTHROPIC_MESSAGES, "claude-sonnet-4-0", false);
    feed(&s, text);
    assert_true(s.input_reported);
    tg__stream_usage(&s, 4321, &u);
    assert_i64(u.counts[TG__UNIT_INPUT], 125);
    tg__stream_free(&s);
}

static void test_anthropic_cut_before_start(void **state) {
    (void)state;
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_ANTHROPIC_MESSAGES, "claude-haiku-4-5", false);
    tg__usage u = {0};
    u.counts[TG__UNIT_INPUT] = 40;
    parsed p;
    write_end(&s, &u, &p);
    assert_contains(p.log, "message_start|{\"type\":\"message_start\",\"message\":{\"id\":");
    assert_contains(p.log, "\"model\":\"claude-haiku-4-5\"");
    assert_contains(p.log, "\"input_tokens\":40");
    assert_true(strstr(p.log, "content_block_stop") == NULL);
    assert_contains(p.log, "message_stop|");
    json_decref(p.last);
    tg__stream_free(&s);
}

static const char *const RESPONSES_STREAM =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\","
    "\"object\":\"response\",\"created_at\":1741476542,\"status\":\"in_progress\",\"model\":"
    "\"gpt-4.1\",\"output\":[],\"usage\":null}}\n\n"
    "event: response.output_item.added\n"
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,"
    "\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":"
    "\"assistant\",\"content\":[]}}\n\n"
    "event: response.content_part.added\n"
    "data: {\"type\":\"response.content_part.added\",\"sequence_number\":2,\"item_id\":\"msg_1\","
    "\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\","
    "\"annotations\":[]}}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":3,\"item_id\":\"msg_1\","
    "\"output_index\":0,\"content_index\":0,\"delta\":\"Hi \"}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_1\","
    "\"output_index\":0,\"content_index\":0,\"delta\":\"there\"}\n\n";

static void test_responses_cut_and_completed(void **state) {
    (void)state;
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_OPENAI_RESPONSES, "gpt-4.1", false);
    feed(&s, RESPONSES_STREAM);
    assert_i64(s.sequence_number, 4);
    tg__usage u;
    tg__stream_usage(&s, 50, &u);
    assert_true(u.estimated);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 2);
    parsed p;
    write_end(&s, &u, &p);
    assert_contains(p.log, "response.incomplete|{\"type\":\"response.incomplete\","
                           "\"sequence_number\":5,");
    const json_t *response = json_object_get(p.last, "response");
    assert_string_equal(json_string_value(json_object_get(response, "status")), "incomplete");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(response, "incomplete_details"), "reason")),
                        "max_output_tokens");
    const json_t *item = json_array_get(json_object_get(response, "output"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "status")), "incomplete");
    const json_t *part = json_array_get(json_object_get(item, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(part, "text")), "Hi there");
    assert_i64(
        json_integer_value(json_object_get(json_object_get(response, "usage"), "input_tokens")),
        50);
    json_decref(p.last);
    tg__stream_free(&s);
    /* Completed: the usage in response.completed is final. */
    char text[8192];
    snprintf(text, sizeof text, "%s%s", RESPONSES_STREAM,
             "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\""
             ":5,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\","
             "\"model\":\"gpt-4.1\",\"output\":[],\"usage\":{\"input_tokens\":36,"
             "\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":2,"
             "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":38}}}\n\n");
    tg__stream_init(&s, TG__ROUTE_OPENAI_RESPONSES, "gpt-4.1", false);
    feed(&s, text);
    assert_true(s.finished);
    tg__stream_usage(&s, 50, &u);
    assert_false(u.estimated);
    assert_i64(u.counts[TG__UNIT_INPUT], 36);
    tg__stream_free(&s);
    /* Cut before anything: response.created first, then response.incomplete. */
    tg__stream_init(&s, TG__ROUTE_OPENAI_RESPONSES, "gpt-4.1", false);
    write_end(&s, &u, &p);
    assert_contains(p.log, "response.created|");
    assert_contains(p.log, "\"sequence_number\":0");
    assert_contains(p.log, "response.incomplete|");
    json_decref(p.last);
    tg__stream_free(&s);
}

/* Gemini: data-only chunks framed by CRLF, running usageMetadata, no terminal event but the
 * chunk whose candidates all finish; a cut ends each open candidate with MAX_TOKENS. */
static const char *const GEMINI_STREAM =
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello\"}],\"role\":\"model\"},"
    "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":1,"
    "\"thoughtsTokenCount\":40,\"totalTokenCount\":53},\"modelVersion\":\"gemini-2.5-flash\","
    "\"responseId\":\"r-1\"}\r\n\r\n"
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":"
    "{\"city\":\"Paris\"}}}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":"
    "\"gemini-2.5-flash\",\"responseId\":\"r-1\"}\r\n\r\n";

static void test_gemini_reported_and_cut(void **state) {
    (void)state;
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_GEMINI_STREAM, "gemini-2.5-flash", false);
    follow_ctx f = feed(&s, GEMINI_STREAM);
    assert_int_equal(f.forwarded, 2);
    assert_true(s.started);
    assert_false(s.finished);
    assert_string_equal(s.id, "r-1");
    assert_true(s.input_reported);
    assert_i64(s.text_events, 2); /* the text, and the function call as written out */
    tg__usage u;
    tg__stream_usage(&s, 9999, &u);
    assert_i64(u.counts[TG__UNIT_INPUT], 12);
    assert_false(s.output_final); /* the running count (1 + 40 thoughts) is not final */
    assert_i64(u.counts[TG__UNIT_OUTPUT], 41);
    parsed p;
    write_end(&s, &u, &p);
    const json_t *candidate = json_array_get(json_object_get(p.last, "candidates"), 0);
    assert_string_equal(json_string_value(json_object_get(candidate, "finishReason")),
                        "MAX_TOKENS");
    assert_string_equal(json_string_value(json_object_get(p.last, "responseId")), "r-1");
    const json_t *usage = json_object_get(p.last, "usageMetadata");
    assert_i64(json_integer_value(json_object_get(usage, "promptTokenCount")), 12);
    json_decref(p.last);
    tg__stream_free(&s);
    /* The last chunk finishes every candidate and carries the final counts. */
    char text[8192];
    snprintf(text, sizeof text, "%s%s", GEMINI_STREAM,
             "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!\"}],\"role\":"
             "\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{"
             "\"promptTokenCount\":12,\"candidatesTokenCount\":9,\"thoughtsTokenCount\":40,"
             "\"totalTokenCount\":61}}\r\n\r\n");
    tg__stream_init(&s, TG__ROUTE_GEMINI_STREAM, "gemini-2.5-flash", false);
    feed(&s, text);
    assert_true(s.finished);
    tg__stream_usage(&s, 9999, &u);
    assert_false(u.estimated);
    assert_i64(u.counts[TG__UNIT_OUTPUT], 49);
    assert_i64(u.counts[TG__UNIT_OUTPUT_REASONING], 40);
    tg__stream_free(&s);
    /* An error chunk marks the stream failed. */
    tg__stream_init(&s, TG__ROUTE_GEMINI_STREAM, "gemini-2.5-flash", false);
    feed(&s, "data: {\"error\":{\"code\":500,\"message\":\"x\",\"status\":\"INTERNAL\"}}\r\n\r\n");
    assert_true(s.failed);
    tg__stream_free(&s);
}

static void test_stream_errors_and_junk(void **state) {
    (void)state;
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "gpt-4o", false);
    follow_ctx f = feed(&s, "data: not json\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n");
    assert_int_equal(f.forwarded, 2);
    assert_true(s.failed);
    tg__stream_free(&s);
    tg__stream_init(&s, TG__ROUTE_ANTHROPIC_MESSAGES, "c", false);
    feed(&s, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
             "\"message\":\"Overloaded\"}}\n\n");
    assert_true(s.failed);
    tg__stream_free(&s);
    tg__stream_free(NULL);
}

/* Text deltas read in place (stream.c's fast path) count exactly what the full parse
 * counts; every other shape falls back to the full parse. */
#define TEXT_CHUNK(prefix, index, content, suffix)                                                 \
    "data: {" prefix "\"choices\":[{\"index\":" index ",\"delta\":{\"content\":\"" content         \
    "\"},\"logprobs\":null,\"finish_reason\":null}]" suffix "}\n\n"

static void test_openai_text_deltas_in_place(void **state) {
    (void)state;
    tg__stream s;
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "gpt-4o", false);
    follow_ctx f = feed(
        &s,
        "data: {\"id\":\"c-1\",\"model\":\"gpt-4o\",\"created\":7,\"choices\":[{\"index\":0,"
        "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n" /* */
        TEXT_CHUNK("\"id\":\"c-1\",", "0", "Hello", ",\"usage\":null") /* in place: 5 */
        TEXT_CHUNK("\"id\":\"c-1\",", "0", "a\\\"b", "")               /* escaped: full, 3 */
        TEXT_CHUNK("", "0", "\xc3\xa9", "")                            /* UTF-8: 2 */
        TEXT_CHUNK("", "0", "\xff", "")                                /* not UTF-8: 0 */
        TEXT_CHUNK("\"x\":{\"a\":1},", "0", "abc", "")                 /* nested field: 3 */
        "data: {\"w\":{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"zz\"},\"logprobs\":null,"
        "\"finish_reason\":null}]}}\n\n"              /* not at the top level: 0 */
        TEXT_CHUNK("\"id\":\"c-1\",", "3", "hey", "") /* choice 3 opens */
        TEXT_CHUNK("", "0", "k",
                   ",\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":9,\"total_tokens\":13}"));
    assert_int_equal(f.forwarded, 9);
    assert_string_equal(s.id, "c-1");
    assert_i64(s.text_bytes, 5 + 3 + 2 + 3 + 3 + 1);
    assert_i64(s.text_events, 6);
    assert_int_equal(s.choices[0], 1);
    assert_int_equal(s.choices[3], 1);
    assert_int_equal(s.choices[1], 0);
    assert_false(s.failed);
    tg__usage u;
    tg__stream_usage(&s, 100, &u);
    assert_i64(u.counts[TG__UNIT_INPUT], 4); /* the usage object went to the full parse */
    /* An error field beside a text delta: the full parse marks the stream failed. */
    feed(&s, TEXT_CHUNK("\"error\":\"x\",", "0", "q", ""));
    assert_true(s.failed);
    assert_i64(s.text_events, 6);
    tg__stream_free(&s);
}

/* A stream that ends without usage: its output counted exactly with the tokenizer
 * (stream_exact.c), only where the text is the whole output. */
static void test_exact_output(void **state) {
    (void)state;
    char text[8192];
    snprintf(text, sizeof text, "%sdata: [DONE]\n\n", CHAT_STREAM);
    tg__stream s;
    int64_t tokens = 0;
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "gpt-4o", false);
    feed(&s, CHAT_STREAM);
    assert_status(tg__stream_exact_output(&s, &tokens), TG_ERR_NOT_FOUND); /* not ended yet */
    feed(&s, "data: [DONE]\n\n");
    assert_ok(tg__stream_exact_output(&s, &tokens));
    /* "Hello there" and the tool arguments {"a":1}: 7 tokens in o200k_base (checked with
     * @dqbd/tiktoken), plus the framing of one output item. */
    assert_i64(tokens, 7 + TG__STREAM_ITEM_TOKENS);
    tg__stream_free(&s);
    /* A reasoning model: its hidden tokens are not in the text. */
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "o3-mini", false);
    feed(&s, text);
    assert_status(tg__stream_exact_output(&s, &tokens), TG_ERR_NOT_FOUND);
    tg__stream_free(&s);
    /* A second choice interleaved. */
    tg__stream_init(&s, TG__ROUTE_OPENAI_CHAT, "gpt-4o", false);
    feed(&s, "data: {\"id\":\"c\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"x\"},"
             "\"finish_reason\":null}]}\n\ndata: [DONE]\n\n");
    assert_status(tg__stream_exact_output(&s, &tokens), TG_ERR_NOT_FOUND);
    tg__stream_free(&s);
    /* No tokenizer: Anthropic, and a model the encodings do not know. */
    assert_false(tg__stream_exact_model(TG__ROUTE_ANTHROPIC_MESSAGES, "claude-sonnet-4-0"));
    assert_false(tg__stream_exact_model(TG__ROUTE_OPENAI_CHAT, "llama-3-70b"));
    assert_false(tg__stream_exact_model(TG__ROUTE_OPENAI_CHAT, "gpt-5-mini"));
    assert_false(tg__stream_exact_model(TG__ROUTE_OPENAI_CHAT, NULL));
    assert_true(tg__stream_exact_model(TG__ROUTE_OPENAI_RESPONSES, "gpt-4.1-mini"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_text_deltas_in_place),
        cmocka_unit_test(test_openai_chat_reported),
        cmocka_unit_test(test_openai_chat_cut),
        cmocka_unit_test(test_openai_cut_before_anything),
        cmocka_unit_test(test_anthropic_reported_and_cut),
        cmocka_unit_test(test_anthropic_delta_usage_without_input),
        cmocka_unit_test(test_anthropic_cut_before_start),
        cmocka_unit_test(test_responses_cut_and_completed),
        cmocka_unit_test(test_gemini_reported_and_cut),
        cmocka_unit_test(test_stream_errors_and_junk),
        cmocka_unit_test(test_exact_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
