/*
 * bpe: the merge loops of bpe.h. Both loops give tiktoken's result: at each step the
 * lowest-ranked pair merges, the leftmost on ties; the heap orders entries by
 * (rank, start) for the same reason. Long pieces are cut into windows merged by the
 * small loop and stitched where bpe.h shows it exact, with the heap as the fallback.
 */
#include "tokenizer/bpe.h"

#include <stdbool.h>
#include <stdlib.h>

#include "tokenizer/huge_alloc.h"

#define NO_PART UINT32_MAX
/* The small merge's limit. Pieces take it up to TG__BPE_SMALL_MAX; windows that have
 * grown over runs of long tokens (dashes, mixed white space) take it up to here,
 * where it still beats the heap (measured: 20% on 1 MiB of mixed punctuation runs). */
#define SMALL_MERGE_BYTES_MAX 512
_Static_assert(TG__BPE_SMALL_MAX <= SMALL_MERGE_BYTES_MAX, "pieces fit the small merge");

/* tiktoken's own loop: parts in an array, a linear scan for the minimum. Quadratic,
 * but with the fewest memory touches for the short pieces that are nearly all. Each
 * part is one word, pair rank above start, so the scan's minimum is the lowest rank
 * and the leftmost of equals at once, and a merge shifts one array.
 * part (room for len + 1): rank of part k merged with part k + 1, << 32, | start of
 * part k; part[parts] holds start len. token (room for len): rank of the part that
 * starts at byte k. */
static inline size_t merge_scan(const tg__vocab *vocab, const uint8_t *p, size_t len,
                                const uint8_t *end, uint32_t *ids, uint64_t *part,
                                uint32_t *token) {
    for (size_t k = 0; k < len; k++) {
        uint32_t pair = k + 1 < len ? tg__vocab_rank2(vocab, p + k) : TG__RANK_NONE;
        token[k] = vocab->byte_rank[p[k]];
        part[k] = (uint64_t)pair << 32 | k;
    }
    part[len] = (uint64_t)TG__RANK_NONE << 32 | len;
    size_t parts = len;
    for (;;) {
        /* The last part's pair is always TG__RANK_NONE, so part[0] is a safe start. */
        uint64_t best = part[0];
        size_t at = 0;
        for (size_t k = 1; k + 1 < parts; k++) {
            if (part[k] < best) {
                best = part[k];
                at = k;
            }
        }
        uint32_t rank = (uint32_t)(best >> 32);
        if (rank == TG__RANK_NONE) {
            break;
        }
        uint32_t from = (uint32_t)best;
        token[from] = rank;
        parts--;
        memmove(&part[at + 1], &part[at + 2], (parts - at) * sizeof *part);
        uint32_t stop = (uint32_t)part[at + 1];
        uint32_t pair = at + 1 < parts
                            ? tg__vocab_rank(vocab, p + from, (uint32_t)part[at + 2] - from, end)
                            : TG__RANK_NONE;
        part[at] = (uint64_t)pair << 32 | from;
        if (at > 0) {
            uint32_t before = (uint32_t)part[at - 1];
            part[at - 1] =
                (uint64_t)tg__vocab_rank(vocab, p + before, stop - before, end) << 32 | before;
        }
    }
    if (ids != NULL) {
        for (size_t k = 0; k < parts; k++) {
            ids[k] = token[(uint32_t)part[k]];
        }
    }
    return parts;
}

/* The small merge again for pieces and windows of up to TG__BPE_SMALL_MAX bytes, laid
 * out for the scan for the lowest pair, which was most of a long novel piece's first
 * merge (callgrind: 58% of the instructions of a 1 MiB random word, one compare and
 * branch per part per merge, then a memmove). Each part is a 32-bit key, rank <<
 * SMALL_START_BITS | start, kept at its start byte (a merged-away part's slot holds
 * SMALL_KEY_PAD), so the scan compares four keys per instruction (vector_size: SSE2
 * on x86-64, NEON on arm64; eight with AVX2, below), the minimum names the part's slot itself, and
 * a merge moves nothing: the parts are linked by next and prev byte offsets. Ranks are under 2^24
 * (vocab.c), so a key is under 2^31 and compares as a signed int; a missing pair keeps its start
 * under the top rank SMALL_RANK_NONE. */
#define SMALL_START_BITS 7
#define SMALL_START_MASK ((1u << SMALL_START_BITS) - 1)
#define SMALL_RANK_NONE ((1u << 24) - 1)
#define SMALL_KEY_PAD INT32_MAX
#define SMALL_LANES 4
/* x86-64 processors with AVX2 (nearly all in service) scan eight keys at a time, with
 * vpcmpgtd and vpblendvb (or vpminsd); the clone is picked per call from the CPU's
 * feature bits. Eight lanes in plain SSE2 measured 37% more instructions than four.
 * -DTG__BPE_NO_WIDE builds the four-lane scan alone (to test it on an AVX2 machine). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(TG__BPE_NO_WIDE)
#define SMALL_WIDE 1
#define SMALL_LANES_MAX 8
#else
#define SMALL_WIDE 0
#define SMALL_LANES_MAX SMALL_LANES
#endif
/* Room for len keys rounded up to whole vectors. */
#define SMALL_KEYS (TG__BPE_SMALL_MAX + SMALL_LANES_MAX)
_Static_assert(TG__BPE_SMALL_MAX <= SMALL_START_MASK, "a start fits its bits");
_Static_assert(TG__BPE_SMALL_MAX < UINT8_MAX, "next and prev fit a byte");
_Static_assert((uint64_t)SMALL_RANK_NONE << SMALL_START_BITS < (1ull << 31),
               "keys compare as signed 32-bit ints");

typedef int32_t small_keys __attribute__((vector_size(SMALL_LANES * sizeof(int32_t))));

static inline int32_t small_key(uint32_t rank, size_t start) {
    /* TG__RANK_NONE (all ones) becomes SMALL_RANK_NONE; real ranks are below it. */
    return (int32_t)((rank & SMALL_RANK_NONE) << SMALL_START_BITS | (uint32_t)start);
}

/* The lanes of a vector in another order (the horizontal minimum below). */
#if defined(__clang__)
#define SHUFFLE(v, type, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define SHUFFLE(v, type, ...) __builtin_shuffle(v, (type){__VA_ARGS__})
#endif

static inline small_keys keys_min(small_keys a, small_keys b) {
    small_keys less = a < b;
    return (a & less) | (b & ~less);
}

/* The lowest key of key[0..len), reading whole vectors (key is padded past len). */
static inline int32_t small_min(const int32_t *key, size_t len) {
    small_keys best;
    memcpy(&best, key, sizeof best);
    for (size_t k = SMALL_LANES; k < len; k += SMALL_LANES) {
        small_keys v;
        memcpy(&v, key + k, sizeof v);
        best = keys_min(v, best);
    }
    best = keys_min(best, SHUFFLE(best, small_keys, 2, 3, 0, 1));
    best = keys_min(best, SHUFFLE(best, small_keys, 1, 0, 3, 2));
    return best[0];
}

#if SMALL_WIDE
typedef int32_t wide_keys __attribute__((vector_size(SMALL_LANES_MAX * sizeof(int32_t))));

__attribute__((target("avx2"))) static inline wide_keys wide_min(wide_keys a, wide_keys b) {
    wide_keys less = a < b;
    return (a & less) | (b & ~less);
}

__attribute__((target("avx2"))) static inline int32_t small_min_wide(const int32_t *key,
                                                                     size_t len) {
    wide_keys best;
    memcpy(&best, key, sizeof best);
    for (size_t k = SMALL_LANES_MAX; k < len; k += SMALL_LANES_MAX) {
        wide_keys v;
        memcpy(&v, key + k, sizeof v);
        best = wide_min(v, best);
    }
    best = wide_min(best, SHUFFLE(best, wide_keys, 4, 5, 6, 7, 0, 1, 2, 3));
    best = wide_min(best, SHUFFLE(best, wide_keys, 2, 3, 0, 1, 6, 7, 4, 5));
    best = wide_min(best, SHUFFLE(best, wide_keys, 1, 0, 3, 2, 5, 4, 7, 6));
    return best[0];
}
#endif

/* One small merge in progress: its keys, tokens and links (see above). A struct so
 * that two can be stepped in turn (merge_small2_with). */
typedef struct {
    int32_t key[SMALL_KEYS] __attribute__((aligned(32)));
    uint32_t token[TG__BPE_SMALL_MAX];
    uint8_t next[TG__BPE_SMALL_MAX];
    uint8_t prev[TG__BPE_SMALL_MAX];
} small_state;

__attribute__((always_inline)) static inline void
small_begin(small_state *s, const tg__vocab *vocab, const uint8_t *p, size_t len) {
    for (size_t k = 0; k < len; k++) {
        uint32_t pair = k + 1 < len ? tg__vocab_rank2(vocab, p + k) : TG__RANK_NONE;
        s->token[k] = vocab->byte_rank[p[k]];
        s->key[k] = small_key(pair, k);
        s->next[k] = (uint8_t)(k + 1);
        s->prev[k] = (uint8_t)(k - 1); /* prev[0] is never read */
    }
    for (size_t k = len; k < len + SMALL_LANES_MAX; k++) {
        s->key[k] = SMALL_KEY_PAD;
    }
}

/* One merge, the lowest pair; false when no pair is a token (the merge is over). */
__attribute__((always_inline)) static inline bool
small_step(small_state *s, const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
           int32_t (*min)(const int32_t *, size_t)) {
    int32_t best = min(s->key, len);
    uint32_t rank = (uint32_t)best >> SMALL_START_BITS;
    if (rank == SMALL_RANK_NONE) {
        return false;
    }
    uint32_t from = (uint32_t)best & SMALL_START_MASK;
    uint32_t gone = s->next[from];
    uint32_t stop = s->next[gone < len ? gone : from]; /* gone < len: a pair has two parts */
    s->token[from] = rank;
    s->key[gone] = SMALL_KEY_PAD;
    s->next[from] = (uint8_t)stop;
    uint32_t pair = TG__RANK_NONE;
    if (stop < len) {
        s->prev[stop] = (uint8_t)from;
        pair = tg__vocab_rank(vocab, p + from, s->next[stop] - from, end);
    }
    s->key[from] = small_key(pair, from);
    if (from > 0) {
        uint32_t before = s->prev[from];
        s->key[before] = small_key(tg__vocab_rank(vocab, p + before, stop - before, end), before);
    }
    return true;
}

/* Writes the tokens to ids unless NULL; returns parts, their count. */
__attribute__((always_inline)) static inline size_t small_end(const small_state *s, size_t len,
                                                              size_t parts, uint32_t *ids) {
    if (ids != NULL) {
        size_t out = 0;
        for (size_t k = 0; k < len; k = s->next[k]) {
            ids[out++] = s->token[k];
        }
    }
    return parts;
}

/* The merge, for one scan (min: small_min or small_min_wide; always inlined, so each
 * caller compiles it for its own instruction set). */
__attribute__((always_inline)) static inline size_t
merge_small_with(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                 uint32_t *ids, int32_t (*min)(const int32_t *, size_t)) {
    small_state s;
    small_begin(&s, vocab, p, len);
    size_t parts = len;
    while (small_step(&s, vocab, p, len, end, min)) {
        parts--;
    }
    return small_end(&s, len, parts, ids);
}

/* Two small merges at once, a step of one then a step of the other, for two windows
 * of a long piece (merge_lanes). Each merge is a chain of dependent loads (the scan
 * reads the keys the last step wrote, the step looks up the pair the scan found);
 * two independent chains in one loop let the core wait on both at the same time.
 * Three and four chains (a loop over lanes) measured no faster than two. */
__attribute__((always_inline)) static inline void
merge_small2_with(const tg__vocab *vocab, const uint8_t *const p[2], const size_t len[2],
                  const uint8_t *end, uint32_t *const ids[2], size_t count[2],
                  int32_t (*min)(const int32_t *, size_t)) {
    small_state a;
    small_state b;
    small_begin(&a, vocab, p[0], len[0]);
    small_begin(&b, vocab, p[1], len[1]);
    size_t parts_a = len[0];
    size_t parts_b = len[1];
    bool more_a = true;
    bool more_b = true;
    while (more_a && more_b) {
        more_a = small_step(&a, vocab, p[0], len[0], end, min);
        more_b = small_step(&b, vocab, p[1], len[1], end, min);
        parts_a -= more_a;
        parts_b -= more_b;
    }
    while (more_a && small_step(&a, vocab, p[0], len[0], end, min)) {
        parts_a--;
    }
    while (more_b && small_step(&b, vocab, p[1], len[1], end, min)) {
        parts_b--;
    }
    count[0] = small_end(&a, len[0], parts_a, ids[0]);
    count[1] = small_end(&b, len[1], parts_b, ids[1]);
}

#if SMALL_WIDE
__attribute__((target("avx2"))) static size_t merge_small_wide(const tg__vocab *vocab,
                                                               const uint8_t *p, size_t len,
                                                               const uint8_t *end, uint32_t *ids) {
    return merge_small_with(vocab, p, len, end, ids, small_min_wide);
}
#endif

#if SMALL_WIDE
/* Short pieces (under SMALL_VECTOR_MIN_BYTES) with their keys held in four AVX2
 * registers for the whole merge instead of in memory. A profile of random bytes
 * (valgrind --branch-sim, and perf) put most of merge_scan's time on branches it
 * mispredicts: the scan's exit (one more or one fewer part each step), its compare
 * (a new minimum at a random place) and memmove's size dispatch. The vector scan of
 * merge_small has none of them but reads keys just stored one at a time, which the
 * store buffer cannot forward to a vector load. Here no key is stored: a step takes
 * the minimum of the four registers and writes the three keys it changes with
 * compare-and-blend against each lane's index, so the only branches left are the
 * lookups' and the end of the merge. Keys as in merge_small (rank << 7 | start, at
 * the start byte's lane). */
typedef int32_t reg_keys __attribute__((vector_size(8 * sizeof(int32_t))));
#define SHORT_REG_LANES 32
/* Below this many bytes merge_scan stays: a piece of a few bytes has one or two
 * merges, too few to pay for filling the registers (warm mixed text, mostly such
 * pieces, was 3-5% slower with every short piece in registers; 8 bytes and up is
 * also fewer instructions on random bytes than 3 and up). */
#define SHORT_REG_MIN_BYTES 8
_Static_assert(TG__BPE_SHORT_MAX < SHORT_REG_LANES, "a short piece's keys fit the registers");

__attribute__((target("avx2"), always_inline)) static inline reg_keys
reg_set(reg_keys k, reg_keys lane, uint32_t at, int32_t value) {
    reg_keys hit = lane == (reg_keys){0, 0, 0, 0, 0, 0, 0, 0} + (int32_t)at;
    return (k & ~hit) | (((reg_keys){0, 0, 0, 0, 0, 0, 0, 0} + value) & hit);
}

__attribute__((target("avx2"))) static size_t merge_short_regs(const tg__vocab *vocab,
                                                               const uint8_t *p, size_t len,
                                                               const uint8_t *end, uint32_t *ids) {
    uint32_t token[SHORT_REG_LANES];
    uint8_t next[SHORT_REG_LANES];
    uint8_t prev[SHORT_REG_LANES];
    int32_t key[SHORT_REG_LANES] __attribute__((aligned(32)));
    for (size_t k = 0; k < SHORT_REG_LANES; k++) {
        key[k] = SMALL_KEY_PAD;
    }
    for (size_t k = 0; k < len; k++) {
        uint32_t pair = k + 1 < len ? tg__vocab_rank2(vocab, p + k) : TG__RANK_NONE;
        key[k] = small_key(pair, k);
    }
    /* The rest after the keys, so that the keys' stores have left the store buffer
     * when the registers are loaded from them (a vector load of several pending
     * stores is not forwarded and waits). */
    for (size_t k = 0; k < len; k++) {
        token[k] = vocab->byte_rank[p[k]];
        next[k] = (uint8_t)(k + 1);
        prev[k] = (uint8_t)(k - 1); /* prev[0] is never read */
    }
    reg_keys k0, k1, k2, k3;
    memcpy(&k0, key, sizeof k0);
    memcpy(&k1, key + 8, sizeof k1);
    memcpy(&k2, key + 16, sizeof k2);
    memcpy(&k3, key + 24, sizeof k3);
    const reg_keys lane0 = {0, 1, 2, 3, 4, 5, 6, 7};
    const reg_keys lane1 = lane0 + 8;
    const reg_keys lane2 = lane0 + 16;
    const reg_keys lane3 = lane0 + 24;
    size_t parts = len;
    for (;;) {
        reg_keys m = wide_min(wide_min(k0, k1), wide_min(k2, k3));
        m = wide_min(m, SHUFFLE(m, wide_keys, 4, 5, 6, 7, 0, 1, 2, 3));
        m = wide_min(m, SHUFFLE(m, wide_keys, 2, 3, 0, 1, 6, 7, 4, 5));
        m = wide_min(m, SHUFFLE(m, wide_keys, 1, 0, 3, 2, 5, 4, 7, 6));
        int32_t best = m[0];
        uint32_t rank = (uint32_t)best >> SMALL_START_BITS;
        if (rank == SMALL_RANK_NONE) {
            break;
        }
        parts--;
        uint32_t from = (uint32_t)best & SMALL_START_MASK;
        uint32_t gone = next[from]; /* < len: a pair has two parts */
        uint32_t stop = next[gone];
        token[from] = rank;
        next[from] = (uint8_t)stop;
        uint32_t pair = TG__RANK_NONE;
        if (stop < len) {
            prev[stop] = (uint8_t)from;
            pair = tg__vocab_rank(vocab, p + from, next[stop] - from, end);
        }
        /* The part before: its pair now reaches stop. from == 0 has none; then
         * before is from itself and its key is written again just below. */
        uint32_t before = from > 0 ? prev[from] : from;
        int32_t before_key =
            from > 0 ? small_key(tg__vocab_rank(vocab, p + before, stop - before, end), before) : 0;
        k0 = reg_set(k0, lane0, gone, SMALL_KEY_PAD);
        k1 = reg_set(k1, lane1, gone, SMALL_KEY_PAD);
        k2 = reg_set(k2, lane2, gone, SMALL_KEY_PAD);
        k3 = reg_set(k3, lane3, gone, SMALL_KEY_PAD);
        k0 = reg_set(k0, lane0, before, before_key);
        k1 = reg_set(k1, lane1, before, before_key);
        k2 = reg_set(k2, lane2, before, before_key);
        k3 = reg_set(k3, lane3, before, before_key);
        int32_t from_key = small_key(pair, from);
        k0 = reg_set(k0, lane0, from, from_key);
        k1 = reg_set(k1, lane1, from, from_key);
        k2 = reg_set(k2, lane2, from, from_key);
        k3 = reg_set(k3, lane3, from, from_key);
    }
    if (ids != NULL) {
        size_t out = 0;
        for (size_t k = 0; k < len; k = next[k]) {
            ids[out++] = token[k];
        }
    }
    return parts;
}
#endif

/* Below this many bytes the scalar loop (merge_scan) is kept. Measured (thread CPU
 * time, first sight, best of 10): the vector scan made short pieces slower in time
 * though it ran fewer instructions (cjk text 16.1 -> 21.4 ms), likely because its wide
 * loads read keys just stored one at a time, which the store buffer cannot forward,
 * and a short piece has few keys to pay for that. Windows of long pieces
 * (WINDOW_BYTES) take the vector scan, which wins there. */
#define SMALL_VECTOR_MIN_BYTES 32
_Static_assert(SMALL_VECTOR_MIN_BYTES == TG__BPE_SHORT_MAX + 1,
               "bpe.h names the short merge's limit");

static size_t merge_small(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                          uint32_t *ids) {
    if (len < SMALL_VECTOR_MIN_BYTES) {
        uint64_t part[SMALL_VECTOR_MIN_BYTES];
        uint32_t token[SMALL_VECTOR_MIN_BYTES - 1];
        return merge_scan(vocab, p, len, end, ids, part, token);
    }
#if SMALL_WIDE
    if (__builtin_cpu_supports("avx2")) {
        return merge_small_wide(vocab, p, len, end, ids);
    }
#endif
    return merge_small_with(vocab, p, len, end, ids, small_min);
}

/* A whole piece of up to TG__BPE_SMALL_MAX bytes: short ones (random bytes' pieces by
 * the tens of thousands) of SHORT_REG_MIN_BYTES or more take merge_short_regs where
 * the CPU has AVX2. The windows of
 * long pieces keep merge_small: their short merges are the seams' two or three
 * tokens, where filling four registers measured about 1% more instructions
 * (valgrind) for no time gained. */
static size_t merge_piece(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                          uint32_t *ids) {
#if SMALL_WIDE
    if (len >= SHORT_REG_MIN_BYTES && len <= TG__BPE_SHORT_MAX && __builtin_cpu_supports("avx2")) {
        return merge_short_regs(vocab, p, len, end, ids);
    }
#endif
    return merge_small(vocab, p, len, end, ids);
}

#if SMALL_WIDE
__attribute__((target("avx2"))) static void
merge_small2_wide(const tg__vocab *vocab, const uint8_t *const p[2], const size_t len[2],
                  const uint8_t *end, uint32_t *const ids[2], size_t count[2]) {
    merge_small2_with(vocab, p, len, end, ids, count, small_min_wide);
}
#endif

/* Two merges of SMALL_VECTOR_MIN_BYTES to TG__BPE_SMALL_MAX bytes each, stepped in
 * turn (merge_small2_with). */
static void merge_small2(const tg__vocab *vocab, const uint8_t *const p[2], const size_t len[2],
                         const uint8_t *end, uint32_t *const ids[2], size_t count[2]) {
#if SMALL_WIDE
    if (__builtin_cpu_supports("avx2")) {
        merge_small2_wide(vocab, p, len, end, ids, count);
        return;
    }
#endif
    merge_small2_with(vocab, p, len, end, ids, count, small_min);
}

/* Windows grown over runs of long tokens take the 64-bit loop (their starts need
 * more bits). */
static size_t merge_medium(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                           uint32_t *ids) {
    uint64_t part[SMALL_MERGE_BYTES_MAX + 1];
    uint32_t token[SMALL_MERGE_BYTES_MAX];
    return merge_scan(vocab, p, len, end, ids, part, token);
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

/* Long pieces are merged window by window. A window's merge can be appended to the
 * merge of everything before it exactly when the two tokens that meet at the seam
 * stay apart when their own bytes are merged (see bpe.h). When they do not, the
 * last committed token goes back into the window and the window is merged again:
 * a boundary of the committed tokens is a boundary of the prefix's merge, so the
 * shorter prefix is still exact. The window's last token is not committed (the
 * window's end cut it short); the next window starts where it started, so seams
 * fall between whole tokens and nearly always hold. Windows fit in L1, where the
 * heap of one long piece spans megabytes and pays a cache miss per step. */
#define WINDOW_BYTES 32
/* A window that yields one token (a run of long tokens: spaces, dashes) doubles, up
 * to this, and halves again once it yields many tokens. */
#define WINDOW_GROWN_BYTES_MAX 512
#define WINDOW_SHRINK_TOKENS 16
/* A window that has grown to this many bytes by taking back tokens gives up. */
#define WINDOW_BYTES_MAX 1024
/* Merged bytes allowed, as a multiple of the piece, before giving up. Giving up
 * means merging the whole piece with the heap, so no input costs much more than that. */
#define WORK_FACTOR 4

_Static_assert(WINDOW_BYTES <= TG__BPE_SMALL_MAX, "a fresh window takes the small merge");
_Static_assert(WINDOW_GROWN_BYTES_MAX >= 2 * 255, "a grown window holds two tokens");
_Static_assert(WINDOW_GROWN_BYTES_MAX <= WINDOW_BYTES_MAX, "grown windows fit the scratch");
_Static_assert(TG__BPE_WINDOW_SCRATCH_BYTES / TG__BPE_SCRATCH_PER_BYTE == WINDOW_BYTES_MAX,
               "bpe.h sizes the window's scratch");

/* The pure merge of p[0..len), with no whole-token shortcut: the seam argument is
 * about merging, and tiktoken only takes the shortcut for a whole piece. */
static size_t merge_any(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                        uint32_t *memory, uint32_t *ids) {
    if (len <= TG__BPE_SMALL_MAX) {
        return merge_small(vocab, p, len, end, ids);
    }
    if (len <= SMALL_MERGE_BYTES_MAX) {
        return merge_medium(vocab, p, len, end, ids);
    }
    return merge_large(vocab, p, len, end, memory, ids);
}

static size_t token_len(const tg__vocab *vocab, uint32_t rank) {
    return vocab->offsets[rank + 1] - vocab->offsets[rank];
}

/* Whether tokens left and right, whose bytes meet at p[seam], merge to themselves. */
static bool seam_holds(const tg__vocab *vocab, const uint8_t *p, size_t seam, const uint8_t *end,
                       uint32_t left, uint32_t right, uint32_t *memory) {
    size_t left_len = token_len(vocab, left);
    size_t both = left_len + token_len(vocab, right);
    uint32_t got[2 * 255]; /* a token is under 256 bytes (vocab.c) */
    _Static_assert(2 * 255 <= WINDOW_BYTES_MAX, "the seam check fits the window's scratch");
    if (both > sizeof got / sizeof got[0]) {
        return false; /* cannot happen; refusing is always safe */
    }
    size_t count = merge_any(vocab, p + seam - left_len, both, end, memory, got);
    return count == 2 && got[0] == left && got[1] == right;
}

/* One run of windows over p[0..len) (merge_windows, merge_lanes): what is
 * committed, the window being merged, and the memos. */
typedef struct {
    const uint8_t *p;
    size_t len;
    uint32_t *ids; /* room for len; ids[0..count) is the merge of p[0..done) */
    size_t count;
    size_t done;
    size_t work_bytes; /* merged so far, for WORK_FACTOR */
    size_t window;     /* bytes a window takes */
    size_t from;       /* the window: p[from..stop), its tokens go to ids + keep */
    size_t stop;
    size_t keep;
    /* The last window merged, and the last seam that held: a run of one byte (spaces,
     * dashes) repeats both, and equal bytes merge equally. */
    size_t memo_from;
    size_t memo_len; /* 0: none */
    size_t memo_at;  /* its tokens are ids[memo_at .. memo_at + memo_got) */
    size_t memo_got;
    uint32_t seam_left;
    uint32_t seam_right;
    size_t result; /* when the run is over: the count, or SIZE_MAX when it gave up */
} windows;

static void windows_begin(windows *w, const uint8_t *p, size_t len, uint32_t *ids) {
    *w = (windows){.p = p,
                   .len = len,
                   .ids = ids,
                   .window = WINDOW_BYTES,
                   .seam_left = TG__RANK_NONE,
                   .seam_right = TG__RANK_NONE};
}

/* Places the next window after what is committed. */
static void windows_open(windows *w) {
    w->from = w->done;
    w->keep = w->count;
    w->stop = w->len - w->done <= w->window ? w->len : w->done + w->window;
}

/* The window's tokens from the memo when its bytes are the last window's. */
static bool windows_memo(windows *w, size_t *got) {
    size_t n = w->stop - w->from;
    if (n != w->memo_len || memcmp(w->p + w->from, w->p + w->memo_from, n) != 0) {
        return false;
    }
    memmove(w->ids + w->keep, w->ids + w->memo_at, w->memo_got * sizeof *w->ids);
    w->work_bytes++; /* every pass counts, so the budget bounds the loop */
    *got = w->memo_got;
    return true;
}

static size_t windows_merge(const tg__vocab *vocab, windows *w, const uint8_t *end,
                            uint32_t *memory) {
    size_t got;
    if (!windows_memo(w, &got)) {
        got = merge_any(vocab, w->p + w->from, w->stop - w->from, end, memory, w->ids + w->keep);
        w->work_bytes += w->stop - w->from;
    }
    return got;
}

/* Takes the window's merge (got tokens at ids + keep): while the seam with what is
 * committed does not hold, takes the last committed token back into the window and
 * merges again; then commits all but the window's last token. Returns false when the
 * run is over (result says how). */
static bool windows_settle(const tg__vocab *vocab, windows *w, const uint8_t *end, uint32_t *memory,
                           size_t got) {
    size_t limit = WORK_FACTOR * w->len;
    for (;;) {
        w->memo_from = w->from;
        w->memo_len = w->stop - w->from;
        w->memo_at = w->keep;
        w->memo_got = got;
        uint32_t *ids = w->ids;
        size_t keep = w->keep;
        if (keep == 0 || (ids[keep - 1] == w->seam_left && ids[keep] == w->seam_right)) {
            break;
        }
        if (seam_holds(vocab, w->p, w->from, end, ids[keep - 1], ids[keep], memory)) {
            w->seam_left = ids[keep - 1];
            w->seam_right = ids[keep];
            break;
        }
        w->keep = keep - 1;
        w->from -= token_len(vocab, ids[keep - 1]);
        if (w->stop - w->from > WINDOW_BYTES_MAX || w->work_bytes > limit) {
            w->result = SIZE_MAX;
            return false;
        }
        got = windows_merge(vocab, w, end, memory);
    }
    if (w->work_bytes > limit) {
        w->result = SIZE_MAX;
        return false;
    }
    if (w->stop == w->len) {
        w->result = w->keep + got;
        return false;
    }
    if (got == 1) {
        /* Nothing to commit but the cut token: keep what the seam proved. */
        w->count = w->keep;
        w->done = w->from;
        w->window =
            w->window * 2 <= WINDOW_GROWN_BYTES_MAX ? w->window * 2 : WINDOW_GROWN_BYTES_MAX;
        return true;
    }
    w->count = w->keep + got - 1;
    w->done = w->stop - token_len(vocab, w->ids[w->count]);
    if (got > WINDOW_SHRINK_TOKENS && w->window > WINDOW_BYTES) {
        w->window /= 2;
    }
    return true;
}

/* Runs w's windows to the end; returns w's result. */
static size_t windows_run(const tg__vocab *vocab, windows *w, const uint8_t *end,
                          uint32_t *memory) {
    bool more;
    do {
        windows_open(w);
        more = windows_settle(vocab, w, end, memory, windows_merge(vocab, w, end, memory));
    } while (more);
    return w->result;
}

/* Merges p[0..len) window by window into ids (room for len). Returns the count, or
 * SIZE_MAX when the windows gave up and the caller must merge the whole piece. */
static size_t merge_windows(const tg__vocab *vocab, const uint8_t *p, size_t len,
                            const uint8_t *end, uint32_t *memory, uint32_t *ids) {
    windows w;
    windows_begin(&w, p, len, ids);
    return windows_run(vocab, &w, end, memory);
}

/* Whether a window of n bytes can take merge_small2. */
static bool fits_small2(size_t n) {
    return n >= SMALL_VECTOR_MIN_BYTES && n <= TG__BPE_SMALL_MAX;
}

/* Long pieces from this many bytes are merged as two halves at once (merge_lanes). */
#ifndef TG__BPE_LANES_MIN_BYTES
#define TG__BPE_LANES_MIN_BYTES 256
#endif

/* Appends the merge of p[cut..len), right_count tokens at ids + cut, to the merge of
 * p[0..cut), left_count tokens at ids (bpe.h's argument). The cut splits a token on
 * both sides, so the seam seldom holds as it is; then the tokens that meet at the cut
 * are merged again together, and the two seams around that middle must hold instead:
 * the left less its last tokens is an exact merge (a prefix ending at a token
 * boundary), and so is the right less its first tokens (a span bounded by token
 * boundaries, bpe.h). A seam that does not hold takes one more token into the middle
 * on its side. Returns the count (the tokens at ids), or SIZE_MAX when the middle
 * outgrows a window. The right's tokens may move up to the end of its bytes. */
static size_t stitch(const tg__vocab *vocab, const uint8_t *p, size_t cut, const uint8_t *end,
                     uint32_t *memory, uint32_t *ids, size_t left_count, size_t right_count) {
    const uint32_t *right = ids + cut;
    uint32_t last = ids[left_count - 1];
    if (seam_holds(vocab, p, cut, end, last, right[0], memory)) {
        memmove(ids + left_count, right, right_count * sizeof *ids);
        return left_count + right_count;
    }
    size_t take_left = 1;
    size_t take_right = 1;
    size_t from = cut - token_len(vocab, last);
    size_t stop = cut + token_len(vocab, right[0]);
    uint32_t middle[WINDOW_BYTES_MAX];
    for (;;) {
        if (take_left >= left_count || take_right >= right_count ||
            stop - from > WINDOW_BYTES_MAX) {
            return SIZE_MAX;
        }
        size_t middle_count = merge_any(vocab, p + from, stop - from, end, memory, middle);
        bool left_holds =
            seam_holds(vocab, p, from, end, ids[left_count - take_left - 1], middle[0], memory);
        bool right_holds =
            seam_holds(vocab, p, stop, end, middle[middle_count - 1], right[take_right], memory);
        if (left_holds && right_holds) {
            /* The right first: the middle's tokens may land where it was. */
            size_t at = left_count - take_left + middle_count;
            memmove(ids + at, right + take_right, (right_count - take_right) * sizeof *ids);
            memcpy(ids + left_count - take_left, middle, middle_count * sizeof *ids);
            return at + right_count - take_right;
        }
        if (!left_holds) {
            from -= token_len(vocab, ids[left_count - take_left - 1]);
            take_left++;
        }
        if (!right_holds) {
            stop += token_len(vocab, right[take_right]);
            take_right++;
        }
    }
}

/* Merges p[0..len) (len >= 2) as two runs of windows, one over each half, whose
 * window merges are stepped in turn (merge_small2) while both fit the small merge,
 * then stitched at the middle, or when the stitch fails, the first half is kept
 * and the windows go on from its end in one run. Returns the count, or SIZE_MAX when
 * a run of windows gave up (the caller then merges the piece with the heap). ids:
 * room for len. */
static size_t merge_lanes(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                          uint32_t *memory, uint32_t *ids) {
    size_t cut = len / 2;
    windows w[2];
    windows_begin(&w[0], p, cut, ids);
    windows_begin(&w[1], p + cut, len - cut, ids + cut);
    bool more[2] = {true, true};
    while (more[0] && more[1]) {
        size_t got[2];
        bool memo[2];
        for (int i = 0; i < 2; i++) {
            windows_open(&w[i]);
            memo[i] = windows_memo(&w[i], &got[i]);
        }
        size_t n[2] = {w[0].stop - w[0].from, w[1].stop - w[1].from};
        if (!memo[0] && !memo[1] && fits_small2(n[0]) && fits_small2(n[1])) {
            const uint8_t *const at[2] = {w[0].p + w[0].from, w[1].p + w[1].from};
            uint32_t *const out[2] = {w[0].ids + w[0].keep, w[1].ids + w[1].keep};
            merge_small2(vocab, at, n, end, out, got);
            w[0].work_bytes += n[0];
            w[1].work_bytes += n[1];
        } else {
            for (int i = 0; i < 2; i++) {
                if (!memo[i]) {
                    got[i] = merge_any(vocab, w[i].p + w[i].from, n[i], end, memory,
                                       w[i].ids + w[i].keep);
                    w[i].work_bytes += n[i];
                }
            }
        }
        for (int i = 0; i < 2; i++) {
            more[i] = windows_settle(vocab, &w[i], end, memory, got[i]);
        }
    }
    for (int i = 0; i < 2; i++) {
        if (more[i]) {
            windows_run(vocab, &w[i], end, memory);
        }
        if (w[i].result == SIZE_MAX) {
            return SIZE_MAX;
        }
    }
    size_t count = stitch(vocab, p, cut, end, memory, ids, w[0].result, w[1].result);
    if (count != SIZE_MAX) {
        return count;
    }
    /* The halves do not meet (a run of long tokens, whose boundaries in the second
     * half are all shifted from where the first half puts them): keep the first
     * half less its cut token, an exact merge, and go on in one run from there. */
    windows rest;
    windows_begin(&rest, p, len, ids);
    rest.count = w[0].result - 1;
    rest.done = cut - token_len(vocab, ids[rest.count]);
    return windows_run(vocab, &rest, end, memory);
}

size_t tg__bpe_merge_lanes(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                           uint32_t *memory, uint32_t *ids) {
    return merge_lanes(vocab, p, len, end, memory, ids);
}

size_t tg__bpe_merge_windows(const tg__vocab *vocab, const uint8_t *p, size_t len,
                             const uint8_t *end, uint32_t *memory, uint32_t *ids) {
    return merge_windows(vocab, p, len, end, memory, ids);
}

/* Runs of one unit of 1-4 bytes (white space, U+3000, dashes, one letter, and CRLF or
 * space-newline, which are no one character): the unit's bytes when p[0..len) is one
 * unit repeated (the shortest), else 0. merge_run proves its result for units of more
 * than one byte, so a unit need not be a character. */
static size_t run_unit(const uint8_t *p, size_t len) {
    for (size_t unit = 1; unit <= 4; unit++) {
        if (len >= 2 * unit && len % unit == 0 && memcmp(p, p + unit, len - unit) == 0) {
            return unit;
        }
    }
    return 0;
}

#define RUN_PAIRS_CHECKED_MAX 64
#define RUN_SIZES 512 /* pair sizes counted; a larger pair is no token */

/* Merges a run of n = len / unit copies of one character u in about linear time: every
 * part is u^k, so a pair's token is u^(k1 + k2) and its rank comes from a table of the
 * run's own prefixes (looked up once, not once per merge). The merge goes by rank in
 * rounds: the round of u^s merges, left to right, every neighbouring pair of sizes
 * adding up to s, which is tiktoken's order (lowest rank first, leftmost first) as
 * long as no merge makes a pair ranked below s; a merge that would declines (the
 * caller then merges the piece the general way). Rounds without such a pair are
 * skipped by a count of the pairs of each size. For a one-byte u this is tiktoken's
 * merge exactly (the parts are whole bytes). For a longer u the parts could in
 * principle split a character, so the result is only taken after bpe.h's stitching
 * argument proves it: each token is the merge of its own bytes and each distinct
 * neighbouring pair holds as a seam. Returns SIZE_MAX to decline. memory: room for
 * len * TG__BPE_SCRATCH_PER_BYTE bytes. Writes the ranks to ids unless NULL. */
static size_t merge_run(const tg__vocab *vocab, const uint8_t *p, size_t len, size_t unit,
                        const uint8_t *end, uint32_t *memory, uint32_t *ids) {
    size_t n = len / unit;
    size_t k_max = vocab->token_len_max / unit;
    uint32_t rank_of[256]; /* rank of u^k, or TG__RANK_NONE; k < 256 as tokens are */
    k_max = k_max < n ? k_max : n;
    uint32_t order[256]; /* the sizes of u^k tokens (k >= 2), by rank */
    size_t sizes = 0;
    for (size_t k = 1; k <= k_max; k++) {
        rank_of[k] = tg__vocab_rank(vocab, p, k * unit, end);
        if (k >= 2 && rank_of[k] != TG__RANK_NONE) {
            size_t i = sizes++;
            for (; i > 0 && rank_of[order[i - 1]] > rank_of[k]; i--) {
                order[i] = order[i - 1];
            }
            order[i] = (uint32_t)k;
        }
    }
    if (rank_of[1] == TG__RANK_NONE) {
        return SIZE_MAX; /* the character is no token: its bytes merge first */
    }
    /* Parts as a linked list over unit offsets: next, prev and size per unit. */
    uint32_t *next = memory;
    uint32_t *prev = next + n + 1;
    uint32_t *size = prev + n + 1;
    _Static_assert(TG__BPE_SCRATCH_PER_BYTE >= 3 * 4 + 4, "a run fits the scratch");
    for (size_t k = 0; k < n; k++) {
        next[k] = (uint32_t)(k + 1);
        prev[k] = (uint32_t)(k - 1);
        size[k] = 1;
    }
    uint32_t pairs_of[RUN_SIZES + 1] = {0}; /* neighbouring pairs by summed size */
    pairs_of[2] = (uint32_t)(n - 1);
#define PAIR_SIZE(a, b) ((a) + (b) < RUN_SIZES ? (a) + (b) : RUN_SIZES)
    for (size_t r = 0; r < sizes; r++) {
        uint32_t s = order[r];
        uint32_t rank = rank_of[s];
        for (uint32_t k = 0; pairs_of[s] > 0 && k < n; k = next[k]) {
            uint32_t right = next[k];
            if (right >= n || size[k] + size[right] != s) {
                continue;
            }
            uint32_t far = next[right];
            pairs_of[s]--;
            if (k > 0) {
                pairs_of[PAIR_SIZE(size[prev[k]], size[k])]--;
                uint32_t with = PAIR_SIZE(size[prev[k]], s);
                pairs_of[with]++;
                if (with <= k_max && rank_of[with] != TG__RANK_NONE && rank_of[with] < rank) {
                    return SIZE_MAX;
                }
            }
            if (far < n) {
                pairs_of[PAIR_SIZE(size[right], size[far])]--;
                uint32_t with = PAIR_SIZE(s, size[far]);
                pairs_of[with]++;
                if (with <= k_max && rank_of[with] != TG__RANK_NONE && rank_of[with] < rank) {
                    return SIZE_MAX;
                }
                prev[far] = k;
            }
            size[k] = s;
            next[k] = far;
        }
    }
#undef PAIR_SIZE
    /* The proof for characters of several bytes: distinct sizes and neighbours. */
    if (unit > 1) {
        uint8_t token_ok[256] = {0};
        uint32_t pairs[RUN_PAIRS_CHECKED_MAX];
        size_t pairs_count = 0;
        uint32_t got[2 * 255];
        for (uint32_t k = 0; k < n; k = next[k]) {
            uint32_t a = size[k];
            if (!token_ok[a]) {
                if (rank_of[a] == TG__RANK_NONE ||
                    merge_any(vocab, p, a * unit, end, memory + 3 * (n + 1), got) != 1 ||
                    got[0] != rank_of[a]) {
                    return SIZE_MAX;
                }
                token_ok[a] = 1;
            }
            if (next[k] >= n) {
                break;
            }
            uint32_t b = size[next[k]];
            uint32_t pair = a << 8 | b;
            bool seen = false;
            for (size_t i = 0; i < pairs_count && !seen; i++) {
                seen = pairs[i] == pair;
            }
            if (!seen) {
                if (pairs_count == RUN_PAIRS_CHECKED_MAX ||
                    (a + b) * unit > sizeof got / sizeof got[0] ||
                    merge_any(vocab, p, (a + b) * unit, end, memory + 3 * (n + 1), got) != 2 ||
                    got[0] != rank_of[a] || got[1] != rank_of[b]) {
                    return SIZE_MAX;
                }
                pairs[pairs_count++] = pair;
            }
        }
    }
    size_t count = 0;
    for (uint32_t k = 0; k < n; k = next[k]) {
        if (ids != NULL) {
            ids[count] = rank_of[size[k]];
        }
        count++;
    }
    return count;
}

/* Long runs are merged a block at a time: merge_run's arrays cost 12 bytes per
 * unit, and a 1 MiB run of one letter paid ~3,000 page faults for them on first
 * sight (46 ms, where the windows took 3 ms). A block is the merge of RUN_BLOCK_UNITS
 * units less its last token (so just under RUN_BLOCK_UNITS units); a run is q blocks
 * and a tail of one to two blocks. Every block is the same bytes, so its merge A is
 * computed once, and the tail's C once; by bpe.h's stitching argument the merge of the
 * run is A q times then C when the two seams that occur (the last token of A before
 * the first of A, and before the first of C) hold, which is checked. Otherwise the
 * caller merges the whole run with merge_run. */
#define RUN_BLOCK_UNITS 1024
/* merge_run's words for up to 2 * RUN_BLOCK_UNITS characters and its checks. */
#define RUN_BLOCK_WORDS (3 * (2 * RUN_BLOCK_UNITS + 1) + 2 * 255 * TG__BPE_SCRATCH_PER_BYTE / 4)
_Static_assert((RUN_BLOCK_WORDS + 3 * RUN_BLOCK_UNITS) * 4 <=
                   2 * RUN_BLOCK_UNITS * TG__BPE_SCRATCH_PER_BYTE,
               "a run of two blocks has scratch for both merges");

static size_t merge_run_blocks(const tg__vocab *vocab, const uint8_t *p, size_t len, size_t unit,
                               const uint8_t *end, uint32_t *memory, uint32_t *ids) {
    /* memory: merge_run's arrays for the tail (its seam checks included), then the
     * tokens of the block and of the tail. */
    uint32_t *block_ids = memory + RUN_BLOCK_WORDS;
    uint32_t *tail_ids = block_ids + RUN_BLOCK_UNITS;
    size_t block_len = RUN_BLOCK_UNITS * unit;
    size_t block_count = merge_run(vocab, p, block_len, unit, end, memory, block_ids);
    if (block_count == SIZE_MAX || block_count < 2) {
        return SIZE_MAX;
    }
    /* The block's last token is cut short by the block's end; without it, the block
     * is still an exact merge (a prefix ending at a token boundary, bpe.h), and its
     * last token is one of the run's middle, whose seams hold far more often. */
    block_count--;
    block_len -= token_len(vocab, block_ids[block_count]);
    size_t blocks = len / block_len - 1; /* len >= 2 blocks: at least one, and a tail */
    size_t tail_len = len - blocks * block_len;
    size_t tail_count = merge_run(vocab, p, tail_len, unit, end, memory, tail_ids);
    if (tail_count == SIZE_MAX) {
        return SIZE_MAX;
    }
    uint32_t last = block_ids[block_count - 1];
    if ((blocks > 1 && !seam_holds(vocab, p, block_len, end, last, block_ids[0], memory)) ||
        !seam_holds(vocab, p, block_len, end, last, tail_ids[0], memory)) {
        return SIZE_MAX;
    }
    if (ids != NULL) {
        for (size_t b = 0; b < blocks; b++) {
            memcpy(ids + b * block_count, block_ids, block_count * sizeof *ids);
        }
        memcpy(ids + blocks * block_count, tail_ids, tail_count * sizeof *ids);
    }
    return blocks * block_count + tail_count;
}

size_t tg__bpe_merge_heap(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                          uint32_t *memory, uint32_t *ids) {
    return merge_large(vocab, p, len, end, memory, ids);
}

tg_status tg__bpe(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                  tg__bpe_scratch *scratch, uint32_t *ids, size_t *count_out) {
    /* One and two bytes have direct tables: every byte is a token, and a pair is
     * either a token or its two bytes. */
    if (len <= 2) {
        uint32_t pair = len == 2 ? tg__vocab_rank2(vocab, p) : TG__RANK_NONE;
        size_t count = len == 2 && pair == TG__RANK_NONE ? 2 : 1;
        if (ids != NULL) {
            ids[0] = pair != TG__RANK_NONE ? pair : vocab->byte_rank[p[0]];
            if (count == 2) {
                ids[1] = vocab->byte_rank[p[1]];
            }
        }
        *count_out = count;
        return TG_OK;
    }
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
        *count_out = merge_piece(vocab, p, len, end, ids);
        return TG_OK;
    }
    if (len > UINT32_MAX / 2) {
        return TG_ERR_RANGE;
    }
    size_t need = TG__BPE_WINDOW_SCRATCH_BYTES + len * TG__BPE_SCRATCH_PER_BYTE;
    if (scratch->capacity_bytes < need) {
        /* In huge pages when large (huge_alloc.h): the first merge of a long piece
         * otherwise pays a page fault per 4 KiB of scratch it touches. */
        size_t capacity;
        void *memory = tg__huge_alloc(need, &capacity);
        if (memory == NULL) {
            return TG_ERR_NOMEM;
        }
        free(scratch->memory);
        scratch->memory = memory;
        scratch->capacity_bytes = capacity;
    }
    /* The window's scratch first (8-byte aligned for the heap keys), then room for
     * the ids when the caller only counts: the seams need the tokens. */
    uint32_t *window = scratch->memory;
    uint32_t *rest = window + TG__BPE_WINDOW_SCRATCH_BYTES / sizeof *window;
    size_t unit = run_unit(p, len);
    size_t count = SIZE_MAX;
    if (unit != 0 && len / unit >= 2 * RUN_BLOCK_UNITS) {
        count = merge_run_blocks(vocab, p, len, unit, end, rest, ids);
    }
    if (unit != 0 && count == SIZE_MAX) {
        count = merge_run(vocab, p, len, unit, end, rest, ids);
    }
    if (count == SIZE_MAX) {
        /* Long pieces as two halves at once; the heap when the windows give up. */
        count = len >= TG__BPE_LANES_MIN_BYTES
                    ? merge_lanes(vocab, p, len, end, window, ids != NULL ? ids : rest)
                    : merge_windows(vocab, p, len, end, window, ids != NULL ? ids : rest);
    }
    if (count == SIZE_MAX) {
        count = merge_large(vocab, p, len, end, rest, ids);
    }
    *count_out = count;
    return TG_OK;
}

size_t tg__bpe_short(const tg__vocab *vocab, const uint8_t *p, size_t len, const uint8_t *end,
                     uint32_t *ids) {
    return merge_piece(vocab, p, len, end, ids);
}

void tg__bpe_scratch_free(tg__bpe_scratch *scratch) {
    free(scratch->memory);
    scratch->memory = NULL;
    scratch->capacity_bytes = 0;
}
