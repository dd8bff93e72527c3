/*
 * bpe: the two merge loops of bpe.h. Both give tiktoken's result: at each step the
 * lowest-ranked pair merges, the leftmost on ties; the heap orders entries by
 * (rank, start) for the same reason.
 */
#include "tokenizer/bpe.h"

#include <stdlib.h>

#define NO_PART UINT32_MAX

/* tiktoken's own loop: parts in arrays, a linear scan for the minimum. Quadratic,
 * but with the fewest memory touches for the short pieces that are nearly all. */
static size_t merge_small(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                          uint32_t *ids) {
    uint32_t start[TG__BPE_SMALL_MAX + 1]; /* start of each part; start[parts] = len */
    uint32_t pair[TG__BPE_SMALL_MAX];      /* rank of part k merged with part k + 1 */
    uint32_t token[TG__BPE_SMALL_MAX];     /* rank of part k itself */
    size_t parts = len;
    for (size_t k = 0; k < len; k++) {
        start[k] = (uint32_t)k;
        token[k] = vocab->byte_rank[p[k]];
        pair[k] = k + 1 < len ? tg__vocab_rank2(vocab, p + k) : TG__RANK_NONE;
    }
    start[len] = (uint32_t)len;
    for (;;) {
        uint32_t best = TG__RANK_NONE;
        size_t at = 0;
        for (size_t k = 0; k + 1 < parts; k++) {
            if (pair[k] < best) {
                best = pair[k];
                at = k;
            }
        }
        if (best == TG__RANK_NONE) {
            break;
        }
        token[at] = best;
        parts--;
        for (size_t k = at + 1; k < parts; k++) {
            start[k] = start[k + 1];
            pair[k] = pair[k + 1];
            token[k] = token[k + 1];
        }
        start[parts] = (uint32_t)len;
        pair[at] = at + 1 < parts
                       ? tg__vocab_rank(vocab, p + start[at], start[at + 2] - start[at], end)
                       : TG__RANK_NONE;
        if (at > 0) {
            pair[at - 1] =
                tg__vocab_rank(vocab, p + start[at - 1], start[at + 1] - start[at - 1], end);
        }
    }
    if (ids != NULL) {
        memcpy(ids, token, parts * sizeof *ids);
    }
    return parts;
}

/* A min-heap of (rank << 32 | start) keys with eight children per node: a pop on
 * a long piece's heap touches a third as many cache lines as a binary heap would,
 * and the eight children of a node share one line (keys[0] is 64-byte aligned). */
#define HEAP_ARITY 8

typedef struct {
    uint64_t *keys; /* room for the piece's pushes, at most 3 per byte */
    size_t count;   /* entries in use */
} heap;

static void heap_push(heap *h, uint64_t key) {
    size_t i = h->count++;
    while (i > 0) {
        size_t up = (i - 1) / HEAP_ARITY;
        if (h->keys[up] <= key) {
            break;
        }
        h->keys[i] = h->keys[up];
        i = up;
    }
    h->keys[i] = key;
}

static uint64_t heap_pop(heap *h) {
    uint64_t top = h->keys[0];
    uint64_t last = h->keys[--h->count];
    size_t i = 0;
    for (;;) {
        size_t first = HEAP_ARITY * i + 1;
        if (first >= h->count) {
            break;
        }
        size_t stop = first + HEAP_ARITY < h->count ? first + HEAP_ARITY : h->count;
        size_t child = first;
        for (size_t k = first + 1; k < stop; k++) {
            if (h->keys[k] < h->keys[child]) {
                child = k;
            }
        }
        if (last <= h->keys[child]) {
            break;
        }
        h->keys[i] = h->keys[child];
        i = child;
    }
    h->keys[i] = last;
    return top;
}

/* Parts as a doubly linked list over byte offsets (a part starting at k spans
 * [k, next[k])), pair ranks in a heap with stale entries skipped: an entry is
 * current exactly when pair[start] still equals its rank, because each change to
 * a pair lengthens its bytes and distinct byte strings have distinct ranks. */
static size_t merge_large(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                          uint32_t *memory, uint32_t *ids) {
    uint32_t *next = memory;
    uint32_t *prev = next + len;
    uint32_t *token = prev + len;
    uint32_t *pair = token + len;
    heap h = {(uint64_t *)(pair + len), 0};
    for (size_t k = 0; k < len; k++) {
        next[k] = (uint32_t)(k + 1);
        prev[k] = k == 0 ? NO_PART : (uint32_t)(k - 1);
        token[k] = vocab->byte_rank[p[k]];
        pair[k] = k + 1 < len ? tg__vocab_rank2(vocab, p + k) : TG__RANK_NONE;
        if (pair[k] != TG__RANK_NONE) {
            heap_push(&h, (uint64_t)pair[k] << 32 | k);
        }
    }
    size_t parts = len;
    while (h.count > 0) {
        uint64_t key = heap_pop(&h);
        uint32_t at = (uint32_t)key;
        uint32_t rank = (uint32_t)(key >> 32);
        if (pair[at] != rank) {
            continue;
        }
        uint32_t gone = next[at];
        token[at] = rank;
        pair[gone] = TG__RANK_NONE;
        next[at] = next[gone];
        if (next[at] < len) {
            prev[next[at]] = at;
        }
        parts--;
        if (next[at] < len) {
            uint32_t stop = next[next[at]];
            pair[at] = tg__vocab_rank(vocab, p + at, stop - at, end);
            if (pair[at] != TG__RANK_NONE) {
                heap_push(&h, (uint64_t)pair[at] << 32 | at);
            }
        } else {
            pair[at] = TG__RANK_NONE;
        }
        if (prev[at] != NO_PART) {
            uint32_t before = prev[at];
            pair[before] = tg__vocab_rank(vocab, p + before, next[at] - before, end);
            if (pair[before] != TG__RANK_NONE) {
                heap_push(&h, (uint64_t)pair[before] << 32 | before);
            }
        }
    }
    if (ids != NULL) {
        size_t out = 0;
        for (uint32_t k = 0; k < len; k = next[k]) {
            ids[out++] = token[k];
        }
    }
    return parts;
}

tg_status tg__bpe(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                  tg__bpe_scratch *scratch, uint32_t *ids, size_t *count_out) {
    /* Most pieces are whole tokens: one lookup and done. */
    uint32_t whole = tg__vocab_rank(vocab, p, len, end);
    if (whole != TG__RANK_NONE) {
        if (ids != NULL) {
            ids[0] = whole;
        }
        *count_out = 1;
        return TG_OK;
    }
    if (len <= TG__BPE_SMALL_MAX) {
        *count_out = merge_small(vocab, p, len, end, ids);
        return TG_OK;
    }
    if (len > UINT32_MAX / 2) {
        return TG_ERR_RANGE;
    }
    size_t need = len * TG__BPE_SCRATCH_PER_BYTE;
    if (scratch->capacity_bytes < need) {
        void *memory = malloc(need);
        if (memory == NULL) {
            return TG_ERR_NOMEM;
        }
        free(scratch->memory);
        scratch->memory = memory;
        scratch->capacity_bytes = need;
    }
    *count_out = merge_large(vocab, p, len, end, scratch->memory, ids);
    return TG_OK;
}

void tg__bpe_scratch_free(tg__bpe_scratch *scratch) {
    free(scratch->memory);
    scratch->memory = NULL;
    scratch->capacity_bytes = 0;
}
