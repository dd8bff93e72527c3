/*
 * budget: the budget tree, its windows, and the levels that spend crosses
 * (alert thresholds, class ceilings). Decisions about single actions live in
 * holds.c; this file answers "what may each class still spend here".
 */
#include <string.h>

#include "core/ledger_internal.h"

int tg__budget_chain(const tg__ledger *ledger, int32_t leaf, int32_t chain[TG_PATH_DEPTH_MAX]) {
    int depth = 0;
    for (int32_t slot = leaf; slot >= 0; slot = ledger->budgets[slot].parent) {
        TG_VERIFY(depth < TG_PATH_DEPTH_MAX);
        chain[depth++] = slot;
    }
    return depth;
}

/* The journal finds changed budgets on the dirty list, never by scanning the table. */
void tg__budget_mark(tg__ledger *ledger, tg__budget *budget) {
    budget->dirty = true;
    if (!budget->listed) {
        TG_VERIFY(ledger->dirty_count < ledger->budgets_capacity);
        budget->listed = true;
        ledger->dirty[ledger->dirty_count++] = (int32_t)(budget - ledger->budgets);
    }
}

/* level -> micros, for a limit; rounds down so a ceiling is never above what was declared. */
static int64_t level_micros(tg_level level, int64_t limit_micros) {
    if (level.micros >= 0) {
        return level.micros;
    }
    if (level.ppm >= 0) {
        return (int64_t)((__int128)limit_micros * level.ppm / TG_PPM);
    }
    return TG_NONE;
}

static int64_t min_i64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

void tg__budget_derive(tg__budget *budget) {
    int64_t limit = budget->spec->cost_limit_micros;
    if (limit < 0) {
        budget->threshold_micros = TG_NONE;
        for (int c = 0; c < TG_CLASS_COUNT; c++) {
            budget->ceiling_micros[c] = TG_NONE;
        }
        return;
    }
    int64_t threshold = level_micros(budget->spec->revoke_at, limit);
    threshold = threshold < 0 ? limit : min_i64(threshold, limit);
    budget->threshold_micros = threshold;
    /* Defaults: routine work stops at the threshold, high half-way, critical at the limit. */
    int64_t defaults[TG_CLASS_COUNT] = {threshold, threshold, threshold + (limit - threshold) / 2,
                                        limit};
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        int64_t ceiling = level_micros(budget->spec->class_ceiling[c], limit);
        budget->ceiling_micros[c] = ceiling < 0 ? defaults[c] : min_i64(ceiling, limit);
    }
}

static tg_status level_check(tg_level level, const char *what, int64_t limit, tg_error *err) {
    if (level.micros < TG_NONE || level.ppm < TG_NONE || (level.micros >= 0 && level.ppm >= 0)) {
        return tg__fail(err, TG_ERR_INVALID, "%s: give either an amount or a fraction", what);
    }
    if (level.ppm > TG_PPM) {
        return tg__fail(err, TG_ERR_INVALID, "%s: a fraction must be between 0 and 1", what);
    }
    if (level.micros > TG_LIMIT_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "%s: amount is too large", what);
    }
    if ((level.micros >= 0 || level.ppm >= 0) && limit < 0) {
        return tg__fail(err, TG_ERR_INVALID, "%s needs a cost limit", what);
    }
    if (level.micros > limit && limit >= 0) {
        return tg__fail(err, TG_ERR_INVALID, "%s is above the cost limit", what);
    }
    return TG_OK;
}

static tg_status limit_check(int64_t value, const char *what, tg_error *err) {
    if (value < TG_NONE) {
        return tg__fail(err, TG_ERR_INVALID, "%s may not be negative", what);
    }
    if (value > TG_LIMIT_MAX) {
        return tg__fail(err, TG_ERR_RANGE, "%s is above the maximum of %lld", what,
                        (long long)TG_LIMIT_MAX);
    }
    return TG_OK;
}

tg_status tg__budget_spec_check(const tg_budget_spec *spec, tg_error *err) {
    tg_status status;
    if ((status = limit_check(spec->cost_limit_micros, "cost limit", err)) != TG_OK ||
        (status = limit_check(spec->calls_limit, "calls limit", err)) != TG_OK ||
        (status = limit_check(spec->tokens_limit, "tokens limit", err)) != TG_OK) {
        return status;
    }
    if ((unsigned)spec->window > TG_WINDOW_MONTH) {
        return tg__fail(err, TG_ERR_INVALID, "unknown window kind %d", (int)spec->window);
    }
    if (memchr(spec->timezone, '\0', sizeof spec->timezone) == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "time zone name is too long");
    }
    int64_t limit = spec->cost_limit_micros;
    if ((status = level_check(spec->revoke_at, "revocation threshold", limit, err)) != TG_OK) {
        return status;
    }
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        if ((status = level_check(spec->class_ceiling[c], tg_class_str((tg_class)c), limit, err)) !=
            TG_OK) {
            return status;
        }
    }
    if ((unsigned)spec->above_hold > TG_ABOVE_HOLD_CAP) {
        return tg__fail(err, TG_ERR_INVALID, "above_hold must be charge or cap");
    }
    if (spec->alerts_count < 0 || spec->alerts_count > TG_ALERTS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "at most %d alert thresholds", TG_ALERTS_MAX);
    }
    for (int i = 0; i < spec->alerts_count; i++) {
        if (spec->alerts_ppm[i] <= 0 || spec->alerts_ppm[i] > TG_PPM) {
            return tg__fail(err, TG_ERR_INVALID, "alert thresholds are fractions in (0, 1]");
        }
        if (limit < 0) {
            return tg__fail(err, TG_ERR_INVALID, "alert thresholds need a cost limit");
        }
    }
    return TG_OK;
}

void tg_budget_spec_init(tg_budget_spec *spec) {
    memset(spec, 0, sizeof *spec);
    spec->cost_limit_micros = TG_NONE;
    spec->calls_limit = TG_NONE;
    spec->tokens_limit = TG_NONE;
    spec->window = TG_WINDOW_LIFETIME;
    spec->revoke_at = (tg_level){TG_NONE, TG_NONE};
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        spec->class_ceiling[c] = (tg_level){TG_NONE, TG_NONE};
    }
}

static void set_window(tg__ledger *ledger, tg__budget *budget, int64_t now_ms) {
    tg__window_bounds(budget->tz, budget->spec->window, now_ms, &budget->window_start_ms,
                      &budget->window_end_ms);
    tg__window_heap_fix(ledger, (int32_t)(budget - ledger->budgets));
}

/* A class's revocation changed (revoked or reinstated): the budget is marked for the
 * store and the event filled, to emit once the caller has added what is its own. */
static void class_changed(tg__ledger *ledger, tg__budget *budget, tg_event_kind kind, int cls,
                          int64_t ceiling, int64_t now_ms, tg_event *event) {
    tg__budget_mark(ledger, budget);
    tg__event_init(event, kind, now_ms, budget->path);
    event->cls = cls;
    event->spent_micros = budget->spent_micros;
    event->limit_micros = budget->spec->cost_limit_micros;
    event->threshold_micros = ceiling;
}

/* Lifts revocations whose ceiling is above spend again (window rolled, limit raised). */
static void reinstate(tg__ledger *ledger, tg__budget *budget, int64_t now_ms) {
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        if ((budget->revoked & (1u << c)) == 0) {
            continue;
        }
        int64_t ceiling = budget->ceiling_micros[c];
        if (ceiling >= 0 && budget->spent_micros >= ceiling) {
            continue;
        }
        budget->revoked &= ~(1u << c);
        tg_event event;
        class_changed(ledger, budget, TG_EVENT_REINSTATED, c, ceiling, now_ms, &event);
        tg__ledger_emit(ledger, &event);
    }
}

void tg__budget_roll(tg__ledger *ledger, tg__budget *budget, int64_t now_ms) {
    if (now_ms < budget->window_end_ms) {
        return;
    }
    tg__window_row *row = TG_JOURNAL_PUSH(ledger, windows);
    if (row != NULL) {
        tg__copy_name(row->budget, sizeof row->budget, budget->path);
        row->window =
            (tg_window_record){budget->window_start_ms, budget->window_end_ms, budget->spent_micros,
                               budget->calls_used, budget->tokens_used};
    }
    tg_event event;
    tg__event_init(&event, TG_EVENT_WINDOW_ROLLED, now_ms, budget->path);
    event.spent_micros = budget->spent_micros;
    event.limit_micros = budget->spec->cost_limit_micros;
    event.count = budget->calls_used;
    tg__ledger_emit(ledger, &event);
    budget->spent_micros = 0;
    budget->calls_used = 0;
    budget->tokens_used = 0;
    budget->alerts_fired = 0;
    set_window(ledger, budget, now_ms);
    reinstate(ledger, budget, now_ms);
    tg__budget_mark(ledger, budget);
}

/* Tells every open hold of class `cls` under this budget to cancel; returns how many. */
static int64_t cancel_holds(tg__ledger *ledger, int32_t slot, int cls) {
    int64_t told = 0;
    if (ledger->budgets[slot].holds == 0) {
        return 0;
    }
    for (int32_t i = 0; i < ledger->holds_capacity; i++) {
        tg__hold *hold = &ledger->holds[i];
        if (hold->id == 0 || hold->cls != cls || hold->cancel_requested ||
            !tg__hold_on_path(ledger, hold, slot)) {
            continue;
        }
        hold->cancel_requested = true;
        tg__hold_journal_put(ledger, hold);
        told++;
    }
    return told;
}

static void fire_alerts(tg__ledger *ledger, tg__budget *budget, int64_t now_ms) {
    int64_t limit = budget->spec->cost_limit_micros;
    for (int i = 0; i < budget->spec->alerts_count; i++) {
        /* Rounded up: "80% reached" means at least 80% was spent. */
        int64_t level =
            (int64_t)(((__int128)limit * budget->spec->alerts_ppm[i] + TG_PPM - 1) / TG_PPM);
        if ((budget->alerts_fired & (1u << i)) || budget->spent_micros < level) {
            continue;
        }
        budget->alerts_fired |= 1u << i;
        tg_event event;
        tg__event_init(&event, TG_EVENT_THRESHOLD_CROSSED, now_ms, budget->path);
        event.spent_micros = budget->spent_micros;
        event.limit_micros = limit;
        event.threshold_micros = level;
        event.count = budget->spec->alerts_ppm[i];
        tg__ledger_emit(ledger, &event);
        tg__budget_mark(ledger, budget);
    }
}

void tg__budget_check_levels(tg__ledger *ledger, int32_t slot, int64_t now_ms) {
    tg__budget *budget = &ledger->budgets[slot];
    if (budget->spec->cost_limit_micros < 0) {
        /* No limit, no ceiling reached: a limit removed by an admin lifts every revocation. */
        reinstate(ledger, budget, now_ms);
        return;
    }
    fire_alerts(ledger, budget, now_ms);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        int64_t ceiling = budget->ceiling_micros[c];
        if ((budget->revoked & (1u << c)) || budget->spent_micros < ceiling) {
            continue;
        }
        budget->revoked |= 1u << c;
        tg_event event;
        class_changed(ledger, budget, TG_EVENT_REVOKED, c, ceiling, now_ms, &event);
        event.count = cancel_holds(ledger, slot, c);
        tg__ledger_emit(ledger, &event);
    }
    reinstate(ledger, budget, now_ms);
}

static void budget_changed(tg__ledger *ledger, const char *path, const char *detail,
                           int64_t now_ms) {
    tg_event event;
    tg__event_init(&event, TG_EVENT_BUDGET_CHANGED, now_ms, path);
    tg__copy_name(event.detail, sizeof event.detail, detail);
    tg__ledger_emit(ledger, &event);
}

/* Grows the table (and the arrays sized with it) to `capacity` slots. */
static tg_status budgets_grow(tg__ledger *ledger, int32_t capacity, tg_error *err) {
    tg__budget *budgets = realloc(ledger->budgets, (size_t)capacity * sizeof *budgets);
    if (budgets == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the budget table");
    }
    ledger->budgets = budgets;
    /* The dirty list and the window heap hold each slot at most once: sized with the
     * table, so marking and rolling never allocate. */
    int32_t *dirty = realloc(ledger->dirty, (size_t)capacity * sizeof *dirty);
    if (dirty == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the dirty list");
    }
    ledger->dirty = dirty;
    int32_t *heap = realloc(ledger->window_heap, (size_t)capacity * sizeof *heap);
    if (heap == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the window heap");
    }
    ledger->window_heap = heap;
    for (int32_t i = capacity - 1; i >= ledger->budgets_capacity; i--) {
        memset(&budgets[i], 0, sizeof budgets[i]);
        budgets[i].window_pos = -1;
        budgets[i].next_free = ledger->budgets_free;
        ledger->budgets_free = i;
    }
    ledger->budgets_capacity = capacity;
    return TG_OK;
}

tg_status tg__budgets_reserve(tg__ledger *ledger, int64_t live_max, int64_t creates,
                              tg_error *err) {
    tg__budget_index_flush(ledger); /* room counted below is room for these too */
    if (live_max > ledger->budgets_capacity) {
        int64_t capacity = ledger->budgets_capacity ? ledger->budgets_capacity : 16;
        while (capacity < live_max) {
            capacity *= 2;
        }
        tg_status status = budgets_grow(ledger, (int32_t)capacity, err);
        if (status != TG_OK) {
            return status;
        }
    }
    if (creates > 0 && tg__map_reserve(&ledger->budget_index, (uint32_t)creates) != TG_OK) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the budget index");
    }
    return TG_OK;
}

static tg_status budget_slot_new(tg__ledger *ledger, const char *path, bool restoring, int32_t *out,
                                 tg_error *err) {
    if (ledger->budgets_live >= ledger->options.budgets_max) {
        return tg__fail(err, TG_ERR_FULL, "the ledger holds its maximum of %lld budgets",
                        (long long)ledger->options.budgets_max);
    }
    if (ledger->budgets_free < 0) {
        tg_status status =
            budgets_grow(ledger, ledger->budgets_capacity ? ledger->budgets_capacity * 2 : 16, err);
        if (status != TG_OK) {
            return status;
        }
    }
    int32_t slot = ledger->budgets_free;
    bool in_chunk;
    char *copy = tg__budget_path_copy(ledger, path, restoring, &in_chunk);
    if (copy == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory keeping a budget path");
    }
    if (tg__budget_index_put(ledger, path, slot) != TG_OK) {
        if (!in_chunk) {
            free(copy); /* a chunk's copy is freed with the ledger */
        }
        return tg__fail(err, TG_ERR_NOMEM, "out of memory growing the budget index");
    }
    tg__budget *budget = &ledger->budgets[slot];
    ledger->budgets_free = budget->next_free;
    bool listed = budget->listed; /* a slot freed in this batch may still be on the list */
    memset(budget, 0, sizeof *budget);
    budget->listed = listed;
    budget->window_pos = -1;
    budget->path = copy;
    budget->path_in_chunk = in_chunk;
    budget->live = true;
    budget->parent = -1;
    ledger->budgets_live++;
    *out = slot;
    return TG_OK;
}

/* Finds the parent a new budget at `path` needs: -1 for a root, -2 when missing. */
static int32_t parent_slot(const tg__ledger *ledger, const char *path) {
    size_t len = tg__path_parent_len(path);
    if (len == 0) {
        return -1;
    }
    char parent[TG_PATH_SIZE_MAX];
    memcpy(parent, path, len);
    parent[len] = '\0';
    int32_t slot = tg__budget_find(ledger, parent);
    return slot < 0 ? -2 : slot;
}

static tg_status budget_create(tg__ledger *ledger, const char *path, int32_t *out, tg_error *err) {
    int32_t parent = parent_slot(ledger, path);
    if (parent == -2) {
        return tg__fail(err, TG_ERR_NOT_FOUND,
                        "the parent of budget '%s' does not exist; create it first", path);
    }
    tg_status status = budget_slot_new(ledger, path, false, out, err);
    if (status == TG_OK) {
        ledger->budgets[*out].parent = parent;
        if (parent >= 0) {
            ledger->budgets[parent].children++;
        }
    }
    return status;
}

/*
 * The slot for a stored budget at start-up, linked under its parent. Rows come in
 * path order, so the parent is on the chain of the budget restored just before
 * (a prefix sorts before everything under it): walking that chain replaces two
 * lookups in an index of a million paths. A row out of order falls back to the
 * index, so any order still loads; a duplicate is TG_ERR_CORRUPT.
 */
tg_status tg__budget_restore_slot(tg__ledger *ledger, const char *path, int32_t *out,
                                  tg_error *err) {
    int32_t last = ledger->restore_last;
    bool sorted = last >= 0 && last < ledger->budgets_capacity && ledger->budgets[last].live &&
                  strcmp(ledger->budgets[last].path, path) < 0;
    if (!sorted && tg__budget_find(ledger, path) >= 0) {
        return tg__fail(err, TG_ERR_CORRUPT, "stored budget '%.64s' appears twice", path);
    }
    size_t parent_len = tg__path_parent_len(path);
    int32_t parent = parent_len == 0 ? -1 : -2;
    for (int32_t s = sorted ? last : -1; s >= 0 && parent == -2; s = ledger->budgets[s].parent) {
        const char *candidate = ledger->budgets[s].path;
        if (strncmp(candidate, path, parent_len) == 0 && candidate[parent_len] == '\0') {
            parent = s;
        }
    }
    if (parent == -2) {
        parent = parent_slot(ledger, path);
    }
    if (parent == -2) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "the parent of budget '%s' does not exist", path);
    }
    tg_status status = budget_slot_new(ledger, path, true, out, err);
    if (status != TG_OK) {
        return status;
    }
    ledger->budgets[*out].parent = parent;
    if (parent >= 0) {
        ledger->budgets[parent].children++;
    }
    ledger->restore_last = *out;
    return TG_OK;
}

/*
 * The fired bits of `old_spec`'s alerts moved to the positions of the same
 * fractions in `new_spec`: alerts are reported once per window by fraction, so a
 * list that is reordered or extended must not report a fraction a second time.
 * Bits of fractions no longer listed are dropped.
 */
static uint32_t alerts_carry(const tg_budget_spec *old_spec, uint32_t old_fired,
                             const tg_budget_spec *new_spec) {
    uint32_t fired = 0;
    for (int j = 0; j < new_spec->alerts_count; j++) {
        for (int i = 0; i < old_spec->alerts_count; i++) {
            if ((old_fired & (1u << i)) && old_spec->alerts_ppm[i] == new_spec->alerts_ppm[j]) {
                fired |= 1u << j;
                break;
            }
        }
    }
    return fired;
}

static bool level_same(tg_level a, tg_level b) {
    return a.micros == b.micros && a.ppm == b.ppm;
}

bool tg__spec_same(const tg_budget_spec *a, const tg_budget_spec *b) {
    if (a->cost_limit_micros != b->cost_limit_micros || a->calls_limit != b->calls_limit ||
        a->tokens_limit != b->tokens_limit || a->window != b->window ||
        strcmp(a->timezone, b->timezone) != 0 || !level_same(a->revoke_at, b->revoke_at) ||
        a->alerts_count != b->alerts_count || a->above_hold != b->above_hold) {
        return false;
    }
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        if (!level_same(a->class_ceiling[c], b->class_ceiling[c])) {
            return false;
        }
    }
    for (int i = 0; i < a->alerts_count; i++) {
        if (a->alerts_ppm[i] != b->alerts_ppm[i]) {
            return false;
        }
    }
    return true;
}

/*
 * A cost limit below what is already spent is accepted: the budget is then
 * locked (decide.c) until spend is back within the limit. Refusing it made a
 * ledger that had overrun its limit impossible to reload or restart with the
 * same config, and an admin who wants spending stopped must be able to say so.
 */
tg_status tg__ledger_budget_put(tg__ledger *ledger, const char *path, const tg_budget_spec *spec,
                                const tg__tz *tz, int64_t now_ms, tg_error *err) {
    return tg__budget_put_as(ledger, path, spec, tz, now_ms, "created", err);
}

tg_status tg__budget_put_as(tg__ledger *ledger, const char *path, const tg_budget_spec *spec,
                            const tg__tz *tz, int64_t now_ms, const char *created_detail,
                            tg_error *err) {
    tg_status status = tg__path_check(path, err);
    if (status != TG_OK || (status = tg__budget_spec_check(spec, err)) != TG_OK) {
        return status;
    }
    tg__holds_expire(ledger, now_ms);
    int32_t slot = tg__budget_find(ledger, path);
    bool created = slot < 0;
    if (!created) {
        tg__budget *budget = &ledger->budgets[slot];
        tg__budget_roll(ledger, budget, now_ms);
        if (budget->tz == tz && tg__spec_same(budget->spec, spec)) {
            return TG_OK; /* a reload of an unchanged config reports nothing */
        }
    }
    const tg_budget_spec *shared;
    if ((status = tg__spec_intern(ledger, spec, &shared, err)) != TG_OK) {
        return status;
    }
    if (created && (status = budget_create(ledger, path, &slot, err)) != TG_OK) {
        tg__spec_release(ledger, shared);
        return status;
    }
    tg__budget *budget = &ledger->budgets[slot];
    bool window_changed = created || budget->spec->window != spec->window || budget->tz != tz;
    budget->alerts_fired = created ? 0 : alerts_carry(budget->spec, budget->alerts_fired, spec);
    tg__spec_release(ledger, budget->spec);
    budget->spec = shared;
    budget->tz = tz;
    if (window_changed) {
        /* Spend is kept across a change of window: changing it never frees money. */
        set_window(ledger, budget, now_ms);
    }
    tg__budget_derive(budget);
    tg__budget_mark(ledger, budget);
    budget_changed(ledger, path, created ? created_detail : "updated", now_ms);
    tg__budget_check_levels(ledger, slot, now_ms);
    return TG_OK;
}

tg_status tg__ledger_budget_check(const tg__ledger *ledger, const char *path,
                                  const tg_budget_spec *spec, int64_t now_ms, tg_error *err) {
    (void)now_ms;
    tg_status status = tg__path_check(path, err);
    if (status != TG_OK || (status = tg__budget_spec_check(spec, err)) != TG_OK) {
        return status;
    }
    if (tg__budget_find(ledger, path) >= 0) {
        return TG_OK; /* a limit below the spend is valid: the budget is locked (overruns) */
    }
    if (parent_slot(ledger, path) == -2) {
        return tg__fail(err, TG_ERR_NOT_FOUND,
                        "the parent of budget '%s' does not exist; create it first", path);
    }
    return TG_OK;
}

/*
 * The slot of the existing budget `path`: a bad path's error, or TG_ERR_NOT_FOUND. With
 * `expire`, holds due by now_ms expire between the two checks, as delete and get need
 * (their counts must be current); a freeze changes no count and expires nothing.
 */
static tg_status budget_slot(tg__ledger *ledger, const char *path, bool expire, int64_t now_ms,
                             int32_t *slot_out, tg_error *err) {
    tg_status status = tg__path_check(path, err);
    if (status != TG_OK) {
        return status;
    }
    if (expire) {
        tg__holds_expire(ledger, now_ms);
    }
    *slot_out = tg__budget_find(ledger, path);
    if (*slot_out < 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no budget '%s'", path);
    }
    return TG_OK;
}

tg_status tg__ledger_budget_delete(tg__ledger *ledger, const char *path, int64_t now_ms,
                                   tg_error *err) {
    int32_t slot;
    tg_status status = budget_slot(ledger, path, true, now_ms, &slot, err);
    if (status != TG_OK) {
        return status;
    }
    tg__budget *budget = &ledger->budgets[slot];
    if (budget->children > 0 || budget->holds > 0) {
        return tg__fail(err, TG_ERR_STATE, "budget '%s' has %d children and %d open holds", path,
                        budget->children, budget->holds);
    }
    tg__path_row *row = TG_JOURNAL_PUSH(ledger, budgets_deleted);
    if (row != NULL) {
        tg__copy_name(row->path, sizeof row->path, budget->path);
    }
    budget_changed(ledger, path, "deleted", now_ms);
    tg__budget_index_remove(ledger, path, slot);
    if (budget->parent >= 0) {
        ledger->budgets[budget->parent].children--;
    }
    tg__window_heap_remove(ledger, slot);
    budget->live = false;
    budget->dirty = false;
    tg__budget_path_free(budget);
    tg__spec_release(ledger, budget->spec);
    budget->spec = NULL;
    tg__spec_release(ledger, budget->template_spec);
    budget->template_spec = NULL;
    budget->next_free = ledger->budgets_free;
    ledger->budgets_free = slot;
    ledger->budgets_live--;
    return TG_OK;
}

tg_status tg__ledger_budget_freeze(tg__ledger *ledger, const char *path, bool frozen,
                                   int64_t now_ms, tg_error *err) {
    int32_t slot;
    tg_status status = budget_slot(ledger, path, false, now_ms, &slot, err);
    if (status != TG_OK) {
        return status;
    }
    tg__budget *budget = &ledger->budgets[slot];
    if (budget->frozen != frozen) {
        budget->frozen = frozen;
        tg__budget_mark(ledger, budget);
        budget_changed(ledger, path, frozen ? "frozen" : "unfrozen", now_ms);
    }
    return TG_OK;
}

/*
 * What class `cls` could still hold now on the whole path from `leaf` with a call
 * of `tokens` tokens, or TG_NONE if unlimited. Nothing passes a budget that is
 * frozen, has the class revoked, or cannot take one more call or those tokens.
 */
int64_t tg__budget_headroom(tg__ledger *ledger, int32_t leaf, int cls, int64_t tokens) {
    int32_t chain[TG_PATH_DEPTH_MAX];
    int depth = tg__budget_chain(ledger, leaf, chain);
    int64_t headroom = TG_NONE;
    for (int i = 0; i < depth; i++) {
        const tg__budget *budget = &ledger->budgets[chain[i]];
        if (budget->frozen || tg__budget_locked(budget) || (budget->revoked & (1u << cls))) {
            return 0;
        }
        if (budget->spec->calls_limit >= 0 &&
            budget->calls_used + budget->calls_held + 1 > budget->spec->calls_limit) {
            return 0;
        }
        /* 128-bit: a commit may charge more tokens than were held. */
        if (budget->spec->tokens_limit >= 0 &&
            (__int128)budget->tokens_used + budget->tokens_held + tokens >
                budget->spec->tokens_limit) {
            return 0;
        }
        int64_t ceiling = budget->ceiling_micros[cls];
        if (ceiling < 0) {
            continue;
        }
        int64_t room = ceiling - budget->spent_micros - budget->held_micros;
        room = room < 0 ? 0 : room;
        headroom = headroom < 0 ? room : min_i64(headroom, room);
    }
    return headroom;
}

tg_status tg__ledger_budget_get(tg__ledger *ledger, const char *path, int64_t now_ms,
                                tg_budget_info *out, tg_error *err) {
    int32_t slot;
    tg_status status = budget_slot(ledger, path, true, now_ms, &slot, err);
    if (status != TG_OK) {
        return status;
    }
    int32_t chain[TG_PATH_DEPTH_MAX];
    int depth = tg__budget_chain(ledger, slot, chain);
    for (int i = 0; i < depth; i++) {
        tg__budget_roll(ledger, &ledger->budgets[chain[i]], now_ms);
    }
    const tg__budget *budget = &ledger->budgets[slot];
    memset(out, 0, sizeof *out);
    tg__copy_name(out->path, sizeof out->path, budget->path);
    out->spec = *budget->spec;
    out->frozen = budget->frozen;
    out->window_start_ms = budget->window_start_ms;
    out->window_end_ms = budget->window_end_ms;
    out->spent_micros = budget->spent_micros;
    out->held_micros = budget->held_micros;
    out->calls_used = budget->calls_used;
    out->calls_held = budget->calls_held;
    out->tokens_used = budget->tokens_used;
    out->tokens_held = budget->tokens_held;
    out->threshold_micros = budget->threshold_micros;
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        out->ceiling_micros[c] = budget->ceiling_micros[c];
        out->remaining_micros[c] = tg__budget_headroom(ledger, slot, c, 0);
        out->revoked[c] = (budget->revoked & (1u << c)) != 0;
    }
    out->locked = tg__budget_locked(budget);
    out->has_template = budget->template_spec != NULL;
    if (out->has_template) {
        out->template_spec = *budget->template_spec;
    } else {
        tg_budget_spec_init(&out->template_spec);
    }
    out->children_max = budget->children_max;
    out->children = budget->children;
    return TG_OK;
}

static int path_compare(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

tg_status tg__ledger_budget_list(tg__ledger *ledger, const char *prefix,
                                 bool (*fn)(void *user, const char *path), void *user,
                                 tg_error *err) {
    const char **paths = malloc((size_t)(ledger->budgets_live + 1) * sizeof *paths);
    if (paths == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory listing budgets");
    }
    size_t count = 0, prefix_len = prefix ? strlen(prefix) : 0;
    for (int32_t i = 0; i < ledger->budgets_capacity; i++) {
        const tg__budget *budget = &ledger->budgets[i];
        if (budget->live && strncmp(budget->path, prefix ? prefix : "", prefix_len) == 0) {
            paths[count++] = budget->path;
        }
    }
    qsort(paths, count, sizeof *paths, path_compare);
    for (size_t i = 0; i < count && fn(user, paths[i]); i++) {
    }
    free(paths);
    return TG_OK;
}
