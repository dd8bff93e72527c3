/*
 * http_frame: the framing of HTTP/1.1 requests, read byte by byte before libevent's
 * evhttp sees them. evhttp (libevent 2.1) answers malformed framing with an HTML
 * page and the wrong status (a bad chunk size is "413"), takes the first of two
 * different Content-Length headers, and cuts a header value at a NUL; it cannot
 * be told otherwise. So each connection's bytes pass through this scanner first
 * (connections.c), which lets through only what evhttp reads correctly and stops
 * at the first byte of anything else, saying which JSON error to answer:
 *
 *   - request line: a method token (GET POST PUT PATCH DELETE HEAD OPTIONS; TRACE
 *     and CONNECT 405; others 501), one space, an origin-form target of printable
 *     ASCII ("/..." but not "//"; 414 past the header limit), one space, HTTP/1.1
 *     or HTTP/1.0 (505 for another version);
 *   - header lines: a token, a colon, a value of printable bytes and tabs (a NUL or
 *     another control byte is 400, naming the header); no folded lines;
 *   - Content-Length: digits, one value (two different ones are 400), at most
 *     limits.body_size_max_bytes (413 before the body is read); Transfer-Encoding:
 *     chunked only (others 501), never with a Content-Length (400); Expect:
 *     100-continue only (others 417);
 *   - chunked bodies: hex sizes (anything else 400, a body past the limit 413), no
 *     chunk extensions, no trailer fields, CRLF after each chunk;
 *   - request line and headers together at most limits.header_size_max_bytes (431).
 *
 * Lines end with CRLF or a lone LF (as evhttp reads them); a lone CR is an error.
 * Pure: no I/O, no allocation, bounded state; fuzzed by tests/fuzz/fuzz_http_frame.c.
 */
#ifndef TG_SERVER_HTTP_FRAME_H
#define TG_SERVER_HTTP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG__FRAME_NAME_MAX 24       /* bytes of a header name kept (the ones read are shorter) */
#define TG__FRAME_VALUE_MAX 64      /* bytes of a read header's value kept */
#define TG__FRAME_BLANK_LINES_MAX 4 /* empty lines tolerated before a request line */

/* Where a connection is in its current request. */
typedef enum {
    TG__FRAME_IDLE = 0, /* between requests: no byte of the next one yet */
    TG__FRAME_HEAD = 1, /* reading a request line and headers */
    TG__FRAME_BODY = 2  /* reading a body */
} tg__frame_phase;

/* What to answer when the framing is refused. */
typedef struct {
    int status;        /* 400, 405, 413, 414, 417, 431, 501, 505; 0 while all is well */
    const char *code;  /* stable code for the JSON body: "bad_request", ... */
    char message[160]; /* a sentence for a person */
} tg__frame_error;

/* One connection's reader. Fill with tg__frame_init; plain data, no destructor. */
typedef struct {
    uint64_t header_size_max; /* request line and headers, line ends included */
    uint64_t body_size_max;   /* a body, chunked or not */
    int state;                /* private: where in the grammar */
    bool after_cr;            /* private: the last byte was a CR; an LF must follow */
    int blank_lines;          /* empty lines before this request line */
    uint64_t head_bytes;      /* request line and headers so far */
    char name[TG__FRAME_NAME_MAX];
    size_t name_length; /* may pass TG__FRAME_NAME_MAX: only the first bytes are kept */
    char value[TG__FRAME_VALUE_MAX];
    size_t value_length; /* may pass TG__FRAME_VALUE_MAX, likewise */
    int method;          /* index in the method table, -1 unknown */
    bool http10;
    int64_t content_length; /* -1: none */
    bool chunked;
    uint64_t body_left;  /* bytes of the body, or of this chunk, still to come */
    uint64_t body_total; /* chunked: bytes of data so far */
    int chunk_digits;    /* significant hex digits of this chunk's size */
    bool chunk_sized;    /* a digit of this chunk's size was read */
    uint64_t requests;   /* complete requests read so far */
} tg__frame;

void tg__frame_init(tg__frame *frame, uint64_t header_size_max, uint64_t body_size_max);

/*
 * Reads `size` bytes. Returns how many it took: all of them, or fewer when it stops
 * at the end of a request (frame->requests went up by one: call again with the
 * rest) or at the first byte of a refused one (error->status set; that byte and
 * those after it must not reach evhttp). *skipped counts bytes at the start of the
 * taken ones that are not for evhttp (empty lines before a request line, which it
 * would refuse) and must be dropped instead of passed on.
 */
size_t tg__frame_scan(tg__frame *frame, const unsigned char *bytes, size_t size, size_t *skipped,
                      tg__frame_error *error);

tg__frame_phase tg__frame_phase_of(const tg__frame *frame);

#endif
