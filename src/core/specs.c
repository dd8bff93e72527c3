/*
 * specs: the budget specs in use, each kept once. A million per-user budgets made
 * from a handful of shapes share a handful of specs, so a budget slot holds a
 * pointer (8 bytes) instead of its own copy (~250 bytes, most of a budget's
 * memory and most of what a start-up at a million budgets writes).
 *
 * Entries are reference counted by the budgets pointing at them and never move (a
 * budget holds a pointer to one). A freed entry keeps its memory on the free list,
 * so tg__specs_reserve can promise that the next interns cannot fail: a bulk change
 * checks everything, reserves, then applies without a way to fail halfway.
 */
#include <string.h>

#include "core/ledger_internal.h"

struct tg__spec_entry {
    tg_budget_spec spec; /* first: a budget's `const tg_budget_spec *` is this entry */
    uint64_t hash;       /* of the fields spec_same compares */
    int32_t refs;        /* budgets pointing here; 0 on the free list */
    int32_t slot;        /* index in ledger->specs */
    int32_t next_free;   /* free list link when refs is 0 */
};

/* Hashes what tg__spec_same compares: bytes after a zone name's NUL, unused alerts and
 * padding do not count. */
static uint64_t spec_hash(const tg_budget_spec *spec) {
    int64_t words[3 + 2 + 2 * TG_CLASS_COUNT + TG_ALERTS_MAX + 3] = {0};
    size_t n = 0;
    words[n++] = spec->cost_limit_micros;
    words[n++] = spec->calls_limit;
    words[n++] = spec->tokens_limit;
    words[n++] = spec->revoke_at.micros;
    words[n++] = spec->revoke_at.ppm;
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        words[n++] = spec->class_ceiling[c].micros;
        words[n++] = spec->class_ceiling[c].ppm;
    }
    for (int i = 0; i < spec->alerts_count && i < TG_ALERTS_MAX; i++) {
        words[n++] = spec->alerts_ppm[i];
    }
    words[n++] = spec->alerts_count;
    words[n++] = spec->window;
    words[n++] = spec->above_hold;
    return tg__hash_bytes(words, n * sizeof words[0]) ^
           tg__hash_str(spec->timezone) * UINT64_C(0x9e3779b97f4a7c15);
}

static bool spec_entry_eq(const void *table, int32_t value, const void *key) {
    tg__spec_entry *const *entries = table;
    return tg__spec_same(&entries[value]->spec, key);
}

/* Makes sure `count` more specs can be interned without allocating. */
tg_status tg__specs_reserve(tg__ledger *ledger, int64_t count, tg_error *err) {
    int64_t free_count = (int64_t)ledger->specs_capacity - ledger->specs_live;
    if (count > free_count) {
        int64_t capacity = ledger->specs_live + count;
        if (capacity > INT32_MAX) {
            return tg__fail(err, TG_ERR_FULL, "too many budget specs");
        }
        tg__spec_entry **specs = realloc(ledger->specs, (size_t)capacity * sizeof *specs);
        if (specs == NULL) {
            return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the spec table");
        }
        ledger->specs = specs;
        while (ledger->specs_capacity < capacity) {
            tg__spec_entry *entry = calloc(1, sizeof *entry);
            if (entry == NULL) {
                return tg__fail(err, TG_ERR_NOMEM, "out of memory keeping a budget spec");
            }
            entry->slot = ledger->specs_capacity;
            entry->next_free = ledger->specs_free;
            ledger->specs_free = entry->slot;
            specs[ledger->specs_capacity++] = entry;
        }
    }
    if (count > 0 && tg__map_reserve(&ledger->spec_index, (uint32_t)count) != TG_OK) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the spec index");
    }
    return TG_OK;
}

tg_status tg__spec_intern(tg__ledger *ledger, const tg_budget_spec *spec,
                          const tg_budget_spec **out, tg_error *err) {
    /* Budgets come in runs of one shape (a start-up in path order, a bulk request): the
     * spec interned last is tried before hashing. */
    int32_t last = ledger->specs_last;
    if (last >= 0 && ledger->specs[last]->refs > 0 &&
        tg__spec_same(&ledger->specs[last]->spec, spec)) {
        TG_VERIFY(ledger->specs[last]->refs < INT32_MAX);
        ledger->specs[last]->refs++;
        *out = &ledger->specs[last]->spec;
        return TG_OK;
    }
    uint64_t hash = spec_hash(spec);
    int32_t slot = tg__map_get(&ledger->spec_index, hash, spec_entry_eq, ledger->specs, spec);
    if (slot < 0) {
        tg_status status = tg__specs_reserve(ledger, 1, err);
        if (status != TG_OK) {
            return status;
        }
        slot = ledger->specs_free;
        tg__spec_entry *entry = ledger->specs[slot];
        ledger->specs_free = entry->next_free;
        /* Field by field onto zeros, so the bytes after the zone's NUL are zero too. */
        memset(&entry->spec, 0, sizeof entry->spec);
        entry->spec.cost_limit_micros = spec->cost_limit_micros;
        entry->spec.calls_limit = spec->calls_limit;
        entry->spec.tokens_limit = spec->tokens_limit;
        entry->spec.window = spec->window;
        tg__copy_name(entry->spec.timezone, sizeof entry->spec.timezone, spec->timezone);
        entry->spec.revoke_at = spec->revoke_at;
        memcpy(entry->spec.class_ceiling, spec->class_ceiling, sizeof spec->class_ceiling);
        memcpy(entry->spec.alerts_ppm, spec->alerts_ppm, sizeof spec->alerts_ppm);
        entry->spec.alerts_count = spec->alerts_count;
        entry->spec.above_hold = spec->above_hold;
        entry->hash = hash;
        entry->refs = 0;
        TG_VERIFY(tg__map_put(&ledger->spec_index, hash, slot) == TG_OK); /* reserved above */
        ledger->specs_live++;
    }
    tg__spec_entry *entry = ledger->specs[slot];
    TG_VERIFY(entry->refs < INT32_MAX);
    entry->refs++;
    ledger->specs_last = slot;
    *out = &entry->spec;
    return TG_OK;
}

void tg__spec_release(tg__ledger *ledger, const tg_budget_spec *spec) {
    if (spec == NULL) {
        return;
    }
    tg__spec_entry *entry = (tg__spec_entry *)spec; /* spec is the entry's first member */
    TG_VERIFY(entry->refs > 0 && ledger->specs[entry->slot] == entry);
    if (--entry->refs > 0) {
        return;
    }
    TG_VERIFY(tg__map_remove(&ledger->spec_index, entry->hash, entry->slot));
    entry->next_free = ledger->specs_free;
    ledger->specs_free = entry->slot;
    ledger->specs_live--;
}

void tg__specs_free(tg__ledger *ledger) {
    for (int32_t i = 0; i < ledger->specs_capacity; i++) {
        free(ledger->specs[i]);
    }
    free(ledger->specs);
    tg__map_free(&ledger->spec_index);
}
