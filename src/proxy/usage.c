/*
 * usage: reads providers' usage objects. A count that is present but not a
 * count (negative, fractional, huge) is an error rather than a zero: a zero
 * would be a free call, and the caller falls back to its own estimate instead.
 * Each provider reads its own shape (provider.h's usage_merge) with the helpers
 * here.
 */
#include <string.h>

#include "core/path.h"
#include "proxy/provider.h"
#include "proxy/usage.h"
#include "proxy/scan_load.h"
#include "proxy/usage_scan.h"
#include "proxy/usage_view.h"

tg_status tg__usage_read_count(const tg__usage_view *object, const char *key, bool *present,
                               int64_t *out) {
    tg__usage_view value = tg__usage_view_get(object, key); /* absent unless an object's */
    *present = false;
    if (!tg__usage_view_exists(&value) || tg__usage_view_is_null(&value)) {
        return TG_OK;
    }
    int64_t count;
    if (!tg__usage_view_integer(&value, &count) || count < 0 || count > TG__USAGE_COUNT_MAX) {
        return TG_ERR_INVALID;
    }
    *present = true;
    *out = count;
    return TG_OK;
}

tg_status tg__usage_merge_paths(const tg__usage_view *usage, const tg__count_path *paths,
                                size_t count, tg__usage *out) {
    for (size_t i = 0; i < count; i++) {
        tg__usage_view object =
            paths[i].object ? tg__usage_view_get(usage, paths[i].object) : *usage;
        bool present;
        int64_t value = 0;
        if (tg__usage_read_count(&object, paths[i].key, &present, &value) != TG_OK) {
            return TG_ERR_INVALID;
        }
        if (present) {
            out->counts[paths[i].unit] = value;
        }
    }
    return TG_OK;
}

tg_status tg__usage_merge_view(tg__route route, const tg__usage_view *usage, tg__usage *out) {
    if (!tg__usage_view_is_object(usage)) {
        return TG_ERR_INVALID;
    }
    tg__usage merged = *out; /* *out changes only on success */
    const tg__provider *provider = tg__route_provider(route);
    tg_status status =
        provider != NULL ? provider->usage_merge(route, usage, &merged) : TG_ERR_INVALID;
    if (status == TG_OK) {
        merged.counts[TG__UNIT_REQUESTS] = 1;
        *out = merged;
    }
    return status;
}

tg_status tg__usage_merge_json(tg__route route, const json_t *usage, tg__usage *out) {
    tg__usage_view view = tg__usage_view_json(usage);
    return tg__usage_merge_view(route, &view, out);
}

/* The counts of a usage object (and its reported cost, *cost_micros, when wanted and
 * the object is the body's top "usage": a nested one is not looked at, as before). */
static tg_status usage_read(tg__route route, const tg__usage_view *usage, bool top, tg__usage *out,
                            int64_t *cost_micros, tg_error *err) {
    tg__usage read = {0};
    if (!tg__usage_view_is_object(usage)) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "response carries no usage");
    }
    if (tg__usage_merge_view(route, usage, &read) != TG_OK) {
        return tg__fail(err, TG_ERR_INVALID, "response usage holds a bad count");
    }
    *out = read;
    int64_t micros = -1;
    if (cost_micros != NULL && top && tg__usage_view_cost_micros(usage, &micros) != TG_OK) {
        micros = -1;
    }
    if (cost_micros != NULL) {
        *cost_micros = micros;
    }
    return TG_OK;
}

tg_status tg__usage_from_body(tg__route route, const char *body, size_t size, tg__usage *out,
                              tg_error *err) {
    return tg__usage_read_body(route, body, size, out, NULL, err);
}

tg_status tg__usage_read_body(tg__route route, const char *body, size_t size, tg__usage *out,
                              int64_t *cost_micros, tg_error *err) {
    const char *text;
    size_t text_size;
    bool nested = false;
    if (size > TG__RESPONSE_SIZE_MAX ||
        !tg__usage_scan(route, body, size, &text, &text_size, &nested)) {
        /* unsure: as before */
        return tg__usage_read_body_tree(route, body, size, out, cost_micros, err);
    }
    if (text == NULL || text[0] != '{') {
        return tg__fail(err, TG_ERR_NOT_FOUND, "response carries no usage");
    }
    /* The scan checked the text: read where it lies (usage_view.h), else built into a tree
     * without jansson's reader (scan_load.h). */
    tg__usage read;
    tg_status status;
    tg__usage_text index;
    if (tg__usage_text_index(&index, text, text_size)) {
        tg__usage_view view = tg__usage_view_text(&index);
        status = usage_read(route, &view, !nested, &read, cost_micros, err);
    } else {
        json_t *usage = tg__scan_load(text, text_size, 0);
        usage = usage != NULL ? usage : json_loadb(text, text_size, 0, NULL);
        if (usage == NULL) {
            return tg__usage_read_body_tree(route, body, size, out, cost_micros, err);
        }
        tg__usage_view view = tg__usage_view_json(usage);
        status = usage_read(route, &view, !nested, &read, cost_micros, err);
        json_decref(usage);
    }
    if (status == TG_OK) {
        *out = read;
    }
    return status;
}

tg_status tg__usage_from_body_tree(tg__route route, const char *body, size_t size, tg__usage *out,
                                   tg_error *err) {
    return tg__usage_read_body_tree(route, body, size, out, NULL, err);
}

tg_status tg__usage_read_body_tree(tg__route route, const char *body, size_t size, tg__usage *out,
                                   int64_t *cost_micros, tg_error *err) {
    if (size > TG__RESPONSE_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "response larger than %d bytes",
                        TG__RESPONSE_SIZE_MAX);
    }
    json_error_t json_err;
    json_t *root = json_loadb(body, size, 0, &json_err);
    if (root == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "response is not JSON: %s", json_err.text);
    }
    const tg__provider *provider = tg__route_provider(route);
    const json_t *usage = json_object_get(root, provider != NULL ? provider->usage_key : "usage");
    const tg__route_row *row = tg__route_row_of(route);
    bool top = usage != NULL;
    if (usage == NULL && row != NULL && row->usage_nested) {
        usage = json_object_get(json_object_get(root, "response"), "usage");
    }
    tg__usage read;
    tg__usage_view view = tg__usage_view_json(usage);
    tg_status status = usage_read(route, &view, top, &read, cost_micros, err);
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
    const tg__route_row *row = tg__route_row_of(route);
    for (size_t i = 0; i < 3 && row != NULL && row->output; i++) {
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
    const tg__provider *provider = tg__route_provider(route);
    return provider != NULL ? provider->usage_to_json(route, usage) : NULL;
}

tg_status tg__usage_cost_micros(const json_t *usage, int64_t *out) {
    tg__usage_view view = tg__usage_view_json(usage);
    return tg__usage_view_cost_micros(&view, out);
}

tg_status tg__usage_view_cost_micros(const tg__usage_view *usage, int64_t *out) {
    tg__usage_view cost = tg__usage_view_get(usage, "cost");
    const int64_t dollars_max = TG_AMOUNT_MAX / 1000000;
    int64_t dollars;
    double value;
    if (tg__usage_view_integer(&cost, &dollars)) {
        if (dollars < 0 || dollars > dollars_max) {
            return TG_ERR_INVALID;
        }
        *out = dollars * 1000000;
        return TG_OK;
    }
    if (!tg__usage_view_real(&cost, &value)) {
        return TG_ERR_NOT_FOUND;
    }
    if (!(value >= 0.0) || value >= (double)dollars_max) {
        return TG_ERR_INVALID; /* negative, NaN or past the largest amount */
    }
    if (value == 0.0) {
        *out = 0; /* also -0.0, which passes the test above but prints its sign */
        return TG_OK;
    }
    char text[64]; /* "123.000123456789": whole dollars, then exactly twelve places */
    int n = snprintf(text, sizeof text, "%.12f", value);
    const char *point = n > 0 && (size_t)n < sizeof text ? strchr(text, '.') : NULL;
    if (point == NULL || strlen(point + 1) != 12) {
        return TG_ERR_INVALID;
    }
    int64_t micros = 0;
    for (const char *c = text; c < point; c++) {
        micros = micros * 10 + (*c - '0');
    }
    for (int i = 1; i <= 6; i++) {
        micros = micros * 10 + (point[i] - '0');
    }
    *out = micros + (point[7] >= '5' ? 1 : 0);
    return TG_OK;
}
