/*
 * proxy_headers: a proxied reply's headers handed to libevent in one entry.
 *
 * The upstream's headers (proxy_reply.c's header callback) and Tollgate's own
 * (x-tollgate-*, the stream's Cache-Control) are gathered in call->response_headers as
 * the wire carries them, each line checked (proxy/header_lines.h). Here they become
 * output headers: the Content-Type and a Date as entries of their own, since libevent
 * looks for those by name (and adds its own when it finds none), and all other lines as
 * one entry whose key is the first line's name and whose value carries the rest:
 * libevent writes an entry as "key: value\r\n", so the bytes are the lines themselves.
 * That is one evhttp_add_header's allocations and one printf instead of 15 or more, and
 * the Date is formatted once a second instead of with a printf per reply.
 *
 * libevent frees an entry's key, value and struct with free() (mm_free: the daemon sets
 * no allocator of its own), so they are allocated with malloc here.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy/header_lines.h"
#include "proxy/runtime/proxy_internal.h"

void tg__proxy_reply_header(proxy_call *call, const char *name, const char *value) {
    if (!tg__header_line_add(&call->response_headers, name, strlen(name), value, strlen(value))) {
        /* The lines are full (the upstream's filled them): added on its own, never lost. */
        evhttp_add_header(evhttp_request_get_output_headers(call->request), name, value);
    }
}

void tg__proxy_reply_number(proxy_call *call, const char *name, int64_t value) {
    char text[TG__INT64_TEXT_SIZE];
    tg__int64_text(value, text);
    tg__proxy_reply_header(call, name, text);
}

/* The Date header's value, formatted once a second. */
static const char *date_now(tg__proxy *proxy) {
    int64_t seconds = tg__now_ms() / 1000;
    if (proxy->date[0] == '\0' || seconds != proxy->date_seconds) {
        tg__http_date(seconds, proxy->date);
        proxy->date_seconds = seconds;
    }
    return proxy->date;
}

/* Each line as an entry of its own: the way when one entry cannot be allocated. The
 * lines are cut in place (they are reset after). */
static void add_each(struct evkeyvalq *out, char *lines, size_t size) {
    char *end = lines + size;
    while (lines < end) {
        char *colon = memchr(lines, ':', (size_t)(end - lines));
        char *line_end = memchr(lines, '\r', (size_t)(end - lines));
        if (colon == NULL || line_end == NULL || colon > line_end) {
            return;
        }
        *colon = '\0';
        *line_end = '\0';
        evhttp_add_header(out, lines, colon + 2);
        lines = line_end + 2;
    }
}

/* lines ("name: value\r\n", at least one) as one entry: key the first name, value the
 * rest without the last CR LF. */
static void add_block(struct evkeyvalq *out, char *lines, size_t size) {
    char *colon = memchr(lines, ':', size); /* a name is a token: its first colon ends it */
    size_t key_size = (size_t)(colon - lines);
    size_t value_size = size - key_size - 2 - 2;
    struct evkeyval *header = calloc(1, sizeof *header);
    char *key = malloc(key_size + 1);
    char *value = malloc(value_size + 1);
    if (header == NULL || key == NULL || value == NULL) {
        free(header);
        free(key);
        free(value);
        add_each(out, lines, size);
        return;
    }
    memcpy(key, lines, key_size);
    key[key_size] = '\0';
    memcpy(value, colon + 2, value_size);
    value[value_size] = '\0';
    header->key = key;
    header->value = value;
    TAILQ_INSERT_TAIL(out, header, next);
}

/* Takes the Content-Type line out of lines (the first, as evhttp_find_header would find
 * it) into its own entry; false when there is none. */
static bool take_content_type(struct evkeyvalq *out, tg__buf *lines) {
    static const char NAME[] = "content-type";
    char *at = lines->data;
    char *end = lines->data + lines->size;
    while (at < end) {
        char *line_end = memchr(at, '\r', (size_t)(end - at));
        if (line_end == NULL) {
            return false;
        }
        size_t line_size = (size_t)(line_end + 2 - at);
        if (line_size > sizeof NAME && at[sizeof NAME - 1] == ':' &&
            strncasecmp(at, NAME, sizeof NAME - 1) == 0) {
            *line_end = '\0';
            at[sizeof NAME - 1] = '\0';
            evhttp_add_header(out, at, at + sizeof NAME + 1);
            memmove(at, line_end + 2, (size_t)(end - (line_end + 2)));
            tg__buf_truncate(lines, lines->size - line_size);
            return true;
        }
        at = line_end + 2;
    }
    return false;
}

void tg__proxy_reply_headers_flush(proxy_call *call, const char *content_type) {
    struct evkeyvalq *out = evhttp_request_get_output_headers(call->request);
    tg__buf *lines = &call->response_headers;
    if (lines->size == 0 || !take_content_type(out, lines)) {
        evhttp_add_header(out, "Content-Type", content_type);
    }
    evhttp_add_header(out, "Date", date_now(call->proxy));
    if (lines->size > 0) {
        add_block(out, lines->data, lines->size);
    }
    tg__buf_reset(lines);
}
