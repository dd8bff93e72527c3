/*
 * buf: growth doubles the capacity (amortized O(1) appends) but never past the
 * buffer's maximum, so a hostile stream cannot make the daemon allocate more
 * than the configured limit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

void tg__buf_init(tg__buf *buf, size_t size_max) {
    buf->data = NULL;
    buf->size = 0;
    buf->capacity = 0;
    buf->size_max = size_max;
}

/* Makes room for `more` bytes plus a NUL. */
static tg_status buf_reserve(tg__buf *buf, size_t more) {
    if (more > buf->size_max || buf->size > buf->size_max - more) {
        return TG_ERR_FULL;
    }
    size_t needed = buf->size + more + 1;
    if (needed <= buf->capacity) {
        return TG_OK;
    }
    size_t capacity = buf->capacity ? buf->capacity : 256;
    while (capacity < needed) {
        capacity *= 2;
    }
    if (capacity > buf->size_max + 1) {
        capacity = buf->size_max + 1;
    }
    char *data = realloc(buf->data, capacity);
    if (data == NULL) {
        return TG_ERR_NOMEM;
    }
    buf->data = data;
    buf->capacity = capacity;
    return TG_OK;
}

tg_status tg__buf_append(tg__buf *buf, const void *bytes, size_t size) {
    tg_status status = buf_reserve(buf, size);
    if (status != TG_OK) {
        return status;
    }
    if (size > 0) {
        memcpy(buf->data + buf->size, bytes, size);
    }
    buf->size += size;
    buf->data[buf->size] = '\0';
    return TG_OK;
}

tg_status tg__buf_puts(tg__buf *buf, const char *text) {
    return tg__buf_append(buf, text, strlen(text));
}

tg_status tg__buf_printf(tg__buf *buf, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int length = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (length < 0) {
        return TG_ERR_INVALID;
    }
    tg_status status = buf_reserve(buf, (size_t)length);
    if (status != TG_OK) {
        return status;
    }
    va_start(args, format);
    vsnprintf(buf->data + buf->size, (size_t)length + 1, format, args);
    va_end(args);
    buf->size += (size_t)length;
    return TG_OK;
}

void tg__buf_reset(tg__buf *buf) {
    buf->size = 0;
    if (buf->data != NULL) {
        buf->data[0] = '\0';
    }
}

void tg__buf_truncate(tg__buf *buf, size_t size) {
    if (size < buf->size) {
        buf->size = size;
        buf->data[size] = '\0';
    }
}

void tg__buf_free(tg__buf *buf) {
    if (buf == NULL) {
        return;
    }
    free(buf->data);
    buf->data = NULL;
    buf->size = 0;
    buf->capacity = 0;
}
