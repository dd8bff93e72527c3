/*
 * sse: an incremental parser of server-sent events (the WHATWG event-stream
 * format), fed the upstream's bytes in whatever pieces the network delivers.
 * Both providers stream this way: OpenAI with data-only events ending in
 * "data: [DONE]", Anthropic and the Responses API with named events.
 *
 * Besides events, the parser reports where the last complete event ends in each
 * piece, so the proxy forwards whole events only: when it has to end a stream
 * early, the client never sees half an event followed by Tollgate's ending.
 *
 * Limits: a line longer than line_size_max or an event's data longer than
 * event_size_max fails with TG_ERR_FULL (the proxy then aborts the call).
 */
#ifndef TG_PROXY_SSE_H
#define TG_PROXY_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tollgate.h"

#define TG__SSE_LINE_SIZE_MAX (1024 * 1024)       /* default bytes in one line */
#define TG__SSE_EVENT_SIZE_MAX (16 * 1024 * 1024) /* default bytes of data in one event */

/* One dispatched event. Pointers are valid during the callback only. */
typedef struct {
    const char *type;  /* the "event" field, "" when absent (SSE's default "message") */
    size_t type_size;  /* strlen(type) */
    const char *data;  /* data lines joined with '\n', NUL-terminated */
    size_t data_size;  /* bytes of data */
    const char *id;    /* the last event id seen so far on the stream, "" none */
    int64_t retry_ms;  /* the last retry field, TG_NONE none */
    size_t end_offset; /* offset in the piece being fed just past this event's blank line */
} tg__sse_event;

/* Called for each event; a status other than TG_OK stops the feed and is returned. */
typedef tg_status (*tg__sse_callback)(void *context, const tg__sse_event *event);

typedef struct {
    tg__buf line;         /* the line being read when a piece ended inside it */
    tg__buf data;         /* data of the event being read */
    tg__buf type;         /* event field of the event being read */
    tg__buf id;           /* last event id */
    int64_t retry_ms;     /* last retry field */
    bool data_seen;       /* a data field was seen in this event */
    bool cr_pending;      /* the last piece ended in CR: a first LF belongs to it */
    bool last_line_blank; /* the last complete line was empty (between events) */
    int bom_matched;      /* bytes of a leading UTF-8 BOM matched so far; 3 when done */
    bool stopped;         /* the callback returned an error */
    size_t line_size_max; /* limit on one line */
} tg__sse_parser;

/* Prepares a parser; 0 for a limit means its default above. Allocates nothing. */
void tg__sse_init(tg__sse_parser *parser, size_t line_size_max, size_t event_size_max);

/*
 * Parses the next piece of the stream, calling back for each complete event.
 * *complete_size_out (may be NULL) receives how many bytes of this piece lie
 * before the end of the last complete event in it, or 0 when none ends in it
 * (and on an error):
 * bytes held back from earlier pieces plus this many can be forwarded whole.
 * Errors: TG_ERR_FULL (a limit), TG_ERR_NOMEM, or the callback's status; the
 * parser must not be fed again after an error.
 */
tg_status tg__sse_feed(tg__sse_parser *parser, const char *bytes, size_t size,
                       tg__sse_callback callback, void *context, size_t *complete_size_out,
                       tg_error *err);

/* True when no partial line or event is pending (the stream may end here). */
bool tg__sse_idle(const tg__sse_parser *parser);

/* Frees the parser's buffers. NULL is a no-op. */
void tg__sse_free(tg__sse_parser *parser);

#endif
