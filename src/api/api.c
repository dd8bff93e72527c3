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
#include "server/store_redis.h"
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

/* A page's limit= (1..TG__PAGE_MAX; absent keeps *limit): false with the 400 in *bad. */
static bool query_limit(const char *query, int64_t *limit, tg__reply *bad) {
    if (!query_number(query, "limit", TG__PAGE_MAX, limit) || *limit == 0) {
        *bad = bad_query("'limit' is 1..1000");
        return false;
    }
    return true;
}

/* A page of ids: its cursor `name`= (an id, `what` says of what; absent keeps *cursor)
 * and its limit=. False with the 400 in *bad. */
static bool query_page(const char *query, const char *name, const char *what, int64_t *cursor,
                       int64_t *limit, tg__reply *bad) {
    if (!query_number(query, name, INT64_MAX, cursor)) {
        char sentence[128];
        snprintf(sentence, sizeof sentence, "'%s' is %s: a whole number from 0 to %" PRId64, name,
                 what, INT64_MAX);
        *bad = bad_query(sentence);
        return false;
    }
    return query_limit(query, limit, bad);
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
    tg__reply bad;
    if (!query_limit(query, &limit, &bad)) {
        return bad;
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
    tg__reply bad;
    if (!query_page(query, "after", "a hold id", &after, &limit, &bad)) {
        return bad;
    }
    return tg__holds_list(daemon, caller, budget, after, limit);
}

static tg__reply list_events(tg__daemon *daemon, const tg__caller *caller, const char *query) {
    int64_t since = 0, limit = 100;
    tg__reply bad;
    if (!query_page(query, "since", "an event id", &since, &limit, &bad)) {
        return bad;
    }
    return tg__api_list_events(daemon, caller, (uint64_t)since, (uint64_t)limit);
}

/* The Redis store's dead-letter stream (server/store_redis.h), for tg__notify_failed_json_from. */
static tg_status redis_dead_letters(void *source, const tg__store_page *page,
                                    tg__dead_letter_visit visit, void *user, tg_error *err) {
    (void)source;
    return tg__store_redis_dead_letters(page, visit, user, err);
}

/* GET /v1/notify/failed?after=ID&limit=N: the dead-letter list (src/notify/failed.c); on
 * Redis the stream the daemons' notifiers fill (store/redis/redis_dead.h), same answer. */
static tg__reply list_failed(tg__daemon *daemon, const tg__caller *caller, const char *query) {
    int64_t after = 0, limit = 100;
    tg__reply bad;
    if (!query_page(query, "after", "an event id", &after, &limit, &bad)) {
        return bad;
    }
    bool redis = strcmp(daemon->config->store, "redis") == 0;
    if (!redis && strcmp(daemon->config->store, "sqlite") != 0) {
        return tg__api_error(501, "unsupported",
                             "the memory store has no outbox, so no dead letters");
    }
    char *text = NULL;
    tg_error err = {0};
    /* An agent key sees the dead letters of its subtree only, as with GET /v1/events. */
    const char *scope = caller->role == TG__ROLE_ADMIN ? "" : caller->scope;
    tg_status status = redis ? tg__notify_failed_json_from(redis_dead_letters, NULL, scope,
                                                           (uint64_t)after, limit, &text, &err)
                             : tg__notify_failed_json_scoped(daemon->config->store_path, scope,
                                                             (uint64_t)after, limit, &text, &err);
    if (status != TG_OK) {
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
    tg__reply bad;
    if (!query_limit(query, &filter.limit, &bad)) {
        return bad;
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

/* ---- the route table: each handler reads its arguments from the request ---------------- */

static const tg__reply NOT_MINE = {0, NULL, TG_NONE}; /* the next route is tried */

static tg__reply route_healthz(const tg__api_request *r) {
    (void)r;
    return tg__api_ok(json_pack("{s:s,s:s}", "status", "ok", "version", TG_VERSION));
}

static tg__reply route_admin(const tg__api_request *r) {
    bool handled = false;
    tg__reply reply =
        tg__api_admin_route(r->daemon, r->caller, r->method, r->path, r->body, r->now_ms, &handled);
    return handled ? reply : NOT_MINE;
}

/* /v1/approvals and /v1/approvals/{id}[/approve|/deny] (api_approvals.c). */
static tg__reply route_approvals(const tg__api_request *r) {
    bool handled = false;
    tg__reply reply = tg__api_approvals_route(r->daemon, r->caller, r->method, r->path, r->query,
                                              r->body, r->now_ms, &handled);
    return handled ? reply : NOT_MINE;
}

static tg__reply route_post_hold(const tg__api_request *r) {
    return tg__api_post_hold(r->daemon, r->caller, r->body, r->now_ms);
}

static tg__reply route_list_holds(const tg__api_request *r) {
    return list_holds(r->daemon, r->caller, r->query);
}

/* /v1/holds/{id}, /v1/holds/{id}/commit, /v1/holds/{id}/release. */
static tg__reply route_hold(const tg__api_request *r) {
    const char *path = r->path;
    bool post = strcmp(r->method, "POST") == 0;
    bool get = strcmp(r->method, "GET") == 0;
    uint64_t id = 0;
    size_t digits = strspn(path + 10, "0123456789");
    if (digits > 0 && (path[10 + digits] == '\0' || path[10 + digits] == '/') &&
        !parse_id(path + 10, &id)) {
        return tg__api_error(400, "invalid_path", "a hold id is 1..9223372036854775807");
    }
    if (parse_id(path + 10, &id)) {
        const char *rest = strchr(path + 10, '/');
        if (rest == NULL && get) {
            return tg__api_get_hold(r->daemon, r->caller, id);
        }
        if (rest != NULL && strcmp(rest, "/commit") == 0 && post) {
            return tg__api_post_commit(r->daemon, r->caller, id, r->body, r->now_ms);
        }
        if (rest != NULL && strcmp(rest, "/release") == 0 && post) {
            return tg__api_post_release(r->daemon, r->caller, id, r->body, r->now_ms);
        }
    }
    return NOT_MINE;
}

/* POST /v1/waits/{id}/cancel. */
static tg__reply route_wait_cancel(const tg__api_request *r) {
    const char *path = r->path;
    size_t wait_digits = strspn(path + 10, "0123456789");
    if (wait_digits == 0 || wait_digits > 19 || strcmp(path + 10 + wait_digits, "/cancel") != 0) {
        return tg__api_error(404, "no_route", "cancel a waiting hold at /v1/waits/{id}/cancel");
    }
    uint64_t wait_id = strtoull(path + 10, NULL, 10);
    return tg__api_wait_cancel(r->daemon, r->caller, wait_id, r->now_ms);
}

static tg__reply route_post_charge(const tg__api_request *r) {
    return tg__api_post_charge(r->daemon, r->caller, r->body, r->now_ms);
}

static tg__reply route_batch(const tg__api_request *r) {
    return batch(r->daemon, r->caller, r->body, r->now_ms);
}

static tg__reply route_list_budgets(const tg__api_request *r) {
    return list_budgets(r->daemon, r->caller, r->query, r->now_ms);
}

/* PUT (replace) and PATCH (change) of many budgets. */
static tg__reply route_budgets_bulk(const tg__api_request *r) {
    return tg__api_budgets_bulk(r->daemon, r->caller, r->body, r->method[1] == 'A', r->now_ms);
}

/* /v1/budgets/{path}[/freeze|/unfreeze|/history|...], every method (api_budgets.c). */
static tg__reply route_budget(const tg__api_request *r) {
    if (r->path[12] == '\0') {
        return NOT_MINE;
    }
    return tg__api_budget_route(r->daemon, r->caller, r->method, r->path + 12, r->body, r->now_ms);
}

static tg__reply route_list_charges(const tg__api_request *r) {
    return list_charges(r->daemon, r->caller, r->query);
}

static tg__reply route_list_events(const tg__api_request *r) {
    return list_events(r->daemon, r->caller, r->query);
}

static tg__reply route_list_failed(const tg__api_request *r) {
    return list_failed(r->daemon, r->caller, r->query);
}

/* GET /v1/events/stream is the event stream's (events_stream.c, taken before the API);
 * reaching here, it is another method, or the daemon runs without streams. */
static tg__reply route_stream_elsewhere(const tg__api_request *r) {
    (void)r;
    return NOT_MINE;
}

/* First match wins; a handler answering NOT_MINE passes the request on. A path ending in
 * '/' matches every path that starts with it. Then a path some route serves with another
 * method is answered 405, any other 404. */
const tg__api_route TG__API_ROUTES[] = {
    {NULL, "/healthz", TG__API_AUTH_NONE, route_healthz},
    {NULL, "/v1/keys", TG__API_AUTH_ADMIN, route_admin},
    {NULL, "/v1/keys/", TG__API_AUTH_ADMIN, route_admin},
    {NULL, "/v1/admin/reload", TG__API_AUTH_ADMIN, route_admin},
    {NULL, "/v1/approvals", TG__API_AUTH_KEY, route_approvals},
    {NULL, "/v1/approvals/", TG__API_AUTH_KEY, route_approvals},
    {"POST", "/v1/holds", TG__API_AUTH_KEY, route_post_hold},
    {"GET", "/v1/holds", TG__API_AUTH_KEY, route_list_holds},
    {NULL, "/v1/holds/", TG__API_AUTH_KEY, route_hold},
    {"POST", "/v1/waits/", TG__API_AUTH_KEY, route_wait_cancel},
    {"POST", "/v1/charges", TG__API_AUTH_KEY, route_post_charge},
    {"POST", "/v1/batch", TG__API_AUTH_KEY, route_batch},
    {"GET", "/v1/budgets", TG__API_AUTH_KEY, route_list_budgets},
    {"PUT", "/v1/budgets", TG__API_AUTH_KEY, route_budgets_bulk},
    {"PATCH", "/v1/budgets", TG__API_AUTH_KEY, route_budgets_bulk},
    {NULL, "/v1/budgets/", TG__API_AUTH_KEY, route_budget},
    {"GET", "/v1/charges", TG__API_AUTH_KEY, route_list_charges},
    {"GET", "/v1/events", TG__API_AUTH_KEY, route_list_events},
    {"GET", "/v1/notify/failed", TG__API_AUTH_KEY, route_list_failed},
    {"GET", "/v1/events/stream", TG__API_AUTH_KEY, route_stream_elsewhere},
};
const size_t TG__API_ROUTES_COUNT = sizeof TG__API_ROUTES / sizeof TG__API_ROUTES[0];

static bool path_matches(const tg__api_route *route, const char *path) {
    size_t length = strlen(route->path);
    return route->path[length - 1] == '/' ? strncmp(path, route->path, length) == 0
                                          : strcmp(path, route->path) == 0;
}

const tg__api_route *tg__api_route_find(const char *method, const char *path, size_t from) {
    for (size_t i = from; i < TG__API_ROUTES_COUNT; i++) {
        const tg__api_route *route = &TG__API_ROUTES[i];
        if ((route->method == NULL || strcmp(route->method, method) == 0) &&
            path_matches(route, path)) {
            return route;
        }
    }
    return NULL;
}

/* Walks the routes that need a key (`keyed`) or need none (!keyed). */
static tg__reply walk(const tg__api_request *request, bool keyed) {
    const tg__api_route *route = NULL;
    size_t from = 0;
    while ((route = tg__api_route_find(request->method, request->path, from)) != NULL) {
        from = (size_t)(route - TG__API_ROUTES) + 1;
        if ((route->auth != TG__API_AUTH_NONE) != keyed) {
            continue;
        }
        tg__reply reply = route->handle(request);
        if (reply.status != 0) {
            return reply;
        }
    }
    return NOT_MINE;
}

static tg__reply route(tg__daemon *daemon, const tg__caller *caller, const char *method, char *path,
                       const char *query, json_t *body, int64_t now_ms) {
    tg__api_request request = {daemon, caller, method, path, query, body, now_ms};
    tg__reply reply = walk(&request, true);
    if (reply.status != 0) {
        return reply;
    }
    for (size_t i = 0; i < TG__API_ROUTES_COUNT; i++) {
        const tg__api_route *known = &TG__API_ROUTES[i];
        size_t length = strlen(known->path);
        if (known->auth == TG__API_AUTH_KEY && known->path[length - 1] != '/' &&
            strcmp(path, known->path) == 0) {
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
    tg__api_request unkeyed = {daemon, NULL, method, path, query, NULL, now_ms};
    tg__reply reply = walk(&unkeyed, false); /* /healthz: before any key, body unread */
    if (reply.status != 0) {
        return reply;
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
    reply = route(daemon, &caller, method, path, query, json ? json : empty, now_ms);
    json_decref(json);
    json_decref(empty);
    return reply;
}

bool tg__api_query_text(const char *query, const char *name, char *out, size_t size) {
    return query_text(query, name, out, size);
}
