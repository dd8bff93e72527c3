/*
 * relay_internal: the session's state, shared by relay.c (routing messages),
 * relay_meter.c (pricing, holding and charging tools/call) and relay_tools.c
 * (which tools the agent may see). Not for transports: they use relay.h.
 */
#ifndef TG_MCP_RELAY_INTERNAL_H
#define TG_MCP_RELAY_INTERNAL_H

#include "mcp/calls.h"
#include "mcp/jsonrpc.h"
#include "mcp/refusal.h"
#include "mcp/relay.h"

#define TG__MCP_KNOWN_TOOLS_MAX 4096    /* tool names remembered from tools/list results */
#define TG__MCP_CANCEL_GRACE_MS 2000    /* after the agent cancels: a racing result is charged */
#define TG__MCP_ABANDONED_KEEP_MS 60000 /* after the gateway answered: late results dropped */
#define TG__MCP_HOLD_TTL_EXTRA_MS 60000 /* a hold outlives its call's timeout by this much */
#define TG__MCP_CLASS_ALL ((1u << TG_CLASS_COUNT) - 1)

/* A tool name the agent was shown or not, from the last tools/list results. */
typedef struct {
    char name[TG_NAME_SIZE_MAX];
    bool visible; /* listed to the agent the last time the gateway looked */
} tg__known_tool;

struct tg__mcp_session {
    tg__mcp_session_options options; /* as given; options.budget points at budget below */
    char budget[TG_PATH_SIZE_MAX];   /* the budget charged */
    tg__calls calls;                 /* agent requests waiting for the server */
    tg__known_tool *known;           /* from malloc: TG__MCP_KNOWN_TOOLS_MAX slots */
    size_t known_count;              /* slots in use */
    unsigned withdrawn;              /* bit per class: revoked on the budget's path */
    bool dirty;                      /* an event may have changed revocation: refresh */
    bool initialized;                /* the initialize result has gone to the agent */
    tg__mcp_stats stats;
};

/* Sends a message built with jansson, then drops the reference (NULL: out of memory, logged). */
void tg__relay_send_json(tg__mcp_session *session, bool to_agent, json_t *message);

/* printf to the session's log, with the gateway's prefix and a newline. */
void tg__relay_log(const tg__mcp_session *session, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* relay_meter.c: a tools/call request from the agent (relayed or answered here). */
void tg__relay_tool_call(tg__mcp_session *session, const char *line, size_t size,
                         const tg__rpc_message *message, int64_t now_ms);

/* relay_meter.c: the server's answer to a tools/call; true when it should be relayed. */
bool tg__relay_tool_result(tg__mcp_session *session, tg__call *call, const tg__rpc_message *message,
                           int64_t now_ms);

/*
 * relay_meter.c: stops a live tools/call: notifications/cancelled to the
 * server, the stop result to the agent, the hold released. The call stays,
 * abandoned, so a late result or progress is dropped.
 */
void tg__relay_stop_call(tg__mcp_session *session, tg__call *call, tg__mcp_stop stop,
                         int64_t now_ms);

/* relay_meter.c: releases a call's hold if it still has one. */
void tg__relay_release(tg__mcp_session *session, tg__call *call, int64_t now_ms);

/* relay_tools.c: the class a tool is given (rule, else the engine's policy). */
tg_class tg__relay_classify(const tg__mcp_session *session, const char *tool);

/* relay_tools.c: filters a tools/list result; returns what to send (line or a new text). */
void tg__relay_tools_list(tg__mcp_session *session, const tg__call *call, const char *line,
                          size_t size, const tg__rpc_message *message);

/* relay_tools.c: the classes withdrawn on the budget's path now. */
unsigned tg__relay_withdrawn(tg__mcp_session *session, int64_t now_ms);

#endif
