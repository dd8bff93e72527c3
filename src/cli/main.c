/*
 * main: the `tollgate` command. This version runs the daemon (`serve`) and makes
 * keys (`keys create`); the remote commands (budget, hold, report, ...) talk to
 * the daemon's JSON API and are documented in docs/cli.md.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cli/cli.h"
#include "server/server.h"

static const char usage[] =
    "usage: tollgate <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [--config FILE]     run the daemon (default config: tollgate.yaml)\n"
    "  keys create NAME --role admin|agent|read [--scope PATH]\n"
    "                            make a bearer key; prints the secret once and the\n"
    "                            YAML entry (hash only) to paste under `keys:`\n"
    "  budget set|show|list|freeze|unfreeze|history PATH   manage budgets\n"
    "  hold BUDGET AMOUNT | commit HOLD ACTUAL | release HOLD | charge BUDGET COST\n"
    "  events [--since ID] [--follow]   the event log\n"
    "  status                    every budget with a bar of spend, threshold, limit\n"
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

static int serve(int argc, char **argv) {
    const char *file = "tollgate.yaml";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs("usage: tollgate serve [--config FILE]\n"
                  "  runs the daemon; SIGHUP reloads budgets, policy and keys; SIGTERM stops.\n"
                  "  The admin key comes from TOLLGATE_ADMIN_KEY or an admin entry in keys:.\n"
                  "example: tollgate serve --config examples/tollgate.yaml\n",
                  stdout);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            file = argv[++i];
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
    return tg__serve(file, config); /* takes config */
}

static int keys_create(int argc, char **argv) {
    const char *name = NULL;
    const char *role = "agent";
    const char *scope = "";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            role = argv[++i];
        } else if (strcmp(argv[i], "--scope") == 0 && i + 1 < argc) {
            scope = argv[++i];
        } else if (argv[i][0] != '-' && name == NULL) {
            name = argv[i];
        } else {
            fputs("usage: tollgate keys create NAME --role admin|agent|read [--scope PATH]\n",
                  stderr);
            return 2;
        }
    }
    if (name == NULL || (strcmp(role, "admin") && strcmp(role, "agent") && strcmp(role, "read"))) {
        fputs("usage: tollgate keys create NAME --role admin|agent|read [--scope PATH]\n", stderr);
        return 2;
    }
    unsigned char random[24];
    if (RAND_bytes(random, sizeof random) != 1) {
        fputs("tollgate: no randomness available\n", stderr);
        return 1;
    }
    char secret[64] = "tg_";
    for (size_t i = 0; i < sizeof random; i++) {
        snprintf(secret + 3 + 2 * i, 3, "%02x", random[i]);
    }
    unsigned char hash[TG__SHA256_SIZE];
    char hex[65];
    tg__key_hash(secret, hash);
    tg__hex_encode(hash, hex);
    printf("secret: %s\n# add under keys: in the config, then send SIGHUP\n"
           "  - {name: %s, role: %s, scope: \"%s\", sha256: %s}\n",
           secret, name, role, scope, hex);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") == 0) {
        return serve(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "keys") == 0 && argc >= 3 && strcmp(argv[2], "create") == 0) {
        return keys_create(argc - 3, argv + 3);
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
