/*
 * huge_alloc: memory for the tokenizer's large arrays (the ids a long text encodes to,
 * the scratch of a long piece) in 2 MiB pages where the kernel offers them
 * (transparent huge pages in "always" or "madvise" mode).
 *
 * Why: a first encode writes every page of these arrays for the first time, and on the
 * machines measured (a paravirtualized VM) each first touch of a 4 KiB page is a page
 * fault of 10-18 microseconds: 1.5 MiB of ids for 1 MiB of CJK text cost ~5 ms, more
 * than the rest of the encode's first pass. One 2 MiB page is one fault (~0.1 ms,
 * measured 4 MiB in 0.3 ms against 13-18 ms in 4 KiB pages). Where huge pages are not
 * offered, this is plain aligned memory with the same faults as before.
 */
#ifndef TG_TOKENIZER_HUGE_ALLOC_H
#define TG_TOKENIZER_HUGE_ALLOC_H

#include <stddef.h>

/* Below this, malloc: the array fits the heap's already-touched pages or a few faults. */
#define TG__HUGE_ALLOC_MIN_BYTES ((size_t)256 << 10)

/* At least bytes of memory that free() releases, NULL when out of memory.
 * *capacity_out: the bytes usable (bytes rounded up to 2 MiB when huge). */
void *tg__huge_alloc(size_t bytes, size_t *capacity_out);

#endif
