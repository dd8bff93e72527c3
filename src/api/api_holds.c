/*
 * api_holds: POST /v1/holds, GET /v1/holds/{id}, commit, release and POST
 * /v1/charges. A refusal is 402 with the engine's fields, never a 4xx/5xx.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/next.h"
#include "api/api.h"

/* A 402 with the engine's fields and what the agent can do next (proxy/next.h); `asked`
 * is the amount refused (TG_NONE: unknown, no shrink advice). */
static tg__reply refusal(tg__daemon *daemon, const tg_refusal *refused, int64_t asked,
                         int64_t now_ms) {
    daemon->metrics.refused[refused->reason < TG_REASON_COUNT ? refused->reason : 0]++;
    tg__reply reply = {402, NULL, refused->retry_after_ms};
    reply.body = json_pack(
        "{s:b,s:{s:s,s:s,s:s,s:s,s:I,s:o,s:o}}", "granted", 0, "refusal", "code", "refused",
        "reason", tg_reason_str(refused->reason), "message", tg_reason_text(refused->reason),
        "budget", refused->budget, "max_amount_micros", (json_int_t)refused->max_amount_micros,
        "retry_after_ms", tg__json_optional(refused->retry_after_ms), "next",
        tg__next_steps(now_ms, refused->retry_after_ms, refused->max_amount_micros, asked));
    json_t *next = json_object_get(json_object_get(reply.body, "refusal"), "next");
    if (refused->reason == TG_REASON_REVOKED && next != NULL) {
        /* Only the class stops it, never the hard limit: a person may let it through. */
        json_object_set_new(next, "approval",
                            json_pack("{s:b,s:s}", "possible", 1, "ask",
                                      "POST /v1/holds with approval: {wait_ms, reason}"));
    }
    return reply;
}

static json_t *hold_json(const tg_hold_info *hold) {
    return json_pack("{s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:I,s:I,s:b}", "hold_id", (json_int_t)hold->id,
                     "budget", hold->budget, "amount_micros", (json_int_t)hold->amount_micros,
                     "tokens", (json_int_t)hold->tokens, "class", tg_class_str(hold->cls), "tool",
                     hold->tool, "model", hold->model, "created_at_ms",
                     (json_int_t)hold->created_at_ms, "expires_at_ms",
                     (json_int_t)hold->expires_at_ms, "cancel_requested", hold->cancel_requested);
}

/* ---- Holds and charges -------------------------------------------------------- */

/* The answer to a reserve decided now or after a wait (waited_ms, TG_NONE: no wait). */
static tg__reply granted_or_refused(tg__daemon *daemon, const tg_reserve_result *result,
                                    int64_t asked, int64_t waited_ms, int64_t now_ms) {
    tg__reply reply;
    if (!result->granted) {
        reply = refusal(daemon, &result->refusal, asked, now_ms);
    } else {
        daemon->metrics.granted++;
        reply = tg__api_ok(json_pack("{s:b,s:I,s:I,s:s,s:b}", "granted", 1, "hold_id",
                                     (json_int_t)result->hold_id, "expires_at_ms",
                                     (json_int_t)result->expires_at_ms, "class",
                                     tg_class_str(result->cls), "replayed", result->replayed));
        if (asked != TG_NONE && result->amount_micros > 0 && result->amount_micros < asked &&
            reply.body != NULL) {
            /* Shrunk to fit (min_amount_micros): the amount held, and the ask. */
            json_object_set_new(reply.body, "amount_micros",
                                json_integer((json_int_t)result->amount_micros));
            json_object_set_new(reply.body, "shrunk_from_micros", json_integer((json_int_t)asked));
        }
    }
    if (waited_ms != TG_NONE && reply.body != NULL) {
        json_object_set_new(reply.body, "waited_ms", json_integer((json_int_t)waited_ms));
    }
    return reply;
}

tg__reply tg__api_reserve_reply(tg__daemon *daemon, const tg_reserve_result *result, int64_t asked,
                                int64_t now_ms) {
    return granted_or_refused(daemon, result, asked, TG_NONE, now_ms);
}

tg__reply tg__api_post_hold(tg__daemon *daemon, const tg__caller *caller, json_t *body,
                            int64_t now_ms) {
    static const char *const allowed[] = {"budget",
                                          "amount_micros",
                                          "amount",
                                          "tokens",
                                          "class",
                                          "tool",
                                          "model",
                                          "ttl_ms",
                                          "idempotency_key",
                                          "wait_ms",
                                          "min_amount_micros",
                                          "wait_likely",
                                          "approval",
                                          NULL};
    tg__fields in = {body, ""};
    tg_reserve_request request = {.cls = TG_CLASS_AUTO};
    const char *class_text = NULL;
    char scoped_key[TG_KEY_SIZE_MAX];
    if (!tg__fields_only(&in, allowed) ||
        !tg__field_text(&in, "budget", &request.budget, TG_PATH_SIZE_MAX) ||
        !tg__field_money(&in, "amount", &request.amount_micros, TG_AMOUNT_MAX) ||
        !tg__field_int(&in, "tokens", &request.tokens, TG_LIMIT_MAX) ||
        !tg__field_text(&in, "class", &class_text, 16) ||
        !tg__field_text(&in, "tool", &request.tool, TG_NAME_SIZE_MAX) ||
        !tg__field_text(&in, "model", &request.model, TG_NAME_SIZE_MAX) ||
        !tg__field_int(&in, "ttl_ms", &request.ttl_ms, TG_LIMIT_MAX) ||
        !tg__field_int(&in, "wait_ms", &request.wait_ms, TG_LIMIT_MAX) ||
        !tg__field_int(&in, "min_amount_micros", &request.min_amount_micros, TG_AMOUNT_MAX) ||
        !tg__field_bool(&in, "wait_likely", &request.wait_likely) ||
        !tg__field_idempotency_key(&in, caller, scoped_key, &request.idempotency_key)) {
        return tg__api_bad_field(&in);
    }
    if (request.budget == NULL) {
        return tg__api_error(400, "missing_field", "'budget' is required");
    }
    if (request.min_amount_micros > request.amount_micros) {
        return tg__api_error(400, "invalid_field",
                             "'min_amount_micros' may not be above the amount asked");
    }
    if (request.wait_ms > TG_WAIT_MS_MAX) {
        return tg__api_error(400, "invalid_field", "'wait_ms' is 0..600000 (ten minutes)");
    }
    if (caller->role == TG__ROLE_READ || !tg__may_touch(caller, request.budget)) {
        return tg__api_forbidden("this key may not hold on that budget");
    }
    if (class_text != NULL) {
        /* The class comes from policy; only an admin may set it by hand. */
        if (caller->role != TG__ROLE_ADMIN) {
            return tg__api_forbidden("only an admin key may set 'class'; the policy decides it");
        }
        if (tg_class_parse(class_text, &request.cls) != TG_OK) {
            return tg__api_error(400, "invalid_field",
                                 "'class' must be low, normal, high, "
                                 "critical or auto");
        }
    }
    if (request.cls == TG_CLASS_AUTO) {
        /* The policy names a class from tool and model, which the caller chose: never more
         * than its key may obtain. */
        request.cls = tg__caller_class(daemon, caller, request.budget, request.tool, request.model);
    }
    json_t *approval = json_object_get(body, "approval");
    if (approval != NULL && !json_is_null(approval)) {
        return tg__api_approval_ask(daemon, caller, &request, approval, now_ms);
    }
    tg_reserve_result result;
    tg_error err = {0};
    tg_status status = tg_reserve(daemon->engine, &request, now_ms, &result, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    if (result.waiting) {
        return (tg__reply){TG__STATUS_WAITING,
                           json_pack("{s:I}", "wait_id", (json_int_t)result.wait_id), TG_NONE};
    }
    return granted_or_refused(daemon, &result, request.amount_micros, TG_NONE, now_ms);
}

tg__reply tg__api_wait_reply(tg__daemon *daemon, const tg_wait_result *decided) {
    if (decided->status != TG_OK) {
        tg_error err = {decided->status, ""};
        memcpy(err.message, decided->message, sizeof err.message);
        return tg__api_from_status(decided->status, &err);
    }
    if (decided->result.granted) {
        daemon->metrics.waits_granted++;
    } else {
        daemon->metrics.waits_refused++;
    }
    tg__reply reply =
        granted_or_refused(daemon, &decided->result, TG_NONE, decided->waited_ms, tg__now_ms());
    tg_approval_info approval;
    if (reply.body != NULL &&
        tg_approval_by_wait(daemon->engine, decided->wait_id, &approval, NULL) == TG_OK) {
        /* Answered by a person (or by nobody in time): say which, and who. */
        json_object_set_new(reply.body, "approval", tg__approval_json(&approval));
        json_t *next = json_object_get(json_object_get(reply.body, "refusal"), "next");
        if (next != NULL) {
            json_object_set_new(next, "approval",
                                json_pack("{s:b,s:I,s:s,s:s}", "possible", 0, "id",
                                          (json_int_t)approval.id, "state",
                                          tg_approval_state_str(approval.state), "outcome",
                                          approval.outcome));
        }
    }
    return reply;
}

static tg__reply hold_in_scope(tg__daemon *daemon, const tg__caller *caller, uint64_t hold_id,
                               tg_hold_info *hold) {
    tg_error err = {0};
    tg_status status = tg_hold_get(daemon->engine, hold_id, hold, &err);
    if (status == TG_OK && !tg__may_touch(caller, hold->budget)) {
        return tg__api_forbidden("this key may not touch that hold");
    }
    if (status != TG_OK && status != TG_ERR_NOT_FOUND) {
        return tg__api_from_status(status, &err);
    }
    /* A closed hold is left to the engine, which replays idempotent repeats. */
    return (tg__reply){0, NULL, TG_NONE};
}

/* The cost of tokens at the config's price for `model`; a 400 reply when it has none. */
static tg__reply price_tokens(tg__daemon *daemon, const char *model, int64_t tokens_in,
                              int64_t tokens_out, int64_t *cost_micros) {
    const tg__price *price = tg__price_find(daemon->config, model);
    char message[TG_ERROR_MESSAGE_SIZE];
    if (price == NULL) {
        snprintf(message, sizeof message,
                 "no price for model '%.100s': add it under prices: in the config, or send the "
                 "cost itself",
                 model);
        return tg__api_error(400, "unpriced_model", message);
    }
    tg_error err = {0};
    if (tg__price_cost(price, tokens_in, tokens_out, cost_micros, &err) != TG_OK) {
        return tg__api_error(400, "invalid_field", err.message);
    }
    return (tg__reply){0, NULL, TG_NONE};
}

tg__reply tg__api_post_commit(tg__daemon *daemon, const tg__caller *caller, uint64_t hold_id,
                              json_t *body, int64_t now_ms) {
    static const char *const allowed[] = {
        "actual_micros", "actual", "tokens_in", "tokens_out", "model", "idempotency_key", NULL};
    tg__fields in = {body, ""};
    /* An agent's actual cost is its own word: a budget may charge it at most the hold
     * (above_hold: cap). An admin's is trusted, as is what the proxy measures itself. */
    tg_commit_request request = {.hold_id = hold_id,
                                 .agent_reported = caller->role == TG__ROLE_AGENT};
    const char *model = NULL;
    char scoped_key[TG_KEY_SIZE_MAX];
    bool has_actual = json_object_get(body, "actual_micros") || json_object_get(body, "actual");
    if (!tg__fields_only(&in, allowed) ||
        !tg__field_money(&in, "actual", &request.actual_micros, TG_AMOUNT_MAX) ||
        !tg__field_int(&in, "tokens_in", &request.tokens_in, TG_LIMIT_MAX) ||
        !tg__field_int(&in, "tokens_out", &request.tokens_out, TG_LIMIT_MAX) ||
        !tg__field_text(&in, "model", &model, TG_NAME_SIZE_MAX) ||
        !tg__field_idempotency_key(&in, caller, scoped_key, &request.idempotency_key)) {
        return tg__api_bad_field(&in);
    }
    if (has_actual && model != NULL) {
        return tg__api_error(400, "invalid_field",
                             "send the cost ('actual_micros') or the 'model' to price the tokens "
                             "with, not both");
    }
    if (!has_actual && model == NULL) {
        return tg__api_error(400, "missing_field",
                             "'actual_micros' is required, or 'model' with tokens_in and "
                             "tokens_out to price");
    }
    if (caller->role == TG__ROLE_READ) {
        return tg__api_forbidden("a read-only key may not commit");
    }
    tg_hold_info hold;
    tg__reply denied = hold_in_scope(daemon, caller, hold_id, &hold);
    if (denied.status != 0) {
        return denied;
    }
    if (model != NULL) {
        tg__reply unpriced = price_tokens(daemon, model, request.tokens_in, request.tokens_out,
                                          &request.actual_micros);
        if (unpriced.status != 0) {
            return unpriced;
        }
    }
    tg_commit_result result;
    tg_error err = {0};
    tg_status status = tg_commit(daemon->engine, &request, now_ms, &result, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    return tg__api_ok(
        json_pack("{s:I,s:I,s:b,s:I,s:b}", "charged_micros", (json_int_t)result.charged_micros,
                  "overrun_micros", (json_int_t)result.overrun_micros, "capped", result.capped,
                  "charge_id", (json_int_t)result.charge_id, "replayed", result.replayed));
}

tg__reply tg__api_post_release(tg__daemon *daemon, const tg__caller *caller, uint64_t hold_id,
                               json_t *body, int64_t now_ms) {
    static const char *const allowed[] = {"idempotency_key", NULL};
    tg__fields in = {body, ""};
    const char *key = NULL;
    char scoped_key[TG_KEY_SIZE_MAX];
    if (!tg__fields_only(&in, allowed) ||
        !tg__field_idempotency_key(&in, caller, scoped_key, &key)) {
        return tg__api_bad_field(&in);
    }
    if (caller->role == TG__ROLE_READ) {
        return tg__api_forbidden("a read-only key may not release");
    }
    tg_hold_info hold;
    tg__reply denied = hold_in_scope(daemon, caller, hold_id, &hold);
    if (denied.status != 0) {
        return denied;
    }
    bool replayed = false;
    tg_error err = {0};
    tg_status status = tg_release(daemon->engine, hold_id, key, now_ms, &replayed, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    return tg__api_ok(json_pack("{s:b,s:b}", "released", 1, "replayed", replayed));
}

tg__reply tg__api_get_hold(tg__daemon *daemon, const tg__caller *caller, uint64_t hold_id) {
    tg_hold_info hold;
    tg_error err = {0};
    tg_status status = tg_hold_get(daemon->engine, hold_id, &hold, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    if (!tg__may_touch(caller, hold.budget)) {
        return tg__api_forbidden("this key may not read that hold");
    }
    return tg__api_ok(hold_json(&hold));
}

tg__reply tg__api_post_charge(tg__daemon *daemon, const tg__caller *caller, json_t *body,
                              int64_t now_ms) {
    static const char *const allowed[] = {"budget",     "cost_micros",     "cost", "tokens_in",
                                          "tokens_out", "class",           "tool", "model",
                                          "force",      "idempotency_key", NULL};
    tg__fields in = {body, ""};
    tg_record_request request = {.cls = TG_CLASS_AUTO};
    const char *class_text = NULL;
    char scoped_key[TG_KEY_SIZE_MAX];
    if (!tg__fields_only(&in, allowed) ||
        !tg__field_text(&in, "budget", &request.budget, TG_PATH_SIZE_MAX) ||
        !tg__field_money(&in, "cost", &request.cost_micros, TG_AMOUNT_MAX) ||
        !tg__field_int(&in, "tokens_in", &request.tokens_in, TG_LIMIT_MAX) ||
        !tg__field_int(&in, "tokens_out", &request.tokens_out, TG_LIMIT_MAX) ||
        !tg__field_text(&in, "class", &class_text, 16) ||
        !tg__field_text(&in, "tool", &request.tool, TG_NAME_SIZE_MAX) ||
        !tg__field_text(&in, "model", &request.model, TG_NAME_SIZE_MAX) ||
        !tg__field_bool(&in, "force", &request.force) ||
        !tg__field_idempotency_key(&in, caller, scoped_key, &request.idempotency_key)) {
        return tg__api_bad_field(&in);
    }
    if (request.budget == NULL) {
        return tg__api_error(400, "missing_field", "'budget' is required");
    }
    if (caller->role == TG__ROLE_READ || !tg__may_touch(caller, request.budget)) {
        return tg__api_forbidden("this key may not charge that budget");
    }
    bool has_cost = json_object_get(body, "cost_micros") || json_object_get(body, "cost");
    if (!has_cost && request.model != NULL) {
        /* No cost given: the tokens are priced at the model's configured price. */
        tg__reply unpriced = price_tokens(daemon, request.model, request.tokens_in,
                                          request.tokens_out, &request.cost_micros);
        if (unpriced.status != 0) {
            return unpriced;
        }
    }
    if (class_text != NULL) {
        if (caller->role != TG__ROLE_ADMIN) {
            return tg__api_forbidden("only an admin key may set 'class'; the policy decides it");
        }
        if (tg_class_parse(class_text, &request.cls) != TG_OK) {
            return tg__api_error(400, "invalid_field", "'class' is not an impact class");
        }
    }
    if (request.cls == TG_CLASS_AUTO) {
        request.cls = tg__caller_class(daemon, caller, request.budget, request.tool, request.model);
    }
    if (request.force && caller->role != TG__ROLE_ADMIN) {
        /* force may pass a limit, so it is an admin's decision, never an agent's. */
        return tg__api_forbidden("only an admin key may force a charge past the limits");
    }
    tg_record_result result;
    tg_error err = {0};
    tg_status status = tg_record(daemon->engine, &request, now_ms, &result, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    if (!result.charged) {
        return refusal(daemon, &result.refusal, request.cost_micros, now_ms);
    }
    daemon->metrics.granted++;
    return tg__api_ok(json_pack("{s:b,s:I,s:b}", "charged", 1, "charge_id",
                                (json_int_t)result.charge_id, "replayed", result.replayed));
}

/* What GET /v1/holds?state=waiting lists: the waiters of one subtree. */
typedef struct {
    json_t *rows;
    const char *subtree; /* "" for every budget */
    size_t count;        /* waiters in the subtree, listed or not */
} waiting_page;

static bool waiting_row(void *user, const tg_wait_info *info) {
    waiting_page *page = user;
    if (!tg__path_in_scope(page->subtree, info->budget)) {
        return true;
    }
    /* Counted past the page too (at most TG_WAITERS_MAX in all), and only in the caller's
     * subtree: a scoped key learns nothing of other scopes' waiters. */
    page->count++;
    if (json_array_size(page->rows) >= TG__PAGE_MAX) {
        return true;
    }
    json_array_append_new(
        page->rows,
        json_pack("{s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:I,s:I,s:s}", "wait_id", (json_int_t)info->wait_id,
                  "budget", info->budget, "amount_micros", (json_int_t)info->amount_micros,
                  "tokens", (json_int_t)info->tokens, "class", tg_class_str(info->cls), "tool",
                  info->tool, "model", info->model, "created_at_ms",
                  (json_int_t)info->created_at_ms, "deadline_ms", (json_int_t)info->deadline_ms,
                  "waiting_for", info->blocked_at));
    return true;
}

tg__reply tg__api_waiting_list(tg__daemon *daemon, const tg__caller *caller, const char *budget) {
    if (budget[0] != '\0' && !tg__may_touch(caller, budget)) {
        return tg__api_forbidden("this key may not read that budget");
    }
    waiting_page page = {json_array(), tg__read_subtree(caller, budget), 0};
    tg_wait_list(daemon->engine, waiting_row, &page, NULL);
    return tg__api_ok(
        json_pack("{s:o,s:I}", "waiting", page.rows, "count", (json_int_t)page.count));
}

/* Finds a waiter the caller may see. */
static bool waiter_find(void *user, const tg_wait_info *info) {
    tg_wait_info *wanted = user;
    if (info->wait_id == wanted->wait_id) {
        *wanted = *info;
        return false;
    }
    return true;
}

tg__reply tg__api_wait_cancel(tg__daemon *daemon, const tg__caller *caller, uint64_t wait_id,
                              int64_t now_ms) {
    if (caller->role == TG__ROLE_READ) {
        return tg__api_forbidden("a read-only key may not cancel");
    }
    tg_wait_info info = {.wait_id = wait_id};
    tg_wait_list(daemon->engine, waiter_find, &info, NULL);
    if (info.budget[0] != '\0' && !tg__may_touch(caller, info.budget)) {
        return tg__api_forbidden("this key may not touch that waiting request");
    }
    tg_error err = {0};
    tg_status status = tg_wait_cancel(daemon->engine, wait_id, now_ms, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    if (daemon->wait_cancelled != NULL) {
        daemon->wait_cancelled(daemon->wait_cancelled_user, wait_id);
    }
    return tg__api_ok(json_pack("{s:b}", "cancelled", 1));
}
