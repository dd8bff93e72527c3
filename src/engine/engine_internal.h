/*
 * engine_internal: the engine's state, shared by engine.c (open, close, the
 * synchronous durability path, the API calls) and commit.c (the pipelined
 * group commit: detach on the engine's thread, write on a writer thread).
 * Nothing outside src/engine includes this.
 */
#ifndef TG_ENGINE_ENGINE_INTERNAL_H
#define TG_ENGINE_ENGINE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/ledger.h"
#include "core/waiters.h"
#include "engine/ledger_ops.h"
#include "engine/zones.h"
#include "store/store.h"

/* A misuse of the API by the program (not bad input): log where, and stop. */
#define TG_ENGINE_VERIFY(cond)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "tollgate: engine misuse at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A detached batch: its rows and what a writer thread needs to write them. */
struct tg_group_commit {
    tg__journal journal;         /* the batch's rows; buffers kept for reuse */
    const tg__store_ops *ops;    /* the engine's backend */
    tg__store *store;            /* the engine's store; only the writer uses it meanwhile */
    atomic_bool *write_failed;   /* the engine's: set by the first failed write */
    tg_group_commit *next_spare; /* free list link while not in flight */
};

struct tg_engine {
    tg_engine_options options;      /* as given, strings replaced by our copies */
    char *path;                     /* from strdup */
    const tg__store_ops *ops;       /* the backend */
    tg__store *store;               /* owned */
    tg__ledger *ledger;             /* owned */
    tg__waiters *waiters;           /* reserves waiting for room (waits.c); owned */
    tg__zones *zones;               /* loaded time zones; owned, outlive the ledger's use */
    int batch_depth;                /* > 0 inside tg_engine_batch_begin/end */
    bool failed;                    /* a write failed: refuse mutations until reopened */
    int64_t pending_since_ms;       /* relaxed: time of the oldest unsynced mutation, or TG_NONE */
    int commits_in_flight;          /* detached and not yet done: the engine must not write */
    int commits_allocated;          /* tg_group_commit structs made, <= TG_COMMITS_IN_FLIGHT_MAX */
    tg_group_commit *commits_spare; /* done commits, buffers warm, for the next detach */
    atomic_bool write_failed;       /* set by a writer thread; read by later writes */

    /* Where decisions are made: the public ledger calls go through these (ledger_ops.h). */
    const tg__ledger_ops *ledger_ops; /* tg__ledger_ops_local, set at open */
    void *ledger_self;                /* their `self`: the engine itself for the local table */
    void (*ledger_close)(void *self); /* frees a plugged ledger_self at close, or NULL */
};

/* TG_ERR_IO once a write failed or the journal lost a row (then the engine fails for
 * good): nothing more may be written or acknowledged until it is reopened. */
tg_status tg__engine_writable(tg_engine *engine, tg_error *err);

/* True when the journal holds something that must be on disk before an answer. */
bool tg__engine_journal_needs_sync(const tg__journal *journal);

/* settle() and usable() of engine.c, for the engine's other files (approvals.c). */
tg_status tg__engine_settle(tg_engine *engine, tg_status status, int64_t now_ms, tg_error *err);
tg_status tg__engine_usable(const tg_engine *engine, tg_error *err);

/* Cancels a waiter; one waiting for an approval also expires the approval (outcome
 * "client_gone"), journaled (approvals.c). */
tg_status tg__engine_wait_cancel(tg_engine *engine, uint64_t wait_id, int64_t now_ms,
                                 tg_error *err);

/* Expires the approvals due by now_ms and answers their waiters (approvals.c). */
void tg__engine_approvals_expire(tg_engine *engine, int64_t now_ms);

/* Offers the room a call may have made to the waiters (waits.c): cheap when none wait. */
void tg__engine_pump(tg_engine *engine, int64_t now_ms);

/* Frees the spare commits (close). In-flight commits are the caller's bug. */
void tg__engine_commits_free(tg_engine *engine);

#endif
