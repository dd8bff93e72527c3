/*
 * fuzz_tz: the TZif parser and the window arithmetic on arbitrary bytes.
 *
 * The input is parsed twice: as a whole TZif file, and (so the fuzzer reaches the
 * POSIX TZ parser without first having to build a valid file) as the footer of a
 * minimal version 3 file with no transitions. Whatever parses must give offsets
 * within the RFC's range and, for every window kind, a window that holds `now`
 * and meets its neighbours, at instants taken from the input and at the ends of
 * int64. The sanitizers catch any read past the input.
 */
#include <stdlib.h>
#include <string.h>

#include "core/tz.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FOOTER_SIZE_MAX 256
#define INSTANTS_FROM_INPUT 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_window(const tg__tz *tz, tg_window_kind kind, int64_t now_ms) {
    int64_t start_ms;
    int64_t end_ms;
    tg__window_bounds(tz, kind, now_ms, &start_ms, &end_ms);
    FUZZ_CHECK(start_ms <= now_ms && now_ms < end_ms);
    if (end_ms < INT64_MAX) {
        int64_t next_start_ms;
        int64_t next_end_ms;
        tg__window_bounds(tz, kind, end_ms, &next_start_ms, &next_end_ms);
        FUZZ_CHECK(next_start_ms == end_ms);
    }
    if (start_ms > INT64_MIN) {
        int64_t previous_start_ms;
        int64_t previous_end_ms;
        tg__window_bounds(tz, kind, start_ms - 1, &previous_start_ms, &previous_end_ms);
        FUZZ_CHECK(previous_end_ms == start_ms);
    }
}

static void check_instant(const tg__tz *tz, int64_t now_ms) {
    if (now_ms == INT64_MAX) {
        now_ms--; /* no half-open window can hold the last instant */
    }
    int32_t offset_s = tg__tz_offset_at(tz, now_ms / 1000);
    FUZZ_CHECK(offset_s >= -89999 && offset_s <= 93599);
    (void)tg__tz_offset_at(tz, now_ms); /* any int64 of seconds is allowed */
    tg_window_kind kinds[] = {TG_WINDOW_LIFETIME, TG_WINDOW_HOUR, TG_WINDOW_DAY, TG_WINDOW_WEEK,
                              TG_WINDOW_MONTH};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        check_window(tz, kinds[k], now_ms);
    }
}

/* Instants: the input's last bytes, scaled into 1900..2300 and raw, and the extremes. */
static void check_zone(const tg__tz *tz, const uint8_t *data, size_t size) {
    FUZZ_CHECK(strcmp(tg__tz_name(tz), "Fuzz/Zone") == 0);
    uint64_t seed = 0;
    for (size_t i = 0; i < 8 && i < size; i++) {
        seed = seed << 8 | data[size - 1 - i];
    }
    for (int i = 0; i < INSTANTS_FROM_INPUT; i++) {
        seed = seed * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        int64_t within_ms = INT64_C(-2208988800000) + (int64_t)(seed % UINT64_C(12622780800000));
        check_instant(tz, within_ms);
    }
    int64_t raw_ms;
    memcpy(&raw_ms, &seed, sizeof raw_ms);
    check_instant(tz, raw_ms);
    check_instant(tz, 0);
    check_instant(tz, INT64_MIN);
    check_instant(tz, INT64_MAX);
}

/* A version 3 file with one type, no transitions, and `footer` (which must not hold '\n'). */
static size_t wrap_footer(const uint8_t *footer, size_t footer_size, uint8_t *out) {
    static const uint8_t header[44] = {'T', 'Z', 'i', 'f', '3', [39] = 1, [43] = 4};
    static const uint8_t block[10] = {0, 0, 0, 0, 0, 0, 'U', 'T', 'C', 0};
    size_t size = 0;
    for (int copy = 0; copy < 2; copy++) {
        memcpy(out + size, header, sizeof header);
        size += sizeof header;
        memcpy(out + size, block, sizeof block);
        size += sizeof block;
    }
    out[size++] = '\n';
    if (footer_size > 0) {
        memcpy(out + size, footer, footer_size);
        size += footer_size;
    }
    out[size++] = '\n';
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tg__tz *tz = NULL;
    tg__tz *sentinel = (tg__tz *)&sentinel;
    tz = sentinel;
    tg_status status = tg__tz_parse("Fuzz/Zone", data, size, &tz);
    FUZZ_CHECK(status == TG_OK || status == TG_ERR_TZ);
    if (status == TG_OK) {
        check_zone(tz, data, size);
        tg__tz_free(tz);
    } else {
        FUZZ_CHECK(tz == sentinel);
    }

    size_t footer_size = 0;
    while (footer_size < size && footer_size < FOOTER_SIZE_MAX && data[footer_size] != '\n') {
        footer_size++;
    }
    uint8_t wrapped[2 * (44 + 10) + 2 + FOOTER_SIZE_MAX];
    size_t wrapped_size = wrap_footer(data, footer_size, wrapped);
    tz = NULL;
    if (tg__tz_parse("Fuzz/Zone", wrapped, wrapped_size, &tz) == TG_OK) {
        check_zone(tz, data, size);
        tg__tz_free(tz);
    }
    return 0;
}
