/*
 * fuzz_sse: the event-stream parser and the stream tracker. The first byte picks
 * a route and a split point; the rest is fed once whole and once in two pieces,
 * and both must give the same events (the parser's one promise). Every event
 * goes through the route's tracker, and the clean ending written after must
 * parse back into whole events.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sse.h"
#include "proxy/stream.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint64_t hash; /* of every event's type and data, in order */
    int events;
    tg__stream *stream;
} run;

static uint64_t mix(uint64_t hash, const char *bytes, size_t size) {
    for (size_t i = 0; i < size; i++) {
        hash = (hash ^ (uint8_t)bytes[i]) * UINT64_C(1099511628211);
    }
    return hash * UINT64_C(31) + size;
}

static tg_status on_event(void *context, const tg__sse_event *event) {
    run *r = context;
    r->hash = mix(mix(r->hash, event->type, event->type_size), event->data, event->data_size);
    r->events++;
    if (r->stream != NULL) {
        bool forward;
        return tg__stream_event(r->stream, event, &forward);
    }
    return TG_OK;
}

static tg_status feed(const char *bytes, size_t size, size_t split, run *r) {
    tg__sse_parser parser;
    tg__sse_init(&parser, 256, 1024); /* small limits, so fuzzing reaches them */
    size_t complete = 0;
    tg_status status = tg__sse_feed(&parser, bytes, split, on_event, r, &complete, NULL);
    FUZZ_CHECK(complete <= split && (status == TG_OK || complete == 0));
    if (status == TG_OK) {
        status = tg__sse_feed(&parser, bytes + split, size - split, on_event, r, &complete, NULL);
        FUZZ_CHECK(complete <= size - split && (status == TG_OK || complete == 0));
    }
    tg__sse_free(&parser);
    return status;
}

static tg_status count_event(void *context, const tg__sse_event *event) {
    (void)event;
    (*(int *)context)++;
    return TG_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 65536) {
        return 0;
    }
    static const tg__route ROUTES[4] = {TG__ROUTE_OPENAI_CHAT, TG__ROUTE_OPENAI_COMPLETIONS,
                                        TG__ROUTE_OPENAI_RESPONSES, TG__ROUTE_ANTHROPIC_MESSAGES};
    tg__route route = ROUTES[data[0] & 3];
    const char *bytes = (const char *)data + 1;
    size--;
    size_t split = size ? (data[0] >> 2) * size / 63 : 0;
    split = split > size ? size : split;
    run whole = {.hash = 1}, pieces = {.hash = 1};
    tg__stream stream;
    tg__stream_init(&stream, route, "model", (data[0] & 4) != 0);
    whole.stream = &stream;
    tg_status a = feed(bytes, size, size, &whole);
    tg_status b = feed(bytes, size, split, &pieces);
    FUZZ_CHECK(a == b);
    if (a == TG_OK) {
        FUZZ_CHECK(whole.hash == pieces.hash && whole.events == pieces.events);
    }
    tg__usage usage;
    tg__stream_usage(&stream, 100, &usage);
    FUZZ_CHECK(usage.counts[TG__UNIT_OUTPUT] >= 0 && usage.counts[TG__UNIT_INPUT] >= 0);
    tg__buf end;
    tg__buf_init(&end, 16 * 1024 * 1024);
    if (tg__stream_write_end(&stream, &usage, 0, &end) == TG_OK && end.size > 0) {
        tg__sse_parser parser;
        tg__sse_init(&parser, 0, 0);
        int events = 0;
        size_t complete = 0;
        FUZZ_CHECK(tg__sse_feed(&parser, end.data, end.size, count_event, &events, &complete,
                                NULL) == TG_OK);
        FUZZ_CHECK(complete == end.size && events > 0);
        tg__sse_free(&parser);
    }
    tg__buf_free(&end);
    tg__stream_free(&stream);
    return 0;
}
