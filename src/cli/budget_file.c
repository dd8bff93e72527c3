/*
 * budget_file: the budgets of a `tollgate budget apply` file, from its bytes
 * (budget_file.h). Everything is bounded before it is parsed: the file's size, a JSON
 * line's length, the number of budgets, a YAML budget's nesting; and YAML aliases are
 * refused rather than expanded, so a "billion laughs" file is one error, not a billion
 * objects.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/budget_file.h"
#include "core/path.h"
#include "core/yaml_file.h"
#include "core/buf.h"

/* The list while it grows: tg__budget_item records in a buffer with a hard maximum. */
typedef struct {
    tg__buf items;
    const char *name; /* for messages */
    int *line;        /* the caller's: the line at fault */
    tg_error *err;
} reader;

static size_t reader_count(const reader *r) {
    return r->items.size / sizeof(tg__budget_item);
}

static tg_status reader_fail(reader *r, tg_status status, int line, const char *sentence,
                             const char *detail) {
    *r->line = line;
    if (line > 0) {
        return tg__fail(r->err, status, "%s:%d: %s%s", r->name, line, sentence, detail);
    }
    return tg__fail(r->err, status, "%s: %s%s", r->name, sentence, detail);
}

/* Takes `item` (freed on failure). An item must be an object with a text "path". */
static tg_status reader_push(reader *r, json_t *item, int line) {
    const char *refused = !json_is_object(item) ? "a budget must be an object"
                          : !json_is_string(json_object_get(item, "path"))
                              ? "a budget needs a \"path\" (text)"
                              : NULL;
    if (refused != NULL) {
        json_decref(item);
        return reader_fail(r, TG_ERR_INVALID, line, refused, "");
    }
    tg__budget_item entry = {item, line};
    tg_status status = tg__buf_append(&r->items, &entry, sizeof entry);
    if (status != TG_OK) {
        json_decref(item);
        return status == TG_ERR_FULL
                   ? reader_fail(r, TG_ERR_INVALID, line, "more budgets than a file may hold", "")
                   : reader_fail(r, TG_ERR_NOMEM, line, "out of memory", "");
    }
    return TG_OK;
}

/* The 1-based line holding byte `offset`. */
static int line_of(const char *bytes, size_t offset) {
    int line = 1;
    for (size_t i = 0; i < offset; i++) {
        line += bytes[i] == '\n';
    }
    return line;
}

/* ---- JSON lines ------------------------------------------------------------------------- */

static tg_status read_json_lines(reader *r, const char *bytes, size_t size) {
    int line = 0;
    for (size_t at = 0; at < size;) {
        const char *start = bytes + at;
        const char *end = memchr(start, '\n', size - at);
        size_t length = end ? (size_t)(end - start) : size - at;
        at += length + (end ? 1 : 0);
        line++;
        size_t blank = 0;
        while (blank < length &&
               (start[blank] == ' ' || start[blank] == '\t' || start[blank] == '\r')) {
            blank++;
        }
        if (blank == length || start[blank] == '#') {
            continue;
        }
        if (length > TG__BUDGET_FILE_LINE_SIZE_MAX_BYTES) {
            char detail[48];
            snprintf(detail, sizeof detail, "%zu bytes", TG__BUDGET_FILE_LINE_SIZE_MAX_BYTES);
            return reader_fail(r, TG_ERR_INVALID, line, "a line is longer than ", detail);
        }
        json_error_t error;
        json_t *item = json_loadb(start + blank, length - blank, JSON_REJECT_DUPLICATES, &error);
        if (item == NULL) {
            *r->line = line;
            return tg__fail(r->err, TG_ERR_INVALID, "%s:%d:%d: %s", r->name, line, error.column,
                            error.text);
        }
        tg_status status = reader_push(r, item, line);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* ---- YAML ------------------------------------------------------------------------------- */

/* A YAML scalar as the API reads it: quoted text stays text; plain true/false/null are
 * JSON's; a plain whole number is a number except for the money fields ("limit",
 * "revoke_at"), which the API takes as decimal text ("5" and "5.00" alike). */
static json_t *yaml_scalar(struct fy_node *node, const char *key) {
    size_t length = 0;
    const char *text = fy_node_get_scalar(node, &length);
    char value[128];
    if (text == NULL || length >= sizeof value) {
        return text ? json_stringn(text, length) : json_null();
    }
    memcpy(value, text, length);
    value[length] = '\0';
    if (fy_node_get_style(node) != FYNS_PLAIN) {
        return json_stringn(value, length);
    }
    if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
        return json_boolean(value[0] == 't');
    }
    if (strcmp(value, "null") == 0 || strcmp(value, "~") == 0 || value[0] == '\0') {
        return json_null();
    }
    bool money = key != NULL && (strcmp(key, "limit") == 0 || strcmp(key, "revoke_at") == 0);
    const char *digits = value[0] == '-' ? value + 1 : value;
    if (!money && digits[0] != '\0' && strspn(digits, "0123456789") == strlen(digits) &&
        strlen(digits) <= 18) {
        return json_integer(strtoll(value, NULL, 10));
    }
    return json_stringn(value, length);
}

/* The JSON of a YAML node, or NULL with *why set. */
static json_t *yaml_json(struct fy_node *node, const char *key, int depth, const char **why) {
    if (node == NULL || depth > TG__BUDGET_FILE_DEPTH_MAX) {
        *why = "a budget nested too deep";
        return NULL;
    }
    if (fy_node_is_alias(node)) {
        /* Not expanded: an alias of an alias of ... is how a small file becomes a huge one. */
        *why = "a YAML alias (*name); write the value out";
        return NULL;
    }
    if (fy_node_is_scalar(node)) {
        json_t *value = yaml_scalar(node, key);
        *why = value == NULL ? "text that is not UTF-8, or out of memory" : NULL;
        return value;
    }
    bool sequence = fy_node_is_sequence(node);
    json_t *out = sequence ? json_array() : json_object();
    void *iterator = NULL;
    for (;;) {
        json_t *value = NULL;
        bool failed = false;
        if (sequence) {
            struct fy_node *item = fy_node_sequence_iterate(node, &iterator);
            if (item == NULL) {
                break;
            }
            value = yaml_json(item, NULL, depth + 1, why);
            failed = value == NULL || json_array_append_new(out, value) != 0;
        } else {
            struct fy_node_pair *pair = fy_node_mapping_iterate(node, &iterator);
            if (pair == NULL) {
                break;
            }
            struct fy_node *key_node = fy_node_pair_key(pair);
            const char *name =
                key_node && fy_node_is_scalar(key_node) && !fy_node_is_alias(key_node)
                    ? fy_node_get_scalar0(key_node)
                    : NULL;
            *why = "a key that is not text";
            value = name ? yaml_json(fy_node_pair_value(pair), name, depth + 1, why) : NULL;
            failed = value == NULL || json_object_set_new(out, name, value) != 0;
        }
        if (failed) {
            if (value != NULL) {
                *why = "out of memory"; /* the value was made, not kept */
            }
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* libfyaml's line, within the file's: it places "ended too soon" just past the end, and
 * counts a lone CR as a line break as YAML does, where the JSON-lines reader (and most
 * editors) count LFs. Past the last LF is the last line. */
static int yaml_line(int line, const char *bytes, size_t size) {
    int lines = line > 1 ? line_of(bytes, size) : 1;
    return line > lines ? lines : line;
}

static tg_status read_yaml(reader *r, const char *bytes, size_t size) {
    size_t blank = 0;
    while (blank < size && memchr(" \t\r\n", bytes[blank], 4) != NULL) {
        blank++;
    }
    if (blank == size) {
        /* libfyaml builds no document from nothing, and would call it a syntax error. */
        return reader_fail(r, TG_ERR_INVALID, 0,
                           "expected a list of budgets (or budgets: with one); the file is empty",
                           "");
    }
    struct fy_document *document = NULL;
    tg_status status =
        tg__yaml_text_build(r->name, "budgets file", bytes, size, false, &document, r->err);
    if (status != TG_OK) {
        int column = 0;
        const char *sentence = NULL;
        /* "budgets file: NAME:LINE:COLUMN: YAML syntax error: ..." names its line. */
        const char *at = strstr(r->err->message, ": YAML syntax error");
        if (at != NULL) {
            char position[TG_ERROR_MESSAGE_SIZE];
            snprintf(position, sizeof position, "%.*s: error: ", (int)(at - r->err->message),
                     r->err->message);
            if (!tg__yaml_diagnostic_parse(position, r->line, &column, &sentence)) {
                *r->line = 0;
            }
            *r->line = yaml_line(*r->line, bytes, size);
        }
        return status;
    }
    struct fy_node *root = fy_document_root(document);
    if (root != NULL && fy_node_is_mapping(root)) {
        root = fy_node_mapping_lookup_by_string(root, "budgets", FY_NT);
    }
    if (root == NULL || !fy_node_is_sequence(root)) {
        fy_document_destroy(document);
        return reader_fail(r, TG_ERR_INVALID, 0,
                           "expected a list of budgets (or budgets: with one)", "");
    }
    void *iterator = NULL;
    for (struct fy_node *node;
         status == TG_OK && (node = fy_node_sequence_iterate(root, &iterator)) != NULL;) {
        int line = 0, column = 0;
        tg__yaml_node_position(node, &line, &column);
        line = yaml_line(line, bytes, size);
        const char *why = NULL;
        json_t *item = yaml_json(node, NULL, 0, &why);
        status = item != NULL ? reader_push(r, item, line)
                              : reader_fail(r, TG_ERR_INVALID, line, why, "");
    }
    fy_document_destroy(document);
    return status;
}

/* ---- the file --------------------------------------------------------------------------- */

bool tg__budget_file_is_yaml(const char *name) {
    size_t length = strlen(name);
    return (length > 5 && strcmp(name + length - 5, ".yaml") == 0) ||
           (length > 4 && strcmp(name + length - 4, ".yml") == 0);
}

/* Bytes libfyaml and jansson must never see: past the size limit, not UTF-8 (libfyaml
 * 0.7.12 loops on some), NUL (a line would end early, silently). */
static tg_status check_bytes(reader *r, const char *bytes, size_t size) {
    if (size > TG__BUDGET_FILE_SIZE_MAX_BYTES) {
        char detail[48];
        snprintf(detail, sizeof detail, "%zu bytes", TG__BUDGET_FILE_SIZE_MAX_BYTES);
        return reader_fail(r, TG_ERR_INVALID, 0, "the file is over ", detail);
    }
    size_t valid = tg__utf8_valid_prefix((const unsigned char *)bytes, size);
    if (valid < size) {
        return reader_fail(r, TG_ERR_INVALID, line_of(bytes, valid), "not UTF-8 text", "");
    }
    const char *nul = memchr(bytes, '\0', size);
    if (nul != NULL) {
        return reader_fail(r, TG_ERR_INVALID, line_of(bytes, (size_t)(nul - bytes)), "a NUL byte",
                           "");
    }
    return TG_OK;
}

tg_status tg__budget_file_parse(const char *name, const char *bytes, size_t size,
                                tg__budget_file *file, int *line, tg_error *err) {
    tg_error scratch;
    reader r = {.name = name, .line = line, .err = err != NULL ? err : &scratch};
    *line = 0;
    *file = (tg__budget_file){NULL, 0};
    tg__buf_init(&r.items, TG__BUDGET_FILE_ITEMS_MAX * sizeof(tg__budget_item));
    tg_status status = check_bytes(&r, bytes, size);
    if (status == TG_OK) {
        status = tg__budget_file_is_yaml(name) ? read_yaml(&r, bytes, size)
                                               : read_json_lines(&r, bytes, size);
    }
    tg__budget_file parsed = {(tg__budget_item *)(void *)r.items.data, reader_count(&r)};
    if (status != TG_OK) {
        tg__budget_file_free(&parsed);
        return status;
    }
    *file = parsed;
    return TG_OK;
}

void tg__budget_file_free(tg__budget_file *file) {
    if (file == NULL) {
        return;
    }
    for (size_t i = 0; i < file->count; i++) {
        json_decref(file->items[i].item);
    }
    free(file->items);
    *file = (tg__budget_file){NULL, 0};
}
