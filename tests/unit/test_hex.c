/*
 * test_hex: bytes to hex text and back (src/core/hex.c), the one copy that config files,
 * the API, the CLI and the SQLite store's api_keys table share: every byte value survives
 * the round trip, either case decodes, and any other text (a digit short or over, a
 * non-digit at either nibble, an empty string) is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "assertions.h"
#include "core/hex.h"

static void every_byte_round_trips(void **state) {
    (void)state;
    unsigned char bytes[256], back[256];
    for (int i = 0; i < 256; i++) {
        bytes[i] = (unsigned char)i;
    }
    char text[2 * sizeof bytes + 2];
    memset(text, 'x', sizeof text);
    tg__hex_encode(bytes, sizeof bytes, text);
    assert_i64(strlen(text), 2 * sizeof bytes);
    assert_int_equal(text[sizeof text - 1], 'x'); /* nothing past the NUL */
    assert_int_equal(strspn(text, "0123456789abcdef"), 2 * sizeof bytes);
    assert_memory_equal(text, "000102", 6);
    assert_string_equal(text + 2 * 250, "fafbfcfdfeff");
    memset(back, 0, sizeof back);
    assert_true(tg__hex_decode(text, back, sizeof back));
    assert_memory_equal(back, bytes, sizeof bytes);
}

static void either_case_decodes(void **state) {
    (void)state;
    unsigned char lower[4], upper[4];
    assert_true(tg__hex_decode("deadBEEF", lower, sizeof lower));
    assert_true(tg__hex_decode("DEADbeef", upper, sizeof upper));
    assert_memory_equal(lower, "\xde\xad\xbe\xef", 4);
    assert_memory_equal(upper, lower, 4);
}

static void other_text_is_refused(void **state) {
    (void)state;
    unsigned char out[2];
    const char *const refused[] = {"",      "abc",  "abcde", "abcdef", "gbcd", "abcg",
                                   "ab cd", "0x12", "12-4",  "ab\ncd", "+1ab", "abc "};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (tg__hex_decode(refused[i], out, sizeof out)) {
            print_error("'%s' decoded\n", refused[i]);
            fail();
        }
    }
    unsigned char none[1];
    assert_true(tg__hex_decode("", none, 0)); /* zero bytes are zero digits */
    char empty[1] = {'x'};
    tg__hex_encode(none, 0, empty);
    assert_int_equal(empty[0], '\0');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_byte_round_trips),
        cmocka_unit_test(either_case_decodes),
        cmocka_unit_test(other_text_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
