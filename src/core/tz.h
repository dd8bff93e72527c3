/*
 * tz: IANA time zones for budget windows, parsed from TZif bytes.
 *
 * A budget "per day in Asia/Taipei" resets at Taipei's local midnight, so the
 * core must know a zone's UTC offset at any instant. Core does no I/O: the
 * engine reads /usr/share/zoneinfo/<name> and hands the bytes to
 * tg__tz_parse(); everything here is pure computation and deterministic.
 *
 * Format: RFC 8536 (TZif versions 1, 2, 3, 4). Version 2+ files are read from
 * their 64-bit block; instants after the last transition follow the footer's
 * POSIX TZ string (e.g. "EST5EDT,M3.2.0,M11.1.0"), so a budget keeps resetting
 * at the right local midnight after 2037.
 */
#ifndef TG_CORE_TZ_H
#define TG_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate.h"

/* Limits on what a TZif file may declare; a file past them is rejected. */
#define TG_TZ_TRANSITIONS_MAX 4096
#define TG_TZ_TYPES_MAX 256
#define TG_TZ_FILE_SIZE_MAX (256 * 1024)
#define TG_TZ_NAME_SIZE_MAX 64

typedef struct tg__tz tg__tz;

/*
 * Parses a TZif file. `name` is copied (the IANA name, e.g. "Asia/Taipei").
 * On success *out is from malloc; caller frees with tg__tz_free(). On failure
 * returns TG_ERR_TZ (malformed, truncated, or over the limits above) or
 * TG_ERR_NOMEM and leaves *out untouched. Never reads past data[size-1].
 */
tg_status tg__tz_parse(const char *name, const uint8_t *data, size_t size, tg__tz **out);

/* The fixed zone "UTC" without any file. From malloc; caller frees. NULL on OOM. */
tg__tz *tg__tz_utc(void);

/* Frees a zone; NULL is a no-op. */
void tg__tz_free(tg__tz *tz);

/* The zone's IANA name as given to tg__tz_parse ("UTC" for tg__tz_utc). */
const char *tg__tz_name(const tg__tz *tz);

/* UTC offset in seconds east of Greenwich in force at `utc_s` (Unix seconds). */
int32_t tg__tz_offset_at(const tg__tz *tz, int64_t utc_s);

/*
 * The window of `kind` that contains `now_ms`, as half-open [*start_ms, *end_ms)
 * in Unix milliseconds, aligned to local civil time in `tz`: hour to the local
 * hour, day to local midnight, week to local midnight on Monday (ISO weeks),
 * month to local midnight on the 1st. Lifetime gives INT64_MIN and INT64_MAX.
 * When a local midnight does not exist (a DST gap at 00:00), the window starts
 * at the first instant after the gap. Always end > start and start <= now_ms < end.
 *
 * When clocks go back, a window never does: the repeated local time stays in the
 * window already reached (the 01:00 hour of a fall-back day lasts two real hours),
 * so consecutive windows always meet, each one's end the next one's start. Bounds
 * saturate at INT64_MIN and INT64_MAX; now_ms == INT64_MAX, which no half-open
 * window can hold, gets end == INT64_MAX.
 */
void tg__window_bounds(const tg__tz *tz, tg_window_kind kind, int64_t now_ms, int64_t *start_ms,
                       int64_t *end_ms);

#endif
