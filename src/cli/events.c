/*
 * events: `tollgate events --failed` lists the notifications Tollgate gave up
 * on after retrying for retry.give_up_after_ms. With --db FILE (or --config
 * FILE, for its store.path) it reads the store file directly, which works
 * while the daemon runs (WAL) and when it is down; otherwise it asks the
 * daemon (GET /v1/notify/failed) like the other remote commands.
 *
 * It also holds `tollgate events --follow`'s reader of the daemon's event stream
 * (GET /v1/events/stream): remote.c pages the backlog, then follows here, and
 * reconnects with Last-Event-ID when the daemon restarts, so nothing is missed or
 * printed twice.
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

/* ---- events --follow: the event stream -------------------------------------------- */

#define STREAM_LINE_SIZE_MAX (1024 * 1024) /* one SSE line; an event is far smaller */
#define STREAM_SILENCE_S 60L /* no byte for this long (keep-alives come every 15 s): reconnect */

typedef struct {
    void (*print)(json_t *event, void *user);
    void *user;
    uint64_t *since; /* the last event printed: the Last-Event-ID of a reconnect */
    CURL *curl;      /* the transfer being read */
    char *line;      /* the line being read; STREAM_LINE_SIZE_MAX bytes */
    size_t line_size;
    uint64_t id;     /* the event being read: its id line */
    json_t *data;    /* ... and its data line */
    char error[512]; /* a non-200 answer's body, for the message */
    size_t error_size;
    long status;   /* the HTTP status, read at the first body byte */
    bool overflow; /* a line past the maximum: not a Tollgate stream */
} stream_reader;

static void stream_line(stream_reader *r) {
    r->line[r->line_size] = '\0';
    if (r->line_size == 0) {
        /* An event ends: printed once (ids only grow, so a repeat is never printed). */
        if (r->data != NULL && r->id > *r->since) {
            r->print(r->data, r->user);
            *r->since = r->id;
        }
        json_decref(r->data);
        r->data = NULL;
        r->id = 0;
    } else if (strncmp(r->line, "id: ", 4) == 0) {
        r->id = strtoull(r->line + 4, NULL, 10);
    } else if (strncmp(r->line, "data: ", 6) == 0) {
        json_decref(r->data);
        r->data = json_loads(r->line + 6, 0, NULL);
    } /* comments (keep-alives), event: and retry: lines need nothing */
}

static size_t stream_write(char *data, size_t size, size_t count, void *user) {
    stream_reader *r = user;
    size_t length = size * count;
    if (r->status == 0) {
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
    }
    if (r->status != 200) {
        size_t room = sizeof r->error - 1 - r->error_size;
        size_t take = length < room ? length : room;
        memcpy(r->error + r->error_size, data, take);
        r->error_size += take;
        r->error[r->error_size] = '\0';
        return length;
    }
    for (size_t i = 0; i < length; i++) {
        if (data[i] == '\n') {
            stream_line(r);
            r->line_size = 0;
        } else if (data[i] != '\r') {
            if (r->line_size + 1 >= STREAM_LINE_SIZE_MAX) {
                r->overflow = true;
                return 0; /* aborts the transfer */
            }
            r->line[r->line_size++] = data[i];
        }
    }
    fflush(stdout);
    return length;
}

/* One connection, read until the stream ends. Returns the HTTP status (0: unreachable). */
static long stream_once(const char *url, const char *key, stream_reader *r, CURLcode *code) {
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        *code = CURLE_OUT_OF_MEMORY;
        return 0;
    }
    char address[2048], authorization[1024], last[64];
    snprintf(address, sizeof address, "%s/v1/events/stream", url);
    snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", key);
    snprintf(last, sizeof last, "Last-Event-ID: %" PRIu64, *r->since);
    struct curl_slist *headers = curl_slist_append(NULL, authorization);
    headers = curl_slist_append(headers, last);
    curl_easy_setopt(curl, CURLOPT_URL, address);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, STREAM_SILENCE_S);
    r->curl = curl;
    r->status = 0;
    r->line_size = 0;
    r->error_size = 0;
    r->error[0] = '\0';
    r->overflow = false;
    *code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    json_decref(r->data);
    r->data = NULL;
    r->id = 0;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

int tg__cli_events_stream(const char *url, const char *key, uint64_t *since,
                          void (*print)(json_t *event, void *user), void *user) {
    stream_reader r = {.print = print, .user = user, .since = since};
    r.line = malloc(STREAM_LINE_SIZE_MAX);
    if (r.line == NULL) {
        return TG__EXIT_FAILURE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int exit_code = TG__EXIT_FAILURE;
    bool connected = false; /* once the stream ran, an unreachable daemon is waited for */
    for (;;) {
        CURLcode code = CURLE_OK;
        long status = stream_once(url, key, &r, &code);
        if (status == 501) {
            exit_code = -1; /* no durable events to stream (memory store): the caller polls */
            break;
        }
        if (r.overflow) {
            fprintf(stderr, "tollgate: the event stream sent a line past %d bytes\n",
                    STREAM_LINE_SIZE_MAX);
            break;
        }
        if (status != 200 && status != 0) {
            fprintf(stderr, "tollgate: the daemon answered %ld %s\n", status, r.error);
            exit_code = status >= 400 && status < 500 ? TG__EXIT_REJECTED : TG__EXIT_FAILURE;
            if (status != 503 || !connected) {
                break;
            }
        }
        if (status == 0 && !connected) {
            fprintf(stderr, "tollgate: cannot reach %s: %s\n", url, curl_easy_strerror(code));
            break;
        }
        connected = connected || status == 200;
        sleep(1); /* the daemon restarts, or a stream was cut: resume from the last id */
    }
    curl_global_cleanup();
    free(r.line);
    return exit_code;
}
