/*
 * sink_types: each kind of notification sink as one row of a table, as the proxy's
 * providers are (src/proxy/provider.h): its name in the config, how its messages leave
 * (an HTTP POST from the sender thread, or a line written here and now), the body it
 * sends and what its own fields must hold. The config reader, the lanes and the sender
 * ask the row, never the kind, so a new kind of sink is a row in sink_types.c and its
 * body builder (docs/architecture.md, "Where a change goes").
 */
#ifndef TG_NOTIFY_SINK_TYPES_H
#define TG_NOTIFY_SINK_TYPES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "notify/config.h"
#include "notify/item.h"

/* How a sink's messages leave. */
typedef enum {
    TG__SINK_POST, /* an HTTP POST through the sender's curl multi handle (webhook.c), retried */
    TG__SINK_LOG   /* lines written at once to a file or stdout (jsonl.c): nothing to wait for */
} tg__sink_delivery;

typedef struct {
    const char *name; /* the config's `kind:` */
    tg__sink_kind kind;
    tg__sink_delivery delivery;
    bool aggregate_denied; /* the default of the sink's aggregate_denied */
    /* TG__SINK_POST: a batch's body (from malloc, *size_out its length; NULL when out of
     * memory or past TG__NOTIFY_BODY_SIZE_MAX). */
    char *(*body)(const tg__notify_envelope *envelope, const tg__notify_item *items, size_t count,
                  size_t *size_out);
    /* TG__SINK_LOG: one item's line, its newline included (from malloc). */
    char *(*line)(const tg__notify_envelope *envelope, const tg__notify_item *item,
                  size_t *size_out);
    /* What the sink's own fields need (a URL, a file); the error names the sink. */
    tg_status (*check)(const tg__notify_sink *sink, tg_error *err);
} tg__sink_type;

/* Every kind, in tg__sink_kind order; NULL-ended. */
extern const tg__sink_type *const TG__SINK_TYPES[];

/* The row named `name` (the config's `kind:`), NULL when none is. */
const tg__sink_type *tg__sink_type_find(const char *name);
/* The row of a kind the config reader set (never NULL for one). */
const tg__sink_type *tg__sink_type_of(tg__sink_kind kind);

/*
 * A log sink's batch leaves in pieces of at most this many bytes (each a write of whole
 * lines): memory stays bounded however large the batch, and any one line fits in an
 * empty piece.
 */
#define TG__NOTIFY_LOG_PIECE_SIZE_MAX TG__NOTIFY_LINE_SIZE_MAX

/*
 * Appends the lines of items[from], items[from + 1], ... (before `count`) to `piece` while
 * they fit, and returns the index of the first item left out (`count` when none was).
 * *status is TG_OK, TG_ERR_NOMEM when a line could not be built, or TG_ERR_FULL when the
 * line of items[from] does not fit in `piece` even empty. `type` delivers by TG__SINK_LOG.
 */
size_t tg__sink_lines_fill(const tg__sink_type *type, const tg__notify_envelope *envelope,
                           const tg__notify_item *items, size_t from, size_t count, tg__buf *piece,
                           tg_status *status);

#endif
