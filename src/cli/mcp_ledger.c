/*
 * mcp_ledger: the stdio gateway embeds the engine on its own SQLite file (there
 * is no daemon-client mode yet: docs/mcp.md). The SQLite store locks the file
 * for as long as the gateway runs, because two engines on one file would each
 * believe they own the ledger and it would silently diverge. With `store: {kind:
 * redis, url: ...}` in the config the engine decides in Redis instead, as the
 * daemon does (server/store_redis.h), so the gateway shares the daemons' ledger.
 *
 * One YAML file serves both: budgets and policy are read by the daemon's own
 * reader (src/config/config.c), the `mcp:` section by src/mcp/config.c. The
 * daemon's reader refuses sections it does not know, so it is given the file
 * without `mcp:` (a copy in a memfd). Once the daemon reads `mcp:` itself
 * (for MCP over HTTP), that copy can go.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libfyaml.h>

#include "cli/mcp.h"
#include "core/path.h"
#include "core/yaml_file.h"
#include "server/store_redis.h"

/* The root mapping of `document` without its `mcp` pair, as YAML text (caller frees). */
static char *without_mcp(struct fy_document *document) {
    struct fy_node *root = fy_document_root(document);
    struct fy_document *copy = fy_document_create(NULL);
    struct fy_node *mapping = copy != NULL ? fy_node_create_mapping(copy) : NULL;
    if (mapping == NULL || fy_document_set_root(copy, mapping) != 0) {
        fy_document_destroy(copy);
        return NULL;
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(root, &entry);) {
        if (tg__yaml_key_is(&entry, "mcp")) {
            continue;
        }
        fy_node_mapping_append(mapping, fy_node_copy(copy, entry.key_node),
                               fy_node_copy(copy, entry.value));
    }
    char *text = fy_emit_document_to_string(copy, FYECF_DEFAULT);
    fy_document_destroy(copy);
    return text;
}

/* Reads budgets and policy with the daemon's reader from `text` via a memfd. */
static tg_status load_daemon_text(const char *text, const char *file, tg__config *out,
                                  tg_error *err) {
    int fd = memfd_create("tollgate-config", MFD_CLOEXEC);
    size_t size = strlen(text);
    if (fd < 0 || write(fd, text, size) != (ssize_t)size) {
        if (fd >= 0) {
            close(fd);
        }
        return tg__fail(err, TG_ERR_IO, "config: cannot copy '%s' for reading", file);
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    tg_status status = tg__config_load(path, out, err);
    close(fd);
    return status;
}

static tg_status load_daemon_part(const char *file, tg__config *out, tg_error *err) {
    struct fy_document *document;
    tg_status read = tg__yaml_file_load(file, "config", &document, err);
    if (read != TG_OK) {
        return read;
    }
    struct fy_node *root = fy_document_root(document);
    tg_status status;
    if (root == NULL || !fy_node_is_mapping(root) ||
        fy_node_mapping_lookup_by_string(root, "mcp", FY_NT) == NULL) {
        status = tg__config_load(file, out, err);
    } else {
        char *daemon_part = without_mcp(document);
        status = daemon_part != NULL
                     ? load_daemon_text(daemon_part, file, out, err)
                     : tg__fail(err, TG_ERR_NOMEM, "config: out of memory reading '%s'", file);
        free(daemon_part);
    }
    fy_document_destroy(document);
    return status;
}

tg_status tg__mcp_cli_load(tg__mcp_cli *cli, tg_error *err) {
    tg__config_defaults(cli->daemon);
    tg__mcp_config_defaults(cli->mcp);
    if (cli->config_file == NULL) {
        return TG_OK;
    }
    tg_status status = load_daemon_part(cli->config_file, cli->daemon, err);
    if (status == TG_OK) {
        status = tg__mcp_config_load(cli->config_file, cli->mcp, err);
    }
    return status;
}

/* The task's budget: `budget/task`, its call limit the per-task cap (made if missing). */
static tg_status make_task_budget(tg__mcp_cli *cli, int64_t now_ms, tg_error *err) {
    if (snprintf(cli->charged, sizeof cli->charged, "%s/%s", cli->budget, cli->task) >=
        (int)sizeof cli->charged) {
        return tg__fail(err, TG_ERR_INVALID, "the task's budget path %s/%s is too long",
                        cli->budget, cli->task);
    }
    tg_budget_info info;
    tg_budget_spec spec;
    tg_status status = tg_budget_get(cli->engine, cli->charged, now_ms, &info, NULL);
    if (status == TG_OK) {
        spec = info.spec; /* keep what an operator declared; only the cap is ours */
    } else {
        tg_budget_spec_init(&spec);
    }
    spec.calls_limit = cli->mcp->calls_per_task;
    return tg_budget_put(cli->engine, cli->charged, &spec, now_ms, err);
}

static bool is_redis(const tg__mcp_cli *cli) {
    return strcmp(cli->daemon->store, "redis") == 0;
}

/* Applies cli->daemon over `previous` (NULL at start: nothing is deleted), as the daemon does. */
static tg_status apply(tg__mcp_cli *cli, const tg__config *previous, int64_t now_ms,
                       tg_error *err) {
    tg_status status = tg__config_apply(cli->daemon, previous, cli->engine, now_ms, err);
    if (status != TG_OK) {
        return status;
    }
    tg_budget_info info;
    if (tg_budget_get(cli->engine, cli->budget, now_ms, &info, NULL) != TG_OK) {
        /* A Redis ledger is named without store.url, which holds the password. */
        char where[TG__REDIS_URL_HOST_SIZE_MAX + TG__REDIS_MASTER_SIZE_MAX + 64] = "";
        const tg__redis_url *redis = &cli->daemon->redis;
        if (is_redis(cli) && redis->sentinels.count > 0) {
            snprintf(where, sizeof where, "redis (the master '%s' of the sentinels)",
                     redis->sentinels.master);
        } else if (is_redis(cli)) {
            snprintf(where, sizeof where, "redis %s:%d/%d", redis->host, redis->port, redis->db);
        }
        return tg__fail(
            err, TG_ERR_NOT_FOUND,
            "budget %s does not exist in %s: declare it under budgets: in the config file",
            cli->budget, is_redis(cli) ? where : cli->mcp->database);
    }
    if (cli->task != NULL) {
        return make_task_budget(cli, now_ms, err);
    }
    if (strlen(cli->budget) >= sizeof cli->charged) {
        return tg__fail(err, TG_ERR_INVALID, "--budget: the path is too long");
    }
    memcpy(cli->charged, cli->budget, strlen(cli->budget) + 1);
    return TG_OK;
}

tg_status tg__mcp_cli_open(tg__mcp_cli *cli, tg_event_fn on_event, void *user, int64_t now_ms,
                           tg_error *err) {
    if (cli->database != NULL) {
        if (strlen(cli->database) >= sizeof cli->mcp->database) {
            return tg__fail(err, TG_ERR_INVALID, "--database: the path is too long");
        }
        memcpy(cli->mcp->database, cli->database, strlen(cli->database) + 1);
    }
    /* The store locks the file: a second gateway (or a daemon) on it is refused. On Redis
     * the engine's own store keeps nothing shared (the memory store, as the daemon's), and
     * every ledger call goes to the plugged Redis ledger. */
    bool redis = is_redis(cli);
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = redis ? "memory" : "sqlite";
    options.path = cli->mcp->database;
    options.durability = cli->mcp->durability;
    options.on_event = on_event;
    options.on_event_user = user;
    tg_status status = tg_engine_open(&options, now_ms, &cli->engine, err);
    if (status == TG_OK && redis) {
        status = tg__store_redis_plug(cli->daemon, cli->engine, err);
    }
    return status == TG_OK ? apply(cli, NULL, now_ms, err) : status;
}

tg_status tg__mcp_cli_reload(tg__mcp_cli *cli, int64_t now_ms, tg_error *err) {
    tg__mcp_cli fresh = *cli;
    fresh.mcp = malloc(sizeof *fresh.mcp);
    fresh.daemon = malloc(sizeof *fresh.daemon);
    tg_status status = fresh.mcp != NULL && fresh.daemon != NULL
                           ? tg__mcp_cli_load(&fresh, err)
                           : tg__fail(err, TG_ERR_NOMEM, "out of memory");
    if (status == TG_OK) {
        /* The ledger file and durability stay as opened; everything else is taken. */
        memcpy(fresh.mcp->database, cli->mcp->database, sizeof fresh.mcp->database);
        fresh.mcp->durability = cli->mcp->durability;
        status = apply(&fresh, cli->daemon, now_ms, err);
    }
    if (status == TG_OK) {
        /* The session holds cli->mcp: update it in place (same thread, between messages). */
        *cli->mcp = *fresh.mcp;
        *cli->daemon = *fresh.daemon;
    }
    free(fresh.mcp);
    free(fresh.daemon);
    return status;
}

void tg__mcp_cli_close(tg__mcp_cli *cli) {
    tg_engine_close(cli->engine);
    cli->engine = NULL;
    free(cli->mcp);
    free(cli->daemon);
    cli->mcp = NULL;
    cli->daemon = NULL;
}
