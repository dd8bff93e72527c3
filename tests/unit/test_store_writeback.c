/*
 * test_store_writeback: the checkpointer's VFS (src/store/store_sqlite_writeback.c) hands
 * the main file's pages to the kernel in batches as a checkpoint writes them, and changes
 * nothing else. Tried hard:
 *
 *   - a checkpoint of thousands of random pages through it: every page reaches the file
 *     (the WAL truncated, the rows read back from the main file alone, integrity_check),
 *     and the writes went out in batches (at least one per 16 pages);
 *   - a descriptor that is not the file's (closed, so sync_file_range fails): the same
 *     checkpoint is just as complete, the pacing's failure costs nothing;
 *   - two stores in one process: two VFSes of their own names, each unregistered
 *     without disturbing the other; NULL everywhere is a no-op.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit/assertions.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_sqlite.h"

#define ROWS 6000       /* rows of 300 bytes: ~450 pages of 4 KiB */
#define TRANSACTIONS 60 /* each a WAL commit of random pages */

static char test_dir[64];
static char test_db[128];

static int dir_setup(void **state) {
    (void)state;
    snprintf(test_dir, sizeof test_dir, "/tmp/tg-writeback-XXXXXX");
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

static void exec_ok(sqlite3 *db, const char *sql) {
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK) {
        print_error("%s: %s\n", sql, message);
        sqlite3_free(message);
        fail();
    }
}

static int64_t int_of(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return value;
}

/* A WAL file of ROWS rows inserted in a scattered order (so a checkpoint writes pages all
 * over the file), never checkpointed by the writer. Returns the writer, still open: the
 * WAL stays until a checkpoint copies it. */
static sqlite3 *scattered_wal(void) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(test_db, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;"
                "CREATE TABLE t (k INTEGER PRIMARY KEY, pad BLOB NOT NULL)");
    sqlite3_stmt *s = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?1, randomblob(300))", -1, &s, NULL),
        SQLITE_OK);
    for (int t = 0; t < TRANSACTIONS; t++) {
        exec_ok(db, "BEGIN");
        for (int i = t; i < ROWS; i += TRANSACTIONS) {
            sqlite3_bind_int64(s, 1, (int64_t)i * 7919 % ROWS); /* a permutation of 0..ROWS-1 */
            assert_int_equal(sqlite3_step(s), SQLITE_DONE);
            sqlite3_reset(s);
        }
        exec_ok(db, "COMMIT");
    }
    sqlite3_finalize(s);
    return db;
}

/* Checkpoints the whole WAL on a connection through `vfs`; returns the frames copied. */
static int checkpoint_through(const char *vfs) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(test_db, &db, SQLITE_OPEN_READWRITE, vfs), SQLITE_OK);
    exec_ok(db, "PRAGMA synchronous = FULL");
    int log_frames = -1, copied_frames = -1;
    /* PASSIVE, as the checkpointer runs it: with no reader it copies every frame. */
    assert_int_equal(
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied_frames),
        SQLITE_OK);
    assert_int_equal(copied_frames, log_frames);
    int copied = copied_frames;
    /* Then the WAL emptied, so that the main file alone must hold every row. */
    assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                               &copied_frames),
                     SQLITE_OK);
    assert_int_equal(log_frames, 0);
    sqlite3_close(db);
    return copied;
}

/* The main file alone (the WAL is empty) holds every row, intact. */
static void main_file_has_every_row(void) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(test_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_i64(int_of(db, "SELECT count(*) FROM t"), ROWS);
    assert_i64(int_of(db, "SELECT sum(k) FROM t"), (int64_t)ROWS * (ROWS - 1) / 2);
    assert_i64(int_of(db, "SELECT count(*) FROM t WHERE length(pad) = 300"), ROWS);
    sqlite3_stmt *check = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(check), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(check, 0), "ok");
    sqlite3_finalize(check);
    sqlite3_close(db);
}

static void a_checkpoint_through_it_reaches_the_file_in_batches(void **state) {
    (void)state;
    sqlite3 *writer = scattered_wal();
    int fd = open(test_db, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    tg__writeback *w = tg__writeback_register(fd);
    assert_non_null(w);
    int frames = checkpoint_through(tg__writeback_name(w));
    /* Every page of the file was made in the WAL, so the checkpoint wrote each once. */
    int64_t pages = int_of(writer, "PRAGMA page_count");
    print_message("%d frames, %lld pages checkpointed in %llu batches\n", frames, (long long)pages,
                  (unsigned long long)tg__writeback_batches(w));
    assert_true(pages > 300 && frames >= pages);
    assert_true(tg__writeback_batches(w) >= (uint64_t)(pages / 16) - 2);
    tg__writeback_unregister(w);
    sqlite3_close(writer);
    close(fd); /* after every connection: closing it drops the process's locks on the file */
    main_file_has_every_row();
}

static void a_descriptor_that_fails_costs_nothing(void **state) {
    (void)state;
    sqlite3 *writer = scattered_wal();
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    close(fd); /* a closed descriptor: every sync_file_range fails with EBADF */
    tg__writeback *w = tg__writeback_register(fd);
    assert_non_null(w);
    assert_true(checkpoint_through(tg__writeback_name(w)) > 300);
    tg__writeback_unregister(w);
    sqlite3_close(writer);
    main_file_has_every_row();
}

static void each_store_has_its_own(void **state) {
    (void)state;
    tg__writeback *a = tg__writeback_register(-1);
    tg__writeback *b = tg__writeback_register(-1);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(tg__writeback_name(a), tg__writeback_name(b));
    assert_non_null(sqlite3_vfs_find(tg__writeback_name(a)));
    /* Never the default: connections that name no VFS keep SQLite's own. */
    assert_ptr_not_equal(sqlite3_vfs_find(NULL), sqlite3_vfs_find(tg__writeback_name(a)));
    char name_b[64];
    snprintf(name_b, sizeof name_b, "%s", tg__writeback_name(b));
    tg__writeback_unregister(a);
    assert_non_null(sqlite3_vfs_find(name_b));
    tg__writeback_unregister(b);
    assert_null(sqlite3_vfs_find(name_b));
    tg__writeback_unregister(NULL);
    assert_null(tg__writeback_name(NULL));
    assert_int_equal(tg__writeback_batches(NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_checkpoint_through_it_reaches_the_file_in_batches,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(a_descriptor_that_fails_costs_nothing, dir_setup,
                                        dir_teardown),
        cmocka_unit_test(each_store_has_its_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
