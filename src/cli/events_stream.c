/*
 * events_stream: `tollgate events --follow`'s reader of the daemon's event stream
 * (GET /v1/events/stream): events.c pages the backlog, then follows here, and
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

#define STREAM_LINE_SIZE_MAX (1024 * 1024) /* one SSE line; an event is far smaller */
#define STREAM_SILENCE_S 60L /* no byte for this long (keep-alives come every 15 s): reconnect */

typedef struct {
    bool (*print)(json_t *event, void *user); /* false: stop following */
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
    bool stopped;  /* print said stop (its output is gone) */
} stream_reader;

static void stream_line(stream_reader *r) {
    r->line[r->line_size] = '\0';
    if (r->line_size == 0) {
        /* An event ends: printed once (ids only grow, so a repeat is never printed). */
        if (r->data != NULL && r->id > *r->since) {
            r->stopped = !r->print(r->data, r->user);
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
            if (r->stopped) {
                return 0; /* aborts the transfer */
            }
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
                          bool (*print)(json_t *event, void *user), void *user) {
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
        if (r.stopped) {
            break; /* print said why */
        }
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
