/*
 * fuzz_request: request bodies of every route. A body that parses must give a
 * worst case or a clear error, survive every rewrite, and serialize to a body
 * that parses again to the same model, cap and stream flag. The same bytes as a
 * request path: a route found with an {id} gives back an id of allowed characters. A
 * body the scan is sure of loads as jansson loads it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/plan.h"
#include "proxy/provider.h"
#include "proxy/request.h"
#include "proxy/scan_load.h"
#include "proxy/usage_scan.h"
#include "tokenizer/json_escapes.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(tg__route route, const char *bytes, size_t size) {
    tg__request request;
    if (tg__request_parse(route, bytes, size, &request, NULL) != TG_OK) {
        return;
    }
    tg__model_price price;
    tg__model_price_init(&price);
    tg__model_price_set(&price, TG__UNIT_INPUT, 2500000);
    tg__model_price_set(&price, TG__UNIT_OUTPUT, 10000000);
    price.context_window_tokens = 128000;
    FUZZ_CHECK(request.info.prompt_tokens_estimate >= 0 && request.info.choices >= 1);
    int64_t worst = -1;
    if (tg__request_worst_case(&request.info, &price, &worst, NULL) == TG_OK) {
        FUZZ_CHECK(worst >= 0);
    }
    tg__plan plan;
    tg__plan_options lower = {.policy = TG__OVER_LOWER, .min_output_tokens = 1};
    if (tg__plan_make(&request.info, &price, 5000, &lower, &plan, NULL) == TG_OK &&
        plan.action == TG__PLAN_LOWERED) {
        FUZZ_CHECK(plan.worst_case_micros <= 5000);
        FUZZ_CHECK(tg__plan_apply(&plan, &request) == TG_OK);
    }
    (void)tg__request_ensure_stream_usage(&request);
    char *text = NULL;
    size_t text_size = 0;
    if (tg__request_serialize(&request, &text, &text_size) == TG_OK) {
        tg__request again;
        FUZZ_CHECK(tg__request_parse(route, text, text_size, &again, NULL) == TG_OK);
        FUZZ_CHECK(strcmp(again.info.model, request.info.model) == 0);
        FUZZ_CHECK(again.info.max_output_tokens == request.info.max_output_tokens);
        FUZZ_CHECK(again.info.stream == request.info.stream);
        tg__request_free(&again);
        free(text);
    }
    tg__request_free(&request);
}

/* The bytes as a path (up to the first NUL, at most 511 bytes). */
static void exercise_path(const char *bytes, size_t size) {
    char path[512];
    size = size < sizeof path - 1 ? size : sizeof path - 1;
    memcpy(path, bytes, size);
    path[size] = '\0';
    static const char *const METHODS[] = {"GET", "POST"};
    for (int m = 0; m < 2; m++) {
        tg__route route;
        if (tg__route_find(METHODS[m], path, &route) != TG_OK) {
            continue;
        }
        char id[TG_NAME_SIZE_MAX]; /* an {id} or a {model} (dots allowed) */
        if (tg__route_id(route, path, id, sizeof id) == TG_OK) {
            FUZZ_CHECK(id[0] != '\0' && strlen(id) < sizeof id);
            FUZZ_CHECK(
                strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
                strlen(id));
            FUZZ_CHECK(strchr(id, '.') == NULL || strstr(path, "/models/") != NULL);
        }
    }
    /* Azure's deployment paths: an OpenAI route and a deployment of allowed bytes. */
    tg__route route;
    char deployment[64];
    if (tg__azure_route(path, &route, deployment, sizeof deployment) == TG_OK) {
        FUZZ_CHECK(route == TG__ROUTE_OPENAI_CHAT || route == TG__ROUTE_OPENAI_COMPLETIONS ||
                   route == TG__ROUTE_OPENAI_EMBEDDINGS);
        FUZZ_CHECK(deployment[0] != '\0' && strlen(deployment) < sizeof deployment);
        FUZZ_CHECK(strspn(deployment,
                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
                   strlen(deployment));
        FUZZ_CHECK(strstr(path, deployment) != NULL);
    }
}

/* A body the scan is sure of is built without jansson's reader (request.c): the tree must
 * be the lenient loader's, and refused alike when a key comes twice. */
static void exercise_load(const char *bytes, size_t size) {
    if (!tg__json_scan_object(bytes, size)) {
        return;
    }
    json_t *fast = tg__scan_load(bytes, size, JSON_REJECT_DUPLICATES);
    json_t *reference = tg__json_load_lenient(bytes, size, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK((fast == NULL) == (reference == NULL));
    FUZZ_CHECK(fast == NULL || json_equal(fast, reference));
    json_decref(fast);
    json_decref(reference);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) {
        return 0;
    }
    exercise_load((const char *)data, size);
    exercise_path((const char *)data, size);
    for (int route = 0; route < TG__ROUTE_COUNT; route++) {
        exercise((tg__route)route, (const char *)data, size);
    }
    return 0;
}
