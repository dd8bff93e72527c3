/*
 * refusal: what the agent reads when Tollgate stops a tool call. A refusal is
 * an ordinary tool result with isError: true (not a JSON-RPC error), so the
 * model sees it and can plan around it: which budget, why, and when a retry
 * could pass. The same facts go, for programs, into
 * result._meta["tollgate/refusal"]. Pure: time is passed in.
 */
#ifndef TG_MCP_REFUSAL_H
#define TG_MCP_REFUSAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tollgate.h"

/* Why the gateway stopped a call that the ledger did not refuse. */
typedef enum {
    TG__MCP_STOP_CAP = 0,     /* the task's call cap is reached */
    TG__MCP_STOP_REVOKED = 1, /* its class was revoked while it ran */
    TG__MCP_STOP_TIMEOUT = 2, /* the server did not answer within call_timeout_ms */
    TG__MCP_STOP_SERVER = 3,  /* the server exited before answering */
    TG__MCP_STOP_LEDGER = 4,  /* the ledger could not decide (fail closed) */
    TG__MCP_STOP_BUSY = 5,    /* too many calls in flight */
    TG__MCP_STOP_UNLISTED = 6 /* the server does not list a tool of that name */
} tg__mcp_stop;

/*
 * The tool error result for a call the ledger refused. New reference, NULL on no memory.
 * Its facts, with what the agent can do next (proxy/next.h, from `asked_micros`, the amount
 * held for the call), go into _meta["tollgate/refusal"]; with `structured` also into
 * structuredContent {"tollgate_refusal": ...} (the spec's place for a result programs
 * read; false when the tool declares an outputSchema that object would not match).
 */
json_t *tg__mcp_refusal_result(const json_t *id, const char *tool, tg_class cls,
                               const tg_refusal *refusal, int64_t asked_micros, bool structured,
                               int64_t now_ms);

/* How long a stopped call is told to wait before a retry could pass, when a retry can:
 * the ledger could not decide (a store that is down comes back, docs/multi-node.md) or
 * too many calls were in flight (some finish). */
#define TG__MCP_STOP_RETRY_LEDGER_MS 1000
#define TG__MCP_STOP_RETRY_BUSY_MS 1000

/*
 * The tool error result for a call stopped for `stop`. `budget` is the budget
 * charged, `detail` an optional extra sentence (NULL for none), `number` the
 * cap or the timeout when those apply. Its _meta["tollgate/refusal"] carries the same
 * `next` object as a ledger refusal (proxy/next.h), so an agent reads one shape: a wait
 * for a timeout (retry now), a ledger error or a busy gateway (the delays above); no
 * wait where only a person can help (call cap, revoked class, server gone, unlisted).
 */
json_t *tg__mcp_stop_result(const json_t *id, const char *tool, const char *budget,
                            tg__mcp_stop stop, int64_t number, const char *detail, int64_t now_ms);

/* The wait (ms) a stop advises before a retry, or TG_NONE when retrying cannot help. */
int64_t tg__mcp_stop_retry_ms(tg__mcp_stop stop);

/* Stable names of the stops, used as `reason` in _meta. */
const char *tg__mcp_stop_str(tg__mcp_stop stop);

#endif
