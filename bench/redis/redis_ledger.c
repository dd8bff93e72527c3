/*
 * bench_redis_ledger: what one decision costs on the redis ledger (src/store/redis/),
 * one synchronous connection, a 3-level path (acme/support/agent), against a
 * redis-server it starts itself on a loopback port (or $TG_REDIS_PORT if set: a
 * server someone else runs). Prints reserve+commit pairs per second, the latency of
 * each call (p50, p99), and Redis's own CPU per call from INFO commandstats
 * (cmdstat_fcall usec_per_call), beside the local engine's pairs per second.
 * Then Redis's CPU per call of each function apart (INFO commandstats counts every
 * FCALL together, so each function runs alone in its own phase, stats reset before
 * it): reserve, commit, record and record with an idempotency key on a 2- and a
 * 3-level path with limits and a day window, and record on an unlimited 2-level path
 * (what bench/redis/daemons.sh's requests call). To compare two builds' tollgate.lua on
 * one server, run each with the same $TG_REDIS_PORT in turn (each connect loads its own
 * library) and FLUSHALL between them (the state layouts differ).
 *
 *   build/bench_redis_ledger [pairs]     (default 20000)
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_server.h"
#include "store/redis/redis_ledger.h"

#define T0_MS INT64_C(1735689600000)

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void check(tg_status status, const char *what, const tg_error *err) {
    if (status != TG_OK) {
        fprintf(stderr, "bench_redis_ledger: %s: %s: %s\n", what, tg_status_str(status),
                err ? err->message : "");
        exit(1);
    }
}

static void put_tree(const tg__ledger_ops *ops, void *self) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = INT64_C(1000000000000000); /* never reached: every call decides */
    spec.window = TG_WINDOW_DAY;
    const char *paths[] = {"acme", "acme/support", "acme/support/agent"};
    for (int i = 0; i < 3; i++) {
        tg_error err = {0};
        check(ops->budget_put(self, paths[i], &spec, T0_MS, &err), "budget_put", &err);
    }
}

/* Reserve+commit pairs; latencies of each call into lat_us[0 .. 2*pairs). */
static double run_pairs(const tg__ledger_ops *ops, void *self, int pairs, int64_t *lat_us) {
    int64_t started = now_us();
    for (int i = 0; i < pairs; i++) {
        tg_error err = {0};
        tg_reserve_request q = {
            .budget = "acme/support/agent", .amount_micros = 1000, .cls = TG_CLASS_NORMAL};
        tg_reserve_result held;
        int64_t t0 = now_us();
        check(ops->reserve(self, &q, T0_MS + i, &held, &err), "reserve", &err);
        int64_t t1 = now_us();
        tg_commit_request c = {.hold_id = held.hold_id, .actual_micros = 700};
        tg_commit_result done;
        check(ops->commit(self, &c, T0_MS + i, &done, &err), "commit", &err);
        int64_t t2 = now_us();
        if (lat_us != NULL) {
            lat_us[2 * i] = t1 - t0;
            lat_us[2 * i + 1] = t2 - t1;
        }
    }
    return (double)pairs * 1e6 / (double)(now_us() - started);
}

static double fcall_usec_per_call(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *reply = c && !c->err ? redisCommand(c, "INFO commandstats") : NULL;
    double usec = -1;
    const char *at =
        reply && reply->type == REDIS_REPLY_STRING ? strstr(reply->str, "cmdstat_fcall:") : NULL;
    const char *field = at ? strstr(at, "usec_per_call=") : NULL;
    if (field != NULL) {
        usec = strtod(field + strlen("usec_per_call="), NULL);
    }
    freeReplyObject(reply);
    redisFree(c);
    return usec;
}

static void reset_stats(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    redisFree(c);
}

/* Redis's CPU per call of each function apart, on `path` (n calls per phase). */
static void per_function(tg__redis_ledger *redis, int port, const char *path, int n,
                         uint64_t *holds) {
    const tg__ledger_ops *ops = &tg__ledger_ops_redis;
    static int64_t clock_ms = T0_MS + 1000000;
    static long keyed;
    tg_error err = {0};
    reset_stats(port);
    for (int i = 0; i < n; i++) {
        tg_reserve_request q = {.budget = path, .amount_micros = 1000, .cls = TG_CLASS_NORMAL};
        tg_reserve_result held;
        check(ops->reserve(redis, &q, clock_ms++, &held, &err), "reserve", &err);
        holds[i] = held.hold_id;
    }
    double reserve = fcall_usec_per_call(port);
    reset_stats(port);
    for (int i = 0; i < n; i++) {
        tg_commit_request c = {.hold_id = holds[i], .actual_micros = 700};
        tg_commit_result done;
        check(ops->commit(redis, &c, clock_ms++, &done, &err), "commit", &err);
    }
    double commit = fcall_usec_per_call(port);
    reset_stats(port);
    for (int i = 0; i < n; i++) {
        tg_record_request r = {.budget = path, .cost_micros = 700, .cls = TG_CLASS_NORMAL};
        tg_record_result done;
        check(ops->record(redis, &r, clock_ms++, &done, &err), "record", &err);
    }
    double record = fcall_usec_per_call(port);
    reset_stats(port);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "bench-%ld", keyed++);
        tg_record_request r = {
            .budget = path, .cost_micros = 700, .cls = TG_CLASS_NORMAL, .idempotency_key = key};
        tg_record_result done;
        check(ops->record(redis, &r, clock_ms++, &done, &err), "record keyed", &err);
    }
    double record_keyed = fcall_usec_per_call(port);
    printf("  %-20s reserve %6.2f  commit %6.2f  record %6.2f  record+key %6.2f us/call\n", path,
           reserve, commit, record, record_keyed);
}

int main(int argc, char **argv) {
    int pairs = argc > 1 ? atoi(argv[1]) : 20000;
    if (pairs < 1 || pairs > 10000000) {
        fprintf(stderr, "usage: bench_redis_ledger [pairs 1..10000000]\n");
        return 2;
    }
    redis_server server = {0};
    const char *given = getenv("TG_REDIS_PORT");
    if (given != NULL && *given) {
        server.port = atoi(given);
    } else {
        redis_server_start(&server, NULL);
    }
    tg__redis_ledger_options o;
    tg__redis_ledger_options_init(&o);
    o.port = server.port;
    tg__redis_ledger *redis = NULL;
    tg_error err = {0};
    check(tg__redis_ledger_open(&o, &redis, &err), "open", &err);
    put_tree(&tg__ledger_ops_redis, redis);
    int64_t *lat_us = calloc((size_t)pairs * 2, sizeof *lat_us);
    run_pairs(&tg__ledger_ops_redis, redis, pairs / 10 + 1, NULL); /* warm up */
    redisContext *c = redisConnect("127.0.0.1", server.port);
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    redisFree(c);
    double redis_rate = run_pairs(&tg__ledger_ops_redis, redis, pairs, lat_us);
    double usec = fcall_usec_per_call(server.port);
    qsort(lat_us, (size_t)pairs * 2, sizeof *lat_us, compare_i64);
    int64_t p50 = lat_us[pairs], p99 = lat_us[(size_t)pairs * 2 * 99 / 100];
    int n = pairs < 5000 ? pairs : 5000;
    uint64_t *holds = calloc((size_t)n, sizeof *holds);
    printf("redis CPU per call of each function (INFO commandstats usec_per_call, %d calls "
           "each):\n",
           n);
    per_function(redis, server.port, "acme/support", n, holds);
    per_function(redis, server.port, "acme/support/agent", n, holds);
    tg_budget_spec unlimited;
    tg_budget_spec_init(&unlimited);
    check(tg__ledger_ops_redis.budget_put(redis, "free", &unlimited, T0_MS, &err), "put", &err);
    check(tg__ledger_ops_redis.budget_put(redis, "free/agent", &unlimited, T0_MS, &err), "put",
          &err);
    per_function(redis, server.port, "free/agent", n, holds);
    free(holds);
    tg__redis_ledger_close(redis);

    tg_engine_options options;
    tg_engine_options_init(&options);
    tg_engine *engine = NULL;
    check(tg_engine_open(&options, T0_MS, &engine, &err), "engine open", &err);
    put_tree(&tg__ledger_ops_local, engine);
    double local_rate = run_pairs(&tg__ledger_ops_local, engine, pairs, NULL);
    tg_engine_close(engine);

    printf("redis ledger, 1 synchronous connection, 3-level path, %d reserve+commit pairs:\n",
           pairs);
    printf("  %.0f pairs/s (%.0f decisions/s); per call p50 %lld us, p99 %lld us\n", redis_rate,
           2 * redis_rate, (long long)p50, (long long)p99);
    printf("  redis CPU per call (cmdstat_fcall usec_per_call): %.2f us\n", usec);
    printf("local engine (memory store), same path: %.0f pairs/s\n", local_rate);
    free(lat_us);
    if (server.pid > 0) {
        redis_server_stop(&server);
    }
    return 0;
}
