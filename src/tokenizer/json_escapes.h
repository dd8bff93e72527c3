/*
 * json_escapes: loads a request body whose strings carry escapes that are valid JSON
 * but that jansson refuses: "\u0000" (without JSON_ALLOW_NUL) and a lone surrogate
 * ("\uD800" not followed by a low half, or a low half on its own). OpenAI's servers
 * accept both and read them as U+FFFD, so a request the provider bills must not be
 * one Tollgate cannot count or forward.
 */
#ifndef TG_TOKENIZER_JSON_ESCAPES_H
#define TG_TOKENIZER_JSON_ESCAPES_H

#include <jansson.h>
#include <stddef.h>

/* json_loadb, after rewriting every lone surrogate escape and every "\u0000" into
 * "\uFFFD". The rewrite keeps the length (six bytes each), so line and column of a
 * syntax error stay those of the caller's text. NULL as json_loadb, with error set;
 * also NULL when out of memory (error->text says so). The proxy forwards what it
 * parsed, so upstream sees U+FFFD where the provider would have read one anyway. */
json_t *tg__json_load_lenient(const char *text, size_t len, size_t flags, json_error_t *error);

#endif
