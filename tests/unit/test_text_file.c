/*
 * test_text_file: the one reader every YAML configuration goes through
 * (src/core/text_file.c): whole files, a size limit, UTF-8 only, and a sentence
 * that names the file for each refusal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assertions.h"
#include "core/text_file.h"

static char path[64];

static int make_file(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/tg_text_file_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    return 0;
}

static int remove_file(void **state) {
    (void)state;
    unlink(path);
    return 0;
}

static void write_file(const char *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static void test_reads_the_whole_file_nul_terminated(void **state) {
    (void)state;
    const char yaml[] = "port: 8420\nname: \"caf\xc3\xa9 \xf0\x9f\x98\x80\"\n";
    write_file(yaml, sizeof yaml - 1);
    char *text = NULL;
    size_t size = 0;
    assert_ok(tg__text_file_read(path, "config", &text, &size, NULL));
    assert_int_equal(size, sizeof yaml - 1);
    assert_memory_equal(text, yaml, size);
    assert_int_equal(text[size], '\0');
    free(text);
}

static void test_an_empty_file_is_empty_text(void **state) {
    (void)state;
    write_file("", 0);
    char *text = NULL;
    size_t size = 1;
    assert_ok(tg__text_file_read(path, "config", &text, &size, NULL));
    assert_int_equal(size, 0);
    assert_string_equal(text, "");
    free(text);
}

static void test_refuses_bytes_that_are_not_utf8_and_says_where(void **state) {
    (void)state;
    write_file("%YAML 1.2\n%\x80\n", 13);
    char *text = (char *)"untouched";
    size_t size = 7;
    tg_error err = {0};
    assert_status(tg__text_file_read(path, "notify config", &text, &size, &err), TG_ERR_INVALID);
    assert_null(text);
    assert_int_equal(size, 0);
    assert_contains(err.message, "notify config: ");
    assert_contains(err.message, path);
    assert_contains(err.message, "is not UTF-8 text (byte 11)");
}

static void test_refuses_a_missing_file_with_the_reason(void **state) {
    (void)state;
    unlink(path);
    char *text;
    size_t size;
    tg_error err = {0};
    assert_status(tg__text_file_read(path, "config", &text, &size, &err), TG_ERR_INVALID);
    assert_contains(err.message, "cannot read");
    assert_contains(err.message, "No such file");
}

static void test_refuses_a_file_over_the_limit(void **state) {
    (void)state;
    write_file("a", 1);
    assert_int_equal(truncate(path, TG_TEXT_FILE_SIZE_MAX), 0);
    char *text;
    size_t size;
    /* Exactly the limit is read (zero bytes are valid UTF-8)... */
    assert_ok(tg__text_file_read(path, "config", &text, &size, NULL));
    assert_int_equal(size, TG_TEXT_FILE_SIZE_MAX);
    free(text);
    /* ...one byte more is refused. */
    assert_int_equal(truncate(path, TG_TEXT_FILE_SIZE_MAX + 1), 0);
    tg_error err = {0};
    assert_status(tg__text_file_read(path, "config", &text, &size, &err), TG_ERR_INVALID);
    assert_contains(err.message, "is over 16777216 bytes");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads_the_whole_file_nul_terminated, make_file,
                                        remove_file),
        cmocka_unit_test_setup_teardown(test_an_empty_file_is_empty_text, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_refuses_bytes_that_are_not_utf8_and_says_where,
                                        make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_refuses_a_missing_file_with_the_reason, make_file,
                                        remove_file),
        cmocka_unit_test_setup_teardown(test_refuses_a_file_over_the_limit, make_file, remove_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
