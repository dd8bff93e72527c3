/*
 * test_proxy_sse: the event-stream parser. The same stream must give the same
 * events whether it arrives whole, byte by byte, or split at any point; with
 * LF, CRLF or CR line ends; with comments, multi-line data, ids, retry and a
 * BOM; limits fail cleanly; and the "complete" offsets let a proxy forward
 * whole events only.
 */
#include "proxy/sse.h"
#include "proxy_fixture.h"

typedef struct {
    char log[8192]; /* "type|data|id\n" per event */
    int events;
    int stop_after; /* return an error after this many events; 0 never */
} collector;

static tg_status collect(void *context, const tg__sse_event *event) {
    collector *c = context;
    size_t used = strlen(c->log);
    snprintf(c->log + used, sizeof c->log - used, "%s|%s|%s\n", event->type, event->data,
             event->id);
    assert_i64(strlen(event->data), event->data_size);
    c->events++;
    return c->stop_after && c->events >= c->stop_after ? TG_ERR_STATE : TG_OK;
}

/* Feeds `text` in pieces of at most `piece` bytes (0 = whole); returns the log. */
static const char *parse_pieces(const char *text, size_t piece, collector *c) {
    tg__sse_parser parser;
    tg__sse_init(&parser, 0, 0);
    memset(c, 0, sizeof *c);
    size_t size = strlen(text);
    piece = piece ? piece : size;
    for (size_t at = 0; at < size; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        assert_ok(tg__sse_feed(&parser, text + at, n, collect, c, NULL, NULL));
    }
    tg__sse_free(&parser);
    return c->log;
}

static const char *const STREAM = ": keep-alive comment\n"
                                  "event: message_start\n"
                                  "data: {\"type\":\"message_start\"}\n"
                                  "\n"
                                  "data:no-space\n"
                                  "data:  two spaces\n"
                                  "\n"
                                  "id: 7\n"
                                  "data\n"
                                  "data: \n"
                                  "\n"
                                  "event: ignored-without-data\n"
                                  "\n"
                                  "retry: 300\n"
                                  "unknown: field\n"
                                  "data: [DONE]\n"
                                  "\n";

static const char *const EXPECTED = "message_start|{\"type\":\"message_start\"}|\n"
                                    "|no-space\n two spaces|\n"
                                    "|\n|7\n"
                                    "|[DONE]|7\n";

static char *with_line_ends(const char *text, const char *end) {
    static char out[4096];
    size_t used = 0;
    for (const char *c = text; *c; c++) {
        if (*c == '\n') {
            used += (size_t)snprintf(out + used, sizeof out - used, "%s", end);
        } else {
            out[used++] = *c;
        }
    }
    out[used] = '\0';
    return out;
}

static void test_sse_any_split_any_line_end(void **state) {
    (void)state;
    const char *ends[] = {"\n", "\r\n", "\r"};
    for (size_t e = 0; e < 3; e++) {
        char text[4096];
        snprintf(text, sizeof text, "%s", with_line_ends(STREAM, ends[e]));
        size_t size = strlen(text);
        collector c;
        for (size_t piece = 0; piece <= size; piece++) {
            const char *log = parse_pieces(text, piece, &c);
            if (strcmp(log, EXPECTED) != 0) {
                print_error("line end %zu, pieces of %zu:\n%s\nexpected:\n%s\n", e, piece, log,
                            EXPECTED);
                fail();
            }
        }
        /* Two-piece splits at every point. */
        for (size_t cut = 0; cut <= size; cut++) {
            tg__sse_parser parser;
            tg__sse_init(&parser, 0, 0);
            memset(&c, 0, sizeof c);
            assert_ok(tg__sse_feed(&parser, text, cut, collect, &c, NULL, NULL));
            assert_ok(tg__sse_feed(&parser, text + cut, size - cut, collect, &c, NULL, NULL));
            assert_string_equal(c.log, EXPECTED);
            assert_true(tg__sse_idle(&parser));
            tg__sse_free(&parser);
        }
    }
}

static void test_sse_bom_and_unterminated(void **state) {
    (void)state;
    collector c;
    assert_string_equal(parse_pieces("\xEF\xBB\xBF"
                                     "data: a\n\n",
                                     1, &c),
                        "|a|\n");
    assert_string_equal(parse_pieces("\xEF\xBB\xBF"
                                     "data: a\n\n",
                                     0, &c),
                        "|a|\n");
    /* Only a leading BOM is skipped; a partial one is text (an unknown field here). */
    assert_string_equal(parse_pieces("\xEF\xBB"
                                     "data: a\n\ndata: b\n\n",
                                     1, &c),
                        "|b|\n");
    /* An event without its blank line is never dispatched. */
    tg__sse_parser parser;
    tg__sse_init(&parser, 0, 0);
    memset(&c, 0, sizeof c);
    assert_ok(tg__sse_feed(&parser, "data: x\n", 8, collect, &c, NULL, NULL));
    assert_int_equal(c.events, 0);
    assert_false(tg__sse_idle(&parser));
    tg__sse_free(&parser);
}

static void test_sse_complete_offsets(void **state) {
    (void)state;
    tg__sse_parser parser;
    tg__sse_init(&parser, 0, 0);
    collector c = {0};
    size_t complete = 99;
    const char *a = "data: one\n\ndata: tw";
    assert_ok(tg__sse_feed(&parser, a, strlen(a), collect, &c, &complete, NULL));
    assert_i64(complete, 11); /* "data: one\n\n" */
    const char *b = "o\n";
    assert_ok(tg__sse_feed(&parser, b, strlen(b), collect, &c, &complete, NULL));
    assert_i64(complete, 0); /* nothing ends here */
    const char *d = "\n: comment\n";
    assert_ok(tg__sse_feed(&parser, d, strlen(d), collect, &c, &complete, NULL));
    assert_i64(complete, 1);
    assert_string_equal(c.log, "|one|\n|two|\n");
    /* CRLF split between pieces: the LF still belongs to the complete event. */
    const char *e = "\r\ndata: three\r\n\r";
    assert_ok(tg__sse_feed(&parser, e, strlen(e), collect, &c, &complete, NULL));
    assert_i64(complete, strlen(e));
    assert_ok(tg__sse_feed(&parser, "\n", 1, collect, &c, &complete, NULL));
    assert_i64(complete, 1);
    assert_int_equal(c.events, 3);
    tg__sse_free(&parser);
}

static void test_sse_limits_and_stop(void **state) {
    (void)state;
    tg__sse_parser parser;
    tg__sse_init(&parser, 16, 32);
    collector c = {0};
    tg_error err = {0};
    assert_status(tg__sse_feed(&parser, "data: 0123456789abcdef\n", 23, collect, &c, NULL, &err),
                  TG_ERR_FULL);
    assert_contains(err.message, "size limit");
    tg__sse_free(&parser);
    /* A long line arriving in pieces is caught too. */
    tg__sse_init(&parser, 16, 32);
    tg_status status = TG_OK;
    for (int i = 0; i < 20 && status == TG_OK; i++) {
        status = tg__sse_feed(&parser, "x", 1, collect, &c, NULL, NULL);
    }
    assert_status(status, TG_ERR_FULL);
    tg__sse_free(&parser);
    /* Event data over its limit across many lines. */
    tg__sse_init(&parser, 16, 32);
    status = TG_OK;
    for (int i = 0; i < 10 && status == TG_OK; i++) {
        status = tg__sse_feed(&parser, "data: 12345678\n", 15, collect, &c, NULL, NULL);
    }
    assert_status(status, TG_ERR_FULL);
    tg__sse_free(&parser);
    /* The callback's error stops the feed and is returned. */
    tg__sse_init(&parser, 0, 0);
    memset(&c, 0, sizeof c);
    c.stop_after = 1;
    const char *two = "data: a\n\ndata: b\n\n";
    assert_status(tg__sse_feed(&parser, two, strlen(two), collect, &c, NULL, &err), TG_ERR_STATE);
    assert_int_equal(c.events, 1);
    assert_contains(err.message, "reader");
    tg__sse_free(&parser);
    tg__sse_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_any_split_any_line_end),
        cmocka_unit_test(test_sse_bom_and_unterminated),
        cmocka_unit_test(test_sse_complete_offsets),
        cmocka_unit_test(test_sse_limits_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
