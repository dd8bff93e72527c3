/*
 * mcp (cli): `tollgate mcp`, the stdio MCP gateway (docs/mcp.md). mcp.c reads
 * the command line and runs the gateway; mcp_ledger.c prepares the embedded
 * ledger it decides with (configuration, budgets, the task's budget).
 */
#ifndef TG_CLI_MCP_H
#define TG_CLI_MCP_H

#include <stdint.h>

#include "mcp/config.h"
#include "config/config.h"
#include "tollgate.h"

/* Runs `tollgate mcp` (argv[0] is "mcp"). Returns a process exit code. */
int tg__cli_mcp(int argc, char **argv);

/* What the gateway was started with, and what it reloads on SIGHUP. */
typedef struct {
    const char *config_file;        /* --config, or NULL */
    const char *database;           /* --database, or NULL: mcp.database */
    const char *budget;             /* --budget */
    const char *task;               /* --task, or NULL */
    tg__mcp_config *mcp;            /* from malloc: the `mcp:` section */
    tg__config *daemon;             /* from malloc: budgets and policy (the daemon's reader) */
    tg_engine *engine;              /* the embedded ledger */
    char charged[TG_PATH_SIZE_MAX]; /* the budget calls are charged to (the task's, if any) */
} tg__mcp_cli;

/* Reads the config file (both parts) into cli->mcp and cli->daemon. */
tg_status tg__mcp_cli_load(tg__mcp_cli *cli, tg_error *err);

/*
 * Locks the database, opens the engine on it, applies budgets and policy,
 * and makes the task's budget. on_event/user go to the engine.
 */
tg_status tg__mcp_cli_open(tg__mcp_cli *cli, tg_event_fn on_event, void *user, int64_t now_ms,
                           tg_error *err);

/* Re-reads the file and applies it (SIGHUP). On error the old configuration stays. */
tg_status tg__mcp_cli_reload(tg__mcp_cli *cli, int64_t now_ms, tg_error *err);

/* Closes the engine, unlocks, frees. */
void tg__mcp_cli_close(tg__mcp_cli *cli);

#endif
