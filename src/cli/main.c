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

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "cli/mcp.h"
#include "cli/tokens.h"
#include "config/config.h"
#include "config/config_file.h"

static const char usage[] =
    "usage: tollgate <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [--config FILE] [--port N]   run the daemon (default config: tollgate.yaml)\n"
    "  keys create NAME --role admin|agent|read|metrics [--scope PATH]\n"
    "                            make a bearer key in the daemon; prints the secret once\n"
    "  keys list|revoke|rotate [NAME]   the daemon's keys (--config FILE: the file's)\n"
    "  reload                    the daemon re-reads its config, all or nothing\n"
    "  report [--by budget|tool|model|day] [--format table|csv|json] [--db FILE]\n"
    "                            spend summed from the charges\n"
    "  mcp --budget PATH [--config FILE] COMMAND...   the stdio MCP gateway (docs/mcp.md)\n"
    "  budget set|show|list|delete|freeze|unfreeze|history PATH   manage budgets\n"
    "  hold BUDGET AMOUNT | commit HOLD ACTUAL | release HOLD | charge BUDGET COST\n"
    "  events [--since ID] [--follow]   the event log\n"
    "  events --failed [--db FILE]   notifications given up on (docs/notifications.md)\n"
    "  status [PREFIX]           every budget with a bar of spend, threshold, limit\n"
    "  approvals [--state S] | approve ID | deny ID   requests waiting for a person\n"
    "  tokens [--model M] [--request chat|responses|anthropic] [FILE]   count tokens offline\n"
    "  version                   print the version\n"
    "  (remote commands use --url/TOLLGATE_URL, --key/TOLLGATE_KEY, --json;\n"
    "   `tollgate COMMAND --help` explains each command)\n"
    "\n"
    "examples:\n"
    "  make run        # a daemon on 127.0.0.1:8420; it prints the two lines to export\n"
    "  tollgate budget set team/new-agent --limit 50 --revoke-at 90%\n"
    "  tollgate status\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 refused (402), 4 rejected (4xx)\n";

static const tg__cli_option serve_options[] = {
    {"config", "FILE", "the YAML config (default ./tollgate.yaml; see examples/tollgate.yaml)"},
    {"port", "N", "listen on port N instead of the file's (0: the kernel picks one)"},
    {NULL, NULL, NULL}};

static const tg__cli_command serve_command = {
    .name = "tollgate serve",
    .synopsis = "tollgate serve [--config FILE] [--port N]",
    .about = "Runs the daemon: the JSON API of docs/api.md on the config's address and port,\n"
             "printing \"tollgate: listening on http://ADDRESS:PORT\" once it accepts requests.\n"
             "Budgets, policy, prices and keys come from the YAML file. The admin key comes\n"
             "from TOLLGATE_ADMIN_KEY or an admin entry under keys:.\n"
             "\n"
             "  tollgate reload (or SIGHUP)   re-read the file, all or nothing: budgets,\n"
             "            policy, prices, keys, mcp:; spend is kept, and budgets removed from\n"
             "            the file are deleted once they have no holds\n"
             "  SIGTERM   stop accepting, answer what was read, sync, exit 0\n",
    .options = serve_options,
    .positional_max = 0,
    .examples = "  TOLLGATE_ADMIN_KEY=s3cret tollgate serve --config examples/tollgate.yaml\n"
                "  make run      # the same, with a dev admin key made in the working folder\n"};

static int serve(int argc, char **argv) {
    tg__cli_args args;
    int code = tg__cli_args_run(&serve_command, argc, argv, &args);
    if (code >= 0) {
        return code;
    }
    const char *file = tg__cli_arg(&serve_command, &args, "config");
    const char *port_text = tg__cli_arg(&serve_command, &args, "port");
    file = file != NULL ? file : "tollgate.yaml";
    int64_t port = -1;
    if (port_text != NULL && (!tg__cli_whole_number(port_text, 65535, &port))) {
        return tg__cli_usage_error(&serve_command, "--port takes 0..65535, not '%.64s'", port_text);
    }
    tg__config *config = malloc(sizeof *config);
    if (config == NULL) {
        return 1;
    }
    tg__config_defaults(config);
    tg_error err = {0};
    tg__config_file *parsed = NULL; /* parsed once: every section is read from it */
    if (tg__config_file_open(file, &parsed, &err) != TG_OK ||
        tg__config_read(parsed, config, &err) != TG_OK) {
        fprintf(stderr, "tollgate: %s\n", err.message);
        tg__config_file_close(parsed);
        free(config);
        return 1;
    }
    return tg__serve(parsed, config, (int)port); /* takes both */
}

static const tg__cli_option no_options[] = {{NULL, NULL, NULL}};
static const tg__cli_command version_command = {.name = "tollgate version",
                                                .synopsis = "tollgate version",
                                                .about = "Prints the version.\n",
                                                .options = no_options};

static int version(int argc, char **argv) {
    tg__cli_args args;
    int code = tg__cli_args_run(&version_command, argc, argv, &args);
    if (code >= 0) {
        return code;
    }
    printf("tollgate %s\n", TG_VERSION);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* The first six run here; the rest are the remote commands of remote.c. */
    static const char *const commands[] = {"serve",   "mcp",    "keys",   "report",  "tokens",
                                           "reload",  "budget", "hold",   "commit",  "release",
                                           "charge",  "events", "status", "version", "approvals",
                                           "approve", "deny",   NULL};
    const char *name = argv[1];
    if (strcmp(name, "serve") == 0) {
        return serve(argc - 2, argv + 2);
    }
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        return version(argc - 2, argv + 2);
    }
    if (strcmp(name, "mcp") == 0) {
        return tg__cli_mcp(argc - 1, argv + 1);
    }
    if (strcmp(name, "keys") == 0) {
        return tg__cli_keys(argc - 1, argv + 1);
    }
    if (strcmp(name, "reload") == 0) {
        return tg__cli_reload(argc - 1, argv + 1);
    }
    if (strcmp(name, "report") == 0) {
        return tg__cli_report(argc - 1, argv + 1);
    }
    if (strcmp(name, "tokens") == 0) {
        return tg__cli_tokens(argc - 1, argv + 1);
    }
    for (size_t i = 6; commands[i] != NULL; i++) {
        if (strcmp(name, commands[i]) == 0) {
            return tg__cli_remote(argc - 1, argv + 1);
        }
    }
    const char *near = tg__cli_closest(name, commands);
    fprintf(stderr,
            "tollgate: unknown command '%s'%s%s%s\n(`tollgate --help` lists the commands)\n", name,
            near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
    return 2;
}
