/*
 * fuzz_money: money and fraction text parsing. Checks that whatever parses
 * formats back to a string that parses to the same micros (exactness), and
 * that nothing is read past the input.
 */
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 64) {
        return 0;
    }
    char text[65];
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t micros;
    if (tg_money_parse(text, &micros) == TG_OK) {
        FUZZ_CHECK(micros >= 0 && micros <= TG_LIMIT_MAX);
        char buf[32];
        int64_t again;
        FUZZ_CHECK(tg_money_parse(tg_money_format(micros, buf, sizeof buf), &again) == TG_OK);
        FUZZ_CHECK(again == micros);
    }
    int64_t ppm;
    if (tg_fraction_parse(text, &ppm) == TG_OK) {
        FUZZ_CHECK(ppm >= 0 && ppm <= TG_PPM);
    }
    tg_class cls;
    tg_window_kind window;
    (void)tg_class_parse(text, &cls);
    (void)tg_window_parse(text, &window);
    return 0;
}
