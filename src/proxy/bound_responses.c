/*
 * bound_responses: OpenAI Responses (bound.h). Input items and instructions as
 * text; images and files as for chat; stored state (previous_response_id, a
 * conversation, an item reference, a stored prompt) by what Tollgate recorded for
 * it; built-in tools by their published fee per call times max_tool_calls (the
 * only field that bounds how often the model calls them), their results by the
 * context window. image_generation bills image tokens at the image model's rates,
 * which max_output_tokens does not cover: refused.
 */
#include <string.h>

#include "core/path.h"
#include "proxy/bound.h"
#include "proxy/numbers.h"
#include "tokenizer/images.h"

static tg_status responses_media(tg__bound_walk *walk, const json_t *part, bool *taken,
                                 tg_error *err) {
    const char *type = json_string_value(json_object_get(part, "type"));
    if (strcmp(type, "input_image") == 0) {
        bool known;
        const tg__model *model = tg__model_find(walk->price->model, &known);
        const json_t *url = json_object_get(part, "image_url");
        uint32_t width = 0, height = 0;
        if (json_is_string(url)) {
            tg__image_size(json_string_value(url), json_string_length(url), &width, &height);
        }
        const char *detail = json_string_value(json_object_get(part, "detail"));
        walk->input_tokens =
            tg__sat_add(walk->input_tokens, tg__image_tokens(model, detail, width, height));
        *taken = true;
    } else if (strcmp(type, "input_file") == 0) {
        *taken = true;
        const json_t *data = json_object_get(part, "file_data");
        if (!json_is_string(data)) {
            return tg__fail(err, TG_ERR_RANGE,
                            "input_file by file_id or file_url: Tollgate cannot see the file, so "
                            "its cost is unbounded (send file_data)");
        }
        return tg__bound_pdf(walk, json_string_value(data), json_string_length(data), err);
    } else if (strcmp(type, "item_reference") == 0) {
        *taken = true;
        const char *id = json_string_value(json_object_get(part, "id"));
        return tg__bound_state(walk, "item_reference", id ? id : "", err);
    }
    return TG_OK;
}

/* One tool definition: a built-in's fee and uses, or a function's text. */
static tg_status tool(tg__bound_walk *walk, const json_t *definition, int64_t max_calls,
                      tg_error *err) {
    const char *type = json_string_value(json_object_get(definition, "type"));
    int64_t fee = -1;
    if (type == NULL || strcmp(type, "function") == 0 || strcmp(type, "custom") == 0 ||
        strncmp(type, "computer_use", 12) == 0 || strcmp(type, "local_shell") == 0 ||
        strcmp(type, "shell") == 0 || strcmp(type, "apply_patch") == 0) {
        return tg__bound_json(walk, definition, NULL, 1, err); /* run by the client */
    }
    if (strncmp(type, "web_search", 10) == 0) {
        fee = TG__BOUND_WEB_SEARCH_OPENAI;
    } else if (strcmp(type, "file_search") == 0) {
        fee = TG__BOUND_FILE_SEARCH_OPENAI;
    } else if (strcmp(type, "code_interpreter") == 0) {
        fee = 0;
        walk->fee_micros = tg__sat_add(walk->fee_micros, TG__BOUND_CODE_INTERPRETER_OPENAI);
    } else if (strcmp(type, "mcp") == 0) {
        fee = 0;
    } else if (strcmp(type, "image_generation") == 0) {
        return tg__fail(err, TG_ERR_RANGE,
                        "the image_generation tool bills image tokens that max_output_tokens "
                        "does not bound");
    } else {
        return tg__fail(err, TG_ERR_RANGE,
                        "tool type %.64s: Tollgate does not know how it is billed, so its cost "
                        "is unbounded",
                        type);
    }
    walk->fee_per_use_micros = fee > walk->fee_per_use_micros ? fee : walk->fee_per_use_micros;
    if (!walk->server_tools) {
        tg_status status =
            tg__bound_uses(walk, max_calls, "a built-in tool without max_tool_calls", err);
        if (status != TG_OK) {
            return status;
        }
    }
    return tg__bound_json(walk, definition, NULL, 1, err);
}

static tg_status stored_state(tg__bound_walk *walk, const json_t *body, tg_error *err) {
    const json_t *previous = json_object_get(body, "previous_response_id");
    tg_status status = TG_OK;
    if (json_is_string(previous)) {
        status = tg__bound_state(walk, "previous_response_id", json_string_value(previous), err);
    }
    const json_t *conversation = json_object_get(body, "conversation");
    if (json_is_object(conversation)) {
        conversation = json_object_get(conversation, "id");
    }
    if (status == TG_OK && json_is_string(conversation)) {
        status = tg__bound_state(walk, "conversation", json_string_value(conversation), err);
    }
    const json_t *prompt = json_object_get(body, "prompt");
    if (status == TG_OK && json_is_object(prompt)) {
        const char *id = json_string_value(json_object_get(prompt, "id"));
        status = tg__bound_state(walk, "prompt", id ? id : "", err);
    }
    return status;
}

tg_status tg__bound_responses(tg__bound_walk *walk, const tg__request *request, tg_error *err) {
    const json_t *body = request->body;
    const json_t *input = json_object_get(body, "input");
    walk->input_tokens = tg__sat_mul(json_is_array(input) ? (int64_t)json_array_size(input) : 1,
                                     TG__BOUND_MESSAGE_TOKENS);
    static const char *const FIELDS[] = {"input", "instructions", "tool_choice", "text"};
    tg_status status = tg__bound_fields(walk, body, FIELDS, sizeof FIELDS / sizeof FIELDS[0],
                                        responses_media, err);
    if (status != TG_OK) {
        return status;
    }
    const json_t *max_calls = json_object_get(body, "max_tool_calls");
    int64_t calls = json_is_integer(max_calls) && json_integer_value(max_calls) >= 0
                        ? json_integer_value(max_calls)
                        : -1;
    const json_t *tools = json_object_get(body, "tools");
    size_t index;
    const json_t *definition;
    json_array_foreach((json_t *)tools, index, definition) {
        status = tool(walk, definition, calls, err);
        if (status != TG_OK) {
            return status;
        }
    }
    return stored_state(walk, body, err);
}
