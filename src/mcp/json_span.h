/*
 * json_span: byte ranges of values inside JSON text. The gateway relays
 * messages byte for byte; when it must change one (drop a withdrawn tool from
 * a tools/list result, say that it sends tools/list_changed), it cuts or
 * replaces a span of the original text instead of re-serializing the whole
 * message, so numbers, key order and escapes of everything else stay exactly
 * as the server wrote them.
 *
 * The text is expected to be valid JSON (jansson has already parsed it). On
 * any other text the functions never read outside [0, size) and answer false
 * or some span inside the text; callers compare with jansson's view and fall
 * back to re-serializing when the two disagree.
 */
#ifndef TG_MCP_JSON_SPAN_H
#define TG_MCP_JSON_SPAN_H

#include <stdbool.h>
#include <stddef.h>

/* A value's bytes: text[start, end). */
typedef struct {
    size_t start; /* first byte of the value */
    size_t end;   /* one past its last byte */
} tg__json_span;

/* The value that starts at or after `pos` (leading whitespace skipped). */
bool tg__json_value_span(const char *text, size_t size, size_t pos, tg__json_span *out);

/*
 * The value of member `key` in the object at `object`. Keys are compared as
 * raw bytes between the quotes, so a key written with escapes never matches
 * (the caller's fallback handles that rare case).
 */
bool tg__json_member(const char *text, size_t size, tg__json_span object, const char *key,
                     tg__json_span *value_out);

/*
 * The spans of the elements of the array at `array`, at most `max` of them
 * into out[]. False if the text is not an array or has more than `max`.
 */
bool tg__json_elements(const char *text, size_t size, tg__json_span array, tg__json_span *out,
                       size_t max, size_t *count_out);

#endif
