/*
 * fuzz_http_frame: the request framing scanner in front of evhttp. The first byte
 * picks a split point; the rest is fed once whole and once in two pieces, and both
 * must read the same: the same requests, the same refusal at the same byte. The
 * scanner never takes more than it was given, never skips bytes but at a scan's
 * start, and always takes something or says why not (no stall).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_frame.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint64_t requests;
    size_t taken; /* bytes taken before the refusal, or all */
    int status;
} reading;

static void feed(tg__frame *frame, const uint8_t *bytes, size_t size, reading *out) {
    size_t at = 0;
    while (at < size && out->status == 0) {
        size_t skipped = 0;
        tg__frame_error error;
        size_t taken = tg__frame_scan(frame, bytes + at, size - at, &skipped, &error);
        FUZZ_CHECK(taken <= size - at && skipped <= taken);
        FUZZ_CHECK(taken > 0 || error.status != 0);
        FUZZ_CHECK(error.status == 0 || (error.status >= 400 && error.status < 600));
        FUZZ_CHECK(error.status == 0 || (error.code != NULL && error.message[0] != '\0'));
        at += taken;
        out->status = error.status;
    }
    out->taken += at;
    out->requests = frame->requests;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 64 * 1024) {
        return 0;
    }
    size_t split = data[0] % size;
    const uint8_t *bytes = data + 1;
    size--;
    split = split > size ? size : split;
    tg__frame whole, pieces;
    tg__frame_init(&whole, 512, 1024); /* small limits, so fuzzing reaches them */
    tg__frame_init(&pieces, 512, 1024);
    reading a = {0, 0, 0}, b = {0, 0, 0};
    feed(&whole, bytes, size, &a);
    feed(&pieces, bytes, split, &b);
    if (b.status == 0) {
        feed(&pieces, bytes + split, size - split, &b);
    }
    FUZZ_CHECK(a.status == b.status && a.taken == b.taken && a.requests == b.requests);
    FUZZ_CHECK(tg__frame_phase_of(&whole) == tg__frame_phase_of(&pieces) || a.status != 0);
    return 0;
}
