/*
 * store_sqlite_checkpoint: the WAL's checkpoints, off the commit path.
 *
 * SQLite's own autocheckpoint runs inside the COMMIT that takes the WAL past 1,000
 * frames: one strict commit in a few hundred also copies every page the WAL holds
 * into the main file and fsyncs it. With ten budgets those are the same few pages
 * over and over; with a million, each commit dirties a different budget leaf and a
 * different leaf of the charges index, so that one commit writes hundreds of
 * random pages and waits for them: the strict p99 at a million budgets
 * (docs/benchmarks.md, run I). Here the engine's connection never checkpoints
 * while it commits: its WAL hook only counts frames and wakes a thread that runs a
 * PASSIVE checkpoint on a connection of its own.
 *
 * Durability does not move: every COMMIT still fsyncs its WAL frames before it
 * returns (synchronous=FULL), and a checkpoint only copies frames already durable
 * (SQLite syncs the WAL before it copies and the main file before the WAL may be
 * reused), so kill -9 at any point of a checkpoint loses nothing acknowledged.
 *
 * The catch-up: the WAL starts over (and stops growing) only when a write finds every
 * frame checkpointed, and a thread chasing commits that never pause never gets there
 * (test_store_checkpoint: 38,000 frames after 10,000 back-to-back commits). So when
 * the thread is idle and at most TG__CATCH_UP_FRAMES frames behind, the commit copies
 * those few itself: a handful of pages and one fsync of the main file, the same at
 * ten budgets as at a million, instead of SQLite's ~1,000 frames.
 *
 * Bounded: should the thread fall behind (a reader pinning old frames, a slow
 * disk), a commit that finds the WAL past TG__WAL_FRAMES_MAX checkpoints inline,
 * as SQLite would have, so the file cannot grow without limit.
 */
#include <pthread.h>
#include <stdlib.h>

#include "core/path.h"
#include "core/quiet_thread.h"
#include "store/store_sqlite.h"

/* WAL frames (pages) that wake the checkpointer: SQLite's own default threshold. */
#define TG__WAL_FRAMES_CHECKPOINT 1000
/* WAL frames past which a commit checkpoints inline (about 256 MiB of 4 KiB pages). */
#define TG__WAL_FRAMES_MAX 65536
/* At most this many frames behind, a commit finishes the thread's checkpoint itself. */
#define TG__CATCH_UP_FRAMES 48

_Static_assert(TG__WAL_FRAMES_CHECKPOINT < TG__WAL_FRAMES_MAX,
               "the thread is woken long before the inline bound");
_Static_assert(TG__CATCH_UP_FRAMES < TG__WAL_FRAMES_CHECKPOINT / 10,
               "a catch-up copies a small part of what SQLite's autocheckpoint would");

struct tg__checkpointer {
    sqlite3 *db;            /* the checkpointer's own connection; used by its thread only */
    pthread_t thread;       /* runs checkpointer_main */
    pthread_mutex_t lock;   /* guards wanted and stopping */
    pthread_cond_t wake;    /* signalled when wanted or stopping is set */
    bool wanted;            /* a commit left the WAL past the threshold */
    bool stopping;          /* tg__checkpointer_stop was called */
    tg__store_stats *stats; /* the store's counters (atomics), outlive the thread */
    atomic_bool busy;       /* the thread is checkpointing: commits leave it alone */
    /* Frames of the current WAL known to be checkpointed (0: none, or not known). */
    _Atomic int64_t backfilled;
};

/* Returns the WAL's frames now checkpointed, or -1 when the checkpoint failed. */
static int64_t checkpoint_on(sqlite3 *db, tg__store_stats *stats) {
    int log_frames = 0;
    int copied_frames = 0;
    /* PASSIVE: copies what no reader still needs and never waits for anyone; a
     * failure leaves the frames in the WAL, to be copied next time. */
    if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                  &copied_frames) != SQLITE_OK) {
        return -1;
    }
    atomic_fetch_add(&stats->checkpoints, 1);
    return copied_frames;
}

static void *checkpointer_main(void *arg) {
    tg__checkpointer *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->wanted && !c->stopping) {
            pthread_cond_wait(&c->wake, &c->lock);
        }
        if (c->stopping) {
            break;
        }
        c->wanted = false;
        pthread_mutex_unlock(&c->lock);
        int64_t backfilled = checkpoint_on(c->db, c->stats);
        if (backfilled > 0) {
            atomic_store(&c->backfilled, backfilled);
        }
        atomic_store(&c->busy, false);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* A checkpoint inside the commit that just ended, counted as such; returns what
 * checkpoint_on does. */
static int64_t checkpoint_inline(sqlite3 *db, tg__store_stats *stats, int64_t backfilled) {
    int64_t now_backfilled = checkpoint_on(db, stats);
    atomic_fetch_add(&stats->checkpoints_inline, 1);
    if (now_backfilled > backfilled) {
        atomic_fetch_add(&stats->checkpoint_frames_inline, (uint64_t)(now_backfilled - backfilled));
    }
    return now_backfilled;
}

/* After every commit of the engine's connection, on the thread that committed. */
static int wal_hook(void *user, sqlite3 *db, const char *name, int frames_now) {
    (void)name;
    tg__store *store = user;
    tg__checkpointer *c = store->checkpointer;
    int64_t frames = frames_now > 0 ? frames_now : 0;
    if ((uint64_t)frames < atomic_load(&store->stats.wal_frames)) {
        atomic_fetch_add(&store->stats.wal_restarts, 1);
        if (c != NULL) {
            atomic_store(&c->backfilled, 0); /* a new WAL: nothing of it checkpointed yet */
        }
    }
    atomic_store(&store->stats.wal_frames, (uint64_t)frames);
    if ((uint64_t)frames > atomic_load(&store->stats.wal_frames_max)) {
        atomic_store(&store->stats.wal_frames_max, (uint64_t)frames);
    }
    if (frames < TG__WAL_FRAMES_CHECKPOINT) {
        return SQLITE_OK;
    }
    if (c == NULL || frames >= TG__WAL_FRAMES_MAX) {
        /* No thread, or past the bound: what SQLite's autocheckpoint would do. */
        checkpoint_inline(db, &store->stats, 0);
        return SQLITE_OK;
    }
    if (atomic_load(&c->busy)) {
        return SQLITE_OK; /* the next commit looks again */
    }
    int64_t backfilled = atomic_load(&c->backfilled);
    if (backfilled > 0 && backfilled <= frames && frames - backfilled <= TG__CATCH_UP_FRAMES) {
        /* The catch-up, above. Its own result is remembered too: with a reader pinning
         * frames the WAL cannot start over, and the next commits must not copy nothing
         * again and again but wake the thread once they are further behind. */
        int64_t now_backfilled = checkpoint_inline(db, &store->stats, backfilled);
        if (now_backfilled > backfilled) {
            atomic_store(&c->backfilled, now_backfilled);
        }
        return SQLITE_OK;
    }
    atomic_store(&c->busy, true);
    pthread_mutex_lock(&c->lock);
    c->wanted = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    return SQLITE_OK;
}

tg_status tg__checkpointer_start(tg__store *store, tg_error *err) {
    /* Whatever happens below, the engine's connection no longer checkpoints in its
     * commits except past the bound (the hook replaces SQLite's autocheckpoint). */
    sqlite3_wal_hook(store->db, wal_hook, store);
    tg__checkpointer *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory starting the checkpointer");
    }
    c->stats = &store->stats;
    if (sqlite3_open_v2(store->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0", NULL, NULL,
                     NULL) != SQLITE_OK) {
        tg_status status = tg__fail(err, TG_ERR_IO, "sqlite %s: %s while opening the checkpointer",
                                    store->path, c->db ? sqlite3_errmsg(c->db) : "cannot allocate");
        sqlite3_close(c->db);
        free(c);
        return status;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    /* Blocked signals: the process's handlers never run on the checkpointer (quiet_thread.h). */
    int started = tg__quiet_thread_start(&c->thread, NULL, checkpointer_main, c);
    if (started != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        sqlite3_close(c->db);
        free(c);
        return tg__fail(err, TG_ERR_IO, "cannot start the checkpointer thread");
    }
    store->checkpointer = c;
    return TG_OK;
}

void tg__checkpointer_stop(tg__store *store) {
    tg__checkpointer *c = store->checkpointer;
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    store->checkpointer = NULL;
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    sqlite3_close(c->db);
    free(c);
}
