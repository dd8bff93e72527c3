/*
 * failed: the dead-letter list, for the API and `tollgate events --failed`.
 * Read with a short-lived read-only connection of its own (store/store_read.h), so it
 * can be called from the daemon's loop or the command line while the sender writes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/path.h"
#include "notify/notify.h"
#include "store/store_read.h"

/* Waits this long for a lock (the sender's short writes) before failing. */
#define FAILED_BUSY_TIMEOUT_MS 2000

static json_t *text_or_null(const char *text, bool present) {
    json_t *value = present ? json_string(text) : NULL;
    return value ? value : json_null();
}

typedef struct {
    json_t *list;
    uint64_t next; /* the last event id listed */
} page_json;

static bool dead_json(void *user, const tg__dead_letter *d) {
    page_json *page = user;
    page->next = d->event_id;
    json_array_append_new(
        page->list,
        json_pack("{s:o,s:I,s:o,s:o,s:o,s:I,s:I,s:o}", "sink", text_or_null(d->sink, true),
                  "event_id", (json_int_t)d->event_id, "kind", text_or_null(d->kind, d->has_event),
                  "budget", text_or_null(d->budget, d->has_event), "time_ms",
                  d->has_event ? json_integer(d->time_ms) : json_null(), "failed_at_ms",
                  (json_int_t)d->failed_at_ms, "attempts", (json_int_t)d->attempts, "last_error",
                  text_or_null(d->last_error, true)));
    return true;
}

tg_status tg__notify_failed_json(const char *store_path, uint64_t after_id, int64_t limit,
                                 char **json_out, tg_error *err) {
    return tg__notify_failed_json_scoped(store_path, "", after_id, limit, json_out, err);
}

tg_status tg__notify_failed_json_scoped(const char *store_path, const char *scope,
                                        uint64_t after_id, int64_t limit, char **json_out,
                                        tg_error *err) {
    if (limit < 1 || limit > 1000) {
        return tg__fail(err, TG_ERR_INVALID, "limit must be between 1 and 1000");
    }
    tg__store_reader *reader = NULL;
    tg_error read_err = {0};
    if (tg__store_reader_open(store_path, FAILED_BUSY_TIMEOUT_MS, &reader, &read_err) != TG_OK) {
        return tg__fail(err, TG_ERR_IO, "cannot open %s: %s", store_path, read_err.message);
    }
    page_json page = {json_array(), after_id};
    tg__store_page query = {.budget = scope, .after_id = after_id, .limit = (size_t)limit};
    tg_status status = tg__store_read_dead_letters(reader, &query, dead_json, &page, &read_err);
    if (status != TG_OK) {
        status = tg__fail(err, TG_ERR_IO, "cannot read %s: %s", store_path, read_err.message);
    }
    tg__store_reader_close(reader);
    json_t *body = json_pack("{s:o,s:I}", "failed", page.list, "next", (json_int_t)page.next);
    char *text = status == TG_OK && body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (status == TG_OK && text == NULL) {
        status = tg__fail(err, TG_ERR_NOMEM, "out of memory listing failed deliveries");
    }
    if (status == TG_OK) {
        *json_out = text;
    }
    return status;
}
