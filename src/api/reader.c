/*
 * reader: the daemon's read-only connection to the SQLite file (store/store_read.h), for
 * paging charges, events and budget history. The engine's own connection belongs to
 * the writer thread while a commit is in flight, so reads never use it; a WAL
 * reader sees every committed transaction and never blocks the writer. Since a
 * reply is sent only after its commit, whatever a client was told is visible
 * here by the time it asks. Loop thread only.
 */
#include <string.h>

#include "api/api.h"
#include "store/store_read.h"

/* A checkpoint may hold the WAL index for a moment; wait rather than fail a read. */
#define READER_BUSY_TIMEOUT_MS 1000

tg__store_reader *tg__reader(tg__daemon *daemon, tg__reply *error_out) {
    if (strcmp(daemon->config->store, "sqlite") != 0) {
        /* The redis store keeps charges in a stream nothing reads yet (docs/multi-node.md). */
        *error_out = tg__api_error(501, "unsupported",
                                   strcmp(daemon->config->store, "redis") == 0
                                       ? "the redis store keeps no history yet (charges, "
                                         "budget history); see docs/multi-node.md"
                                       : "the memory store keeps no history; use the sqlite store");
        return NULL;
    }
    if (daemon->reader != NULL) {
        return daemon->reader;
    }
    if (tg__store_reader_open(daemon->config->store_path, READER_BUSY_TIMEOUT_MS, &daemon->reader,
                              NULL) != TG_OK) {
        *error_out = tg__api_error(503, "store_unavailable", "cannot open the ledger file to read");
        return NULL;
    }
    return daemon->reader;
}

tg__store_reader *tg__reader_page(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                                  int64_t after_id, int64_t limit, tg__store_page *query,
                                  tg__reply *error_out) {
    if (budget[0] != '\0' && !tg__may_touch(caller, budget)) {
        *error_out = tg__api_forbidden("this key may not read that budget");
        return NULL;
    }
    tg__store_reader *reader = tg__reader(daemon, error_out);
    if (reader != NULL) {
        *query = (tg__store_page){.budget = tg__read_subtree(caller, budget),
                                  .after_id = (uint64_t)after_id,
                                  .limit = (size_t)limit};
    }
    return reader;
}

void tg__reader_close(tg__daemon *daemon) {
    tg__store_reader_close(daemon->reader);
    daemon->reader = NULL;
}

tg__reply tg__json_page_reply(const char *name, tg__json_page *page, tg_status status,
                              const tg_error *err) {
    if (status != TG_OK) {
        json_decref(page->rows);
        return tg__api_error(503, "store_unavailable", err->message);
    }
    return tg__api_ok(json_pack("{s:o,s:I}", name, page->rows, "next", (json_int_t)page->next));
}
