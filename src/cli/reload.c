/*
 * reload: `tollgate reload`, the daemon re-reads its config file (POST
 * /v1/admin/reload with an admin key) and says whether it applied, and if not
 * why: the file, line and column, or the budget the live ledger refuses. Unlike
 * `kill -HUP $(pidof tollgate)` it reaches one daemon, the one at --url, and the
 * answer comes back to whoever asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/remote.h"

static const tg__cli_option options[] = {
    {"url", "URL", "the daemon (default $TOLLGATE_URL, else http://127.0.0.1:8420)"},
    {"key", "KEY", "an admin key (default $TOLLGATE_KEY)"},
    {"json", NULL, "print the daemon's answer as JSON"},
    {NULL, NULL, NULL}};

static const tg__cli_command command = {
    .name = "tollgate reload",
    .synopsis = "tollgate reload [--url URL] [--key KEY] [--json]",
    .about = "The daemon re-reads its config file and applies it all or nothing: budgets,\n"
             "policy, prices, keys, mcp: and notify sinks (address, port, store and limits\n"
             "need a restart). A file with an error changes nothing; the error is printed\n"
             "and the exit code is 1. Needs an admin key.\n",
    .options = options,
    .examples = "  tollgate reload\n"};

int tg__cli_reload(int argc, char **argv) {
    tg__cli_args args;
    tg__remote remote;
    int code = tg__remote_args_run(&command, argc - 1, argv + 1, &args, &remote);
    if (code >= 0) {
        return code;
    }
    json_t *answer = NULL;
    long status = tg__remote_call_once(&remote, "POST", "/v1/admin/reload", NULL, &answer);
    if (status >= 0 && remote.json) {
        char *text = json_dumps(answer, JSON_INDENT(2));
        printf("%s\n", text ? text : "null");
        free(text);
    } else if (status == 200) {
        printf("reloaded %s: %lld budgets changed, %lld removed from the file but kept (in "
               "use), %lld keys\n",
               json_string_value(json_object_get(answer, "file")),
               (long long)json_integer_value(json_object_get(answer, "budgets_changed")),
               (long long)json_integer_value(json_object_get(answer, "budgets_kept")),
               (long long)json_integer_value(json_object_get(answer, "keys")));
    } else if (status >= 0) {
        const char *message =
            json_string_value(json_object_get(json_object_get(answer, "error"), "message"));
        fprintf(stderr, "tollgate reload: %s%s\n",
                status == 422 ? "refused, the daemon keeps its config: " : "",
                message ? message : "(no JSON answer)");
    }
    json_decref(answer);
    return status == 200                   ? TG__EXIT_OK
           : status == 422 || status < 0   ? TG__EXIT_FAILURE
           : status >= 400 && status < 500 ? TG__EXIT_REJECTED
                                           : TG__EXIT_FAILURE;
}
