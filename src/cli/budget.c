/*
 * budget: `tollgate budget set|show|list|delete|freeze|unfreeze|history`, one
 * table of options per verb (args.h), each a call or two to /v1/budgets
 * (docs/api.md). `set` patches the fields given, or creates the budget; values
 * are checked here first so that a typo is a usage error, not a budget changed
 * in some other way than the one typed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/budget_bulk.h"
#include "cli/cli.h"
#include "cli/remote.h"

#define PERCENT_TEXT_SIZE_MAX 32 /* "96.5%" and the like */

static const tg__cli_option set_options[] = {
    {"limit", "AMOUNT", "the cost limit, decimal money (\"500.00\")"},
    {"calls-limit", "N", "the most calls per window"},
    {"tokens-limit", "N", "the most tokens per window"},
    {"window", "WINDOW", "lifetime, hour, day, week or month"},
    {"timezone", "ZONE", "where the window's boundaries fall (Europe/Paris; default UTC)"},
    {"revoke-at", "LEVEL", "where routine work stops: an amount (\"480\") or a share (\"96%\")"},
    {"alerts", "LIST", "alert thresholds as shares of the limit: 0.5,0.8,1 or 50%,80%"},
    {"replace", NULL, "replace the whole budget (fields not given return to their defaults)"},
    TG__CLI_REMOTE_OPTIONS,
    {NULL, NULL, NULL}};
static const tg__cli_option plain_options[] = {TG__CLI_REMOTE_OPTIONS, {NULL, NULL, NULL}};
static const tg__cli_option list_options[] = {
    {"state", "STATE", "only budgets that are open, frozen, locked or revoked"},
    {"after", "PATH", "the page after this path (a page's last path, as printed)"},
    {"limit", "N", "budgets in the page, 1 to 1000 (default 1000)"},
    {"all", NULL, "every page, one after the other (with --json: one budget a line)"},
    TG__CLI_REMOTE_OPTIONS,
    {NULL, NULL, NULL}};
static const tg__cli_option apply_options[] = {
    {"patch", NULL, "change only the fields given (PATCH); default: replace each budget (PUT)"},
    TG__CLI_REMOTE_OPTIONS,
    {NULL, NULL, NULL}};

#define VERB(verb_, synopsis_, about_, options_, arguments_, min_, example_)                       \
    {                                                                                              \
        .name = "tollgate budget " verb_, .synopsis = "tollgate budget " verb_ " " synopsis_,      \
        .about = about_, .options = options_, .arguments = arguments_, .positional_min = min_,     \
        .positional_max = 1, .examples = "  tollgate budget " verb_ " " example_ "\n"              \
    }

static const tg__cli_command verbs[] = {
    VERB("set", "PATH [--limit AMOUNT] [--window WINDOW] [--revoke-at LEVEL] [options]",
         "Creates budget PATH, or changes only the fields given (spend is kept).\n", set_options,
         "PATH", 1, "team/new-agent --limit 50 --revoke-at 90% --window day --alerts 0.5,0.8"),
    VERB("show", "PATH", "One budget: limits, spend, holds, threshold, per-class ceilings.\n",
         plain_options, "PATH", 1, "team/new-agent"),
    VERB("list", "[PREFIX] [--state STATE] [--after PATH] [--limit N] [--all]",
         "Budgets in path order (those whose path starts with PREFIX) as a table, a page of\n"
         "1000 at a time: the command for the next page goes to stderr; --all prints them all.\n",
         list_options, "PREFIX", 0, "users/ --all"),
    VERB("apply", "FILE [--patch]",
         "Creates, updates and deletes the budgets of FILE (- for stdin) through the bulk\n"
         "API: JSON lines ({\"path\": ..., fields} or {\"path\": ..., \"delete\": true}), or a\n"
         "YAML list for a .yaml/.yml file. Up to 10,000 budgets go in one request, whole or\n"
         "not at all; a longer file goes in requests of 10,000, stopping at the first refused.\n",
         apply_options, "FILE", 1, "users.jsonl"),
    VERB("delete", "PATH",
         "Deletes a budget that has no children and no open holds (its charges stay).\n",
         plain_options, "PATH", 1, "team/new-agent"),
    VERB("freeze", "PATH", "Refuses everything on PATH and below until unfrozen.\n", plain_options,
         "PATH", 1, "team/new-agent"),
    VERB("unfreeze", "PATH", "Lifts a freeze.\n", plain_options, "PATH", 1, "team/new-agent"),
    VERB("history", "PATH", "Spend of the closed windows (SQLite store only).\n", plain_options,
         "PATH", 1, "team/new-agent"),
};
#define VERBS_COUNT (sizeof verbs / sizeof verbs[0])

static const char overview[] =
    "usage: tollgate budget set|show|list|apply|delete|freeze|unfreeze|history ...\n"
    "\n"
    "  set PATH [--limit AMOUNT] [--calls-limit N] [--tokens-limit N] [--window WINDOW]\n"
    "           [--timezone ZONE] [--revoke-at LEVEL] [--alerts LIST] [--replace]\n"
    "  show PATH | list [PREFIX] [--after PATH] [--limit N] [--all] | apply FILE [--patch]\n"
    "  delete PATH | freeze PATH | unfreeze PATH | history PATH\n"
    "  every verb takes --url URL, --key KEY, --json; `tollgate budget VERB --help` for more\n"
    "\n"
    "examples:\n"
    "  tollgate budget set team/new-agent --limit 50 --revoke-at 90% --window day\n"
    "  tollgate budget list\n"
    "  tollgate budget delete team/new-agent\n";

/* ---- set ---------------------------------------------------------------------------------- */

/* "0.8", "1" (fractions) or "80%", "96.5%" (percentages) into ppm of the limit. */
static bool parse_share(const char *text, int64_t *ppm) {
    size_t length = strlen(text);
    if (length == 0 || length >= PERCENT_TEXT_SIZE_MAX) {
        return false;
    }
    if (text[length - 1] != '%') {
        return tg_fraction_parse(text, ppm) == TG_OK;
    }
    char number[PERCENT_TEXT_SIZE_MAX];
    memcpy(number, text, length - 1);
    number[length - 1] = '\0';
    int64_t percent_micros = 0;
    /* A percent is 10,000 ppm: finer than 0.0001% cannot be kept, so it is refused. */
    if (tg_money_parse(number, &percent_micros) != TG_OK || percent_micros > 100000000 ||
        percent_micros % 100 != 0) {
        return false;
    }
    *ppm = percent_micros / 100;
    return true;
}

static bool read_alerts(const char *text, json_t *body) {
    json_t *list = json_array();
    char item[PERCENT_TEXT_SIZE_MAX];
    for (const char *at = text;; at++) {
        size_t length = strcspn(at, ",");
        int64_t ppm = 0;
        if (length >= sizeof item || json_array_size(list) >= TG_ALERTS_MAX) {
            json_decref(list);
            return false;
        }
        memcpy(item, at, length);
        item[length] = '\0';
        if (!parse_share(item, &ppm)) {
            json_decref(list);
            return false;
        }
        json_array_append_new(list, json_integer(ppm));
        at += length;
        if (*at == '\0') {
            break;
        }
    }
    json_object_set_new(body, "alerts_ppm", list);
    return true;
}

static int usage_error(const tg__cli_command *command, const char *message, const char *value) {
    return tg__cli_usage_error(command, "%s, not '%.64s'", message, value);
}

/* The body of PUT/PATCH from the options; an exit code when one is malformed (else -1). */
static int set_body(const tg__cli_command *command, const tg__cli_args *args, json_t *body) {
    static const char *const texts[][2] = {
        {"limit", "limit"}, {"window", "window"}, {"timezone", "timezone"}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *value = tg__cli_arg(command, args, texts[i][0]);
        if (value != NULL) {
            json_object_set_new(body, texts[i][1], json_string(value));
        }
    }
    static const char *const counts[][2] = {{"calls-limit", "calls_limit"},
                                            {"tokens-limit", "tokens_limit"}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        const char *value = tg__cli_arg(command, args, counts[i][0]);
        int64_t number = 0;
        if (value != NULL && !tg__cli_whole_number(value, TG_LIMIT_MAX, &number)) {
            return usage_error(command, "a limit of calls or tokens is a whole number", value);
        }
        if (value != NULL) {
            json_object_set_new(body, counts[i][1], json_integer(number));
        }
    }
    const char *revoke = tg__cli_arg(command, args, "revoke-at");
    if (revoke != NULL && revoke[0] != '\0' && revoke[strlen(revoke) - 1] == '%') {
        int64_t ppm = 0;
        if (!parse_share(revoke, &ppm)) {
            return usage_error(command, "--revoke-at takes an amount or a percentage like 96%",
                               revoke);
        }
        json_object_set_new(body, "revoke_at_ppm", json_integer(ppm));
    } else if (revoke != NULL) {
        json_object_set_new(body, "revoke_at", json_string(revoke));
    }
    const char *alerts = tg__cli_arg(command, args, "alerts");
    if (alerts != NULL && !read_alerts(alerts, body)) {
        return usage_error(command,
                           "--alerts takes up to 8 shares of the limit, like 0.5,0.8,1 or 50%,80%",
                           alerts);
    }
    return -1;
}

static long set_budget(const tg__cli_command *command, const tg__cli_args *args,
                       const tg__remote *remote, const char *path, json_t **answer, int *code) {
    json_t *body = json_object();
    *code = set_body(command, args, body);
    if (*code >= 0) {
        json_decref(body);
        return 0;
    }
    bool replace = tg__cli_flag(command, args, "replace");
    long status = tg__remote_call(remote, replace ? "PUT" : "PATCH", path, body, answer);
    if (status == 404 && !replace) {
        json_decref(*answer);
        *answer = NULL;
        status = tg__remote_call(remote, "PUT", path, body, answer); /* a new budget */
    }
    json_decref(body);
    return status;
}

/* ---- list ---------------------------------------------------------------------------------- */

static void money_or_dash(json_t *value, char *out, size_t size) {
    if (json_is_integer(value)) {
        tg_money_format(json_integer_value(value), out, size);
    } else {
        snprintf(out, size, "-");
    }
}

static void revoke_text(json_t *budget, char *out, size_t size) {
    json_t *revoke = json_object_get(budget, "revoke_at");
    json_t *ppm = json_object_get(revoke, "ppm");
    if (json_is_integer(ppm)) {
        int64_t value = json_integer_value(ppm);
        snprintf(out, size, "%" PRId64 ".%04" PRId64 "%%", value / 10000, value % 10000);
        return;
    }
    money_or_dash(json_object_get(revoke, "micros"), out, size);
}

static void state_text(json_t *budget, char *out, size_t size) {
    json_t *classes = json_object_get(budget, "classes");
    size_t used = (size_t)snprintf(
        out, size, "%s", json_is_true(json_object_get(budget, "frozen")) ? "frozen" : "active");
    bool any = false;
    for (int c = 0; c < TG_CLASS_COUNT && used < size; c++) {
        const char *name = tg_class_str((tg_class)c);
        if (json_is_true(json_object_get(json_object_get(classes, name), "revoked"))) {
            used +=
                (size_t)snprintf(out + used, size - used, "%s%s", any ? "," : ", revoked ", name);
            any = true;
        }
    }
}

static void print_table(json_t *answer, bool header) {
    json_t *budgets = json_object_get(answer, "budgets");
    if (json_array_size(budgets) == 0) {
        if (header) {
            puts("no budgets");
        }
        return;
    }
    if (header) {
        printf("%-32s %16s %16s %14s %14s %-8s %s\n", "PATH", "LIMIT", "SPENT", "HELD", "REVOKE AT",
               "WINDOW", "STATE");
    }
    size_t i;
    json_t *budget;
    json_array_foreach(budgets, i, budget) {
        char limit[40], spent[40], held[40], revoke[40], state[96];
        money_or_dash(json_object_get(budget, "limit_micros"), limit, sizeof limit);
        money_or_dash(json_object_get(budget, "spent_micros"), spent, sizeof spent);
        money_or_dash(json_object_get(budget, "held_micros"), held, sizeof held);
        revoke_text(budget, revoke, sizeof revoke);
        state_text(budget, state, sizeof state);
        const char *window = json_string_value(json_object_get(budget, "window"));
        printf("%-32s %16s %16s %14s %14s %-8s %s\n",
               json_string_value(json_object_get(budget, "path")), limit, spent, held, revoke,
               window ? window : "-", state);
    }
}

/* ---- the verbs ------------------------------------------------------------------------------ */

static long run_verb(const tg__cli_command *command, const tg__cli_args *args,
                     const tg__remote *remote, json_t **answer, int *code) {
    const char *verb = command->name + strlen("tollgate budget ");
    char path[TG__CLI_PATH_SIZE_MAX];
    char error[TG__CLI_ERROR_SIZE + TG_PATH_SIZE_MAX];
    if (!tg__cli_budget_url("/v1/budgets/", args->positional[0], path, sizeof path, error,
                            sizeof error)) {
        *code = tg__cli_usage_error(command, "%s", error);
        return 0;
    }
    if (strcmp(verb, "set") == 0) {
        return set_budget(command, args, remote, path, answer, code);
    }
    if (strcmp(verb, "freeze") == 0 || strcmp(verb, "unfreeze") == 0 ||
        strcmp(verb, "history") == 0) {
        size_t used = strlen(path);
        snprintf(path + used, sizeof path - used, "/%s", verb);
    }
    const char *method = strcmp(verb, "delete") == 0    ? "DELETE"
                         : strcmp(verb, "show") == 0    ? "GET"
                         : strcmp(verb, "history") == 0 ? "GET"
                                                        : "POST";
    return tg__remote_call(remote, method, path, NULL, answer);
}

static const tg__cli_command *verb_named(const char *name) {
    const char *names[VERBS_COUNT + 1];
    for (size_t i = 0; i < VERBS_COUNT; i++) {
        names[i] = verbs[i].name + strlen("tollgate budget ");
        if (strcmp(names[i], name) == 0) {
            return &verbs[i];
        }
    }
    names[VERBS_COUNT] = NULL;
    const char *near = tg__cli_closest(name, names);
    fprintf(stderr, "tollgate budget: unknown verb '%s'%s%s%s\n%s", name,
            near ? "; did you mean " : "", near ? near : "", near ? "?" : "", overview);
    return NULL;
}

int tg__cli_budget(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(overview, argc < 2 ? stderr : stdout);
        return argc < 2 ? TG__EXIT_USAGE : TG__EXIT_OK;
    }
    const tg__cli_command *command = verb_named(argv[1]);
    if (command == NULL) {
        return TG__EXIT_USAGE;
    }
    tg__cli_args args;
    tg__remote remote;
    int code = tg__remote_args_run(command, argc - 2, argv + 2, &args, &remote);
    if (code >= 0) {
        return code;
    }
    if (strcmp(command->name, "tollgate budget list") == 0) {
        return tg__cli_budget_list(command, &args, &remote, print_table);
    }
    if (strcmp(command->name, "tollgate budget apply") == 0) {
        return tg__cli_budget_apply(command, &args, &remote);
    }
    json_t *answer = NULL;
    code = -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long status = run_verb(command, &args, &remote, &answer, &code);
    curl_global_cleanup();
    if (code >= 0) {
        return code;
    }
    return tg__remote_finish(&remote, status, answer);
}
