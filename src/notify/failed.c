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

static uint64_t event_at(json_t *list, size_t i) {
    return (uint64_t)json_integer_value(json_object_get(json_array_get(list, i), "event_id"));
}

/* A page never ends inside an event: its `next` is the next page's `after`, which would skip
 * the event's remaining sinks. The read brought one row more than `limit` when there are
 * more; that row's event, if it is the page's last, is left whole to the next page (unless
 * it is all the page holds: an event with more sinks than `limit` is cut, as before). */
static void page_end(page_json *page, size_t limit) {
    size_t count = json_array_size(page->list);
    if (count > limit) {
        uint64_t cut = event_at(page->list, limit);
        size_t keep = limit;
        while (keep > 0 && event_at(page->list, keep - 1) == cut) {
            keep--;
        }
        keep = keep > 0 ? keep : limit;
        while (json_array_size(page->list) > keep) {
            json_array_remove(page->list, json_array_size(page->list) - 1);
        }
        count = keep;
    }
    if (count > 0) {
        page->next = event_at(page->list, count - 1);
    }
}

tg_status tg__notify_failed_json(const char *store_path, uint64_t after_id, int64_t limit,
                                 char **json_out, tg_error *err) {
    return tg__notify_failed_json_scoped(store_path, "", after_id, limit, json_out, err);
}

tg_status tg__notify_failed_json_from(tg__dead_letter_read read, void *source, const char *scope,
                                      uint64_t after_id, int64_t limit, char **json_out,
                                      tg_error *err) {
    if (limit < 1 || limit > 1000) {
        return tg__fail(err, TG_ERR_INVALID, "limit must be between 1 and 1000");
    }
    page_json page = {json_array(), after_id};
    /* One row more than the page, to see whether its last event goes on (page_end). */
    tg__store_page query = {.budget = scope, .after_id = after_id, .limit = (size_t)limit + 1};
    tg_status status = page.list != NULL ? read(source, &query, dead_json, &page, err)
                                         : tg__fail(err, TG_ERR_NOMEM, "out of memory");
    if (status == TG_OK) {
        page_end(&page, (size_t)limit);
    }
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

/* ---- the SQLite store's notify_dead ------------------------------------------------------ */

typedef struct {
    const char *path;         /* the store file, for messages */
    tg__store_reader *reader; /* open for the call */
} sqlite_source;

static tg_status sqlite_read(void *self, const tg__store_page *page, tg__dead_letter_visit visit,
                             void *user, tg_error *err) {
    sqlite_source *source = self;
    tg_error read_err = {0};
    if (tg__store_read_dead_letters(source->reader, page, visit, user, &read_err) != TG_OK) {
        return tg__fail(err, TG_ERR_IO, "cannot read %s: %s", source->path, read_err.message);
    }
    return TG_OK;
}

tg_status tg__notify_failed_json_scoped(const char *store_path, const char *scope,
                                        uint64_t after_id, int64_t limit, char **json_out,
                                        tg_error *err) {
    if (limit < 1 || limit > 1000) {
        return tg__fail(err, TG_ERR_INVALID, "limit must be between 1 and 1000");
    }
    sqlite_source source = {store_path, NULL};
    tg_error read_err = {0};
    if (tg__store_reader_open(store_path, FAILED_BUSY_TIMEOUT_MS, &source.reader, &read_err) !=
        TG_OK) {
        return tg__fail(err, TG_ERR_IO, "cannot open %s: %s", store_path, read_err.message);
    }
    tg_status status =
        tg__notify_failed_json_from(sqlite_read, &source, scope, after_id, limit, json_out, err);
    tg__store_reader_close(source.reader);
    return status;
}
