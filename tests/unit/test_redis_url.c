/*
 * test_redis_url: the daemon's `store.url` (src/store/redis_url.c). Each part lands where it
 * belongs (escapes decoded, the last '@' ending the credentials, IPv6 in brackets), every
 * bound holds exactly at its edge, and each bad URL is refused with a sentence naming the
 * part, leaving the output untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "store/redis_url.h"

static tg__redis_url parsed(const char *text) {
    tg__redis_url url;
    tg_error err = {0};
    if (tg__redis_url_parse(text, &url, &err) != TG_OK) {
        fail_msg("'%s' refused: %s", text, err.message);
    }
    return url;
}

static void refused(const char *text, const char *because) {
    tg__redis_url url;
    memset(&url, 0x5a, sizeof url);
    tg__redis_url before = url;
    tg_error err = {0};
    assert_int_equal(tg__redis_url_parse(text, &url, &err), TG_ERR_INVALID);
    if (strstr(err.message, because) == NULL) {
        fail_msg("'%s': message '%s' does not say '%s'", text, err.message, because);
    }
    assert_memory_equal(&url, &before, sizeof url);
}

static void test_parts(void **state) {
    (void)state;
    tg__redis_url url = parsed("redis://127.0.0.1");
    assert_string_equal(url.host, "127.0.0.1");
    assert_int_equal(url.port, 6379);
    assert_string_equal(url.user, "");
    assert_string_equal(url.password, "");
    assert_int_equal(url.db, 0);

    url = parsed("redis://:s3cret@cache.internal:6380/2");
    assert_string_equal(url.host, "cache.internal");
    assert_int_equal(url.port, 6380);
    assert_string_equal(url.user, "");
    assert_string_equal(url.password, "s3cret");
    assert_int_equal(url.db, 2);

    assert_false(url.tls);
    url = parsed("rediss://tg:pw@cache.internal:6380/1"); /* TLS: the same parts */
    assert_true(url.tls);
    assert_string_equal(url.host, "cache.internal");
    assert_int_equal(url.port, 6380);
    assert_string_equal(url.user, "tg");
    assert_string_equal(url.password, "pw");
    assert_int_equal(url.db, 1);

    url = parsed("redis://tg:p%40ss%3Aw%2F@h:1/15");
    assert_string_equal(url.user, "tg");
    assert_string_equal(url.password, "p@ss:w/");
    assert_int_equal(url.port, 1);
    assert_int_equal(url.db, 15);

    url = parsed("redis://tg:a@b@h:65535/"); /* the last '@' ends the credentials */
    assert_string_equal(url.password, "a@b");
    assert_string_equal(url.host, "h");
    assert_int_equal(url.port, 65535);
    assert_int_equal(url.db, 0);

    url = parsed("redis://onlypassword@h"); /* as redis-cli -u reads it */
    assert_string_equal(url.user, "");
    assert_string_equal(url.password, "onlypassword");

    url = parsed("redis://[::1]:7000/1");
    assert_string_equal(url.host, "::1");
    assert_int_equal(url.port, 7000);
    assert_int_equal(url.db, 1);
}

static void test_refusals(void **state) {
    (void)state;
    refused("rediss-sentinel://s:1#m", "not to sentinels");
    refused("http://h", "must start with redis://");
    refused("redis://", "host must be 1 to");
    refused("redis://:6379", "host must be 1 to");
    refused("redis://h:0", "port must be 1..65535");
    refused("redis://h:65536", "port must be 1..65535");
    refused("redis://h:123456", "port must be 1..65535");
    refused("redis://h:", "port must be 1..65535");
    refused("redis://h:80x", "port must be 1..65535");
    refused("redis://h/16", "database after '/' must be 0..15");
    refused("redis://h/-1", "database after '/' must be 0..15");
    refused("redis://h/1/2", "database after '/' must be 0..15");
    refused("redis://u:@h", "password must be 1 to");
    refused("redis://@h", "password must be 1 to");
    refused("redis://u:%00@h", "escapes only of non-zero bytes");
    refused("redis://u:%4@h", "escapes only of non-zero bytes");
    refused("redis://u:%zz@h", "escapes only of non-zero bytes");
    refused("redis://[::1:6379", "needs its ']'");
    refused("redis://h h", "not allowed in a host name");
    refused("redis://h?x=1", "not allowed in a host name");
    refused(NULL, "under 512 bytes");
}

/* redis-sentinel://: the hosts are sentinels (26379 unless given), the credentials and the
 * database are the primary's, and the master's name follows the last '#'. */
static void test_sentinels(void **state) {
    (void)state;
    tg__redis_url url = parsed("redis-sentinel://s1,[::1]:26380,10.0.0.3:5000/3#orders");
    assert_string_equal(url.host, "");
    assert_int_equal(url.db, 3);
    assert_string_equal(url.sentinels.master, "orders");
    assert_int_equal(url.sentinels.count, 3);
    assert_string_equal(url.sentinels.nodes[0].host, "s1");
    assert_int_equal(url.sentinels.nodes[0].port, TG__REDIS_SENTINEL_PORT);
    assert_string_equal(url.sentinels.nodes[1].host, "::1");
    assert_int_equal(url.sentinels.nodes[1].port, 26380);
    assert_string_equal(url.sentinels.nodes[2].host, "10.0.0.3");
    assert_int_equal(url.sentinels.nodes[2].port, 5000);

    url = parsed("redis-sentinel://tg:p#w@s:1#m"); /* the last '#' starts the name */
    assert_string_equal(url.user, "tg");
    assert_string_equal(url.password, "p#w");
    assert_string_equal(url.sentinels.master, "m");
    assert_int_equal(url.sentinels.count, 1);

    url = parsed("redis://h"); /* a plain URL has no sentinels */
    assert_int_equal(url.sentinels.count, 0);
    assert_string_equal(url.sentinels.master, "");

    refused("redis-sentinel://s1,s2", "needs '#master'");
    refused("redis-sentinel://s1#", "master's name after '#'");
    refused("redis-sentinel://s1#a b", "space or a byte outside ASCII");
    refused("redis-sentinel://s1,,s2#m", "host must be 1 to");
    refused("redis-sentinel://s1,#m", "host must be 1 to");
    refused("redis-sentinel://s1:26379,s1#m", "sentinel s1:26379 is named twice");
    refused("redis-sentinel://s:0#m", "port must be 1..65535");
    refused("redis-sentinel://s/16#m", "database after '/' must be 0..15");
    refused("rediss-sentinel://s#m", "TLS");
    refused("redis://h#m", "not allowed in a host name");
    refused("redis-sentinel://a,b,c,d,e,f,g,h,i#m", "at most 8 sentinels");
    assert_int_equal(parsed("redis-sentinel://a,b,c,d,e,f,g,h#m").sentinels.count,
                     TG__REDIS_SENTINELS_MAX);
    char text[TG__REDIS_URL_SIZE_MAX];
    char name[TG__REDIS_MASTER_SIZE_MAX + 1];
    memset(name, 'm', sizeof name);
    name[TG__REDIS_MASTER_SIZE_MAX - 1] = '\0'; /* 127 bytes: the most allowed */
    snprintf(text, sizeof text, "redis-sentinel://s#%s", name);
    assert_int_equal(strlen(parsed(text).sentinels.master), TG__REDIS_MASTER_SIZE_MAX - 1);
    name[TG__REDIS_MASTER_SIZE_MAX - 1] = 'm';
    name[TG__REDIS_MASTER_SIZE_MAX] = '\0';
    snprintf(text, sizeof text, "redis-sentinel://s#%s", name);
    refused(text, "master's name after '#', 1 to 127 bytes");
}

static void test_bounds_at_their_edge(void **state) {
    (void)state;
    char text[TG__REDIS_URL_SIZE_MAX + 64];
    char host[TG__REDIS_URL_HOST_SIZE_MAX + 1];
    memset(host, 'h', sizeof host);
    host[TG__REDIS_URL_HOST_SIZE_MAX - 1] = '\0'; /* 255 bytes: the most allowed */
    snprintf(text, sizeof text, "redis://%s", host);
    assert_int_equal(strlen(parsed(text).host), TG__REDIS_URL_HOST_SIZE_MAX - 1);
    host[TG__REDIS_URL_HOST_SIZE_MAX - 1] = 'h';
    host[TG__REDIS_URL_HOST_SIZE_MAX] = '\0';
    snprintf(text, sizeof text, "redis://%s", host);
    refused(text, "host must be 1 to");

    char secret[TG__REDIS_URL_SECRET_SIZE_MAX + 1];
    memset(secret, 's', sizeof secret);
    secret[TG__REDIS_URL_SECRET_SIZE_MAX - 1] = '\0';
    snprintf(text, sizeof text, "redis://:%s@h", secret);
    assert_int_equal(strlen(parsed(text).password), TG__REDIS_URL_SECRET_SIZE_MAX - 1);
    secret[TG__REDIS_URL_SECRET_SIZE_MAX - 1] = 's';
    secret[TG__REDIS_URL_SECRET_SIZE_MAX] = '\0';
    snprintf(text, sizeof text, "redis://:%s@h", secret);
    refused(text, "password must be 1 to");

    memset(text, 'x', TG__REDIS_URL_SIZE_MAX);
    memcpy(text, "redis://", 8);
    text[TG__REDIS_URL_SIZE_MAX] = '\0'; /* 512 bytes: one too many */
    refused(text, "under 512 bytes");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_sentinels),
        cmocka_unit_test(test_bounds_at_their_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
