/*
 * policy: which impact class a tool's call is, from the rules' globs. The glob is
 * core/path.h's: iterative with one backtrack point (the last '*'), so a pattern like
 * "*a*a*a*b" against a long name costs O(pattern x name) at worst, never exponential time.
 */
#include <jansson.h>

#include "core/path.h"
#include "mcp/policy.h"

bool tg__mcp_glob_match(const char *glob, const char *name) {
    /* The budgets' matcher (core/path.h), but for the empty glob: there it matches every
     * name, here only the empty one, as a rule's glob always has. */
    return glob[0] != '\0' ? tg__glob_match(glob, name) : name[0] == '\0';
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
