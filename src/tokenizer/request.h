/*
 * request: shared state of the request counters (request_*.c): the model's row, its
 * tokenizer, the count being built and the first failure.
 */
#ifndef TG_TOKENIZER_REQUEST_H
#define TG_TOKENIZER_REQUEST_H

#include <jansson.h>

#include "tokenizer/models.h"
#include "tollgate_tokens.h"

typedef struct {
    const tg__model *model;        /* from the model table */
    const tg_tokenizer *tokenizer; /* shared, for the model's encoding */
    tg_prompt_count *count;        /* being built */
    tg_status status;              /* TG_OK, or the first failure (TG_ERR_NOMEM) */
    tg_error *err;                 /* optional, for TG_ERR_INVALID */
} tg__counter;

/* Adds the tokens of text (ordinary text: special-token text counts as text). */
void tg__count_text_add(tg__counter *c, const char *text, size_t len);
/* Adds the tokens of a JSON string; other JSON values add nothing. */
void tg__count_string(tg__counter *c, const json_t *value);
/* Adds the tokens of any JSON value's compact serialization (tool arguments as objects). */
void tg__count_json(tg__counter *c, const json_t *value);
/* Adds one image given by URL or data: URL. */
void tg__count_image(tg__counter *c, const char *url, size_t len, const char *detail);
/* Lowers the count's quality to at most q. */
void tg__count_quality(tg__counter *c, tg_count_quality q);
/* Sets TG_ERR_INVALID with a message, unless a failure is already recorded. */
void tg__count_invalid(tg__counter *c, const char *message);

/* The cookbook's count for function definitions: `tools` is an array of chat tools
 * ({"type":"function","function":{...}}), Responses tools ({"type":"function","name":
 * ...}) or legacy `functions` entries. */
void tg__count_tools(tg__counter *c, const json_t *tools);

/* A structured-output schema (chat "response_format", Responses "text.format"): the
 * model reads it, so it counts as its JSON text, $defs included, and the count is
 * framed (no published rule). "text" and "json_object" formats add nothing. */
void tg__count_response_format(tg__counter *c, const json_t *format);

/* A message's content: a string or an array of content parts (request_chat.c). */
void tg__count_content(tg__counter *c, const json_t *content);

void tg__count_chat(tg__counter *c, const json_t *body);
void tg__count_responses(tg__counter *c, const json_t *body);
void tg__count_embeddings(tg__counter *c, const json_t *body);
void tg__count_anthropic(tg__counter *c, const json_t *body);

/* tg_tokens_count_request on a body already parsed (by tg__json_load_lenient, as that
 * function parses it): the same count, without writing the tree out as text and parsing
 * it again. The caller bounds the body's size (the proxy's TG__REQUEST_BODY_SIZE_MAX is
 * TG_REQUEST_BODY_SIZE_MAX). TG_ERR_INVALID when root is not an object or not the
 * request shape, TG_ERR_NOMEM, TG_ERR_UNSUPPORTED. */
tg_status tg__tokens_count_tree(tg_request_kind kind, const char *model, const json_t *root,
                                tg_prompt_count *count_out, tg_error *err);

#endif
