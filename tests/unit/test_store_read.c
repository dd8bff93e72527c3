/*
 * test_store_read: the read interface of src/store/store_read.h against a ledger an
 * engine wrote. Every page is checked against what the engine itself reported (its
 * events, its hold ids, the charges the test made), with the edges that break paging:
 * an empty file, a page of exactly the rows there are, a cursor at or past the last id,
 * a limit of 0 or past the maximum, a visit that stops early, and budget filters that
 * must keep "a" and "a/b" but not "ab". The notify tables exist after store open (the
 * sender no longer makes them), a file without them reads no dead letters, and a reader
 * never creates a file it was pointed at by mistake.
 *
 * Each test works in its own folder from mkdtemp under /tmp, removed after.
 */
#include "model.h"

#include <sqlite3.h>
#include <unistd.h>

#include "engine/call_log.h"
#include "store/store_outbox.h"
#include "store/store_read.h"

static char test_dir[64]; /* from mkdtemp */
static char test_db[128]; /* test_dir/ledger.db */
static tg__store_reader *test_reader;

static int dir_setup(void **state) {
    (void)state;
    snprintf(test_dir, sizeof test_dir, "/tmp/tg-read-XXXXXX");
    if (mkdtemp(test_dir) == NULL) {
        return -1;
    }
    snprintf(test_db, sizeof test_db, "%s/ledger.db", test_dir);
    return 0;
}

static int dir_teardown(void **state) {
    fx_teardown(state);
    tg__store_reader_close(test_reader);
    test_reader = NULL;
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s%s", test_db, suffixes[i]);
        unlink(path);
    }
    rmdir(test_dir);
    return 0;
}

#define read_test(test) cmocka_unit_test_setup_teardown(test, dir_setup, dir_teardown)

/* An engine on test_db (strict: every mutation is on disk when its call returns). */
static fx *ledger_open(void) {
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->events = calloc(FX_EVENTS_MAX, sizeof *f->events);
    assert_non_null(f->events);
    f->ids_ok = true;
    f->now_ms = T0_MS;
    tg_engine_options o;
    tg_engine_options_init(&o);
    o.store = "sqlite";
    o.path = test_db;
    o.on_event = fx_on_event;
    o.on_event_user = f;
    tg_error err = {0};
    tg_status status = tg_engine_open(&o, f->now_ms, &f->engine, &err);
    if (status != TG_OK) {
        print_error("tg_engine_open(%s): %s\n", test_db, err.message);
        fail();
    }
    fx_current = f;
    return f;
}

static tg__store_reader *reader_open(void) {
    tg_error err = {0};
    tg_status status = tg__store_reader_open(test_db, 1000, &test_reader, &err);
    if (status != TG_OK) {
        print_error("tg__store_reader_open: %s\n", err.message);
        fail();
    }
    return test_reader;
}

/* ---- what a read visited ---------------------------------------------------------------- */

#define SEEN_MAX 256

typedef struct {
    uint64_t ids[SEEN_MAX]; /* id of each row visited, in order */
    char budgets[SEEN_MAX][TG_PATH_SIZE_MAX];
    int64_t amounts[SEEN_MAX]; /* cost, amount or spend of each row */
    size_t count;
    size_t stop_after; /* 0: never stop */
} seen;

static bool seen_add(seen *s, uint64_t id, const char *budget, int64_t amount) {
    assert_true(s->count < SEEN_MAX);
    s->ids[s->count] = id;
    snprintf(s->budgets[s->count], TG_PATH_SIZE_MAX, "%s", budget);
    s->amounts[s->count] = amount;
    s->count++;
    return s->stop_after == 0 || s->count < s->stop_after;
}

static bool seen_charge(void *user, const tg__charge_info *c) {
    assert_true(c->cls >= 0 && c->cls < TG_CLASS_COUNT);
    return seen_add(user, c->id, c->budget, c->cost_micros);
}
static bool seen_hold(void *user, const tg__hold_row *h) {
    return seen_add(user, h->id, h->budget, h->amount_micros);
}
static bool seen_event(void *user, const tg_event *e) {
    return seen_add(user, e->id, e->budget, (int64_t)e->kind);
}
static bool seen_window(void *user, const tg_window_record *w) {
    return seen_add(user, (uint64_t)w->window_start_ms, "", w->spent_micros);
}
static bool seen_total(void *user, const tg__charge_total *t) {
    return seen_add(user, (uint64_t)t->charges, t->key, t->cost_micros);
}
static bool seen_dead(void *user, const tg__dead_letter *d) {
    seen *s = user;
    bool go = seen_add(s, d->event_id, d->has_event ? d->budget : "(gone)", d->attempts);
    return go;
}

static seen charges_page(const char *budget, uint64_t after_id, size_t limit, int64_t since_ms,
                         int64_t until_ms) {
    seen s = {0};
    tg__store_page page = {budget, after_id, limit};
    assert_ok(
        tg__store_read_charges(test_reader, &page, since_ms, until_ms, seen_charge, &s, NULL));
    return s;
}

/* ---- an empty file ------------------------------------------------------------------------- */

static void empty_ledger_reads_nothing(void **state) {
    (void)state;
    fx *f = ledger_open();
    reader_open();
    tg__store_page page = {"", 0, 10};
    seen s = {0};
    assert_ok(tg__store_read_charges(test_reader, &page, 0, INT64_MAX, seen_charge, &s, NULL));
    assert_ok(tg__store_read_holds(test_reader, &page, seen_hold, &s, NULL));
    assert_ok(tg__store_read_events(test_reader, &page, seen_event, &s, NULL));
    assert_ok(tg__store_read_windows(test_reader, "a", 10, seen_window, &s, NULL));
    assert_ok(tg__store_read_dead_letters(test_reader, &page, seen_dead, &s, NULL));
    assert_ok(tg__store_read_charge_totals(test_reader, TG__TOTALS_BY_DAY, "", 0, INT64_MAX,
                                           seen_total, &s, NULL));
    assert_i64(s.count, 0);
    uint64_t last = 99;
    assert_ok(tg__store_read_events_last_id(test_reader, &last, NULL));
    assert_i64(last, 0);
    tg_event events[4];
    size_t count = 99;
    assert_ok(tg__store_read_events_into(test_reader, 0, events, 4, &count, NULL));
    assert_i64(count, 0);
    fx_close(f);
}

/* A reader never makes the file: a wrong path is an error, not an empty ledger. */
static void missing_file_is_an_error_and_stays_missing(void **state) {
    (void)state;
    tg_error err;
    tg__store_reader *reader = (tg__store_reader *)&reader; /* must stay untouched */
    assert_fails(tg__store_reader_open(test_db, 100, &reader, &err), err, TG_ERR_IO);
    assert_ptr_equal(reader, (tg__store_reader *)&reader);
    assert_int_equal(access(test_db, F_OK), -1);
    tg__store_reader_close(NULL); /* a no-op */
}

static void limits_out_of_range_are_refused(void **state) {
    (void)state;
    fx *f = ledger_open();
    reader_open();
    seen s = {0};
    tg_error err;
    size_t bad[] = {0, TG__STORE_PAGE_ROWS_MAX + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg__store_page page = {"", 0, bad[i]};
        assert_fails(
            tg__store_read_charges(test_reader, &page, 0, INT64_MAX, seen_charge, &s, &err), err,
            TG_ERR_INVALID);
        assert_fails(tg__store_read_holds(test_reader, &page, seen_hold, &s, &err), err,
                     TG_ERR_INVALID);
        assert_fails(tg__store_read_events(test_reader, &page, seen_event, &s, &err), err,
                     TG_ERR_INVALID);
        assert_fails(tg__store_read_dead_letters(test_reader, &page, seen_dead, &s, &err), err,
                     TG_ERR_INVALID);
        assert_fails(tg__store_read_windows(test_reader, "a", bad[i], seen_window, &s, &err), err,
                     TG_ERR_INVALID);
    }
    assert_fails(tg__store_read_charge_totals(test_reader, (tg__totals_by)7, "", 0, INT64_MAX,
                                              seen_total, &s, &err),
                 err, TG_ERR_INVALID);
    assert_i64(s.count, 0);
    fx_close(f);
}

/* ---- charges --------------------------------------------------------------------------- */

/* Budgets whose names break a naive prefix filter: "a" must not take "ab" or "a0". */
static const char *const budgets[] = {"a", "a/b", "ab", "a0", "c"};
#define BUDGETS_COUNT (sizeof budgets / sizeof budgets[0])

/* Spends 1..n micros on budgets[i % BUDGETS_COUNT], one second apart from T0_MS. */
static void spend_round_robin(fx *f, int n) {
    for (size_t i = 0; i < BUDGETS_COUNT; i++) {
        if (i != 1) { /* a/b is made after a */
            fx_put(f, budgets[i], TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
        }
        if (i == 0) {
            fx_put(f, "a/b", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
        }
    }
    for (int i = 0; i < n; i++) {
        f->now_ms = T0_MS + i * SECOND_MS;
        fx_spend(f, budgets[i % BUDGETS_COUNT], i + 1, TG_CLASS_NORMAL);
    }
}

static bool in_subtree(const char *budget, const char *filter) {
    size_t n = strlen(filter);
    return n == 0 || strcmp(budget, filter) == 0 ||
           (strncmp(budget, filter, n) == 0 && budget[n] == '/');
}

static void charges_page_in_id_order_with_filters(void **state) {
    (void)state;
    fx *f = ledger_open();
    spend_round_robin(f, 40);
    reader_open();

    /* Every charge, in one page of exactly their number: ids increase, amounts are 1..40. */
    seen all = charges_page("", 0, 40, 0, INT64_MAX);
    assert_i64(all.count, 40);
    for (size_t i = 0; i < all.count; i++) {
        assert_i64(all.amounts[i], (int64_t)i + 1);
        assert_string_equal(all.budgets[i], budgets[i % BUDGETS_COUNT]);
        assert_true(i == 0 || all.ids[i] > all.ids[i - 1]);
    }
    /* The page after the last id is empty; so is one far past it. */
    assert_i64(charges_page("", all.ids[39], 40, 0, INT64_MAX).count, 0);
    assert_i64(charges_page("", INT64_MAX, 1, 0, INT64_MAX).count, 0);
    assert_i64(charges_page("", UINT64_MAX, 1, 0, INT64_MAX).count, 0);

    /* Walking pages of 7 by the last id seen gives every charge once, in order. */
    size_t walked = 0;
    uint64_t after = 0;
    for (int pages = 0; pages < 20; pages++) {
        seen page = charges_page("", after, 7, 0, INT64_MAX);
        for (size_t i = 0; i < page.count; i++) {
            assert_i64(page.ids[i], all.ids[walked + i]);
        }
        walked += page.count;
        if (page.count < 7) {
            break;
        }
        after = page.ids[page.count - 1];
    }
    assert_i64(walked, 40);

    /* Each filter keeps exactly the budget and its subtree. */
    const char *filters[] = {"a", "a/b", "ab", "a0", "c", "a/", "nothing"};
    for (size_t k = 0; k < sizeof filters / sizeof filters[0]; k++) {
        seen page = charges_page(filters[k], 0, 100, 0, INT64_MAX);
        size_t expected = 0;
        for (size_t i = 0; i < all.count; i++) {
            expected += in_subtree(all.budgets[i], filters[k]);
        }
        assert_i64(page.count, expected);
        for (size_t i = 0; i < page.count; i++) {
            assert_true(in_subtree(page.budgets[i], filters[k]));
        }
    }
    assert_i64(charges_page("a", 0, 100, 0, INT64_MAX).count, 16); /* a and a/b: 8 each */

    /* since is inclusive, until exclusive: charge i was at T0 + i s. */
    seen window = charges_page("", 0, 100, T0_MS + 10 * SECOND_MS, T0_MS + 20 * SECOND_MS);
    assert_i64(window.count, 10);
    assert_i64(window.amounts[0], 11);
    assert_i64(window.amounts[9], 20);
    assert_i64(charges_page("", 0, 100, T0_MS, T0_MS).count, 0);

    /* A visit that stops: the read ends there, without an error. */
    seen stopped = {.stop_after = 3};
    tg__store_page page = {"", 0, 100};
    assert_ok(
        tg__store_read_charges(test_reader, &page, 0, INT64_MAX, seen_charge, &stopped, NULL));
    assert_i64(stopped.count, 3);
    fx_close(f);
}

static void totals_sum_what_the_pages_list(void **state) {
    (void)state;
    fx *f = ledger_open();
    spend_round_robin(f, 40);
    reader_open();
    seen totals = {0};
    assert_ok(tg__store_read_charge_totals(test_reader, TG__TOTALS_BY_BUDGET, "a", 0, INT64_MAX,
                                           seen_total, &totals, NULL));
    /* Key order; a counts 1, 6, 11 ... 36 and a/b 2, 7 ... 37. */
    assert_i64(totals.count, 2);
    assert_string_equal(totals.budgets[0], "a");
    assert_string_equal(totals.budgets[1], "a/b");
    assert_i64(totals.ids[0], 8);
    assert_i64(totals.amounts[0], 8 * 1 + 5 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7));
    assert_i64(totals.amounts[1], totals.amounts[0] + 8);

    seen days = {0};
    assert_ok(tg__store_read_charge_totals(test_reader, TG__TOTALS_BY_DAY, "", 0, INT64_MAX,
                                           seen_total, &days, NULL));
    assert_i64(days.count, 1);
    assert_string_equal(days.budgets[0], "2025-01-01"); /* T0_MS */
    assert_i64(days.ids[0], 40);
    assert_i64(days.amounts[0], 40 * 41 / 2);

    seen tools = {0};
    assert_ok(tg__store_read_charge_totals(test_reader, TG__TOTALS_BY_TOOL, "c", T0_MS,
                                           T0_MS + 10 * SECOND_MS, seen_total, &tools, NULL));
    assert_i64(tools.count, 1); /* c's charges 5 and 10 (at 4 s and 9 s), no tool: "" */
    assert_string_equal(tools.budgets[0], "");
    assert_i64(tools.amounts[0], 5 + 10);
    fx_close(f);
}

/* ---- holds -------------------------------------------------------------------------------- */

static void holds_lists_open_holds_only(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", USD(100), TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "a/b", USD(100), TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "ab", USD(100), TG_NONE, TG_WINDOW_LIFETIME);
    uint64_t h1 = fx_hold(f, "a", 10, TG_CLASS_NORMAL);
    uint64_t h2 = fx_hold(f, "a/b", 20, TG_CLASS_LOW);
    uint64_t h3 = fx_hold(f, "ab", 30, TG_CLASS_CRITICAL);
    uint64_t h4 = fx_hold(f, "a/b", 40, TG_CLASS_HIGH);
    fx_release(f, h2);
    fx_commit(f, h4, 5);
    reader_open();

    seen s = {0};
    tg__store_page page = {"", 0, 10};
    assert_ok(tg__store_read_holds(test_reader, &page, seen_hold, &s, NULL));
    assert_i64(s.count, 2);
    assert_i64(s.ids[0], h1);
    assert_i64(s.ids[1], h3);
    assert_i64(s.amounts[1], 30);

    seen sub = {0};
    page = (tg__store_page){"a", 0, 10};
    assert_ok(tg__store_read_holds(test_reader, &page, seen_hold, &sub, NULL));
    assert_i64(sub.count, 1);
    assert_i64(sub.ids[0], h1);

    /* Exactly one page, then the cursor at its end. */
    seen one = {0};
    page = (tg__store_page){"", h1, 1};
    assert_ok(tg__store_read_holds(test_reader, &page, seen_hold, &one, NULL));
    assert_i64(one.count, 1);
    assert_i64(one.ids[0], h3);
    seen none = {0};
    page = (tg__store_page){"", h3, 1};
    assert_ok(tg__store_read_holds(test_reader, &page, seen_hold, &none, NULL));
    assert_i64(none.count, 0);
    fx_close(f);
}

/* ---- events ------------------------------------------------------------------------------- */

static void events_match_what_the_engine_reported(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", USD(1), TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "ab", USD(1), TG_NONE, TG_WINDOW_LIFETIME);
    fx_spend(f, "a", USD(1), TG_CLASS_CRITICAL);
    fx_record(f, "a", 1, TG_CLASS_NORMAL, false); /* refused: denied */
    fx_spend(f, "ab", 1, TG_CLASS_NORMAL);
    assert_ok(tg_engine_sync(f->engine, NULL)); /* denied events wait for a write */
    reader_open();
    assert_true(f->events_count >= 4);

    seen s = {0};
    tg__store_page page = {"", 0, TG__STORE_PAGE_ROWS_MAX};
    assert_ok(tg__store_read_events(test_reader, &page, seen_event, &s, NULL));
    assert_i64(s.count, f->events_count);
    for (size_t i = 0; i < s.count; i++) {
        assert_i64(s.ids[i], f->events[i].id);
        assert_string_equal(s.budgets[i], f->events[i].budget);
        assert_i64(s.amounts[i], f->events[i].kind);
    }
    uint64_t last = 0;
    assert_ok(tg__store_read_events_last_id(test_reader, &last, NULL));
    assert_i64(last, f->events[f->events_count - 1].id);

    /* Every field of every event comes back as the engine reported it. */
    tg_event *back = calloc(f->events_count, sizeof *back);
    assert_non_null(back);
    size_t count = 0;
    assert_ok(tg__store_read_events_into(test_reader, 0, back, f->events_count, &count, NULL));
    assert_i64(count, f->events_count);
    for (size_t i = 0; i < count; i++) {
        const tg_event *want = &f->events[i];
        assert_i64(back[i].kind, want->kind);
        assert_i64(back[i].time_ms, want->time_ms);
        assert_i64(back[i].cls, want->cls);
        assert_i64(back[i].reason, want->reason);
        assert_i64(back[i].hold_id, want->hold_id);
        assert_i64(back[i].amount_micros, want->amount_micros);
        assert_i64(back[i].spent_micros, want->spent_micros);
        assert_i64(back[i].limit_micros, want->limit_micros);
        assert_string_equal(back[i].detail, want->detail);
    }
    /* A page of exactly the rest, and the cursor at the end. */
    assert_ok(tg__store_read_events_into(test_reader, back[0].id, back, count - 1, &count, NULL));
    assert_i64(count, f->events_count - 1);
    assert_ok(tg__store_read_events_into(test_reader, last, back, 4, &count, NULL));
    assert_i64(count, 0);
    free(back);

    /* The filter: "a" never shows an event of "ab". */
    seen only_a = {0};
    page = (tg__store_page){"a", 0, 100};
    assert_ok(tg__store_read_events(test_reader, &page, seen_event, &only_a, NULL));
    assert_true(only_a.count > 0 && only_a.count < s.count);
    for (size_t i = 0; i < only_a.count; i++) {
        assert_string_equal(only_a.budgets[i], "a");
    }
    fx_close(f);
}

/* A row a newer Tollgate wrote, with a kind this one does not know, is listed, not dropped. */
static void unknown_event_kind_reads_as_budget_changed(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", USD(1), TG_NONE, TG_WINDOW_LIFETIME);
    fx_close(f);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(test_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO events (id, kind, time_ms, budget, class, reason, "
                                  "hold_id, tool, detail) VALUES (1000, 'from_the_future', 5, 'a',"
                                  " 'unheard', 'of', 0, '', '')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    reader_open();
    tg_event events[8];
    size_t count = 0;
    assert_ok(tg__store_read_events_into(test_reader, 999, events, 8, &count, NULL));
    assert_i64(count, 1);
    assert_i64(events[0].kind, TG_EVENT_BUDGET_CHANGED);
    assert_i64(events[0].cls, -1);
    assert_i64(events[0].reason, -1);
    assert_i64(events[0].amount_micros, TG_NONE);
}

/* ---- closed windows --------------------------------------------------------------------- */

static void windows_newest_first_for_exactly_the_budget(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", USD(100), TG_NONE, TG_WINDOW_HOUR);
    fx_put(f, "a/b", USD(100), TG_NONE, TG_WINDOW_HOUR);
    for (int hour = 0; hour < 4; hour++) {
        f->now_ms = T0_MS + hour * HOUR_MS + MINUTE_MS;
        assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL));
        fx_spend(f, "a/b", hour + 1, TG_CLASS_NORMAL);
    }
    f->now_ms = T0_MS + 4 * HOUR_MS + MINUTE_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL));
    assert_ok(tg_engine_sync(f->engine, NULL));
    reader_open();

    seen s = {0};
    assert_ok(tg__store_read_windows(test_reader, "a/b", 10, seen_window, &s, NULL));
    assert_i64(s.count, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_i64(s.ids[i], T0_MS + (int64_t)(3 - i) * HOUR_MS); /* newest first */
        assert_i64(s.amounts[i], 4 - (int64_t)i);
    }
    seen two = {0};
    assert_ok(tg__store_read_windows(test_reader, "a/b", 2, seen_window, &two, NULL));
    assert_i64(two.count, 2);
    /* "a" closed its own windows (with the subtree's spend), not a/b's rows. */
    seen parent = {0};
    assert_ok(tg__store_read_windows(test_reader, "a", 10, seen_window, &parent, NULL));
    assert_i64(parent.count, 4);
    seen none = {0};
    assert_ok(tg__store_read_windows(test_reader, "a/", 10, seen_window, &none, NULL));
    assert_i64(none.count, 0);
    fx_close(f);
}

/* ---- dead letters ------------------------------------------------------------------------ */

static void exec(const char *sql) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(test_db, &db), SQLITE_OK);
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK) {
        print_error("%s: %s\n", sql, message);
        sqlite3_free(message);
        sqlite3_close(db);
        fail();
    }
    sqlite3_close(db);
}

static void dead_letters_join_their_events(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", USD(1), TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "ab", USD(1), TG_NONE, TG_WINDOW_LIFETIME);
    assert_true(f->events_count >= 2);
    uint64_t a_event = f->events[0].id, ab_event = f->events[1].id;
    fx_close(f);
    /* The store made notify_dead at open: no sender has run on this file. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO notify_dead VALUES ('hook', %llu, 7, 3, 'timeout');"
             "INSERT INTO notify_dead VALUES ('file', %llu, 8, 1, 'disk full');"
             "INSERT INTO notify_dead VALUES ('hook', %llu, 9, 2, 'refused');"
             "INSERT INTO notify_dead VALUES ('hook', 5000, 9, 4, 'event gone');",
             (unsigned long long)a_event, (unsigned long long)a_event,
             (unsigned long long)ab_event);
    exec(sql);
    reader_open();

    seen all = {0};
    tg__store_page page = {"", 0, 10};
    assert_ok(tg__store_read_dead_letters(test_reader, &page, seen_dead, &all, NULL));
    assert_i64(all.count, 4); /* (event_id, sink) order: file before hook */
    assert_i64(all.ids[0], a_event);
    assert_i64(all.amounts[0], 1);
    assert_i64(all.amounts[1], 3);
    assert_string_equal(all.budgets[2], "ab");
    assert_string_equal(all.budgets[3], "(gone)");

    seen only_a = {0};
    page = (tg__store_page){"a", 0, 10};
    assert_ok(tg__store_read_dead_letters(test_reader, &page, seen_dead, &only_a, NULL));
    assert_i64(only_a.count, 2);

    seen after = {0};
    page = (tg__store_page){"", a_event, 1};
    assert_ok(tg__store_read_dead_letters(test_reader, &page, seen_dead, &after, NULL));
    assert_i64(after.count, 1);
    assert_i64(after.ids[0], ab_event);

    /* A file without the table (made before the store owned it) has no dead letters. */
    tg__store_reader_close(test_reader);
    test_reader = NULL;
    exec("DROP TABLE notify_dead");
    reader_open();
    seen gone = {0};
    page = (tg__store_page){"", 0, 10};
    tg_error untouched = {.status = TG_OK, .message = "untouched"};
    assert_ok(tg__store_read_dead_letters(test_reader, &page, seen_dead, &gone, &untouched));
    assert_i64(gone.count, 0);
    assert_string_equal(untouched.message, "untouched"); /* not a failure: no detail */
}

/* ---- the outbox's reads for a message ------------------------------------------------------ */

typedef struct {
    char names[8][TG_NAME_SIZE_MAX];
    size_t count;
} tool_list;

static void tool_seen(void *user, const char *name) {
    tool_list *list = user;
    assert_true(list->count < 8);
    snprintf(list->names[list->count++], TG_NAME_SIZE_MAX, "%s", name);
}

static void record_tool(fx *f, const char *budget, int64_t cost, tg_class cls, const char *tool,
                        const char *model) {
    tg_record_request r = fx_record_request(budget, cost, cls, false);
    r.tool = tool;
    r.model = model;
    assert_true(fx_record_with(f, &r).charged);
}

/* Spend in (since, until] of a subtree, the revocation level, and the tools a class used:
 * "a" takes a/b, never "ab" or "a0" (the bounds are "a/" <= path < "a0"). */
static void outbox_reads_what_a_message_says(void **state) {
    (void)state;
    fx *f = ledger_open();
    tg_budget_spec spec = fx_spec(USD(10), TG_NONE, TG_WINDOW_LIFETIME);
    spec.revoke_at.ppm = 800000;
    fx_put_spec(f, "a", &spec);
    fx_put(f, "a/b", USD(5), USD(3), TG_WINDOW_LIFETIME);
    fx_put(f, "ab", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "a0", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    for (int i = 0; i < 7; i++) {
        f->now_ms = T0_MS + (i + 1) * SECOND_MS;
        const char *tools[] = {"search", "search", "fetch", "", "search", "fetch", "zip"};
        record_tool(f, i % 2 ? "a/b" : "a", 100 + i, TG_CLASS_LOW, tools[i],
                    tools[i][0] ? "" : "gpt-x");
        record_tool(f, i % 2 ? "ab" : "a0", 1000, TG_CLASS_LOW, "leak", ""); /* never counted */
    }
    record_tool(f, "a", 5000, TG_CLASS_HIGH, "other-class", ""); /* at 7 s */
    tg__outbox *outbox = NULL;
    assert_ok(tg__outbox_open(test_db, &outbox, NULL));

    int64_t spent = -1;
    assert_true(tg__outbox_spent(outbox, "a", T0_MS, T0_MS + 7 * SECOND_MS, &spent));
    assert_i64(spent, 100 + 101 + 102 + 103 + 104 + 105 + 106 + 5000);
    /* since is exclusive, until inclusive: (1 s, 3 s] holds the charges at 2 s and 3 s. */
    assert_true(tg__outbox_spent(outbox, "a", T0_MS + SECOND_MS, T0_MS + 3 * SECOND_MS, &spent));
    assert_i64(spent, 101 + 102);
    assert_true(tg__outbox_spent(outbox, "a/b", T0_MS, INT64_MAX, &spent));
    assert_i64(spent, 101 + 103 + 105);
    assert_true(tg__outbox_spent(outbox, "nobody", T0_MS, INT64_MAX, &spent));
    assert_i64(spent, 0);

    int64_t limit = 0, at_micros = 0, at_ppm = 0;
    assert_true(tg__outbox_revoke_at(outbox, "a", &limit, &at_micros, &at_ppm));
    assert_i64(limit, USD(10));
    assert_i64(at_micros, TG_NONE);
    assert_i64(at_ppm, 800000);
    assert_true(tg__outbox_revoke_at(outbox, "a/b", &limit, &at_micros, &at_ppm));
    assert_i64(limit, USD(5));
    assert_i64(at_micros, USD(3));
    assert_i64(at_ppm, TG_NONE);
    assert_false(tg__outbox_revoke_at(outbox, "ab", &limit, &at_micros, &at_ppm)); /* no limit */
    assert_false(tg__outbox_revoke_at(outbox, "nobody", &limit, &at_micros, &at_ppm));

    /* Most used first, then by name; a charge without a tool counts its model. */
    tool_list tools = {0};
    tg__outbox_tools(outbox, "a", TG_CLASS_LOW, T0_MS, INT64_MAX, tool_seen, &tools);
    assert_i64(tools.count, 4);
    assert_string_equal(tools.names[0], "search");
    assert_string_equal(tools.names[1], "fetch");
    assert_string_equal(tools.names[2], "gpt-x");
    assert_string_equal(tools.names[3], "zip");
    tool_list none = {0};
    tg__outbox_tools(outbox, "a", TG_CLASS_CRITICAL, T0_MS, INT64_MAX, tool_seen, &none);
    tg__outbox_tools(outbox, "a", (tg_class)-1, T0_MS, INT64_MAX, tool_seen, &none);
    tg__outbox_tools(outbox, "a", TG_CLASS_COUNT, T0_MS, INT64_MAX, tool_seen, &none);
    assert_i64(none.count, 0);
    tg__outbox_close(outbox);
    fx_close(f);
}

/* A sink's ids finished out of order load up to TG__OUTBOX_SENT_MAX, every one in order;
 * one more is a damaged file, said as such, and the outputs stay untouched. */
static void outbox_sent_ids_are_bounded(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    tg__outbox *outbox = NULL;
    assert_ok(tg__outbox_open(test_db, &outbox, NULL));
    size_t count = TG__OUTBOX_SENT_MAX + 1;
    uint64_t *ids = malloc(count * sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < count; i++) {
        ids[i] = 10 + 3 * (uint64_t)i;
    }
    tg__outbox_progress progress = {"s", 7, ids, TG__OUTBOX_SENT_MAX};
    assert_ok(tg__outbox_save(outbox, &progress, 1, NULL, 0, 0, 0, T0_MS, NULL));
    uint64_t done_through = 0, *sent = NULL;
    size_t sent_count = 0;
    assert_ok(tg__outbox_sink_load(outbox, "s", 0, &done_through, &sent, &sent_count, NULL));
    assert_i64(done_through, 7);
    assert_i64(sent_count, TG__OUTBOX_SENT_MAX);
    assert_memory_equal(sent, ids, TG__OUTBOX_SENT_MAX * sizeof *ids);
    free(sent);

    progress = (tg__outbox_progress){"s", 7, ids + TG__OUTBOX_SENT_MAX, 1};
    assert_ok(tg__outbox_save(outbox, &progress, 1, NULL, 0, 0, 0, T0_MS, NULL));
    done_through = 99;
    sent = NULL;
    sent_count = 5;
    tg_error err;
    assert_fails(tg__outbox_sink_load(outbox, "s", 0, &done_through, &sent, &sent_count, &err), err,
                 TG_ERR_CORRUPT);
    assert_contains(err.message, "sink 's' has more than 65536 events finished out of order");
    assert_i64(done_through, 99);
    assert_null(sent);
    assert_i64(sent_count, 5);
    free(ids);
    tg__outbox_close(outbox);
    fx_close(f);
}

/* The reader sees each commit of an engine that stays open (WAL), without reopening. */
static void reader_sees_later_commits(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    reader_open();
    for (int i = 1; i <= 5; i++) {
        fx_spend(f, "a", i, TG_CLASS_NORMAL);
        assert_i64(charges_page("a", 0, 100, 0, INT64_MAX).count, i);
    }
    fx_close(f);
}

/* ---- the spend log (charges joined with calls) ---------------------------------------------- */

typedef struct {
    uint64_t ids[16];
    bool logged[16];
    char keys[16][64];
    char tags[16][64];
    size_t count;
} spend_seen;

static bool seen_spend(void *user, const tg__spend_row *row) {
    spend_seen *s = user;
    assert_true(s->count < 16);
    s->ids[s->count] = row->charge.id;
    s->logged[s->count] = row->logged;
    snprintf(s->keys[s->count], 64, "%.63s", row->call.key);
    snprintf(s->tags[s->count], 64, "%.63s", row->call.tags);
    s->count++;
    return true;
}

static uint64_t record_model(fx *f, const char *budget, const char *model) {
    tg_record_request request = {.budget = budget,
                                 .cost_micros = 10,
                                 .cls = TG_CLASS_NORMAL,
                                 .tool = "openai.chat",
                                 .model = model};
    tg_record_result out;
    assert_ok(tg_record(f->engine, &request, f->now_ms, &out, NULL));
    assert_true(out.charged);
    return out.charge_id;
}

static void log_call(fx *f, uint64_t charge_id, const char *key, const char *user, const char *tags,
                     const char *provider) {
    tg__call_row row;
    memset(&row, 0, sizeof row);
    row.time_ms = f->now_ms;
    row.charge_id = charge_id;
    snprintf(row.key, sizeof row.key, "%s", key);
    snprintf(row.user, sizeof row.user, "%s", user);
    snprintf(row.tags, sizeof row.tags, "%s", tags);
    snprintf(row.provider, sizeof row.provider, "%s", provider);
    snprintf(row.outcome, sizeof row.outcome, "%s", charge_id ? "ok" : "refused");
    assert_ok(tg__engine_call_log(f->engine, &row, f->now_ms, NULL));
}

static spend_seen spend_page(const tg__spend_filter *filter, uint64_t after, size_t limit) {
    spend_seen s = {0};
    tg__store_page page = {"", after, limit};
    assert_ok(tg__store_read_spend(test_reader, &page, 0, INT64_MAX, filter, seen_spend, &s, NULL));
    return s;
}

/* Filters match whole values: a tag "x" is in "x,y" but not in "xy"; key, user, tag and
 * provider never match a charge without a call; a refused call's row (charge 0) joins no
 * charge. Paging with a filter skips nothing. */
static void spend_joins_calls_and_filters(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    uint64_t c1 = record_model(f, "a", "gpt-4o");
    uint64_t c2 = record_model(f, "a", "gpt-4o-mini");
    uint64_t c3 = record_model(f, "a", "gpt-4o"); /* an API charge: no call */
    log_call(f, c1, "k1", "u1", "x,y", "openai");
    log_call(f, c2, "k2", "u2", "xy", "anthropic");
    log_call(f, 0, "k1", "u1", "x", "openai");    /* refused: no charge */
    uint64_t c4 = record_model(f, "a", "gpt-4o"); /* its write carries the rows before it */
    log_call(f, c4, "k1", "u3", "z,x", "openai");
    record_model(f, "a", "other"); /* and this one carries c4's */
    reader_open();
    spend_seen all = spend_page(NULL, 0, 100);
    assert_i64(all.count, 5);
    assert_true(all.logged[0] && all.logged[1] && !all.logged[2] && all.logged[3]);
    assert_string_equal(all.keys[1], "k2");
    assert_string_equal(all.keys[2], "");
    tg__spend_filter tag_x = {.tag = "x"};
    spend_seen x = spend_page(&tag_x, 0, 100);
    assert_i64(x.count, 2);
    assert_i64(x.ids[0], c1);
    assert_i64(x.ids[1], c4);
    tg__spend_filter tag_xy = {.tag = "xy"};
    assert_i64(spend_page(&tag_xy, 0, 100).count, 1);
    tg__spend_filter tag_part = {.tag = "y,"}; /* not a tag: never a match across tags */
    assert_i64(spend_page(&tag_part, 0, 100).count, 0);
    tg__spend_filter key = {.key = "k1", .model = "gpt-4o"};
    spend_seen k1 = spend_page(&key, 0, 100);
    assert_i64(k1.count, 2);
    tg__spend_filter user = {.user = "u2", .provider = "anthropic"};
    assert_i64(spend_page(&user, 0, 100).count, 1);
    tg__spend_filter model = {.model = "gpt-4o"};
    assert_i64(spend_page(&model, 0, 100).count, 3); /* the API charge too */
    /* Pages of one with a filter: the same ids, in order. */
    spend_seen first = spend_page(&tag_x, 0, 1);
    spend_seen second = spend_page(&tag_x, first.ids[0], 1);
    spend_seen third = spend_page(&tag_x, second.ids[0], 1);
    assert_i64(first.ids[0], c1);
    assert_i64(second.ids[0], c4);
    assert_i64(third.count, 0);
    assert_i64(c3, c2 + 1);
    fx_close(f);
}

/* The charges page and the spend log decode a charges row with one decoder: every field of
 * every charge must read the same through both (a column order that drifted in either select
 * would swap tokens, costs or names). The charges differ in every field: a commit of a hold
 * (hold id, held amount, both token counts, an overrun), and records of other classes, tools
 * and models, one with no tool or model at all. */
#define AGREE_MAX 8

typedef struct {
    tg__charge_info charges[AGREE_MAX];
    size_t count;
} charges_seen;

static bool seen_charge_info(void *user, const tg__charge_info *c) {
    charges_seen *s = user;
    assert_true(s->count < AGREE_MAX);
    s->charges[s->count++] = *c;
    return true;
}

static bool seen_spend_charge(void *user, const tg__spend_row *row) {
    return seen_charge_info(user, &row->charge);
}

static void charges_page_and_spend_log_agree(void **state) {
    (void)state;
    fx *f = ledger_open();
    fx_put(f, "a", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "a/b", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    tg_reserve_request hold = {.budget = "a/b",
                               .amount_micros = 500,
                               .tokens = 30,
                               .cls = TG_CLASS_HIGH,
                               .tool = "deploy",
                               .model = "m-big"};
    tg_reserve_result held;
    assert_ok(tg_reserve(f->engine, &hold, f->now_ms, &held, NULL));
    assert_true(held.granted);
    f->now_ms += 1000;
    tg_commit_request commit = {
        .hold_id = held.hold_id, .actual_micros = 700, .tokens_in = 11, .tokens_out = 19};
    tg_commit_result committed;
    assert_ok(tg_commit(f->engine, &commit, f->now_ms, &committed, NULL));
    f->now_ms += 1000;
    tg_record_request records[] = {
        {.budget = "a",
         .cost_micros = 3,
         .tokens_in = 5,
         .cls = TG_CLASS_LOW,
         .tool = "search",
         .model = "m-small"},
        {.budget = "a/b", .cost_micros = 41, .tokens_out = 2, .cls = TG_CLASS_CRITICAL},
    };
    for (size_t i = 0; i < sizeof records / sizeof records[0]; i++) {
        tg_record_result out;
        assert_ok(tg_record(f->engine, &records[i], f->now_ms + (int64_t)i, &out, NULL));
        assert_true(out.charged);
    }
    reader_open();
    tg__store_page page = {"", 0, AGREE_MAX};
    charges_seen charges = {0}, spend = {0};
    assert_ok(
        tg__store_read_charges(test_reader, &page, 0, INT64_MAX, seen_charge_info, &charges, NULL));
    assert_ok(tg__store_read_spend(test_reader, &page, 0, INT64_MAX, NULL, seen_spend_charge,
                                   &spend, NULL));
    assert_i64(charges.count, 3);
    assert_i64(spend.count, 3);
    for (size_t i = 0; i < charges.count; i++) {
        const tg__charge_info *a = &charges.charges[i], *b = &spend.charges[i];
        assert_i64(a->id, b->id);
        assert_i64(a->time_ms, b->time_ms);
        assert_string_equal(a->budget, b->budget);
        assert_i64(a->hold_id, b->hold_id);
        assert_i64(a->cls, b->cls);
        assert_string_equal(a->tool, b->tool);
        assert_string_equal(a->model, b->model);
        assert_i64(a->tokens_in, b->tokens_in);
        assert_i64(a->tokens_out, b->tokens_out);
        assert_i64(a->cost_micros, b->cost_micros);
        assert_i64(a->held_micros, b->held_micros);
    }
    /* And what they agree on is what was charged, column by column. */
    const tg__charge_info *c = &charges.charges[0];
    assert_i64(c->id, committed.charge_id);
    assert_i64(c->hold_id, held.hold_id);
    assert_string_equal(c->budget, "a/b");
    assert_i64(c->cls, TG_CLASS_HIGH);
    assert_string_equal(c->tool, "deploy");
    assert_string_equal(c->model, "m-big");
    assert_i64(c->tokens_in, 11);
    assert_i64(c->tokens_out, 19);
    assert_i64(c->cost_micros, 700);
    assert_i64(c->held_micros, 500);
    assert_i64(c->time_ms, T0_MS + 1000);
    c = &charges.charges[1];
    assert_true(c->hold_id == 0 && c->held_micros == 0 && c->cls == TG_CLASS_LOW);
    assert_string_equal(c->tool, "search");
    assert_string_equal(c->model, "m-small");
    assert_true(c->tokens_in == 5 && c->tokens_out == 0 && c->cost_micros == 3);
    c = &charges.charges[2];
    assert_true(c->cls == TG_CLASS_CRITICAL && c->tokens_out == 2 && c->cost_micros == 41);
    assert_string_equal(c->tool, "");
    assert_string_equal(c->model, "");
    assert_i64(c->time_ms, T0_MS + 2001);
    fx_close(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        read_test(charges_page_and_spend_log_agree),
        read_test(empty_ledger_reads_nothing),
        read_test(missing_file_is_an_error_and_stays_missing),
        read_test(limits_out_of_range_are_refused),
        read_test(charges_page_in_id_order_with_filters),
        read_test(spend_joins_calls_and_filters),
        read_test(totals_sum_what_the_pages_list),
        read_test(holds_lists_open_holds_only),
        read_test(events_match_what_the_engine_reported),
        read_test(unknown_event_kind_reads_as_budget_changed),
        read_test(windows_newest_first_for_exactly_the_budget),
        read_test(dead_letters_join_their_events),
        read_test(outbox_reads_what_a_message_says),
        read_test(outbox_sent_ids_are_bounded),
        read_test(reader_sees_later_commits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
