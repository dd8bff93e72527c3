/*
 * reader: the daemon's read-only connection to the SQLite file, for paging
 * charges, events and budget history. The engine's own connection belongs to
 * the writer thread while a commit is in flight, so reads never use it; a WAL
 * reader sees every committed transaction and never blocks the writer. Since a
 * reply is sent only after its commit, whatever a client was told is visible
 * here by the time it asks. Loop thread only.
 */
#include <string.h>

#include <sqlite3.h>

#include "server/daemon.h"

sqlite3 *tg__reader(tg__daemon *daemon, tg__reply *error_out) {
    if (strcmp(daemon->config->store, "sqlite") != 0) {
        *error_out = tg__api_error(501, "unsupported",
                                   "the memory store keeps no history; use the sqlite store");
        return NULL;
    }
    if (daemon->reader != NULL) {
        return daemon->reader;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(daemon->config->store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        *error_out = tg__api_error(503, "store_unavailable", "cannot open the ledger file to read");
        return NULL;
    }
    /* A checkpoint may hold the WAL index for a moment; wait rather than fail a read. */
    sqlite3_busy_timeout(db, 1000);
    daemon->reader = db;
    return db;
}

void tg__reader_close(tg__daemon *daemon) {
    sqlite3_close(daemon->reader);
    daemon->reader = NULL;
}
