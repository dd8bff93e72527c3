/*
 * main: the `tollgate` command. It runs the daemon (`serve`), manages keys in the
 * config file (keys.c), reports spend (report.c); the remote commands (budget,
 * hold, ...) talk to the daemon's JSON API (remote.c). All in docs/cli.md.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/events.h"
#include "cli/mcp.h"
#include "cli/tokens.h"
#include "server/server.h"

static const char usage[] =
    "usage: tollgate <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [--config FILE] [--port N]   run the daemon (default config: tollgate.yaml)\n"
    "  keys create NAME --role admin|agent|read [--scope PATH]\n"
    "                            make a bearer key; prints the secret once and the\n"
    "                            YAML entry (hash only) to paste under `keys:`\n"
    "  keys list|revoke [NAME] [--config FILE]   the keys the config file declares\n"
    "  report [--by budget|tool|model|day] [--format table|csv|json] [--db FILE]\n"
    "                            spend summed from the charges\n"
    "  mcp --budget PATH [--config FILE] -- COMMAND...   the stdio MCP gateway (docs/mcp.md)\n"
    "  budget set|show|list|freeze|unfreeze|history PATH   manage budgets\n"
    "  hold BUDGET AMOUNT | commit HOLD ACTUAL | release HOLD | charge BUDGET COST\n"
    "  events [--since ID] [--follow]   the event log\n"
    "  events --failed [--db FILE]   notifications given up on (docs/notifications.md)\n"
    "  status                    every budget with a bar of spend, threshold, limit\n"
    "  tokens [--model M] [--request chat|responses|anthropic] [FILE]   count tokens offline\n"
    "  version                   print the version\n"
    "  (remote commands use --url/TOLLGATE_URL, --key/TOLLGATE_KEY, --json, --help)\n"
    "\n"
    "examples:\n"
    "  TOLLGATE_ADMIN_KEY=s3cret tollgate serve --config examples/tollgate.yaml\n"
    "  tollgate keys create support-bot --role agent --scope team/support\n"
    "\n"
    "  tollgate budget set team/support-agent --limit 500 --revoke-at 480\n"
    "  tollgate status\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 refused (402), 4 rejected (4xx)\n";

static const char serve_usage[] =
    "usage: tollgate serve [--config FILE] [--port N]\n"
    "\n"
    "Runs the daemon: the JSON API of docs/api.md on the config's address and port\n"
    "(--port overrides the port; 0 lets the kernel pick one, printed on stdout).\n"
    "Budgets, policy, prices and keys come from the YAML file (default\n"
    "./tollgate.yaml; see examples/tollgate.yaml). The admin key comes from\n"
    "TOLLGATE_ADMIN_KEY or an admin entry under keys:.\n"
    "\n"
    "  SIGHUP    re-read the file: budgets, policy, prices, keys; spend is kept, and\n"
    "            budgets removed from the file are deleted once they have no holds\n"
    "  SIGTERM   stop accepting, answer what was read, sync, exit 0\n"
    "\n"
    "examples:\n"
    "  TOLLGATE_ADMIN_KEY=s3cret tollgate serve --config examples/tollgate.yaml\n"
    "  make run      # the same, with a dev admin key made in the working folder\n";

static int serve(int argc, char **argv) {
    const char *file = "tollgate.yaml";
    int port = -1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(serve_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end = NULL;
            long value = strtol(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || value < 0 || value > 65535) {
                fprintf(stderr, "tollgate serve: --port takes 0..65535\n");
                return 2;
            }
            port = (int)value;
        } else {
            fprintf(stderr, "tollgate serve: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    tg__config *config = malloc(sizeof *config);
    if (config == NULL) {
        return 1;
    }
    tg__config_defaults(config);
    tg_error err = {0};
    if (tg__config_load(file, config, &err) != TG_OK) {
        fprintf(stderr, "tollgate: %s\n", err.message);
        free(config);
        return 1;
    }
    return tg__serve(file, config, port); /* takes config */
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") == 0) {
        return serve(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "mcp") == 0) {
        return tg__cli_mcp(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "keys") == 0) {
        return tg__cli_keys(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "report") == 0) {
        return tg__cli_report(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "tokens") == 0) {
        return tg__cli_tokens(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "events") == 0 && tg__cli_events_wants_failed(argc - 2, argv + 2)) {
        return tg__cli_events_failed(argc - 2, argv + 2);
    }
    static const char *const remote[] = {"budget", "hold",   "commit", "release",
                                         "charge", "events", "status"};
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++) {
        if (strcmp(argv[1], remote[i]) == 0) {
            return tg__cli_remote(argc - 1, argv + 1);
        }
    }
    if (strcmp(argv[1], "version") == 0) {
        printf("tollgate %s\n", TG_VERSION);
        return 0;
    }
    fprintf(stderr, "tollgate: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
