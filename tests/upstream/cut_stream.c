/*
 * cut_stream: test helper for tests/upstream/cut_stream.test.js. Reads an upstream
 * event stream on stdin, passes its first KEEP events through the stream tracker
 * (dropping what a client must not see), then writes Tollgate's clean ending, as
 * the proxy does when a hold runs out. The node test feeds the result to the
 * official SDKs to prove they finish normally.
 *
 * Usage: cut_stream ROUTE KEEP CLIENT_WANTS_USAGE < upstream.sse > client.sse
 *   ROUTE: chat | completions | responses | messages
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sse.h"
#include "proxy/stream.h"

typedef struct {
    tg__stream *stream;
    const char *input;  /* the whole upstream stream */
    size_t event_start; /* where the current event's bytes begin */
    long keep;          /* events still to pass */
} cutter;

static tg_status on_event(void *context, const tg__sse_event *event) {
    cutter *c = context;
    if (c->keep-- <= 0) {
        return TG_ERR_STATE; /* the cut */
    }
    bool forward = true;
    tg__stream_event(c->stream, event, &forward);
    if (forward) {
        fwrite(c->input + c->event_start, 1, event->end_offset - c->event_start, stdout);
    }
    c->event_start = event->end_offset;
    return TG_OK;
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        tg__route route;
    } ROUTES[] = {{"chat", TG__ROUTE_OPENAI_CHAT},
                  {"completions", TG__ROUTE_OPENAI_COMPLETIONS},
                  {"responses", TG__ROUTE_OPENAI_RESPONSES},
                  {"messages", TG__ROUTE_ANTHROPIC_MESSAGES}};
    size_t r = 0;
    while (argc == 4 && r < 4 && strcmp(ROUTES[r].name, argv[1]) != 0) {
        r++;
    }
    if (argc != 4 || r == 4) {
        fprintf(stderr, "usage: cut_stream chat|completions|responses|messages KEEP 0|1\n");
        return 2;
    }
    static char input[1 << 22];
    size_t size = fread(input, 1, sizeof input, stdin);
    tg__stream stream;
    tg__stream_init(&stream, ROUTES[r].route, "requested-model", atoi(argv[3]) != 0);
    cutter c = {.stream = &stream, .input = input, .keep = atol(argv[2])};
    tg__sse_parser parser;
    tg__sse_init(&parser, 0, 0);
    tg_status status = tg__sse_feed(&parser, input, size, on_event, &c, NULL, NULL);
    tg__sse_free(&parser);
    if (status != TG_OK && status != TG_ERR_STATE) {
        fprintf(stderr, "cut_stream: %s\n", tg_status_str(status));
        return 1;
    }
    tg__usage usage;
    tg__stream_usage(&stream, 10, &usage);
    tg__buf end;
    tg__buf_init(&end, 1 << 24);
    status = tg__stream_write_end(&stream, &usage, 1768478400000, &end);
    if (status == TG_OK && end.size > 0) {
        fwrite(end.data, 1, end.size, stdout);
    }
    tg__buf_free(&end);
    tg__stream_free(&stream);
    return status == TG_OK ? 0 : 1;
}
