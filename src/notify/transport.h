/*
 * transport: getting a body to a sink. Webhooks go through libcurl's multi
 * interface on the sender thread (many in flight, none blocking the others);
 * JSON lines are written to stdout or a file, rotated by size.
 */
#ifndef TG_NOTIFY_TRANSPORT_H
#define TG_NOTIFY_TRANSPORT_H

#include <stdio.h>

#include <curl/curl.h>

#include "notify/config.h"

#define TG__NOTIFY_RESPONSE_KEPT 160 /* bytes of a failed response kept for the error text */

/* One HTTP attempt in flight. */
typedef struct {
    CURL *easy;                 /* owned */
    struct curl_slist *headers; /* owned */
    char *body;                 /* owned: curl reads it in place */
    size_t body_size;
    char response[TG__NOTIFY_RESPONSE_KEPT + 1]; /* start of the answer, for errors */
    size_t response_size;
    void *owner; /* the sender's own record of the attempt */
} tg__webhook;

/*
 * Starts POSTing `body` (taken) to the sink, signed at `now_s` when the sink has
 * a secret, with its headers and timeout; adds it to `multi`. `attempt` goes in
 * X-Tollgate-Attempt. NULL when libcurl cannot set it up (the body is freed).
 */
tg__webhook *tg__webhook_start(CURLM *multi, const tg__notify_sink *sink, char *body,
                               size_t body_size, int64_t now_s, int64_t attempt, void *owner);

/*
 * Finishes an attempt that `multi` reported done with `result`: fills error
 * (a sentence; "" on success) and *retry_after_ms (TG_NONE unless the answer
 * asked), removes it from multi and frees it. True when delivered (2xx).
 */
bool tg__webhook_finish(CURLM *multi, tg__webhook *webhook, CURLcode result, char *error,
                        size_t error_size, int64_t *retry_after_ms);

/* A JSON-lines destination: stdout ("-") or a file rotated by size. */
typedef struct {
    FILE *file; /* stdout, or owned */
    char path[TG__NOTIFY_FILE_SIZE_MAX];
    int64_t size_bytes;   /* current file size */
    int64_t rotate_bytes; /* 0: never */
    int64_t keep;         /* rotated files kept */
} tg__jsonl;

/* Opens (appending) the sink's file. False with an error sentence. */
bool tg__jsonl_open(tg__jsonl *out, const tg__notify_sink *sink, char *error, size_t error_size);
/* Writes lines (already ending in '\n') and flushes; rotates first if they would pass the size. */
bool tg__jsonl_write(tg__jsonl *jsonl, const char *lines, size_t size, char *error,
                     size_t error_size);
void tg__jsonl_close(tg__jsonl *jsonl);

#endif
