/*
 * test_http_frame: the request framing scanner in front of evhttp. Every refused
 * framing gets its status and code at the first byte that makes it wrong (never
 * later: what came before it is passed to evhttp); good requests, pipelined ones
 * and ones split at every byte are taken whole; limits hold exactly at their edge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/http_frame.h"

#define HEAD_MAX 256
#define BODY_MAX 64

typedef struct {
    size_t taken;   /* bytes taken in all (passed or skipped) */
    size_t skipped; /* bytes dropped */
    uint64_t requests;
    tg__frame_error error;
} outcome;

/* Feeds `text` in pieces of `piece` bytes (0: all at once), as a connection would. */
static outcome feed(const char *text, size_t size, size_t piece) {
    tg__frame frame;
    tg__frame_init(&frame, HEAD_MAX, BODY_MAX);
    outcome out = {0, 0, 0, {0, NULL, ""}};
    size_t at = 0;
    while (at < size && out.error.status == 0) {
        size_t end = piece == 0 || at + piece > size ? size : at + piece;
        while (at < end && out.error.status == 0) {
            size_t skipped = 0;
            size_t taken = tg__frame_scan(&frame, (const unsigned char *)text + at, end - at,
                                          &skipped, &out.error);
            assert_true(taken <= end - at);
            assert_true(skipped <= taken);
            at += taken;
            out.taken += taken;
            out.skipped += skipped;
            if (taken == 0 && out.error.status == 0) {
                fail_msg("the scanner took nothing and said nothing");
            }
        }
    }
    out.requests = frame.requests;
    return out;
}

typedef struct {
    const char *text;
    int status;        /* 0: accepted */
    const char *code;  /* expected code when refused */
    long refused_at;   /* the offset of the first refused byte; -1: check nothing */
    uint64_t requests; /* complete requests before the end or the refusal */
} frame_case;

#define GET "GET /v1/budgets HTTP/1.1\r\nHost: x\r\n\r\n"

static const frame_case cases[] = {
    {GET, 0, NULL, -1, 1},
    {"GET /v1/budgets HTTP/1.0\nHost: x\n\n", 0, NULL, -1, 1},
    {GET GET "POST /v1/holds HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 0, NULL, -1, 3},
    {"\r\n\r\n" GET, 0, NULL, -1, 1},
    {"POST /v1/holds HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 0, NULL,
     -1, 1},
    {"POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n000000000000000001\r\na\r\n0\r\n\r\n",
     0, NULL, -1, 1},
    {"POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0, NULL, -1, 1},
    {"POST /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\na", 0, NULL, -1, 1},
    {"GET /x?a=%20&b=*,/ HTTP/1.1\r\nX-Utf8: caf\xc3\xa9\r\nX-Tab:\tv\r\n\r\n", 0, NULL, -1, 1},
    /* the request line */
    {"FROB / HTTP/1.1\r\n\r\n", 501, "not_implemented", 4, 0},
    {"TRACE / HTTP/1.1\r\n\r\n", 405, "method_not_allowed", 5, 0},
    {"GE\tT / HTTP/1.1\r\n\r\n", 400, "bad_request", 2, 0},
    {"GET  / HTTP/1.1\r\n\r\n", 400, "bad_request", 4, 0},
    {"GET x HTTP/1.1\r\n\r\n", 400, "bad_request", 4, 0},
    {"GET //evil HTTP/1.1\r\n\r\n", 400, "bad_request", 5, 0},
    {"GET http://h/ HTTP/1.1\r\n\r\n", 400, "bad_request", 4, 0},
    {"GET /a#b HTTP/1.1\r\n\r\n", 400, "bad_request", 6, 0},
    {"GET /a\xff HTTP/1.1\r\n\r\n", 400, "bad_request", 6, 0},
    {"GET / HTTP/2.0\r\n\r\n", 505, "version_not_supported", 15, 0},
    {"GET / HTTQ/1.1\r\n\r\n", 400, "bad_request", 15, 0},
    {"GET /\r\n\r\n", 400, "bad_request", 6, 0},
    {"GET / HTTP/1.1\rX\r\n\r\n", 400, "bad_request", 15, 0},
    {"\r\n\r\n\r\n\r\n\r\n" GET, 400, "bad_request", 9, 0},
    /* header lines */
    {"GET / HTTP/1.1\r\nAuthorization: Bearer ab\0cd\r\n\r\n", 400, "bad_request", 40, 0},
    {"GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400, "bad_request", 20, 0},
    {"GET / HTTP/1.1\r\nX : a\r\n\r\n", 400, "bad_request", 17, 0},
    {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "bad_request", 24, 0},
    {"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400, "bad_request", 22, 0},
    {"GET / HTTP/1.1\r\n: empty\r\n\r\n", 400, "bad_request", 16, 0},
    {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "bad_request",
     54, 0},
    {"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400, "bad_request", 38, 0},
    {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad_request", 36, 0},
    {"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413, "body_too_large", 38, 0},
    {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "bad_request", 54, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented", 41, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
     "bad_request", 72, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", 400,
     "bad_request", 65, 0},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "bad_request", 46, 0},
    {"HEAD / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", 400, "bad_request", 37, 0},
    {"POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417, "expectation_failed", 32, 0},
    /* chunks */
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad_chunk", 47, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400, "bad_chunk", 48, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\n", 400, "bad_chunk", 48, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", 413, "body_too_large", 50, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 413,
     "body_too_large", 62, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc", 400, "bad_chunk", 52, 0},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n\r\n", 400, "bad_chunk", 50,
     0},
    /* after a good request, the bad one is refused and the good one counted */
    {GET "BAD / HTTP/1.1\r\n\r\n", 501, "not_implemented", 40, 1},
};

static void check_case(const frame_case *c, size_t size, size_t piece) {
    outcome out = feed(c->text, size, piece);
    if (out.error.status != c->status || out.requests != c->requests ||
        (c->status != 0 && strcmp(out.error.code, c->code) != 0) ||
        (c->refused_at >= 0 && out.taken != (size_t)c->refused_at)) {
        fail_msg("%.60s... (pieces of %zu): status %d code %s at %zu, %llu requests; expected %d "
                 "%s at %ld, %llu requests (%s)",
                 c->text, piece, out.error.status, out.error.code ? out.error.code : "-", out.taken,
                 (unsigned long long)out.requests, c->status, c->code ? c->code : "-",
                 c->refused_at, (unsigned long long)c->requests, out.error.message);
    }
    if (c->status == 0) {
        assert_int_equal(out.taken, size);
    }
}

/* Literal sizes: some cases hold a NUL byte. */
static size_t case_size(const frame_case *c) {
    size_t size = strlen(c->text);
    if (strstr(c->text, "Bearer ab") != NULL) {
        size = sizeof "GET / HTTP/1.1\r\nAuthorization: Bearer ab\0cd\r\n\r\n" - 1;
    }
    return size;
}

static void test_cases_whole_and_split_at_every_byte(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t size = case_size(&cases[i]);
        check_case(&cases[i], size, 0);
        check_case(&cases[i], size, 1);
        check_case(&cases[i], size, 7);
    }
}

static void test_blank_lines_are_dropped_not_passed(void **state) {
    (void)state;
    outcome out = feed("\r\n\n" GET, strlen("\r\n\n" GET), 0);
    assert_int_equal(out.error.status, 0);
    assert_int_equal(out.skipped, 3);
    assert_int_equal(out.requests, 1);
}

/* The limits hold at their edge: exactly the maximum passes, one byte more does not. */
static void test_limits_at_their_edge(void **state) {
    (void)state;
    char text[HEAD_MAX + 64];
    /* "GET / HTTP/1.1\r\n" (16) + "X: " (3) + value + "\r\n" (2) + "\r\n" (2) = HEAD_MAX */
    size_t value = HEAD_MAX - 16 - 3 - 2 - 2;
    for (int extra = 0; extra <= 1; extra++) {
        int length =
            snprintf(text, sizeof text, "GET / HTTP/1.1\r\nX: %.*s\r\n\r\n", (int)value + extra,
                     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
        outcome out = feed(text, (size_t)length, 0);
        assert_int_equal(out.error.status, extra ? 431 : 0);
    }
    char body[BODY_MAX + 128];
    for (int extra = 0; extra <= 1; extra++) {
        int length = snprintf(body, sizeof body, "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
                              BODY_MAX + extra);
        memset(body + length, 'b', BODY_MAX + extra);
        outcome out = feed(body, (size_t)length + BODY_MAX + extra, 3);
        assert_int_equal(out.error.status, extra ? 413 : 0);
        assert_int_equal(out.requests, extra ? 0 : 1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_whole_and_split_at_every_byte),
        cmocka_unit_test(test_blank_lines_are_dropped_not_passed),
        cmocka_unit_test(test_limits_at_their_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
