/*
 * redis_ledger: the ledger operations of engine/ledger_ops.h on a Redis server.
 * This file checks a request as the local ledger does (decide.c, budget.c: the
 * same statuses for the same bad input, before anything is sent), resolves what
 * the core computes without state (a policy class, a budget's derived ceilings,
 * window bounds), and hands the decision to one function of tollgate.lua, which
 * reads and changes the tree's state atomically in the server.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ledger_internal.h"
#include "core/tz.h"
#include "store/redis/redis_collect.h"
#include "store/redis/redis_internal.h"

void tg__redis_ledger_options_init(tg__redis_ledger_options *options) {
    tg_engine_options engine;
    tg_engine_options_init(&engine);
    options->host = "127.0.0.1";
    options->port = 6379;
    options->sentinels = NULL;
    options->tls = NULL;
    options->timeout_ms = 2000;
    options->user = NULL;
    options->password = NULL;
    options->db = 0;
    options->retry_interval_ms = 0;
    options->cluster = false;
    options->default_hold_ttl_ms = engine.default_hold_ttl_ms;
    options->max_hold_ttl_ms = engine.max_hold_ttl_ms;
    options->idempotency_ttl_ms = engine.idempotency_ttl_ms;
    options->holds_max = engine.holds_max;
    options->budgets_max = engine.budgets_max;
    options->idempotency_max = engine.idempotency_max;
    options->durability = TG__REDIS_DURABILITY_UNCHECKED;
    options->wait_replicas = 0;
    options->wait_timeout_ms = 100;
}

tg_status tg__redis_ledger_open(const tg__redis_ledger_options *options, tg__redis_ledger **out,
                                tg_error *err) {
    bool sentinels = options->sentinels != NULL && options->sentinels->count > 0;
    if (options->tls != NULL && (sentinels || options->cluster)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "redis ledger: TLS goes to one server, not to sentinels or a cluster");
    }
    if (sentinels && (options->cluster || options->sentinels->count > TG__REDIS_SENTINELS_MAX ||
                      options->sentinels->master[0] == '\0')) {
        return tg__fail(err, TG_ERR_INVALID,
                        "redis ledger: sentinels need a master's name, at most %d of them, and "
                        "no cluster (a Redis Cluster fails over by itself)",
                        TG__REDIS_SENTINELS_MAX);
    }
    if (!sentinels && (options->host == NULL || strlen(options->host) >= TG__REDIS_HOST_SIZE_MAX ||
                       options->port < 1 || options->port > 65535)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "redis ledger: host (under %d bytes) and port 1..65535 needed",
                        TG__REDIS_HOST_SIZE_MAX);
    }
    if (options->timeout_ms < 1 || options->timeout_ms > 60000 ||
        options->default_hold_ttl_ms < 1 ||
        options->default_hold_ttl_ms > options->max_hold_ttl_ms ||
        options->idempotency_ttl_ms < 1) {
        return tg__fail(err, TG_ERR_INVALID,
                        "redis ledger: timeout_ms 1..60000 and positive ttls needed");
    }
    if (options->holds_max < 1 || options->holds_max > INT32_MAX / 2 || options->budgets_max < 1 ||
        options->budgets_max > INT32_MAX / 2 || options->idempotency_max < 1 ||
        options->idempotency_max > INT32_MAX / 2) {
        return tg__fail(err, TG_ERR_INVALID,
                        "redis ledger: holds_max, budgets_max and idempotency_max 1..%d needed",
                        INT32_MAX / 2);
    }
    const char *user = options->user ? options->user : "";
    const char *password = options->password ? options->password : "";
    if (strlen(user) >= TG__REDIS_USER_SIZE_MAX ||
        strlen(password) >= TG__REDIS_PASSWORD_SIZE_MAX ||
        (user[0] != '\0' && password[0] == '\0') || options->db < 0 || options->db > 15 ||
        (options->cluster && options->db != 0) || options->retry_interval_ms < 0 ||
        options->retry_interval_ms > 60000 || options->wait_replicas < 0 ||
        (options->wait_replicas > 0 &&
         (options->wait_timeout_ms < 1 || options->wait_timeout_ms >= options->timeout_ms))) {
        return tg__fail(err, TG_ERR_INVALID,
                        "redis ledger: user under %d bytes (with a password), password under %d "
                        "bytes, db 0..15 (0 on a cluster), retry_interval_ms 0..60000 and "
                        "wait_timeout_ms below timeout_ms needed",
                        TG__REDIS_USER_SIZE_MAX, TG__REDIS_PASSWORD_SIZE_MAX);
    }
    tg__redis_ledger *ledger = calloc(1, sizeof *ledger);
    tg__ledger_options policy_options = {.holds_max = 1,
                                         .budgets_max = 1,
                                         .idempotency_max = 1,
                                         .idempotency_ttl_ms = 1,
                                         .default_hold_ttl_ms = 1,
                                         .max_hold_ttl_ms = 1};
    if (ledger == NULL || (ledger->policy = tg__ledger_new(&policy_options)) == NULL ||
        (ledger->utc = tg__tz_utc()) == NULL) {
        tg__redis_ledger_close(ledger);
        return tg__fail(err, TG_ERR_NOMEM, "out of memory opening the redis ledger");
    }
    ledger->options = *options;
    if (sentinels) {
        ledger->sentinels = *options->sentinels;
        ledger->conn.sentinels = &ledger->sentinels;
        ledger->options.sentinels = &ledger->sentinels;
    } else {
        memcpy(ledger->conn.host, options->host, strlen(options->host) + 1);
        ledger->conn.port = options->port;
        ledger->options.sentinels = NULL;
    }
    ledger->options.host = ledger->conn.host;
    ledger->conn.timeout_ms = options->timeout_ms;
    memcpy(ledger->conn.user, user, strlen(user) + 1);
    memcpy(ledger->conn.password, password, strlen(password) + 1);
    ledger->options.user = ledger->conn.user;
    ledger->options.password = ledger->conn.password;
    ledger->conn.db = options->db;
    ledger->conn.retry_interval_ms = options->retry_interval_ms;
    ledger->conn.durability = options->durability;
    ledger->conn.wait_replicas = options->wait_replicas;
    ledger->conn.wait_timeout_ms = options->wait_timeout_ms;
    tg_status status = TG_OK;
    if (options->tls != NULL) {
        tg__redis_tls_options tls = *options->tls;
        tls.host = ledger->conn.host;
        tls.port = ledger->conn.port;
        status = tg__redis_tls_start(&tls, &ledger->tls, err);
        ledger->conn.tls = ledger->tls;
        ledger->options.tls = NULL; /* read at open only: the caller's may go */
    }
    if (status == TG_OK) {
        status = tg__redis_connect(&ledger->conn, err);
    }
    if (status == TG_OK && options->cluster) {
        status = tg__redis_cluster_open(ledger, err);
    }
    if (status != TG_OK) {
        tg__redis_ledger_close(ledger);
        return status;
    }
    *out = ledger;
    return TG_OK;
}

const char *tg__redis_ledger_warning(const tg__redis_ledger *ledger) {
    /* On a cluster each master was checked at its own connect: the first that warned. */
    for (int i = 0; ledger->cluster != NULL && i < ledger->cluster->count; i++) {
        if (ledger->cluster->nodes[i].warning[0] != '\0') {
            return ledger->cluster->nodes[i].warning;
        }
    }
    return ledger->conn.warning;
}

void tg__redis_ledger_close(tg__redis_ledger *ledger) {
    if (ledger == NULL) {
        return;
    }
    tg__redis_async_free(ledger->async);
    tg__redis_collect_end(ledger);
    tg__redis_cluster_close(ledger);
    tg__redis_disconnect(&ledger->conn);
    tg__redis_tls_stop(ledger->tls); /* after every connection through it is closed */
    tg__ledger_free(ledger->policy);
    tg__tz_free(ledger->utc);
    free(ledger);
}

tg_status tg__redis_ledger_policy_set(tg__redis_ledger *ledger, const tg_policy_rule *rules,
                                      size_t count, tg_class default_class, tg_error *err) {
    return tg__ledger_policy_set(ledger->policy, rules, count, default_class, err);
}

/* ---- trees: a root's number, and the key prefix of its tree --------------------------- */

static void tree_remember(tg__redis_ledger *ledger, const char *root, int64_t tree) {
    tg__redis_tree_entry *entry = &ledger->trees[tree % TG__REDIS_TREE_CACHE];
    snprintf(entry->root, sizeof entry->root, "%s", root);
    entry->tree = tree;
}

/* The root of a budget path ("acme" of "acme/support") into root[TG_SEGMENT_SIZE_MAX]. */
void tg__redis_root_of(const char *path, char *root) {
    size_t len = strcspn(path, "/");
    memcpy(root, path, len);
    root[len] = '\0';
}

/* The number of `root`'s tree; with `create`, made on first use (tg_tree). *tree_out is 0
 * when there is none and `create` is false. */
tg_status tg__redis_tree_of_root(tg__redis_ledger *ledger, const char *root, bool create,
                                 int64_t *tree_out, tg_error *err) {
    /* A request's passes must see the same trees (redis_async.h): a root its first pass found
     * without a tree stays so in later passes until the pass makes it, though the first pass
     * went on to make it (a bulk PUT of a new root reads the budget before it puts). */
    if (!create && tg__redis_async_absent(ledger, root)) {
        *tree_out = 0;
        return TG_OK;
    }
    if (create) {
        tg__redis_async_tree_seen(ledger, root, true);
    }
    for (size_t i = 0; i < TG__REDIS_TREE_CACHE; i++) {
        if (ledger->trees[i].root[0] && strcmp(ledger->trees[i].root, root) == 0) {
            *tree_out = ledger->trees[i].tree;
            return TG_OK;
        }
    }
    tg__redis_args args = {.count = 0};
    redisReply *reply = NULL;
    tg_status status;
    if (create) {
        tg__redis_args_str(&args, "FCALL");
        tg__redis_args_str(&args, "tg_tree");
        tg__redis_args_i64(&args, 1);
        tg__redis_args_str(&args, TG__REDIS_REGISTRY_KEY);
        tg__redis_args_str(&args, root);
        /* Replicated (store.wait_replicas): a tree's number lost in a failover would be
         * handed to another root, whose ids would then name this tree's holds. */
        status = tg__redis_sync_fcall(ledger, &args, 2, &reply, err);
    } else {
        char field[TG_SEGMENT_SIZE_MAX + 8];
        snprintf(field, sizeof field, "name:%s", root);
        tg__redis_args_str(&args, "HGET");
        tg__redis_args_str(&args, TG__REDIS_REGISTRY_KEY);
        tg__redis_args_str(&args, field);
        status = tg__redis_sync_command(ledger, &args, &reply, err);
    }
    if (status != TG_OK) {
        return status;
    }
    int64_t tree = create                              ? tg__redis_i64(reply, 1)
                   : reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10)
                                                       : 0;
    freeReplyObject(reply);
    if (tree > TG__REDIS_TREES_MAX) {
        return tg__fail(err, TG_ERR_FULL, "the redis ledger holds its maximum of %d trees",
                        TG__REDIS_TREES_MAX);
    }
    if (tree > 0) {
        tree_remember(ledger, root, tree);
    } else {
        tg__redis_async_tree_seen(ledger, root, false);
    }
    *tree_out = tree;
    return TG_OK;
}

tg_status tg__redis_root_of_tree(tg__redis_ledger *ledger, int64_t tree, char *root,
                                 tg_error *err) {
    const tg__redis_tree_entry *entry = &ledger->trees[tree % TG__REDIS_TREE_CACHE];
    if (entry->root[0] && entry->tree == tree) {
        memcpy(root, entry->root, sizeof entry->root);
        return TG_OK;
    }
    char field[32];
    snprintf(field, sizeof field, "tree:%lld", (long long)tree);
    tg__redis_args args = {.count = 0};
    tg__redis_args_str(&args, "HGET");
    tg__redis_args_str(&args, TG__REDIS_REGISTRY_KEY);
    tg__redis_args_str(&args, field);
    redisReply *reply = NULL;
    tg_status status = tg__redis_sync_command(ledger, &args, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    root[0] = '\0';
    if (reply->type == REDIS_REPLY_STRING && reply->len < TG_SEGMENT_SIZE_MAX) {
        memcpy(root, reply->str, reply->len + 1);
        tree_remember(ledger, root, tree);
    }
    freeReplyObject(reply);
    return TG_OK;
}

void tg__redis_prefix_of(const char *root, char prefix[TG__REDIS_PREFIX_SIZE_MAX]) {
    snprintf(prefix, TG__REDIS_PREFIX_SIZE_MAX, "tg:{%s}:", root);
}

uint64_t tg__redis_id_make(int64_t tree, int64_t seq) {
    return ((uint64_t)tree << TG__REDIS_SEQ_BITS) | (uint64_t)seq;
}

/* A hold id's tree prefix and sequence; TG_ERR_NOT_FOUND when no tree has it. */
static tg_status id_resolve(tg__redis_ledger *ledger, uint64_t id,
                            char prefix[TG__REDIS_PREFIX_SIZE_MAX], int64_t *seq_out,
                            tg_error *err) {
    int64_t tree = (int64_t)(id >> TG__REDIS_SEQ_BITS);
    int64_t seq = (int64_t)(id & ((UINT64_C(1) << TG__REDIS_SEQ_BITS) - 1));
    char root[TG_SEGMENT_SIZE_MAX] = "";
    tg_status status = TG_OK;
    if (tree >= 1 && tree <= TG__REDIS_TREES_MAX && seq >= 1 &&
        (status = tg__redis_root_of_tree(ledger, tree, root, err)) != TG_OK) {
        return status;
    }
    if (root[0] == '\0') {
        return tg__fail(err, TG_ERR_NOT_FOUND,
                        "hold %llu is not open (never made, or already committed, released or "
                        "expired)",
                        (unsigned long long)id);
    }
    tg__redis_prefix_of(root, prefix);
    *seq_out = seq;
    return TG_OK;
}

/* Start and end of the hour, day, week and month windows at now (UTC), as arguments. */
void tg__redis_args_bounds(tg__redis_ledger *ledger, tg__redis_args *args, int64_t now_ms) {
    for (int kind = TG_WINDOW_HOUR; kind <= TG_WINDOW_MONTH; kind++) {
        int64_t start, end;
        tg__window_bounds(ledger->utc, (tg_window_kind)kind, now_ms, &start, &end);
        tg__redis_args_i64(args, start);
        tg__redis_args_i64(args, end);
    }
}

/* FCALL name 2 prefix prefix.."meta": the start of every tree operation. tollgate.lua reads
 * the tree's keys from KEYS[1], the prefix, which is never a key itself; KEYS[2] is only
 * declared, so that no call runs on a tree that a cluster's resharding has split between
 * two masters (redis_cluster.h says how). */
void tg__redis_args_fcall(tg__redis_args *args, const char *name, const char *prefix) {
    args->count = 0;
    snprintf(args->key_text, sizeof args->key_text, "%smeta", prefix);
    tg__redis_args_str(args, "FCALL");
    tg__redis_args_str(args, name);
    tg__redis_args_i64(args, 2);
    tg__redis_args_str(args, prefix);
    tg__redis_args_str(args, args->key_text);
}

/* ---- checks, as the local ledger makes them (decide.c) ------------------------------ */

static tg_status labels_check(const char *tool, const char *model, const char *key, tg_class cls,
                              tg_error *err) {
    if ((tool && strnlen(tool, TG_NAME_SIZE_MAX) >= TG_NAME_SIZE_MAX) ||
        (model && strnlen(model, TG_NAME_SIZE_MAX) >= TG_NAME_SIZE_MAX)) {
        return tg__fail(err, TG_ERR_INVALID, "tool and model names are at most %d bytes",
                        TG_NAME_SIZE_MAX - 1);
    }
    if (key && strnlen(key, TG_KEY_SIZE_MAX) >= TG_KEY_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "idempotency key is longer than %d bytes",
                        TG_KEY_SIZE_MAX - 1);
    }
    if ((unsigned)cls > TG_CLASS_AUTO) {
        return tg__fail(err, TG_ERR_INVALID, "unknown impact class %d", (int)cls);
    }
    return TG_OK;
}

/* The tree prefix of an existing budget's path; TG_ERR_NOT_FOUND when its root is unknown. */
tg_status tg__redis_budget_prefix(tg__redis_ledger *ledger, const char *path,
                                  char prefix[TG__REDIS_PREFIX_SIZE_MAX], tg_error *err) {
    tg_status status = tg__path_check(path, err);
    if (status != TG_OK) {
        return status;
    }
    char root[TG_SEGMENT_SIZE_MAX];
    tg__redis_root_of(path, root);
    int64_t tree = 0;
    if ((status = tg__redis_tree_of_root(ledger, root, false, &tree, err)) != TG_OK) {
        return status;
    }
    if (tree == 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no budget '%s'", path);
    }
    tg__redis_prefix_of(root, prefix);
    return TG_OK;
}

static tg_class classify(tg__redis_ledger *ledger, const char *budget, tg_class cls,
                         const char *tool, const char *model) {
    return cls == TG_CLASS_AUTO ? tg__ledger_classify(ledger->policy, budget, tool, model) : cls;
}

static uint64_t prefix_tree(tg__redis_ledger *ledger, const char *prefix) {
    char root[TG_SEGMENT_SIZE_MAX];
    size_t len = strlen(prefix) - 6; /* "tg:{" and "}:" */
    memcpy(root, prefix + 4, len);
    root[len] = '\0';
    int64_t tree = 0;
    (void)tg__redis_tree_of_root(ledger, root, false, &tree, NULL); /* cached by budget_prefix */
    return (uint64_t)tree;
}

static void refusal_from(const redisReply *reply, size_t at, tg_refusal *refusal) {
    memset(refusal, 0, sizeof *refusal);
    refusal->reason = (tg_reason)tg__redis_i64(reply, at);
    snprintf(refusal->budget, sizeof refusal->budget, "%s", tg__redis_str(reply, at + 1));
    refusal->max_amount_micros = tg__redis_i64(reply, at + 2);
    refusal->retry_after_ms = tg__redis_i64(reply, at + 3);
}

/* Ends a keyed operation's arguments and makes the call: its idempotency key, the text of
 * the arguments a repeat must carry (key_args), the key's lifetime, with `bounds` the window
 * bounds at now, then the tree's size bounds (holds_max, idempotency_max: tollgate.lua's
 * holds_full and keys_full). The order is the one every keyed function of tollgate.lua reads. */
static tg_status call_keyed(tg__redis_ledger *ledger, tg__redis_args *args, const char *key,
                            const char *key_args, bool bounds, int64_t now_ms, size_t fields,
                            redisReply **reply_out, tg_error *err) {
    tg__redis_args_str(args, key);
    tg__redis_args_str(args, key_args);
    tg__redis_args_i64(args, ledger->options.idempotency_ttl_ms);
    if (bounds) {
        tg__redis_args_bounds(ledger, args, now_ms);
    }
    tg__redis_args_i64(args, ledger->options.holds_max);
    tg__redis_args_i64(args, ledger->options.idempotency_max);
    *reply_out = NULL;
    return tg__redis_call(ledger, args, fields, reply_out, err);
}

/* Strings in an idempotency key's arguments are length-prefixed: no separator is ambiguous. */
#define S(text) strlen((text) ? (text) : ""), (text) ? (text) : ""

/* ---- the operations ---------------------------------------------------------------- */

static tg_status redis_reserve(void *self, const tg_reserve_request *r, int64_t now_ms,
                               tg_reserve_result *out, tg_error *err) {
    tg__redis_ledger *ledger = self;
    tg_status status;
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    if ((status = tg__amount_check(r->amount_micros, "amount", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens, "tokens", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->ttl_ms, "ttl_ms", ledger->options.max_hold_ttl_ms, err)) !=
            TG_OK ||
        (status = labels_check(r->tool, r->model, r->idempotency_key, r->cls, err)) != TG_OK ||
        (status = tg__redis_budget_prefix(ledger, r->budget, prefix, err)) != TG_OK) {
        return status;
    }
    int64_t ttl = r->ttl_ms > 0 ? r->ttl_ms : ledger->options.default_hold_ttl_ms;
    int64_t expires = now_ms > INT64_MAX - ttl ? INT64_MAX : now_ms + ttl;
    tg_class cls = classify(ledger, r->budget, r->cls, r->tool, r->model);
    char key_args[TG__REDIS_KEY_ARGS_SIZE_MAX];
    snprintf(key_args, sizeof key_args, "%zu:%s|%lld|%lld|%d|%zu:%s|%zu:%s|%lld", S(r->budget),
             (long long)r->amount_micros, (long long)r->tokens, (int)r->cls, S(r->tool),
             S(r->model), (long long)r->ttl_ms);
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_reserve", prefix);
    tg__redis_args_i64(&args, now_ms);
    tg__redis_args_str(&args, r->budget);
    tg__redis_args_i64(&args, r->amount_micros);
    tg__redis_args_i64(&args, r->tokens);
    tg__redis_args_i64(&args, cls);
    tg__redis_args_str(&args, r->tool);
    tg__redis_args_str(&args, r->model);
    tg__redis_args_i64(&args, expires);
    redisReply *reply;
    if ((status = call_keyed(ledger, &args, r->idempotency_key, key_args, true, now_ms, 6, &reply,
                             err)) != TG_OK) {
        return status;
    }
    /* {0, replayed, seq, expires, cls, granted [, reason, budget, max, retry]} */
    memset(out, 0, sizeof *out);
    out->replayed = tg__redis_i64(reply, 1) != 0;
    out->granted = tg__redis_i64(reply, 5) != 0;
    out->cls = (tg_class)tg__redis_i64(reply, 4);
    if (out->granted) {
        out->hold_id =
            tg__redis_id_make((int64_t)prefix_tree(ledger, prefix), tg__redis_i64(reply, 2));
        out->expires_at_ms = tg__redis_i64(reply, 3);
    } else if (reply->elements >= 10) {
        refusal_from(reply, 6, &out->refusal);
    }
    tg__redis_done(ledger, reply);
    return TG_OK;
}

static tg_status redis_commit(void *self, const tg_commit_request *r, int64_t now_ms,
                              tg_commit_result *out, tg_error *err) {
    tg__redis_ledger *ledger = self;
    tg_status status;
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    int64_t seq = 0;
    if ((status = tg__amount_check(r->actual_micros, "actual cost", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens_in, "tokens_in", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens_out, "tokens_out", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = labels_check(NULL, NULL, r->idempotency_key, TG_CLASS_LOW, err)) != TG_OK ||
        (status = id_resolve(ledger, r->hold_id, prefix, &seq, err)) != TG_OK) {
        return status;
    }
    char key_args[TG__REDIS_KEY_ARGS_SIZE_MAX];
    snprintf(key_args, sizeof key_args, "%llu|%lld|%lld|%lld|%d", (unsigned long long)r->hold_id,
             (long long)r->actual_micros, (long long)r->tokens_in, (long long)r->tokens_out,
             r->agent_reported ? 1 : 0);
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_commit", prefix);
    tg__redis_args_i64(&args, now_ms);
    tg__redis_args_i64(&args, seq);
    tg__redis_args_i64(&args, r->actual_micros);
    tg__redis_args_i64(&args, r->tokens_in);
    tg__redis_args_i64(&args, r->tokens_out);
    tg__redis_args_i64(&args, r->agent_reported ? 1 : 0);
    redisReply *reply;
    if ((status = call_keyed(ledger, &args, r->idempotency_key, key_args, true, now_ms, 6, &reply,
                             err)) != TG_OK) {
        return status;
    }
    /* {0, replayed, charged, overrun, charge seq, capped} */
    memset(out, 0, sizeof *out);
    out->replayed = tg__redis_i64(reply, 1) != 0;
    out->charged_micros = tg__redis_i64(reply, 2);
    out->overrun_micros = tg__redis_i64(reply, 3);
    out->charge_id =
        tg__redis_id_make((int64_t)(r->hold_id >> TG__REDIS_SEQ_BITS), tg__redis_i64(reply, 4));
    out->capped = tg__redis_i64(reply, 5) != 0;
    tg__redis_done(ledger, reply);
    return TG_OK;
}

static tg_status redis_release(void *self, uint64_t hold_id, const char *key, int64_t now_ms,
                               bool *replayed_out, tg_error *err) {
    tg__redis_ledger *ledger = self;
    tg_status status;
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    int64_t seq = 0;
    if ((status = labels_check(NULL, NULL, key, TG_CLASS_LOW, err)) != TG_OK ||
        (status = id_resolve(ledger, hold_id, prefix, &seq, err)) != TG_OK) {
        return status;
    }
    char key_args[32];
    snprintf(key_args, sizeof key_args, "%llu", (unsigned long long)hold_id);
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_release", prefix);
    tg__redis_args_i64(&args, now_ms);
    tg__redis_args_i64(&args, seq);
    redisReply *reply;
    if ((status = call_keyed(ledger, &args, key, key_args, false, now_ms, 2, &reply, err)) !=
        TG_OK) {
        return status;
    }
    if (replayed_out != NULL) {
        *replayed_out = tg__redis_i64(reply, 1) != 0;
    }
    tg__redis_done(ledger, reply);
    return TG_OK;
}

static tg_status redis_record(void *self, const tg_record_request *r, int64_t now_ms,
                              tg_record_result *out, tg_error *err) {
    tg__redis_ledger *ledger = self;
    tg_status status;
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    if ((status = tg__amount_check(r->cost_micros, "cost", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens_in, "tokens_in", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = tg__amount_check(r->tokens_out, "tokens_out", TG_AMOUNT_MAX, err)) != TG_OK ||
        (status = labels_check(r->tool, r->model, r->idempotency_key, r->cls, err)) != TG_OK ||
        (status = tg__redis_budget_prefix(ledger, r->budget, prefix, err)) != TG_OK) {
        return status;
    }
    tg_class cls = classify(ledger, r->budget, r->cls, r->tool, r->model);
    char key_args[TG__REDIS_KEY_ARGS_SIZE_MAX];
    snprintf(key_args, sizeof key_args, "%zu:%s|%lld|%lld|%lld|%d|%zu:%s|%zu:%s|%d", S(r->budget),
             (long long)r->cost_micros, (long long)r->tokens_in, (long long)r->tokens_out,
             (int)r->cls, S(r->tool), S(r->model), r->force ? 1 : 0);
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_record", prefix);
    tg__redis_args_i64(&args, now_ms);
    tg__redis_args_str(&args, r->budget);
    tg__redis_args_i64(&args, r->cost_micros);
    tg__redis_args_i64(&args, r->tokens_in);
    tg__redis_args_i64(&args, r->tokens_out);
    tg__redis_args_i64(&args, cls);
    tg__redis_args_str(&args, r->tool);
    tg__redis_args_str(&args, r->model);
    tg__redis_args_i64(&args, r->force ? 1 : 0);
    redisReply *reply;
    if ((status = call_keyed(ledger, &args, r->idempotency_key, key_args, true, now_ms, 3, &reply,
                             err)) != TG_OK) {
        return status;
    }
    /* {0, replayed, charge seq} or {0, 0, 0, reason, budget, max, retry} */
    memset(out, 0, sizeof *out);
    out->replayed = tg__redis_i64(reply, 1) != 0;
    if (reply->elements >= 7) {
        refusal_from(reply, 3, &out->refusal);
    } else {
        out->charged = true;
        out->charge_id =
            tg__redis_id_make((int64_t)prefix_tree(ledger, prefix), tg__redis_i64(reply, 2));
    }
    tg__redis_done(ledger, reply);
    return TG_OK;
}

static tg_status redis_hold_get(void *self, uint64_t hold_id, int64_t now_ms, tg_hold_info *out,
                                tg_error *err) {
    tg__redis_ledger *ledger = self;
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    int64_t seq = 0;
    tg_status status = id_resolve(ledger, hold_id, prefix, &seq, err);
    if (status != TG_OK) {
        return status;
    }
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_hold_get", prefix);
    tg__redis_args_i64(&args, now_ms);
    tg__redis_args_i64(&args, seq);
    redisReply *reply = NULL;
    if ((status = tg__redis_call(ledger, &args, 10, &reply, err)) != TG_OK) {
        return status;
    }
    memset(out, 0, sizeof *out);
    out->id = hold_id;
    snprintf(out->budget, sizeof out->budget, "%s", tg__redis_str(reply, 1));
    out->amount_micros = tg__redis_i64(reply, 2);
    out->tokens = tg__redis_i64(reply, 3);
    out->cls = (tg_class)tg__redis_i64(reply, 4);
    snprintf(out->tool, sizeof out->tool, "%s", tg__redis_str(reply, 5));
    snprintf(out->model, sizeof out->model, "%s", tg__redis_str(reply, 6));
    out->created_at_ms = tg__redis_i64(reply, 7);
    out->expires_at_ms = tg__redis_i64(reply, 8);
    out->cancel_requested = tg__redis_i64(reply, 9) != 0;
    tg__redis_done(ledger, reply);
    return TG_OK;
}

/* Collects first (bounded: redis_collect.h), then reads the ledger-wide stream, so a caller
 * that reads right after its own decisions sees their events. The daemon reads without
 * collecting (its requests run in passes, where a collect's writes must not be replayed):
 * its timer collects (src/server/store_redis.c). */
static tg_status redis_events_since(void *self, uint64_t after_id, tg_event *out, size_t max,
                                    size_t *count_out, tg_error *err) {
    tg__redis_ledger *ledger = self;
    if (max < 1 || max > TG__LEDGER_EVENTS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "max must be between 1 and %d", TG__LEDGER_EVENTS_MAX);
    }
    tg_status status = tg__redis_events_collect(ledger, NULL, err);
    if (status != TG_OK) {
        return status;
    }
    return tg__redis_ledger_events(ledger, after_id, out, max, count_out, NULL, err);
}

static tg_status redis_policy_set(void *self, const tg_policy_rule *rules, size_t count,
                                  tg_class default_class, tg_error *err) {
    return tg__redis_ledger_policy_set(self, rules, count, default_class, err);
}

const tg__ledger_ops tg__ledger_ops_redis = {
    .name = "redis",
    .reserve = redis_reserve,
    .commit = redis_commit,
    .release = redis_release,
    .record = redis_record,
    .hold_get = redis_hold_get,
    .budget_put = tg__redis_budget_put,
    .budget_get = tg__redis_budget_get,
    .budget_delete = tg__redis_budget_delete,
    .budgets_apply = tg__redis_budgets_apply,
    .budget_freeze = tg__redis_budget_freeze,
    .budget_page = tg__redis_budget_page,
    .events_since = redis_events_since,
    .policy_set = redis_policy_set,
};
