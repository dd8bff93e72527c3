/*
 * api: the JSON API (/v1/...): authentication, routing and /v1/batch. Each handler
 * validates its input fully (types, unknown fields, ranges) before it calls the
 * engine, so bad input is always a clear 4xx and never reaches an assertion.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "notify/notify.h"
#include "api/api.h"

/* ---- Routing ------------------------------------------------------------------ */

/* A hold id in a path: 1..INT64_MAX (the ids the engine gives), digits only. */
static bool parse_id(const char *text, uint64_t *out) {
    char *end = NULL;
    if (*text < '0' || *text > '9') {
        return false;
    }
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    *out = value;
    return value > 0 && value <= INT64_MAX && errno != ERANGE && (*end == '\0' || *end == '/');
}

/*
 * Percent-decodes `length` bytes of URL text into out (size bytes, NUL-terminated);
 * '+' is a space in a query. False on a malformed escape, an encoded NUL, or text
 * that does not fit.
 */
static bool url_decode(const char *text, size_t length, bool query, char *out, size_t size) {
    size_t used = 0;
    for (size_t i = 0; i < length; i++) {
        int c = (unsigned char)text[i];
        if (c == '%') {
            int high = i + 2 < length ? tg__hex_value(text[i + 1]) : -1;
            int low = i + 2 < length ? tg__hex_value(text[i + 2]) : -1;
            if (high < 0 || low < 0 || (high | low) == 0) {
                return false;
            }
            c = high << 4 | low;
            i += 2;
        } else if (c == '+' && query) {
            c = ' ';
        }
        if (used + 1 >= size) {
            return false;
        }
        out[used++] = (char)c;
    }
    out[used] = '\0';
    return true;
}

/* Reads `name=` from a query string, decoded, into out. Absent: "" and true. */
static bool query_text(const char *query, const char *name, char *out, size_t size) {
    out[0] = '\0';
    size_t length = strlen(name);
    for (const char *at = query; at != NULL && *at != '\0';) {
        if (strncmp(at, name, length) == 0 && at[length] == '=') {
            const char *value = at + length + 1;
            return url_decode(value, strcspn(value, "&"), true, out, size);
        }
        at = strchr(at, '&');
        at = at ? at + 1 : NULL;
    }
    return true;
}

/* Reads a whole number `name=` in 0..max; absent leaves *out alone. */
static bool query_number(const char *query, const char *name, int64_t max, int64_t *out) {
    char text[32];
    if (!query_text(query, name, text, sizeof text)) {
        return false;
    }
    if (text[0] == '\0') {
        return true;
    }
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    /* strtoll clamps 2^64 to INT64_MAX and says so only in errno: a clamped number is
     * another number than the client sent, so it is refused, not used. */
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE || value > max) {
        return false;
    }
    *out = value;
    return true;
}

static tg__reply bad_query(const char *what) {
    char message[160];
    snprintf(message, sizeof message, "query parameter %s", what);
    return tg__api_error(400, "invalid_query", message);
}

static tg__reply list_charges(tg__daemon *daemon, const tg__caller *caller, const char *query) {
    char budget[TG_PATH_SIZE_MAX];
    int64_t since = 0, until = INT64_MAX, after = 0, limit = 100;
    if (!query_text(query, "budget", budget, sizeof budget)) {
        return bad_query("'budget' is not a budget path");
    }
    if (!query_number(query, "since", INT64_MAX, &since) ||
        !query_number(query, "until", INT64_MAX, &until) ||
        !query_number(query, "after", INT64_MAX, &after)) {
        return bad_query("'since', 'until' (ms) and 'after' (an id) are whole numbers from 0 to "
                         "9223372036854775807");
    }
    if (!query_number(query, "limit", TG__PAGE_MAX, &limit) || limit == 0) {
        return bad_query("'limit' is 1..1000");
    }
    tg__charges_filter filter;
    if (!query_text(query, "model", filter.model, sizeof filter.model) ||
        !query_text(query, "key", filter.key, sizeof filter.key) ||
        !query_text(query, "user", filter.user, sizeof filter.user) ||
        !query_text(query, "tag", filter.tag, sizeof filter.tag) ||
        !query_text(query, "provider", filter.provider, sizeof filter.provider)) {
        return bad_query("'model', 'key', 'user', 'tag' or 'provider' is malformed or too long "
                         "(model 127 bytes, user 127, key and tag 63, provider 31)");
    }
    if (strchr(filter.tag, ',') != NULL) {
        return bad_query(
            "'tag' names one tag (no ','): the charges with it, whatever their others");
    }
    return tg__charges_list(daemon, caller, budget, since, until, after, limit, &filter);
}

static tg__reply list_holds(tg__daemon *daemon, const tg__caller *caller, const char *query) {
    char budget[TG_PATH_SIZE_MAX];
    char state[16];
    int64_t after = 0, limit = 100;
    if (!query_text(query, "budget", budget, sizeof budget)) {
        return bad_query("'budget' is not a budget path");
    }
    if (!query_text(query, "state", state, sizeof state) ||
        (state[0] != '\0' && strcmp(state, "open") != 0 && strcmp(state, "waiting") != 0)) {
        return bad_query("'state' is open (the default) or waiting");
    }
    if (strcmp(state, "waiting") == 0) {
        return tg__api_waiting_list(daemon, caller, budget); /* in memory: no paging */
    }
    if (!query_number(query, "after", INT64_MAX, &after)) {
        return bad_query("'after' is a hold id: a whole number from 0 to 9223372036854775807");
    }
    if (!query_number(query, "limit", TG__PAGE_MAX, &limit) || limit == 0) {
        return bad_query("'limit' is 1..1000");
    }
    return tg__holds_list(daemon, caller, budget, after, limit);
}

static tg__reply list_events(tg__daemon *daemon, const tg__caller *caller, const char *query) {
    int64_t since = 0, limit = 100;
    if (!query_number(query, "since", INT64_MAX, &since)) {
        return bad_query("'since' is an event id: a whole number from 0 to 9223372036854775807");
    }
    if (!query_number(query, "limit", TG__PAGE_MAX, &limit) || limit == 0) {
        return bad_query("'limit' is 1..1000");
    }
    return tg__api_list_events(daemon, caller, (uint64_t)since, (uint64_t)limit);
}

/* GET /v1/notify/failed?after=ID&limit=N: the dead-letter list (src/notify/failed.c). */
static tg__reply list_failed(tg__daemon *daemon, const tg__caller *caller, const char *query) {
    int64_t after = 0, limit = 100;
    if (!query_number(query, "after", INT64_MAX, &after)) {
        return bad_query("'after' is an event id: a whole number from 0 to 9223372036854775807");
    }
    if (!query_number(query, "limit", TG__PAGE_MAX, &limit) || limit == 0) {
        return bad_query("'limit' is 1..1000");
    }
    if (strcmp(daemon->config->store, "sqlite") != 0) {
        return tg__api_error(501, "unsupported",
                             "the memory store has no outbox, so no dead letters");
    }
    char *text = NULL;
    tg_error err = {0};
    /* An agent key sees the dead letters of its subtree only, as with GET /v1/events. */
    const char *scope = caller->role == TG__ROLE_ADMIN ? "" : caller->scope;
    if (tg__notify_failed_json_scoped(daemon->config->store_path, scope, (uint64_t)after, limit,
                                      &text, &err) != TG_OK) {
        return tg__api_error(503, "store_unavailable", err.message);
    }
    json_t *body = json_loads(text, 0, NULL);
    free(text);
    return body ? tg__api_ok(body)
                : tg__api_error(503, "full", "out of memory listing failed deliveries");
}

static tg__reply route(tg__daemon *daemon, const tg__caller *caller, const char *method, char *path,
                       const char *query, json_t *body, int64_t now_ms);

/* GET /v1/budgets?prefix=&after=&state=&spent_min=&spent_max=&limit= */
static tg__reply list_budgets(tg__daemon *daemon, const tg__caller *caller, const char *query,
                              int64_t now_ms) {
    tg__budget_filter filter = {.spent_max = INT64_MAX, .limit = 100};
    if (!query_text(query, "prefix", filter.prefix, sizeof filter.prefix)) {
        return bad_query("'prefix' is not a budget path prefix");
    }
    if (!query_text(query, "after", filter.after, sizeof filter.after)) {
        return bad_query("'after' is not a budget path (give the 'next' of the page before)");
    }
    if (!query_text(query, "state", filter.state, sizeof filter.state) ||
        (filter.state[0] && strcmp(filter.state, "open") && strcmp(filter.state, "frozen") &&
         strcmp(filter.state, "locked") && strcmp(filter.state, "revoked"))) {
        return bad_query("'state' is open, frozen, locked or revoked");
    }
    if (!query_number(query, "spent_min", INT64_MAX, &filter.spent_min) ||
        !query_number(query, "spent_max", INT64_MAX, &filter.spent_max)) {
        return bad_query("'spent_min' and 'spent_max' are micros: whole numbers from 0");
    }
    if (!query_number(query, "limit", TG__PAGE_MAX, &filter.limit) || filter.limit == 0) {
        return bad_query("'limit' is 1..1000");
    }
    return tg__api_list_budgets(daemon, caller, &filter, now_ms);
}

static tg__reply batch(tg__daemon *daemon, const tg__caller *caller, json_t *body, int64_t now_ms) {
    json_t *operations = json_object_get(body, "operations");
    if (json_object_size(body) != 1 || !json_is_array(operations)) {
        return tg__api_error(400, "invalid_field", "the body must be {\"operations\": [...]}");
    }
    if (json_array_size(operations) > TG__BATCH_ITEMS_MAX) {
        return tg__api_error(413, "batch_too_large", "at most 1000 operations per batch");
    }
    json_t *results = json_array();
    size_t i;
    json_t *operation;
    json_array_foreach(operations, i, operation) {
        json_t *op = json_object_get(operation, "op");
        json_t *args = json_object_get(operation, "body");
        tg__reply reply;
        char path[TG_PATH_SIZE_MAX + 64];
        if (!json_is_object(operation) || !json_is_string(op) ||
            (args != NULL && !json_is_object(args))) {
            reply = tg__api_error(400, "invalid_operation",
                                  "each operation is {\"op\": \"hold|commit|release|charge\", "
                                  "\"hold_id\": n, \"body\": {...}}");
        } else {
            const char *name = json_string_value(op);
            json_int_t hold_id = json_integer_value(json_object_get(operation, "hold_id"));
            json_t *empty = args ? json_incref(args) : json_object();
            if (strcmp(name, "hold") == 0 || strcmp(name, "charge") == 0) {
                snprintf(path, sizeof path, "/v1/%s", name[0] == 'h' ? "holds" : "charges");
            } else {
                snprintf(path, sizeof path, "/v1/holds/%lld/%s", (long long)hold_id, name);
            }
            bool by_hold = strcmp(name, "commit") == 0 || strcmp(name, "release") == 0;
            if (strcmp(name, "hold") && strcmp(name, "charge") && !by_hold) {
                reply = tg__api_error(400, "invalid_operation",
                                      "'op' must be hold, commit, release or charge");
            } else if (by_hold && hold_id <= 0) {
                reply = tg__api_error(400, "invalid_operation",
                                      "commit and release need a positive integer 'hold_id'");
            } else if (json_object_get(empty, "wait_ms") != NULL) {
                /* A batch answers at once: a long poll belongs in its own request. */
                reply = tg__api_error(400, "invalid_field",
                                      "'wait_ms' is for POST /v1/holds alone, not in a batch");
            } else {
                reply = route(daemon, caller, "POST", path, "", empty, now_ms);
            }
            json_decref(empty);
        }
        json_array_append_new(results, json_pack("{s:i,s:o}", "status", reply.status, "body",
                                                 reply.body ? reply.body : json_null()));
    }
    return tg__api_ok(json_pack("{s:o}", "results", results));
}

static tg__reply route(tg__daemon *daemon, const tg__caller *caller, const char *method, char *path,
                       const char *query, json_t *body, int64_t now_ms) {
    bool post = strcmp(method, "POST") == 0;
    bool get = strcmp(method, "GET") == 0;
    uint64_t id = 0;
    bool handled = false;
    tg__reply admin = tg__api_admin_route(daemon, caller, method, path, body, now_ms, &handled);
    if (handled) {
        return admin;
    }
    if (strcmp(path, "/v1/holds") == 0 && post) {
        return tg__api_post_hold(daemon, caller, body, now_ms);
    }
    if (strcmp(path, "/v1/holds") == 0 && get) {
        return list_holds(daemon, caller, query);
    }
    size_t digits = strncmp(path, "/v1/holds/", 10) == 0 ? strspn(path + 10, "0123456789") : 0;
    if (digits > 0 && (path[10 + digits] == '\0' || path[10 + digits] == '/') &&
        !parse_id(path + 10, &id)) {
        return tg__api_error(400, "invalid_path", "a hold id is 1..9223372036854775807");
    }
    if (strncmp(path, "/v1/holds/", 10) == 0 && parse_id(path + 10, &id)) {
        const char *rest = strchr(path + 10, '/');
        if (rest == NULL && get) {
            return tg__api_get_hold(daemon, caller, id);
        }
        if (rest != NULL && strcmp(rest, "/commit") == 0 && post) {
            return tg__api_post_commit(daemon, caller, id, body, now_ms);
        }
        if (rest != NULL && strcmp(rest, "/release") == 0 && post) {
            return tg__api_post_release(daemon, caller, id, body, now_ms);
        }
    }
    if (strncmp(path, "/v1/waits/", 10) == 0 && post) {
        size_t wait_digits = strspn(path + 10, "0123456789");
        uint64_t wait_id = 0;
        if (wait_digits == 0 || wait_digits > 19 ||
            strcmp(path + 10 + wait_digits, "/cancel") != 0) {
            return tg__api_error(404, "no_route", "cancel a waiting hold at /v1/waits/{id}/cancel");
        }
        wait_id = strtoull(path + 10, NULL, 10);
        return tg__api_wait_cancel(daemon, caller, wait_id, now_ms);
    }
    if (strcmp(path, "/v1/charges") == 0 && post) {
        return tg__api_post_charge(daemon, caller, body, now_ms);
    }
    if (strcmp(path, "/v1/batch") == 0 && post) {
        return batch(daemon, caller, body, now_ms);
    }
    if (strcmp(path, "/v1/budgets") == 0 && get) {
        return list_budgets(daemon, caller, query, now_ms);
    }
    if (strcmp(path, "/v1/budgets") == 0 && (!strcmp(method, "PUT") || !strcmp(method, "PATCH"))) {
        return tg__api_budgets_bulk(daemon, caller, body, method[1] == 'A', now_ms);
    }
    if (strncmp(path, "/v1/budgets/", 12) == 0 && path[12] != '\0') {
        return tg__api_budget_route(daemon, caller, method, path + 12, body, now_ms);
    }
    if (strcmp(path, "/v1/charges") == 0 && get) {
        return list_charges(daemon, caller, query);
    }
    if (strcmp(path, "/v1/events") == 0 && get) {
        return list_events(daemon, caller, query);
    }
    if (strcmp(path, "/v1/notify/failed") == 0 && get) {
        return list_failed(daemon, caller, query);
    }
    static const char *const known[] = {"/v1/holds",        "/v1/charges", "/v1/batch",
                                        "/v1/budgets",      "/v1/events",  "/v1/notify/failed",
                                        "/v1/events/stream"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(path, known[i]) == 0) {
            return tg__api_error(405, "method_not_allowed",
                                 "that method is not allowed on this resource");
        }
    }
    return tg__api_error(404, "no_route", "no such route; see docs/api.md");
}

tg__reply tg__api_handle(tg__daemon *daemon, const char *method, const char *uri,
                         const char *authorization, const char *body, size_t body_size,
                         int64_t now_ms) {
    char path[1024];
    const char *question = strchr(uri, '?');
    size_t path_size = question ? (size_t)(question - uri) : strlen(uri);
    if (path_size >= sizeof path) {
        return tg__api_error(414, "uri_too_long", "the request path is too long");
    }
    if (!url_decode(uri, path_size, false, path, sizeof path)) {
        return tg__api_error(400, "invalid_path", "the request path has a malformed %-escape");
    }
    const char *query = question ? question + 1 : "";
    if (strcmp(path, "/healthz") == 0) {
        return tg__api_ok(json_pack("{s:s,s:s}", "status", "ok", "version", TG_VERSION));
    }
    tg__caller caller;
    if (!tg__authenticate(daemon, authorization, &caller)) {
        return tg__api_error(401, "unauthorized", "send 'Authorization: Bearer <key>'");
    }
    if (caller.role == TG__ROLE_METRICS) {
        return tg__api_forbidden("a metrics key may read /metrics only");
    }
    json_t *json = NULL;
    if (body_size > 0) {
        json_error_t parse_error;
        json = json_loadb(body, body_size, JSON_REJECT_DUPLICATES, &parse_error);
        if (json == NULL) {
            char message[200];
            snprintf(message, sizeof message, "malformed JSON at line %d column %d: %s",
                     parse_error.line, parse_error.column, parse_error.text);
            return tg__api_error(400, "malformed_json", message);
        }
        if (!json_is_object(json)) {
            json_decref(json);
            return tg__api_error(400, "invalid_body", "the body must be a JSON object");
        }
    }
    bool needs_body = strcmp(method, "POST") == 0;
    json_t *empty = (json == NULL && needs_body) ? json_object() : NULL;
    tg__reply reply = route(daemon, &caller, method, path, query, json ? json : empty, now_ms);
    json_decref(json);
    json_decref(empty);
    return reply;
}

bool tg__api_query_text(const char *query, const char *name, char *out, size_t size) {
    return query_text(query, name, out, size);
}
