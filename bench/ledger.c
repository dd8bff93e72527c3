/*
 * bench/ledger: reserve+commit pairs per second and their latency, on a
 * 3-level budget path (acme/support/agent-7), in memory and with SQLite in
 * strict (group commit per batch), strict unbatched (one fsync per
 * operation) and relaxed modes. Prints figures; asserts nothing about speed.
 *
 *   build/bench_ledger [pairs_in_memory] [batch_size]
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

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void die(const char *what, tg_status status, const tg_error *err) {
    fprintf(stderr, "bench_ledger: %s: %s (%s)\n", what, tg_status_str(status),
            err ? err->message : "");
    exit(1);
}

static tg_engine *open_engine(const char *store, const char *path, tg_durability durability) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = store;
    options.path = path;
    options.durability = durability;
    tg_engine *engine;
    tg_error err;
    tg_status status = tg_engine_open(&options, 0, &engine, &err);
    if (status != TG_OK) {
        die("open", status, &err);
    }
    const char *paths[] = {"acme", "acme/support", "acme/support/agent-7"};
    for (int i = 0; i < 3; i++) {
        tg_budget_spec spec;
        tg_budget_spec_init(&spec);
        spec.cost_limit_micros = INT64_C(1000000000000000000) >> i; /* never refuses */
        spec.window = TG_WINDOW_DAY;
        if ((status = tg_budget_put(engine, paths[i], &spec, 1, &err)) != TG_OK) {
            die("budget", status, &err);
        }
    }
    return engine;
}

/* One reserve + commit; returns its latency in ns. */
static int64_t pair(tg_engine *engine, int64_t now_ms) {
    tg_reserve_request reserve = {.budget = "acme/support/agent-7",
                                  .amount_micros = 2000,
                                  .cls = TG_CLASS_NORMAL,
                                  .tool = "search"};
    tg_reserve_result held;
    tg_error err;
    int64_t start = now_ns();
    tg_status status = tg_reserve(engine, &reserve, now_ms, &held, &err);
    if (status != TG_OK || !held.granted) {
        die("reserve", status, &err);
    }
    tg_commit_request commit = {.hold_id = held.hold_id, .actual_micros = 1500, .tokens_in = 10};
    tg_commit_result done;
    if ((status = tg_commit(engine, &commit, now_ms, &done, &err)) != TG_OK) {
        die("commit", status, &err);
    }
    return now_ns() - start;
}

static void report(const char *name, int64_t pairs, int64_t elapsed_ns, int64_t *latency_ns,
                   int64_t samples, const char *latency_of) {
    qsort(latency_ns, (size_t)samples, sizeof *latency_ns, compare_i64);
    double seconds = (double)elapsed_ns / 1e9;
    printf("%-34s %10.0f pairs/s  %s p50 %8.2f us  p99 %8.2f us  p999 %8.2f us  (%lld pairs)\n",
           name, (double)pairs / seconds, latency_of, latency_ns[samples / 2] / 1e3,
           latency_ns[samples * 99 / 100] / 1e3, latency_ns[samples * 999 / 1000] / 1e3,
           (long long)pairs);
}

static void bench_memory(int64_t pairs) {
    tg_engine *engine = open_engine("memory", NULL, TG_DURABILITY_STRICT);
    int64_t *latency = malloc((size_t)pairs * sizeof *latency);
    for (int64_t i = 0; i < pairs / 10; i++) { /* warm up tables and caches */
        pair(engine, 1000);
    }
    int64_t start = now_ns();
    for (int64_t i = 0; i < pairs; i++) {
        latency[i] = pair(engine, 1000 + i / 1000);
    }
    int64_t elapsed = now_ns() - start;
    report("memory", pairs, elapsed, latency, pairs, "pair");
    free(latency);
    tg_engine_close(engine);
}

/* Durable pairs: `batch` pairs share one transaction; latency is until the batch is durable. */
static void bench_sqlite(const char *name, tg_durability durability, int64_t pairs, int batch) {
    char path[] = "/tmp/tollgate-bench-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    tg_engine *engine = open_engine("sqlite", path, durability);
    int64_t batches = pairs / batch;
    int64_t *latency = malloc((size_t)batches * sizeof *latency);
    tg_error err;
    int64_t start = now_ns();
    for (int64_t b = 0; b < batches; b++) {
        int64_t batch_start = now_ns();
        if (batch > 1) {
            tg_engine_batch_begin(engine);
        }
        for (int i = 0; i < batch; i++) {
            pair(engine, wall_ms()); /* relaxed mode syncs by the real clock */
        }
        if (batch > 1) {
            tg_status status = tg_engine_batch_end(engine, &err);
            if (status != TG_OK) {
                die("batch_end", status, &err);
            }
        }
        latency[b] = now_ns() - batch_start;
    }
    tg_status status = tg_engine_sync(engine, &err);
    if (status != TG_OK) {
        die("sync", status, &err);
    }
    int64_t elapsed = now_ns() - start;
    report(name, batches * batch, elapsed, latency, batches, batch > 1 ? "batch" : "pair ");
    free(latency);
    tg_engine_close(engine);
    char side[sizeof path + 8];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

int main(int argc, char **argv) {
    int64_t pairs = argc > 1 ? atoll(argv[1]) : 2000000;
    int batch = argc > 2 ? atoi(argv[2]) : 64;
    if (pairs < 1000 || batch < 2 || batch > 100000) {
        fprintf(stderr, "usage: %s [pairs_in_memory >= 1000] [batch_size 2..100000]\n", argv[0]);
        return 2;
    }
    printf("tollgate %s bench_ledger: reserve+commit on a 3-level path, one core\n", TG_VERSION);
    bench_memory(pairs);
    char name[64];
    snprintf(name, sizeof name, "sqlite strict, %d pairs/commit", batch);
    bench_sqlite(name, TG_DURABILITY_STRICT, 200000, batch);
    bench_sqlite("sqlite strict, 1 fsync per op", TG_DURABILITY_STRICT, 2000, 1);
    bench_sqlite("sqlite relaxed (sync every 50 ms)", TG_DURABILITY_RELAXED, 200000, 1);
    return 0;
}
