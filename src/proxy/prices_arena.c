/*
 * prices_arena: the allocator of a loaded price table. A table is thousands of
 * small strings, rules and prices that live and die together; one arena makes
 * every error path of the loader a single free.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/prices_internal.h"

#define ARENA_CHUNK_SIZE (64 * 1024)
#define ARENA_ALIGN 16

struct tg__arena_chunk {
    tg__arena_chunk *next; /* older chunk */
    size_t used;           /* bytes handed out */
    size_t capacity;       /* bytes in data */
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

void *tg__arena_alloc(tg__arena *arena, size_t size) {
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0) {
        size = ARENA_ALIGN;
    }
    tg__arena_chunk *chunk = arena->chunks;
    if (chunk == NULL || chunk->capacity - chunk->used < size) {
        size_t capacity = size > ARENA_CHUNK_SIZE ? size : ARENA_CHUNK_SIZE;
        chunk = malloc(sizeof *chunk + capacity);
        if (chunk == NULL) {
            return NULL;
        }
        chunk->next = arena->chunks;
        chunk->used = 0;
        chunk->capacity = capacity;
        arena->chunks = chunk;
    }
    void *p = chunk->data + chunk->used;
    chunk->used += size;
    memset(p, 0, size);
    return p;
}

char *tg__arena_strdup(tg__arena *arena, const char *text) {
    size_t size = strlen(text) + 1;
    char *copy = tg__arena_alloc(arena, size);
    if (copy != NULL) {
        memcpy(copy, text, size);
    }
    return copy;
}

bool tg__arena_keep_regex(tg__arena *arena, regex_t *regex) {
    if (arena->regexes_count == arena->regexes_capacity) {
        size_t capacity = arena->regexes_capacity ? arena->regexes_capacity * 2 : 16;
        regex_t **regexes = realloc(arena->regexes, capacity * sizeof *regexes);
        if (regexes == NULL) {
            return false;
        }
        arena->regexes = regexes;
        arena->regexes_capacity = capacity;
    }
    arena->regexes[arena->regexes_count++] = regex;
    return true;
}

void tg__arena_free(tg__arena *arena) {
    for (size_t i = 0; i < arena->regexes_count; i++) {
        regfree(arena->regexes[i]);
    }
    free(arena->regexes);
    tg__arena_chunk *chunk = arena->chunks;
    while (chunk != NULL) {
        tg__arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    memset(arena, 0, sizeof *arena);
}
