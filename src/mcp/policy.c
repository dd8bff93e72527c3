/*
 * policy: the glob is iterative with one backtrack point (the last '*'), so a
 * pattern like "*a*a*a*b" against a long name costs O(pattern x name) at worst,
 * never exponential time.
 */
#include <jansson.h>

#include "mcp/policy.h"

bool tg__mcp_glob_match(const char *glob, const char *name) {
    const char *star = NULL;      /* the last '*' seen in glob */
    const char *star_name = NULL; /* where in name that '*' is matching up to now */
    while (*name != '\0') {
        if (*glob == '*') {
            star = glob++;
            star_name = name;
        } else if (*glob == '?' || *glob == *name) {
            glob++;
            name++;
        } else if (star != NULL) {
            glob = star + 1;
            name = ++star_name;
        } else {
            return false;
        }
    }
    while (*glob == '*') {
        glob++;
    }
    return *glob == '\0';
}

const tg__mcp_tool_rule *tg__mcp_tools_match(const tg__mcp_tools *tools, const char *name) {
    for (int i = 0; i < tools->rules_count; i++) {
        if (tg__mcp_glob_match(tools->rules[i].glob, name)) {
            return &tools->rules[i];
        }
    }
    return NULL;
}

bool tg__mcp_result_cost(const json_t *result, int64_t *cost_micros_out) {
    json_t *meta = json_object_get(result, "_meta");
    json_t *cost = json_object_get(meta, "cost_micros");
    if (!json_is_integer(cost)) {
        return false;
    }
    json_int_t value = json_integer_value(cost);
    if (value < 0 || value > TG_AMOUNT_MAX) {
        return false;
    }
    *cost_micros_out = (int64_t)value;
    return true;
}
