/*
 * assertions.h: cmocka assertions that say what differed, shared by the unit
 * tests. cmocka prints integers unsigned and says nothing about which status a
 * call returned; these print both sides in the project's terms.
 */
#ifndef TG_TEST_ASSERTIONS_H
#define TG_TEST_ASSERTIONS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "tollgate.h"

/* Prints both operands as signed 64-bit numbers. */
#define assert_i64(actual, expected)                                                               \
    do {                                                                                           \
        int64_t actual_ = (int64_t)(actual), expected_ = (int64_t)(expected);                      \
        if (actual_ != expected_) {                                                                \
            print_error("%s is %lld, expected %s = %lld\n", #actual, (long long)actual_,           \
                        #expected, (long long)expected_);                                          \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define assert_status(call, expected)                                                              \
    do {                                                                                           \
        tg_status status_ = (call);                                                                \
        if (status_ != (expected)) {                                                               \
            print_error("%s returned %s, expected %s\n", #call, tg_status_str(status_),            \
                        tg_status_str(expected));                                                  \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define assert_ok(call) assert_status((call), TG_OK)

/* A failed call: its status, and the error it filled in. */
#define assert_fails(call, err, expected)                                                          \
    do {                                                                                           \
        memset(&(err), 0, sizeof(err));                                                            \
        assert_status((call), (expected));                                                         \
        assert_i64((err).status, (expected));                                                      \
        assert_true((err).message[0] != '\0');                                                     \
    } while (0)

#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (h_ == NULL || strstr(h_, n_) == NULL) {                                                \
            print_error("%s does not contain \"%s\":\n%s\n", #haystack, n_, h_ ? h_ : "(null)");   \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define assert_lacks(haystack, needle)                                                             \
    do {                                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (h_ != NULL && strstr(h_, n_) != NULL) {                                                \
            print_error("%s contains \"%s\":\n%s\n", #haystack, n_, h_);                           \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#endif
