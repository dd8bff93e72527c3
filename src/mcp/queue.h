/*
 * queue: bytes waiting to be written to a non-blocking descriptor, consumed
 * from the front as the descriptor takes them. Every queue has a maximum; the
 * stdio transport stops reading from the other side well before it is
 * reached (back-pressure), so the maximum is a guard, not a policy.
 */
#ifndef TG_MCP_QUEUE_H
#define TG_MCP_QUEUE_H

#include <stddef.h>

#include "tollgate.h"

typedef struct {
    char *data;      /* from malloc, owned; bytes [start, start + size) are waiting */
    size_t start;    /* first waiting byte */
    size_t size;     /* waiting bytes */
    size_t capacity; /* bytes allocated */
    size_t size_max; /* appends that would pass this fail with TG_ERR_FULL */
} tg__mcp_queue;

void tg__mcp_queue_init(tg__mcp_queue *queue, size_t size_max);
void tg__mcp_queue_free(tg__mcp_queue *queue);

/* Appends a message and a '\n'. TG_ERR_FULL, TG_ERR_NOMEM; the queue is unchanged then. */
tg_status tg__mcp_queue_line(tg__mcp_queue *queue, const char *message, size_t size);

/* Drops the first line waiting (through its '\n'); nothing when none is whole. */
void tg__mcp_queue_drop_line(tg__mcp_queue *queue);

/* Drops everything waiting. */
void tg__mcp_queue_clear(tg__mcp_queue *queue);

/*
 * Writes what the descriptor takes now. Returns TG_OK (possibly with bytes
 * left), or TG_ERR_IO when the descriptor is closed or broken (the queue is
 * then cleared: nobody will read it).
 */
tg_status tg__mcp_queue_write(tg__mcp_queue *queue, int fd);

#endif
