/*
 * queue: the waiting bytes are moved to the front only when the buffer must
 * grow, so a steady stream of small messages costs one memcpy each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp/queue.h"

void tg__mcp_queue_init(tg__mcp_queue *queue, size_t size_max) {
    memset(queue, 0, sizeof *queue);
    queue->size_max = size_max;
}

void tg__mcp_queue_free(tg__mcp_queue *queue) {
    free(queue->data);
    memset(queue, 0, sizeof *queue);
}

void tg__mcp_queue_clear(tg__mcp_queue *queue) {
    queue->start = 0;
    queue->size = 0;
}

void tg__mcp_queue_drop_line(tg__mcp_queue *queue) {
    const char *first = queue->data + queue->start;
    const char *newline = queue->size > 0 ? memchr(first, '\n', queue->size) : NULL;
    if (newline != NULL) {
        size_t length = (size_t)(newline - first) + 1;
        queue->start += length;
        queue->size -= length;
    }
}

tg_status tg__mcp_queue_line(tg__mcp_queue *queue, const char *message, size_t size) {
    if (size >= queue->size_max || queue->size > queue->size_max - size - 1) {
        return TG_ERR_FULL;
    }
    size_t needed = queue->size + size + 1;
    if (queue->start + needed > queue->capacity) {
        if (queue->start > 0) {
            memmove(queue->data, queue->data + queue->start, queue->size);
            queue->start = 0;
        }
        if (needed > queue->capacity) {
            size_t capacity = queue->capacity ? queue->capacity : 65536;
            while (capacity < needed) {
                capacity *= 2;
            }
            char *data = realloc(queue->data, capacity);
            if (data == NULL) {
                return TG_ERR_NOMEM;
            }
            queue->data = data;
            queue->capacity = capacity;
        }
    }
    memcpy(queue->data + queue->start + queue->size, message, size);
    queue->data[queue->start + queue->size + size] = '\n';
    queue->size += size + 1;
    return TG_OK;
}

tg_status tg__mcp_queue_write(tg__mcp_queue *queue, int fd) {
    while (queue->size > 0) {
        ssize_t written = write(fd, queue->data + queue->start, queue->size);
        if (written > 0) {
            queue->start += (size_t)written;
            queue->size -= (size_t)written;
        } else if (written < 0 && errno == EINTR) {
            continue;
        } else if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return TG_OK;
        } else {
            tg__mcp_queue_clear(queue);
            return TG_ERR_IO;
        }
    }
    queue->start = 0;
    return TG_OK;
}
