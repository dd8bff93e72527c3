/*
 * sse: the event-stream parser. Lines end with CRLF, LF or CR; a CR at the end
 * of one piece and an LF at the start of the next are one line ending. Lines
 * wholly inside a piece are parsed in place; only a line cut by a piece boundary
 * is copied, so the usual case costs one scan of the bytes.
 */
#include <string.h>

#include "core/path.h"
#include "proxy/sse.h"

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

void tg__sse_init(tg__sse_parser *parser, size_t line_size_max, size_t event_size_max) {
    memset(parser, 0, sizeof *parser);
    parser->line_size_max = line_size_max ? line_size_max : TG__SSE_LINE_SIZE_MAX;
    tg__buf_init(&parser->line, parser->line_size_max);
    tg__buf_init(&parser->data, event_size_max ? event_size_max : TG__SSE_EVENT_SIZE_MAX);
    tg__buf_init(&parser->type, parser->line_size_max);
    tg__buf_init(&parser->id, parser->line_size_max);
    parser->retry_ms = TG_NONE;
    parser->last_line_blank = true;
}

void tg__sse_free(tg__sse_parser *parser) {
    if (parser == NULL) {
        return;
    }
    tg__buf_free(&parser->line);
    tg__buf_free(&parser->data);
    tg__buf_free(&parser->type);
    tg__buf_free(&parser->id);
}

bool tg__sse_idle(const tg__sse_parser *parser) {
    return parser->line.size == 0 && !parser->data_seen && parser->type.size == 0;
}

static tg_status dispatch(tg__sse_parser *parser, tg__sse_callback callback, void *context,
                          size_t end_offset) {
    tg_status status = TG_OK;
    if (parser->data_seen) {
        /* The data buffer ends with the LF added after the last data line. */
        parser->data.size--;
        parser->data.data[parser->data.size] = '\0';
        tg__sse_event event = {
            .type = parser->type.size ? parser->type.data : "",
            .type_size = parser->type.size,
            .data = parser->data.data,
            .data_size = parser->data.size,
            .id = parser->id.size ? parser->id.data : "",
            .retry_ms = parser->retry_ms,
            .end_offset = end_offset,
        };
        status = callback ? callback(context, &event) : TG_OK;
        parser->stopped = status != TG_OK;
    }
    tg__buf_reset(&parser->data);
    tg__buf_reset(&parser->type);
    parser->data_seen = false;
    return status;
}

static tg_status set_field(tg__sse_parser *parser, const char *name, size_t name_size,
                           const char *value, size_t value_size) {
    if (name_size == 4 && memcmp(name, "data", 4) == 0) {
        parser->data_seen = true;
        tg_status status = tg__buf_append(&parser->data, value, value_size);
        return status == TG_OK ? tg__buf_append(&parser->data, "\n", 1) : status;
    }
    if (name_size == 5 && memcmp(name, "event", 5) == 0) {
        tg__buf_reset(&parser->type);
        return tg__buf_append(&parser->type, value, value_size);
    }
    if (name_size == 2 && memcmp(name, "id", 2) == 0) {
        if (memchr(value, '\0', value_size) != NULL) {
            return TG_OK; /* the spec ignores an id holding NUL */
        }
        tg__buf_reset(&parser->id);
        return tg__buf_append(&parser->id, value, value_size);
    }
    if (name_size == 5 && memcmp(name, "retry", 5) == 0 && value_size > 0 && value_size <= 15) {
        int64_t retry = 0;
        for (size_t i = 0; i < value_size; i++) {
            if (value[i] < '0' || value[i] > '9') {
                return TG_OK; /* not all digits: ignored */
            }
            retry = retry * 10 + (value[i] - '0');
        }
        parser->retry_ms = retry;
    }
    return TG_OK; /* other fields are ignored */
}

static tg_status process_line(tg__sse_parser *parser, const char *line, size_t size,
                              tg__sse_callback callback, void *context, size_t end_offset) {
    parser->last_line_blank = size == 0;
    if (size == 0) {
        return dispatch(parser, callback, context, end_offset);
    }
    if (line[0] == ':') {
        return TG_OK; /* a comment, e.g. a keep-alive */
    }
    const char *colon = memchr(line, ':', size);
    if (colon == NULL) {
        return set_field(parser, line, size, "", 0);
    }
    size_t name_size = (size_t)(colon - line);
    const char *value = colon + 1;
    size_t value_size = size - name_size - 1;
    if (value_size > 0 && value[0] == ' ') {
        value++;
        value_size--;
    }
    return set_field(parser, line, name_size, value, value_size);
}

/* Skips a leading BOM; returns bytes consumed. Partial matches are kept. */
static size_t skip_bom(tg__sse_parser *parser, const char *bytes, size_t size) {
    size_t i = 0;
    while (parser->bom_matched < 3 && i < size) {
        if ((unsigned char)bytes[i] != BOM[parser->bom_matched]) {
            /* Not a BOM after all: what matched so far is ordinary text. */
            (void)tg__buf_append(&parser->line, BOM, (size_t)parser->bom_matched);
            parser->bom_matched = 3;
            return i;
        }
        parser->bom_matched++;
        i++;
    }
    return i;
}

static tg_status fail(const tg__sse_parser *parser, tg_error *err, tg_status status) {
    if (parser->stopped) {
        return tg__fail(err, status, "event stream: stopped by its reader (%s)",
                        tg_status_str(status));
    }
    if (status == TG_ERR_FULL) {
        return tg__fail(err, status, "event stream: a line or event exceeds its size limit");
    }
    if (status == TG_ERR_NOMEM) {
        return tg__fail(err, status, "out of memory");
    }
    return tg__fail(err, status, "event stream: %s", tg_status_str(status));
}

tg_status tg__sse_feed(tg__sse_parser *parser, const char *bytes, size_t size,
                       tg__sse_callback callback, void *context, size_t *complete_size_out,
                       tg_error *err) {
    size_t complete = 0;
    if (complete_size_out != NULL) {
        *complete_size_out = 0; /* also what a failed feed leaves */
    }
    size_t i = skip_bom(parser, bytes, size);
    while (i < size) {
        if (parser->cr_pending) {
            parser->cr_pending = false;
            if (bytes[i] == '\n') {
                i++;
                complete = parser->last_line_blank ? i : complete;
                continue;
            }
        }
        size_t j = i;
        while (j < size && bytes[j] != '\n' && bytes[j] != '\r') {
            j++;
        }
        tg_status status = TG_OK;
        if (j - i > parser->line_size_max) {
            status = TG_ERR_FULL;
        } else if (j == size || parser->line.size > 0) {
            status = tg__buf_append(&parser->line, bytes + i, j - i);
        }
        if (status != TG_OK) {
            return fail(parser, err, status);
        }
        if (j == size) {
            break; /* the line goes on in the next piece */
        }
        const char *line = parser->line.size > 0 ? parser->line.data : bytes + i;
        size_t line_size = parser->line.size > 0 ? parser->line.size : j - i;
        parser->cr_pending = bytes[j] == '\r';
        i = j + 1;
        status = process_line(parser, line, line_size, callback, context, i);
        tg__buf_reset(&parser->line);
        if (status != TG_OK) {
            return fail(parser, err, status);
        }
        if (parser->last_line_blank) {
            complete = i;
        }
    }
    if (complete_size_out != NULL) {
        *complete_size_out = complete;
    }
    return TG_OK;
}
