/*
 * mcp (cli): `tollgate mcp --budget PATH [--config FILE] -- COMMAND...` runs an
 * MCP server as a child and stands between it and the agent on stdio. Stdout
 * belongs to the MCP protocol, so everything this command says goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/mcp.h"
#include "mcp/stdio.h"

static const char usage[] =
    "usage: tollgate mcp --budget PATH [--config FILE] [--database FILE] [--task NAME]\n"
    "                    -- COMMAND [ARGS...]\n"
    "  Runs the MCP server COMMAND as a child and relays MCP between it and the agent on\n"
    "  stdin/stdout, pricing and holding every tools/call on budget PATH (docs/mcp.md).\n"
    "  --config FILE    budgets:, policy: and the mcp: section (tool prices and classes)\n"
    "  --database FILE  the embedded ledger (default: mcp.database, tollgate-mcp.db)\n"
    "  --task NAME      charge calls to PATH/NAME, whose call limit is mcp.calls_per_task\n"
    "  SIGHUP re-reads the config file; SIGTERM stops the server and the gateway.\n"
    "example:\n"
    "  tollgate mcp --budget acme/support/agent-7 --config tollgate.yaml \\\n"
    "      -- npx -y @modelcontextprotocol/server-filesystem /srv/tickets\n";

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

/* Reads the options before "--"; returns the index of the command or -1. */
static int parse(int argc, char **argv, tg__mcp_cli *cli) {
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--") == 0) {
            return i + 1 < argc ? i + 1 : -1;
        } else if (strcmp(argv[i], "--budget") == 0 && value != NULL) {
            cli->budget = argv[++i];
        } else if (strcmp(argv[i], "--config") == 0 && value != NULL) {
            cli->config_file = argv[++i];
        } else if (strcmp(argv[i], "--database") == 0 && value != NULL) {
            cli->database = argv[++i];
        } else if (strcmp(argv[i], "--task") == 0 && value != NULL) {
            cli->task = argv[++i];
        } else {
            fprintf(stderr, "tollgate mcp: unknown or incomplete option '%s'\n", argv[i]);
            return -1;
        }
    }
    return -1;
}

static int run(tg__mcp_cli *cli, char **command) {
    gateway self = {cli, NULL};
    tg_error err = {0};
    if (tg__mcp_cli_load(cli, &err) != TG_OK ||
        tg__mcp_cli_open(cli, on_event, &self, tg__mcp_now_ms(), &err) != TG_OK) {
        fprintf(stderr, "tollgate mcp: %s\n", err.message);
        return 1;
    }
    tg__mcp_stdio_options options = {
        .argv = command,
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
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    tg__mcp_cli cli = {0};
    int command = parse(argc, argv, &cli);
    if (command < 0 || cli.budget == NULL) {
        fputs(usage, stderr);
        return 2;
    }
    cli.mcp = malloc(sizeof *cli.mcp);
    cli.daemon = malloc(sizeof *cli.daemon);
    int code = 1;
    if (cli.mcp != NULL && cli.daemon != NULL) {
        code = run(&cli, argv + command);
    }
    tg__mcp_cli_close(&cli);
    return code;
}
