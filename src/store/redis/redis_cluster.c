/*
 * redis_cluster: slot map, per-master connections and redirections (redis_cluster.h).
 * Everything here runs on the ledger's one thread; the map is only read and changed
 * between calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/path.h"
#include "store/redis/redis_cluster.h"
#include "store/redis/redis_internal.h"

static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

tg__redis_conn *tg__redis_node(tg__redis_ledger *ledger, int index) {
    return ledger->cluster != NULL ? &ledger->cluster->nodes[index] : &ledger->conn;
}

int tg__redis_node_at(tg__redis_ledger *ledger, const char *host, int port) {
    tg__redis_cluster *cluster = ledger->cluster;
    for (int i = 0; i < cluster->count; i++) {
        if (cluster->nodes[i].port == port && strcmp(cluster->nodes[i].host, host) == 0) {
            return i;
        }
    }
    if (cluster->count >= TG__REDIS_NODES_MAX || strlen(host) >= TG__REDIS_HOST_SIZE_MAX) {
        return -1;
    }
    /* The seed's credentials, database and timeouts: every master of a cluster has the
     * same ACL users (the ACL file is per node, but a cluster is deployed with one). */
    tg__redis_conn *node = &cluster->nodes[cluster->count];
    *node = ledger->conn;
    node->context = NULL;
    node->retry_at_ms = 0;
    node->last_error[0] = '\0';
    snprintf(node->host, sizeof node->host, "%s", host);
    node->port = port;
    cluster->failed_at_ms[cluster->count] = 0;
    return cluster->count++;
}

void tg__redis_node_failed(tg__redis_ledger *ledger, int index) {
    if (ledger->cluster != NULL && index >= 0) {
        ledger->cluster->refresh_wanted = true;
        ledger->cluster->failed_at_ms[index] = monotonic_ms();
    }
}

/* One entry of CLUSTER SLOTS: {start, end, {host, port, id, ...}, replicas...}. `asked` is
 * the node asked, whose host stands for an empty or unknown ("?") endpoint. */
static tg_status slots_entry(tg__redis_ledger *ledger, const redisReply *e, const char *asked,
                             int8_t *map, tg_error *err) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER ||
        e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
        e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
        e->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
        return tg__fail(err, TG_ERR_IO, "redis CLUSTER SLOTS answered an entry it should not");
    }
    long long start = e->element[0]->integer, end = e->element[1]->integer;
    const char *host = e->element[2]->element[0]->str;
    if (host[0] == '\0' || strcmp(host, "?") == 0) {
        host = asked;
    }
    int node = tg__redis_node_at(ledger, host, (int)e->element[2]->element[1]->integer);
    if (node < 0) {
        return tg__fail(err, TG_ERR_FULL, "redis cluster: more than %d masters",
                        TG__REDIS_NODES_MAX);
    }
    if (start < 0 || end >= TG__REDIS_SLOTS || start > end) {
        return tg__fail(err, TG_ERR_IO, "redis CLUSTER SLOTS answered slots %lld-%lld", start, end);
    }
    for (long long s = start; s <= end; s++) {
        map[s] = (int8_t)node;
    }
    return TG_OK;
}

/* The whole map, from the node at `index`. Left unchanged on failure. */
static tg_status slots_read(tg__redis_ledger *ledger, int index, tg_error *err) {
    tg__redis_args args = {.count = 0};
    tg__redis_args_str(&args, "CLUSTER");
    tg__redis_args_str(&args, "SLOTS");
    redisReply *reply = NULL;
    tg__redis_conn *conn = tg__redis_node(ledger, index);
    char asked[TG__REDIS_HOST_SIZE_MAX];
    snprintf(asked, sizeof asked, "%s", conn->host);
    tg_status status = tg__redis_command(conn, &args, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    int8_t map[TG__REDIS_SLOTS];
    memset(map, -1, sizeof map);
    if (reply->type != REDIS_REPLY_ARRAY) {
        status = tg__fail(err, TG_ERR_IO, "redis CLUSTER SLOTS answered no array");
    }
    for (size_t i = 0; status == TG_OK && i < reply->elements; i++) {
        status = slots_entry(ledger, reply->element[i], asked, map, err);
    }
    freeReplyObject(reply);
    if (status == TG_OK) {
        memcpy(ledger->cluster->slot_node, map, sizeof map);
    }
    return status;
}

/* Reads the map again from the first node that answers, those that failed lately last (a
 * stopped master would cost a timeout). */
static void refresh(tg__redis_ledger *ledger) {
    tg__redis_cluster *cluster = ledger->cluster;
    int64_t now = monotonic_ms();
    cluster->refresh_wanted = false;
    cluster->refresh_at_ms = now + ledger->conn.retry_interval_ms;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < cluster->count; i++) {
            bool failed_lately = now - cluster->failed_at_ms[i] < 2 * ledger->conn.timeout_ms;
            if (failed_lately != (round == 1)) {
                continue;
            }
            if (slots_read(ledger, i, NULL) == TG_OK) {
                return;
            }
            cluster->failed_at_ms[i] = monotonic_ms();
        }
    }
    cluster->refresh_wanted = true; /* nobody answered: try again after the interval */
}

tg_status tg__redis_cluster_open(tg__redis_ledger *ledger, tg_error *err) {
    ledger->cluster = calloc(1, sizeof *ledger->cluster);
    if (ledger->cluster == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory for the redis cluster's map");
    }
    /* The seed is node 0 until the map names the masters. */
    int seed = tg__redis_node_at(ledger, ledger->conn.host, ledger->conn.port);
    ledger->cluster->nodes[seed].context = ledger->conn.context;
    ledger->conn.context = NULL;
    tg_error why = {TG_OK, ""};
    tg_status status = slots_read(ledger, seed, &why);
    if (status != TG_OK) {
        return tg__fail(err, status, "redis %s:%d: cannot read the cluster's slots (%s)",
                        ledger->conn.host, ledger->conn.port, why.message);
    }
    bool used[TG__REDIS_NODES_MAX] = {false};
    for (int s = 0; s < TG__REDIS_SLOTS; s++) {
        if (ledger->cluster->slot_node[s] < 0) {
            return tg__fail(err, TG_ERR_IO,
                            "redis cluster at %s:%d: slot %d has no master (cluster_state not "
                            "ok?)",
                            ledger->conn.host, ledger->conn.port, s);
        }
        used[ledger->cluster->slot_node[s]] = true;
    }
    /* Every master, now: each connect loads the function library there. */
    for (int i = 0; i < ledger->cluster->count; i++) {
        if (used[i] && (status = tg__redis_connect(&ledger->cluster->nodes[i], err)) != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

void tg__redis_cluster_close(tg__redis_ledger *ledger) {
    if (ledger->cluster == NULL) {
        return;
    }
    for (int i = 0; i < ledger->cluster->count; i++) {
        tg__redis_disconnect(&ledger->cluster->nodes[i]);
    }
    free(ledger->cluster);
    ledger->cluster = NULL;
}

int tg__redis_route(tg__redis_ledger *ledger, const tg__redis_args *args) {
    tg__redis_cluster *cluster = ledger->cluster;
    if (cluster == NULL) {
        return 0;
    }
    if (cluster->refresh_wanted && monotonic_ms() >= cluster->refresh_at_ms) {
        refresh(ledger);
    }
    int at = strcmp(args->argv[0], "FCALL") == 0 ? 3 : 1;
    return cluster->slot_node[tg__redis_key_slot(args->argv[at], args->lens[at])];
}

bool tg__redis_redirect_parse(const char *text, bool *ask, int *slot, char *host, size_t host_size,
                              int *port) {
    size_t skip;
    if (strncmp(text, "MOVED ", 6) == 0) {
        *ask = false, skip = 6;
    } else if (strncmp(text, "ASK ", 4) == 0) {
        *ask = true, skip = 4;
    } else {
        return false;
    }
    char *end;
    long s = strtol(text + skip, &end, 10);
    if (end == text + skip || *end != ' ' || s < 0 || s >= TG__REDIS_SLOTS) {
        return false;
    }
    const char *address = end + 1;
    const char *colon = strrchr(address, ':'); /* the last: an IPv6 address has others */
    if (colon == NULL || (size_t)(colon - address) >= host_size) {
        return false;
    }
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || p < 1 || p > 65535) {
        return false;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    *slot = (int)s;
    *port = (int)p;
    return true;
}

bool tg__redis_tryagain(const char *text) {
    return strncmp(text, "TRYAGAIN", 8) == 0;
}

/* ASKING on a node before the call an ASK sent there. */
static tg_status asking(tg__redis_conn *conn, tg_error *err) {
    tg__redis_args args = {.count = 0};
    tg__redis_args_str(&args, "ASKING");
    redisReply *reply = NULL;
    tg_status status = tg__redis_command(conn, &args, &reply, err);
    freeReplyObject(reply);
    return status;
}

static void pause_ms(int64_t ms) {
    struct timespec wait = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    nanosleep(&wait, NULL);
}

/* As tg__redis_sync_command; *conn_out is the connection that answered (a WAIT after the
 * call must go to the same one: WAIT counts the replicas of that connection's writes). */
static tg_status sync_command_on(tg__redis_ledger *ledger, tg__redis_args *args,
                                 redisReply **reply_out, tg__redis_conn **conn_out, tg_error *err) {
    if (ledger->cluster == NULL) {
        *conn_out = &ledger->conn;
        return tg__redis_command(&ledger->conn, args, reply_out, err);
    }
    int node = tg__redis_route(ledger, args);
    bool ask = false;
    int64_t give_up_at = monotonic_ms() + ledger->conn.timeout_ms;
    for (int moved = 0;;) {
        if (node < 0) {
            return tg__fail(err, TG_ERR_IO, "redis cluster: no master known for the slot of %s",
                            args->argv[strcmp(args->argv[0], "FCALL") == 0 ? 3 : 1]);
        }
        tg__redis_conn *conn = tg__redis_node(ledger, node);
        redisReply *reply = NULL;
        tg_status status = ask ? asking(conn, err) : TG_OK;
        if (status == TG_OK) {
            status = tg__redis_command_raw(conn, args, &reply, err);
        }
        if (status != TG_OK) {
            tg__redis_node_failed(ledger, node);
            return status;
        }
        if (reply->type != REDIS_REPLY_ERROR) {
            *reply_out = reply;
            *conn_out = conn;
            return TG_OK;
        }
        char host[TG__REDIS_HOST_SIZE_MAX];
        int slot, port;
        if (tg__redis_tryagain(reply->str) && monotonic_ms() < give_up_at) {
            freeReplyObject(reply);
            pause_ms(TG__REDIS_TRYAGAIN_MS); /* the slot's keys are moving: a moment */
            continue;
        }
        if (!tg__redis_redirect_parse(reply->str, &ask, &slot, host, sizeof host, &port) ||
            (ask ? monotonic_ms() >= give_up_at : moved >= TG__REDIS_MOVED_MAX)) {
            return tg__redis_reply_error(conn, reply, err);
        }
        freeReplyObject(reply);
        moved += ask ? 0 : 1;
        node = tg__redis_node_at(ledger, host, port);
        if (!ask && node >= 0) {
            ledger->cluster->slot_node[slot] = (int8_t)node;
        }
    }
}

tg_status tg__redis_sync_command(tg__redis_ledger *ledger, tg__redis_args *args,
                                 redisReply **reply_out, tg_error *err) {
    tg__redis_conn *conn = NULL;
    return sync_command_on(ledger, args, reply_out, &conn, err);
}

tg_status tg__redis_sync_fcall(tg__redis_ledger *ledger, tg__redis_args *args, size_t fields,
                               redisReply **reply_out, tg_error *err) {
    redisReply *reply = NULL;
    redisReply *taken = NULL;
    tg__redis_conn *conn = NULL;
    tg_status status = sync_command_on(ledger, args, &reply, &conn, err);
    if (status == TG_OK) {
        status = tg__redis_fcall_take(reply, args->argv[1], fields, &taken, err);
    }
    if (status == TG_OK && tg__redis_call_waits(args, true) &&
        (status = tg__redis_wait_replicas(conn, err)) != TG_OK) {
        freeReplyObject(taken);
        return status;
    }
    if (status == TG_OK) {
        *reply_out = taken;
    }
    return status;
}
