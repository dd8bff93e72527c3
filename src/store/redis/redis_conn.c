/*
 * redis_conn: the connection under redis_ledger.c. Synchronous hiredis with a
 * timeout on connect and on every reply, so a stopped or unreachable server
 * turns into TG_ERR_IO within timeout_ms instead of a hang. The function library
 * is loaded on every (re)connect: a server restarted without its data (or a new
 * replica promoted) gets it back before the first call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/path.h"
#include "store/redis/redis_conn.h"
#include "store/redis/redis_sentinel.h"

void tg__redis_args_str(tg__redis_args *args, const char *text) {
    if (args->count >= TG__REDIS_ARGS_MAX) {
        abort(); /* a programmer's error: the calls below have fixed argument counts */
    }
    args->argv[args->count] = text ? text : "";
    args->lens[args->count] = strlen(args->argv[args->count]);
    args->count++;
}

void tg__redis_args_bytes(tg__redis_args *args, const char *bytes, size_t size) {
    if (args->count >= TG__REDIS_ARGS_MAX) {
        abort();
    }
    args->argv[args->count] = bytes;
    args->lens[args->count] = size;
    args->count++;
}

void tg__redis_args_i64(tg__redis_args *args, int64_t value) {
    if (args->count >= TG__REDIS_ARGS_MAX) {
        abort();
    }
    int n = snprintf(args->numbers[args->count], TG__REDIS_NUMBER_SIZE, "%lld", (long long)value);
    args->argv[args->count] = args->numbers[args->count];
    args->lens[args->count] = (size_t)n;
    args->count++;
}

void tg__redis_disconnect(tg__redis_conn *conn) {
    redisFree(conn->context);
    conn->context = NULL;
}

/* Not a decision's clock (those come in as now_ms): only when to try the server again. */
static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Drops the connection after a failure, remembers why, and holds off the next connect. */
static void drop(tg__redis_conn *conn, const tg_error *why) {
    tg__redis_disconnect(conn);
    const char *message = why ? why->message : "failed";
    size_t length = strnlen(message, sizeof conn->last_error - 1);
    memcpy(conn->last_error, message, length); /* cut short: it is quoted in a longer message */
    conn->last_error[length] = '\0';
    conn->retry_at_ms = monotonic_ms() + conn->retry_interval_ms;
}

/* One command at connect time (AUTH, SELECT, FUNCTION LOAD) that must answer OK. */
static tg_status setup_command(tg__redis_conn *conn, const char *what, int argc, const char **argv,
                               tg_error *err) {
    redisReply *reply = redisCommandArgv(conn->context, argc, argv, NULL);
    tg_status status = TG_OK;
    if (reply == NULL) {
        status = tg__fail(err, TG_ERR_IO, "redis %s:%d: %s", conn->host, conn->port,
                          conn->context->errstr);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        status = tg__fail(err, TG_ERR_IO, "redis %s:%d refused %s: %s", conn->host, conn->port,
                          what, reply->str);
    }
    freeReplyObject(reply);
    return status;
}

static tg_status login(tg__redis_conn *conn, tg_error *err) {
    tg_status status = TG_OK;
    if (conn->password[0] != '\0') {
        const char *with_user[] = {"AUTH", conn->user, conn->password};
        const char *alone[] = {"AUTH", conn->password};
        status =
            conn->user[0] != '\0'
                ? setup_command(conn, "AUTH (user and password of store.url)", 3, with_user, err)
                : setup_command(conn, "AUTH (password of store.url)", 2, alone, err);
    }
    if (status == TG_OK && conn->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", conn->db);
        const char *select[] = {"SELECT", db};
        status = setup_command(conn, "SELECT (database of store.url)", 2, select, err);
    }
    return status;
}

static tg_status load_library(tg__redis_conn *conn, tg_error *err) {
    redisReply *reply = redisCommand(conn->context, "FUNCTION LOAD REPLACE %b", tg__redis_lua,
                                     strlen(tg__redis_lua));
    tg_status status = TG_OK;
    if (reply == NULL) {
        status = tg__fail(err, TG_ERR_IO, "redis %s:%d: %s", conn->host, conn->port,
                          conn->context->errstr);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        status = tg__fail(err, TG_ERR_IO,
                          "redis %s:%d refused the function library (Redis >= 7 needed): %s",
                          conn->host, conn->port, reply->str);
    }
    freeReplyObject(reply);
    return status;
}

/* Over TLS hiredis sees only its clear side closed: the bridge knows why (a certificate that
 * did not verify, the server refusing ours, the server unreachable), and that is the message. */
static void tls_reason(const tg__redis_conn *conn, tg_error *err) {
    if (conn->tls == NULL || err == NULL) {
        return;
    }
    char why[TG__REDIS_TLS_ERROR_SIZE];
    tg__redis_tls_last_error(conn->tls, why, sizeof why);
    if (why[0] != '\0') {
        tg__fail(err, err->status, "redis %s:%d over TLS: %s", conn->host, conn->port, why);
    }
}

tg_status tg__redis_connect(tg__redis_conn *conn, tg_error *err) {
    if (conn->context != NULL) {
        return TG_OK;
    }
    if (conn->retry_interval_ms > 0 && monotonic_ms() < conn->retry_at_ms) {
        return tg__fail(err, TG_ERR_IO, "redis %s:%d unavailable (retrying shortly): %s",
                        conn->host, conn->port, conn->last_error);
    }
    /* With sentinels, where the primary is now: after a failover, the new one. */
    tg_error why = {0};
    tg_status found = tg__redis_sentinel_resolve(conn, &why);
    if (found != TG_OK) {
        drop(conn, &why);
        return tg__fail(err, found, "%s", why.message);
    }
    struct timeval timeout = {(time_t)(conn->timeout_ms / 1000),
                              (suseconds_t)(conn->timeout_ms % 1000 * 1000)};
    conn->context = conn->tls != NULL
                        ? redisConnectUnixWithTimeout(tg__redis_tls_socket(conn->tls), timeout)
                        : redisConnectWithTimeout(conn->host, conn->port, timeout);
    if (conn->context == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory connecting to redis");
    }
    tg_status status = TG_OK;
    if (conn->context->err) {
        status = tg__fail(err, TG_ERR_IO, "cannot connect to redis %s:%d: %s", conn->host,
                          conn->port, conn->context->errstr);
    } else if (redisSetTimeout(conn->context, timeout) != REDIS_OK) {
        status =
            tg__fail(err, TG_ERR_IO, "redis %s:%d: cannot set the timeout", conn->host, conn->port);
    } else if ((status = login(conn, err)) == TG_OK &&
               (status = tg__redis_durability_check(conn, err)) == TG_OK) {
        status = load_library(conn, err);
    }
    if (status != TG_OK) {
        tls_reason(conn, err);
        drop(conn, err);
    }
    return status;
}

tg_status tg__redis_command_raw(tg__redis_conn *conn, tg__redis_args *args, redisReply **reply_out,
                                tg_error *err) {
    tg_status status = tg__redis_connect(conn, err);
    if (status != TG_OK) {
        return status;
    }
    redisReply *reply = redisCommandArgv(conn->context, args->count, args->argv, args->lens);
    if (reply == NULL) {
        status = tg__fail(err, TG_ERR_IO, "redis %s:%d: %s (the call may or may not have run)",
                          conn->host, conn->port, conn->context->errstr);
        drop(conn, err);
        return status;
    }
    *reply_out = reply;
    return TG_OK;
}

tg_status tg__redis_reply_error(tg__redis_conn *conn, redisReply *reply, tg_error *err) {
    tg_status status =
        tg__fail(err, TG_ERR_IO, "redis %s:%d: %s", conn->host, conn->port, reply->str);
    freeReplyObject(reply);
    tg_error why = {status, ""};
    snprintf(why.message, sizeof why.message, "%s", err ? err->message : "error reply");
    /* A server restarted without its data, or a failover to a replica that never had
     * the library, answers "Function not found" on a live connection: start over, so
     * the next call reconnects and loads it. */
    drop(conn, &why);
    return status;
}

tg_status tg__redis_command(tg__redis_conn *conn, tg__redis_args *args, redisReply **reply_out,
                            tg_error *err) {
    redisReply *reply = NULL;
    tg_status status = tg__redis_command_raw(conn, args, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        return tg__redis_reply_error(conn, reply, err);
    }
    *reply_out = reply;
    return TG_OK;
}

int64_t tg__redis_i64(const redisReply *reply, size_t i) {
    const redisReply *e = reply->element[i];
    if (e->type == REDIS_REPLY_INTEGER) {
        return (int64_t)e->integer;
    }
    if (e->type == REDIS_REPLY_STRING) {
        return strtoll(e->str, NULL, 10);
    }
    return 0;
}

const char *tg__redis_str(const redisReply *reply, size_t i) {
    const redisReply *e = reply->element[i];
    return e->type == REDIS_REPLY_STRING ? e->str : "";
}

tg_status tg__redis_fcall_check(const redisReply *reply, const char *name, size_t fields,
                                tg_error *err) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return tg__fail(err, TG_ERR_CORRUPT, "redis function %s answered no array", name);
    }
    int64_t code = tg__redis_i64(reply, 0);
    if (code < 0) {
        return tg__fail(err, (tg_status)code, "%s",
                        reply->elements > 1 ? tg__redis_str(reply, 1) : "refused");
    }
    if (reply->elements < fields) {
        return tg__fail(err, TG_ERR_CORRUPT, "redis function %s answered %zu fields, not %zu", name,
                        reply->elements, fields);
    }
    return TG_OK;
}

tg_status tg__redis_fcall_take(redisReply *reply, const char *name, size_t fields,
                               redisReply **reply_out, tg_error *err) {
    tg_status status = tg__redis_fcall_check(reply, name, fields, err);
    if (status != TG_OK) {
        freeReplyObject(reply);
        return status;
    }
    *reply_out = reply;
    return TG_OK;
}

tg_status tg__redis_fcall(tg__redis_conn *conn, tg__redis_args *args, size_t fields,
                          redisReply **reply_out, tg_error *err) {
    redisReply *reply = NULL;
    tg_status status = tg__redis_command(conn, args, &reply, err);
    return status != TG_OK ? status
                           : tg__redis_fcall_take(reply, args->argv[1], fields, reply_out, err);
}
