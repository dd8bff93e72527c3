/*
 * test_redis_paths: budget listing on the Redis ledger (redis_paths.c) against a reference:
 * random budget trees whose root names are each other's starts ("a", "a-b", "a.b", "ab",
 * "a0"), budgets made and deleted at random, then page walks with random prefixes (a root's
 * start, a root, a root and '/', deeper) and page sizes. Every walk must give exactly the
 * live paths that begin with the prefix, once each, tree by tree (roots in byte order, then
 * paths in byte order), whatever the page size. Seeds: TG_REDIS_PATHS_SEED.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/path.h"
#include "redis/redis_server.h"
#include "store/redis/redis_internal.h"

#define T0_MS INT64_C(1767225600000)
#define SEQUENCES 6
#define STEPS 150
#define WALKS 60
#define PATHS_MAX 512

static redis_server server;

static const char *const roots[] = {"a", "a-b", "a.b", "ab", "a0", "b"};
#define ROOTS (sizeof roots / sizeof *roots)
static const char *const leaves[] = {"x", "x-y", "xy", "y", "z"};
#define LEAVES (sizeof leaves / sizeof *leaves)

static uint64_t rng_state;
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static size_t pick(size_t n) {
    return (size_t)(rng_next() % n);
}

/* The reference: live paths. */
static char live[PATHS_MAX][TG_PATH_SIZE_MAX];
static size_t live_count;

static bool is_live(const char *path) {
    for (size_t i = 0; i < live_count; i++) {
        if (strcmp(live[i], path) == 0) {
            return true;
        }
    }
    return false;
}

static void forget(const char *path) {
    for (size_t i = 0; i < live_count; i++) {
        if (strcmp(live[i], path) == 0) {
            memmove(live[i], live[i + 1], (live_count - i - 1) * sizeof live[0]);
            live_count--;
            return;
        }
    }
}

/* Tree order: the root (up to the first '/'), then the whole path. */
static int tree_order(const void *x, const void *y) {
    const char *a = x, *b = y;
    size_t ra = strcspn(a, "/"), rb = strcspn(b, "/");
    int c = strncmp(a, b, ra < rb ? ra : rb);
    if (c != 0 || ra != rb) {
        return c != 0 ? c : (ra < rb ? -1 : 1);
    }
    return strcmp(a, b);
}

static tg__redis_ledger *open_ledger(void) {
    redisContext *c = redisConnect("127.0.0.1", server.port);
    assert_true(c != NULL && !c->err);
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    redisFree(c);
    tg__redis_ledger_options o;
    tg__redis_ledger_options_init(&o);
    o.port = server.port;
    o.timeout_ms = 10000;
    tg__redis_ledger *ledger = NULL;
    assert_int_equal(tg__redis_ledger_open(&o, &ledger, NULL), TG_OK);
    return ledger;
}

/* A random step: make a root, a child or a grandchild whose parent lives, or delete a
 * childless live budget. */
static void step(tg__redis_ledger *ledger) {
    char path[TG_PATH_SIZE_MAX];
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    if (live_count > 0 && pick(4) == 0) {
        const char *victim = live[pick(live_count)];
        snprintf(path, sizeof path, "%s", victim);
        size_t n = strlen(path);
        bool childless = true;
        for (size_t i = 0; i < live_count; i++) {
            childless = childless && !(strncmp(live[i], path, n) == 0 && live[i][n] == '/');
        }
        tg_status status = tg__ledger_ops_redis.budget_delete(ledger, path, T0_MS, NULL);
        assert_int_equal(status, childless ? TG_OK : TG_ERR_STATE);
        if (childless) {
            forget(path);
        }
        return;
    }
    const char *root = roots[pick(ROOTS)];
    switch (pick(3)) {
    case 0:
        snprintf(path, sizeof path, "%s", root);
        break;
    case 1:
        snprintf(path, sizeof path, "%s/%s", root, leaves[pick(LEAVES)]);
        break;
    default:
        snprintf(path, sizeof path, "%s/%s/%s", root, leaves[pick(LEAVES)], leaves[pick(LEAVES)]);
    }
    char parent[TG_PATH_SIZE_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    bool parent_ok = slash == NULL || (*slash = '\0', is_live(parent));
    tg_status status = tg__ledger_ops_redis.budget_put(ledger, path, &spec, T0_MS, NULL);
    assert_int_equal(status, parent_ok ? TG_OK : TG_ERR_NOT_FOUND);
    if (parent_ok && !is_live(path)) {
        assert_true(live_count < PATHS_MAX);
        snprintf(live[live_count++], TG_PATH_SIZE_MAX, "%s", path);
    }
}

/* Pages through `prefix` from the cursor `start` (NULL: the first page; else any path, made
 * or not, as a client may send) and compares with the reference. */
static void walk(tg__redis_ledger *ledger, const char *prefix, const char *start, size_t limit) {
    static char want[PATHS_MAX][TG_PATH_SIZE_MAX];
    size_t want_count = 0;
    for (size_t i = 0; i < live_count; i++) {
        if (strncmp(live[i], prefix, strlen(prefix)) == 0 &&
            (start == NULL || tree_order(live[i], start) > 0)) {
            memcpy(want[want_count++], live[i], TG_PATH_SIZE_MAX);
        }
    }
    qsort(want, want_count, sizeof want[0], tree_order);
    static char page[PATHS_MAX][TG_PATH_SIZE_MAX];
    char after[TG_PATH_SIZE_MAX] = "";
    snprintf(after, sizeof after, "%s", start ? start : "");
    size_t got = 0;
    for (;;) {
        size_t count = 0;
        tg_error err = {0};
        tg_status status = tg__ledger_ops_redis.budget_page(ledger, prefix, after[0] ? after : NULL,
                                                            limit, page, &count, &err);
        if (status != TG_OK) {
            print_error("budget_page: %s\n", err.message);
            fail();
        }
        assert_true(count <= limit);
        for (size_t i = 0; i < count; i++, got++) {
            if (got >= want_count || strcmp(page[i], want[got]) != 0) {
                print_error("prefix '%s' limit %zu: path %zu is '%s', want '%s'\n", prefix, limit,
                            got, page[i], got < want_count ? want[got] : "(none)");
                fail();
            }
        }
        if (count < limit) {
            break;
        }
        snprintf(after, sizeof after, "%s", page[count - 1]);
    }
    assert_int_equal(got, want_count);
}

static void test_pages_match_reference(void **state) {
    (void)state;
    const char *seed_text = getenv("TG_REDIS_PATHS_SEED");
    uint64_t seed = seed_text && *seed_text ? strtoull(seed_text, NULL, 0) : 20261207;
    print_message("redis paths: seeds %" PRIu64 "..+%d (replay with TG_REDIS_PATHS_SEED)\n", seed,
                  SEQUENCES - 1);
    static const char *const prefixes[] = {"",     "a",    "a-", "a-b", "a-b/", "a/",   "a/x",
                                           "a/x/", "a/x-", "ab", "b/",  "c",    "a0/z/"};
    size_t walks = 0;
    for (int s = 0; s < SEQUENCES; s++) {
        rng_state = seed + (uint64_t)s;
        live_count = 0;
        tg__redis_ledger *ledger = open_ledger();
        for (int i = 0; i < STEPS; i++) {
            step(ledger);
        }
        static const char *const cursors[] = {"0",    "a",   "a-a", "a-b/x", "a/x-",
                                              "a/xz", "ab/", "b",   "zz"};
        for (int w = 0; w < WALKS; w++, walks++) {
            const char *start =
                pick(3) == 0 ? cursors[pick(sizeof cursors / sizeof *cursors)] : NULL;
            walk(ledger, prefixes[pick(sizeof prefixes / sizeof *prefixes)], start, 1 + pick(12));
        }
        walk(ledger, "", NULL, PATHS_MAX);
        tg__redis_ledger_close(ledger);
    }
    print_message("redis paths: %zu walks compared\n", walks);
}

static int setup(void **state) {
    (void)state;
    redis_server_start(&server, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    redis_server_stop(&server);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_match_reference),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
