/*
 * reload: re-reads the config file into the running daemon, for SIGHUP and for
 * POST /v1/admin/reload (`tollgate reload`). The whole file is read and checked
 * first, the daemon's sections, `notify:`, `mcp:` and the proxy's sections, and the
 * budgets against the live ledger; only when all of it passes is anything
 * applied. So a refused file changes nothing, and the caller hears why.
 *
 * Address, port, store and limits take a restart; keys, budgets, policy,
 * prices and the notify sinks do not. Runs on the loop thread; the engine is
 * inside the pipeline's batch, so the changes ride with the next group commit.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/path.h"
#include "notify/notify.h"
#include "mcp/http/mcp_http.h"
#include "api/events_stream.h"
#include "config/config_file.h"
#include "config/keyring.h"
#include "proxy/runtime/proxy.h"
#include "server/reload.h"

/* Reads and checks everything but the ledger: the daemon's sections, notify, proxy, each
 * from the one parse of the file. */
static tg_status read_file(tg__daemon *daemon, const tg__config_file *file, tg__config **fresh_out,
                           tg__notify_config **notify_out, tg__mcp_http_config **mcp_out,
                           tg_error *err) {
    tg__config *fresh = malloc(sizeof *fresh);
    if (fresh == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory reading the config");
    }
    tg__config_defaults(fresh);
    tg__notify_config *notify = NULL;
    tg__mcp_http_config *mcp = NULL;
    tg__proxy_config proxy;
    bool proxy_found = false;
    tg_status status = tg__config_read(file, fresh, err);
    if (status == TG_OK) {
        status = tg__notify_config_read_for(file->document, daemon->config->store, &notify, err);
    }
    if (status == TG_OK) {
        status = tg__mcp_http_config_read(file->document, &mcp, err);
    }
    if (status == TG_OK && daemon->proxy != NULL) {
        status = tg__proxy_config_read(file->document, &proxy, &proxy_found, err);
        if (status == TG_OK) {
            tg__proxy_config_free(&proxy); /* read again by tg__proxy_reload once applied */
        }
    }
    if (status != TG_OK) {
        tg__notify_config_free(notify);
        tg__mcp_http_config_free(mcp);
        free(fresh);
        return status;
    }
    *fresh_out = fresh;
    *notify_out = notify;
    *mcp_out = mcp;
    return TG_OK;
}

/* The reload itself, from the file parsed once (closed by the caller). */
static tg_status reload(tg__daemon *daemon, const tg__config_file *file, tg__apply_summary *summary,
                        tg_error *err) {
    tg__config *fresh = NULL;
    tg__notify_config *notify = NULL;
    tg__mcp_http_config *mcp = NULL;
    tg_status status = read_file(daemon, file, &fresh, &notify, &mcp, err);
    if (status != TG_OK) {
        return status;
    }
    status =
        tg__config_apply_counted(fresh, daemon->config, daemon->engine, tg__now_ms(), summary, err);
    if (status != TG_OK) {
        tg__notify_config_free(notify);
        tg__mcp_http_config_free(mcp);
        free(fresh);
        return status;
    }
    tg_error late = {0};
    /* MCP servers, prices and classes (sessions of a changed command or budget end). */
    if (tg__mcp_http_reload(&daemon->mcp, mcp, daemon->base, daemon, daemon->flush,
                            daemon->flush_user, &late) != TG_OK) {
        fprintf(stderr, "tollgate: reload: MCP over HTTP is unchanged: %s\n", late.message);
    }
    /* The store needs a restart: the sinks keep using the file the engine has open. */
    if (tg__notify_restart(&daemon->notifier, notify, daemon->config->store_path, &late) != TG_OK) {
        fprintf(stderr, "tollgate: reload: the notify sinks are unchanged: %s\n", late.message);
    }
    /* The proxy's price table file is its own: a broken one keeps the old prices. */
    if (tg__proxy_reload(daemon->proxy, file->document, &late) != TG_OK) {
        fprintf(stderr, "tollgate: reload: the proxy keeps its old prices and settings: %s\n",
                late.message);
    }
    /* What needs a restart is kept from the config the daemon started with. */
    tg__config_keep_restart_settings(fresh, daemon->config);
    free(daemon->config);
    daemon->config = fresh;
    tg__daemon_keys_changed(daemon);
    fprintf(stderr, "tollgate: reloaded %s\n", daemon->config_file);
    return TG_OK;
}

tg_status tg__daemon_reload(tg__daemon *daemon, tg__apply_summary *summary, tg_error *err) {
    tg__config_file *file = NULL;
    tg_status status = tg__config_file_open(daemon->config_file, &file, err);
    if (status == TG_OK) {
        status = reload(daemon, file, summary, err);
    }
    tg__config_file_close(file);
    return status;
}
