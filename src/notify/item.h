/*
 * item: what one notification says, and the pure functions that shape it: the
 * severity of an event, refusals summed up per budget, the burn-rate forecast,
 * the bodies (generic JSON, Slack, one JSON line), the HMAC signature and the
 * retry schedule. Nothing here does I/O or reads a clock, so every rule is
 * checked by the unit tests (tests/unit/test_notify_*.c).
 */
#ifndef TG_NOTIFY_ITEM_H
#define TG_NOTIFY_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify/config.h"

#define TG__NOTIFY_TOOLS_MAX 5                 /* tools named in one item */
#define TG__NOTIFY_SIGNATURE_SIZE 68           /* "v1=" + 64 hex digits + NUL */
#define TG__NOTIFY_BODY_SIZE_MAX (1024 * 1024) /* a body never grows past this */
/* A JSON line: a body's worth and its newline. */
#define TG__NOTIFY_LINE_SIZE_MAX (TG__NOTIFY_BODY_SIZE_MAX + 1)
#define TG__NOTIFY_REASONS_COUNT TG_REASON_COUNT

/* "At the last hour's rate, this budget reaches `target` in eta_ms." */
typedef struct {
    int64_t window_ms;     /* the rate is measured over this much past */
    int64_t burned_micros; /* charged in that window, the budget's subtree included */
    int64_t spent_micros;  /* spend now */
    int64_t target_micros; /* the revocation threshold, or the limit once it is passed */
    bool target_is_limit;  /* which of the two target_micros is */
    int64_t eta_ms;        /* TG_NONE: no spend in the window, or target already reached */
} tg__forecast;

/*
 * One entry of a message: an event, or a run of refusals of one budget summed
 * up (kind denied, count > 1). A summary's id is its first refusal's id, so a
 * summary sent again after a crash carries the same id; last_id says how far
 * it reaches.
 */
typedef struct {
    tg_event event;            /* the event; for a summary, its first refusal */
    tg__severity severity;     /* for a summary, the highest of its refusals */
    int64_t count;             /* events summed up: 1 for a plain event */
    uint64_t last_id;          /* the last event's id (= event.id when count is 1) */
    int64_t last_time_ms;      /* the last event's time */
    int64_t amount_sum_micros; /* denied: the amounts asked, summed (saturating) */
    int64_t reasons[TG__NOTIFY_REASONS_COUNT];          /* denied: refusals by reason */
    char tools[TG__NOTIFY_TOOLS_MAX][TG_NAME_SIZE_MAX]; /* denied: tools refused; revoked:
                                                            tools of that class lately */
    int tools_count;
    bool has_forecast; /* threshold_crossed and revoked, when a rate is known */
    tg__forecast forecast;
} tg__notify_item;

/* ---- severity.c ------------------------------------------------------------------------- */

/* The severity of an event (rules at the top of severity.c and in docs/notifications.md). */
tg__severity tg__severity_of(const tg_event *event);
/* True when under 1% of the budget's limit is left after the event. */
bool tg__budget_nearly_spent(const tg_event *event);

/* ---- aggregate.c -------------------------------------------------------------------------- */

/* Makes an item of one event. */
void tg__item_from_event(tg__notify_item *item, const tg_event *event, tg__severity severity);
/* Adds a later refusal of the same budget to a denied item (a summary). */
void tg__item_add_denied(tg__notify_item *item, const tg_event *event, tg__severity severity);
/* Adds a tool name to an item's list, once, while there is room. */
void tg__item_add_tool(tg__notify_item *item, const char *tool);

/* ---- forecast.c (the pure half) ---------------------------------------------------------- */

/*
 * Fills the forecast from what was burned over window_ms and the budget's
 * limit and threshold (TG_NONE when unset). False when there is nothing to
 * forecast: no limit. The ETA is an estimate, the one place a float is used;
 * never money.
 */
bool tg__forecast_compute(int64_t window_ms, int64_t burned_micros, int64_t spent_micros,
                          int64_t limit_micros, int64_t threshold_micros, tg__forecast *out);
/* "reaches its revocation threshold in 40 minutes" into buf; returns buf. */
char *tg__forecast_text(const tg__forecast *forecast, char *buf, size_t size);

/* ---- body_json.c, body_slack.c ----------------------------------------------------------- */

/* Everything a body names besides its items. */
typedef struct {
    const char *sink;         /* the sink's name */
    tg__urgency_mode urgency; /* of the budget the items are about */
    int64_t sent_at_ms;       /* wall clock at sending */
} tg__notify_envelope;

/*
 * The generic JSON body: {"type":"tollgate.notification","sink":..,"budget":..,
 * "urgency":..,"sent_at_ms":..,"events":[...]} (schema in docs/notifications.md).
 * From malloc, caller frees; NULL when out of memory. *size_out gets strlen.
 */
char *tg__body_json(const tg__notify_envelope *envelope, const tg__notify_item *items, size_t count,
                    size_t *size_out);
/* One item as a compact JSON object and a newline, for JSON-lines sinks; NULL when out of
 * memory or past TG__NOTIFY_LINE_SIZE_MAX. */
char *tg__body_jsonl(const tg__notify_envelope *envelope, const tg__notify_item *item,
                     size_t *size_out);
/* A Slack incoming-webhook body: "text" (the fallback) and "blocks". */
char *tg__body_slack(const tg__notify_envelope *envelope, const tg__notify_item *items,
                     size_t count, size_t *size_out);
/* ---- sentence.c ---------------------------------------------------------------------------- */

/* One line for a person: "normal work revoked on team/support: spent 482.00 of 500.00 ...". */
void tg__item_sentence(const tg__notify_item *item, char *buf, size_t size);
/* Money for people: "482.00", "0.0025" (at least two decimals, no trailing zeros past them). */
char *tg__money_text(int64_t micros, char *buf, size_t size);
/* A short title: "revoked", "threshold crossed", "12 refusals". */
void tg__item_title(const tg__notify_item *item, char *buf, size_t size);

/* ---- sign.c ------------------------------------------------------------------------------ */

/*
 * The signature header's value: "v1=" + lowercase hex of
 * HMAC-SHA256(secret, "v1:" + timestamp + ":" + body), where timestamp is the
 * decimal Unix seconds sent in X-Tollgate-Timestamp. out has
 * TG__NOTIFY_SIGNATURE_SIZE bytes. False if OpenSSL fails.
 */
bool tg__notify_sign(const char *secret, int64_t timestamp_s, const char *body, size_t size,
                     char out[TG__NOTIFY_SIGNATURE_SIZE]);
/* HMAC-SHA256(key, first + second) into out. False if OpenSSL fails. */
bool tg__hmac_sha256(const char *key, const void *first, size_t first_size, const void *second,
                     size_t second_size, unsigned char out[32]);

/* ---- backoff.c --------------------------------------------------------------------------- */

/*
 * Wait before attempt `failures` + 1, after `failures` (>= 1) failures in a
 * row: base = min(max_ms, initial_ms * 2^(failures-1)), then "equal jitter":
 * base/2 + random % (base/2 + 1), so retries of many sinks spread out but
 * never come sooner than half the base. `random` is any 32-bit random value.
 */
int64_t tg__backoff_ms(const tg__notify_backoff *backoff, int64_t failures, uint32_t random);

#endif
