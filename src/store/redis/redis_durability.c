/*
 * redis_durability: what an acknowledged decision survives on Redis. The daemon's
 * `store.durability` promises something about the server's persistence, which the daemon
 * does not set (a shared server's settings belong to its operator), so it checks them at
 * connect: `strict` acknowledges only what the server has fsync'ed, which needs the
 * append-only file with `appendfsync always`, and a server without it is refused with a
 * sentence naming the setting; `relaxed` takes any server but says so when the server keeps
 * no AOF (a restart then loses everything since its last snapshot). `wait_replicas` adds
 * WAIT after each call, so an answer also means the write reached that many replicas
 * (what a failover to one of them keeps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "store/redis/redis_conn.h"

/* What the server says of its persistence; "" where it did not say. */
typedef struct {
    char appendonly[16];      /* "yes" / "no" */
    char appendfsync[16];     /* "always" / "everysec" / "no" */
    char config_refused[160]; /* why CONFIG GET was refused (then INFO was read), or "" */
} persistence;

static void copy_value(char *out, size_t size, const char *text, size_t length) {
    if (length >= size) {
        length = size - 1;
    }
    memcpy(out, text, length);
    out[length] = '\0';
}

/* A CONFIG GET appendonly appendfsync reply into *p. False when refused. */
static bool config_reply(const redisReply *reply, persistence *p) {
    bool ok = reply->type == REDIS_REPLY_ARRAY;
    if (reply->type == REDIS_REPLY_ERROR) {
        copy_value(p->config_refused, sizeof p->config_refused, reply->str, reply->len);
    }
    for (size_t i = 0; ok && i + 1 < reply->elements; i += 2) {
        const redisReply *name = reply->element[i], *value = reply->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING) {
            continue;
        }
        if (strcmp(name->str, "appendonly") == 0) {
            copy_value(p->appendonly, sizeof p->appendonly, value->str, value->len);
        } else if (strcmp(name->str, "appendfsync") == 0) {
            copy_value(p->appendfsync, sizeof p->appendfsync, value->str, value->len);
        }
    }
    return ok && p->appendonly[0] != '\0';
}

/* CONFIG GET appendonly appendfsync (Redis >= 7 takes several names). False when refused. */
static bool read_config(tg__redis_conn *conn, persistence *p) {
    const char *argv[] = {"CONFIG", "GET", "appendonly", "appendfsync"};
    redisReply *reply = redisCommandArgv(conn->context, 4, argv, NULL);
    if (reply == NULL) {
        return false;
    }
    bool ok = config_reply(reply, p);
    freeReplyObject(reply);
    return ok;
}

/* INFO persistence's aof_enabled, for a user that may not run CONFIG. */
static bool read_info(tg__redis_conn *conn, persistence *p) {
    const char *argv[] = {"INFO", "persistence"};
    redisReply *reply = redisCommandArgv(conn->context, 2, argv, NULL);
    bool ok = false;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        const char *line = strstr(reply->str, "aof_enabled:");
        if (line != NULL) {
            ok = true;
            snprintf(p->appendonly, sizeof p->appendonly, "%s",
                     line[strlen("aof_enabled:")] == '1' ? "yes" : "no");
        }
    }
    freeReplyObject(reply);
    return ok;
}

static tg_status strict_check(const tg__redis_conn *conn, const persistence *p, tg_error *err) {
    if (strcmp(p->appendonly, "yes") != 0) {
        return tg__fail(err, TG_ERR_IO,
                        "redis %s:%d keeps no append-only file (appendonly no): store.durability "
                        "strict acknowledges only what redis has fsync'ed, which needs "
                        "`appendonly yes` and `appendfsync always` on the server (or "
                        "store.durability: relaxed)",
                        conn->host, conn->port);
    }
    if (p->appendfsync[0] == '\0') {
        return tg__fail(err, TG_ERR_IO,
                        "redis %s:%d refused CONFIG GET (%s), so whether it fsyncs every write "
                        "(appendfsync always) cannot be checked; INFO says its append-only file "
                        "is on. store.durability strict needs the check: allow CONFIG GET to "
                        "this user (+config|get), or use store.durability: relaxed",
                        conn->host, conn->port, p->config_refused);
    }
    if (strcmp(p->appendfsync, "always") != 0) {
        return tg__fail(err, TG_ERR_IO,
                        "redis %s:%d fsyncs its append-only file with `appendfsync %s`, not on "
                        "every write: store.durability strict needs `appendfsync always` on the "
                        "server (or store.durability: relaxed, which may lose the last second of "
                        "acknowledged decisions when the server's machine fails)",
                        conn->host, conn->port, p->appendfsync);
    }
    return TG_OK;
}

static void relaxed_warning(tg__redis_conn *conn, const persistence *p) {
    if (strcmp(p->appendonly, "yes") != 0) {
        snprintf(conn->warning, sizeof conn->warning,
                 "redis %s:%d keeps no append-only file (appendonly no): a restart of the "
                 "server loses every decision since its last snapshot (store.durability "
                 "relaxed expects `appendonly yes`, `appendfsync everysec`)",
                 conn->host, conn->port);
    } else if (strcmp(p->appendfsync, "no") == 0) {
        snprintf(conn->warning, sizeof conn->warning,
                 "redis %s:%d leaves fsync to the kernel (appendfsync no): a crash of its "
                 "machine loses up to ~30 s of decisions (store.durability relaxed expects "
                 "`appendfsync everysec`)",
                 conn->host, conn->port);
    }
}

tg_status tg__redis_durability_check(tg__redis_conn *conn, tg_error *err) {
    conn->warning[0] = '\0';
    if (conn->durability == TG__REDIS_DURABILITY_UNCHECKED) {
        return TG_OK;
    }
    persistence p = {"", "", ""};
    if (!read_config(conn, &p) && !read_info(conn, &p)) {
        if (conn->durability == TG__REDIS_DURABILITY_STRICT) {
            return tg__fail(err, TG_ERR_IO,
                            "redis %s:%d answered neither CONFIG GET appendonly nor INFO "
                            "persistence, so store.durability strict cannot check that it "
                            "fsyncs every write",
                            conn->host, conn->port);
        }
        snprintf(conn->warning, sizeof conn->warning,
                 "redis %s:%d did not say how it persists (CONFIG GET and INFO refused)",
                 conn->host, conn->port);
        return TG_OK;
    }
    if (conn->durability == TG__REDIS_DURABILITY_STRICT) {
        return strict_check(conn, &p, err);
    }
    relaxed_warning(conn, &p);
    return TG_OK;
}

tg_status tg__redis_strict_reply_check(const tg__redis_conn *conn, const redisReply *reply,
                                       tg_error *err) {
    persistence p = {"", "", ""};
    if (reply == NULL) {
        return tg__fail(err, TG_ERR_IO, "redis %s:%d did not answer CONFIG GET appendonly",
                        conn->host, conn->port);
    }
    if (!config_reply(reply, &p)) {
        /* INFO is not asked here: it cannot show the fsync policy strict needs anyway. */
        if (p.config_refused[0] == '\0') {
            snprintf(p.config_refused, sizeof p.config_refused, "no appendonly in its answer");
        }
        snprintf(p.appendonly, sizeof p.appendonly, "yes");
    }
    return strict_check(conn, &p, err);
}

void tg__redis_wait_message(const tg__redis_conn *conn, long long acknowledged, char *out,
                            size_t size) {
    snprintf(out, size,
             "redis %s:%d: the decision reached %lld of the %d replicas store.wait_replicas "
             "asks for within %lld ms, so a failover could lose it (the call ran on the "
             "primary: retry with the same idempotency key)",
             conn->host, conn->port, acknowledged, conn->wait_replicas,
             (long long)conn->wait_timeout_ms);
}

tg_status tg__redis_wait_replicas(tg__redis_conn *conn, tg_error *err) {
    if (conn->wait_replicas <= 0) {
        return TG_OK;
    }
    tg__redis_args args = {.count = 0};
    tg__redis_args_str(&args, "WAIT");
    tg__redis_args_i64(&args, conn->wait_replicas);
    tg__redis_args_i64(&args, conn->wait_timeout_ms);
    redisReply *reply = NULL;
    tg_status status = tg__redis_command(conn, &args, &reply, err);
    if (status != TG_OK) {
        return status;
    }
    long long acknowledged = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject(reply);
    if (acknowledged >= conn->wait_replicas) {
        return TG_OK;
    }
    char message[TG_ERROR_MESSAGE_SIZE];
    tg__redis_wait_message(conn, acknowledged, message, sizeof message);
    return tg__fail(err, TG_ERR_IO, "%s", message);
}
