/*
 * notify config: the `notify:` section of the daemon's YAML file, as data. The
 * sinks (where events go), each with a filter; urgency per budget (immediate or
 * a digest within a bound); how refusals are summed up; retry and give-up times.
 * Read by config.c, which validates everything: the file may be edited by hand,
 * so a typo is an error with a sentence, never an assertion.
 */
#ifndef TG_NOTIFY_CONFIG_H
#define TG_NOTIFY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate.h"

#define TG__NOTIFY_SINKS_MAX 16         /* sinks in one config */
#define TG__NOTIFY_GLOBS_MAX 16         /* budget patterns in one filter */
#define TG__NOTIFY_HEADERS_MAX 16       /* custom headers of one webhook */
#define TG__NOTIFY_HEADER_SIZE_MAX 512  /* "Name: value", NUL included */
#define TG__NOTIFY_URGENCY_RULES_MAX 64 /* urgency rules */
#define TG__NOTIFY_NAME_SIZE_MAX 64     /* a sink's name, NUL included */
#define TG__NOTIFY_URL_SIZE_MAX 2048    /* a webhook's URL, NUL included */
#define TG__NOTIFY_SECRET_SIZE_MAX 256  /* an HMAC key, NUL included */
#define TG__NOTIFY_FILE_SIZE_MAX 1024   /* a JSON-lines file path, NUL included */
#define TG__NOTIFY_KINDS_COUNT 10 /* tg_event_kind values: threshold_crossed..approval_decided */
#define TG__NOTIFY_DAY_MS (INT64_C(86400) * 1000)

_Static_assert(TG_EVENT_APPROVAL_DECIDED + 1 == TG__NOTIFY_KINDS_COUNT, "one bit per event kind");

/* How much an event matters, lowest first (severity.c says which is which). */
typedef enum {
    TG__SEVERITY_INFO = 0,
    TG__SEVERITY_WARNING = 1,
    TG__SEVERITY_CRITICAL = 2
} tg__severity;

typedef enum {
    TG__SINK_WEBHOOK = 0, /* POST of the generic JSON body */
    TG__SINK_SLACK = 1,   /* POST of a Slack incoming-webhook body: text + blocks */
    TG__SINK_JSONL = 2    /* one JSON object per line, to stdout or a file */
} tg__sink_kind;

typedef enum {
    TG__URGENCY_IMMEDIATE = 0, /* sent as soon as it is durable */
    TG__URGENCY_DIGEST = 1     /* batched into one message within `within_ms` */
} tg__urgency_mode;

/* Which events a sink wants. Everything empty: every event. */
typedef struct {
    uint32_t kinds_mask;                                       /* bit 1 << kind; 0 = every kind */
    char budget_globs[TG__NOTIFY_GLOBS_MAX][TG_PATH_SIZE_MAX]; /* '*' and '?' globs */
    int budget_globs_count;                                    /* 0 = every budget */
    tg__severity severity_min;                                 /* events below are not sent */
} tg__notify_filter;

typedef struct {
    char name[TG__NOTIFY_NAME_SIZE_MAX]; /* unique; keys the sink's delivery state on disk */
    tg__sink_kind kind;
    char url[TG__NOTIFY_URL_SIZE_MAX];       /* webhook, slack: http:// or https:// */
    char secret[TG__NOTIFY_SECRET_SIZE_MAX]; /* HMAC-SHA256 key; "" = unsigned */
    char headers[TG__NOTIFY_HEADERS_MAX][TG__NOTIFY_HEADER_SIZE_MAX]; /* "Name: value" */
    int headers_count;
    int64_t timeout_ms;                  /* one HTTP attempt, connect to last byte */
    int64_t concurrency;                 /* messages in flight at once (at most one per budget) */
    char file[TG__NOTIFY_FILE_SIZE_MAX]; /* jsonl: a path, or "-" for stdout */
    int64_t rotate_bytes;  /* jsonl: rotate when the file would pass this; 0 = never */
    int64_t rotate_keep;   /* jsonl: rotated files kept (file.1 newest .. file.N) */
    bool aggregate_denied; /* sum up refusals per budget and interval (webhooks: on) */
    tg__notify_filter filter;
} tg__notify_sink;

/* Urgency of the budgets whose path matches `budget_glob` (first match wins). */
typedef struct {
    char budget_glob[TG_PATH_SIZE_MAX];
    tg__urgency_mode mode;
    int64_t within_ms; /* digest: the longest an event waits for company */
} tg__notify_urgency_rule;

/* Retries of a failed delivery: exponential backoff with jitter, then give up. */
typedef struct {
    int64_t initial_ms;       /* the first wait */
    int64_t max_ms;           /* the longest wait */
    int64_t give_up_after_ms; /* a sink failing this long dead-letters what it holds */
} tg__notify_backoff;

/* The whole `notify:` section. Heap-allocated (large); tg__notify_config_free(). */
typedef struct {
    tg__notify_sink sinks[TG__NOTIFY_SINKS_MAX];
    int sinks_count;
    tg__notify_urgency_rule urgency[TG__NOTIFY_URGENCY_RULES_MAX];
    int urgency_count;
    tg__urgency_mode urgency_default;  /* budgets no rule matches */
    int64_t urgency_default_within_ms; /* ... their digest bound */
    int64_t denied_interval_ms;        /* refusals: one message per budget per interval */
    int64_t forecast_window_ms;        /* burn rate over this much past; 0 = no forecasts */
    int64_t backfill_ms;               /* a new sink starts with events this recent */
    int64_t batch_events_max;          /* items in one message */
    int64_t poll_ms;                   /* read the outbox this often even without a wake */
    int64_t claim_idle_ms;             /* redis: another daemon's entries idle this long are
                                          taken over (redis_notify.h) */
    tg__notify_backoff retry;
} tg__notify_config;

/* Fills *config with the defaults (no sinks). */
void tg__notify_config_defaults(tg__notify_config *config);

/*
 * Reads the `notify:` section of a YAML document in memory (other sections are
 * ignored: src/config/config.c reads those). No section: no sinks. *out is from
 * malloc; free with tg__notify_config_free(). Errors: TG_ERR_INVALID with a
 * sentence naming the field, TG_ERR_FULL past a maximum, TG_ERR_NOMEM.
 * `secret_env` is read from the environment here.
 */
tg_status tg__notify_config_parse(const char *text, size_t size, tg__notify_config **out,
                                  tg_error *err);
/* The same from a file. */
tg_status tg__notify_config_load(const char *file, tg__notify_config **out, tg_error *err);
/* The same from a document already parsed (the daemon's config file, read once); the
 * document stays the caller's. */
struct fy_document;
tg_status tg__notify_config_read(struct fy_document *document, tg__notify_config **out,
                                 tg_error *err);
void tg__notify_config_free(tg__notify_config *config);

/* Stable names ("info", "warning", "critical") and the reverse (TG_ERR_INVALID). */
const char *tg__severity_str(tg__severity severity);
tg_status tg__severity_parse(const char *text, tg__severity *out);
/* The event kind named by text (tg_event_kind_str's names). */
tg_status tg__event_kind_parse(const char *text, tg_event_kind *out);

/* True when the sink's filter lets an event of this kind, budget and severity through. */
bool tg__notify_filter_match(const tg__notify_filter *filter, tg_event_kind kind,
                             const char *budget, tg__severity severity);

/* The urgency of a budget: the first rule whose glob matches, else the default. */
void tg__notify_urgency_of(const tg__notify_config *config, const char *budget,
                           tg__urgency_mode *mode_out, int64_t *within_ms_out);

#endif
