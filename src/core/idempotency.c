/*
 * idempotency: remembers what each keyed mutation answered, so a client that
 * retries after a timeout gets the first answer and changes nothing. Keys are
 * forgotten in insertion order once older than the ttl; the table has a
 * maximum, and a full table refuses new keys rather than forget young ones.
 */
#include <string.h>

#include "core/ledger_internal.h"

static bool key_eq(const void *table, int32_t value, const void *key) {
    const tg__idem *keys = table;
    return strcmp(keys[value].row.key, key) == 0;
}

tg_status tg__idem_check_key(const char *key, tg_error *err) {
    if (key != NULL && strnlen(key, TG_KEY_SIZE_MAX) >= TG_KEY_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "idempotency key is longer than %d bytes",
                        TG_KEY_SIZE_MAX - 1);
    }
    return TG_OK;
}

static void forget(tg__ledger *ledger, int32_t slot) {
    tg__idem *entry = &ledger->keys[slot];
    tg__key_row *row = TG_JOURNAL_PUSH(ledger, idem_deleted);
    if (row != NULL) {
        memcpy(row->key, entry->row.key, sizeof row->key);
    }
    TG_VERIFY(tg__map_remove(&ledger->key_index, tg__hash_str(entry->row.key), slot));
    entry->row.key[0] = '\0';
    entry->next_free = ledger->keys_free;
    ledger->keys_free = slot;
    ledger->keys_live--;
}

/* Forgets keys older than the ttl, oldest first. */
static void forget_old(tg__ledger *ledger, int64_t now_ms) {
    while (ledger->keys_oldest >= 0) {
        int32_t slot = ledger->keys_oldest;
        tg__idem *entry = &ledger->keys[slot];
        if (now_ms - entry->row.created_ms < ledger->options.idempotency_ttl_ms) {
            return;
        }
        ledger->keys_oldest = entry->fifo_next;
        if (ledger->keys_oldest < 0) {
            ledger->keys_newest = -1;
        }
        forget(ledger, slot);
    }
}

tg_status tg__idem_lookup(tg__ledger *ledger, const char *key, tg__op_kind op, uint64_t args_hash,
                          int64_t now_ms, const tg__idem_row **found, tg_error *err) {
    *found = NULL;
    if (key == NULL || key[0] == '\0') {
        return TG_OK;
    }
    forget_old(ledger, now_ms);
    int32_t slot = tg__map_get(&ledger->key_index, tg__hash_str(key), key_eq, ledger->keys, key);
    if (slot < 0) {
        return TG_OK;
    }
    const tg__idem_row *row = &ledger->keys[slot].row;
    if (row->op != (int)op || row->args_hash != args_hash) {
        return tg__fail(err, TG_ERR_CONFLICT,
                        "idempotency key '%s' was already used with different arguments", key);
    }
    *found = row;
    return TG_OK;
}

tg_status tg__idem_prepare(tg__ledger *ledger, const char *key, tg_error *err) {
    if (key == NULL || key[0] == '\0') {
        return TG_OK;
    }
    if (ledger->keys_live >= ledger->options.idempotency_max) {
        return tg__fail(err, TG_ERR_FULL,
                        "the ledger remembers its maximum of %lld idempotency keys; retry later "
                        "or raise idempotency_max",
                        (long long)ledger->options.idempotency_max);
    }
    if (ledger->keys_free < 0) {
        int32_t capacity = ledger->keys_capacity ? ledger->keys_capacity * 2 : 64;
        tg__idem *keys = realloc(ledger->keys, (size_t)capacity * sizeof *keys);
        if (keys == NULL) {
            return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the idempotency table");
        }
        for (int32_t i = capacity - 1; i >= ledger->keys_capacity; i--) {
            keys[i].row.key[0] = '\0';
            keys[i].next_free = ledger->keys_free;
            ledger->keys_free = i;
        }
        ledger->keys = keys;
        ledger->keys_capacity = capacity;
    }
    if (tg__map_reserve(&ledger->key_index, 1) != TG_OK) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the idempotency index");
    }
    return TG_OK;
}

/* Adds an entry; restore uses it too, so it journals only when asked. */
static tg_status insert(tg__ledger *ledger, const tg__idem_row *row, bool journal) {
    tg_status status = tg__idem_prepare(ledger, row->key, NULL);
    if (status != TG_OK) {
        return status;
    }
    int32_t slot = ledger->keys_free;
    tg__idem *entry = &ledger->keys[slot];
    ledger->keys_free = entry->next_free;
    entry->row = *row;
    entry->fifo_next = -1;
    TG_VERIFY(tg__map_put(&ledger->key_index, tg__hash_str(row->key), slot) == TG_OK);
    if (ledger->keys_newest >= 0) {
        ledger->keys[ledger->keys_newest].fifo_next = slot;
    } else {
        ledger->keys_oldest = slot;
    }
    ledger->keys_newest = slot;
    ledger->keys_live++;
    if (journal) {
        tg__idem_row *copy = TG_JOURNAL_PUSH(ledger, idem_put);
        if (copy != NULL) {
            *copy = *row;
        }
    }
    return TG_OK;
}

tg_status tg__idem_remember(tg__ledger *ledger, const tg__idem_row *row) {
    return insert(ledger, row, true);
}

tg_status tg__ledger_restore_idem(tg__ledger *ledger, const tg__idem_row *row, tg_error *err) {
    if (row->key[0] == '\0' || memchr(row->key, '\0', sizeof row->key) == NULL) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored idempotency key is malformed");
    }
    tg_status status = insert(ledger, row, false);
    if (status != TG_OK) {
        return tg__fail(err, status, "cannot restore idempotency key '%s'", row->key);
    }
    return TG_OK;
}

void tg__idem_free(tg__ledger *ledger) {
    free(ledger->keys);
    ledger->keys = NULL;
    tg__map_free(&ledger->key_index);
}
