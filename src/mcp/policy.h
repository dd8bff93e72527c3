/*
 * policy: what a tool call costs and which impact class it carries, from the
 * operator's `mcp.tools` rules (docs/mcp.md). A rule matches tool names by glob;
 * the first match wins. A tool no rule matches costs nothing and gets its class
 * from the engine's policy rules (the same `policy:` the daemon uses). Pure.
 */
#ifndef TG_MCP_POLICY_H
#define TG_MCP_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "tollgate.h"

#define TG__MCP_TOOL_RULES_MAX 256

typedef enum {
    TG__MCP_CHARGE_FIXED = 0, /* charge the configured cost */
    TG__MCP_CHARGE_RESULT = 1 /* charge the result's _meta.cost_micros; configured cost = hold */
} tg__mcp_charge;

typedef struct {
    char glob[TG_NAME_SIZE_MAX]; /* tool name pattern: '*' any run, '?' one byte */
    int64_t cost_micros;         /* fixed: the charge; result: the hold, and the charge
                                    when the result reports no cost */
    tg_class cls;                /* TG_CLASS_AUTO: the engine's policy decides */
    tg__mcp_charge charge;       /* how the charge is found */
    int64_t wait_ms;             /* refused now: wait in the gateway up to this long for room
                                    (a waiting hold, docs/mcp.md); 0: refuse at once */
} tg__mcp_tool_rule;

typedef struct {
    tg__mcp_tool_rule rules[TG__MCP_TOOL_RULES_MAX]; /* in the order written */
    int rules_count;
} tg__mcp_tools;

/* Glob match of a whole name: '*' matches any run of bytes, '?' one byte. */
bool tg__mcp_glob_match(const char *glob, const char *name);

/* The first rule matching the tool, or NULL (cost 0, class from the engine's policy). */
const tg__mcp_tool_rule *tg__mcp_tools_match(const tg__mcp_tools *tools, const char *name);

/*
 * The cost a tool result reports in `_meta.cost_micros`: a JSON integer in
 * 0..TG_AMOUNT_MAX. Returns false when the field is absent or not such a number.
 * `result` is the response's result object (jansson, may be NULL).
 */
struct json_t;
bool tg__mcp_result_cost(const struct json_t *result, int64_t *cost_micros_out);

#endif
