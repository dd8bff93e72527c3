/*
 * relay_meter: a tools/call's money. Before it is relayed: priced from the
 * rules and held on the budget (the ledger may refuse: then the gateway answers
 * with an isError result and the server never sees the call). When the result
 * comes back: committed at the configured cost or at the cost the result
 * reports. A JSON-RPC error (the call did not run) releases the hold. A result
 * that arrives after the gateway gave up on the call is still charged, with a
 * forced record: the money was spent, and the ledger never under-counts.
 */
#include <stdlib.h>
#include <string.h>

#include "mcp/relay_internal.h"

/* The tool name of a tools/call: text without NUL bytes that fits TG_NAME_SIZE_MAX. */
static const char *tool_name(const tg__rpc_message *message) {
    json_t *name = json_object_get(message->params, "name");
    const char *text = json_string_value(name);
    if (text == NULL || text[0] == '\0' || strlen(text) != json_string_length(name) ||
        strlen(text) >= TG_NAME_SIZE_MAX) {
        return NULL;
    }
    return text;
}

static void refuse(tg__mcp_session *session, const json_t *id, const char *tool, tg__mcp_stop stop,
                   int64_t number, const char *detail, int64_t now_ms) {
    session->stats.calls_refused++;
    tg__relay_send_json(
        session, true,
        tg__mcp_stop_result(id, tool, session->budget, stop, number, detail, now_ms));
}

/* Fills a new call from a granted hold. */
static void open_call(tg__mcp_session *session, tg__call *call, const tg__rpc_message *message,
                      const char *tool, const tg__mcp_tool_rule *rule,
                      const tg_reserve_result *held, int64_t now_ms) {
    call->kind = TG__CALL_TOOL;
    call->state = TG__CALL_LIVE;
    call->deadline_ms = now_ms + session->options.config->call_timeout_ms;
    call->hold_id = held->hold_id;
    call->cls = held->cls;
    call->cost_micros = rule != NULL ? rule->cost_micros : 0;
    call->charge = rule != NULL ? rule->charge : TG__MCP_CHARGE_FIXED;
    memcpy(call->tool, tool, strlen(tool) + 1);
    json_t *token = json_object_get(json_object_get(message->params, "_meta"), "progressToken");
    if (token == NULL || !tg__rpc_id_text(token, call->progress_token)) {
        call->progress_token[0] = '\0';
    }
}

/* The ledger queued the call (its rule's wait_ms): it waits, with its message, until the
 * engine decides it (tg__mcp_session_wait_decided) or the agent cancels it. */
static void wait_for_room(tg__mcp_session *session, const char *line, size_t size,
                          const tg__rpc_message *message, const char *tool, uint64_t wait_id,
                          int64_t now_ms) {
    tg__call *call = NULL;
    char *copy = malloc(size);
    if (copy == NULL ||
        tg__calls_add(&session->calls, message->id_text, message->id, &call) != TG_OK) {
        free(copy);
        (void)tg_wait_cancel(session->options.engine, wait_id, now_ms, NULL);
        refuse(session, message->id, tool, TG__MCP_STOP_LEDGER, 0, "(out of memory)", now_ms);
        return;
    }
    memcpy(copy, line, size);
    call->kind = TG__CALL_WAITING;
    call->wait_id = wait_id;
    call->parked = copy;
    call->parked_size = size;
    /* The engine refuses it at its own deadline; this one only backs that up (a waiter
     * cancelled over the API, tg__mcp_session_wait_decided never called). */
    const tg__mcp_tool_rule *rule = tg__mcp_tools_match(&session->options.config->tools, tool);
    call->deadline_ms = now_ms + (rule != NULL ? rule->wait_ms : 0) + TG__MCP_HOLD_TTL_EXTRA_MS;
    snprintf(call->tool, sizeof call->tool, "%s", tool);
    session->stats.calls_waited++;
}

void tg__relay_wait_cancel(tg__mcp_session *session, tg__call *call, int64_t now_ms) {
    if (call->kind == TG__CALL_WAITING && call->wait_id != 0) {
        (void)tg_wait_cancel(session->options.engine, call->wait_id, now_ms, NULL);
        call->wait_id = 0;
    }
}

static long find_waiting(const tg__mcp_session *session, uint64_t wait_id) {
    for (size_t i = 0; i < session->calls.count; i++) {
        const tg__call *call = &session->calls.items[i];
        if (call->kind == TG__CALL_WAITING && call->wait_id == wait_id) {
            return (long)i;
        }
    }
    return -1;
}

void tg__mcp_session_agent_left(tg__mcp_session *session, const char *id_text, int64_t now_ms) {
    long at = tg__calls_find(&session->calls, id_text);
    if (at >= 0 && session->calls.items[at].kind == TG__CALL_WAITING) {
        tg__relay_wait_cancel(session, &session->calls.items[at], now_ms);
        tg__calls_remove(&session->calls, (size_t)at);
    }
}

bool tg__mcp_session_wait_decided(tg__mcp_session *session, const tg_wait_result *decided,
                                  int64_t now_ms) {
    long at = find_waiting(session, decided->wait_id);
    if (at < 0) {
        return false;
    }
    tg__call *call = &session->calls.items[at];
    const tg_reserve_result *held = &decided->result;
    if (decided->status != TG_OK || !held->granted) {
        if (decided->status != TG_OK) {
            refuse(session, call->id, call->tool, TG__MCP_STOP_LEDGER, 0, decided->message, now_ms);
        } else {
            const tg__mcp_tool_rule *rule =
                tg__mcp_tools_match(&session->options.config->tools, call->tool);
            session->stats.calls_refused++;
            tg__relay_send_json(
                session, true,
                tg__mcp_refusal_result(call->id, call->tool, held->cls, &held->refusal,
                                       rule != NULL ? rule->cost_micros : 0,
                                       tg__relay_structured_ok(session, call->tool), now_ms));
        }
        tg__calls_remove(&session->calls, (size_t)at);
        return true;
    }
    int64_t cap = session->options.config->calls_per_task;
    if (!session->options.cap_in_ledger && cap != TG_NONE && session->stats.calls_granted >= cap) {
        /* Calls granted while this one waited used up the task's cap: it never runs. */
        (void)tg_release(session->options.engine, held->hold_id, NULL, now_ms, NULL, NULL);
        refuse(session, call->id, call->tool, TG__MCP_STOP_CAP, cap, NULL, now_ms);
        tg__calls_remove(&session->calls, (size_t)at);
        return true;
    }
    char *line = call->parked;
    size_t size = call->parked_size;
    call->parked = NULL;
    tg__rpc_message message;
    tg__rpc_parse(line, size, &message);
    char tool[TG_NAME_SIZE_MAX];
    snprintf(tool, sizeof tool, "%s", call->tool);
    open_call(session, call, &message, tool,
              tg__mcp_tools_match(&session->options.config->tools, tool), held, now_ms);
    call->wait_id = 0;
    session->stats.calls_granted++;
    session->options.to_server(session->options.user, line, size);
    tg__rpc_message_clear(&message);
    free(line);
    return true;
}

void tg__relay_tool_call(tg__mcp_session *session, const char *line, size_t size,
                         const tg__rpc_message *message, int64_t now_ms) {
    const char *tool = tool_name(message);
    if (tool == NULL) {
        tg__relay_send_json(session, true,
                            tg__rpc_error(message->id, TG__RPC_INVALID_PARAMS,
                                          "tools/call needs params.name: a tool name of 1..127 "
                                          "bytes"));
        return;
    }
    if (!tg__relay_tool_known(session, tool, line, size, message, now_ms)) {
        return; /* refused (never listed, nothing held), or parked until the server lists */
    }
    const tg__mcp_config *config = session->options.config;
    int64_t cap = config->calls_per_task;
    if (!session->options.cap_in_ledger && cap != TG_NONE && session->stats.calls_granted >= cap) {
        refuse(session, message->id, tool, TG__MCP_STOP_CAP, cap, NULL, now_ms);
        return;
    }
    if (session->calls.count >= session->calls.max) {
        refuse(session, message->id, tool, TG__MCP_STOP_BUSY, (int64_t)session->calls.count, NULL,
               now_ms);
        return;
    }
    const tg__mcp_tool_rule *rule = tg__mcp_tools_match(&config->tools, tool);
    tg_reserve_request ask = {
        .budget = session->budget,
        .amount_micros = rule != NULL ? rule->cost_micros : 0,
        .cls = rule != NULL ? rule->cls : TG_CLASS_AUTO,
        .tool = tool,
        .ttl_ms = config->call_timeout_ms + TG__MCP_HOLD_TTL_EXTRA_MS,
        .wait_ms = rule != NULL ? rule->wait_ms : 0,
    };
    tg_reserve_result held;
    tg_error err = {0};
    if (tg_reserve(session->options.engine, &ask, now_ms, &held, &err) != TG_OK) {
        tg__relay_log(session, "reserve for '%s' failed: %s", tool, err.message);
        refuse(session, message->id, tool, TG__MCP_STOP_LEDGER, 0, err.message, now_ms);
        return;
    }
    if (held.waiting) {
        wait_for_room(session, line, size, message, tool, held.wait_id, now_ms);
        return;
    }
    if (!held.granted) {
        session->stats.calls_refused++;
        tg__relay_send_json(session, true,
                            tg__mcp_refusal_result(message->id, tool, held.cls, &held.refusal,
                                                   ask.amount_micros,
                                                   tg__relay_structured_ok(session, tool), now_ms));
        return;
    }
    tg__call *call;
    if (tg__calls_add(&session->calls, message->id_text, message->id, &call) != TG_OK) {
        (void)tg_release(session->options.engine, held.hold_id, NULL, now_ms, NULL, NULL);
        refuse(session, message->id, tool, TG__MCP_STOP_LEDGER, 0, "(out of memory)", now_ms);
        return;
    }
    open_call(session, call, message, tool, rule, &held, now_ms);
    session->stats.calls_granted++;
    session->options.to_server(session->options.user, line, size);
}

void tg__relay_release(tg__mcp_session *session, tg__call *call, int64_t now_ms) {
    if (call->kind != TG__CALL_TOOL || call->hold_id == 0) {
        return;
    }
    tg_error err = {0};
    tg_status status = tg_release(session->options.engine, call->hold_id, NULL, now_ms, NULL, &err);
    if (status != TG_OK && status != TG_ERR_NOT_FOUND) {
        tg__relay_log(session, "release of hold %llu failed: %s", (unsigned long long)call->hold_id,
                      err.message);
    }
    call->hold_id = 0;
}

/* What a finished call costs: the result's report for `charge: result`, else the price. */
static int64_t cost_of(const tg__call *call, const tg__rpc_message *message) {
    int64_t reported;
    if (call->charge == TG__MCP_CHARGE_RESULT && tg__mcp_result_cost(message->result, &reported)) {
        return reported;
    }
    return call->cost_micros;
}

/* Charges a call: commits its hold, or records the cost when the hold is gone. */
static void charge(tg__mcp_session *session, tg__call *call, int64_t cost_micros, int64_t now_ms) {
    tg_error err = {0};
    tg_status status = TG_ERR_NOT_FOUND;
    if (call->hold_id != 0) {
        tg_commit_request done = {.hold_id = call->hold_id, .actual_micros = cost_micros};
        tg_commit_result charged;
        status = tg_commit(session->options.engine, &done, now_ms, &charged, &err);
        call->hold_id = 0;
    }
    if (status == TG_ERR_NOT_FOUND) {
        tg_record_request record = {.budget = session->budget,
                                    .cost_micros = cost_micros,
                                    .cls = call->cls,
                                    .tool = call->tool,
                                    .force = true};
        tg_record_result recorded;
        status = tg_record(session->options.engine, &record, now_ms, &recorded, &err);
    }
    if (status == TG_OK) {
        session->stats.charged_micros += cost_micros;
    } else {
        tg__relay_log(session, "charging '%s' failed: %s", call->tool, err.message);
    }
}

bool tg__relay_tool_result(tg__mcp_session *session, tg__call *call, const tg__rpc_message *message,
                           int64_t now_ms) {
    bool ran = message->result != NULL;
    if (call->state == TG__CALL_ABANDONED) {
        if (ran) {
            tg__relay_log(session, "late result of '%s' after it was cancelled: charged",
                          call->tool);
            charge(session, call, cost_of(call, message), now_ms);
        }
        return false;
    }
    if (ran) {
        charge(session, call, cost_of(call, message), now_ms);
    } else {
        tg__relay_release(session, call, now_ms);
    }
    return true;
}

void tg__relay_stop_call(tg__mcp_session *session, tg__call *call, tg__mcp_stop stop,
                         int64_t now_ms) {
    int64_t timeout = session->options.config->call_timeout_ms;
    char reason[TG_PATH_SIZE_MAX + 96];
    if (stop == TG__MCP_STOP_TIMEOUT) {
        snprintf(reason, sizeof reason, "Tollgate: no result within %lld ms", (long long)timeout);
    } else {
        snprintf(reason, sizeof reason, "Tollgate: the tool's impact class was revoked on %s",
                 session->budget);
    }
    json_t *params = json_pack("{s:O,s:s}", "requestId", call->id, "reason", reason);
    tg__relay_send_json(session, false, tg__rpc_notification("notifications/cancelled", params));
    tg__relay_send_json(
        session, true,
        tg__mcp_stop_result(call->id, call->tool, session->budget, stop, timeout, NULL, now_ms));
    tg__relay_release(session, call, now_ms);
    call->state = TG__CALL_ABANDONED;
    call->deadline_ms = now_ms + TG__MCP_ABANDONED_KEEP_MS;
    session->stats.calls_cancelled++;
}
