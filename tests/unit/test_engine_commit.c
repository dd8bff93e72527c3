/*
 * test_engine_commit: the pipelined group commit (tg_engine_batch_detach,
 * tg_group_commit_write on another thread, tg_engine_commit_done). What the
 * daemon relies on: a detached batch is written exactly once, in order, and is on
 * disk after its write returns; the engine keeps deciding meanwhile and never
 * writes beside the writer; a failed write fails every later commit and the
 * engine; buffers are reused. Public API on the SQLite store, in a temp folder.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tollgate.h"

#define T0 INT64_C(1800000000000) /* a fixed "now" */

typedef struct {
    char dir[64];
    char db[128];
} files;

static files *files_new(void) {
    files *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tg-commit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/ledger.db", f->dir);
    return f;
}

static void files_free(files *f) {
    char path[160];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", f->db, suffixes[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
}

static tg_engine *open_engine(const char *store, const char *db, tg_durability durability) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = store;
    options.path = db;
    options.durability = durability;
    options.sync_interval_ms = 50;
    tg_engine *engine = NULL;
    tg_error err = {0};
    tg_status status = tg_engine_open(&options, T0, &engine, &err);
    if (status != TG_OK) {
        fail_msg("open: %s", err.message);
    }
    return engine;
}

static void put(tg_engine *engine, const char *path, int64_t limit_micros) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = limit_micros;
    tg_error err = {0};
    tg_status status = tg_budget_put(engine, path, &spec, T0, &err);
    if (status != TG_OK) {
        fail_msg("put %s: %s", path, err.message);
    }
}

static tg_status charge(tg_engine *engine, const char *budget, int64_t cost_micros) {
    tg_record_request request = {
        .budget = budget, .cost_micros = cost_micros, .cls = TG_CLASS_AUTO};
    tg_record_result result;
    return tg_record(engine, &request, T0, &result, NULL);
}

static int64_t spent(tg_engine *engine, const char *path) {
    tg_budget_info info;
    assert_int_equal(tg_budget_get(engine, path, T0, &info, NULL), TG_OK);
    return info.spent_micros;
}

/* ---- a writer thread, as the daemon has ---------------------------------------------- */

typedef struct {
    tg_group_commit *commit;
    tg_status status;
    tg_error err;
} write_job;

static void *write_on_thread(void *user) {
    write_job *job = user;
    job->status = tg_group_commit_write(job->commit, &job->err);
    return NULL;
}

/* Writes a commit on a thread of its own and waits for it; returns the status. */
static tg_status write_elsewhere(tg_group_commit *commit) {
    write_job job = {commit, TG_OK, {0}};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, write_on_thread, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    return job.status;
}

static tg_group_commit *detach(tg_engine *engine, int64_t now_ms, bool force) {
    tg_group_commit *commit = NULL;
    tg_error err = {0};
    tg_status status = tg_engine_batch_detach(engine, now_ms, force, &commit, &err);
    if (status != TG_OK) {
        fail_msg("detach: %s", err.message);
    }
    return commit;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_detached_batch_is_durable_after_its_write(void **state) {
    (void)state;
    files *f = files_new();
    tg_engine *engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    put(engine, "team", 100000000);
    tg_engine_batch_begin(engine);
    assert_int_equal(charge(engine, "team", 1500), TG_OK);
    assert_int_equal(charge(engine, "team", 2500), TG_OK);
    tg_group_commit *commit = detach(engine, T0, false);
    assert_non_null(commit);
    tg_engine_stats stats;
    tg_engine_stats_get(engine, &stats);
    assert_int_equal(stats.commits_in_flight, 1);
    assert_int_equal(write_elsewhere(commit), TG_OK);
    tg_engine_commit_done(engine, commit, TG_OK);
    tg_engine_stats_get(engine, &stats);
    assert_int_equal(stats.commits_in_flight, 0);
    assert_int_equal(stats.budgets, 1);
    tg_engine_close(engine);
    engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    assert_int_equal(spent(engine, "team"), 4000);
    tg_engine_close(engine);
    files_free(f);
}

static void test_engine_decides_while_a_commit_is_in_flight(void **state) {
    (void)state;
    files *f = files_new();
    tg_engine *engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    put(engine, "team", 100000000);
    tg_engine_batch_begin(engine);
    assert_int_equal(charge(engine, "team", 1), TG_OK);
    tg_group_commit *first = detach(engine, T0, false);
    /* The next batch is decided while the first is not written yet... */
    tg_engine_batch_begin(engine);
    assert_int_equal(charge(engine, "team", 10), TG_OK);
    tg_reserve_request hold = {.budget = "team", .amount_micros = 100, .cls = TG_CLASS_AUTO};
    tg_reserve_result held;
    assert_int_equal(tg_reserve(engine, &hold, T0, &held, NULL), TG_OK);
    assert_true(held.granted);
    tg_group_commit *second = detach(engine, T0, false);
    assert_non_null(second);
    assert_ptr_not_equal(first, second);
    tg_engine_stats stats;
    tg_engine_stats_get(engine, &stats);
    assert_int_equal(stats.commits_in_flight, 2);
    assert_int_equal(stats.holds_open, 1);
    /* ...and both land, in order. */
    assert_int_equal(write_elsewhere(first), TG_OK);
    assert_int_equal(write_elsewhere(second), TG_OK);
    tg_engine_commit_done(engine, first, TG_OK);
    tg_engine_commit_done(engine, second, TG_OK);
    /* The buffers come back: the next detach reuses one of the two. */
    tg_engine_batch_begin(engine);
    assert_int_equal(charge(engine, "team", 100), TG_OK);
    tg_group_commit *third = detach(engine, T0, false);
    assert_true(third == first || third == second);
    assert_int_equal(write_elsewhere(third), TG_OK);
    tg_engine_commit_done(engine, third, TG_OK);
    tg_engine_close(engine);
    engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    assert_int_equal(spent(engine, "team"), 111);
    tg_hold_info info;
    assert_int_equal(tg_hold_get(engine, held.hold_id, &info, NULL), TG_OK);
    tg_engine_close(engine);
    files_free(f);
}

static void test_engine_never_writes_beside_the_writer(void **state) {
    (void)state;
    files *f = files_new();
    tg_engine *engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    put(engine, "team", 100000000);
    tg_engine_batch_begin(engine);
    assert_int_equal(charge(engine, "team", 5), TG_OK);
    tg_group_commit *commit = detach(engine, T0, false);
    /* Outside a batch a strict mutation would write: refused, its rows kept. */
    assert_int_equal(charge(engine, "team", 7), TG_ERR_STATE);
    tg_error err = {0};
    assert_int_equal(tg_engine_sync(engine, &err), TG_ERR_STATE);
    assert_non_null(strstr(err.message, "detached commit"));
    tg_window_record windows[4];
    size_t count = 0;
    assert_int_equal(tg_budget_history(engine, "team", windows, 4, &count, NULL), TG_ERR_STATE);
    assert_int_equal(write_elsewhere(commit), TG_OK);
    tg_engine_commit_done(engine, commit, TG_OK);
    /* Once done, the engine writes again, and the kept rows go with it. */
    assert_int_equal(tg_engine_sync(engine, NULL), TG_OK);
    assert_int_equal(tg_budget_history(engine, "team", windows, 4, &count, NULL), TG_OK);
    tg_engine_close(engine);
    engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    assert_int_equal(spent(engine, "team"), 12);
    tg_engine_close(engine);
    files_free(f);
}

/* Runs SQL on the file through a connection of its own (damage, then repair). */
static void run_sql(const char *db, const char *sql) {
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(db, &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 5000);
    assert_int_equal(sqlite3_exec(other, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
}

static void test_a_failed_write_fails_later_commits_and_the_engine(void **state) {
    (void)state;
    files *f = files_new();
    tg_engine *engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    put(engine, "team", 100000000);
    assert_int_equal(charge(engine, "team", 3), TG_OK);           /* durable before the damage */
    run_sql(f->db, "ALTER TABLE charges RENAME TO charges_away"); /* the next write fails */
    tg_engine_batch_begin(engine);
    assert_int_equal(charge(engine, "team", 40), TG_OK);
    tg_group_commit *failing = detach(engine, T0, false);
    tg_engine_batch_begin(engine);
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    assert_int_equal(tg_budget_put(engine, "team/a", &spec, T0, NULL), TG_OK);
    tg_group_commit *later = detach(engine, T0, false);
    assert_non_null(later);
    assert_int_not_equal(write_elsewhere(failing), TG_OK);
    /* The later commit holds only a budget row, which would write fine: refused anyway,
     * since its snapshot follows a batch that never landed. */
    write_job job = {later, TG_OK, {0}};
    write_on_thread(&job);
    assert_int_equal(job.status, TG_ERR_IO);
    assert_non_null(strstr(job.err.message, "earlier commit failed"));
    tg_engine_commit_done(engine, failing, TG_ERR_IO);
    tg_engine_commit_done(engine, later, TG_ERR_IO);
    assert_int_equal(charge(engine, "team", 1), TG_ERR_IO);
    tg_group_commit *none = NULL;
    assert_int_equal(tg_engine_batch_detach(engine, T0, true, &none, NULL), TG_ERR_IO);
    assert_null(none);
    tg_engine_close(engine);
    run_sql(f->db, "ALTER TABLE charges_away RENAME TO charges");
    /* Reopening restores the last durable state: neither commit is there. */
    engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    assert_int_equal(spent(engine, "team"), 3);
    tg_budget_info info;
    assert_int_equal(tg_budget_get(engine, "team/a", T0, &info, NULL), TG_ERR_NOT_FOUND);
    tg_engine_close(engine);
    files_free(f);
}

static void test_refusals_alone_wait_unless_forced(void **state) {
    (void)state;
    files *f = files_new();
    tg_engine *engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    put(engine, "team", 10);
    tg_engine_batch_begin(engine);
    tg_reserve_request hold = {.budget = "team", .amount_micros = 100, .cls = TG_CLASS_AUTO};
    tg_reserve_result refused;
    assert_int_equal(tg_reserve(engine, &hold, T0, &refused, NULL), TG_OK);
    assert_false(refused.granted);
    assert_null(detach(engine, T0, false)); /* a denied event needs no fsync */
    tg_engine_batch_begin(engine);
    tg_group_commit *forced = detach(engine, T0, true);
    assert_non_null(forced);
    assert_int_equal(write_elsewhere(forced), TG_OK);
    tg_engine_commit_done(engine, forced, TG_OK);
    tg_engine_batch_begin(engine);
    assert_null(detach(engine, T0, true)); /* nothing left at all */
    tg_engine_close(engine);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE kind = 'denied'", -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    sqlite3_close(db);
    files_free(f);
}

static void test_relaxed_detaches_by_the_interval(void **state) {
    (void)state;
    files *f = files_new();
    tg_engine *engine = open_engine("sqlite", f->db, TG_DURABILITY_RELAXED);
    put(engine, "team", 100000000);
    tg_engine_sync(engine, NULL);
    tg_engine_batch_begin(engine);
    tg_record_request request = {.budget = "team", .cost_micros = 9, .cls = TG_CLASS_AUTO};
    tg_record_result result;
    assert_int_equal(tg_record(engine, &request, T0 + 1000, &result, NULL), TG_OK);
    assert_null(detach(engine, T0 + 1010, false)); /* 10 ms < sync_interval_ms */
    tg_engine_batch_begin(engine);
    assert_null(detach(engine, T0 + 1020, true)); /* force never shortens the interval */
    tg_engine_batch_begin(engine);
    tg_group_commit *due = detach(engine, T0 + 1050, false);
    assert_non_null(due);
    assert_int_equal(write_elsewhere(due), TG_OK);
    tg_engine_commit_done(engine, due, TG_OK);
    tg_engine_close(engine);
    engine = open_engine("sqlite", f->db, TG_DURABILITY_RELAXED);
    assert_int_equal(spent(engine, "team"), 9);
    tg_engine_close(engine);
    files_free(f);
}

static void test_in_flight_commits_are_bounded(void **state) {
    (void)state;
    files *f = files_new();
    tg_engine *engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    put(engine, "team", 100000000);
    tg_group_commit *commits[TG_COMMITS_IN_FLIGHT_MAX];
    for (int i = 0; i < TG_COMMITS_IN_FLIGHT_MAX; i++) {
        tg_engine_batch_begin(engine);
        assert_int_equal(charge(engine, "team", 1), TG_OK);
        commits[i] = detach(engine, T0, false);
        assert_non_null(commits[i]);
    }
    tg_engine_batch_begin(engine);
    assert_int_equal(charge(engine, "team", 1), TG_OK);
    tg_group_commit *extra = NULL;
    assert_int_equal(tg_engine_batch_detach(engine, T0, false, &extra, NULL), TG_ERR_FULL);
    assert_null(extra);
    for (int i = 0; i < TG_COMMITS_IN_FLIGHT_MAX; i++) {
        assert_int_equal(write_elsewhere(commits[i]), TG_OK);
        tg_engine_commit_done(engine, commits[i], TG_OK);
    }
    /* The refused detach left its rows in the journal: the next one takes them. */
    tg_engine_batch_begin(engine);
    tg_group_commit *last = detach(engine, T0, false);
    assert_non_null(last);
    assert_int_equal(write_elsewhere(last), TG_OK);
    tg_engine_commit_done(engine, last, TG_OK);
    tg_engine_close(engine);
    engine = open_engine("sqlite", f->db, TG_DURABILITY_STRICT);
    assert_int_equal(spent(engine, "team"), TG_COMMITS_IN_FLIGHT_MAX + 1);
    tg_engine_close(engine);
    files_free(f);
}

static void test_memory_store_has_nothing_to_write(void **state) {
    (void)state;
    tg_engine *engine = open_engine("memory", NULL, TG_DURABILITY_STRICT);
    put(engine, "team", 100);
    tg_engine_batch_begin(engine);
    assert_int_equal(charge(engine, "team", 1), TG_OK);
    assert_null(detach(engine, T0, true));
    tg_engine_close(engine);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detached_batch_is_durable_after_its_write),
        cmocka_unit_test(test_engine_decides_while_a_commit_is_in_flight),
        cmocka_unit_test(test_engine_never_writes_beside_the_writer),
        cmocka_unit_test(test_a_failed_write_fails_later_commits_and_the_engine),
        cmocka_unit_test(test_refusals_alone_wait_unless_forced),
        cmocka_unit_test(test_relaxed_detaches_by_the_interval),
        cmocka_unit_test(test_in_flight_commits_are_bounded),
        cmocka_unit_test(test_memory_store_has_nothing_to_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
