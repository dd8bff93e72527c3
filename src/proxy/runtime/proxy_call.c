/*
 * proxy_call: admitting a call. The agent's Tollgate key (Authorization: Bearer,
 * or Anthropic's x-api-key) selects its budget: the key's scope. A metered call
 * is parsed, priced (an unpriced model is refused, never counted free), its worst
 * case held, or re-planned by the over-budget policy, or refused in the
 * provider's own error shape. Then it is handed to curl.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "proxy/attribution.h"
#include "proxy/bound.h"
#include "proxy/refusal.h"
#include "proxy/usage.h"
#include "proxy/runtime/proxy_internal.h"

/* Client headers never forwarded: hop-by-hop, the agent's key, and what curl sets. */
static const char *const DROPPED_HEADERS[] = {"authorization",
                                              "x-api-key",
                                              "x-goog-api-key",
                                              "api-key",
                                              "host",
                                              "content-length",
                                              "connection",
                                              "keep-alive",
                                              "transfer-encoding",
                                              "expect",
                                              "accept-encoding",
                                              "te",
                                              "upgrade",
                                              "proxy-authorization",
                                              NULL};

static bool dropped(const char *name) {
    if (strncasecmp(name, "x-tollgate-", 11) == 0) {
        return true; /* Tollgate's own (budget, tags): not the provider's business */
    }
    for (int i = 0; DROPPED_HEADERS[i] != NULL; i++) {
        if (strcasecmp(name, DROPPED_HEADERS[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The agent's secret from any header the SDKs send: Authorization: Bearer (OpenAI),
 * x-api-key (Anthropic), x-goog-api-key (Gemini), api-key (Azure). */
const char *tg__proxy_agent_secret(struct evhttp_request *request) {
    struct evkeyvalq *in = evhttp_request_get_input_headers(request);
    const char *bearer = evhttp_find_header(in, "Authorization");
    if (bearer != NULL && strncasecmp(bearer, "Bearer ", 7) == 0) {
        return bearer + 7;
    }
    const char *key = evhttp_find_header(in, "x-api-key");
    key = key != NULL ? key : evhttp_find_header(in, "x-goog-api-key");
    return key != NULL ? key : evhttp_find_header(in, "api-key");
}

/* The request's URI as the upstream sees it: without /p/NAME for a named upstream. */
static const char *call_uri(const proxy_call *call) {
    return evhttp_request_get_uri(call->request) + call->prefix_size;
}

/* The request's path without its query string, cut to size bytes. */
static void request_path(const proxy_call *call, char *out, size_t size) {
    const char *uri = call_uri(call);
    size_t length = strcspn(uri, "?");
    if (length >= size) {
        length = size - 1;
    }
    memcpy(out, uri, length);
    out[length] = '\0';
}

/* Headers for the upstream: the client's (less DROPPED_HEADERS) and the provider key. */
static bool build_headers(proxy_call *call, const char *secret) {
    const tg__upstream *upstream = call->upstream;
    const char *key = upstream->pass_agent_key ? secret : upstream->api_key;
    char line[TG__PROXY_KEY_SIZE_MAX + 32];
    call->provider->auth_header(key, line, sizeof line);
    struct curl_slist *list = curl_slist_append(NULL, line);
    int count = 0;
    struct evkeyval *header;
    TAILQ_FOREACH(header, evhttp_request_get_input_headers(call->request), next) {
        if (dropped(header->key) || strcasecmp(header->key, "content-type") == 0 ||
            ++count > TG__PROXY_HEADERS_MAX) {
            continue;
        }
        char *text = malloc(strlen(header->key) + strlen(header->value) + 3);
        if (text == NULL) {
            break;
        }
        sprintf(text, "%s: %s", header->key, header->value);
        struct curl_slist *grown = curl_slist_append(list, text);
        free(text);
        list = grown ? grown : list;
    }
    list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Expect:"); /* no 100-continue round trip */
    call->headers = list;
    return list != NULL;
}

/* The client's connection keeps libevent's read and write timeouts
 * (limits.request_timeout_s), which would end a call whose upstream is quiet for that
 * long (a reasoning model thinking). The upstream's idle and overall timeouts and the
 * sweep's disconnect check decide instead. */
static void clear_client_timeouts(proxy_call *call) {
    struct evhttp_connection *connection = evhttp_request_get_connection(call->request);
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    if (events != NULL) {
        bufferevent_set_timeouts(events, NULL, NULL);
    }
}

bool tg__proxy_start_transfer(proxy_call *call, const char *secret) {
    tg__proxy *proxy = call->proxy;
    clear_client_timeouts(call);
    const tg__upstream *upstream = call->upstream;
    char url[TG__PROXY_URL_SIZE_MAX + 1024];
    snprintf(url, sizeof url, "%s%s", upstream->base_url, call_uri(call));
    CURL *easy = tg__proxy_easy_take(proxy);
    if (easy == NULL || !build_headers(call, secret)) {
        curl_easy_cleanup(easy);
        return false;
    }
    call->easy = easy;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers);
    if (evhttp_request_get_command(call->request) == EVHTTP_REQ_POST) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_size);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->body ? call->body : "");
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, tg__proxy_on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, tg__proxy_on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, call);
    /* timeout_ms bounds every attempt together: a fallback gets what the others left. */
    int64_t now_ms = tg__now_ms();
    call->first_sent_ms = call->first_sent_ms > 0 ? call->first_sent_ms : now_ms;
    int64_t left_ms = proxy->config.timeout_ms - (now_ms - call->first_sent_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)(left_ms > 1 ? left_ms : 1));
    /* Idle (no upstream byte for stream_idle_timeout_ms) is checked by the sweep. */
    call->last_byte_ms = now_ms;
    call->attempt_started_ms = now_ms;
    call->answered = false;
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)proxy->config.connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    tg__proxy_sockets_use(proxy, easy);
    if (curl_multi_add_handle(proxy->multi, easy) != CURLM_OK) {
        return false;
    }
    tg__proxy_call_link(call);
    return true;
}

void tg__proxy_call_link(proxy_call *call) {
    tg__proxy *proxy = call->proxy;
    if (call->prev != NULL || proxy->calls == call) {
        return; /* linked already: a call that waited for room (proxy_wait.c) */
    }
    call->next = proxy->calls;
    if (proxy->calls != NULL) {
        proxy->calls->prev = call;
    }
    proxy->calls = call;
}

/* The status of a refusal this client must not retry. The Vercel AI SDK (user-agent
 * "... ai-sdk/provider-utils/3.x") retries every 429 whatever x-should-retry and
 * Retry-After say, and @google/genai ("google-genai-sdk/") every 429 when given
 * retryOptions; neither retries a 402, and neither has a 429-only exception type. The
 * others obey x-should-retry: false and keep their 429 type (RateLimitError). */
static int final_status(const proxy_call *call) {
    if (call->proxy->config.refusal_status != 0) {
        return call->proxy->config.refusal_status;
    }
    const char *agent =
        evhttp_find_header(evhttp_request_get_input_headers(call->request), "User-Agent");
    bool retries_429 = agent != NULL && (strstr(agent, "ai-sdk/") != NULL ||
                                         strstr(agent, "google-genai-sdk/") != NULL);
    return retries_429 ? 402 : 429;
}

/* Answers a budget refusal in the provider's shape (429, Retry-After...). */
void tg__proxy_send_refusal(proxy_call *call, const tg_refusal *refused, int64_t needed_micros) {
    tg__daemon *daemon = call->proxy->daemon;
    call->outcome = "refused";
    call->reply_status = 429;
    daemon->metrics.refused[refused->reason < TG_REASON_COUNT ? refused->reason : 0]++;
    tg__refusal refusal = {refused->reason == TG_REASON_FROZEN ? "budget_frozen" : NULL,
                           refused->budget,
                           tg_reason_str(refused->reason),
                           needed_micros,
                           refused->max_amount_micros,
                           refused->retry_after_ms,
                           final_status(call)};
    tg__buf body;
    tg__buf_init(&body, 64 * 1024);
    tg__refusal_headers headers;
    if (tg__refusal_write(call->provider, &refusal, call->proxy->config.retry_automatic_ms_max,
                          &body, &headers) != TG_OK) {
        tg__buf_free(&body);
        tg__proxy_send_error(call, 500, "internal_error", "cannot write the refusal");
        return;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(call->request);
    evhttp_add_header(out, "Content-Type", "application/json");
    if (headers.retry_after[0] != '\0') {
        evhttp_add_header(out, "Retry-After", headers.retry_after);
    }
    if (headers.retry_after_ms[0] != '\0') {
        evhttp_add_header(out, "retry-after-ms", headers.retry_after_ms);
    }
    if (headers.should_retry[0] != '\0') {
        evhttp_add_header(out, "x-should-retry", headers.should_retry);
    }
    struct evbuffer *buffer = evbuffer_new();
    evbuffer_add(buffer, body.data, body.size);
    call->reply_status = headers.http_status;
    evhttp_send_reply(call->request, headers.http_status, "Refused", buffer);
    evbuffer_free(buffer);
    tg__buf_free(&body);
    call->replied = true;
}

static int64_t hold_ttl_ms(const tg__proxy *proxy, bool background) {
    /* Outlives the call (a background run: its deadline), then expires. */
    int64_t ttl_ms =
        (background ? proxy->config.background_deadline_ms : proxy->config.timeout_ms) + 60000;
    int64_t max_ms = proxy->daemon->config->max_hold_ttl_ms;
    return ttl_ms < max_ms ? ttl_ms : max_ms;
}

void tg__proxy_call_granted(proxy_call *call, const tg_reserve_result *result,
                            int64_t amount_micros) {
    call->hold_id = result->hold_id;
    call->hold_micros = amount_micros;
    call->held_micros = amount_micros;
    call->cls = result->cls;
    call->hold_expires_ms = result->expires_at_ms;
    call->proxy->daemon->metrics.granted++;
}

/* `wait_ms` > 0: a call that fits once money frees may queue (result->waiting). */
tg_status tg__proxy_reserve(proxy_call *call, const char *budget, int64_t amount_micros,
                            int64_t wait_ms, tg_reserve_result *result, tg_error *err) {
    const tg__request_info *info = &call->parsed.info;
    int64_t output = tg__request_output_bound(info, &call->price);
    tg_reserve_request request = {.budget = budget,
                                  .amount_micros = amount_micros,
                                  .tokens = tg__request_input_held(info) +
                                            (output > 0 ? output * info->output_rounds : 0),
                                  .cls = TG_CLASS_AUTO,
                                  .tool = tg__route_name(call->route),
                                  .model = info->model,
                                  .ttl_ms = hold_ttl_ms(call->proxy, call->background),
                                  .wait_ms = wait_ms};
    tg_status status = tg_reserve(call->proxy->daemon->engine, &request, tg__now_ms(), result, err);
    if (status == TG_OK && result->granted) {
        tg__proxy_call_granted(call, result, amount_micros);
    }
    return status;
}

/* A refused worst case: the over-budget policy may find a call that fits. */
static bool replan(proxy_call *call, const char *budget, const tg_refusal *refused) {
    tg__proxy *proxy = call->proxy;
    /* A cap Tollgate chose itself is lowered to what the budget affords, whatever the policy. */
    tg__over_policy policy =
        call->parsed.info.cap_defaulted && proxy->config.over_budget == TG__OVER_REFUSE
            ? TG__OVER_LOWER
            : proxy->config.over_budget;
    if (policy == TG__OVER_REFUSE ||
        (refused->reason != TG_REASON_CEILING && refused->reason != TG_REASON_REVOKED)) {
        return false;
    }
    if (policy == TG__OVER_SWITCH && call->deployment[0] != '\0') {
        return false; /* Azure runs the path's deployment whatever the body's model says */
    }
    /* The listed models this call's provider prices, in the configured order. */
    tg__model_price prices[TG__PLAN_SWITCH_MODELS_MAX];
    const char *models[TG__PLAN_SWITCH_MODELS_MAX];
    tg__plan_options options = {policy, proxy->config.min_output_tokens, models, prices, 0};
    for (int64_t i = 0; policy == TG__OVER_SWITCH && i < proxy->config.switch_models_count; i++) {
        const char *model = proxy->config.switch_models[i];
        if (tg__prices_lookup(proxy->prices, call->price.provider, model, tg__now_ms(),
                              &prices[options.switch_count], NULL) == TG_OK) {
            models[options.switch_count++] = model;
        }
    }
    if (policy == TG__OVER_SWITCH && options.switch_count == 0) {
        return false;
    }
    tg__plan plan;
    if (tg__plan_make(&call->parsed.info, &call->price, refused->max_amount_micros, &options, &plan,
                      NULL) != TG_OK ||
        plan.action == TG__PLAN_REFUSED || tg__plan_apply(&plan, &call->parsed) != TG_OK) {
        return false;
    }
    if (plan.action == TG__PLAN_SWITCHED) {
        call->price = prices[plan.switch_index]; /* charged at the model actually called */
    }
    snprintf(call->plan_header, sizeof call->plan_header, "%s", plan.header);
    tg_reserve_result result;
    return tg__proxy_reserve(call, budget, plan.worst_case_micros, 0, &result, NULL) == TG_OK &&
           result.granted;
}

/* A call without an output cap gets one (item 2 of docs/proxy.md "What a hold covers"):
 * the configured default, within the model's maximum, written into the upstream request,
 * so the provider itself stops there. Anthropic requires max_tokens: its own 400. */
static bool give_cap(proxy_call *call) {
    tg__request_info *info = &call->parsed.info;
    const tg__route_row *row = tg__route_row_of(info->route);
    if (info->max_output_tokens != TG_NONE || row == NULL || !row->output) {
        return true;
    }
    /* The provider's own default (legacy completions: 16), or none where it requires one. */
    int64_t cap =
        call->provider->cap_default(info->route, call->proxy->config.default_max_output_tokens);
    if (cap == TG_NONE) {
        char message[96];
        snprintf(message, sizeof message, "%s: Field required", tg__request_cap_field(info));
        tg__proxy_send_error(call, 400, "invalid_request_error", message);
        return false;
    }
    if (call->price.max_output_tokens > 0 && call->price.max_output_tokens < cap) {
        cap = call->price.max_output_tokens;
    }
    if (tg__request_set_max_output(&call->parsed, cap) != TG_OK) {
        tg__proxy_send_error(call, 500, "internal_error", "out of memory");
        return false;
    }
    info->cap_defaulted = true;
    return true;
}

/* The bound of every billable part (src/proxy/bound.h); a 400 naming what is unbounded. */
static bool bound(proxy_call *call) {
    const tg__proxy_config *config = &call->proxy->config;
    tg__bound_options options = {config->server_tool_uses_max,
                                 config->server_tool_result_tokens,
                                 config->stored_state_tokens_max,
                                 config->pdf_page_tokens,
                                 tg__chains_get,
                                 call->proxy->chains};
    tg_error err = {0};
    tg_status status = tg__bound_request(&call->parsed, &call->price, &options, &err);
    if (status == TG_ERR_NOMEM) {
        tg__proxy_send_error(call, 503, "internal_error", "out of memory");
        return false;
    }
    if (status != TG_OK) {
        tg__proxy_send_error(call, 400, "cost_unbounded", err.message);
        return false;
    }
    const json_t *conversation = json_object_get(call->parsed.body, "conversation");
    if (json_is_object(conversation)) {
        conversation = json_object_get(conversation, "id");
    }
    if (json_is_string(conversation) &&
        json_string_length(conversation) < sizeof call->conversation) {
        memcpy(call->conversation, json_string_value(conversation),
               json_string_length(conversation) + 1);
    }
    return true;
}

/* The one value of a request header, NULL when absent; *many set when it comes twice
 * (a second copy could name another budget: refused rather than one of them chosen). */
static const char *header_once(proxy_call *call, const char *name, bool *many) {
    const char *found = NULL;
    struct evkeyval *header;
    TAILQ_FOREACH(header, evhttp_request_get_input_headers(call->request), next) {
        if (strcasecmp(header->key, name) == 0) {
            *many = *many || found != NULL;
            found = header->value;
        }
    }
    return found;
}

/* The budget this call is charged to (the key's scope, or one under it named by
 * x-tollgate-budget or the request's user), its user and its tags (attribution.h).
 * False after answering the client. */
static bool attribute(proxy_call *call, const tg__key *key) {
    bool many = false;
    const char *selected = header_once(call, "x-tollgate-budget", &many);
    const char *tags = header_once(call, "x-tollgate-tags", &many);
    if (many) {
        tg__proxy_send_error(call, 400, "invalid_request",
                             "Tollgate: x-tollgate-budget and x-tollgate-tags may come once each");
        return false;
    }
    tg_error err = {0};
    tg__attribution_user(call->route, call->parsed.body, call->user, &err);
    if (tg__attribution_tags(tags, call->tags, sizeof call->tags, NULL, &err) != TG_OK) {
        tg__proxy_send_error(call, 400, "invalid_tags", err.message);
        return false;
    }
    tg_status status = tg__attribution_budget(key->scope, selected, call->user,
                                              call->proxy->config.user_budgets, call->budget, &err);
    if (status == TG_ERR_INVALID) {
        tg__proxy_send_error(call, 400, "invalid_budget", err.message);
        return false;
    }
    if (status != TG_OK) {
        tg__proxy_send_error(call, 403, "budget_forbidden", err.message);
        return false;
    }
    return true;
}

/* The model an Azure deployment runs: the config's mapping, else the deployment's own
 * name (priced as a model name, so an unmapped deployment that is no model is refused as
 * not priced, never counted free). */
static bool deployment_model(const tg__upstream *upstream, const char *deployment, char *out,
                             size_t size) {
    const char *model = deployment;
    for (int64_t i = 0; i < upstream->deployments_count; i++) {
        if (strcmp(upstream->deployments[i].name, deployment) == 0) {
            model = upstream->deployments[i].model;
        }
    }
    snprintf(out, size, "%s", model);
    return true;
}

/* Parses, prices and holds a metered call. False after answering the client. */
static bool admit(proxy_call *call, const tg__key *key, const char *body, size_t size) {
    tg__proxy *proxy = call->proxy;
    tg_error err = {0};
    char path[256], model[TG_NAME_SIZE_MAX];
    request_path(call, path, sizeof path);
    bool in_path = call->deployment[0] != '\0'
                       ? deployment_model(call->upstream, call->deployment, model, sizeof model)
                       : tg__route_id(call->route, path, model, sizeof model) == TG_OK;
    if (tg__request_parse_path(call->route, in_path ? model : NULL, body, size, &call->parsed,
                               &err) != TG_OK) {
        tg__proxy_send_error(call, 400, "invalid_request", err.message);
        return false;
    }
    if (call->upstream->free) {
        /* prices: free (a local vLLM or Ollama): metered, held and charged at 0. */
        tg__model_price_init(&call->price);
        snprintf(call->price.provider, sizeof call->price.provider, "%s", call->upstream->name);
        snprintf(call->price.model, sizeof call->price.model, "%s", call->parsed.info.model);
    } else if (tg__prices_lookup_name(proxy->prices,
                                      call->upstream->name[0] != '\0' ? call->upstream->prices_id
                                                                      : call->provider->prices_id,
                                      call->parsed.info.model, tg__now_ms(), &call->price,
                                      &err) != TG_OK) {
        tg__proxy_send_error(call, 400, "model_not_priced", err.message);
        return false;
    }
    if (!attribute(call, key) || !give_cap(call) || !bound(call)) {
        return false;
    }
    call->background = call->route == TG__ROUTE_OPENAI_RESPONSES &&
                       json_is_true(json_object_get(call->parsed.body, "background"));
    if (call->background && tg__proxy_runs_full(proxy->runs)) {
        char message[128];
        snprintf(message, sizeof message,
                 "Tollgate: %d background runs are open, the most; retry once some have ended",
                 TG__PROXY_RUNS_MAX);
        tg__proxy_send_error(call, 503, "too_many_runs", message);
        return false;
    }
    if ((call->provider->request_prepare != NULL &&
         call->provider->request_prepare(&call->parsed) != TG_OK) ||
        (call->parsed.info.stream && tg__request_ensure_stream_usage(&call->parsed) != TG_OK)) {
        tg__proxy_send_error(call, 500, "internal_error", "out of memory");
        return false;
    }
    int64_t worst_micros = 0;
    if (tg__request_worst_case(&call->parsed.info, &call->price, &worst_micros, &err) != TG_OK) {
        tg__proxy_send_error(call, 400, "output_unbounded", err.message);
        return false;
    }
    tg_reserve_result result;
    int64_t wait_ms = call->background ? 0 : tg__proxy_wait_ms(proxy, call->upstream);
    if (tg__proxy_reserve(call, call->budget, worst_micros, wait_ms, &result, &err) != TG_OK) {
        /* A budget named under the scope that does not exist (and no template makes it),
         * or a template already at children_max: only an admin can help, so 403, which
         * no SDK retries. */
        bool forbidden = err.status == TG_ERR_NOT_FOUND || err.status == TG_ERR_FULL;
        tg__proxy_send_error(call, forbidden ? 403 : 503,
                             err.status == TG_ERR_FULL ? "children_max" : "hold_failed",
                             err.message);
        return false;
    }
    if (result.waiting) {
        /* Fits once money frees: it waits for its whole worst case (proxy_wait.c), not
         * lowered by the over-budget policy, which only sees refusals. */
        call->wait_id = result.wait_id;
        call->wait_asked_micros = worst_micros;
        return true;
    }
    if (!result.granted && !replan(call, call->budget, &result.refusal)) {
        tg__proxy_send_refusal(call, &result.refusal, worst_micros);
        return false;
    }
    return true;
}

/* Retrieve or cancel of a background run (GET /v1/responses/{id}, POST .../cancel): only
 * the key that started it, or an admin's, may reach it; the answer settles the run
 * (proxy_reply.c). False after answering the client. */
static bool admit_run(proxy_call *call, const tg__key *key) {
    const char *uri = call_uri(call);
    char path[256];
    request_path(call, path, sizeof path);
    if (tg__route_id(call->route, path, call->run_id, sizeof call->run_id) != TG_OK) {
        tg__proxy_send_error(call, 404, "not_found", "Tollgate: no response id in the path");
        return false;
    }
    const tg__proxy_run *run = tg__proxy_run_find(call->proxy->runs, call->run_id);
    if (key->role != TG__ROLE_ADMIN && (run == NULL || strcmp(run->owner, key->name) != 0)) {
        /* 404 as the provider answers for another project's response: nothing is told. */
        tg__proxy_send_error(call, 404, "not_found",
                             "Tollgate: no background response with this id was started by this "
                             "key (only its own key, or an admin's, may retrieve or cancel it)");
        return false;
    }
    const char *query = strchr(uri, '?');
    if (query != NULL && strstr(query, "stream=true") != NULL) {
        tg__proxy_send_error(call, 400, "unsupported",
                             "Tollgate: retrieving a response as a stream is not supported; "
                             "retrieve it without stream=true");
        return false;
    }
    return true;
}

/* The body to send: the client's bytes, or the rewritten request. */
static bool take_body(proxy_call *call, const char *body, size_t size) {
    if (call->metered && call->parsed.changed) {
        return tg__request_serialize(&call->parsed, &call->body, &call->body_size) == TG_OK;
    }
    call->body = malloc(size + 1);
    if (call->body == NULL) {
        return false;
    }
    memcpy(call->body, body ? body : "", size);
    call->body[size] = '\0';
    call->body_size = size;
    return true;
}

/* A query the provider cannot proxy (Gemini: a stream without alt=sse): true after answering. */
static bool query_refused(proxy_call *call) {
    const char *query = strchr(call_uri(call), '?');
    const char *why = call->provider->query_error != NULL
                          ? call->provider->query_error(call->route, query)
                          : NULL;
    if (why != NULL) {
        tg__proxy_send_error(call, 400, "invalid_request", why);
    }
    return why != NULL;
}

static bool is_run_route(tg__route route) {
    return route == TG__ROUTE_OPENAI_RESPONSE_GET || route == TG__ROUTE_OPENAI_RESPONSE_CANCEL;
}

void tg__proxy_call_start(tg__proxy *proxy, struct evhttp_request *request, tg__route route,
                          const tg__upstream *upstream, size_t prefix_size,
                          const char *deployment) {
    proxy_call *call = tg__proxy_call_alloc(proxy);
    if (call == NULL) {
        evhttp_send_error(request, 503, "out of memory");
        return;
    }
    call->proxy = proxy;
    call->request = request;
    call->route = route;
    call->provider = tg__route_provider(route);
    call->upstream = upstream != NULL         ? upstream
                     : call->provider != NULL ? &proxy->config.upstreams[call->provider->index]
                                              : NULL;
    if (upstream != NULL && upstream->wire != NULL) {
        call->provider = upstream->wire; /* Azure, OpenRouter: OpenAI's routes, their table */
    }
    call->origin = call->upstream;
    call->prefix_size = prefix_size;
    snprintf(call->deployment, sizeof call->deployment, "%s", deployment ? deployment : "");
    call->cost_reported_micros = -1;
    call->metered = tg__route_metered(route);
    call->owner[0] = '\0';
    call->started_ms = tg__now_ms();
    call->cls = TG_CLASS_NORMAL;
    proxy->calls_count++; /* tg__proxy_call_free counts it out */
    tg__buf_init(&call->response_headers, TG__PROXY_RESPONSE_HEADERS_SIZE_MAX);
    tg__buf_init(&call->response, TG__RESPONSE_SIZE_MAX);
    tg__buf_init(&call->held, TG__SSE_EVENT_SIZE_MAX + TG__SSE_LINE_SIZE_MAX);
    tg__buf_init(&call->out, TG__PROXY_PIECE_OUT_SIZE_MAX);
    tg__sse_init(&call->sse, 0, 0);
    const char *secret = tg__proxy_agent_secret(request);
    const tg__daemon *daemon = proxy->daemon;
    const tg__key *key = tg__daemon_key_find(daemon, secret); /* every key: auth.c */
    if (key != NULL) {
        snprintf(call->owner, sizeof call->owner, "%s", key->name);
    }
    struct evbuffer *input = evhttp_request_get_input_buffer(request);
    size_t size = evbuffer_get_length(input);
    const char *body = size ? (const char *)evbuffer_pullup(input, -1) : NULL;
    if (key == NULL || (key->role != TG__ROLE_AGENT && key->role != TG__ROLE_ADMIN)) {
        tg__proxy_send_error(
            call, 401, "invalid_api_key",
            "Tollgate: send an agent key (Authorization: Bearer, x-api-key or api-key)");
    } else if (proxy->calls_count > TG__PROXY_CALLS_MAX) {
        char message[96];
        snprintf(message, sizeof message, "Tollgate: the proxy has %d calls in flight, its most",
                 TG__PROXY_CALLS_MAX);
        tg__proxy_send_error(call, 503, "too_many_calls", message);
    } else if (!is_run_route(route) && key->scope[0] == '\0') {
        tg__proxy_send_error(call, 403, "no_budget",
                             "Tollgate: this key has no scope, so no budget to charge calls to");
    } else if (call->upstream == NULL || !call->upstream->configured) {
        tg__proxy_send_error(call, 404, "no_upstream", "Tollgate: no upstream for this route");
    } else if (query_refused(call)) {
        /* answered */
    } else if (size > (size_t)daemon->config->body_size_max_bytes) {
        tg__proxy_send_error(call, 413, "body_too_large", "the body passes body_size_max_bytes");
    } else if (call->metered && !admit(call, key, body, size)) {
        /* answered */
    } else if (is_run_route(route) && !admit_run(call, key)) {
        /* answered */
    } else if (!take_body(call, body, size)) {
        tg__proxy_send_error(call, 503, "internal_error", "cannot start the upstream call");
    } else if (call->wait_id != 0) {
        if (tg__proxy_wait_park(call, secret)) {
            return; /* waiting for room: proxy_wait.c starts or refuses it */
        }
        tg__proxy_send_error(call, 503, "internal_error", "out of memory");
    } else if (!tg__proxy_start_transfer(call, secret)) {
        tg__proxy_send_error(call, 503, "internal_error", "cannot start the upstream call");
    } else {
        /* Sent now rather than from curl's 0 ms timer on the next loop turn: one epoll
         * round trip less per call. The call may end (and be freed) inside. */
        tg__proxy_drive(proxy);
        return; /* in flight: proxy_reply.c ends it */
    }
    tg__proxy_call_done(call, CURLE_OK);
}
