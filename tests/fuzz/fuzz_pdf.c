/*
 * fuzz_pdf: page counts from PDF bytes (src/proxy/pdf.c) and from base64 text, and
 * the numbers.h arithmetic they feed. Checks that a count is within its limits,
 * that the base64 path agrees with the raw one on the same bytes, and that nothing
 * is read past the input.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/numbers.h"
#include "proxy/pdf.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *base64(const uint8_t *data, size_t size) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(size / 3 * 4 + 5);
    size_t used = 0;
    for (size_t i = 0; out != NULL && i < size; i += 3) {
        uint32_t bits = (uint32_t)data[i] << 16;
        bits |= i + 1 < size ? (uint32_t)data[i + 1] << 8 : 0;
        bits |= i + 2 < size ? data[i + 2] : 0;
        out[used++] = digits[bits >> 18 & 63];
        out[used++] = digits[bits >> 12 & 63];
        out[used++] = i + 1 < size ? digits[bits >> 6 & 63] : '=';
        out[used++] = i + 2 < size ? digits[bits & 63] : '=';
    }
    if (out != NULL) {
        out[used] = '\0';
    }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) {
        return 0;
    }
    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any over-read */
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    int64_t pages = -1;
    tg_status raw = tg__pdf_pages(copy, size, &pages);
    FUZZ_CHECK(raw != TG_OK || (pages >= 1 && pages <= TG__PDF_PAGES_MAX));
    char *text = base64(copy, size);
    if (text != NULL) {
        int64_t again = -1;
        tg_status decoded = tg__pdf_pages_base64(text, strlen(text), &again);
        FUZZ_CHECK(decoded == raw || decoded == TG_ERR_NOMEM);
        FUZZ_CHECK(raw != TG_OK || again == pages);
        free(text);
    }
    int64_t a = size > 8 ? (int64_t)(data[0] | (uint64_t)data[1] << 8) << (data[2] % 48) : 0;
    int64_t b = size > 8 ? (int64_t)data[3] << (data[4] % 56) : 0;
    FUZZ_CHECK(tg__sat_add(a, b) >= a && tg__sat_add(a, b) >= b);
    FUZZ_CHECK(tg__sat_mul(a, b) >= 0);
    FUZZ_CHECK(a == 0 || b == 0 || tg__sat_mul(a, b) >= (a > b ? a : b));
    free(copy);
    return 0;
}
