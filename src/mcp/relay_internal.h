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

/* A tool the server listed, and whether the agent may see it (from tools/list results). */
typedef struct {
    char name[TG_NAME_SIZE_MAX];
    bool visible;        /* listed to the agent the last time the gateway looked */
    uint32_t generation; /* the listing that last named it (relay_listed.c) */
    bool output_schema;  /* it declares an outputSchema: a refusal carries no structuredContent */
} tg__known_tool;

struct tg__mcp_session {
    tg__mcp_session_options options; /* as given; options.budget points at budget below */
    char budget[TG_PATH_SIZE_MAX];   /* the budget charged */
    tg__calls calls;                 /* agent requests waiting for the server */
    tg__known_tool *known;           /* from malloc: TG__MCP_KNOWN_TOOLS_MAX slots */
    size_t known_count;              /* slots in use */
    uint32_t listing;                /* the generation of the listing being read */
    bool listed;                     /* a whole listing was read: known is the server's tools */
    bool listed_stale;               /* the server said its list changed since */
    bool known_full;                 /* a listing named more tools than known holds */
    bool own_listing;                /* the gateway's own tools/list is in flight */
    uint64_t own_listings;           /* own tools/list requests sent, for their ids */
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

/* relay_meter.c: cancels a waiting call's engine waiter (nothing was held for it). */
void tg__relay_wait_cancel(tg__mcp_session *session, tg__call *call, int64_t now_ms);

/* relay_meter.c: releases a call's hold if it still has one. */
void tg__relay_release(tg__mcp_session *session, tg__call *call, int64_t now_ms);

/* relay_listed.c: a listing's first page starts; each tool named is remembered; a page
 * without nextCursor ends the listing (tools of older listings are forgotten then). */
void tg__relay_listing_start(tg__mcp_session *session);
void tg__relay_listing_remember(tg__mcp_session *session, const char *tool, bool visible);
void tg__relay_listing_page_done(tg__mcp_session *session, const tg__rpc_message *message);

/* relay_listed.c: notes which remembered tools of a tools/list page declare an outputSchema
 * (an SDK validates a result's structuredContent against it, even an error's). */
void tg__relay_listing_schemas(tg__mcp_session *session, const tg__rpc_message *message);

/* relay_listed.c: true when a refusal of `tool` may carry structuredContent: the tool is
 * listed and declares no outputSchema the refusal's object would fail. */
bool tg__relay_structured_ok(tg__mcp_session *session, const char *tool);

/*
 * relay_listed.c: a tools/call for a tool the server never listed is refused without a
 * charge. True when the call may go on to the ledger; false when it was answered
 * (refused) or parked until the gateway's own tools/list tells what the server has.
 */
bool tg__relay_tool_known(tg__mcp_session *session, const char *tool, const char *line, size_t size,
                          const tg__rpc_message *message, int64_t now_ms);

/* relay_listed.c: the answer to the gateway's own tools/list (its call already removed):
 * the next page is asked for, or parked calls go on. */
void tg__relay_own_list_result(tg__mcp_session *session, const tg__rpc_message *message,
                               int64_t now_ms);

/* relay_listed.c: the own listing failed (an error, timeout, server gone): parked calls are
 * refused at the next tick (their deadline is set to the past). */
void tg__relay_own_list_failed(tg__mcp_session *session);

/* relay_tools.c: the class a tool is given (rule, else the engine's policy). */
tg_class tg__relay_classify(const tg__mcp_session *session, const char *tool);

/* relay_tools.c: filters a tools/list result; returns what to send (line or a new text). */
void tg__relay_tools_list(tg__mcp_session *session, const tg__call *call, const char *line,
                          size_t size, const tg__rpc_message *message);

/* relay_tools.c: the classes withdrawn on the budget's path now. */
unsigned tg__relay_withdrawn(tg__mcp_session *session, int64_t now_ms);

#endif
