/*
 * request: tg_tokens_count_request, and the helpers every request shape shares.
 * The body is parsed once with jansson; each shape's counter (request_chat.c,
 * request_responses.c, request_anthropic.c) walks it and adds to one tg__counter.
 */
#include "tokenizer/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/images.h"
#include "tokenizer/json_escapes.h"
#include "tokenizer/tokenizer_internal.h"

void tg__count_invalid(tg__counter *c, const char *message) {
    if (c->status != TG_OK) {
        return;
    }
    c->status = TG_ERR_INVALID;
    if (c->err != NULL) {
        c->err->status = TG_ERR_INVALID;
        snprintf(c->err->message, sizeof c->err->message, "%s", message);
    }
}

void tg__count_quality(tg__counter *c, tg_count_quality q) {
    if (q > c->count->quality) {
        c->count->quality = q;
    }
}

void tg__count_text_add(tg__counter *c, const char *text, size_t len) {
    if (c->status != TG_OK || len == 0) {
        return;
    }
    int64_t tokens;
    tg_status status = tg__count_text(c->tokenizer, text, len, &tokens);
    if (status != TG_OK) {
        c->status = status;
        return;
    }
    c->count->text_tokens += tokens;
}

void tg__count_string(tg__counter *c, const json_t *value) {
    if (json_is_string(value)) {
        tg__count_text_add(c, json_string_value(value), json_string_length(value));
    }
}

void tg__count_json(tg__counter *c, const json_t *value) {
    if (json_is_string(value)) {
        tg__count_string(c, value);
        return;
    }
    if (value == NULL || json_is_null(value)) {
        return;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        c->status = c->status == TG_OK ? TG_ERR_NOMEM : c->status;
        return;
    }
    tg__count_text_add(c, text, strlen(text));
    free(text);
}

void tg__count_image(tg__counter *c, const char *url, size_t len, const char *detail) {
    uint32_t width = 0, height = 0;
    c->count->images++;
    if (url == NULL || !tg__image_size(url, len, &width, &height)) {
        width = height = 0;
        c->count->images_unsized++;
        tg__count_quality(c, TG_COUNT_ESTIMATE);
    }
    c->count->image_tokens += tg__image_tokens(c->model, detail, width, height);
}

void tg__count_embeddings(tg__counter *c, const json_t *body) {
    const json_t *input = json_object_get(body, "input");
    if (json_is_string(input)) {
        tg__count_string(c, input);
        return;
    }
    if (!json_is_array(input)) {
        tg__count_invalid(c, "embeddings: \"input\" must be a string or an array");
        return;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(input, i, item) {
        if (json_is_string(item)) {
            tg__count_string(c, item);
        } else if (json_is_integer(item)) {
            c->count->text_tokens++; /* already a token id */
        } else if (json_is_array(item)) {
            c->count->text_tokens += (int64_t)json_array_size(item);
        } else {
            tg__count_invalid(c, "embeddings: \"input\" items must be strings or token arrays");
        }
    }
}

static tg_status fail(tg_error *err, tg_status status, const char *message) {
    if (err != NULL) {
        err->status = status;
        snprintf(err->message, sizeof err->message, "%s", message);
    }
    return status;
}

tg_status tg_tokens_count_request(tg_request_kind kind, const char *model, const char *body,
                                  size_t len, tg_prompt_count *count_out, tg_error *err) {
    if (body == NULL || len > TG_REQUEST_BODY_SIZE_MAX) {
        return fail(err, body == NULL ? TG_ERR_INVALID : TG_ERR_RANGE,
                    body == NULL ? "no request body" : "request body too large to count");
    }
    json_error_t json_error;
    json_t *root = tg__json_load_lenient(body, len, 0, &json_error);
    if (root == NULL || !json_is_object(root)) {
        char message[TG_ERROR_MESSAGE_SIZE];
        snprintf(message, sizeof message,
                 "request body is not a JSON object: line %d column %d: %s", json_error.line,
                 json_error.column, root ? "not an object" : json_error.text);
        json_decref(root);
        return fail(err, TG_ERR_INVALID, message);
    }
    tg_status status = tg__tokens_count_tree(kind, model, root, count_out, err);
    json_decref(root);
    return status;
}

tg_status tg__tokens_count_tree(tg_request_kind kind, const char *model, const json_t *root,
                                tg_prompt_count *count_out, tg_error *err) {
    if (!json_is_object(root)) {
        return fail(err, TG_ERR_INVALID, "request body is not a JSON object");
    }
    if (model == NULL) {
        model = json_string_value(json_object_get(root, "model"));
    }
    tg_prompt_count count = {0};
    bool known;
    tg__counter c = {.model = tg__model_find(model, &known), .count = &count, .err = err};
    if (kind == TG_REQUEST_ANTHROPIC_MESSAGES && c.model->estimate_permille == 0) {
        /* Not a Claude name we know: estimate as the Claude that counts the most. */
        c.model = tg__model_find("claude-opus-4-7", &known);
    }
    count.encoding = c.model->encoding;
    count.quality = known ? TG_COUNT_EXACT : TG_COUNT_FRAMED;
    c.tokenizer = tg_tokenizer_shared(c.model->encoding);
    if (c.tokenizer == NULL) {
        return fail(err, TG_ERR_UNSUPPORTED, "the tokenizer's rank tables are not built in");
    }
    switch (kind) {
    case TG_REQUEST_CHAT_COMPLETIONS:
        tg__count_chat(&c, root);
        break;
    case TG_REQUEST_RESPONSES:
        tg__count_responses(&c, root);
        break;
    case TG_REQUEST_EMBEDDINGS:
        tg__count_embeddings(&c, root);
        break;
    case TG_REQUEST_ANTHROPIC_MESSAGES:
        tg__count_anthropic(&c, root);
        break;
    default:
        tg__count_invalid(&c, "unknown request kind");
    }
    if (c.status != TG_OK) {
        return c.status == TG_ERR_INVALID ? c.status : fail(err, c.status, "out of memory");
    }
    if (kind != TG_REQUEST_ANTHROPIC_MESSAGES) {
        count.prompt_tokens = count.text_tokens + count.image_tokens;
    }
    *count_out = count;
    return TG_OK;
}
