/*
 * proxy_reply: the upstream's answer, passed to the client, and the call's
 * settlement. A plain answer is read whole, its usage priced and committed,
 * then sent. A stream is passed on whole event by whole event as it arrives
 * (the SSE parser says where each event ends), its output counted; when the
 * hold is used up, or the call's class is revoked, the stream is ended in the
 * provider's own format and the upstream transfer aborted.
 *
 * Settlement, whatever happens: an answer or error that reports usage commits its
 * price; a stream commits the provider's final usage; when no usage came (a body
 * without it, a stream cut, broken or left by its client before its last event, a
 * plain call whose client left or that timed out) the held worst case is charged,
 * since the provider may have done the work. Only an error without usage, or an
 * upstream never reached, releases the hold. A hold that expired mid-call is
 * charged by a forced record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "proxy/numbers.h"
#include "proxy/refusal.h"
#include "proxy/tool_fees.h"
#include "proxy/usage.h"
#include "proxy/runtime/proxy_internal.h"

/* Upstream response headers not passed on: hop-by-hop, or set by libevent. By length
 * first: every header of every reply is looked up here. */
static bool dropped(const char *name, size_t size) {
    static const char *const DROPPED_HEADERS[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive", "date",
        "server",         "content-encoding",  NULL};
    for (int i = 0; DROPPED_HEADERS[i] != NULL; i++) {
        if (strlen(DROPPED_HEADERS[i]) == size &&
            strncasecmp(name, DROPPED_HEADERS[i], size) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- settlement ----------------------------------------------------------------- */

/* The hold expired while the call ran (a call longer than max_hold_ttl_ms): the money
 * was spent all the same, so it is charged by a forced record (an overrun if it passes
 * a limit, reported and locking the path, docs/overruns). */
static void record_forced(tg__proxy *proxy, const tg__proxy_hold *hold, int64_t cost_micros,
                          const tg__usage *usage, tg__proxy_settled *settled) {
    tg_record_request request = {.budget = hold->budget,
                                 .cost_micros = cost_micros,
                                 .tokens_in = usage ? usage->counts[TG__UNIT_INPUT] : 0,
                                 .tokens_out = usage ? usage->counts[TG__UNIT_OUTPUT] : 0,
                                 .cls = TG_CLASS_AUTO,
                                 .tool = tg__route_name(hold->route),
                                 .model = hold->model,
                                 .force = true};
    tg_record_result result;
    tg_error err = {0};
    if (tg_record(proxy->daemon->engine, &request, tg__now_ms(), &result, &err) != TG_OK) {
        fprintf(stderr, "tollgate: proxy: recording an expired hold's call: %s\n", err.message);
    } else if (result.charged) {
        *settled = (tg__proxy_settled){true, result.charge_id, cost_micros};
    }
}

/* Commits cost_micros (usage may be NULL: the worst case, usage unknown). */
static tg__proxy_settled commit_cost(tg__proxy *proxy, const tg__proxy_hold *hold,
                                     int64_t cost_micros, const tg__usage *usage) {
    tg__proxy_settled settled = {false, 0, 0};
    tg_commit_request request = {hold->hold_id,
                                 cost_micros,
                                 usage ? usage->counts[TG__UNIT_INPUT] : 0,
                                 usage ? usage->counts[TG__UNIT_OUTPUT] : 0,
                                 NULL,
                                 false};
    tg_commit_result result;
    tg_error err = {0};
    tg_status status = tg_commit(proxy->daemon->engine, &request, tg__now_ms(), &result, &err);
    if (status == TG_ERR_NOT_FOUND && hold->budget[0] != '\0') {
        record_forced(proxy, hold, cost_micros, usage, &settled);
    } else if (status != TG_OK) {
        fprintf(stderr, "tollgate: proxy: settling hold %llu: %s\n",
                (unsigned long long)hold->hold_id, err.message);
    } else {
        settled = (tg__proxy_settled){true, result.charge_id, result.charged_micros};
    }
    return settled;
}

/* Remembers a Responses call's context for a later previous_response_id (chains.h). */
static void remember_chain(tg__proxy *proxy, tg__route route, const char *conversation,
                           const char *id, const tg__usage *usage) {
    if (route != TG__ROUTE_OPENAI_RESPONSES || usage == NULL || usage->estimated) {
        return;
    }
    int64_t tokens = usage->counts[TG__UNIT_INPUT] + usage->counts[TG__UNIT_OUTPUT];
    if (id != NULL && id[0] != '\0') {
        tg__chains_put(proxy->chains, id, tokens);
    }
    if (conversation[0] != '\0') {
        tg__chains_put(proxy->chains, conversation, tokens);
    }
}

tg__proxy_settled tg__proxy_hold_settle(tg__proxy *proxy, const tg__proxy_hold *hold,
                                        const tg__usage *usage, int64_t fee_micros, bool release) {
    tg__proxy_settled settled = {false, 0, 0};
    if (hold->hold_id == 0) {
        return settled;
    }
    if (release) {
        tg_error err = {0};
        if (tg_release(proxy->daemon->engine, hold->hold_id, NULL, tg__now_ms(), NULL, &err) !=
                TG_OK &&
            err.status != TG_ERR_NOT_FOUND) {
            fprintf(stderr, "tollgate: proxy: releasing hold %llu: %s\n",
                    (unsigned long long)hold->hold_id, err.message);
        }
    } else if (usage == NULL) {
        settled = commit_cost(proxy, hold, hold->hold_micros, NULL);
    } else {
        int64_t cost_micros = hold->hold_micros;
        if (tg__cost_micros(hold->price, usage, &cost_micros) != TG_OK) {
            cost_micros = hold->hold_micros; /* a report out of range: charge the worst case */
        }
        cost_micros = tg__sat_add(cost_micros, fee_micros > 0 ? fee_micros : 0);
        if (cost_micros > TG_AMOUNT_MAX) {
            cost_micros = TG_AMOUNT_MAX;
        }
        /* A usage Tollgate estimated is never charged above the hold: the hold is the bound. */
        if (usage->estimated && cost_micros > hold->hold_micros) {
            cost_micros = hold->hold_micros;
        }
        /* The upstream billed more than its usage prices at (OpenRouter's usage.cost): that
         * much, up to the hold, so the hard limit still holds. */
        int64_t floor_micros = hold->cost_floor_micros < hold->hold_micros ? hold->cost_floor_micros
                                                                           : hold->hold_micros;
        if (cost_micros < floor_micros) {
            cost_micros = floor_micros;
        }
        settled = commit_cost(proxy, hold, cost_micros, usage);
    }
    proxy->flush(proxy->flush_user);
    return settled;
}

tg__proxy_hold tg__proxy_call_hold(const proxy_call *call) {
    return (tg__proxy_hold){call->hold_id,
                            call->hold_micros,
                            &call->price,
                            call->budget,
                            call->parsed.info.model,
                            call->route,
                            0};
}

/* What the upstream said it billed (providers with reports_cost), 0 when it did not say.
 * Each report is counted, and one that differs from the proxy's own price by more than a
 * micro (rounding) is counted again and logged: the price data or the routing is off. */
static int64_t reported_cost(proxy_call *call, const tg__usage *usage, int64_t fee_micros) {
    int64_t reported =
        call->streaming ? call->stream.cost_reported_micros : call->cost_reported_micros;
    if (!call->provider->reports_cost || reported < 0) {
        return 0;
    }
    int64_t own_micros = 0;
    if (tg__cost_micros(&call->price, usage, &own_micros) != TG_OK) {
        own_micros = call->hold_micros;
    }
    own_micros = tg__sat_add(own_micros, fee_micros > 0 ? fee_micros : 0);
    tg__metrics *metrics = &call->proxy->daemon->metrics;
    metrics->cost_reports++;
    if (reported > own_micros + 1 || reported < own_micros - 1) {
        metrics->cost_disagreements++;
        fprintf(
            stderr,
            "tollgate: proxy: %s model %s: the upstream billed %lld micros, its usage prices at "
            "%lld; charging the larger, at most the hold (%lld)\n",
            call->upstream->name, call->parsed.info.model, (long long)reported,
            (long long)own_micros, (long long)call->hold_micros);
    }
    return reported;
}

/* Commits `usage` (plus fees) at the call's prices, or releases the hold when usage is
 * NULL. */
static void settle_fees(proxy_call *call, const tg__usage *usage, int64_t fee_micros) {
    tg__proxy_hold hold = tg__proxy_call_hold(call);
    if (call->hold_id != 0 && usage != NULL) {
        hold.cost_floor_micros = reported_cost(call, usage, fee_micros);
    }
    if (call->hold_id != 0) {
        call->settled = tg__proxy_hold_settle(call->proxy, &hold, usage, fee_micros, usage == NULL);
        if (usage != NULL) {
            call->usage = *usage;
            call->usage_known = true;
        }
    }
    call->hold_id = 0;
}

/* Fees a successful answer bills beyond its tokens and its output items: chat's one
 * web search per call with web_search_options. */
static int64_t request_fee_micros(const proxy_call *call) {
    return call->route == TG__ROUTE_OPENAI_CHAT ? tg__chat_search_fee_micros(call->parsed.body) : 0;
}

static void settle(proxy_call *call, const tg__usage *usage) {
    settle_fees(call, usage, 0);
}

/* Commits the hold's whole amount: the call happened but its usage is unknown. */
static void settle_worst(proxy_call *call) {
    tg__proxy_hold hold = tg__proxy_call_hold(call);
    if (call->hold_id != 0) {
        call->settled = tg__proxy_hold_settle(call->proxy, &hold, NULL, 0, false);
        call->outcome = call->outcome != NULL ? call->outcome : "no_usage";
    }
    call->hold_id = 0;
}

void tg__proxy_run_settle(tg__proxy *proxy, tg__proxy_run *run, const tg__usage *usage,
                          int64_t fee_micros) {
    if (run->hold_id == 0) {
        return; /* settled already (a second cancel, a repeated retrieve) */
    }
    tg__proxy_hold hold = {run->hold_id,
                           run->hold_micros,
                           &run->price,
                           run->budget,
                           run->model,
                           TG__ROUTE_OPENAI_RESPONSES,
                           0};
    tg__proxy_settled settled = tg__proxy_hold_settle(proxy, &hold, usage, fee_micros, false);
    tg__proxy_run_log(proxy, run, &settled, usage);
    remember_chain(proxy, TG__ROUTE_OPENAI_RESPONSES, run->conversation, run->id, usage);
    tg__proxy_run_closed(proxy->runs, run);
}

/* ---- headers -------------------------------------------------------------------- */

size_t tg__proxy_on_header(char *data, size_t size, size_t count, void *user) {
    proxy_call *call = user;
    call->last_byte_ms = tg__now_ms();
    size_t length = size * count;
    if (length >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        call->answered = true;                  /* too late for a fallback's timeout */
        tg__buf_reset(&call->response_headers); /* a new response (after a 100 Continue) */
        return length;
    }
    const char *colon = memchr(data, ':', length);
    if (colon == NULL) {
        return length;
    }
    size_t name_size = (size_t)(colon - data);
    if (!tg__header_name_valid(data, name_size) || dropped(data, name_size)) {
        return length; /* not a header name (a folded line among them): not passed on */
    }
    size_t value_size = length - name_size - 1;
    const char *value = colon + 1;
    while (value_size > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_size--;
    }
    while (value_size > 0 && (value[value_size - 1] == '\r' || value[value_size - 1] == '\n')) {
        value_size--;
    }
    /* The provider's id of the call (OpenAI x-request-id, Anthropic request-id), for the
     * spend log; one that does not fit is not kept rather than cut. */
    if (((name_size == 12 && strncasecmp(data, "x-request-id", 12) == 0) ||
         (name_size == 10 && strncasecmp(data, "request-id", 10) == 0)) &&
        value_size < sizeof call->request_id) {
        memcpy(call->request_id, value, value_size);
        call->request_id[value_size] = '\0';
    }
    const char *nul = memchr(value, '\0', value_size);
    value_size = nul != NULL ? (size_t)(nul - value) : value_size; /* as a C string ends */
    /* Past the limit a header is dropped rather than the call failed; one with a CR or LF
     * inside its value is dropped (header_lines.h). */
    (void)tg__header_line_add(&call->response_headers, data, name_size, value, value_size);
    return length;
}

/* Adds Tollgate's headers to the upstream's, and hands them all to the reply. */
static void add_headers(proxy_call *call, bool stream) {
    if (call->plan_header[0] != '\0') {
        tg__proxy_reply_header(call, "x-tollgate-plan", call->plan_header);
    }
    /* The model called and charged: after a switch, not the one the client asked for. */
    if (call->parsed.info.model[0] != '\0') {
        tg__proxy_reply_header(call, "x-tollgate-model", call->parsed.info.model);
    }
    /* The upstream that answered: after a fallback, not the one the call started on. */
    if (call->upstream != NULL) {
        tg__proxy_reply_header(call, "x-tollgate-upstream",
                               tg__proxy_upstream_label(&call->proxy->config, call->upstream));
    }
    if (call->metered || stream) {
        tg__proxy_cost_headers(call); /* a stream's: the hold and what remains; its cost comes
                                         at the end */
    }
    if (stream) {
        tg__proxy_reply_header(call, "Cache-Control", "no-cache");
    }
    tg__proxy_reply_headers_flush(call, stream ? "text/event-stream" : "application/json");
}

/* ---- plain answers -------------------------------------------------------------- */

static void send_plain(proxy_call *call, int status, const char *body, size_t size) {
    call->reply_status = status;
    struct evbuffer *buffer = evbuffer_new();
    evbuffer_add(buffer, body, size);
    evhttp_send_reply(call->request, status, status == 200 ? "OK" : "Error", buffer);
    evbuffer_free(buffer);
    call->replied = true;
}

void tg__proxy_send_error(proxy_call *call, int status, const char *code, const char *message) {
    call->outcome = call->outcome != NULL ? call->outcome : "error";
    tg__buf body;
    tg__buf_init(&body, 64 * 1024);
    tg__error_write(call->provider, status, code, message, &body);
    evhttp_add_header(evhttp_request_get_output_headers(call->request), "Content-Type",
                      "application/json");
    send_plain(call, status, body.data ? body.data : "{}", body.size);
    tg__buf_free(&body);
    call->proxy->daemon->metrics.errors++;
}

/* True when the upstream may have received the request: a failure to connect or
 * resolve bills nothing; anything later may have started the work. */
static bool request_sent(CURLcode result) {
    return result != CURLE_COULDNT_CONNECT && result != CURLE_COULDNT_RESOLVE_HOST &&
           result != CURLE_COULDNT_RESOLVE_PROXY;
}

/* The usage in a plain body (an answer, or an error that reports what it used), and for
 * the providers that report one, the cost it states (usage.cost) into
 * call->cost_reported_micros, from the same read of the answer. */
static bool body_usage(proxy_call *call, tg__usage *usage) {
    const char *body = call->response.data ? call->response.data : "";
    int64_t cost_micros = -1;
    if (tg__usage_read_body(call->route, body, call->response.size, usage,
                            call->provider->reports_cost ? &cost_micros : NULL, NULL) != TG_OK) {
        return false;
    }
    if (cost_micros >= 0) {
        call->cost_reported_micros = cost_micros;
    }
    return true;
}

/* A background run's status: "queued" or "in_progress" while it runs. */
static bool run_going(const json_t *response) {
    const char *status = json_string_value(json_object_get(response, "status"));
    return status != NULL && (strcmp(status, "queued") == 0 || strcmp(status, "in_progress") == 0);
}

/* Remembers who started a background run; with its hold still open when `open` (the
 * hold moves from the call to the run, and the call no longer settles it). */
static void keep_run(proxy_call *call, const char *id, bool open) {
    tg__proxy *proxy = call->proxy;
    tg__proxy_run *run = tg__proxy_run_put(proxy->runs, id);
    if (run == NULL) {
        if (open) {
            settle_worst(call); /* cannot follow it: charged as if it used its whole hold */
        }
        return;
    }
    snprintf(run->owner, sizeof run->owner, "%s", call->owner);
    if (!open || call->hold_id == 0) {
        return;
    }
    run->hold_id = call->hold_id;
    run->hold_micros = call->hold_micros;
    run->price = call->price;
    snprintf(run->budget, sizeof run->budget, "%s", call->budget);
    snprintf(run->model, sizeof run->model, "%s", call->parsed.info.model);
    snprintf(run->conversation, sizeof run->conversation, "%s", call->conversation);
    snprintf(run->user, sizeof run->user, "%s", call->user);
    snprintf(run->tags, sizeof run->tags, "%s", call->tags);
    run->started_ms = call->started_ms;
    /* Settled by the sweep before the engine would expire the hold and free its amount. */
    int64_t deadline_ms = tg__now_ms() + proxy->config.background_deadline_ms;
    int64_t before_expiry_ms = call->hold_expires_ms - 5 * TG__PROXY_SWEEP_INTERVAL_MS;
    run->deadline_ms = deadline_ms < before_expiry_ms ? deadline_ms : before_expiry_ms;
    tg__proxy_run_opened(proxy->runs);
    call->hold_id = 0;
}

/* A retrieve or cancel answered: a final response settles its background run. */
static void settle_retrieved(proxy_call *call) {
    tg__proxy_run *run = tg__proxy_run_find(call->proxy->runs, call->run_id);
    if (call->status != 200 || run == NULL || run->hold_id == 0) {
        return;
    }
    json_t *root =
        json_loadb(call->response.data ? call->response.data : "", call->response.size, 0, NULL);
    if (json_is_object(root) && !run_going(root) &&
        json_is_string(json_object_get(root, "status"))) {
        tg__usage usage;
        tg__tool_uses uses = {0};
        tg__tool_uses_add_response(&uses, root);
        bool reported = tg__usage_from_body(TG__ROUTE_OPENAI_RESPONSES, call->response.data,
                                            call->response.size, &usage, NULL) == TG_OK;
        tg__proxy_run_settle(call->proxy, run, reported ? &usage : NULL,
                             tg__tool_uses_fee_micros(&uses));
    }
    json_decref(root);
}

static void settle_plain(proxy_call *call) {
    if (!call->metered) {
        if (call->run_id[0] != '\0') {
            settle_retrieved(call);
        }
        return;
    }
    json_t *root = NULL;
    tg__tool_uses uses = {0};
    if (call->status == 200 && call->route == TG__ROUTE_OPENAI_RESPONSES) {
        root = json_loadb(call->response.data ? call->response.data : "", call->response.size, 0,
                          NULL);
        tg__tool_uses_add_response(&uses, root);
    }
    const char *id = json_string_value(json_object_get(root, "id"));
    tg__usage usage;
    bool kept = call->background && id != NULL && run_going(root);
    call->outcome = kept ? "background" : call->status == 200 ? "ok" : "upstream_error";
    if (kept) {
        keep_run(call, id, true); /* settled by a retrieve, a cancel or the deadline */
    } else if (body_usage(call, &usage)) {
        int64_t fees = tg__tool_uses_fee_micros(&uses);
        settle_fees(call, &usage,
                    call->status == 200 ? tg__sat_add(fees, request_fee_micros(call)) : fees);
        remember_chain(call->proxy, call->route, call->conversation, id, &usage);
    } else if (call->status == 200) {
        call->outcome = "no_usage";
        settle_worst(call); /* an answer without usage: the held worst case */
    } else {
        settle(call, NULL); /* the provider's error without usage: it bills nothing */
    }
    if (call->background && id != NULL && !kept) {
        keep_run(call, id, false); /* its owner may retrieve it */
    }
    json_decref(root);
}

static void finish_plain(proxy_call *call, CURLcode result) {
    if (result != CURLE_OK) {
        /* The upstream may have done the work (a client that left, a timeout): its
         * worst case is charged; only a call that never reached it is released. */
        call->outcome = call->client_gone                    ? "client_gone"
                        : result == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout"
                                                             : "upstream_failed";
        if (request_sent(result) && call->easy != NULL) {
            settle_worst(call);
        } else {
            settle(call, NULL);
        }
        char message[TG_ERROR_MESSAGE_SIZE];
        snprintf(message, sizeof message, "Tollgate: the upstream call failed: %s",
                 call->client_gone ? "the client left" : curl_easy_strerror(result));
        if (result == CURLE_OPERATION_TIMEDOUT) {
            tg__proxy_send_error(call, 504, "upstream_timeout", "Tollgate: the upstream timed out");
        } else {
            tg__proxy_send_error(call, 502, "upstream_error", message);
        }
        return;
    }
    settle_plain(call);
    add_headers(call, false);
    send_plain(call, call->status ? (int)call->status : 502,
               call->response.data ? call->response.data : "", call->response.size);
}

/* ---- streams ------------------------------------------------------------------- */

/* True when the stream must be cut: its class was revoked by an admin, or the upstream
 * went past the output cap it was given. A stream within its cap is never cut: the
 * hold covers it whole. Output counts are the provider's where it reports them as it
 * goes (Anthropic), else the events that carried text, each at least one token; a
 * generous margin keeps a provider that splits tokens across events from being cut. */
static bool used_up(proxy_call *call) {
    const tg__request_info *info = &call->parsed.info;
    int64_t cap = tg__request_output_bound(info, &call->price);
    if (cap > 0) {
        cap = cap > TG__USAGE_COUNT_MAX / info->output_rounds ? TG__USAGE_COUNT_MAX
                                                              : cap * info->output_rounds;
        int64_t reported = call->stream.reported.counts[TG__UNIT_OUTPUT];
        if (reported > cap || call->stream.text_events > 2 * cap + 16) {
            return true;
        }
    }
    tg_hold_info hold;
    return tg_hold_get(call->proxy->daemon->engine, call->hold_id, &hold, NULL) == TG_OK &&
           hold.cancel_requested;
}

/* One whole event from the upstream: passed on (unless hidden), then the hold checked.
 * The check follows the event so that the client never sees an ending out of order. */
static tg_status on_event(void *context, const tg__sse_event *event) {
    proxy_call *call = context;
    bool forward = true;
    tg_status status = tg__stream_event(&call->stream, event, &forward);
    if (status != TG_OK) {
        return status;
    }
    /* An event ending in a CRLF blank line (Gemini frames so) ends on its CR for the parser,
     * which reads the LF with the next byte: it goes with this event, or the last event of
     * a stream would reach the client without it, unterminated. */
    size_t end = event->end_offset;
    if (end > 0 && end < call->piece_size && call->piece[end - 1] == '\r' &&
        call->piece[end] == '\n') {
        end++;
    }
    if (forward) {
        status =
            tg__buf_append(&call->out, call->held.data ? call->held.data : "", call->held.size);
        if (status == TG_OK) {
            status =
                tg__buf_append(&call->out, call->piece + call->piece_used, end - call->piece_used);
        }
    }
    tg__buf_reset(&call->held);
    call->piece_used = end;
    if (status == TG_OK && !call->stream.finished && used_up(call)) {
        call->cut = true;
        return TG_ERR_STATE; /* stops the feed: nothing after the cut is passed on */
    }
    return status;
}

static void send_out(proxy_call *call) {
    if (call->out.size > 0 && !tg__proxy_client_gone(call)) {
        struct evbuffer *buffer = evbuffer_new();
        evbuffer_add(buffer, call->out.data, call->out.size);
        evhttp_send_reply_chunk(call->request, buffer);
        evbuffer_free(buffer);
    }
    tg__buf_reset(&call->out);
}

/* Ends the client's stream: Tollgate's ending when cut, an error event when the
 * upstream broke off, nothing more when it finished or the client left. The reply itself
 * ends in finish_stream, once the call is settled and its cost can be told. */
static void end_stream(proxy_call *call, const char *error_code, const char *error_message) {
    if (!call->stream.finished && !tg__proxy_client_gone(call)) {
        if (call->cut) {
            tg__usage usage;
            tg__stream_usage(&call->stream, call->parsed.info.prompt_tokens_estimate, &usage);
            tg__stream_write_end(&call->stream, &usage, tg__now_ms(), &call->out);
        } else if (error_code != NULL) {
            tg__error_write_event(call->route, error_code, error_message,
                                  call->stream.sequence_number, &call->out);
        }
    }
    send_out(call);
    call->replied = true;
}

/* The stream's last bytes: the cost comment (after the provider's own last event, so no
 * SDK sees anything but a comment it skips), then the end of the reply. */
static void close_stream(proxy_call *call) {
    if (call->reply_ended) {
        return;
    }
    if (!tg__proxy_client_gone(call)) {
        tg__proxy_cost_comment(call, &call->out);
        send_out(call);
    }
    evhttp_send_reply_end(call->request);
    call->reply_ended = true;
}

/* A stream goes out as many small writes, each soon after the last: without
 * TCP_NODELAY, Nagle holds each one until the client acknowledges the one before. */
static void set_no_delay(proxy_call *call) {
    struct evhttp_connection *connection = evhttp_request_get_connection(call->request);
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    evutil_socket_t fd = events != NULL ? bufferevent_getfd(events) : -1;
    if (fd >= 0) {
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
}

static void start_stream(proxy_call *call) {
    set_no_delay(call);
    tg__stream_init(&call->stream, call->route, call->parsed.info.model,
                    call->parsed.info.stream_usage);
    add_headers(call, true);
    call->reply_status = 200;
    evhttp_send_reply_start(call->request, 200, "OK");
    call->streaming = true;
}

/* Returns the bytes taken; anything else makes curl abort the transfer. */
size_t tg__proxy_on_body(char *data, size_t size, size_t count, void *user) {
    proxy_call *call = user;
    call->last_byte_ms = tg__now_ms();
    size_t length = size * count;
    if (call->status == 0) {
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->status);
        /* A stream request answered with one JSON body is read as a plain answer. */
        char *type = NULL;
        curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &type);
        bool event_stream = type == NULL || strncasecmp(type, "text/event-stream", 17) == 0;
        if (call->status == 200 && call->metered && call->parsed.info.stream && event_stream) {
            start_stream(call);
        }
    }
    if (tg__proxy_client_gone(call) || call->replied) {
        return CURL_WRITEFUNC_ERROR;
    }
    if (!call->streaming) {
        return tg__buf_append(&call->response, data, length) == TG_OK ? length
                                                                      : CURL_WRITEFUNC_ERROR;
    }
    if (tg__proxy_client_slow(call)) {
        call->paused = true; /* curl keeps the piece; the sweep resumes it once drained */
        return CURL_WRITEFUNC_PAUSE;
    }
    call->piece = data;
    call->piece_size = length;
    call->piece_used = 0;
    tg_status status = tg__sse_feed(&call->sse, data, length, on_event, call, NULL, NULL);
    if (call->cut) {
        end_stream(call, NULL, NULL);
        return CURL_WRITEFUNC_ERROR;
    }
    if (status == TG_OK) {
        status = tg__buf_append(&call->held, data + call->piece_used, length - call->piece_used);
    }
    send_out(call);
    return status == TG_OK ? length : CURL_WRITEFUNC_ERROR;
}

/* A stream that reached its last event without usage, on a model whose output the
 * tokenizer counts exactly (stream_exact.c): that output, and the held input bound
 * (nothing reports what the provider counted as input). Estimated, so never charged
 * above the hold. False when there is no exact count. */
static bool settle_exact(proxy_call *call) {
    int64_t output = 0;
    if (tg__stream_exact_output(&call->stream, &output) != TG_OK) {
        return false;
    }
    tg__usage usage = {0};
    usage.counts[TG__UNIT_INPUT] = tg__request_input_held(&call->parsed.info);
    usage.counts[TG__UNIT_OUTPUT] = output;
    usage.counts[TG__UNIT_REQUESTS] = 1;
    usage.estimated = true;
    settle_fees(
        call, &usage,
        tg__sat_add(tg__tool_uses_fee_micros(&call->stream.tool_uses), request_fee_micros(call)));
    return true;
}

static void finish_stream(proxy_call *call, CURLcode result) {
    if (!call->replied) {
        const char *code =
            result == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "upstream_error";
        char message[TG_ERROR_MESSAGE_SIZE];
        snprintf(message, sizeof message, "Tollgate: the upstream stream broke off: %s",
                 result == CURLE_OK ? "it ended before its last event"
                                    : curl_easy_strerror(result));
        end_stream(call, code, message);
        if (!call->stream.finished) {
            call->outcome = "upstream_error";
        }
    }
    if (call->cut) {
        call->outcome = "cut";
    } else if (call->client_gone) {
        call->outcome = "client_gone";
    } else if (call->stream.failed) {
        call->outcome = "upstream_error";
    } else if (call->outcome == NULL) {
        call->outcome = "ok";
    }
    /* The provider's final usage; an error event that reported usage (what it billed);
     * else nothing says what the upstream produced: the held worst case. */
    if (call->stream.output_final || (call->stream.failed && call->stream.input_reported)) {
        tg__usage usage; /* input never reported: the held input bound */
        tg__stream_usage(&call->stream, tg__request_input_held(&call->parsed.info), &usage);
        settle_fees(call, &usage,
                    tg__sat_add(tg__tool_uses_fee_micros(&call->stream.tool_uses),
                                request_fee_micros(call)));
        remember_chain(call->proxy, call->route, call->conversation, call->stream.id, &usage);
    } else if (!call->cut && settle_exact(call)) {
        /* an OpenAI stream that ended without usage: its output counted exactly */
        call->outcome = strcmp(call->outcome, "ok") == 0 ? "counted" : call->outcome;
    } else {
        call->outcome = strcmp(call->outcome, "ok") == 0 ? "no_usage" : call->outcome;
        settle_worst(call);
    }
    close_stream(call);
    /* A background stream's run goes on upstream even when the client left (and was
     * charged its hold): its owner may retrieve it by id. */
    if (call->background && call->stream.id[0] != '\0') {
        keep_run(call, call->stream.id, false);
    }
}

void tg__proxy_call_done(proxy_call *call, CURLcode result) {
    if (!call->replied || call->streaming) {
        tg__proxy_client_gone(call);
        tg__failover next = call->streaming ? TG__FAILOVER_NONE : tg__proxy_failover(call, result);
        if (next == TG__FAILOVER_STARTED) {
            return; /* in flight again, on the next upstream */
        }
        if (next == TG__FAILOVER_ANSWERED) {
            /* refused at the fallback's price: settled and answered already */
        } else if (call->streaming) {
            finish_stream(call, result);
        } else {
            finish_plain(call, result);
        }
    }
    settle(call, NULL); /* an admission that failed after its hold */
    if (call->metered) {
        tg__proxy_call_log(call);
    }
    tg__proxy_call_free(call);
}
