/*
 * tz: UTC offsets and budget window bounds computed from TZif bytes (RFC 8536 and
 * its successor RFC 9636, versions 1 to 4).
 *
 * A budget "per day in Asia/Taipei" resets at Taipei's midnight, so the ledger
 * needs a zone's offset at any instant and the local civil boundaries around it.
 * This is the pure half of time zones: no file, clock, environment or libc
 * localtime (which read TZ and global state), so a window is a function of the
 * zone's bytes, the window kind and `now` alone, and a test can pin it down.
 *
 * A zone is a sorted list of transitions (instant -> new UTC offset), the offset
 * before the first of them, and an optional POSIX TZ rule (the footer) that
 * carries the list on forever. The bytes are untrusted: every count has a limit,
 * every read is checked against the size, and every loop has a fixed maximum,
 * because this parser is fuzzed. All arithmetic is in whole seconds (TZif has no
 * finer unit) and turned into milliseconds at the very end.
 */
#include "core/tz.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS_PER_HOUR 3600
#define SECONDS_PER_DAY INT64_C(86400)
/* The Gregorian calendar, weekdays included, repeats every 400 years of 146097 days. */
#define DAYS_PER_CYCLE INT64_C(146097)
#define SECONDS_PER_CYCLE (DAYS_PER_CYCLE * SECONDS_PER_DAY)
/* RFC 8536: a UT offset should be more than -25 hours and less than 26 hours. */
#define OFFSET_MIN_S (-89999)
#define OFFSET_MAX_S 93599
/* Farther from UTC than any offset: local time L is first reached within L +- this. */
#define OFFSET_SPAN_S INT64_C(93600)
#define POSIX_OFFSET_HOURS_MAX 24
#define POSIX_RULE_HOURS_MAX 167 /* version 3: a rule time runs from -167 to 167 hours */
#define HEADER_SIZE 44
#define TYPE_RECORD_SIZE 6
/* Years of footer rule changes computed around an instant (see footer_changes). */
#define FOOTER_YEARS 5
#define FOOTER_CHANGES (2 * FOOTER_YEARS)
/* Offset segments one scan may cross: every listed transition plus a few footer changes. */
#define SEGMENTS_MAX (TG_TZ_TRANSITIONS_MAX + 4 * FOOTER_CHANGES)

_Static_assert(OFFSET_SPAN_S > OFFSET_MAX_S && OFFSET_SPAN_S > -OFFSET_MIN_S,
               "the span must exceed every offset");
/* A default daylight offset (standard + 1 hour) stays in range: 24:59:59 + 1 h is the maximum. */
_Static_assert(POSIX_OFFSET_HOURS_MAX * 3600 + 3599 + 3600 <= OFFSET_MAX_S &&
                   -(POSIX_OFFSET_HOURS_MAX * 3600 + 3599) >= OFFSET_MIN_S,
               "POSIX offsets fit the RFC range");
_Static_assert(TG_TZ_TYPES_MAX <= 256, "a transition names its type in one byte");
_Static_assert(TG_TZ_FILE_SIZE_MAX <= INT32_MAX, "sizes are computed in size_t without overflow");

typedef enum {
    RULE_JULIAN_NO_LEAP, /* Jn: day n of 1..365, February 29 never counted */
    RULE_JULIAN_ZERO,    /* n: day n of 0..365, February 29 counted */
    RULE_MONTH_WEEK_DAY  /* Mm.w.d: weekday d of week w (5 = the last) of month m */
} rule_kind;

/* One of the two yearly changes of a POSIX TZ rule. */
typedef struct {
    rule_kind kind;
    int32_t day;    /* Jn: 1..365; n: 0..365; Mm.w.d: weekday, 0 (Sunday)..6 */
    int32_t week;   /* Mm.w.d: 1..5 */
    int32_t month;  /* Mm.w.d: 1..12 */
    int32_t time_s; /* local wall time of the change after that day's midnight; may be < 0 */
} rule;

/* The footer: what local time does after the last transition. */
typedef struct {
    bool present;         /* a non-empty footer was given */
    bool has_dst;         /* false: a fixed offset */
    int32_t std_offset_s; /* east of Greenwich (POSIX counts west; negated when parsed) */
    int32_t dst_offset_s; /* east of Greenwich, when has_dst */
    rule dst_start;       /* wall time in standard time */
    rule dst_end;         /* wall time in daylight time */
} footer_rule;

typedef struct {
    int64_t time_s;   /* Unix seconds of the transition */
    int32_t offset_s; /* UTC offset from then on, east of Greenwich */
} transition;

struct tg__tz {
    char name[TG_TZ_NAME_SIZE_MAX]; /* as given to tg__tz_parse, NUL-terminated */
    int32_t initial_offset_s;       /* before the first transition: time type 0 */
    footer_rule footer;             /* after the last transition */
    int32_t transitions_count;      /* 0..TG_TZ_TRANSITIONS_MAX */
    transition transitions[];       /* strictly ascending by time_s; same allocation */
};

/* ---- Calendar arithmetic (Howard Hinnant's algorithms, proleptic Gregorian) ---- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t quotient = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient;
}

static int64_t floor_mod(int64_t a, int64_t b) {
    int64_t remainder = a % b;
    return (remainder != 0 && (remainder < 0) != (b < 0)) ? remainder + b : remainder;
}

/* Days since 1970-01-01 of a date; month 1..12, day 1..31. */
static int64_t days_from_civil(int64_t year, int32_t month, int32_t day) {
    year -= month <= 2; /* the computation's year starts in March: leap day last */
    int64_t era = floor_div(year, 400);
    int64_t year_of_era = year - era * 400;
    int64_t month_from_march = (month + 9) % 12;
    int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * DAYS_PER_CYCLE + day_of_era - 719468;
}

typedef struct {
    int64_t year;
    int32_t month; /* 1..12 */
    int32_t day;   /* 1..31 */
} civil_date;

static civil_date civil_from_days(int64_t days) {
    days += 719468; /* count from 0000-03-01 */
    int64_t era = floor_div(days, DAYS_PER_CYCLE);
    int64_t day_of_era = days - era * DAYS_PER_CYCLE;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_from_march = (5 * day_of_year + 2) / 153;
    civil_date date;
    date.day = (int32_t)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
    date.month = (int32_t)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
    date.year = year_of_era + era * 400 + (date.month <= 2);
    return date;
}

static bool is_leap_year(int64_t year) {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

static int32_t days_in_month(int64_t year, int32_t month) {
    static const int32_t lengths[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return lengths[month - 1] + (month == 2 && is_leap_year(year) ? 1 : 0);
}

/* ---- The footer's POSIX rule in force -------------------------------------------------- */

/* Days since the epoch of the day a rule names in `year`. */
static int64_t rule_day(const rule *r, int64_t year) {
    int64_t january_first = days_from_civil(year, 1, 1);
    if (r->kind == RULE_JULIAN_NO_LEAP) {
        /* Jn never counts February 29, so from March 1 (J60) on a leap year is a day later. */
        return january_first + r->day - 1 + (is_leap_year(year) && r->day >= 60 ? 1 : 0);
    }
    if (r->kind == RULE_JULIAN_ZERO) {
        return january_first + r->day;
    }
    int64_t first = days_from_civil(year, r->month, 1);
    int64_t first_weekday = floor_mod(first + 4, 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + floor_mod(r->day - first_weekday, 7) + (int64_t)(r->week - 1) * 7;
    if (day - first >= days_in_month(year, r->month)) {
        day -= 7; /* week 5 means the last such weekday, which may be the fourth */
    }
    return day;
}

typedef struct {
    int64_t time_s;  /* Unix seconds */
    bool starts_dst; /* true: daylight time begins; false: it ends */
} footer_change;

/*
 * The footer's changes in the years around `utc_s`, ascending. A change may land up
 * to a week (167 hours) plus an offset outside its nominal year, so two years on
 * each side guarantee at least one change at or before utc_s and one after it. At
 * equal instants an end sorts before a start, so the start wins: a rule such as
 * "EST5EDT4,0/0,J365/25" (daylight time all year) then stays in daylight time.
 */
static void footer_changes(const footer_rule *footer, int64_t utc_s,
                           footer_change changes[FOOTER_CHANGES]) {
    int64_t first_year = civil_from_days(floor_div(utc_s, SECONDS_PER_DAY)).year - FOOTER_YEARS / 2;
    const rule *start = &footer->dst_start;
    const rule *end = &footer->dst_end;
    for (size_t i = 0; i < FOOTER_YEARS; i++) {
        int64_t year = first_year + (int64_t)i;
        changes[2 * i] = (footer_change){
            rule_day(start, year) * SECONDS_PER_DAY + start->time_s - footer->std_offset_s, true};
        changes[2 * i + 1] = (footer_change){
            rule_day(end, year) * SECONDS_PER_DAY + end->time_s - footer->dst_offset_s, false};
    }
    for (int i = 1; i < FOOTER_CHANGES; i++) {
        footer_change key = changes[i];
        int j = i - 1;
        while (j >= 0 && (changes[j].time_s > key.time_s ||
                          (changes[j].time_s == key.time_s && changes[j].starts_dst))) {
            changes[j + 1] = changes[j];
            j--;
        }
        changes[j + 1] = key;
    }
}

/*
 * The footer's offset at utc_s. The rule is periodic over 400 Gregorian years, so
 * the instant is first brought into 1970..2370: the result is the same, and
 * no year or second count can overflow whatever int64 the caller passes.
 */
static int32_t footer_offset(const footer_rule *footer, int64_t utc_s) {
    if (!footer->has_dst) {
        return footer->std_offset_s;
    }
    int64_t cycle_s = floor_mod(utc_s, SECONDS_PER_CYCLE);
    footer_change changes[FOOTER_CHANGES];
    footer_changes(footer, cycle_s, changes);
    bool dst = false;
    for (int i = 0; i < FOOTER_CHANGES && changes[i].time_s <= cycle_s; i++) {
        dst = changes[i].starts_dst;
    }
    return dst ? footer->dst_offset_s : footer->std_offset_s;
}

/* The first footer change after utc_s; false for a fixed offset. */
static bool footer_next_change(const footer_rule *footer, int64_t utc_s, int64_t *next_s) {
    if (!footer->has_dst) {
        return false;
    }
    int64_t cycle_s = floor_mod(utc_s, SECONDS_PER_CYCLE);
    footer_change changes[FOOTER_CHANGES];
    footer_changes(footer, cycle_s, changes);
    for (int i = 0; i < FOOTER_CHANGES; i++) {
        if (changes[i].time_s > cycle_s) {
            *next_s = utc_s + (changes[i].time_s - cycle_s);
            return true;
        }
    }
    return false; /* not reached: footer_changes always yields a later change */
}

/* ---- Offsets at instants ----------------------------------------------------------------- */

/* Index of the last transition at or before utc_s, or -1 when utc_s precedes them all. */
static int32_t transition_index(const tg__tz *tz, int64_t utc_s) {
    int32_t low = 0;
    int32_t high = tz->transitions_count;
    while (low < high) {
        int32_t middle = low + (high - low) / 2;
        if (tz->transitions[middle].time_s <= utc_s) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low - 1;
}

int32_t tg__tz_offset_at(const tg__tz *tz, int64_t utc_s) {
    assert(tz != NULL);
    if (tz == NULL) {
        return 0; /* release builds: a missing zone reads as UTC rather than crash */
    }
    int32_t index = transition_index(tz, utc_s);
    /* RFC 8536: the footer rules from the last transition on, or everywhere without any. */
    if (tz->footer.present && index == tz->transitions_count - 1) {
        return footer_offset(&tz->footer, utc_s);
    }
    if (index < 0) {
        return tz->initial_offset_s;
    }
    return tz->transitions[index].offset_s;
}

/* The first instant after utc_s at which the offset may change; false when it never does. */
static bool next_change(const tg__tz *tz, int64_t utc_s, int64_t *next_s) {
    int32_t index = transition_index(tz, utc_s);
    if (index + 1 < tz->transitions_count) {
        *next_s = tz->transitions[index + 1].time_s;
        return true;
    }
    return tz->footer.present && footer_next_change(&tz->footer, utc_s, next_s);
}

/* ---- Windows ----------------------------------------------------------------------------- */

/*
 * The first instant whose local time is at least `local_s`. Local time jumps at
 * transitions, so this walks the constant-offset segments from the earliest one
 * that could reach local_s; in a DST gap it gives the instant right after the gap,
 * in a repeated hour the first pass.
 */
static int64_t first_instant_at_local(const tg__tz *tz, int64_t local_s) {
    int64_t segment_s = local_s - OFFSET_SPAN_S;
    for (int i = 0; i < SEGMENTS_MAX; i++) {
        int64_t earliest_s = local_s - tg__tz_offset_at(tz, segment_s);
        int64_t candidate_s = earliest_s > segment_s ? earliest_s : segment_s;
        int64_t next_s;
        if (!next_change(tz, segment_s, &next_s) || candidate_s < next_s) {
            return candidate_s;
        }
        segment_s = next_s;
    }
    /* Not reached: past local_s + OFFSET_SPAN_S every segment qualifies at once. */
    return segment_s;
}

/*
 * The latest local time reached at or before now_s. Windows follow this rather
 * than the local time of now_s, so that when clocks go back across a boundary
 * (Brazil's DST ended at midnight into 23:00) the window does not go back too:
 * windows stay contiguous and a budget never reopens a day it has closed. Local
 * time before now_s - 2 * span is below now_s's, so the walk starts there.
 */
static int64_t local_high_water(const tg__tz *tz, int64_t now_s) {
    int64_t segment_s = now_s - 2 * OFFSET_SPAN_S;
    int64_t highest_s = INT64_MIN;
    for (int i = 0; i < SEGMENTS_MAX; i++) {
        int32_t offset_s = tg__tz_offset_at(tz, segment_s);
        int64_t next_s;
        bool changes = next_change(tz, segment_s, &next_s) && next_s <= now_s;
        int64_t last_s = changes ? next_s - 1 : now_s;
        if (last_s + offset_s > highest_s) {
            highest_s = last_s + offset_s;
        }
        if (!changes) {
            break;
        }
        segment_s = next_s;
    }
    return highest_s;
}

/* The local window [*start_s, *next_s) of `kind` holding local time `local_s`. */
static void local_window(tg_window_kind kind, int64_t local_s, int64_t *start_s, int64_t *next_s) {
    if (kind == TG_WINDOW_HOUR) {
        *start_s = floor_div(local_s, SECONDS_PER_HOUR) * SECONDS_PER_HOUR;
        *next_s = *start_s + SECONDS_PER_HOUR;
        return;
    }
    int64_t day = floor_div(local_s, SECONDS_PER_DAY);
    int64_t first_day = day;
    int64_t next_day = day + 1;
    if (kind == TG_WINDOW_WEEK) {
        first_day = day - floor_mod(day + 3, 7); /* 1970-01-01, a Thursday, is 3 after Monday */
        next_day = first_day + 7;
    } else if (kind == TG_WINDOW_MONTH) {
        civil_date date = civil_from_days(day);
        first_day = days_from_civil(date.year, date.month, 1);
        next_day = first_day + days_in_month(date.year, date.month);
    }
    *start_s = first_day * SECONDS_PER_DAY;
    *next_s = next_day * SECONDS_PER_DAY;
}

/* Seconds to milliseconds, saturating at the ends of int64 (only reached near them). */
static int64_t seconds_to_ms(int64_t seconds) {
    if (seconds > INT64_MAX / 1000) {
        return INT64_MAX;
    }
    if (seconds < INT64_MIN / 1000) {
        return INT64_MIN;
    }
    return seconds * 1000;
}

void tg__window_bounds(const tg__tz *tz, tg_window_kind kind, int64_t now_ms, int64_t *start_ms,
                       int64_t *end_ms) {
    assert(start_ms != NULL && end_ms != NULL);
    bool known = kind == TG_WINDOW_HOUR || kind == TG_WINDOW_DAY || kind == TG_WINDOW_WEEK ||
                 kind == TG_WINDOW_MONTH || kind == TG_WINDOW_LIFETIME;
    assert(known);
    if (kind == TG_WINDOW_LIFETIME || !known) {
        *start_ms = INT64_MIN;
        *end_ms = INT64_MAX;
        return;
    }
    assert(tz != NULL);
    tg__tz utc = {.name = "UTC"};
    if (tz == NULL) {
        tz = &utc; /* release builds: a missing zone counts as UTC rather than crash */
    }
    /* Seconds suffice: every transition, and so every window bound, is a whole second. */
    int64_t now_s = floor_div(now_ms, 1000);
    int64_t local_start_s;
    int64_t local_next_s;
    local_window(kind, local_high_water(tz, now_s), &local_start_s, &local_next_s);
    *start_ms = seconds_to_ms(first_instant_at_local(tz, local_start_s));
    *end_ms = seconds_to_ms(first_instant_at_local(tz, local_next_s));
}

/* ---- The POSIX TZ string of the footer ------------------------------------------------- */

typedef struct {
    const char *text; /* not NUL-terminated */
    size_t length;
    size_t position; /* next character; never > length */
} scanner;

static int peek(const scanner *s) {
    return s->position < s->length ? (unsigned char)s->text[s->position] : -1;
}

static bool accept(scanner *s, char c) {
    if (peek(s) != (unsigned char)c) {
        return false;
    }
    s->position++;
    return true;
}

/* Locale-free character classes: the footer is ASCII whatever the process's locale. */
static bool is_digit(int c) {
    return c >= '0' && c <= '9';
}

static bool is_letter(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* A designation: three or more letters, or <...> of letters, digits, '+' and '-'. */
static bool scan_name(scanner *s) {
    size_t count = 0;
    if (accept(s, '<')) {
        while (is_letter(peek(s)) || is_digit(peek(s)) || peek(s) == '+' || peek(s) == '-') {
            s->position++;
            count++;
        }
        return accept(s, '>') && count >= 3;
    }
    while (is_letter(peek(s))) {
        s->position++;
        count++;
    }
    return count >= 3;
}

/* Decimal digits as a number no larger than `max`. */
static bool scan_number(scanner *s, int32_t max, int32_t *out) {
    if (!is_digit(peek(s))) {
        return false;
    }
    int32_t value = 0;
    while (is_digit(peek(s))) {
        value = value * 10 + (peek(s) - '0');
        if (value > max) {
            return false;
        }
        s->position++;
    }
    *out = value;
    return true;
}

/* [+-]hh[:mm[:ss]] with hh at most hours_max, in signed seconds. */
static bool scan_time(scanner *s, int32_t hours_max, int32_t *out_s) {
    int32_t sign = 1;
    if (accept(s, '-')) {
        sign = -1;
    } else {
        (void)accept(s, '+');
    }
    int32_t hours;
    int32_t minutes = 0;
    int32_t seconds = 0;
    if (!scan_number(s, hours_max, &hours)) {
        return false;
    }
    if (accept(s, ':')) {
        if (!scan_number(s, 59, &minutes)) {
            return false;
        }
        if (accept(s, ':') && !scan_number(s, 59, &seconds)) {
            return false;
        }
    }
    *out_s = sign * (hours * SECONDS_PER_HOUR + minutes * 60 + seconds);
    return true;
}

/* A POSIX offset ("5", "-8", "-5:30"), counted west, as seconds east within the RFC range. */
static bool scan_offset(scanner *s, int32_t *east_s) {
    int32_t west_s;
    if (!scan_time(s, POSIX_OFFSET_HOURS_MAX, &west_s) || -west_s < OFFSET_MIN_S ||
        -west_s > OFFSET_MAX_S) {
        return false;
    }
    *east_s = -west_s;
    return true;
}

/* Jn, n or Mm.w.d, then an optional /time (02:00 by default). */
static bool scan_rule(scanner *s, rule *r) {
    memset(r, 0, sizeof *r);
    bool ok;
    if (accept(s, 'J')) {
        r->kind = RULE_JULIAN_NO_LEAP;
        ok = scan_number(s, 365, &r->day) && r->day >= 1;
    } else if (accept(s, 'M')) {
        r->kind = RULE_MONTH_WEEK_DAY;
        ok = scan_number(s, 12, &r->month) && r->month >= 1 && accept(s, '.') &&
             scan_number(s, 5, &r->week) && r->week >= 1 && accept(s, '.') &&
             scan_number(s, 6, &r->day);
    } else {
        r->kind = RULE_JULIAN_ZERO;
        ok = scan_number(s, 365, &r->day);
    }
    r->time_s = 2 * SECONDS_PER_HOUR;
    if (ok && accept(s, '/')) {
        ok = scan_time(s, POSIX_RULE_HOURS_MAX, &r->time_s);
    }
    return ok;
}

/*
 * "std offset [dst [offset] ,start[/time],end[/time]]". A daylight name without
 * rules is refused: POSIX leaves its dates to the implementation, and a budget's
 * midnight must not depend on whose guess is used.
 */
static bool parse_posix_tz(const char *text, size_t length, footer_rule *footer) {
    scanner s = {text, length, 0};
    memset(footer, 0, sizeof *footer);
    footer->present = true;
    if (!scan_name(&s) || !scan_offset(&s, &footer->std_offset_s)) {
        return false;
    }
    if (s.position == length) {
        return true;
    }
    footer->has_dst = true;
    if (!scan_name(&s)) {
        return false;
    }
    footer->dst_offset_s = footer->std_offset_s + SECONDS_PER_HOUR;
    if (peek(&s) != ',' && !scan_offset(&s, &footer->dst_offset_s)) {
        return false;
    }
    return accept(&s, ',') && scan_rule(&s, &footer->dst_start) && accept(&s, ',') &&
           scan_rule(&s, &footer->dst_end) && s.position == length;
}

/* ---- TZif bytes -------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position; /* next byte; never > size */
} reader;

/* The next `count` bytes, or NULL when fewer remain. */
static const uint8_t *take(reader *r, size_t count) {
    if (count > r->size - r->position) {
        return NULL;
    }
    const uint8_t *bytes = r->data + r->position;
    r->position += count;
    return bytes;
}

static uint32_t read_u32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Two's complement without relying on implementation-defined conversions. */
static int32_t read_i32(const uint8_t *p) {
    uint32_t value = read_u32(p);
    return value <= INT32_MAX ? (int32_t)value
                              : (int32_t)(value - UINT32_C(0x80000000)) + INT32_MIN;
}

static int64_t read_i64(const uint8_t *p) {
    uint64_t value = (uint64_t)read_u32(p) << 32 | read_u32(p + 4);
    return value <= INT64_MAX ? (int64_t)value
                              : (int64_t)(value - UINT64_C(0x8000000000000000)) + INT64_MIN;
}

typedef struct {
    uint8_t version; /* 0 (version 1), '2', '3' or '4' */
    uint32_t isut_count;
    uint32_t isstd_count;
    uint32_t leap_count;
    uint32_t time_count;
    uint32_t type_count;
    uint32_t char_count;
} header;

/*
 * Reads and checks a header. Leap-second files ("right/" zones) are refused: their
 * timestamps count leap seconds, which the Unix milliseconds given to windows do
 * not, so their midnights would be off by half a minute. A version past 4 is
 * refused rather than guessed at.
 */
static bool read_header(reader *r, header *h) {
    const uint8_t *p = take(r, HEADER_SIZE);
    if (p == NULL || memcmp(p, "TZif", 4) != 0) {
        return false;
    }
    h->version = p[4]; /* p[5..19] are reserved and ignored, as RFC 8536 asks */
    h->isut_count = read_u32(p + 20);
    h->isstd_count = read_u32(p + 24);
    h->leap_count = read_u32(p + 28);
    h->time_count = read_u32(p + 32);
    h->type_count = read_u32(p + 36);
    h->char_count = read_u32(p + 40);
    bool version_ok = h->version == 0 || (h->version >= '2' && h->version <= '4');
    return version_ok && h->time_count <= TG_TZ_TRANSITIONS_MAX && h->type_count >= 1 &&
           h->type_count <= TG_TZ_TYPES_MAX && h->char_count >= 1 &&
           h->char_count <= TG_TZ_FILE_SIZE_MAX && h->leap_count == 0 &&
           (h->isstd_count == 0 || h->isstd_count == h->type_count) &&
           (h->isut_count == 0 || h->isut_count == h->type_count);
}

/* Bytes of the data block after a checked header (counts are small: no overflow). */
static size_t block_size(const header *h, size_t time_size) {
    return (size_t)h->time_count * (time_size + 1) + (size_t)h->type_count * TYPE_RECORD_SIZE +
           h->char_count + (size_t)h->leap_count * (time_size + 4) + h->isstd_count + h->isut_count;
}

/* Checks the local time type records and the indicators; fills offsets[]. */
static bool read_types(const header *h, const uint8_t *types, const uint8_t *indicators,
                       int32_t offsets[TG_TZ_TYPES_MAX]) {
    for (uint32_t i = 0; i < h->type_count; i++) {
        const uint8_t *record = types + (size_t)i * TYPE_RECORD_SIZE;
        int32_t offset_s = read_i32(record);
        if (offset_s < OFFSET_MIN_S || offset_s > OFFSET_MAX_S || record[4] > 1 ||
            record[5] >= h->char_count) {
            return false;
        }
        offsets[i] = offset_s;
    }
    for (uint32_t i = 0; i < h->isstd_count + h->isut_count; i++) {
        if (indicators[i] > 1) {
            return false;
        }
    }
    return true;
}

/* Reads a data block of 4- or 8-byte times into tz->transitions. */
static bool read_block(reader *r, const header *h, size_t time_size, tg__tz *tz) {
    const uint8_t *times = take(r, (size_t)h->time_count * time_size);
    const uint8_t *indexes = take(r, h->time_count);
    const uint8_t *types = take(r, (size_t)h->type_count * TYPE_RECORD_SIZE);
    const uint8_t *designations = take(r, h->char_count);
    const uint8_t *indicators = take(r, (size_t)h->isstd_count + h->isut_count);
    int32_t offsets[TG_TZ_TYPES_MAX];
    if (times == NULL || indexes == NULL || types == NULL || designations == NULL ||
        indicators == NULL || !read_types(h, types, indicators, offsets)) {
        return false;
    }
    for (uint32_t i = 0; i < h->time_count; i++) {
        const uint8_t *time = times + (size_t)i * time_size;
        int64_t time_s = time_size == 4 ? read_i32(time) : read_i64(time);
        /* Strictly ascending, as the RFC requires and the binary search needs. */
        if ((i > 0 && time_s <= tz->transitions[i - 1].time_s) || indexes[i] >= h->type_count) {
            return false;
        }
        tz->transitions[i] = (transition){time_s, offsets[indexes[i]]};
    }
    tz->transitions_count = (int32_t)h->time_count;
    tz->initial_offset_s = offsets[0];
    return true;
}

/* The footer: '\n', a POSIX TZ string (maybe empty), '\n'. Anything after is ignored. */
static bool read_footer(reader *r, footer_rule *footer) {
    const uint8_t *newline = take(r, 1);
    if (newline == NULL || *newline != '\n') {
        return false;
    }
    const uint8_t *text = r->data + r->position;
    const uint8_t *end = memchr(text, '\n', r->size - r->position);
    if (end == NULL) {
        return false;
    }
    if (end == text) {
        footer->present = false; /* empty: the last transition's offset stays */
        return true;
    }
    return parse_posix_tz((const char *)text, (size_t)(end - text), footer);
}

/* True when `name` ends within TG_TZ_NAME_SIZE_MAX bytes; reads nothing past its NUL. */
static bool name_fits(const char *name) {
    for (size_t i = 0; i < TG_TZ_NAME_SIZE_MAX; i++) {
        if (name[i] == '\0') {
            return true;
        }
    }
    return false;
}

tg_status tg__tz_parse(const char *name, const uint8_t *data, size_t size, tg__tz **out) {
    assert(out != NULL);
    if (name == NULL || !name_fits(name) || (data == NULL && size > 0) ||
        size > (size_t)TG_TZ_FILE_SIZE_MAX) {
        return TG_ERR_TZ;
    }
    reader r = {data, size, 0};
    header h;
    if (!read_header(&r, &h)) {
        return TG_ERR_TZ;
    }
    bool version_2_plus = h.version != 0;
    /* Version 2+: the 32-bit block only serves old readers; skip to the 64-bit one. */
    if (version_2_plus && (take(&r, block_size(&h, 4)) == NULL || !read_header(&r, &h))) {
        return TG_ERR_TZ;
    }
    tg__tz *tz = malloc(sizeof *tz + (size_t)h.time_count * sizeof(transition));
    if (tz == NULL) {
        return TG_ERR_NOMEM;
    }
    memset(tz, 0, sizeof *tz);
    strcpy(tz->name, name);
    bool ok = read_block(&r, &h, version_2_plus ? 8 : 4, tz) &&
              (!version_2_plus || read_footer(&r, &tz->footer));
    if (!ok) {
        free(tz);
        return TG_ERR_TZ;
    }
    *out = tz;
    return TG_OK;
}

tg__tz *tg__tz_utc(void) {
    tg__tz *tz = calloc(1, sizeof *tz);
    if (tz != NULL) {
        strcpy(tz->name, "UTC");
    }
    return tz;
}

void tg__tz_free(tg__tz *tz) {
    free(tz);
}

const char *tg__tz_name(const tg__tz *tz) {
    return tz->name;
}
