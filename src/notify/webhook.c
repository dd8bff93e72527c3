/*
 * webhook: one POST through libcurl's multi interface. Headers: the JSON
 * content type, the timestamp and signature (when the sink has a secret), the
 * attempt number, and the sink's own headers. Only http and https, no
 * redirects (a signed body must reach the URL that was configured, not one a
 * response names), no "Expect: 100-continue" round trip, no signals (this runs
 * on a thread). A 2xx answer is delivered; anything else is a failure to
 * retry, with the start of the answer kept for the dead-letter list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/item.h"
#include "notify/transport.h"

#define RETRY_AFTER_MS_MAX (INT64_C(3600) * 1000) /* a receiver may ask for at most an hour */

static size_t keep_response(char *data, size_t size, size_t count, void *user) {
    tg__webhook *webhook = user;
    size_t length = size * count;
    size_t room = TG__NOTIFY_RESPONSE_KEPT - webhook->response_size;
    size_t take = length < room ? length : room;
    memcpy(webhook->response + webhook->response_size, data, take);
    webhook->response_size += take;
    webhook->response[webhook->response_size] = '\0';
    return length; /* read the rest and drop it, so the connection can be reused */
}

static struct curl_slist *add_header(struct curl_slist *list, const char *line, bool *ok) {
    struct curl_slist *grown = *ok ? curl_slist_append(list, line) : NULL;
    if (grown == NULL) {
        *ok = false;
        return list;
    }
    return grown;
}

static struct curl_slist *headers_for(const tg__notify_sink *sink, const char *body,
                                      size_t body_size, int64_t now_s, int64_t attempt) {
    bool ok = true;
    char line[160];
    struct curl_slist *list = add_header(NULL, "Content-Type: application/json", &ok);
    list = add_header(list, "Expect:", &ok);
    list = add_header(list, "User-Agent: tollgate/" TG_VERSION, &ok);
    snprintf(line, sizeof line, "X-Tollgate-Attempt: %lld", (long long)attempt);
    list = add_header(list, line, &ok);
    if (sink->secret[0] != '\0') {
        char signature[TG__NOTIFY_SIGNATURE_SIZE];
        ok = ok && tg__notify_sign(sink->secret, now_s, body, body_size, signature);
        snprintf(line, sizeof line, "X-Tollgate-Timestamp: %lld", (long long)now_s);
        list = add_header(list, line, &ok);
        snprintf(line, sizeof line, "X-Tollgate-Signature: %s", ok ? signature : "");
        list = add_header(list, line, &ok);
    }
    for (int i = 0; i < sink->headers_count; i++) {
        list = add_header(list, sink->headers[i], &ok);
    }
    if (!ok) {
        curl_slist_free_all(list);
        return NULL;
    }
    return list;
}

static void webhook_free(tg__webhook *webhook) {
    curl_easy_cleanup(webhook->easy);
    curl_slist_free_all(webhook->headers);
    free(webhook->body);
    free(webhook);
}

tg__webhook *tg__webhook_start(CURLM *multi, const tg__notify_sink *sink, char *body,
                               size_t body_size, int64_t now_s, int64_t attempt, void *owner) {
    tg__webhook *webhook = calloc(1, sizeof *webhook);
    if (webhook == NULL) {
        free(body);
        return NULL;
    }
    webhook->body = body;
    webhook->body_size = body_size;
    webhook->owner = owner;
    webhook->easy = curl_easy_init();
    webhook->headers = headers_for(sink, body, body_size, now_s, attempt);
    CURL *e = webhook->easy;
    bool ok = e != NULL && webhook->headers != NULL &&
              curl_easy_setopt(e, CURLOPT_URL, sink->url) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_POSTFIELDS, webhook->body) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_size) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_HTTPHEADER, webhook->headers) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)sink->timeout_ms) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_response) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEDATA, webhook) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PRIVATE, webhook) == CURLE_OK &&
              curl_multi_add_handle(multi, e) == CURLM_OK;
    if (!ok) {
        webhook_free(webhook);
        return NULL;
    }
    return webhook;
}

bool tg__webhook_finish(CURLM *multi, tg__webhook *webhook, CURLcode result, char *error,
                        size_t error_size, int64_t *retry_after_ms) {
    long status = 0;
    curl_off_t retry_after_s = 0;
    curl_easy_getinfo(webhook->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(webhook->easy, CURLINFO_RETRY_AFTER, &retry_after_s);
    bool delivered = result == CURLE_OK && status >= 200 && status < 300;
    *retry_after_ms = TG_NONE;
    if (!delivered && retry_after_s > 0) {
        *retry_after_ms = retry_after_s < RETRY_AFTER_MS_MAX / 1000 ? (int64_t)retry_after_s * 1000
                                                                    : RETRY_AFTER_MS_MAX;
    }
    if (delivered) {
        error[0] = '\0';
    } else if (result != CURLE_OK) {
        snprintf(error, error_size, "%s", curl_easy_strerror(result));
    } else {
        /* One line: the answer may hold newlines, and this text goes into logs and JSON. */
        for (char *c = webhook->response; *c; c++) {
            *c = (unsigned char)*c < 0x20 ? ' ' : *c;
        }
        snprintf(error, error_size, "HTTP %ld: %s", status, webhook->response);
    }
    curl_multi_remove_handle(multi, webhook->easy);
    webhook_free(webhook);
    return delivered;
}
