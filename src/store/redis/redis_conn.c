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

#include "core/path.h"
#include "store/redis/redis_conn.h"

void tg__redis_args_str(tg__redis_args *args, const char *text) {
    if (args->count >= TG__REDIS_ARGS_MAX) {
        abort(); /* a programmer's error: the calls below have fixed argument counts */
    }
    args->argv[args->count] = text ? text : "";
    args->lens[args->count] = strlen(args->argv[args->count]);
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

tg_status tg__redis_connect(tg__redis_conn *conn, tg_error *err) {
    if (conn->context != NULL) {
        return TG_OK;
    }
    struct timeval timeout = {(time_t)(conn->timeout_ms / 1000),
                              (suseconds_t)(conn->timeout_ms % 1000 * 1000)};
    conn->context = redisConnectWithTimeout(conn->host, conn->port, timeout);
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
    } else {
        status = load_library(conn, err);
    }
    if (status != TG_OK) {
        tg__redis_disconnect(conn);
    }
    return status;
}

tg_status tg__redis_command(tg__redis_conn *conn, tg__redis_args *args, redisReply **reply_out,
                            tg_error *err) {
    tg_status status = tg__redis_connect(conn, err);
    if (status != TG_OK) {
        return status;
    }
    redisReply *reply = redisCommandArgv(conn->context, args->count, args->argv, args->lens);
    if (reply == NULL) {
        status = tg__fail(err, TG_ERR_IO, "redis %s:%d: %s (the call may or may not have run)",
                          conn->host, conn->port, conn->context->errstr);
        tg__redis_disconnect(conn);
        return status;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        status = tg__fail(err, TG_ERR_IO, "redis %s:%d: %s", conn->host, conn->port, reply->str);
        freeReplyObject(reply);
        /* A server restarted without its data, or a failover to a replica that never had
         * the library, answers "Function not found" on a live connection: start over, so
         * the next call reconnects and loads it. */
        tg__redis_disconnect(conn);
        return status;
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

tg_status tg__redis_fcall(tg__redis_conn *conn, tg__redis_args *args, size_t fields,
                          redisReply **reply_out, tg_error *err) {
    redisReply *reply = NULL;
    tg_status status = tg__redis_command(conn, args, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        freeReplyObject(reply);
        return tg__fail(err, TG_ERR_CORRUPT, "redis function %s answered no array", args->argv[1]);
    }
    int64_t code = tg__redis_i64(reply, 0);
    if (code < 0) {
        status = tg__fail(err, (tg_status)code, "%s",
                          reply->elements > 1 ? tg__redis_str(reply, 1) : "refused");
        freeReplyObject(reply);
        return status;
    }
    if (reply->elements < fields) {
        freeReplyObject(reply);
        return tg__fail(err, TG_ERR_CORRUPT, "redis function %s answered %zu fields, not %zu",
                        args->argv[1], reply->elements, fields);
    }
    *reply_out = reply;
    return TG_OK;
}
