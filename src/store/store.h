/*
 * store: where the ledger's state lives between runs. One function table,
 * several backends (memory, sqlite; redis later), chosen by name at open.
 * The engine is the only caller. A store never decides anything: it writes the
 * journal of a batch in one transaction, and reads everything back at open.
 */
#ifndef TG_STORE_STORE_H
#define TG_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/journal.h"
#include "tollgate.h"

typedef struct tg__store tg__store;

/* Receives the persisted state at open, in this order: meta, budgets (parents
 * before children: ORDER BY path does it), holds, idempotency keys, API keys. A callback
 * that fails stops the load with its status. */
typedef struct {
    void *user;
    void (*meta)(void *user, const tg__meta_row *row);
    tg_status (*budget)(void *user, const tg__budget_row *row, tg_error *err);
    tg_status (*hold)(void *user, const tg__hold_row *row, tg_error *err);
    tg_status (*idem)(void *user, const tg__idem_row *row, tg_error *err);
    tg_status (*api_key)(void *user, const tg_api_key *row, tg_error *err);
    /* After the API keys: the approvals kept in memory, in id order (NULL: not wanted). */
    tg_status (*approval)(void *user, const tg_approval_info *row, tg_error *err);
    /* Before the budgets, how many follow, so the tables are sized once (NULL: not told). */
    tg_status (*budgets_expected)(void *user, int64_t count, tg_error *err);
    /* Before the holds, how many follow (NULL: not told). */
    tg_status (*holds_expected)(void *user, int64_t count, tg_error *err);
} tg__store_loader;

/* A charge as read back for reports (GET /v1/charges). */
typedef tg__charge_row tg__charge_info;

/* What a backend's commits cost, since open (zeros where a backend does not count). */
typedef struct {
    uint64_t commits;                  /* transactions written */
    uint64_t pages_written;            /* pages (WAL frames) they wrote */
    uint64_t pages_read;               /* pages they read from the file */
    uint64_t checkpoints;              /* WAL checkpoints run */
    uint64_t checkpoints_inline;       /* of them, inside a commit */
    uint64_t checkpoint_frames_inline; /* frames those copied */
    uint64_t wal_frames;               /* frames in the WAL now (SQLite) */
    uint64_t wal_frames_max;           /* the most it held after a commit */
    uint64_t wal_restarts; /* times the WAL started over: every frame was checkpointed */
} tg__store_counts;

typedef struct {
    const char *name; /* "memory", "sqlite" */
    /* Opens the backend; *out is freed by close. */
    tg_status (*open)(const tg_engine_options *options, tg__store **out, tg_error *err);
    void (*close)(tg__store *store);
    /* Replays the persisted state through the loader. */
    tg_status (*load)(tg__store *store, const tg__store_loader *loader, tg_error *err);
    /* Writes one batch in one transaction; returns after it is durable. */
    tg_status (*write)(tg__store *store, const tg__journal *journal, tg_error *err);
    /* Closed windows of a budget, newest first (TG_ERR_UNSUPPORTED if not kept). */
    tg_status (*history)(tg__store *store, const char *path, tg_window_record *out, size_t max,
                         size_t *count_out, tg_error *err);
    /* The counts above; any thread (NULL: the backend keeps none). */
    void (*stats)(tg__store *store, tg__store_counts *out);
    bool persistent; /* false: the engine need not journal at all */
} tg__store_ops;

extern const tg__store_ops tg__store_memory;
extern const tg__store_ops tg__store_sqlite;

#endif
