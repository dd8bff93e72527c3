/*
 * refusal: sentences are built for a language model to act on: the first says
 * what happened, the next what would help. Amounts are printed as exact decimal
 * money (tg_money_format), never through floating point.
 */
#include <stdio.h>
#include <time.h>

#include "mcp/jsonrpc.h"
#include "mcp/refusal.h"
#include "proxy/next.h"

static const char *why(tg_reason reason) {
    switch (reason) {
    case TG_REASON_REVOKED:
        return "the call would take this impact class past its ceiling on the budget (the "
               "revocation threshold for routine work), which keeps the rest for critical work";
    case TG_REASON_CEILING:
        return "the call would pass the budget's hard limit";
    case TG_REASON_FROZEN:
        return "an administrator froze the budget";
    case TG_REASON_CALLS:
        return "the budget's call limit is reached (the task's call cap)";
    case TG_REASON_TOKENS:
        return "the budget's token limit is reached";
    case TG_REASON_OVERRUN:
        return "the budget's spend is above its hard limit after an overrun, so every call is "
               "refused there until the window rolls over or an administrator raises the limit";
    default:
        return "the budget refused it";
    }
}

/* "Retry after 2025-01-02T03:04:05Z (in 61 s)." or what else might help. */
static void retry_sentence(const tg_refusal *refusal, int64_t now_ms, char *out, size_t size) {
    if (refusal->retry_after_ms == TG_NONE) {
        snprintf(out, size,
                 "Retrying will not help: only a person can (raise the limit, "
                 "unfreeze the budget, or wait for a new window where there is one).");
        return;
    }
    time_t at = (time_t)((now_ms + refusal->retry_after_ms + 999) / 1000);
    struct tm tm;
    char stamp[32] = "?";
    if (gmtime_r(&at, &tm) != NULL) {
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    snprintf(out, size, "Retry after %s (in %lld s).", stamp,
             (long long)((refusal->retry_after_ms + 999) / 1000));
}

json_t *tg__mcp_refusal_result(const json_t *id, const char *tool, tg_class cls,
                               const tg_refusal *refusal, int64_t asked_micros, bool structured,
                               int64_t now_ms) {
    char max[32], retry[160], text[1024];
    tg_money_format(refusal->max_amount_micros, max, sizeof max);
    retry_sentence(refusal, now_ms, retry, sizeof retry);
    snprintf(text, sizeof text,
             "Tollgate refused the call to tool '%s' (%s impact): budget %s, reason %s: %s. The "
             "largest amount a %s-impact call may hold there now is %s. %s",
             tool, tg_class_str(cls), refusal->budget, tg_reason_str(refusal->reason),
             why(refusal->reason), tg_class_str(cls), max, retry);
    json_t *retry_after = refusal->retry_after_ms == TG_NONE
                              ? json_null()
                              : json_integer((json_int_t)refusal->retry_after_ms);
    json_t *next =
        tg__next_steps(now_ms, refusal->retry_after_ms, refusal->max_amount_micros, asked_micros);
    json_t *facts = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:o}", "budget", refusal->budget, "reason",
                              tg_reason_str(refusal->reason), "class", tg_class_str(cls), "tool",
                              tool, "max_amount_micros", (json_int_t)refusal->max_amount_micros,
                              "retry_after_ms", retry_after, "next", next);
    json_t *meta = facts != NULL ? json_pack("{s:O}", "tollgate/refusal", facts) : NULL;
    json_t *message = tg__rpc_tool_error(id, text, meta);
    json_t *result = json_object_get(message, "result");
    if (structured && result != NULL) {
        json_object_set_new(result, "structuredContent",
                            json_pack("{s:O}", "tollgate_refusal", facts));
    }
    json_decref(facts);
    return message;
}

const char *tg__mcp_stop_str(tg__mcp_stop stop) {
    static const char *const names[] = {"call_cap",     "revoked", "timeout", "server_exited",
                                        "ledger_error", "busy",    "unlisted"};
    return (unsigned)stop < sizeof names / sizeof names[0] ? names[stop] : "stopped";
}

int64_t tg__mcp_stop_retry_ms(tg__mcp_stop stop) {
    switch (stop) {
    case TG__MCP_STOP_TIMEOUT:
        return 0; /* the text says "you may retry": the server may answer the next one */
    case TG__MCP_STOP_LEDGER:
        return TG__MCP_STOP_RETRY_LEDGER_MS;
    case TG__MCP_STOP_BUSY:
        return TG__MCP_STOP_RETRY_BUSY_MS;
    default:
        return TG_NONE; /* a cap, a revoked class, a server gone, an unlisted tool */
    }
}

json_t *tg__mcp_stop_result(const json_t *id, const char *tool, const char *budget,
                            tg__mcp_stop stop, int64_t number, const char *detail, int64_t now_ms) {
    char text[1024];
    const char *extra = detail != NULL ? detail : "";
    const char *space = detail != NULL ? " " : "";
    switch (stop) {
    case TG__MCP_STOP_CAP:
        snprintf(text, sizeof text,
                 "Tollgate refused the call to tool '%s': this task has used its cap of %lld tool "
                 "calls (budget %s). Finish with what you have, or ask a person to start a new "
                 "task.%s%s",
                 tool, (long long)number, budget, space, extra);
        break;
    case TG__MCP_STOP_REVOKED:
        snprintf(text, sizeof text,
                 "Tollgate cancelled the call to tool '%s' while it ran: its impact class was "
                 "revoked on budget %s. It is charged only if the server still finishes it.%s%s",
                 tool, budget, space, extra);
        break;
    case TG__MCP_STOP_TIMEOUT:
        snprintf(
            text, sizeof text,
            "Tollgate cancelled the call to tool '%s': the MCP server did not answer within "
            "%lld ms; you may retry. It is charged only if the server still finishes it (budget "
            "%s).%s%s",
            tool, (long long)number, budget, space, extra);
        break;
    case TG__MCP_STOP_SERVER:
        snprintf(text, sizeof text,
                 "The MCP server behind Tollgate exited before answering the call to tool '%s'. "
                 "Nothing was charged (budget %s).%s%s",
                 tool, budget, space, extra);
        break;
    case TG__MCP_STOP_LEDGER:
        snprintf(text, sizeof text,
                 "Tollgate could not record the call to tool '%s' on budget %s, so it did not run "
                 "it.%s%s",
                 tool, budget, space, extra);
        break;
    case TG__MCP_STOP_UNLISTED:
        snprintf(text, sizeof text,
                 "Tollgate refused the call to tool '%s': the MCP server does not list a tool of "
                 "that name (tools/list), so the call was not sent and nothing was charged "
                 "(budget %s). Call one of the tools the server lists.%s%s",
                 tool, budget, space, extra);
        break;
    default:
        snprintf(text, sizeof text,
                 "Tollgate refused the call to tool '%s': %lld calls are already waiting for the "
                 "MCP server; retry when some have finished (budget %s).%s%s",
                 tool, (long long)number, budget, space, extra);
        break;
    }
    /* Nothing was asked of the ledger's room, so there is nothing to shrink to. */
    json_t *next = tg__next_steps(now_ms, tg__mcp_stop_retry_ms(stop), -1, -1);
    json_t *meta = json_pack("{s:{s:s,s:s,s:s,s:o}}", "tollgate/refusal", "budget", budget,
                             "reason", tg__mcp_stop_str(stop), "tool", tool, "next", next);
    return tg__rpc_tool_error(id, text, meta);
}
