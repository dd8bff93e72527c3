/*
 * fuzz_jsonrpc: MCP messages as the gateway reads them. The input is a stream
 * of lines; each goes through the framer (in two reads, split where the first
 * byte says), the parser, the span scanner and both rewrites, and then into a
 * relay session on an in-memory ledger: from the agent when the line starts
 * with '>' (dropped), else from the server. Checks: rewrites give valid JSON that means what
 * they promise, every message the session sends is one line, and when the
 * server goes away no hold is left.
 */
#include <stdlib.h>
#include <string.h>

#include "mcp/json_span.h"
#include "mcp/relay.h"
#include "mcp/rewrite.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    tg__mcp_session *session;
    int64_t now_ms;
} fuzz_state;

static void sent(void *user, const char *message, size_t size) {
    (void)user;
    FUZZ_CHECK(memchr(message, '\n', size) == NULL);
}

static bool keep_odd(void *user, const char *tool) {
    (void)user;
    return strlen(tool) % 2 == 1;
}

static void check_rewrites(const char *line, size_t size) {
    tg__rpc_message message;
    tg__rpc_parse(line, size, &message);
    tg__json_span span, member;
    if (tg__json_value_span(line, size, 0, &span)) {
        FUZZ_CHECK(span.start < span.end && span.end <= size);
        if (tg__json_member(line, size, span, "result", &member)) {
            FUZZ_CHECK(member.end <= span.end);
        }
    }
    char *out = NULL;
    size_t out_size = 0;
    if (message.kind == TG__RPC_RESPONSE &&
        tg__mcp_filter_tools(line, size, &message, keep_odd, NULL, &out, &out_size) == TG_OK &&
        out != NULL) {
        json_t *again = json_loadb(out, out_size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        FUZZ_CHECK(again != NULL);
        json_t *tools = json_object_get(json_object_get(again, "result"), "tools");
        for (size_t i = 0; i < json_array_size(tools); i++) {
            const char *name = json_string_value(json_object_get(json_array_get(tools, i), "name"));
            FUZZ_CHECK(name == NULL || strlen(name) % 2 == 1);
        }
        json_decref(again);
        free(out);
    }
    out = NULL;
    if (message.kind == TG__RPC_RESPONSE &&
        tg__mcp_patch_initialize(line, size, &message, &out, &out_size) == TG_OK && out != NULL) {
        json_t *again = json_loadb(out, out_size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        json_t *tools = json_object_get(
            json_object_get(json_object_get(again, "result"), "capabilities"), "tools");
        FUZZ_CHECK(json_is_true(json_object_get(tools, "listChanged")));
        json_decref(again);
        free(out);
    }
    tg__rpc_message_clear(&message);
}

static void on_line(void *user, const char *line, size_t size, bool too_long) {
    fuzz_state *state = user;
    if (too_long || size == 0) {
        tg__mcp_session_too_long(state->session, true);
        return;
    }
    bool from_agent = line[0] == '>'; /* the corpus marks the agent's lines with '>' */
    line += from_agent;
    size -= from_agent;
    check_rewrites(line, size);
    state->now_ms += 37;
    if (from_agent) {
        tg__mcp_session_from_agent(state->session, line, size, state->now_ms);
    } else {
        tg__mcp_session_from_server(state->session, line, size, state->now_ms);
    }
    tg__mcp_session_tick(state->session, state->now_ms);
}

static tg_engine *open_engine(void) {
    tg_engine *engine = NULL;
    tg_engine_options options;
    tg_engine_options_init(&options);
    if (tg_engine_open(&options, 0, &engine, NULL) != TG_OK) {
        abort();
    }
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = 1000000;
    spec.revoke_at.micros = 500000;
    FUZZ_CHECK(tg_budget_put(engine, "a", &spec, 0, NULL) == TG_OK);
    return engine;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > 65536) {
        return 0;
    }
    static tg__mcp_config *config;
    if (config == NULL) {
        config = malloc(sizeof *config);
        tg__mcp_config_defaults(config);
        const char *yaml = "mcp: {call_timeout_ms: 200, calls_per_task: 50, tools: {"
                           "e: {cost: \"0.2\", class: low}, s: {cost: \"0.2\", class: critical},"
                           "p: {cost: \"0.1\", charge: result}}}";
        FUZZ_CHECK(tg__mcp_config_parse(yaml, strlen(yaml), config, NULL) == TG_OK);
    }
    tg_engine *engine = open_engine();
    fuzz_state state = {NULL, 1000};
    tg__mcp_session_options options = {
        .engine = engine, .config = config, .budget = "a", .to_agent = sent, .to_server = sent};
    FUZZ_CHECK(tg__mcp_session_new(&options, &state.session, NULL) == TG_OK);
    tg__rpc_framer framer;
    tg__rpc_framer_init(&framer, 2048);
    size_t split = data[0] % size;
    (void)tg__rpc_framer_push(&framer, (const char *)data, split, on_line, &state);
    (void)tg__rpc_framer_push(&framer, (const char *)data + split, size - split, on_line, &state);
    tg__mcp_session_server_gone(state.session, state.now_ms);
    tg_budget_info info;
    FUZZ_CHECK(tg_budget_get(engine, "a", state.now_ms, &info, NULL) == TG_OK);
    FUZZ_CHECK(info.held_micros == 0 && info.spent_micros >= 0);
    tg__rpc_framer_free(&framer);
    tg__mcp_session_free(state.session, state.now_ms);
    tg_engine_close(engine);
    return 0;
}
