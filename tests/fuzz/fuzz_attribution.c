/*
 * fuzz_attribution: x-tollgate-budget, the request's user and x-tollgate-tags
 * (src/proxy/attribution.c). Whatever bytes arrive, a budget that is accepted is the
 * scope or lies under it, and accepted tags are within their bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/attribution.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) {
        return 0;
    }
    char text[4097];
    memcpy(text, data, size);
    text[size] = '\0';
    static const char scope[] = "acme/support";
    char out[TG_PATH_SIZE_MAX];
    for (int users = 0; users < 2; users++) {
        if (tg__attribution_budget(scope, text, NULL, users, out, NULL) == TG_OK) {
            FUZZ_CHECK(strcmp(out, text) == 0);
            FUZZ_CHECK(strncmp(out, scope, sizeof scope - 1) == 0);
            FUZZ_CHECK(out[sizeof scope - 1] == '\0' || out[sizeof scope - 1] == '/');
            FUZZ_CHECK(strstr(out, "..") == NULL || strstr(out, "/../") == NULL);
        }
        if (tg__attribution_budget(scope, NULL, text, users, out, NULL) == TG_OK) {
            FUZZ_CHECK(strncmp(out, scope, sizeof scope - 1) == 0);
            FUZZ_CHECK(strchr(out + sizeof scope, '/') == NULL);
        }
    }
    char tags[TG__TAGS_SIZE_MAX];
    int count = 0;
    if (tg__attribution_tags(text, tags, sizeof tags, &count, NULL) == TG_OK) {
        FUZZ_CHECK(count >= 0 && count <= TG__TAGS_MAX);
        FUZZ_CHECK(strlen(tags) < sizeof tags);
        FUZZ_CHECK(strchr(tags, ' ') == NULL);
    }
    return 0;
}
