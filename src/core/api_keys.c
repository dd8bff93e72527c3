/*
 * api_keys: the daemon's bearer keys kept with the ledger (tg_api_key_put in
 * tollgate.h). Core decides nothing with them: it checks their fields, keeps
 * names and hashes unique, journals each change so the store writes it in the
 * batch's transaction, and takes them back at open. A dense array with two
 * hash indexes (name, hash), so a daemon with many agents finds, adds and
 * restores keys in constant time.
 */
#include <string.h>

#include "core/ledger_internal.h"

static bool name_eq(const void *table, int32_t value, const void *key) {
    return strcmp(((const tg_api_key *)table)[value].name, key) == 0;
}

static bool hash_eq(const void *table, int32_t value, const void *key) {
    return memcmp(((const tg_api_key *)table)[value].sha256, key, TG_API_KEY_SHA256_SIZE) == 0;
}

static uint64_t hash_of(const unsigned char sha256[TG_API_KEY_SHA256_SIZE]) {
    return tg__hash_bytes(sha256, TG_API_KEY_SHA256_SIZE);
}

static int32_t find_name(const tg__ledger *ledger, const char *name) {
    return tg__map_get(&ledger->api_key_names, tg__hash_str(name), name_eq, ledger->api_keys, name);
}

static int32_t find_hash(const tg__ledger *ledger, const unsigned char *sha256) {
    return tg__map_get(&ledger->api_key_hashes, hash_of(sha256), hash_eq, ledger->api_keys, sha256);
}

static bool name_ok(const char *name) {
    size_t length = strnlen(name, TG_API_KEY_NAME_SIZE_MAX);
    if (length == 0 || length >= TG_API_KEY_NAME_SIZE_MAX || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0) {
        return false; /* "." and ".." would walk a URL path: /v1/keys/.. */
    }
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
           length;
}

static tg_status key_check(const tg_api_key *key, tg_error *err) {
    if (!name_ok(key->name)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "a key's name is 1 to %d characters of [A-Za-z0-9._-], not . or ..",
                        TG_API_KEY_NAME_SIZE_MAX - 1);
    }
    size_t role = strnlen(key->role, TG_API_KEY_ROLE_SIZE_MAX);
    if (role == 0 || role >= TG_API_KEY_ROLE_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "key '%s' needs a role of at most %d bytes", key->name,
                        TG_API_KEY_ROLE_SIZE_MAX - 1);
    }
    if (memchr(key->scope, '\0', sizeof key->scope) == NULL ||
        (key->scope[0] != '\0' && tg__path_check(key->scope, err) != TG_OK)) {
        return tg__fail(err, TG_ERR_INVALID, "key '%s': its scope is not a budget path", key->name);
    }
    if ((unsigned)key->class_max >= TG_CLASS_COUNT) {
        return tg__fail(err, TG_ERR_INVALID,
                        "key '%s': class_max must be low, normal, high or critical", key->name);
    }
    return TG_OK;
}

/* Room for one more key, in the array and both indexes, so that the insert cannot fail. */
static tg_status make_room(tg__ledger *ledger, tg_error *err) {
    if (ledger->api_keys_count >= TG_API_KEYS_MAX) {
        return tg__fail(err, TG_ERR_FULL, "the ledger keeps at most %d API keys", TG_API_KEYS_MAX);
    }
    if (ledger->api_keys_count == ledger->api_keys_capacity) {
        int32_t capacity = ledger->api_keys_capacity ? ledger->api_keys_capacity * 2 : 16;
        tg_api_key *keys = realloc(ledger->api_keys, (size_t)capacity * sizeof *keys);
        if (keys == NULL) {
            return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the API key table");
        }
        ledger->api_keys = keys;
        ledger->api_keys_capacity = capacity;
    }
    if (tg__map_reserve(&ledger->api_key_names, 1) != TG_OK ||
        tg__map_reserve(&ledger->api_key_hashes, 1) != TG_OK) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the API key index");
    }
    return TG_OK;
}

static void index_put(tg__ledger *ledger, int32_t slot) {
    const tg_api_key *key = &ledger->api_keys[slot];
    TG_VERIFY(tg__map_put(&ledger->api_key_names, tg__hash_str(key->name), slot) == TG_OK);
    TG_VERIFY(tg__map_put(&ledger->api_key_hashes, hash_of(key->sha256), slot) == TG_OK);
}

static void index_remove(tg__ledger *ledger, int32_t slot) {
    const tg_api_key *key = &ledger->api_keys[slot];
    TG_VERIFY(tg__map_remove(&ledger->api_key_names, tg__hash_str(key->name), slot));
    TG_VERIFY(tg__map_remove(&ledger->api_key_hashes, hash_of(key->sha256), slot));
}

static void journal_put(tg__ledger *ledger, const tg_api_key *key) {
    tg_api_key *row = TG_JOURNAL_PUSH(ledger, api_keys_put);
    if (row != NULL) {
        *row = *key;
    }
}

tg_status tg__ledger_api_key_put(tg__ledger *ledger, const tg_api_key *key, bool replace,
                                 int64_t now_ms, tg_error *err) {
    tg_status status = key_check(key, err);
    if (status != TG_OK) {
        return status;
    }
    int32_t slot = find_name(ledger, key->name);
    int32_t same_hash = find_hash(ledger, key->sha256);
    if (!replace && slot >= 0) {
        return tg__fail(err, TG_ERR_EXISTS, "there is a key named '%s' already", key->name);
    }
    if (replace && slot < 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no key named '%s'", key->name);
    }
    if (same_hash >= 0 && same_hash != slot) {
        return tg__fail(err, TG_ERR_EXISTS, "key '%s' has that secret already",
                        ledger->api_keys[same_hash].name);
    }
    if (slot < 0) {
        if ((status = make_room(ledger, err)) != TG_OK) {
            return status;
        }
        slot = ledger->api_keys_count++;
    } else {
        index_remove(ledger, slot);
    }
    ledger->api_keys[slot] = *key;
    ledger->api_keys[slot].created_at_ms = now_ms;
    index_put(ledger, slot);
    journal_put(ledger, &ledger->api_keys[slot]);
    return TG_OK;
}

tg_status tg__ledger_api_key_delete(tg__ledger *ledger, const char *name, tg_error *err) {
    int32_t slot = name != NULL ? find_name(ledger, name) : -1;
    if (slot < 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no key named '%.63s'", name ? name : "");
    }
    tg__name_row *row = TG_JOURNAL_PUSH(ledger, api_keys_deleted);
    if (row != NULL) {
        memcpy(row->name, ledger->api_keys[slot].name, sizeof row->name);
    }
    index_remove(ledger, slot);
    int32_t last = --ledger->api_keys_count;
    if (slot != last) {
        /* The last key moves into the hole: its index entries follow it. */
        index_remove(ledger, last);
        ledger->api_keys[slot] = ledger->api_keys[last];
        index_put(ledger, slot);
    }
    return TG_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const tg_api_key *const *)a)->name, (*(const tg_api_key *const *)b)->name);
}

tg_status tg__ledger_api_key_list(const tg__ledger *ledger,
                                  bool (*fn)(void *user, const tg_api_key *key), void *user,
                                  tg_error *err) {
    int32_t count = ledger->api_keys_count;
    const tg_api_key **sorted = malloc((size_t)(count > 0 ? count : 1) * sizeof *sorted);
    if (sorted == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory listing the API keys");
    }
    for (int32_t i = 0; i < count; i++) {
        sorted[i] = &ledger->api_keys[i];
    }
    qsort(sorted, (size_t)count, sizeof sorted[0], by_name);
    /* Copies, so that fn may change the table (delete while listing) without harm. */
    for (int32_t i = 0; i < count; i++) {
        tg_api_key copy = *sorted[i];
        if (!fn(user, &copy)) {
            break;
        }
    }
    free(sorted);
    return TG_OK;
}

tg_status tg__ledger_restore_api_key(tg__ledger *ledger, const tg_api_key *row, tg_error *err) {
    tg_error why = {0};
    tg_status status = key_check(row, &why);
    if (status == TG_OK &&
        (find_name(ledger, row->name) >= 0 || find_hash(ledger, row->sha256) >= 0)) {
        status = tg__fail(&why, TG_ERR_CORRUPT, "its name or hash is there twice");
    }
    if (status != TG_OK) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored API key '%.63s' is invalid: %s", row->name,
                        why.message);
    }
    if ((status = make_room(ledger, err)) != TG_OK) {
        return status;
    }
    int32_t slot = ledger->api_keys_count++;
    ledger->api_keys[slot] = *row;
    index_put(ledger, slot);
    return TG_OK;
}

void tg__api_keys_free(tg__ledger *ledger) {
    free(ledger->api_keys);
    ledger->api_keys = NULL;
    ledger->api_keys_count = ledger->api_keys_capacity = 0;
    tg__map_free(&ledger->api_key_names);
    tg__map_free(&ledger->api_key_hashes);
}
