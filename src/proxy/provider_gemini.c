/*
 * provider_gemini: the Google Gemini API (generativelanguage): generateContent,
 * streamGenerateContent (server-sent events with alt=sse) and the free
 * countTokens, with the model in the path (/v1beta/models/{model}:...). Its key
 * goes in x-goog-api-key; its prices are the price data's "google" provider.
 *
 * Usage is usageMetadata: promptTokenCount (cached content included) plus
 * toolUsePromptTokenCount (tool results read back as input) is the input;
 * cachedContentTokenCount the cached part of it; candidatesTokenCount plus
 * thoughtsTokenCount (thinking, billed as output) the output. A stream's chunks
 * each carry the totals so far; the last one (with finishReason) the final ones.
 *
 * The worst case per candidate is generationConfig.maxOutputTokens plus the
 * thinking budget (thinkingConfig.thinkingBudget, else the largest budget Google
 * publishes): whether the cap covers thinking has varied by model and release,
 * and the sum bounds both readings. Media parts (inlineData, fileData) and
 * cachedContent are bounded by the model's context window: their token count
 * depends on what Tollgate cannot see (image tiles, seconds of audio and video).
 * Grounding tools bill per prompt or per query, which usageMetadata does not
 * report: they are refused as unbounded.
 *
 * Errors are Google's {"error":{"code","message","status","details":[...]}}, with
 * Tollgate's code and fields in a google.rpc.ErrorInfo detail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "proxy/numbers.h"
#include "proxy/provider.h"
#include "proxy/usage.h"

#define TG__GEMINI_THINKING_TOKENS_MAX 32768 /* the largest thinkingBudget published */
#define TG__GEMINI_CANDIDATES_MAX 8          /* candidateCount (the API's own maximum) */

static const tg__route_row ROUTES[] = {
    {TG__ROUTE_GEMINI_GENERATE, "POST", "/v1beta/models/{model}:generateContent", true,
     "gemini.generate", true, false, false, -1, false},
    {TG__ROUTE_GEMINI_STREAM, "POST", "/v1beta/models/{model}:streamGenerateContent", true,
     "gemini.stream", true, false, false, -1, false},
    {TG__ROUTE_GEMINI_COUNT, "POST", "/v1beta/models/{model}:countTokens", false,
     "gemini.count_tokens", false, false, false, -1, false},
    {TG__ROUTE_GEMINI_GENERATE, "POST", "/v1/models/{model}:generateContent", true,
     "gemini.generate", true, false, false, -1, false},
    {TG__ROUTE_GEMINI_STREAM, "POST", "/v1/models/{model}:streamGenerateContent", true,
     "gemini.stream", true, false, false, -1, false},
    {TG__ROUTE_GEMINI_COUNT, "POST", "/v1/models/{model}:countTokens", false, "gemini.count_tokens",
     false, false, false, -1, false},
};

static void auth_header(const char *key, char *line, size_t size) {
    snprintf(line, size, "x-goog-api-key: %s", key);
}

/* A stream is asked for with alt=sse: without it the API streams one JSON array, which
 * Tollgate does not follow (it could not count or cut it). */
static const char *query_error(tg__route route, const char *query) {
    if (route != TG__ROUTE_GEMINI_STREAM) {
        return NULL;
    }
    const char *alt = query != NULL ? strstr(query, "alt=sse") : NULL;
    bool whole = alt != NULL && (alt == query || alt[-1] == '?' || alt[-1] == '&') &&
                 (alt[7] == '\0' || alt[7] == '&');
    return whole ? NULL
                 : "Tollgate: streamGenerateContent is proxied as server-sent events only: "
                   "add alt=sse to the query (the official SDKs do)";
}

/* ---- Requests --------------------------------------------------------------------------- */

/* generationConfig, or NULL; TG_ERR_INVALID when present and not an object. */
static tg_status object_field(const json_t *body, const char *key, const json_t **out,
                              tg_error *err) {
    const json_t *value = json_object_get(body, key);
    *out = NULL;
    if (value == NULL || json_is_null(value)) {
        return TG_OK;
    }
    if (!json_is_object(value)) {
        return tg__fail(err, TG_ERR_INVALID, "%s must be an object", key);
    }
    *out = value;
    return TG_OK;
}

/* thinkingConfig.thinkingBudget: -1 is dynamic (the model decides), absent the default. */
static tg_status read_thinking(tg__request_info *info, const json_t *config, tg_error *err) {
    const json_t *thinking = NULL;
    tg_status status = object_field(config, "thinkingConfig", &thinking, err);
    const json_t *budget = json_object_get(thinking, "thinkingBudget");
    info->reasoning_bound_tokens = TG__GEMINI_THINKING_TOKENS_MAX;
    if (status != TG_OK || budget == NULL || json_is_null(budget)) {
        return status;
    }
    if (!json_is_integer(budget) || json_integer_value(budget) < -1 ||
        json_integer_value(budget) > TG__USAGE_COUNT_MAX) {
        return tg__fail(err, TG_ERR_INVALID,
                        "thinkingConfig.thinkingBudget must be -1 (dynamic) or a count of tokens");
    }
    if (json_integer_value(budget) >= 0) {
        info->reasoning_bound_tokens = json_integer_value(budget);
    }
    return TG_OK;
}

static tg_status request_read(tg__request_info *info, const json_t *body, tg_error *err) {
    info->choices = 1;
    info->max_output_tokens = TG_NONE;
    info->stream = info->route == TG__ROUTE_GEMINI_STREAM; /* the route says it, not the body */
    if (info->route == TG__ROUTE_GEMINI_COUNT) {
        return TG_OK;
    }
    const json_t *config = NULL;
    int64_t candidates = TG_NONE;
    tg_status status = object_field(body, "generationConfig", &config, err);
    if (status == TG_OK) {
        status = tg__request_read_count(config, "maxOutputTokens", TG__USAGE_COUNT_MAX,
                                        &info->max_output_tokens, err);
    }
    if (status == TG_OK) {
        status = tg__request_read_count(config, "candidateCount", TG__GEMINI_CANDIDATES_MAX,
                                        &candidates, err);
    }
    if (status == TG_OK) {
        status = read_thinking(info, config, err);
    }
    info->max_output_field = info->max_output_tokens != TG_NONE ? "maxOutputTokens" : NULL;
    info->choices = candidates > 1 ? candidates : 1;
    return status;
}

static int64_t cap_default(tg__route route, int64_t configured) {
    (void)route;
    return configured;
}

static const char *cap_field(tg__route route) {
    (void)route;
    return "maxOutputTokens";
}

static const char *cap_hint(tg__route route) {
    (void)route;
    return "generationConfig.maxOutputTokens";
}

static tg_status request_set_cap(tg__request *request, int64_t tokens) {
    if (request->info.route == TG__ROUTE_GEMINI_COUNT) {
        return TG_ERR_INVALID;
    }
    json_t *config = json_object_get(request->body, "generationConfig");
    if (!json_is_object(config)) {
        config = json_object();
        if (config == NULL || json_object_set_new(request->body, "generationConfig", config) != 0) {
            return TG_ERR_NOMEM;
        }
    }
    return tg__request_set_cap_field(request, config, "maxOutputTokens", tokens);
}

/* ---- Bounds ------------------------------------------------------------------------------- */

/* What Tollgate cannot count is bounded by the context window, or refused without one. */
static tg_status context_bound(tg__bound_walk *walk, const char *what, tg_error *err) {
    if (walk->price->context_window_tokens <= 0) {
        return tg__fail(err, TG_ERR_RANGE,
                        "%s: Tollgate cannot count its tokens and model %s has no known context "
                        "window, so its cost is unbounded",
                        what, walk->price->model);
    }
    walk->input_tokens = tg__sat_add(walk->input_tokens, walk->price->context_window_tokens);
    return TG_OK;
}

/* One Content: {role, parts: [{text} | {inlineData} | {fileData} | {functionCall} ...]}. */
static tg_status bound_content(tg__bound_walk *walk, const json_t *content, tg_error *err) {
    const json_t *parts = json_object_get(content, "parts");
    walk->input_tokens = tg__sat_add(walk->input_tokens, TG__BOUND_MESSAGE_TOKENS);
    if (!json_is_array(parts)) {
        return tg__bound_json(walk, content, NULL, 1, err);
    }
    size_t index;
    const json_t *part;
    json_array_foreach((json_t *)parts, index, part) {
        tg_status status;
        if (json_object_get(part, "inlineData") != NULL) {
            status = context_bound(walk, "an inlineData part", err);
        } else if (json_object_get(part, "fileData") != NULL) {
            status = context_bound(walk, "a fileData part", err);
        } else {
            status = tg__bound_json(walk, part, NULL, 2, err);
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static const char *const GROUNDING_TOOLS[] = {"googleSearch", "googleSearchRetrieval",
                                              "urlContext",   "googleMaps",
                                              "fileSearch",   "computerUse"};

static tg_status bound_tool(tg__bound_walk *walk, const json_t *tool, tg_error *err) {
    for (size_t i = 0; i < sizeof GROUNDING_TOOLS / sizeof GROUNDING_TOOLS[0]; i++) {
        if (json_object_get(tool, GROUNDING_TOOLS[i]) != NULL) {
            return tg__fail(err, TG_ERR_RANGE,
                            "tools.%s: its fees are billed per prompt or query, which Gemini's "
                            "usageMetadata does not report, so Tollgate cannot bound them",
                            GROUNDING_TOOLS[i]);
        }
    }
    if (json_object_get(tool, "codeExecution") != NULL) {
        /* Each run is read back as input (toolUsePromptTokenCount) and sampled again. */
        tg_status status = tg__bound_uses(walk, -1, "tools.codeExecution", err);
        walk->rounds_per_use = true;
        if (status != TG_OK) {
            return status;
        }
    }
    return tg__bound_json(walk, tool, NULL, 2, err);
}

static tg_status bound(tg__bound_walk *walk, const tg__request *request, tg_error *err) {
    const json_t *body = request->body;
    const json_t *contents = json_object_get(body, "contents");
    tg_status status = TG_OK;
    if (json_is_array(contents)) {
        size_t index;
        const json_t *content;
        json_array_foreach((json_t *)contents, index, content) {
            status = bound_content(walk, content, err);
            if (status != TG_OK) {
                return status;
            }
        }
    } else {
        status = tg__bound_json(walk, contents, NULL, 1, err); /* a bare string or object */
    }
    if (status == TG_OK && json_object_get(body, "systemInstruction") != NULL) {
        status = bound_content(walk, json_object_get(body, "systemInstruction"), err);
    }
    const json_t *tools = json_object_get(body, "tools");
    for (size_t i = 0; status == TG_OK && i < json_array_size(tools); i++) {
        status = bound_tool(walk, json_array_get(tools, i), err);
    }
    if (status == TG_OK) {
        status = tg__bound_json(walk, json_object_get(body, "toolConfig"), NULL, 1, err);
    }
    if (status == TG_OK && json_is_string(json_object_get(body, "cachedContent"))) {
        status = context_bound(walk, "cachedContent", err);
    }
    return status;
}

/* ---- Usage ---------------------------------------------------------------------------------- */

/* The AUDIO entry of a ModalityTokenCount list into *out (left alone when absent). */
static tg_status read_audio(const tg__usage_view *usage, const char *key, int64_t *out) {
    tg__usage_view list = tg__usage_view_get(usage, key);
    size_t size = tg__usage_view_array_size(&list);
    for (size_t i = 0; i < size; i++) {
        tg__usage_view item = tg__usage_view_array_get(&list, i);
        tg__usage_view modality = tg__usage_view_get(&item, "modality");
        bool present;
        int64_t count = 0;
        if (tg__usage_read_count(&item, "tokenCount", &present, &count) != TG_OK) {
            return TG_ERR_INVALID;
        }
        if (tg__usage_view_string_is(&modality, "AUDIO") && present) {
            *out = count;
        }
    }
    return TG_OK;
}

static tg_status usage_merge(tg__route route, const tg__usage_view *usage, tg__usage *out) {
    (void)route;
    static const char *const KEYS[5] = {"promptTokenCount", "toolUsePromptTokenCount",
                                        "cachedContentTokenCount", "candidatesTokenCount",
                                        "thoughtsTokenCount"};
    int64_t counts[5] = {0};
    bool present[5];
    for (int i = 0; i < 5; i++) {
        if (tg__usage_read_count(usage, KEYS[i], &present[i], &counts[i]) != TG_OK) {
            return TG_ERR_INVALID;
        }
    }
    int64_t *c = out->counts;
    if (present[0] || present[1]) {
        c[TG__UNIT_INPUT] = tg__sat_add(counts[0], counts[1]);
    }
    if (present[2]) {
        c[TG__UNIT_CACHE_READ] = counts[2];
    }
    if (present[3] || present[4]) {
        c[TG__UNIT_OUTPUT] = tg__sat_add(counts[3], counts[4]);
        c[TG__UNIT_OUTPUT_REASONING] = counts[4];
    }
    if (read_audio(usage, "promptTokensDetails", &c[TG__UNIT_INPUT_AUDIO]) != TG_OK ||
        read_audio(usage, "cacheTokensDetails", &c[TG__UNIT_CACHE_AUDIO_READ]) != TG_OK ||
        read_audio(usage, "candidatesTokensDetails", &c[TG__UNIT_OUTPUT_AUDIO]) != TG_OK) {
        return TG_ERR_INVALID;
    }
    return TG_OK;
}

static json_t *usage_to_json(tg__route route, const tg__usage *usage) {
    (void)route;
    const int64_t *c = usage->counts;
    int64_t thoughts = c[TG__UNIT_OUTPUT_REASONING];
    int64_t candidates = c[TG__UNIT_OUTPUT] - thoughts;
    json_t *json = json_pack("{s:I,s:I,s:I}", "promptTokenCount", (json_int_t)c[TG__UNIT_INPUT],
                             "candidatesTokenCount", (json_int_t)(candidates > 0 ? candidates : 0),
                             "totalTokenCount",
                             (json_int_t)tg__sat_add(c[TG__UNIT_INPUT], c[TG__UNIT_OUTPUT]));
    if (json != NULL && thoughts > 0) {
        json_object_set_new(json, "thoughtsTokenCount", json_integer(thoughts));
    }
    if (json != NULL && c[TG__UNIT_CACHE_READ] > 0) {
        json_object_set_new(json, "cachedContentTokenCount", json_integer(c[TG__UNIT_CACHE_READ]));
    }
    return json;
}

/* ---- Errors --------------------------------------------------------------------------------- */

/* google.rpc.Code names, by HTTP status (as the API maps them). */
static const char *error_status(int status) {
    static const tg__status_name NAMES[] = {
        {400, "INVALID_ARGUMENT"},   {401, "UNAUTHENTICATED"},   {403, "PERMISSION_DENIED"},
        {404, "NOT_FOUND"},          {408, "DEADLINE_EXCEEDED"}, {413, "INVALID_ARGUMENT"},
        {429, "RESOURCE_EXHAUSTED"}, {499, "CANCELLED"},         {501, "UNIMPLEMENTED"},
        {503, "UNAVAILABLE"},        {504, "DEADLINE_EXCEEDED"},
    };
    return tg__status_name_find(NAMES, sizeof NAMES / sizeof NAMES[0], status, "INTERNAL",
                                "FAILED_PRECONDITION");
}

/* ErrorInfo metadata is a map of strings: numbers written as decimal text, nulls left out. */
static json_t *metadata_of(json_t *details) {
    json_t *metadata = json_object();
    const char *key;
    json_t *value;
    json_object_foreach(details, key, value) {
        char text[32];
        if (json_is_string(value)) {
            json_object_set(metadata, key, value);
        } else if (json_is_integer(value)) {
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(value));
            json_object_set_new(metadata, key, json_string(text));
        }
    }
    return metadata;
}

static json_t *error_body(int status, const char *code, const char *message, json_t *details) {
    json_t *metadata = details != NULL ? metadata_of(details) : json_object();
    json_decref(details);
    return json_pack("{s:{s:i,s:s,s:s,s:[{s:s,s:s,s:s,s:o}]}}", "error", "code", status, "message",
                     message, "status", error_status(status), "details", "@type",
                     "type.googleapis.com/google.rpc.ErrorInfo", "reason", code, "domain",
                     "tollgate", "metadata", metadata);
}

/* Mid-stream, the API sends the same error object as one data event; the SDK raises it. */
static tg_status error_event(tg__route route, const char *code, const char *message,
                             int64_t sequence_number, tg__buf *out) {
    (void)route;
    (void)sequence_number;
    return tg__stream_put_event(out, NULL, error_body(500, code, message, NULL));
}

/* ---- Streams: data-only GenerateContentResponse chunks, no terminal event -------------------- */

/* Counts a candidate's text (and function-call arguments, as written out). */
static void read_candidate(tg__stream *stream, const json_t *candidate) {
    tg__stream_choice_mark(stream, candidate, "finishReason");
    const json_t *parts = json_object_get(json_object_get(candidate, "content"), "parts");
    for (size_t p = 0; p < json_array_size(parts); p++) {
        const json_t *part = json_array_get(parts, p);
        tg__stream_count_text(stream, json_object_get(part, "text"));
        const json_t *call = json_object_get(part, "functionCall");
        if (call != NULL) {
            char *text = json_dumps(call, JSON_COMPACT);
            if (text != NULL) {
                json_t *string = json_string_nocheck(text);
                tg__stream_count_text(stream, string);
                json_decref(string);
                free(text);
            }
        }
    }
}

static void stream_event(tg__stream *stream, const tg__sse_event *event, bool *forward) {
    (void)forward;
    json_t *chunk = json_loadb(event->data, event->data_size, 0, NULL);
    if (!json_is_object(chunk)) {
        json_decref(chunk);
        return;
    }
    if (json_object_get(chunk, "error") != NULL) {
        stream->failed = true;
        json_decref(chunk);
        return;
    }
    if (!stream->started) {
        stream->started = true;
        tg__stream_copy_string(stream->id, sizeof stream->id, json_object_get(chunk, "responseId"));
        tg__stream_copy_string(stream->model, sizeof stream->model,
                               json_object_get(chunk, "modelVersion"));
    }
    const json_t *candidates = json_object_get(chunk, "candidates");
    for (size_t c = 0; c < json_array_size(candidates); c++) {
        read_candidate(stream, json_array_get(candidates, c));
    }
    bool any = false, open = false;
    for (int i = 0; i < TG__STREAM_CHOICES_MAX; i++) {
        any = any || stream->choices[i] != 0;
        open = open || stream->choices[i] == 1;
    }
    bool last = any && !open;
    const json_t *usage = json_object_get(chunk, "usageMetadata");
    if (json_is_object(usage)) {
        tg__stream_read_usage(stream, usage, last);
        const json_t *prompt = json_object_get(usage, "promptTokenCount");
        stream->input_reported = stream->input_reported || json_is_integer(prompt);
    }
    stream->finished = stream->finished || (last && json_is_object(usage));
    json_decref(chunk);
}

/* The API's own stop at the output limit: a chunk whose open candidates finish with
 * MAX_TOKENS, carrying the usage. */
static tg_status stream_end(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                            tg__buf *out) {
    (void)now_ms;
    json_t *candidates = json_array();
    bool any = false;
    for (int i = 0; i < TG__STREAM_CHOICES_MAX; i++) {
        any = any || stream->choices[i] != 0;
    }
    for (int i = 0; i < TG__STREAM_CHOICES_MAX && candidates != NULL; i++) {
        if (stream->choices[i] == 2 || (stream->choices[i] == 0 && (any || i > 0))) {
            continue; /* finished already, or never started (candidate 0 stands in if none did) */
        }
        json_array_append_new(candidates, json_pack("{s:{s:[{s:s}],s:s},s:s,s:i}", "content",
                                                    "parts", "text", "", "role", "model",
                                                    "finishReason", "MAX_TOKENS", "index", i));
    }
    json_t *chunk = json_pack("{s:o,s:o,s:s,s:s}", "candidates", candidates, "usageMetadata",
                              usage_to_json(stream->route, usage), "modelVersion", stream->model,
                              "responseId", stream->id[0] ? stream->id : "tollgate");
    return tg__stream_put_event(out, NULL, chunk);
}

const tg__provider tg__provider_gemini = {
    .name = "gemini",
    .prices_id = "google",
    .usage_key = "usageMetadata",
    .index = 2,
    .routes = ROUTES,
    .routes_count = sizeof ROUTES / sizeof ROUTES[0],
    .auth_header = auth_header,
    .query_error = query_error,
    .request_read = request_read,
    .cap_default = cap_default,
    .cap_field = cap_field,
    .cap_hint = cap_hint,
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
