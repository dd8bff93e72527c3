/*
 * test_store_sqlite: the SQLite store through the public engine API. A ledger
 * with every spec field set, holds, charges, idempotency keys, a freeze and
 * two rolled windows is closed and reopened: every budget field, every open
 * hold, every idempotent answer and the window history come back, and new ids
 * never reuse old ones. The file is read with plain SQL as a person would; a
 * file from a newer version, a damaged or hand-edited row, or a folder that
 * cannot hold the file is refused with a clear error and no crash. Relaxed
 * mode and group commit are on disk after a sync and a batch end.
 *
 * Each test works in its own folder from mkdtemp under /tmp, removed after.
 */
#include "model.h"

#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a folder and a file per test ----------------------------------------------------------- */

static char test_dir[64]; /* from mkdtemp */
static char test_db[128]; /* test_dir/ledger.db */
static sqlite3 *test_sql; /* a person's connection to test_db, or NULL */

static void remove_tree(const char *path) {
    DIR *dir = opendir(path);
    if (dir != NULL) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
                continue;
            }
            char child[512];
            snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                chmod(child, 0700);
                remove_tree(child);
            } else {
                unlink(child);
            }
        }
        closedir(dir);
    }
    rmdir(path);
}

static int dir_setup(void **state) {
    (void)state;
    snprintf(test_dir, sizeof test_dir, "/tmp/tg-store-XXXXXX");
    if (mkdtemp(test_dir) == NULL) {
        return -1;
    }
    snprintf(test_db, sizeof test_db, "%s/ledger.db", test_dir);
    return 0;
}

static int dir_teardown(void **state) {
    fx_teardown(state);
    if (test_sql != NULL) {
        sqlite3_close(test_sql);
        test_sql = NULL;
    }
    remove_tree(test_dir);
    return 0;
}

#define store_test(test) cmocka_unit_test_setup_teardown(test, dir_setup, dir_teardown)

/* Removes the ledger file and its WAL and shared-memory companions. */
static void remove_db(void) {
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s%s", test_db, suffixes[i]);
        unlink(path);
    }
}

/* ---- the engine on the file ------------------------------------------------------------------ */

static tg_engine_options store_options(void) {
    tg_engine_options o;
    tg_engine_options_init(&o);
    o.store = "sqlite";
    o.path = test_db;
    o.max_hold_ttl_ms = 7 * DAY_MS;    /* holds outlive two rolled windows */
    o.idempotency_ttl_ms = 7 * DAY_MS; /* and so do keys (24 hours by default) */
    return o;
}

/* Opens an engine on test_db with `options`, events recorded, as the model.h fixture. */
static fx *store_open_with(const tg_engine_options *options, int64_t now_ms) {
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->events = calloc(FX_EVENTS_MAX, sizeof *f->events);
    assert_non_null(f->events);
    f->ids_ok = true;
    f->now_ms = now_ms;
    tg_engine_options o = *options;
    o.on_event = fx_on_event;
    o.on_event_user = f;
    tg_error err = {0};
    tg_status status = tg_engine_open(&o, now_ms, &f->engine, &err);
    if (status != TG_OK) {
        free(f->events);
        free(f);
        print_error("tg_engine_open(%s): %s: %s\n", test_db, tg_status_str(status), err.message);
        fail();
    }
    fx_current = f;
    return f;
}

static fx *store_open(int64_t now_ms) {
    tg_engine_options o = store_options();
    return store_open_with(&o, now_ms);
}

/* An open that must fail with `expected`; returns the error for its message. */
static tg_error open_fails(const tg_engine_options *options, tg_status expected) {
    tg_engine *engine = (tg_engine *)&engine; /* must stay untouched */
    tg_error err;
    memset(&err, 0, sizeof err);
    tg_status status = tg_engine_open(options, T0_MS, &engine, &err);
    if (status == TG_OK) {
        tg_engine_close(engine);
    }
    if (status != expected) {
        print_error("tg_engine_open(%s) returned %s (%s), expected %s\n", options->path,
                    tg_status_str(status), err.message, tg_status_str(expected));
        fail();
    }
    assert_ptr_equal(engine, (tg_engine *)&engine);
    assert_int_equal(err.status, expected);
    assert_true(err.message[0] != '\0');
    return err;
}

#define assert_message_has(err, text)                                                              \
    do {                                                                                           \
        if (strstr((err).message, (text)) == NULL) {                                               \
            print_error("message \"%s\" does not mention \"%s\"\n", (err).message, (text));        \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* ---- a person's SQL on the file -------------------------------------------------------------- */

static sqlite3 *sql_open(void) {
    if (test_sql == NULL) {
        assert_int_equal(
            sqlite3_open_v2(test_db, &test_sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
            SQLITE_OK);
        sqlite3_busy_timeout(test_sql, 5000);
    }
    return test_sql;
}

static void sql_close(void) {
    sqlite3_close(test_sql);
    test_sql = NULL;
}

static void sql_exec(const char *sql) {
    char *message = NULL;
    if (sqlite3_exec(sql_open(), sql, NULL, NULL, &message) != SQLITE_OK) {
        print_error("%s: %s\n", sql, message ? message : "?");
        sqlite3_free(message);
        fail();
    }
}

/* The first column of the only row of `sql`; NULL reads as TG_NONE. */
static int64_t sql_int(const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(sql_open(), sql, -1, &s, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(test_sql));
        fail();
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        print_error("%s: no row\n", sql);
        fail();
    }
    int64_t value = sqlite3_column_type(s, 0) == SQLITE_NULL ? TG_NONE : sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return value;
}

/* The first column of the only row of `sql` as text ("(null)" for NULL), in a static buffer. */
static const char *sql_text(const char *sql) {
    static char text[512];
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(sql_open(), sql, -1, &s, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(test_sql));
        fail();
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        print_error("%s: no row\n", sql);
        fail();
    }
    const unsigned char *value = sqlite3_column_text(s, 0);
    snprintf(text, sizeof text, "%s", value ? (const char *)value : "(null)");
    sqlite3_finalize(s);
    return text;
}

/* ---- operations with keys -------------------------------------------------------------------- */

static tg_reserve_result keyed_reserve(fx *f, const char *path, int64_t amount_micros, tg_class cls,
                                       int64_t ttl_ms, const char *key) {
    tg_reserve_request r = fx_reserve_request(path, amount_micros, cls);
    r.ttl_ms = ttl_ms;
    r.idempotency_key = key;
    r.tool = "answer_ticket";
    r.model = "model-a";
    r.tokens = 500;
    return fx_reserve_with(f, &r);
}

static uint64_t keyed_hold(fx *f, const char *path, int64_t amount_micros, tg_class cls,
                           int64_t ttl_ms, const char *key) {
    tg_reserve_result out = keyed_reserve(f, path, amount_micros, cls, ttl_ms, key);
    if (!out.granted) {
        print_error("reserve %s %lld refused: %s at %s\n", path, (long long)amount_micros,
                    tg_reason_str(out.refusal.reason), out.refusal.budget);
        fail();
    }
    return out.hold_id;
}

static tg_status keyed_commit(fx *f, uint64_t hold_id, int64_t actual_micros, const char *key,
                              tg_commit_result *out) {
    tg_commit_request r = {.hold_id = hold_id,
                           .actual_micros = actual_micros,
                           .tokens_in = 100,
                           .tokens_out = 50,
                           .idempotency_key = key};
    memset(out, 0, sizeof *out);
    return tg_commit(f->engine, &r, f->now_ms, out, NULL);
}

static tg_status keyed_record(fx *f, const char *path, int64_t cost_micros, tg_class cls,
                              const char *key, tg_record_result *out) {
    tg_record_request r = fx_record_request(path, cost_micros, cls, false);
    r.tool = "refund";
    r.idempotency_key = key;
    memset(out, 0, sizeof *out);
    return tg_record(f->engine, &r, f->now_ms, out, NULL);
}

static uint64_t keyed_spend(fx *f, const char *path, int64_t cost_micros, tg_class cls,
                            const char *key) {
    tg_record_result out;
    assert_ok(keyed_record(f, path, cost_micros, cls, key, &out));
    assert_true(out.charged);
    return out.charge_id;
}

/* ---- the scenario: every spec field, holds, charges, a freeze, two rolled windows ------------ */

/* Taipei is UTC+8: its day starts at 16:00 UTC. T0 is 08:00 on 1 January in Taipei. */
#define TAIPEI_DAY0_END_MS (T0_MS + 16 * HOUR_MS)
#define T1_MS (T0_MS + 17 * HOUR_MS) /* 01:00 on 2 January in Taipei: the first roll */
#define T2_MS (T0_MS + 41 * HOUR_MS) /* 01:00 on 3 January: the second */

static const char *const scenario_paths[] = {"acme", "acme/support", "acme/support/agent-7",
                                             "acme/data"};
#define SCENARIO_PATHS_COUNT (sizeof scenario_paths / sizeof scenario_paths[0])

typedef struct {
    uint64_t h1, h2, h3, h4, h5; /* h1 committed, h3 released; h2, h4, h5 open at T2 */
    uint64_t commit_charge;      /* the charge of h1's commit, key "c1" */
    uint64_t record_charge;      /* the record with key "rec1" */
    uint64_t last_charge;        /* the latest charge id */
    int64_t h1_expires_at_ms;
} scenario;

static void scenario_budgets(fx *f) {
    tg_budget_spec acme;
    tg_budget_spec_init(&acme);
    acme.cost_limit_micros = USD(1000);
    acme.calls_limit = 1000;
    acme.tokens_limit = 10000000;
    acme.window = TG_WINDOW_DAY;
    snprintf(acme.timezone, sizeof acme.timezone, "Asia/Taipei");
    acme.revoke_at.micros = USD(900);
    acme.class_ceiling[TG_CLASS_LOW].ppm = 500000;
    acme.class_ceiling[TG_CLASS_HIGH].micros = USD(950);
    acme.alerts_ppm[0] = 500000;
    acme.alerts_ppm[1] = 800000;
    acme.alerts_ppm[2] = 950000;
    acme.alerts_count = 3;
    fx_put_spec(f, "acme", &acme);

    tg_budget_spec support;
    tg_budget_spec_init(&support);
    support.cost_limit_micros = USD(500);
    support.calls_limit = 500;
    support.tokens_limit = 1000000;
    support.window = TG_WINDOW_DAY;
    snprintf(support.timezone, sizeof support.timezone, "Asia/Taipei");
    support.revoke_at.ppm = 900000; /* $450 */
    support.class_ceiling[TG_CLASS_NORMAL].micros = USD(440);
    support.class_ceiling[TG_CLASS_CRITICAL].ppm = 1000000;
    support.alerts_ppm[0] = 800000;
    support.alerts_ppm[1] = 500000;
    support.alerts_count = 2;
    fx_put_spec(f, "acme/support", &support);

    tg_budget_spec agent;
    tg_budget_spec_init(&agent); /* no cost limit: NULL in the table */
    agent.calls_limit = 100;
    agent.window = TG_WINDOW_HOUR;
    fx_put_spec(f, "acme/support/agent-7", &agent);

    tg_budget_spec data;
    tg_budget_spec_init(&data);
    data.cost_limit_micros = USD(2000);
    data.tokens_limit = 5000000;
    data.revoke_at.ppm = 900000;
    fx_put_spec(f, "acme/data", &data);

    tg_budget_spec tmp = fx_spec(USD(10), TG_NONE, TG_WINDOW_DAY);
    fx_put_spec(f, "acme/tmp", &tmp);
}

static scenario scenario_run(fx *f) {
    scenario s = {0};
    f->now_ms = T0_MS;
    scenario_budgets(f);
    s.h1 = keyed_hold(f, "acme/support/agent-7", USD(10), TG_CLASS_NORMAL, 2 * DAY_MS, "r1");
    s.h1_expires_at_ms = T0_MS + 2 * DAY_MS;
    s.h2 = keyed_hold(f, "acme/support", USD(20), TG_CLASS_LOW, 3 * DAY_MS, "r2");
    s.h3 = keyed_hold(f, "acme/data", USD(5), TG_CLASS_HIGH, 0, "r3");
    tg_commit_result committed;
    assert_ok(keyed_commit(f, s.h1, USD(12), "c1", &committed));
    assert_i64(committed.overrun_micros, USD(2));
    s.commit_charge = committed.charge_id;
    bool replayed = true;
    assert_ok(tg_release(f->engine, s.h3, "rel1", f->now_ms, &replayed, NULL));
    assert_false(replayed);
    s.record_charge = keyed_spend(f, "acme/support", USD(300), TG_CLASS_NORMAL, "rec1");
    s.h4 = keyed_hold(f, "acme/support/agent-7", USD(5), TG_CLASS_CRITICAL, 2 * DAY_MS, "r4");
    /* $462 on support passes normal's $440 and low's $450: both revoked, h2 told to cancel. */
    keyed_spend(f, "acme/support", USD(150), TG_CLASS_CRITICAL, "rec2");
    assert_true(fx_hold_info(f, s.h2).cancel_requested);
    assert_false(fx_hold_info(f, s.h4).cancel_requested);
    tg_reserve_result refused =
        keyed_reserve(f, "acme/support/agent-7", USD(1), TG_CLASS_NORMAL, 0, "r5");
    assert_false(refused.granted);
    assert_i64(refused.refusal.reason, TG_REASON_REVOKED);
    fx_freeze(f, "acme/data", true);
    keyed_spend(f, "acme/tmp", USD(1), TG_CLASS_NORMAL, NULL);

    /* The first Taipei day closes; support may spend again. */
    f->now_ms = T1_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL));
    keyed_spend(f, "acme/support", USD(50), TG_CLASS_NORMAL, "rec3");
    /* The second closes; a little is spent in the third. */
    f->now_ms = T2_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL));
    s.last_charge = keyed_spend(f, "acme/support", USD(7), TG_CLASS_NORMAL, "rec4");
    s.h5 = keyed_hold(f, "acme/support/agent-7", USD(2), TG_CLASS_NORMAL, 0, "r6");
    assert_ok(tg_budget_delete(f->engine, "acme/tmp", f->now_ms, NULL));
    return s;
}

/* ---- comparing what came back -----------------------------------------------------------------
 */

static void assert_level_equal(tg_level actual, tg_level expected) {
    assert_i64(actual.micros, expected.micros);
    assert_i64(actual.ppm, expected.ppm);
}

static void assert_spec_equal(const tg_budget_spec *a, const tg_budget_spec *e) {
    assert_i64(a->cost_limit_micros, e->cost_limit_micros);
    assert_i64(a->calls_limit, e->calls_limit);
    assert_i64(a->tokens_limit, e->tokens_limit);
    assert_i64(a->window, e->window);
    assert_string_equal(a->timezone, e->timezone);
    assert_level_equal(a->revoke_at, e->revoke_at);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        assert_level_equal(a->class_ceiling[c], e->class_ceiling[c]);
    }
    assert_i64(a->alerts_count, e->alerts_count);
    for (int i = 0; i < e->alerts_count; i++) {
        assert_i64(a->alerts_ppm[i], e->alerts_ppm[i]);
    }
    assert_i64(a->above_hold, e->above_hold);
}

static void assert_info_equal(const tg_budget_info *a, const tg_budget_info *e) {
    assert_string_equal(a->path, e->path);
    assert_spec_equal(&a->spec, &e->spec);
    assert_int_equal(a->frozen, e->frozen);
    assert_i64(a->window_start_ms, e->window_start_ms);
    assert_i64(a->window_end_ms, e->window_end_ms);
    assert_i64(a->spent_micros, e->spent_micros);
    assert_i64(a->held_micros, e->held_micros);
    assert_i64(a->calls_used, e->calls_used);
    assert_i64(a->calls_held, e->calls_held);
    assert_i64(a->tokens_used, e->tokens_used);
    assert_i64(a->tokens_held, e->tokens_held);
    assert_i64(a->threshold_micros, e->threshold_micros);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        assert_i64(a->ceiling_micros[c], e->ceiling_micros[c]);
        assert_i64(a->remaining_micros[c], e->remaining_micros[c]);
        assert_int_equal(a->revoked[c], e->revoked[c]);
    }
    assert_int_equal(a->locked, e->locked);
}

static void assert_hold_equal(const tg_hold_info *a, const tg_hold_info *e) {
    assert_i64(a->id, e->id);
    assert_string_equal(a->budget, e->budget);
    assert_i64(a->amount_micros, e->amount_micros);
    assert_i64(a->tokens, e->tokens);
    assert_i64(a->cls, e->cls);
    assert_string_equal(a->tool, e->tool);
    assert_string_equal(a->model, e->model);
    assert_i64(a->created_at_ms, e->created_at_ms);
    assert_i64(a->expires_at_ms, e->expires_at_ms);
    assert_int_equal(a->cancel_requested, e->cancel_requested);
}

/* ---- reopening --------------------------------------------------------------------------------
 */

static void test_reopen_restores_budgets_and_holds(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    scenario s = scenario_run(f);
    tg_budget_info before[SCENARIO_PATHS_COUNT];
    for (size_t i = 0; i < SCENARIO_PATHS_COUNT; i++) {
        before[i] = fx_info(f, scenario_paths[i]);
    }
    /* The scenario did what it says, so the comparison below compares something. */
    assert_i64(before[1].spent_micros, USD(7));
    assert_i64(before[1].held_micros, USD(20 + 5 + 2));
    assert_true(before[3].frozen);
    assert_i64(before[3].spent_micros, 0);
    assert_i64(before[1].window_start_ms, TAIPEI_DAY0_END_MS + DAY_MS);
    tg_hold_info holds_before[3] = {fx_hold_info(f, s.h2), fx_hold_info(f, s.h4),
                                    fx_hold_info(f, s.h5)};
    uint64_t last_event_id = f->last_event_id;
    fx_close(f);

    f = store_open(T2_MS);
    f->last_event_id = last_event_id; /* ids must go on increasing across the reopen */
    for (size_t i = 0; i < SCENARIO_PATHS_COUNT; i++) {
        tg_budget_info after = fx_info(f, scenario_paths[i]);
        assert_info_equal(&after, &before[i]);
    }
    for (size_t i = 0; i < 3; i++) {
        tg_hold_info after = fx_hold_info(f, holds_before[i].id);
        assert_hold_equal(&after, &holds_before[i]);
    }
    assert_true(holds_before[0].cancel_requested);
    assert_false(fx_hold_open(f, s.h1));
    assert_false(fx_hold_open(f, s.h3));
    tg_budget_info gone;
    assert_status(tg_budget_get(f->engine, "acme/tmp", f->now_ms, &gone, NULL), TG_ERR_NOT_FOUND);

    /* New ids come after every old one: hold ids, charge ids, event ids. */
    f->now_ms += MINUTE_MS;
    uint64_t h6 = fx_hold(f, "acme/support/agent-7", USD(1), TG_CLASS_CRITICAL);
    assert_true(h6 > s.h5);
    tg_commit_result committed = fx_commit(f, h6, USD(1));
    assert_true(committed.charge_id > s.last_charge);
    fx_freeze(f, "acme/data", false);
    assert_i64(fx_count(f, TG_EVENT_BUDGET_CHANGED), 1);
    assert_i64(sql_int("SELECT max(id) FROM events"), f->last_event_id);
    fx_close(f); /* asserts that event ids increased past last_event_id */
}

static void test_reopen_replays_idempotent_answers(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    scenario s = scenario_run(f);
    tg_budget_info before = fx_info(f, "acme");
    fx_close(f);

    f = store_open(T2_MS);
    /* Each repeat returns the first answer and changes nothing. */
    tg_reserve_result reserved =
        keyed_reserve(f, "acme/support/agent-7", USD(10), TG_CLASS_NORMAL, 2 * DAY_MS, "r1");
    assert_true(reserved.granted && reserved.replayed);
    assert_i64(reserved.hold_id, s.h1);
    assert_i64(reserved.expires_at_ms, s.h1_expires_at_ms);
    assert_i64(reserved.cls, TG_CLASS_NORMAL);
    tg_commit_result committed;
    assert_ok(keyed_commit(f, s.h1, USD(12), "c1", &committed));
    assert_true(committed.replayed);
    assert_i64(committed.charge_id, s.commit_charge);
    assert_i64(committed.charged_micros, USD(12));
    assert_i64(committed.overrun_micros, USD(2));
    bool replayed = false;
    assert_ok(tg_release(f->engine, s.h3, "rel1", f->now_ms, &replayed, NULL));
    assert_true(replayed);
    tg_record_result recorded;
    assert_ok(keyed_record(f, "acme/support", USD(300), TG_CLASS_NORMAL, "rec1", &recorded));
    assert_true(recorded.charged && recorded.replayed);
    assert_i64(recorded.charge_id, s.record_charge);
    tg_budget_info after = fx_info(f, "acme");
    assert_info_equal(&after, &before);
    assert_i64(sql_int("SELECT count(*) FROM charges"), 6);

    /* The same key with other arguments, or for another operation, is still a conflict. */
    tg_reserve_request other = fx_reserve_request("acme/support/agent-7", USD(11), TG_CLASS_NORMAL);
    other.idempotency_key = "r1";
    tg_reserve_result out;
    assert_status(tg_reserve(f->engine, &other, f->now_ms, &out, NULL), TG_ERR_CONFLICT);
    assert_status(keyed_commit(f, s.h1, USD(13), "c1", &committed), TG_ERR_CONFLICT);
    assert_status(tg_release(f->engine, s.h2, "rel1", f->now_ms, NULL, NULL), TG_ERR_CONFLICT);
    assert_status(keyed_record(f, "acme/support", USD(301), TG_CLASS_NORMAL, "rec1", &recorded),
                  TG_ERR_CONFLICT);
    assert_status(keyed_record(f, "acme/support", USD(300), TG_CLASS_NORMAL, "r1", &recorded),
                  TG_ERR_CONFLICT);
    /* A refusal was not remembered: its key decides afresh. */
    assert_true(keyed_reserve(f, "acme/support/agent-7", USD(1), TG_CLASS_NORMAL, 0, "r5").granted);
    after = fx_info(f, "acme");
    assert_i64(after.spent_micros, before.spent_micros);
    fx_close(f);
}

static void test_history_is_newest_first(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    scenario_run(f);
    fx_close(f);
    f = store_open(T2_MS);
    tg_window_record windows[8];
    size_t count = 99;
    assert_ok(tg_budget_history(f->engine, "acme/support", windows, 8, &count, NULL));
    assert_int_equal(count, 2);
    assert_i64(windows[0].window_start_ms, TAIPEI_DAY0_END_MS);
    assert_i64(windows[0].window_end_ms, TAIPEI_DAY0_END_MS + DAY_MS);
    assert_i64(windows[0].spent_micros, USD(50));
    assert_i64(windows[0].calls_used, 1);
    assert_i64(windows[1].window_start_ms, TAIPEI_DAY0_END_MS - DAY_MS);
    assert_i64(windows[1].window_end_ms, TAIPEI_DAY0_END_MS);
    assert_i64(windows[1].spent_micros, USD(12 + 300 + 150));
    assert_i64(windows[1].calls_used, 3);
    assert_i64(windows[1].tokens_used, 150);
    /* At most `max`, the newest. */
    assert_ok(tg_budget_history(f->engine, "acme/support", windows, 1, &count, NULL));
    assert_int_equal(count, 1);
    assert_i64(windows[0].spent_micros, USD(50));
    /* The hour window of agent-7 rolled on each tick; a lifetime window never does. */
    assert_ok(tg_budget_history(f->engine, "acme/support/agent-7", windows, 8, &count, NULL));
    assert_int_equal(count, 2);
    assert_i64(windows[0].window_start_ms, T1_MS);
    assert_i64(windows[1].window_start_ms, T0_MS);
    assert_i64(windows[1].spent_micros, USD(12));
    assert_ok(tg_budget_history(f->engine, "acme/data", windows, 8, &count, NULL));
    assert_int_equal(count, 0);
    /* A deleted budget's history went with it. */
    assert_ok(tg_budget_history(f->engine, "acme/tmp", windows, 8, &count, NULL));
    assert_int_equal(count, 0);
    fx_close(f);
}

/* A template and the children made from it are kept like any budget: a reopen still
 * makes new children from it, with its bound; removing the template or deleting its
 * budget takes its row away. */
static void test_templates_and_their_children_survive_a_reopen(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "acme/users", USD(100), TG_NONE, TG_WINDOW_LIFETIME);
    tg_budget_spec tmpl = fx_spec(USD(3), TG_NONE, TG_WINDOW_DAY);
    tmpl.calls_limit = 5;
    snprintf(tmpl.timezone, sizeof tmpl.timezone, "Asia/Taipei");
    tmpl.alerts_ppm[0] = 500000;
    tmpl.alerts_count = 1;
    tmpl.class_ceiling[TG_CLASS_LOW].ppm = 250000;
    assert_ok(tg_budget_template_set(f->engine, "acme/users", &tmpl, 2, f->now_ms, NULL));
    fx_spend(f, "acme/users/u1", USD(1), TG_CLASS_NORMAL);
    fx_close(f);
    assert_i64(sql_int("SELECT children_max FROM budget_templates WHERE path = 'acme/users'"), 2);
    assert_string_equal(sql_text("SELECT timezone FROM budget_templates WHERE path = 'acme/users'"),
                        "Asia/Taipei");
    sql_close();

    f = store_open(T0_MS + 1000);
    tg_budget_info users = fx_info(f, "acme/users");
    assert_true(users.has_template);
    assert_i64(users.children_max, 2);
    assert_i64(users.children, 1);
    assert_spec_equal(&users.template_spec, &tmpl);
    tg_budget_info u1 = fx_info(f, "acme/users/u1");
    assert_i64(u1.spent_micros, USD(1));
    assert_spec_equal(&u1.spec, &tmpl);
    assert_false(u1.has_template);
    fx_spend(f, "acme/users/u2", USD(1), TG_CLASS_NORMAL);
    tg_record_request r = {.budget = "acme/users/u3", .cost_micros = 1, .cls = TG_CLASS_NORMAL};
    tg_record_result out;
    tg_error err = {0};
    assert_int_equal(tg_record(f->engine, &r, f->now_ms, &out, &err), TG_ERR_FULL);
    assert_message_has(err, "children_max");
    assert_i64(fx_info(f, "acme").spent_micros, USD(2));
    assert_ok(tg_budget_template_set(f->engine, "acme/users", NULL, TG_NONE, f->now_ms, NULL));
    fx_close(f);
    assert_i64(sql_int("SELECT count(*) FROM budget_templates"), 0);
    sql_close();

    f = store_open(T0_MS + 2000);
    assert_false(fx_info(f, "acme/users").has_template);
    assert_int_equal(tg_record(f->engine, &r, f->now_ms, &out, &err), TG_ERR_NOT_FOUND);
    assert_ok(tg_budget_template_set(f->engine, "acme", &tmpl, TG_NONE, f->now_ms, NULL));
    assert_i64(fx_info(f, "acme").children_max, TG_CHILDREN_MAX_DEFAULT);
    fx_spend(f, "acme/solo", 0, TG_CLASS_NORMAL);
    assert_ok(tg_budget_delete(f->engine, "acme/solo", f->now_ms, NULL));
    fx_close(f);
    assert_i64(sql_int("SELECT count(*) FROM budget_templates"), 1);
    sql_close();
    f = store_open(T0_MS + 3000);
    assert_ok(tg_budget_delete(f->engine, "acme/users/u1", f->now_ms, NULL));
    assert_ok(tg_budget_delete(f->engine, "acme/users/u2", f->now_ms, NULL));
    assert_ok(tg_budget_delete(f->engine, "acme/users", f->now_ms, NULL));
    assert_ok(tg_budget_delete(f->engine, "acme", f->now_ms, NULL));
    fx_close(f);
    assert_i64(sql_int("SELECT count(*) FROM budget_templates"), 0);
}

/* Templates are read beside the budgets in path order (a merge, not a lookup per budget):
 * each lands on its own budget wherever it falls among budgets without one, a row whose
 * budget is gone (before, between, after every budget) is skipped, and the first call
 * after the reopen (a delete) finds budgets whose index entries waited for it. */
static void test_templates_merge_with_budgets_in_path_order(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    const char *paths[] = {"a", "a/b", "a/b/c", "a/d", "b", "b/x", "c"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        fx_put(f, paths[i], USD(100), TG_NONE, TG_WINDOW_LIFETIME);
    }
    tg_budget_spec tmpl = fx_spec(USD(3), TG_NONE, TG_WINDOW_DAY);
    const char *with[] = {"a/b/c", "b", "c"};
    for (size_t i = 0; i < sizeof with / sizeof with[0]; i++) {
        tmpl.cost_limit_micros = USD(1 + (int64_t)i);
        assert_ok(
            tg_budget_template_set(f->engine, with[i], &tmpl, 10 + (int64_t)i, f->now_ms, NULL));
    }
    fx_close(f);
    sql_exec("INSERT INTO budget_templates SELECT '0', cost_limit_micros, calls_limit, "
             "tokens_limit, window, timezone, revoke_at_micros, revoke_at_ppm, low_ceiling_micros, "
             "low_ceiling_ppm, normal_ceiling_micros, normal_ceiling_ppm, high_ceiling_micros, "
             "high_ceiling_ppm, critical_ceiling_micros, critical_ceiling_ppm, alerts_ppm, "
             "above_hold, children_max FROM budget_templates WHERE path = 'b';"
             "INSERT INTO budget_templates SELECT 'a/bb', cost_limit_micros, calls_limit, "
             "tokens_limit, window, timezone, revoke_at_micros, revoke_at_ppm, low_ceiling_micros, "
             "low_ceiling_ppm, normal_ceiling_micros, normal_ceiling_ppm, high_ceiling_micros, "
             "high_ceiling_ppm, critical_ceiling_micros, critical_ceiling_ppm, alerts_ppm, "
             "above_hold, children_max FROM budget_templates WHERE path = 'b';"
             "INSERT INTO budget_templates SELECT 'zz', cost_limit_micros, calls_limit, "
             "tokens_limit, window, timezone, revoke_at_micros, revoke_at_ppm, low_ceiling_micros, "
             "low_ceiling_ppm, normal_ceiling_micros, normal_ceiling_ppm, high_ceiling_micros, "
             "high_ceiling_ppm, critical_ceiling_micros, critical_ceiling_ppm, alerts_ppm, "
             "above_hold, children_max FROM budget_templates WHERE path = 'b'");
    sql_close();

    f = store_open(T0_MS + 1000);
    assert_ok(tg_budget_delete(f->engine, "b/x", f->now_ms, NULL)); /* the first lookup */
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        tg_budget_info info;
        tg_status status = tg_budget_get(f->engine, paths[i], f->now_ms, &info, NULL);
        if (strcmp(paths[i], "b/x") == 0) {
            assert_int_equal(status, TG_ERR_NOT_FOUND);
            continue;
        }
        assert_ok(status);
        int at = -1;
        for (int k = 0; k < 3; k++) {
            at = strcmp(paths[i], with[k]) == 0 ? k : at;
        }
        assert_int_equal(info.has_template, at >= 0);
        if (at >= 0) {
            assert_i64(info.template_spec.cost_limit_micros, USD(1 + at));
            assert_i64(info.children_max, 10 + at);
        }
    }
    tg_budget_info missing;
    assert_int_equal(tg_budget_get(f->engine, "a/bb", f->now_ms, &missing, NULL), TG_ERR_NOT_FOUND);
    fx_put(f, "a/bb", USD(5), TG_NONE, TG_WINDOW_LIFETIME); /* a new budget beside restored ones */
    assert_false(fx_info(f, "a/bb").has_template);
    fx_spend(f, "c/new-user", USD(1), TG_CLASS_NORMAL); /* made from c's template */
    assert_i64(fx_info(f, "c/new-user").spec.cost_limit_micros, USD(3));
    fx_close(f);
}

/* ---- the tables as a person reads them ---------------------------------------------------------
 */

static void test_tables_are_readable_with_sql(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    scenario s = scenario_run(f);
    assert_string_equal(sql_text("PRAGMA journal_mode"), "wal");
    assert_i64(sql_int("PRAGMA user_version"), 8);
    assert_string_equal(sql_text("SELECT above_hold FROM budgets WHERE path = 'acme'"), "charge");
    assert_string_equal(sql_text("SELECT window FROM budgets WHERE path = 'acme'"), "day");
    assert_string_equal(sql_text("SELECT timezone FROM budgets WHERE path = 'acme'"),
                        "Asia/Taipei");
    assert_string_equal(sql_text("SELECT alerts_ppm FROM budgets WHERE path = 'acme'"),
                        "500000,800000,950000");
    assert_i64(sql_int("SELECT cost_limit_micros FROM budgets WHERE path = 'acme'"), USD(1000));
    assert_i64(sql_int("SELECT revoke_at_micros FROM budgets WHERE path = 'acme'"), USD(900));
    assert_i64(sql_int("SELECT revoke_at_ppm IS NULL FROM budgets WHERE path = 'acme'"), 1);
    assert_i64(sql_int("SELECT low_ceiling_ppm FROM budgets WHERE path = 'acme'"), 500000);
    assert_i64(sql_int("SELECT normal_ceiling_micros IS NULL AND normal_ceiling_ppm IS NULL "
                       "FROM budgets WHERE path = 'acme'"),
               1);
    assert_string_equal(
        sql_text("SELECT window || ' ' || timezone || '.' FROM budgets WHERE path = "
                 "'acme/support/agent-7'"),
        "hour .");
    assert_i64(sql_int("SELECT cost_limit_micros IS NULL FROM budgets WHERE path = "
                       "'acme/support/agent-7'"),
               1);
    assert_string_equal(sql_text("SELECT window FROM budgets WHERE path = 'acme/data'"),
                        "lifetime");
    assert_i64(sql_int("SELECT frozen FROM budgets WHERE path = 'acme/data'"), 1);
    assert_i64(sql_int("SELECT spent_micros FROM budgets WHERE path = 'acme/support'"), USD(7));
    /* Deleting a budget removes its row. */
    assert_i64(sql_int("SELECT count(*) FROM budgets"), 4);
    assert_i64(sql_int("SELECT count(*) FROM budgets WHERE path = 'acme/tmp'"), 0);
    /* Charges and holds name their class in words. */
    assert_string_equal(sql_text("SELECT class || ' ' || tool || ' ' || budget FROM charges "
                                 "WHERE cost_micros = 300000000"),
                        "normal refund acme/support");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT class || ' ' || model FROM charges WHERE hold_id = %llu",
             (unsigned long long)s.h1);
    assert_string_equal(sql_text(sql), "normal model-a");
    assert_i64(sql_int("SELECT count(*) FROM charges WHERE class = 'critical'"), 1);
    snprintf(sql, sizeof sql, "SELECT class FROM holds WHERE id = %llu", (unsigned long long)s.h2);
    assert_string_equal(sql_text(sql), "low");
    snprintf(sql, sizeof sql, "SELECT cancel_requested FROM holds WHERE id = %llu",
             (unsigned long long)s.h2);
    assert_i64(sql_int(sql), 1);
    assert_i64(sql_int("SELECT count(*) FROM holds"), 3);
    /* Events and windows. */
    assert_i64(sql_int("SELECT count(*) FROM events WHERE kind = 'revoked' AND class = 'low' AND "
                       "budget = 'acme/support'"),
               1);
    assert_i64(sql_int("SELECT count(*) FROM events WHERE kind = 'budget_changed' AND detail = "
                       "'deleted' AND budget = 'acme/tmp'"),
               1);
    assert_i64(sql_int("SELECT count(*) FROM events WHERE kind = 'overrun'"), 1);
    assert_i64(sql_int("SELECT count(*) FROM windows WHERE budget = 'acme/support'"), 2);
    assert_i64(sql_int("SELECT count(*) FROM windows WHERE budget = 'acme/tmp'"), 0);
    assert_i64(sql_int("SELECT op FROM idempotency WHERE key = 'c1'"), 2);
    assert_i64(sql_int("SELECT count(*) FROM idempotency WHERE key = 'r5'"), 0);
    fx_close(f);
}

/* ---- API keys ----------------------------------------------------------------------------------
 */

static tg_api_key api_key(const char *name, unsigned char fill, const char *role, const char *scope,
                          tg_class class_max) {
    tg_api_key key;
    memset(&key, 0, sizeof key);
    snprintf(key.name, sizeof key.name, "%s", name);
    memset(key.sha256, fill, sizeof key.sha256);
    snprintf(key.role, sizeof key.role, "%s", role);
    snprintf(key.scope, sizeof key.scope, "%s", scope);
    key.class_max = class_max;
    return key;
}

typedef struct {
    tg_api_key keys[8];
    int count;
} key_list;

static bool collect_key(void *user, const tg_api_key *key) {
    key_list *list = user;
    if (list->count < 8) {
        list->keys[list->count++] = *key;
    }
    return true;
}

static key_list keys_of(fx *f) {
    key_list list;
    memset(&list, 0, sizeof list);
    assert_ok(tg_api_key_list(f->engine, collect_key, &list, NULL));
    return list;
}

static void test_api_keys_are_kept_checked_and_restored(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    tg_api_key bot = api_key("bot", 1, "agent", "acme/a", TG_CLASS_NORMAL);
    tg_api_key admin = api_key("admin-2", 2, "admin", "", TG_CLASS_CRITICAL);
    assert_ok(tg_api_key_put(f->engine, &bot, false, T0_MS, NULL));
    assert_ok(tg_api_key_put(f->engine, &admin, false, T0_MS + 1, NULL));
    /* A name or a hash is taken once; replacing needs the key to be there. */
    tg_error err;
    tg_api_key same_name = api_key("bot", 3, "read", "", TG_CLASS_NORMAL);
    tg_api_key same_hash = api_key("other", 1, "read", "", TG_CLASS_NORMAL);
    tg_api_key missing = api_key("nobody", 4, "read", "", TG_CLASS_NORMAL);
    assert_fails(tg_api_key_put(f->engine, &same_name, false, T0_MS, &err), err, TG_ERR_EXISTS);
    assert_fails(tg_api_key_put(f->engine, &same_hash, false, T0_MS, &err), err, TG_ERR_EXISTS);
    assert_fails(tg_api_key_put(f->engine, &missing, true, T0_MS, &err), err, TG_ERR_NOT_FOUND);
    /* Fields a daemon would trip on are refused. */
    const tg_api_key bad[] = {
        api_key("", 5, "agent", "", TG_CLASS_NORMAL),
        api_key("..", 5, "agent", "", TG_CLASS_NORMAL),
        api_key("a b", 5, "agent", "", TG_CLASS_NORMAL),
        api_key("x", 5, "", "", TG_CLASS_NORMAL),
        api_key("x", 5, "agent", "acme/../b", TG_CLASS_NORMAL),
        api_key("x", 5, "agent", "", TG_CLASS_AUTO),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_fails(tg_api_key_put(f->engine, &bad[i], false, T0_MS, &err), err, TG_ERR_INVALID);
    }
    assert_fails(tg_api_key_delete(f->engine, "nobody", T0_MS, &err), err, TG_ERR_NOT_FOUND);
    /* Rotating: the same name, a new hash; the old hash is free again. */
    tg_api_key rotated = api_key("bot", 9, "agent", "acme/a", TG_CLASS_HIGH);
    assert_ok(tg_api_key_put(f->engine, &rotated, true, T0_MS + 2, NULL));
    assert_ok(tg_api_key_put(f->engine, &same_hash, false, T0_MS + 3, NULL));
    assert_ok(tg_api_key_delete(f->engine, "other", T0_MS + 4, NULL));
    assert_i64(sql_int("SELECT count(*) FROM api_keys"), 2);
    assert_string_equal(sql_text("SELECT sha256 FROM api_keys WHERE name = 'bot'"),
                        "0909090909090909090909090909090909090909090909090909090909090909");
    fx_close(f);
    /* Reopened: the keys as they were, in name order. */
    f = store_open(T0_MS + 5);
    key_list list = keys_of(f);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.keys[0].name, "admin-2");
    assert_string_equal(list.keys[1].name, "bot");
    assert_memory_equal(list.keys[1].sha256, rotated.sha256, sizeof rotated.sha256);
    assert_string_equal(list.keys[1].scope, "acme/a");
    assert_int_equal(list.keys[1].class_max, TG_CLASS_HIGH);
    assert_i64(list.keys[1].created_at_ms, T0_MS + 2);
    assert_ok(tg_api_key_delete(f->engine, "bot", f->now_ms, NULL));
    assert_int_equal(keys_of(f).count, 1);
    fx_close(f);
}

/* ---- files that are refused -------------------------------------------------------------------
 */

/* A small ledger to damage: two budgets, an open hold, a keyed record. */
static void base_file(void) {
    sql_close();
    remove_db();
    fx *f = store_open(T0_MS);
    tg_budget_spec spec = fx_spec(USD(100), TG_NONE, TG_WINDOW_DAY);
    snprintf(spec.timezone, sizeof spec.timezone, "Asia/Taipei");
    spec.alerts_ppm[0] = 500000;
    spec.alerts_count = 1;
    fx_put_spec(f, "acme", &spec);
    fx_put(f, "acme/a", USD(50), TG_NONE, TG_WINDOW_DAY);
    fx_hold(f, "acme/a", USD(5), TG_CLASS_LOW);
    keyed_spend(f, "acme/a", USD(1), TG_CLASS_NORMAL, "k1");
    tg_api_key key = api_key("bot", 7, "agent", "acme/a", TG_CLASS_NORMAL);
    assert_ok(tg_api_key_put(f->engine, &key, false, f->now_ms, NULL));
    fx_close(f);
}

static void test_newer_schema_is_refused(void **state) {
    (void)state;
    base_file();
    sql_exec("PRAGMA user_version = 99");
    sql_close();
    tg_engine_options o = store_options();
    tg_error err = open_fails(&o, TG_ERR_CORRUPT);
    assert_message_has(err, "schema version 99");
    /* Nothing was changed by the refusal. */
    assert_i64(sql_int("PRAGMA user_version"), 99);
    sql_exec("PRAGMA user_version = -3");
    sql_close();
    err = open_fails(&o, TG_ERR_CORRUPT);
    assert_message_has(err, "-3");
    sql_exec("DROP TABLE budget_templates; DROP TABLE calls; DROP TABLE approvals; PRAGMA "
             "user_version = 3");
    sql_close();
    fx_close(store_open(T0_MS));
}

/* SQL that damages base_file(), and what the open must say. */
typedef struct {
    const char *sql;
    tg_status status;
    const char *message; /* a substring of the error message */
} damage;

static const damage damages[] = {
    {"UPDATE holds SET class = 'bogus'", TG_ERR_CORRUPT, "'bogus'"},
    {"UPDATE budgets SET path = substr(replace(hex(zeroblob(150)), '0', 'x'), 1, 300) WHERE "
     "path = 'acme/a'",
     TG_ERR_CORRUPT, "column path"},
    {"UPDATE budgets SET path = 'acme/a b' WHERE path = 'acme/a'", TG_ERR_CORRUPT, "acme/a b"},
    {"CREATE TEMP TABLE copy AS SELECT * FROM budgets WHERE path = 'acme/a';"
     "UPDATE copy SET path = 'ghost/child'; INSERT INTO budgets SELECT * FROM copy",
     TG_ERR_CORRUPT, "ghost/child' has no parent"},
    {"UPDATE budgets SET window = 'fortnight'", TG_ERR_CORRUPT, "fortnight"},
    {"UPDATE budgets SET spent_micros = 'lots' WHERE path = 'acme'", TG_ERR_CORRUPT,
     "spent_micros"},
    {"UPDATE budgets SET spent_micros = -5 WHERE path = 'acme'", TG_ERR_CORRUPT, "spent_micros"},
    {"UPDATE budgets SET spent_micros = 1.5 WHERE path = 'acme'", TG_ERR_CORRUPT, "spent_micros"},
    {"UPDATE budgets SET spent_micros = 9223372036854775807 WHERE path = 'acme'", TG_ERR_CORRUPT,
     "spent_micros"},
    {"UPDATE budgets SET calls_used = x'01' WHERE path = 'acme'", TG_ERR_CORRUPT, "calls_used"},
    {"UPDATE budgets SET cost_limit_micros = -7 WHERE path = 'acme'", TG_ERR_CORRUPT,
     "cost_limit_micros"},
    {"UPDATE budgets SET cost_limit_micros = 'none' WHERE path = 'acme'", TG_ERR_CORRUPT,
     "cost_limit_micros"},
    {"UPDATE budgets SET alerts_ppm = '500000,x' WHERE path = 'acme'", TG_ERR_CORRUPT,
     "alerts_ppm"},
    {"UPDATE budgets SET alerts_ppm = '1,2,3,4,5,6,7,8,9' WHERE path = 'acme'", TG_ERR_CORRUPT,
     "alerts_ppm"},
    {"UPDATE budgets SET alerts_ppm = '-500000' WHERE path = 'acme'", TG_ERR_CORRUPT, "alerts_ppm"},
    {"UPDATE budgets SET frozen = 'yes' WHERE path = 'acme'", TG_ERR_CORRUPT, "frozen"},
    {"UPDATE budgets SET revoked = 255 WHERE path = 'acme'", TG_ERR_CORRUPT, "revoked"},
    {"UPDATE budgets SET window_start_ms = -9223372036854775808 WHERE path = 'acme'",
     TG_ERR_CORRUPT, "window_start_ms"},
    {"UPDATE budgets SET window_end_ms = window_start_ms WHERE path = 'acme'", TG_ERR_CORRUPT,
     "acme"},
    {"UPDATE budgets SET revoke_at_micros = 1, revoke_at_ppm = 1 WHERE path = 'acme'",
     TG_ERR_CORRUPT, "acme"},
    {"UPDATE budgets SET revoke_at_ppm = 1000001 WHERE path = 'acme'", TG_ERR_CORRUPT,
     "revoke_at_ppm"},
    {"UPDATE budgets SET timezone = 'Mars/Olympus_Mons' WHERE path = 'acme'", TG_ERR_TZ,
     "Mars/Olympus_Mons"},
    {"UPDATE holds SET budget = 'nowhere'", TG_ERR_CORRUPT, "hold"},
    {"UPDATE holds SET amount_micros = -1", TG_ERR_CORRUPT, "amount_micros"},
    {"UPDATE holds SET tokens = 'many'", TG_ERR_CORRUPT, "tokens"},
    {"UPDATE holds SET id = 0", TG_ERR_CORRUPT, "column id"},
    {"UPDATE holds SET cancel_requested = 2", TG_ERR_CORRUPT, "cancel_requested"},
    {"UPDATE holds SET tool = CAST(x'666f6f00626172' AS TEXT)", TG_ERR_CORRUPT, "tool"},
    /* Ten thousand holds of the largest amount: their sum would overflow the counters. */
    {"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
     "INSERT INTO holds SELECT 1000 + i, 'acme/a', 1000000000000000, 0, 'low', '', '', 0, "
     "4102444800000, 0 FROM n",
     TG_ERR_CORRUPT, "hold"},
    {"UPDATE budgets SET above_hold = 'refuse' WHERE path = 'acme'", TG_ERR_CORRUPT, "above_hold"},
    {"UPDATE idempotency SET capped = 2", TG_ERR_CORRUPT, "column capped"},
    {"UPDATE idempotency SET op = 9", TG_ERR_CORRUPT, "column op"},
    {"UPDATE idempotency SET class = 7", TG_ERR_CORRUPT, "column class"},
    {"UPDATE idempotency SET key = NULL", TG_ERR_CORRUPT, "column key"},
    {"UPDATE meta SET value = 0 WHERE name = 'next_hold_id'", TG_ERR_CORRUPT, "next_hold_id"},
    {"UPDATE meta SET value = 'x' WHERE name = 'next_event_id'", TG_ERR_CORRUPT, "next_event_id"},
    {"UPDATE api_keys SET sha256 = 'not hex'", TG_ERR_CORRUPT, "column sha256"},
    {"UPDATE api_keys SET class_max = 'supreme'", TG_ERR_CORRUPT, "column class_max"},
    {"UPDATE api_keys SET scope = 'acme/../x'", TG_ERR_CORRUPT, "API key 'bot'"},
    {"INSERT INTO api_keys SELECT 'bot2', replace(sha256, '0', 'A'), role, scope, class_max, "
     "created_at_ms FROM api_keys",
     TG_ERR_CORRUPT, "column sha256"},
    {"DROP TABLE holds", TG_ERR_CORRUPT, "holds"},
    {"ALTER TABLE charges DROP COLUMN held_micros", TG_ERR_CORRUPT, "charges"},
};

/* What a refused open must leave as it was. */
#define FINGERPRINT_SQL                                                                            \
    "SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM charges) || '/' || "     \
    "(SELECT group_concat(name || '=' || value) FROM meta) || '/' || (SELECT count(*) FROM "       \
    "budgets) || '/' || (SELECT count(*) FROM idempotency) || '/' || (SELECT count(*) FROM "       \
    "api_keys)"

static void test_damaged_rows_are_refused(void **state) {
    (void)state;
    tg_engine_options o = store_options();
    for (size_t i = 0; i < sizeof damages / sizeof damages[0]; i++) {
        base_file();
        sql_exec(damages[i].sql);
        char before[512];
        snprintf(before, sizeof before, "%s", sql_text(FINGERPRINT_SQL));
        sql_close();
        tg_error err = open_fails(&o, damages[i].status);
        assert_string_equal(sql_text(FINGERPRINT_SQL), before);
        sql_close();
        if (strstr(err.message, damages[i].message) == NULL) {
            print_error("after \"%s\": message \"%s\" does not mention \"%s\"\n", damages[i].sql,
                        err.message, damages[i].message);
            fail();
        }
    }
}

static void test_a_file_that_is_not_a_database_is_refused(void **state) {
    (void)state;
    FILE *file = fopen(test_db, "w");
    assert_non_null(file);
    for (int i = 0; i < 200; i++) {
        fputs("this is a shopping list, not a ledger\n", file);
    }
    fclose(file);
    tg_engine_options o = store_options();
    tg_error err = open_fails(&o, TG_ERR_CORRUPT);
    assert_message_has(err, test_db);
}

/* Another program's SQLite file is neither migrated nor written. */
static void test_another_programs_database_is_left_alone(void **state) {
    (void)state;
    sql_exec("CREATE TABLE recipes (name TEXT, minutes INTEGER);"
             "INSERT INTO recipes VALUES ('soup', 40)");
    sql_close();
    tg_engine_options o = store_options();
    tg_error err = open_fails(&o, TG_ERR_CORRUPT);
    assert_message_has(err, "another program");
    assert_i64(sql_int("SELECT count(*) FROM sqlite_master"), 1);
    assert_i64(sql_int("PRAGMA user_version"), 0);
}

static void test_a_folder_that_cannot_hold_the_file_is_io(void **state) {
    (void)state;
    tg_engine_options o = store_options();
    char path[256];
    o.path = path;
    snprintf(path, sizeof path, "%s/no/such/folder/ledger.db", test_dir);
    tg_error err = open_fails(&o, TG_ERR_IO);
    assert_message_has(err, path);
    /* A file where a folder should be. */
    char file[200];
    snprintf(file, sizeof file, "%s/plain-file", test_dir);
    FILE *plain = fopen(file, "w");
    assert_non_null(plain);
    fclose(plain);
    snprintf(path, sizeof path, "%s/ledger.db", file);
    open_fails(&o, TG_ERR_IO);
    /* A folder where the file should be. */
    o.path = test_dir;
    open_fails(&o, TG_ERR_IO);
    /* A folder without write permission (root writes anyway, so only as a user). */
    if (geteuid() != 0) {
        char locked[200];
        snprintf(locked, sizeof locked, "%s/locked", test_dir);
        assert_int_equal(mkdir(locked, 0500), 0);
        snprintf(path, sizeof path, "%s/ledger.db", locked);
        o.path = path;
        open_fails(&o, TG_ERR_IO);
    }
    /* No path at all. */
    o.path = NULL;
    open_fails(&o, TG_ERR_INVALID);
}

/* ---- a store that fails while running ---------------------------------------------------------
 */

static void test_failed_write_stops_the_engine_until_reopened(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    fx_spend(f, "acme", USD(1), TG_CLASS_NORMAL);
    /* A person makes the charges table refuse new rows. */
    sql_exec("CREATE TRIGGER no_charges BEFORE INSERT ON charges BEGIN "
             "SELECT RAISE(ABORT, 'charges are closed for audit'); END");
    tg_record_request r = fx_record_request("acme", USD(2), TG_CLASS_NORMAL, false);
    tg_record_result out;
    tg_error err = {0};
    assert_status(tg_record(f->engine, &r, f->now_ms, &out, &err), TG_ERR_IO);
    assert_message_has(err, "charges are closed for audit");
    /* Every later mutation is refused, even one that writes no charge. */
    tg_reserve_request hold = fx_reserve_request("acme", USD(1), TG_CLASS_NORMAL);
    tg_reserve_result held;
    assert_status(tg_reserve(f->engine, &hold, f->now_ms, &held, NULL), TG_ERR_IO);
    assert_status(tg_budget_freeze(f->engine, "acme", true, f->now_ms, NULL), TG_ERR_IO);
    assert_status(tg_engine_sync(f->engine, NULL), TG_ERR_IO);
    fx_close(f);
    sql_exec("DROP TRIGGER no_charges");
    /* Reopening replays the last durable state: the failed record is not there. */
    f = store_open(T0_MS);
    assert_i64(fx_info(f, "acme").spent_micros, USD(1));
    assert_i64(fx_info(f, "acme").calls_used, 1);
    assert_false(fx_info(f, "acme").frozen);
    fx_spend(f, "acme", USD(2), TG_CLASS_NORMAL);
    assert_i64(sql_int("SELECT count(*) FROM charges"), 2);
    fx_close(f);
}

/* A meta row behind its table (restored from an older copy) must not make writes collide. */
static void test_counters_never_go_below_the_largest_id(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    fx_spend(f, "acme", USD(1), TG_CLASS_NORMAL);
    fx_spend(f, "acme", USD(1), TG_CLASS_NORMAL);
    fx_close(f);
    int64_t charge_max = sql_int("SELECT max(id) FROM charges");
    sql_exec("UPDATE meta SET value = 1 WHERE name IN ('next_charge_id', 'next_event_id')");
    f = store_open(T0_MS);
    fx_spend(f, "acme", USD(1), TG_CLASS_NORMAL);
    assert_i64(sql_int("SELECT max(id) FROM charges"), charge_max + 1);
    assert_i64(fx_info(f, "acme").spent_micros, USD(3));
    fx_close(f);
}

/* ---- a ledger above its limits -------------------------------------------------------------- */

/*
 * An overrun left `acme` above its limit (a commit above its hold) and `acme/b`
 * too (a forced record), and `acme/b` caps agents' commits. Reopening the file
 * must succeed into the same locked state (the lock is derived from spend and
 * limit, not stored), and putting the same specs again must change and report
 * nothing: that is what a daemon does at every restart and SIGHUP.
 */
static void test_an_overrun_ledger_reopens_locked(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    fx_put(f, "acme", USD(100), USD(80), TG_WINDOW_DAY);
    tg_budget_spec capped_spec = fx_spec(USD(10), TG_NONE, TG_WINDOW_DAY);
    capped_spec.above_hold = TG_ABOVE_HOLD_CAP;
    fx_put(f, "acme/a", TG_NONE, TG_NONE, TG_WINDOW_DAY);
    fx_put_spec(f, "acme/b", &capped_spec);
    uint64_t capped_hold = fx_hold(f, "acme/b", USD(2), TG_CLASS_NORMAL);
    tg_commit_request agent = {.hold_id = capped_hold,
                               .actual_micros = USD(9),
                               .idempotency_key = "agent-commit",
                               .agent_reported = true};
    tg_commit_result first;
    assert_ok(tg_commit(f->engine, &agent, f->now_ms, &first, NULL));
    assert_true(first.capped);
    uint64_t hold = fx_hold(f, "acme/a", USD(50), TG_CLASS_CRITICAL);
    fx_commit(f, hold, USD(120)); /* acme: 122 of 100 */
    /* acme: 132 of 100, acme/b: 12 of 10 */
    assert_true(fx_record(f, "acme/b", USD(10), TG_CLASS_LOW, true).charged);
    tg_budget_info before[3] = {fx_info(f, "acme"), fx_info(f, "acme/a"), fx_info(f, "acme/b")};
    assert_true(before[0].locked && !before[1].locked && before[2].locked);
    tg_budget_spec specs[3] = {before[0].spec, before[1].spec, before[2].spec};
    fx_close(f);

    f = store_open(T0_MS + HOUR_MS);
    const char *paths[3] = {"acme", "acme/a", "acme/b"};
    for (int i = 0; i < 3; i++) {
        fx_put_spec(f, paths[i], &specs[i]); /* the same config again */
        tg_budget_info after = fx_info(f, paths[i]);
        assert_info_equal(&after, &before[i]);
    }
    assert_i64(f->events_count, 0); /* nothing changed, nothing reported */
    tg_reserve_result out = fx_reserve(f, "acme/a", 0, TG_CLASS_CRITICAL);
    assert_refusal(out.refusal, TG_REASON_OVERRUN, "acme", 0, 23 * HOUR_MS);
    tg_commit_result again;
    assert_ok(tg_commit(f->engine, &agent, f->now_ms, &again, NULL));
    assert_true(again.replayed && again.capped);
    assert_i64(again.charged_micros, USD(2));
    assert_i64(again.overrun_micros, USD(7));
    assert_i64(again.charge_id, first.charge_id);
    /* Raised to the spend: unlocked (critical is still revoked, being at its ceiling). */
    specs[0].cost_limit_micros = USD(132);
    fx_put_spec(f, "acme", &specs[0]);
    assert_false(fx_info(f, "acme").locked);
    assert_i64(fx_reserve(f, "acme/a", 0, TG_CLASS_CRITICAL).refusal.reason, TG_REASON_REVOKED);
    fx_close(f);
    assert_i64(sql_int("SELECT spent_micros FROM budgets WHERE path = 'acme'"), USD(132));
    assert_string_equal(sql_text("SELECT above_hold FROM budgets WHERE path = 'acme/b'"), "cap");
    assert_i64(sql_int("SELECT capped FROM idempotency WHERE key = 'agent-commit'"), 1);
}

/* A file written before above_hold, capped and api_keys existed (schema version 1) is
 * migrated: its budgets charge in full, its remembered commits were not capped, it has
 * no keys made over the API. */
static void test_a_version_1_file_is_migrated(void **state) {
    (void)state;
    base_file();
    sql_exec("ALTER TABLE budgets DROP COLUMN above_hold; ALTER TABLE idempotency DROP COLUMN "
             "capped; DROP TABLE api_keys; DROP TABLE budget_templates; DROP TABLE calls;"
             "DROP TABLE approvals; PRAGMA user_version = 1");
    sql_close();
    fx *f = store_open(T0_MS);
    assert_i64(fx_info(f, "acme").spec.above_hold, TG_ABOVE_HOLD_CHARGE);
    tg_record_result out;
    assert_ok(keyed_record(f, "acme/a", USD(1), TG_CLASS_NORMAL, "k1", &out));
    assert_true(out.replayed);
    fx_close(f);
    assert_i64(sql_int("PRAGMA user_version"), 8);
    assert_i64(sql_int("SELECT count(*) FROM api_keys"), 0);
    assert_string_equal(sql_text("SELECT group_concat(above_hold) FROM budgets"), "charge,charge");
    assert_i64(sql_int("SELECT count(*) FROM idempotency WHERE capped = 0"), 1);
}

/* A version 3 file keeps its budgets in a rowid table with a separate path index; step 4
 * moves them into a table ordered by path (WITHOUT ROWID) with every column intact, and
 * the ledger opens with the same spend, holds and specs. */
static void test_a_version_3_file_gets_budgets_in_path_order(void **state) {
    (void)state;
    base_file();
    sql_exec("CREATE TABLE budgets_rowid AS SELECT * FROM budgets; DROP TABLE budgets;"
             "ALTER TABLE budgets_rowid RENAME TO budgets; DROP TABLE budget_templates;"
             "DROP TABLE calls; DROP TABLE approvals; PRAGMA user_version = 3");
    assert_i64(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'budgets' AND "
                       "sql LIKE '%WITHOUT ROWID%'"),
               0);
    sql_close();
    fx *f = store_open(T0_MS);
    tg_budget_info acme = fx_info(f, "acme");
    assert_string_equal(acme.spec.timezone, "Asia/Taipei");
    assert_int_equal(acme.spec.alerts_count, 1);
    assert_i64(acme.spec.alerts_ppm[0], 500000);
    assert_i64(fx_info(f, "acme/a").held_micros, USD(5));
    assert_i64(fx_info(f, "acme/a").spent_micros, USD(1));
    fx_close(f);
    assert_i64(sql_int("PRAGMA user_version"), 8);
    assert_i64(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'budgets' AND "
                       "sql LIKE '%WITHOUT ROWID%'"),
               1);
    assert_string_equal(sql_text("SELECT group_concat(path) FROM budgets"), "acme,acme/a");
    assert_i64(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'budgets_by_path'"), 0);
}

/* A version 7 file keeps meta in a rowid table with an index on the name (two b-trees, two
 * pages of every commit); step 8 keeps it by name (WITHOUT ROWID) with every counter, and a
 * hand-made row without a name, which no counter ever read, is left behind. The ids go on
 * from where they were: a hold and a charge after the migration do not reuse one. */
static void test_a_version_7_file_gets_meta_by_name(void **state) {
    (void)state;
    base_file();
    int64_t next_hold = sql_int("SELECT value FROM meta WHERE name = 'next_hold_id'");
    int64_t next_charge = sql_int("SELECT value FROM meta WHERE name = 'next_charge_id'");
    sql_exec("CREATE TABLE meta_rowid (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
             "INSERT INTO meta_rowid SELECT * FROM meta; DROP TABLE meta;"
             "ALTER TABLE meta_rowid RENAME TO meta; INSERT INTO meta VALUES (NULL, 5);"
             "PRAGMA user_version = 7");
    assert_i64(sql_int("SELECT count(*) FROM meta"), 4);
    sql_close();
    fx *f = store_open(T0_MS);
    uint64_t hold = fx_hold(f, "acme/a", USD(2), TG_CLASS_LOW);
    fx_spend(f, "acme/a", USD(1), TG_CLASS_NORMAL);
    fx_close(f);
    assert_i64(sql_int("PRAGMA user_version"), 8);
    assert_i64(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'meta' AND "
                       "sql LIKE '%WITHOUT ROWID%'"),
               1);
    assert_i64(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'meta_by_name'"), 0);
    assert_i64(sql_int("SELECT count(*) FROM meta WHERE name IS NULL"), 0);
    assert_i64((int64_t)hold, next_hold);
    assert_i64(sql_int("SELECT max(id) FROM charges"), next_charge);
    assert_i64(sql_int("SELECT value FROM meta WHERE name = 'next_hold_id'"), next_hold + 1);
    assert_i64(sql_int("SELECT value FROM meta WHERE name = 'next_charge_id'"), next_charge + 1);
}

/* ---- durability modes -------------------------------------------------------------------------
 */

static void test_batch_is_written_at_its_end(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    tg_engine_batch_begin(f->engine);
    fx_spend(f, "acme", USD(1), TG_CLASS_NORMAL);
    fx_spend(f, "acme", USD(2), TG_CLASS_NORMAL);
    uint64_t hold = fx_hold(f, "acme", USD(3), TG_CLASS_NORMAL);
    assert_i64(sql_int("SELECT count(*) FROM charges"), 0);
    assert_i64(sql_int("SELECT count(*) FROM holds"), 0);
    assert_ok(tg_engine_batch_end(f->engine, NULL));
    assert_i64(sql_int("SELECT count(*) FROM charges"), 2);
    assert_i64(sql_int("SELECT spent_micros FROM budgets WHERE path = 'acme'"), USD(3));
    assert_i64(sql_int("SELECT amount_micros FROM holds"), USD(3));
    fx_release(f, hold);
    assert_i64(sql_int("SELECT count(*) FROM holds"), 0);
    fx_close(f);
}

/* A budget whose window closes and which is deleted in the same batch leaves no history;
 * one created again at the same path keeps only its own. */
static void test_delete_in_a_batch_takes_the_windows_along(void **state) {
    (void)state;
    fx *f = store_open(T0_MS);
    fx_put(f, "acme", TG_NONE, TG_NONE, TG_WINDOW_LIFETIME);
    fx_put(f, "acme/old", USD(10), TG_NONE, TG_WINDOW_HOUR);
    fx_put(f, "acme/again", USD(10), TG_NONE, TG_WINDOW_HOUR);
    fx_spend(f, "acme/old", USD(1), TG_CLASS_NORMAL);
    fx_spend(f, "acme/again", USD(1), TG_CLASS_NORMAL);
    f->now_ms = T0_MS + HOUR_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL)); /* on disk: one window each */
    assert_i64(sql_int("SELECT count(*) FROM windows"), 2);
    tg_engine_batch_begin(f->engine);
    f->now_ms = T0_MS + 2 * HOUR_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL)); /* a second window each */
    assert_ok(tg_budget_delete(f->engine, "acme/old", f->now_ms, NULL));
    assert_ok(tg_budget_delete(f->engine, "acme/again", f->now_ms, NULL));
    fx_put(f, "acme/again", USD(10), TG_NONE, TG_WINDOW_HOUR);
    fx_spend(f, "acme/again", USD(4), TG_CLASS_NORMAL);
    f->now_ms = T0_MS + 3 * HOUR_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL)); /* the new budget's first window */
    assert_ok(tg_engine_batch_end(f->engine, NULL));
    assert_i64(sql_int("SELECT count(*) FROM windows WHERE budget = 'acme/old'"), 0);
    assert_i64(sql_int("SELECT count(*) FROM windows WHERE budget = 'acme/again'"), 1);
    tg_window_record windows[4];
    size_t count = 0;
    assert_ok(tg_budget_history(f->engine, "acme/again", windows, 4, &count, NULL));
    assert_int_equal(count, 1);
    assert_i64(windows[0].window_start_ms, T0_MS + 2 * HOUR_MS);
    assert_i64(windows[0].spent_micros, USD(4));
    fx_close(f);
}

static void test_relaxed_is_on_disk_after_sync(void **state) {
    (void)state;
    tg_engine_options o = store_options();
    o.durability = TG_DURABILITY_RELAXED;
    o.sync_interval_ms = 60000;
    fx *f = store_open_with(&o, T0_MS);
    fx_put(f, "acme", USD(100), TG_NONE, TG_WINDOW_DAY);
    fx_spend(f, "acme", USD(5), TG_CLASS_NORMAL);
    /* Acknowledged, not yet written: the interval has not passed. */
    assert_i64(sql_int("SELECT count(*) FROM budgets"), 0);
    assert_ok(tg_engine_sync(f->engine, NULL));
    assert_i64(sql_int("SELECT spent_micros FROM budgets WHERE path = 'acme'"), USD(5));
    assert_i64(sql_int("SELECT count(*) FROM charges"), 1);
    /* The interval passing writes too, on the next tick. */
    f->now_ms += SECOND_MS;
    uint64_t hold = fx_hold(f, "acme", USD(2), TG_CLASS_NORMAL);
    assert_i64(sql_int("SELECT count(*) FROM holds"), 0);
    f->now_ms += 60 * SECOND_MS;
    assert_ok(tg_engine_tick(f->engine, f->now_ms, NULL));
    assert_i64(sql_int("SELECT count(*) FROM holds"), 1);
    fx_close(f);
    sql_close();

    /* A process that syncs and then dies without closing loses nothing it synced. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        tg_engine *engine = NULL;
        tg_engine_options co = o;
        int64_t now_ms = T0_MS + 2 * MINUTE_MS;
        tg_record_request r = fx_record_request("acme", USD(7), TG_CLASS_NORMAL, false);
        tg_record_result out;
        tg_reserve_request h = fx_reserve_request("acme", USD(3), TG_CLASS_HIGH);
        tg_reserve_result held;
        bool ok = tg_engine_open(&co, now_ms, &engine, NULL) == TG_OK &&
                  tg_record(engine, &r, now_ms, &out, NULL) == TG_OK && out.charged &&
                  tg_reserve(engine, &h, now_ms, &held, NULL) == TG_OK && held.granted &&
                  tg_engine_sync(engine, NULL) == TG_OK;
        _exit(ok ? 0 : 1); /* no close: the process just ends */
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    f = store_open_with(&o, T0_MS + 3 * MINUTE_MS);
    tg_budget_info info = fx_info(f, "acme");
    assert_i64(info.spent_micros, USD(12));
    assert_i64(info.held_micros, USD(5));
    assert_true(fx_hold_open(f, hold));
    fx_close(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        store_test(test_reopen_restores_budgets_and_holds),
        store_test(test_reopen_replays_idempotent_answers),
        store_test(test_history_is_newest_first),
        store_test(test_templates_merge_with_budgets_in_path_order),
        store_test(test_tables_are_readable_with_sql),
        store_test(test_newer_schema_is_refused),
        store_test(test_damaged_rows_are_refused),
        store_test(test_api_keys_are_kept_checked_and_restored),
        store_test(test_a_file_that_is_not_a_database_is_refused),
        store_test(test_another_programs_database_is_left_alone),
        store_test(test_a_folder_that_cannot_hold_the_file_is_io),
        store_test(test_failed_write_stops_the_engine_until_reopened),
        store_test(test_counters_never_go_below_the_largest_id),
        store_test(test_an_overrun_ledger_reopens_locked),
        store_test(test_a_version_1_file_is_migrated),
        store_test(test_a_version_3_file_gets_budgets_in_path_order),
        store_test(test_a_version_7_file_gets_meta_by_name),
        store_test(test_templates_and_their_children_survive_a_reopen),
        store_test(test_batch_is_written_at_its_end),
        store_test(test_delete_in_a_batch_takes_the_windows_along),
        store_test(test_relaxed_is_on_disk_after_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
