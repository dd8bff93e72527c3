/*
 * approvals: `tollgate approvals`, `tollgate approve ID`, `tollgate deny ID` (docs/cli.md,
 * "Approvals"). A person's side of an approval: list what waits (GET /v1/approvals),
 * decide one (POST /v1/approvals/ID/approve|deny, an admin key). The agent's side is the
 * JSON API's `approval` field on a hold; nothing here asks for one.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/remote.h"

static const tg__cli_option decide_options[] = {
    {"class", "CLASS", "approve: the class granted at (default critical: up to the hard limit)"},
    {"amount", "AMOUNT", "approve: less than asked (decimal money, \"0.25\")"},
    {"note", "TEXT", "why, kept with the approval"},
    TG__CLI_REMOTE_OPTIONS,
    {NULL, NULL, NULL}};

static const tg__cli_command approve_command = {
    .name = "tollgate approve",
    .synopsis = "tollgate approve ID [--class CLASS] [--amount AMOUNT] [--note TEXT]",
    .about = "Approves a pending approval (an admin key): the agent waiting on it is granted\n"
             "at once, for the amount and class approved, if the money is still there within\n"
             "the hard limit; otherwise it is refused with the reason. Decided once.\n",
    .options = decide_options,
    .arguments = "ID",
    .positional_min = 1,
    .positional_max = 1,
    .examples = "  tollgate approve 12\n  tollgate approve 12 --amount 0.50 --note 'one more "
                "try'\n" TG__CLI_EXIT_CODES};
static const tg__cli_command deny_command = {
    .name = "tollgate deny",
    .synopsis = "tollgate deny ID [--note TEXT]",
    .about = "Denies a pending approval (an admin key): the agent waiting on it is refused.\n",
    .options = decide_options,
    .arguments = "ID",
    .positional_min = 1,
    .positional_max = 1,
    .examples = "  tollgate deny 12 --note 'not this month'\n" TG__CLI_EXIT_CODES};

static const tg__cli_option list_options[] = {
    {"state", "STATE", "pending (the default), approved, denied, expired or all"},
    {"budget", "PATH", "only this budget's subtree"},
    TG__CLI_REMOTE_OPTIONS,
    {NULL, NULL, NULL}};
static const tg__cli_command list_command = {
    .name = "tollgate approvals",
    .synopsis = "tollgate approvals [--state STATE] [--budget PATH]",
    .about = "Lists approvals, newest first: id, state, budget, amount, class, tool, who asked\n"
             "and why; decided ones also who decided and how it ended.\n",
    .options = list_options,
    .arguments = "",
    .positional_min = 0,
    .positional_max = 0,
    .examples = "  tollgate approvals\n  tollgate approvals --state all --budget "
                "team/support\n" TG__CLI_EXIT_CODES};

static void print_row(json_t *a) {
    char amount[40];
    tg_money_format(json_integer_value(json_object_get(a, "amount_micros")), amount, sizeof amount);
    printf("%" JSON_INTEGER_FORMAT "\t%s\t%s\t%s\t%s\t%s\tby %s: %s",
           json_integer_value(json_object_get(a, "id")),
           json_string_value(json_object_get(a, "state")),
           json_string_value(json_object_get(a, "budget")), amount,
           json_string_value(json_object_get(a, "class")),
           json_string_value(json_object_get(a, "tool")),
           json_string_value(json_object_get(a, "requested_by")),
           json_string_value(json_object_get(a, "reason")));
    const char *decided_by = json_string_value(json_object_get(a, "decided_by"));
    const char *outcome = json_string_value(json_object_get(a, "outcome"));
    if (outcome != NULL && outcome[0] != '\0') {
        printf("\t-> %s%s%s", outcome, decided_by && decided_by[0] ? " by " : "",
               decided_by ? decided_by : "");
    }
    printf("\n");
}

static int list(int argc, char **argv) {
    tg__cli_args args;
    tg__remote remote;
    int code = tg__remote_args_run(&list_command, argc, argv, &args, &remote);
    if (code >= 0) {
        return code;
    }
    const char *state = tg__cli_arg(&list_command, &args, "state");
    const char *budget = tg__cli_arg(&list_command, &args, "budget");
    state = state ? state : "pending";
    if (strcmp(state, "all") != 0 && strcmp(state, "pending") != 0 &&
        strcmp(state, "approved") != 0 && strcmp(state, "denied") != 0 &&
        strcmp(state, "expired") != 0) {
        return tg__cli_usage_error(&list_command,
                                   "--state is pending, approved, denied, expired or all, not "
                                   "'%.32s'",
                                   state);
    }
    char *escaped = curl_easy_escape(NULL, budget ? budget : "", 0);
    char path[TG__CLI_PATH_SIZE_MAX];
    snprintf(path, sizeof path, "/v1/approvals?limit=1000&state=%s&budget=%s",
             strcmp(state, "all") == 0 ? "" : state, escaped ? escaped : "");
    curl_free(escaped);
    return tg__remote_list(&remote, path, "approvals", print_row);
}

static int decide(const tg__cli_command *command, bool approve, int argc, char **argv) {
    tg__cli_args args;
    tg__remote remote;
    int code = tg__remote_args_run(command, argc, argv, &args, &remote);
    if (code >= 0) {
        return code;
    }
    int64_t id = 0;
    if (!tg__cli_whole_number(args.positional[0], INT64_MAX, &id) || id == 0) {
        return tg__cli_usage_error(command, "ID is an approval's number, not '%.64s'",
                                   args.positional[0]);
    }
    const char *cls = tg__cli_arg(command, &args, "class");
    const char *amount = tg__cli_arg(command, &args, "amount");
    const char *note = tg__cli_arg(command, &args, "note");
    if (!approve && (cls != NULL || amount != NULL)) {
        return tg__cli_usage_error(command, "a denial takes --note only");
    }
    json_t *body = json_object();
    if (cls != NULL) {
        json_object_set_new(body, "class", json_string(cls));
    }
    if (amount != NULL) {
        json_object_set_new(body, "amount", json_string(amount));
    }
    if (note != NULL) {
        json_object_set_new(body, "note", json_string(note));
    }
    char path[96];
    snprintf(path, sizeof path, "/v1/approvals/%" PRId64 "/%s", id, approve ? "approve" : "deny");
    json_t *answer = NULL;
    long http = tg__remote_call_once(&remote, "POST", path, body, &answer);
    json_decref(body);
    if (http == 403 && !remote.json) {
        fprintf(stderr, "tollgate: only an admin key may approve or deny\n");
    }
    if (http != 200 || remote.json) {
        return tg__remote_finish(&remote, http, answer);
    }
    json_t *a = json_object_get(answer, "approval");
    printf("approval %" PRId64 " %s: %s\n", id, json_string_value(json_object_get(a, "state")),
           json_string_value(json_object_get(a, "outcome")));
    json_decref(answer);
    return TG__EXIT_OK;
}

int tg__cli_approvals(int argc, char **argv) {
    const char *name = argv[0];
    if (strcmp(name, "approve") == 0) {
        return decide(&approve_command, true, argc - 1, argv + 1);
    }
    if (strcmp(name, "deny") == 0) {
        return decide(&deny_command, false, argc - 1, argv + 1);
    }
    return list(argc - 1, argv + 1);
}
