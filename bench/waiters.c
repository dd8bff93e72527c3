/*
 * bench/waiters: how long a waiting hold waits after the money it needs frees, inside
 * the engine the daemon runs (issue 18's goal: under 1 ms). A budget path of 3 levels
 * is held full and one waiter waits on it for the whole limit; `queued` - 1 other waiters
 * wait on another tree that stays full (so every pump looks at them all and grants none
 * of them); a release frees the money and the clock stops when tg_wait_poll hands over
 * the grant. That span is the release, the pump (every waiter looked at once), the
 * grant, and in strict SQLite mode the group commit (transaction and fsync) that makes
 * the grant durable before the daemon may answer it. Prints figures; asserts nothing.
 *
 *   build/bench_waiters [rounds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tollgate.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void check(tg_status status, const char *what, const tg_error *err) {
    if (status != TG_OK) {
        fprintf(stderr, "bench_waiters: %s: %s (%s)\n", what, tg_status_str(status),
                err ? err->message : "");
        exit(1);
    }
}

#define T0 INT64_C(1800000000000)
#define LIMIT 1000000

static tg_engine *open_engine(const char *store, const char *path) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = store;
    options.path = path;
    tg_engine *engine;
    tg_error err;
    check(tg_engine_open(&options, T0, &engine, &err), "open", &err);
    const char *paths[] = {"acme", "acme/support", "acme/support/agent-7"};
    for (int i = 0; i < 3; i++) {
        tg_budget_spec spec;
        tg_budget_spec_init(&spec);
        spec.cost_limit_micros = LIMIT;
        check(tg_budget_put(engine, paths[i], &spec, T0, &err), "budget", &err);
    }
    return engine;
}

static tg_reserve_result reserve(tg_engine *engine, const char *budget, int64_t amount,
                                 int64_t wait_ms) {
    tg_reserve_request request = {
        .budget = budget, .amount_micros = amount, .cls = TG_CLASS_CRITICAL, .wait_ms = wait_ms};
    tg_reserve_result result;
    tg_error err;
    check(tg_reserve(engine, &request, T0, &result, &err), "reserve", &err);
    return result;
}

static void queue(tg_engine *engine, const char *budget, int64_t amount) {
    if (!reserve(engine, budget, amount, TG_WAIT_MS_MAX).waiting) {
        fprintf(stderr, "bench_waiters: a waiter was not queued\n");
        exit(1);
    }
}

/* One configuration: `rounds` grants, `queued` waiters in the queue at each. */
static void run(const char *store, int queued, int rounds) {
    char path[64] = "";
    if (strcmp(store, "sqlite") == 0) {
        snprintf(path, sizeof path, "/tmp/bench-waiters-%d.db", (int)getpid());
    }
    tg_engine *engine = open_engine(store, path[0] ? path : NULL);
    tg_error err;
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = LIMIT;
    check(tg_budget_put(engine, "other", &spec, T0, &err), "budget", &err);
    reserve(engine, "other", LIMIT, 0);
    for (int i = 1; i < queued; i++) {
        queue(engine, "other", 1);
    }
    int64_t *spans = calloc((size_t)rounds, sizeof *spans);
    uint64_t blocker = reserve(engine, "acme/support/agent-7", LIMIT, 0).hold_id;
    queue(engine, "acme/support/agent-7", LIMIT);
    for (int r = 0; r < rounds; r++) {
        int64_t start = now_ns();
        check(tg_release(engine, blocker, NULL, T0, NULL, &err), "release", &err);
        tg_wait_result done;
        if (!tg_wait_poll(engine, &done) || !done.result.granted) {
            fprintf(stderr, "bench_waiters: the waiter was not granted\n");
            exit(1);
        }
        spans[r] = now_ns() - start;
        blocker = done.result.hold_id; /* the grant fills the path for the next round */
        queue(engine, "acme/support/agent-7", LIMIT);
    }
    qsort(spans, (size_t)rounds, sizeof *spans, compare_i64);
    printf("%-7s %5d waiters: release -> grant handed over  p50 %8.1f us  p99 %8.1f us  max "
           "%8.1f us  (%d rounds)\n",
           store, queued, spans[rounds / 2] / 1e3, spans[rounds * 99 / 100] / 1e3,
           spans[rounds - 1] / 1e3, rounds);
    free(spans);
    tg_engine_close(engine);
    if (path[0]) {
        char file[80];
        const char *suffixes[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
            unlink(file);
        }
    }
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    if (rounds < 1) {
        fprintf(stderr, "usage: bench_waiters [rounds]\n");
        return 2;
    }
    const int queues[] = {1, 100, 1000};
    for (size_t q = 0; q < sizeof queues / sizeof queues[0]; q++) {
        run("memory", queues[q], rounds);
    }
    for (size_t q = 0; q < sizeof queues / sizeof queues[0]; q++) {
        run("sqlite", queues[q], rounds / 10 > 0 ? rounds / 10 : 1);
    }
    return 0;
}
