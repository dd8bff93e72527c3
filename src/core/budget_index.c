/*
 * budget_index: the path -> slot index of the budget table, and where restored paths
 * live. A start-up restores a million budgets in path order and looks none of them up
 * while doing so (a parent is on the chain of the budget before it), so their entries
 * wait in a list and go into the index in one pass at the first lookup, with buckets
 * fetched ahead: a million random inserts one after the other each wait for a cache
 * miss, in a batch the misses overlap. Their paths are copied into large chunks
 * instead of a malloc each.
 */
#include <string.h>

#include "core/ledger_internal.h"

/* The first chunk holds the paths of some 30,000 restored budgets; each next one is twice
 * the one before, up to the maximum: a small ledger takes 1 MiB, a million paths some
 * twenty chunks instead of a hundred. */
#define PATH_CHUNK_SIZE_BYTES_MIN ((size_t)1 << 20)
#define PATH_CHUNK_SIZE_BYTES_MAX ((size_t)16 << 20)

_Static_assert(PATH_CHUNK_SIZE_BYTES_MIN > 64 * TG_PATH_SIZE_MAX, "a chunk holds many paths");

struct tg__path_chunk {
    tg__path_chunk *next; /* the chunk filled before this one */
    size_t used;          /* bytes of text taken */
    size_t size_bytes;    /* of the whole chunk, header included */
    char text[];          /* size_bytes - the header */
};

static bool budget_path_eq(const void *table, int32_t value, const void *key) {
    const tg__budget *budgets = table;
    return strcmp(budgets[value].path, key) == 0;
}

/* Puts the waiting entries in and stops waiting; with none waiting yet (the first row of a
 * start-up is looked up as a duplicate check) it keeps waiting. */
void tg__budget_index_flush(tg__ledger *ledger) {
    if (ledger->index_pending == NULL || ledger->index_pending_count == 0) {
        return;
    }
    tg__map_put_many(&ledger->budget_index, ledger->index_pending,
                     (size_t)ledger->index_pending_count);
    free(ledger->index_pending);
    ledger->index_pending = NULL;
    ledger->index_pending_count = ledger->index_pending_capacity = 0;
}

int32_t tg__budget_find(const tg__ledger *ledger, const char *path) {
    if (ledger->index_pending_count > 0) {
        /* The first lookup after a start-up completes the index. The ledger is never a
         * const object (every one comes from tg__ledger_new), only this view of it. */
        tg__budget_index_flush((tg__ledger *)ledger);
    }
    return tg__map_get(&ledger->budget_index, tg__hash_str(path), budget_path_eq, ledger->budgets,
                       path);
}

tg_status tg__budget_index_defer(tg__ledger *ledger, int64_t count, tg_error *err) {
    if (count <= 0 || ledger->index_pending != NULL) {
        return TG_OK;
    }
    /* The index has room for `count` more (tg__budgets_reserve), so the flush never grows it. */
    ledger->index_pending = malloc((size_t)count * sizeof *ledger->index_pending);
    if (ledger->index_pending == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory restoring %lld budgets",
                        (long long)count);
    }
    ledger->index_pending_capacity = (int32_t)count;
    ledger->index_pending_count = 0;
    return TG_OK;
}

tg_status tg__budget_index_put(tg__ledger *ledger, const char *path, int32_t slot) {
    uint64_t hash = tg__hash_str(path);
    if (ledger->index_pending != NULL &&
        ledger->index_pending_count < ledger->index_pending_capacity) {
        tg__map_slot *entry = &ledger->index_pending[ledger->index_pending_count++];
        entry->hash = hash;
        entry->value = slot;
        return TG_OK;
    }
    tg__budget_index_flush(ledger);
    return tg__map_put(&ledger->budget_index, hash, slot);
}

void tg__budget_index_remove(tg__ledger *ledger, const char *path, int32_t slot) {
    tg__budget_index_flush(ledger);
    tg__map_remove(&ledger->budget_index, tg__hash_str(path), slot);
}

char *tg__budget_path_copy(tg__ledger *ledger, const char *path, bool restoring, bool *in_chunk) {
    size_t size = strlen(path) + 1;
    *in_chunk = false;
    if (restoring && size <= PATH_CHUNK_SIZE_BYTES_MIN - sizeof(tg__path_chunk)) {
        tg__path_chunk *chunk = ledger->path_chunks;
        if (chunk == NULL || chunk->used + size > chunk->size_bytes - sizeof(tg__path_chunk)) {
            size_t size_bytes = chunk == NULL ? PATH_CHUNK_SIZE_BYTES_MIN : 2 * chunk->size_bytes;
            size_bytes =
                size_bytes < PATH_CHUNK_SIZE_BYTES_MAX ? size_bytes : PATH_CHUNK_SIZE_BYTES_MAX;
            chunk = malloc(size_bytes);
            if (chunk != NULL) {
                chunk->next = ledger->path_chunks;
                chunk->used = 0;
                chunk->size_bytes = size_bytes;
                ledger->path_chunks = chunk;
            }
        }
        if (chunk != NULL) {
            char *copy = chunk->text + chunk->used;
            memcpy(copy, path, size);
            chunk->used += size;
            *in_chunk = true;
            return copy;
        }
    }
    char *copy = malloc(size);
    if (copy != NULL) {
        memcpy(copy, path, size);
    }
    return copy;
}

void tg__budget_path_free(tg__budget *budget) {
    if (!budget->path_in_chunk) {
        free(budget->path);
    }
    budget->path = NULL;
    budget->path_in_chunk = false;
}

void tg__budget_index_free(tg__ledger *ledger) {
    for (int32_t i = 0; i < ledger->budgets_capacity; i++) {
        tg__budget_path_free(&ledger->budgets[i]);
    }
    while (ledger->path_chunks != NULL) {
        tg__path_chunk *next = ledger->path_chunks->next;
        free(ledger->path_chunks);
        ledger->path_chunks = next;
    }
    free(ledger->index_pending);
    ledger->index_pending = NULL;
    tg__map_free(&ledger->budget_index);
}
