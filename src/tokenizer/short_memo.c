/*
 * short_memo: see short_memo.h.
 */
#include "tokenizer/short_memo.h"

#include <stdlib.h>
#include <string.h>

bool tg__short_memo_get(const tg__short_memo *memo, uint64_t hash, const uint8_t *p, size_t len,
                        uint32_t *ids, size_t *count_out) {
    if (memo->entries == NULL) {
        return false;
    }
    const tg__short_entry *e = &memo->entries[hash % TG__SHORT_MEMO_ENTRIES];
    if (e->len != len || e->hash != hash || memcmp(e->bytes, p, len) != 0) {
        return false;
    }
    if (ids != NULL) {
        memcpy(ids, e->ids, e->count * sizeof *ids);
    }
    *count_out = e->count;
    return true;
}

void tg__short_memo_put(tg__short_memo *memo, uint64_t hash, const uint8_t *p, size_t len,
                        const uint32_t *ids, size_t count) {
    memo->merges++;
    if (len == 0 || len > TG__SHORT_MEMO_BYTES_MAX || count > TG__SHORT_MEMO_IDS_MAX) {
        return;
    }
    if (memo->entries == NULL) {
        if (memo->merges < TG__SHORT_MEMO_AFTER) {
            return;
        }
        memo->entries = calloc(TG__SHORT_MEMO_ENTRIES, sizeof *memo->entries);
        if (memo->entries == NULL) {
            memo->merges = 0; /* try again later; the memo only saves time */
            return;
        }
    }
    tg__short_entry *e = &memo->entries[hash % TG__SHORT_MEMO_ENTRIES];
    e->hash = hash;
    e->len = (uint8_t)len;
    e->count = (uint8_t)count;
    memcpy(e->bytes, p, len);
    if (ids != NULL) {
        memcpy(e->ids, ids, count * sizeof *ids);
    }
}

void tg__short_memo_free(tg__short_memo *memo) {
    free(memo->entries);
    memo->entries = NULL;
    memo->merges = 0;
}
