/*
 * map: linear probing with tombstones, load factor at most 1/2 so probes stay
 * short; the hot path (hold lookup on commit) is one or two cache lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/map.h"
#include "core/verify.h"

#define EMPTY (-1)
#define DELETED (-2)

uint64_t tg__hash_bytes(const void *data, size_t size) {
    /* FNV-1a, then a finalizer so low bits (used for the index) are well mixed. */
    const unsigned char *p = data;
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return tg__hash_u64(h);
}

uint64_t tg__hash_str(const char *text) {
    return tg__hash_bytes(text, strlen(text));
}

uint64_t tg__hash_u64(uint64_t x) {
    /* splitmix64's finalizer. */
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

int32_t tg__map_get(const tg__map *map, uint64_t hash, tg__map_eq eq, const void *table,
                    const void *key) {
    if (map->capacity == 0) {
        return -1;
    }
    uint32_t mask = map->capacity - 1;
    for (uint32_t i = (uint32_t)hash & mask, probes = 0; probes < map->capacity;
         i = (i + 1) & mask, probes++) {
        const tg__map_slot *slot = &map->slots[i];
        if (slot->value == EMPTY) {
            return -1;
        }
        if (slot->value >= 0 && slot->hash == hash && eq(table, slot->value, key)) {
            return slot->value;
        }
    }
    return -1;
}

static void insert_slot(tg__map_slot *slots, uint32_t capacity, uint64_t hash, int32_t value) {
    uint32_t mask = capacity - 1;
    uint32_t i = (uint32_t)hash & mask;
    while (slots[i].value >= 0) {
        i = (i + 1) & mask;
    }
    slots[i].hash = hash;
    slots[i].value = value;
}

static tg_status rehash(tg__map *map, uint32_t capacity) {
    tg__map_slot *slots = malloc((size_t)capacity * sizeof *slots);
    if (slots == NULL) {
        return TG_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < capacity; i++) {
        slots[i].value = EMPTY;
    }
    for (uint32_t i = 0; i < map->capacity; i++) {
        if (map->slots[i].value >= 0) {
            insert_slot(slots, capacity, map->slots[i].hash, map->slots[i].value);
        }
    }
    free(map->slots);
    map->slots = slots;
    map->capacity = capacity;
    map->deleted = 0;
    return TG_OK;
}

tg_status tg__map_reserve(tg__map *map, uint32_t extra) {
    if ((uint64_t)(map->used + map->deleted + extra) * 2 > map->capacity) {
        uint32_t capacity = map->capacity ? map->capacity : 16;
        while ((uint64_t)(map->used + extra) * 2 > capacity) {
            if (capacity >= TG_MAP_CAPACITY_MAX) {
                return TG_ERR_FULL;
            }
            capacity *= 2;
        }
        if (map->used * 4 > capacity) {
            capacity = capacity >= TG_MAP_CAPACITY_MAX ? capacity : capacity * 2;
        }
        return rehash(map, capacity);
    }
    return TG_OK;
}

tg_status tg__map_put(tg__map *map, uint64_t hash, int32_t value) {
    tg_status status = tg__map_reserve(map, 1);
    if (status != TG_OK) {
        return status;
    }
    uint32_t mask = map->capacity - 1;
    uint32_t i = (uint32_t)hash & mask;
    while (map->slots[i].value >= 0) {
        i = (i + 1) & mask;
    }
    if (map->slots[i].value == DELETED) {
        map->deleted--;
    }
    map->slots[i].hash = hash;
    map->slots[i].value = value;
    map->used++;
    return TG_OK;
}

void tg__map_put_many(tg__map *map, const tg__map_slot *entries, size_t count) {
    enum { AHEAD = 16 }; /* entries whose buckets are being fetched while one is put */
    if (count == 0) {
        return;
    }
    /* A broken precondition stops the process: a map overfilled would probe forever. */
    TG_VERIFY((uint64_t)(map->used + map->deleted + count) * 2 <= map->capacity);
    uint32_t mask = map->capacity - 1;
    for (size_t k = 0; k < count && k < AHEAD; k++) {
        __builtin_prefetch(&map->slots[(uint32_t)entries[k].hash & mask], 1);
    }
    for (size_t k = 0; k < count; k++) {
        if (k + AHEAD < count) {
            __builtin_prefetch(&map->slots[(uint32_t)entries[k + AHEAD].hash & mask], 1);
        }
        uint32_t i = (uint32_t)entries[k].hash & mask;
        while (map->slots[i].value >= 0) {
            i = (i + 1) & mask;
        }
        if (map->slots[i].value == DELETED) {
            map->deleted--;
        }
        map->slots[i] = entries[k];
        map->used++;
    }
}

bool tg__map_remove(tg__map *map, uint64_t hash, int32_t value) {
    if (map->capacity == 0) {
        return false;
    }
    uint32_t mask = map->capacity - 1;
    for (uint32_t i = (uint32_t)hash & mask, probes = 0; probes < map->capacity;
         i = (i + 1) & mask, probes++) {
        tg__map_slot *slot = &map->slots[i];
        if (slot->value == EMPTY) {
            return false;
        }
        if (slot->value == value && slot->hash == hash) {
            slot->value = DELETED;
            map->used--;
            map->deleted++;
            return true;
        }
    }
    return false;
}

void tg__map_free(tg__map *map) {
    free(map->slots);
    memset(map, 0, sizeof *map);
}
