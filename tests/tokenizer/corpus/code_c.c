/* A small ring buffer with a fixed capacity; overwrites the oldest entry when full. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t *items;   /* from malloc; capacity entries */
    size_t capacity;   /* a power of two */
    size_t head, tail; /* head - tail = count, both grow without bound */
} ring;

int ring_init(ring *r, size_t capacity) {
    if (capacity == 0 || (capacity & (capacity - 1)) != 0) {
        return -1;
    }
    r->items = calloc(capacity, sizeof *r->items);
    if (r->items == NULL) {
        return -1;
    }
    r->capacity = capacity;
    r->head = r->tail = 0;
    return 0;
}

void ring_push(ring *r, uint32_t value) {
    r->items[r->head++ & (r->capacity - 1)] = value;
    if (r->head - r->tail > r->capacity) {
        r->tail++;
    }
}

int ring_pop(ring *r, uint32_t *out) {
    if (r->head == r->tail) return 0;
    *out = r->items[r->tail++ & (r->capacity - 1)];
    return 1;
}

static inline uint64_t mix(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

int main(int argc, char **argv) {
    ring r;
    if (ring_init(&r, 1u << 10) != 0) { fprintf(stderr, "oom\n"); return 1; }
    for (int i = 0; i < argc; i++) ring_push(&r, (uint32_t)strlen(argv[i]));
    uint32_t v; while (ring_pop(&r, &v)) printf("%u\t%#x\n", v, (unsigned)mix(v));
    free(r.items);
    return 0;
}
