/*
 * huge_alloc: see huge_alloc.h.
 */
#include "tokenizer/huge_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE_BYTES ((size_t)2 << 20)

void *tg__huge_alloc(size_t bytes, size_t *capacity_out) {
    if (bytes < TG__HUGE_ALLOC_MIN_BYTES) {
        *capacity_out = bytes;
        return malloc(bytes);
    }
    if (bytes > SIZE_MAX - HUGE_PAGE_BYTES) {
        return NULL;
    }
    size_t rounded = (bytes + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    /* Aligned so each 2 MiB of it can be one page; free() takes it back. */
    void *memory = aligned_alloc(HUGE_PAGE_BYTES, rounded);
    if (memory == NULL) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(memory, rounded, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages */
#endif
    *capacity_out = rounded;
    return memory;
}
