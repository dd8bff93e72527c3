/*
 * usage_view: a usage object read where it lies. On a stream the event is parsed whole
 * for its other fields, so its usage is a jansson tree already; on a plain answer the
 * usage object is text the scan has checked (usage_scan.h), and building a tree of it
 * (scan_load.h: jansson's objects, a hash table per object, every key and string
 * copied) cost more than reading the counts. So a plain answer's usage text is indexed
 * instead, bounded and without allocating: one pass records where each value starts and
 * ends, and the providers' readers (provider.h's usage_merge) ask the same questions of
 * either kind through a tg__usage_view.
 *
 * The index answers only what a tree would answer alike: it gives up (the caller then
 * builds the tree as before) on an escape in any string, since jansson compares keys and
 * strings unescaped, and past TG__USAGE_TEXT_NODES_MAX values. Duplicate keys read as
 * jansson keeps them: the last one.
 */
#ifndef TG_PROXY_USAGE_VIEW_H
#define TG_PROXY_USAGE_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG__USAGE_TEXT_NODES_MAX 128 /* values in an indexed usage object (OpenAI's: ~12) */

typedef enum {
    TG__VIEW_OBJECT,
    TG__VIEW_ARRAY,
    TG__VIEW_STRING,
    TG__VIEW_INTEGER,
    TG__VIEW_REAL,
    TG__VIEW_TRUE,
    TG__VIEW_FALSE,
    TG__VIEW_NULL,
} tg__view_type;

/* One value of an indexed text. */
typedef struct {
    tg__view_type type; /* what it is */
    const char *key;    /* its member name in the object holding it (raw: no escapes), or NULL */
    size_t key_size;    /* bytes of key */
    const char *text;   /* the value's text (a string's without its quotes) */
    size_t size;        /* bytes of text */
    int next;           /* the next member or item of its parent, -1 none */
    int first;          /* an object's or array's first member or item, -1 none */
    size_t count;       /* an array's items */
} tg__view_node;

/* The index of one usage object's text; nodes[0] is the object. Points into the text,
 * which must outlive it. */
typedef struct {
    tg__view_node nodes[TG__USAGE_TEXT_NODES_MAX];
    int count; /* nodes used */
} tg__usage_text;

/* A value to read: a tree's (json), or an indexed text's node; neither: absent. */
typedef struct {
    const json_t *json;          /* the tree's value, or NULL */
    const tg__usage_text *index; /* or the indexed text, NULL */
    int node;                    /* its node in index */
} tg__usage_view;

/* Indexes `text`, one JSON object that tg__usage_scan checked. False when unsure (an
 * escaped string, too many values, anything not an object): then read its tree. */
bool tg__usage_text_index(tg__usage_text *index, const char *text, size_t size);

/* Views of a tree's value (NULL: absent) and of an index's object. */
tg__usage_view tg__usage_view_json(const json_t *json);
tg__usage_view tg__usage_view_text(const tg__usage_text *index);

/* As json_object_get: the last member named key of an object; absent otherwise. */
tg__usage_view tg__usage_view_get(const tg__usage_view *object, const char *key);
/* As json_array_size (0 for a non-array) and json_array_get (absent past the end). */
size_t tg__usage_view_array_size(const tg__usage_view *array);
tg__usage_view tg__usage_view_array_get(const tg__usage_view *array, size_t i);

bool tg__usage_view_exists(const tg__usage_view *view);
bool tg__usage_view_is_object(const tg__usage_view *view);
bool tg__usage_view_is_null(const tg__usage_view *view);
/* True when a string equal to `text` (as strcmp(json_string_value(...), text) == 0). */
bool tg__usage_view_string_is(const tg__usage_view *view, const char *text);
/* True when a JSON integer; then its value in *out (as json_integer_value). */
bool tg__usage_view_integer(const tg__usage_view *view, int64_t *out);
/* True when a JSON real (not an integer); then its value in *out (as json_real_value). */
bool tg__usage_view_real(const tg__usage_view *view, double *out);

#endif
