/*
 * vocab: builds the hash table of vocab.h from an embedded rank blob, checking
 * the blob's shape first so a damaged build fails loudly instead of miscounting, or
 * points at the table the build laid out ahead (tg__vocab_map), checking that it
 * belongs to the blob.
 */
#include "tokenizer/vocab.h"

#include "tokenizer/huge_alloc.h"

#include <stdlib.h>

#define BLOB_HEADER_BYTES 32
#define RANK_BITS 24
#define TOKEN_LEN_BITS 8
#define FILTER_BITS_PER_TOKEN 16

static uint32_t read_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static tg_status check_blob(const uint8_t *blob, uint64_t size, uint32_t *count_out) {
    if (size < BLOB_HEADER_BYTES || memcmp(blob, "TGBPE1\0\0", 8) != 0 ||
        ((uintptr_t)blob & 3) != 0) {
        return TG_ERR_CORRUPT;
    }
    uint32_t count = read_u32(blob + 8);
    uint32_t total = read_u32(blob + 12);
    uint32_t len_max = read_u32(blob + 16);
    if (count < 256 || count >= (1u << RANK_BITS) || len_max == 0 ||
        len_max >= (1u << TOKEN_LEN_BITS) ||
        size != BLOB_HEADER_BYTES + 4 * ((uint64_t)count + 1) + total) {
        return TG_ERR_CORRUPT;
    }
    const uint32_t *offsets = (const uint32_t *)(blob + BLOB_HEADER_BYTES);
    if (offsets[0] != 0 || offsets[count] != total) {
        return TG_ERR_CORRUPT;
    }
    for (uint32_t r = 0; r < count; r++) {
        if (offsets[r + 1] <= offsets[r] || offsets[r + 1] - offsets[r] > len_max) {
            return TG_ERR_CORRUPT;
        }
    }
    *count_out = count;
    return TG_OK;
}

/* Offsets of the parts of a table (vocab.h), from its start. */
typedef struct {
    size_t byte_rank, pair_rank, filter, slots, total;
} layout;

static layout layout_of(size_t mask, size_t filter_mask) {
    layout l;
    l.byte_rank = sizeof(tg__vocab_table_header);
    l.pair_rank = l.byte_rank + 256 * sizeof(uint32_t);
    l.filter = l.pair_rank + 65536 * sizeof(uint32_t);
    l.slots = l.filter + (filter_mask + 1) / 8;
    l.total = l.slots + (mask + 1) * sizeof(tg__vocab_slot);
    return l;
}

uint64_t tg__vocab_table_size(const tg__vocab *vocab) {
    return layout_of(vocab->mask, vocab->filter_mask).total;
}

/* The table is 4-9 MiB that every lookup touches at random: in 2 MiB pages
 * (huge_alloc.h) filling it takes a handful of page faults instead of thousands and
 * lookups stop missing the TLB. */
static uint8_t *table_alloc(size_t bytes) {
    size_t capacity;
    uint8_t *table = tg__huge_alloc(bytes, &capacity);
    if (table != NULL) {
        memset(table, 0, bytes);
    }
    return table;
}

/* One token's key, hashed ahead of its insert so the slot can be prefetched. */
typedef struct {
    const uint8_t *p; /* the token's bytes, in the blob */
    size_t len;       /* their length */
    uint64_t lo;      /* tg__vocab_key */
    uint32_t hi;      /* tg__vocab_key */
    uint64_t hash;    /* tg__vocab_hash */
} pending;

static void prepare(const tg__vocab *vocab, uint32_t rank, pending *out) {
    out->p = vocab->bytes + vocab->offsets[rank];
    out->len = vocab->offsets[rank + 1] - vocab->offsets[rank];
    const uint8_t *end = vocab->bytes + vocab->offsets[vocab->count];
    tg__vocab_key(out->p, out->len, end, &out->lo, &out->hi);
    out->hash = tg__vocab_hash(out->lo, out->hi, out->p, out->len);
    __builtin_prefetch(&vocab->slots[out->hash & vocab->mask], 1);
}

/* Inserts a prepared token. The probe passes every slot a lookup of the same bytes
 * would, so a token already there (the same bytes twice) is found on the way. */
static tg_status insert(tg__vocab *vocab, uint32_t rank, const pending *t) {
    /* Building: the parts are this vocab's own allocation (vocab->owned). */
    tg__vocab_slot *slots = (tg__vocab_slot *)vocab->slots;
    uint64_t *filter = (uint64_t *)vocab->filter;
    uint32_t *pair_rank = (uint32_t *)vocab->pair_rank;
    size_t i = t->hash & vocab->mask;
    while (slots[i].rank_len != 0) {
        const tg__vocab_slot *slot = &slots[i];
        if (slot->lo == t->lo && slot->hi == t->hi && (slot->rank_len >> RANK_BITS) == t->len) {
            uint32_t other = slot->rank_len & ((1u << RANK_BITS) - 1);
            if (t->len <= TG__KEY_INLINE_BYTES ||
                memcmp(vocab->bytes + vocab->offsets[other], t->p, t->len) == 0) {
                return TG_ERR_CORRUPT; /* the same bytes twice */
            }
        }
        i = (i + 1) & vocab->mask;
    }
    slots[i].lo = t->lo;
    slots[i].hi = t->hi;
    slots[i].rank_len = rank | (uint32_t)t->len << RANK_BITS;
    size_t word;
    uint64_t bits = tg__vocab_filter_bits(t->hash, &word, vocab->filter_mask);
    filter[word] |= bits;
    if (t->len == 1) {
        ((uint32_t *)vocab->byte_rank)[*t->p] = rank;
    } else if (t->len == 2) {
        pair_rank[t->p[0] | (uint32_t)t->p[1] << 8] = rank;
    }
    return TG_OK;
}

/* Inserts every rank, hashing INSERT_AHEAD tokens before inserting them: the slots
 * are random lines of a 4-8 MiB table, and a prefetch per token lets their misses
 * overlap instead of waiting for each in turn (the bulk of opening a tokenizer). */
#define INSERT_AHEAD 16

static tg_status insert_all(tg__vocab *vocab) {
    pending ahead[INSERT_AHEAD];
    for (uint32_t r = 0; r < vocab->count && r < INSERT_AHEAD; r++) {
        prepare(vocab, r, &ahead[r]);
    }
    for (uint32_t r = 0; r < vocab->count; r++) {
        pending t = ahead[r % INSERT_AHEAD];
        if (r + INSERT_AHEAD < vocab->count) {
            prepare(vocab, r + INSERT_AHEAD, &ahead[r % INSERT_AHEAD]);
        }
        tg_status status = insert(vocab, r, &t);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* The sizes of the slot table and the filter for count tokens. */
static void sizes(uint32_t count, size_t *mask_out, size_t *filter_mask_out) {
    size_t slots = 1024;
    while (slots < (size_t)count * 5 / 2) {
        slots *= 2;
    }
    /* 16 filter bits per token, two set per token: about 1.5% of misses still reach
     * the slots. Measured on long words: one bit per token in 32 bits 4-14% slower
     * (its 1 MiB crowds L2), one bit in 16 bits (6% reach the slots) slower still;
     * two bits in 8 bits per token 3-5% slower. */
    size_t filter_bits = 1024;
    while (filter_bits < (size_t)count * FILTER_BITS_PER_TOKEN) {
        filter_bits *= 2;
    }
    *mask_out = slots - 1;
    *filter_mask_out = filter_bits - 1;
}

/* Points the parts of v at a table laid out as vocab.h says. */
static void point_at(tg__vocab *v, const uint8_t *table) {
    layout l = layout_of(v->mask, v->filter_mask);
    v->byte_rank = (const uint32_t *)(table + l.byte_rank);
    v->pair_rank = (const uint32_t *)(table + l.pair_rank);
    v->filter = (const uint64_t *)(table + l.filter);
    v->slots = (const tg__vocab_slot *)(table + l.slots);
}

static void blob_parts(tg__vocab *v, const uint8_t *blob, uint32_t count) {
    v->count = count;
    v->token_len_max = read_u32(blob + 16);
    v->offsets = (const uint32_t *)(blob + BLOB_HEADER_BYTES);
    v->bytes = blob + BLOB_HEADER_BYTES + 4 * ((size_t)count + 1);
}

tg_status tg__vocab_open(tg__vocab *vocab, const uint8_t *blob, uint64_t size) {
    uint32_t count;
    tg_status status = check_blob(blob, size, &count);
    if (status != TG_OK) {
        return status;
    }
    tg__vocab v = {0};
    blob_parts(&v, blob, count);
    sizes(count, &v.mask, &v.filter_mask);
    layout l = layout_of(v.mask, v.filter_mask);
    uint8_t *table = table_alloc(l.total);
    if (table == NULL) {
        return TG_ERR_NOMEM;
    }
    v.owned = table;
    point_at(&v, table);
    memset(table + l.byte_rank, 0xFF, (256 + 65536) * sizeof(uint32_t));
    status = insert_all(&v);
    for (int b = 0; b < 256 && status == TG_OK; b++) {
        if (v.byte_rank[b] == TG__RANK_NONE) {
            status = TG_ERR_CORRUPT; /* byte-level BPE needs every single byte */
        }
    }
    if (status != TG_OK) {
        free(table);
        return status;
    }
    /* The header too, so the whole allocation is the table the generator writes out
     * (src/tokenizer/gen/vocab_gen.c). */
    tg__vocab_table_header header = {
        .magic = TG__VOCAB_TABLE_MAGIC,
        .version = TG__VOCAB_TABLE_VERSION,
        .count = count,
        .blob_size = size,
        .mask = v.mask,
        .filter_mask = v.filter_mask,
        .token_len_max = v.token_len_max,
    };
    memcpy(table, &header, sizeof header);
    *vocab = v;
    return TG_OK;
}

/* A token looked up through the mapped table: a table from another build of the hash
 * (or another blob of the same size) fails here instead of miscounting. One token,
 * the first merged one (its offset shares a page with the blob's header): a probe
 * touches up to four pages not read yet, and a first touch of a page costs 5-20
 * microseconds on the machines measured (a page fault), most of opening. The build
 * remakes the table whenever the code that lays it out changes (CMakeLists.txt). */
static bool spot_check(const tg__vocab *v) {
    const uint32_t probes[] = {256};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
        uint32_t r = probes[k];
        const uint8_t *p = v->bytes + v->offsets[r];
        size_t len = v->offsets[r + 1] - v->offsets[r];
        if (v->offsets[r + 1] <= v->offsets[r] || len > v->token_len_max ||
            tg__vocab_rank(v, p, len, v->bytes + v->offsets[v->count]) != r) {
            return false;
        }
    }
    return true;
}

tg_status tg__vocab_map(tg__vocab *vocab, const uint8_t *blob, uint64_t size, const uint8_t *table,
                        uint64_t table_size) {
    tg__vocab_table_header h;
    if (size < BLOB_HEADER_BYTES || memcmp(blob, "TGBPE1\0\0", 8) != 0 || table_size < sizeof h ||
        ((uintptr_t)table & 63) != 0) {
        return TG_ERR_CORRUPT;
    }
    memcpy(&h, table, sizeof h);
    uint32_t count = read_u32(blob + 8);
    tg__vocab v = {0};
    if (memcmp(h.magic, TG__VOCAB_TABLE_MAGIC, 8) != 0 || h.version != TG__VOCAB_TABLE_VERSION ||
        h.count != count || h.blob_size != size || count < 256 ||
        size != BLOB_HEADER_BYTES + 4 * ((uint64_t)count + 1) + read_u32(blob + 12) ||
        h.token_len_max != read_u32(blob + 16)) {
        return TG_ERR_CORRUPT;
    }
    blob_parts(&v, blob, count);
    sizes(count, &v.mask, &v.filter_mask);
    if (h.mask != v.mask || h.filter_mask != v.filter_mask ||
        table_size != layout_of(v.mask, v.filter_mask).total) {
        return TG_ERR_CORRUPT;
    }
    point_at(&v, table);
    if (!spot_check(&v)) {
        return TG_ERR_CORRUPT;
    }
    *vocab = v;
    return TG_OK;
}

void tg__vocab_close(tg__vocab *vocab) {
    free(vocab->owned);
    vocab->owned = NULL;
    vocab->slots = NULL;
    vocab->pair_rank = NULL;
    vocab->filter = NULL;
}
