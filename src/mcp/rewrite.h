/*
 * rewrite: the only two server messages the gateway changes on their way to
 * the agent. A tools/list result loses the tools of revoked impact classes,
 * and an initialize result is made to promise notifications/tools/list_changed
 * (the gateway sends them when revocation changes what is listed, so the agent
 * must know to listen). Both cut or replace spans of the original text
 * (json_span.h); only if that fails is the message re-serialized. Pure.
 */
#ifndef TG_MCP_REWRITE_H
#define TG_MCP_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "mcp/jsonrpc.h"

#define TG__MCP_LIST_TOOLS_MAX 4096 /* tools cut by spans in one list; more: re-serialized */

/* Says whether a tool stays listed; called once per tool, in order. */
typedef bool (*tg__mcp_keep_fn)(void *user, const char *tool);

/*
 * Filters the tools of a tools/list response (`message` is the parse of
 * line[0, size)). On TG_OK, *out is NULL when every tool stays (relay the line
 * unchanged), or a new line from malloc (caller frees) of *out_size bytes.
 * TG_ERR_NOMEM, or TG_ERR_INVALID when the result holds no tools array.
 */
tg_status tg__mcp_filter_tools(const char *line, size_t size, const tg__rpc_message *message,
                               tg__mcp_keep_fn keep, void *user, char **out, size_t *out_size);

/*
 * Makes result.capabilities.tools.listChanged true in an initialize response.
 * *out as above: NULL when it is already true or the server offers no tools.
 */
tg_status tg__mcp_patch_initialize(const char *line, size_t size, const tg__rpc_message *message,
                                   char **out, size_t *out_size);

#endif
