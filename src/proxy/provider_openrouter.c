/*
 * provider_openrouter: OpenRouter, an OpenAI-compatible router whose model names
 * are `vendor/model` ("anthropic/claude-3.5-sonnet"), priced from the price data's
 * `openrouter` provider. What differs from OpenAI's wire: OpenRouter reports what it
 * billed, in USD credits, as usage.cost when the request asks for usage accounting
 * (`usage: {include: true}`). The proxy always asks, so that cost can be checked
 * against its own price: it charges the larger of the two, never above the call's hold,
 * and counts every disagreement (docs/proxy.md, "OpenRouter").
 */
#include "proxy/provider.h"

/* usage: {include: true}, whatever the client asked: the cost report is the cross-check. */
static tg_status request_prepare(tg__request *request) {
    json_t *usage = json_object_get(request->body, "usage");
    if (json_is_object(usage) && json_is_true(json_object_get(usage, "include"))) {
        return TG_OK;
    }
    json_t *fresh = json_pack("{s:b}", "include", 1);
    if (fresh == NULL || json_object_set_new(request->body, "usage", fresh) != 0) {
        return TG_ERR_NOMEM;
    }
    request->changed = true;
    return TG_OK;
}

const tg__provider tg__provider_openrouter = {
    .name = "openrouter",
    .prices_id = "openrouter",
    TG__OPENAI_WIRE,
    .auth_header = tg__openai_auth_header,
    .request_stream_usage = tg__openai_request_stream_usage,
    .error_body = tg__openai_error_body,
    .request_prepare = request_prepare,
    .reports_cost = true,
};
