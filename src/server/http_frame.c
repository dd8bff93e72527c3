/*
 * http_frame: the request framing scanner (http_frame.h). One state per place in
 * the grammar; a byte at a time through request lines and headers (small), and
 * whole runs at once through bodies. What evhttp needs is checked where it is
 * read: a header's name is kept only as far as the few names that matter, and
 * their values only as far as a value can be valid.
 */
#include <stdio.h>
#include <string.h>

#include "server/http_frame.h"

enum {
    S_IDLE,       /* before a request line; empty lines are skipped */
    S_METHOD,     /* the method token */
    S_TARGET,     /* the request target */
    S_VERSION,    /* HTTP/1.x, up to the line end */
    S_HEADER,     /* the first byte of a header line, or the empty line */
    S_NAME,       /* a header name, up to its colon */
    S_VALUE,      /* a header value, up to the line end */
    S_BODY,       /* body_left bytes of a Content-Length body */
    S_CHUNK_SIZE, /* a chunk's size in hex, up to the line end */
    S_CHUNK_DATA, /* body_left bytes of a chunk */
    S_CHUNK_END,  /* the line end after a chunk's data */
    S_TRAILER,    /* after the last chunk: only the empty line */
};

/* The methods evhttp knows and the router answers; TRACE and CONNECT are refused. */
static const char *const methods[] = {"GET",  "POST",    "PUT",   "PATCH",  "DELETE",
                                      "HEAD", "OPTIONS", "TRACE", "CONNECT"};
#define METHOD_HEAD 5
#define METHOD_TRACE 7

enum { HEADER_OTHER, HEADER_CONTENT_LENGTH, HEADER_TRANSFER_ENCODING, HEADER_EXPECT };

typedef enum { TAKE, SKIP, REQUEST_END, FAILED } step_result;

void tg__frame_init(tg__frame *frame, uint64_t header_size_max, uint64_t body_size_max) {
    memset(frame, 0, sizeof *frame);
    frame->header_size_max = header_size_max;
    frame->body_size_max = body_size_max;
    frame->state = S_IDLE;
    frame->content_length = -1;
    frame->method = -1;
}

tg__frame_phase tg__frame_phase_of(const tg__frame *frame) {
    if (frame->state == S_IDLE) {
        return frame->blank_lines > 0 || frame->after_cr ? TG__FRAME_HEAD : TG__FRAME_IDLE;
    }
    return frame->state >= S_BODY ? TG__FRAME_BODY : TG__FRAME_HEAD;
}

static step_result refuse(tg__frame_error *error, int status, const char *code,
                          const char *message) {
    error->status = status;
    error->code = code;
    snprintf(error->message, sizeof error->message, "%s", message);
    return FAILED;
}

/* tchar of RFC 9110: the bytes of a token (methods, header names). */
static bool token_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void next_request(tg__frame *frame) {
    uint64_t requests = frame->requests + 1;
    tg__frame_init(frame, frame->header_size_max, frame->body_size_max);
    frame->requests = requests;
}

/* ---- the request line ------------------------------------------------------------------ */

static step_result end_of_method(tg__frame *frame, tg__frame_error *error) {
    for (int i = 0; i < (int)(sizeof methods / sizeof methods[0]); i++) {
        if (frame->name_length == strlen(methods[i]) &&
            memcmp(frame->name, methods[i], frame->name_length) == 0) {
            frame->method = i;
        }
    }
    if (frame->method >= METHOD_TRACE) {
        return refuse(error, 405, "method_not_allowed", "TRACE and CONNECT are not served");
    }
    if (frame->method < 0) {
        return refuse(error, 501, "not_implemented",
                      "unknown method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS");
    }
    frame->name_length = 0;
    frame->state = S_TARGET;
    return TAKE;
}

static step_result method_byte(tg__frame *frame, unsigned char c, tg__frame_error *error) {
    if (c == ' ' && frame->name_length > 0) {
        return end_of_method(frame, error);
    }
    if (!token_byte(c)) {
        return refuse(error, 400, "bad_request",
                      "malformed request line: expected METHOD /path HTTP/1.1");
    }
    if (frame->name_length < TG__FRAME_NAME_MAX) {
        frame->name[frame->name_length] = (char)c;
    }
    frame->name_length++;
    return TAKE;
}

static step_result target_byte(tg__frame *frame, unsigned char c, tg__frame_error *error) {
    size_t at = frame->name_length++;
    if (c == ' ' && at > 0) {
        frame->name_length = 0;
        frame->state = S_VERSION;
        return TAKE;
    }
    if (at == 0 && c != '/') {
        return refuse(error, 400, "bad_request",
                      "the request target must be a path starting with '/' (the origin form)");
    }
    if (at == 1 && c == '/') {
        return refuse(error, 400, "bad_request", "the request target may not start with '//'");
    }
    if (c < 0x21 || c > 0x7e || c == '#') {
        return refuse(error, 400, "bad_request",
                      "the request target has a byte that must be %-escaped (a space, a "
                      "control byte, '#' or a byte past ASCII)");
    }
    return TAKE;
}

static step_result end_of_request_line(tg__frame *frame, tg__frame_error *error) {
    static const char prefix[] = "HTTP/";
    if (frame->name_length == 8 && memcmp(frame->name, "HTTP/1.1", 8) == 0) {
        frame->http10 = false;
    } else if (frame->name_length == 8 && memcmp(frame->name, "HTTP/1.0", 8) == 0) {
        frame->http10 = true;
    } else if (frame->name_length == 8 && memcmp(frame->name, prefix, 5) == 0 &&
               frame->name[6] == '.') {
        return refuse(error, 505, "version_not_supported", "only HTTP/1.1 and HTTP/1.0 are served");
    } else {
        return refuse(error, 400, "bad_request",
                      "malformed request line: expected METHOD /path HTTP/1.1");
    }
    frame->name_length = 0;
    frame->state = S_HEADER;
    return TAKE;
}

/* ---- header lines --------------------------------------------------------------------------- */

static int header_kind(const tg__frame *frame) {
    static const char *const names[] = {"content-length", "transfer-encoding", "expect"};
    for (int i = 0; i < 3; i++) {
        if (frame->name_length == strlen(names[i]) &&
            memcmp(frame->name, names[i], frame->name_length) == 0) {
            return i + 1;
        }
    }
    return HEADER_OTHER;
}

/* The value as kept, without trailing spaces and tabs. */
static size_t value_length(const tg__frame *frame) {
    size_t length = frame->value_length < TG__FRAME_VALUE_MAX ? frame->value_length : 0;
    while (length > 0 && (frame->value[length - 1] == ' ' || frame->value[length - 1] == '\t')) {
        length--;
    }
    return length;
}

static bool value_is(const tg__frame *frame, const char *expected) {
    size_t length = value_length(frame);
    if (length != strlen(expected)) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        char c = frame->value[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != expected[i]) {
            return false;
        }
    }
    return true;
}

static step_result content_length(tg__frame *frame, tg__frame_error *error) {
    size_t length = value_length(frame);
    int64_t value = 0;
    for (size_t i = 0; i < length; i++) {
        char c = frame->value[i];
        if (c < '0' || c > '9' || value > (INT64_MAX - 9) / 10) {
            return refuse(error, 400, "bad_request",
                          "Content-Length must be one whole number of bytes");
        }
        value = value * 10 + (c - '0');
    }
    if (length == 0) {
        return refuse(error, 400, "bad_request",
                      "Content-Length must be one whole number of bytes");
    }
    if (frame->content_length >= 0 && frame->content_length != value) {
        return refuse(error, 400, "bad_request",
                      "two Content-Length headers with different values: which body length is "
                      "meant is a guess");
    }
    frame->content_length = value;
    return TAKE;
}

static step_result end_of_header(tg__frame *frame, tg__frame_error *error) {
    switch (header_kind(frame)) {
    case HEADER_CONTENT_LENGTH:
        return content_length(frame, error);
    case HEADER_TRANSFER_ENCODING:
        if (frame->chunked) {
            return refuse(error, 400, "bad_request", "Transfer-Encoding is given twice");
        }
        if (!value_is(frame, "chunked")) {
            return refuse(error, 501, "not_implemented",
                          "the only transfer coding served is chunked");
        }
        frame->chunked = true;
        return TAKE;
    case HEADER_EXPECT:
        return value_is(frame, "100-continue")
                   ? TAKE
                   : refuse(error, 417, "expectation_failed",
                            "the only expectation served is Expect: 100-continue");
    default:
        return TAKE;
    }
}

/* The empty line after the headers: what comes next, a body or the next request. */
static step_result end_of_headers(tg__frame *frame, tg__frame_error *error) {
    char message[160];
    if (frame->chunked && (frame->content_length >= 0 || frame->http10)) {
        return refuse(error, 400, "bad_request",
                      "Transfer-Encoding with Content-Length, or in HTTP/1.0, is refused (two "
                      "readers would split the body differently)");
    }
    if (frame->method == METHOD_HEAD && (frame->chunked || frame->content_length > 0)) {
        return refuse(error, 400, "bad_request", "a HEAD request has no body");
    }
    if (frame->content_length > 0 && (uint64_t)frame->content_length > frame->body_size_max) {
        snprintf(message, sizeof message,
                 "the body is %lld bytes; limits.body_size_max_bytes is %llu",
                 (long long)frame->content_length, (unsigned long long)frame->body_size_max);
        return refuse(error, 413, "body_too_large", message);
    }
    if (frame->chunked) {
        frame->state = S_CHUNK_SIZE;
        return TAKE;
    }
    if (frame->content_length > 0) {
        frame->body_left = (uint64_t)frame->content_length;
        frame->state = S_BODY;
        return TAKE;
    }
    return REQUEST_END;
}

static step_result header_start(tg__frame *frame, unsigned char c, tg__frame_error *error) {
    if (c == ' ' || c == '\t') {
        return refuse(error, 400, "bad_request",
                      "a header line starts with a space: folded header lines are not accepted");
    }
    frame->name_length = 0;
    frame->value_length = 0;
    frame->state = S_NAME;
    return TAKE; /* the byte itself is read as part of the name by the caller */
}

static step_result name_byte(tg__frame *frame, unsigned char c, tg__frame_error *error) {
    if (c == ':' && frame->name_length > 0) {
        frame->state = S_VALUE;
        frame->value_length = 0;
        return TAKE;
    }
    if (!token_byte(c)) {
        return refuse(error, 400, "bad_request",
                      c == ' ' || c == '\t'
                          ? "a space in a header name, or between a header name and its colon"
                          : "malformed header line: expected Name: value");
    }
    if (frame->name_length < TG__FRAME_NAME_MAX) {
        frame->name[frame->name_length] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    frame->name_length++;
    return TAKE;
}

static step_result value_byte(tg__frame *frame, unsigned char c, tg__frame_error *error) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
        char message[160];
        snprintf(message, sizeof message, "a %s byte in the value of header '%.*s'",
                 c == 0 ? "NUL" : "control",
                 (int)(frame->name_length < TG__FRAME_NAME_MAX ? frame->name_length
                                                               : TG__FRAME_NAME_MAX),
                 frame->name);
        return refuse(error, 400, "bad_request", message);
    }
    if (frame->value_length == 0 && (c == ' ' || c == '\t')) {
        return TAKE; /* leading whitespace is not part of the value */
    }
    if (frame->value_length < TG__FRAME_VALUE_MAX) {
        frame->value[frame->value_length] = (char)c;
    }
    frame->value_length++;
    return TAKE;
}

/* ---- chunks ------------------------------------------------------------------------------------
 */

static step_result chunk_size_byte(tg__frame *frame, unsigned char c, tg__frame_error *error) {
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (c == ';') {
        return refuse(error, 400, "bad_chunk",
                      "chunk extensions (';' after a size) are not accepted");
    }
    if (digit < 0) {
        return refuse(error, 400, "bad_chunk", "a chunk size must be hex digits");
    }
    if ((frame->body_left > 0 || digit > 0) && ++frame->chunk_digits > 15) {
        return refuse(error, 413, "body_too_large", "a chunk past limits.body_size_max_bytes");
    }
    frame->body_left = frame->body_left * 16 + (uint64_t)digit;
    frame->chunk_sized = true;
    return TAKE;
}

static step_result end_of_chunk_size(tg__frame *frame, tg__frame_error *error) {
    if (!frame->chunk_sized) {
        return refuse(error, 400, "bad_chunk", "a chunk size line without a size");
    }
    frame->chunk_sized = false;
    frame->chunk_digits = 0;
    if (frame->body_left > frame->body_size_max - frame->body_total) {
        char message[160];
        snprintf(message, sizeof message,
                 "the chunked body passes limits.body_size_max_bytes (%llu)",
                 (unsigned long long)frame->body_size_max);
        return refuse(error, 413, "body_too_large", message);
    }
    frame->body_total += frame->body_left;
    frame->state = frame->body_left == 0 ? S_TRAILER : S_CHUNK_DATA;
    return TAKE;
}

/* ---- the grammar --------------------------------------------------------------------------------
 */

/* A line end (LF, after an optional CR) in the current state. */
static step_result line_end(tg__frame *frame, tg__frame_error *error) {
    switch (frame->state) {
    case S_IDLE:
        return ++frame->blank_lines > TG__FRAME_BLANK_LINES_MAX
                   ? refuse(error, 400, "bad_request", "empty lines where a request should be")
                   : SKIP;
    case S_VERSION:
        return end_of_request_line(frame, error);
    case S_HEADER:
        return end_of_headers(frame, error);
    case S_VALUE: {
        step_result result = end_of_header(frame, error);
        frame->state = S_HEADER;
        return result;
    }
    case S_CHUNK_SIZE:
        return end_of_chunk_size(frame, error);
    case S_CHUNK_END:
        frame->state = S_CHUNK_SIZE;
        return TAKE;
    case S_TRAILER:
        return REQUEST_END;
    default: /* S_METHOD, S_TARGET, S_NAME */
        return refuse(error, 400, "bad_request",
                      frame->state == S_NAME ? "a header line without a colon"
                                             : "malformed request line: expected METHOD /path "
                                               "HTTP/1.1");
    }
}

static step_result byte_in_state(tg__frame *frame, unsigned char c, tg__frame_error *error) {
    switch (frame->state) {
    case S_IDLE:
        frame->state = S_METHOD;
        return method_byte(frame, c, error);
    case S_METHOD:
        return method_byte(frame, c, error);
    case S_TARGET:
        return target_byte(frame, c, error);
    case S_VERSION:
        if (frame->name_length < TG__FRAME_NAME_MAX) {
            frame->name[frame->name_length] = (char)c;
        }
        frame->name_length++;
        return TAKE;
    case S_HEADER:
        if (header_start(frame, c, error) == FAILED) {
            return FAILED;
        }
        return name_byte(frame, c, error);
    case S_NAME:
        return name_byte(frame, c, error);
    case S_VALUE:
        return value_byte(frame, c, error);
    case S_CHUNK_SIZE:
        return chunk_size_byte(frame, c, error);
    case S_CHUNK_END:
        return refuse(error, 400, "bad_chunk", "a chunk's data must end with a line end");
    default: /* S_TRAILER */
        return refuse(error, 400, "bad_chunk",
                      "trailer fields after the last chunk are not accepted");
    }
}

/* Counts a byte of the request line or headers against the limit. */
static step_result count_head(tg__frame *frame, tg__frame_error *error) {
    if (frame->state >= S_BODY && frame->state != S_TRAILER) {
        return TAKE;
    }
    if (++frame->head_bytes <= frame->header_size_max) {
        return TAKE;
    }
    char message[160];
    bool line = frame->state <= S_VERSION;
    snprintf(message, sizeof message, "the request %s passes limits.header_size_max_bytes (%llu)",
             line ? "line" : "line and headers", (unsigned long long)frame->header_size_max);
    return refuse(error, line ? 414 : 431, line ? "uri_too_long" : "headers_too_large", message);
}

static step_result step(tg__frame *frame, unsigned char c, tg__frame_error *error) {
    if (count_head(frame, error) == FAILED) {
        return FAILED;
    }
    if (frame->after_cr) {
        frame->after_cr = false;
        if (c != '\n') {
            return refuse(error, 400, "bad_request", "a CR not followed by LF");
        }
        return line_end(frame, error);
    }
    if (c == '\r') {
        frame->after_cr = true;
        return frame->state == S_IDLE ? SKIP : TAKE;
    }
    if (c == '\n') {
        return line_end(frame, error);
    }
    return byte_in_state(frame, c, error);
}

size_t tg__frame_scan(tg__frame *frame, const unsigned char *bytes, size_t size, size_t *skipped,
                      tg__frame_error *error) {
    error->status = 0;
    *skipped = 0;
    size_t at = 0;
    while (at < size) {
        if (frame->state == S_BODY || frame->state == S_CHUNK_DATA) {
            size_t run = size - at < frame->body_left ? size - at : (size_t)frame->body_left;
            at += run;
            frame->body_left -= run;
            if (frame->body_left == 0 && frame->state == S_CHUNK_DATA) {
                frame->state = S_CHUNK_END;
            } else if (frame->body_left == 0) {
                next_request(frame);
                return at;
            }
            continue;
        }
        step_result result = step(frame, bytes[at], error);
        if (result == FAILED) {
            return at;
        }
        at++;
        if (result == SKIP && *skipped == at - 1) {
            /* Empty lines come only before a request line, so at the start of a scan (each
             * request's end returns): a leading run, dropped by the caller. */
            *skipped = at;
        }
        if (result == REQUEST_END) {
            next_request(frame);
            return at;
        }
    }
    return at;
}
