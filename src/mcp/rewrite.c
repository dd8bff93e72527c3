/*
 * rewrite: span surgery first, jansson second. The span path keeps the
 * server's bytes for everything it does not touch; the jansson path exists
 * for texts the span scanner cannot follow (keys written with escapes), and
 * gives the same JSON value, just re-serialized.
 */
#include <stdlib.h>
#include <string.h>

#include "mcp/json_span.h"
#include "mcp/rewrite.h"

/* Appends text[span) to out (sized by the caller). */
static void put(char *out, size_t *at, const char *text, size_t start, size_t end) {
    memcpy(out + *at, text + start, end - start);
    *at += end - start;
}

static tg_status dump_to(json_t *root, char **out, size_t *out_size) {
    *out = tg__rpc_dump(root, out_size);
    return *out != NULL ? TG_OK : TG_ERR_NOMEM;
}

/* Span path: copies line with the elements whose keep flag is false cut out. */
static bool cut_tools(const char *line, size_t size, const bool *kept, size_t count, char **out,
                      size_t *out_size) {
    tg__json_span root = {0, size}, result, tools;
    if (!tg__json_value_span(line, size, 0, &root) ||
        !tg__json_member(line, size, root, "result", &result) ||
        !tg__json_member(line, size, result, "tools", &tools)) {
        return false;
    }
    tg__json_span *elements = malloc((count ? count : 1) * sizeof *elements);
    size_t found = 0;
    if (elements == NULL || !tg__json_elements(line, size, tools, elements, count, &found) ||
        found != count) {
        free(elements);
        return false;
    }
    char *text = malloc(size + 1);
    if (text == NULL) {
        free(elements);
        return false;
    }
    size_t at = 0;
    put(text, &at, line, 0, tools.start + 1);
    bool first = true;
    for (size_t i = 0; i < count; i++) {
        if (kept[i]) {
            if (!first) {
                text[at++] = ',';
            }
            put(text, &at, line, elements[i].start, elements[i].end);
            first = false;
        }
    }
    put(text, &at, line, tools.end - 1, size);
    text[at] = '\0';
    free(elements);
    *out = text;
    *out_size = at;
    return true;
}

/* jansson path: the same cut on a copy of the parsed message. */
static tg_status cut_tools_json(const tg__rpc_message *message, const bool *kept, char **out,
                                size_t *out_size) {
    json_t *root = json_deep_copy(message->root);
    json_t *tools = json_object_get(json_object_get(root, "result"), "tools");
    if (root == NULL || tools == NULL) {
        json_decref(root);
        return TG_ERR_NOMEM;
    }
    for (size_t i = json_array_size(tools); i-- > 0;) {
        if (!kept[i]) {
            json_array_remove(tools, i);
        }
    }
    tg_status status = dump_to(root, out, out_size);
    json_decref(root);
    return status;
}

tg_status tg__mcp_filter_tools(const char *line, size_t size, const tg__rpc_message *message,
                               tg__mcp_keep_fn keep, void *user, char **out, size_t *out_size) {
    json_t *tools = json_object_get(message->result, "tools");
    if (!json_is_array(tools)) {
        return TG_ERR_INVALID;
    }
    size_t count = json_array_size(tools);
    bool *kept = malloc((count ? count : 1) * sizeof *kept);
    if (kept == NULL) {
        return TG_ERR_NOMEM;
    }
    bool all = true;
    for (size_t i = 0; i < count; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(tools, i), "name"));
        kept[i] = name == NULL || keep(user, name);
        all = all && kept[i];
    }
    tg_status status = TG_OK;
    *out = NULL;
    if (!all &&
        (count > TG__MCP_LIST_TOOLS_MAX || !cut_tools(line, size, kept, count, out, out_size))) {
        status = cut_tools_json(message, kept, out, out_size);
    }
    free(kept);
    return status;
}

/* Span path: "listChanged":<anything> becomes true, or is inserted first. */
static bool patch_spans(const char *line, size_t size, char **out, size_t *out_size) {
    tg__json_span root, result, capabilities, tools, value;
    if (!tg__json_value_span(line, size, 0, &root) ||
        !tg__json_member(line, size, root, "result", &result) ||
        !tg__json_member(line, size, result, "capabilities", &capabilities) ||
        !tg__json_member(line, size, capabilities, "tools", &tools) || line[tools.start] != '{') {
        return false;
    }
    static const char insert[] = "\"listChanged\":true";
    char *text = malloc(size + sizeof insert + 2);
    if (text == NULL) {
        return false;
    }
    size_t at = 0;
    if (tg__json_member(line, size, tools, "listChanged", &value)) {
        put(text, &at, line, 0, value.start);
        put(text, &at, "true", 0, 4);
        put(text, &at, line, value.end, size);
    } else {
        tg__json_span any;
        bool empty = !tg__json_value_span(line, tools.end - 1, tools.start + 1, &any);
        put(text, &at, line, 0, tools.start + 1);
        put(text, &at, insert, 0, sizeof insert - 1);
        if (!empty) {
            text[at++] = ',';
        }
        put(text, &at, line, tools.start + 1, size);
    }
    text[at] = '\0';
    *out = text;
    *out_size = at;
    return true;
}

tg_status tg__mcp_patch_initialize(const char *line, size_t size, const tg__rpc_message *message,
                                   char **out, size_t *out_size) {
    *out = NULL;
    json_t *tools = json_object_get(json_object_get(message->result, "capabilities"), "tools");
    if (!json_is_object(tools) || json_is_true(json_object_get(tools, "listChanged"))) {
        return TG_OK;
    }
    if (patch_spans(line, size, out, out_size)) {
        /* A key written with escapes could leave the old value beside ours: check. */
        tg__rpc_message check;
        tg__rpc_parse(*out, *out_size, &check);
        json_t *patched = json_object_get(json_object_get(check.result, "capabilities"), "tools");
        bool good = json_is_true(json_object_get(patched, "listChanged"));
        tg__rpc_message_clear(&check);
        if (good) {
            return TG_OK;
        }
        free(*out);
        *out = NULL;
    }
    json_t *root = json_deep_copy(message->root);
    json_t *copy =
        json_object_get(json_object_get(json_object_get(root, "result"), "capabilities"), "tools");
    if (root == NULL || copy == NULL || json_object_set_new(copy, "listChanged", json_true())) {
        json_decref(root);
        return TG_ERR_NOMEM;
    }
    tg_status status = dump_to(root, out, out_size);
    json_decref(root);
    return status;
}
