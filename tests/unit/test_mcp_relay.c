/*
 * test_mcp_relay: the relay session on an in-memory engine with a fake
 * transport: what reaches the server and the agent, and what the ledger
 * records, for every path of a tools/call (granted, refused, capped, failed,
 * cancelled by the agent, cancelled by revocation, timed out, answered late,
 * the server gone) and for tools/list filtering with list_changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mcp/relay.h"

#define USD(x) ((int64_t)(x)*1000000)
#define SENT_MAX 64
#define T0 INT64_C(1767225600000)

typedef struct {
    char *to_agent[SENT_MAX]; /* from malloc */
    int agent_count;
    char *to_server[SENT_MAX];
    int server_count;
    tg_engine *engine;
    tg__mcp_config *config;
    tg__mcp_session *session;
} fx;

static void send_to(char **list, int *count, const char *message, size_t size) {
    assert_true(*count < SENT_MAX);
    assert_null(memchr(message, '\n', size)); /* one message, one line */
    list[*count] = strndup(message, size);
    (*count)++;
}

static void to_agent(void *user, const char *message, size_t size) {
    fx *f = user;
    send_to(f->to_agent, &f->agent_count, message, size);
}

static void to_server(void *user, const char *message, size_t size) {
    fx *f = user;
    send_to(f->to_server, &f->server_count, message, size);
}

static void on_event(void *user, const tg_event *event) {
    fx *f = user;
    if (f->session != NULL) {
        tg__mcp_session_note_event(f->session, event);
    }
}

static void put_budget(fx *f, const char *path, int64_t limit, int64_t revoke_at) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = limit;
    spec.revoke_at.micros = revoke_at;
    assert_int_equal(tg_budget_put(f->engine, path, &spec, T0, NULL), TG_OK);
}

/* A session that has not listed the server's tools yet. */
static fx *fx_open_unlisted(const char *mcp_yaml) {
    fx *f = calloc(1, sizeof *f);
    f->config = malloc(sizeof *f->config);
    tg__mcp_config_defaults(f->config);
    tg_error err = {0};
    if (tg__mcp_config_parse(mcp_yaml, strlen(mcp_yaml), f->config, &err) != TG_OK) {
        fail_msg("%s", err.message);
    }
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.on_event = on_event;
    options.on_event_user = f;
    assert_int_equal(tg_engine_open(&options, T0, &f->engine, NULL), TG_OK);
    put_budget(f, "acme", USD(100), TG_NONE);
    put_budget(f, "acme/agent", USD(1), 500000);
    tg__mcp_session_options session = {.engine = f->engine,
                                       .config = f->config,
                                       .budget = "acme/agent",
                                       .to_agent = to_agent,
                                       .to_server = to_server,
                                       .user = f};
    assert_int_equal(tg__mcp_session_new(&session, &f->session, NULL), TG_OK);
    return f;
}

static void fx_clear(fx *f);

/* A session whose agent listed the server's tools (as MCP clients do first). */
static const char *listed_tools = "{\"jsonrpc\":\"2.0\",\"id\":\"L\",\"result\":{\"tools\":[{"
                                  "\"name\":\"echo\"},{\"name\":\"sum\"},{\"name\":"
                                  "\"priced\"},{\"name\":\"other\"}]}}";

static fx *fx_open(const char *mcp_yaml) {
    fx *f = fx_open_unlisted(mcp_yaml);
    tg__mcp_session_from_agent(
        f->session, "{\"jsonrpc\":\"2.0\",\"id\":\"L\",\"method\":\"tools/list\"}",
        strlen("{\"jsonrpc\":\"2.0\",\"id\":\"L\",\"method\":\"tools/list\"}"), T0);
    tg__mcp_session_from_server(f->session, listed_tools, strlen(listed_tools), T0);
    assert_int_equal(f->agent_count, 1);
    fx_clear(f);
    return f;
}

static void fx_clear(fx *f) {
    for (int i = 0; i < f->agent_count; i++) {
        free(f->to_agent[i]);
    }
    for (int i = 0; i < f->server_count; i++) {
        free(f->to_server[i]);
    }
    f->agent_count = 0;
    f->server_count = 0;
}

static void fx_close(fx *f) {
    tg__mcp_session_free(f->session, T0);
    f->session = NULL;
    tg_engine_close(f->engine);
    fx_clear(f);
    free(f->config);
    free(f);
}

static void agent(fx *f, const char *message, int64_t now_ms) {
    tg__mcp_session_from_agent(f->session, message, strlen(message), now_ms);
}

static void server(fx *f, const char *message, int64_t now_ms) {
    tg__mcp_session_from_server(f->session, message, strlen(message), now_ms);
}

static void call(fx *f, int id, const char *tool) {
    char message[256];
    snprintf(message, sizeof message,
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
             "\"arguments\":{},\"_meta\":{\"progressToken\":\"p%d\"}}}",
             id, tool, id);
    agent(f, message, T0);
}

static void result(fx *f, int id, const char *meta, int64_t now_ms) {
    char message[256];
    snprintf(message, sizeof message,
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{\"content\":[]%s%s}}", id,
             meta ? ",\"_meta\":" : "", meta ? meta : "");
    server(f, message, now_ms);
}

static int64_t spent(fx *f, const char *path) {
    tg_budget_info info;
    assert_int_equal(tg_budget_get(f->engine, path, T0, &info, NULL), TG_OK);
    return info.spent_micros;
}

static int64_t held(fx *f) {
    tg_budget_info info;
    assert_int_equal(tg_budget_get(f->engine, "acme/agent", T0, &info, NULL), TG_OK);
    return info.held_micros;
}

/* The refusal reason in an isError result, or NULL for a result that is not one. */
static const char *refusal_reason(const char *message) {
    static char reason[64];
    json_t *root = json_loads(message, 0, NULL);
    json_t *result = json_object_get(root, "result");
    const char *text =
        json_is_true(json_object_get(result, "isError"))
            ? json_string_value(json_object_get(
                  json_object_get(json_object_get(result, "_meta"), "tollgate/refusal"), "reason"))
            : NULL;
    snprintf(reason, sizeof reason, "%s", text ? text : "");
    json_decref(root);
    return text ? reason : NULL;
}

static const char *config_yaml = "mcp:\n"
                                 "  call_timeout_ms: 1000\n"
                                 "  tools:\n"
                                 "    echo: {cost: \"0.20\", class: low}\n"
                                 "    sum: {cost: \"0.20\", class: critical}\n"
                                 "    priced: {cost: \"0.10\", charge: result}\n";

static void test_granted_call_is_relayed_and_charged(void **state) {
    (void)state;
    fx *f = fx_open(config_yaml);
    call(f, 1, "echo");
    assert_int_equal(f->server_count, 1); /* relayed as it came */
    assert_non_null(strstr(f->to_server[0], "\"progressToken\":\"p1\""));
    assert_int_equal(held(f), 200000);
    server(f,
           "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
           "progress\",\"params\":{\"progressToken\":\"p1\",\"progress\":1}}",
           T0);
    result(f, 1, NULL, T0);
    assert_int_equal(f->agent_count, 2);
    assert_null(refusal_reason(f->to_agent[1]));
    assert_int_equal(spent(f, "acme/agent"), 200000);
    assert_int_equal(spent(f, "acme"), 200000);
    assert_int_equal(held(f), 0);
    /* charge: result */
    call(f, 2, "priced");
    result(f, 2, "{\"cost_micros\":12345}", T0);
    call(f, 3, "priced");
    result(f, 3, "{\"cost_micros\":\"oops\"}", T0); /* unreadable: the configured cost */
    assert_int_equal(spent(f, "acme/agent"), 200000 + 12345 + 100000);
    /* a JSON-RPC error: nothing ran, the hold is released */
    call(f, 4, "sum");
    assert_int_equal(held(f), 200000);
    server(f, "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,\"message\":\"bad\"}}", T0);
    assert_int_equal(spent(f, "acme/agent"), 312345);
    assert_int_equal(held(f), 0);
    tg__mcp_stats stats = tg__mcp_session_stats(f->session);
    assert_int_equal(stats.calls_granted, 4);
    assert_int_equal(stats.charged_micros, 312345);
    assert_int_equal(tg__mcp_session_pending(f->session), 0);
    fx_close(f);
}

static void test_refusals_never_reach_the_server(void **state) {
    (void)state;
    fx *f = fx_open(config_yaml);
    call(f, 1, "echo");
    result(f, 1, NULL, T0);
    call(f, 2, "echo");
    result(f, 2, NULL, T0); /* 0.40 */
    fx_clear(f);
    call(f, 3, "echo"); /* 0.60 > 0.50: refused for low */
    assert_int_equal(f->server_count, 0);
    assert_string_equal(refusal_reason(f->to_agent[0]), "revoked");
    /* bad requests */
    agent(f, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{}}", T0);
    agent(f, "[{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\"}]", T0);
    agent(f, "{not json", T0);
    agent(f, "{\"jsonrpc\":\"2.0\",\"id\":7}", T0);
    assert_int_equal(f->server_count, 0);
    assert_non_null(strstr(f->to_agent[1], "-32602"));
    assert_non_null(strstr(f->to_agent[2], "batches"));
    assert_non_null(strstr(f->to_agent[3], "-32700"));
    assert_non_null(strstr(f->to_agent[4], "-32600"));
    /* a duplicate id while the first is in flight */
    call(f, 8, "sum");
    call(f, 8, "sum");
    assert_int_equal(f->server_count, 1);
    assert_non_null(strstr(f->to_agent[5], "already in flight"));
    fx_close(f);
}

static void test_call_cap(void **state) {
    (void)state;
    fx *f = fx_open("mcp: {calls_per_task: 2, tools: {echo: \"0.01\"}}\n");
    for (int i = 1; i <= 3; i++) {
        call(f, i, "echo");
        result(f, i, NULL, T0);
    }
    assert_int_equal(f->server_count, 2);
    assert_string_equal(refusal_reason(f->to_agent[2]), "call_cap");
    fx_close(f);
}

static void test_revocation_cancels_and_withdraws(void **state) {
    (void)state;
    fx *f = fx_open(config_yaml);
    agent(f, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{}}", T0);
    server(f, "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"capabilities\":{\"tools\":{}}}}", T0);
    assert_non_null(strstr(f->to_agent[0], "\"listChanged\":true"));
    agent(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", T0);
    const char *list = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"echo\"},"
                       "{\"name\":\"sum\"},{\"name\":\"other\"}]}}";
    server(f, list, T0);
    assert_string_equal(f->to_agent[1], list); /* nothing withdrawn: relayed as is */
    call(f, 2, "echo");                        /* in flight, low */
    call(f, 3, "sum");
    result(f, 3, NULL, T0); /* 0.20 */
    fx_clear(f);
    call(f, 4, "sum");
    result(f, 4, NULL, T0); /* 0.40 + 0.20 held by echo */
    assert_int_equal(f->agent_count, 1);
    call(f, 5, "sum");
    result(f, 5, NULL, T0); /* 0.60: low and normal revoked */
    /* the server is told to cancel echo; the agent gets an error for it and a list_changed */
    assert_non_null(strstr(f->to_server[f->server_count - 1], "notifications/cancelled"));
    assert_non_null(strstr(f->to_server[f->server_count - 1], "\"requestId\":2"));
    bool cancelled = false, changed = false;
    for (int i = 0; i < f->agent_count; i++) {
        cancelled =
            cancelled || (strstr(f->to_agent[i], "\"id\":2") && refusal_reason(f->to_agent[i]) &&
                          strcmp(refusal_reason(f->to_agent[i]), "revoked") == 0);
        changed = changed || strstr(f->to_agent[i], "notifications/tools/list_changed");
    }
    assert_true(cancelled);
    assert_true(changed);
    assert_int_equal(held(f), 0);
    /* a late result and progress for echo are dropped, and the result is charged */
    fx_clear(f);
    server(f,
           "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
           "progress\",\"params\":{\"progressToken\":\"p2\",\"progress\":2}}",
           T0);
    result(f, 2, NULL, T0);
    assert_int_equal(f->agent_count, 0);
    assert_int_equal(spent(f, "acme/agent"), 800000);
    /* tools/list now lists only the critical tool */
    agent(f, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\"}", T0);
    server(f,
           "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"tools\":[{\"name\":\"echo\"},{\"name\":"
           "\"sum\"},"
           "{\"name\":\"other\"}]}}",
           T0);
    assert_string_equal(
        f->to_agent[0],
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"tools\":[{\"name\":\"sum\"}]}}");
    /* an admin raises the limit: reinstated, listed again */
    fx_clear(f);
    put_budget(f, "acme/agent", USD(10), USD(9));
    tg__mcp_session_tick(f->session, T0);
    assert_int_equal(f->agent_count, 1);
    assert_non_null(strstr(f->to_agent[0], "notifications/tools/list_changed"));
    fx_close(f);
}

static void test_timeouts_and_agent_cancel(void **state) {
    (void)state;
    fx *f = fx_open(config_yaml);
    call(f, 1, "echo");
    assert_int_equal(tg__mcp_session_next_deadline_ms(f->session), T0 + 1000);
    tg__mcp_session_tick(f->session, T0 + 999);
    assert_int_equal(f->agent_count, 0);
    tg__mcp_session_tick(f->session, T0 + 1000);
    assert_string_equal(refusal_reason(f->to_agent[0]), "timeout");
    assert_non_null(strstr(f->to_server[1], "notifications/cancelled"));
    assert_int_equal(held(f), 0);
    /* the agent cancels: relayed; a result racing it is still charged and relayed */
    fx_clear(f);
    call(f, 2, "echo");
    agent(
        f,
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":2}}",
        T0);
    assert_int_equal(f->server_count, 2);
    result(f, 2, NULL, T0 + 10);
    assert_int_equal(spent(f, "acme/agent"), 200000);
    assert_int_equal(f->agent_count, 1);
    /* the agent cancels and no result comes: the hold goes after the grace */
    call(f, 3, "echo");
    agent(
        f,
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":3}}",
        T0);
    assert_int_equal(held(f), 200000);
    tg__mcp_session_tick(f->session, T0 + 5000);
    assert_int_equal(held(f), 0);
    assert_int_equal(tg__mcp_session_pending(f->session), 1); /* call 1, kept a while */
    tg__mcp_session_tick(f->session, T0 + 70000);
    assert_int_equal(tg__mcp_session_pending(f->session), 0);
    fx_close(f);
}

static void test_server_gone_answers_everything(void **state) {
    (void)state;
    fx *f = fx_open(config_yaml);
    call(f, 1, "echo");
    agent(f, "{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"method\":\"resources/list\"}", T0);
    agent(f, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}", T0);
    agent(
        f,
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":9}}",
        T0);
    tg__mcp_session_server_gone(f->session, T0);
    assert_int_equal(f->agent_count, 2); /* the cancelled ping is not answered */
    bool tool = false, other = false;
    for (int i = 0; i < f->agent_count; i++) {
        const char *reason = refusal_reason(f->to_agent[i]);
        tool = tool || (reason && strcmp(reason, "server_exited") == 0);
        other =
            other || (strstr(f->to_agent[i], "\"id\":\"r\"") && strstr(f->to_agent[i], "-32000"));
    }
    assert_true(tool && other);
    assert_int_equal(held(f), 0);
    assert_int_equal(tg__mcp_session_pending(f->session), 0);
    fx_close(f);
}

static void test_server_batch_and_passthrough(void **state) {
    (void)state;
    fx *f = fx_open(config_yaml);
    call(f, 1, "echo");
    server(f,
           "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}},{\"jsonrpc\":\"2.0\","
           "\"id\":\"s1\",\"method\":\"sampling/createMessage\",\"params\":{}}]",
           T0);
    assert_int_equal(f->agent_count, 2); /* split into two messages */
    assert_int_equal(spent(f, "acme/agent"), 200000);
    /* the agent answers the server's request: relayed as is */
    const char *answer = "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{\"model\":\"m\"}}";
    agent(f, answer, T0);
    assert_string_equal(f->to_server[f->server_count - 1], answer);
    /* garbage from the server is dropped, not passed to the agent */
    server(f, "Starting server...", T0);
    assert_int_equal(f->agent_count, 2);
    /* too long from the agent: answered */
    tg__mcp_session_too_long(f->session, true);
    assert_non_null(strstr(f->to_agent[2], "message_size_max_bytes"));
    fx_close(f);
}

/* A tool the server never listed is refused without a hold or a charge, even at a "*" price;
 * when the gateway has no whole listing (none yet, or the server said its list changed), it
 * asks the server itself before deciding, and the agent never sees that listing. */
static const char *star_yaml = "mcp:\n"
                               "  call_timeout_ms: 1000\n"
                               "  tools:\n"
                               "    echo: {cost: \"0.20\", class: low}\n"
                               "    \"*\": \"0.05\"\n";

static void test_unlisted_tools_are_refused_free(void **state) {
    (void)state;
    fx *f = fx_open(star_yaml);
    call(f, 1, "no_such_tool");
    assert_int_equal(f->server_count, 0);
    assert_string_equal(refusal_reason(f->to_agent[0]), "unlisted");
    assert_non_null(strstr(f->to_agent[0], "nothing was charged"));
    assert_int_equal(held(f), 0);
    assert_int_equal(spent(f, "acme/agent"), 0);
    call(f, 2, "other"); /* listed, priced at "*" */
    assert_int_equal(f->server_count, 1);
    assert_int_equal(held(f), 50000);
    result(f, 2, NULL, T0);
    /* The server's list changed: a new name is checked against a fresh listing of its own. */
    fx_clear(f);
    server(f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}", T0);
    assert_int_equal(f->agent_count, 1); /* relayed to the agent */
    call(f, 3, "fresh");
    assert_int_equal(f->server_count, 1);
    assert_non_null(strstr(f->to_server[0], "\"method\":\"tools/list\""));
    assert_non_null(strstr(f->to_server[0], "\"id\":\"tollgate/tools-list/1\""));
    assert_int_equal(held(f), 0); /* parked: nothing held yet */
    server(f,
           "{\"jsonrpc\":\"2.0\",\"id\":\"tollgate/tools-list/1\",\"result\":{\"tools\":[{\"name\":"
           "\"echo\"}],\"nextCursor\":\"page2\"}}",
           T0);
    assert_int_equal(f->server_count, 2); /* the next page, asked for */
    assert_non_null(strstr(f->to_server[1], "\"cursor\":\"page2\""));
    server(f,
           "{\"jsonrpc\":\"2.0\",\"id\":\"tollgate/tools-list/2\",\"result\":{\"tools\":[{\"name\":"
           "\"fresh\"}]}}",
           T0);
    assert_int_equal(f->agent_count, 1); /* the agent never sees Tollgate's own listing */
    assert_int_equal(f->server_count, 3);
    assert_non_null(strstr(f->to_server[2], "\"name\":\"fresh\""));
    assert_int_equal(held(f), 50000);
    result(f, 3, NULL, T0);
    /* "other" and "sum" are gone from the new listing: refused now. */
    call(f, 4, "other");
    assert_string_equal(refusal_reason(f->to_agent[f->agent_count - 1]), "unlisted");
    assert_int_equal(f->server_count, 3);
    assert_int_equal(spent(f, "acme/agent"), 100000);
    tg__mcp_stats stats = tg__mcp_session_stats(f->session);
    assert_int_equal(stats.calls_refused, 2);
    assert_int_equal(tg__mcp_session_pending(f->session), 0);
    fx_close(f);
}

static void test_unlisted_before_any_listing(void **state) {
    (void)state;
    /* No listing yet: the call waits for Tollgate's own tools/list, then goes on. */
    fx *f = fx_open_unlisted(star_yaml);
    call(f, 1, "echo");
    call(f, 2, "ghost");
    assert_int_equal(f->server_count, 1); /* one listing for both */
    server(f,
           "{\"jsonrpc\":\"2.0\",\"id\":\"tollgate/tools-list/1\",\"result\":{\"tools\":[{\"name\":"
           "\"echo\"}]}}",
           T0);
    assert_int_equal(f->server_count, 2);
    assert_non_null(strstr(f->to_server[1], "\"id\":1"));
    assert_int_equal(f->agent_count, 1);
    assert_non_null(strstr(f->to_agent[0], "\"id\":2"));
    assert_string_equal(refusal_reason(f->to_agent[0]), "unlisted");
    assert_int_equal(held(f), 200000);
    fx_close(f);

    /* The server answers the listing with an error: parked calls are refused, nothing held. */
    f = fx_open_unlisted(star_yaml);
    call(f, 1, "echo");
    server(f,
           "{\"jsonrpc\":\"2.0\",\"id\":\"tollgate/tools-list/1\",\"error\":{\"code\":-32601,"
           "\"message\":\"no tools\"}}",
           T0);
    tg__mcp_session_tick(f->session, T0);
    assert_string_equal(refusal_reason(f->to_agent[0]), "unlisted");
    assert_int_equal(f->server_count, 1);
    assert_int_equal(held(f), 0);
    fx_close(f);

    /* The server never answers it: refused at call_timeout_ms; and a late answer changes
     * nothing. */
    f = fx_open_unlisted(star_yaml);
    call(f, 1, "echo");
    tg__mcp_session_tick(f->session, T0 + 999);
    assert_int_equal(f->agent_count, 0);
    tg__mcp_session_tick(f->session, T0 + 1000);
    tg__mcp_session_tick(f->session, T0 + 1000);
    assert_int_equal(f->agent_count, 1);
    assert_string_equal(refusal_reason(f->to_agent[0]), "unlisted");
    server(f, "{\"jsonrpc\":\"2.0\",\"id\":\"tollgate/tools-list/1\",\"result\":{\"tools\":[]}}",
           T0 + 1001);
    assert_int_equal(f->agent_count, 1); /* the late answer is Tollgate's: dropped */
    assert_int_equal(held(f), 0);
    assert_int_equal(tg__mcp_session_pending(f->session), 0);
    fx_close(f);

    /* The server exits while a call is parked: answered like any waiting call. */
    f = fx_open_unlisted(star_yaml);
    call(f, 1, "echo");
    tg__mcp_session_server_gone(f->session, T0);
    assert_int_equal(f->agent_count, 1);
    assert_string_equal(refusal_reason(f->to_agent[0]), "server_exited");
    assert_int_equal(tg__mcp_session_pending(f->session), 0);
    fx_close(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_granted_call_is_relayed_and_charged),
        cmocka_unit_test(test_refusals_never_reach_the_server),
        cmocka_unit_test(test_call_cap),
        cmocka_unit_test(test_revocation_cancels_and_withdraws),
        cmocka_unit_test(test_timeouts_and_agent_cancel),
        cmocka_unit_test(test_server_gone_answers_everything),
        cmocka_unit_test(test_server_batch_and_passthrough),
        cmocka_unit_test(test_unlisted_tools_are_refused_free),
        cmocka_unit_test(test_unlisted_before_any_listing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
