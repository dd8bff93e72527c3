/*
 * notify_bench: revocations through the engine (SQLite store, strict: each
 * decision is durable when it returns) with the notifier running in the same
 * process, as the daemon will run it. For each revocation it prints
 *
 *   R <event id> <decision start, ns> <decision durable, ns>
 *
 * on CLOCK_MONOTONIC, which node's process.hrtime also reads, so bench/notify/run.js
 * (the webhook receiver) subtracts its receipt time. At the end it prints the
 * decision latency of every reserve and commit: with `--config none` no
 * notifier runs, to compare.
 *
 *   bench_notify --db FILE --config YAML|none --revocations N [--gap-us US]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notify/notify.h"
#include "tollgate.h"

#define UNITS(x) ((int64_t)(x)*1000000)

static uint64_t revoked_id; /* set by the event callback during a decision */

static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static int64_t wall_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void on_event(void *user, const tg_event *event) {
    (void)user;
    if (event->kind == TG_EVENT_REVOKED) {
        revoked_id = event->id;
    }
}

static void check(tg_status status, const tg_error *err, const char *what) {
    if (status != TG_OK) {
        fprintf(stderr, "bench_notify: %s: %s\n", what, err->message);
        exit(1);
    }
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Budget i: $100, normal work revoked at $80; low may go on to the limit, so one event. */
static void make_budgets(tg_engine *engine, int count) {
    tg_error err = {0};
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    check(tg_budget_put(engine, "bench", &spec, wall_ms(), &err), &err, "root");
    spec.cost_limit_micros = UNITS(100);
    spec.revoke_at.ppm = 800000;
    spec.class_ceiling[TG_CLASS_LOW].ppm = 1000000;
    for (int i = 0; i < count; i++) {
        char path[64];
        snprintf(path, sizeof path, "bench/b%06d", i);
        check(tg_budget_put(engine, path, &spec, wall_ms(), &err), &err, "budget");
    }
}

int main(int argc, char **argv) {
    const char *db = NULL, *config = NULL;
    int revocations = 1000;
    int64_t gap_us = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0) {
            db = argv[i + 1];
        } else if (strcmp(argv[i], "--config") == 0) {
            config = argv[i + 1];
        } else if (strcmp(argv[i], "--revocations") == 0) {
            revocations = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--gap-us") == 0) {
            gap_us = atoll(argv[i + 1]);
        }
    }
    if (db == NULL || config == NULL || revocations < 1) {
        fputs("usage: bench_notify --db FILE --config YAML|none --revocations N [--gap-us US]\n",
              stderr);
        return 2;
    }
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = "sqlite";
    options.path = db;
    options.on_event = on_event;
    tg_engine *engine = NULL;
    tg__notifier *notifier = NULL;
    tg_error err = {0};
    check(tg_engine_open(&options, wall_ms(), &engine, &err), &err, "open");
    make_budgets(engine, revocations);
    if (strcmp(config, "none") != 0) {
        check(tg__notify_start_file(config, "sqlite", db, &notifier, &err), &err, "notify");
    }
    int64_t *decisions_ns = malloc(2 * (size_t)revocations * sizeof *decisions_ns);
    for (int i = 0; i < revocations; i++) {
        char path[64];
        snprintf(path, sizeof path, "bench/b%06d", i);
        tg_reserve_request ask = {.budget = path,
                                  .amount_micros = UNITS(80),
                                  .cls = TG_CLASS_NORMAL,
                                  .tool = "answer_ticket"};
        tg_reserve_result hold;
        int64_t start_ns = monotonic_ns();
        check(tg_reserve(engine, &ask, wall_ms(), &hold, &err), &err, "reserve");
        decisions_ns[2 * i] = monotonic_ns() - start_ns;
        tg__notify_wake(notifier);
        tg_commit_request done = {.hold_id = hold.hold_id, .actual_micros = UNITS(80)};
        tg_commit_result charged;
        revoked_id = 0;
        start_ns = monotonic_ns();
        check(tg_commit(engine, &done, wall_ms(), &charged, &err), &err, "commit");
        int64_t durable_ns = monotonic_ns();
        decisions_ns[2 * i + 1] = durable_ns - start_ns;
        tg__notify_wake(notifier); /* as the daemon does after each durable commit */
        printf("R %llu %lld %lld\n", (unsigned long long)revoked_id, (long long)start_ns,
               (long long)durable_ns);
        if (gap_us > 0) {
            usleep((useconds_t)gap_us);
        }
    }
    fflush(stdout);
    qsort(decisions_ns, 2 * (size_t)revocations, sizeof *decisions_ns, compare);
    size_t n = 2 * (size_t)revocations;
    printf("decisions %zu p50_us %.1f p99_us %.1f max_us %.1f\n", n,
           (double)decisions_ns[n / 2] / 1000, (double)decisions_ns[n * 99 / 100] / 1000,
           (double)decisions_ns[n - 1] / 1000);
    fflush(stdout);
    /* Let the last digests go out before stopping (run.js waits for receipt anyway). */
    if (notifier != NULL) {
        sleep(3);
    }
    tg__notify_stop(notifier, 2000);
    tg_engine_close(engine);
    free(decisions_ns);
    return 0;
}
