/*
 * bound_chat: OpenAI chat completions (bound.h). Text at one token per byte;
 * images by OpenAI's tile or patch formula for the model (tokenizer/images.c), at
 * the formula's maximum when the size cannot be read from the data; audio by its
 * data's bytes (far above OpenAI's 10 tokens a second); PDF files by pages. A file
 * by id, or a predicted output (rejected predictions bill as output past the cap),
 * is unbounded.
 */
#include <string.h>

#include "core/path.h"
#include "proxy/bound.h"
#include "proxy/numbers.h"
#include "tokenizer/images.h"

/* An image's tokens from its URL (a data: URL carries its size) and detail. */
static int64_t image_tokens(const char *model_name, const json_t *url, const char *detail) {
    bool known;
    const tg__model *model = tg__model_find(model_name, &known);
    uint32_t width = 0, height = 0;
    if (json_is_string(url)) {
        tg__image_size(json_string_value(url), json_string_length(url), &width, &height);
    }
    return tg__image_tokens(model, detail, width, height);
}

static tg_status file_part(tg__bound_walk *walk, const json_t *file, const char *what,
                           tg_error *err) {
    const json_t *data = json_object_get(file, "file_data");
    if (json_is_string(data)) {
        return tg__bound_pdf(walk, json_string_value(data), json_string_length(data), err);
    }
    return tg__fail(err, TG_ERR_RANGE,
                    "%s by file_id or URL: Tollgate cannot see the file, so its cost is "
                    "unbounded (send file_data)",
                    what);
}

static tg_status chat_media(tg__bound_walk *walk, const json_t *part, bool *taken, tg_error *err) {
    const char *type = json_string_value(json_object_get(part, "type"));
    if (strcmp(type, "image_url") == 0) {
        const json_t *image = json_object_get(part, "image_url");
        const json_t *url = json_is_object(image) ? json_object_get(image, "url") : image;
        const char *detail = json_string_value(json_object_get(image, "detail"));
        walk->input_tokens =
            tg__sat_add(walk->input_tokens, image_tokens(walk->price->model, url, detail));
        *taken = true;
    } else if (strcmp(type, "input_audio") == 0) {
        const json_t *data = json_object_get(json_object_get(part, "input_audio"), "data");
        walk->input_tokens = tg__sat_add(
            walk->input_tokens, json_is_string(data) ? (int64_t)json_string_length(data) : 0);
        *taken = true;
    } else if (strcmp(type, "file") == 0) {
        *taken = true;
        return file_part(walk, json_object_get(part, "file"), "a file part", err);
    }
    return TG_OK;
}

tg_status tg__bound_chat(tg__bound_walk *walk, const tg__request *request, tg_error *err) {
    const json_t *body = request->body;
    if (json_object_get(body, "prediction") != NULL &&
        !json_is_null(json_object_get(body, "prediction"))) {
        return tg__fail(err, TG_ERR_RANGE,
                        "prediction: rejected predicted tokens are billed as output beyond "
                        "max_completion_tokens, so the cost is unbounded");
    }
    const json_t *messages = json_object_get(body, "messages");
    walk->input_tokens = tg__sat_mul(
        json_is_array(messages) ? (int64_t)json_array_size(messages) : 0, TG__BOUND_MESSAGE_TOKENS);
    static const char *const FIELDS[] = {"messages",    "tools",           "functions",
                                         "tool_choice", "response_format", "function_call"};
    tg_status status =
        tg__bound_fields(walk, body, FIELDS, sizeof FIELDS / sizeof FIELDS[0], chat_media, err);
    if (status != TG_OK) {
        return status;
    }
    const json_t *search = json_object_get(body, "web_search_options");
    if (search != NULL && !json_is_null(search)) {
        /* Search models run one search per call; its results come back as input. */
        walk->server_uses = tg__sat_add(walk->server_uses, 1);
        walk->server_tools = true;
        walk->fee_per_use_micros = TG__BOUND_WEB_SEARCH_CHAT;
        return tg__bound_json(walk, search, NULL, 1, err);
    }
    return TG_OK;
}
