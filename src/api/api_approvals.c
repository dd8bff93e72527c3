/*
 * api_approvals: approvals over the JSON API (docs/api.md, "Approvals"). POST /v1/holds
 * with `approval: {wait_ms, reason}` asks a person when the reserve is refused for its
 * class; the request then waits like a waiting hold (http.c parks it under its wait_id).
 * GET /v1/approvals?state=&budget= lists them (a key sees its subtree only), GET
 * /v1/approvals/{id} shows one, POST /v1/approvals/{id}/approve|deny decides one: admin
 * keys only, whatever the approval's budget, so no agent key can approve anything, its
 * own requests included.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "api/api.h"

#define LIST_MAX 1000 /* rows in one listing */

json_t *tg__approval_json(const tg_approval_info *a) {
    return json_pack(
        "{s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:o,s:s,s:o,s:I,s:o,s:s}", "id",
        (json_int_t)a->id, "budget", a->budget, "amount_micros", (json_int_t)a->amount_micros,
        "tokens", (json_int_t)a->tokens, "class", tg_class_str(a->cls), "tool", a->tool, "model",
        a->model, "refused_at", a->refused_at, "reason", a->reason, "requested_by", a->requested_by,
        "requested_at_ms", (json_int_t)a->requested_at_ms, "deadline_ms",
        (json_int_t)a->deadline_ms, "state", tg_approval_state_str(a->state), "decided_by",
        a->decided_by, "decided_at_ms", tg__json_optional(a->decided_at_ms), "note", a->note,
        "approved_class",
        (unsigned)a->approved_cls < TG_CLASS_AUTO ? json_string(tg_class_str(a->approved_cls))
                                                  : json_null(),
        "approved_micros", (json_int_t)a->approved_micros, "hold_id",
        a->hold_id ? json_integer((json_int_t)a->hold_id) : json_null(), "outcome", a->outcome);
}

static bool redis(const tg__daemon *daemon) {
    return strcmp(daemon->config->store, "redis") == 0;
}

static tg__reply unsupported(void) {
    return tg__api_error(501, "unsupported",
                         "approvals are not kept on the redis store yet (docs/multi-node.md)");
}

tg__reply tg__api_approval_ask(tg__daemon *daemon, const tg__caller *caller,
                               const tg_reserve_request *request, json_t *field, int64_t now_ms) {
    static const char *const allowed[] = {"wait_ms", "reason", NULL};
    if (!json_is_object(field)) {
        return tg__api_error(400, "invalid_field",
                             "'approval' is an object: {\"wait_ms\": N, \"reason\": \"...\"}");
    }
    tg__fields in = {field, ""};
    tg_approval_ask ask = {.requested_by = caller->name};
    if (!tg__fields_only(&in, allowed) ||
        !tg__field_int(&in, "wait_ms", &ask.wait_ms, TG_LIMIT_MAX) ||
        !tg__field_text(&in, "reason", &ask.reason, TG_APPROVAL_TEXT_SIZE_MAX)) {
        return tg__api_bad_field(&in);
    }
    if (ask.wait_ms < 1 || ask.wait_ms > TG_APPROVAL_WAIT_MS_MAX) {
        return tg__api_error(400, "invalid_field",
                             "'approval.wait_ms' is 1..600000 (how long the agent waits)");
    }
    if (request->wait_ms != 0) {
        return tg__api_error(400, "invalid_field",
                             "'wait_ms' and 'approval' exclude each other: an approval waits by "
                             "its own wait_ms");
    }
    if (redis(daemon)) {
        return unsupported();
    }
    tg_reserve_result result;
    uint64_t approval_id = 0;
    tg_error err = {0};
    tg_status status =
        tg_approval_request(daemon->engine, request, &ask, now_ms, &result, &approval_id, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    if (result.waiting) {
        return (tg__reply){TG__STATUS_WAITING,
                           json_pack("{s:I,s:I}", "wait_id", (json_int_t)result.wait_id,
                                     "approval_id", (json_int_t)approval_id),
                           TG_NONE};
    }
    return tg__api_reserve_reply(daemon, &result, request->amount_micros, now_ms);
}

/* ---- listing ---------------------------------------------------------------------- */

typedef struct {
    json_t *rows;
    const char *subtree; /* "" for all */
    int state;           /* tg_approval_state, or -1 for any */
    int64_t limit;
    int64_t count; /* matching in the subtree, listed or not */
} listing;

static bool list_row(void *user, const tg_approval_info *a) {
    listing *l = user;
    if (!tg__path_in_scope(l->subtree, a->budget) || (l->state >= 0 && (int)a->state != l->state)) {
        return true;
    }
    if (l->count++ < l->limit) {
        json_array_append_new(l->rows, tg__approval_json(a));
    }
    return true;
}

static tg__reply list(tg__daemon *daemon, const tg__caller *caller, const char *query) {
    char state[16], budget[TG_PATH_SIZE_MAX], limit_text[16];
    tg_approval_state wanted = TG_APPROVAL_PENDING;
    if (!tg__api_query_text(query, "state", state, sizeof state) ||
        (state[0] != '\0' && tg_approval_state_parse(state, &wanted) != TG_OK)) {
        return tg__api_error(400, "invalid_query",
                             "query parameter 'state' is pending, approved, denied or expired");
    }
    if (!tg__api_query_text(query, "budget", budget, sizeof budget) ||
        (budget[0] != '\0' && tg__path_check(budget, NULL) != TG_OK)) {
        return tg__api_error(400, "invalid_query", "query parameter 'budget' is not a budget path");
    }
    int64_t limit = 100;
    if (!tg__api_query_text(query, "limit", limit_text, sizeof limit_text)) {
        return tg__api_error(400, "invalid_query", "query parameter 'limit' is 1..1000");
    }
    if (limit_text[0] != '\0') {
        char *end = NULL;
        long long value = strtoll(limit_text, &end, 10);
        if (limit_text[0] < '0' || limit_text[0] > '9' || *end != '\0' || value < 1 ||
            value > LIST_MAX) {
            return tg__api_error(400, "invalid_query", "query parameter 'limit' is 1..1000");
        }
        limit = value;
    }
    if (budget[0] != '\0' && !tg__may_touch(caller, budget)) {
        return tg__api_forbidden("this key may not read that budget's approvals");
    }
    if (redis(daemon)) {
        return unsupported();
    }
    listing l = {json_array(), tg__read_subtree(caller, budget), state[0] ? (int)wanted : -1, limit,
                 0};
    tg_approval_list(daemon->engine, list_row, &l, NULL);
    return tg__api_ok(json_pack("{s:o,s:I,s:I}", "approvals", l.rows, "count", (json_int_t)l.count,
                                "pending", (json_int_t)tg_approval_pending_count(daemon->engine)));
}

/* ---- one approval ------------------------------------------------------------------- */

/* The approval, if the caller may see it: another scope's is "not found", so a key learns
 * nothing of other tenants' approvals, not even that the id exists. */
static tg__reply find(tg__daemon *daemon, const tg__caller *caller, uint64_t id,
                      tg_approval_info *out) {
    tg_error err = {0};
    if (tg_approval_get(daemon->engine, id, out, &err) != TG_OK ||
        !tg__may_touch(caller, out->budget)) {
        char message[96];
        snprintf(message, sizeof message, "no approval %" PRIu64 " (or not in this key's scope)",
                 id);
        return tg__api_error(404, "not_found", message);
    }
    return (tg__reply){0, NULL, TG_NONE};
}

static tg__reply decide(tg__daemon *daemon, const tg__caller *caller, uint64_t id, bool approve,
                        json_t *body, int64_t now_ms) {
    if (caller->role != TG__ROLE_ADMIN) {
        return tg__api_forbidden("only an admin key may approve or deny; an agent key never may, "
                                 "not even its own requests");
    }
    static const char *const allowed[] = {"class", "amount_micros", "amount", "note", NULL};
    tg__fields in = {body, ""};
    const char *class_text = NULL;
    tg_approval_verdict verdict = {.approve = approve, .cls = TG_CLASS_AUTO, .by = caller->name};
    if (!tg__fields_only(&in, allowed) || !tg__field_text(&in, "class", &class_text, 16) ||
        !tg__field_money(&in, "amount", &verdict.amount_micros, TG_AMOUNT_MAX) ||
        !tg__field_text(&in, "note", &verdict.note, TG_APPROVAL_TEXT_SIZE_MAX)) {
        return tg__api_bad_field(&in);
    }
    if (!approve && (class_text != NULL || verdict.amount_micros != 0)) {
        return tg__api_error(400, "invalid_field", "a denial takes a 'note' only");
    }
    if (class_text != NULL && (tg_class_parse(class_text, &verdict.cls) != TG_OK)) {
        return tg__api_error(400, "invalid_field",
                             "'class' is low, normal, high, critical or auto (critical)");
    }
    tg_approval_info info;
    tg__reply hidden = find(daemon, caller, id, &info);
    if (hidden.body != NULL) {
        return hidden;
    }
    tg_error err = {0};
    tg_status status = tg_approval_decide(daemon->engine, id, &verdict, now_ms, &info, &err);
    if (status == TG_ERR_STATE) {
        tg__reply reply = tg__api_error(409, "already_decided", err.message);
        json_object_set_new(json_object_get(reply.body, "error"), "approval",
                            tg__approval_json(&info));
        return reply;
    }
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    return tg__api_ok(json_pack("{s:o}", "approval", tg__approval_json(&info)));
}

tg__reply tg__api_approvals_route(tg__daemon *daemon, const tg__caller *caller, const char *method,
                                  const char *path, const char *query, json_t *body, int64_t now_ms,
                                  bool *handled) {
    *handled = strcmp(path, "/v1/approvals") == 0 || strncmp(path, "/v1/approvals/", 14) == 0;
    if (!*handled) {
        return (tg__reply){0, NULL, TG_NONE};
    }
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(path, "/v1/approvals") == 0) {
        return get ? list(daemon, caller, query)
                   : tg__api_error(405, "method_not_allowed", "GET /v1/approvals lists them");
    }
    const char *at = path + 14;
    size_t digits = strspn(at, "0123456789");
    const char *rest = at + digits;
    if (digits == 0 || digits > 19 || at[0] == '0' ||
        (*rest != '\0' && strcmp(rest, "/approve") != 0 && strcmp(rest, "/deny") != 0)) {
        return tg__api_error(404, "no_route",
                             "an approval is /v1/approvals/{id}, decided at .../approve or "
                             ".../deny");
    }
    uint64_t id = strtoull(at, NULL, 10);
    if (redis(daemon)) {
        return unsupported();
    }
    if (*rest == '\0') {
        if (!get) {
            return tg__api_error(405, "method_not_allowed", "GET /v1/approvals/{id} shows one");
        }
        tg_approval_info info;
        tg__reply hidden = find(daemon, caller, id, &info);
        return hidden.body != NULL
                   ? hidden
                   : tg__api_ok(json_pack("{s:o}", "approval", tg__approval_json(&info)));
    }
    if (!post) {
        return tg__api_error(405, "method_not_allowed", "approve or deny with POST");
    }
    return decide(daemon, caller, id, strcmp(rest, "/approve") == 0, body, now_ms);
}
