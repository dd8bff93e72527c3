/*
 * json_span: a scanner that only finds where values begin and end. It keeps no
 * stack (a depth counter is enough on valid JSON) and checks every index
 * against `size`, so hostile text can make it answer wrongly but never read
 * out of bounds.
 */
#include <string.h>

#include "mcp/json_span.h"

static size_t skip_space(const char *text, size_t size, size_t pos) {
    while (pos < size &&
           (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')) {
        pos++;
    }
    return pos;
}

/* From the opening quote at `pos`: the index one past the closing quote, or 0. */
static size_t string_end(const char *text, size_t size, size_t pos) {
    for (size_t i = pos + 1; i < size; i++) {
        if (text[i] == '\\') {
            i++; /* the escaped byte cannot close the string */
        } else if (text[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* From the opening bracket at `pos`: one past its matching bracket, or 0. */
static size_t container_end(const char *text, size_t size, size_t pos) {
    size_t depth = 0;
    for (size_t i = pos; i < size; i++) {
        char c = text[i];
        if (c == '"') {
            size_t end = string_end(text, size, i);
            if (end == 0) {
                return 0;
            }
            i = end - 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                return i + 1;
            }
        }
    }
    return 0;
}

bool tg__json_value_span(const char *text, size_t size, size_t pos, tg__json_span *out) {
    size_t start = skip_space(text, size, pos);
    if (start >= size) {
        return false;
    }
    size_t end;
    if (text[start] == '"') {
        end = string_end(text, size, start);
    } else if (text[start] == '{' || text[start] == '[') {
        end = container_end(text, size, start);
    } else {
        /* number, true, false, null: up to the next delimiter */
        end = start;
        while (end < size && strchr(",}] \t\r\n", text[end]) == NULL) {
            end++;
        }
        if (end == start) {
            return false;
        }
    }
    if (end == 0) {
        return false;
    }
    out->start = start;
    out->end = end;
    return true;
}

bool tg__json_member(const char *text, size_t size, tg__json_span object, const char *key,
                     tg__json_span *value_out) {
    if (object.end > size || object.start >= object.end || text[object.start] != '{') {
        return false;
    }
    size_t key_size = strlen(key);
    size_t pos = skip_space(text, object.end, object.start + 1);
    while (pos < object.end && text[pos] == '"') {
        size_t key_end = string_end(text, object.end, pos);
        if (key_end == 0) {
            return false;
        }
        bool match = key_end - pos - 2 == key_size && memcmp(text + pos + 1, key, key_size) == 0;
        pos = skip_space(text, object.end, key_end);
        if (pos >= object.end || text[pos] != ':') {
            return false;
        }
        tg__json_span value;
        if (!tg__json_value_span(text, object.end, pos + 1, &value)) {
            return false;
        }
        if (match) {
            *value_out = value;
            return true;
        }
        pos = skip_space(text, object.end, value.end);
        if (pos < object.end && text[pos] == ',') {
            pos = skip_space(text, object.end, pos + 1);
        }
    }
    return false;
}

bool tg__json_elements(const char *text, size_t size, tg__json_span array, tg__json_span *out,
                       size_t max, size_t *count_out) {
    if (array.end > size || array.start >= array.end || text[array.start] != '[') {
        return false;
    }
    size_t count = 0;
    size_t pos = skip_space(text, array.end, array.start + 1);
    while (pos < array.end && text[pos] != ']') {
        if (count == max) {
            return false;
        }
        if (!tg__json_value_span(text, array.end, pos, &out[count])) {
            return false;
        }
        pos = skip_space(text, array.end, out[count].end);
        count++;
        if (pos < array.end && text[pos] == ',') {
            pos = skip_space(text, array.end, pos + 1);
        }
    }
    *count_out = count;
    return true;
}
