/*
 * fuzz_config: the daemon's config reader (tg__config_load, src/config/config.c,
 * the `mcp:` section's, src/mcp/http/mcp_http_config.c, and the `proxy:` and
 * `upstreams:` sections', src/proxy/runtime/proxy_config.c) on any bytes, given as
 * a file the way `tollgate serve --config` gives it. Whatever loads must hold
 * only checked values (counts within their maxima, keys with a role, limits in
 * range) and apply to a fresh memory engine or be refused with a sentence;
 * whatever does not load must say why. Nothing leaks.
 *
 * The daemon parses its file once (src/config/config_file.c) and hands the document to
 * each section's reader; the `notify:` section read that way must be exactly what the
 * notify library's own parse of the file gives (same status, same config, same
 * message), and a file the one parse refuses must be refused by the loader too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mcp/http/mcp_http.h"
#include "proxy/runtime/proxy.h"
#include "config/config.h"
#include "config/config_file.h"
#include "notify/config.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_config: %s failed\n", #cond);                                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NOW_MS INT64_C(1767225600000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tg__config *config; /* large: allocated once */

static void check(const tg__config *c) {
    FUZZ_CHECK(c->keys_count >= 0 && c->keys_count <= TG__KEYS_MAX);
    FUZZ_CHECK(c->budgets_count >= 0 && c->budgets_count <= TG__BUDGETS_MAX);
    FUZZ_CHECK(c->rules_count >= 0 && c->rules_count <= TG__RULES_MAX);
    FUZZ_CHECK(c->prices_count >= 0 && c->prices_count <= TG__PRICES_MAX);
    FUZZ_CHECK(c->connections_max >= 1 && c->connections_max <= TG__CONNECTIONS_MAX);
    FUZZ_CHECK(c->body_size_max_bytes >= 1024 && c->header_size_max_bytes >= 1024);
    FUZZ_CHECK(c->port >= 0 && c->port <= 65535);
    for (int i = 0; i < c->keys_count; i++) {
        FUZZ_CHECK(c->keys[i].role >= TG__ROLE_ADMIN && c->keys[i].role <= TG__ROLE_READ);
    }
    for (int i = 0; i < c->prices_count; i++) {
        FUZZ_CHECK(c->prices[i].input_micros >= 0 && c->prices[i].output_micros >= 0);
    }
}

static void apply(tg__config *c) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = "memory";
    options.holds_max = 64;    /* small tables: an input is opened and closed in microseconds */
    options.budgets_max = 128; /* a config with more is refused by apply: an error path */
    options.idempotency_max = 64;
    tg_engine *engine = NULL;
    FUZZ_CHECK(tg_engine_open(&options, NOW_MS, &engine, NULL) == TG_OK);
    tg_error err = {0};
    if (tg__config_apply(c, NULL, engine, NOW_MS, &err) != TG_OK) {
        FUZZ_CHECK(err.message[0] != '\0');
    }
    tg_engine_close(engine);
}

/* The proxy's sections: a switch list within its bounds, a refusal status of the four,
 * upstream fallbacks that name upstreams of the same wire. */
static void check_proxy(const char *path) {
    static tg__proxy_config proxy; /* large: static */
    bool found = false;
    tg_error err = {0};
    if (tg__proxy_config_load(path, &proxy, &found, &err) != TG_OK) {
        FUZZ_CHECK(err.message[0] != '\0');
        return;
    }
    FUZZ_CHECK(proxy.switch_models_count >= 0 &&
               proxy.switch_models_count <= TG__PLAN_SWITCH_MODELS_MAX);
    FUZZ_CHECK(proxy.over_budget != TG__OVER_SWITCH || proxy.switch_models_count >= 1);
    for (int64_t i = 0; i < proxy.switch_models_count; i++) {
        FUZZ_CHECK(proxy.switch_models[i][0] != '\0');
    }
    FUZZ_CHECK(proxy.refusal_status == 0 || proxy.refusal_status == 429 ||
               proxy.refusal_status == 402 || proxy.refusal_status == 403);
    /* Upstream fallbacks: within their bound, each one a configured upstream of the same
     * wire, never the upstream itself; every status an error status. */
    for (int64_t i = 0; i < proxy.compatible_count; i++) {
        const tg__upstream *upstream = &proxy.compatible[i];
        FUZZ_CHECK(upstream->fallbacks_count >= 0 &&
                   upstream->fallbacks_count <= TG__PROXY_FALLBACKS_MAX);
        for (int64_t j = 0; j < upstream->fallbacks_count; j++) {
            const tg__upstream *next = tg__proxy_upstream_find(&proxy, upstream->fallbacks[j]);
            FUZZ_CHECK(next != NULL && next != upstream);
            FUZZ_CHECK(tg__proxy_upstream_wire(&proxy, next) ==
                       tg__proxy_upstream_wire(&proxy, upstream));
        }
    }
    FUZZ_CHECK(proxy.fallback_statuses_count >= 1 &&
               proxy.fallback_statuses_count <= TG__PROXY_FALLBACK_STATUSES_MAX);
    for (int64_t i = 0; i < proxy.fallback_statuses_count; i++) {
        FUZZ_CHECK(proxy.fallback_statuses[i] >= 400 && proxy.fallback_statuses[i] <= 599);
    }
    tg__proxy_config_free(&proxy);
}

/* The `notify:` section from the one parse equals the notify library's own parse. */
static void check_notify(const char *path, tg_status loaded) {
    tg__config_file *file = NULL;
    tg_error open_err = {0};
    if (tg__config_file_open(path, &file, &open_err) != TG_OK) {
        FUZZ_CHECK(file == NULL && open_err.message[0] != '\0');
        FUZZ_CHECK(loaded != TG_OK); /* the loader parses the same way: refused too */
        return;
    }
    tg__notify_config *shared = NULL, *own = NULL;
    tg_error shared_err = {0}, own_err = {0};
    tg_status from_shared = tg__notify_config_read(file->document, &shared, &shared_err);
    tg_status from_own = tg__notify_config_load(path, &own, &own_err);
    FUZZ_CHECK(from_shared == from_own);
    if (from_shared == TG_OK) {
        FUZZ_CHECK(memcmp(shared, own, sizeof *shared) == 0);
    } else {
        FUZZ_CHECK(strcmp(shared_err.message, own_err.message) == 0);
    }
    tg__notify_config_free(shared);
    tg__notify_config_free(own);
    tg__config_file_close(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) {
        return 0;
    }
    if (config == NULL) {
        config = malloc(sizeof *config);
        FUZZ_CHECK(config != NULL);
    }
    int fd = memfd_create("fuzz-config", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    tg__config_defaults(config);
    tg_error err = {0};
    tg_status loaded = tg__config_load(path, config, &err);
    if (loaded == TG_OK) {
        check(config);
        apply(config);
    } else {
        FUZZ_CHECK(err.message[0] != '\0');
    }
    check_notify(path, loaded);
    tg__mcp_http_config *mcp = NULL;
    tg_error mcp_err = {0};
    if (tg__mcp_http_config_load(path, &mcp, &mcp_err) == TG_OK) {
        FUZZ_CHECK(mcp == NULL ||
                   (mcp->servers_count >= 1 && mcp->servers_count <= TG__MCP_HTTP_SERVERS_MAX));
        for (int i = 0; mcp != NULL && i < mcp->servers_count; i++) {
            FUZZ_CHECK(mcp->servers[i].name[0] != '\0' && mcp->servers[i].argv[0] != NULL);
            FUZZ_CHECK(mcp->servers[i].config != NULL);
        }
        tg__mcp_http_config_free(mcp);
    } else {
        FUZZ_CHECK(mcp == NULL && mcp_err.message[0] != '\0');
    }
    check_proxy(path);
    close(fd);
    return 0;
}
