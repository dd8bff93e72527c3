/*
 * tokenizer: open, close, encode, count and decode for tollgate_tokens.h. The
 * work is pre-tokenization (split.c) and byte-pair merging of each piece (bpe.c);
 * this file walks the text, cuts it at special tokens when asked, and collects ids.
 */
#include "tokenizer/tokenizer_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/quiet_thread.h"
#include "tokenizer/bpe.h"
#include "tokenizer/huge_alloc.h"
#include "tokenizer/short_memo.h"
#include "tokenizer/split.h"
#include "tokenizer/unicode.h"

/* The embedded rank blobs (tokenizer_data.c, generated in the build directory). */
extern const uint8_t tg__ranks_cl100k[];
extern const uint64_t tg__ranks_cl100k_size;
extern const uint8_t tg__ranks_o200k[];
extern const uint64_t tg__ranks_o200k_size;
/* Their hash tables laid out at build time (vocab_tables.c, by vocab_gen). */
extern const uint8_t tg__table_cl100k[];
extern const uint64_t tg__table_cl100k_size;
extern const uint8_t tg__table_o200k[];
extern const uint64_t tg__table_o200k_size;

#define SPECIAL(text, id)                                                                          \
    { text, sizeof text - 1, id }

/* tiktoken_ext/openai_public.py: the special tokens of each encoding. */
static const tg__special specials_cl100k[] = {
    SPECIAL("<|endoftext|>", TG_TOKEN_ENDOFTEXT_CL100K),
    SPECIAL("<|fim_prefix|>", 100258),
    SPECIAL("<|fim_middle|>", 100259),
    SPECIAL("<|fim_suffix|>", 100260),
    SPECIAL("<|endofprompt|>", TG_TOKEN_ENDOFPROMPT_CL100K),
};
static const tg__special specials_o200k[] = {
    SPECIAL("<|endoftext|>", TG_TOKEN_ENDOFTEXT_O200K),
    SPECIAL("<|endofprompt|>", TG_TOKEN_ENDOFPROMPT_O200K),
};

const char *tg_encoding_name(tg_encoding encoding) {
    switch (encoding) {
    case TG_ENCODING_CL100K_BASE:
        return "cl100k_base";
    case TG_ENCODING_O200K_BASE:
        return "o200k_base";
    }
    return "unknown";
}

tg_status tg_encoding_parse(const char *name, tg_encoding *encoding_out) {
    if (name != NULL && strcmp(name, "cl100k_base") == 0) {
        *encoding_out = TG_ENCODING_CL100K_BASE;
        return TG_OK;
    }
    if (name != NULL && strcmp(name, "o200k_base") == 0) {
        *encoding_out = TG_ENCODING_O200K_BASE;
        return TG_OK;
    }
    return TG_ERR_INVALID;
}

/* A range of the library's read-only data to map ahead. */
typedef struct {
    const uint8_t *start; /* page-aligned */
    size_t len;           /* bytes */
} prefault_job;

static void *prefault(void *arg) {
    const prefault_job *job = arg;
#ifdef MADV_POPULATE_READ
    (void)madvise((void *)job->start, job->len, MADV_POPULATE_READ);
#endif
    /* Then one read per page, whether or not the kernel mapped them: on the machines
     * measured a mapped page still cost about 1.3 us on its first read (9 MiB: about
     * 3 ms), paid once per process by whichever thread reads it first. Read here, it
     * is off the first text's path: a 64 KiB random word's first encode took a third
     * less CPU (docs/benchmarks-tokenizer.md). */
    long page = sysconf(_SC_PAGESIZE);
    for (size_t at = 0; at < job->len; at += (size_t)(page > 0 ? page : 4096)) {
        (void)*(volatile const uint8_t *)(job->start + at);
    }
    return NULL;
}

/* Opening points at a table that is still on disk (or in the page cache) as far as
 * the process is concerned: each page of it a text touches first costs a page fault,
 * thousands on a long text (5-10 ms per MiB of prose on the machines measured, more
 * than building the table at open took). So the first open of each encoding starts a
 * detached thread that has the kernel map the whole table ahead (MADV_POPULATE_READ)
 * and then reads one byte of each page, small parts first, while the caller goes on.
 * The table is static data of the library, never unmapped, so the thread cannot
 * outlive what it reads; if no thread can start, faults it is. */
static void prefault_start(int which, const uint8_t *table, uint64_t size) {
    static atomic_bool started[2];
    static prefault_job jobs[2];
    if (size == 0 || atomic_exchange(&started[which], true)) {
        return;
    }
    uintptr_t page = 4096;
    uintptr_t start = (uintptr_t)table & ~(page - 1);
    jobs[which].start = (const uint8_t *)start;
    jobs[which].len = (size_t)((uintptr_t)table + size - start);
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0) {
        return;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    (void)tg__quiet_thread_start(&thread, &attr, prefault, &jobs[which]);
    pthread_attr_destroy(&attr);
}

tg_status tg_tokenizer_open(tg_encoding encoding, tg_tokenizer **tokenizer_out) {
    const uint8_t *blob, *table;
    uint64_t size, table_size;
    tg_tokenizer t = {.encoding = encoding};
    if (encoding == TG_ENCODING_CL100K_BASE) {
        blob = tg__ranks_cl100k, size = tg__ranks_cl100k_size;
        table = tg__table_cl100k, table_size = tg__table_cl100k_size;
        t.split = tg__split_cl100k;
        t.specials = specials_cl100k;
        t.specials_count = sizeof specials_cl100k / sizeof specials_cl100k[0];
    } else if (encoding == TG_ENCODING_O200K_BASE) {
        blob = tg__ranks_o200k, size = tg__ranks_o200k_size;
        table = tg__table_o200k, table_size = tg__table_o200k_size;
        t.split = tg__split_o200k;
        t.specials = specials_o200k;
        t.specials_count = sizeof specials_o200k / sizeof specials_o200k[0];
    } else {
        return TG_ERR_INVALID;
    }
    if (size == 0) {
        return TG_ERR_UNSUPPORTED;
    }
    tg_tokenizer *tokenizer = malloc(sizeof *tokenizer);
    t.cache = malloc(sizeof *t.cache);
    if (tokenizer == NULL || t.cache == NULL) {
        free(tokenizer);
        free(t.cache);
        return TG_ERR_NOMEM;
    }
    /* The table laid out at build time: opening is a few checks, no build. */
    tg_status status = table_size > 0 ? tg__vocab_map(&t.vocab, blob, size, table, table_size)
                                      : tg__vocab_open(&t.vocab, blob, size);
    if (status == TG_OK && !tg__piece_cache_init(t.cache)) {
        tg__vocab_close(&t.vocab);
        status = TG_ERR_NOMEM;
    }
    if (status != TG_OK) {
        free(tokenizer);
        free(t.cache);
        return status;
    }
    if (table_size > 0) {
        prefault_start(encoding == TG_ENCODING_CL100K_BASE ? 0 : 1, table, table_size);
    }
    *tokenizer = t;
    *tokenizer_out = tokenizer;
    return TG_OK;
}

void tg_tokenizer_close(tg_tokenizer *tokenizer) {
    if (tokenizer == NULL) {
        return;
    }
    tg__vocab_close(&tokenizer->vocab);
    tg__piece_cache_free(tokenizer->cache);
    free(tokenizer->cache);
    free(tokenizer);
}

tg_encoding tg_tokenizer_encoding(const tg_tokenizer *tokenizer) {
    return tokenizer->encoding;
}

static tg_tokenizer *shared_cl100k;
static tg_tokenizer *shared_o200k;
static pthread_once_t shared_cl100k_once = PTHREAD_ONCE_INIT;
static pthread_once_t shared_o200k_once = PTHREAD_ONCE_INIT;

static void open_shared_cl100k(void) {
    if (tg_tokenizer_open(TG_ENCODING_CL100K_BASE, &shared_cl100k) != TG_OK) {
        shared_cl100k = NULL;
    }
}

static void open_shared_o200k(void) {
    if (tg_tokenizer_open(TG_ENCODING_O200K_BASE, &shared_o200k) != TG_OK) {
        shared_o200k = NULL;
    }
}

const tg_tokenizer *tg_tokenizer_shared(tg_encoding encoding) {
    if (encoding == TG_ENCODING_CL100K_BASE) {
        pthread_once(&shared_cl100k_once, open_shared_cl100k);
        return shared_cl100k;
    }
    if (encoding == TG_ENCODING_O200K_BASE) {
        pthread_once(&shared_o200k_once, open_shared_o200k);
        return shared_o200k;
    }
    return NULL;
}

/* Where ids go: stored in a growing array, or only counted. */
typedef struct {
    uint32_t *ids;           /* from malloc; NULL when only counting */
    size_t count;            /* tokens so far */
    size_t capacity;         /* room in ids */
    bool store;              /* whether to keep ids */
    tg__bpe_scratch scratch; /* for long pieces */
    tg__short_memo memo;     /* short pieces merged in this call */
} sink;

static tg_status reserve(sink *out, size_t more) {
    if (!out->store || out->capacity - out->count >= more) {
        return TG_OK;
    }
    size_t capacity = out->capacity < 64 ? 64 : out->capacity;
    while (capacity - out->count < more) {
        if (capacity > SIZE_MAX / 2 / sizeof *out->ids) {
            return TG_ERR_NOMEM;
        }
        capacity *= 2;
    }
    if (capacity * sizeof *out->ids < TG__HUGE_ALLOC_MIN_BYTES) {
        uint32_t *ids = realloc(out->ids, capacity * sizeof *ids);
        if (ids == NULL) {
            return TG_ERR_NOMEM;
        }
        out->ids = ids;
        out->capacity = capacity;
        return TG_OK;
    }
    /* Large: in huge pages (huge_alloc.h), since a first encode pays a page fault per
     * 4 KiB page of ids it writes; the copy costs far less than the faults it saves. */
    size_t bytes;
    uint32_t *ids = tg__huge_alloc(capacity * sizeof *ids, &bytes);
    if (ids == NULL) {
        return TG_ERR_NOMEM;
    }
    if (out->count > 0) {
        memcpy(ids, out->ids, out->count * sizeof *ids);
    }
    free(out->ids);
    out->ids = ids;
    out->capacity = bytes / sizeof *ids;
    return TG_OK;
}

/* Merges a long piece through the tokenizer's piece cache. */
static tg_status merge_cached(const tg_tokenizer *t, const uint8_t *p, size_t len,
                              const uint8_t *end, sink *out, size_t *got) {
    uint32_t *ids = out->store ? out->ids + out->count : NULL;
    uint64_t hash = tg__piece_hash(p, len);
    if (tg__piece_cache_get(t->cache, hash, p, len, ids, got)) {
        return TG_OK;
    }
    uint32_t *own = ids == NULL ? malloc(len * sizeof *own) : NULL;
    tg_status status = tg__bpe(&t->vocab, p, len, end, &out->scratch, ids ? ids : own, got);
    if (status == TG_OK && (ids != NULL || own != NULL)) {
        tg__piece_cache_put(t->cache, hash, p, len, ids ? ids : own, *got);
    }
    free(own);
    return status;
}

_Static_assert(TG__SHORT_MEMO_BYTES_MAX < TG__PIECE_CACHE_MIN_BYTES,
               "every piece under the piece cache's minimum fits the memo");

/* Merges a short piece (3 .. TG__SHORT_MEMO_BYTES_MAX bytes) through the call's memo
 * of short pieces. A whole token is looked up first and not remembered: its lookup
 * costs what the memo's would. */
static tg_status merge_short(const tg_tokenizer *t, const uint8_t *p, size_t len,
                             const uint8_t *end, sink *out, size_t *got) {
    uint32_t *ids = out->store ? out->ids + out->count : NULL;
    uint32_t whole = tg__vocab_rank(&t->vocab, p, len, end);
    if (whole != TG__RANK_NONE) {
        if (ids != NULL) {
            ids[0] = whole;
        }
        *got = 1;
        return TG_OK;
    }
    uint64_t hash = tg__piece_hash(p, len);
    if (tg__short_memo_get(&out->memo, hash, p, len, ids, got)) {
        return TG_OK;
    }
    /* Known to be no whole token: straight to the merge, without tg__bpe's lookup
     * of the whole piece again. */
    *got = tg__bpe_short(&t->vocab, p, len, end, ids);
    tg__short_memo_put(&out->memo, hash, p, len, ids, *got);
    return TG_OK;
}

/* Encodes s[0..n), ordinary text; end is the end of the whole buffer. */
static tg_status encode_ordinary(const tg_tokenizer *t, const uint8_t *s, size_t n,
                                 const uint8_t *end, sink *out) {
    for (size_t i = 0; i < n;) {
        size_t stop = t->split(s, n, i);
        size_t got;
        tg_status status = reserve(out, stop - i);
        if (status == TG_OK && stop - i >= TG__PIECE_CACHE_MIN_BYTES) {
            status = merge_cached(t, s + i, stop - i, end, out, &got);
        } else if (status == TG_OK && stop - i >= 3) {
            status = merge_short(t, s + i, stop - i, end, out, &got);
        } else if (status == TG_OK) {
            status = tg__bpe(&t->vocab, s + i, stop - i, end, &out->scratch,
                             out->store ? out->ids + out->count : NULL, &got);
        }
        if (status != TG_OK) {
            return status;
        }
        out->count += got;
        i = stop;
    }
    return TG_OK;
}

/* The first special token at or after s[from], or NULL; *at_out: its offset. */
static const tg__special *next_special(const tg_tokenizer *t, const uint8_t *s, size_t n,
                                       size_t from, size_t *at_out) {
    for (size_t i = from; i + 1 < n;) {
        const uint8_t *open = memmem(s + i, n - i, "<|", 2);
        if (open == NULL) {
            return NULL;
        }
        size_t at = (size_t)(open - s);
        for (size_t k = 0; k < t->specials_count; k++) {
            const tg__special *sp = &t->specials[k];
            if (n - at >= sp->len && memcmp(s + at, sp->text, sp->len) == 0) {
                *at_out = at;
                return sp;
            }
        }
        i = at + 1;
    }
    return NULL;
}

static tg_status encode(const tg_tokenizer *t, const char *text, size_t len, unsigned flags,
                        sink *out) {
    if (text == NULL && len > 0) {
        return TG_ERR_INVALID;
    }
    if (len > TG_TOKENS_INPUT_SIZE_MAX) {
        return TG_ERR_RANGE;
    }
    const uint8_t *s = (const uint8_t *)text;
    if ((flags & TG_TOKENS_SPECIAL) == 0) {
        return encode_ordinary(t, s, len, s + len, out);
    }
    size_t from = 0;
    for (;;) {
        size_t at = len;
        const tg__special *sp = next_special(t, s, len, from, &at);
        tg_status status = encode_ordinary(t, s + from, at - from, s + len, out);
        if (status == TG_OK && sp != NULL && (status = reserve(out, 1)) == TG_OK) {
            if (out->store) {
                out->ids[out->count] = sp->id;
            }
            out->count++;
        }
        if (status != TG_OK || sp == NULL) {
            return status;
        }
        from = at + sp->len;
    }
}

tg_status tg_tokens_encode(const tg_tokenizer *tokenizer, const char *text, size_t len,
                           unsigned flags, uint32_t **ids_out, size_t *count_out) {
    sink out = {.store = true};
    tg_status status = encode(tokenizer, text, len, flags, &out);
    tg__bpe_scratch_free(&out.scratch);
    tg__short_memo_free(&out.memo);
    if (status != TG_OK) {
        free(out.ids);
        return status;
    }
    if (out.count == 0) {
        free(out.ids);
        out.ids = NULL;
    }
    *ids_out = out.ids;
    *count_out = out.count;
    return TG_OK;
}

tg_status tg_tokens_count(const tg_tokenizer *tokenizer, const char *text, size_t len,
                          unsigned flags, size_t *count_out) {
    sink out = {.store = false};
    tg_status status = encode(tokenizer, text, len, flags, &out);
    tg__bpe_scratch_free(&out.scratch);
    tg__short_memo_free(&out.memo);
    if (status == TG_OK) {
        *count_out = out.count;
    }
    return status;
}

tg_status tg__count_text(const tg_tokenizer *tokenizer, const char *text, size_t len,
                         int64_t *count_out) {
    size_t count;
    tg_status status = tg_tokens_count(tokenizer, text, len, 0, &count);
    if (status == TG_OK) {
        *count_out = (int64_t)count;
    }
    return status;
}

/* The bytes of one id, or NULL for an id that is no token. */
static const uint8_t *token_bytes(const tg_tokenizer *t, uint32_t id, size_t *len_out) {
    const tg__vocab *v = &t->vocab;
    if (id < v->count) {
        *len_out = v->offsets[id + 1] - v->offsets[id];
        return v->bytes + v->offsets[id];
    }
    for (size_t k = 0; k < t->specials_count; k++) {
        if (t->specials[k].id == id) {
            *len_out = t->specials[k].len;
            return (const uint8_t *)t->specials[k].text;
        }
    }
    return NULL;
}

tg_status tg_tokens_decode(const tg_tokenizer *tokenizer, const uint32_t *ids, size_t count,
                           char **text_out, size_t *len_out) {
    size_t total = 0;
    for (size_t k = 0; k < count; k++) {
        size_t len;
        if (token_bytes(tokenizer, ids[k], &len) == NULL) {
            return TG_ERR_INVALID;
        }
        total += len;
    }
    char *text = malloc(total + 1);
    if (text == NULL) {
        return TG_ERR_NOMEM;
    }
    size_t at = 0;
    for (size_t k = 0; k < count; k++) {
        size_t len;
        const uint8_t *bytes = token_bytes(tokenizer, ids[k], &len);
        memcpy(text + at, bytes, len);
        at += len;
    }
    text[total] = '\0';
    *text_out = text;
    *len_out = total;
    return TG_OK;
}

const char *tg_tokens_unicode_version(void) {
    return tg__unicode_version;
}
