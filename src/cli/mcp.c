/*
 * mcp (cli): `tollgate mcp --budget PATH [--config FILE] [--] COMMAND...` runs an
 * MCP server as a child and stands between it and the agent on stdio. Stdout
 * belongs to the MCP protocol, so everything this command says goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/mcp.h"
#include "mcp/stdio.h"

static const tg__cli_option option_table[] = {
    {"budget", "PATH", "the budget every call is charged to (required; must exist)"},
    {"config", "FILE", "budgets:, policy: and the mcp: section (tool prices and classes)"},
    {"database", "FILE", "the embedded ledger (default: mcp.database, else tollgate-mcp.db)"},
    {"task", "NAME", "charge calls to PATH/NAME, whose call limit is mcp.calls_per_task"},
    {NULL, NULL, NULL}};

static const tg__cli_command command = {
    .name = "tollgate mcp",
    .synopsis = "tollgate mcp --budget PATH [--config FILE] [--database FILE] [--task NAME]\n"
                "                    [--] COMMAND [ARGS...]",
    .about = "Runs the MCP server COMMAND as a child and relays MCP between it and the agent on\n"
             "stdin/stdout, pricing and holding every tools/call on budget PATH (docs/mcp.md).\n"
             "The server's command starts at the first word that is not one of the options\n"
             "below, so `--` is needed only when COMMAND itself starts with a dash.\n"
             "SIGHUP re-reads the config file; SIGTERM stops the server and the gateway.\n",
    .options = option_table,
    .positional_max = 0,
    .takes_rest = true,
    .examples = "  tollgate mcp --budget acme/support/agent-7 --config tollgate.yaml \\\n"
                "      npx -y @modelcontextprotocol/server-filesystem /srv/tickets\n"
                "exit codes: 0 the agent or a signal ended it, 1 failure (or the server's own\n"
                "            code when it exited first), 2 usage error\n"};

/* The session the engine's events go to, once the transport has made it. */
typedef struct {
    tg__mcp_cli *cli;
    tg__mcp_session *session;
} gateway;

static void on_event(void *user, const tg_event *event) {
    gateway *self = user;
    if (event->kind == TG_EVENT_REVOKED || event->kind == TG_EVENT_REINSTATED ||
        event->kind == TG_EVENT_OVERRUN || event->kind == TG_EVENT_HOLD_EXPIRED) {
        char spent[32];
        fprintf(stderr, "tollgate mcp: %s: budget %s%s%s, spent %s\n",
                tg_event_kind_str(event->kind), event->budget, event->cls >= 0 ? ", class " : "",
                event->cls >= 0 ? tg_class_str((tg_class)event->cls) : "",
                tg_money_format(event->spent_micros, spent, sizeof spent));
    }
    if (self->session != NULL) {
        tg__mcp_session_note_event(self->session, event);
    }
}

static void on_reload(void *user, int64_t now_ms) {
    gateway *self = user;
    tg_error err = {0};
    if (tg__mcp_cli_reload(self->cli, now_ms, &err) != TG_OK) {
        fprintf(stderr, "tollgate mcp: reload refused: %s\n", err.message);
    } else {
        fprintf(stderr, "tollgate mcp: configuration reloaded\n");
    }
}

/* Reads the options; an exit code when the command line is not one to run (else -1). */
static int parse(int argc, char **argv, tg__mcp_cli *cli, char ***server_command) {
    tg__cli_args args;
    int code = tg__cli_args_run(&command, argc - 1, argv + 1, &args);
    if (code >= 0) {
        return code;
    }
    cli->budget = tg__cli_arg(&command, &args, "budget");
    cli->config_file = tg__cli_arg(&command, &args, "config");
    cli->database = tg__cli_arg(&command, &args, "database");
    cli->task = tg__cli_arg(&command, &args, "task");
    const char *missing = cli->budget == NULL ? "--budget PATH is required"
                          : args.rest == NULL ? "the MCP server's COMMAND is missing"
                                              : NULL;
    if (missing != NULL) {
        return tg__cli_usage_error(&command, "%s", missing);
    }
    *server_command = args.rest;
    return -1;
}

static int run(tg__mcp_cli *cli, char **server_command) {
    gateway self = {cli, NULL};
    tg_error err = {0};
    if (tg__mcp_cli_load(cli, &err) != TG_OK ||
        tg__mcp_cli_open(cli, on_event, &self, tg__mcp_now_ms(), &err) != TG_OK) {
        fprintf(stderr, "tollgate mcp: %s\n", err.message);
        return 1;
    }
    tg__mcp_stdio_options options = {
        .argv = server_command,
        .agent_in = STDIN_FILENO,
        .agent_out = STDOUT_FILENO,
        .session = {.engine = cli->engine,
                    .config = cli->mcp,
                    .budget = cli->charged,
                    .cap_in_ledger = cli->task != NULL,
                    .log = stderr},
        .session_slot = &self.session,
        .reload = on_reload,
        .reload_user = &self,
        .stop_grace_ms = 2000,
    };
    return tg__mcp_stdio_run(&options);
}

int tg__cli_mcp(int argc, char **argv) {
    tg__mcp_cli cli = {0};
    char **server_command = NULL;
    int code = parse(argc, argv, &cli, &server_command);
    if (code >= 0) {
        return code;
    }
    cli.mcp = malloc(sizeof *cli.mcp);
    cli.daemon = malloc(sizeof *cli.daemon);
    code = 1;
    if (cli.mcp != NULL && cli.daemon != NULL) {
        code = run(&cli, server_command);
    }
    tg__mcp_cli_close(&cli);
    return code;
}
