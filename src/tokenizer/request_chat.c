/*
 * request_chat: prompt tokens of a Chat Completions body, by the OpenAI cookbook's
 * num_tokens_from_messages: per message a fixed framing, the tokens of its role and
 * content, and of its name plus one; three more prime the reply. Tool definitions
 * are counted by request_tools.c. What the cookbook does not cover is counted by the
 * closest published rule and marks the count as framed: content parts (text parts
 * add their text; images their tile or patch tokens), and assistant tool calls
 * (name and arguments plus three, the framing of the legacy function_call), a tool
 * message's tool_call_id (its tokens, as the cookbook counts every string of a
 * message), and a structured-output schema (its JSON text).
 */
#include <string.h>

#include "tokenizer/request.h"

#define TOOL_CALL_FRAMING 3

static void count_content_part(tg__counter *c, const json_t *part) {
    const char *type = json_string_value(json_object_get(part, "type"));
    if (type == NULL) {
        tg__count_invalid(c, "chat: a content part has no \"type\"");
        return;
    }
    if (strcmp(type, "text") == 0 || strcmp(type, "input_text") == 0 ||
        strcmp(type, "output_text") == 0) {
        tg__count_string(c, json_object_get(part, "text"));
    } else if (strcmp(type, "refusal") == 0) {
        tg__count_string(c, json_object_get(part, "refusal"));
    } else if (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0) {
        const json_t *image = json_object_get(part, "image_url");
        const json_t *url = json_is_object(image) ? json_object_get(image, "url") : image;
        const json_t *detail = json_object_get(json_is_object(image) ? image : part, "detail");
        tg__count_image(c, json_string_value(url), json_string_length(url),
                        json_string_value(detail));
    } else {
        /* Audio, files: billed by rules the counters do not know. */
        tg__count_quality(c, TG_COUNT_ESTIMATE);
        tg__count_json(c, part);
    }
}

/* A message's content: a string, or an array of parts. */
void tg__count_content(tg__counter *c, const json_t *content) {
    if (json_is_string(content)) {
        tg__count_string(c, content);
        return;
    }
    if (json_is_array(content)) {
        tg__count_quality(c, TG_COUNT_FRAMED);
        size_t i;
        const json_t *part;
        json_array_foreach(content, i, part) {
            if (json_is_string(part)) {
                tg__count_string(c, part);
            } else {
                count_content_part(c, part);
            }
        }
        return;
    }
    if (content != NULL && !json_is_null(content)) {
        tg__count_invalid(c, "chat: \"content\" must be a string, an array or null");
    }
}

static void count_call(tg__counter *c, const json_t *function) {
    tg__count_quality(c, TG_COUNT_FRAMED);
    c->count->text_tokens += TOOL_CALL_FRAMING;
    tg__count_string(c, json_object_get(function, "name"));
    tg__count_json(c, json_object_get(function, "arguments"));
}

static void count_message(tg__counter *c, const json_t *message) {
    if (!json_is_object(message)) {
        tg__count_invalid(c, "chat: each message must be an object");
        return;
    }
    c->count->text_tokens += c->model->tokens_per_message;
    tg__count_string(c, json_object_get(message, "role"));
    tg__count_content(c, json_object_get(message, "content"));
    const json_t *name = json_object_get(message, "name");
    if (json_is_string(name)) {
        tg__count_string(c, name);
        c->count->text_tokens += c->model->tokens_per_name;
    }
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(message, "tool_calls"), i, call) {
        count_call(c, json_object_get(call, "function"));
    }
    const json_t *function_call = json_object_get(message, "function_call");
    if (json_is_object(function_call)) {
        count_call(c, function_call);
    }
    /* The cookbook counts every string of a message, so a tool message's
     * tool_call_id too (about five tokens for "call_..." ids). */
    const json_t *tool_call_id = json_object_get(message, "tool_call_id");
    if (tool_call_id != NULL) {
        tg__count_quality(c, TG_COUNT_FRAMED);
        tg__count_json(c, tool_call_id);
    }
}

void tg__count_response_format(tg__counter *c, const json_t *format) {
    if (!json_is_object(format)) {
        return;
    }
    const char *type = json_string_value(json_object_get(format, "type"));
    if (type != NULL && (strcmp(type, "text") == 0 || strcmp(type, "json_object") == 0)) {
        return;
    }
    tg__count_quality(c, TG_COUNT_FRAMED);
    /* Chat nests the schema in "json_schema"; Responses puts it beside "type". */
    const json_t *schema = json_object_get(format, "json_schema");
    tg__count_json(c, schema != NULL ? schema : format);
}

void tg__count_chat(tg__counter *c, const json_t *body) {
    const json_t *messages = json_object_get(body, "messages");
    if (!json_is_array(messages)) {
        tg__count_invalid(c, "chat: \"messages\" must be an array");
        return;
    }
    size_t i;
    const json_t *message;
    json_array_foreach(messages, i, message) {
        count_message(c, message);
    }
    c->count->text_tokens += c->model->reply_priming;
    tg__count_tools(c, json_object_get(body, "tools"));
    tg__count_tools(c, json_object_get(body, "functions"));
    tg__count_response_format(c, json_object_get(body, "response_format"));
}
