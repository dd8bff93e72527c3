/*
 * redis_ledger: the ledger-operation seam (engine/ledger_ops.h) implemented on a
 * Redis (or Valkey) server >= 7, stock, no modules. The ledger's state lives in
 * the server and every decision is one call of a server-side function
 * (tollgate.lua, loaded with FUNCTION LOAD at open), so any number of processes
 * connected to one server share one exact ledger.
 *
 * What a caller must know beyond ledger_ops.h:
 *   - Keys: every key of a budget tree is "tg:{ROOT}:..." (the root's name as the
 *     hash tag), so a tree lives in one slot of a Redis Cluster and trees spread
 *     over shards. The registry of trees ("tg:{roots}") numbers each root once.
 *   - Ids: a hold or charge id is (tree number << TG__REDIS_SEQ_BITS) | sequence in
 *     the tree, so commit and release find the tree from the id alone.
 *   - Numbers: every limit, counter and amount is an exact integer in Lua's doubles,
 *     so below 2^53: budget_put refuses a limit above TG__LEDGER_REDIS_COUNTER_MAX
 *     with TG_ERR_RANGE and an operation that would push a counter past it fails
 *     with TG_ERR_RANGE (the local ledger's bound is TG_LIMIT_MAX, 1e18).
 *   - Events: written per tree in the deciding call, copied into one ledger-wide stream
 *     by collectors (redis_collect.h), whose numbers are events_since's ids.
 *   - Size bounds: holds_max, budgets_max and idempotency_max bound each budget tree, not the
 *     whole ledger: a count of one tree is in its slot, so the check is atomic with the
 *     decision on a cluster too. Past one, the call fails with TG_ERR_FULL, as the local
 *     ledger's (docs/multi-node.md, "Size bounds").
 *   - Bulk budget changes (budgets_apply): all operations in one budget tree (one call, atomic
 *     on a cluster too), TG_ERR_UNSUPPORTED naming the two trees otherwise; at most
 *     TG__REDIS_BUDGET_OPS_MAX operations (TG_ERR_RANGE); budgets_max counted per tree.
 *   - Not yet: time zones other than UTC (TG_ERR_UNSUPPORTED), templates (docs/multi-node.md).
 *   - Budget listing (budget_page) is tree by tree, not plain path order (redis_paths.c).
 *   - Connection: synchronous hiredis, one connection, `timeout_ms` on connect and
 *     on every reply; a failed or timed-out call is TG_ERR_IO and the connection is
 *     dropped (a call after retry_interval_ms reconnects; calls before it fail at once).
 *     Whether the operation ran in the server is then unknown: retry it with its
 *     idempotency key. A daemon adds an async, pipelined connection for the calls made
 *     inside a request's pass (redis_async.h).
 *   - Sentinel (options.sentinels): the sentinels are asked where the primary is before
 *     every connect, so a failover is followed at the next reconnect (redis_sentinel.h).
 *     Not with a cluster.
 *   - TLS (options.tls): every connection goes through the ledger's TLS bridge (redis_tls.h).
 *   - Cluster (options.cluster): host:port is a seed; the slot map is read from it, each
 *     master gets its own connections, every call goes to the master of its tree's slot,
 *     and MOVED, ASK and TRYAGAIN are followed (redis_cluster.h).
 *   - Thread safety: one thread at a time per tg__redis_ledger.
 */
#ifndef TG_STORE_REDIS_LEDGER_H
#define TG_STORE_REDIS_LEDGER_H

#include "engine/ledger_ops.h"
#include "store/redis/redis_tls.h"
#include "store/redis_url.h"
#include "tollgate.h"

#define TG__LEDGER_REDIS_COUNTER_MAX INT64_C(9007199254740991) /* 2^53 - 1: exact in Lua */
#define TG__REDIS_SEQ_BITS 40           /* low bits of an id: the sequence within its tree */
#define TG__REDIS_TREES_MAX 8388607     /* 2^23 - 1 trees, so an id stays below 2^63 */
#define TG__REDIS_HOST_SIZE_MAX 256     /* bytes in a host name, NUL included */
#define TG__REDIS_TREE_CACHE 1024       /* roots remembered per connection */
#define TG__REDIS_USER_SIZE_MAX 128     /* bytes in an ACL user name, NUL included */
#define TG__REDIS_PASSWORD_SIZE_MAX 256 /* bytes in a password, NUL included */
/* Operations in one budgets_apply: one function call, which the server runs to its end before
 * any other command (about 20 us a put: docs/multi-node.md, "Bulk budget changes"). */
#define TG__REDIS_BUDGET_OPS_MAX 1000

typedef struct tg__redis_ledger tg__redis_ledger;

/* What the server's persistence must give (redis_durability.c), checked at every connect of
 * the synchronous connection (each master's, on a cluster). */
typedef enum {
    TG__REDIS_DURABILITY_UNCHECKED = 0, /* no check: tests and benchmarks of the library */
    TG__REDIS_DURABILITY_STRICT,        /* refuse a server without appendfsync always */
    TG__REDIS_DURABILITY_RELAXED,       /* accept any; warn when it keeps no AOF */
} tg__redis_durability;

#define TG__REDIS_WARNING_SIZE 512 /* bytes of the persistence warning, NUL included */

typedef struct {
    const char *host;                     /* e.g. "127.0.0.1"; unused with sentinels */
    int port;                             /* 1..65535; unused with sentinels */
    const tg__redis_sentinels *sentinels; /* NULL or count 0: host:port is the primary; else
                                             the sentinels name it at every connect
                                             (redis_sentinel.h); copied at open */
    const tg__redis_tls_options *tls;     /* NULL: in clear; else over TLS to host:port through a
                                             bridge the ledger runs (redis_tls.h); not with
                                             sentinels or a cluster; read at open only */
    int64_t timeout_ms;                   /* connect and each reply; 1..60000 */
    const char *user;                     /* ACL user for AUTH, or NULL / "" */
    const char *password;                 /* AUTH password, or NULL / "" for none */
    int db;                               /* 0..15, SELECTed at every connect */
    int64_t retry_interval_ms;            /* after a failure, calls fail fast this long; 0..60000 */
    bool cluster;                /* host:port is a seed of a Redis Cluster (redis_cluster.h) */
    int64_t default_hold_ttl_ms; /* as tg_engine_options */
    int64_t max_hold_ttl_ms;
    int64_t idempotency_ttl_ms;
    int64_t holds_max;               /* as tg_engine_options, but per budget tree: open holds */
    int64_t budgets_max;             /* budgets */
    int64_t idempotency_max;         /* remembered idempotency keys */
    tg__redis_durability durability; /* see above; UNCHECKED by default */
    int wait_replicas;               /* after each function call, WAIT for this many; 0: none */
    int64_t wait_timeout_ms;         /* WAIT's timeout; below timeout_ms */
} tg__redis_ledger_options;

/* Fills *options with tg_engine_options' defaults, host 127.0.0.1:6379, timeout 2 s, no
 * AUTH, db 0, retry interval 0 (every call reconnects: what a test of the library wants). */
void tg__redis_ledger_options_init(tg__redis_ledger_options *options);

/*
 * Connects and loads the function library (FUNCTION LOAD REPLACE: every daemon loads
 * the same text, so the last one to start wins nothing it did not already have).
 * *out is freed with tg__redis_ledger_close. Errors: TG_ERR_INVALID (options),
 * TG_ERR_IO (cannot connect, server older than 7, load refused), TG_ERR_NOMEM.
 */
tg_status tg__redis_ledger_open(const tg__redis_ledger_options *options, tg__redis_ledger **out,
                                tg_error *err);

/* What the last connect found worth a warning about the server's persistence (relaxed mode
 * on a server without AOF; on a cluster, the first master's that warned), or ""
 * (redis_durability.c). Owned by the ledger. */
const char *tg__redis_ledger_warning(const tg__redis_ledger *ledger);

/* Closes the connection and frees. NULL is a no-op. */
void tg__redis_ledger_close(tg__redis_ledger *ledger);

/* As tg_policy_set: the rules that give TG_CLASS_AUTO requests their class (kept in this
 * process: every daemon is given the same config). */
tg_status tg__redis_ledger_policy_set(tg__redis_ledger *ledger, const tg_policy_rule *rules,
                                      size_t count, tg_class default_class, tg_error *err);

/* The seam's table; `self` is a tg__redis_ledger. */
extern const tg__ledger_ops tg__ledger_ops_redis;

#endif
