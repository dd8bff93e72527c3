/*
 * fuzz_usage: usage read from response bodies. Whatever is read must be counts
 * in range, and pricing them must give a cost or a range error, never a crash
 * or a negative charge. And the scan that reads it without a tree (its usage object
 * indexed where it lies, usage_view.h, or built by scan_load.h when the index gives
 * up) must give what the whole tree gives, the reported cost read with it included, and the tree it
 * builds of the usage text (scan_load.h) must be jansson's. A usage's reported cost
 * (OpenRouter's usage.cost) is an amount in range or an error, never negative.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/scan_load.h"
#include "proxy/usage.h"
#include "proxy/usage_scan.h"

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
    static const tg__route ROUTES[] = {TG__ROUTE_OPENAI_CHAT, TG__ROUTE_OPENAI_RESPONSES,
                                       TG__ROUTE_OPENAI_EMBEDDINGS, TG__ROUTE_ANTHROPIC_MESSAGES,
                                       TG__ROUTE_GEMINI_GENERATE};
    tg__model_price price;
    tg__model_price_init(&price);
    for (int u = 0; u < TG__UNIT_COUNT; u++) {
        tg__model_price_set(&price, (tg__unit)u, 1000000 * (u + 1));
    }
    for (size_t r = 0; r < sizeof ROUTES / sizeof ROUTES[0]; r++) {
        tg__usage usage, tree;
        memset(&usage, 0, sizeof usage);
        memset(&tree, 0, sizeof tree);
        tg_status status_fast =
            tg__usage_from_body(ROUTES[r], (const char *)data, size, &usage, NULL);
        /* The scan must answer exactly as the whole tree does. */
        tg_status status_tree =
            tg__usage_from_body_tree(ROUTES[r], (const char *)data, size, &tree, NULL);
        FUZZ_CHECK(status_fast == status_tree);
        if (status_fast != TG_OK) {
            continue;
        }
        FUZZ_CHECK(memcmp(usage.counts, tree.counts, sizeof usage.counts) == 0);
        FUZZ_CHECK(usage.estimated == tree.estimated);
        /* The reported cost, read with the usage, is the whole tree's too. */
        int64_t cost_fast = -7, cost_tree = -7;
        FUZZ_CHECK(tg__usage_read_body(ROUTES[r], (const char *)data, size, &usage, &cost_fast,
                                       NULL) == TG_OK);
        FUZZ_CHECK(tg__usage_read_body_tree(ROUTES[r], (const char *)data, size, &tree, &cost_tree,
                                            NULL) == TG_OK);
        FUZZ_CHECK(cost_fast == cost_tree && cost_fast >= -1);
        /* What the scan accepted loads as jansson loads it (scan_load.h). */
        const char *text;
        size_t text_size;
        if (tg__usage_scan(ROUTES[r], (const char *)data, size, &text, &text_size, NULL) &&
            text != NULL) {
            json_t *fast = tg__scan_load(text, text_size, 0);
            json_t *reference = json_loadb(text, text_size, JSON_DECODE_ANY, NULL);
            FUZZ_CHECK(fast != NULL && reference != NULL && json_equal(fast, reference));
            json_decref(fast);
            json_decref(reference);
        }
        for (int u = 0; u < TG__UNIT_COUNT; u++) {
            FUZZ_CHECK(usage.counts[u] >= 0 && usage.counts[u] <= 4 * TG__USAGE_COUNT_MAX);
        }
        int64_t cost = -1;
        tg_status status = tg__cost_micros(&price, &usage, &cost);
        FUZZ_CHECK(status == TG_ERR_RANGE || (status == TG_OK && cost >= 0));
        json_t *json = tg__usage_to_json(ROUTES[r], &usage);
        json_decref(json);
    }
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    int64_t reported = -1;
    tg_status status = tg__usage_cost_micros(json_object_get(root, "usage"), &reported);
    FUZZ_CHECK(status != TG_OK || (reported >= 0 && reported <= TG_AMOUNT_MAX));
    FUZZ_CHECK(status == TG_OK || reported == -1);
    json_decref(root);
    return 0;
}
