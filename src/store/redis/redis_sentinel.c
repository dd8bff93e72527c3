/*
 * redis_sentinel: SENTINEL GET-MASTER-ADDR-BY-NAME asked of each sentinel in turn
 * (redis_sentinel.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/path.h"
#include "store/redis/redis_sentinel.h"

/* One sentinel's answer into host/port; false with the reason in `why`. */
static bool ask(const tg__redis_address *sentinel, const char *master, int64_t timeout_ms,
                char *host, size_t host_size, int *port, char *why, size_t why_size) {
    struct timeval timeout = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000 * 1000)};
    redisContext *context = redisConnectWithTimeout(sentinel->host, sentinel->port, timeout);
    if (context == NULL || context->err) {
        snprintf(why, why_size, "%s:%d: %s", sentinel->host, sentinel->port,
                 context ? context->errstr : "out of memory");
        redisFree(context);
        return false;
    }
    bool ok = false;
    redisReply *reply = NULL;
    if (redisSetTimeout(context, timeout) != REDIS_OK) {
        snprintf(why, why_size, "%s:%d: cannot set the timeout", sentinel->host, sentinel->port);
    } else if ((reply = redisCommand(context, "SENTINEL get-master-addr-by-name %s", master)) ==
               NULL) {
        snprintf(why, why_size, "%s:%d: %s", sentinel->host, sentinel->port, context->errstr);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_size, "%s:%d: %.200s", sentinel->host, sentinel->port, reply->str);
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
               reply->element[0]->type != REDIS_REPLY_STRING ||
               reply->element[1]->type != REDIS_REPLY_STRING) {
        /* A nil: this sentinel monitors no master of that name. */
        snprintf(why, why_size, "%s:%d: no master named '%s'", sentinel->host, sentinel->port,
                 master);
    } else {
        const char *address = reply->element[0]->str;
        const char *digits = reply->element[1]->str;
        char *end = NULL;
        long value = strtol(digits, &end, 10);
        if (strlen(address) == 0 || strlen(address) >= host_size || end == digits || *end ||
            value < 1 || value > 65535) {
            snprintf(why, why_size, "%s:%d: an address that is not one: %.100s:%.20s",
                     sentinel->host, sentinel->port, address, digits);
        } else {
            memcpy(host, address, strlen(address) + 1);
            *port = (int)value;
            ok = true;
        }
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    redisFree(context);
    return ok;
}

tg_status tg__redis_sentinel_resolve(tg__redis_conn *conn, tg_error *err) {
    const tg__redis_sentinels *sentinels = conn->sentinels;
    if (sentinels == NULL || sentinels->count == 0) {
        return TG_OK;
    }
    int64_t timeout_ms = conn->timeout_ms < TG__REDIS_SENTINEL_TIMEOUT_MS
                             ? conn->timeout_ms
                             : TG__REDIS_SENTINEL_TIMEOUT_MS;
    char reasons[TG_ERROR_MESSAGE_SIZE / 2] = "";
    size_t used = 0;
    for (int i = 0; i < sentinels->count; i++) {
        char why[256];
        char host[TG__REDIS_HOST_SIZE_MAX];
        int port = 0;
        if (ask(&sentinels->nodes[i], sentinels->master, timeout_ms, host, sizeof host, &port, why,
                sizeof why)) {
            memcpy(conn->host, host, strlen(host) + 1);
            conn->port = port;
            return TG_OK;
        }
        int n = snprintf(reasons + used, sizeof reasons - used, "%s%s", used ? "; " : "", why);
        if (n > 0 && (size_t)n < sizeof reasons - used) {
            used += (size_t)n;
        }
    }
    return tg__fail(err, TG_ERR_IO, "no sentinel names the master '%s' (%s)", sentinels->master,
                    reasons);
}
