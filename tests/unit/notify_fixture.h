/*
 * notify_fixture.h: shared by the notification tests (test_notify_*.c).
 * Assertion macros that print both operands, and a builder for events as the
 * core makes them (fields that do not apply are TG_NONE, -1 or ""). Everything
 * is `static inline` or a macro, so a test using part of it does not warn about
 * the rest.
 */
#ifndef TG_TEST_NOTIFY_FIXTURE_H
#define TG_TEST_NOTIFY_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "assertions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/item.h"
#include "tollgate.h"

#define UNITS(x) ((int64_t)(x)*1000000)
#define NOON_MS INT64_C(1768478400000) /* 2026-01-15T12:00:00Z */

/* An event of `kind` on `budget` with every optional field unset. */
static inline tg_event event_make(uint64_t id, tg_event_kind kind, const char *budget) {
    tg_event event;
    memset(&event, 0, sizeof event);
    event.id = id;
    event.kind = kind;
    event.time_ms = NOON_MS + (int64_t)id;
    snprintf(event.budget, sizeof event.budget, "%s", budget);
    event.cls = -1;
    event.reason = -1;
    event.amount_micros = event.held_micros = event.spent_micros = TG_NONE;
    event.limit_micros = event.threshold_micros = event.count = TG_NONE;
    return event;
}

/* "revoked normal at 480 of 500, 3 holds told to cancel" and the like. */
static inline tg_event revoked_make(uint64_t id, const char *budget, tg_class cls,
                                    int64_t spent_micros, int64_t limit_micros) {
    tg_event event = event_make(id, TG_EVENT_REVOKED, budget);
    event.cls = cls;
    event.spent_micros = spent_micros;
    event.limit_micros = limit_micros;
    event.threshold_micros = spent_micros;
    event.count = 3;
    return event;
}

static inline tg_event denied_make(uint64_t id, const char *budget, tg_class cls, tg_reason reason,
                                   int64_t amount_micros, const char *tool) {
    tg_event event = event_make(id, TG_EVENT_DENIED, budget);
    event.cls = cls;
    event.reason = reason;
    event.amount_micros = amount_micros;
    event.spent_micros = UNITS(475);
    event.limit_micros = UNITS(500);
    snprintf(event.tool, sizeof event.tool, "%s", tool);
    return event;
}

#endif
