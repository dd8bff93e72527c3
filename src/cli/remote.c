/*
 * remote: `tollgate hold|commit|release|charge|status`, and what every command
 * that talks to the daemon shares (remote.h): one HTTP call through libcurl to
 * the daemon found through --url/TOLLGATE_URL with --key/TOLLGATE_KEY, its
 * answer printed for people or as JSON with --json, its status an exit code.
 * `budget` is budget.c's, `events` events.c's.
 */
#include "cli/remote.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "core/buf.h"

#define RESPONSE_SIZE_MAX (16 * 1024 * 1024) /* largest answer we accept */
#define BAR_WIDTH 40                         /* characters of a status bar */

/* ---- the call -------------------------------------------------------------------------- */

static size_t collect(char *data, size_t size, size_t count, void *user) {
    return tg__buf_append(user, data, size * count) == TG_OK ? size * count : 0;
}

long tg__cli_call(const char *base_url, const char *key, const char *method, const char *path,
                  json_t *body, json_t **out) {
    *out = NULL;
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        fprintf(stderr, "tollgate: out of memory\n");
        return -1;
    }
    tg__buf answer;
    tg__buf_init(&answer, RESPONSE_SIZE_MAX);
    char url[4096];
    char authorization[1024];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", key);
    struct curl_slist *headers = curl_slist_append(NULL, authorization);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    /* The path is built segment by segment (tg__cli_budget_url): never re-read. */
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    if (text != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
    }
    long status = -1;
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        *out = answer.size > 0 ? json_loadb(answer.data, answer.size, 0, NULL) : NULL;
    } else {
        fprintf(stderr, "tollgate: cannot reach %s: %s\n", base_url, curl_easy_strerror(code));
    }
    tg__buf_free(&answer);
    free(text);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

void tg__remote_init(tg__remote *out, const char *url, const char *key, bool json) {
    out->url = url ? url : getenv("TOLLGATE_URL");
    out->key = key ? key : getenv("TOLLGATE_KEY");
    out->url = out->url && out->url[0] ? out->url : TG__CLI_URL_DEFAULT;
    out->key = out->key ? out->key : "";
    out->json = json;
}

int tg__remote_args_run(const tg__cli_command *command, int argc, char **argv, tg__cli_args *args,
                        tg__remote *out) {
    int code = tg__cli_args_run(command, argc, argv, args);
    if (code >= 0) {
        return code;
    }
    tg__remote_init(out, tg__cli_arg(command, args, "url"), tg__cli_arg(command, args, "key"),
                    tg__cli_flag(command, args, "json"));
    return -1;
}

long tg__remote_call(const tg__remote *remote, const char *method, const char *path, json_t *body,
                     json_t **out) {
    return tg__cli_call(remote->url, remote->key, method, path, body, out);
}

long tg__remote_call_once(const tg__remote *remote, const char *method, const char *path,
                          json_t *body, json_t **out) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long status = tg__remote_call(remote, method, path, body, out);
    curl_global_cleanup();
    return status;
}

int tg__remote_list(const tg__remote *remote, const char *path, const char *rows,
                    void (*print_row)(json_t *row)) {
    json_t *answer = NULL;
    long http = tg__remote_call_once(remote, "GET", path, NULL, &answer);
    if (http != 200 || remote->json) {
        return tg__remote_finish(remote, http, answer);
    }
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(answer, rows), i, row) {
        print_row(row);
    }
    json_decref(answer);
    return TG__EXIT_OK;
}

int tg__remote_finish(const tg__remote *remote, long status, json_t *answer) {
    if (status < 0) {
        json_decref(answer);
        return TG__EXIT_FAILURE;
    }
    char *text = answer ? json_dumps(answer, JSON_INDENT(2)) : NULL;
    FILE *stream = status == 200 || remote->json ? stdout : stderr;
    fprintf(stream, "%s\n", text ? text : "(no JSON answer)");
    free(text);
    json_decref(answer);
    if (status == 401) {
        fprintf(stderr, "tollgate: the daemon did not accept the key: set TOLLGATE_KEY (or "
                        "--key) to a key it knows\n");
    }
    if (status == 402) {
        return TG__EXIT_REFUSED;
    }
    if (status >= 400 && status < 500) {
        return TG__EXIT_REJECTED;
    }
    return status == 200 ? TG__EXIT_OK : TG__EXIT_FAILURE;
}

/* ---- request paths ------------------------------------------------------------------- */

bool tg__cli_budget_url(const char *prefix, const char *budget, char *out, size_t size, char *error,
                        size_t error_size) {
    size_t used = (size_t)snprintf(out, size, "%s", prefix);
    if (budget[0] == '\0') {
        snprintf(error, error_size, "the budget path is empty");
        return false;
    }
    for (const char *at = budget;; at++) {
        size_t length = strcspn(at, "/");
        if (length == 0 || (length == 1 && at[0] == '.') ||
            (length == 2 && at[0] == '.' && at[1] == '.')) {
            snprintf(error, error_size,
                     "budget path '%.300s': a segment is %s; name each level, as in "
                     "team/support-agent",
                     budget, length == 0 ? "empty" : "'.' or '..'");
            return false;
        }
        char *segment = curl_easy_escape(NULL, at, (int)length);
        if (segment == NULL) {
            snprintf(error, error_size, "out of memory");
            return false;
        }
        int wrote = snprintf(out + used, used < size ? size - used : 0, "%s%s",
                             at == budget ? "" : "/", segment);
        curl_free(segment);
        used += (size_t)wrote;
        if (used >= size) {
            snprintf(error, error_size, "budget path '%.64s...' is too long", budget);
            return false;
        }
        at += length;
        if (*at == '\0') {
            return true;
        }
    }
}

bool tg__cli_whole_number(const char *text, int64_t max, int64_t *out) {
    int64_t value = 0;
    if (text[0] == '\0' || strlen(text) > 19) {
        return false;
    }
    for (const char *c = text; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || value > (max - (*c - '0')) / 10) {
            return false;
        }
        value = value * 10 + (*c - '0');
    }
    *out = value;
    return true;
}

/* ---- hold, commit, release, charge -------------------------------------------------------- */

static const tg__cli_option hold_options[] = {
    {"tool", "NAME", "the tool the money is for (policy rules classify by it)"},
    {"model", "NAME", "the model the money is for"},
    {"idempotency-key", "KEY", "a retry with the same key changes nothing and replays"},
    TG__CLI_REMOTE_OPTIONS,
    {NULL, NULL, NULL}};
static const tg__cli_option settle_options[] = {
    {"idempotency-key", "KEY", "a retry with the same key changes nothing and replays"},
    TG__CLI_REMOTE_OPTIONS,
    {NULL, NULL, NULL}};

static const tg__cli_command hold_command = {
    .name = "tollgate hold",
    .synopsis = "tollgate hold BUDGET AMOUNT [--tool NAME] [--model NAME] [--idempotency-key KEY]",
    .about = "Holds AMOUNT (decimal money, \"0.25\") on BUDGET and every budget above it\n"
             "before a paid action runs; prints the hold's id. Commit or release it after.\n",
    .options = hold_options,
    .arguments = "BUDGET AMOUNT",
    .positional_min = 2,
    .positional_max = 2,
    .examples = "  tollgate hold team/coding-agent 0.25 --tool web_search\n" TG__CLI_EXIT_CODES};
static const tg__cli_command commit_command = {
    .name = "tollgate commit",
    .synopsis = "tollgate commit HOLD_ID ACTUAL [--idempotency-key KEY]",
    .about = "Charges what the held action really cost (ACTUAL, decimal money) and ends the "
             "hold.\n",
    .options = settle_options,
    .arguments = "HOLD_ID ACTUAL",
    .positional_min = 2,
    .positional_max = 2,
    .examples = "  tollgate commit 17 0.19\n" TG__CLI_EXIT_CODES};
static const tg__cli_command release_command = {
    .name = "tollgate release",
    .synopsis = "tollgate release HOLD_ID [--idempotency-key KEY]",
    .about = "Ends a hold without charging: the action did not run.\n",
    .options = settle_options,
    .arguments = "HOLD_ID",
    .positional_min = 1,
    .positional_max = 1,
    .examples = "  tollgate release 17\n" TG__CLI_EXIT_CODES};
static const tg__cli_command charge_command = {
    .name = "tollgate charge",
    .synopsis = "tollgate charge BUDGET COST [--tool NAME] [--model NAME] [--idempotency-key KEY]",
    .about = "Records a cost that happened without a hold (refused like a hold when the\n"
             "budget has no room).\n",
    .options = hold_options,
    .arguments = "BUDGET COST",
    .positional_min = 2,
    .positional_max = 2,
    .examples = "  tollgate charge team/coding-agent 0.42 --model gpt-4o\n" TG__CLI_EXIT_CODES};

static int action(const tg__cli_command *command, int argc, char **argv) {
    tg__cli_args args;
    tg__remote remote;
    int code = tg__remote_args_run(command, argc, argv, &args, &remote);
    if (code >= 0) {
        return code;
    }
    bool by_hold = command == &commit_command || command == &release_command;
    const char *first = args.positional[0];
    const char *second = args.positional_count > 1 ? args.positional[1] : NULL;
    char path[TG__CLI_PATH_SIZE_MAX];
    json_t *body = json_object();
    if (by_hold) {
        int64_t id = 0;
        if (!tg__cli_whole_number(first, INT64_MAX, &id) || id == 0) {
            json_decref(body);
            return tg__cli_usage_error(command,
                                       "HOLD_ID is the number `tollgate hold` printed, "
                                       "not '%.64s'",
                                       first);
        }
        snprintf(path, sizeof path, "/v1/holds/%" PRId64 "/%s", id, command->name + 9);
        if (second != NULL) {
            json_object_set_new(body, "actual", json_string(second));
        }
    } else {
        char error[TG__CLI_ERROR_SIZE + TG_PATH_SIZE_MAX];
        if (!tg__cli_budget_url("", first, path, sizeof path, error, sizeof error)) {
            json_decref(body);
            return tg__cli_usage_error(command, "%s", error);
        }
        bool hold = command == &hold_command;
        snprintf(path, sizeof path, hold ? "/v1/holds" : "/v1/charges");
        json_object_set_new(body, "budget", json_string(first));
        json_object_set_new(body, hold ? "amount" : "cost", json_string(second));
    }
    static const char *const names[][2] = {
        {"tool", "tool"}, {"model", "model"}, {"idempotency-key", "idempotency_key"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *value = tg__cli_arg(command, &args, names[i][0]);
        if (value != NULL) {
            json_object_set_new(body, names[i][1], json_string(value));
        }
    }
    json_t *answer = NULL;
    long status = tg__remote_call_once(&remote, "POST", path, body, &answer);
    json_decref(body);
    return tg__remote_finish(&remote, status, answer);
}

/* ---- status -----------------------------------------------------------------------------------
 */

/* "low,normal" for the classes revoked on a budget (as GET /v1/budgets shows them). */
static void revoked_classes(json_t *budget, char *out, size_t size) {
    json_t *classes = json_object_get(budget, "classes");
    size_t used = 0;
    out[0] = '\0';
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        const char *name = tg_class_str((tg_class)c);
        if (json_is_true(json_object_get(json_object_get(classes, name), "revoked")) &&
            used < size) {
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "," : "", name);
        }
    }
}

static void print_bar(json_t *budget) {
    int64_t spent = json_integer_value(json_object_get(budget, "spent_micros"));
    int64_t held = json_integer_value(json_object_get(budget, "held_micros"));
    json_t *limit_json = json_object_get(budget, "limit_micros");
    json_t *threshold_json = json_object_get(budget, "threshold_micros");
    char spent_text[48];
    char limit_text[48] = "no limit";
    tg_money_format(spent, spent_text, sizeof spent_text);
    char bar[BAR_WIDTH + 1];
    memset(bar, ' ', BAR_WIDTH);
    bar[BAR_WIDTH] = '\0';
    if (json_is_integer(limit_json) && json_integer_value(limit_json) > 0) {
        int64_t limit = json_integer_value(limit_json);
        tg_money_format(limit, limit_text, sizeof limit_text);
        /* '#' spent, '+' held, '|' the revocation threshold. */
        int filled = (int)(spent >= limit ? BAR_WIDTH : spent * BAR_WIDTH / limit);
        int holding =
            (int)((spent + held) >= limit ? BAR_WIDTH : (spent + held) * BAR_WIDTH / limit);
        for (int i = 0; i < BAR_WIDTH; i++) {
            bar[i] = i < filled ? '#' : i < holding ? '+' : '.';
        }
        if (json_is_integer(threshold_json)) {
            int64_t mark = json_integer_value(threshold_json) * BAR_WIDTH / limit;
            if (mark >= 0 && mark < BAR_WIDTH) {
                bar[mark] = '|';
            }
        }
    }
    char revoked[64];
    revoked_classes(budget, revoked, sizeof revoked);
    printf("%-40s [%s] %s / %s%s%s%s%s\n", json_string_value(json_object_get(budget, "path")), bar,
           spent_text, limit_text,
           json_is_true(json_object_get(budget, "frozen")) ? "  FROZEN" : "",
           json_is_true(json_object_get(budget, "locked")) ? "  LOCKED (overrun)" : "",
           revoked[0] ? "  REVOKED: " : "", revoked);
}

static const tg__cli_option status_options[] = {TG__CLI_REMOTE_OPTIONS, {NULL, NULL, NULL}};
static const tg__cli_command status_command = {
    .name = "tollgate status",
    .synopsis = "tollgate status [PREFIX]",
    .about = "Every budget (or those under PREFIX) with a bar: '#' spent, '+' held, '|' the\n"
             "revocation threshold; then spent / limit, FROZEN, and REVOKED: with the impact\n"
             "classes refused there now.\n",
    .options = status_options,
    .arguments = "PREFIX",
    .positional_min = 0,
    .positional_max = 1,
    .examples = "  tollgate status\n  tollgate status team/support-agent\n" TG__CLI_EXIT_CODES};

static int status(int argc, char **argv) {
    tg__cli_args args;
    tg__remote remote;
    int code = tg__remote_args_run(&status_command, argc, argv, &args, &remote);
    if (code >= 0) {
        return code;
    }
    char path[TG__CLI_PATH_SIZE_MAX] = "/v1/budgets?limit=1000";
    if (args.positional_count > 0) {
        char *prefix = curl_easy_escape(NULL, args.positional[0], 0);
        snprintf(path, sizeof path, "/v1/budgets?limit=1000&prefix=%s", prefix ? prefix : "");
        curl_free(prefix);
    }
    return tg__remote_list(&remote, path, "budgets", print_bar);
}

int tg__cli_remote(int argc, char **argv) {
    const char *name = argv[0];
    if (strcmp(name, "budget") == 0) {
        return tg__cli_budget(argc, argv);
    }
    if (strcmp(name, "events") == 0) {
        return tg__cli_events(argc, argv);
    }
    if (strcmp(name, "approvals") == 0 || strcmp(name, "approve") == 0 ||
        strcmp(name, "deny") == 0) {
        return tg__cli_approvals(argc, argv);
    }
    if (strcmp(name, "status") == 0) {
        return status(argc - 1, argv + 1);
    }
    static const tg__cli_command *const actions[] = {&hold_command, &commit_command,
                                                     &release_command, &charge_command};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strcmp(actions[i]->name + 9, name) == 0) {
            return action(actions[i], argc - 1, argv + 1);
        }
    }
    return TG__EXIT_USAGE;
}
