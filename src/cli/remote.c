/*
 * remote: `tollgate budget|hold|commit|release|charge|events|status`. Each is one
 * or a few HTTP calls to the daemon found through --url/TOLLGATE_URL and
 * --key/TOLLGATE_KEY; the answer is printed for people, or as JSON with --json.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "cli/events.h"
#include "tollgate.h"

#define RESPONSE_SIZE_MAX (16 * 1024 * 1024) /* largest answer we accept */
#define ARGS_MAX 16                          /* positional arguments */

typedef struct {
    const char *url;
    const char *key;
    bool json;
    bool follow;
    const char *options[8][2]; /* --name value pairs not handled here */
    int options_count;
    const char *args[ARGS_MAX];
    int args_count;
} command;

typedef struct {
    char *data;
    size_t size;
} response;

static size_t collect(char *data, size_t size, size_t count, void *user) {
    response *out = user;
    size_t length = size * count;
    if (out->size + length > RESPONSE_SIZE_MAX) {
        return 0; /* aborts the transfer */
    }
    char *grown = realloc(out->data, out->size + length + 1);
    if (grown == NULL) {
        return 0;
    }
    out->data = grown;
    memcpy(out->data + out->size, data, length);
    out->size += length;
    out->data[out->size] = '\0';
    return length;
}

long tg__cli_call(const char *base_url, const char *key, const char *method, const char *path,
                  json_t *body, json_t **out) {
    CURL *curl = curl_easy_init();
    response answer = {NULL, 0};
    char url[2048];
    char authorization[512];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", key);
    struct curl_slist *headers = curl_slist_append(NULL, authorization);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
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
        *out = answer.data ? json_loads(answer.data, 0, NULL) : NULL;
    } else {
        fprintf(stderr, "tollgate: cannot reach %s: %s\n", base_url, curl_easy_strerror(code));
    }
    free(answer.data);
    free(text);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

static long call(const command *cmd, const char *method, const char *path, json_t *body,
                 json_t **out) {
    return tg__cli_call(cmd->url, cmd->key, method, path, body, out);
}

static const char *option(const command *cmd, const char *name) {
    for (int i = 0; i < cmd->options_count; i++) {
        if (strcmp(cmd->options[i][0], name) == 0) {
            return cmd->options[i][1];
        }
    }
    return NULL;
}

static void money(int64_t micros, char *out, size_t size) {
    char text[40];
    tg_money_format(micros, text, sizeof text);
    snprintf(out, size, "%s", text);
}

/* Prints an answer and turns its status into an exit code. */
static int finish(const command *cmd, long status, json_t *answer) {
    if (status < 0) {
        return TG__EXIT_FAILURE;
    }
    if (cmd->json || status != 200) {
        char *text = answer ? json_dumps(answer, JSON_INDENT(2)) : NULL;
        FILE *stream = status == 200 || cmd->json ? stdout : stderr;
        fprintf(stream, "%s\n", text ? text : "(no JSON answer)");
        free(text);
    } else {
        char *text = json_dumps(answer, JSON_INDENT(2));
        printf("%s\n", text ? text : "");
        free(text);
    }
    json_decref(answer);
    if (status == 402) {
        return TG__EXIT_REFUSED;
    }
    if (status >= 400 && status < 500) {
        return TG__EXIT_REJECTED;
    }
    return status == 200 ? TG__EXIT_OK : TG__EXIT_FAILURE;
}

static void print_bar(json_t *budget) {
    int64_t spent = json_integer_value(json_object_get(budget, "spent_micros"));
    int64_t held = json_integer_value(json_object_get(budget, "held_micros"));
    json_t *limit_json = json_object_get(budget, "limit_micros");
    json_t *threshold_json = json_object_get(budget, "threshold_micros");
    char spent_text[48];
    char limit_text[48] = "no limit";
    money(spent, spent_text, sizeof spent_text);
    char bar[41];
    memset(bar, ' ', 40);
    bar[40] = '\0';
    if (json_is_integer(limit_json) && json_integer_value(limit_json) > 0) {
        int64_t limit = json_integer_value(limit_json);
        money(limit, limit_text, sizeof limit_text);
        /* '#' spent, '+' held, '|' the revocation threshold. */
        int filled = (int)(spent >= limit ? 40 : spent * 40 / limit);
        int holding = (int)((spent + held) >= limit ? 40 : (spent + held) * 40 / limit);
        for (int i = 0; i < 40; i++) {
            bar[i] = i < filled ? '#' : i < holding ? '+' : '.';
        }
        if (json_is_integer(threshold_json)) {
            int64_t mark = json_integer_value(threshold_json) * 40 / limit;
            if (mark >= 0 && mark < 40) {
                bar[mark] = '|';
            }
        }
    }
    printf("%-40s [%s] %s / %s%s%s\n", json_string_value(json_object_get(budget, "path")), bar,
           spent_text, limit_text,
           json_is_true(json_object_get(budget, "frozen")) ? "  FROZEN" : "",
           json_is_true(json_object_get(budget, "locked")) ? "  LOCKED (overrun)" : "");
}

static int status_command(const command *cmd) {
    json_t *answer = NULL;
    long status = call(cmd, "GET", "/v1/budgets", NULL, &answer);
    if (status != 200 || cmd->json) {
        return finish(cmd, status, answer);
    }
    size_t i;
    json_t *budget;
    json_array_foreach(json_object_get(answer, "budgets"), i, budget) {
        print_bar(budget);
    }
    json_decref(answer);
    return TG__EXIT_OK;
}

static void print_event(json_t *event, void *user) {
    const command *cmd = user;
    char *line = json_dumps(event, JSON_COMPACT);
    if (cmd->json) {
        printf("%s\n", line);
    } else {
        printf("%-6" JSON_INTEGER_FORMAT " %-18s %s %s\n",
               json_integer_value(json_object_get(event, "id")),
               json_string_value(json_object_get(event, "kind")),
               json_string_value(json_object_get(event, "budget")), line);
    }
    free(line);
}

static int events_command(const command *cmd) {
    uint64_t since = option(cmd, "since") ? strtoull(option(cmd, "since"), NULL, 10) : 0;
    bool stream = cmd->follow; /* after the backlog: the event stream, else polling */
    for (;;) {
        char path[128];
        json_t *answer = NULL;
        snprintf(path, sizeof path, "/v1/events?since=%" PRIu64 "&limit=1000", since);
        long status = call(cmd, "GET", path, NULL, &answer);
        if (status != 200) {
            return finish(cmd, status, answer);
        }
        size_t i;
        json_t *event;
        json_t *events = json_object_get(answer, "events");
        json_array_foreach(events, i, event) {
            print_event(event, (void *)cmd);
        }
        bool caught_up = json_array_size(events) < 1000;
        since = (uint64_t)json_integer_value(json_object_get(answer, "next"));
        json_decref(answer);
        fflush(stdout);
        if (!cmd->follow) {
            return TG__EXIT_OK;
        }
        if (stream && caught_up) {
            int code = tg__cli_events_stream(cmd->url, cmd->key, &since, print_event, (void *)cmd);
            if (code >= 0) {
                return code;
            }
            stream = false; /* the daemon has no stream (memory store): poll */
        }
        if (!caught_up) {
            continue;
        }
        sleep(1);
    }
}

static json_t *spec_body(const command *cmd) {
    json_t *body = json_object();
    const char *text;
    if ((text = option(cmd, "limit")) != NULL) {
        json_object_set_new(body, "limit", json_string(text));
    }
    if ((text = option(cmd, "window")) != NULL) {
        json_object_set_new(body, "window", json_string(text));
    }
    if ((text = option(cmd, "revoke-at")) != NULL) {
        json_object_set_new(body, "revoke_at", json_string(text));
    }
    if ((text = option(cmd, "timezone")) != NULL) {
        json_object_set_new(body, "timezone", json_string(text));
    }
    return body;
}

static int budget_command(const command *cmd) {
    const char *verb = cmd->args_count > 0 ? cmd->args[0] : "";
    const char *target = cmd->args_count > 1 ? cmd->args[1] : NULL;
    char path[TG_PATH_SIZE_MAX + 64];
    json_t *answer = NULL;
    json_t *body = NULL;
    long status;
    if (strcmp(verb, "list") == 0) {
        snprintf(path, sizeof path, "/v1/budgets?prefix=%s", target ? target : "");
        status = call(cmd, "GET", path, NULL, &answer);
    } else if (target == NULL) {
        fputs("usage: tollgate budget set|show|list|freeze|unfreeze|history PATH\n", stderr);
        return TG__EXIT_USAGE;
    } else if (strcmp(verb, "show") == 0 || strcmp(verb, "history") == 0) {
        snprintf(path, sizeof path, "/v1/budgets/%s%s", target, verb[0] == 'h' ? "/history" : "");
        status = call(cmd, "GET", path, NULL, &answer);
    } else if (strcmp(verb, "freeze") == 0 || strcmp(verb, "unfreeze") == 0) {
        snprintf(path, sizeof path, "/v1/budgets/%s/%s", target, verb);
        status = call(cmd, "POST", path, NULL, &answer);
    } else if (strcmp(verb, "set") == 0) {
        snprintf(path, sizeof path, "/v1/budgets/%s", target);
        body = spec_body(cmd);
        status = call(cmd, option(cmd, "replace") ? "PUT" : "PATCH", path, body, &answer);
        if (status == 404 && !option(cmd, "replace")) {
            json_decref(answer);
            answer = NULL;
            status = call(cmd, "PUT", path, body, &answer); /* new budget */
        }
    } else {
        fputs("usage: tollgate budget set|show|list|freeze|unfreeze|history PATH\n", stderr);
        return TG__EXIT_USAGE;
    }
    json_decref(body);
    return finish(cmd, status, answer);
}

static int action_command(const char *name, const command *cmd) {
    json_t *body = json_object();
    char path[128] = "/v1/holds";
    const char *first = cmd->args_count > 0 ? cmd->args[0] : NULL;
    const char *second = cmd->args_count > 1 ? cmd->args[1] : NULL;
    bool needs_two = strcmp(name, "release") != 0;
    if (first == NULL || (needs_two && second == NULL)) {
        fprintf(stderr, "usage: see `tollgate %s --help`\n", name);
        json_decref(body);
        return TG__EXIT_USAGE;
    }
    if (strcmp(name, "hold") == 0 || strcmp(name, "charge") == 0) {
        json_object_set_new(body, "budget", json_string(first));
        json_object_set_new(body, name[0] == 'h' ? "amount" : "cost", json_string(second));
        if (name[0] == 'c') {
            snprintf(path, sizeof path, "/v1/charges");
        }
    } else {
        snprintf(path, sizeof path, "/v1/holds/%s/%s", first, name);
        if (second != NULL) {
            json_object_set_new(body, "actual", json_string(second));
        }
    }
    const char *names[] = {"tool", "model", "idempotency-key"};
    const char *fields[] = {"tool", "model", "idempotency_key"};
    for (int i = 0; i < 3; i++) {
        if (option(cmd, names[i]) != NULL && (i == 2 || name[0] == 'h' || name[1] == 'h')) {
            json_object_set_new(body, fields[i], json_string(option(cmd, names[i])));
        }
    }
    json_t *answer = NULL;
    long status = call(cmd, "POST", path, body, &answer);
    json_decref(body);
    return finish(cmd, status, answer);
}

static const char *help_text(const char *name) {
    if (strcmp(name, "budget") == 0) {
        return "usage: tollgate budget set PATH [--limit 500.00] [--window day] "
               "[--revoke-at 480.00] [--timezone Europe/Paris] [--replace]\n"
               "       tollgate budget show|freeze|unfreeze|history PATH\n"
               "       tollgate budget list [PREFIX]\n"
               "example: tollgate budget set team/support-agent --limit 500 --revoke-at 480\n";
    }
    if (strcmp(name, "hold") == 0) {
        return "usage: tollgate hold BUDGET AMOUNT [--tool T] [--model M] [--idempotency-key K]\n"
               "example: tollgate hold team/coding-agent 0.25 --tool web_search\n";
    }
    if (strcmp(name, "commit") == 0) {
        return "usage: tollgate commit HOLD_ID ACTUAL [--idempotency-key K]\n"
               "example: tollgate commit 17 0.19\n";
    }
    if (strcmp(name, "release") == 0) {
        return "usage: tollgate release HOLD_ID [--idempotency-key K]\nexample: tollgate release "
               "17\n";
    }
    if (strcmp(name, "charge") == 0) {
        return "usage: tollgate charge BUDGET COST [--tool T] [--model M] [--idempotency-key K]\n"
               "example: tollgate charge team/coding-agent 0.42 --model gpt-4o\n";
    }
    if (strcmp(name, "events") == 0) {
        return "usage: tollgate events [--since ID] [--follow]\nexample: tollgate events "
               "--follow\n";
    }
    return "usage: tollgate status\n  every budget with a bar: # spent, + held, | threshold\n";
}

int tg__cli_remote(int argc, char **argv) {
    command cmd = {.url = getenv("TOLLGATE_URL"), .key = getenv("TOLLGATE_KEY")};
    const char *name = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(help_text(name), stdout);
            fputs("common: --url URL (TOLLGATE_URL), --key KEY (TOLLGATE_KEY), --json\n"
                  "exit codes: 0 ok, 1 failure, 2 usage, 3 refused (402), 4 rejected (4xx)\n",
                  stdout);
            return TG__EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            cmd.json = true;
        } else if (strcmp(argv[i], "--follow") == 0) {
            cmd.follow = true;
        } else if (strcmp(argv[i], "--replace") == 0 && cmd.options_count < 8) {
            cmd.options[cmd.options_count][0] = "replace";
            cmd.options[cmd.options_count++][1] = "1";
        } else if (strncmp(argv[i], "--", 2) == 0 && i + 1 < argc) {
            if (strcmp(argv[i], "--url") == 0) {
                cmd.url = argv[++i];
            } else if (strcmp(argv[i], "--key") == 0) {
                cmd.key = argv[++i];
            } else if (cmd.options_count < 8) {
                cmd.options[cmd.options_count][0] = argv[i] + 2;
                cmd.options[cmd.options_count++][1] = argv[++i];
            }
        } else if (argv[i][0] != '-' && cmd.args_count < ARGS_MAX) {
            cmd.args[cmd.args_count++] = argv[i];
        } else {
            fprintf(stderr, "tollgate %s: unknown option '%s'\n", name, argv[i]);
            return TG__EXIT_USAGE;
        }
    }
    if (cmd.url == NULL) {
        cmd.url = "http://127.0.0.1:8420";
    }
    if (cmd.key == NULL) {
        cmd.key = "";
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code;
    if (strcmp(name, "budget") == 0) {
        code = budget_command(&cmd);
    } else if (strcmp(name, "status") == 0) {
        code = status_command(&cmd);
    } else if (strcmp(name, "events") == 0) {
        code = events_command(&cmd);
    } else {
        code = action_command(name, &cmd);
    }
    curl_global_cleanup();
    return code;
}
