/*
 * redis_url: the `store.url` of a daemon on Redis, redis://[[user]:password@]host[:port][/db],
 * parsed into its parts. Pure (no I/O, no hiredis), so the config reader and its fuzz target
 * use it without the Redis client library. No TLS scheme: hiredis 0.14 has none, and a
 * `rediss://` URL is refused with a sentence that says so rather than sent in clear.
 */
#ifndef TG_STORE_REDIS_URL_H
#define TG_STORE_REDIS_URL_H

#include "tollgate.h"

#define TG__REDIS_URL_SIZE_MAX 512        /* bytes of a URL, NUL included */
#define TG__REDIS_URL_HOST_SIZE_MAX 256   /* host name or address, NUL included */
#define TG__REDIS_URL_USER_SIZE_MAX 128   /* ACL user name, NUL included */
#define TG__REDIS_URL_SECRET_SIZE_MAX 256 /* password, NUL included */
#define TG__REDIS_URL_DB_MAX 15           /* SELECT 0..15: stock Redis's `databases 16` */

typedef struct {
    char host[TG__REDIS_URL_HOST_SIZE_MAX];       /* "127.0.0.1", "redis.internal", "::1" */
    int port;                                     /* 1..65535, 6379 when not given */
    char user[TG__REDIS_URL_USER_SIZE_MAX];       /* "" for none: AUTH password alone */
    char password[TG__REDIS_URL_SECRET_SIZE_MAX]; /* "" for no AUTH */
    int db;                                       /* 0..TG__REDIS_URL_DB_MAX */
} tg__redis_url;

/*
 * Parses `text` into *out (left untouched on error). Percent-escapes (%XX) are decoded in the
 * user and the password, so either may hold ':' '@' or '/'. An IPv6 host is written in
 * brackets ("redis://[::1]:6380"). Errors: TG_ERR_INVALID with what is wrong in `err`.
 */
tg_status tg__redis_url_parse(const char *text, tg__redis_url *out, tg_error *err);

#endif
