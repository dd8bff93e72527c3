/*
 * request_responses: prompt tokens of a Responses API body. OpenAI documents no
 * framing for this shape; the chat rules apply item by item (instructions as a
 * system message, a string input as one user message, function calls and their
 * outputs as in chat), so the count is marked framed, never exact.
 */
#include <string.h>

#include "tokenizer/request.h"

#define FUNCTION_CALL_FRAMING 3

static void count_message(tg__counter *c, const char *role, const json_t *content) {
    c->count->text_tokens += c->model->tokens_per_message;
    tg__count_text_add(c, role, strlen(role));
    tg__count_content(c, content);
}

static void count_item(tg__counter *c, const json_t *item) {
    const char *type = json_string_value(json_object_get(item, "type"));
    const char *role = json_string_value(json_object_get(item, "role"));
    if (role != NULL && (type == NULL || strcmp(type, "message") == 0)) {
        count_message(c, role, json_object_get(item, "content"));
    } else if (type != NULL && strcmp(type, "function_call") == 0) {
        c->count->text_tokens += FUNCTION_CALL_FRAMING;
        tg__count_string(c, json_object_get(item, "name"));
        tg__count_json(c, json_object_get(item, "arguments"));
    } else if (type != NULL && strcmp(type, "function_call_output") == 0) {
        count_message(c, "tool", json_object_get(item, "output"));
        tg__count_string(c, json_object_get(item, "call_id")); /* chat's tool_call_id */
    } else if (json_is_object(item)) {
        /* Reasoning items, built-in tool calls: count their JSON as an upper bound. */
        tg__count_quality(c, TG_COUNT_ESTIMATE);
        tg__count_json(c, item);
    } else {
        tg__count_invalid(c, "responses: each input item must be an object");
    }
}

void tg__count_responses(tg__counter *c, const json_t *body) {
    tg__count_quality(c, TG_COUNT_FRAMED);
    const json_t *instructions = json_object_get(body, "instructions");
    if (json_is_string(instructions)) {
        count_message(c, "system", instructions);
    }
    const json_t *input = json_object_get(body, "input");
    if (json_is_string(input)) {
        count_message(c, "user", input);
    } else if (json_is_array(input)) {
        size_t i;
        const json_t *item;
        json_array_foreach(input, i, item) {
            count_item(c, item);
        }
    } else if (input != NULL) {
        tg__count_invalid(c, "responses: \"input\" must be a string or an array");
        return;
    }
    c->count->text_tokens += c->model->reply_priming;
    tg__count_tools(c, json_object_get(body, "tools"));
    tg__count_response_format(c, json_object_get(json_object_get(body, "text"), "format"));
}
