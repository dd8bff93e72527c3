/*
 * header_lines: a reply's header lines gathered as the wire carries them
 * ("name: value\r\n"). libevent writes each output header with a printf of its own
 * and keeps each in three allocations; a proxied reply has 15 or more (the upstream's,
 * then Tollgate's), which cost about 40,000 instructions a call, more than any part of
 * Tollgate's own. Gathered here, checked line by line, they go to libevent as one
 * entry (proxy_reply.c), which it writes with one printf: the same bytes on the wire.
 *
 * Because the lines bypass evhttp_add_header's own check, every line is checked here,
 * more strictly than libevent does: a name is an HTTP token, a value holds no CR, LF
 * or NUL (libevent would have passed a folded value on).
 */
#ifndef TG_PROXY_HEADER_LINES_H
#define TG_PROXY_HEADER_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TG__HEADER_NAME_SIZE_MAX 128 /* bytes of a header name passed on, NUL included */
#define TG__HTTP_DATE_SIZE 30        /* "Tue, 08 Dec 2026 21:40:00 GMT" and its NUL */
#define TG__INT64_TEXT_SIZE 21       /* "-9223372036854775808" and its NUL */

/* True when name (size bytes) is an HTTP token (RFC 9110 tchar) of 1 to
 * TG__HEADER_NAME_SIZE_MAX - 1 bytes. */
bool tg__header_name_valid(const char *name, size_t size);

/* Appends "name: value\r\n" to lines. False, lines unchanged, when the name is not a
 * valid one, the value holds a CR, LF or NUL, or lines would pass their maximum. */
bool tg__header_line_add(tg__buf *lines, const char *name, size_t name_size, const char *value,
                         size_t value_size);

/* The Date header's value (RFC 9110 IMF-fixdate, as libevent writes it) for `seconds`
 * since the epoch, into out. Without strftime or printf; the caller keeps it for the
 * second. */
void tg__http_date(int64_t seconds, char out[TG__HTTP_DATE_SIZE]);

/* value in decimal into out, NUL-terminated, without printf; returns its length. */
size_t tg__int64_text(int64_t value, char out[TG__INT64_TEXT_SIZE]);

#endif
