/*
 * refusal: error bodies. Built with jansson so every message is escaped, and
 * money is given both as exact micros (for programs) and as decimal text (for
 * people reading a log), never as a float.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/clock.h"
#include "proxy/next.h"
#include "proxy/provider.h"
#include "proxy/refusal.h"

static tg_status put_json(tg__buf *body, json_t *json) {
    if (json == NULL) {
        return TG_ERR_NOMEM;
    }
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    if (text == NULL) {
        return TG_ERR_NOMEM;
    }
    tg_status status = tg__buf_puts(body, text);
    free(text);
    return status;
}

tg_status tg__error_write(const tg__provider *provider, int http_status, const char *code,
                          const char *message, tg__buf *body) {
    return put_json(body, provider->error_body(http_status, code, message, NULL));
}

static void money_text(int64_t micros, char *out, size_t size) {
    char digits[32];
    snprintf(out, size, "$%s", tg_money_format(micros, digits, sizeof digits));
}

static json_t *refusal_details(const tg__refusal *refusal) {
    json_t *details = json_pack("{s:s,s:s}", "budget", refusal->budget ? refusal->budget : "",
                                "reason", refusal->reason ? refusal->reason : "");
    if (details == NULL) {
        return NULL;
    }
    char text[48];
    if (refusal->needed_micros >= 0) {
        money_text(refusal->needed_micros, text, sizeof text);
        json_object_set_new(details, "needed_micros", json_integer(refusal->needed_micros));
        json_object_set_new(details, "needed", json_string(text));
    }
    if (refusal->remaining_micros >= 0) {
        money_text(refusal->remaining_micros, text, sizeof text);
        json_object_set_new(details, "remaining_micros", json_integer(refusal->remaining_micros));
        json_object_set_new(details, "remaining", json_string(text));
    }
    json_object_set_new(details, "retry_after_ms",
                        refusal->retry_after_ms >= 0 ? json_integer(refusal->retry_after_ms)
                                                     : json_null());
    json_object_set_new(details, "next",
                        tg__next_steps(tg__clock_wall_ms(), refusal->retry_after_ms,
                                       refusal->remaining_micros, refusal->needed_micros));
    return details;
}

static void refusal_message(const tg__refusal *refusal, char *out, size_t size) {
    char needed[48] = "", remaining[48] = "";
    if (refusal->needed_micros >= 0) {
        money_text(refusal->needed_micros, needed, sizeof needed);
    }
    if (refusal->remaining_micros >= 0) {
        money_text(refusal->remaining_micros, remaining, sizeof remaining);
    }
    int n =
        snprintf(out, size, "Tollgate: budget %s refused this call (%s)",
                 refusal->budget ? refusal->budget : "?", refusal->reason ? refusal->reason : "?");
    if (n >= 0 && (size_t)n < size && needed[0] && remaining[0]) {
        n += snprintf(out + n, size - (size_t)n, ": it may cost up to %s and %s remains", needed,
                      remaining);
    }
    if (n >= 0 && (size_t)n < size) {
        snprintf(out + n, size - (size_t)n,
                 refusal->retry_after_ms >= 0 ? ". Retry later."
                                              : ". An administrator must raise the limit.");
    }
}

/* A refusal worth an automatic retry stays 429 (every SDK retries it soon); one that is
 * not takes the status the client treats as final. */
static int refusal_status(const tg__refusal *refusal, bool soon) {
    return soon || refusal->final_status == 0 ? 429 : refusal->final_status;
}

static void fill_headers(const tg__refusal *refusal, int64_t retry_automatic_ms_max,
                         tg__refusal_headers *headers) {
    memset(headers, 0, sizeof *headers);
    int64_t wait_ms = refusal->retry_after_ms;
    bool soon = wait_ms >= 0 && wait_ms <= retry_automatic_ms_max;
    headers->http_status = refusal_status(refusal, soon);
    snprintf(headers->should_retry, sizeof headers->should_retry, "%s", soon ? "true" : "false");
    if (wait_ms >= 0) {
        snprintf(headers->retry_after, sizeof headers->retry_after, "%lld",
                 (long long)(wait_ms / 1000 + (wait_ms % 1000 != 0)));
        snprintf(headers->retry_after_ms, sizeof headers->retry_after_ms, "%lld",
                 (long long)wait_ms);
    }
}

tg_status tg__refusal_write(const tg__provider *provider, const tg__refusal *refusal,
                            int64_t retry_automatic_ms_max, tg__buf *body,
                            tg__refusal_headers *headers) {
    char message[512];
    refusal_message(refusal, message, sizeof message);
    const char *code = refusal->code ? refusal->code : "budget_exceeded";
    int64_t wait_ms = refusal->retry_after_ms;
    bool soon = wait_ms >= 0 && wait_ms <= retry_automatic_ms_max;
    tg_status status = put_json(body, provider->error_body(refusal_status(refusal, soon), code,
                                                           message, refusal_details(refusal)));
    if (status == TG_OK) {
        fill_headers(refusal, retry_automatic_ms_max, headers);
    }
    return status;
}

tg_status tg__error_write_event(tg__route route, const char *code, const char *message,
                                int64_t sequence_number, tg__buf *out) {
    const tg__provider *provider = tg__route_provider(route);
    return provider != NULL ? provider->error_event(route, code, message, sequence_number, out)
                            : TG_ERR_INVALID;
}

const char *tg__status_name_find(const tg__status_name *table, size_t count, int status,
                                 const char *server_name, const char *client_name) {
    for (size_t i = 0; i < count; i++) {
        if (table[i].status == status) {
            return table[i].name;
        }
    }
    return status >= 500 ? server_name : client_name;
}
