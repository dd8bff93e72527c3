/*
 * engine: the ledger (pure decisions) + a store (durability) + time zone files.
 * The one place that turns a decision into an acknowledged fact: a strict
 * mutation returns only after its journal is written and synced; a batch
 * shares one transaction; a relaxed engine syncs within sync_interval_ms.
 *
 * If a write fails, the in-memory ledger is ahead of the disk. The engine then
 * refuses every later mutation with TG_ERR_IO, so nothing unsynced is ever
 * acknowledged; reopening replays the disk, the last acknowledged state.
 * The pipelined path (detach, write on another thread, done) is in commit.c.
 */
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "engine/call_log.h"
#include "engine/engine_internal.h"
#include "store/store_read.h"

void tg_engine_options_init(tg_engine_options *options) {
    memset(options, 0, sizeof *options);
    options->store = "memory";
    options->durability = TG_DURABILITY_STRICT;
    options->sync_interval_ms = 50;
    options->zoneinfo_dir = "/usr/share/zoneinfo";
    options->holds_max = 1000000;
    options->budgets_max = 100000;
    options->idempotency_max = 1000000;
    options->idempotency_ttl_ms = 24 * 3600 * 1000;
    options->default_hold_ttl_ms = 10 * 60 * 1000;
    options->max_hold_ttl_ms = 24 * 3600 * 1000;
}

static tg_status options_check(const tg_engine_options *o, tg_error *err) {
    const struct {
        int64_t value;
        int64_t max;
        const char *name;
    } limits[] = {
        {o->holds_max, INT32_MAX / 2, "holds_max"},
        {o->budgets_max, INT32_MAX / 2, "budgets_max"},
        {o->idempotency_max, INT32_MAX / 2, "idempotency_max"},
        {o->idempotency_ttl_ms, INT64_C(365) * 86400000, "idempotency_ttl_ms"},
        {o->default_hold_ttl_ms, o->max_hold_ttl_ms, "default_hold_ttl_ms"},
        {o->max_hold_ttl_ms, INT64_C(365) * 86400000, "max_hold_ttl_ms"},
        {o->sync_interval_ms, 60000, "sync_interval_ms"},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        if (limits[i].value < 1 || limits[i].value > limits[i].max) {
            return tg__fail(err, TG_ERR_INVALID, "%s must be between 1 and %lld", limits[i].name,
                            (long long)limits[i].max);
        }
    }
    if (o->durability != TG_DURABILITY_STRICT && o->durability != TG_DURABILITY_RELAXED) {
        return tg__fail(err, TG_ERR_INVALID, "unknown durability mode %d", (int)o->durability);
    }
    return TG_OK;
}

static const tg__store_ops *store_by_name(const char *name) {
    static const tg__store_ops *const all[] = {&tg__store_memory, &tg__store_sqlite};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (name != NULL && strcmp(all[i]->name, name) == 0) {
            return all[i];
        }
    }
    return NULL;
}

/* ---- loading ---------------------------------------------------------------- */

static void load_meta(void *user, const tg__meta_row *row) {
    tg__ledger_restore_meta(((tg_engine *)user)->ledger, row);
}

static tg_status load_budget(void *user, const tg__budget_row *row, tg_error *err) {
    tg_engine *engine = user;
    const tg__tz *tz;
    const tg__tz *template_tz = NULL;
    tg_status status = tg__zones_get(engine->zones, row->spec.timezone, &tz, err);
    if (status == TG_OK && row->has_template) {
        status = tg__zones_get(engine->zones, row->template_spec.timezone, &template_tz, err);
    }
    if (status != TG_OK) {
        return status;
    }
    return tg__ledger_restore_budget(engine->ledger, row, tz, template_tz, err);
}

static tg_status load_hold(void *user, const tg__hold_row *row, tg_error *err) {
    return tg__ledger_restore_hold(((tg_engine *)user)->ledger, row, err);
}

static tg_status load_idem(void *user, const tg__idem_row *row, tg_error *err) {
    return tg__ledger_restore_idem(((tg_engine *)user)->ledger, row, err);
}

static tg_status load_api_key(void *user, const tg_api_key *row, tg_error *err) {
    return tg__ledger_restore_api_key(((tg_engine *)user)->ledger, row, err);
}

static tg_status load_approval(void *user, const tg_approval_info *row, tg_error *err) {
    return tg__ledger_restore_approval(((tg_engine *)user)->ledger, row, err);
}

static tg_status load_expected(void *user, int64_t count, tg_error *err) {
    return tg__ledger_budgets_reserve(((tg_engine *)user)->ledger, count, err);
}

static tg_status load_holds_expected(void *user, int64_t count, tg_error *err) {
    return tg__ledger_holds_reserve(((tg_engine *)user)->ledger, count, err);
}

static tg_status engine_load(tg_engine *engine, tg_error *err) {
    tg__store_loader loader = {.user = engine,
                               .meta = load_meta,
                               .budget = load_budget,
                               .hold = load_hold,
                               .idem = load_idem,
                               .api_key = load_api_key,
                               .approval = load_approval,
                               .budgets_expected = load_expected,
                               .holds_expected = load_holds_expected};
    tg_status status = engine->ops->load(engine->store, &loader, err);
    if (status == TG_OK) {
        status = tg__ledger_check(engine->ledger, err);
    }
    return status;
}

tg_status tg_engine_open(const tg_engine_options *options, int64_t now_ms, tg_engine **out,
                         tg_error *err) {
    tg_status status = options_check(options, err);
    if (status != TG_OK) {
        return status;
    }
    const tg__store_ops *ops = store_by_name(options->store);
    if (ops == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "unknown store '%s' (memory or sqlite)",
                        options->store ? options->store : "(null)");
    }
    tg_engine *engine = calloc(1, sizeof *engine);
    if (engine == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory opening the engine");
    }
    engine->options = *options;
    engine->ops = ops;
    engine->ledger_ops = &tg__ledger_ops_local;
    engine->ledger_self = engine;
    engine->pending_since_ms = TG_NONE;
    engine->path = options->path ? strdup(options->path) : NULL;
    engine->options.path = engine->path;
    tg__ledger_options lo = {options->holds_max,
                             options->budgets_max,
                             options->idempotency_max,
                             options->idempotency_ttl_ms,
                             options->default_hold_ttl_ms,
                             options->max_hold_ttl_ms,
                             ops->persistent,
                             options->on_event,
                             options->on_event_user};
    engine->ledger = tg__ledger_new(&lo);
    engine->zones = tg__zones_new(options->zoneinfo_dir);
    engine->waiters = tg__waiters_new(TG_WAITERS_MAX, TG_WAITERS_PER_BUDGET_MAX,
                                      options->on_wait_ready, options->on_wait_user);
    if ((options->path && engine->path == NULL) || engine->ledger == NULL ||
        engine->zones == NULL || engine->waiters == NULL) {
        tg_engine_close(engine);
        return tg__fail(err, TG_ERR_NOMEM, "out of memory opening the engine");
    }
    engine->options.zoneinfo_dir = NULL; /* owned by zones now */
    if ((status = ops->open(&engine->options, &engine->store, err)) != TG_OK ||
        (status = engine_load(engine, err)) != TG_OK) {
        tg_engine_close(engine);
        return status;
    }
    /* A pending approval's caller went with the old process: expired, for the next write. */
    tg__ledger_approvals_restart(engine->ledger, now_ms);
    *out = engine;
    return TG_OK;
}

void tg_engine_close(tg_engine *engine) {
    if (engine == NULL) {
        return;
    }
    /* With a commit still in flight a writer may be using the store: leave it be. */
    if (engine->store != NULL && !engine->failed && engine->commits_in_flight == 0) {
        tg_engine_sync(engine, NULL);
    }
    if (engine->store != NULL && engine->commits_in_flight == 0) {
        engine->ops->close(engine->store);
    }
    if (engine->ledger_close != NULL) {
        engine->ledger_close(engine->ledger_self);
    }
    tg__engine_commits_free(engine);
    tg__waiters_free(engine->waiters); /* forgotten: nothing was held for a waiter */
    tg__ledger_free(engine->ledger);
    tg__zones_free(engine->zones);
    free(engine->path);
    free(engine);
}

/* ---- durability -------------------------------------------------------------- */

static tg_status write_journal(tg_engine *engine, bool force, tg_error *err) {
    tg_status status = tg__engine_writable(engine, err);
    if (status != TG_OK) {
        return status;
    }
    tg__journal *journal = tg__ledger_journal(engine->ledger);
    if (!tg__engine_journal_needs_sync(journal) && !(force && !tg__journal_empty(journal))) {
        return TG_OK;
    }
    if (engine->commits_in_flight > 0) {
        /* A writer thread owns the store until its commits are done; writing beside it
         * would interleave transactions and land rows out of order. The rows wait. */
        return tg__fail(err, TG_ERR_STATE,
                        "a detached commit is being written; mutate inside a batch until it is "
                        "done");
    }
    tg_error store_err = {0};
    status = engine->ops->write(engine->store, journal, &store_err);
    tg__journal_clear(journal);
    engine->pending_since_ms = TG_NONE;
    if (status != TG_OK) {
        engine->failed = true;
        return tg__fail(err, TG_ERR_IO, "the store could not write: %s", store_err.message);
    }
    return TG_OK;
}

tg_status tg_engine_sync(tg_engine *engine, tg_error *err) {
    return write_journal(engine, true, err);
}

/* After every call that may have changed the ledger: make it durable as the mode says. */
static tg_status settle(tg_engine *engine, tg_status status, int64_t now_ms, tg_error *err) {
    if (engine->options.durability == TG_DURABILITY_RELAXED &&
        engine->pending_since_ms == TG_NONE) {
        engine->pending_since_ms = now_ms; /* a detach or a later settle syncs by the interval */
    }
    if (engine->batch_depth > 0 || engine->failed) {
        return engine->failed && status == TG_OK
                   ? tg__fail(err, TG_ERR_IO, "the store failed; reopen the engine")
                   : status;
    }
    tg_error sync_err;
    tg_status synced = TG_OK;
    if (engine->options.durability == TG_DURABILITY_STRICT) {
        synced = write_journal(engine, false, &sync_err);
    } else {
        if (now_ms - engine->pending_since_ms >= engine->options.sync_interval_ms) {
            synced = write_journal(engine, false, &sync_err);
        }
    }
    if (synced != TG_OK) {
        if (err != NULL) {
            *err = sync_err;
        }
        return synced;
    }
    return status;
}

/* Mutations are refused up front once the store has failed. */
static tg_status usable(const tg_engine *engine, tg_error *err) {
    return engine->failed ? tg__fail(err, TG_ERR_IO, "the store failed; reopen the engine") : TG_OK;
}

tg_status tg__engine_settle(tg_engine *engine, tg_status status, int64_t now_ms, tg_error *err) {
    return settle(engine, status, now_ms, err);
}

tg_status tg__engine_usable(const tg_engine *engine, tg_error *err) {
    return usable(engine, err);
}

void tg_engine_batch_begin(tg_engine *engine) {
    engine->batch_depth++;
}

tg_status tg_engine_batch_end(tg_engine *engine, tg_error *err) {
    if (engine->batch_depth > 0 && --engine->batch_depth > 0) {
        return TG_OK;
    }
    if (engine->options.durability == TG_DURABILITY_RELAXED) {
        return usable(engine, err); /* synced by the interval, as every relaxed mutation */
    }
    return write_journal(engine, false, err);
}

tg_status tg_engine_tick(tg_engine *engine, int64_t now_ms, tg_error *err) {
    tg_status status = usable(engine, err);
    if (status != TG_OK) {
        return status;
    }
    tg__ledger_tick(engine->ledger, now_ms);
    tg__engine_pump(engine, now_ms); /* expired holds and rolled windows make room */
    return settle(engine, TG_OK, now_ms, err);
}

int64_t tg_engine_deadline_ms(const tg_engine *engine) {
    int64_t due = tg__ledger_deadline_ms(engine->ledger);
    int64_t waiter_due = tg__waiters_deadline_ms(engine->waiters);
    due = waiter_due < due ? waiter_due : due;
    int64_t approval_due = tg__ledger_approvals_deadline_ms(engine->ledger);
    due = approval_due < due ? approval_due : due;
    if (engine->options.durability == TG_DURABILITY_RELAXED &&
        engine->pending_since_ms != TG_NONE && tg__ledger_pending(engine->ledger)) {
        int64_t sync_ms = engine->pending_since_ms + engine->options.sync_interval_ms;
        due = sync_ms < due ? sync_ms : due;
    }
    return due;
}

bool tg_engine_pending(const tg_engine *engine) {
    return tg__ledger_pending(engine->ledger);
}

/* ---- the API ------------------------------------------------------------------ */

#define MUTATE(engine, now_ms, err, call)                                                          \
    do {                                                                                           \
        tg_status status_ = usable((engine), (err));                                               \
        if (status_ != TG_OK) {                                                                    \
            return status_;                                                                        \
        }                                                                                          \
        return settle((engine), (call), (now_ms), (err));                                          \
    } while (0)

/* A mutation that may make room (frees a hold, raises a limit, unfreezes): the waiters
 * are offered it in the same call, before any later request is decided. */
#define MUTATE_PUMP(engine, now_ms, err, call)                                                     \
    do {                                                                                           \
        tg_status status_ = usable((engine), (err));                                               \
        if (status_ != TG_OK) {                                                                    \
            return status_;                                                                        \
        }                                                                                          \
        status_ = (call);                                                                          \
        if (status_ == TG_OK) {                                                                    \
            tg__engine_pump((engine), (now_ms));                                                   \
        }                                                                                          \
        return settle((engine), status_, (now_ms), (err));                                         \
    } while (0)

/* Before a spec reaches the ledger: the engine usable, a spec given, its zone loaded. */
static tg_status spec_zone(tg_engine *engine, const tg_budget_spec *spec, const tg__tz **tz,
                           tg_error *err) {
    tg_status status = usable(engine, err);
    if (status != TG_OK) {
        return status;
    }
    if (spec == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "no budget spec given");
    }
    if (memchr(spec->timezone, '\0', sizeof spec->timezone) == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "time zone name is too long");
    }
    return tg__zones_get(engine->zones, spec->timezone, tz, err);
}

static tg_status local_budget_put(void *self, const char *path, const tg_budget_spec *spec,
                                  int64_t now_ms, tg_error *err) {
    tg_engine *engine = self;
    const tg__tz *tz;
    tg_status status = spec_zone(engine, spec, &tz, err);
    if (status != TG_OK) {
        return status;
    }
    MUTATE_PUMP(engine, now_ms, err,
                tg__ledger_budget_put(engine->ledger, path, spec, tz, now_ms, err));
}

static tg_status template_zone(tg_engine *engine, const tg_budget_spec *tmpl, const tg__tz **out,
                               tg_error *err) {
    if (memchr(tmpl->timezone, '\0', sizeof tmpl->timezone) == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "template: time zone name is too long");
    }
    return tg__zones_get(engine->zones, tmpl->timezone, out, err);
}

tg_status tg_budget_template_check(tg_engine *engine, const tg_budget_spec *tmpl,
                                   int64_t children_max, tg_error *err) {
    const tg__tz *tz = NULL;
    if (tmpl == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "no template given");
    }
    tg_status status = template_zone(engine, tmpl, &tz, err);
    return status != TG_OK ? status : tg__template_check(tmpl, children_max, err);
}

tg_status tg_budget_template_set(tg_engine *engine, const char *path, const tg_budget_spec *tmpl,
                                 int64_t children_max, int64_t now_ms, tg_error *err) {
    tg_status status = usable(engine, err);
    if (status != TG_OK) {
        return status;
    }
    if (path == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "no budget path given");
    }
    const tg__tz *tz = NULL;
    if (tmpl != NULL && (status = template_zone(engine, tmpl, &tz, err)) != TG_OK) {
        return status;
    }
    MUTATE_PUMP(engine, now_ms, err,
                tg__ledger_template_set(engine->ledger, path, tmpl, tz, children_max, now_ms, err));
}

/* The engine's own ledger's bulk change (core/budget_bulk.c), each spec's zone read first. */
static tg_status local_budgets_apply(void *self, const tg_budget_op *ops, size_t count,
                                     int64_t now_ms, tg_budget_counts *counts, tg_error *err) {
    tg_engine *engine = self;
    if (count > TG_BUDGET_OPS_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "at most %d budget operations in one request",
                        TG_BUDGET_OPS_MAX);
    }
    tg__budget_op *core_ops = calloc(count + 1, sizeof *core_ops);
    if (core_ops == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory reading %zu budget operations", count);
    }
    tg_status status = TG_OK;
    for (size_t i = 0; i < count && status == TG_OK; i++) {
        core_ops[i] = (tg__budget_op){
            ops[i].path,           ops[i].remove, ops[i].spec,         NULL,
            ops[i].child_template, NULL,          ops[i].children_max, ops[i].remove_template};
        if (ops[i].path == NULL) {
            status = tg__fail(err, TG_ERR_INVALID, "operation %zu: no budget path given", i);
        } else if (!ops[i].remove && ops[i].spec == NULL) {
            status = tg__fail(err, TG_ERR_INVALID, "operation %zu: no budget spec given", i);
        } else if (!ops[i].remove &&
                   memchr(ops[i].spec->timezone, '\0', sizeof ops[i].spec->timezone) == NULL) {
            status = tg__fail(err, TG_ERR_INVALID, "operation %zu: time zone name is too long", i);
        } else if (!ops[i].remove) {
            status = tg__zones_get(engine->zones, ops[i].spec->timezone, &core_ops[i].tz, err);
            if (status == TG_OK && ops[i].child_template != NULL) {
                status =
                    template_zone(engine, ops[i].child_template, &core_ops[i].template_tz, err);
            }
        }
    }
    if (status == TG_OK) {
        status = tg__ledger_budgets_apply(engine->ledger, core_ops, count, now_ms, counts, err);
        if (status == TG_OK) {
            tg__engine_pump(engine, now_ms);
        }
        status = settle(engine, status, now_ms, err);
    }
    free(core_ops);
    return status;
}

/* Through the ledger's own bulk change: the engine's (local) or a plugged one's, each all or
 * nothing in its own way (ledger_ops.h). */
tg_status tg_budgets_apply(tg_engine *engine, const tg_budget_op *ops, size_t count, int64_t now_ms,
                           tg_budget_counts *counts, tg_error *err) {
    tg_status status = usable(engine, err);
    if (status != TG_OK) {
        return status;
    }
    if (engine->ledger_ops->budgets_apply == NULL) {
        return tg__fail(err, TG_ERR_UNSUPPORTED, "the %s ledger cannot change budgets in bulk",
                        engine->ledger_ops->name);
    }
    return engine->ledger_ops->budgets_apply(engine->ledger_self, ops, count, now_ms, counts, err);
}

tg_status tg_budget_check(tg_engine *engine, const char *path, const tg_budget_spec *spec,
                          int64_t now_ms, tg_error *err) {
    const tg__tz *tz;
    tg_status status = spec_zone(engine, spec, &tz, err);
    if (status != TG_OK) {
        return status;
    }
    return tg__ledger_budget_check(engine->ledger, path, spec, now_ms, err);
}

static tg_status local_budget_delete(void *self, const char *path, int64_t now_ms, tg_error *err) {
    tg_engine *engine = self;
    MUTATE_PUMP(engine, now_ms, err, tg__ledger_budget_delete(engine->ledger, path, now_ms, err));
}

static tg_status local_budget_freeze(void *self, const char *path, bool frozen, int64_t now_ms,
                                     tg_error *err) {
    tg_engine *engine = self;
    MUTATE_PUMP(engine, now_ms, err,
                tg__ledger_budget_freeze(engine->ledger, path, frozen, now_ms, err));
}

static tg_status local_budget_page(void *self, const char *prefix, const char *after, size_t limit,
                                   char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out,
                                   tg_error *err) {
    tg_engine *engine = self;
    return tg__ledger_budget_page(engine->ledger, prefix, after, limit, paths, count_out, err);
}

static tg_status local_budget_get(void *self, const char *path, int64_t now_ms, tg_budget_info *out,
                                  tg_error *err) {
    tg_engine *engine = self;
    /* Reading may roll a window, which is a change like any other. */
    MUTATE(engine, now_ms, err, tg__ledger_budget_get(engine->ledger, path, now_ms, out, err));
}

tg_status tg_budget_list(tg_engine *engine, const char *prefix,
                         bool (*fn)(void *user, const char *path), void *user, tg_error *err) {
    return tg__ledger_budget_list(engine->ledger, prefix, fn, user, err);
}

tg_status tg_budget_page(tg_engine *engine, const char *prefix, const char *after, size_t limit,
                         char (*paths)[TG_PATH_SIZE_MAX], size_t *count_out, tg_error *err) {
    return engine->ledger_ops->budget_page(engine->ledger_self, prefix, after, limit, paths,
                                           count_out, err);
}

tg_status tg_budget_select(tg_engine *engine, bool (*keep)(void *user, const char *path),
                           void *user, size_t limit, char (*paths)[TG_PATH_SIZE_MAX],
                           size_t *count_out, size_t *matched_out, tg_error *err) {
    if (tg__engine_ledger_plugged(engine)) {
        return tg__fail(err, TG_ERR_UNSUPPORTED,
                        "selecting budgets is not built for the %s ledger yet",
                        engine->ledger_ops->name);
    }
    return tg__ledger_budget_select(engine->ledger, keep, user, limit, paths, count_out,
                                    matched_out, err);
}

tg_status tg_budget_history(tg_engine *engine, const char *path, tg_window_record *out, size_t max,
                            size_t *count_out, tg_error *err) {
    tg_status status = tg__path_check(path, err);
    if (status != TG_OK) {
        return status;
    }
    if (engine->commits_in_flight > 0) {
        /* The store's connection belongs to the writer thread until its commits are done. */
        return tg__fail(err, TG_ERR_STATE,
                        "a detached commit is being written; read history when it is done");
    }
    /* Windows closed in this batch are not on disk yet; write them first. */
    if ((status = tg_engine_sync(engine, err)) != TG_OK) {
        return status;
    }
    return engine->ops->history(engine->store, path, out, max, count_out, err);
}

tg_status tg_policy_set(tg_engine *engine, const tg_policy_rule *rules, size_t count,
                        tg_class default_class, tg_error *err) {
    /* The local ledger always gets the rules: tg_policy_classify reads them there. */
    tg_status status = tg__ledger_policy_set(engine->ledger, rules, count, default_class, err);
    if (status == TG_OK && engine->ledger_ops->policy_set != NULL) {
        status =
            engine->ledger_ops->policy_set(engine->ledger_self, rules, count, default_class, err);
    }
    return status;
}

void tg__engine_ledger_plug(tg_engine *engine, const tg__ledger_ops *ops, void *self,
                            void (*close)(void *self)) {
    TG_ENGINE_VERIFY(engine->ledger_close == NULL && ops != NULL && self != NULL);
    engine->ledger_ops = ops;
    engine->ledger_self = self;
    engine->ledger_close = close;
}

bool tg__engine_ledger_plugged(const tg_engine *engine) {
    return engine->ledger_ops != &tg__ledger_ops_local;
}

tg_class tg_policy_classify(const tg_engine *engine, const char *budget, const char *tool,
                            const char *model) {
    return tg__ledger_classify(engine->ledger, budget, tool, model);
}

static tg_status local_reserve(void *self, const tg_reserve_request *request, int64_t now_ms,
                               tg_reserve_result *out, tg_error *err) {
    tg_engine *engine = self;
    MUTATE(engine, now_ms, err,
           tg__waiters_reserve(engine->waiters, engine->ledger, request, now_ms, out, err));
}

tg_status tg_wait_cancel(tg_engine *engine, uint64_t wait_id, int64_t now_ms, tg_error *err) {
    MUTATE_PUMP(engine, now_ms, err, tg__engine_wait_cancel(engine, wait_id, now_ms, err));
}

static tg_status local_commit(void *self, const tg_commit_request *request, int64_t now_ms,
                              tg_commit_result *out, tg_error *err) {
    tg_engine *engine = self;
    MUTATE_PUMP(engine, now_ms, err, tg__ledger_commit(engine->ledger, request, now_ms, out, err));
}

static tg_status local_release(void *self, uint64_t hold_id, const char *idempotency_key,
                               int64_t now_ms, bool *replayed_out, tg_error *err) {
    tg_engine *engine = self;
    MUTATE_PUMP(
        engine, now_ms, err,
        tg__ledger_release(engine->ledger, hold_id, idempotency_key, now_ms, replayed_out, err));
}

static tg_status local_record(void *self, const tg_record_request *request, int64_t now_ms,
                              tg_record_result *out, tg_error *err) {
    tg_engine *engine = self;
    MUTATE(engine, now_ms, err, tg__ledger_record(engine->ledger, request, now_ms, out, err));
}

tg_status tg__engine_call_log(tg_engine *engine, const tg__call_row *row, int64_t now_ms,
                              tg_error *err) {
    tg_status status = usable(engine, err);
    if (status != TG_OK) {
        return status;
    }
    tg__ledger_call_log(engine->ledger, row);
    return settle(engine, TG_OK, now_ms, err);
}

tg_status tg_api_key_put(tg_engine *engine, const tg_api_key *key, bool replace, int64_t now_ms,
                         tg_error *err) {
    if (key == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "no key given");
    }
    MUTATE(engine, now_ms, err, tg__ledger_api_key_put(engine->ledger, key, replace, now_ms, err));
}

tg_status tg_api_key_delete(tg_engine *engine, const char *name, int64_t now_ms, tg_error *err) {
    MUTATE(engine, now_ms, err, tg__ledger_api_key_delete(engine->ledger, name, err));
}

tg_status tg_api_key_list(tg_engine *engine, bool (*fn)(void *user, const tg_api_key *key),
                          void *user, tg_error *err) {
    return tg__ledger_api_key_list(engine->ledger, fn, user, err);
}

static tg_status local_hold_get(void *self, uint64_t hold_id, int64_t now_ms, tg_hold_info *out,
                                tg_error *err) {
    tg_engine *engine = self;
    (void)now_ms; /* the local ledger expires holds in its operations and ticks */
    return tg__ledger_hold_get(engine->ledger, hold_id, out, err);
}

/* Durable events come from the SQLite events table, through a read-only connection of
 * its own (store_read.h): the engine's connection may be the writer thread's. Opened per
 * call: a program that reads events often keeps a tg__store_reader itself (the daemon). */
static tg_status local_events_since(void *self, uint64_t after_id, tg_event *out, size_t max,
                                    size_t *count_out, tg_error *err) {
    tg_engine *engine = self;
    if (max < 1 || max > TG__LEDGER_EVENTS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "max must be between 1 and %d", TG__LEDGER_EVENTS_MAX);
    }
    if (!engine->ops->persistent || engine->path == NULL) {
        return tg__fail(err, TG_ERR_UNSUPPORTED, "the %s store keeps no events", engine->ops->name);
    }
    tg__store_reader *reader = NULL;
    tg_status status = tg__store_reader_open(engine->path, 1000, &reader, err);
    if (status == TG_OK) {
        status = tg__store_read_events_into(reader, after_id, out, max, count_out, err);
    }
    tg__store_reader_close(reader);
    return status;
}

const tg__ledger_ops tg__ledger_ops_local = {
    .name = "local",
    .reserve = local_reserve,
    .commit = local_commit,
    .release = local_release,
    .record = local_record,
    .hold_get = local_hold_get,
    .budget_put = local_budget_put,
    .budget_get = local_budget_get,
    .budget_delete = local_budget_delete,
    .budgets_apply = local_budgets_apply,
    .budget_freeze = local_budget_freeze,
    .budget_page = local_budget_page,
    .events_since = local_events_since,
};

/* ---- the public ledger operations: through the engine's ledger_ops ------------------ */

tg_status tg_budget_put(tg_engine *engine, const char *path, const tg_budget_spec *spec,
                        int64_t now_ms, tg_error *err) {
    return engine->ledger_ops->budget_put(engine->ledger_self, path, spec, now_ms, err);
}

tg_status tg_budget_delete(tg_engine *engine, const char *path, int64_t now_ms, tg_error *err) {
    return engine->ledger_ops->budget_delete(engine->ledger_self, path, now_ms, err);
}

tg_status tg_budget_freeze(tg_engine *engine, const char *path, bool frozen, int64_t now_ms,
                           tg_error *err) {
    return engine->ledger_ops->budget_freeze(engine->ledger_self, path, frozen, now_ms, err);
}

tg_status tg_budget_get(tg_engine *engine, const char *path, int64_t now_ms, tg_budget_info *out,
                        tg_error *err) {
    return engine->ledger_ops->budget_get(engine->ledger_self, path, now_ms, out, err);
}

tg_status tg_reserve(tg_engine *engine, const tg_reserve_request *request, int64_t now_ms,
                     tg_reserve_result *out, tg_error *err) {
    return engine->ledger_ops->reserve(engine->ledger_self, request, now_ms, out, err);
}

tg_status tg_commit(tg_engine *engine, const tg_commit_request *request, int64_t now_ms,
                    tg_commit_result *out, tg_error *err) {
    return engine->ledger_ops->commit(engine->ledger_self, request, now_ms, out, err);
}

tg_status tg_release(tg_engine *engine, uint64_t hold_id, const char *idempotency_key,
                     int64_t now_ms, bool *replayed_out, tg_error *err) {
    return engine->ledger_ops->release(engine->ledger_self, hold_id, idempotency_key, now_ms,
                                       replayed_out, err);
}

tg_status tg_record(tg_engine *engine, const tg_record_request *request, int64_t now_ms,
                    tg_record_result *out, tg_error *err) {
    return engine->ledger_ops->record(engine->ledger_self, request, now_ms, out, err);
}

tg_status tg_hold_get(tg_engine *engine, uint64_t hold_id, tg_hold_info *out, tg_error *err) {
    /* TG_NONE: tollgate.h's tg_hold_get takes no time; the local ledger needs none. */
    return engine->ledger_ops->hold_get(engine->ledger_self, hold_id, TG_NONE, out, err);
}
