/*
 * events: `tollgate events`, the event log: one page (--since), or all of it and
 * then every new event as it happens (--follow, through events_stream.c); and
 * `tollgate events --failed`, the notifications Tollgate gave up on after
 * retrying for retry.give_up_after_ms. With --db FILE (or --config FILE, for its
 * store.path) --failed reads the store file directly, which works while the
 * daemon runs (WAL) and when it is down; otherwise it asks the daemon.
 *
 * A follower lives as long as its terminal: SIGHUP (`kill -HUP` of its process
 * group, a daemon reload signalled too broadly) is noted on stderr and ignored,
 * and when its output goes away it says so and ends, instead of dying silently.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "cli/events.h"
#include "cli/remote.h"
#include "notify/notify.h"
#include "config/config.h"

#define LOG_PAGE 1000 /* events per GET /v1/events page */

static const tg__cli_option options[] = {
    {"since", "ID", "the log after event id ID (default 0: from the start)"},
    {"follow", NULL, "after the log, print each new event as it happens (Ctrl-C stops)"},
    {"failed", NULL, "list the notifications given up on instead (docs/notifications.md)"},
    {"db", "FILE", "with --failed: read this SQLite ledger file, no daemon needed"},
    {"config", "FILE", "with --failed: read the ledger file named by this config's store"},
    {"after", "ID", "with --failed: entries after this event id"},
    {"limit", "N", "with --failed: at most N entries (1..1000, default 100)"},
    TG__CLI_REMOTE_OPTIONS,
    {NULL, NULL, NULL}};

static const tg__cli_command command = {
    .name = "tollgate events",
    .synopsis = "tollgate events [--since ID] [--follow] [--json]\n"
                "       tollgate events --failed [--db FILE | --config FILE] [--after ID] "
                "[--limit N] [--json]",
    .about = "The event log (one page of up to 1000 after --since), or with --follow all of it\n"
             "and then every event as it becomes durable, reconnecting when the daemon\n"
             "restarts; SIGHUP does not stop a follower. --failed lists the notifications\n"
             "given up on: event, sink, attempts and the last error.\n",
    .options = options,
    .positional_max = 0,
    .examples = "  tollgate events --since 1800\n"
                "  tollgate events --follow --json\n"
                "  tollgate events --failed --db tollgate.db\n" TG__CLI_EXIT_CODES};

/* ---- --failed --------------------------------------------------------------------------- */

/* The store file: --db, or the store.path of --config. */
static int local_list(const char *db, const char *config_file, uint64_t after, int64_t limit,
                      json_t **out) {
    const char *path = db;
    tg__config *config = NULL;
    tg_error err = {0};
    if (path == NULL) {
        if (tg__config_new(config_file, &config, &err) != TG_OK) {
            fprintf(stderr, "tollgate: %s\n", err.message);
            return TG__EXIT_FAILURE;
        }
        if (strcmp(config->store, "redis") == 0) {
            /* Its dead letters are in Redis, which the daemons read for it. */
            fprintf(stderr,
                    "tollgate: %s keeps its ledger in redis: ask a daemon instead "
                    "(tollgate events --failed, without --config)\n",
                    config_file);
            free(config);
            return TG__EXIT_FAILURE;
        }
        path = config->store_path;
    }
    char *text = NULL;
    tg_status status = tg__notify_failed_json(path, after, limit, &text, &err);
    free(config);
    if (status != TG_OK) {
        fprintf(stderr, "tollgate: %s\n", err.message);
        return TG__EXIT_FAILURE;
    }
    *out = json_loads(text, 0, NULL);
    free(text);
    return *out ? TG__EXIT_OK : TG__EXIT_FAILURE;
}

static int remote_list(const tg__remote *remote, uint64_t after, int64_t limit, json_t **out) {
    char path[128];
    snprintf(path, sizeof path, "/v1/notify/failed?after=%" PRIu64 "&limit=%" PRId64, after, limit);
    long status = tg__remote_call_once(remote, "GET", path, NULL, out);
    if (status != 200) {
        char *text = *out ? json_dumps(*out, JSON_COMPACT) : NULL;
        if (status > 0) {
            fprintf(stderr, "tollgate: the daemon answered %ld %s\n", status, text ? text : "");
        }
        free(text);
        json_decref(*out);
        *out = NULL;
        return status >= 400 && status < 500 ? TG__EXIT_REJECTED : TG__EXIT_FAILURE;
    }
    return TG__EXIT_OK;
}

static void print_failed(json_t *answer) {
    json_t *list = json_object_get(answer, "failed");
    if (json_array_size(list) == 0) {
        puts("no failed notifications");
        return;
    }
    printf("%-8s %-16s %-18s %-28s %-8s %s\n", "EVENT", "SINK", "KIND", "BUDGET", "ATTEMPTS",
           "LAST ERROR");
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row) {
        /* The event row may be gone (deleted by hand): its columns are null then. */
        const char *sink = json_string_value(json_object_get(row, "sink"));
        const char *kind = json_string_value(json_object_get(row, "kind"));
        const char *budget = json_string_value(json_object_get(row, "budget"));
        const char *error = json_string_value(json_object_get(row, "last_error"));
        printf("%-8" JSON_INTEGER_FORMAT " %-16s %-18s %-28s %-8" JSON_INTEGER_FORMAT " %s\n",
               json_integer_value(json_object_get(row, "event_id")), sink ? sink : "?",
               kind ? kind : "?", budget ? budget : "?",
               json_integer_value(json_object_get(row, "attempts")), error ? error : "");
    }
}

static int failed(const tg__cli_args *args, const tg__remote *remote) {
    const char *db = tg__cli_arg(&command, args, "db");
    const char *config = tg__cli_arg(&command, args, "config");
    const char *after_text = tg__cli_arg(&command, args, "after");
    const char *limit_text = tg__cli_arg(&command, args, "limit");
    int64_t after = 0, limit = 100;
    if ((after_text != NULL && !tg__cli_whole_number(after_text, INT64_MAX, &after)) ||
        (limit_text != NULL &&
         (!tg__cli_whole_number(limit_text, TG__PAGE_MAX, &limit) || limit == 0))) {
        return tg__cli_usage_error(&command, "--after is an event id and --limit 1..1000");
    }
    json_t *answer = NULL;
    int code = db != NULL || config != NULL
                   ? local_list(db, config, (uint64_t)after, limit, &answer)
                   : remote_list(remote, (uint64_t)after, limit, &answer);
    if (code != TG__EXIT_OK) {
        return code;
    }
    if (remote->json) {
        char *text = json_dumps(answer, JSON_INDENT(2));
        printf("%s\n", text ? text : "");
        free(text);
    } else {
        print_failed(answer);
    }
    json_decref(answer);
    return TG__EXIT_OK;
}

/* ---- the log -------------------------------------------------------------------------------- */

/* Prints one event; false (said on stderr) when standard output is gone. */
static bool print_event(json_t *event, void *user) {
    const tg__remote *remote = user;
    char *line = json_dumps(event, JSON_COMPACT);
    if (remote->json) {
        printf("%s\n", line ? line : "{}");
    } else {
        const char *kind = json_string_value(json_object_get(event, "kind"));
        const char *budget = json_string_value(json_object_get(event, "budget"));
        printf("%-6" JSON_INTEGER_FORMAT " %-18s %s %s\n",
               json_integer_value(json_object_get(event, "id")), kind ? kind : "?",
               budget ? budget : "", line ? line : "{}");
    }
    free(line);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tollgate events: stopped: cannot write to standard output: %s\n",
                strerror(errno));
        return false;
    }
    return true;
}

static void on_hangup(int signal_number) {
    (void)signal_number;
    static const char note[] =
        "tollgate events: SIGHUP ignored, still following (Ctrl-C or SIGTERM stops it)\n";
    ssize_t wrote = write(STDERR_FILENO, note, sizeof note - 1); /* async-signal-safe */
    (void)wrote;
}

static void survive_hangup(void) {
    struct sigaction action = {0};
    action.sa_handler = on_hangup;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGHUP, &action, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed output is a write error, said by print_event */
}

static int log_pages(const tg__remote *remote, uint64_t since, bool follow) {
    bool stream = follow; /* after the backlog: the event stream, else polling */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (;;) {
        char path[128];
        json_t *answer = NULL;
        snprintf(path, sizeof path, "/v1/events?since=%" PRIu64 "&limit=%d", since, LOG_PAGE);
        long status = tg__remote_call(remote, "GET", path, NULL, &answer);
        if (status != 200) {
            curl_global_cleanup();
            return tg__remote_finish(remote, status, answer);
        }
        size_t i;
        json_t *event;
        json_t *events = json_object_get(answer, "events");
        bool printed = true;
        json_array_foreach(events, i, event) {
            printed = printed && print_event(event, (void *)remote);
        }
        bool caught_up = json_array_size(events) < LOG_PAGE;
        since = (uint64_t)json_integer_value(json_object_get(answer, "next"));
        json_decref(answer);
        if (!printed || !follow) {
            curl_global_cleanup();
            return printed ? TG__EXIT_OK : TG__EXIT_FAILURE;
        }
        if (stream && caught_up) {
            int code = tg__cli_events_stream(remote->url, remote->key, &since, print_event,
                                             (void *)remote);
            if (code >= 0) {
                curl_global_cleanup();
                return code;
            }
            stream = false; /* the daemon has no stream (memory store): poll */
        }
        if (caught_up) {
            sleep(1);
        }
    }
}

int tg__cli_events(int argc, char **argv) {
    tg__cli_args args;
    tg__remote remote;
    int code = tg__remote_args_run(&command, argc - 1, argv + 1, &args, &remote);
    if (code >= 0) {
        return code;
    }
    bool failed_list = tg__cli_flag(&command, &args, "failed");
    static const char *const log_only[] = {"since", "follow"};
    static const char *const failed_only[] = {"db", "config", "after", "limit"};
    const char *const *wrong = failed_list ? log_only : failed_only;
    size_t wrong_count = failed_list ? 2 : 4;
    for (size_t i = 0; i < wrong_count; i++) {
        if (tg__cli_flag(&command, &args, wrong[i])) {
            return tg__cli_usage_error(
                &command, "--%s %s", wrong[i],
                failed_list ? "reads the event log, not --failed (which takes --after)"
                            : "goes with --failed");
        }
    }
    if (failed_list && tg__cli_flag(&command, &args, "db") &&
        tg__cli_flag(&command, &args, "config")) {
        return tg__cli_usage_error(&command,
                                   "--db and --config both name the ledger file: give one");
    }
    if (failed_list) {
        return failed(&args, &remote);
    }
    const char *since_text = tg__cli_arg(&command, &args, "since");
    int64_t since = 0;
    if (since_text != NULL && !tg__cli_whole_number(since_text, INT64_MAX, &since)) {
        return tg__cli_usage_error(
            &command, "--since takes an event id (a whole number), not '%.64s'", since_text);
    }
    bool follow = tg__cli_flag(&command, &args, "follow");
    if (follow) {
        survive_hangup();
    }
    return log_pages(&remote, (uint64_t)since, follow);
}
