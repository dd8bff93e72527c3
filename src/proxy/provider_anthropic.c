/*
 * provider_anthropic: Anthropic Messages (and its free token count). Usage counts
 * cache reads and writes outside input_tokens and arrives in two reports on a
 * stream (message_start, then message_delta); errors are
 * {"type":"error","error":{"type","message","details":{...}}}. Its input bound is
 * bound_anthropic.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/provider.h"
#include "proxy/usage.h"

static const tg__route_row ROUTES[] = {
    {TG__ROUTE_ANTHROPIC_MESSAGES, "POST", "/v1/messages", true, "anthropic.messages", true, false,
     false, -1, false},
    {TG__ROUTE_ANTHROPIC_COUNT, "POST", "/v1/messages/count_tokens", false,
     "anthropic.count_tokens", false, false, false, -1, false},
};

static void auth_header(const char *key, char *line, size_t size) {
    snprintf(line, size, "x-api-key: %s", key);
}

/* ---- Requests: the cap is max_tokens (required by the API), one choice -------------- */

static tg_status request_read(tg__request_info *info, const json_t *body, tg_error *err) {
    info->choices = 1;
    info->max_output_tokens = TG_NONE;
    if (info->route != TG__ROUTE_ANTHROPIC_MESSAGES) {
        return TG_OK;
    }
    int64_t cap = TG_NONE;
    tg_status status = tg__request_read_count(body, "max_tokens", TG__USAGE_COUNT_MAX, &cap, err);
    info->max_output_field = cap != TG_NONE ? "max_tokens" : NULL;
    info->max_output_tokens = cap;
    return status;
}

/* max_tokens is required: a call without it gets the API's own 400. */
static int64_t cap_default(tg__route route, int64_t configured) {
    (void)route;
    (void)configured;
    return TG_NONE;
}

static const char *cap_field(tg__route route) {
    (void)route;
    return "max_tokens";
}

static tg_status request_set_cap(tg__request *request, int64_t tokens) {
    if (request->info.route != TG__ROUTE_ANTHROPIC_MESSAGES) {
        return TG_ERR_INVALID;
    }
    return tg__request_set_cap_field(request, request->body, "max_tokens", tokens);
}

static tg_status bound(tg__bound_walk *walk, const tg__request *request, tg_error *err) {
    return request->info.route == TG__ROUTE_ANTHROPIC_MESSAGES
               ? tg__bound_anthropic(walk, request, err)
               : tg__bound_plain(walk, request, err);
}

/* ---- Usage ---------------------------------------------------------------------------- */

/* Anthropic counts cache reads and writes outside input_tokens; the sum is the
 * input total, and each report may carry only some of the three. */
static tg_status usage_merge(tg__route route, const tg__usage_view *usage, tg__usage *out) {
    (void)route;
    static const char *const INPUT_KEYS[3] = {"input_tokens", "cache_read_input_tokens",
                                              "cache_creation_input_tokens"};
    int64_t parts[3] = {
        out->counts[TG__UNIT_INPUT] - out->counts[TG__UNIT_CACHE_READ] -
            out->counts[TG__UNIT_CACHE_WRITE],
        out->counts[TG__UNIT_CACHE_READ],
        out->counts[TG__UNIT_CACHE_WRITE],
    };
    for (int i = 0; i < 3; i++) {
        bool present;
        if (tg__usage_read_count(usage, INPUT_KEYS[i], &present, &parts[i]) != TG_OK) {
            return TG_ERR_INVALID;
        }
    }
    static const tg__count_path OTHERS[] = {
        {"cache_creation", "ephemeral_1h_input_tokens", TG__UNIT_CACHE_WRITE_1H},
        {NULL, "output_tokens", TG__UNIT_OUTPUT},
        {"output_tokens_details", "thinking_tokens", TG__UNIT_OUTPUT_REASONING},
        {"server_tool_use", "web_search_requests", TG__UNIT_WEB_SEARCHES},
    };
    if (tg__usage_merge_paths(usage, OTHERS, sizeof OTHERS / sizeof OTHERS[0], out) != TG_OK) {
        return TG_ERR_INVALID;
    }
    out->counts[TG__UNIT_INPUT] = (parts[0] > 0 ? parts[0] : 0) + parts[1] + parts[2];
    out->counts[TG__UNIT_CACHE_READ] = parts[1];
    out->counts[TG__UNIT_CACHE_WRITE] = parts[2];
    return TG_OK;
}

static json_t *usage_to_json(tg__route route, const tg__usage *usage) {
    (void)route;
    const int64_t *c = usage->counts;
    int64_t uncached = c[TG__UNIT_INPUT] - c[TG__UNIT_CACHE_READ] - c[TG__UNIT_CACHE_WRITE];
    return json_pack("{s:I,s:I,s:I,s:I}", "input_tokens", (json_int_t)(uncached > 0 ? uncached : 0),
                     "cache_creation_input_tokens", (json_int_t)c[TG__UNIT_CACHE_WRITE],
                     "cache_read_input_tokens", (json_int_t)c[TG__UNIT_CACHE_READ], "output_tokens",
                     (json_int_t)c[TG__UNIT_OUTPUT]);
}

/* ---- Errors ----------------------------------------------------------------------------- */

static const char *error_type(int status) {
    static const tg__status_name TYPES[] = {
        {400, "invalid_request_error"}, {401, "authentication_error"}, {402, "billing_error"},
        {403, "permission_error"},      {404, "not_found_error"},      {413, "request_too_large"},
        {429, "rate_limit_error"},      {529, "overloaded_error"},
    };
    return tg__status_name_find(TYPES, sizeof TYPES / sizeof TYPES[0], status, "api_error",
                                "invalid_request_error");
}

/* `details` (taken) goes under "details", where its spend-limit errors carry error_code. */
static json_t *error_body(int status, const char *code, const char *message, json_t *details) {
    if (details == NULL) {
        details = json_object();
    }
    json_object_set_new(details, "error_code", json_string(code));
    return json_pack("{s:s,s:{s:s,s:s,s:o}}", "type", "error", "error", "type", error_type(status),
                     "message", message, "details", details);
}

static tg_status error_event(tg__route route, const char *code, const char *message,
                             int64_t sequence_number, tg__buf *out) {
    (void)route;
    (void)sequence_number;
    return tg__stream_put_event(out, "error", error_body(500, code, message, NULL));
}

/* ---- Streams ------------------------------------------------------------------------------ */

static void read_anthropic_event(tg__stream *stream, const json_t *event) {
    const char *type = json_string_value(json_object_get(event, "type"));
    if (type == NULL) {
        return;
    }
    if (strcmp(type, "message_start") == 0) {
        const json_t *message = json_object_get(event, "message");
        stream->started = true;
        tg__stream_copy_string(stream->id, sizeof stream->id, json_object_get(message, "id"));
        tg__stream_copy_string(stream->model, sizeof stream->model,
                               json_object_get(message, "model"));
        tg__stream_read_usage(stream, json_object_get(message, "usage"), false);
    } else if (strcmp(type, "content_block_start") == 0) {
        const json_t *index = json_object_get(event, "index");
        stream->open_block = json_is_integer(index) ? json_integer_value(index) : 0;
    } else if (strcmp(type, "content_block_delta") == 0) {
        const json_t *delta = json_object_get(event, "delta");
        tg__stream_count_text(stream, json_object_get(delta, "text"));
        tg__stream_count_text(stream, json_object_get(delta, "partial_json"));
        tg__stream_count_text(stream, json_object_get(delta, "thinking"));
    } else if (strcmp(type, "content_block_stop") == 0) {
        stream->open_block = -1;
    } else if (strcmp(type, "message_delta") == 0) {
        tg__stream_read_usage(stream, json_object_get(event, "usage"), true);
    } else if (strcmp(type, "message_stop") == 0) {
        stream->finished = true;
    } else if (strcmp(type, "error") == 0) {
        stream->failed = true;
    }
}

static void stream_event(tg__stream *stream, const tg__sse_event *event, bool *forward) {
    (void)forward;
    json_t *data = json_loadb(event->data, event->data_size, 0, NULL);
    if (json_is_object(data)) {
        read_anthropic_event(stream, data);
    }
    json_decref(data);
}

static tg_status stream_end(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                            tg__buf *out) {
    (void)now_ms;
    tg_status status = TG_OK;
    int64_t output = usage->counts[TG__UNIT_OUTPUT];
    if (!stream->started) {
        json_t *start_usage = tg__usage_to_json(stream->route, usage);
        if (start_usage != NULL) {
            json_object_set_new(start_usage, "output_tokens", json_integer(0));
        }
        status = tg__stream_put_event(
            out, "message_start",
            json_pack("{s:s,s:{s:s,s:s,s:s,s:[],s:s,s:n,s:n,s:o}}", "type", "message_start",
                      "message", "id", stream->id[0] ? stream->id : "msg_tollgate", "type",
                      "message", "role", "assistant", "content", "model", stream->model,
                      "stop_reason", "stop_sequence", "usage", start_usage));
    }
    if (status == TG_OK && stream->open_block >= 0) {
        status = tg__stream_put_event(out, "content_block_stop",
                                      json_pack("{s:s,s:I}", "type", "content_block_stop", "index",
                                                (json_int_t)stream->open_block));
    }
    if (status == TG_OK) {
        status = tg__stream_put_event(
            out, "message_delta",
            json_pack("{s:s,s:{s:s,s:n},s:{s:I}}", "type", "message_delta", "delta", "stop_reason",
                      "max_tokens", "stop_sequence", "usage", "output_tokens", (json_int_t)output));
    }
    if (status == TG_OK) {
        status =
            tg__stream_put_event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
    }
    return status;
}

const tg__provider tg__provider_anthropic = {
    .name = "anthropic",
    .prices_id = "anthropic",
    .usage_key = "usage",
    .index = 1,
    .routes = ROUTES,
    .routes_count = sizeof ROUTES / sizeof ROUTES[0],
    .auth_header = auth_header,
    .request_read = request_read,
    .cap_default = cap_default,
    .cap_field = cap_field,
    .cap_hint = cap_field,
    .request_set_cap = request_set_cap,
    .request_stream_usage = NULL,
    .bound = bound,
    .usage_merge = usage_merge,
    .usage_to_json = usage_to_json,
    .error_body = error_body,
    .error_event = error_event,
    .stream_event = stream_event,
    .stream_end = stream_end,
};
