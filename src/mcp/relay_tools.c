/*
 * relay_tools: which tools the agent may see. A tool is withdrawn while its
 * impact class is revoked on any budget of the session's path (or the path is
 * frozen): listing a tool the ledger will refuse would only invite the model
 * to call it. Critical tools stay listed until spend reaches the hard limit.
 * The gateway remembers the names it listed so that, when revocation changes,
 * it tells the agent (notifications/tools/list_changed) only if the listing
 * it saw would now be different.
 */
#include <stdlib.h>
#include <string.h>

#include "mcp/relay_internal.h"
#include "mcp/rewrite.h"

tg_class tg__relay_classify(const tg__mcp_session *session, const char *tool) {
    const tg__mcp_tool_rule *rule = tg__mcp_tools_match(&session->options.config->tools, tool);
    if (rule != NULL && rule->cls != TG_CLASS_AUTO) {
        return rule->cls;
    }
    return tg_policy_classify(session->options.engine, session->budget, tool, NULL);
}

static bool visible(const tg__mcp_session *session, const char *tool) {
    return (session->withdrawn & (1u << tg__relay_classify(session, tool))) == 0;
}

unsigned tg__relay_withdrawn(tg__mcp_session *session, int64_t now_ms) {
    unsigned mask = 0;
    char path[TG_PATH_SIZE_MAX];
    memcpy(path, session->budget, sizeof path);
    /* The budget, then each ancestor: cut the path at its last '/'. */
    for (;;) {
        tg_budget_info info;
        if (tg_budget_get(session->options.engine, path, now_ms, &info, NULL) == TG_OK) {
            mask |= info.frozen ? TG__MCP_CLASS_ALL : 0;
            for (int c = 0; c < TG_CLASS_COUNT; c++) {
                mask |= info.revoked[c] ? 1u << c : 0;
            }
        }
        char *slash = strrchr(path, '/');
        if (slash == NULL) {
            return mask;
        }
        *slash = '\0';
    }
}

static bool keep_tool(void *user, const char *tool) {
    tg__mcp_session *session = user;
    bool shown = visible(session, tool);
    tg__relay_listing_remember(session, tool, shown);
    return shown;
}

void tg__relay_tools_list(tg__mcp_session *session, const tg__call *call, const char *line,
                          size_t size, const tg__rpc_message *message) {
    if (call->first_page) {
        tg__relay_listing_start(session);
    }
    char *filtered = NULL;
    size_t filtered_size = 0;
    tg_status status =
        tg__mcp_filter_tools(line, size, message, keep_tool, session, &filtered, &filtered_size);
    if (status == TG_ERR_NOMEM) {
        /* Never list what is withdrawn: answer an error rather than the unfiltered list. */
        tg__relay_send_json(session, true,
                            tg__rpc_error(call->id, TG__RPC_SERVER_GONE,
                                          "Tollgate ran out of memory filtering tools/list"));
        return;
    }
    if (filtered != NULL) {
        session->options.to_agent(session->options.user, filtered, filtered_size);
        free(filtered);
    } else {
        session->options.to_agent(session->options.user, line, size);
    }
    tg__relay_listing_schemas(session, message);
    tg__relay_listing_page_done(session, message);
}

/* Cancels live calls whose holds the ledger told to stop (their class was revoked). */
static void cancel_told(tg__mcp_session *session, int64_t now_ms) {
    for (size_t i = session->calls.count; i-- > 0;) {
        tg__call *call = &session->calls.items[i];
        tg_hold_info hold;
        if (call->kind != TG__CALL_TOOL || call->state != TG__CALL_LIVE || call->hold_id == 0 ||
            tg_hold_get(session->options.engine, call->hold_id, &hold, NULL) != TG_OK ||
            !hold.cancel_requested) {
            continue;
        }
        tg__relay_log(session, "cancelling '%s' in flight: %s-impact calls revoked", call->tool,
                      tg_class_str(call->cls));
        tg__relay_stop_call(session, call, TG__MCP_STOP_REVOKED, now_ms);
    }
}

void tg__mcp_session_refresh(tg__mcp_session *session, int64_t now_ms) {
    session->dirty = false;
    cancel_told(session, now_ms);
    unsigned withdrawn = tg__relay_withdrawn(session, now_ms);
    bool changed = withdrawn != session->withdrawn;
    session->withdrawn = withdrawn;
    /* Recomputed for every known tool, since a config reload may also move a tool's class. */
    bool listing_changed = changed && session->known_count == 0;
    for (size_t i = 0; i < session->known_count; i++) {
        bool shown = visible(session, session->known[i].name);
        listing_changed = listing_changed || shown != session->known[i].visible;
        session->known[i].visible = shown;
    }
    if (listing_changed && session->initialized) {
        tg__relay_log(session, "tools withdrawn or restored (revoked classes 0x%x): list_changed",
                      withdrawn);
        session->stats.list_changed++;
        tg__relay_send_json(session, true,
                            tg__rpc_notification("notifications/tools/list_changed", NULL));
    }
}
