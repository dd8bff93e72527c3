/*
 * mcp_http_stream: a session's GET stream, resumable (Streamable HTTP: Last-Event-ID).
 * Every message for the GET stream (list_changed, logging, the server's own
 * requests) gets the session's next id and is kept in the session's stream log,
 * whether a stream is open or not. A message written to a connection that then
 * drops is not lost: the client reconnects with `Last-Event-ID: N` (the MCP SDK
 * does so by itself) and gets every kept message after N, and nothing else: only
 * this stream's messages are in the log, never a POST's.
 *
 * The log is bounded (TG__MCP_HTTP_STREAM_LOG_BYTES_MAX): the oldest messages
 * already sent make room first; when the unsent ones alone fill it, a new message
 * is dropped and logged, as before there were ids.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/http/mcp_http_internal.h"

#define ID_TEXT_SIZE 24 /* a uint64 in decimal and a space */

/* The id at the start of a log line. */
static uint64_t line_id(const char *line) {
    return strtoull(line, NULL, 10);
}

static const char *first_line(const mcp_session *session) {
    const tg__mcp_queue *log = &session->stream_log;
    return log->size > 0 ? log->data + log->start : NULL;
}

/* Appends "ID MESSAGE"; evicts sent messages to make room. False when it cannot fit. */
static bool log_append(mcp_session *session, uint64_t id, const char *message, size_t size) {
    tg__mcp_queue *log = &session->stream_log;
    char *line = malloc(size + ID_TEXT_SIZE);
    if (line == NULL) {
        return false;
    }
    int prefix = snprintf(line, ID_TEXT_SIZE, "%" PRIu64 " ", id);
    memcpy(line + prefix, message, size);
    size_t length = (size_t)prefix + size;
    tg_status status;
    while ((status = tg__mcp_queue_line(log, line, length)) == TG_ERR_FULL &&
           first_line(session) != NULL && line_id(first_line(session)) <= session->stream_sent_id) {
        tg__mcp_queue_drop_line(log);
    }
    free(line);
    return status == TG_OK;
}

void tg__mcp_http_stream_message(mcp_session *session, const char *message, size_t size) {
    uint64_t id = session->stream_next_id;
    if (!log_append(session, id, message, size)) {
        fprintf(stderr,
                "tollgate: mcp session %.8s: dropped a %zu-byte message: %d bytes of messages "
                "wait for its GET stream already\n",
                session->id, size, TG__MCP_HTTP_STREAM_LOG_BYTES_MAX);
        return;
    }
    session->stream_next_id++;
    if (session->stream == NULL || tg__mcp_http_client_gone(session->stream)) {
        return; /* kept: the next GET gets it */
    }
    if (tg__mcp_http_buffered(session->stream) > TG__MCP_HTTP_STREAM_BUFFERED_MAX) {
        fprintf(stderr,
                "tollgate: mcp session %.8s: the client stopped reading its stream; closed it "
                "(it resumes with Last-Event-ID)\n",
                session->id);
        tg__mcp_http_stream_close(session);
        return;
    }
    tg__mcp_http_sse_event(session->stream, id, message, size);
    session->stream_sent_id = id;
    session->stream_written_ms = tg__now_ms();
}

uint64_t tg__mcp_http_stream_newest(const mcp_session *session) {
    return session->stream_next_id - 1;
}

void tg__mcp_http_session_open_stream(mcp_session *session, struct evhttp_request *request,
                                      bool resume, uint64_t after_id) {
    tg__mcp_http_stream_close(session); /* one GET stream per session: the newest wins */
    tg__mcp_http_sse_start(session, request);
    session->stream = request;
    session->stream_written_ms = tg__now_ms();
    session->active_ms = session->stream_written_ms;
    uint64_t after = resume ? after_id : session->stream_sent_id;
    const tg__mcp_queue *log = &session->stream_log;
    const char *at = log->data + log->start;
    const char *end = at + log->size;
    if (resume && log->size > 0 && line_id(at) > after_id + 1) {
        fprintf(stderr,
                "tollgate: mcp session %.8s: resuming after message %" PRIu64
                ", but messages before %" PRIu64 " are no longer kept\n",
                session->id, after_id, line_id(at));
    }
    while (log->size > 0 && at < end) {
        const char *newline = memchr(at, '\n', (size_t)(end - at));
        uint64_t id = line_id(at);
        if (id > after) {
            const char *message = strchr(at, ' ') + 1;
            tg__mcp_http_sse_event(request, id, message, (size_t)(newline - message));
            session->stream_sent_id = id > session->stream_sent_id ? id : session->stream_sent_id;
        }
        at = newline + 1;
    }
}
