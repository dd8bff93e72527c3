/*
 * request: reading and rewriting request bodies. Rewrites go through jansson,
 * which keeps key order; numbers written back are the same doubles the client
 * sent (jansson prints them with round-trip precision).
 */
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "proxy/estimate.h"
#include "proxy/numbers.h"
#include "proxy/provider.h"
#include "proxy/request.h"
#include "proxy/scan_load.h"
#include "proxy/usage_scan.h"
#include "tokenizer/json_escapes.h"

tg_status tg__request_read_count(const json_t *body, const char *key, int64_t max, int64_t *out,
                                 tg_error *err) {
    const json_t *value = json_object_get(body, key);
    *out = TG_NONE;
    if (value == NULL || json_is_null(value)) {
        return TG_OK;
    }
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > max) {
        return tg__fail(err, TG_ERR_INVALID, "%s must be an integer from 0 to %lld", key,
                        (long long)max);
    }
    *out = json_integer_value(value);
    return TG_OK;
}

static tg_status read_flag(const json_t *object, const char *key, bool *out, tg_error *err) {
    const json_t *value = json_object_get(object, key);
    *out = false;
    if (value == NULL || json_is_null(value)) {
        return TG_OK;
    }
    if (!json_is_boolean(value)) {
        return tg__fail(err, TG_ERR_INVALID, "%s must be true or false", key);
    }
    *out = json_is_true(value);
    return TG_OK;
}

static tg_status read_info(tg__request_info *info, const char *path_model, const json_t *body,
                           tg_error *err) {
    const json_t *model = path_model == NULL ? json_object_get(body, "model") : NULL;
    if (model != NULL && (!json_is_string(model) || json_string_length(model) == 0 ||
                          json_string_length(model) >= TG_NAME_SIZE_MAX)) {
        return tg__fail(err, TG_ERR_INVALID, "model must be a name of 1 to %d bytes",
                        TG_NAME_SIZE_MAX - 1);
    }
    if (path_model != NULL && (path_model[0] == '\0' || strlen(path_model) >= TG_NAME_SIZE_MAX)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "the model in the path must be a name of 1 to %d bytes",
                        TG_NAME_SIZE_MAX - 1);
    }
    if (model == NULL && path_model == NULL && tg__route_metered(info->route)) {
        return tg__fail(err, TG_ERR_INVALID, "model is required");
    }
    if (model != NULL) {
        memcpy(info->model, json_string_value(model), json_string_length(model) + 1);
    } else if (path_model != NULL) {
        memcpy(info->model, path_model, strlen(path_model) + 1);
    }
    tg_status status = read_flag(body, "stream", &info->stream, err);
    const json_t *options = json_object_get(body, "stream_options");
    if (status == TG_OK && options != NULL && !json_is_null(options)) {
        status = json_is_object(options)
                     ? read_flag(options, "include_usage", &info->stream_usage, err)
                     : tg__fail(err, TG_ERR_INVALID, "stream_options must be an object");
    }
    const tg__provider *provider = tg__route_provider(info->route);
    if (status == TG_OK && provider != NULL) {
        status = provider->request_read(info, body, err);
    }
    if (status == TG_OK) {
        info->prompt_tokens_estimate = tg__prompt_tokens_estimate(info->route, info->model, body);
    }
    return status;
}

tg_status tg__request_parse(tg__route route, const char *body, size_t size, tg__request *out,
                            tg_error *err) {
    return tg__request_parse_path(route, NULL, body, size, out, err);
}

tg_status tg__request_parse_path(tg__route route, const char *path_model, const char *body,
                                 size_t size, tg__request *out, tg_error *err) {
    if (size > TG__REQUEST_BODY_SIZE_MAX) {
        return tg__fail(err, TG_ERR_FULL, "request body larger than %d bytes",
                        TG__REQUEST_BODY_SIZE_MAX);
    }
    json_error_t json_err;
    /* Checked by the scan, the tree is built without jansson's reader (scan_load.h); any
     * doubt, a duplicate key, or what the lenient loader rewrites: jansson, as before. */
    json_t *root =
        tg__json_scan_object(body, size) ? tg__scan_load(body, size, JSON_REJECT_DUPLICATES) : NULL;
    root =
        root != NULL ? root : tg__json_load_lenient(body, size, JSON_REJECT_DUPLICATES, &json_err);
    if (root == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "request body is not valid JSON: %s", json_err.text);
    }
    tg__request request = {
        .body = root, .info = {.route = route, .input_bound_tokens = TG_NONE, .output_rounds = 1}};
    tg_status status = json_is_object(root)
                           ? read_info(&request.info, path_model, root, err)
                           : tg__fail(err, TG_ERR_INVALID, "request body must be a JSON object");
    if (status != TG_OK) {
        json_decref(root);
        return status;
    }
    *out = request;
    return TG_OK;
}

void tg__request_free(tg__request *request) {
    if (request != NULL) {
        json_decref(request->body);
        request->body = NULL;
    }
}

static int64_t smaller_known(int64_t a, int64_t b) {
    if (a <= 0) {
        return b;
    }
    return b > 0 && b < a ? b : a;
}

int64_t tg__request_output_bound(const tg__request_info *info, const tg__model_price *price) {
    const tg__route_row *row = tg__route_row_of(info->route);
    if (row == NULL || !row->output || !row->metered) {
        return 0;
    }
    int64_t per_choice = smaller_known(price->max_output_tokens, price->context_window_tokens);
    if (info->max_output_tokens != TG_NONE) {
        per_choice = per_choice > 0 && per_choice < info->max_output_tokens
                         ? per_choice
                         : info->max_output_tokens;
    }
    if (per_choice < 0 || (per_choice == 0 && info->max_output_tokens == TG_NONE)) {
        return -1;
    }
    if (info->reasoning_bound_tokens > 0) {
        per_choice = tg__sat_add(per_choice, info->reasoning_bound_tokens);
    }
    if (per_choice > TG__USAGE_COUNT_MAX / info->choices) {
        return TG__USAGE_COUNT_MAX;
    }
    return per_choice * info->choices;
}

int64_t tg__request_input_held(const tg__request_info *info) {
    return info->input_bound_tokens >= 0 ? info->input_bound_tokens : info->prompt_tokens_estimate;
}

tg_status tg__request_worst_case(const tg__request_info *info, const tg__model_price *price,
                                 int64_t *cost_micros_out, tg_error *err) {
    int64_t output = tg__request_output_bound(info, price);
    if (output < 0) {
        return tg__fail(err, TG_ERR_RANGE,
                        "the request sets no output limit and model %s has no known maximum: "
                        "set %s",
                        info->model, tg__route_provider(info->route)->cap_hint(info->route));
    }
    int64_t rounds = info->output_rounds > 1 ? info->output_rounds : 1;
    output = output > TG__USAGE_COUNT_MAX / rounds ? TG__USAGE_COUNT_MAX : output * rounds;
    int64_t cost_micros = 0;
    tg_status status =
        tg__cost_worst_case(price, tg__request_input_held(info), output, &cost_micros);
    if (status == TG_OK && info->fee_bound_micros > TG_AMOUNT_MAX - cost_micros) {
        status = TG_ERR_RANGE;
    }
    if (status == TG_OK) {
        *cost_micros_out = cost_micros + (info->fee_bound_micros > 0 ? info->fee_bound_micros : 0);
    }
    if (status != TG_OK) {
        return tg__fail(err, status, "the worst-case cost of this call is out of range");
    }
    return TG_OK;
}

tg_status tg__request_set_integer(json_t *body, const char *key, int64_t value) {
    return json_object_set_new(body, key, json_integer(value)) == 0 ? TG_OK : TG_ERR_NOMEM;
}

tg_status tg__request_set_cap_field(tg__request *request, json_t *object, const char *field,
                                    int64_t tokens) {
    tg_status status = tg__request_set_integer(object, field, tokens);
    if (status == TG_OK) {
        request->info.max_output_tokens = tokens;
        request->info.max_output_field = field;
        request->changed = true;
    }
    return status;
}

tg_status tg__request_set_max_output(tg__request *request, int64_t tokens) {
    const tg__provider *provider = tg__route_provider(request->info.route);
    return provider != NULL ? provider->request_set_cap(request, tokens) : TG_ERR_INVALID;
}

const char *tg__request_cap_field(const tg__request_info *info) {
    if (info->max_output_field != NULL) {
        return info->max_output_field;
    }
    const tg__provider *provider = tg__route_provider(info->route);
    return provider != NULL ? provider->cap_field(info->route) : "max_tokens";
}

tg_status tg__request_set_model(tg__request *request, const char *model) {
    size_t size = strlen(model);
    if (size == 0 || size >= TG_NAME_SIZE_MAX) {
        return TG_ERR_INVALID;
    }
    if (json_object_set_new(request->body, "model", json_string(model)) != 0) {
        return TG_ERR_NOMEM;
    }
    memcpy(request->info.model, model, size + 1);
    request->changed = true;
    return TG_OK;
}

tg_status tg__request_ensure_stream_usage(tg__request *request) {
    const tg__provider *provider = tg__route_provider(request->info.route);
    if (!request->info.stream || provider == NULL || provider->request_stream_usage == NULL) {
        return TG_OK;
    }
    return provider->request_stream_usage(request);
}

tg_status tg__request_serialize(const tg__request *request, char **body_out, size_t *size_out) {
    char *text = json_dumps(request->body, JSON_COMPACT);
    if (text == NULL) {
        return TG_ERR_NOMEM;
    }
    *body_out = text;
    *size_out = strlen(text);
    return TG_OK;
}
