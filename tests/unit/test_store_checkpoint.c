/*
 * test_store_checkpoint: the SQLite store's WAL checkpoints run on a thread of their
 * own (src/store/store_sqlite_checkpoint.c), never inside a strict commit, and that
 * costs nothing in durability. Tried hard:
 *
 *   - hundreds of back-to-back strict commits (no pause for the thread to catch up
 *     in) on random budgets of 4,000: checkpoints run, the WAL starts over again and again, no
 * commit ever checkpoints more than a few frames (the catch-up that lets the WAL start over), the
 * WAL stays far below its bound, each commit writes a handful of pages, and everything comes back
 * after a reopen;
 *   - a reader holding a snapshot pins the WAL: commits go on (a checkpoint never
 *     blocks them), the WAL cannot start over until the reader lets go, then it does;
 *   - kill -9 of a process committing while its checkpointer copies pages, over and
 *     over on one file: every acknowledged charge is there after the restart, at
 *     most the one in flight besides, and the file passes integrity_check.
 *
 * No fixed sleeps: every wait is for a condition (a count in tg_engine_stats, a
 * message on a pipe), bounded by a number of commits or a generous deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit/assertions.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tollgate.h"

#define T0_MS INT64_C(1767225600000) /* 2026-01-01, a fixed "now" for every call */
#define BUDGETS 4000                 /* leaves under "org" */
#define COMMITS_MAX 20000            /* bound on any loop that waits for a checkpoint */
#define WAL_FRAMES_BOUND 65536       /* store_sqlite_checkpoint.c's inline bound */
#define CATCH_UP_FRAMES 48           /* and its catch-up's */
#define KILL_CYCLES 4

static char test_dir[64]; /* from mkdtemp */
static char test_db[128]; /* test_dir/ledger.db */

static int dir_setup(void **state) {
    (void)state;
    snprintf(test_dir, sizeof test_dir, "/tmp/tg-checkpoint-XXXXXX");
    if (mkdtemp(test_dir) == NULL) {
        return -1;
    }
    snprintf(test_db, sizeof test_db, "%s/ledger.db", test_dir);
    return 0;
}

static int dir_teardown(void **state) {
    (void)state;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s%s", test_db, suffixes[i]);
        unlink(path);
    }
    rmdir(test_dir);
    return 0;
}

static tg_engine *open_engine(void) {
    tg_engine_options o;
    tg_engine_options_init(&o);
    o.store = "sqlite";
    o.path = test_db;
    o.durability = TG_DURABILITY_STRICT;
    o.budgets_max = BUDGETS + 10;
    tg_engine *engine = NULL;
    tg_error err = {0};
    tg_status status = tg_engine_open(&o, T0_MS, &engine, &err);
    if (status != TG_OK) {
        print_error("tg_engine_open: %s: %s\n", tg_status_str(status), err.message);
        fail();
    }
    return engine;
}

static void leaf_path(char *out, size_t size, int i) {
    snprintf(out, size, "org/u%05d", i);
}

/* "org" and its leaves, no limits, in requests of at most TG_BUDGET_OPS_MAX. */
static void make_budgets(tg_engine *engine) {
    static char paths[BUDGETS][16];
    static tg_budget_op ops[BUDGETS];
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    assert_ok(tg_budget_put(engine, "org", &spec, T0_MS, NULL));
    for (int i = 0; i < BUDGETS; i++) {
        leaf_path(paths[i], sizeof paths[i], i);
        ops[i] = (tg_budget_op){.path = paths[i], .spec = &spec};
    }
    _Static_assert(BUDGETS <= TG_BUDGET_OPS_MAX, "one request");
    assert_ok(tg_budgets_apply(engine, ops, BUDGETS, T0_MS, NULL, NULL));
}

/* One strict charge of 1 micro on leaf i: acknowledged only once it is on disk. */
static tg_status charge(tg_engine *engine, int i) {
    char path[16];
    leaf_path(path, sizeof path, i);
    tg_record_request r = {.budget = path, .cost_micros = 1, .cls = TG_CLASS_AUTO};
    tg_record_result result;
    tg_status status = tg_record(engine, &r, T0_MS, &result, NULL);
    if (status == TG_OK && !result.charged) {
        return TG_ERR_STATE;
    }
    return status;
}

static int64_t org_spent(tg_engine *engine) {
    tg_budget_info info;
    assert_ok(tg_budget_get(engine, "org", T0_MS, &info, NULL));
    return info.spent_micros;
}

static tg_engine_stats stats_of(tg_engine *engine) {
    tg_engine_stats s;
    tg_engine_stats_get(engine, &s);
    return s;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static int random_leaf(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (int)(rng % BUDGETS);
}

/* ---- checkpoints run, off the commits ----------------------------------------------------------
 */

static void checkpoints_leave_the_commits_alone(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    make_budgets(engine);
    tg_engine_stats before = stats_of(engine);
    int64_t charged = 0;
    /* Until the WAL has started over several times: each restart needs every frame
     * checkpointed by the thread while commits keep coming. */
    while (stats_of(engine).store_wal_restarts < before.store_wal_restarts + 3 &&
           charged < COMMITS_MAX) {
        assert_ok(charge(engine, random_leaf()));
        charged++;
    }
    tg_engine_stats after = stats_of(engine);
    print_message("%lld commits, %lld pages written, %lld read, %lld checkpoints, %lld restarts, "
                  "WAL at most %lld frames\n",
                  (long long)(after.store_commits - before.store_commits),
                  (long long)(after.store_pages_written - before.store_pages_written),
                  (long long)(after.store_pages_read - before.store_pages_read),
                  (long long)after.store_checkpoints, (long long)after.store_wal_restarts,
                  (long long)after.store_wal_frames_max);
    assert_true(after.store_wal_restarts >= before.store_wal_restarts + 3);
    assert_true(after.store_checkpoints > before.store_checkpoints);
    /* Inside commits only the catch-ups: a few frames each, one per restart at most. */
    print_message("%lld catch-ups copied %lld pages\n", (long long)after.store_checkpoints_inline,
                  (long long)after.store_checkpoint_pages_inline);
    assert_true(after.store_checkpoints_inline <= after.store_wal_restarts + 1);
    assert_true(after.store_checkpoint_pages_inline <=
                CATCH_UP_FRAMES * after.store_checkpoints_inline);
    assert_true(after.store_wal_frames_max < WAL_FRAMES_BOUND / 4);
    assert_i64(after.store_commits - before.store_commits, charged);
    /* A charge on a leaf writes the leaf's page, org's, the charge, its index entry and
     * the counters: a handful of pages, whatever the ledger's size. */
    int64_t pages = after.store_pages_written - before.store_pages_written;
    assert_true(pages >= 2 * charged && pages <= 12 * charged);
    assert_i64(org_spent(engine), charged);
    tg_engine_close(engine);

    engine = open_engine();
    assert_i64(org_spent(engine), charged);
    tg_engine_close(engine);
}

/* ---- a reader pins the WAL ------------------------------------------------------------------- */

static void a_reader_pins_the_wal_without_blocking_commits(void **state) {
    (void)state;
    tg_engine *engine = open_engine();
    make_budgets(engine);
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open_v2(test_db, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *count = NULL;
    assert_int_equal(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM charges", -1, &count, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(count), SQLITE_ROW);
    int64_t seen = sqlite3_column_int64(count, 0);
    sqlite3_reset(count);
    tg_engine_stats pinned = stats_of(engine);
    /* Past the threshold twice over: checkpoints are asked for, none may start the WAL over. */
    int64_t charged = 0;
    while (stats_of(engine).store_wal_frames < 2500 && charged < COMMITS_MAX) {
        assert_ok(charge(engine, random_leaf()));
        charged++;
    }
    tg_engine_stats during = stats_of(engine);
    assert_true(during.store_wal_frames >= 2500);
    assert_i64(during.store_wal_restarts, pinned.store_wal_restarts);
    /* Pinned, the thread can never finish, so no commit is ever asked to catch up. */
    assert_i64(during.store_checkpoints_inline, pinned.store_checkpoints_inline);
    /* The reader's snapshot is as it was. */
    assert_int_equal(sqlite3_step(count), SQLITE_ROW);
    assert_i64(sqlite3_column_int64(count, 0), seen);
    sqlite3_finalize(count);
    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    /* Let go: the WAL starts over within a bounded number of commits. */
    while (stats_of(engine).store_wal_restarts == pinned.store_wal_restarts &&
           charged < COMMITS_MAX) {
        assert_ok(charge(engine, random_leaf()));
        charged++;
    }
    assert_true(stats_of(engine).store_wal_restarts > pinned.store_wal_restarts);
    assert_i64(org_spent(engine), charged);
    sqlite3_close(reader);
    tg_engine_close(engine);
}

/* ---- kill -9 while checkpoints run ----------------------------------------------------------- */

typedef struct {
    int64_t acknowledged; /* charges acknowledged so far */
    int64_t checkpoints;  /* the child's checkpoints so far */
} ack;

/* The child: charges forever, reporting each acknowledged one (atomic pipe writes). */
static void child_main(int fd, uint64_t seed) {
    rng = seed;
    tg_engine *engine = open_engine();
    if (stats_of(engine).budgets == 0) {
        make_budgets(engine);
    }
    ack a = {.acknowledged = 0, .checkpoints = 0};
    for (;;) {
        if (charge(engine, random_leaf()) != TG_OK) {
            _exit(3);
        }
        a.acknowledged++;
        a.checkpoints = stats_of(engine).store_checkpoints;
        if (write(fd, &a, sizeof a) != (ssize_t)sizeof a) {
            _exit(4);
        }
    }
}

static void kill_during_checkpoints_loses_nothing_acknowledged(void **state) {
    (void)state;
    int64_t expected = 0;
    for (int cycle = 0; cycle < KILL_CYCLES; cycle++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(fds[1], 0x51ed27u + (uint64_t)cycle);
        }
        close(fds[1]);
        /* Kill at a random acknowledgement after the child's checkpoints began. */
        int64_t extra = (int64_t)(rand() % 400);
        ack last = {0, 0};
        int64_t since_checkpoint = -1;
        ack a;
        while (read(fds[0], &a, sizeof a) == (ssize_t)sizeof a) {
            last = a;
            if (since_checkpoint < 0 && a.checkpoints > 0) {
                since_checkpoint = 0;
            }
            if (since_checkpoint >= 0 && since_checkpoint++ >= extra) {
                kill(pid, SIGKILL);
                break;
            }
        }
        /* What it acknowledged before it died is what it wrote to the pipe. */
        while (read(fds[0], &a, sizeof a) == (ssize_t)sizeof a) {
            last = a;
        }
        close(fds[0]);
        int wstatus = 0;
        assert_int_equal(waitpid(pid, &wstatus, 0), pid);
        assert_true(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
        assert_true(last.checkpoints > 0);
        expected += last.acknowledged;
        tg_engine *engine = open_engine();
        int64_t spent = org_spent(engine);
        /* Everything acknowledged, and at most the charge in flight at the kill. */
        assert_true(spent >= expected && spent <= expected + 1);
        expected = spent;
        tg_engine_close(engine);
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open_v2(test_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_stmt *check = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(check), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(check, 0), "ok");
        sqlite3_finalize(check);
        sqlite3_close(db);
    }
}

int main(void) {
    srand((unsigned)time(NULL));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(checkpoints_leave_the_commits_alone, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(a_reader_pins_the_wal_without_blocking_commits, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(kill_during_checkpoints_loses_nothing_acknowledged,
                                        dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
