/*
 * relay: one MCP session between an agent and an MCP server, with Tollgate in
 * the middle. Transport-free: the stdio transport (stdio.c) and, later, the
 * daemon's Streamable HTTP endpoint feed it whole messages and give it two
 * functions to send whole messages; it decides what to relay, what to charge,
 * and what to answer itself.
 *
 * What it does to the traffic (docs/mcp.md):
 *   - every message is relayed byte for byte, in both directions, except:
 *   - tools/call: priced and held on the budget before it is relayed; refused
 *     calls get a tool result with isError: true from the gateway; the result
 *     commits the charge (or the hold is released on a JSON-RPC error);
 *   - tools/list results lose the tools of revoked classes; initialize results
 *     promise tools.listChanged; notifications/tools/list_changed is sent when
 *     revocation or reinstatement changes what is listed;
 *   - in-flight calls of a revoked class, and calls past call_timeout_ms, are
 *     cancelled: notifications/cancelled to the server, an error result to the
 *     agent, the hold released;
 *   - if the server exits, every request waiting for it is answered.
 *
 * Durability: the session calls the engine and then its send functions at
 * once. A transport on a strict engine must not write what was sent before the
 * engine's batch is durable (tg_engine_batch_end), exactly as the daemon
 * holds its HTTP replies. Not thread-safe: use a session, and its engine, from
 * one thread.
 */
#ifndef TG_MCP_RELAY_H
#define TG_MCP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mcp/config.h"
#include "tollgate.h"

typedef struct tg__mcp_session tg__mcp_session;

/* Sends one whole message (no newline; the transport frames it). */
typedef void (*tg__mcp_send_fn)(void *user, const char *message, size_t size);

typedef struct {
    tg_engine *engine;            /* borrowed: decides every call */
    const tg__mcp_config *config; /* borrowed: prices, classes, limits; outlives the session */
    const char *budget;           /* the budget calls are charged to (copied) */
    bool cap_in_ledger;           /* the budget's calls limit is the task's cap (--task): the
                                     session does not count config->calls_per_task itself */
    tg__mcp_send_fn to_agent;     /* a message for the agent */
    tg__mcp_send_fn to_server;    /* a message for the MCP server */
    void *user;                   /* passed to both */
    FILE *log;                    /* one line per notable event; NULL for none */
} tg__mcp_session_options;

/* Counters for logs and benchmarks. */
typedef struct {
    int64_t calls_granted;   /* tools/call held and relayed */
    int64_t calls_refused;   /* answered by the gateway without reaching the server */
    int64_t calls_cancelled; /* cancelled in flight (revocation, timeout, server exit) */
    int64_t charged_micros;  /* committed or recorded by this session */
    int64_t list_changed;    /* notifications/tools/list_changed sent */
    int64_t calls_waited;    /* tools/call refused at first and queued to wait (wait_ms) */
} tg__mcp_stats;

/* A configuration reload: the session decides with `config` (borrowed) from now on; call
 * tg__mcp_session_refresh after, since a tool's class may have moved. */
void tg__mcp_session_set_config(tg__mcp_session *session, const tg__mcp_config *config);

/* A new session; *out is freed with tg__mcp_session_free. TG_ERR_INVALID, TG_ERR_NOMEM. */
tg_status tg__mcp_session_new(const tg__mcp_session_options *options, tg__mcp_session **out,
                              tg_error *err);

/* Releases the holds of calls still open, then frees the session. NULL is a no-op. */
void tg__mcp_session_free(tg__mcp_session *session, int64_t now_ms);

/* One message from the agent / from the server (no newline). */
void tg__mcp_session_from_agent(tg__mcp_session *session, const char *message, size_t size,
                                int64_t now_ms);
void tg__mcp_session_from_server(tg__mcp_session *session, const char *message, size_t size,
                                 int64_t now_ms);

/* A message longer than message_size_max_bytes was dropped (answered when from the agent). */
void tg__mcp_session_too_long(tg__mcp_session *session, bool from_agent);

/*
 * Notes an engine event (call it from the engine's on_event). Makes no engine
 * call itself: the revocation state is re-read after the current operation, at
 * the end of the session call that caused it or at the next tick.
 */
void tg__mcp_session_note_event(tg__mcp_session *session, const tg_event *event);

/* Re-reads revocation now: cancels calls told to, sends list_changed if the listing changed. */
void tg__mcp_session_refresh(tg__mcp_session *session, int64_t now_ms);

/* Timeouts and pending refreshes due at now_ms. */
void tg__mcp_session_tick(tg__mcp_session *session, int64_t now_ms);

/* The earliest deadline of an open call (INT64_MAX when none). */
int64_t tg__mcp_session_next_deadline_ms(const tg__mcp_session *session);

/* The server is gone: answers every request waiting for it, releases every hold. */
void tg__mcp_session_server_gone(tg__mcp_session *session, int64_t now_ms);

/* Requests the session tracks: waiting for the server, or answered by the gateway and kept
 * for a while to drop a late result. */
size_t tg__mcp_session_pending(const tg__mcp_session *session);

/*
 * Waiting tools/calls (a tool rule's wait_ms, docs/mcp.md): a call the ledger refuses now
 * but could grant within its wait is held back as an engine waiter, and the transport hands
 * the session every waiter the engine decides (tg_wait_poll). True when it was this
 * session's: granted, the call goes on to the server; refused, the agent gets the usual
 * refusal. False: not this session's (the transport releases a grant nobody owns, so
 * nothing is held for a caller that left).
 */
bool tg__mcp_session_wait_decided(tg__mcp_session *session, const tg_wait_result *decided,
                                  int64_t now_ms);

/* The agent's request `id_text` will never read its answer (its HTTP POST closed): a call
 * still waiting for room is dropped, its waiter cancelled, so nothing is ever held for it.
 * Calls already at the server are left to their result (and charged), as before. */
void tg__mcp_session_agent_left(tg__mcp_session *session, const char *id_text, int64_t now_ms);

/* The counters so far. */
tg__mcp_stats tg__mcp_session_stats(const tg__mcp_session *session);

#endif
