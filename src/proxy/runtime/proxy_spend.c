/*
 * proxy_spend: what a proxied call tells about its money, in three places.
 *
 * - Response headers (docs/proxy.md, "Cost in the response"): x-tollgate-budget (the
 *   budget charged), x-tollgate-hold-micros (the worst case held), x-tollgate-cost-micros
 *   (what was charged: plain answers only, since a stream's headers go out before its
 *   usage is known) and x-tollgate-remaining-micros (what the call's class could still
 *   hold on the tightest budget of the path, after this call; absent when no budget on
 *   the path has a cost limit).
 * - A stream's final SSE comment, after the provider's own last event and before the
 *   end of the body: ": tollgate hold_micros=H cost_micros=C remaining_micros=R
 *   budget=PATH". SSE parsers skip comment lines (the `openai` and `@anthropic-ai/sdk`
 *   decoders among them), so clients see nothing new.
 * - The spend log: one tg__call_row per metered call, journaled beside its charge.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/call_log.h"
#include "proxy/runtime/proxy_internal.h"

_Static_assert(TG__USER_SIZE_MAX == TG__CALL_USER_SIZE_MAX, "a call's user fits its log row");
_Static_assert(TG__TAGS_SIZE_MAX == TG__CALL_TAGS_SIZE_MAX, "a call's tags fit its log row");

/* What the call's class could still hold on the tightest budget from its budget up to the
 * root; TG_NONE when none of them limits cost. */
static int64_t remaining_micros(const proxy_call *call) {
    char path[TG_PATH_SIZE_MAX];
    snprintf(path, sizeof path, "%s", call->budget);
    int64_t least = TG_NONE;
    int64_t now_ms = tg__now_ms();
    int cls = call->cls >= 0 && call->cls < TG_CLASS_COUNT ? (int)call->cls : TG_CLASS_NORMAL;
    while (path[0] != '\0') {
        tg_budget_info info;
        if (tg_budget_get(call->proxy->daemon->engine, path, now_ms, &info, NULL) == TG_OK) {
            int64_t here = info.remaining_micros[cls];
            if (here != TG_NONE && (least == TG_NONE || here < least)) {
                least = here;
            }
        }
        char *slash = strrchr(path, '/');
        if (slash == NULL) {
            break;
        }
        *slash = '\0';
    }
    return least;
}

void tg__proxy_cost_headers(proxy_call *call) {
    if (call->budget[0] == '\0') {
        return;
    }
    tg__proxy_reply_header(call, "x-tollgate-budget", call->budget);
    tg__proxy_reply_number(call, "x-tollgate-hold-micros", call->held_micros);
    if (call->settled.charged) {
        tg__proxy_reply_number(call, "x-tollgate-cost-micros", call->settled.cost_micros);
    } else if (!call->streaming && call->hold_id == 0 && call->outcome != NULL &&
               strcmp(call->outcome, "background") != 0) {
        tg__proxy_reply_number(call, "x-tollgate-cost-micros", 0); /* released: nothing charged */
    }
    int64_t remaining = remaining_micros(call);
    if (remaining != TG_NONE) {
        tg__proxy_reply_number(call, "x-tollgate-remaining-micros", remaining);
    }
}

void tg__proxy_cost_comment(proxy_call *call, tg__buf *out) {
    if (call->budget[0] == '\0') {
        return;
    }
    int64_t remaining = remaining_micros(call);
    char remaining_text[32] = "none";
    if (remaining != TG_NONE) {
        snprintf(remaining_text, sizeof remaining_text, "%" PRId64, remaining);
    }
    /* A comment line, then a blank line: a parser that buffered a partial event (there
     * is none after the last event) dispatches nothing, since a comment carries no data. */
    tg__buf_printf(out,
                   ": tollgate hold_micros=%" PRId64 " cost_micros=%" PRId64
                   " remaining_micros=%s budget=%s\n\n",
                   call->held_micros, call->settled.charged ? call->settled.cost_micros : 0,
                   remaining_text, call->budget);
}

/* Journals a row; a failure is logged (the engine has failed: the daemon stops anyway). */
static void log_row(tg__proxy *proxy, const tg__call_row *row) {
    tg_error err = {0};
    if (tg__engine_call_log(proxy->daemon->engine, row, row->time_ms, &err) != TG_OK) {
        fprintf(stderr, "tollgate: proxy: spend log: %s\n", err.message);
    }
}

static void usage_counts(tg__call_row *row, const tg__usage *usage) {
    row->tokens_in = usage->counts[TG__UNIT_INPUT];
    row->tokens_out = usage->counts[TG__UNIT_OUTPUT];
    row->tokens_cached = usage->counts[TG__UNIT_CACHE_READ];
    row->tokens_reasoning = usage->counts[TG__UNIT_OUTPUT_REASONING];
}

void tg__proxy_run_log(tg__proxy *proxy, const tg__proxy_run *run, const tg__proxy_settled *settled,
                       const tg__usage *usage) {
    tg__call_row row;
    memset(&row, 0, sizeof row);
    row.time_ms = tg__now_ms();
    row.charge_id = settled->charge_id;
    snprintf(row.request_id, sizeof row.request_id, "%s", run->id); /* the response's id */
    snprintf(row.provider, sizeof row.provider, "openai");
    snprintf(row.route, sizeof row.route, "%s", tg__route_name(TG__ROUTE_OPENAI_RESPONSES));
    snprintf(row.model, sizeof row.model, "%s", run->model);
    snprintf(row.budget, sizeof row.budget, "%s", run->budget);
    snprintf(row.key, sizeof row.key, "%s", run->owner);
    snprintf(row.user, sizeof row.user, "%s", run->user);
    snprintf(row.tags, sizeof row.tags, "%s", run->tags);
    if (usage != NULL) {
        usage_counts(&row, usage);
    }
    row.cost_micros = settled->charged ? settled->cost_micros : 0;
    row.held_micros = run->hold_micros;
    row.latency_ms = run->started_ms > 0 ? row.time_ms - run->started_ms : 0;
    row.status = 200;
    snprintf(row.outcome, sizeof row.outcome, "%s",
             usage != NULL ? "background_ended" : "no_usage");
    log_row(proxy, &row);
}

/* snprintf(out, size, "%s", text) without printf's machinery: nine of these per call
 * cost more than the rest of the row. Cut to size - 1 bytes, always terminated. */
static void copy_text(char *out, size_t size, const char *text) {
    size_t length = strnlen(text, size - 1);
    memcpy(out, text, length);
    out[length] = '\0';
}

void tg__proxy_call_log(proxy_call *call) {
    if (call->budget[0] == '\0') {
        return; /* refused before it was read: nothing to attribute */
    }
    tg__call_row row;
    memset(&row, 0, sizeof row);
    row.time_ms = tg__now_ms();
    row.charge_id = call->settled.charge_id;
    copy_text(row.request_id, sizeof row.request_id, call->request_id);
    /* A configured OpenAI-compatible upstream is logged by its own name ("groq"). */
    copy_text(row.provider, sizeof row.provider,
              call->upstream != NULL && call->upstream->name[0] != '\0' ? call->upstream->name
                                                                        : call->provider->name);
    copy_text(row.route, sizeof row.route, tg__route_name(call->route));
    copy_text(row.model, sizeof row.model, call->parsed.info.model);
    copy_text(row.budget, sizeof row.budget, call->budget);
    copy_text(row.key, sizeof row.key, call->owner);
    copy_text(row.user, sizeof row.user, call->user);
    copy_text(row.tags, sizeof row.tags, call->tags);
    if (call->usage_known) {
        usage_counts(&row, &call->usage);
    }
    row.cost_micros = call->settled.charged ? call->settled.cost_micros : 0;
    row.held_micros = call->held_micros;
    row.latency_ms = row.time_ms - call->started_ms;
    row.status = call->reply_status;
    copy_text(row.outcome, sizeof row.outcome, call->outcome != NULL ? call->outcome : "unknown");
    log_row(call->proxy, &row);
}
