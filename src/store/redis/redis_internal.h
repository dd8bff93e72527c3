/*
 * redis_internal: what redis_ledger.c (holds and charges) and redis_budgets.c
 * (budgets) share: the handle, the tree registry and the argument helpers.
 * Nothing outside src/store/redis includes this.
 */
#ifndef TG_STORE_REDIS_INTERNAL_H
#define TG_STORE_REDIS_INTERNAL_H

#include "core/ledger.h"
#include "core/tz.h"
#include "store/redis/redis_cluster.h"
#include "store/redis/redis_conn.h"

#define TG__REDIS_REGISTRY_KEY "tg:{roots}"
#define TG__REDIS_PREFIX_SIZE_MAX (TG_SEGMENT_SIZE_MAX + 8) /* "tg:{" root "}:" */
#define TG__REDIS_KEY_ARGS_SIZE_MAX (TG_PATH_SIZE_MAX + 2 * TG_NAME_SIZE_MAX + 160)
#define TG__REDIS_SPEC_TEXT_SIZE_MAX 512

typedef struct {
    char root[TG_SEGMENT_SIZE_MAX]; /* "" when the slot is free */
    int64_t tree;                   /* its number in the registry */
} tg__redis_tree_entry;

typedef struct tg__redis_async tg__redis_async;

/* What a collect works on (redis_collect.c): the trees to look at, where the sweep over every
 * tree is, and the copied positions last seen. Saved when a collect begins and put back at
 * each of its passes (redis_async.h: a pass must start from the same state to make the same
 * calls). */
#define TG__REDIS_COLLECT_DIRTY 256 /* as TG__REDIS_DIRTY_MAX of redis_collect.h */
typedef struct {
    char dirty[TG__REDIS_COLLECT_DIRTY][TG_SEGMENT_SIZE_MAX]; /* roots to look at, unordered */
    int dirty_count;
    bool dirty_overflow; /* more were touched than remembered: the sweep takes more trees */
    int64_t sweep_next;  /* the next tree number the sweep looks at */
    int64_t sweep_last;  /* the trees' count when the sweep began its round */
    int64_t copied_tree[TG__REDIS_TREE_CACHE]; /* by tree number modulo the size: which tree */
    int64_t copied_seq[TG__REDIS_TREE_CACHE];  /* and its copied position as last seen */
} tg__redis_collect_state;

typedef struct {
    char touched[TG__REDIS_COLLECT_DIRTY][TG_SEGMENT_SIZE_MAX]; /* roots decided on since the
                                                                   last collect began */
    int touched_count;
    bool touched_overflow;
    tg__redis_collect_state state;  /* the collect's */
    tg__redis_collect_state *saved; /* from malloc: state when the collect began; NULL between */
} tg__redis_collector;

struct tg__redis_ledger {
    tg__redis_conn conn;        /* synchronous: start-up, reloads, ticks, calls outside a pass;
                                   with a cluster, the seed's settings (nodes are in `cluster`) */
    tg__redis_cluster *cluster; /* redis_cluster.h; NULL on a single server */
    tg__redis_async *async;     /* redis_async.h; NULL until tg__redis_async_start */
    tg__redis_ledger_options options;
    tg__redis_sentinels sentinels; /* options.sentinels copied (count 0: none) */
    tg__redis_tls *tls;            /* the TLS bridge (options.tls), NULL in clear */
    tg__ledger *policy; /* a core ledger used for its policy rules only: classification */
    tg__tz *utc;        /* window bounds (only UTC windows so far) */
    tg__redis_tree_entry
        trees[TG__REDIS_TREE_CACHE]; /* root <-> number, by number modulo the size */
    tg__redis_collector collector;   /* redis_collect.c */
};

/* Whether store.wait_replicas' WAIT follows the function call `args` (redis_collect.c): not a
 * read-only one of the collector or the tree count (nothing to wait for), and not the
 * collector's copy on the synchronous connection (the loop would wait for a lagging replica
 * for nothing a client was told; a copy lost in a failover goes with its copied position,
 * so it is copied again under new ids: docs/multi-node.md, "Events"). */
bool tg__redis_call_waits(const tg__redis_args *args, bool synchronous);

/* Remembers the tree of a decision's call `args` (a function that may emit events) as
 * touched, for the next collect (redis_collect.c); other calls are ignored. After its answer. */
void tg__redis_touched(tg__redis_ledger *ledger, const tg__redis_args *args);

/* A decision's function call: on the async connection inside a pass of a parked request
 * (redis_async.h), else on the synchronous one; as tg__redis_fcall, and followed by WAIT on
 * the same connection when store.wait_replicas asks (a failure when too few replicas ack). The
 * reply is given back with tg__redis_done, never freeReplyObject (a replayed answer belongs to the
 * pass). */
tg_status tg__redis_call(tg__redis_ledger *ledger, tg__redis_args *args, size_t fields,
                         redisReply **reply_out, tg_error *err);
void tg__redis_done(tg__redis_ledger *ledger, redisReply *reply);

/* An event's fields from element `at` of a tg_events or tg_ledger_events row (kind, time,
 * budget, then the optional ones), hold ids made in `tree`; `e` zeroed first, id left 0
 * (redis_events.c, one reader for both answers). */
void tg__redis_event_fields(const redisReply *reply, size_t at, int64_t tree, tg_event *e);
void tg__redis_async_free(tg__redis_async *async);
/* Replays see what the first pass saw (redis_async.h): inside a pass, whether `root` was found
 * without a tree earlier in the request and not made since in the pass running now; and
 * tree_seen notes a lookup that found none (created false) or a tree made (created true). */
bool tg__redis_async_absent(tg__redis_ledger *ledger, const char *root);
void tg__redis_async_tree_seen(tg__redis_ledger *ledger, const char *root, bool created);
void tg__redis_async_abandon(tg__redis_ledger *ledger, void **state);

/* The number of `root`'s tree; with `create`, made on first use (tg_tree). *tree_out is 0
 * when there is none and `create` is false. */
tg_status tg__redis_tree_of_root(tg__redis_ledger *ledger, const char *root, bool create,
                                 int64_t *tree_out, tg_error *err);
/* The root of tree number `tree` into root[TG_SEGMENT_SIZE_MAX]; "" when there is none. */
tg_status tg__redis_root_of_tree(tg__redis_ledger *ledger, int64_t tree, char *root, tg_error *err);
/* A hold or charge id: (tree << TG__REDIS_SEQ_BITS) | seq. */
uint64_t tg__redis_id_make(int64_t tree, int64_t seq);
/* The root of a budget path ("acme" of "acme/support") into root[TG_SEGMENT_SIZE_MAX]. */
void tg__redis_root_of(const char *path, char *root);
/* "tg:{ROOT}:", the start of every key of the tree. */
void tg__redis_prefix_of(const char *root, char prefix[TG__REDIS_PREFIX_SIZE_MAX]);
/* The tree prefix of a path whose root exists (path checked); TG_ERR_NOT_FOUND otherwise. */
tg_status tg__redis_budget_prefix(tg__redis_ledger *ledger, const char *path,
                                  char prefix[TG__REDIS_PREFIX_SIZE_MAX], tg_error *err);
/* FCALL name 2 prefix prefix.."meta": the start of every tree operation (the second key only
 * declared, for a cluster's resharding: redis_cluster.h). */
void tg__redis_args_fcall(tg__redis_args *args, const char *name, const char *prefix);
/* Start and end of the hour, day, week and month windows at now (UTC), as 8 arguments. */
void tg__redis_args_bounds(tg__redis_ledger *ledger, tg__redis_args *args, int64_t now_ms);

/* Pages of budget paths, tree by tree (redis_paths.c), as the seam's budget_page. */
tg_status tg__redis_budget_page(void *self, const char *prefix, const char *after, size_t limit,
                                char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out, tg_error *err);

/* Budgets (redis_budgets.c), as the seam's entries. */
tg_status tg__redis_budget_put(void *self, const char *path, const tg_budget_spec *spec,
                               int64_t now_ms, tg_error *err);
tg_status tg__redis_budget_get(void *self, const char *path, int64_t now_ms, tg_budget_info *out,
                               tg_error *err);
tg_status tg__redis_budget_delete(void *self, const char *path, int64_t now_ms, tg_error *err);
tg_status tg__redis_budget_freeze(void *self, const char *path, bool frozen, int64_t now_ms,
                                  tg_error *err);
tg_status tg__redis_budgets_apply(void *self, const tg_budget_op *ops, size_t count, int64_t now_ms,
                                  tg_budget_counts *counts, tg_error *err);

#endif
