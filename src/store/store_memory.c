/*
 * store_memory: the store that keeps nothing. The ledger itself is the state;
 * this backend exists so tests and embedders run the engine without a disk.
 */
#include <stdlib.h>

#include "core/path.h"
#include "store/store.h"

struct tg__store {
    int unused; /* C needs a member */
};

static tg_status memory_open(const tg_engine_options *options, tg__store **out, tg_error *err) {
    (void)options;
    tg__store *store = calloc(1, sizeof *store);
    if (store == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory opening the memory store");
    }
    *out = store;
    return TG_OK;
}

static void memory_close(tg__store *store) {
    free(store);
}

static tg_status memory_load(tg__store *store, const tg__store_loader *loader, tg_error *err) {
    (void)store, (void)loader, (void)err;
    return TG_OK;
}

static tg_status memory_write(tg__store *store, const tg__journal *journal, tg_error *err) {
    (void)store, (void)journal, (void)err;
    return TG_OK;
}

static tg_status memory_history(tg__store *store, const char *path, tg_window_record *out,
                                size_t max, size_t *count_out, tg_error *err) {
    (void)store, (void)path, (void)out, (void)max, (void)count_out;
    return tg__fail(err, TG_ERR_UNSUPPORTED,
                    "the memory store keeps no history; use the sqlite store");
}

const tg__store_ops tg__store_memory = {
    .name = "memory",
    .open = memory_open,
    .close = memory_close,
    .load = memory_load,
    .write = memory_write,
    .history = memory_history,
    .persistent = false,
};
