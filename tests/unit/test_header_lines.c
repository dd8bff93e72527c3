/*
 * test_header_lines: the checks that stand in for evhttp_add_header's (proxy_headers.c
 * hands the lines to libevent unchecked). Every way to put a line break, NUL or bad name
 * into a line is refused and leaves the lines as they were; a full buffer refuses
 * whole; the Date and the numbers are what strftime and printf would write, across
 * years, leap days and the int64 edges.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "proxy/header_lines.h"

static bool add(tg__buf *lines, const char *name, const char *value, size_t value_size) {
    return tg__header_line_add(lines, name, strlen(name), value, value_size);
}

static void test_good_lines(void **state) {
    (void)state;
    tg__buf lines;
    tg__buf_init(&lines, 4096);
    assert_true(add(&lines, "x-request-id", "req_1", 5));
    assert_true(add(&lines, "x-empty", "", 0));
    assert_true(add(&lines, "x-tab", "a\tb", 3));
    assert_true(add(&lines, "!#$%&'*+-.^_`|~09azAZ", "v", 1));
    assert_true(add(&lines, "x-obs", "caf\xc3\xa9", 5)); /* obs-text passes, as libevent's */
    const char *want = "x-request-id: req_1\r\nx-empty: \r\nx-tab: a\tb\r\n"
                       "!#$%&'*+-.^_`|~09azAZ: v\r\nx-obs: caf\xc3\xa9\r\n";
    assert_int_equal(lines.size, strlen(want));
    assert_memory_equal(lines.data, want, lines.size);
    tg__buf_free(&lines);
}

static void test_bad_lines_refused_whole(void **state) {
    (void)state;
    tg__buf lines;
    tg__buf_init(&lines, 4096);
    assert_true(add(&lines, "x-first", "1", 1));
    size_t before = lines.size;
    /* Values that would end the line early or fold it. */
    const char *values[] = {
        "a\rInjected: 1", "a\nInjected: 1", "a\r\nInjected: 1", "a\r\n x", "\r", "\n",
        "end\r",          "end\n"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        assert_false(add(&lines, "x-evil", values[i], strlen(values[i])));
    }
    assert_false(add(&lines, "x-nul", "a\0Injected: 1", 13));
    /* Names that are not tokens. */
    const char *names[] = {"",         " folded", "bad name", "x:y", "x\r", "x\n", "a\tb",
                           "(x)",      "x\"y",    "x/y",      "x@y", "[x]", "x=y", "x\x7f",
                           "\xc3\xa9", "{x}",     "x;y",      "x,y", "x?y", "x\\y"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_false(add(&lines, names[i], "v", 1));
    }
    assert_false(tg__header_line_add(&lines, "x\0y", 3, "v", 1));
    char name[TG__HEADER_NAME_SIZE_MAX + 1];
    memset(name, 'n', sizeof name);
    assert_false(tg__header_line_add(&lines, name, TG__HEADER_NAME_SIZE_MAX, "v", 1));
    assert_true(tg__header_line_add(&lines, name, TG__HEADER_NAME_SIZE_MAX - 1, "v", 1));
    assert_int_equal(lines.size, before + TG__HEADER_NAME_SIZE_MAX - 1 + 5);
    tg__buf_truncate(&lines, before);
    assert_int_equal(lines.size, before);
    assert_memory_equal(lines.data, "x-first: 1\r\n", before);
    tg__buf_free(&lines);
}

/* Every byte as a one-byte name: a token exactly when RFC 9110's tchar says so. */
static void test_every_name_byte(void **state) {
    (void)state;
    static const char TCHAR[] = "!#$%&'*+-.^_`|~0123456789"
                                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int c = 0; c < 256; c++) {
        char name = (char)c;
        bool want = c != 0 && memchr(TCHAR, c, sizeof TCHAR - 1) != NULL;
        assert_int_equal(tg__header_name_valid(&name, 1), want);
        char value[3] = {'a', (char)c, 'b'}; /* and inside a value: only CR, LF, NUL refused */
        tg__buf lines;
        tg__buf_init(&lines, 64);
        assert_int_equal(tg__header_line_add(&lines, "x", 1, value, 3),
                         c != '\r' && c != '\n' && c != 0);
        tg__buf_free(&lines);
    }
}

static void test_full_lines_refuse_whole(void **state) {
    (void)state;
    tg__buf lines;
    tg__buf_init(&lines, 32);
    assert_true(add(&lines, "x-a", "0123456789", 10)); /* 17 bytes */
    size_t before = lines.size;
    /* 15 bytes would fit the name but not its whole line: nothing of it is kept. */
    assert_false(add(&lines, "x-b", "0123456789", 10));
    assert_int_equal(lines.size, before);
    assert_true(add(&lines, "x-b", "01234567", 8)); /* exactly 32 */
    assert_int_equal(lines.size, 32);
    assert_false(add(&lines, "x", "", 0));
    assert_int_equal(lines.size, 32);
    tg__buf_free(&lines);
}

static void check_date(int64_t seconds) {
    char ours[TG__HTTP_DATE_SIZE];
    memset(ours, 'x', sizeof ours);
    tg__http_date(seconds, ours);
    char theirs[64];
    time_t t = (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(theirs, sizeof theirs, "%a, %d %b %Y %H:%M:%S GMT", &tm); /* libevent's format */
    assert_string_equal(ours, theirs);
}

static void test_dates(void **state) {
    (void)state;
    check_date(0);
    check_date(951782400);    /* 2000-02-29 */
    check_date(1709164800);   /* 2024-02-29 */
    check_date(1796679304);   /* 2026-12-07 */
    check_date(4102444799);   /* 2099-12-31 23:59:59 */
    check_date(253402300799); /* 9999-12-31 23:59:59 */
    for (int64_t s = 1700000000; s < 1700000000 + 400LL * 86400; s += 86400 + 3607) {
        check_date(s);
    }
    /* Out of the format's four digits: a valid date all the same, never garbage. */
    char out[TG__HTTP_DATE_SIZE];
    tg__http_date(253402300800, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    tg__http_date(-62167219201, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static void check_number(int64_t value) {
    char ours[TG__INT64_TEXT_SIZE];
    char theirs[32];
    size_t size = tg__int64_text(value, ours);
    snprintf(theirs, sizeof theirs, "%" PRId64, value);
    assert_string_equal(ours, theirs);
    assert_int_equal(size, strlen(theirs));
}

static void test_numbers(void **state) {
    (void)state;
    const int64_t values[] = {0,
                              1,
                              -1,
                              9,
                              10,
                              -10,
                              99,
                              100,
                              999999999999991,
                              INT64_MAX,
                              INT64_MIN,
                              INT64_MAX - 1,
                              INT64_MIN + 1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        check_number(values[i]);
    }
    for (int64_t v = 1; v > 0 && v < INT64_MAX / 7; v = v * 7 + 3) {
        check_number(v);
        check_number(-v);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_lines),      cmocka_unit_test(test_bad_lines_refused_whole),
        cmocka_unit_test(test_every_name_byte), cmocka_unit_test(test_full_lines_refuse_whole),
        cmocka_unit_test(test_dates),           cmocka_unit_test(test_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
