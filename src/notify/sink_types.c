/*
 * sink_types: the table of notification sink kinds (sink_types.h).
 */
#include "notify/sink_types.h"

#include <stdlib.h>
#include <string.h>

#include "core/path.h"

static tg_status check_url(const tg__notify_sink *sink, tg_error *err) {
    if (strncmp(sink->url, "http://", 7) != 0 && strncmp(sink->url, "https://", 8) != 0) {
        return tg__fail(err, TG_ERR_INVALID,
                        "notify config: sink '%s' needs a url starting with http:// or https://",
                        sink->name);
    }
    return TG_OK;
}

static tg_status check_file(const tg__notify_sink *sink, tg_error *err) {
    if (sink->file[0] == '\0') {
        return tg__fail(err, TG_ERR_INVALID,
                        "notify config: jsonl sink '%s' needs a file (\"-\" for stdout)",
                        sink->name);
    }
    return TG_OK;
}

/* Webhooks and Slack sum refusals up per budget and interval (a person reads them); a
 * log keeps every refusal as its own line. */
static const tg__sink_type WEBHOOK = {
    "webhook", TG__SINK_WEBHOOK, TG__SINK_POST, true, tg__body_json, NULL, check_url};
static const tg__sink_type SLACK = {"slack",        TG__SINK_SLACK, TG__SINK_POST, true,
                                    tg__body_slack, NULL,           check_url};
static const tg__sink_type JSONL = {"jsonl", TG__SINK_JSONL, TG__SINK_LOG, false,
                                    NULL,    tg__body_jsonl, check_file};

const tg__sink_type *const TG__SINK_TYPES[] = {&WEBHOOK, &SLACK, &JSONL, NULL};

const tg__sink_type *tg__sink_type_find(const char *name) {
    for (int i = 0; name != NULL && TG__SINK_TYPES[i] != NULL; i++) {
        if (strcmp(TG__SINK_TYPES[i]->name, name) == 0) {
            return TG__SINK_TYPES[i];
        }
    }
    return NULL;
}

const tg__sink_type *tg__sink_type_of(tg__sink_kind kind) {
    return TG__SINK_TYPES[kind];
}

_Static_assert(TG__NOTIFY_LOG_PIECE_SIZE_MAX >= TG__NOTIFY_LINE_SIZE_MAX,
               "a line must fit in an empty piece");

size_t tg__sink_lines_fill(const tg__sink_type *type, const tg__notify_envelope *envelope,
                           const tg__notify_item *items, size_t from, size_t count, tg__buf *piece,
                           tg_status *status) {
    *status = TG_OK;
    for (size_t i = from; i < count; i++) {
        size_t size = 0;
        char *line = type->line(envelope, &items[i], &size);
        tg_status appended = line != NULL ? tg__buf_append(piece, line, size) : TG_ERR_NOMEM;
        free(line);
        if (appended != TG_OK) {
            /* A full piece is the caller's cue to write it; only a line too large for an
             * empty one is an error. */
            bool piece_full = appended == TG_ERR_FULL && piece->size > 0;
            *status = piece_full ? TG_OK : appended;
            return i;
        }
    }
    return count;
}
