/*
 * bound: the request-wide parts of the bound (bound.h) and the walkers the wires
 * share. Every sum saturates (numbers.h): a client-controlled count must never
 * wrap into a small hold.
 */
#include <string.h>

#include "core/path.h"
#include "proxy/bound.h"
#include "proxy/provider.h"
#include "proxy/numbers.h"
#include "proxy/pdf.h"

static tg_status json_text(tg__bound_walk *walk, const json_t *value, tg__bound_media_fn media,
                           int depth, tg_error *err) {
    if (json_is_string(value)) {
        walk->input_tokens =
            tg__sat_add(walk->input_tokens, (int64_t)json_string_length(value) + 2);
    } else if (json_is_number(value) || json_is_boolean(value) || json_is_null(value)) {
        walk->input_tokens = tg__sat_add(walk->input_tokens, TG__BOUND_NUMBER_TOKENS);
    } else if (json_is_array(value)) {
        size_t index;
        const json_t *item;
        json_array_foreach((json_t *)value, index, item) {
            tg_status status = tg__bound_json(walk, item, media, depth + 1, err);
            if (status != TG_OK) {
                return status;
            }
        }
        walk->input_tokens = tg__sat_add(walk->input_tokens, (int64_t)json_array_size(value) + 2);
    } else if (json_is_object(value)) {
        const char *key;
        const json_t *item;
        json_object_foreach((json_t *)value, key, item) {
            walk->input_tokens = tg__sat_add(walk->input_tokens, (int64_t)strlen(key) + 3);
            tg_status status = tg__bound_json(walk, item, media, depth + 1, err);
            if (status != TG_OK) {
                return status;
            }
        }
        walk->input_tokens = tg__sat_add(walk->input_tokens, 2);
    }
    return TG_OK;
}

tg_status tg__bound_json(tg__bound_walk *walk, const json_t *value, tg__bound_media_fn media,
                         int depth, tg_error *err) {
    if (value == NULL) {
        return TG_OK;
    }
    if (depth > TG__BOUND_DEPTH_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "the request nests deeper than %d levels",
                        TG__BOUND_DEPTH_MAX);
    }
    if (media != NULL && json_is_object(value) && json_is_string(json_object_get(value, "type"))) {
        bool taken = false;
        tg_status status = media(walk, value, &taken, err);
        if (status != TG_OK || taken) {
            return status;
        }
    }
    return json_text(walk, value, media, depth, err);
}

tg_status tg__bound_fields(tg__bound_walk *walk, const json_t *body, const char *const *fields,
                           size_t count, tg__bound_media_fn media, tg_error *err) {
    for (size_t i = 0; i < count; i++) {
        tg_status status = tg__bound_json(walk, json_object_get(body, fields[i]), media, 1, err);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

tg_status tg__bound_pdf(tg__bound_walk *walk, const char *base64, size_t size, tg_error *err) {
    int64_t pages = 0;
    tg_status status = tg__pdf_pages_base64(base64, size, &pages);
    if (status == TG_ERR_NOMEM) {
        return tg__fail(err, status, "out of memory reading a PDF");
    }
    if (status != TG_OK) {
        return tg__fail(err, TG_ERR_RANGE,
                        "a PDF document's pages cannot be counted (%s): its cost is unbounded",
                        status == TG_ERR_INVALID ? "not a PDF"
                        : status == TG_ERR_FULL  ? "too large"
                                                 : "no page objects visible");
    }
    int64_t per_page = walk->options->pdf_page_tokens > 0 ? walk->options->pdf_page_tokens
                                                          : TG__BOUND_PDF_PAGE_TOKENS;
    walk->input_tokens = tg__sat_add(walk->input_tokens, tg__sat_mul(pages, per_page));
    return TG_OK;
}

tg_status tg__bound_state(tg__bound_walk *walk, const char *field, const char *id, tg_error *err) {
    const tg__bound_options *options = walk->options;
    int64_t tokens =
        options->state_tokens != NULL ? options->state_tokens(options->state_user, id) : -1;
    if (tokens < 0) {
        tokens = options->stored_state_tokens_max;
    }
    if (tokens <= 0) {
        return tg__fail(err, TG_ERR_RANGE,
                        "%s %.64s was not seen by Tollgate, so the stored context it bills is "
                        "unbounded (set proxy.stored_state_tokens_max to allow it)",
                        field, id);
    }
    walk->input_tokens = tg__sat_add(walk->input_tokens, tokens);
    return TG_OK;
}

tg_status tg__bound_uses(tg__bound_walk *walk, int64_t requested, const char *what, tg_error *err) {
    int64_t uses = requested >= 0 ? requested : walk->options->server_tool_uses_max;
    if (uses <= 0 && requested < 0) {
        return tg__fail(err, TG_ERR_RANGE,
                        "%s: the number of server-side tool uses is unbounded (set it in the "
                        "request, or proxy.server_tool_uses_max)",
                        what);
    }
    walk->server_uses = tg__sat_add(walk->server_uses, uses);
    walk->server_tools = true;
    return TG_OK;
}

/* Embeddings and completions: the text of their inputs. */
tg_status tg__bound_plain(tg__bound_walk *walk, const tg__request *request, tg_error *err) {
    static const char *const FIELDS[] = {"input", "prompt", "suffix"};
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        tg_status status =
            tg__bound_json(walk, json_object_get(request->body, FIELDS[i]), NULL, 1, err);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* Server tools re-sample: each use adds its results and re-reads the context. */
static tg_status add_server_rounds(tg__bound_walk *walk, const tg__request_info *info,
                                   tg_error *err) {
    if (!walk->server_tools || walk->server_uses == 0) {
        return TG_OK;
    }
    int64_t context = walk->price->context_window_tokens;
    int64_t results = walk->options->server_tool_result_tokens;
    if (results <= 0 && context <= 0) {
        return tg__fail(err, TG_ERR_RANGE,
                        "server-side tool results: model %s has no known context window, so what "
                        "they add is unbounded (set proxy.server_tool_result_tokens)",
                        info->model);
    }
    int64_t output = tg__request_output_bound(info, walk->price);
    int64_t rounds_output = walk->rounds_per_use ? tg__sat_mul(output, walk->server_uses) : output;
    int64_t per_round = results <= 0 ? context
                                     : tg__sat_add(tg__sat_add(walk->input_tokens, rounds_output),
                                                   tg__sat_mul(results, walk->server_uses));
    if (context > 0) {
        per_round = tg__min64(per_round, context);
    }
    walk->input_tokens = tg__sat_add(walk->input_tokens, tg__sat_mul(per_round, walk->server_uses));
    return TG_OK;
}

tg_status tg__bound_request(tg__request *request, const tg__model_price *price,
                            const tg__bound_options *options, tg_error *err) {
    tg__bound_walk walk = {.price = price, .options = options};
    tg_status status;
    const tg__provider *provider = tg__route_provider(request->info.route);
    if (provider != NULL && provider->bound != NULL) {
        status = provider->bound(&walk, request, err);
    } else {
        status = tg__bound_plain(&walk, request, err);
    }
    if (status != TG_OK) {
        return status;
    }
    walk.input_tokens = tg__sat_add(walk.input_tokens, TG__BOUND_FIXED_TOKENS);
    /* One sampling never reads more than the context window: the provider refuses it. */
    if (price->context_window_tokens > 0) {
        walk.input_tokens = tg__min64(walk.input_tokens, price->context_window_tokens);
    }
    status = add_server_rounds(&walk, &request->info, err);
    if (status != TG_OK) {
        return status;
    }
    tg__request_info *info = &request->info;
    info->input_bound_tokens = tg__min64(walk.input_tokens, TG__USAGE_COUNT_MAX);
    info->output_rounds = walk.rounds_per_use ? tg__sat_add(walk.server_uses, 1) : 1;
    info->fee_bound_micros = tg__min64(
        tg__sat_add(tg__sat_mul(walk.server_uses, walk.fee_per_use_micros), walk.fee_micros),
        TG_AMOUNT_MAX);
    return TG_OK;
}
