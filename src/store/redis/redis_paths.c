/*
 * redis_paths: pages of budget paths on the Redis ledger (the seam's budget_page), from
 * the index tollgate.lua keeps: each tree's paths in a sorted set ("tg:{ROOT}:paths") and
 * the root names in another ("tg:{roots}:names"), both listed in byte order.
 *
 * The order is tree by tree: the roots in byte order, then each tree's paths in byte
 * order. It differs from plain path order only where one root's name is another's start
 * followed by a byte below '/' ("a-b" lists after the whole tree "a", where path order
 * puts it between "a" and "a/x"): a tree is one slot of a Redis Cluster, so a page reads
 * one tree at a time and never merges across shards. `after` (a page's last path) names
 * its tree, so the next page goes on from there in the same order.
 */
#include <string.h>

#include "core/path.h"
#include "store/redis/redis_internal.h"

#define ROOTS_PER_CALL 64 /* root names one tg_roots call answers */
/* "[" or "(" and a path: a ZRANGE BYLEX bound */
#define BOUND_SIZE (TG_PATH_SIZE_MAX + 1)

static void bound(char out[BOUND_SIZE], char kind, const char *text) {
    snprintf(out, BOUND_SIZE, "%c%s", kind, text);
}

/* A tg_paths or tg_roots call: {0, member...} into *reply_out (tg__redis_done it). */
static tg_status members(tg__redis_ledger *ledger, const char *function, const char *key,
                         const char *start, const char *prefix, size_t limit,
                         redisReply **reply_out, tg_error *err) {
    tg__redis_args args;
    tg__redis_args_fcall(&args, function, key);
    tg__redis_args_str(&args, start);
    tg__redis_args_str(&args, prefix);
    tg__redis_args_i64(&args, (int64_t)limit);
    tg_status status = tg__redis_call(ledger, &args, 1, reply_out, err);
    if (status == TG_OK && (*reply_out)->elements - 1 > limit) {
        tg__redis_done(ledger, *reply_out);
        return tg__fail(err, TG_ERR_IO, "redis function %s answered more than asked", function);
    }
    return status;
}

/* Appends the paths of tree `root` from `start` that begin with `prefix`; stops at limit. */
static tg_status tree_paths(tg__redis_ledger *ledger, const char *root, const char *start,
                            const char *prefix, size_t limit, char (*paths)[TG_PATH_SIZE_MAX],
                            size_t *count, tg_error *err) {
    char key[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_prefix_of(root, key);
    redisReply *reply = NULL;
    tg_status status = members(ledger, "tg_paths", key, start, prefix, limit - *count, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    for (size_t i = 1; i < reply->elements; i++) {
        snprintf(paths[(*count)++], TG_PATH_SIZE_MAX, "%s", tg__redis_str(reply, i));
    }
    tg__redis_done(ledger, reply);
    return TG_OK;
}

tg_status tg__redis_budget_page(void *self, const char *prefix, const char *after, size_t limit,
                                char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out, tg_error *err) {
    tg__redis_ledger *ledger = self;
    *count_out = 0;
    prefix = prefix ? prefix : "";
    if (strlen(prefix) >= TG_PATH_SIZE_MAX || (after && strlen(after) >= TG_PATH_SIZE_MAX)) {
        return tg__fail(err, TG_ERR_INVALID, "a prefix or cursor is at most %d bytes",
                        TG_PATH_SIZE_MAX - 1);
    }
    if (limit == 0) {
        return TG_OK;
    }
    /* Which roots: with a '/' in the prefix, only the root before it; else every root that
     * begins with the prefix (each of its paths then does too). */
    char roots_prefix[TG_SEGMENT_SIZE_MAX];
    bool one_root = strchr(prefix, '/') != NULL;
    if (one_root) {
        tg__redis_root_of(prefix, roots_prefix);
    } else {
        snprintf(roots_prefix, sizeof roots_prefix, "%s", prefix);
    }
    char after_root[TG_SEGMENT_SIZE_MAX] = "";
    if (after) {
        tg__redis_root_of(after, after_root);
    }
    /* The first root: the cursor's own (more of it may follow), unless the filter starts
     * later. */
    char start[BOUND_SIZE];
    bool from_cursor = after && strcmp(after_root, roots_prefix) >= 0;
    bound(start, '[', from_cursor ? after_root : roots_prefix);
    for (;;) {
        /* The names are copied out before the trees are read: a reply of a request's pass
         * is only valid until the next call (tg__redis_done, redis_async.h). */
        char names[ROOTS_PER_CALL][TG_SEGMENT_SIZE_MAX]; /* 4 KiB */
        redisReply *roots = NULL;
        tg_status status = members(ledger, "tg_roots", TG__REDIS_REGISTRY_KEY, start, roots_prefix,
                                   ROOTS_PER_CALL, &roots, err);
        if (status != TG_OK) {
            return status;
        }
        size_t found = roots->elements - 1;
        for (size_t i = 0; i < found; i++) {
            snprintf(names[i], TG_SEGMENT_SIZE_MAX, "%s", tg__redis_str(roots, i + 1));
        }
        tg__redis_done(ledger, roots);
        for (size_t i = 0; i < found && *count_out < limit; i++) {
            const char *root = names[i];
            if (one_root && strcmp(root, roots_prefix) != 0) {
                found = 0; /* past the one root */
                break;
            }
            char from[BOUND_SIZE];
            if (from_cursor && strcmp(root, after_root) == 0 && strcmp(after, prefix) >= 0) {
                bound(from, '(', after);
            } else {
                bound(from, '[', prefix);
            }
            status = tree_paths(ledger, root, from, prefix, limit, paths, count_out, err);
            if (status != TG_OK) {
                return status;
            }
            bound(start, '(', root);
        }
        if (*count_out == limit || found < ROOTS_PER_CALL) {
            return TG_OK;
        }
    }
}
