/*
 * relay: routes each message. Everything the gateway does not need to act on
 * is relayed as the exact bytes it arrived as; only what relay.h lists is
 * touched. Messages the gateway cannot read are not guessed at: from the agent
 * they are answered with a JSON-RPC error (an unread message could be an
 * unmetered tools/call), from the server they are dropped and logged (stdout
 * to the agent carries only valid MCP messages).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/relay_internal.h"
#include "mcp/rewrite.h"

void tg__relay_log(const tg__mcp_session *session, const char *format, ...) {
    if (session->options.log == NULL) {
        return;
    }
    va_list args;
    va_start(args, format);
    fputs("tollgate mcp: ", session->options.log);
    vfprintf(session->options.log, format, args);
    fputc('\n', session->options.log);
    va_end(args);
}

void tg__relay_send_json(tg__mcp_session *session, bool to_agent, json_t *message) {
    size_t size = 0;
    char *text = message != NULL ? tg__rpc_dump(message, &size) : NULL;
    json_decref(message);
    if (text == NULL) {
        tg__relay_log(session, "out of memory building a message for the %s",
                      to_agent ? "agent" : "server");
        return;
    }
    tg__mcp_send_fn send = to_agent ? session->options.to_agent : session->options.to_server;
    send(session->options.user, text, size);
    free(text);
}

tg_status tg__mcp_session_new(const tg__mcp_session_options *options, tg__mcp_session **out,
                              tg_error *err) {
    if (options->engine == NULL || options->config == NULL || options->budget == NULL ||
        strlen(options->budget) >= TG_PATH_SIZE_MAX || options->to_agent == NULL ||
        options->to_server == NULL) {
        if (err != NULL) {
            err->status = TG_ERR_INVALID;
            snprintf(err->message, sizeof err->message, "mcp session: missing or bad option");
        }
        return TG_ERR_INVALID;
    }
    tg__mcp_session *session = calloc(1, sizeof *session);
    tg__known_tool *known = calloc(TG__MCP_KNOWN_TOOLS_MAX, sizeof *known);
    if (session == NULL || known == NULL) {
        free(session);
        free(known);
        if (err != NULL) {
            err->status = TG_ERR_NOMEM;
            snprintf(err->message, sizeof err->message, "mcp session: out of memory");
        }
        return TG_ERR_NOMEM;
    }
    session->options = *options;
    memcpy(session->budget, options->budget, strlen(options->budget) + 1);
    session->options.budget = session->budget;
    session->known = known;
    tg__calls_init(&session->calls, (size_t)options->config->calls_in_flight_max);
    session->dirty = true; /* learn the revocation state before the first tools/list */
    *out = session;
    return TG_OK;
}

void tg__mcp_session_set_config(tg__mcp_session *session, const tg__mcp_config *config) {
    session->options.config = config;
    session->dirty = true;
}

void tg__mcp_session_free(tg__mcp_session *session, int64_t now_ms) {
    if (session == NULL) {
        return;
    }
    for (size_t i = 0; i < session->calls.count; i++) {
        tg__relay_wait_cancel(session, &session->calls.items[i], now_ms);
        tg__relay_release(session, &session->calls.items[i], now_ms);
    }
    tg__calls_free(&session->calls);
    free(session->known);
    free(session);
}

/* A request from the agent: tracked so its answer can be recognized, then relayed. */
static void agent_request(tg__mcp_session *session, const char *line, size_t size,
                          const tg__rpc_message *message, int64_t now_ms) {
    if (message->id_too_long) {
        tg__relay_send_json(session, true,
                            tg__rpc_error(message->id, TG__RPC_INVALID_REQUEST,
                                          "Tollgate accepts request ids of at most 255 bytes"));
        return;
    }
    long found = tg__calls_find(&session->calls, message->id_text);
    if (found >= 0 && session->calls.items[found].state == TG__CALL_ABANDONED) {
        tg__calls_remove(&session->calls, (size_t)found); /* answered long ago: the id is free */
    } else if (found >= 0) {
        tg__relay_send_json(session, true,
                            tg__rpc_error(message->id, TG__RPC_INVALID_REQUEST,
                                          "a request with this id is already in flight"));
        return;
    }
    if (strcmp(message->method, "tools/call") == 0) {
        tg__relay_tool_call(session, line, size, message, now_ms);
        return;
    }
    tg__call *call;
    if (tg__calls_add(&session->calls, message->id_text, message->id, &call) != TG_OK) {
        tg__relay_send_json(session, true,
                            tg__rpc_error(message->id, TG__RPC_SERVER_GONE,
                                          "too many requests are waiting for the MCP server"));
        return;
    }
    call->kind = TG__CALL_OTHER;
    if (strcmp(message->method, "tools/list") == 0) {
        call->kind = TG__CALL_LIST;
        call->first_page = json_object_get(message->params, "cursor") == NULL;
    } else if (strcmp(message->method, "initialize") == 0) {
        call->kind = TG__CALL_INIT;
    }
    session->options.to_server(session->options.user, line, size);
}

/* The agent cancelled one of its requests: relay, and stop tracking or wait a grace. */
static void agent_cancelled(tg__mcp_session *session, const tg__rpc_message *message,
                            int64_t now_ms) {
    char id_text[TG__RPC_ID_TEXT_SIZE];
    json_t *request_id = json_object_get(message->params, "requestId");
    long found = request_id != NULL && tg__rpc_id_text(request_id, id_text)
                     ? tg__calls_find(&session->calls, id_text)
                     : -1;
    if (found < 0) {
        return;
    }
    tg__call *call = &session->calls.items[found];
    if (call->kind != TG__CALL_TOOL) {
        tg__relay_wait_cancel(session, call, now_ms); /* a waiting call: nothing is held */
        tg__calls_remove(&session->calls, (size_t)found);
    } else if (call->state == TG__CALL_LIVE) {
        call->state = TG__CALL_AGENT_CANCELLED;
        call->deadline_ms = now_ms + TG__MCP_CANCEL_GRACE_MS;
    }
}

void tg__mcp_session_from_agent(tg__mcp_session *session, const char *line, size_t size,
                                int64_t now_ms) {
    tg__rpc_message message;
    tg__rpc_parse(line, size, &message);
    switch (message.kind) {
    case TG__RPC_REQUEST:
        agent_request(session, line, size, &message, now_ms);
        break;
    case TG__RPC_NOTIFICATION:
        if (strcmp(message.method, "notifications/cancelled") == 0) {
            agent_cancelled(session, &message, now_ms);
        }
        session->options.to_server(session->options.user, line, size);
        break;
    case TG__RPC_RESPONSE:
        session->options.to_server(session->options.user, line, size);
        break;
    case TG__RPC_BATCH:
        tg__relay_send_json(session, true,
                            tg__rpc_error(NULL, TG__RPC_INVALID_REQUEST,
                                          "JSON-RPC batches are not relayed by Tollgate (MCP "
                                          "2025-06-18 removed them); send messages one by one"));
        break;
    default:
        tg__relay_send_json(
            session, true,
            message.root == NULL
                ? tg__rpc_error(NULL, TG__RPC_PARSE_ERROR,
                                "not a JSON message Tollgate can read (UTF-8 JSON, no duplicate "
                                "keys, integers within 64 bits)")
                : tg__rpc_error(message.id_too_long ? NULL : message.id, TG__RPC_INVALID_REQUEST,
                                "not a JSON-RPC 2.0 request, notification or response"));
        break;
    }
    tg__rpc_message_clear(&message);
    if (session->dirty) {
        tg__mcp_session_refresh(session, now_ms);
    }
}

/* The server answered one of the agent's requests. */
static void server_response(tg__mcp_session *session, const char *line, size_t size,
                            const tg__rpc_message *message, int64_t now_ms) {
    long found = message->id_too_long ? -1 : tg__calls_find(&session->calls, message->id_text);
    if (found < 0 && strncmp(message->id_text, "\"tollgate/tools-list/", 21) == 0) {
        tg__relay_log(session, "dropped a late answer to Tollgate's own tools/list");
        return;
    }
    if (found < 0) {
        session->options.to_agent(session->options.user, line, size);
        return;
    }
    tg__call *call = &session->calls.items[found];
    if (call->kind == TG__CALL_OWN_LIST) {
        tg__calls_remove(&session->calls, (size_t)found); /* the answer may ask for more pages */
        tg__relay_own_list_result(session, message, now_ms);
        return;
    }
    if (call->kind == TG__CALL_PARKED || call->kind == TG__CALL_WAITING) {
        tg__relay_log(session,
                      "dropped a response from the server to a request it was never "
                      "sent (id %s)",
                      message->id_text);
        return;
    }
    bool relay = true;
    if (call->kind == TG__CALL_TOOL) {
        relay = tg__relay_tool_result(session, call, message, now_ms);
    } else if (call->kind == TG__CALL_LIST && message->result != NULL) {
        tg__relay_tools_list(session, call, line, size, message);
        relay = false;
    } else if (call->kind == TG__CALL_INIT && message->result != NULL) {
        char *patched = NULL;
        size_t patched_size = 0;
        if (tg__mcp_patch_initialize(line, size, message, &patched, &patched_size) != TG_OK) {
            tg__relay_log(session, "could not add tools.listChanged to the initialize result");
        }
        session->options.to_agent(session->options.user, patched ? patched : line,
                                  patched ? patched_size : size);
        free(patched);
        session->initialized = true;
        relay = false;
    }
    if (relay) {
        session->options.to_agent(session->options.user, line, size);
    }
    tg__calls_remove(&session->calls, (size_t)found);
}

/* Progress for a call the gateway already answered would confuse the agent: drop it. */
static bool stale_progress(const tg__mcp_session *session, const tg__rpc_message *message) {
    char token[TG__RPC_ID_TEXT_SIZE];
    json_t *value = json_object_get(message->params, "progressToken");
    if (strcmp(message->method, "notifications/progress") != 0 || value == NULL ||
        !tg__rpc_id_text(value, token)) {
        return false;
    }
    long found = tg__calls_find_progress(&session->calls, token);
    return found >= 0 && session->calls.items[found].state == TG__CALL_ABANDONED;
}

static void server_message(tg__mcp_session *session, const char *line, size_t size, int64_t now_ms,
                           bool in_batch);

/* A batch from the server (older protocol versions): each element handled on its own. */
static void server_batch(tg__mcp_session *session, const tg__rpc_message *message, int64_t now_ms) {
    for (size_t i = 0; i < json_array_size(message->root); i++) {
        size_t size = 0;
        char *text = tg__rpc_dump(json_array_get(message->root, i), &size);
        if (text != NULL) {
            server_message(session, text, size, now_ms, true);
        }
        free(text);
    }
}

static void server_message(tg__mcp_session *session, const char *line, size_t size, int64_t now_ms,
                           bool in_batch) {
    tg__rpc_message message;
    tg__rpc_parse(line, size, &message);
    switch (message.kind) {
    case TG__RPC_RESPONSE:
        server_response(session, line, size, &message, now_ms);
        break;
    case TG__RPC_NOTIFICATION:
        if (strcmp(message.method, "notifications/tools/list_changed") == 0) {
            session->listed_stale = true; /* a new tool is checked against a fresh listing */
        }
        if (!stale_progress(session, &message)) {
            session->options.to_agent(session->options.user, line, size);
        }
        break;
    case TG__RPC_REQUEST:
        session->options.to_agent(session->options.user, line, size);
        break;
    case TG__RPC_BATCH:
        if (!in_batch) {
            server_batch(session, &message, now_ms);
        } else {
            tg__relay_log(session, "dropped a batch nested in a batch from the server");
        }
        break;
    default:
        tg__relay_log(session, "dropped a message from the server that is not JSON-RPC (%zu bytes)",
                      size);
        break;
    }
    tg__rpc_message_clear(&message);
}

void tg__mcp_session_from_server(tg__mcp_session *session, const char *line, size_t size,
                                 int64_t now_ms) {
    server_message(session, line, size, now_ms, false);
    if (session->dirty) {
        tg__mcp_session_refresh(session, now_ms);
    }
}

void tg__mcp_session_too_long(tg__mcp_session *session, bool from_agent) {
    int64_t max = session->options.config->message_size_max_bytes;
    tg__relay_log(session, "dropped a message from the %s longer than %lld bytes",
                  from_agent ? "agent" : "server", (long long)max);
    if (from_agent) {
        tg__relay_send_json(session, true,
                            tg__rpc_error(NULL, TG__RPC_INVALID_REQUEST,
                                          "message longer than Tollgate's message_size_max_bytes"));
    }
}

void tg__mcp_session_note_event(tg__mcp_session *session, const tg_event *event) {
    if (event->kind != TG_EVENT_REVOKED && event->kind != TG_EVENT_REINSTATED &&
        event->kind != TG_EVENT_WINDOW_ROLLED && event->kind != TG_EVENT_BUDGET_CHANGED) {
        return;
    }
    /* Only the budget itself and its ancestors decide what this session may do. */
    size_t length = strlen(event->budget);
    if (strncmp(session->budget, event->budget, length) == 0 &&
        (session->budget[length] == '\0' || session->budget[length] == '/')) {
        session->dirty = true;
    }
}

void tg__mcp_session_tick(tg__mcp_session *session, int64_t now_ms) {
    for (size_t i = session->calls.count; i-- > 0;) {
        tg__call *call = &session->calls.items[i];
        if (call->deadline_ms > now_ms) {
            continue;
        }
        if (call->kind == TG__CALL_OWN_LIST) {
            tg__relay_log(session, "the server did not answer Tollgate's tools/list in time");
            tg__calls_remove(&session->calls, i);
            tg__relay_own_list_failed(session);
            continue;
        }
        if (call->kind == TG__CALL_WAITING) {
            tg__relay_wait_cancel(session, call, now_ms);
            session->stats.calls_refused++;
            tg__relay_send_json(
                session, true,
                tg__mcp_stop_result(call->id, call->tool, session->budget, TG__MCP_STOP_LEDGER, 0,
                                    "(Its wait for room ended without a decision.)", now_ms));
            tg__calls_remove(&session->calls, i);
            continue;
        }
        if (call->kind == TG__CALL_PARKED) {
            session->stats.calls_refused++;
            tg__relay_send_json(
                session, true,
                tg__mcp_stop_result(call->id, call->tool, session->budget, TG__MCP_STOP_UNLISTED, 0,
                                    "(Tollgate asked the server for its tools first, and it "
                                    "did not answer.)",
                                    now_ms));
            tg__calls_remove(&session->calls, i);
            continue;
        }
        if (call->state == TG__CALL_LIVE) {
            tg__relay_stop_call(session, call, TG__MCP_STOP_TIMEOUT, now_ms);
        } else {
            tg__relay_release(session, call, now_ms);
            tg__calls_remove(&session->calls, i);
        }
    }
    if (session->dirty) {
        tg__mcp_session_refresh(session, now_ms);
    }
}

int64_t tg__mcp_session_next_deadline_ms(const tg__mcp_session *session) {
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < session->calls.count; i++) {
        if (session->calls.items[i].deadline_ms < next) {
            next = session->calls.items[i].deadline_ms;
        }
    }
    return next;
}

void tg__mcp_session_server_gone(tg__mcp_session *session, int64_t now_ms) {
    for (size_t i = session->calls.count; i-- > 0;) {
        tg__call *call = &session->calls.items[i];
        if ((call->kind == TG__CALL_TOOL && call->state == TG__CALL_LIVE) ||
            call->kind == TG__CALL_PARKED || call->kind == TG__CALL_WAITING) {
            tg__relay_send_json(session, true,
                                tg__mcp_stop_result(call->id, call->tool, session->budget,
                                                    TG__MCP_STOP_SERVER, 0, NULL, now_ms));
            session->stats.calls_cancelled++;
        } else if (call->kind != TG__CALL_TOOL && call->kind != TG__CALL_OWN_LIST) {
            tg__relay_send_json(session, true,
                                tg__rpc_error(call->id, TG__RPC_SERVER_GONE,
                                              "the MCP server behind Tollgate exited before "
                                              "answering"));
        }
        tg__relay_wait_cancel(session, call, now_ms);
        tg__relay_release(session, call, now_ms);
        tg__calls_remove(&session->calls, i);
    }
}

size_t tg__mcp_session_pending(const tg__mcp_session *session) {
    return session->calls.count;
}

tg__mcp_stats tg__mcp_session_stats(const tg__mcp_session *session) {
    return session->stats;
}
