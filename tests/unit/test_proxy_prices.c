/*
 * test_proxy_prices: the price table loader and lookups on a small table with
 * every rule shape: plain names, aliases (dated snapshots), prefixes, regexes,
 * and/not, table order, the source's date rewrite, fallback providers, dated
 * and timed prices, tiers; config overrides; reload; unknown models; and
 * malformed tables refused with a sentence.
 */
#include <unistd.h>

#include "proxy/prices_internal.h"
#include "proxy_fixture.h"

static tg__price_table *open_test_table(void) {
    tg__price_table *table = NULL;
    tg_error err = {0};
    if (tg__prices_parse(PROXY_TEST_TABLE, strlen(PROXY_TEST_TABLE), &table, &err) != TG_OK) {
        print_error("test table: %s\n", err.message);
        fail();
    }
    return table;
}

static const char *resolve(tg__price_table *table, const char *provider, const char *model,
                           tg__model_price *out) {
    static char id[TG_NAME_SIZE_MAX];
    if (tg__prices_lookup(table, provider, model, NOON_MS, out, NULL) != TG_OK) {
        return "(none)";
    }
    snprintf(id, sizeof id, "%s", out->model);
    return id;
}

static void test_lookup_resolves_names(void **state) {
    (void)state;
    tg__price_table *table = open_test_table();
    tg__model_price p;
    const struct {
        const char *provider, *model, *expected;
    } cases[] = {
        {"openai", "gpt-4o", "gpt-4o"},
        {"openai", "gpt-4o-2024-08-06", "gpt-4o"}, /* alias: dated snapshot */
        {"openai", "  GPT-4o ", "gpt-4o"},         /* case and spaces, as the source */
        {"OpenAI", "gpt-4o", "gpt-4o"},
        {"openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"}, /* its own entry, first */
        {"openai", "gpt-4o-audio-preview", "gpt-4o-audio"},   /* prefix */
        {"openai", "gpt-5-2025-08-07", "gpt-5"},              /* regex */
        {"openai", "gpt-5-20250807", "gpt-5"},                /* date rewritten, retried */
        {"openai", "gpt-5-20250230", "(none)"},               /* not a calendar date */
        {"openai", "gpt-4-0613", "gpt-4"},                    /* and + not */
        {"openai", "gpt-4-tts", "(none)"},                    /* excluded by not */
        {"openai", "gpt-4-tts-1", "(none)"},
        {"anthropic", "claude-sonnet-4-0-latest", "claude-sonnet-4-0"},
        {"anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4-0"}, /* rewrite + alias */
        {"azure", "gpt-35-turbo", "gpt-35-turbo"},
        {"azure", "gpt-4o-2024-08-06", "gpt-4o"}, /* fallback provider */
        {"openai", "gpt-35-turbo", "(none)"},     /* fallbacks go one way */
        {"openai", "llama-3", "(none)"},
        {"nobody", "gpt-4o", "(none)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = resolve(table, cases[i].provider, cases[i].model, &p);
        if (strcmp(got, cases[i].expected) != 0) {
            print_error("%s/%s resolved to %s, expected %s\n", cases[i].provider, cases[i].model,
                        got, cases[i].expected);
            fail();
        }
    }
    assert_string_equal(tg__prices_source(table), "@pydantic/genai-prices@9.9.9");
    assert_i64(tg__prices_models_count(table), 11);
    tg__prices_close(table);
}

static void test_lookup_fills_prices(void **state) {
    (void)state;
    tg__price_table *table = open_test_table();
    tg__model_price p;
    assert_ok(tg__prices_lookup(table, "openai", "gpt-4o-2024-08-06", NOON_MS, &p, NULL));
    assert_string_equal(p.provider, "openai");
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 2500000);
    assert_i64(p.rates[TG__UNIT_CACHE_READ].base_micros, 1250000);
    assert_i64(p.rates[TG__UNIT_OUTPUT].base_micros, 10000000);
    assert_i64(p.priced_mask,
               (1u << TG__UNIT_INPUT) | (1u << TG__UNIT_CACHE_READ) | (1u << TG__UNIT_OUTPUT));
    assert_i64(p.context_window_tokens, 128000);
    assert_false(p.overridden);
    assert_ok(tg__prices_lookup(table, "azure", "gpt-4o", NOON_MS, &p, NULL));
    assert_string_equal(p.provider, "openai"); /* found in the fallback */
    tg__prices_close(table);
}

static void test_lookup_unknown_is_explicit(void **state) {
    (void)state;
    tg__price_table *table = open_test_table();
    tg__model_price p;
    tg_error err = {0};
    assert_status(tg__prices_lookup(table, "openai", "gpt-9000", NOON_MS, &p, &err),
                  TG_ERR_NOT_FOUND);
    assert_contains(err.message, "no price for openai model gpt-9000");
    char long_name[TG_NAME_SIZE_MAX + 8];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_status(tg__prices_lookup(table, "openai", long_name, NOON_MS, &p, NULL), TG_ERR_INVALID);
    assert_status(tg__prices_lookup(table, "openai", "  ", NOON_MS, &p, NULL), TG_ERR_INVALID);
    tg__prices_close(table);
}

static void test_lookup_prices_in_force(void **state) {
    (void)state;
    tg__price_table *table = open_test_table();
    tg__model_price p;
    int64_t before = INT64_C(1749513600000) - 1; /* o3 got cheaper on 2025-06-10 */
    assert_ok(tg__prices_lookup(table, "openai", "o3", before, &p, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 10000000);
    assert_ok(tg__prices_lookup(table, "openai", "o3", before + 1, &p, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 2000000);
    /* deepseek's night price runs 16:30 to 00:30 UTC (wraps midnight). */
    int64_t day = INT64_C(1768435200000); /* 2026-01-15T00:00:00Z */
    const struct {
        int64_t at_s;
        int64_t input;
    } times[] = {{0, 135000},     {1799, 135000},  {1800, 270000}, {43200, 270000},
                 {59399, 270000}, {59400, 135000}, {86399, 135000}};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        assert_ok(tg__prices_lookup(table, "deepseek", "deepseek-chat", day + times[i].at_s * 1000,
                                    &p, NULL));
        assert_i64(p.rates[TG__UNIT_INPUT].base_micros, times[i].input);
    }
    tg__prices_close(table);
}

static void test_override_on_top(void **state) {
    (void)state;
    tg__price_table *table = open_test_table();
    tg__model_price custom, p;
    tg__model_price_init(&custom);
    tg__model_price_set(&custom, TG__UNIT_INPUT, 1000000);
    tg__model_price_set(&custom, TG__UNIT_OUTPUT, 2000000);
    custom.max_output_tokens = 4096;
    assert_ok(tg__prices_override(table, "openai", "GPT-4o", &custom, NULL));
    /* By id: covers the aliases too, and keeps the table's context window. */
    assert_ok(tg__prices_lookup(table, "openai", "gpt-4o-2024-08-06", NOON_MS, &p, NULL));
    assert_true(p.overridden);
    assert_string_equal(p.model, "gpt-4o");
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 1000000);
    assert_false(p.priced_mask & (1u << TG__UNIT_CACHE_READ));
    assert_i64(p.context_window_tokens, 128000);
    assert_i64(p.max_output_tokens, 4096);
    /* A model the table lacks. */
    assert_ok(tg__prices_override(table, "openai", "my-finetune", &custom, NULL));
    assert_ok(tg__prices_lookup(table, "openai", "my-finetune", NOON_MS, &p, NULL));
    assert_string_equal(p.model, "my-finetune");
    /* Replacing, then clearing. */
    tg__model_price_set(&custom, TG__UNIT_INPUT, 7);
    assert_ok(tg__prices_override(table, "openai", "my-finetune", &custom, NULL));
    assert_ok(tg__prices_lookup(table, "openai", "my-finetune", NOON_MS, &p, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 7);
    tg__prices_override_clear(table);
    assert_status(tg__prices_lookup(table, "openai", "my-finetune", NOON_MS, &p, NULL),
                  TG_ERR_NOT_FOUND);
    /* Checked like the table: a cache price without an input price is refused. */
    tg__model_price bad;
    tg__model_price_init(&bad);
    tg__model_price_set(&bad, TG__UNIT_CACHE_READ, 1);
    tg_error err = {0};
    assert_status(tg__prices_override(table, "openai", "x", &bad, &err), TG_ERR_INVALID);
    assert_contains(err.message, "input_mtok");
    tg__model_price_set(&bad, TG__UNIT_INPUT, -1);
    assert_status(tg__prices_override(table, "openai", "x", &bad, NULL), TG_ERR_INVALID);
    tg__prices_close(table);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_reload_keeps_overrides(void **state) {
    (void)state;
    char path[] = "/tmp/tollgate-prices-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, PROXY_TEST_TABLE);
    tg__price_table *table = NULL;
    assert_ok(tg__prices_open(path, &table, NULL));
    tg__model_price custom, p;
    tg__model_price_init(&custom);
    tg__model_price_set(&custom, TG__UNIT_INPUT, 42);
    assert_ok(tg__prices_override(table, "anthropic", "mine", &custom, NULL));
    write_file(path, "{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"openai\","
                     "\"models\":[{\"id\":\"gpt-4o\",\"match\":{\"equals\":\"gpt-4o\"},"
                     "\"prices\":[{\"input_mtok\":3,\"output_mtok\":4}]}]}]}");
    assert_ok(tg__prices_reload(table, NULL));
    assert_ok(tg__prices_lookup(table, "openai", "gpt-4o", NOON_MS, &p, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 3);
    assert_ok(tg__prices_lookup(table, "anthropic", "mine", NOON_MS, &p, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 42);
    /* A broken file leaves the table as it was. */
    write_file(path, "{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":");
    tg_error err = {0};
    assert_status(tg__prices_reload(table, &err), TG_ERR_INVALID);
    assert_ok(tg__prices_lookup(table, "openai", "gpt-4o", NOON_MS, &p, NULL));
    unlink(path);
    assert_status(tg__prices_reload(table, &err), TG_ERR_IO);
    tg__prices_close(table);
    tg__prices_close(NULL);
    assert_status(tg__prices_open(path, &table, NULL), TG_ERR_IO);
    tg__price_table *memory = open_test_table();
    assert_status(tg__prices_reload(memory, NULL), TG_ERR_STATE);
    tg__prices_close(memory);
}

static void test_malformed_tables(void **state) {
    (void)state;
    const struct {
        const char *text, *why;
    } bad[] = {
        {"", "expected near end"},
        {"[]", "format"},
        {"{\"format\":\"other/1\",\"providers\":[]}", "format"},
        {"{\"format\":\"tollgate-prices/1\"}", "providers"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\"}]}", "provider"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"equals\":\"m\"},\"prices\":[{\"input_mtok\":1,\"bogus_mtok\":2}]}]}]}",
         "unknown price key"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"regex\":\"(\"},\"prices\":[{\"input_mtok\":1}]}]}]}",
         "regex"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"regex\":\"^y++++\"},\"prices\":[{\"input_mtok\":1}]}]}]}",
         "repeats repetitions"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"regex\":\"(a{9}){9}\"},\"prices\":[{\"input_mtok\":1}]}]}]}",
         "repeats repetitions"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"regex\":\"a{1000}\"},\"prices\":[{\"input_mtok\":1}]}]}]}",
         "repeats repetitions"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"equals\":\"m\",\"contains\":\"x\"},\"prices\":[{\"input_mtok\":1}]}]}]}",
         "one key"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"like\":\"m\"},\"prices\":[{\"input_mtok\":1}]}]}]}",
         "unknown match rule"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"equals\":\"m\"},\"prices\":[{\"cache_read_mtok\":1}]}]}]}",
         "contains it"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"equals\":\"m\"},\"prices\":[{\"input_mtok\":-1}]}]}]}",
         "a price must be"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"equals\":\"m\"},\"prices\":[{\"input_mtok\":{\"base\":1,\"tiers\":["
         "{\"start\":5,\"price\":2},{\"start\":5,\"price\":3}]}}]}]}]}",
         "tiers"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[{\"id\":\"m\","
         "\"match\":{\"equals\":\"m\"},\"prices\":[]}]}]}",
         "variants"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[{\"id\":\"a\",\"models\":[]},"
         "{\"id\":\"A\",\"models\":[]}]}",
         "twice"},
        {"{\"format\":\"tollgate-prices/1\",\"providers\":[],\"providers\":[]}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg__price_table *table = NULL;
        tg_error err = {0};
        tg_status status = tg__prices_parse(bad[i].text, strlen(bad[i].text), &table, &err);
        if (status == TG_OK || table != NULL || strstr(err.message, bad[i].why) == NULL) {
            print_error("case %zu: status %s, message \"%s\", expected one about \"%s\"\n", i,
                        tg_status_str(status), err.message, bad[i].why);
            fail();
        }
    }
}

static void test_date_rewrite(void **state) {
    (void)state;
    char out[64];
    assert_true(tg__price_name_dashed_dates("claude-3-5-sonnet-20241022", out, sizeof out));
    assert_string_equal(out, "claude-3-5-sonnet-2024-10-22");
    assert_true(tg__price_name_dashed_dates("a-20240229-b-20250101:ft", out, sizeof out));
    assert_string_equal(out, "a-2024-02-29-b-2025-01-01:ft");
    assert_false(tg__price_name_dashed_dates("a-20230229", out, sizeof out));  /* not leap */
    assert_false(tg__price_name_dashed_dates("a-202401011", out, sizeof out)); /* 9 digits */
    assert_false(tg__price_name_dashed_dates("a-19991231", out, sizeof out));
    assert_false(tg__price_name_dashed_dates("gpt-4o", out, sizeof out));
    assert_false(tg__price_name_dashed_dates("a-20240101", out, 8)); /* does not fit */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_resolves_names),
        cmocka_unit_test(test_lookup_fills_prices),
        cmocka_unit_test(test_lookup_unknown_is_explicit),
        cmocka_unit_test(test_lookup_prices_in_force),
        cmocka_unit_test(test_override_on_top),
        cmocka_unit_test(test_reload_keeps_overrides),
        cmocka_unit_test(test_malformed_tables),
        cmocka_unit_test(test_date_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
