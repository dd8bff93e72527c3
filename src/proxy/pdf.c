/*
 * pdf: page counts from PDF bytes (pdf.h). A byte scanner over the whole file:
 * no object parser, so no recursion and no allocation but the base64 decode.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/pdf.h"
#include "tokenizer/images.h"

static bool is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\0';
}

/* PDF delimiters end a name: "/Page" followed by one of these is the name Page. */
static bool ends_name(uint8_t c) {
    return is_space(c) || c == '/' || c == '>' || c == '<' || c == '[' || c == ']' || c == '(' ||
           c == ')' || c == '%' || c == '{' || c == '}';
}

static bool starts(const uint8_t *at, const uint8_t *end, const char *word) {
    size_t size = strlen(word);
    return (size_t)(end - at) >= size && memcmp(at, word, size) == 0;
}

static const uint8_t *skip_space(const uint8_t *at, const uint8_t *end) {
    while (at < end && is_space(*at)) {
        at++;
    }
    return at;
}

/* After "/Count": the integer, or -1. */
static int64_t read_count(const uint8_t *at, const uint8_t *end) {
    at = skip_space(at, end);
    int64_t value = 0;
    int digits = 0;
    while (at < end && *at >= '0' && *at <= '9' && digits < 12) {
        value = value * 10 + (*at - '0');
        at++;
        digits++;
    }
    return digits > 0 ? value : -1;
}

tg_status tg__pdf_pages(const uint8_t *bytes, size_t size, int64_t *pages_out) {
    if (size > TG__PDF_SIZE_MAX) {
        return TG_ERR_FULL;
    }
    if (size < 5 || memcmp(bytes, "%PDF-", 5) != 0) {
        return TG_ERR_INVALID;
    }
    const uint8_t *end = bytes + size;
    int64_t objects = 0, count_max = 0;
    for (const uint8_t *at = bytes; at < end; at++) {
        if (*at != '/') {
            continue;
        }
        if (starts(at, end, "/Type")) {
            const uint8_t *value = skip_space(at + 5, end);
            if (starts(value, end, "/Page") && (value + 5 == end || ends_name(value[5]))) {
                objects++;
            }
        } else if (starts(at, end, "/Count") && (at + 6 == end || ends_name(at[6]))) {
            int64_t count = read_count(at + 6, end);
            count_max = count > count_max ? count : count_max;
        }
    }
    int64_t pages = objects > count_max ? objects : count_max;
    if (pages <= 0) {
        return TG_ERR_NOT_FOUND;
    }
    *pages_out = pages < TG__PDF_PAGES_MAX ? pages : TG__PDF_PAGES_MAX;
    return TG_OK;
}

tg_status tg__pdf_pages_base64(const char *text, size_t size, int64_t *pages_out) {
    const char *comma = size > 5 && memcmp(text, "data:", 5) == 0 ? memchr(text, ',', size) : NULL;
    if (comma != NULL) {
        size -= (size_t)(comma + 1 - text);
        text = comma + 1;
    }
    if (size / 4 * 3 > TG__PDF_SIZE_MAX) {
        return TG_ERR_FULL;
    }
    uint8_t *bytes = malloc(size / 4 * 3 + 3);
    if (bytes == NULL) {
        return TG_ERR_NOMEM;
    }
    size_t used = 0;
    uint32_t bits = 0;
    int have = 0;
    tg_status status = TG_OK;
    for (size_t i = 0; i < size && status == TG_OK; i++) {
        char c = text[i];
        if (c == '=' || c == '\n' || c == '\r' || c == ' ') {
            continue;
        }
        int value = tg__base64_value((unsigned char)c);
        if (value < 0) {
            status = TG_ERR_INVALID;
            break;
        }
        bits = (bits << 6) | (uint32_t)value;
        if (++have == 4) {
            bytes[used++] = (uint8_t)(bits >> 16);
            bytes[used++] = (uint8_t)(bits >> 8);
            bytes[used++] = (uint8_t)bits;
            bits = 0;
            have = 0;
        }
    }
    if (status == TG_OK && have >= 2) {
        bits <<= 6 * (4 - have);
        bytes[used++] = (uint8_t)(bits >> 16);
        if (have == 3) {
            bytes[used++] = (uint8_t)(bits >> 8);
        }
    }
    if (status == TG_OK) {
        status = tg__pdf_pages(bytes, used, pages_out);
    }
    free(bytes);
    return status;
}
