/*
 * buf: a growable byte buffer with a hard maximum, for every folder that grows one (the
 * proxy's SSE events, error bodies and parser lines; notify's bodies and log pieces; the
 * outbox's id lists; the CLI's inputs). Each use names its limit; this is where the limit
 * is kept, so growth past it fails cleanly (TG_ERR_FULL) instead of reallocating on.
 * Pure memory, no I/O: it lives with core's other shared helpers.
 */
#ifndef TG_CORE_BUF_H
#define TG_CORE_BUF_H

#include <stddef.h>

#include "tollgate.h"

typedef struct {
    char *data;      /* from malloc, NUL-terminated when size > 0; owned here */
    size_t size;     /* bytes in use, terminating NUL not counted */
    size_t capacity; /* bytes allocated */
    size_t size_max; /* appends past this fail with TG_ERR_FULL */
} tg__buf;

/* An empty buffer that will hold at most size_max bytes. Allocates nothing. */
void tg__buf_init(tg__buf *buf, size_t size_max);

/* Appends bytes. TG_ERR_FULL past size_max, TG_ERR_NOMEM; buf unchanged then. */
tg_status tg__buf_append(tg__buf *buf, const void *bytes, size_t size);

/* Appends a NUL-terminated string. */
tg_status tg__buf_puts(tg__buf *buf, const char *text);

/* Appends printf-formatted text. */
tg_status tg__buf_printf(tg__buf *buf, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Cuts the buffer back to its first size bytes (a no-op when size >= buf->size): what a
 * caller appending a record in pieces does when a later piece fails, so that the record
 * goes in whole or not at all. */
void tg__buf_truncate(tg__buf *buf, size_t size);

/* Empties the buffer, keeping its memory. */
void tg__buf_reset(tg__buf *buf);

/* Frees the memory; the buffer is empty and usable again. NULL is a no-op. */
void tg__buf_free(tg__buf *buf);

#endif
