/*
 * test_redis_cluster: the pieces of the Redis ledger's cluster support that a single
 * server can check (store/redis/redis_slot.h, redis_cluster.h); the 3-master cluster
 * with daemons, resharding included, is tests/integration/daemon_redis_cluster.test.js.
 *   - key slots: CRC16 against the specification's check value, and every slot our code
 *     computes equal to what a real cluster-enabled redis-server answers to CLUSTER
 *     KEYSLOT, over fixed keys (hash tags, empty tags, unclosed braces) and 20,000
 *     random keys drawn mostly from the characters that matter ('{', '}');
 *   - the MOVED / ASK parser, bad replies refused;
 *   - the ledger opened with `cluster` on a node that serves no slot refuses to start,
 *     and on a one-node cluster serving every slot decides as on a single server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "redis/redis_server.h"
#include "store/redis/redis_cluster.h"
#include "store/redis/redis_ledger.h"
#include "store/redis/redis_slot.h"

#define T0_MS INT64_C(1790000000000)
#define RANDOM_KEYS 20000
#define WAIT_MS 30000 /* a condition's deadline: only a broken test gets there */

static redis_server server;
static redisContext *admin;

static int setup(void **state) {
    (void)state;
    const char *extra[] = {"--cluster-enabled", "yes", NULL};
    redis_server_start(&server, extra);
    struct timeval timeout = {5, 0};
    admin = redisConnectWithTimeout("127.0.0.1", server.port, timeout);
    return admin == NULL || admin->err ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    redisFree(admin);
    redis_server_stop(&server);
    return 0;
}

static int server_slot(const char *key, size_t len) {
    redisReply *reply = redisCommand(admin, "CLUSTER KEYSLOT %b", key, len);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    int slot = (int)reply->integer;
    freeReplyObject(reply);
    return slot;
}

static void test_slots(void **state) {
    (void)state;
    assert_int_equal(tg__redis_crc16("123456789", 9), 0x31C3); /* the spec's check value */
    const char *fixed[] = {"",
                           "foo",
                           "{user1000}.following",
                           "tg:{acme}:",
                           "{}",
                           "{}foo",
                           "foo{}{bar}",
                           "foo{{bar}}zap",
                           "foo{bar",
                           "tg:{roots}",
                           "{a}{b}",
                           "}{a}",
                           "{{}}",
                           "x{\xff\x01}y",
                           "tg:{acme}:meta",
                           "acme"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        size_t len = strlen(fixed[i]);
        assert_int_equal(tg__redis_key_slot(fixed[i], len), server_slot(fixed[i], len));
    }
    /* The tag is the whole tree: every key of a tree shares its prefix's slot. */
    assert_int_equal(tg__redis_key_slot("tg:{acme}:", 10), tg__redis_key_slot("acme", 4));
    assert_int_equal(tg__redis_key_slot("tg:{acme}:b:acme/x", 18), tg__redis_key_slot("acme", 4));
    static const char alphabet[] = "{}{}ab:/\x00\xff";
    uint64_t seed = 0x9E3779B97F4A7C15u;
    char key[24];
    int different = 0;
    for (int n = 0; n < RANDOM_KEYS; n++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t len = (size_t)(seed >> 59) + 1; /* 1..32 */
        len = len > sizeof key ? sizeof key : len;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            key[i] = alphabet[(seed >> 33) % (sizeof alphabet - 1)];
        }
        int ours = tg__redis_key_slot(key, len);
        redisReply *reply = redisCommand(admin, "CLUSTER KEYSLOT %b", key, len);
        assert_non_null(reply);
        assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
        if (ours != (int)reply->integer) {
            fprintf(stderr, "slot of key %d (%zu bytes): ours %d, redis %lld\n", n, len, ours,
                    reply->integer);
            different++;
        }
        freeReplyObject(reply);
    }
    assert_int_equal(different, 0);
}

static void test_redirect_parse(void **state) {
    (void)state;
    bool ask = true;
    int slot = -1, port = -1;
    char host[64];
    assert_true(tg__redis_redirect_parse("MOVED 3999 127.0.0.1:6381", &ask, &slot, host,
                                         sizeof host, &port));
    assert_false(ask);
    assert_int_equal(slot, 3999);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6381);
    assert_true(tg__redis_redirect_parse("ASK 0 ::1:7000", &ask, &slot, host, sizeof host, &port));
    assert_true(ask);
    assert_int_equal(slot, 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 7000);
    const char *bad[] = {"MOVED",           "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED 1 h",
                         "MOVED 1 h:0",     "MOVED 1 h:99999", "MOVEDx 1 h:1", "ASK 1x h:1",
                         "ERR MOVED 1 h:1", "TRYAGAIN",        "MOVED 1 :",    ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_false(tg__redis_redirect_parse(bad[i], &ask, &slot, host, sizeof host, &port));
    }
    char small[4]; /* a host longer than the room given is refused, not cut */
    assert_false(
        tg__redis_redirect_parse("MOVED 1 localhost:1", &ask, &slot, small, sizeof small, &port));
    assert_true(tg__redis_tryagain("TRYAGAIN Multiple keys request during rehashing of slot"));
    assert_false(tg__redis_tryagain("ERR TRYAGAIN"));
}

static tg_status open_cluster(tg__redis_ledger **ledger, tg_error *err) {
    tg__redis_ledger_options options;
    tg__redis_ledger_options_init(&options);
    options.port = server.port;
    options.cluster = true;
    return tg__redis_ledger_open(&options, ledger, err);
}

static bool cluster_ok(void) {
    redisReply *reply = redisCommand(admin, "CLUSTER INFO");
    bool ok = reply != NULL && reply->type == REDIS_REPLY_STRING &&
              strstr(reply->str, "cluster_state:ok") != NULL;
    freeReplyObject(reply);
    return ok;
}

static void test_ledger_on_one_node(void **state) {
    (void)state;
    tg__redis_ledger *ledger = NULL;
    tg_error err = {0};
    /* No slot served yet: refused at open, with the reason. */
    assert_int_equal(open_cluster(&ledger, &err), TG_ERR_IO);
    assert_non_null(strstr(err.message, "no master"));
    assert_null(ledger);
    /* A database other than 0 does not exist on a cluster. */
    tg__redis_ledger_options options;
    tg__redis_ledger_options_init(&options);
    options.port = server.port;
    options.cluster = true;
    options.db = 1;
    assert_int_equal(tg__redis_ledger_open(&options, &ledger, &err), TG_ERR_INVALID);

    redisReply *reply = redisCommand(admin, "CLUSTER ADDSLOTSRANGE 0 16383");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    int64_t deadline = redis_clock_ms() + WAIT_MS;
    while (!cluster_ok()) {
        assert_true(redis_clock_ms() < deadline);
        struct timespec pause = {0, 10 * 1000000}; /* between polls of a condition */
        nanosleep(&pause, NULL);
    }
    assert_int_equal(open_cluster(&ledger, &err), TG_OK);
    const char *roots[] = {"acme", "globex", "initech"};
    for (size_t i = 0; i < 3; i++) {
        tg_budget_spec spec;
        tg_budget_spec_init(&spec);
        spec.cost_limit_micros = 1000;
        assert_int_equal(tg__ledger_ops_redis.budget_put(ledger, roots[i], &spec, T0_MS, &err),
                         TG_OK);
        tg_reserve_request r = {.budget = roots[i], .amount_micros = 600, .cls = TG_CLASS_NORMAL};
        tg_reserve_result held;
        assert_int_equal(tg__ledger_ops_redis.reserve(ledger, &r, T0_MS, &held, &err), TG_OK);
        assert_true(held.granted);
        tg_reserve_result refused;
        assert_int_equal(tg__ledger_ops_redis.reserve(ledger, &r, T0_MS, &refused, &err), TG_OK);
        assert_false(refused.granted); /* 600 + 600 > 1000: the tree's state is shared */
        tg_commit_request c = {.hold_id = held.hold_id, .actual_micros = 250};
        tg_commit_result charged;
        assert_int_equal(tg__ledger_ops_redis.commit(ledger, &c, T0_MS, &charged, &err), TG_OK);
        tg_budget_info info;
        assert_int_equal(tg__ledger_ops_redis.budget_get(ledger, roots[i], T0_MS, &info, &err),
                         TG_OK);
        assert_int_equal(info.spent_micros, 250);
        assert_int_equal(info.held_micros, 0);
    }
    /* Each tree's keys are in its tag's slot (the server would refuse a function touching
     * another slot's key, so the calls above passing says as much; this says where). */
    reply = redisCommand(admin, "CLUSTER COUNTKEYSINSLOT %d", tg__redis_key_slot("acme", 4));
    assert_true(reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 2);
    freeReplyObject(reply);
    tg__redis_ledger_close(ledger);

    /* The size bounds on a cluster: each tree's own, counted in its slot, in the call. */
    options.db = 0;
    options.holds_max = 1;
    options.budgets_max = 2;
    options.idempotency_max = 1;
    assert_int_equal(tg__redis_ledger_open(&options, &ledger, &err), TG_OK);
    for (size_t i = 0; i < 3; i++) {
        tg_reserve_request r = {.budget = roots[i], .amount_micros = 10, .idempotency_key = "k"};
        tg_reserve_result held;
        assert_int_equal(tg__ledger_ops_redis.reserve(ledger, &r, T0_MS, &held, &err), TG_OK);
        assert_true(held.granted);
        assert_int_equal(tg__ledger_ops_redis.reserve(ledger, &r, T0_MS, &held, &err), TG_OK);
        assert_true(held.replayed); /* a replay is not refused */
        r.idempotency_key = NULL;
        assert_int_equal(tg__ledger_ops_redis.reserve(ledger, &r, T0_MS, &held, &err), TG_ERR_FULL);
        assert_non_null(strstr(err.message, "maximum of 1 open holds"));
        tg_record_request q = {.budget = roots[i], .cost_micros = 1, .idempotency_key = "k2"};
        tg_record_result charged;
        assert_int_equal(tg__ledger_ops_redis.record(ledger, &q, T0_MS, &charged, &err),
                         TG_ERR_FULL);
        assert_non_null(strstr(err.message, "idempotency keys"));
        char child[32];
        tg_budget_spec spec;
        tg_budget_spec_init(&spec);
        snprintf(child, sizeof child, "%s/a", roots[i]);
        assert_int_equal(tg__ledger_ops_redis.budget_put(ledger, child, &spec, T0_MS, &err), TG_OK);
        snprintf(child, sizeof child, "%s/b", roots[i]);
        assert_int_equal(tg__ledger_ops_redis.budget_put(ledger, child, &spec, T0_MS, &err),
                         TG_ERR_FULL);
        /* A bulk change of the tree is one call in its slot: refused whole past budgets_max
         * at its third operation (a delete frees one place, two creates need two), then a
         * delete and a create that fit, applied together. */
        char a[32], b[32], c[32];
        snprintf(a, sizeof a, "%s/a", roots[i]);
        snprintf(b, sizeof b, "%s/b", roots[i]);
        snprintf(c, sizeof c, "%s/b/c", roots[i]);
        const tg_budget_op over[] = {
            {.path = a, .remove = true}, {.path = b, .spec = &spec}, {.path = c, .spec = &spec}};
        tg_budget_counts counts = {0};
        assert_int_equal(tg__ledger_ops_redis.budgets_apply(ledger, over, 3, T0_MS, &counts, &err),
                         TG_ERR_FULL);
        assert_non_null(strstr(err.message, "operation 2: "));
        tg_budget_info info;
        assert_int_equal(tg__ledger_ops_redis.budget_get(ledger, a, T0_MS, &info, &err), TG_OK);
        assert_int_equal(tg__ledger_ops_redis.budgets_apply(ledger, over, 2, T0_MS, &counts, &err),
                         TG_OK);
        assert_int_equal(counts.created, 1);
        assert_int_equal(counts.deleted, 1);
        assert_int_equal(tg__ledger_ops_redis.budget_get(ledger, a, T0_MS, &info, &err),
                         TG_ERR_NOT_FOUND);
        assert_int_equal(tg__ledger_ops_redis.budget_get(ledger, b, T0_MS, &info, &err), TG_OK);
    }
    tg__redis_ledger_close(ledger);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_redirect_parse),
        cmocka_unit_test(test_ledger_on_one_node),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
