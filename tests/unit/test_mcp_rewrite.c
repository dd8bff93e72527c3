/*
 * test_mcp_rewrite: the spans of JSON values, and the two rewrites the
 * gateway makes: withdrawn tools cut from a tools/list result (every other
 * byte kept), and tools.listChanged promised in an initialize result. Texts
 * the span scanner cannot follow (keys with escapes) take the jansson path and
 * must mean the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/json_span.h"
#include "mcp/rewrite.h"

static char *slice(const char *text, tg__json_span span) {
    static char out[256];
    size_t size = span.end - span.start;
    memcpy(out, text + span.start, size);
    out[size] = '\0';
    return out;
}

static void test_spans(void **state) {
    (void)state;
    const char *text = " {\"a\" : [1, \"x]\\\"}\", {\"b\":{}}, true] ,\"c\":-1.5e3,\"d\":null} ";
    size_t size = strlen(text);
    tg__json_span root, a, c, d, elements[4];
    assert_true(tg__json_value_span(text, size, 0, &root));
    assert_int_equal(root.start, 1);
    assert_int_equal(root.end, size - 1);
    assert_true(tg__json_member(text, size, root, "a", &a));
    assert_string_equal(slice(text, a), "[1, \"x]\\\"}\", {\"b\":{}}, true]");
    assert_true(tg__json_member(text, size, root, "c", &c));
    assert_string_equal(slice(text, c), "-1.5e3");
    assert_true(tg__json_member(text, size, root, "d", &d));
    assert_string_equal(slice(text, d), "null");
    assert_false(tg__json_member(text, size, root, "b", &d)); /* only top-level keys */
    size_t count;
    assert_true(tg__json_elements(text, size, a, elements, 4, &count));
    assert_int_equal(count, 4);
    assert_string_equal(slice(text, elements[1]), "\"x]\\\"}\"");
    assert_string_equal(slice(text, elements[2]), "{\"b\":{}}");
    assert_false(tg__json_elements(text, size, a, elements, 3, &count)); /* more than max */
    /* broken texts: false, never out of bounds */
    assert_false(tg__json_value_span("[1,", 3, 0, &root));
    assert_false(tg__json_value_span("\"abc", 4, 0, &root));
    assert_false(tg__json_value_span("   ", 3, 0, &root));
}

static bool keep_all_but_b(void *user, const char *tool) {
    int *seen = user;
    (*seen)++;
    return strcmp(tool, "b") != 0;
}

static char *filter(const char *line, int *seen, size_t *size) {
    tg__rpc_message m;
    tg__rpc_parse(line, strlen(line), &m);
    char *out = NULL;
    assert_int_equal(tg__mcp_filter_tools(line, strlen(line), &m, keep_all_but_b, seen, &out, size),
                     TG_OK);
    tg__rpc_message_clear(&m);
    return out;
}

static void test_filter_tools(void **state) {
    (void)state;
    int seen = 0;
    size_t size = 0;
    /* Nothing withdrawn: relay as is. */
    assert_null(filter("{\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"}]}}", &seen, &size));
    assert_int_equal(seen, 1);
    /* Cut from the middle, the start and the end; the rest byte for byte (0.10 stays 0.10). */
    const char *line =
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[ {\"name\":\"a\",\"x\":0.10},"
        " {\"name\":\"b\"} , {\"name\":\"c\",\"y\":\"\\u00e9\"} ],\"nextCursor\":\"n\"}}";
    char *out = filter(line, &seen, &size);
    assert_string_equal(out,
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[{\"name\":\"a\","
                        "\"x\":0.10},{\"name\":\"c\",\"y\":\"\\u00e9\"}],\"nextCursor\":\"n\"}}");
    assert_int_equal(size, strlen(out));
    free(out);
    out = filter("{\"id\":1,\"result\":{\"tools\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}", &seen,
                 &size);
    assert_string_equal(out, "{\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"}]}}");
    free(out);
    out = filter("{\"id\":1,\"result\":{\"tools\":[{\"name\":\"b\"}]}}", &seen, &size);
    assert_string_equal(out, "{\"id\":1,\"result\":{\"tools\":[]}}");
    free(out);
    /* A key written with an escape: the jansson path, same meaning. */
    out = filter("{\"id\":1,\"result\":{\"t\\u006fols\":[{\"name\":\"b\"},{\"name\":\"c\"}]}}",
                 &seen, &size);
    assert_non_null(out);
    json_t *parsed = json_loads(out, 0, NULL);
    json_t *tools = json_object_get(json_object_get(parsed, "result"), "tools");
    assert_int_equal(json_array_size(tools), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 0), "name")), "c");
    json_decref(parsed);
    free(out);
    /* No tools array: an error, the caller relays nothing it cannot vouch for. */
    tg__rpc_message m;
    const char *bad = "{\"id\":1,\"result\":{}}";
    tg__rpc_parse(bad, strlen(bad), &m);
    assert_int_equal(tg__mcp_filter_tools(bad, strlen(bad), &m, keep_all_but_b, &seen, &out, &size),
                     TG_ERR_INVALID);
    tg__rpc_message_clear(&m);
}

static char *patch(const char *line) {
    tg__rpc_message m;
    tg__rpc_parse(line, strlen(line), &m);
    char *out = NULL;
    size_t size = 0;
    assert_int_equal(tg__mcp_patch_initialize(line, strlen(line), &m, &out, &size), TG_OK);
    tg__rpc_message_clear(&m);
    return out;
}

static void test_patch_initialize(void **state) {
    (void)state;
    char *out = patch("{\"id\":0,\"result\":{\"capabilities\":{\"tools\":{}},\"v\":1.50}}");
    assert_string_equal(out,
                        "{\"id\":0,\"result\":{\"capabilities\":{\"tools\":{\"listChanged\":true}},"
                        "\"v\":1.50}}");
    free(out);
    out = patch("{\"id\":0,\"result\":{\"capabilities\":{\"tools\":{ \"x\":1 }}}}");
    assert_string_equal(
        out,
        "{\"id\":0,\"result\":{\"capabilities\":{\"tools\":{\"listChanged\":true, \"x\":1 }}}}");
    free(out);
    out = patch("{\"id\":0,\"result\":{\"capabilities\":{\"tools\":{\"listChanged\":false}}}}");
    assert_string_equal(
        out, "{\"id\":0,\"result\":{\"capabilities\":{\"tools\":{\"listChanged\":true}}}}");
    free(out);
    assert_null(
        patch("{\"id\":0,\"result\":{\"capabilities\":{\"tools\":{\"listChanged\":true}}}}"));
    assert_null(patch("{\"id\":0,\"result\":{\"capabilities\":{\"prompts\":{}}}}"));
    /* escaped key: checked, then the jansson path */
    out =
        patch("{\"id\":0,\"result\":{\"capabilities\":{\"tools\":{\"listCh\\u0061nged\":false}}}}");
    json_t *parsed = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(parsed);
    assert_true(json_is_true(json_object_get(
        json_object_get(json_object_get(json_object_get(parsed, "result"), "capabilities"),
                        "tools"),
        "listChanged")));
    json_decref(parsed);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_filter_tools),
        cmocka_unit_test(test_patch_initialize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
