/*
 * model.h: the fixture shared by the ledger tests (test_ledger_*.c, test_model.c).
 *
 * An engine on the "memory" store, reached through the public API only, whose
 * events are recorded so a test can ask what was reported; helpers that build
 * budget specs and run an operation asserting that the call itself succeeded;
 * and assertion macros that print both operands as signed 64-bit numbers
 * (cmocka's own print them unsigned, which hides a TG_NONE).
 *
 * Everything is `static inline` so a test file that uses only part of it does
 * not warn about unused functions.
 */
#ifndef TG_TEST_MODEL_H
#define TG_TEST_MODEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "assertions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

/* ---- units and times ------------------------------------------------------------ */

#define USD(x) ((int64_t)(x)*INT64_C(1000000))
#define SECOND_MS INT64_C(1000)
#define MINUTE_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)
/* 2025-01-01T00:00:00Z (a Wednesday): a UTC midnight and the top of an hour. */
#define T0_MS INT64_C(1735689600000)

/* ---- the fixture ----------------------------------------------------------------- */

#define FX_EVENTS_MAX 8192

typedef struct {
    tg_engine *engine;      /* owned; closed by fx_close */
    tg_event *events;       /* from calloc: every event since the last fx_clear_events */
    size_t events_count;    /* how many of events[] are used */
    size_t events_total;    /* every event since opening, for id checks */
    uint64_t last_event_id; /* ids must increase */
    bool ids_ok;            /* false once an id did not increase */
    int64_t now_ms;         /* the time the helpers pass to the engine */
} fx;

/* The fixture open now, so that a test that fails half-way (cmocka jumps out of
 * it) is still closed by fx_teardown and leaks nothing. */
static fx *fx_current;

static inline void fx_on_event(void *user, const tg_event *event) {
    fx *f = user;
    if (event->id <= f->last_event_id) {
        f->ids_ok = false;
    }
    f->last_event_id = event->id;
    f->events_total++;
    if (f->events_count < FX_EVENTS_MAX) {
        f->events[f->events_count++] = *event;
    }
}

/* Opens an engine with `options` (NULL: the defaults), store "memory", events recorded. */
static inline fx *fx_open_with(const tg_engine_options *options) {
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->events = calloc(FX_EVENTS_MAX, sizeof *f->events);
    assert_non_null(f->events);
    f->ids_ok = true;
    f->now_ms = T0_MS;
    tg_engine_options o;
    if (options != NULL) {
        o = *options;
    } else {
        tg_engine_options_init(&o);
    }
    o.store = "memory";
    o.on_event = fx_on_event;
    o.on_event_user = f;
    tg_error err = {0};
    tg_status status = tg_engine_open(&o, f->now_ms, &f->engine, &err);
    if (status != TG_OK) {
        print_error("tg_engine_open: %s: %s\n", tg_status_str(status), err.message);
        fail();
    }
    fx_current = f;
    return f;
}

static inline fx *fx_open(void) {
    return fx_open_with(NULL);
}

static inline void fx_close(fx *f) {
    if (f == NULL) {
        return;
    }
    if (f == fx_current) {
        fx_current = NULL;
    }
    bool ids_ok = f->ids_ok;
    tg_engine_close(f->engine);
    free(f->events);
    free(f);
    assert_true(ids_ok); /* event ids increased */
}

/* cmocka teardown: closes what a failed test left open. */
static inline int fx_teardown(void **state) {
    (void)state;
    if (fx_current != NULL) {
        fx *f = fx_current;
        fx_current = NULL;
        tg_engine_close(f->engine);
        free(f->events);
        free(f);
    }
    return 0;
}

/* A test with the fixture's teardown. */
#define fx_test(test) cmocka_unit_test_teardown(test, fx_teardown)

static inline void fx_clear_events(fx *f) {
    f->events_count = 0;
}

static inline size_t fx_count(const fx *f, tg_event_kind kind) {
    size_t n = 0;
    for (size_t i = 0; i < f->events_count; i++) {
        n += f->events[i].kind == kind;
    }
    return n;
}

/* The first recorded event of `kind` about `budget` (NULL: any) and class `cls` (-1: any). */
static inline const tg_event *fx_find(const fx *f, tg_event_kind kind, const char *budget,
                                      int cls) {
    for (size_t i = 0; i < f->events_count; i++) {
        const tg_event *e = &f->events[i];
        if (e->kind == kind && (budget == NULL || strcmp(e->budget, budget) == 0) &&
            (cls < 0 || e->cls == cls)) {
            return e;
        }
    }
    return NULL;
}

/* ---- budgets --------------------------------------------------------------------- */

/* A spec: cost limit (TG_NONE for none), absolute revocation threshold (TG_NONE: unset), window. */
static inline tg_budget_spec fx_spec(int64_t cost_limit_micros, int64_t revoke_at_micros,
                                     tg_window_kind window) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = cost_limit_micros;
    spec.revoke_at.micros = revoke_at_micros;
    spec.window = window;
    return spec;
}

static inline void fx_put_spec(fx *f, const char *path, const tg_budget_spec *spec) {
    tg_error err = {0};
    tg_status status = tg_budget_put(f->engine, path, spec, f->now_ms, &err);
    if (status != TG_OK) {
        print_error("tg_budget_put(%s): %s: %s\n", path, tg_status_str(status), err.message);
        fail();
    }
}

static inline void fx_put(fx *f, const char *path, int64_t cost_limit_micros,
                          int64_t revoke_at_micros, tg_window_kind window) {
    tg_budget_spec spec = fx_spec(cost_limit_micros, revoke_at_micros, window);
    fx_put_spec(f, path, &spec);
}

static inline tg_budget_info fx_info(fx *f, const char *path) {
    tg_budget_info info;
    tg_error err = {0};
    tg_status status = tg_budget_get(f->engine, path, f->now_ms, &info, &err);
    if (status != TG_OK) {
        print_error("tg_budget_get(%s): %s: %s\n", path, tg_status_str(status), err.message);
        fail();
    }
    return info;
}

/* ---- operations (the call must return TG_OK; the decision is the caller's to check) ---- */

static inline tg_reserve_request fx_reserve_request(const char *path, int64_t amount_micros,
                                                    tg_class cls) {
    tg_reserve_request r;
    memset(&r, 0, sizeof r);
    r.budget = path;
    r.amount_micros = amount_micros;
    r.cls = cls;
    return r;
}

static inline tg_reserve_result fx_reserve_with(fx *f, const tg_reserve_request *r) {
    tg_reserve_result out;
    memset(&out, 0xA5, sizeof out);
    tg_error err = {0};
    tg_status status = tg_reserve(f->engine, r, f->now_ms, &out, &err);
    if (status != TG_OK) {
        print_error("tg_reserve(%s, %lld): %s: %s\n", r->budget, (long long)r->amount_micros,
                    tg_status_str(status), err.message);
        fail();
    }
    return out;
}

static inline tg_reserve_result fx_reserve(fx *f, const char *path, int64_t amount_micros,
                                           tg_class cls) {
    tg_reserve_request r = fx_reserve_request(path, amount_micros, cls);
    return fx_reserve_with(f, &r);
}

/* Reserves and asserts the hold was granted; returns its id. */
static inline uint64_t fx_hold(fx *f, const char *path, int64_t amount_micros, tg_class cls) {
    tg_reserve_result out = fx_reserve(f, path, amount_micros, cls);
    if (!out.granted) {
        print_error("reserve %s %lld (%s) refused: %s at %s\n", path, (long long)amount_micros,
                    tg_class_str(cls), tg_reason_str(out.refusal.reason), out.refusal.budget);
        fail();
    }
    return out.hold_id;
}

static inline tg_commit_result fx_commit(fx *f, uint64_t hold_id, int64_t actual_micros) {
    tg_commit_request r;
    memset(&r, 0, sizeof r);
    r.hold_id = hold_id;
    r.actual_micros = actual_micros;
    tg_commit_result out;
    tg_error err = {0};
    tg_status status = tg_commit(f->engine, &r, f->now_ms, &out, &err);
    if (status != TG_OK) {
        print_error("tg_commit(%llu): %s: %s\n", (unsigned long long)hold_id, tg_status_str(status),
                    err.message);
        fail();
    }
    return out;
}

static inline void fx_release(fx *f, uint64_t hold_id) {
    tg_error err = {0};
    tg_status status = tg_release(f->engine, hold_id, NULL, f->now_ms, NULL, &err);
    if (status != TG_OK) {
        print_error("tg_release(%llu): %s: %s\n", (unsigned long long)hold_id,
                    tg_status_str(status), err.message);
        fail();
    }
}

static inline tg_record_request fx_record_request(const char *path, int64_t cost_micros,
                                                  tg_class cls, bool force) {
    tg_record_request r;
    memset(&r, 0, sizeof r);
    r.budget = path;
    r.cost_micros = cost_micros;
    r.cls = cls;
    r.force = force;
    return r;
}

static inline tg_record_result fx_record_with(fx *f, const tg_record_request *r) {
    tg_record_result out;
    memset(&out, 0xA5, sizeof out);
    tg_error err = {0};
    tg_status status = tg_record(f->engine, r, f->now_ms, &out, &err);
    if (status != TG_OK) {
        print_error("tg_record(%s, %lld): %s: %s\n", r->budget, (long long)r->cost_micros,
                    tg_status_str(status), err.message);
        fail();
    }
    return out;
}

static inline tg_record_result fx_record(fx *f, const char *path, int64_t cost_micros, tg_class cls,
                                         bool force) {
    tg_record_request r = fx_record_request(path, cost_micros, cls, force);
    return fx_record_with(f, &r);
}

/* Records and asserts it was charged. */
static inline void fx_spend(fx *f, const char *path, int64_t cost_micros, tg_class cls) {
    tg_record_result out = fx_record(f, path, cost_micros, cls, false);
    if (!out.charged) {
        print_error("record %s %lld (%s) refused: %s at %s\n", path, (long long)cost_micros,
                    tg_class_str(cls), tg_reason_str(out.refusal.reason), out.refusal.budget);
        fail();
    }
}

static inline void fx_freeze(fx *f, const char *path, bool frozen) {
    assert_ok(tg_budget_freeze(f->engine, path, frozen, f->now_ms, NULL));
}

static inline tg_hold_info fx_hold_info(fx *f, uint64_t hold_id) {
    tg_hold_info info;
    tg_error err = {0};
    tg_status status = tg_hold_get(f->engine, hold_id, &info, &err);
    if (status != TG_OK) {
        print_error("tg_hold_get(%llu): %s: %s\n", (unsigned long long)hold_id,
                    tg_status_str(status), err.message);
        fail();
    }
    return info;
}

static inline bool fx_hold_open(fx *f, uint64_t hold_id) {
    tg_hold_info info;
    tg_status status = tg_hold_get(f->engine, hold_id, &info, NULL);
    assert_true(status == TG_OK || status == TG_ERR_NOT_FOUND);
    return status == TG_OK;
}

/* Asserts a refusal's four fields. */
#define assert_refusal(refusal, reason_, budget_, max_amount_, retry_after_)                       \
    do {                                                                                           \
        assert_i64((refusal).reason, (reason_));                                                   \
        assert_string_equal((refusal).budget, (budget_));                                          \
        assert_i64((refusal).max_amount_micros, (max_amount_));                                    \
        assert_i64((refusal).retry_after_ms, (retry_after_));                                      \
    } while (0)

#endif
