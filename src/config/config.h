/*
 * server: the daemon behind `tollgate serve`. One libevent loop thread owns the
 * engine; HTTP requests are decided on it and their replies queued. A batch's
 * mutations are detached as one group commit and written by a writer thread
 * while the loop decides the next batch; the queued replies go out only when
 * their commit is on disk, so nothing is acknowledged before it is durable.
 */
#ifndef TG_SERVER_SERVER_H
#define TG_SERVER_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "store/redis_url.h"
#include "tollgate.h"

#define TG__KEYS_MAX 256     /* keys declared in the config */
#define TG__BUDGETS_MAX 4096 /* budgets declared in the config */
#define TG__RULES_MAX TG_POLICY_RULES_MAX
#define TG__METRICS_GLOBS_MAX 64        /* metrics.budgets globs */
#define TG__METRICS_SERIES_MAX 20000    /* metrics.budget_series_max: fits the 8 MiB scrape */
#define TG__METRICS_SERIES_DEFAULT 1000 /* budgets with series of their own */
#define TG__REPLIES_MAX 4096            /* replies waiting for one group commit */
#define TG__EVENTS_KEPT 4096            /* recent events kept for GET /v1/events */
#define TG__BATCH_ITEMS_MAX 1000        /* operations in one POST /v1/batch */
#define TG__CONFIG_WAIT_REPLICAS_MAX 16 /* store.wait_replicas: replicas a write waits for */
#define TG__PAGE_MAX 1000               /* rows in one page of charges or events */
#define TG__PRICES_MAX 4096             /* models priced in the config */
#define TG__CONNECTIONS_MAX 1000000     /* the largest limits.connections_max accepted */
#define TG__SHA256_SIZE 32

/* What a key may do (docs/api.md, "Roles"). */
typedef enum {
    TG__ROLE_ADMIN = 0,  /* everything */
    TG__ROLE_AGENT = 1,  /* hold, commit, release, charge and read inside its scope */
    TG__ROLE_READ = 2,   /* every GET, /metrics included */
    TG__ROLE_METRICS = 3 /* GET /metrics only */
} tg__role;
#define TG__ROLES_COUNT 4

/* Where a key was declared. */
typedef enum {
    TG__KEY_FROM_CONFIG = 0, /* the config file's keys: list */
    TG__KEY_FROM_LEDGER = 1, /* POST /v1/keys (tollgate keys create), kept with the ledger */
    TG__KEY_FROM_ENV = 2     /* TOLLGATE_ADMIN_KEY */
} tg__key_source;

/* A bearer key: only its SHA-256 is ever kept (on disk; keyring.h caches recent secrets in memory).
 */
typedef struct {
    char name[64];                         /* for logs and `keys list` */
    unsigned char sha256[TG__SHA256_SIZE]; /* hash of the bearer secret */
    tg__role role;                         /* what it may do */
    char scope[TG_PATH_SIZE_MAX];          /* agent: the subtree it may touch; "" = all */
    tg_class class_max;                    /* the highest class its actions may get */
    tg__key_source source;
    uint64_t id;           /* ledger keys: the row's id; 0 for the others */
    int64_t created_at_ms; /* ledger keys: when made or last rotated; 0 for the others */
    int line;              /* config keys: the line of the file that declares it */
} tg__key;

/* A budget declared in the config file. */
typedef struct {
    char path[TG_PATH_SIZE_MAX];
    tg_budget_spec spec;
    int line;                     /* where the file declares it, for messages */
    bool has_template;            /* `template:` given: children made on first use */
    tg_budget_spec template_spec; /* what they get */
    int64_t children_max;         /* TG_NONE: the default */
} tg__budget_decl;

/* A policy rule with its strings owned here (tg_policy_rule only borrows). */
typedef struct {
    char tool[TG_NAME_SIZE_MAX];
    char model[TG_NAME_SIZE_MAX];
    char budget[TG_PATH_SIZE_MAX];
    tg_class cls;
} tg__rule_decl;

/* A model's price, from the config's `prices:` section: micros per million tokens. */
typedef struct {
    char model[TG_NAME_SIZE_MAX];
    int64_t input_micros;  /* per million input (prompt) tokens */
    int64_t output_micros; /* per million output (completion) tokens */
} tg__price;

/* Everything `tollgate serve` reads from its YAML file. Heap-allocated (large). */
typedef struct {
    char address[64];                       /* listen address, default 127.0.0.1 */
    int port;                               /* listen port, default 8420; 0 = any free port */
    char store[16];                         /* "sqlite", "memory" or "redis" */
    char store_path[1024];                  /* SQLite file */
    char store_url[TG__REDIS_URL_SIZE_MAX]; /* redis: as written (holds the password) */
    tg__redis_url redis;                    /* redis: store_url parsed */
    int64_t store_timeout_ms;               /* redis: connect and each reply, then 503 */
    bool store_cluster;                     /* redis: url is a seed of a Redis Cluster */
    int64_t store_wait_replicas;            /* redis: WAIT for this many replicas; 0: none */
    int64_t store_wait_timeout_ms;          /* redis: WAIT's timeout, below store_timeout_ms */
    struct {                                /* redis, rediss:// only: store.tls */
        bool given;                         /* the section was written */
        char ca_file[1024];                 /* "": the system's trust store */
        char cert_file[1024];               /* client certificate, with key_file; or "" */
        char key_file[1024];
        char server_name[256]; /* "": the url's host */
    } store_tls;
    tg_durability durability;
    int64_t sync_interval_ms;
    int64_t holds_max, budgets_max, idempotency_max;
    int64_t default_hold_ttl_ms, max_hold_ttl_ms;
    int64_t header_size_max_bytes; /* request line + headers */
    int64_t body_size_max_bytes;   /* request body */
    int64_t request_timeout_s;     /* an idle connection, or a reply not taken, is closed */
    int64_t header_timeout_s;      /* a request line and headers must arrive within this */
    int64_t body_timeout_s;        /* then its body within this */
    int64_t connections_max;       /* open connections at once */

    int64_t event_streams_max;             /* GET /v1/events/stream clients at once */
    int64_t event_stream_buffer_max_bytes; /* unsent bytes of one stream before it is cut */
    int64_t event_stream_keepalive_ms;     /* a comment line after this much silence */
    tg__key keys[TG__KEYS_MAX];
    int keys_count;
    tg__budget_decl budgets[TG__BUDGETS_MAX];
    int budgets_count;
    tg__rule_decl rules[TG__RULES_MAX];
    int rules_count;
    tg_class default_class;
    tg__price prices[TG__PRICES_MAX]; /* sorted by model after loading */
    int prices_count;
    bool metrics_open_on_loopback; /* GET /metrics needs no key from 127.0.0.0/8 and ::1 */
    /* Budgets with series of their own on /metrics besides the top-level ones and those this
     * file declares: globs ('*' crosses '/'); at most metrics_budget_series_max in all. */
    char metrics_budgets[TG__METRICS_GLOBS_MAX][TG_PATH_SIZE_MAX];
    int metrics_budgets_count;
    int64_t metrics_budget_series_max;
} tg__config;

/* Fills *config with safe defaults. */
void tg__config_defaults(tg__config *config);
/*
 * Reads a YAML file over the defaults already in *config. Unknown keys are errors;
 * every error names the file, line and column and what was expected there.
 */
tg_status tg__config_load(const char *file, tg__config *config, tg_error *err);
/* The defaults, then `file`, in a config from malloc (*out; caller frees), as the CLI's
 * commands that read the file take it. *out is untouched on failure. */
tg_status tg__config_new(const char *file, tg__config **out, tg_error *err);
/* The same from a file already parsed (config_file.h), which the daemon hands to every
 * section's reader: the file is read once. */
struct tg__config_file;
tg_status tg__config_read(const struct tg__config_file *file, tg__config *config, tg_error *err);
/* Copies what a reload cannot change (address, port, store, limits) from the running
 * config into a fresh one. */
void tg__config_keep_restart_settings(tg__config *fresh, const tg__config *running);
/* What applying a config did, for the reload's answer. */
typedef struct {
    int budgets_changed; /* put because new or changed (an unchanged one is left alone) */
    int budgets_kept;    /* gone from the file but kept: open holds or children (retried) */
} tg__apply_summary;

/*
 * Checks every declared budget and rule against the live ledger, changing nothing:
 * what tg__config_apply would be refused. TG_ERR_INVALID (or TG_ERR_TZ, TG_ERR_FULL)
 * with a sentence naming the budget and its line.
 */
tg_status tg__config_check(const tg__config *config, tg_engine *engine, int64_t now_ms,
                           tg_error *err);
/*
 * Applies budgets (tg_budget_put keeps spend) and policy to the engine, all or
 * nothing: tg__config_check first, then the changes (an unchanged budget is not
 * put). With a `previous` config (a reload), budgets it declared that `config` no
 * longer does are deleted, children first; one with open holds or children of its
 * own is kept, named on stderr, and appended to `config` so the next reload tries
 * again. NULL `previous` (start) deletes nothing.
 */
tg_status tg__config_apply(tg__config *config, const tg__config *previous, tg_engine *engine,
                           int64_t now_ms, tg_error *err);
/* The same, saying what it did in *summary (may be NULL). */
tg_status tg__config_apply_counted(tg__config *config, const tg__config *previous,
                                   tg_engine *engine, int64_t now_ms, tg__apply_summary *summary,
                                   tg_error *err);
/* True when two specs declare the same budget (every field compared). */
bool tg__budget_spec_equal(const tg_budget_spec *a, const tg_budget_spec *b);

/* Reads the `prices:` mapping (model: {input, output}) into config (prices.c). */
struct fy_node;
tg_status tg__prices_read(struct fy_node *node, tg__config *config, tg_error *err);
/* The price of `model`, or NULL when the config has none. */
const tg__price *tg__price_find(const tg__config *config, const char *model);
/*
 * What tokens_in + tokens_out cost at `price`: exact integer arithmetic, rounded
 * up to a whole micro so the ledger never under-counts. TG_ERR_RANGE past
 * TG_AMOUNT_MAX.
 */
tg_status tg__price_cost(const tg__price *price, int64_t tokens_in, int64_t tokens_out,
                         int64_t *cost_micros, tg_error *err);

/* A role's name ("admin", ...), and back (false on an unknown name). */
const char *tg__role_str(tg__role role);
bool tg__role_parse(const char *text, tg__role *out);
/* The highest class a key of `role` may obtain when it names none: critical for an admin,
 * normal for the others (an agent names its own tools, so policy must not lift them). */
tg_class tg__role_class_max(tg__role role);

/* SHA-256 of a bearer secret. */
void tg__key_hash(const char *secret, unsigned char out[TG__SHA256_SIZE]);
/*
 * True (and *segment set) when a segment of `path` is freeze, unfreeze or history:
 * those names end /v1/budgets/PATH/ACTION routes, so no budget may be named so.
 */
bool tg__path_reserved(const char *path, const char **segment);
/* True when `path` is `scope` or below it ("" scope covers everything). */
bool tg__path_in_scope(const char *scope, const char *path);

/* Runs the daemon until SIGTERM/SIGINT; takes `file` (its other sections are read from
 * it: it is not parsed again) and `config` (read from it). Returns a process exit code.
 * `port` >= 0 overrides the file's port (`serve --port`), now and at every reload. */
int tg__serve(struct tg__config_file *file, tg__config *config, int port);

#endif
