/*
 * redis_url: the `store.url` of a daemon on Redis, redis://[[user]:password@]host[:port][/db],
 * or, for a primary that Redis Sentinel names,
 * redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master (the form
 * Lettuce and other clients read: the hosts are sentinels, 26379 by default; the
 * credentials and the database are the primary's), parsed into its parts; rediss:// is
 * redis:// over TLS (redis_tls.h, with `store.tls`; not with sentinels). Pure (no I/O, no
 * hiredis), so the config reader and its fuzz target use it without the Redis client library.
 */
#ifndef TG_STORE_REDIS_URL_H
#define TG_STORE_REDIS_URL_H

#include "tollgate.h"

#define TG__REDIS_URL_SIZE_MAX 512        /* bytes of a URL, NUL included */
#define TG__REDIS_URL_HOST_SIZE_MAX 256   /* host name or address, NUL included */
#define TG__REDIS_URL_USER_SIZE_MAX 128   /* ACL user name, NUL included */
#define TG__REDIS_URL_SECRET_SIZE_MAX 256 /* password, NUL included */
#define TG__REDIS_URL_DB_MAX 15           /* SELECT 0..15: stock Redis's `databases 16` */
#define TG__REDIS_SENTINELS_MAX 8         /* sentinels in one URL: a quorum is 3 or 5 */
#define TG__REDIS_SENTINEL_PORT 26379     /* a sentinel's port when the URL gives none */
#define TG__REDIS_MASTER_SIZE_MAX 128     /* the master's name after '#', NUL included */

/* One sentinel's address. */
typedef struct {
    char host[TG__REDIS_URL_HOST_SIZE_MAX];
    int port;
} tg__redis_address;

/* The sentinels of a redis-sentinel:// URL and the master name they are asked for. */
typedef struct {
    char master[TG__REDIS_MASTER_SIZE_MAX]; /* "" when the URL is plain redis:// */
    int count;                              /* 0..TG__REDIS_SENTINELS_MAX */
    tg__redis_address nodes[TG__REDIS_SENTINELS_MAX];
} tg__redis_sentinels;

typedef struct {
    char host[TG__REDIS_URL_HOST_SIZE_MAX];       /* "127.0.0.1", "redis.internal", "::1";
                                                     "" with sentinels (they name it) */
    int port;                                     /* 1..65535, 6379 when not given */
    char user[TG__REDIS_URL_USER_SIZE_MAX];       /* "" for none: AUTH password alone */
    char password[TG__REDIS_URL_SECRET_SIZE_MAX]; /* "" for no AUTH */
    int db;                                       /* 0..TG__REDIS_URL_DB_MAX */
    tg__redis_sentinels sentinels;                /* count 0 for redis:// */
    bool tls;                                     /* rediss:// */
} tg__redis_url;

/*
 * Parses `text` into *out (left untouched on error). Percent-escapes (%XX) are decoded in the
 * user and the password, so either may hold ':' '@' or '/'. An IPv6 host is written in
 * brackets ("redis://[::1]:6380"). A redis-sentinel:// URL needs its '#master' and 1 to
 * TG__REDIS_SENTINELS_MAX hosts, each named once. Errors: TG_ERR_INVALID with what is wrong in
 * `err`.
 */
tg_status tg__redis_url_parse(const char *text, tg__redis_url *out, tg_error *err);

#endif
