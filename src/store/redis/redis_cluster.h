/*
 * redis_cluster: the Redis ledger on a Redis Cluster. Every key of one budget tree
 * carries the tree's hash tag ("tg:{ROOT}:..."), so a tree is one slot and each call
 * (one FCALL on one tree, or the registry's "tg:{roots}") goes to the master that
 * serves that slot. This module keeps the slot map (CLUSTER SLOTS, read at open and
 * again after a failure), one synchronous connection per master (redis_conn.h; the
 * async connections of redis_async.c are per master too, by the same node index),
 * and follows the cluster's redirections:
 *
 *   MOVED slot host:port  the slot lives elsewhere now (resharding, failover): the
 *                         map's entry for that slot is changed and the call sent there
 *                         (at most TG__REDIS_MOVED_MAX times for one call: more means
 *                         the masters disagree about the slot);
 *   ASK slot host:port    the slot is being moved and the call's keys are gone from
 *                         the old master: sent to the new one, after ASKING, without
 *                         changing the map;
 *   TRYAGAIN              the slot is being moved and the call cannot run on a part
 *                         of it: sent again after TG__REDIS_TRYAGAIN_MS.
 * ASK and TRYAGAIN are followed until timeout_ms after the call was first sent, then
 * the call fails (503 store_unavailable in the daemon).
 *
 * A tree's calls declare two keys, its prefix (never a key itself) and its "meta"
 * hash, so that no call ever runs on a tree split between two masters by a move:
 * the old master, MIGRATING, answers TRYAGAIN while "meta" is still there (one key
 * present, one missing) and ASK once it has gone; the new master, IMPORTING, answers
 * every ASKING call TRYAGAIN (the prefix is always missing) until the move ends with
 * CLUSTER SETSLOT NODE, by when every key has arrived. So a tree whose slot is moving
 * is paused, its calls retried, and never decided on part of its state
 * (docs/multi-node.md).
 *
 * Without `cluster` in the options none of this runs: node 0 is the one server.
 */
#ifndef TG_STORE_REDIS_CLUSTER_H
#define TG_STORE_REDIS_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/redis/redis_conn.h"
#include "store/redis/redis_slot.h"

#define TG__REDIS_NODES_MAX 32   /* masters one ledger knows (addresses learnt included) */
#define TG__REDIS_MOVED_MAX 5    /* MOVED followed for one call before giving up */
#define TG__REDIS_TRYAGAIN_MS 10 /* pause before a call answered TRYAGAIN is sent again */

typedef struct {
    int count;                                 /* nodes[0..count) in use */
    tg__redis_conn nodes[TG__REDIS_NODES_MAX]; /* one synchronous connection per master */
    int8_t slot_node[TG__REDIS_SLOTS];         /* index in nodes; -1: no master known */
    bool refresh_wanted;                       /* a node failed: read the map again */
    int64_t refresh_at_ms;                     /* monotonic: no rereading before this */
    int64_t failed_at_ms[TG__REDIS_NODES_MAX]; /* monotonic time of each node's last failure */
} tg__redis_cluster;

typedef struct tg__redis_ledger tg__redis_ledger;

/*
 * Reads the slot map from the seed (ledger->conn, connected) and connects to every master
 * (each connect loads the function library there). Errors: TG_ERR_IO (the seed is no
 * cluster node, a slot has no master, a master cannot be reached), TG_ERR_NOMEM.
 */
tg_status tg__redis_cluster_open(tg__redis_ledger *ledger, tg_error *err);
void tg__redis_cluster_close(tg__redis_ledger *ledger);

/* The connection of node `index` (in a single-server ledger, 0 is its one server). */
tg__redis_conn *tg__redis_node(tg__redis_ledger *ledger, int index);

/* The node that serves the key of `args` (argv[3] of an FCALL, argv[1] otherwise): 0 without
 * a cluster; -1 when no master is known for its slot. Rereads the map first when a failure
 * asked for it (at most once per retry interval). */
int tg__redis_route(tg__redis_ledger *ledger, const tg__redis_args *args);

/* The node at host:port, added (not connected) when new; -1 when the table is full. */
int tg__redis_node_at(tg__redis_ledger *ledger, const char *host, int port);

/* Says node `index` failed: the map is read again before the next call (a failover moves
 * its slots to a replica). No-op without a cluster. */
void tg__redis_node_failed(tg__redis_ledger *ledger, int index);

/* A redirection in an error reply's text. True for MOVED and ASK (*ask tells which), with
 * the slot and the address; false for anything else. */
bool tg__redis_redirect_parse(const char *text, bool *ask, int *slot, char *host, size_t host_size,
                              int *port);

/* True for an error reply that asks for the same call again shortly (TRYAGAIN). */
bool tg__redis_tryagain(const char *text);

/* The synchronous calls of the ledger (start-up, reloads, ticks, the registry), routed and
 * redirected; as tg__redis_command and tg__redis_fcall. A function call is followed by
 * store.wait_replicas' WAIT (tg__redis_wait_replicas; none when it is 0) on the connection of
 * the master that ran it, the one whose replicas WAIT counts: TG_ERR_IO (the reply freed)
 * when too few have the call's writes. */
tg_status tg__redis_sync_command(tg__redis_ledger *ledger, tg__redis_args *args,
                                 redisReply **reply_out, tg_error *err);
tg_status tg__redis_sync_fcall(tg__redis_ledger *ledger, tg__redis_args *args, size_t fields,
                               redisReply **reply_out, tg_error *err);

#endif
