/*
 * notify_driver: one process that writes events through the engine (SQLite
 * store, strict) and runs the notifier on the same file, as the daemon will.
 * The node tests (tests/integration/notify_*.test.js) and bench/notify drive
 * it; it lets the sender be tested, killed and restarted without the daemon.
 *
 *   notify_driver --db FILE --config YAML kinds        every event kind, then wait
 *   notify_driver --db FILE --config YAML load MS      events on 8 budgets for MS ms
 *   notify_driver --db FILE --config YAML deliver      no new events: deliver the rest
 *   notify_driver --db FILE dump                       the events table as JSON lines
 *
 * After producing events it waits (up to --wait-ms, default 20000) until every
 * event has delivered_at_ms or is dead-lettered, prints "delivered all" and
 * exits 0; "undelivered N" and 1 on a timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "notify/notify.h"
#include "tollgate.h"

#define UNITS(x) ((int64_t)(x)*1000000)
#define LOAD_BUDGETS 8

static tg_engine *engine;
static tg__notifier *notifier;

static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void check(tg_status status, const tg_error *err, const char *what) {
    if (status != TG_OK) {
        fprintf(stderr, "notify_driver: %s: %s\n", what, err->message);
        exit(1);
    }
}

/* Every strict mutation is durable when it returns: tell the sender, as the daemon will. */
static void durable(void) {
    tg__notify_wake(notifier);
}

static void put(const char *path, int64_t limit_units, int64_t revoke_ppm, tg_window_kind window) {
    tg_budget_spec spec;
    tg_error err = {0};
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = UNITS(limit_units);
    spec.revoke_at.ppm = revoke_ppm;
    spec.window = window;
    spec.alerts_ppm[0] = 500000;
    spec.alerts_count = 1;
    check(tg_budget_put(engine, path, &spec, now_ms(), &err), &err, "budget put");
    durable();
}

/* Reserve then commit `actual`; returns false when refused (a denied event). */
static bool spend(const char *budget, int64_t hold_micros, int64_t actual_micros, tg_class cls,
                  const char *tool) {
    tg_error err = {0};
    tg_reserve_request ask = {
        .budget = budget, .amount_micros = hold_micros, .cls = cls, .tool = tool};
    tg_reserve_result hold;
    check(tg_reserve(engine, &ask, now_ms(), &hold, &err), &err, "reserve");
    if (!hold.granted) {
        return false;
    }
    tg_commit_request done = {.hold_id = hold.hold_id, .actual_micros = actual_micros};
    tg_commit_result charged;
    check(tg_commit(engine, &done, now_ms(), &charged, &err), &err, "commit");
    durable();
    return true;
}

static void scenario_kinds(void) {
    tg_error err = {0};
    put("k", 1000, TG_NONE, TG_WINDOW_LIFETIME);                   /* budget_changed */
    put("k/a", 100, 800000, TG_WINDOW_HOUR);                       /* revoked at 80 */
    spend("k/a", UNITS(60), UNITS(60), TG_CLASS_NORMAL, "search"); /* threshold_crossed 50% */
    spend("k/a", UNITS(20), UNITS(20), TG_CLASS_NORMAL, "search"); /* revoked low, normal */
    spend("k/a", UNITS(5), UNITS(5), TG_CLASS_NORMAL, "search");   /* denied */
    spend("k/a", UNITS(5), UNITS(8), TG_CLASS_CRITICAL, "refund"); /* overrun */
    spend("k/a", UNITS(2), UNITS(2), TG_CLASS_CRITICAL, "refund"); /* high revoked at 90 */
    tg_reserve_request ask = {.budget = "k/a",
                              .amount_micros = 1,
                              .cls = TG_CLASS_CRITICAL,
                              .tool = "refund",
                              .ttl_ms = 1};
    tg_reserve_result hold;
    check(tg_reserve(engine, &ask, now_ms(), &hold, &err), &err, "reserve to expire");
    durable();
    usleep(5000);
    check(tg_engine_tick(engine, now_ms(), &err), &err, "tick"); /* hold_expired */
    check(tg_budget_freeze(engine, "k/a", true, now_ms(), &err), &err, "freeze");
    check(tg_budget_freeze(engine, "k/a", false, now_ms(), &err), &err, "unfreeze");
    check(tg_engine_tick(engine, now_ms() + 3600 * 1000, &err), &err, "roll"); /* rolled,
                                                                                 reinstated */
    check(tg_engine_sync(engine, &err), &err, "sync");
    durable();
}

/* Keeps 8 budgets busy: spending to revocation, refusals, then a raised limit, again. */
static void scenario_load(int64_t duration_ms) {
    char paths[LOAD_BUDGETS][32];
    int64_t limits[LOAD_BUDGETS];
    put("load", 1000000000, TG_NONE, TG_WINDOW_LIFETIME);
    for (int b = 0; b < LOAD_BUDGETS; b++) {
        snprintf(paths[b], sizeof paths[b], "load/b%d", b);
        limits[b] = 20;
        put(paths[b], limits[b], 800000, TG_WINDOW_LIFETIME);
    }
    int64_t end_ms = now_ms() + duration_ms;
    for (int64_t round = 0; now_ms() < end_ms; round++) {
        int b = (int)(round % LOAD_BUDGETS);
        if (!spend(paths[b], UNITS(1), UNITS(1), round % 7 ? TG_CLASS_NORMAL : TG_CLASS_LOW,
                   round % 3 ? "answer" : "search") &&
            round % 5 == 0) {
            limits[b] += 20; /* lifts the revocation: reinstated */
            put(paths[b], limits[b], 800000, TG_WINDOW_LIFETIME);
        }
        usleep(500);
    }
    tg_error err = {0};
    check(tg_engine_sync(engine, &err), &err, "sync");
    durable();
}

/* Events no sink has finished with: neither delivered nor dead-lettered. */
static int64_t undelivered(sqlite3 *db) {
    sqlite3_stmt *s = NULL;
    int64_t count = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM events WHERE delivered_at_ms IS NULL AND id NOT IN"
                           " (SELECT event_id FROM notify_dead)",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        count = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return count;
}

static int wait_delivered(const char *db_path, int64_t wait_ms) {
    sqlite3 *db = NULL;
    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_busy_timeout(db, 1000);
    int64_t deadline_ms = now_ms() + wait_ms;
    int64_t left = undelivered(db);
    while (left != 0 && now_ms() < deadline_ms) {
        usleep(10000);
        left = undelivered(db);
    }
    sqlite3_close(db);
    printf(left == 0 ? "delivered all\n" : "undelivered %lld\n", (long long)left);
    fflush(stdout);
    return left == 0 ? 0 : 1;
}

static int dump(const char *db_path) {
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT id, kind, budget, coalesce(delivered_at_ms, -1) FROM events "
                           "ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "notify_driver: cannot read %s\n", db_path);
        return 1;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        printf("{\"id\":%lld,\"kind\":\"%s\",\"budget\":\"%s\",\"delivered_at_ms\":%lld}\n",
               (long long)sqlite3_column_int64(s, 0), sqlite3_column_text(s, 1),
               sqlite3_column_text(s, 2), (long long)sqlite3_column_int64(s, 3));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return 0;
}

static void open_all(const char *db_path, const char *config) {
    tg_engine_options options;
    tg_error err = {0};
    tg_engine_options_init(&options);
    options.store = "sqlite";
    options.path = db_path;
    check(tg_engine_open(&options, now_ms(), &engine, &err), &err, "open");
    check(tg__notify_start_file(config, "sqlite", db_path, &notifier, &err), &err, "notify");
}

int main(int argc, char **argv) {
    const char *db_path = NULL, *config = NULL, *command = NULL, *argument = NULL;
    int64_t wait_ms = 20000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            db_path = argv[++i];
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--wait-ms") == 0 && i + 1 < argc) {
            wait_ms = atoll(argv[++i]);
        } else if (command == NULL) {
            command = argv[i];
        } else {
            argument = argv[i];
        }
    }
    if (db_path == NULL || command == NULL || (strcmp(command, "dump") != 0 && config == NULL)) {
        fputs("usage: notify_driver --db FILE [--config YAML] kinds|load MS|deliver|dump\n",
              stderr);
        return 2;
    }
    if (strcmp(command, "dump") == 0) {
        return dump(db_path);
    }
    open_all(db_path, config);
    printf("started\n");
    fflush(stdout);
    if (strcmp(command, "kinds") == 0) {
        scenario_kinds();
    } else if (strcmp(command, "load") == 0) {
        scenario_load(argument ? atoll(argument) : 1000);
    }
    int code = wait_delivered(db_path, wait_ms);
    tg__notify_stop(notifier, 1000);
    tg_engine_close(engine);
    return code;
}
