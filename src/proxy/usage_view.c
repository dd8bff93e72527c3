/*
 * usage_view: a usage object read from a tree or from indexed text (usage_view.h).
 * The text was checked by usage_scan.c (grammar, UTF-8, escapes, number sizes, depth),
 * so the index only finds where values end; it still stops at anything unexpected
 * rather than trusting that.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/usage_view.h"

#define INDEX_DEPTH_MAX 64 /* as usage_scan.c's */

typedef struct {
    const char *p;
    const char *end;
    tg__usage_text *index;
} indexer;

static void skip_space(indexer *x) {
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r')) {
        x->p++;
    }
}

/* A string at x->p (its quote) without escapes: its bytes in *text, *size. */
static bool read_string(indexer *x, const char **text, size_t *size) {
    const char *start = x->p + 1;
    const char *quote = memchr(start, '"', (size_t)(x->end - start));
    if (quote == NULL || memchr(start, '\\', (size_t)(quote - start)) != NULL) {
        return false; /* an escape: the tree compares it unescaped */
    }
    *text = start;
    *size = (size_t)(quote - start);
    x->p = quote + 1;
    return true;
}

static int index_value(indexer *x, int depth, const char *key, size_t key_size);

/* The members (object) or items (array) after x->p's opening bracket, linked under node. */
static bool index_children(indexer *x, int depth, int node, bool object) {
    char close = object ? '}' : ']';
    x->p++;
    skip_space(x);
    if (x->p < x->end && *x->p == close) {
        x->p++;
        return true;
    }
    int last = -1;
    for (;;) {
        const char *key = NULL;
        size_t key_size = 0;
        if (object) {
            if (x->p >= x->end || *x->p != '"' || !read_string(x, &key, &key_size)) {
                return false;
            }
            skip_space(x);
            if (x->p >= x->end || *x->p != ':') {
                return false;
            }
            x->p++;
            skip_space(x);
        }
        int child = index_value(x, depth + 1, key, key_size);
        if (child < 0) {
            return false;
        }
        tg__view_node *nodes = x->index->nodes;
        if (last < 0) {
            nodes[node].first = child;
        } else {
            nodes[last].next = child;
        }
        last = child;
        nodes[node].count++;
        skip_space(x);
        if (x->p < x->end && *x->p == ',') {
            x->p++;
            skip_space(x);
        } else if (x->p < x->end && *x->p == close) {
            x->p++;
            return true;
        } else {
            return false;
        }
    }
}

static bool is_number_byte(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Indexes the value at x->p; its node, or -1 when unsure. */
static int index_value(indexer *x, int depth, const char *key, size_t key_size) {
    tg__usage_text *index = x->index;
    if (depth > INDEX_DEPTH_MAX || index->count >= TG__USAGE_TEXT_NODES_MAX || x->p >= x->end) {
        return -1;
    }
    int node = index->count++;
    tg__view_node *n = &index->nodes[node];
    *n = (tg__view_node){TG__VIEW_NULL, key, key_size, x->p, 0, -1, -1, 0};
    const char *start = x->p;
    char c = *x->p;
    if (c == '{' || c == '[') {
        n->type = c == '{' ? TG__VIEW_OBJECT : TG__VIEW_ARRAY;
        if (!index_children(x, depth, node, c == '{')) {
            return -1;
        }
    } else if (c == '"') {
        n->type = TG__VIEW_STRING;
        if (!read_string(x, &n->text, &n->size)) {
            return -1;
        }
        return node;
    } else if (c == 't' || c == 'f' || c == 'n') {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t size = strlen(word);
        if ((size_t)(x->end - x->p) < size || memcmp(x->p, word, size) != 0) {
            return -1;
        }
        n->type = c == 't' ? TG__VIEW_TRUE : c == 'f' ? TG__VIEW_FALSE : TG__VIEW_NULL;
        x->p += size;
    } else {
        n->type = TG__VIEW_INTEGER;
        while (x->p < x->end && is_number_byte(*x->p)) {
            if (*x->p == '.' || *x->p == 'e' || *x->p == 'E') {
                n->type = TG__VIEW_REAL;
            }
            x->p++;
        }
        if (x->p == start || x->p - start > 64) {
            return -1;
        }
    }
    index->nodes[node].size = (size_t)(x->p - start);
    return node;
}

bool tg__usage_text_index(tg__usage_text *index, const char *text, size_t size) {
    indexer x = {text, text + size, index};
    index->count = 0;
    skip_space(&x);
    if (text == NULL || x.p >= x.end || *x.p != '{' || index_value(&x, 1, NULL, 0) != 0) {
        return false;
    }
    skip_space(&x);
    return x.p == x.end;
}

tg__usage_view tg__usage_view_json(const json_t *json) {
    return (tg__usage_view){json, NULL, -1};
}

tg__usage_view tg__usage_view_text(const tg__usage_text *index) {
    return (tg__usage_view){NULL, index, index->count > 0 ? 0 : -1};
}

static const tg__view_node *node_of(const tg__usage_view *view) {
    return view->index != NULL && view->node >= 0 ? &view->index->nodes[view->node] : NULL;
}

tg__usage_view tg__usage_view_get(const tg__usage_view *object, const char *key) {
    if (object->json != NULL) {
        return tg__usage_view_json(json_object_get(object->json, key));
    }
    tg__usage_view found = {NULL, NULL, -1};
    const tg__view_node *n = node_of(object);
    if (n == NULL || n->type != TG__VIEW_OBJECT) {
        return found;
    }
    size_t key_size = strlen(key);
    for (int i = n->first; i >= 0; i = object->index->nodes[i].next) {
        const tg__view_node *member = &object->index->nodes[i];
        if (member->key_size == key_size && memcmp(member->key, key, key_size) == 0) {
            found = (tg__usage_view){NULL, object->index, i}; /* the last one counts */
        }
    }
    return found;
}

size_t tg__usage_view_array_size(const tg__usage_view *array) {
    if (array->json != NULL) {
        return json_array_size(array->json);
    }
    const tg__view_node *n = node_of(array);
    return n != NULL && n->type == TG__VIEW_ARRAY ? n->count : 0;
}

tg__usage_view tg__usage_view_array_get(const tg__usage_view *array, size_t i) {
    if (array->json != NULL) {
        return tg__usage_view_json(json_array_get(array->json, i));
    }
    const tg__view_node *n = node_of(array);
    if (n == NULL || n->type != TG__VIEW_ARRAY || i >= n->count) {
        return (tg__usage_view){NULL, NULL, -1};
    }
    int item = n->first;
    while (i-- > 0) {
        item = array->index->nodes[item].next;
    }
    return (tg__usage_view){NULL, array->index, item};
}

bool tg__usage_view_exists(const tg__usage_view *view) {
    return view->json != NULL || node_of(view) != NULL;
}

static bool is_type(const tg__usage_view *view, json_type json, tg__view_type text) {
    if (view->json != NULL) {
        return json_typeof(view->json) == json;
    }
    const tg__view_node *n = node_of(view);
    return n != NULL && n->type == text;
}

bool tg__usage_view_is_object(const tg__usage_view *view) {
    return is_type(view, JSON_OBJECT, TG__VIEW_OBJECT);
}

bool tg__usage_view_is_null(const tg__usage_view *view) {
    return is_type(view, JSON_NULL, TG__VIEW_NULL);
}

bool tg__usage_view_string_is(const tg__usage_view *view, const char *text) {
    if (view->json != NULL) {
        const char *value = json_string_value(view->json);
        return value != NULL && strcmp(value, text) == 0;
    }
    const tg__view_node *n = node_of(view);
    size_t size = strlen(text);
    return n != NULL && n->type == TG__VIEW_STRING && n->size == size &&
           memcmp(n->text, text, size) == 0;
}

bool tg__usage_view_integer(const tg__usage_view *view, int64_t *out) {
    if (view->json != NULL) {
        if (!json_is_integer(view->json)) {
            return false;
        }
        *out = (int64_t)json_integer_value(view->json);
        return true;
    }
    const tg__view_node *n = node_of(view);
    if (n == NULL || n->type != TG__VIEW_INTEGER || n->size == 0 || n->size > 19) {
        return false;
    }
    /* At most 18 characters (the scan's bound): within int64 either way. */
    const char *p = n->text;
    const char *end = n->text + n->size;
    bool negative = *p == '-';
    p += negative;
    int64_t value = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        value = value * 10 + (*p - '0');
    }
    *out = negative ? -value : value;
    return true;
}

bool tg__usage_view_real(const tg__usage_view *view, double *out) {
    if (view->json != NULL) {
        if (!json_is_real(view->json)) {
            return false;
        }
        *out = json_real_value(view->json);
        return true;
    }
    const tg__view_node *n = node_of(view);
    char text[72];
    if (n == NULL || n->type != TG__VIEW_REAL || n->size >= sizeof text) {
        return false;
    }
    /* As jansson reads it: strtod of the text (the daemon keeps the C locale). */
    memcpy(text, n->text, n->size);
    text[n->size] = '\0';
    *out = strtod(text, NULL);
    return true;
}
