/*
 * redis_async: the async connection and the passes of parked requests
 * (redis_async.h says how a request is replayed). Everything here runs on the
 * daemon's loop thread. hiredis answers the calls of one connection in the
 * order they were sent, so the deadlines of the calls in flight are a FIFO ring
 * and only its head can be the next to time out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "core/path.h"
#include "store/redis/redis_async.h"
#include "store/redis/redis_internal.h"

#define RING_SIZE 16384 /* calls in flight on one connection (a power of two) */

typedef struct {
    redisReply *reply; /* our copy; NULL when status != TG_OK */
    tg_status status;  /* TG_OK, or why the call failed (error says more) */
    uint64_t hash;     /* of the command, to check a replay makes the same call */
    char *error;       /* malloc'd message, or NULL */
} memo_entry;

#define MEMO_INLINE 4 /* a single request makes one call: no second allocation */

typedef struct pass {
    void *token;
    int answered;      /* memo entries filled */
    int at;            /* calls made in the pass running now */
    bool parked;       /* this pass sent a call */
    bool replicating;  /* a WAIT follows its call: resumed at WAIT's answer, not the call's */
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

struct tg__redis_async {
    tg__redis_ledger *ledger;
    struct event_base *base;
    redisAsyncContext *context; /* NULL: not connected (the next call connects) */
    tg__redis_resume_fn resume;
    void *user;
    struct event *timer; /* at the deadline of the oldest call in flight */
    struct event *wake;  /* runs the resumes of the ready passes, outside hiredis */
    pass *ready, *ready_last;
    bool drop_soon;       /* an error reply: start over on a new connection */
    pass *current;        /* the pass running now, NULL outside one */
    redisReply *borrowed; /* the memo reply a call handed out: not freed by done() */
    int64_t deadlines[RING_SIZE];
    int head, count; /* the ring of deadlines in flight, oldest at head */
    int64_t retry_at_ms;
    char last_error[TG_ERROR_MESSAGE_SIZE / 2];
};

static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Cut short on purpose: it is quoted inside longer messages. */
static void note_error(tg__redis_async *a, const char *message) {
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

static void ready_push(tg__redis_async *a, pass *p) {
    p->next = NULL;
    if (a->ready_last != NULL) {
        a->ready_last->next = p;
    } else {
        a->ready = p;
    }
    a->ready_last = p;
    event_active(a->wake, EV_READ, 0);
}

static void drop(tg__redis_async *a, const char *why);

static void on_wake(evutil_socket_t fd, short what, void *user) {
    (void)fd, (void)what;
    tg__redis_async *a = user;
    if (a->drop_soon) {
        a->drop_soon = false;
        drop(a, a->last_error);
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

static void arm(tg__redis_async *a) {
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

/* Every reply, in send order: the head of the ring is this call's deadline. */
static void on_reply(redisAsyncContext *context, void *r, void *privdata) {
    tg__redis_async *a = context->data;
    a->head = (a->head + 1) & (RING_SIZE - 1);
    a->count--;
    redisReply *reply = r;
    pass *p = privdata;
    if (p == NULL) { /* AUTH, SELECT or FUNCTION LOAD at connect */
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
            char message[1024];
            snprintf(message, sizeof message, "redis refused a connect step: %.200s", reply->str);
            note_error(a, message);
            a->drop_soon = true;
            event_active(a->wake, EV_READ, 0);
        }
        return;
    }
    memo_entry *m = &p->memo[p->answered];
    char message[1024];
    message[0] = '\0';
    if (reply == NULL && a->last_error[0] != '\0') { /* it names the server already */
        snprintf(message, sizeof message, "%s (the call may or may not have run)", a->last_error);
    } else if (reply == NULL) {
        snprintf(message, sizeof message, "redis %s:%d: %s (the call may or may not have run)",
                 a->ledger->conn.host, a->ledger->conn.port,
                 context->errstr[0] ? context->errstr : "connection lost");
    } else if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(message, sizeof message, "redis %s:%d: %.200s", a->ledger->conn.host,
                 a->ledger->conn.port, reply->str);
        /* "Function not found" after a restart without data: a new connection loads it. */
        note_error(a, message);
        a->drop_soon = true;
    } else if ((m->reply = reply_copy(reply)) == NULL) {
        snprintf(message, sizeof message, "out of memory copying a redis reply");
    }
    if (message[0] != '\0') {
        m->status = reply == NULL || reply->type == REDIS_REPLY_ERROR ? TG_ERR_IO : TG_ERR_NOMEM;
        m->error = strdup(message);
    } else {
        m->status = TG_OK;
    }
    p->answered++;
    if (!p->replicating) {
        ready_push(a, p);
    }
}

/* WAIT's answer after a pass's call (store.wait_replicas): too few replicas turn the call's
 * answer into a failure, since a failover could lose what it decided. */
static void on_wait_reply(redisAsyncContext *context, void *r, void *privdata) {
    tg__redis_async *a = context->data;
    a->head = (a->head + 1) & (RING_SIZE - 1);
    a->count--;
    redisReply *reply = r;
    pass *p = privdata;
    p->replicating = false;
    memo_entry *m = &p->memo[p->answered - 1];
    long long acknowledged =
        reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (m->status == TG_OK && acknowledged < a->ledger->conn.wait_replicas) {
        char message[TG_ERROR_MESSAGE_SIZE];
        if (reply == NULL) { /* dropped (timeout_ms passed): the reason names the server */
            snprintf(message, sizeof message,
                     "%s (waiting for store.wait_replicas; the call ran on the primary: retry "
                     "with the same idempotency key)",
                     a->last_error);
        } else {
            tg__redis_wait_message(&a->ledger->conn, acknowledged, message, sizeof message);
        }
        freeReplyObject(m->reply);
        m->reply = NULL;
        m->status = TG_ERR_IO;
        m->error = strdup(message);
    }
    ready_push(a, p);
}

static void on_connect(const redisAsyncContext *context, int status) {
    tg__redis_async *a = context->data;
    if (status != REDIS_OK && a->context == context) {
        char message[1024];
        snprintf(message, sizeof message, "cannot connect to redis %s:%d: %s", a->ledger->conn.host,
                 a->ledger->conn.port, context->errstr);
        note_error(a, message);
        a->context = NULL; /* hiredis frees it, answering its calls with no reply */
        a->retry_at_ms = monotonic_ms() + a->ledger->conn.retry_interval_ms;
    }
}

static void on_disconnect(const redisAsyncContext *context, int status) {
    tg__redis_async *a = context->data;
    if (a->context == context) { /* the server closed it (not our drop) */
        char message[1024];
        snprintf(message, sizeof message, "redis %s:%d closed the connection%s%s",
                 a->ledger->conn.host, a->ledger->conn.port, status == REDIS_OK ? "" : ": ",
                 status == REDIS_OK ? "" : context->errstr);
        note_error(a, message);
        a->context = NULL;
        a->retry_at_ms = monotonic_ms() + a->ledger->conn.retry_interval_ms;
    }
}

/* Frees the connection: hiredis answers each call on it with no reply (on_reply). */
static void drop(tg__redis_async *a, const char *why) {
    if (why != a->last_error) {
        note_error(a, why);
    }
    redisAsyncContext *context = a->context;
    a->context = NULL;
    a->retry_at_ms = monotonic_ms() + a->ledger->conn.retry_interval_ms;
    if (context != NULL) {
        redisAsyncFree(context);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *user) {
    (void)fd, (void)what;
    tg__redis_async *a = user;
    if (a->count > 0 && a->deadlines[a->head] <= monotonic_ms() && a->context != NULL) {
        /* A busy loop may run this timer before the read event of an answer that is
         * already in: read what is there first (a read that finds nothing is harmless). */
        redisAsyncHandleRead(a->context);
    }
    if (a->count > 0 && a->deadlines[a->head] <= monotonic_ms()) {
        char why[1024];
        snprintf(why, sizeof why, "redis %s:%d did not answer within %lld ms", a->ledger->conn.host,
                 a->ledger->conn.port, (long long)a->ledger->conn.timeout_ms);
        drop(a, why);
    }
    arm(a);
}

static bool send_with(tg__redis_async *a, redisCallbackFn *callback, pass *p, int argc,
                      const char **argv, const size_t *lens) {
    if (a->count >= RING_SIZE ||
        redisAsyncCommandArgv(a->context, callback, p, argc, argv, lens) != REDIS_OK) {
        return false;
    }
    a->deadlines[(a->head + a->count) & (RING_SIZE - 1)] =
        monotonic_ms() + a->ledger->conn.timeout_ms;
    a->count++;
    arm(a);
    return true;
}

static bool send_argv(tg__redis_async *a, pass *p, int argc, const char **argv,
                      const size_t *lens) {
    return send_with(a, on_reply, p, argc, argv, lens);
}

/* The call, and WAIT right behind it when store.wait_replicas asks (on the same connection,
 * WAIT covers every write the call made). */
static bool send_call(tg__redis_async *a, pass *p, tg__redis_args *args) {
    const tg__redis_conn *conn = &a->ledger->conn;
    if (conn->wait_replicas > 0 && a->count + 2 > RING_SIZE) {
        return false;
    }
    if (!send_argv(a, p, args->count, args->argv, args->lens)) {
        return false;
    }
    if (conn->wait_replicas > 0) {
        tg__redis_args wait = {.count = 0};
        tg__redis_args_str(&wait, "WAIT");
        tg__redis_args_i64(&wait, conn->wait_replicas);
        tg__redis_args_i64(&wait, conn->wait_timeout_ms);
        p->replicating = send_with(a, on_wait_reply, p, wait.count, wait.argv, wait.lens);
        /* Not queued (cannot happen with the room checked above): the call's own answer
         * stands, as without WAIT, rather than a pass never resumed. */
    }
    return true;
}

static tg_status connect_async(tg__redis_async *a, tg_error *err) {
    tg__redis_conn *conn = &a->ledger->conn;
    if (monotonic_ms() < a->retry_at_ms) {
        return tg__fail(err, TG_ERR_IO, "redis %s:%d unavailable (retrying shortly): %s",
                        conn->host, conn->port, a->last_error);
    }
    redisAsyncContext *context = redisAsyncConnect(conn->host, conn->port);
    if (context == NULL || context->err) {
        tg_status status = tg__fail(err, TG_ERR_IO, "cannot connect to redis %s:%d: %s", conn->host,
                                    conn->port, context ? context->errstr : "out of memory");
        redisAsyncFree(context);
        a->retry_at_ms = monotonic_ms() + conn->retry_interval_ms;
        return status;
    }
    context->data = a;
    a->context = context;
    if (redisLibeventAttach(context, a->base) != REDIS_OK) {
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
    a->timer = evtimer_new(base, on_timer, a);
    a->wake = event_new(base, -1, 0, on_wake, a);
    if (a->timer == NULL || a->wake == NULL) {
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
    drop(a, "the daemon is stopping");
    if (a->timer != NULL) {
        event_free(a->timer);
    }
    if (a->wake != NULL) {
        event_free(a->wake);
    }
    free(a);
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
        }
        p->at = 0;
        p->parked = false;
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

void tg__redis_async_abandon(tg__redis_ledger *ledger, void **state) {
    (void)ledger;
    if (*state != NULL) {
        pass_free(*state);
        *state = NULL;
    }
}

int tg__redis_async_in_flight(const tg__redis_ledger *ledger) {
    return ledger->async != NULL ? ledger->async->count : 0;
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
        tg_status status = tg__redis_fcall(&ledger->conn, args, fields, reply_out, err);
        if (status == TG_OK && (status = tg__redis_wait_replicas(&ledger->conn, err)) != TG_OK) {
            freeReplyObject(*reply_out);
            *reply_out = NULL;
        }
        return status;
    }
    int i = p->at++;
    uint64_t hash = args_hash(args);
    if (i < p->answered) { /* answered in an earlier pass: the same answer again */
        memo_entry *m = &p->memo[i];
        if (m->hash != hash) {
            return tg__fail(err, TG_ERR_IO,
                            "a request made another redis call when run again (%s); nothing "
                            "more was sent",
                            args->argv[1]);
        }
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
    if (p->parked || i >= TG__REDIS_PASS_CALLS_MAX) {
        return tg__fail(err, TG_ERR_IO, "%s",
                        p->parked ? "waiting for redis"
                                  : "a request made more redis calls than one request may");
    }
    if (!memo_room(p, i)) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory for a request's redis answers");
    }
    tg_status status = TG_OK;
    if (a->context == NULL && (status = connect_async(a, err)) != TG_OK) {
        return status;
    }
    if (!send_call(a, p, args)) {
        return tg__fail(err, TG_ERR_IO,
                        "redis %s:%d: %d calls in flight, or the connection "
                        "is closing; retry",
                        ledger->conn.host, ledger->conn.port, a->count);
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
