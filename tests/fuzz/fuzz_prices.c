/*
 * fuzz_prices: price table JSON. A table that loads must answer lookups of any
 * name without crashing, and its prices must pass the same checks as config
 * overrides (cost.h), so the daemon can trust whatever it loaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/prices.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) {
        return 0;
    }
    tg__price_table *table = NULL;
    if (tg__prices_parse((const char *)data, size, &table, NULL) != TG_OK) {
        FUZZ_CHECK(table == NULL);
        return 0;
    }
    static const char *const NAMES[] = {
        "gpt-4o", "gpt-4o-2024-08-06", "m", "claude-3-20240101", "x-20240229-y", "a"};
    static const char *const PROVIDERS[] = {"openai", "anthropic", "a", "b"};
    for (size_t p = 0; p < 4; p++) {
        for (size_t n = 0; n < sizeof NAMES / sizeof NAMES[0]; n++) {
            tg__model_price price;
            for (int64_t at = 0; at < 3; at++) {
                if (tg__prices_lookup(table, PROVIDERS[p], NAMES[n], at * INT64_C(43200000), &price,
                                      NULL) == TG_OK) {
                    FUZZ_CHECK(tg__model_price_check(&price, NULL) == TG_OK);
                    tg__usage usage = {.counts = {1000, 100, 100, 10, 0, 0, 500, 50, 0, 1, 1}};
                    int64_t cost = -1;
                    FUZZ_CHECK(tg__cost_micros(&price, &usage, &cost) == TG_OK && cost >= 0);
                }
            }
        }
    }
    tg__prices_close(table);
    return 0;
}
