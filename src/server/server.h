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

#include "tollgate.h"

#define TG__KEYS_MAX 256     /* keys declared in the config */
#define TG__BUDGETS_MAX 4096 /* budgets declared in the config */
#define TG__RULES_MAX TG_POLICY_RULES_MAX
#define TG__REPLIES_MAX 4096        /* replies waiting for one group commit */
#define TG__EVENTS_KEPT 4096        /* recent events kept for GET /v1/events */
#define TG__BATCH_ITEMS_MAX 1000    /* operations in one POST /v1/batch */
#define TG__PAGE_MAX 1000           /* rows in one page of charges or events */
#define TG__PRICES_MAX 4096         /* models priced in the config */
#define TG__CONNECTIONS_MAX 1000000 /* the largest limits.connections_max accepted */
#define TG__SHA256_SIZE 32

typedef enum { TG__ROLE_ADMIN = 0, TG__ROLE_AGENT = 1, TG__ROLE_READ = 2 } tg__role;

/* A bearer key as configured: only its SHA-256 is ever kept. */
typedef struct {
    char name[64];                         /* for logs and `keys list` */
    unsigned char sha256[TG__SHA256_SIZE]; /* hash of the bearer secret */
    tg__role role;                         /* what it may do */
    char scope[TG_PATH_SIZE_MAX];          /* agent: the subtree it may touch; "" = all */
} tg__key;

/* A budget declared in the config file. */
typedef struct {
    char path[TG_PATH_SIZE_MAX];
    tg_budget_spec spec;
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
    char address[64];      /* listen address, default 127.0.0.1 */
    int port;              /* listen port, default 8420; 0 = any free port */
    char store[16];        /* "sqlite" or "memory" */
    char store_path[1024]; /* SQLite file */
    tg_durability durability;
    int64_t sync_interval_ms;
    int64_t holds_max, budgets_max, idempotency_max;
    int64_t default_hold_ttl_ms, max_hold_ttl_ms;
    int64_t header_size_max_bytes; /* request line + headers */
    int64_t body_size_max_bytes;   /* request body */
    int64_t request_timeout_s;     /* time to read a request or write a reply */
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
} tg__config;

/* Fills *config with safe defaults. */
void tg__config_defaults(tg__config *config);
/* Reads a YAML file over the defaults already in *config. Unknown keys are errors. */
tg_status tg__config_load(const char *file, tg__config *config, tg_error *err);
/*
 * Applies budgets (tg_budget_put keeps spend) and policy to the engine. With a
 * `previous` config (SIGHUP), budgets it declared that `config` no longer does are
 * deleted, children first; one with open holds or children of its own is kept,
 * named on stderr, and appended to `config` so the next SIGHUP tries again.
 * NULL `previous` (start) deletes nothing.
 */
tg_status tg__config_apply(tg__config *config, const tg__config *previous, tg_engine *engine,
                           int64_t now_ms, tg_error *err);

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

/* SHA-256 of a bearer secret. */
void tg__key_hash(const char *secret, unsigned char out[TG__SHA256_SIZE]);
/* Hex text of 32 bytes into 65 bytes; and back (false on bad text). */
void tg__hex_encode(const unsigned char in[TG__SHA256_SIZE], char out[65]);
bool tg__hex_decode(const char *text, unsigned char out[TG__SHA256_SIZE]);
/* Finds the key whose hash matches the secret, comparing in constant time. */
const tg__key *tg__key_find(const tg__key *keys, int count, const char *secret);
/*
 * True (and *segment set) when a segment of `path` is freeze, unfreeze or history:
 * those names end /v1/budgets/PATH/ACTION routes, so no budget may be named so.
 */
bool tg__path_reserved(const char *path, const char **segment);
/* True when `path` is `scope` or below it ("" scope covers everything). */
bool tg__path_in_scope(const char *scope, const char *path);

/* Runs the daemon until SIGTERM/SIGINT; takes `config`. Returns a process exit code.
 * `port` >= 0 overrides the file's port (`serve --port`), now and at every reload. */
int tg__serve(const char *config_file, tg__config *config, int port);

#endif
