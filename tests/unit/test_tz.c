/*
 * test_tz: core/tz.c against glibc and against the calendar.
 *
 * glibc's localtime_r is an independent reader of the same TZif files, so the
 * offsets tz.c computes from /usr/share/zoneinfo must agree with tm_gmtoff at
 * every instant we try, 1900..2150, through the post-2037 footer range, and
 * exactly at every change glibc shows. Windows are checked against local civil
 * time as glibc sees it: each bound is the first instant at or after a local
 * hour, midnight, Monday or 1st, windows contain `now` and tile time without
 * gaps. Hand-built files pin down the footer rules (Jn, n, Mm.w.d, negative and
 * >24h times) and the malformed inputs that must be refused without a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "assertions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tz.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TEST_FILE_SIZE_MAX (TG_TZ_FILE_SIZE_MAX + 4096)
#define BUILT_FILE_SIZE_MAX 8192
#define CHANGES_MAX 2048
/* 1900-01-01 and 2150-01-01: past 1970..2100 on both sides, deep into the footer's years. */
#define FROM_S INT64_C(-2208988800)
#define TO_S INT64_C(5679590400)

static const char *const zones[] = {
    "UTC",
    "Asia/Taipei",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Africa/Casablanca",
    "America/Havana",
    "Europe/Dublin",
    "America/Nuuk",
};
#define ZONES_COUNT (sizeof zones / sizeof zones[0])

static const tg_window_kind window_kinds[] = {TG_WINDOW_HOUR, TG_WINDOW_DAY, TG_WINDOW_WEEK,
                                              TG_WINDOW_MONTH};
#define WINDOW_KINDS_COUNT (sizeof window_kinds / sizeof window_kinds[0])

/* ---- helpers ------------------------------------------------------------------------- */

static uint64_t random_next(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static int64_t random_between(uint64_t *state, int64_t low, int64_t high) {
    return low + (int64_t)(random_next(state) % (uint64_t)(high - low));
}

static int64_t floor_div(int64_t a, int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Unix seconds of a UTC civil time. */
static int64_t utc(int year, int month, int day, int hour, int minute, int second) {
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = minute,
                    .tm_sec = second};
    return (int64_t)timegm(&tm);
}

/* Reads a zone file; from malloc, exactly its size (so ASan sees reads past it). */
static uint8_t *read_zone_file(const char *name, size_t *size) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, name);
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        print_error("cannot open %s\n", path);
        fail();
    }
    uint8_t *buffer = malloc(TEST_FILE_SIZE_MAX);
    assert_non_null(buffer);
    *size = fread(buffer, 1, TEST_FILE_SIZE_MAX, file);
    fclose(file);
    uint8_t *exact = malloc(*size);
    assert_non_null(exact);
    memcpy(exact, buffer, *size);
    free(buffer);
    return exact;
}

static tg__tz *load_zone(const char *name) {
    size_t size;
    uint8_t *data = read_zone_file(name, &size);
    tg__tz *tz = NULL;
    if (tg__tz_parse(name, data, size, &tz) != TG_OK) {
        print_error("%s does not parse\n", name);
        fail();
    }
    free(data);
    assert_string_equal(tg__tz_name(tz), name);
    return tz;
}

/* Parses a copy of exactly `size` bytes, so ASan catches a read past the end. */
static tg_status parse_exact(const uint8_t *data, size_t size, tg__tz **out) {
    uint8_t *copy = malloc(size > 0 ? size : 1);
    assert_non_null(copy);
    memcpy(copy, data, size);
    tg_status status = tg__tz_parse("Test/Zone", size > 0 ? copy : NULL, size, out);
    free(copy);
    return status;
}

/* A parse that must fail with TG_ERR_TZ and leave *out alone. */
static void expect_refused(const uint8_t *data, size_t size, const char *why) {
    tg__tz *sentinel = (tg__tz *)&sentinel;
    tg__tz *out = sentinel;
    tg_status status = parse_exact(data, size, &out);
    if (status != TG_ERR_TZ || out != sentinel) {
        print_error("%s: status %d, expected TG_ERR_TZ with output untouched\n", why, status);
        fail();
    }
}

static void use_glibc_zone(const char *name) {
    assert_int_equal(setenv("TZ", name, 1), 0);
    tzset();
}

static int32_t glibc_offset(int64_t utc_s) {
    time_t t = (time_t)utc_s;
    struct tm tm;
    assert_non_null(localtime_r(&t, &tm));
    return (int32_t)tm.tm_gmtoff;
}

/* Local civil time as seconds since 1970-01-01 00:00 local, per glibc. */
static int64_t local_s(int64_t utc_s) {
    return utc_s + glibc_offset(utc_s);
}

static void expect_offset(const tg__tz *tz, int64_t utc_s, int32_t expected) {
    int32_t actual = tg__tz_offset_at(tz, utc_s);
    if (actual != expected) {
        print_error("%s at %lld: tz.c says %d, expected %d\n", tg__tz_name(tz), (long long)utc_s,
                    actual, expected);
        fail();
    }
}

/* The first instant in (low, high] whose glibc offset differs from low's. */
static int64_t glibc_change_between(int64_t low, int64_t high) {
    int32_t low_offset = glibc_offset(low);
    while (high - low > 1) {
        int64_t middle = low + (high - low) / 2;
        if (glibc_offset(middle) == low_offset) {
            low = middle;
        } else {
            high = middle;
        }
    }
    return high;
}

/*
 * Compares tz.c with glibc (already set to the zone) every few hours from
 * FROM_S to TO_S, and exactly around each change found; stores the changes.
 */
static size_t compare_offsets(const tg__tz *tz, int64_t changes[CHANGES_MAX]) {
    uint64_t state = 0x9e3779b97f4a7c15u;
    size_t count = 0;
    int64_t previous_s = FROM_S;
    int32_t previous_offset = glibc_offset(previous_s);
    expect_offset(tz, previous_s, previous_offset);
    while (previous_s < TO_S) {
        int64_t t = previous_s + random_between(&state, 3600, INT64_C(4) * 3600);
        int32_t offset = glibc_offset(t);
        expect_offset(tz, t, offset);
        if (offset != previous_offset) {
            int64_t change = glibc_change_between(previous_s, t);
            expect_offset(tz, change - 1, glibc_offset(change - 1));
            expect_offset(tz, change, glibc_offset(change));
            if (count < CHANGES_MAX) {
                changes[count++] = change;
            }
        }
        previous_s = t;
        previous_offset = offset;
    }
    return count;
}

/* ---- windows against local civil time ------------------------------------------------- */

/* The local boundary of `kind` at or before local time `local`: hour, midnight, Monday, 1st. */
static int64_t local_floor(tg_window_kind kind, int64_t local) {
    time_t t = (time_t)local;
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    tm.tm_sec = 0;
    tm.tm_min = 0;
    if (kind != TG_WINDOW_HOUR) {
        tm.tm_hour = 0;
    }
    if (kind == TG_WINDOW_WEEK) {
        tm.tm_mday -= (tm.tm_wday + 6) % 7; /* tm_wday counts from Sunday */
    }
    if (kind == TG_WINDOW_MONTH) {
        tm.tm_mday = 1;
    }
    return (int64_t)timegm(&tm);
}

/* True when `bound_s` is the first instant at or after some local boundary of `kind`. */
static bool is_first_at_boundary(tg_window_kind kind, int64_t bound_s) {
    return local_floor(kind, local_s(bound_s)) > local_s(bound_s - 1);
}

static void window_failed(const tg__tz *tz, tg_window_kind kind, int64_t now_ms, int64_t start_ms,
                          int64_t end_ms, const char *what) {
    print_error("%s kind %d now %lld: [%lld, %lld): %s\n", tg__tz_name(tz), kind, (long long)now_ms,
                (long long)start_ms, (long long)end_ms, what);
    fail();
}

/* Checks the window holding now_ms (glibc must be set to tz's zone). */
static void check_window(const tg__tz *tz, tg_window_kind kind, int64_t now_ms) {
    int64_t start_ms;
    int64_t end_ms;
    tg__window_bounds(tz, kind, now_ms, &start_ms, &end_ms);
    if (!(start_ms <= now_ms && now_ms < end_ms) || start_ms % 1000 != 0 || end_ms % 1000 != 0) {
        window_failed(tz, kind, now_ms, start_ms, end_ms, "does not hold now");
    }
    int64_t start_s = start_ms / 1000;
    int64_t end_s = end_ms / 1000;
    if (!is_first_at_boundary(kind, start_s) || !is_first_at_boundary(kind, end_s)) {
        window_failed(tz, kind, now_ms, start_ms, end_ms, "a bound is not a local boundary");
    }
    int64_t start_floor = local_floor(kind, local_s(start_s));
    if (local_floor(kind, local_s(end_s - 1)) != start_floor) {
        window_failed(tz, kind, now_ms, start_ms, end_ms, "a boundary inside");
    }
    /* now's own local window, unless clocks went back across its start (then it is later). */
    int64_t now_local = local_s(floor_div(now_ms, 1000));
    if (local_floor(kind, now_local) != start_floor && now_local >= local_s(start_s)) {
        window_failed(tz, kind, now_ms, start_ms, end_ms, "not now's local window");
    }
    int64_t next_start_ms;
    int64_t next_end_ms;
    tg__window_bounds(tz, kind, end_ms, &next_start_ms, &next_end_ms);
    int64_t previous_start_ms;
    int64_t previous_end_ms;
    tg__window_bounds(tz, kind, start_ms - 1, &previous_start_ms, &previous_end_ms);
    if (next_start_ms != end_ms || previous_end_ms != start_ms) {
        window_failed(tz, kind, now_ms, start_ms, end_ms, "neighbours do not meet it");
    }
}

static void expect_window(const tg__tz *tz, tg_window_kind kind, int64_t now_s, int64_t start_s,
                          int64_t end_s) {
    int64_t start_ms;
    int64_t end_ms;
    tg__window_bounds(tz, kind, now_s * 1000, &start_ms, &end_ms);
    assert_i64(start_ms, start_s * 1000);
    assert_i64(end_ms, end_s * 1000);
}

/* ---- building TZif files ---------------------------------------------------------------- */

typedef struct {
    uint8_t bytes[BUILT_FILE_SIZE_MAX];
    size_t size;
} built_file;

/* What to build: transitions into types of the given offsets, and a footer. */
typedef struct {
    char version;         /* 0 (version 1), '2', '3' or '4' */
    const int64_t *times; /* ascending */
    const uint8_t *types; /* type of each transition */
    uint32_t time_count;
    const int32_t *offsets; /* UT offset of each type */
    uint32_t type_count;
    const char *footer; /* version 2+: the POSIX TZ string, maybe "" */
} zone_spec;

static void put_bytes(built_file *file, const void *bytes, size_t count) {
    if (count == 0) {
        return; /* bytes may be NULL then */
    }
    assert_true(file->size + count <= sizeof file->bytes);
    memcpy(file->bytes + file->size, bytes, count);
    file->size += count;
}

static void put_u32(built_file *file, uint32_t value) {
    uint8_t bytes[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16), (uint8_t)(value >> 8),
                        (uint8_t)value};
    put_bytes(file, bytes, sizeof bytes);
}

static void put_header(built_file *file, char version, uint32_t time_count, uint32_t type_count) {
    static const uint8_t reserved[15] = {0};
    put_bytes(file, "TZif", 4);
    put_bytes(file, &version, 1);
    put_bytes(file, reserved, sizeof reserved);
    put_u32(file, 0); /* isut */
    put_u32(file, 0); /* isstd */
    put_u32(file, 0); /* leap */
    put_u32(file, time_count);
    put_u32(file, type_count);
    put_u32(file, 4); /* "ABC\0" */
}

static void put_block(built_file *file, const zone_spec *spec, size_t time_size) {
    for (uint32_t i = 0; i < spec->time_count; i++) {
        uint64_t time = (uint64_t)spec->times[i];
        if (time_size == 8) {
            put_u32(file, (uint32_t)(time >> 32));
        }
        put_u32(file, (uint32_t)time);
    }
    put_bytes(file, spec->types, spec->time_count);
    for (uint32_t i = 0; i < spec->type_count; i++) {
        uint8_t flags[2] = {0, 0}; /* not DST; designation at 0 */
        put_u32(file, (uint32_t)spec->offsets[i]);
        put_bytes(file, flags, sizeof flags);
    }
    put_bytes(file, "ABC", 4);
}

static void build_zone(built_file *file, const zone_spec *spec) {
    file->size = 0;
    if (spec->version == 0) {
        put_header(file, 0, spec->time_count, spec->type_count);
        put_block(file, spec, 4);
        return;
    }
    static const int32_t utc_offset[1] = {0};
    zone_spec minimal = {.offsets = utc_offset, .type_count = 1};
    put_header(file, spec->version, 0, 1);
    put_block(file, &minimal, 4);
    put_header(file, spec->version, spec->time_count, spec->type_count);
    put_block(file, spec, 8);
    put_bytes(file, "\n", 1);
    put_bytes(file, spec->footer, strlen(spec->footer));
    put_bytes(file, "\n", 1);
}

/* A version 3 zone with no transitions: the footer rules at every instant. */
static tg__tz *footer_zone(const char *footer) {
    static const int32_t offset[1] = {0};
    zone_spec spec = {.version = '3', .offsets = offset, .type_count = 1, .footer = footer};
    built_file file;
    build_zone(&file, &spec);
    tg__tz *tz = NULL;
    if (parse_exact(file.bytes, file.size, &tz) != TG_OK) {
        print_error("footer \"%s\" does not parse\n", footer);
        fail();
    }
    return tz;
}

static void expect_footer_refused(const char *footer) {
    static const int32_t offset[1] = {0};
    zone_spec spec = {.version = '2', .offsets = offset, .type_count = 1, .footer = footer};
    built_file file;
    build_zone(&file, &spec);
    expect_refused(file.bytes, file.size, footer);
}

/* Offset of the second header of a version 2+ file. */
static size_t second_header_at(const uint8_t *data) {
    uint32_t counts[6];
    for (int i = 0; i < 6; i++) {
        const uint8_t *p = data + 20 + (size_t)4 * (size_t)i;
        counts[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    /* isut, isstd, leap, time, type, char */
    return 44 + counts[3] * 5 + counts[4] * 6 + counts[5] + counts[2] * 8 + counts[1] + counts[0];
}

static void set_u32(uint8_t *p, uint32_t value) {
    p[0] = (uint8_t)(value >> 24);
    p[1] = (uint8_t)(value >> 16);
    p[2] = (uint8_t)(value >> 8);
    p[3] = (uint8_t)value;
}

/* ---- tests: offsets ----------------------------------------------------------------------- */

static void test_offsets_match_glibc(void **state) {
    (void)state;
    int64_t *changes = malloc(CHANGES_MAX * sizeof *changes);
    assert_non_null(changes);
    for (size_t z = 0; z < ZONES_COUNT; z++) {
        tg__tz *tz = load_zone(zones[z]);
        use_glibc_zone(zones[z]);
        size_t count = compare_offsets(tz, changes);
        /* Random instants too, and a few far outside any table (only sanity there). */
        uint64_t random = 0x2545f4914f6cdd1du + z;
        for (int i = 0; i < 20000; i++) {
            int64_t t = random_between(&random, FROM_S, TO_S);
            expect_offset(tz, t, glibc_offset(t));
        }
        int64_t far[] = {INT64_MIN,        INT64_MIN + 1, -(INT64_C(1) << 59),
                         INT64_C(1) << 59, INT64_MAX - 1, INT64_MAX};
        for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
            int32_t offset = tg__tz_offset_at(tz, far[i]);
            assert_true(offset > -26 * 3600 && offset < 26 * 3600);
        }
        if (strcmp(zones[z], "UTC") != 0 && strcmp(zones[z], "Asia/Kolkata") != 0) {
            assert_true(count > 0); /* the comparison saw the zone change */
        }
        tg__tz_free(tz);
    }
    free(changes);
}

static void test_utc_zone(void **state) {
    (void)state;
    tg__tz *tz = tg__tz_utc();
    assert_non_null(tz);
    assert_string_equal(tg__tz_name(tz), "UTC");
    expect_offset(tz, 0, 0);
    expect_offset(tz, INT64_MIN, 0);
    expect_offset(tz, INT64_MAX, 0);
    int64_t now_s = utc(2026, 11, 28, 3, 0, 0); /* a Saturday */
    expect_window(tz, TG_WINDOW_HOUR, now_s, utc(2026, 11, 28, 3, 0, 0),
                  utc(2026, 11, 28, 4, 0, 0));
    expect_window(tz, TG_WINDOW_DAY, now_s, utc(2026, 11, 28, 0, 0, 0), utc(2026, 11, 29, 0, 0, 0));
    expect_window(tz, TG_WINDOW_WEEK, now_s, utc(2026, 11, 23, 0, 0, 0),
                  utc(2026, 11, 30, 0, 0, 0));
    expect_window(tz, TG_WINDOW_MONTH, now_s, utc(2026, 11, 1, 0, 0, 0), utc(2026, 12, 1, 0, 0, 0));
    int64_t start_ms;
    int64_t end_ms;
    tg__window_bounds(tz, TG_WINDOW_LIFETIME, now_s * 1000, &start_ms, &end_ms);
    assert_i64(start_ms, INT64_MIN);
    assert_i64(end_ms, INT64_MAX);
    tg__tz_free(tz);
    tg__tz_free(NULL);
}

/* ---- tests: windows ----------------------------------------------------------------------- */

static void test_windows_follow_local_calendar(void **state) {
    (void)state;
    int64_t *changes = malloc(CHANGES_MAX * sizeof *changes);
    assert_non_null(changes);
    for (size_t z = 0; z < ZONES_COUNT; z++) {
        tg__tz *tz = load_zone(zones[z]);
        use_glibc_zone(zones[z]);
        size_t count = compare_offsets(tz, changes);
        uint64_t random = 0x5851f42d4c957f2du + z;
        for (size_t k = 0; k < WINDOW_KINDS_COUNT; k++) {
            for (int i = 0; i < 1500; i++) {
                check_window(tz, window_kinds[k],
                             random_between(&random, FROM_S, TO_S) * 1000 +
                                 random_between(&random, 0, 1000));
            }
            /* Right at every change: gaps, repeated hours, midnight jumps. */
            for (size_t c = 0; c < count; c++) {
                int64_t around_s[] = {-86400, -1, 0, 1, 1800, 3600, 5400, 86400};
                for (size_t a = 0; a < sizeof around_s / sizeof around_s[0]; a++) {
                    check_window(tz, window_kinds[k], (changes[c] + around_s[a]) * 1000);
                }
            }
        }
        tg__tz_free(tz);
    }
    free(changes);
}

static void test_known_windows(void **state) {
    (void)state;
    tg__tz *taipei = load_zone("Asia/Taipei");
    expect_window(taipei, TG_WINDOW_DAY, utc(2026, 11, 28, 3, 0, 0), utc(2026, 11, 27, 16, 0, 0),
                  utc(2026, 11, 28, 16, 0, 0));
    tg__tz_free(taipei);

    /* New York's spring-forward day has 23 hours; its month starts at 05:00Z. */
    tg__tz *new_york = load_zone("America/New_York");
    expect_window(new_york, TG_WINDOW_DAY, utc(2026, 3, 8, 12, 0, 0), utc(2026, 3, 8, 5, 0, 0),
                  utc(2026, 3, 9, 4, 0, 0));
    expect_window(new_york, TG_WINDOW_MONTH, utc(2026, 3, 15, 0, 0, 0), utc(2026, 3, 1, 5, 0, 0),
                  utc(2026, 4, 1, 4, 0, 0));
    /* Past 2037 the footer rules: 2050-11-06 is the first Sunday of November. */
    expect_window(new_york, TG_WINDOW_DAY, utc(2050, 11, 6, 12, 0, 0), utc(2050, 11, 6, 4, 0, 0),
                  utc(2050, 11, 7, 5, 0, 0));
    /* The repeated 01:00 hour is one window of two real hours. */
    expect_window(new_york, TG_WINDOW_HOUR, utc(2050, 11, 6, 6, 30, 0), utc(2050, 11, 6, 5, 0, 0),
                  utc(2050, 11, 6, 7, 0, 0));
    tg__tz_free(new_york);

    /* Havana springs forward at midnight: the day starts at 01:00 CDT, after the gap. */
    tg__tz *havana = load_zone("America/Havana");
    expect_window(havana, TG_WINDOW_DAY, utc(2026, 3, 8, 12, 0, 0), utc(2026, 3, 8, 5, 0, 0),
                  utc(2026, 3, 9, 4, 0, 0));
    expect_window(havana, TG_WINDOW_DAY, utc(2026, 3, 8, 4, 59, 59), utc(2026, 3, 7, 5, 0, 0),
                  utc(2026, 3, 8, 5, 0, 0));
    expect_window(havana, TG_WINDOW_DAY, utc(2050, 3, 13, 12, 0, 0), utc(2050, 3, 13, 5, 0, 0),
                  utc(2050, 3, 14, 4, 0, 0));
    tg__tz_free(havana);

    /* Kolkata's hours start at half past UTC hours; weeks on Monday, local. */
    tg__tz *kolkata = load_zone("Asia/Kolkata");
    expect_window(kolkata, TG_WINDOW_HOUR, utc(2026, 1, 1, 0, 0, 0), utc(2025, 12, 31, 23, 30, 0),
                  utc(2026, 1, 1, 0, 30, 0));
    expect_window(kolkata, TG_WINDOW_WEEK, utc(2026, 1, 1, 0, 0, 0), utc(2025, 12, 28, 18, 30, 0),
                  utc(2026, 1, 4, 18, 30, 0));
    tg__tz_free(kolkata);

    /* Lord Howe's 30-minute DST: the 02:00 hour is half an hour long in spring. */
    tg__tz *lord_howe = load_zone("Australia/Lord_Howe");
    expect_window(lord_howe, TG_WINDOW_HOUR, utc(2026, 10, 3, 15, 45, 0),
                  utc(2026, 10, 3, 15, 30, 0), utc(2026, 10, 3, 16, 0, 0));
    tg__tz_free(lord_howe);
}

/*
 * Clocks going back from 00:30 to 22:30 pass midnight twice. The day starts at
 * the first midnight and the repeated late evening stays in it: windows never
 * go back in time.
 */
static void test_fall_back_across_midnight(void **state) {
    (void)state;
    int64_t change_s = utc(2030, 6, 1, 23, 30, 0); /* local 00:30 at +1 becomes 22:30 at -1 */
    int64_t times[1] = {change_s};
    uint8_t types[1] = {1};
    int32_t offsets[2] = {3600, -3600};
    zone_spec spec = {'2', times, types, 1, offsets, 2, "<-01>1"};
    built_file file;
    build_zone(&file, &spec);
    tg__tz *tz = NULL;
    assert_int_equal(parse_exact(file.bytes, file.size, &tz), TG_OK);
    int64_t first_midnight_s = utc(2030, 6, 1, 23, 0, 0);
    expect_window(tz, TG_WINDOW_DAY, utc(2030, 6, 1, 22, 59, 59), utc(2030, 5, 31, 23, 0, 0),
                  first_midnight_s);
    expect_window(tz, TG_WINDOW_DAY, utc(2030, 6, 2, 0, 0, 0), first_midnight_s,
                  utc(2030, 6, 3, 1, 0, 0));
    expect_window(tz, TG_WINDOW_HOUR, utc(2030, 6, 2, 0, 0, 0), first_midnight_s,
                  utc(2030, 6, 2, 2, 0, 0));
    tg__tz_free(tz);
}

/* Windows hold now even at the ends of int64, where bounds saturate. */
static void test_extreme_instants(void **state) {
    (void)state;
    tg__tz *tz = load_zone("America/New_York");
    int64_t instants[] = {INT64_MIN, INT64_MIN + 1,    INT64_MIN + 999,  -(INT64_C(1) << 62), -1,
                          0,         INT64_C(1) << 62, INT64_MAX - 1000, INT64_MAX - 1};
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        for (size_t k = 0; k < WINDOW_KINDS_COUNT; k++) {
            int64_t start_ms;
            int64_t end_ms;
            tg__window_bounds(tz, window_kinds[k], instants[i], &start_ms, &end_ms);
            assert_true(start_ms <= instants[i]);
            assert_true(instants[i] < end_ms);
        }
    }
    tg__tz_free(tz);
}

/* ---- tests: footers ------------------------------------------------------------------------ */

static void test_footer_rules(void **state) {
    (void)state;
    /* Version 3 permanent DST: the end at 25:00 on Dec 31 meets next year's start. */
    tg__tz *always = footer_zone("EST5EDT4,0/0,J365/25");
    for (int64_t t = utc(2030, 1, 1, 0, 0, 0); t < utc(2031, 1, 2, 0, 0, 0);
         t += INT64_C(3) * 3600) {
        expect_offset(always, t, -4 * 3600);
    }
    tg__tz_free(always);

    /* Nuuk: negative rule time; changes on the last Sundays of March and October. */
    tg__tz *nuuk = footer_zone("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    expect_offset(nuuk, utc(2030, 3, 31, 0, 59, 59), -7200);
    expect_offset(nuuk, utc(2030, 3, 31, 1, 0, 0), -3600);
    expect_offset(nuuk, utc(2030, 10, 27, 0, 59, 59), -3600);
    expect_offset(nuuk, utc(2030, 10, 27, 1, 0, 0), -7200);
    tg__tz_free(nuuk);

    /* Jn skips February 29: J60 is always March 1. n counts it: 59 is Feb 29 in 2028. */
    tg__tz *julian = footer_zone("AAA0BBB,J60/0,J300/0");
    expect_offset(julian, utc(2028, 2, 29, 23, 59, 59), 0);
    expect_offset(julian, utc(2028, 3, 1, 0, 0, 0), 3600);
    expect_offset(julian, utc(2027, 3, 1, 0, 0, 0), 3600);
    tg__tz_free(julian);
    julian = footer_zone("AAA0BBB,J59/0,J300/0"); /* February 28, even in a leap year */
    expect_offset(julian, utc(2028, 2, 27, 23, 59, 59), 0);
    expect_offset(julian, utc(2028, 2, 28, 0, 0, 0), 3600);
    tg__tz_free(julian);
    tg__tz *zero_based = footer_zone("AAA0BBB,59/0,299/0");
    expect_offset(zero_based, utc(2028, 2, 28, 23, 59, 59), 0);
    expect_offset(zero_based, utc(2028, 2, 29, 0, 0, 0), 3600);
    expect_offset(zero_based, utc(2027, 2, 28, 23, 59, 59), 0);
    expect_offset(zero_based, utc(2027, 3, 1, 0, 0, 0), 3600);
    tg__tz_free(zero_based);

    /* Times past 24 hours and below zero: 50h after March 10, 20h before November 3. */
    tg__tz *far_times = footer_zone("AAA0BBB,M3.2.0/50,M11.1.0/-20");
    expect_offset(far_times, utc(2030, 3, 12, 1, 59, 59), 0);
    expect_offset(far_times, utc(2030, 3, 12, 2, 0, 0), 3600);
    expect_offset(far_times, utc(2030, 11, 2, 2, 59, 59), 3600);
    expect_offset(far_times, utc(2030, 11, 2, 3, 0, 0), 0);
    tg__tz_free(far_times);

    /* Fixed offsets, with names in angle brackets and minutes. */
    tg__tz *fixed = footer_zone("<+0530>-5:30");
    expect_offset(fixed, utc(2100, 1, 1, 0, 0, 0), 19800);
    tg__tz_free(fixed);
    fixed = footer_zone("CST-8");
    expect_offset(fixed, 0, 28800);
    tg__tz_free(fixed);
    fixed = footer_zone("<-03>+3");
    expect_offset(fixed, 0, -10800);
    tg__tz_free(fixed);

    /* An explicit daylight offset and a southern-hemisphere year. */
    tg__tz *south = footer_zone("AAA-10BBB-11:30,M10.1.0,M4.1.0/3");
    expect_offset(south, utc(2030, 1, 15, 0, 0, 0), 41400);
    expect_offset(south, utc(2030, 6, 15, 0, 0, 0), 36000);
    tg__tz_free(south);
}

/* The footer rules from the last transition on; an empty footer keeps the last offset. */
static void test_transitions_then_footer(void **state) {
    (void)state;
    int64_t times[2] = {utc(1990, 1, 1, 0, 0, 0), utc(2000, 1, 1, 0, 0, 0)};
    uint8_t types[2] = {1, 2};
    int32_t offsets[3] = {7200, 3600, -3600};
    zone_spec spec = {'4', times, types, 2, offsets, 3, "AAA-5"};
    built_file file;
    build_zone(&file, &spec);
    tg__tz *tz = NULL;
    assert_int_equal(parse_exact(file.bytes, file.size, &tz), TG_OK);
    expect_offset(tz, times[0] - 1, 7200);
    expect_offset(tz, times[0], 3600);
    expect_offset(tz, times[1] - 1, 3600);
    expect_offset(tz, times[1], 18000);
    tg__tz_free(tz);

    spec.footer = "";
    build_zone(&file, &spec);
    assert_int_equal(parse_exact(file.bytes, file.size, &tz), TG_OK);
    expect_offset(tz, times[1], -3600);
    expect_offset(tz, INT64_MAX, -3600);
    tg__tz_free(tz);

    /* Version 1: 32-bit times, no footer. */
    spec.version = 0;
    build_zone(&file, &spec);
    assert_int_equal(parse_exact(file.bytes, file.size, &tz), TG_OK);
    expect_offset(tz, times[0] - 1, 7200);
    expect_offset(tz, times[1], -3600);
    expect_offset(tz, utc(2100, 1, 1, 0, 0, 0), -3600);
    tg__tz_free(tz);
}

/* ---- tests: malformed input ----------------------------------------------------------------- */

static void test_truncated_files_refused(void **state) {
    (void)state;
    const char *names[] = {"America/New_York", "Asia/Kolkata", "UTC"};
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        size_t size;
        uint8_t *data = read_zone_file(names[n], &size);
        for (size_t length = 0; length < size; length++) {
            expect_refused(data, length, names[n]);
        }
        free(data);
    }
    /* A version 1 file has no footer to end it: every shorter prefix lacks data. */
    int64_t times[2] = {0, 1000};
    uint8_t types[2] = {1, 0};
    int32_t offsets[2] = {0, 3600};
    zone_spec spec = {0, times, types, 2, offsets, 2, NULL};
    built_file file;
    build_zone(&file, &spec);
    for (size_t length = 0; length < file.size; length++) {
        expect_refused(file.bytes, length, "version 1 prefix");
    }
}

static void test_garbage_refused(void **state) {
    (void)state;
    uint64_t random = 0xda942042e4dd58b5u;
    uint8_t bytes[600];
    for (int i = 0; i < 5000; i++) {
        size_t size = (size_t)random_between(&random, 0, sizeof bytes);
        for (size_t b = 0; b < size; b++) {
            bytes[b] = (uint8_t)random_next(&random);
        }
        if (size >= 4 && memcmp(bytes, "TZif", 4) == 0) {
            bytes[0] = 'X';
        }
        expect_refused(bytes, size, "garbage");
        /* With a valid magic and version the rest is still garbage; it must not crash. */
        if (size >= 5) {
            memcpy(bytes, "TZif2", 5);
            tg__tz *tz = NULL;
            if (parse_exact(bytes, size, &tz) == TG_OK) {
                tg__tz_free(tz);
            }
        }
    }
}

/* Reads New York, applies `edit` at `at`, and expects a refusal. */
static void expect_edit_refused(size_t at, uint32_t value, bool word, const char *why) {
    size_t size;
    uint8_t *data = read_zone_file("America/New_York", &size);
    assert_true(at + 4 <= size);
    if (word) {
        set_u32(data + at, value);
    } else {
        data[at] = (uint8_t)value;
    }
    expect_refused(data, size, why);
    free(data);
}

static void test_bad_headers_refused(void **state) {
    (void)state;
    size_t size;
    uint8_t *data = read_zone_file("America/New_York", &size);
    size_t second = second_header_at(data);
    free(data);
    assert_true(second > 44 && second < size);

    expect_edit_refused(0, 'X', false, "wrong magic");
    expect_edit_refused(3, 'F', false, "wrong magic case");
    expect_edit_refused(second, 'X', false, "wrong second magic");
    expect_edit_refused(4, '1', false, "version 1 is written as NUL");
    expect_edit_refused(4, '5', false, "unknown version");
    size_t count_fields[] = {20, 24, 28, 32, 36, 40};
    for (size_t i = 0; i < sizeof count_fields / sizeof count_fields[0]; i++) {
        expect_edit_refused(count_fields[i], UINT32_MAX, true, "huge count");
        expect_edit_refused(second + count_fields[i], UINT32_MAX, true, "huge second count");
        expect_edit_refused(second + count_fields[i], 0x10000, true, "count past the data");
    }
    expect_edit_refused(second + 32, TG_TZ_TRANSITIONS_MAX + 1, true, "too many transitions");
    expect_edit_refused(second + 36, 0, true, "no types");
    expect_edit_refused(second + 36, TG_TZ_TYPES_MAX + 1, true, "too many types");
    expect_edit_refused(second + 40, 0, true, "no designations");
    expect_edit_refused(second + 28, 1, true, "leap seconds");
    expect_edit_refused(second + 24, 1, true, "std indicators not matching types");

    /* Over the size limit even though it starts as a good file. */
    uint8_t *big = calloc(TG_TZ_FILE_SIZE_MAX + 1, 1);
    assert_non_null(big);
    data = read_zone_file("America/New_York", &size);
    memcpy(big, data, size);
    expect_refused(big, TG_TZ_FILE_SIZE_MAX + 1, "too big");
    tg__tz *tz = NULL;
    assert_int_equal(parse_exact(big, (size_t)TG_TZ_FILE_SIZE_MAX, &tz),
                     TG_OK); /* trailing bytes */
    tg__tz_free(tz);
    free(big);
    free(data);
}

static void test_bad_data_refused(void **state) {
    (void)state;
    int64_t times[3] = {100, 200, 300};
    uint8_t types[3] = {1, 0, 1};
    int32_t offsets[2] = {0, 3600};
    zone_spec spec = {'2', times, types, 3, offsets, 2, "AAA0"};
    built_file file;
    build_zone(&file, &spec);
    tg__tz *tz = NULL;
    assert_int_equal(parse_exact(file.bytes, file.size, &tz), TG_OK);
    tg__tz_free(tz);

    times[1] = 100;
    build_zone(&file, &spec);
    expect_refused(file.bytes, file.size, "equal transition times");
    times[1] = 50;
    build_zone(&file, &spec);
    expect_refused(file.bytes, file.size, "descending transition times");
    times[1] = 200;

    types[2] = 2;
    build_zone(&file, &spec);
    expect_refused(file.bytes, file.size, "type index out of range");
    types[2] = 1;

    offsets[1] = 26 * 3600;
    build_zone(&file, &spec);
    expect_refused(file.bytes, file.size, "offset past 26 hours");
    offsets[1] = INT32_MIN;
    build_zone(&file, &spec);
    expect_refused(file.bytes, file.size, "offset -2^31");
    offsets[1] = 3600;

    /* The last type record's isdst byte (2) and designation index (4 >= charcnt). */
    build_zone(&file, &spec);
    size_t footer_size = strlen(spec.footer) + 2;
    size_t record_at = file.size - footer_size - 4 - 6;
    file.bytes[record_at + 4] = 2;
    expect_refused(file.bytes, file.size, "isdst not boolean");
    file.bytes[record_at + 4] = 0;
    file.bytes[record_at + 5] = 4;
    expect_refused(file.bytes, file.size, "designation index past the characters");

    /* Footer framing: no leading or trailing newline. */
    build_zone(&file, &spec);
    file.bytes[file.size - footer_size] = 'X';
    expect_refused(file.bytes, file.size, "footer without its newline");
    build_zone(&file, &spec);
    expect_refused(file.bytes, file.size - 1, "footer without its final newline");
}

static void test_bad_footers_refused(void **state) {
    (void)state;
    const char *footers[] = {
        "EST",                           /* no offset */
        "ES5",                           /* name too short */
        "<+08-8",                        /* unclosed bracket */
        "<+8>-8",                        /* bracketed name too short */
        "EST25",                         /* offset hours past 24 */
        "EST5:60",                       /* minutes past 59 */
        "EST5EDT",                       /* daylight time without rules */
        "EST5EDT,M3.2.0",                /* no end rule */
        "EST5EDT,M13.2.0,M11.1.0",       /* month 13 */
        "EST5EDT,M0.2.0,M11.1.0",        /* month 0 */
        "EST5EDT,M3.6.0,M11.1.0",        /* week 6 */
        "EST5EDT,M3.0.0,M11.1.0",        /* week 0 */
        "EST5EDT,M3.2.7,M11.1.0",        /* weekday 7 */
        "EST5EDT,J0,J365",               /* J counts from 1 */
        "EST5EDT,J366,J365",             /* J past 365 */
        "EST5EDT,366,1",                 /* n past 365 */
        "EST5EDT,M3.2.0/168,M11.1.0",    /* rule time past 167 hours */
        "EST5EDT,M3.2.0/,M11.1.0",       /* empty time */
        "EST5EDT,M3.2.0,M11.1.0,",       /* trailing text */
        "EST5EDT,M3.2.0,M11.1.0 ",       /* trailing space */
        "EST5EDT4:00:60,M3.2.0,M11.1.0", /* seconds past 59 */
        "EST5\rEDT",                     /* a control character */
        "99999999999999999999",          /* digits where a name belongs */
        "EST99999999999999999999",       /* a huge offset */
        "EST5EDT,M3.2.0/99999999999999999999,M11.1.0",
    };
    for (size_t i = 0; i < sizeof footers / sizeof footers[0]; i++) {
        expect_footer_refused(footers[i]);
    }
}

static void test_names(void **state) {
    (void)state;
    static const int32_t offset[1] = {0};
    zone_spec spec = {.version = '2', .offsets = offset, .type_count = 1, .footer = "UTC0"};
    built_file file;
    build_zone(&file, &spec);
    tg__tz *tz = NULL;
    char long_name[TG_TZ_NAME_SIZE_MAX + 1];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(tg__tz_parse(long_name, file.bytes, file.size, &tz), TG_ERR_TZ);
    assert_int_equal(tg__tz_parse(NULL, file.bytes, file.size, &tz), TG_ERR_TZ);
    assert_int_equal(tg__tz_parse("Etc/Test", NULL, 0, &tz), TG_ERR_TZ);
    assert_null(tz);
    long_name[TG_TZ_NAME_SIZE_MAX - 1] = '\0'; /* 63 characters fit */
    assert_int_equal(tg__tz_parse(long_name, file.bytes, file.size, &tz), TG_OK);
    assert_string_equal(tg__tz_name(tz), long_name);
    tg__tz_free(tz);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc_zone),
        cmocka_unit_test(test_offsets_match_glibc),
        cmocka_unit_test(test_windows_follow_local_calendar),
        cmocka_unit_test(test_known_windows),
        cmocka_unit_test(test_fall_back_across_midnight),
        cmocka_unit_test(test_extreme_instants),
        cmocka_unit_test(test_footer_rules),
        cmocka_unit_test(test_transitions_then_footer),
        cmocka_unit_test(test_truncated_files_refused),
        cmocka_unit_test(test_garbage_refused),
        cmocka_unit_test(test_bad_headers_refused),
        cmocka_unit_test(test_bad_data_refused),
        cmocka_unit_test(test_bad_footers_refused),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
