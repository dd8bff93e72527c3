/*
 * usage_scan: finds the usage object of a complete response body without building
 * the body's JSON tree. A plain answer's usage was read by parsing the whole answer
 * into a tree (every choice, every string copied) only to look at one small object;
 * this walks the bytes once, checks them, and hands only the usage object's text to
 * the JSON parser.
 *
 * It answers only when it is sure the whole-tree reader (tg__usage_from_body_tree)
 * would find the same thing: the body is one JSON object that jansson accepts
 * (strict UTF-8, valid escapes), with nothing that it might read differently
 * (escaped keys where keys are looked at, \u0000, huge numbers, deep nesting). Then
 * the usage is the last "usage" member at the top (jansson keeps the last of
 * duplicate keys), else for the Responses API the last "usage" of the last
 * "response" member. In any other case, invalid bodies included, it says it is
 * unsure and the caller reads the tree as before, so results and error messages are
 * the same.
 */
#ifndef TG_PROXY_USAGE_SCAN_H
#define TG_PROXY_USAGE_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/wire.h"

/* True when sure; then *usage is the text of the usage value (*usage_size bytes), or
 * NULL when the body has no usage member. The value may be any JSON value. *nested (when
 * not NULL) says whether it was the top "response" member's usage rather than the top
 * one's. */
bool tg__usage_scan(tg__route route, const char *body, size_t size, const char **usage,
                    size_t *usage_size, bool *nested);

/* True when body is one JSON object that jansson reads (strict UTF-8, valid escapes, no
 * \u0000 or lone surrogate, integers of at most 18 characters, reals without a large
 * exponent, nesting at most 64 deep), with nothing after it: text tg__scan_load loads as
 * json_loadb would. False when unsure: the caller then parses it with jansson. */
bool tg__json_scan_object(const char *body, size_t size);

#endif
