/*
 * test_proxy_chains: the table of stored state Tollgate saw (src/proxy/chains.c) and
 * the built-in tool fees read from Responses output items (src/proxy/tool_fees.c).
 * Chains: a recorded id comes back, an unknown one is -1 (never 0, which would hold
 * nothing), a chain's context only grows, ids too long or empty are not kept, a full
 * table forgets the oldest and never returns another id's figure, and NULL is safe.
 */
#include "proxy/bound.h"
#include "proxy/chains.h"
#include "proxy/tool_fees.h"
#include "proxy_fixture.h"

static void test_put_get(void **state) {
    (void)state;
    tg__chains *chains = tg__chains_new();
    assert_non_null(chains);
    assert_i64(tg__chains_get(chains, "resp_1"), -1);
    tg__chains_put(chains, "resp_1", 1200);
    assert_i64(tg__chains_get(chains, "resp_1"), 1200);
    assert_i64(tg__chains_get(chains, "resp_2"), -1);
    assert_i64(tg__chains_get(chains, "resp_"), -1); /* a prefix is another id */
    /* A chain's context only grows: a smaller figure does not lower it. */
    tg__chains_put(chains, "resp_1", 10);
    assert_i64(tg__chains_get(chains, "resp_1"), 1200);
    tg__chains_put(chains, "resp_1", 5000);
    assert_i64(tg__chains_get(chains, "resp_1"), 5000);
    /* Zero is a figure (an empty context), distinct from unknown. */
    tg__chains_put(chains, "conv_0", 0);
    assert_i64(tg__chains_get(chains, "conv_0"), 0);
    /* Huge figures are kept as they are (the bound saturates them). */
    tg__chains_put(chains, "big", INT64_MAX);
    assert_i64(tg__chains_get(chains, "big"), INT64_MAX);
    tg__chains_free(chains);
}

static void test_bad_input(void **state) {
    (void)state;
    tg__chains *chains = tg__chains_new();
    tg__chains_put(chains, "", 10);
    assert_i64(tg__chains_get(chains, ""), -1);
    tg__chains_put(chains, NULL, 10);
    assert_i64(tg__chains_get(chains, NULL), -1);
    tg__chains_put(chains, "negative", -5);
    assert_i64(tg__chains_get(chains, "negative"), -1);
    char id[TG__CHAIN_ID_SIZE_MAX + 1];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    tg__chains_put(chains, id, 10); /* one byte too long: not kept */
    assert_i64(tg__chains_get(chains, id), -1);
    id[TG__CHAIN_ID_SIZE_MAX - 1] = '\0'; /* the longest kept */
    tg__chains_put(chains, id, 11);
    assert_i64(tg__chains_get(chains, id), 11);
    tg__chains_put(NULL, "a", 1); /* no table: nothing, no crash */
    assert_i64(tg__chains_get(NULL, "a"), -1);
    tg__chains_free(NULL);
    tg__chains_free(chains);
}

/* More ids than slots: the newest is always found, every figure found is the one put
 * for that id, and nothing is invented for an id never put. */
static void test_full_table(void **state) {
    (void)state;
    tg__chains *chains = tg__chains_new();
    const int count = TG__CHAINS_SLOTS * 2;
    char id[32];
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof id, "resp_%d", i);
        tg__chains_put(chains, id, i + 1);
        assert_i64(tg__chains_get(chains, id), i + 1);
    }
    int64_t found = 0;
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof id, "resp_%d", i);
        int64_t tokens = tg__chains_get(chains, id);
        if (tokens != -1) {
            assert_i64(tokens, i + 1);
            found++;
        }
    }
    assert_true(found <= TG__CHAINS_SLOTS);
    assert_true(found >= TG__CHAINS_SLOTS / 2); /* the newest half at least */
    snprintf(id, sizeof id, "resp_%d", count);
    assert_i64(tg__chains_get(chains, id), -1);
    tg__chains_free(chains);
}

static void test_tool_fees(void **state) {
    (void)state;
    json_t *response =
        json_loads("{\"output\":[{\"type\":\"web_search_call\"},{\"type\":\"message\"},"
                   "{\"type\":\"web_search_call\"},{\"type\":\"file_search_call\"},"
                   "{\"type\":\"code_interpreter_call\"},{\"type\":\"code_interpreter_call\"},"
                   "{\"type\":7},\"text\",{\"no\":\"type\"}]}",
                   0, NULL);
    tg__tool_uses uses = {0};
    tg__tool_uses_add_response(&uses, response);
    assert_i64(uses.web_searches, 2);
    assert_i64(uses.file_searches, 1);
    assert_i64(uses.code_interpreters, 2);
    assert_i64(tg__tool_uses_fee_micros(&uses), 2 * TG__BOUND_WEB_SEARCH_OPENAI +
                                                    TG__BOUND_FILE_SEARCH_OPENAI +
                                                    TG__BOUND_CODE_INTERPRETER_OPENAI);
    json_decref(response);
    /* An event that wraps the response counts the same. */
    response = json_loads("{\"response\":{\"output\":[{\"type\":\"web_search_call\"}]}}", 0, NULL);
    tg__tool_uses wrapped = {0};
    tg__tool_uses_add_response(&wrapped, response);
    assert_i64(wrapped.web_searches, 1);
    json_decref(response);
    /* Nothing, or not an array: no fee. */
    tg__tool_uses none = {0};
    tg__tool_uses_add_response(&none, NULL);
    tg__tool_uses_add_item(&none, NULL);
    assert_i64(tg__tool_uses_fee_micros(&none), 0);
    /* Chat: one search per call with web_search_options (null or absent: none). */
    json_t *body = json_loads("{\"web_search_options\":{}}", 0, NULL);
    assert_i64(tg__chat_search_fee_micros(body), TG__BOUND_WEB_SEARCH_CHAT);
    json_decref(body);
    body = json_loads("{\"web_search_options\":null}", 0, NULL);
    assert_i64(tg__chat_search_fee_micros(body), 0);
    json_decref(body);
    assert_i64(tg__chat_search_fee_micros(NULL), 0);
    /* Counts past int64 saturate; the fee stays at the largest amount. */
    tg__tool_uses huge = {INT64_MAX, INT64_MAX, INT64_MAX};
    assert_i64(tg__tool_uses_fee_micros(&huge), TG_AMOUNT_MAX);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_tool_fees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
