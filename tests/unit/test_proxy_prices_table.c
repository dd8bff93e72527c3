/*
 * test_proxy_prices_table: the real converted table (build/prices.json, made by
 * scripts/build-prices.js at build time) loads, resolves the names clients send,
 * and, on every case the converter recorded from @pydantic/genai-prices itself
 * (prices-conformance.json), gives the package's cost to within the one micro of
 * rounding up. Skipped when the build had no node to convert the table.
 */
#include "proxy/prices.h"
#include "proxy_fixture.h"

#include <jansson.h>

static tg__price_table *table;
static json_t *conformance;

static int setup(void **state) {
    (void)state;
    const char *dir = getenv("TG_BINARY_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/prices.json", dir ? dir : ".");
    tg_error err = {0};
    if (tg__prices_open(path, &table, &err) != TG_OK) {
        fprintf(stderr, "test_proxy_prices_table: %s: skipping\n", err.message);
        table = NULL;
        return 0;
    }
    snprintf(path, sizeof path, "%s/prices-conformance.json", dir ? dir : ".");
    conformance = json_load_file(path, 0, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tg__prices_close(table);
    json_decref(conformance);
    return 0;
}

static void test_table_loads(void **state) {
    (void)state;
    if (table == NULL) {
        skip();
    }
    assert_true(tg__prices_models_count(table) > 1000);
    assert_contains(tg__prices_source(table), "@pydantic/genai-prices@");
    tg__model_price p;
    const struct {
        const char *provider, *model, *id;
    } names[] = {
        {"openai", "gpt-4o-2024-08-06", "gpt-4o"},
        {"openai", "gpt-4o", "gpt-4o"},
        {"openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
        {"openai", "text-embedding-3-small", "text-embedding-3-small"},
        {"anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet"},
        {"anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4-0"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tg_error err = {0};
        if (tg__prices_lookup(table, names[i].provider, names[i].model, NOON_MS, &p, &err) !=
                TG_OK ||
            strcmp(p.model, names[i].id) != 0) {
            print_error("%s/%s: %s (%s)\n", names[i].provider, names[i].model, err.message,
                        p.model);
            fail();
        }
    }
    assert_ok(tg__prices_lookup(table, "openai", "gpt-4o", NOON_MS, &p, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 2500000); /* $2.50 per million */
    assert_status(tg__prices_lookup(table, "openai", "no-such-model-xyz", NOON_MS, &p, NULL),
                  TG_ERR_NOT_FOUND);
}

static tg__usage usage_of(const json_t *json) {
    static const struct {
        const char *key;
        tg__unit unit;
    } KEYS[] = {
        {"input_tokens", TG__UNIT_INPUT},
        {"cache_read_tokens", TG__UNIT_CACHE_READ},
        {"cache_write_tokens", TG__UNIT_CACHE_WRITE},
        {"output_tokens", TG__UNIT_OUTPUT},
    };
    tg__usage usage = {0};
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++) {
        const json_t *value = json_object_get(json, KEYS[k].key);
        usage.counts[KEYS[k].unit] = json_is_integer(value) ? json_integer_value(value) : 0;
    }
    return usage;
}

static void test_costs_match_source(void **state) {
    (void)state;
    if (table == NULL || conformance == NULL) {
        skip();
    }
    const json_t *cases = json_object_get(conformance, "cases");
    assert_true(json_array_size(cases) > 1000);
    size_t index, failures = 0;
    const json_t *c;
    json_array_foreach(cases, index, c) {
        const char *provider = json_string_value(json_object_get(c, "provider"));
        const char *model = json_string_value(json_object_get(c, "model"));
        int64_t at_ms = json_integer_value(json_object_get(c, "at_ms"));
        double expected = json_number_value(json_object_get(c, "cost_micros"));
        tg__model_price p;
        tg__usage usage = usage_of(json_object_get(c, "usage"));
        int64_t cost = -1;
        tg_status found = tg__prices_lookup(table, provider, model, at_ms, &p, NULL);
        bool same_model = found == TG_OK &&
                          strcmp(p.model, json_string_value(json_object_get(c, "expect_id"))) == 0;
        bool priced = same_model && tg__cost_micros(&p, &usage, &cost) == TG_OK;
        /* The package sums floats; Tollgate rounds the exact sum up once (and a price with
         * more than six decimals up to a micro per million tokens). */
        double slack = 1.0 + expected * 1e-9;
        if (!priced || (double)cost < expected - slack || (double)cost > expected + slack + 1.0) {
            if (failures++ < 10) {
                print_error("%s/%s at %lld: cost %lld, source %.3f (%s)\n", provider, model,
                            (long long)at_ms, (long long)cost, expected,
                            found != TG_OK ? "not found" : p.model);
            }
        }
    }
    if (failures > 0) {
        print_error("%zu of %zu cases differ\n", failures, json_array_size(cases));
        fail();
    }
}

/* prices_names.c: a fine-tune the data prices itself keeps its own (dearer) price; one it
 * lacks falls back to its base; an OpenRouter vendor/model the data lacks is the vendor's;
 * a name no rule prices stays unpriced. */
static void test_names_fall_back(void **state) {
    (void)state;
    if (table == NULL) {
        skip();
    }
    tg__model_price p, base;
    assert_ok(tg__prices_lookup_name(table, "openai", "ft:gpt-4o-2024-08-06:acme::AbC123", NOON_MS,
                                     &p, NULL));
    assert_ok(tg__prices_lookup(table, "openai", "gpt-4o", NOON_MS, &base, NULL));
    assert_true(p.rates[TG__UNIT_INPUT].base_micros > base.rates[TG__UNIT_INPUT].base_micros);
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 3750000); /* fine-tuned gpt-4o: $3.75 */
    assert_ok(tg__prices_lookup_name(table, "openai", "ft:gpt-4o-mini-2024-07-18:acme:x:B9",
                                     NOON_MS, &p, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 300000);
    /* Not in the data as a fine-tune: its base's price. */
    assert_ok(tg__prices_lookup_name(table, "openai", "ft:gpt-4.1-2025-04-14:acme::Zz", NOON_MS, &p,
                                     NULL));
    assert_ok(tg__prices_lookup(table, "openai", "gpt-4.1", NOON_MS, &base, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, base.rates[TG__UNIT_INPUT].base_micros);
    const char *unpriced[][2] = {
        {"openai", "ft:"},           {"openai", "ft::acme::x"},  {"openai", "ft:no-such:acme"},
        {"openai", "openai/gpt-4o"}, {"openrouter", "nosuch/x"}, {"openrouter", "openai/"},
        {"openrouter", "/gpt-4o"},   {"openrouter", "no-slash"}, {"nosuch", "ft:gpt-4o"},
    };
    for (size_t i = 0; i < sizeof unpriced / sizeof unpriced[0]; i++) {
        tg_error err = {0};
        if (tg__prices_lookup_name(table, unpriced[i][0], unpriced[i][1], NOON_MS, &p, &err) !=
            TG_ERR_NOT_FOUND) {
            print_error("%s/%s priced\n", unpriced[i][0], unpriced[i][1]);
            fail();
        }
        assert_contains(err.message, "no price");
    }
    assert_ok(tg__prices_lookup_name(table, "openrouter", "openai/gpt-4o", NOON_MS, &p, NULL));
    assert_contains(p.provider, "openrouter");
    assert_ok(tg__prices_lookup_name(table, "openrouter", "openai/gpt-5.3", NOON_MS, &p, NULL));
    assert_contains(p.provider, "openai");
    /* Azure's own provider, falling back to openai's for models it does not list. */
    assert_ok(tg__prices_lookup_name(table, "azure", "gpt-4o", NOON_MS, &p, NULL));
    assert_i64(p.rates[TG__UNIT_INPUT].base_micros, 2500000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_loads),
        cmocka_unit_test(test_names_fall_back),
        cmocka_unit_test(test_costs_match_source),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
