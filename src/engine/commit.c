/*
 * commit: the pipelined group commit. The daemon decides on its loop thread and
 * must never wait there for an fsync; so a batch's journal is detached (swapped
 * out of the ledger, which goes on journaling into warm spare buffers), written
 * by a writer thread, and handed back. The writer touches only the store; the
 * ledger stays the loop thread's alone, so the hot path takes no lock.
 *
 * Order is the whole correctness argument: budget rows are snapshots, so commit
 * N+1 may only land after commit N. One writer writes in detach order, and once
 * a write fails every later one is refused (write_failed), never reordered.
 */
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "engine/engine_internal.h"

tg_status tg__engine_writable(tg_engine *engine, tg_error *err) {
    if (engine->failed) {
        return tg__fail(err, TG_ERR_IO, "the store failed earlier; reopen the engine");
    }
    if (tg__ledger_journal_broken(engine->ledger)) {
        engine->failed = true;
        return tg__fail(err, TG_ERR_IO, "out of memory keeping the journal; reopen the engine");
    }
    return TG_OK;
}

bool tg__engine_journal_needs_sync(const tg__journal *j) {
    if (j->budgets_deleted.count || j->budgets.count || j->holds.count || j->charges.count ||
        j->windows.count || j->idem_put.count || j->idem_deleted.count || j->api_keys_put.count ||
        j->api_keys_deleted.count || j->approvals.count) {
        return true;
    }
    /* Refusals alone changed nothing; their events and spend-log rows (calls, which come
     * with a charge when there is one) ride with the next write. */
    for (uint32_t i = 0; i < j->events.count; i++) {
        if (j->events.items[i].kind != TG_EVENT_DENIED) {
            return true;
        }
    }
    return false;
}

/* Whether the journal should go to disk now, by durability mode. */
static bool due(tg_engine *engine, const tg__journal *journal, int64_t now_ms, bool force) {
    if (tg__journal_empty(journal)) {
        return false;
    }
    bool needed = force || tg__engine_journal_needs_sync(journal);
    if (engine->options.durability == TG_DURABILITY_STRICT || !needed) {
        return needed;
    }
    if (engine->pending_since_ms == TG_NONE) {
        engine->pending_since_ms = now_ms;
    }
    /* `force` takes refusal-only batches too; it never shortens the relaxed interval. */
    return now_ms - engine->pending_since_ms >= engine->options.sync_interval_ms;
}

static tg_status take_spare(tg_engine *engine, tg_group_commit **out, tg_error *err) {
    tg_group_commit *commit = engine->commits_spare;
    if (commit != NULL) {
        engine->commits_spare = commit->next_spare;
    } else if (engine->commits_allocated >= TG_COMMITS_IN_FLIGHT_MAX) {
        return tg__fail(err, TG_ERR_FULL, "%d commits are already in flight",
                        TG_COMMITS_IN_FLIGHT_MAX);
    } else if ((commit = calloc(1, sizeof *commit)) == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory detaching a commit");
    } else {
        engine->commits_allocated++;
    }
    commit->ops = engine->ops;
    commit->store = engine->store;
    commit->write_failed = &engine->write_failed;
    commit->next_spare = NULL;
    *out = commit;
    return TG_OK;
}

tg_status tg_engine_batch_detach(tg_engine *engine, int64_t now_ms, bool force,
                                 tg_group_commit **commit_out, tg_error *err) {
    *commit_out = NULL;
    if (engine->batch_depth > 0 && --engine->batch_depth > 0) {
        return TG_OK; /* an inner batch: the outer one detaches */
    }
    tg_status status = tg__engine_writable(engine, err);
    if (status != TG_OK) {
        return status;
    }
    tg__journal *journal = tg__ledger_journal(engine->ledger);
    if (!due(engine, journal, now_ms, force)) {
        return TG_OK;
    }
    tg_group_commit *commit = NULL;
    status = take_spare(engine, &commit, err);
    if (status != TG_OK) {
        return status;
    }
    tg__ledger_journal_swap(engine->ledger, &commit->journal);
    engine->pending_since_ms = TG_NONE;
    engine->commits_in_flight++;
    *commit_out = commit;
    return TG_OK;
}

tg_status tg_group_commit_write(tg_group_commit *commit, tg_error *err) {
    if (atomic_load(commit->write_failed)) {
        return tg__fail(err, TG_ERR_IO, "an earlier commit failed; this one was not written");
    }
    tg_error store_err = {0};
    tg_status status = commit->ops->write(commit->store, &commit->journal, &store_err);
    if (status != TG_OK) {
        atomic_store(commit->write_failed, true);
        return tg__fail(err, TG_ERR_IO, "the store could not write: %s", store_err.message);
    }
    return TG_OK;
}

void tg_engine_commit_done(tg_engine *engine, tg_group_commit *commit, tg_status status) {
    if (commit == NULL) {
        return;
    }
    TG_ENGINE_VERIFY(engine->commits_in_flight > 0 &&
                     commit->write_failed == &engine->write_failed);
    engine->commits_in_flight--;
    if (status != TG_OK) {
        /* The ledger is ahead of the disk now: nothing more may be acknowledged. */
        engine->failed = true;
    }
    tg__journal_clear(&commit->journal);
    commit->next_spare = engine->commits_spare;
    engine->commits_spare = commit;
}

void tg__engine_commits_free(tg_engine *engine) {
    while (engine->commits_spare != NULL) {
        tg_group_commit *commit = engine->commits_spare;
        engine->commits_spare = commit->next_spare;
        tg__journal_free(&commit->journal);
        free(commit);
    }
}

void tg_engine_stats_get(const tg_engine *engine, tg_engine_stats *out) {
    out->holds_open = tg__ledger_holds_open(engine->ledger);
    out->budgets = tg__ledger_budgets_count(engine->ledger);
    out->commits_in_flight = engine->commits_in_flight;
    tg__store_counts counts = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    if (engine->ops->stats != NULL && engine->store != NULL) {
        engine->ops->stats(engine->store, &counts);
    }
    out->store_commits = (int64_t)counts.commits;
    out->store_pages_written = (int64_t)counts.pages_written;
    out->store_pages_read = (int64_t)counts.pages_read;
    out->store_checkpoints = (int64_t)counts.checkpoints;
    out->store_checkpoints_inline = (int64_t)counts.checkpoints_inline;
    out->store_checkpoint_pages_inline = (int64_t)counts.checkpoint_frames_inline;
    out->store_wal_frames = (int64_t)counts.wal_frames;
    out->store_wal_frames_max = (int64_t)counts.wal_frames_max;
    out->store_wal_restarts = (int64_t)counts.wal_restarts;
}
