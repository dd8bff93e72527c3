/*
 * test_budget_file: the `tollgate budget apply` file parser (src/cli/budget_file.c) on
 * the inputs most likely to break it: empty files, blank lines and CRLF, a line that is
 * not an object, a YAML mapping where a list belongs, a "billion laughs" alias bomb, NUL
 * and non-UTF-8 bytes, files and lines past their limits. Every refusal must name the
 * line at fault and leave nothing behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "assertions.h"
#include "cli/budget_file.h"

/* Parses a NUL-terminated text; the result's status. */
static tg_status parse(const char *name, const char *text, tg__budget_file *file, int *line,
                       tg_error *err) {
    return tg__budget_file_parse(name, text, strlen(text), file, line, err);
}

/* Asserts `text` is refused with a message holding `needle`, at `line_expected`. */
static void assert_refused(const char *name, const char *text, size_t size, int line_expected,
                           const char *needle) {
    tg__budget_file file = {(tg__budget_item *)(uintptr_t)8, 5};
    int line = -1;
    tg_error err = {0};
    assert_status(tg__budget_file_parse(name, text, size, &file, &line, &err), TG_ERR_INVALID);
    assert_i64(line, line_expected);
    assert_contains(err.message, needle);
    assert_contains(err.message, name);
    assert_null(file.items);
    assert_i64(file.count, 0);
}

static const char *path_of(const tg__budget_file *file, size_t i) {
    return json_string_value(json_object_get(file->items[i].item, "path"));
}

static void test_an_empty_file_holds_no_budgets(void **state) {
    (void)state;
    tg__budget_file file;
    int line = -1;
    assert_ok(tg__budget_file_parse("b.jsonl", "", 0, &file, &line, NULL));
    assert_i64(file.count, 0);
    assert_i64(line, 0);
    tg__budget_file_free(&file);
    assert_ok(parse("b.jsonl", "\n\n   \r\n\t\n# only a comment\n", &file, &line, NULL));
    assert_i64(file.count, 0);
    tg__budget_file_free(&file);
    /* An empty YAML file is no list at all. */
    assert_refused("b.yaml", "", 0, 0, "expected a list of budgets");
    assert_refused("b.yaml", " \n\r\n", 4, 0, "the file is empty");
}

static void test_blank_lines_comments_and_crlf_keep_line_numbers(void **state) {
    (void)state;
    const char *text = "# made by hand\r\n"
                       "\r\n"
                       "{\"path\":\"a\",\"limit\":\"5\"}\r\n"
                       "   \t\r\n"
                       "  {\"path\":\"b\"}  \r\n"
                       "{\"path\":\"c\"}"; /* no newline at the end */
    tg__budget_file file;
    int line = -1;
    tg_error err = {0};
    assert_ok(parse("b.jsonl", text, &file, &line, &err));
    assert_i64(file.count, 3);
    assert_string_equal(path_of(&file, 0), "a");
    assert_string_equal(path_of(&file, 1), "b"); /* no \r kept */
    assert_string_equal(path_of(&file, 2), "c");
    assert_i64(file.items[0].line, 3);
    assert_i64(file.items[1].line, 5);
    assert_i64(file.items[2].line, 6);
    assert_string_equal(json_string_value(json_object_get(file.items[0].item, "limit")), "5");
    tg__budget_file_free(&file);
    assert_null(file.items);
    tg__budget_file_free(&file); /* twice, and NULL: no-ops */
    tg__budget_file_free(NULL);
}

static void test_the_length_is_respected_not_a_nul(void **state) {
    (void)state;
    /* Only the first line is the file: what follows `size` is never read. */
    const char text[] = "{\"path\":\"a\"}\n{not json at all";
    tg__budget_file file;
    int line = -1;
    assert_ok(
        tg__budget_file_parse("b.jsonl", text, strlen("{\"path\":\"a\"}\n"), &file, &line, NULL));
    assert_i64(file.count, 1);
    tg__budget_file_free(&file);
    /* A line cut mid-object by the length is a mistake on that line. */
    assert_refused("b.jsonl", text, 8, 1, "b.jsonl:1:");
}

static void test_a_line_that_is_not_a_budget_is_named(void **state) {
    (void)state;
    const char *array = "{\"path\":\"a\"}\n[{\"path\":\"b\"}]\n";
    assert_refused("b.jsonl", array, strlen(array), 2, "b.jsonl:2: a budget must be an object");
    const char *number = "{\"path\":\"a\"}\n\n{\"path\": 7}\n";
    assert_refused("(stdin)", number, strlen(number), 3, "(stdin):3: a budget needs a \"path\"");
    const char *scalar = "\"just text\"\n";
    assert_refused("b.jsonl", scalar, strlen(scalar), 1, "b.jsonl:1:11: '[' or '{' expected");
    const char *broken = "{\"path\":\"a\"}\n{\"path\":\"b\",}\n";
    assert_refused("b.jsonl", broken, strlen(broken), 2, "b.jsonl:2:");
    const char *twice = "{\"path\":\"a\",\"path\":\"b\"}\n";
    assert_refused("b.jsonl", twice, strlen(twice), 1, "duplicate");
}

static void test_nul_and_non_utf8_bytes_are_refused_by_line(void **state) {
    (void)state;
    const char nul[] = "{\"path\":\"a\"}\n{\"path\":\"b\0c\"}\n";
    assert_refused("b.jsonl", nul, sizeof nul - 1, 2, "b.jsonl:2: a NUL byte");
    assert_refused("b.yaml", nul, sizeof nul - 1, 2, "a NUL byte");
    const char *latin1 = "{\"path\":\"a\"}\n\n{\"path\":\"caf\xe9\"}\n";
    assert_refused("b.jsonl", latin1, strlen(latin1), 3, "b.jsonl:3: not UTF-8");
    const char *overlong = "- path: \"\xc0\xaf\"\n";
    assert_refused("b.yml", overlong, strlen(overlong), 1, "not UTF-8");
}

static void test_limits_are_kept(void **state) {
    (void)state;
    /* A line of more than 64 KiB. */
    size_t long_size = TG__BUDGET_FILE_LINE_SIZE_MAX_BYTES + 64;
    char *long_line = malloc(long_size + 1);
    assert_non_null(long_line);
    memset(long_line, 'a', long_size);
    memcpy(long_line, "{\"path\":\"", 9);
    memcpy(long_line + long_size - 2, "\"}", 2);
    long_line[long_size] = '\0';
    char *two = malloc(long_size + 32);
    assert_non_null(two);
    snprintf(two, long_size + 32, "{\"path\":\"a\"}\n%s\n", long_line);
    assert_refused("b.jsonl", two, strlen(two), 2, "a line is longer than 65536 bytes");
    free(two);
    free(long_line);
    /* A file over 16 MiB, refused whole before any of it is parsed. */
    size_t big_size = TG__BUDGET_FILE_SIZE_MAX_BYTES + 1;
    char *big = malloc(big_size);
    assert_non_null(big);
    memset(big, '\n', big_size);
    assert_refused("b.jsonl", big, big_size, 0, "over 16777216 bytes");
    assert_refused("b.yaml", big, big_size, 0, "over 16777216 bytes");
    free(big);
}

static void test_yaml_a_mapping_is_not_a_list(void **state) {
    (void)state;
    const char *mapping = "path: a\nlimit: 5\n";
    assert_refused("b.yaml", mapping, strlen(mapping), 0, "b.yaml: expected a list of budgets");
    const char *scalar = "just text\n";
    assert_refused("b.yaml", scalar, strlen(scalar), 0, "expected a list of budgets");
    const char *budgets_mapping = "budgets:\n  path: a\n";
    assert_refused("b.yaml", budgets_mapping, strlen(budgets_mapping), 0,
                   "expected a list of budgets");
    const char *item_list = "- [a, b]\n";
    assert_refused("b.yaml", item_list, strlen(item_list), 1, "b.yaml:1: a budget must be");
    const char *syntax = "- path: a\n- [unclosed\n";
    tg__budget_file file;
    int line = -1;
    tg_error err = {0};
    assert_status(parse("b.yaml", syntax, &file, &line, &err), TG_ERR_INVALID);
    assert_contains(err.message, "b.yaml:");
    assert_contains(err.message, "YAML syntax error");
    assert_true(line >= 2 && line <= 3);
    /* Ended too soon: libfyaml says line 3 of a two-line file; the line named is the last. */
    assert_refused("b.yaml", "- path: a\n- [unclo", 18, 2, "b.yaml:3:1: YAML syntax error");
    /* YAML counts a lone CR as a line break, the file's lines are LFs: still in the file. */
    const char *cr = "- path: a\r- path: b\r- path: c";
    assert_ok(parse("b.yaml", cr, &file, &line, &err));
    assert_i64(file.count, 3);
    assert_i64(file.items[0].line, 1);
    assert_i64(file.items[2].line, 1);
    tg__budget_file_free(&file);
}

static void test_yaml_types_and_lines(void **state) {
    (void)state;
    const char *text = "budgets:\n"
                       "  - {path: a, delete: true}\n"
                       "  - path: b\n"
                       "    limit: 7\n"
                       "    calls_limit: 9\n"
                       "    tokens_limit: \"9\"\n"
                       "    revoke_at: 1234567890123456789012\n"
                       "    children_max: 1234567890123456789012\n"
                       "    alerts_ppm: [500000]\n"
                       "    window: ~\n"
                       "  - [{path: c}, {path: d}]\n";
    tg__budget_file file;
    int line = -1;
    tg_error err = {0};
    assert_status(parse("b.yaml", text, &file, &line, &err), TG_ERR_INVALID);
    assert_i64(line, 11); /* the list is not a budget */
    const char *good = "- {path: a, delete: true}\n"
                       "- path: b\n"
                       "  limit: 7\n"
                       "  calls_limit: 9\n"
                       "  tokens_limit: \"9\"\n"
                       "  revoke_at: 1234567890123456789012\n"
                       "  children_max: 1234567890123456789012\n"
                       "  alerts_ppm: [500000]\n"
                       "  window: ~\n"
                       "- {path: c}\n";
    const char *flow = "[{path: a}, {path: b, delete: true}]\n";
    assert_ok(parse("b.yml", flow, &file, &line, &err));
    assert_i64(file.count, 2);
    assert_i64(file.items[0].line, 1);
    assert_i64(file.items[1].line, 1);
    assert_true(json_is_true(json_object_get(file.items[1].item, "delete")));
    tg__budget_file_free(&file);
    assert_ok(parse("b.yml", good, &file, &line, &err));
    assert_i64(file.count, 3);
    assert_i64(file.items[0].line, 1);
    assert_i64(file.items[1].line, 2);
    assert_i64(file.items[2].line, 10);
    json_t *b = file.items[1].item;
    assert_string_equal(json_string_value(json_object_get(b, "limit")), "7"); /* money: text */
    assert_i64(json_integer_value(json_object_get(b, "calls_limit")), 9);
    assert_string_equal(json_string_value(json_object_get(b, "tokens_limit")), "9"); /* quoted */
    assert_string_equal(json_string_value(json_object_get(b, "revoke_at")),
                        "1234567890123456789012");
    /* Too many digits for an integer: text, for the daemon to refuse, not a wrapped number. */
    assert_string_equal(json_string_value(json_object_get(b, "children_max")),
                        "1234567890123456789012");
    assert_i64(json_integer_value(json_array_get(json_object_get(b, "alerts_ppm"), 0)), 500000);
    assert_true(json_is_null(json_object_get(b, "window")));
    tg__budget_file_free(&file);
}

static void test_yaml_aliases_are_refused_not_expanded(void **state) {
    (void)state;
    /* "Billion laughs": nine aliases a level, nine levels; expanded it is 9^9 strings. */
    char bomb[4096];
    size_t at = (size_t)snprintf(bomb, sizeof bomb,
                                 "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, "
                                 "lol, lol]\n");
    for (int level = 1; level <= 9; level++) {
        at += (size_t)snprintf(bomb + at, sizeof bomb - at, "l%d: &l%d [", level, level);
        for (int i = 0; i < 9; i++) {
            at += (size_t)snprintf(bomb + at, sizeof bomb - at, "%s*l%d", i ? ", " : "", level - 1);
        }
        at += (size_t)snprintf(bomb + at, sizeof bomb - at, "]\n");
    }
    at += (size_t)snprintf(bomb + at, sizeof bomb - at, "budgets:\n  - path: x\n    tags: *l9\n");
    assert_true(at < sizeof bomb);
    assert_refused("bomb.yaml", bomb, at, 12, "bomb.yaml:12: a YAML alias"); /* its budget */
    /* The bomb as the list itself, and as a whole budget. */
    char *whole = strdup(bomb);
    assert_non_null(whole);
    char *list = strstr(whole, "budgets:");
    snprintf(list, sizeof bomb - (size_t)(list - whole), "budgets: *l9\n");
    tg__budget_file file;
    int line = -1;
    tg_error err = {0};
    assert_status(parse("bomb.yaml", whole, &file, &line, &err), TG_ERR_INVALID);
    assert_null(file.items);
    snprintf(list, sizeof bomb - (size_t)(list - whole), "budgets: [*l9]\n");
    assert_status(parse("bomb.yaml", whole, &file, &line, &err), TG_ERR_INVALID);
    assert_null(file.items);
    free(whole);
    /* A merge key is an alias too. */
    const char *merge = "base: &base {limit: 5}\nbudgets:\n  - path: a\n    <<: *base\n";
    assert_refused("m.yaml", merge, strlen(merge), 3, "a YAML alias");
    /* And an alias as a key. */
    const char *key = "k: &k limit\nbudgets:\n  - path: a\n    *k : 5\n";
    assert_refused("k.yaml", key, strlen(key), 3, "not text");
}

static void test_yaml_nesting_is_bounded(void **state) {
    (void)state;
    char deep[512];
    size_t at = (size_t)snprintf(deep, sizeof deep, "- path: a\n  x: ");
    for (int i = 0; i < 40; i++) {
        deep[at++] = '[';
    }
    for (int i = 0; i < 40; i++) {
        deep[at++] = ']';
    }
    deep[at++] = '\n';
    deep[at] = '\0';
    assert_refused("d.yaml", deep, at, 1, "d.yaml:1: a budget nested too deep");
    /* Deeper than libfyaml's own limit: its refusal, not a crash. */
    size_t depth = 100000;
    char *deeper = malloc(depth * 2 + 16);
    assert_non_null(deeper);
    memcpy(deeper, "- path: a\n  x: ", 15);
    memset(deeper + 15, '[', depth);
    memset(deeper + 15 + depth, ']', depth);
    tg__budget_file file;
    int line = -1;
    tg_error err = {0};
    assert_status(tg__budget_file_parse("d.yaml", deeper, 15 + depth * 2, &file, &line, &err),
                  TG_ERR_INVALID);
    assert_contains(err.message, "d.yaml");
    free(deeper);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_empty_file_holds_no_budgets),
        cmocka_unit_test(test_blank_lines_comments_and_crlf_keep_line_numbers),
        cmocka_unit_test(test_the_length_is_respected_not_a_nul),
        cmocka_unit_test(test_a_line_that_is_not_a_budget_is_named),
        cmocka_unit_test(test_nul_and_non_utf8_bytes_are_refused_by_line),
        cmocka_unit_test(test_limits_are_kept),
        cmocka_unit_test(test_yaml_a_mapping_is_not_a_list),
        cmocka_unit_test(test_yaml_types_and_lines),
        cmocka_unit_test(test_yaml_aliases_are_refused_not_expanded),
        cmocka_unit_test(test_yaml_nesting_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
