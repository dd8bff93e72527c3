/*
 * events: `tollgate events --failed` lists the notifications Tollgate gave up
 * on after retrying for retry.give_up_after_ms. With --db FILE (or --config
 * FILE, for its store.path) it reads the store file directly, which works
 * while the daemon runs (WAL) and when it is down; otherwise it asks the
 * daemon (GET /v1/notify/failed) like the other remote commands.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "cli/events.h"
#include "notify/notify.h"
#include "server/server.h"

static const char usage[] =
    "usage: tollgate events --failed [--db FILE | --config FILE] [--after ID] [--limit N] "
    "[--json]\n"
    "       tollgate events --failed [--url URL] [--key KEY] ...   (ask the daemon)\n"
    "  lists the notifications given up on: event, sink, attempts and the last error.\n"
    "example: tollgate events --failed --db tollgate.db\n";

typedef struct {
    const char *db, *config, *url, *key;
    uint64_t after;
    int64_t limit;
    bool json;
} options;

bool tg__cli_events_wants_failed(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--failed") == 0) {
            return true;
        }
    }
    return false;
}

static bool parse(int argc, char **argv, options *o) {
    *o = (options){.url = getenv("TOLLGATE_URL"), .key = getenv("TOLLGATE_KEY"), .limit = 100};
    for (int i = 0; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--failed") == 0) {
            continue;
        } else if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
        } else if (value != NULL && strcmp(argv[i], "--db") == 0) {
            o->db = argv[++i];
        } else if (value != NULL && strcmp(argv[i], "--config") == 0) {
            o->config = argv[++i];
        } else if (value != NULL && strcmp(argv[i], "--url") == 0) {
            o->url = argv[++i];
        } else if (value != NULL && strcmp(argv[i], "--key") == 0) {
            o->key = argv[++i];
        } else if (value != NULL && strcmp(argv[i], "--after") == 0) {
            o->after = strtoull(argv[++i], NULL, 10);
        } else if (value != NULL && strcmp(argv[i], "--limit") == 0) {
            o->limit = atoll(argv[++i]);
        } else {
            return false;
        }
    }
    return o->limit >= 1 && o->limit <= 1000;
}

/* The store file: --db, or the store.path of --config. */
static int local_list(const options *o, json_t **out) {
    const char *path = o->db;
    tg__config *config = NULL;
    tg_error err = {0};
    if (path == NULL) {
        config = malloc(sizeof *config);
        if (config == NULL) {
            return TG__EXIT_FAILURE;
        }
        tg__config_defaults(config);
        if (tg__config_load(o->config, config, &err) != TG_OK) {
            fprintf(stderr, "tollgate: %s\n", err.message);
            free(config);
            return TG__EXIT_FAILURE;
        }
        path = config->store_path;
    }
    char *text = NULL;
    tg_status status = tg__notify_failed_json(path, o->after, o->limit, &text, &err);
    free(config);
    if (status != TG_OK) {
        fprintf(stderr, "tollgate: %s\n", err.message);
        return TG__EXIT_FAILURE;
    }
    *out = json_loads(text, 0, NULL);
    free(text);
    return *out ? TG__EXIT_OK : TG__EXIT_FAILURE;
}

static int remote_list(const options *o, json_t **out) {
    char path[128];
    snprintf(path, sizeof path, "/v1/notify/failed?after=%" PRIu64 "&limit=%" PRId64, o->after,
             o->limit);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long status = tg__cli_call(o->url ? o->url : "http://127.0.0.1:8420", o->key ? o->key : "",
                               "GET", path, NULL, out);
    curl_global_cleanup();
    if (status != 200) {
        char *text = *out ? json_dumps(*out, JSON_COMPACT) : NULL;
        fprintf(stderr, "tollgate: the daemon answered %ld %s\n", status, text ? text : "");
        free(text);
        json_decref(*out);
        *out = NULL;
        return status >= 400 && status < 500 ? TG__EXIT_REJECTED : TG__EXIT_FAILURE;
    }
    return TG__EXIT_OK;
}

static void print_table(json_t *answer) {
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

int tg__cli_events_failed(int argc, char **argv) {
    options o;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return TG__EXIT_OK;
        }
    }
    if (!parse(argc, argv, &o)) {
        fputs(usage, stderr);
        return TG__EXIT_USAGE;
    }
    json_t *answer = NULL;
    int code = o.db || o.config ? local_list(&o, &answer) : remote_list(&o, &answer);
    if (code != TG__EXIT_OK) {
        return code;
    }
    if (o.json) {
        char *text = json_dumps(answer, JSON_INDENT(2));
        printf("%s\n", text ? text : "");
        free(text);
    } else {
        print_table(answer);
    }
    json_decref(answer);
    return TG__EXIT_OK;
}
