/*
 * relay_listed: which tools the server has. A tools/call naming a tool the
 * server never listed would reach the server only to fail, and servers answer
 * that with an isError result, which is charged like a tool that ran; docs/mcp.md
 * promises such calls cost nothing. So the gateway remembers the names of every
 * tools/list result (the agent's, and its own) and refuses any other name with no
 * hold and no charge.
 *
 * When it has not read a whole listing (the agent never asked, or the server said
 * its list changed since), the gateway asks the server itself: the call is parked,
 * a tools/list of its own goes to the server (every page), and the parked calls go
 * on when the answer is in. The agent never sees that listing. If the server does
 * not answer it (an error, call_timeout_ms, exit), the parked calls are refused:
 * nothing runs that was not priced against a known name.
 */
#include <stdlib.h>
#include <string.h>

#include "mcp/relay_internal.h"

#define OWN_ID_SIZE 64 /* "tollgate/tools-list/N" */

static tg__known_tool *find(tg__mcp_session *session, const char *tool) {
    for (size_t i = 0; i < session->known_count; i++) {
        if (strcmp(session->known[i].name, tool) == 0) {
            return &session->known[i];
        }
    }
    return NULL;
}

void tg__relay_listing_start(tg__mcp_session *session) {
    session->listing++;
    session->known_full = false;
}

void tg__relay_listing_remember(tg__mcp_session *session, const char *tool, bool visible) {
    tg__known_tool *known = find(session, tool);
    if (known == NULL) {
        if (session->known_count >= TG__MCP_KNOWN_TOOLS_MAX) {
            session->known_full = true; /* names past it cannot be checked: they are let on */
            return;
        }
        known = &session->known[session->known_count++];
        known->output_schema = true; /* until the page says (tg__relay_listing_schemas) */
        snprintf(known->name, sizeof known->name, "%s", tool);
    }
    known->visible = visible;
    known->generation = session->listing;
}

void tg__relay_listing_schemas(tg__mcp_session *session, const tg__rpc_message *message) {
    size_t i;
    json_t *tool;
    json_array_foreach(json_object_get(message->result, "tools"), i, tool) {
        const char *name = json_string_value(json_object_get(tool, "name"));
        tg__known_tool *known = name != NULL ? find(session, name) : NULL;
        if (known != NULL) {
            known->output_schema = json_object_get(tool, "outputSchema") != NULL;
        }
    }
}

bool tg__relay_structured_ok(tg__mcp_session *session, const char *tool) {
    const tg__known_tool *known = find(session, tool);
    return known != NULL && !known->output_schema;
}

void tg__relay_listing_page_done(tg__mcp_session *session, const tg__rpc_message *message) {
    if (json_is_string(json_object_get(message->result, "nextCursor"))) {
        return; /* more pages follow */
    }
    size_t kept = 0;
    for (size_t i = 0; i < session->known_count; i++) {
        if (session->known[i].generation == session->listing) {
            session->known[kept++] = session->known[i];
        }
    }
    session->known_count = kept;
    session->listed = true;
    session->listed_stale = false;
}

static void refuse(tg__mcp_session *session, const json_t *id, const char *tool, tg__mcp_stop stop,
                   const char *detail, int64_t now_ms) {
    session->stats.calls_refused++;
    tg__relay_send_json(session, true,
                        tg__mcp_stop_result(id, tool, session->budget, stop, 0, detail, now_ms));
}

/* Sends the gateway's own tools/list (a page after `cursor`, or the first). */
static void send_own_list(tg__mcp_session *session, const json_t *cursor, int64_t now_ms) {
    char id[OWN_ID_SIZE];
    char id_text[TG__RPC_ID_TEXT_SIZE];
    snprintf(id, sizeof id, "tollgate/tools-list/%llu",
             (unsigned long long)++session->own_listings);
    json_t *id_json = json_string(id);
    json_t *request =
        json_pack("{s:s,s:O,s:s}", "jsonrpc", "2.0", "id", id_json, "method", "tools/list");
    tg__call *own = NULL;
    if (request != NULL && cursor != NULL) {
        json_object_set_new(request, "params", json_pack("{s:O}", "cursor", cursor));
    }
    if (request == NULL || !tg__rpc_id_text(id_json, id_text) ||
        tg__calls_add(&session->calls, id_text, id_json, &own) != TG_OK) {
        tg__relay_log(session, "could not ask the server for its tools (too many requests "
                               "waiting, or out of memory)");
        json_decref(request);
        json_decref(id_json);
        tg__relay_own_list_failed(session);
        return;
    }
    json_decref(id_json);
    own->kind = TG__CALL_OWN_LIST;
    own->deadline_ms = now_ms + session->options.config->call_timeout_ms;
    if (cursor == NULL) {
        tg__relay_listing_start(session);
    }
    session->own_listing = true;
    tg__relay_send_json(session, false, request);
}

static void park(tg__mcp_session *session, const char *tool, const char *line, size_t size,
                 const tg__rpc_message *message, int64_t now_ms) {
    tg__call *call = NULL;
    char *copy = malloc(size);
    if (copy == NULL ||
        tg__calls_add(&session->calls, message->id_text, message->id, &call) != TG_OK) {
        free(copy);
        refuse(session, message->id, tool, TG__MCP_STOP_BUSY, NULL, now_ms);
        return;
    }
    memcpy(copy, line, size);
    call->kind = TG__CALL_PARKED;
    call->parked = copy;
    call->parked_size = size;
    call->deadline_ms = now_ms + session->options.config->call_timeout_ms;
    snprintf(call->tool, sizeof call->tool, "%s", tool);
    if (!session->own_listing) {
        send_own_list(session, NULL, now_ms);
    }
}

bool tg__relay_tool_known(tg__mcp_session *session, const char *tool, const char *line, size_t size,
                          const tg__rpc_message *message, int64_t now_ms) {
    if (find(session, tool) != NULL || session->known_full) {
        return true;
    }
    if (session->listed && !session->listed_stale) {
        tg__relay_log(session, "refused a call to '%s': the server does not list that tool", tool);
        refuse(session, message->id, tool, TG__MCP_STOP_UNLISTED, NULL, now_ms);
        return false;
    }
    park(session, tool, line, size, message, now_ms);
    return false;
}

/* Every parked call goes on (now that the server's tools are known), in arrival order. */
static void resume_parked(tg__mcp_session *session, int64_t now_ms) {
    for (;;) {
        size_t at = 0;
        while (at < session->calls.count && session->calls.items[at].kind != TG__CALL_PARKED) {
            at++;
        }
        if (at == session->calls.count) {
            return;
        }
        char *line = session->calls.items[at].parked;
        size_t size = session->calls.items[at].parked_size;
        session->calls.items[at].parked = NULL;
        tg__calls_remove(&session->calls, at);
        tg__rpc_message message;
        tg__rpc_parse(line, size, &message);
        if (message.kind == TG__RPC_REQUEST) {
            tg__relay_tool_call(session, line, size, &message, now_ms);
        }
        tg__rpc_message_clear(&message);
        free(line);
    }
}

void tg__relay_own_list_result(tg__mcp_session *session, const tg__rpc_message *message,
                               int64_t now_ms) {
    if (message->result == NULL) {
        tg__relay_log(session, "the server answered Tollgate's tools/list with an error");
        tg__relay_own_list_failed(session);
        return;
    }
    size_t i;
    json_t *tool;
    json_array_foreach(json_object_get(message->result, "tools"), i, tool) {
        json_t *name = json_object_get(tool, "name");
        const char *text = json_string_value(name);
        if (text != NULL && strlen(text) == json_string_length(name) &&
            strlen(text) < TG_NAME_SIZE_MAX) {
            bool shown = (session->withdrawn & (1u << tg__relay_classify(session, text))) == 0;
            tg__relay_listing_remember(session, text, shown);
        }
    }
    tg__relay_listing_schemas(session, message);
    json_t *cursor = json_object_get(message->result, "nextCursor");
    if (json_is_string(cursor)) {
        send_own_list(session, cursor, now_ms);
        return;
    }
    tg__relay_listing_page_done(session, message);
    session->own_listing = false;
    resume_parked(session, now_ms);
}

void tg__relay_own_list_failed(tg__mcp_session *session) {
    session->own_listing = false;
    /* The parked calls are refused by the next tick (their deadline is now). */
    for (size_t i = 0; i < session->calls.count; i++) {
        if (session->calls.items[i].kind == TG__CALL_PARKED) {
            session->calls.items[i].deadline_ms = INT64_MIN;
        }
    }
}
