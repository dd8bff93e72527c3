/*
 * request_anthropic: an estimate of the input tokens of an Anthropic Messages body.
 * Claude's tokenizer (since Claude 3) is not public, so the text is counted with
 * cl100k_base (the closer of the two to it), framed like chat, and scaled up by the
 * model's factor (models.c): 1.35 for Claude 3 to 4.6, 1.8 for Opus 4.7, whose
 * tokenizer makes up to 1.35x more tokens. docs/tokenizer.md shows the calibration;
 * the factors are chosen to err high, because a hold that is too small overruns.
 * Images are billed by Anthropic's published width * height / 750; tool use adds
 * the tool system prompt Anthropic documents (346 tokens).
 */
#include <string.h>

#include "tokenizer/request.h"

#define TOOL_SYSTEM_PROMPT_TOKENS 346
#define BLOCK_FRAMING 3

static void count_blocks(tg__counter *c, const json_t *content);

static void count_image(tg__counter *c, const json_t *source) {
    const char *kind = json_string_value(json_object_get(source, "type"));
    const json_t *data = json_object_get(source, kind && strcmp(kind, "url") == 0 ? "url" : "data");
    tg__count_image(c, json_string_value(data), json_string_length(data), NULL);
}

static void count_block(tg__counter *c, const json_t *block) {
    const char *type = json_string_value(json_object_get(block, "type"));
    if (json_is_string(block)) {
        tg__count_string(c, block);
    } else if (type == NULL) {
        tg__count_invalid(c, "messages: a content block has no \"type\"");
    } else if (strcmp(type, "text") == 0) {
        tg__count_string(c, json_object_get(block, "text"));
    } else if (strcmp(type, "image") == 0) {
        count_image(c, json_object_get(block, "source"));
    } else if (strcmp(type, "tool_use") == 0) {
        c->count->text_tokens += BLOCK_FRAMING;
        tg__count_string(c, json_object_get(block, "name"));
        tg__count_json(c, json_object_get(block, "input"));
    } else if (strcmp(type, "tool_result") == 0) {
        c->count->text_tokens += BLOCK_FRAMING;
        count_blocks(c, json_object_get(block, "content"));
    } else if (strcmp(type, "thinking") == 0) {
        tg__count_string(c, json_object_get(block, "thinking"));
    } else {
        /* Documents, redacted thinking, server tools: their JSON as an upper bound. */
        tg__count_json(c, block);
    }
}

static void count_blocks(tg__counter *c, const json_t *content) {
    if (json_is_array(content)) {
        size_t i;
        const json_t *block;
        json_array_foreach(content, i, block) {
            count_block(c, block);
        }
    } else {
        tg__count_string(c, content);
    }
}

static void count_tools(tg__counter *c, const json_t *tools) {
    if (!json_is_array(tools) || json_array_size(tools) == 0) {
        return;
    }
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool) {
        c->count->text_tokens += BLOCK_FRAMING;
        tg__count_string(c, json_object_get(tool, "name"));
        tg__count_string(c, json_object_get(tool, "description"));
        tg__count_json(c, json_object_get(tool, "input_schema"));
    }
    c->count->text_tokens += TOOL_SYSTEM_PROMPT_TOKENS;
}

void tg__count_anthropic(tg__counter *c, const json_t *body) {
    tg__count_quality(c, TG_COUNT_ESTIMATE);
    const json_t *messages = json_object_get(body, "messages");
    if (!json_is_array(messages)) {
        tg__count_invalid(c, "messages: \"messages\" must be an array");
        return;
    }
    const json_t *system = json_object_get(body, "system");
    if (system != NULL) {
        c->count->text_tokens += c->model->tokens_per_message;
        count_blocks(c, system);
    }
    size_t i;
    const json_t *message;
    json_array_foreach(messages, i, message) {
        c->count->text_tokens += c->model->tokens_per_message;
        tg__count_string(c, json_object_get(message, "role"));
        count_blocks(c, json_object_get(message, "content"));
    }
    c->count->text_tokens += c->model->reply_priming;
    count_tools(c, json_object_get(body, "tools"));
    int64_t permille = c->model->estimate_permille;
    c->count->text_tokens = (c->count->text_tokens * permille + 999) / 1000;
    c->count->prompt_tokens = c->count->text_tokens + c->count->image_tokens;
}
