/*
 * proxy_failover: an upstream's `fallbacks:` (docs/proxy.md, "Upstream fallbacks"), as
 * LiteLLM's fallbacks and Portkey's fallback strategy do it. When the upstream a call is
 * on fails before any byte of an answer reached the client (a refused or reset
 * connection, no status line within its answer_timeout_ms, or a status listed in
 * proxy.fallback_on_status), the call goes to the next upstream of the list that prices
 * its model, with the same request: fallbacks speak the same wire (proxy_config.c checks
 * it at load), so only the base URL and the provider key change.
 *
 * Money: the failed attempt settles by the rules every call follows (an error without
 * usage and a connection never made bill nothing and are released; a request that may
 * have reached the provider and got no answer is charged its worst case) and gets its own
 * spend-log row naming that upstream. The next attempt is held at the fallback's prices:
 * the hold kept when it covers them, else held anew, which fails cleanly (the provider's
 * refusal) when the budget cannot take it. Never after a stream began: its bytes are the
 * client's already.
 */
#include <stdio.h>
#include <string.h>

#include "proxy/usage.h"
#include "proxy/runtime/proxy_internal.h"

/* A fallback is not started with less of proxy.timeout_ms left than this: it could not
 * answer, and the request it sends may still be billed. */
#define TIME_LEFT_MS_MIN 100

bool tg__proxy_answer_late(const proxy_call *call, int64_t now_ms) {
    int64_t limit_ms = call->upstream != NULL ? call->upstream->answer_timeout_ms : 0;
    return limit_ms > 0 && call->easy != NULL && !call->answered && call->attempt_started_ms > 0 &&
           now_ms - call->attempt_started_ms > limit_ms;
}

static bool status_listed(const tg__proxy_config *config, long status) {
    for (int64_t i = 0; i < config->fallback_statuses_count; i++) {
        if (config->fallback_statuses[i] == status) {
            return true;
        }
    }
    return false;
}

/* The attempt failed before its answer began, in a way another upstream may mend. */
static bool failed_early(const proxy_call *call, CURLcode result, long status) {
    if (result == CURLE_OK) {
        return status_listed(&call->proxy->config, status);
    }
    if (call->answered) {
        return false; /* the answer began: a body that broke off is the call's end */
    }
    switch (result) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false; /* Tollgate's own ending (a cut, a client gone, out of memory) */
    }
}

/* The model an Azure upstream's deployment runs, as admission reads it: its mapping, else
 * the deployment's own name. */
static const char *deployment_model(const tg__upstream *upstream, const char *deployment) {
    for (int64_t i = 0; i < upstream->deployments_count; i++) {
        if (strcmp(upstream->deployments[i].name, deployment) == 0) {
            return upstream->deployments[i].model;
        }
    }
    return deployment;
}

/* The next fallback of the call's first upstream that can run its model, with that
 * model's prices there; NULL when none is left. A fallback that does not price the model
 * (an OpenAI-compatible upstream without it) or an Azure one whose deployment of the same
 * name runs another model is passed over: the call is for this model. */
static const tg__upstream *next_upstream(proxy_call *call, tg__model_price *price) {
    tg__proxy *proxy = call->proxy;
    const tg__upstream *origin = call->origin;
    while (origin != NULL && call->fallback_next < origin->fallbacks_count) {
        const char *name = origin->fallbacks[call->fallback_next++];
        const tg__upstream *next = tg__proxy_upstream_find(&proxy->config, name);
        if (next == NULL || next == call->upstream) {
            continue;
        }
        const char *model = call->parsed.info.model;
        if (call->deployment[0] != '\0' &&
            strcmp(deployment_model(next, call->deployment), model) != 0) {
            continue;
        }
        if (next->free) {
            tg__model_price_init(price);
            snprintf(price->provider, sizeof price->provider, "%s", next->name);
            snprintf(price->model, sizeof price->model, "%s", model);
            return next;
        }
        const tg__provider *wire = tg__proxy_upstream_wire(&proxy->config, next);
        const char *prices_id = next->name[0] != '\0' ? next->prices_id : wire->prices_id;
        if (tg__prices_lookup_name(proxy->prices, prices_id, model, tg__now_ms(), price, NULL) ==
            TG_OK) {
            return next;
        }
        fprintf(stderr, "tollgate: proxy: fallback %s has no price for %s: passed over\n", name,
                model);
    }
    return NULL;
}

/* Settles the failed attempt (docs/proxy.md's rules) and logs it as a row of its own.
 * The hold stays open when it was not charged and covers `next_worst_micros`. */
static void settle_attempt(proxy_call *call, CURLcode result, long status,
                           int64_t next_worst_micros) {
    tg__proxy *proxy = call->proxy;
    tg__proxy_hold hold = tg__proxy_call_hold(call);
    tg__usage usage = {0};
    bool reported = status != 0 &&
                    tg__usage_from_body(call->route, call->response.data ? call->response.data : "",
                                        call->response.size, &usage, NULL) == TG_OK;
    /* Bytes of the request went out: the provider may have started the work. */
    long sent_bytes = 0;
    curl_easy_getinfo(call->easy, CURLINFO_REQUEST_SIZE, &sent_bytes);
    bool unanswered_sent = status == 0 && result != CURLE_COULDNT_CONNECT &&
                           result != CURLE_COULDNT_RESOLVE_HOST && sent_bytes > 0;
    call->outcome = status != 0                          ? "upstream_error"
                    : result == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout"
                                                         : "upstream_failed";
    if (reported || unanswered_sent) {
        call->settled = tg__proxy_hold_settle(proxy, &hold, reported ? &usage : NULL, 0, false);
        call->usage = usage;
        call->usage_known = reported;
        call->hold_id = 0;
    } else if (next_worst_micros > call->hold_micros) {
        tg__proxy_hold_settle(proxy, &hold, NULL, 0, true); /* held anew at the new prices */
        call->hold_id = 0;
    }
    call->reply_status = (int)status; /* the row's status: what this upstream answered */
    tg__proxy_call_log(call);
    call->settled = (tg__proxy_settled){false, 0, 0};
    call->usage_known = false;
    call->outcome = NULL;
    call->reply_status = 0;
    call->request_id[0] = '\0';
}

/* Clears what the failed attempt left, so the next one starts as the first did. */
static void reset_attempt(proxy_call *call) {
    curl_easy_cleanup(call->easy);
    call->easy = NULL;
    curl_slist_free_all(call->headers);
    call->headers = NULL;
    tg__buf_reset(&call->response);
    tg__buf_reset(&call->response_headers);
    call->status = 0;
    call->answered = false;
    call->cost_reported_micros = -1;
}

tg__failover tg__proxy_failover(proxy_call *call, CURLcode result) {
    tg__proxy *proxy = call->proxy;
    long status = 0;
    if (call->easy == NULL || !call->metered || call->replied || call->client_gone || call->cut ||
        call->streaming || call->origin == NULL || call->origin->fallbacks_count == 0 ||
        proxy->config.timeout_ms - (tg__now_ms() - call->first_sent_ms) < TIME_LEFT_MS_MIN) {
        return TG__FAILOVER_NONE;
    }
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    tg__model_price price;
    const tg__upstream *next =
        failed_early(call, result, status) ? next_upstream(call, &price) : NULL;
    int64_t worst_micros = 0;
    if (next == NULL ||
        tg__request_worst_case(&call->parsed.info, &price, &worst_micros, NULL) != TG_OK) {
        return TG__FAILOVER_NONE; /* the last upstream's failure is the call's */
    }
    const char *from = tg__proxy_upstream_label(&proxy->config, call->upstream);
    fprintf(stderr, "tollgate: proxy: %s failed (%s, status %ld): the call goes to %s\n", from,
            curl_easy_strerror(result), status, tg__proxy_upstream_label(&proxy->config, next));
    settle_attempt(call, result, status, worst_micros);
    reset_attempt(call);
    call->upstream = next;
    call->price = price; /* charged at what the upstream that answers bills */
    if (call->hold_id == 0) {
        tg_reserve_result reserved;
        tg_error err = {0};
        if (tg__proxy_reserve(call, call->budget, worst_micros, 0, &reserved, &err) != TG_OK) {
            tg__proxy_send_error(call, 503, "hold_failed", err.message);
            return TG__FAILOVER_ANSWERED;
        }
        if (!reserved.granted) {
            tg__proxy_send_refusal(call, &reserved.refusal, worst_micros);
            return TG__FAILOVER_ANSWERED;
        }
    }
    if (!tg__proxy_start_transfer(call, tg__proxy_agent_secret(call->request))) {
        tg__proxy_send_error(call, 503, "internal_error", "cannot start the upstream call");
        return TG__FAILOVER_ANSWERED;
    }
    return TG__FAILOVER_STARTED;
}
