/*
 * test_mcp_jsonrpc: the gateway's view of MCP's stdio wire format: framing
 * (lines split across reads, whole lines without a copy, the size limit, a
 * '\r' kept for exact relay), classification of messages, id texts, and the
 * messages the gateway writes itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/jsonrpc.h"

typedef struct {
    char lines[8][256]; /* the first 255 bytes of each line */
    size_t sizes[8];
    int count;
    int too_long;
} collected;

static void collect(void *user, const char *line, size_t size, bool too_long) {
    collected *c = user;
    if (too_long) {
        c->too_long++;
        return;
    }
    assert_true(c->count < 8);
    size_t kept = size < 255 ? size : 255;
    memcpy(c->lines[c->count], line, kept);
    c->lines[c->count][kept] = '\0';
    c->sizes[c->count++] = size;
}

static void push(tg__rpc_framer *framer, collected *c, const char *text) {
    assert_int_equal(tg__rpc_framer_push(framer, text, strlen(text), collect, c), TG_OK);
}

static void test_framing_across_reads(void **state) {
    (void)state;
    tg__rpc_framer framer;
    tg__rpc_framer_init(&framer, 1024);
    collected c = {0};
    push(&framer, &c, "{\"a\":1}\n{\"b\"");
    assert_int_equal(c.count, 1);
    assert_string_equal(c.lines[0], "{\"a\":1}");
    push(&framer, &c, ":2}");
    assert_int_equal(c.count, 1);
    push(&framer, &c, "\r\n\n{\"c\":3}\n");
    assert_int_equal(c.count, 4);
    assert_string_equal(c.lines[1], "{\"b\":2}\r"); /* the '\r' is relayed as it came */
    assert_string_equal(c.lines[2], "");            /* an empty line: the caller skips it */
    assert_string_equal(c.lines[3], "{\"c\":3}");
    assert_int_equal(framer.size, 0);
    tg__rpc_framer_free(&framer);
}

static void test_framing_limit(void **state) {
    (void)state;
    tg__rpc_framer framer;
    tg__rpc_framer_init(&framer, 10); /* raised to the minimum */
    assert_int_equal(framer.line_max, TG__RPC_LINE_SIZE_MIN);
    char big[3000];
    memset(big, 'x', sizeof big);
    collected c = {0};
    /* A long line in pieces: reported once, then dropped through its newline. */
    assert_int_equal(tg__rpc_framer_push(&framer, big, 800, collect, &c), TG_OK);
    assert_int_equal(tg__rpc_framer_push(&framer, big, 800, collect, &c), TG_OK);
    assert_int_equal(c.too_long, 1);
    assert_int_equal(tg__rpc_framer_push(&framer, big, 800, collect, &c), TG_OK);
    push(&framer, &c, "tail\n{\"ok\":1}\n");
    assert_int_equal(c.too_long, 1);
    assert_int_equal(c.count, 1);
    assert_string_equal(c.lines[0], "{\"ok\":1}");
    /* A long line that ends in the same read. */
    big[2000] = '\n';
    assert_int_equal(tg__rpc_framer_push(&framer, big, 2001, collect, &c), TG_OK);
    assert_int_equal(c.too_long, 2);
    push(&framer, &c, "{}\n");
    assert_int_equal(c.count, 2);
    /* Exactly line_max is accepted. */
    char exact[TG__RPC_LINE_SIZE_MIN + 1];
    memset(exact, 'y', TG__RPC_LINE_SIZE_MIN);
    exact[TG__RPC_LINE_SIZE_MIN] = '\n';
    c.count = 0;
    assert_int_equal(tg__rpc_framer_push(&framer, exact, 500, collect, &c), TG_OK);
    assert_int_equal(tg__rpc_framer_push(&framer, exact + 500, sizeof exact - 500, collect, &c),
                     TG_OK);
    assert_int_equal(c.too_long, 2);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.sizes[0], TG__RPC_LINE_SIZE_MIN);
    tg__rpc_framer_free(&framer);
}

static tg__rpc_kind kind_of(const char *text) {
    tg__rpc_message m;
    tg__rpc_parse(text, strlen(text), &m);
    tg__rpc_kind kind = m.kind;
    tg__rpc_message_clear(&m);
    return kind;
}

static void test_classification(void **state) {
    (void)state;
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}"),
                     TG__RPC_REQUEST);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}"),
                     TG__RPC_REQUEST);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"),
                     TG__RPC_NOTIFICATION);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"), TG__RPC_RESPONSE);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":1}}"),
                     TG__RPC_RESPONSE);
    assert_int_equal(kind_of("[{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]"), TG__RPC_BATCH);
    /* not messages */
    assert_int_equal(kind_of("{\"id\":1,\"result\":{},\"error\":{}}"), TG__RPC_INVALID);
    assert_int_equal(kind_of("{\"id\":null,\"method\":\"x\"}"), TG__RPC_INVALID);
    assert_int_equal(kind_of("{\"id\":1.5,\"method\":\"x\"}"), TG__RPC_INVALID);
    assert_int_equal(kind_of("{\"method\":7}"), TG__RPC_INVALID);
    assert_int_equal(kind_of("{\"method\":\"tools/call\\u0000x\",\"id\":1}"), TG__RPC_INVALID);
    assert_int_equal(kind_of("\"text\""), TG__RPC_INVALID);
    assert_int_equal(kind_of("{\"a\":1} trailing"), TG__RPC_INVALID);
    assert_int_equal(kind_of("not json"), TG__RPC_INVALID);
    /* duplicate keys could make the gateway and the server read different methods */
    assert_int_equal(kind_of("{\"id\":1,\"method\":\"ping\",\"method\":\"tools/call\"}"),
                     TG__RPC_INVALID);
}

static void test_ids(void **state) {
    (void)state;
    tg__rpc_message m;
    const char *text = "{\"id\":\"x\\\"y\",\"method\":\"m\",\"params\":{\"a\":1}}";
    tg__rpc_parse(text, strlen(text), &m);
    assert_int_equal(m.kind, TG__RPC_REQUEST);
    assert_string_equal(m.method, "m");
    assert_string_equal(m.id_text, "\"x\\\"y\"");
    assert_non_null(m.params);
    tg__rpc_message_clear(&m);
    /* 1 and "1" are different ids */
    char one[TG__RPC_ID_TEXT_SIZE], quoted[TG__RPC_ID_TEXT_SIZE];
    json_t *n = json_integer(1), *s = json_string("1");
    assert_true(tg__rpc_id_text(n, one));
    assert_true(tg__rpc_id_text(s, quoted));
    assert_string_not_equal(one, quoted);
    json_decref(n);
    json_decref(s);
    /* an id too long to track */
    char big[600];
    memset(big, 'a', sizeof big);
    char line[700];
    snprintf(line, sizeof line, "{\"id\":\"%.*s\",\"method\":\"m\"}", 400, big);
    tg__rpc_parse(line, strlen(line), &m);
    assert_int_equal(m.kind, TG__RPC_REQUEST);
    assert_true(m.id_too_long);
    assert_string_equal(m.id_text, "");
    tg__rpc_message_clear(&m);
}

static void test_written_messages(void **state) {
    (void)state;
    json_t *id = json_string("r-1");
    size_t size;
    json_t *message = tg__rpc_tool_error(id, "no\nnewline", NULL);
    char *text = tg__rpc_dump(message, &size);
    json_decref(message);
    assert_non_null(text);
    assert_null(memchr(text, '\n', size));
    tg__rpc_message m;
    tg__rpc_parse(text, size, &m);
    assert_int_equal(m.kind, TG__RPC_RESPONSE);
    assert_string_equal(m.id_text, "\"r-1\"");
    assert_true(json_is_true(json_object_get(m.result, "isError")));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(m.result, "content"), 0), "text")),
                        "no\nnewline");
    tg__rpc_message_clear(&m);
    free(text);
    json_t *error = tg__rpc_error(NULL, TG__RPC_PARSE_ERROR, "bad");
    assert_true(json_is_null(json_object_get(error, "id")));
    json_decref(error);
    json_t *note = tg__rpc_notification("notifications/tools/list_changed", NULL);
    assert_null(json_object_get(note, "params"));
    json_decref(note);
    json_decref(id);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_across_reads), cmocka_unit_test(test_framing_limit),
        cmocka_unit_test(test_classification),       cmocka_unit_test(test_ids),
        cmocka_unit_test(test_written_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
