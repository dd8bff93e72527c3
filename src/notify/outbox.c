/*
 * outbox: reading the events table and keeping delivery state beside it (the
 * tables and why they look so are described in outbox.h). Every statement is
 * prepared once; every read is one statement, reset at once, so this
 * connection never holds a read snapshot that would stop the WAL from being
 * checkpointed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/path.h"
#include "notify/outbox.h"

#define BUSY_TRIES 8     /* waits for a lock the engine holds ... */
#define BUSY_WAIT_US 250 /* ... of this long each: 2 ms at most, then "busy, try later" */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS notify_sinks ("
    " name TEXT PRIMARY KEY, done_through_id INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS notify_sent ("
    " sink TEXT NOT NULL, event_id INTEGER NOT NULL, PRIMARY KEY (sink, event_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS notify_dead ("
    " sink TEXT NOT NULL, event_id INTEGER NOT NULL, failed_at_ms INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, last_error TEXT NOT NULL, PRIMARY KEY (sink, event_id))"
    " WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS notify_dead_by_event ON notify_dead (event_id);";

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
    [SQL_READ] = "SELECT id, kind, time_ms, budget, class, reason, hold_id, amount_micros,"
                 " held_micros, spent_micros, limit_micros, threshold_micros, count, tool, detail"
                 " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
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
    int code = outbox->db ? sqlite3_errcode(outbox->db) & 0xff : SQLITE_NOMEM;
    tg_status status = code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? TG_ERR_CORRUPT
                       : code == SQLITE_BUSY || code == SQLITE_LOCKED  ? TG_ERR_STATE
                                                                       : TG_ERR_IO;
    return tg__fail(err, status, "notify outbox: %s while %s",
                    outbox->db ? sqlite3_errmsg(outbox->db) : "out of memory", doing);
}

sqlite3 *tg__outbox_db(tg__outbox *outbox) {
    return outbox->db;
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
    /* No fsync of our own (see outbox.h), and no checkpoints: the engine's connection does them,
     * so this thread never competes with a commit for the disk. */
    if (sqlite3_exec(outbox->db, "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0", NULL,
                     NULL, NULL) != SQLITE_OK) {
        return fail(outbox, err, "setting synchronous=NORMAL");
    }
    if (!in_wal_mode(outbox->db)) {
        return tg__fail(err, TG_ERR_CORRUPT,
                        "notify outbox: the store file is not in WAL mode (not a Tollgate store?)");
    }
    if (sqlite3_exec(outbox->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return fail(outbox, err, "starting to create the notify tables");
    }
    if (sqlite3_exec(outbox->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(outbox->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        tg_status status = fail(outbox, err, "creating the notify tables");
        sqlite3_exec(outbox->db, "ROLLBACK", NULL, NULL, NULL);
        return status;
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

static void column_text(sqlite3_stmt *statement, int index, char *out, size_t size) {
    const char *text = (const char *)sqlite3_column_text(statement, index);
    if (text == NULL || !tg__copy_name(out, size, text)) {
        out[0] = '\0';
    }
}

static int64_t column_optional(sqlite3_stmt *statement, int index) {
    return sqlite3_column_type(statement, index) == SQLITE_NULL
               ? TG_NONE
               : sqlite3_column_int64(statement, index);
}

/* A row back into a tg_event; false for a row no Tollgate wrote (skipped, not fatal). */
static bool row_event(sqlite3_stmt *s, tg_event *event) {
    memset(event, 0, sizeof *event);
    event->id = (uint64_t)sqlite3_column_int64(s, 0);
    const char *kind = (const char *)sqlite3_column_text(s, 1);
    if (kind == NULL || tg__event_kind_parse(kind, &event->kind) != TG_OK) {
        return false;
    }
    event->time_ms = sqlite3_column_int64(s, 2);
    column_text(s, 3, event->budget, sizeof event->budget);
    const char *cls = (const char *)sqlite3_column_text(s, 4);
    tg_class parsed_class;
    event->cls =
        cls != NULL && tg_class_parse(cls, &parsed_class) == TG_OK ? (int)parsed_class : -1;
    const char *reason = (const char *)sqlite3_column_text(s, 5);
    event->reason = -1;
    for (int r = 0; reason != NULL && r < TG__NOTIFY_REASONS_COUNT; r++) {
        if (strcmp(reason, tg_reason_str((tg_reason)r)) == 0) {
            event->reason = r;
        }
    }
    event->hold_id = (uint64_t)sqlite3_column_int64(s, 6);
    event->amount_micros = column_optional(s, 7);
    event->held_micros = column_optional(s, 8);
    event->spent_micros = column_optional(s, 9);
    event->limit_micros = column_optional(s, 10);
    event->threshold_micros = column_optional(s, 11);
    event->count = column_optional(s, 12);
    column_text(s, 13, event->tool, sizeof event->tool);
    column_text(s, 14, event->detail, sizeof event->detail);
    return true;
}

tg_status tg__outbox_read(tg__outbox *outbox, uint64_t after_id, tg_event *out, size_t max,
                          size_t *count_out, tg_error *err) {
    sqlite3_stmt *s = outbox->statements[SQL_READ];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
    size_t count = 0;
    int rc = SQLITE_DONE;
    while (count < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (row_event(s, &out[count])) {
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
    uint64_t *ids = NULL;
    size_t count = 0, capacity = 0;
    int rc = SQLITE_DONE;
    tg_status status = TG_OK;
    while (status == TG_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            uint64_t *grown = realloc(ids, capacity * sizeof *ids);
            if (grown == NULL) {
                status = tg__fail(err, TG_ERR_NOMEM, "notify outbox: out of memory");
                break;
            }
            ids = grown;
        }
        ids[count++] = (uint64_t)sqlite3_column_int64(s, 0);
    }
    if (status == TG_OK && rc != SQLITE_DONE) {
        status = fail(outbox, err, "reading a sink's progress");
    }
    sqlite3_reset(s);
    if (status != TG_OK) {
        free(ids);
        return status;
    }
    *sent_out = ids;
    *sent_count_out = count;
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
