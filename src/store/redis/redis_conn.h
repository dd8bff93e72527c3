/*
 * redis_conn: one synchronous hiredis connection and the calls of the function
 * library on it, for redis_ledger.c. Arguments are built in a fixed array (no
 * allocation per call); replies are the flat arrays tollgate.lua answers.
 */
#ifndef TG_STORE_REDIS_CONN_H
#define TG_STORE_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/redis/redis_ledger.h"

/* Arguments of one call, command name included: a budget put with TG_ALERTS_MAX alerts
 * takes 44. */
#define TG__REDIS_ARGS_MAX 48
#define TG__REDIS_NUMBER_SIZE 24
#define TG__REDIS_KEY_TEXT_SIZE 96 /* a key built into the arguments: "tg:{ROOT}:meta" */

/* The Lua library's text, embedded at build time from tollgate.lua (CMakeLists.txt). */
extern const char tg__redis_lua[];

typedef struct {
    redisContext *context;                      /* NULL when not connected: a call connects */
    char host[TG__REDIS_HOST_SIZE_MAX];         /* as given in the options, or as the
                                                   sentinels named it at the last connect */
    int port;                                   /* 1..65535 */
    int64_t timeout_ms;                         /* connect, and each reply */
    char user[TG__REDIS_USER_SIZE_MAX];         /* ACL user, "" for AUTH with a password alone */
    char password[TG__REDIS_PASSWORD_SIZE_MAX]; /* "" for no AUTH */
    int db;                                     /* SELECTed after AUTH when not 0 */
    int64_t retry_interval_ms;                  /* 0: reconnect at every call */
    int64_t retry_at_ms;                        /* monotonic: no connect before this */
    char last_error[TG_ERROR_MESSAGE_SIZE / 2]; /* why the connection was last dropped */
    tg__redis_durability durability;            /* what the server's persistence must give */
    int wait_replicas;                          /* WAIT after each function call; 0: none */
    int64_t wait_timeout_ms;                    /* WAIT's own timeout */
    char warning[TG__REDIS_WARNING_SIZE];       /* the last connect's persistence warning */
    const tg__redis_sentinels *sentinels;       /* NULL, or asked before each connect */
    tg__redis_tls *tls;                         /* NULL, or the bridge to connect through */
} tg__redis_conn;

/* The arguments of one command. Strings are borrowed (they must outlive the call);
 * numbers are printed into the struct. */
typedef struct {
    const char *argv[TG__REDIS_ARGS_MAX];
    size_t lens[TG__REDIS_ARGS_MAX];
    char numbers[TG__REDIS_ARGS_MAX][TG__REDIS_NUMBER_SIZE];
    char key_text[TG__REDIS_KEY_TEXT_SIZE]; /* tg__redis_args_fcall's second key */
    int count;
} tg__redis_args;

void tg__redis_args_str(tg__redis_args *args, const char *text);
void tg__redis_args_i64(tg__redis_args *args, int64_t value);
/* `size` bytes at `bytes` (borrowed, any bytes), as one argument. */
void tg__redis_args_bytes(tg__redis_args *args, const char *bytes, size_t size);

/* Connects (if not connected), authenticates, selects the database and loads the library.
 * TG_ERR_IO with the reason. After a failure no connect is tried for retry_interval_ms:
 * calls in between fail at once with the last reason, so a server that is down or stopped
 * costs one timeout per interval instead of one per call (the daemon's loop stays free). */
tg_status tg__redis_connect(tg__redis_conn *conn, tg_error *err);
void tg__redis_disconnect(tg__redis_conn *conn);

/*
 * Runs a command. TG_OK: *reply_out is the reply (caller frees with freeReplyObject).
 * A connection failure or a server error is TG_ERR_IO (the connection is dropped, so
 * the next call starts clean).
 */
tg_status tg__redis_command(tg__redis_conn *conn, tg__redis_args *args, redisReply **reply_out,
                            tg_error *err);

/* As tg__redis_command, but an error reply is answered TG_OK as the reply itself (a
 * cluster's MOVED or ASK is read by redis_cluster.c); only a failed connection fails. */
tg_status tg__redis_command_raw(tg__redis_conn *conn, tg__redis_args *args, redisReply **reply_out,
                                tg_error *err);

/* An error reply that is no redirection: frees it, drops the connection (the next call
 * starts clean) and answers TG_ERR_IO with the server's message. */
tg_status tg__redis_reply_error(tg__redis_conn *conn, redisReply *reply, tg_error *err);

/*
 * Runs a library function (FCALL name 1 key args...) answering {status, ...}. A status
 * below 0 is returned as that tg_status with the function's message, and the reply is
 * freed. TG_OK: *reply_out is an array of at least `fields` elements.
 */
tg_status tg__redis_fcall(tg__redis_conn *conn, tg__redis_args *args, size_t fields,
                          redisReply **reply_out, tg_error *err);

/* tg__redis_fcall's checks of a reply of function `name`, freeing nothing. */
tg_status tg__redis_fcall_check(const redisReply *reply, const char *name, size_t fields,
                                tg_error *err);
/* tg__redis_fcall_check, then the reply handed out (*reply_out; caller frees), or freed
 * when the check fails: the end of every FCALL, on one connection or through a cluster. */
tg_status tg__redis_fcall_take(redisReply *reply, const char *name, size_t fields,
                               redisReply **reply_out, tg_error *err);

/*
 * The server's persistence against conn->durability (redis_durability.c), at connect: strict
 * needs `appendonly yes` with `appendfsync always` (TG_ERR_IO naming the setting otherwise);
 * relaxed takes any server and leaves a warning in conn->warning when it keeps no AOF.
 * CONFIG GET is asked first; where it is not allowed (managed services rename or forbid
 * it), INFO persistence says whether an AOF is on, but not its fsync policy.
 */
tg_status tg__redis_durability_check(tg__redis_conn *conn, tg_error *err);

/*
 * The strict check of a CONFIG GET appendonly appendfsync reply (NULL: none came), for the
 * async connection's connects, which pipeline the question ahead of their calls: TG_OK when
 * the server fsyncs every write, else TG_ERR_IO with the sentence of the check above.
 */
tg_status tg__redis_strict_reply_check(const tg__redis_conn *conn, const redisReply *reply,
                                       tg_error *err);

/*
 * WAIT conn->wait_replicas conn->wait_timeout_ms on the synchronous connection, after a
 * call: TG_OK when enough replicas have every write made so far, else TG_ERR_IO saying how
 * many did. A no-op when wait_replicas is 0.
 */
tg_status tg__redis_wait_replicas(tg__redis_conn *conn, tg_error *err);

/* The sentence of a WAIT that `acknowledged` replicas answered (of conn->wait_replicas). */
void tg__redis_wait_message(const tg__redis_conn *conn, long long acknowledged, char *out,
                            size_t size);

/* Element i of an array reply as a number (integer or decimal text), or a string. */
int64_t tg__redis_i64(const redisReply *reply, size_t i);
const char *tg__redis_str(const redisReply *reply, size_t i);

#endif
