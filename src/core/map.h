/*
 * map: an open-addressing hash index from a 64-bit hash to an int32 slot number
 * in some table the caller owns (budgets, holds, idempotency keys). The map
 * stores no keys: equality is asked of the caller, so tables can keep their
 * keys inline and grow with realloc without invalidating the map.
 */
#ifndef TG_CORE_MAP_H
#define TG_CORE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate.h"

#define TG_MAP_CAPACITY_MAX (UINT32_C(1) << 30)

typedef struct {
    uint64_t hash; /* full hash of the key, to skip most equality calls */
    int32_t value; /* slot in the caller's table; -1 empty, -2 deleted */
} tg__map_slot;

typedef struct {
    tg__map_slot *slots; /* from malloc; freed by tg__map_free */
    uint32_t capacity;   /* power of two, or 0 before the first put */
    uint32_t used;       /* live entries */
    uint32_t deleted;    /* tombstones, counted toward the load factor */
} tg__map;

/* Answers whether table slot `value` holds `key`. */
typedef bool (*tg__map_eq)(const void *table, int32_t value, const void *key);

/* The value for key, or -1. */
int32_t tg__map_get(const tg__map *map, uint64_t hash, tg__map_eq eq, const void *table,
                    const void *key);

/* Adds an entry the caller knows is absent. TG_ERR_NOMEM or TG_ERR_FULL on failure. */
tg_status tg__map_put(tg__map *map, uint64_t hash, int32_t value);

/* Makes room so the next `extra` puts cannot fail. */
tg_status tg__map_reserve(tg__map *map, uint32_t extra);

/* Puts `count` entries at once into room made by tg__map_reserve (asserted): the buckets
 * are fetched a few entries ahead, so a million inserts wait for their cache misses
 * together instead of one after the other. */
void tg__map_put_many(tg__map *map, const tg__map_slot *entries, size_t count);

/* Removes the entry with this hash and value; false if absent. */
bool tg__map_remove(tg__map *map, uint64_t hash, int32_t value);

void tg__map_free(tg__map *map);

uint64_t tg__hash_bytes(const void *data, size_t size);
uint64_t tg__hash_str(const char *text);
uint64_t tg__hash_u64(uint64_t value);

#endif
