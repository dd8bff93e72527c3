/*
 * usage: reads providers' usage objects. A count that is present but not a
 * count (negative, fractional, huge) is an error rather than a zero: a zero
 * would be a free call, and the caller falls back to its own estimate instead.
 */
#include <string.h>

#include "core/path.h"
#include "proxy/usage.h"
#include "proxy/usage_scan.h"

/* Reads an optional count at object[key] (object may be NULL). */
static tg_status read_count(const json_t *object, const char *key, bool *present, int64_t *out) {
    const json_t *value = json_is_object(object) ? json_object_get(object, key) : NULL;
    *present = false;
    if (value == NULL || json_is_null(value)) {
        return TG_OK;
    }
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > TG__USAGE_COUNT_MAX) {
        return TG_ERR_INVALID;
    }
    *present = true;
    *out = json_integer_value(value);
    return TG_OK;
}

typedef struct {
    const char *object; /* sub-object of usage holding the key, NULL for usage itself */
    const char *key;
    tg__unit unit;
} count_path;

static const count_path OPENAI_CHAT[] = {
    {NULL, "prompt_tokens", TG__UNIT_INPUT},
    {"prompt_tokens_details", "cached_tokens", TG__UNIT_CACHE_READ},
    {"prompt_tokens_details", "cache_write_tokens", TG__UNIT_CACHE_WRITE},
    {"prompt_tokens_details", "audio_tokens", TG__UNIT_INPUT_AUDIO},
    {NULL, "completion_tokens", TG__UNIT_OUTPUT},
    {"completion_tokens_details", "reasoning_tokens", TG__UNIT_OUTPUT_REASONING},
    {"completion_tokens_details", "audio_tokens", TG__UNIT_OUTPUT_AUDIO},
};

static const count_path OPENAI_RESPONSES[] = {
    {NULL, "input_tokens", TG__UNIT_INPUT},
    {"input_tokens_details", "cached_tokens", TG__UNIT_CACHE_READ},
    {NULL, "output_tokens", TG__UNIT_OUTPUT},
    {"output_tokens_details", "reasoning_tokens", TG__UNIT_OUTPUT_REASONING},
};

static tg_status merge_paths(const json_t *usage, const count_path *paths, size_t count,
                             tg__usage *out) {
    for (size_t i = 0; i < count; i++) {
        const json_t *object = paths[i].object ? json_object_get(usage, paths[i].object) : usage;
        bool present;
        int64_t value = 0;
        if (read_count(object, paths[i].key, &present, &value) != TG_OK) {
            return TG_ERR_INVALID;
        }
        if (present) {
            out->counts[paths[i].unit] = value;
        }
    }
    return TG_OK;
}

/* Anthropic counts cache reads and writes outside input_tokens; the sum is the
 * input total, and each report may carry only some of the three. */
static tg_status merge_anthropic(const json_t *usage, tg__usage *out) {
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
        if (read_count(usage, INPUT_KEYS[i], &present, &parts[i]) != TG_OK) {
            return TG_ERR_INVALID;
        }
    }
    static const count_path OTHERS[] = {
        {"cache_creation", "ephemeral_1h_input_tokens", TG__UNIT_CACHE_WRITE_1H},
        {NULL, "output_tokens", TG__UNIT_OUTPUT},
        {"output_tokens_details", "thinking_tokens", TG__UNIT_OUTPUT_REASONING},
        {"server_tool_use", "web_search_requests", TG__UNIT_WEB_SEARCHES},
    };
    if (merge_paths(usage, OTHERS, sizeof OTHERS / sizeof OTHERS[0], out) != TG_OK) {
        return TG_ERR_INVALID;
    }
    out->counts[TG__UNIT_INPUT] = (parts[0] > 0 ? parts[0] : 0) + parts[1] + parts[2];
    out->counts[TG__UNIT_CACHE_READ] = parts[1];
    out->counts[TG__UNIT_CACHE_WRITE] = parts[2];
    return TG_OK;
}

tg_status tg__usage_merge_json(tg__route route, const json_t *usage, tg__usage *out) {
    if (!json_is_object(usage)) {
        return TG_ERR_INVALID;
    }
    tg__usage merged = *out; /* *out changes only on success */
    tg_status status;
    if (route == TG__ROUTE_ANTHROPIC_MESSAGES || route == TG__ROUTE_ANTHROPIC_COUNT) {
        status = merge_anthropic(usage, &merged);
    } else if (json_object_get(usage, "prompt_tokens") == NULL &&
               json_object_get(usage, "input_tokens") != NULL) {
        /* The Responses shape, also used by some compatible upstreams elsewhere. */
        status = merge_paths(usage, OPENAI_RESPONSES,
                             sizeof OPENAI_RESPONSES / sizeof OPENAI_RESPONSES[0], &merged);
    } else {
        status =
            merge_paths(usage, OPENAI_CHAT, sizeof OPENAI_CHAT / sizeof OPENAI_CHAT[0], &merged);
    }
    if (status == TG_OK) {
        merged.counts[TG__UNIT_REQUESTS] = 1;
        *out = merged;
    }
    return status;
}

tg_status tg__usage_from_body(tg__route route, const char *body, size_t size, tg__usage *out,
                              tg_error *err) {
    const char *text;
    size_t text_size;
    if (size > TG__RESPONSE_SIZE_MAX || !tg__usage_scan(route, body, size, &text, &text_size)) {
        return tg__usage_from_body_tree(route, body, size, out, err); /* unsure: as before */
    }
    if (text == NULL || text[0] != '{') {
        return tg__fail(err, TG_ERR_NOT_FOUND, "response carries no usage");
    }
    json_t *usage = json_loadb(text, text_size, 0, NULL);
    if (usage == NULL) {
        return tg__usage_from_body_tree(route, body, size, out, err); /* cannot happen */
    }
    tg__usage read = {0};
    tg_status status = tg__usage_merge_json(route, usage, &read);
    json_decref(usage);
    if (status != TG_OK) {
        return tg__fail(err, TG_ERR_INVALID, "response usage holds a bad count");
    }
    *out = read;
    return TG_OK;
}

tg_status tg__usage_from_body_tree(tg__route route, const char *body, size_t size, tg__usage *out,
                                   tg_error *err) {
    if (size > TG__RESPONSE_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "response larger than %d bytes",
                        TG__RESPONSE_SIZE_MAX);
    }
    json_error_t json_err;
    json_t *root = json_loadb(body, size, 0, &json_err);
    if (root == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "response is not JSON: %s", json_err.text);
    }
    const json_t *usage = json_object_get(root, "usage");
    if (usage == NULL && route == TG__ROUTE_OPENAI_RESPONSES) {
        usage = json_object_get(json_object_get(root, "response"), "usage");
    }
    tg_status status = TG_OK;
    tg__usage read = {0};
    if (!json_is_object(usage)) {
        status = tg__fail(err, TG_ERR_NOT_FOUND, "response carries no usage");
    } else if (tg__usage_merge_json(route, usage, &read) != TG_OK) {
        status = tg__fail(err, TG_ERR_INVALID, "response usage holds a bad count");
    }
    json_decref(root);
    if (status == TG_OK) {
        *out = read;
    }
    return status;
}

/* Bytes and pieces of text in a subtree (every string counts: a little over, never under). */
static void count_strings(const json_t *value, int depth, int64_t *bytes, int64_t *pieces) {
    if (depth > 64) {
        return;
    }
    if (json_is_string(value) && json_string_length(value) > 0) {
        *bytes += (int64_t)json_string_length(value);
        (*pieces)++;
    } else if (json_is_array(value)) {
        size_t index;
        const json_t *item;
        json_array_foreach((json_t *)value, index, item) {
            count_strings(item, depth + 1, bytes, pieces);
        }
    } else if (json_is_object(value)) {
        const char *key;
        const json_t *item;
        json_object_foreach((json_t *)value, key, item) {
            count_strings(item, depth + 1, bytes, pieces);
        }
    }
}

tg_status tg__usage_estimate_body(tg__route route, const char *body, size_t size,
                                  int64_t prompt_tokens_estimate, tg__usage *out, tg_error *err) {
    json_t *root = size <= TG__RESPONSE_SIZE_MAX ? json_loadb(body, size, 0, NULL) : NULL;
    if (root == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "response is not JSON: cannot count its output");
    }
    static const char *const OUTPUT_FIELDS[] = {"choices", "output", "content"};
    int64_t bytes = 0, pieces = 0;
    for (size_t i = 0; i < 3 && route != TG__ROUTE_OPENAI_EMBEDDINGS; i++) {
        count_strings(json_object_get(root, OUTPUT_FIELDS[i]), 0, &bytes, &pieces);
    }
    json_decref(root);
    tg__usage usage = {.estimated = true};
    usage.counts[TG__UNIT_INPUT] = prompt_tokens_estimate;
    usage.counts[TG__UNIT_OUTPUT] = tg__usage_output_estimate(bytes, pieces);
    usage.counts[TG__UNIT_REQUESTS] = 1;
    *out = usage;
    return TG_OK;
}

int64_t tg__usage_output_estimate(int64_t text_bytes, int64_t text_events) {
    int64_t by_bytes = text_bytes / 4 + (text_bytes % 4 != 0);
    return by_bytes > text_events ? by_bytes : text_events;
}

json_t *tg__usage_to_json(tg__route route, const tg__usage *usage) {
    const int64_t *c = usage->counts;
    if (route == TG__ROUTE_ANTHROPIC_MESSAGES) {
        int64_t uncached = c[TG__UNIT_INPUT] - c[TG__UNIT_CACHE_READ] - c[TG__UNIT_CACHE_WRITE];
        return json_pack("{s:I,s:I,s:I,s:I}", "input_tokens",
                         (json_int_t)(uncached > 0 ? uncached : 0), "cache_creation_input_tokens",
                         (json_int_t)c[TG__UNIT_CACHE_WRITE], "cache_read_input_tokens",
                         (json_int_t)c[TG__UNIT_CACHE_READ], "output_tokens",
                         (json_int_t)c[TG__UNIT_OUTPUT]);
    }
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
