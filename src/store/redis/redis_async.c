/*
 * redis_async: the async connection and the passes of parked requests
 * (redis_async.h says how a request is replayed). Everything here runs on the
 * daemon's loop thread. There is one connection per node (one on a single server,
 * one per master of a cluster: redis_cluster.h), each call sent on the one its
 * tree's slot routes to. hiredis answers the calls of one connection in the order
 * they were sent, so the deadlines of the calls in flight on it are a FIFO ring
 * and only its head can be the next to time out.
 *
 * A cluster's redirections (redis_cluster.h) are followed by the passes themselves:
 * a call answered MOVED or ASK is left unanswered and its request run again at
 * once, which sends the call again, now to the master the map (MOVED) or the pass
 * (ASK) names; a call answered TRYAGAIN is run again after TG__REDIS_TRYAGAIN_MS.
 *
 * With store.wait_replicas, WAIT is sent right behind each call on the same link (WAIT
 * counts the replicas that have every write of its own connection, so it must follow the
 * call on the connection of the master that ran it), and the pass is run again at WAIT's
 * answer, not the call's: too few replicas make the call's answer a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "core/path.h"
#include "store/redis/redis_async.h"
#include "store/redis/redis_sentinel.h"
#include "store/redis/redis_cluster.h"
#include "store/redis/redis_internal.h"

#define RING_SIZE 16384 /* calls in flight on one connection (a power of two) */

typedef struct {
    redisReply *reply; /* our copy; NULL when status != TG_OK */
    tg_status status;  /* TG_OK, or why the call failed (error says more) */
    uint64_t hash;     /* of the command, to check a replay makes the same call */
    char *error;       /* malloc'd message, or NULL */
} memo_entry;

#define MEMO_INLINE 4 /* a single request makes one call: no second allocation */
#define ABSENT_MAX 8  /* roots found without a tree, remembered per request */

typedef struct pass {
    void *token;
    int answered;          /* memo entries filled */
    int at;                /* calls made in the pass running now */
    bool parked;           /* this pass sent a call */
    int ask_node;          /* -1, or the node an ASK sends the next call to (after ASKING) */
    int moved;             /* MOVED followed for the call not answered yet */
    int64_t first_sent_ms; /* monotonic: when that call was first sent (0: not yet) */
    bool replicating;      /* a WAIT follows its call on the same link: run again at its answer */
    bool resume_later;     /* then after TG__REDIS_TRYAGAIN_MS (the call was answered TRYAGAIN) */
    int waited;            /* the memo entry that WAIT vouches for; -1: none (call redirected) */
    bool diverged;         /* a call differed from the first pass's: nothing more is sent */
    /* Roots the request found without a tree (tg__redis_async_absent), so that every pass
     * sees the same answer although the first one may have created the tree since. */
    char absent[ABSENT_MAX][TG_SEGMENT_SIZE_MAX];
    bool absent_created[ABSENT_MAX]; /* the tree was made in the pass running now */
    int absent_count;
    struct pass *next; /* in the ready list */
    memo_entry *memo;  /* inline, or TG__REDIS_PASS_CALLS_MAX entries once a batch needs them */
    memo_entry inline_memo[MEMO_INLINE];
} pass;

/* Room for call i in p's memo; false when out of memory. One allocation of the bound at
 * most (no growth by steps). */
static bool memo_room(pass *p, int i) {
    if (i < MEMO_INLINE || p->memo != p->inline_memo) {
        return true;
    }
    memo_entry *all = calloc(TG__REDIS_PASS_CALLS_MAX, sizeof *all);
    if (all == NULL) {
        return false;
    }
    memcpy(all, p->inline_memo, sizeof p->inline_memo);
    p->memo = all;
    return true;
}

/* One connection, to one node (redis_cluster.h's index). */
typedef struct node_link {
    tg__redis_async *async;
    int node;                          /* tg__redis_node(ledger, node) has its address */
    redisAsyncContext *context;        /* NULL: not connected (the next call connects) */
    struct event *timer;               /* at the deadline of the oldest call in flight */
    bool drop_soon;                    /* an error reply: start over on a new connection */
    char unfit[TG_ERROR_MESSAGE_SIZE]; /* "" or why the server of this connection fails
                                          store.durability strict (checked at connect) */
    int64_t deadlines[RING_SIZE];
    int head, count; /* the ring of deadlines in flight, oldest at head */
    int64_t retry_at_ms;
    char last_error[TG_ERROR_MESSAGE_SIZE / 2];
} node_link;

struct tg__redis_async {
    tg__redis_ledger *ledger;
    struct event_base *base;
    tg__redis_resume_fn resume;
    void *user;
    struct event *wake;  /* runs the resumes of the ready passes, outside hiredis */
    struct event *later; /* moves the passes answered TRYAGAIN to the ready list */
    pass *ready, *ready_last;
    pass *waiting, *waiting_last; /* answered TRYAGAIN: ready at the next `later` */
    pass *current;                /* the pass running now, NULL outside one */
    redisReply *borrowed;         /* the memo reply a call handed out: not freed by done() */
    node_link *links[TG__REDIS_NODES_MAX]; /* by node index, made on first use */
};

static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Cut short on purpose: it is quoted inside longer messages. */
static void note_error(node_link *a, const char *message) {
    size_t length = strnlen(message, sizeof a->last_error - 1);
    memmove(a->last_error, message, length);
    a->last_error[length] = '\0';
}

/* ---- replies: hiredis frees its own after the callback, so they are copied --------- */

static redisReply *reply_copy(const redisReply *r) {
    redisReply *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->type = r->type;
    c->integer = r->integer;
    if (r->str != NULL) {
        c->str = malloc(r->len + 1);
        if (c->str == NULL) {
            freeReplyObject(c);
            return NULL;
        }
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        c->element = calloc(r->elements, sizeof *c->element);
        if (c->element == NULL) {
            freeReplyObject(c);
            return NULL;
        }
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++) {
            if ((c->element[i] = reply_copy(r->element[i])) == NULL) {
                freeReplyObject(c);
                return NULL;
            }
        }
    }
    return c;
}

/* ---- the ready list: resumes run from an event, never inside a hiredis callback ---- */

static void list_push(pass **first, pass **last, pass *p) {
    p->next = NULL;
    if (*last != NULL) {
        (*last)->next = p;
    } else {
        *first = p;
    }
    *last = p;
}

static void ready_push(tg__redis_async *a, pass *p) {
    list_push(&a->ready, &a->ready_last, p);
    event_active(a->wake, EV_READ, 0);
}

/* A call answered TRYAGAIN (its slot's keys are moving): sent again in a moment. */
static void waiting_push(tg__redis_async *a, pass *p) {
    bool armed = a->waiting != NULL;
    list_push(&a->waiting, &a->waiting_last, p);
    if (!armed) {
        struct timeval tv = {0, TG__REDIS_TRYAGAIN_MS * 1000};
        evtimer_add(a->later, &tv);
    }
}

static void on_later(evutil_socket_t fd, short what, void *user) {
    (void)fd, (void)what;
    tg__redis_async *a = user;
    for (pass *p = a->waiting, *next; p != NULL; p = next) {
        next = p->next;
        ready_push(a, p);
    }
    a->waiting = a->waiting_last = NULL;
}

/* Queues p to run again, now or after TRYAGAIN's pause. While the WAIT behind its call is
 * still to answer this only notes which: on_wait_reply queues it, so that p never runs (and
 * perhaps ends, freed) before the last callback that names it. */
static void requeue(tg__redis_async *a, pass *p, bool later) {
    if (p->replicating) {
        p->resume_later = later;
    } else if (later) {
        waiting_push(a, p);
    } else {
        ready_push(a, p);
    }
}

static void drop(node_link *a, const char *why);

static void on_wake(evutil_socket_t fd, short what, void *user) {
    (void)fd, (void)what;
    tg__redis_async *a = user;
    for (int i = 0; i < TG__REDIS_NODES_MAX; i++) {
        if (a->links[i] != NULL && a->links[i]->drop_soon) {
            a->links[i]->drop_soon = false;
            drop(a->links[i], a->links[i]->last_error);
        }
    }
    pass *p = a->ready;
    a->ready = a->ready_last = NULL;
    while (p != NULL) {
        pass *next = p->next;
        a->resume(a->user, p->token); /* may free p (its last pass) or park it again */
        p = next;
    }
}

/* ---- the connection ---------------------------------------------------------------- */

static tg__redis_conn *conn_of(const node_link *a) {
    return tg__redis_node(a->async->ledger, a->node);
}

static void arm(node_link *a) {
    if (a->count == 0 || evtimer_pending(a->timer, NULL)) {
        return;
    }
    int64_t wait = a->deadlines[a->head] - monotonic_ms();
    if (wait < 0) {
        wait = 0;
    }
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000 * 1000)};
    evtimer_add(a->timer, &tv);
}

/* A cluster's MOVED, ASK or TRYAGAIN answering p's call: true when the call is to be sent
 * again (p is queued for that), false when it is answered as the error it is. */
static bool redirected(node_link *l, pass *p, const redisReply *reply) {
    tg__redis_async *a = l->async;
    tg__redis_ledger *ledger = a->ledger;
    if (ledger->cluster == NULL || reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return false;
    }
    if (tg__redis_tryagain(reply->str)) {
        if (monotonic_ms() - p->first_sent_ms >= ledger->conn.timeout_ms) {
            return false;
        }
        requeue(a, p, true);
        return true;
    }
    char host[TG__REDIS_HOST_SIZE_MAX];
    int slot, port;
    bool ask;
    if (!tg__redis_redirect_parse(reply->str, &ask, &slot, host, sizeof host, &port) ||
        (ask ? monotonic_ms() - p->first_sent_ms >= ledger->conn.timeout_ms
             : p->moved >= TG__REDIS_MOVED_MAX)) {
        return false;
    }
    int node = tg__redis_node_at(ledger, host, port);
    if (node < 0) {
        return false;
    }
    p->moved += ask ? 0 : 1;
    if (ask) {
        p->ask_node = node;
    } else {
        ledger->cluster->slot_node[slot] = (int8_t)node;
    }
    requeue(a, p, false);
    return true;
}

/* A reply came for the oldest call on the link: its deadline leaves the ring. */
static void ring_pop(node_link *l) {
    l->head = (l->head + 1) & (RING_SIZE - 1);
    l->count--;
}

/* The server's persistence, asked at connect ahead of the calls when store.durability is strict
 * (after a failover the primary is another server, whose settings the synchronous
 * connection's check never saw). Replies come in order, so a server found unfit here marks
 * the link before any call's reply is read: those are answered as failures (on_reply). */
static void on_persistence(redisAsyncContext *context, void *r, void *privdata) {
    (void)privdata;
    node_link *a = context->data;
    ring_pop(a);
    tg_error why = {0};
    if (tg__redis_strict_reply_check(conn_of(a), r, &why) != TG_OK) {
        snprintf(a->unfit, sizeof a->unfit, "%s", why.message);
        note_error(a, why.message);
        a->drop_soon = true;
        event_active(a->async->wake, EV_READ, 0);
    }
}

/* Every reply, in send order: the head of the ring is this call's deadline. */
static void on_reply(redisAsyncContext *context, void *r, void *privdata) {
    node_link *a = context->data;
    ring_pop(a);
    redisReply *reply = r;
    pass *p = privdata;
    tg__redis_conn *conn = conn_of(a);
    if (p == NULL) { /* AUTH, SELECT or FUNCTION LOAD at connect, or ASKING */
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
            char message[1024];
            snprintf(message, sizeof message, "redis %s:%d refused a connect step: %.200s",
                     conn->host, conn->port, reply->str);
            note_error(a, message);
            a->drop_soon = true;
            event_active(a->async->wake, EV_READ, 0);
        }
        return;
    }
    if (redirected(a, p, reply)) {
        return;
    }
    memo_entry *m = &p->memo[p->answered];
    char message[1024];
    message[0] = '\0';
    if (a->unfit[0] != '\0') { /* ran on a server that does not fsync every write */
        snprintf(message, sizeof message,
                 "%.700s (the call ran there, not durably: retry with the same idempotency key "
                 "once the server is fixed)",
                 a->unfit);
    } else if (reply == NULL && a->last_error[0] != '\0') { /* it names the server already */
        snprintf(message, sizeof message, "%s (the call may or may not have run)", a->last_error);
    } else if (reply == NULL) {
        snprintf(message, sizeof message, "redis %s:%d: %s (the call may or may not have run)",
                 conn->host, conn->port, context->errstr[0] ? context->errstr : "connection lost");
    } else if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(message, sizeof message, "redis %s:%d: %.200s", conn->host, conn->port,
                 reply->str);
        /* "Function not found" after a restart without data: a new connection loads it. */
        note_error(a, message);
        a->drop_soon = true;
    } else if ((m->reply = reply_copy(reply)) == NULL) {
        snprintf(message, sizeof message, "out of memory copying a redis reply");
    }
    if (message[0] != '\0') {
        m->status = reply == NULL || reply->type == REDIS_REPLY_ERROR || a->unfit[0] != '\0'
                        ? TG_ERR_IO
                        : TG_ERR_NOMEM;
        m->error = strdup(message);
    } else {
        m->status = TG_OK;
    }
    p->waited = p->answered;
    p->answered++;
    p->moved = 0;
    p->first_sent_ms = 0;
    requeue(a->async, p, false);
}

/* WAIT's answer after a pass's call (store.wait_replicas), on the link of the call, so right
 * after the call's own answer: too few replicas turn the call's answer into a failure, since
 * a failover could lose what it decided. A redirected call wrote nothing: nothing to check. */
static void on_wait_reply(redisAsyncContext *context, void *r, void *privdata) {
    node_link *l = context->data;
    ring_pop(l);
    redisReply *reply = r;
    pass *p = privdata;
    tg__redis_conn *conn = conn_of(l);
    memo_entry *m = p->waited >= 0 ? &p->memo[p->waited] : NULL;
    long long acknowledged =
        reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (m != NULL && m->status == TG_OK && acknowledged < conn->wait_replicas) {
        char message[1024];
        if (reply == NULL) { /* dropped (timeout_ms passed, or the connection was lost) */
            snprintf(message, sizeof message,
                     "%.200s (waiting for store.wait_replicas; the call ran on the primary: "
                     "retry with the same idempotency key)",
                     l->last_error[0] != '\0' ? l->last_error : "redis connection lost");
        } else if (reply->type == REDIS_REPLY_ERROR) {
            snprintf(message, sizeof message,
                     "redis %s:%d refused WAIT (store.wait_replicas): %.200s (the call ran on "
                     "the primary: retry with the same idempotency key)",
                     conn->host, conn->port, reply->str);
        } else {
            tg__redis_wait_message(conn, acknowledged, message, sizeof message);
        }
        freeReplyObject(m->reply);
        m->reply = NULL;
        m->status = TG_ERR_IO;
        m->error = strdup(message);
    }
    p->waited = -1;
    p->replicating = false;
    bool later = p->resume_later;
    p->resume_later = false;
    requeue(l->async, p, later);
}

static void on_connect(const redisAsyncContext *context, int status) {
    node_link *a = context->data;
    if (status != REDIS_OK && a->context == context) {
        char message[1024];
        snprintf(message, sizeof message, "cannot connect to redis %s:%d: %s", conn_of(a)->host,
                 conn_of(a)->port, context->errstr);
        note_error(a, message);
        a->context = NULL; /* hiredis frees it, answering its calls with no reply */
        a->retry_at_ms = monotonic_ms() + conn_of(a)->retry_interval_ms;
        tg__redis_node_failed(a->async->ledger, a->node);
    }
}

static void on_disconnect(const redisAsyncContext *context, int status) {
    node_link *a = context->data;
    if (a->context == context) { /* the server closed it (not our drop) */
        char message[1024];
        snprintf(message, sizeof message, "redis %s:%d closed the connection%s%s", conn_of(a)->host,
                 conn_of(a)->port, status == REDIS_OK ? "" : ": ",
                 status == REDIS_OK ? "" : context->errstr);
        char why[TG__REDIS_TLS_ERROR_SIZE] = "";
        if (conn_of(a)->tls != NULL) { /* hiredis saw the bridge close; the bridge knows why */
            tg__redis_tls_last_error(conn_of(a)->tls, why, sizeof why);
        }
        if (why[0] != '\0') {
            snprintf(message, sizeof message, "redis %s:%d over TLS: %s", conn_of(a)->host,
                     conn_of(a)->port, why);
        }
        note_error(a, message);
        a->context = NULL;
        a->retry_at_ms = monotonic_ms() + conn_of(a)->retry_interval_ms;
        tg__redis_node_failed(a->async->ledger, a->node);
    }
}

/* Frees the connection: hiredis answers each call on it with no reply (on_reply). */
static void drop(node_link *a, const char *why) {
    if (why != a->last_error) {
        note_error(a, why);
    }
    redisAsyncContext *context = a->context;
    a->context = NULL;
    a->retry_at_ms = monotonic_ms() + conn_of(a)->retry_interval_ms;
    if (context != NULL) {
        redisAsyncFree(context);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *user) {
    (void)fd, (void)what;
    node_link *a = user;
    if (a->count > 0 && a->deadlines[a->head] <= monotonic_ms() && a->context != NULL) {
        /* A busy loop may run this timer before the read event of an answer that is
         * already in: read what is there first (a read that finds nothing is harmless). */
        redisAsyncHandleRead(a->context);
    }
    if (a->count > 0 && a->deadlines[a->head] <= monotonic_ms()) {
        char why[1024];
        snprintf(why, sizeof why, "redis %s:%d did not answer within %lld ms", conn_of(a)->host,
                 conn_of(a)->port, (long long)conn_of(a)->timeout_ms);
        drop(a, why);
        tg__redis_node_failed(a->async->ledger, a->node);
    }
    arm(a);
}

static bool send_with(node_link *a, redisCallbackFn *callback, pass *p, int argc, const char **argv,
                      const size_t *lens) {
    if (a->count >= RING_SIZE ||
        redisAsyncCommandArgv(a->context, callback, p, argc, argv, lens) != REDIS_OK) {
        return false;
    }
    a->deadlines[(a->head + a->count) & (RING_SIZE - 1)] = monotonic_ms() + conn_of(a)->timeout_ms;
    a->count++;
    arm(a);
    return true;
}

static bool send_argv(node_link *a, pass *p, int argc, const char **argv, const size_t *lens) {
    return send_with(a, on_reply, p, argc, argv, lens);
}

/* p's call on link l (after ASKING when an ASK sent it there), and WAIT right behind it when
 * store.wait_replicas asks: on one connection WAIT covers every write made before it. */
static bool send_call(node_link *l, pass *p, bool asking, tg__redis_args *args) {
    static const char *ask[] = {"ASKING"};
    const tg__redis_conn *conn = conn_of(l);
    bool wait = conn->wait_replicas > 0 && tg__redis_call_waits(args, false);
    if (l->count + (asking ? 1 : 0) + 1 + (wait ? 1 : 0) > RING_SIZE ||
        (asking && !send_argv(l, NULL, 1, ask, NULL)) ||
        !send_argv(l, p, args->count, args->argv, args->lens)) {
        return false;
    }
    p->waited = -1;
    if (wait) {
        tg__redis_args command = {.count = 0};
        tg__redis_args_str(&command, "WAIT");
        tg__redis_args_i64(&command, conn->wait_replicas);
        tg__redis_args_i64(&command, conn->wait_timeout_ms);
        /* Not queued (cannot happen with the room checked above): the call's own answer
         * stands, as without WAIT, rather than a pass never run again. */
        p->replicating = send_with(l, on_wait_reply, p, command.count, command.argv, command.lens);
    }
    return true;
}

static tg_status connect_async(node_link *a, tg_error *err) {
    tg__redis_conn *conn = conn_of(a);
    if (monotonic_ms() < a->retry_at_ms) {
        return tg__fail(err, TG_ERR_IO, "redis %s:%d unavailable (retrying shortly): %s",
                        conn->host, conn->port, a->last_error);
    }
    /* With sentinels, where the primary is now (redis_sentinel.h: a bounded, blocking
     * question, once per retry interval at most). */
    tg_error why = {0};
    tg_status found = tg__redis_sentinel_resolve(conn, &why);
    if (found != TG_OK) {
        note_error(a, why.message);
        a->retry_at_ms = monotonic_ms() + conn->retry_interval_ms;
        return tg__fail(err, found, "%s", why.message);
    }
    redisAsyncContext *context = conn->tls != NULL
                                     ? redisAsyncConnectUnix(tg__redis_tls_socket(conn->tls))
                                     : redisAsyncConnect(conn->host, conn->port);
    if (context == NULL || context->err) {
        tg_status status = tg__fail(err, TG_ERR_IO, "cannot connect to redis %s:%d: %s", conn->host,
                                    conn->port, context ? context->errstr : "out of memory");
        redisAsyncFree(context);
        a->retry_at_ms = monotonic_ms() + conn->retry_interval_ms;
        return status;
    }
    context->data = a;
    a->context = context;
    if (redisLibeventAttach(context, a->async->base) != REDIS_OK) {
        drop(a, "cannot attach the redis connection to the loop");
        return tg__fail(err, TG_ERR_IO, "cannot attach the redis connection to the loop");
    }
    redisAsyncSetConnectCallback(context, on_connect);
    redisAsyncSetDisconnectCallback(context, on_disconnect);
    /* Pipelined ahead of the calls: AUTH, SELECT, and the library. */
    bool ok = true;
    if (conn->password[0] != '\0') {
        const char *with_user[] = {"AUTH", conn->user, conn->password};
        const char *alone[] = {"AUTH", conn->password};
        ok = conn->user[0] != '\0' ? send_argv(a, NULL, 3, with_user, NULL)
                                   : send_argv(a, NULL, 2, alone, NULL);
    }
    char db[16];
    snprintf(db, sizeof db, "%d", conn->db);
    const char *select[] = {"SELECT", db};
    if (ok && conn->db != 0) {
        ok = send_argv(a, NULL, 2, select, NULL);
    }
    const char *load[] = {"FUNCTION", "LOAD", "REPLACE", tg__redis_lua};
    if (ok) {
        ok = send_argv(a, NULL, 4, load, NULL);
    }
    const char *persistence[] = {"CONFIG", "GET", "appendonly", "appendfsync"};
    a->unfit[0] = '\0';
    if (ok && conn->durability == TG__REDIS_DURABILITY_STRICT) {
        ok = send_with(a, on_persistence, NULL, 4, persistence, NULL);
    }
    if (!ok) {
        drop(a, "cannot queue the connect steps");
        return tg__fail(err, TG_ERR_IO, "redis %s:%d: cannot queue the connect steps", conn->host,
                        conn->port);
    }
    return TG_OK;
}

/* ---- the ledger's side ---------------------------------------------------------------- */

tg_status tg__redis_async_start(tg__redis_ledger *ledger, struct event_base *base,
                                tg__redis_resume_fn resume, void *user, tg_error *err) {
    tg__redis_async *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory starting the redis connection");
    }
    a->ledger = ledger;
    a->base = base;
    a->resume = resume;
    a->user = user;
    a->wake = event_new(base, -1, 0, on_wake, a);
    a->later = evtimer_new(base, on_later, a);
    if (a->later == NULL || a->wake == NULL) {
        tg__redis_async_free(a);
        return tg__fail(err, TG_ERR_IO, "cannot make the redis connection's events");
    }
    ledger->async = a;
    return TG_OK;
}

static void pass_free(pass *p) {
    for (int i = 0; i < p->answered; i++) {
        freeReplyObject(p->memo[i].reply);
        free(p->memo[i].error);
    }
    if (p->memo != p->inline_memo) {
        free(p->memo);
    }
    free(p);
}

void tg__redis_async_free(tg__redis_async *a) {
    if (a == NULL) {
        return;
    }
    a->resume = NULL;
    for (int i = 0; i < TG__REDIS_NODES_MAX; i++) {
        node_link *l = a->links[i];
        if (l != NULL) {
            drop(l, "the daemon is stopping");
            event_free(l->timer);
            free(l);
        }
    }
    if (a->later != NULL) {
        event_free(a->later);
    }
    if (a->wake != NULL) {
        event_free(a->wake);
    }
    free(a);
}

/* The connection to node `node`, made (not connected) on first use; NULL when out of memory. */
static node_link *link_of(tg__redis_async *a, int node) {
    if (a->links[node] != NULL) {
        return a->links[node];
    }
    node_link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        return NULL;
    }
    l->async = a;
    l->node = node;
    if ((l->timer = evtimer_new(a->base, on_timer, l)) == NULL) {
        free(l);
        return NULL;
    }
    a->links[node] = l;
    return l;
}

void tg__redis_async_enter(tg__redis_ledger *ledger, void **state) {
    tg__redis_async *a = ledger->async;
    if (a == NULL) {
        return;
    }
    pass *p = *state != NULL ? *state : calloc(1, sizeof *p);
    if (p != NULL) { /* out of memory: this request's calls stay synchronous */
        if (p->memo == NULL) {
            p->memo = p->inline_memo;
            p->ask_node = -1;
            p->waited = -1;
        }
        p->at = 0;
        p->parked = false;
        memset(p->absent_created, 0, sizeof p->absent_created);
    }
    *state = p;
    a->current = p;
}

bool tg__redis_async_leave(tg__redis_ledger *ledger, void **state, void *token) {
    tg__redis_async *a = ledger->async;
    if (a == NULL) {
        return false;
    }
    a->current = NULL;
    pass *p = *state;
    if (p != NULL && p->parked) {
        p->token = token;
        return true;
    }
    if (p != NULL) {
        pass_free(p);
    }
    *state = NULL;
    return false;
}

/* The entry of `root` among the pass's absent roots, or -1. */
static int absent_find(const pass *p, const char *root) {
    for (int i = 0; i < p->absent_count; i++) {
        if (strcmp(p->absent[i], root) == 0) {
            return i;
        }
    }
    return -1;
}

bool tg__redis_async_absent(tg__redis_ledger *ledger, const char *root) {
    pass *p = ledger->async != NULL ? ledger->async->current : NULL;
    int i = p != NULL ? absent_find(p, root) : -1;
    return i >= 0 && !p->absent_created[i];
}

void tg__redis_async_tree_seen(tg__redis_ledger *ledger, const char *root, bool created) {
    pass *p = ledger->async != NULL ? ledger->async->current : NULL;
    if (p == NULL) {
        return;
    }
    int i = absent_find(p, root);
    if (created && i >= 0) {
        p->absent_created[i] = true;
    } else if (!created && i < 0 && p->absent_count < ABSENT_MAX) {
        /* Past ABSENT_MAX a replay may see a tree made since: a call then differs from the
         * first pass's, and the request fails without sending more (diverged, above). */
        snprintf(p->absent[p->absent_count], TG_SEGMENT_SIZE_MAX, "%s", root);
        p->absent_created[p->absent_count++] = false;
    }
}

void tg__redis_async_abandon(tg__redis_ledger *ledger, void **state) {
    (void)ledger;
    if (*state != NULL) {
        pass_free(*state);
        *state = NULL;
    }
}

int tg__redis_async_in_flight(const tg__redis_ledger *ledger) {
    int count = 0;
    for (int i = 0; ledger->async != NULL && i < TG__REDIS_NODES_MAX; i++) {
        count += ledger->async->links[i] != NULL ? ledger->async->links[i]->count : 0;
    }
    return count;
}

static uint64_t args_hash(const tg__redis_args *args) {
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (int i = 0; i < args->count; i++) {
        for (size_t j = 0; j < args->lens[i]; j++) {
            h = (h ^ (unsigned char)args->argv[i][j]) * UINT64_C(1099511628211);
        }
        h = (h ^ 0xff) * UINT64_C(1099511628211); /* "ab","c" is not "a","bc" */
    }
    return h;
}

tg_status tg__redis_call(tg__redis_ledger *ledger, tg__redis_args *args, size_t fields,
                         redisReply **reply_out, tg_error *err) {
    tg__redis_async *a = ledger->async;
    pass *p = a != NULL ? a->current : NULL;
    if (p == NULL) {
        tg_status status = tg__redis_sync_fcall(ledger, args, fields, reply_out, err);
        tg__redis_touched(ledger, args); /* its events wait for the collector */
        return status;
    }
    int i = p->at++;
    uint64_t hash = args_hash(args);
    if (i < p->answered) { /* answered in an earlier pass: the same answer again */
        memo_entry *m = &p->memo[i];
        if (m->hash != hash || p->diverged) {
            p->diverged = true; /* a later call could run in Redis unasked: send none */
            return tg__fail(err, TG_ERR_IO,
                            "a request made another redis call when run again (%s); nothing "
                            "more was sent",
                            args->argv[1]);
        }
        tg__redis_touched(ledger, args); /* answered: its events are in the tree's stream */
        if (m->status != TG_OK) {
            return tg__fail(err, m->status, "%s", m->error ? m->error : "redis call failed");
        }
        tg_status status = tg__redis_fcall_check(m->reply, args->argv[1], fields, err);
        if (status == TG_OK) {
            a->borrowed = m->reply;
            *reply_out = m->reply;
        }
        return status;
    }
    if (p->diverged) {
        return tg__fail(err, TG_ERR_IO,
                        "a request made another redis call when run again; nothing more was "
                        "sent (%s)",
                        args->argv[1]);
    }
    if (p->parked || i >= TG__REDIS_PASS_CALLS_MAX) {
        return tg__fail(err, TG_ERR_IO, "%s",
                        p->parked ? "waiting for redis"
                                  : "a request made more redis calls than one request may");
    }
    if (!memo_room(p, i)) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory for a request's redis answers");
    }
    int node = p->ask_node >= 0 ? p->ask_node : tg__redis_route(ledger, args);
    if (node < 0) {
        return tg__fail(err, TG_ERR_IO, "redis cluster: no master known for the slot of %s",
                        args->argv[3]);
    }
    node_link *l = link_of(a, node);
    if (l == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory for a redis connection");
    }
    tg_status status = TG_OK;
    if (l->context == NULL && (status = connect_async(l, err)) != TG_OK) {
        return status;
    }
    if (!send_call(l, p, p->ask_node >= 0, args)) {
        return tg__fail(err, TG_ERR_IO,
                        "redis %s:%d: %d calls in flight, or the connection "
                        "is closing; retry",
                        tg__redis_node(ledger, node)->host, tg__redis_node(ledger, node)->port,
                        l->count);
    }
    p->ask_node = -1;
    if (p->first_sent_ms == 0) {
        p->first_sent_ms = monotonic_ms();
    }
    p->memo[i].hash = hash;
    p->parked = true;
    return tg__fail(err, TG_ERR_IO, "waiting for redis");
}

void tg__redis_done(tg__redis_ledger *ledger, redisReply *reply) {
    if (ledger->async != NULL && ledger->async->borrowed == reply && reply != NULL) {
        ledger->async->borrowed = NULL;
        return; /* the pass's memo owns it */
    }
    freeReplyObject(reply);
}
