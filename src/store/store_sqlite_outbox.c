/*
 * store_sqlite_outbox: the notify sender's connection: reading the events table and
 * keeping delivery state beside it (the tables and why they look so are described in
 * store_outbox.h; they are created in store_sqlite_notify.c). Every statement is
 * prepared once; every read is one statement, reset at once, so this
 * connection never holds a read snapshot that would stop the WAL from being
 * checkpointed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/path.h"
#include "core/buf.h"
#include "store/store_outbox.h"
#include "store/store_sqlite_reader.h"

#define BUSY_TRIES 8     /* waits for a lock the engine holds ... */
#define BUSY_WAIT_US 250 /* ... of this long each: 2 ms at most, then "busy, try later" */

enum {
    SQL_READ,
    SQL_SINK_GET,
    SQL_SINK_PUT,
    SQL_SENT_LIST,
    SQL_SENT_PUT,
    SQL_SENT_TRIM,
    SQL_DEAD_PUT,
    SQL_DELIVERED,
    SQL_BACKFILL,
    SQL_COUNT
};

static const char *const statements_sql[SQL_COUNT] = {
    [SQL_READ] =
        "SELECT " TG__SQLITE_EVENT_COLUMNS " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    [SQL_SINK_GET] = "SELECT done_through_id FROM notify_sinks WHERE name = ?1",
    [SQL_SINK_PUT] = "INSERT OR REPLACE INTO notify_sinks VALUES (?1, ?2, ?3)",
    [SQL_SENT_LIST] = "SELECT event_id FROM notify_sent WHERE sink = ?1 AND event_id > ?2"
                      " ORDER BY event_id",
    [SQL_SENT_PUT] = "INSERT OR IGNORE INTO notify_sent VALUES (?1, ?2)",
    [SQL_SENT_TRIM] = "DELETE FROM notify_sent WHERE sink = ?1 AND event_id <= ?2",
    [SQL_DEAD_PUT] = "INSERT OR REPLACE INTO notify_dead VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQL_DELIVERED] = "UPDATE events SET delivered_at_ms = ?1 WHERE id > ?2 AND id <= ?3"
                      " AND delivered_at_ms IS NULL"
                      " AND id NOT IN (SELECT event_id FROM notify_dead)",
    [SQL_BACKFILL] = "SELECT coalesce(max(id), 0) FROM events WHERE time_ms < ?1",
};

struct tg__outbox {
    sqlite3 *db;                         /* this thread's connection */
    sqlite3_stmt *statements[SQL_COUNT]; /* prepared at open */
};

static tg_status fail(tg__outbox *outbox, tg_error *err, const char *doing) {
    return tg__fail(err, tg__sqlite_status(outbox->db), "notify outbox: %s while %s",
                    outbox->db ? sqlite3_errmsg(outbox->db) : "out of memory", doing);
}

void tg__outbox_close(tg__outbox *outbox) {
    if (outbox == NULL) {
        return;
    }
    for (int i = 0; i < SQL_COUNT; i++) {
        sqlite3_finalize(outbox->statements[i]);
    }
    sqlite3_close(outbox->db);
    free(outbox);
}

/*
 * The engine's commit holds the write lock through its fsync. SQLite's own busy handler
 * would sleep 1, 2, 5, 10 ... ms and stall the sender's deliveries behind it; this one
 * polls briefly, then lets the caller try again on its next turn.
 */
static int busy(void *user, int tries) {
    (void)user;
    if (tries >= BUSY_TRIES) {
        return 0;
    }
    usleep(BUSY_WAIT_US);
    return 1;
}

/* WAL is what lets this connection read while the engine writes: refuse to run without it. */
static bool in_wal_mode(sqlite3 *db) {
    sqlite3_stmt *statement = NULL;
    bool wal = sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, NULL) == SQLITE_OK &&
               sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0) != NULL &&
               strcmp((const char *)sqlite3_column_text(statement, 0), "wal") == 0;
    sqlite3_finalize(statement);
    return wal;
}

static tg_status prepare(tg__outbox *outbox, tg_error *err) {
    /* No fsync of our own (see store_outbox.h), and no checkpoints: the engine's connection does
     * them, so this thread never competes with a commit for the disk. */
    if (sqlite3_exec(outbox->db, "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0", NULL,
                     NULL, NULL) != SQLITE_OK) {
        return fail(outbox, err, "setting synchronous=NORMAL");
    }
    if (!in_wal_mode(outbox->db)) {
        return tg__fail(err, TG_ERR_CORRUPT,
                        "notify outbox: the store file is not in WAL mode (not a Tollgate store?)");
    }
    /* The store made them at open; a file this Tollgate's engine has not opened yet may lack
     * them (store_sqlite_notify.c). */
    tg_error tables_err = {0};
    tg_status status = tg__sqlite_notify_tables(outbox->db, &tables_err);
    if (status != TG_OK) {
        return tg__fail(err, status, "notify outbox: %s", tables_err.message);
    }
    for (int i = 0; i < SQL_COUNT; i++) {
        if (sqlite3_prepare_v3(outbox->db, statements_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &outbox->statements[i], NULL) != SQLITE_OK) {
            /* Most likely no events table: the file is not (yet) a Tollgate store. */
            tg__fail(err, TG_ERR_CORRUPT, "notify outbox: %s (is this a Tollgate store?)",
                     sqlite3_errmsg(outbox->db));
            return TG_ERR_CORRUPT;
        }
    }
    return TG_OK;
}

tg_status tg__outbox_open(const char *path, tg__outbox **out, tg_error *err) {
    tg__outbox *outbox = calloc(1, sizeof *outbox);
    if (outbox == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "notify outbox: out of memory");
    }
    /* No CREATE: the engine makes the file; a wrong path must not leave an empty one behind. */
    tg_status status = TG_OK;
    if (sqlite3_open_v2(path, &outbox->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        status = fail(outbox, err, "opening the store file");
    } else {
        sqlite3_busy_timeout(outbox->db, 5000); /* at open: wait for the engine's migration */
        status = prepare(outbox, err);
        sqlite3_busy_handler(outbox->db, busy, NULL);
    }
    if (status != TG_OK) {
        tg__outbox_close(outbox);
        return status;
    }
    *out = outbox;
    return TG_OK;
}

/* ---- reading events ------------------------------------------------------------------ */

tg_status tg__outbox_read(tg__outbox *outbox, uint64_t after_id, tg_event *out, size_t max,
                          size_t *count_out, tg_error *err) {
    sqlite3_stmt *s = outbox->statements[SQL_READ];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
    size_t count = 0;
    int rc = SQLITE_DONE;
    while (count < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        /* A kind this Tollgate does not know (a newer file): skipped, not fatal. */
        if (tg__sqlite_event_decode(s, &out[count])) {
            count++;
        }
    }
    bool ok = count == max || rc == SQLITE_DONE;
    tg_status status = ok ? TG_OK : fail(outbox, err, "reading events");
    sqlite3_reset(s);
    if (status == TG_OK) {
        *count_out = count;
    }
    return status;
}

/* ---- sink progress -------------------------------------------------------------------- */

static tg_status load_sent(tg__outbox *outbox, const char *sink, uint64_t done_through,
                           uint64_t **sent_out, size_t *sent_count_out, tg_error *err) {
    sqlite3_stmt *s = outbox->statements[SQL_SENT_LIST];
    sqlite3_bind_text(s, 1, sink, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)done_through);
    tg__buf ids; /* uint64_t ids, bytes from malloc: aligned for them */
    tg__buf_init(&ids, TG__OUTBOX_SENT_MAX * sizeof(uint64_t));
    int rc = SQLITE_DONE;
    tg_status status = TG_OK;
    while (status == TG_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
        status = tg__buf_append(&ids, &id, sizeof id);
    }
    if (status == TG_ERR_FULL) {
        status = tg__fail(err, TG_ERR_CORRUPT,
                          "notify outbox: sink '%s' has more than %d events finished out of order",
                          sink, TG__OUTBOX_SENT_MAX);
    } else if (status != TG_OK) {
        status = tg__fail(err, status, "notify outbox: out of memory");
    } else if (rc != SQLITE_DONE) {
        status = fail(outbox, err, "reading a sink's progress");
    }
    sqlite3_reset(s);
    if (status != TG_OK) {
        tg__buf_free(&ids);
        return status;
    }
    *sent_out = (uint64_t *)(void *)ids.data;
    *sent_count_out = ids.size / sizeof(uint64_t);
    return TG_OK;
}

static tg_status single_int(tg__outbox *outbox, int which, const char *text, int64_t number,
                            bool *found, int64_t *value, tg_error *err) {
    sqlite3_stmt *s = outbox->statements[which];
    if (text != NULL) {
        sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(s, 1, number);
    }
    int rc = sqlite3_step(s);
    *found = rc == SQLITE_ROW;
    if (*found) {
        *value = sqlite3_column_int64(s, 0);
    }
    tg_status status =
        rc == SQLITE_ROW || rc == SQLITE_DONE ? TG_OK : fail(outbox, err, "reading progress");
    sqlite3_reset(s);
    return status;
}

tg_status tg__outbox_sink_load(tg__outbox *outbox, const char *sink, int64_t backfill_from_ms,
                               uint64_t *done_through_out, uint64_t **sent_out,
                               size_t *sent_count_out, tg_error *err) {
    bool found = false;
    int64_t done_through = 0;
    tg_status status = single_int(outbox, SQL_SINK_GET, sink, 0, &found, &done_through, err);
    if (status == TG_OK && !found) {
        status =
            single_int(outbox, SQL_BACKFILL, NULL, backfill_from_ms, &found, &done_through, err);
    }
    if (status != TG_OK) {
        return status;
    }
    if (done_through < 0) {
        return tg__fail(err, TG_ERR_CORRUPT, "notify outbox: sink '%s' has a negative position",
                        sink);
    }
    status = load_sent(outbox, sink, (uint64_t)done_through, sent_out, sent_count_out, err);
    if (status == TG_OK) {
        *done_through_out = (uint64_t)done_through;
    }
    return status;
}

/* ---- saving ------------------------------------------------------------------------------ */

static bool run(sqlite3_stmt *statement) {
    int rc = sqlite3_step(statement);
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    return rc == SQLITE_DONE;
}

static bool save_progress(tg__outbox *outbox, const tg__outbox_progress *p, int64_t now_ms) {
    sqlite3_stmt *put = outbox->statements[SQL_SINK_PUT];
    sqlite3_bind_text(put, 1, p->sink, -1, SQLITE_STATIC);
    sqlite3_bind_int64(put, 2, (sqlite3_int64)p->done_through);
    sqlite3_bind_int64(put, 3, now_ms);
    sqlite3_stmt *trim = outbox->statements[SQL_SENT_TRIM];
    sqlite3_bind_text(trim, 1, p->sink, -1, SQLITE_STATIC);
    sqlite3_bind_int64(trim, 2, (sqlite3_int64)p->done_through);
    if (!run(put) || !run(trim)) {
        return false;
    }
    sqlite3_stmt *sent = outbox->statements[SQL_SENT_PUT];
    for (size_t i = 0; i < p->sent_count; i++) {
        sqlite3_bind_text(sent, 1, p->sink, -1, SQLITE_STATIC);
        sqlite3_bind_int64(sent, 2, (sqlite3_int64)p->sent[i]);
        if (!run(sent)) {
            return false;
        }
    }
    return true;
}

static bool save_dead(tg__outbox *outbox, const tg__outbox_dead *dead, int64_t now_ms) {
    sqlite3_stmt *s = outbox->statements[SQL_DEAD_PUT];
    sqlite3_bind_text(s, 1, dead->sink, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)dead->event_id);
    sqlite3_bind_int64(s, 3, now_ms);
    sqlite3_bind_int64(s, 4, dead->attempts);
    sqlite3_bind_text(s, 5, dead->error, -1, SQLITE_STATIC);
    return run(s);
}

static bool save_rows(tg__outbox *outbox, const tg__outbox_progress *progress, size_t count,
                      const tg__outbox_dead *dead, size_t dead_count, uint64_t delivered_after,
                      uint64_t delivered_through, int64_t now_ms) {
    for (size_t i = 0; i < count; i++) {
        if (!save_progress(outbox, &progress[i], now_ms)) {
            return false;
        }
    }
    for (size_t i = 0; i < dead_count; i++) {
        if (!save_dead(outbox, &dead[i], now_ms)) {
            return false;
        }
    }
    if (delivered_through > delivered_after) {
        sqlite3_stmt *s = outbox->statements[SQL_DELIVERED];
        sqlite3_bind_int64(s, 1, now_ms);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)delivered_after);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)delivered_through);
        return run(s);
    }
    return true;
}

tg_status tg__outbox_save(tg__outbox *outbox, const tg__outbox_progress *progress, size_t count,
                          const tg__outbox_dead *dead, size_t dead_count, uint64_t delivered_after,
                          uint64_t delivered_through, int64_t now_ms, tg_error *err) {
    if (sqlite3_exec(outbox->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return fail(outbox, err, "starting to save delivery progress");
    }
    if (!save_rows(outbox, progress, count, dead, dead_count, delivered_after, delivered_through,
                   now_ms) ||
        sqlite3_exec(outbox->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        tg_status status = fail(outbox, err, "saving delivery progress");
        if (!sqlite3_get_autocommit(outbox->db)) {
            sqlite3_exec(outbox->db, "ROLLBACK", NULL, NULL, NULL);
        }
        return status;
    }
    return TG_OK;
}

/* ---- what a message says beyond its event ------------------------------------------------- */

/* The budget and its subtree: path = ?1, or ?2 <= path < ?3 ("b/" <= path < "b0"), so that
 * charges_by_budget makes it two index ranges. */
#define SUBTREE "(budget = ?1 OR (budget >= ?2 AND budget < ?3))"

static const char spent_sql[] = "SELECT coalesce(sum(cost_micros), 0) FROM charges WHERE " SUBTREE
                                " AND time_ms > ?4 AND time_ms <= ?5";
static const char revoke_at_sql[] =
    "SELECT cost_limit_micros, revoke_at_micros, revoke_at_ppm FROM budgets WHERE path = ?1";
static const char tools_sql[] =
    "SELECT CASE WHEN tool != '' THEN tool ELSE model END AS name, count(*) AS n FROM charges"
    " WHERE " SUBTREE " AND class = ?4 AND time_ms > ?5 AND time_ms <= ?6 AND name != ''"
    " GROUP BY name ORDER BY n DESC, name LIMIT 5";
_Static_assert(TG__OUTBOX_TOOLS_MAX == 5, "tools_sql's LIMIT is TG__OUTBOX_TOOLS_MAX");

typedef struct {
    char lower[TG_PATH_SIZE_MAX + 1]; /* "b/" */
    char upper[TG_PATH_SIZE_MAX + 1]; /* "b0": '0' is the byte after '/' */
} subtree;

/* These statements run a few times a minute at most: prepared per call, not kept. */
static sqlite3_stmt *prepare_subtree(sqlite3 *db, const char *sql, const char *budget,
                                     subtree *bounds) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return NULL;
    }
    snprintf(bounds->lower, sizeof bounds->lower, "%s/", budget);
    snprintf(bounds->upper, sizeof bounds->upper, "%s0", budget);
    sqlite3_bind_text(s, 1, budget, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, bounds->lower, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, bounds->upper, -1, SQLITE_STATIC);
    return s;
}

bool tg__outbox_spent(tg__outbox *outbox, const char *budget, int64_t since_ms, int64_t until_ms,
                      int64_t *spent_micros_out) {
    subtree bounds;
    sqlite3_stmt *s = prepare_subtree(outbox->db, spent_sql, budget, &bounds);
    if (s == NULL) {
        return false;
    }
    sqlite3_bind_int64(s, 4, since_ms);
    sqlite3_bind_int64(s, 5, until_ms);
    bool ok = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER;
    if (ok) {
        *spent_micros_out = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return ok;
}

static int64_t column_optional(sqlite3_stmt *s, int column) {
    return sqlite3_column_type(s, column) == SQLITE_INTEGER ? sqlite3_column_int64(s, column)
                                                            : TG_NONE;
}

bool tg__outbox_revoke_at(tg__outbox *outbox, const char *budget, int64_t *limit_micros_out,
                          int64_t *revoke_at_micros_out, int64_t *revoke_at_ppm_out) {
    sqlite3_stmt *s = NULL;
    bool ok = sqlite3_prepare_v2(outbox->db, revoke_at_sql, -1, &s, NULL) == SQLITE_OK &&
              sqlite3_bind_text(s, 1, budget, -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER;
    if (ok) {
        *limit_micros_out = sqlite3_column_int64(s, 0);
        *revoke_at_micros_out = column_optional(s, 1);
        *revoke_at_ppm_out = column_optional(s, 2);
    }
    sqlite3_finalize(s);
    return ok;
}

void tg__outbox_tools(tg__outbox *outbox, const char *budget, tg_class cls, int64_t since_ms,
                      int64_t until_ms, void (*visit)(void *user, const char *name), void *user) {
    subtree bounds;
    sqlite3_stmt *s = prepare_subtree(outbox->db, tools_sql, budget, &bounds);
    if (s == NULL || (int)cls < 0 || cls >= TG_CLASS_COUNT) {
        sqlite3_finalize(s);
        return;
    }
    sqlite3_bind_text(s, 4, tg_class_str(cls), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, since_ms);
    sqlite3_bind_int64(s, 6, until_ms);
    while (sqlite3_step(s) == SQLITE_ROW) {
        visit(user, (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
}

/* ---- the outbox as the sender's source (store_outbox.h) --------------------------------- */

static tg_status sqlite_sink_load(void *self, int sink, const char *name, int64_t backfill_from_ms,
                                  uint64_t *done_through_out, uint64_t **sent_out,
                                  size_t *sent_count_out, tg_error *err) {
    (void)sink;
    return tg__outbox_sink_load(self, name, backfill_from_ms, done_through_out, sent_out,
                                sent_count_out, err);
}

/* Every sink reads the one events table: the sink does not matter. */
static tg_status sqlite_read(void *self, int sink, uint64_t after_id, tg_event *out, size_t max,
                             size_t *count_out, tg_error *err) {
    (void)sink;
    return tg__outbox_read(self, after_id, out, max, count_out, err);
}

static tg_status sqlite_save(void *self, const tg__outbox_progress *progress, size_t count,
                             const tg__outbox_dead *dead, size_t dead_count,
                             uint64_t delivered_after, uint64_t delivered_through, int64_t now_ms,
                             tg_error *err) {
    return tg__outbox_save(self, progress, count, dead, dead_count, delivered_after,
                           delivered_through, now_ms, err);
}

static void sqlite_close(void *self) {
    tg__outbox_close(self);
}

const tg__outbox_ops tg__outbox_ops_sqlite = {sqlite_sink_load, sqlite_read, NULL,
                                              sqlite_save,      NULL,        sqlite_close};
