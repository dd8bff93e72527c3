/*
 * request_tools: tokens for function (tool) definitions, by the OpenAI cookbook's
 * num_tokens_for_tools, which matches the prompt_tokens billed for its worked
 * examples (tests/tokenizer/requests/). Per function: an opening, "name:description"
 * (a final period dropped), and per property "key:type:description" plus enum items;
 * then a closing once. Schema the cookbook does not cover (nested objects, arrays of
 * objects, keywords beyond type, description and enum) is counted as its JSON text
 * and the count marked as framed rather than exact.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/request.h"

/* Text without one trailing period, as the cookbook strips it. */
static size_t without_period(const char *text, size_t len) {
    return len > 0 && text[len - 1] == '.' ? len - 1 : len;
}

static void count_line(tg__counter *c, const char *a, const char *b, const char *d) {
    size_t la = strlen(a), lb = b ? strlen(b) : 0, ld = without_period(d, strlen(d));
    size_t len = la + 1 + lb + (b ? 1 : 0) + ld;
    char *line = malloc(len + 1);
    if (line == NULL) {
        c->status = c->status == TG_OK ? TG_ERR_NOMEM : c->status;
        return;
    }
    size_t at = 0;
    memcpy(line + at, a, la), at += la, line[at++] = ':';
    if (b != NULL) {
        memcpy(line + at, b, lb), at += lb, line[at++] = ':';
    }
    memcpy(line + at, d, ld), at += ld;
    tg__count_text_add(c, line, at);
    free(line);
}

static const char *string_or_empty(const json_t *value) {
    return json_is_string(value) ? json_string_value(value) : "";
}

/* A schema's keywords other than the three `counted` its caller bills its own way: the
 * model reads them, so each counts as its key and JSON text, and the count is framed. */
static void count_keywords_but(tg__counter *c, const json_t *schema, const char *const counted[3]) {
    const char *keyword;
    const json_t *value;
    json_object_foreach((json_t *)schema, keyword, value) {
        if (strcmp(keyword, counted[0]) != 0 && strcmp(keyword, counted[1]) != 0 &&
            strcmp(keyword, counted[2]) != 0) {
            tg__count_quality(c, TG_COUNT_FRAMED);
            tg__count_text_add(c, keyword, strlen(keyword));
            tg__count_json(c, value);
        }
    }
}

static void count_property(tg__counter *c, const char *key, const json_t *schema) {
    c->count->text_tokens += TG__TOOL_PROPERTY_KEY;
    const json_t *enumeration = json_object_get(schema, "enum");
    if (json_is_array(enumeration)) {
        c->count->text_tokens += TG__TOOL_ENUM_INIT;
        size_t i;
        const json_t *item;
        json_array_foreach(enumeration, i, item) {
            c->count->text_tokens += TG__TOOL_ENUM_ITEM;
            tg__count_json(c, item);
        }
    }
    const json_t *type = json_object_get(schema, "type");
    char *type_text = NULL;
    if (type != NULL && !json_is_string(type)) {
        type_text = json_dumps(type, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    count_line(c, key, type_text ? type_text : string_or_empty(type),
               string_or_empty(json_object_get(schema, "description")));
    free(type_text);
    static const char *const counted[] = {"type", "description", "enum"};
    count_keywords_but(c, schema, counted);
}

/* The keywords of a parameters schema the cookbook leaves out ("$defs" that the
 * properties refer to, "definitions", "anyOf", "additionalProperties", ...): the model
 * reads them, so they count as their key and JSON text and the count is framed.
 * "type", "properties" and "required" are the cookbook's, and it bills "required"
 * nothing (its worked examples carry one). */
static void count_schema_rest(tg__counter *c, const json_t *parameters) {
    if (!json_is_object(parameters)) {
        return;
    }
    static const char *const counted[] = {"type", "properties", "required"};
    count_keywords_but(c, parameters, counted);
}

static void count_function(tg__counter *c, const json_t *function) {
    c->count->text_tokens += c->model->function_init;
    count_line(c, string_or_empty(json_object_get(function, "name")), NULL,
               string_or_empty(json_object_get(function, "description")));
    const json_t *parameters = json_object_get(function, "parameters");
    const json_t *properties = json_object_get(parameters, "properties");
    if (json_object_size(properties) > 0) {
        c->count->text_tokens += TG__TOOL_PROPERTIES_INIT;
        const char *key;
        const json_t *schema;
        json_object_foreach((json_t *)properties, key, schema) {
            count_property(c, key, schema);
        }
    }
    count_schema_rest(c, parameters);
}

void tg__count_tools(tg__counter *c, const json_t *tools) {
    if (!json_is_array(tools) || json_array_size(tools) == 0) {
        return;
    }
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool) {
        const json_t *type = json_object_get(tool, "type");
        const json_t *function = json_object_get(tool, "function");
        if (json_is_object(function)) {
            count_function(c, function); /* chat: {"type":"function","function":{...}} */
        } else if (type == NULL || strcmp(string_or_empty(type), "function") == 0) {
            count_function(c, tool); /* Responses tools and legacy functions: flat */
        } else {
            /* Built-in tools (web search, file search, ...): their framing is not
             * published; count their JSON so the hold still grows with them. */
            tg__count_quality(c, TG_COUNT_ESTIMATE);
            tg__count_json(c, tool);
        }
    }
    c->count->text_tokens += c->model->function_end;
}
