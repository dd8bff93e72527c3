/*
 * api.h: what the JSON API's files share: typed field readers and reply builders
 * (api_fields.c) and the handlers the router (api.c) calls.
 */
#ifndef TG_SERVER_API_H
#define TG_SERVER_API_H

#include "server/daemon.h"
#include "store/store_read.h"

/* A request body being read; `message` says what was wrong when a reader fails. */
typedef struct {
    json_t *object;    /* borrowed: the request's JSON object */
    char message[200]; /* set when a reader returns false */
} tg__fields;

/* False (with a message) when the body has a field outside `allowed` (NULL-ended). */
bool tg__fields_only(tg__fields *in, const char *const *allowed);
/* Optional readers: a missing or null field leaves *out alone and returns true. */
bool tg__field_text(tg__fields *in, const char *name, const char **out, size_t size_max);
bool tg__field_int(tg__fields *in, const char *name, int64_t *out, int64_t max);
/* False (with a message) when more than one of `names` (NULL-ended) is given: two
 * spellings of one value are ambiguous. */
bool tg__fields_one_of(tg__fields *in, const char *const *names);
/* `<name>_micros` as an integer or `<name>` as a decimal string, never both. */
bool tg__field_money(tg__fields *in, const char *name, int64_t *out, int64_t max);
bool tg__field_bool(tg__fields *in, const char *name, bool *out);
/* Bytes of a client's idempotency key, NUL included: the engine's maximum less the caller's
 * key id and a colon ("<16 hex>:"), which the daemon puts in front. */
#define TG__CLIENT_KEY_SIZE_MAX (TG_KEY_SIZE_MAX - 17)
/* Reads `idempotency_key` and scopes it to the caller's key into out; *key_out is out, or
 * NULL when the field is absent. */
bool tg__field_idempotency_key(tg__fields *in, const tg__caller *caller, char out[TG_KEY_SIZE_MAX],
                               const char **key_out);

tg__reply tg__api_ok(json_t *body);
tg__reply tg__api_bad_field(const tg__fields *in);
tg__reply tg__api_forbidden(const char *message);
/* Maps an engine status to an HTTP status and a stable code. */
tg__reply tg__api_from_status(tg_status status, const tg_error *err);
/* JSON null for TG_NONE, else the integer. */
json_t *tg__json_optional(int64_t value);
/* True when the caller may act on `budget` (admin, or inside its scope). */
bool tg__may_touch(const tg__caller *caller, const char *budget);
/* The subtree a read covers: `budget` when named (check tg__may_touch first), else all
 * of the ledger for an admin and the key's own scope for any other key. */
const char *tg__read_subtree(const tg__caller *caller, const char *budget);

tg__reply tg__api_post_hold(tg__daemon *daemon, const tg__caller *caller, json_t *body,
                            int64_t now_ms);
tg__reply tg__api_get_hold(tg__daemon *daemon, const tg__caller *caller, uint64_t hold_id);
tg__reply tg__api_post_commit(tg__daemon *daemon, const tg__caller *caller, uint64_t hold_id,
                              json_t *body, int64_t now_ms);
tg__reply tg__api_post_release(tg__daemon *daemon, const tg__caller *caller, uint64_t hold_id,
                               json_t *body, int64_t now_ms);
tg__reply tg__api_post_charge(tg__daemon *daemon, const tg__caller *caller, json_t *body,
                              int64_t now_ms);
/* `path` is modified (an action suffix is cut off). */
tg__reply tg__api_budget_route(tg__daemon *daemon, const tg__caller *caller, const char *method,
                               char *path, json_t *body, int64_t now_ms);
/* The query of GET /v1/budgets. */
typedef struct {
    char prefix[TG_PATH_SIZE_MAX]; /* "" for every budget */
    char after[TG_PATH_SIZE_MAX];  /* the cursor: the `next` of the page before, or "" */
    char state[16];                /* "", open, frozen, locked or revoked */
    int64_t spent_min;             /* micros spent in the window, inclusive */
    int64_t spent_max;
    int64_t limit; /* budgets in the page, 1..TG__PAGE_MAX */
} tg__budget_filter;

tg__reply tg__api_list_budgets(tg__daemon *daemon, const tg__caller *caller,
                               const tg__budget_filter *filter, int64_t now_ms);
/* PUT (create or replace the spec) and PATCH (change the fields given) of many budgets:
 * {"budgets": [{"path": ..., spec fields} | {"path": ..., "delete": true}]}, all or none. */
tg__reply tg__api_budgets_bulk(tg__daemon *daemon, const tg__caller *caller, json_t *body,
                               bool patch, int64_t now_ms);
tg__reply tg__api_list_events(tg__daemon *daemon, const tg__caller *caller, uint64_t since,
                              uint64_t limit);
/* /v1/keys and /v1/admin/reload (api_admin.c): admin only. `path` starts with /v1/. Sets
 * *handled when the path is one of theirs. */
tg__reply tg__api_admin_route(tg__daemon *daemon, const tg__caller *caller, const char *method,
                              const char *path, json_t *body, int64_t now_ms, bool *handled);

/* Approvals (api_approvals.c). An approval as the API shows it (NULL when out of memory). */
json_t *tg__approval_json(const tg_approval_info *approval);
/* POST /v1/holds with `approval` (the field, borrowed): granted, refused, or parked
 * (TG__STATUS_WAITING) until a person decides. */
tg__reply tg__api_approval_ask(tg__daemon *daemon, const tg__caller *caller,
                               const tg_reserve_request *request, json_t *field, int64_t now_ms);
/* /v1/approvals...: sets *handled when the path is one of theirs. */
tg__reply tg__api_approvals_route(tg__daemon *daemon, const tg__caller *caller, const char *method,
                                  const char *path, const char *query, json_t *body, int64_t now_ms,
                                  bool *handled);
/* The 200 or 402 of a reserve decided now (api_holds.c); `asked` as for shrink advice. */
tg__reply tg__api_reserve_reply(tg__daemon *daemon, const tg_reserve_result *result, int64_t asked,
                                int64_t now_ms);

/* ---- the route table (api.c): every route of the JSON API, in the order tried ---------- */

/* A request as a route's handler sees it; everything borrowed for the call. */
typedef struct {
    tg__daemon *daemon;
    const tg__caller *caller; /* NULL for a TG__API_AUTH_NONE route */
    const char *method;       /* "GET", "POST", ... */
    char *path;               /* %-decoded, without the query; a handler may cut it */
    const char *query;        /* after '?', still encoded; "" when none */
    json_t *body;             /* an object ({} for a POST without one), or NULL */
    int64_t now_ms;
} tg__api_request;

/* Who may call a route. */
typedef enum {
    TG__API_AUTH_NONE, /* anyone: tried before the key is read, the body unread */
    TG__API_AUTH_KEY,  /* any key but a metrics key (checked by the router); the handler
                        * checks role and scope (tg__may_touch) */
    TG__API_AUTH_ADMIN /* an admin key: the handler answers 403 to any other */
} tg__api_auth;

typedef struct {
    const char *method; /* NULL: every method (the handler answers 405 itself) */
    const char *path;   /* exact, or a prefix when it ends in '/' */
    tg__api_auth auth;
    /* The reply; status 0 when the request is not this route's after all (the next one
     * is tried). */
    tg__reply (*handle)(const tg__api_request *request);
} tg__api_route;

extern const tg__api_route TG__API_ROUTES[];
extern const size_t TG__API_ROUTES_COUNT;
/* The first route from index `from` on that serves method and path, or NULL. */
const tg__api_route *tg__api_route_find(const char *method, const char *path, size_t from);

/* The start of a page of `budget`'s subtree read through the daemon's reader (charges.c,
 * holds.c): the caller may read the budget (else 403), the reader is open (else 501/503),
 * and *query covers what the caller may see (tg__read_subtree) from after_id on. NULL with
 * *error_out to send when the page cannot be read. */
struct tg__store_reader *tg__reader_page(tg__daemon *daemon, const tg__caller *caller,
                                         const char *budget, int64_t after_id, int64_t limit,
                                         tg__store_page *query, tg__reply *error_out);

/* An event as the API shows it (GET /v1/events, the SSE stream); NULL when out of memory. */
json_t *tg__event_json(const tg_event *event);

/* Reads `name=` from a URL query, %-decoded, into out ("" when absent). False when the
 * value is malformed or does not fit. */
bool tg__api_query_text(const char *query, const char *name, char *out, size_t size);

#endif
