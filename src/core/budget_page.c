/*
 * budget_page: one page of budget paths in path order, after a cursor. The ledger
 * keeps no ordered index (a sorted array would cost a move of the whole table per
 * create), so a page is one pass over the table keeping the `limit` smallest paths
 * after the cursor in a bounded max-heap: O(budgets x log limit) time, O(limit)
 * memory, whatever the number of budgets listed in all.
 */
#include <string.h>

#include "core/ledger_internal.h"

static void heap_down(const char **heap, size_t count, size_t pos) {
    for (;;) {
        size_t left = 2 * pos + 1, right = left + 1, most = pos;
        if (left < count && strcmp(heap[left], heap[most]) > 0) {
            most = left;
        }
        if (right < count && strcmp(heap[right], heap[most]) > 0) {
            most = right;
        }
        if (most == pos) {
            return;
        }
        const char *swap = heap[pos];
        heap[pos] = heap[most];
        heap[most] = swap;
        pos = most;
    }
}

static void heap_up(const char **heap, size_t pos) {
    while (pos > 0 && strcmp(heap[pos], heap[(pos - 1) / 2]) > 0) {
        const char *swap = heap[pos];
        heap[pos] = heap[(pos - 1) / 2];
        heap[(pos - 1) / 2] = swap;
        pos = (pos - 1) / 2;
    }
}

static int path_compare(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first `limit` paths in path order among those after `after`, under `prefix`, that
 * `keep` accepts (NULL: all); *matched_out (when not NULL) counts every one accepted. */
static tg_status page_select(const tg__ledger *ledger, const char *prefix, const char *after,
                             bool (*keep)(void *user, const char *path), void *user, size_t limit,
                             char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out,
                             size_t *matched_out, tg_error *err) {
    *count_out = 0;
    const char **heap = malloc((limit ? limit : 1) * sizeof *heap);
    if (heap == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory listing budgets");
    }
    size_t count = 0, matched = 0, prefix_len = prefix ? strlen(prefix) : 0;
    for (int32_t i = 0; i < ledger->budgets_capacity; i++) {
        const tg__budget *budget = &ledger->budgets[i];
        if (!budget->live || (prefix_len && strncmp(budget->path, prefix, prefix_len) != 0) ||
            (after && strcmp(budget->path, after) <= 0) ||
            (keep != NULL && !keep(user, budget->path))) {
            continue;
        }
        matched++;
        if (limit == 0) {
            continue;
        }
        if (count < limit) {
            heap[count++] = budget->path;
            heap_up(heap, count - 1);
        } else if (strcmp(budget->path, heap[0]) < 0) {
            heap[0] = budget->path; /* smaller than the largest kept: replaces it */
            heap_down(heap, count, 0);
        }
    }
    qsort(heap, count, sizeof *heap, path_compare);
    for (size_t i = 0; i < count; i++) {
        memcpy(paths[i], heap[i], strlen(heap[i]) + 1);
    }
    free(heap);
    *count_out = count;
    if (matched_out != NULL) {
        *matched_out = matched;
    }
    return TG_OK;
}

tg_status tg__ledger_budget_page(const tg__ledger *ledger, const char *prefix, const char *after,
                                 size_t limit, char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out,
                                 tg_error *err) {
    if (limit == 0) {
        *count_out = 0;
        return TG_OK;
    }
    return page_select(ledger, prefix, after, NULL, NULL, limit, paths, count_out, NULL, err);
}

tg_status tg__ledger_budget_select(const tg__ledger *ledger,
                                   bool (*keep)(void *user, const char *path), void *user,
                                   size_t limit, char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out,
                                   size_t *matched_out, tg_error *err) {
    return page_select(ledger, NULL, NULL, keep, user, limit, paths, count_out, matched_out, err);
}
