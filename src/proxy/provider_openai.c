/*
 * provider_openai: OpenAI and OpenAI-compatible upstreams (chat completions,
 * Responses, embeddings, legacy completions, models, background runs). Its
 * stream reader and ending are in provider_openai_stream.c; its input bounds in
 * bound_chat.c and bound_responses.c.
 */
#include <stdio.h>
#include <string.h>

#include "core/path.h"
#include "proxy/provider.h"
#include "tollgate_tokens.h"

static const tg__route_row ROUTES[] = {
    {TG__ROUTE_OPENAI_CHAT, "POST", "/v1/chat/completions", true, "openai.chat", true, false, false,
     TG_REQUEST_CHAT_COMPLETIONS, true},
    {TG__ROUTE_OPENAI_RESPONSES, "POST", "/v1/responses", true, "openai.responses", true, true,
     false, TG_REQUEST_RESPONSES, true},
    {TG__ROUTE_OPENAI_EMBEDDINGS, "POST", "/v1/embeddings", true, "openai.embeddings", false, false,
     true, TG_REQUEST_EMBEDDINGS, false},
    {TG__ROUTE_OPENAI_COMPLETIONS, "POST", "/v1/completions", true, "openai.completions", true,
     false, true, -1, true},
    {TG__ROUTE_OPENAI_MODELS, "GET", "/v1/models", false, "openai.models", false, false, false, -1,
     false},
    {TG__ROUTE_OPENAI_RESPONSE_GET, "GET", "/v1/responses/{id}", false, "openai.responses.retrieve",
     false, true, false, -1, false},
    {TG__ROUTE_OPENAI_RESPONSE_CANCEL, "POST", "/v1/responses/{id}/cancel", false,
     "openai.responses.cancel", false, true, false, -1, false},
};

void tg__openai_auth_header(const char *key, char *line, size_t size) {
    snprintf(line, size, "Authorization: Bearer %s", key);
}

/* ---- Requests ------------------------------------------------------------------------ */

/* The output cap, from the route's field(s). */
static tg_status read_output_cap(tg__request_info *info, const json_t *body, tg_error *err) {
    int64_t a = TG_NONE, b = TG_NONE;
    tg_status status = TG_OK;
    switch (info->route) {
    case TG__ROUTE_OPENAI_CHAT:
        status =
            tg__request_read_count(body, "max_completion_tokens", TG__USAGE_COUNT_MAX, &a, err);
        if (status == TG_OK) {
            status = tg__request_read_count(body, "max_tokens", TG__USAGE_COUNT_MAX, &b, err);
        }
        info->max_output_field = a != TG_NONE   ? "max_completion_tokens"
                                 : b != TG_NONE ? "max_tokens"
                                                : NULL;
        break;
    case TG__ROUTE_OPENAI_RESPONSES:
        status = tg__request_read_count(body, "max_output_tokens", TG__USAGE_COUNT_MAX, &a, err);
        info->max_output_field = a != TG_NONE ? "max_output_tokens" : NULL;
        break;
    case TG__ROUTE_OPENAI_COMPLETIONS:
        status = tg__request_read_count(body, "max_tokens", TG__USAGE_COUNT_MAX, &a, err);
        info->max_output_field = a != TG_NONE ? "max_tokens" : NULL;
        break;
    default:
        break;
    }
    info->max_output_tokens = a > b ? a : b;
    return status;
}

tg_status tg__openai_request_read(tg__request_info *info, const json_t *body, tg_error *err) {
    tg_status status = read_output_cap(info, body, err);
    int64_t n = TG_NONE, best_of = TG_NONE;
    if (status == TG_OK &&
        (info->route == TG__ROUTE_OPENAI_CHAT || info->route == TG__ROUTE_OPENAI_COMPLETIONS)) {
        status = tg__request_read_count(body, "n", TG__REQUEST_CHOICES_MAX, &n, err);
    }
    if (status == TG_OK && info->route == TG__ROUTE_OPENAI_COMPLETIONS) {
        status = tg__request_read_count(body, "best_of", TG__REQUEST_CHOICES_MAX, &best_of, err);
    }
    int64_t choices = n > best_of ? n : best_of;
    info->choices = choices > 1 ? choices : 1;
    return status;
}

/* Legacy completions default to 16 tokens upstream: keep that behaviour. */
int64_t tg__openai_cap_default(tg__route route, int64_t configured) {
    return route == TG__ROUTE_OPENAI_COMPLETIONS ? 16 : configured;
}

const char *tg__openai_cap_field(tg__route route) {
    if (route == TG__ROUTE_OPENAI_CHAT) {
        return "max_completion_tokens";
    }
    return route == TG__ROUTE_OPENAI_RESPONSES ? "max_output_tokens" : "max_tokens";
}

const char *tg__openai_cap_hint(tg__route route) {
    return route == TG__ROUTE_OPENAI_RESPONSES ? "max_output_tokens" : "max_tokens";
}

tg_status tg__openai_request_set_cap(tg__request *request, int64_t tokens) {
    tg__request_info *info = &request->info;
    const char *field;
    tg_status status = TG_OK;
    switch (info->route) {
    case TG__ROUTE_OPENAI_CHAT: {
        /* Lower max_tokens too when present; keep it alone when the client used only it. */
        const json_t *legacy_value = json_object_get(request->body, "max_tokens");
        bool legacy = legacy_value != NULL && !json_is_null(legacy_value);
        bool only_legacy = legacy && info->max_output_field != NULL &&
                           strcmp(info->max_output_field, "max_tokens") == 0;
        if (legacy) {
            status = tg__request_set_integer(request->body, "max_tokens",
                                             tokens); /* frees legacy_value */
        }
        field = only_legacy ? "max_tokens" : "max_completion_tokens";
        break;
    }
    case TG__ROUTE_OPENAI_RESPONSES:
        field = "max_output_tokens";
        break;
    case TG__ROUTE_OPENAI_COMPLETIONS:
        field = "max_tokens";
        break;
    default:
        return TG_ERR_INVALID;
    }
    return status == TG_OK ? tg__request_set_cap_field(request, request->body, field, tokens)
                           : status;
}

/* Chat and completions streams report usage only when asked (stream_options). */
tg_status tg__openai_request_stream_usage(tg__request *request) {
    tg__route route = request->info.route;
    if ((route != TG__ROUTE_OPENAI_CHAT && route != TG__ROUTE_OPENAI_COMPLETIONS) ||
        request->info.stream_usage) {
        return TG_OK;
    }
    json_t *options = json_object_get(request->body, "stream_options");
    if (!json_is_object(options)) {
        options = json_object();
        if (options == NULL || json_object_set_new(request->body, "stream_options", options) != 0) {
            return TG_ERR_NOMEM;
        }
    }
    if (json_object_set_new(options, "include_usage", json_true()) != 0) {
        return TG_ERR_NOMEM;
    }
    request->changed = true;
    return TG_OK;
}

tg_status tg__openai_bound(tg__bound_walk *walk, const tg__request *request, tg_error *err) {
    switch (request->info.route) {
    case TG__ROUTE_OPENAI_CHAT:
        return tg__bound_chat(walk, request, err);
    case TG__ROUTE_OPENAI_RESPONSES:
        return tg__bound_responses(walk, request, err);
    default:
        return tg__bound_plain(walk, request, err);
    }
}

/* ---- Usage ----------------------------------------------------------------------------- */

static const tg__count_path OPENAI_CHAT[] = {
    {NULL, "prompt_tokens", TG__UNIT_INPUT},
    {"prompt_tokens_details", "cached_tokens", TG__UNIT_CACHE_READ},
    {"prompt_tokens_details", "cache_write_tokens", TG__UNIT_CACHE_WRITE},
    {"prompt_tokens_details", "audio_tokens", TG__UNIT_INPUT_AUDIO},
    {NULL, "completion_tokens", TG__UNIT_OUTPUT},
    {"completion_tokens_details", "reasoning_tokens", TG__UNIT_OUTPUT_REASONING},
    {"completion_tokens_details", "audio_tokens", TG__UNIT_OUTPUT_AUDIO},
};

static const tg__count_path OPENAI_RESPONSES[] = {
    {NULL, "input_tokens", TG__UNIT_INPUT},
    {"input_tokens_details", "cached_tokens", TG__UNIT_CACHE_READ},
    {NULL, "output_tokens", TG__UNIT_OUTPUT},
    {"output_tokens_details", "reasoning_tokens", TG__UNIT_OUTPUT_REASONING},
};

tg_status tg__openai_usage_merge(tg__route route, const tg__usage_view *usage, tg__usage *out) {
    (void)route;
    tg__usage_view prompt = tg__usage_view_get(usage, "prompt_tokens");
    tg__usage_view input = tg__usage_view_get(usage, "input_tokens");
    if (!tg__usage_view_exists(&prompt) && tg__usage_view_exists(&input)) {
        /* The Responses shape, also used by some compatible upstreams elsewhere. */
        return tg__usage_merge_paths(usage, OPENAI_RESPONSES,
                                     sizeof OPENAI_RESPONSES / sizeof OPENAI_RESPONSES[0], out);
    }
    return tg__usage_merge_paths(usage, OPENAI_CHAT, sizeof OPENAI_CHAT / sizeof OPENAI_CHAT[0],
                                 out);
}

json_t *tg__openai_usage_to_json(tg__route route, const tg__usage *usage) {
    const int64_t *c = usage->counts;
    if (route == TG__ROUTE_OPENAI_RESPONSES) {
        return json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}", "input_tokens",
                         (json_int_t)c[TG__UNIT_INPUT], "input_tokens_details", "cached_tokens",
                         (json_int_t)c[TG__UNIT_CACHE_READ], "output_tokens",
                         (json_int_t)c[TG__UNIT_OUTPUT], "output_tokens_details",
                         "reasoning_tokens", (json_int_t)c[TG__UNIT_OUTPUT_REASONING],
                         "total_tokens", (json_int_t)(c[TG__UNIT_INPUT] + c[TG__UNIT_OUTPUT]));
    }
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)c[TG__UNIT_INPUT],
                     "completion_tokens", (json_int_t)c[TG__UNIT_OUTPUT], "total_tokens",
                     (json_int_t)(c[TG__UNIT_INPUT] + c[TG__UNIT_OUTPUT]));
}

/* ---- Errors: {"error":{"message","type","param":null,"code", ...details}} -------------- */

static const char *error_type(int status) {
    static const tg__status_name TYPES[] = {
        {400, "invalid_request_error"}, {401, "invalid_request_error"},
        {402, "insufficient_quota"},    {403, "invalid_request_error"},
        {404, "invalid_request_error"}, {413, "invalid_request_error"},
        {429, "insufficient_quota"},    {529, "server_error"},
    };
    return tg__status_name_find(TYPES, sizeof TYPES / sizeof TYPES[0], status, "server_error",
                                "invalid_request_error");
}

/* `details` (taken) goes beside code. */
json_t *tg__openai_error_body(int status, const char *code, const char *message, json_t *details) {
    if (details == NULL) {
        details = json_object();
    }
    json_t *error = json_pack("{s:s,s:s,s:n,s:s}", "message", message, "type", error_type(status),
                              "param", "code", code);
    if (error != NULL) {
        json_object_update(error, details);
    }
    json_decref(details);
    return error ? json_pack("{s:o}", "error", error) : NULL;
}

/* Chat and completions: a data-only chunk holding the error; Responses: an "error" event. */
tg_status tg__openai_error_event(tg__route route, const char *code, const char *message,
                                 int64_t sequence_number, tg__buf *out) {
    if (route == TG__ROUTE_OPENAI_RESPONSES) {
        return tg__stream_put_event(out, "error",
                                    json_pack("{s:s,s:s,s:s,s:n,s:I}", "type", "error", "code",
                                              code, "message", message, "param", "sequence_number",
                                              (json_int_t)sequence_number));
    }
    return tg__stream_put_event(out, NULL, tg__openai_error_body(500, code, message, NULL));
}

const tg__provider tg__provider_openai = {
    .name = "openai",
    .prices_id = "openai",
    .usage_key = "usage",
    .index = 0,
    .routes = ROUTES,
    .routes_count = sizeof ROUTES / sizeof ROUTES[0],
    .auth_header = tg__openai_auth_header,
    .request_read = tg__openai_request_read,
    .cap_default = tg__openai_cap_default,
    .cap_field = tg__openai_cap_field,
    .cap_hint = tg__openai_cap_hint,
    .request_set_cap = tg__openai_request_set_cap,
    .request_stream_usage = tg__openai_request_stream_usage,
    .bound = tg__openai_bound,
    .usage_merge = tg__openai_usage_merge,
    .usage_to_json = tg__openai_usage_to_json,
    .error_body = tg__openai_error_body,
    .error_event = tg__openai_error_event,
    .stream_event = tg__openai_stream_event,
    .stream_end = tg__openai_stream_end,
};
