/*
 * test_notify_failed: the pages of the dead-letter list (notify/failed.c) that GET
 * /v1/notify/failed and `tollgate events --failed` answer, on a real SQLite store file.
 * A page is read one row long so that it never ends between two sinks of one event: its
 * `next` is the next page's `after`, which would skip the event's other sinks.
 */
#include "notify_fixture.h"

#include <sqlite3.h>
#include <unistd.h>

#include "notify/notify.h"

static char test_dir[64]; /* from mkdtemp */
static char test_db[128]; /* test_dir/ledger.db */

/* A store file with notify_dead made by the engine, holding `rows` (SQL VALUES lists). */
static void store_with(const char *rows) {
    snprintf(test_dir, sizeof test_dir, "/tmp/tg-failed-XXXXXX");
    assert_non_null(mkdtemp(test_dir));
    snprintf(test_db, sizeof test_db, "%s/ledger.db", test_dir);
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = "sqlite";
    options.path = test_db;
    tg_engine *engine = NULL;
    assert_ok(tg_engine_open(&options, NOON_MS, &engine, NULL));
    tg_engine_close(engine);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(test_db, &db), SQLITE_OK);
    char sql[1024];
    snprintf(sql, sizeof sql, "INSERT INTO notify_dead VALUES %s", rows);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void store_remove(void) {
    char path[192];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", test_db, suffixes[i]);
        unlink(path);
    }
    rmdir(test_dir);
}

/* The page's rows as "EVENT SINK,..." and its next, e.g. "1 a,1 b|1". */
static void page_text(uint64_t after, int64_t limit, char *out, size_t size) {
    char *text = NULL;
    assert_ok(tg__notify_failed_json(test_db, after, limit, &text, NULL));
    size_t used = 0;
    out[0] = '\0';
    for (const char *at = text; (at = strstr(at, "\"sink\":\"")) != NULL;) {
        at += 8;
        const char *end = strchr(at, '"');
        const char *event = strstr(end, "\"event_id\":") + 11;
        used += (size_t)snprintf(out + used, size - used, "%s%lld %.*s", used ? "," : "",
                                 strtoll(event, NULL, 10), (int)(end - at), at);
    }
    snprintf(out + used, size - used, "|%lld", strtoll(strstr(text, "\"next\":") + 7, NULL, 10));
    free(text);
}

static void pages_never_split_an_event(void **state) {
    (void)state;
    /* (sink, event, given up at, attempts, last error) */
    static const char rows[] = "('a', 1, 9, 1, 'x'), ('b', 1, 9, 1, 'x'), ('a', 2, 9, 1, 'x'),"
                               " ('b', 2, 9, 1, 'x'), ('c', 2, 9, 1, 'x'), ('a', 3, 9, 1, 'x'),"
                               " ('b', 5, 9, 1, 'x')";
    store_with(rows);
    char got[512];
    page_text(0, 100, got, sizeof got);
    assert_string_equal(got, "1 a,1 b,2 a,2 b,2 c,3 a,5 b|5");
    /* Three rows would end inside event 2: the page stops after event 1. */
    page_text(0, 3, got, sizeof got);
    assert_string_equal(got, "1 a,1 b|1");
    page_text(1, 3, got, sizeof got);
    assert_string_equal(got, "2 a,2 b,2 c|2");
    page_text(2, 3, got, sizeof got);
    assert_string_equal(got, "3 a,5 b|5");
    page_text(5, 3, got, sizeof got); /* the end: empty, in place */
    assert_string_equal(got, "|5");
    /* A page exactly full, the next row another event's: all of it. */
    page_text(0, 5, got, sizeof got);
    assert_string_equal(got, "1 a,1 b,2 a,2 b,2 c|2");
    /* An event with more sinks than the limit is cut (the rest cannot be paged to). */
    page_text(1, 2, got, sizeof got);
    assert_string_equal(got, "2 a,2 b|2");
    page_text(0, 1, got, sizeof got);
    assert_string_equal(got, "1 a|1");
    /* Limits as the API's. */
    char *text = NULL;
    tg_error err = {0};
    assert_int_equal(tg__notify_failed_json(test_db, 0, 0, &text, &err), TG_ERR_INVALID);
    assert_int_equal(tg__notify_failed_json(test_db, 0, 1001, &text, &err), TG_ERR_INVALID);
    assert_null(text);
    store_remove();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pages_never_split_an_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
