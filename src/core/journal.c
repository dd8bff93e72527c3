/*
 * journal: growable row arrays for one batch of mutations. Allocations are kept
 * across batches so a busy engine stops allocating once warm.
 */
#include <stdlib.h>
#include <string.h>

#include "core/ledger_internal.h"

/* Every TG__ROWS(...) has this layout. */
typedef struct {
    void *items;
    uint32_t count;
    uint32_t capacity;
} rows_any;

/* A batch larger than this is a bug upstream (batches are one loop turn). */
#define JOURNAL_ROWS_MAX (UINT32_C(1) << 26)

void *tg__journal_push(tg__ledger *ledger, void *rows_ptr, size_t item_size) {
    rows_any *rows = rows_ptr;
    if (rows->count == rows->capacity) {
        uint32_t capacity = rows->capacity ? rows->capacity * 2 : 64;
        void *items =
            capacity <= JOURNAL_ROWS_MAX ? realloc(rows->items, capacity * item_size) : NULL;
        if (items == NULL) {
            ledger->journal_broken = true;
            return NULL;
        }
        rows->items = items;
        rows->capacity = capacity;
    }
    void *item = (char *)rows->items + (size_t)rows->count++ * item_size;
    memset(item, 0, item_size);
    return item;
}

#define ALL_ROWS(j)                                                                                \
    {                                                                                              \
        (rows_any *)&(j)->budgets_deleted, (rows_any *)&(j)->budgets, (rows_any *)&(j)->holds,     \
            (rows_any *)&(j)->charges, (rows_any *)&(j)->events, (rows_any *)&(j)->windows,        \
            (rows_any *)&(j)->idem_put, (rows_any *)&(j)->idem_deleted,                            \
            (rows_any *)&(j)->api_keys_deleted, (rows_any *)&(j)->api_keys_put,                    \
            (rows_any *)&(j)->calls, (rows_any *)&(j)->approvals                                   \
    }

bool tg__journal_empty(const tg__journal *journal) {
    const rows_any *all[] = ALL_ROWS(journal);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i]->count != 0) {
            return false;
        }
    }
    return true;
}

void tg__journal_clear(tg__journal *journal) {
    rows_any *all[] = ALL_ROWS(journal);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        all[i]->count = 0;
    }
}

void tg__journal_free(tg__journal *journal) {
    rows_any *all[] = ALL_ROWS(journal);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]->items);
        all[i]->items = NULL;
        all[i]->count = all[i]->capacity = 0;
    }
}
