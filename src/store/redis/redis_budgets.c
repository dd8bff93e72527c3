/*
 * redis_budgets: budget put, get, delete and freeze on the redis ledger. The spec
 * is checked and its ceilings derived here by the core's own functions
 * (tg__budget_spec_check, tg__budget_derive), so both implementations read a spec
 * the same way; the server keeps the spec as text (for tg_budget_get and for "the
 * same spec again changes nothing") beside the numbers its functions decide with.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ledger_internal.h"
#include "store/redis/redis_internal.h"

/* The spec as text: every field, in a fixed order, the zone last. */
static void spec_format(const tg_budget_spec *s, char *out, size_t size) {
    int n = snprintf(out, size, "%lld %lld %lld %d %lld %lld", (long long)s->cost_limit_micros,
                     (long long)s->calls_limit, (long long)s->tokens_limit, (int)s->window,
                     (long long)s->revoke_at.micros, (long long)s->revoke_at.ppm);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        n += snprintf(out + n, size - (size_t)n, " %lld %lld",
                      (long long)s->class_ceiling[c].micros, (long long)s->class_ceiling[c].ppm);
    }
    n += snprintf(out + n, size - (size_t)n, " %d %d", (int)s->above_hold, s->alerts_count);
    for (int i = 0; i < s->alerts_count; i++) {
        n += snprintf(out + n, size - (size_t)n, " %lld", (long long)s->alerts_ppm[i]);
    }
    snprintf(out + n, size - (size_t)n, " z%s", s->timezone);
}

static const char *scan_i64(const char *at, int64_t *out, bool *ok) {
    char *end;
    long long v = strtoll(at, &end, 10);
    *ok = *ok && end != at;
    *out = v;
    return end;
}

static tg_status spec_parse(const char *text, tg_budget_spec *s, tg_error *err) {
    tg_budget_spec_init(s);
    int64_t v[16];
    bool ok = true;
    const char *at = text;
    for (int i = 0; i < 16; i++) {
        at = scan_i64(at, &v[i], &ok);
    }
    s->cost_limit_micros = v[0], s->calls_limit = v[1], s->tokens_limit = v[2];
    s->window = (tg_window_kind)v[3];
    s->revoke_at = (tg_level){v[4], v[5]};
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        s->class_ceiling[c] = (tg_level){v[6 + 2 * c], v[7 + 2 * c]};
    }
    s->above_hold = (tg_above_hold)v[14];
    ok = ok && v[15] >= 0 && v[15] <= TG_ALERTS_MAX;
    s->alerts_count = ok ? (int)v[15] : 0;
    for (int i = 0; ok && i < s->alerts_count; i++) {
        at = scan_i64(at, &s->alerts_ppm[i], &ok);
    }
    if (!ok || strncmp(at, " z", 2) != 0 || strlen(at + 2) >= sizeof s->timezone) {
        return tg__fail(err, TG_ERR_CORRUPT, "a budget's spec in redis is malformed: '%.80s'",
                        text);
    }
    memcpy(s->timezone, at + 2, strlen(at + 2) + 1);
    return TG_OK;
}

static tg_status spec_check(const tg_budget_spec *spec, tg_error *err) {
    if (spec == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "no budget spec given");
    }
    tg_status status = tg__budget_spec_check(spec, err);
    if (status != TG_OK) {
        return status;
    }
    if (spec->timezone[0] != '\0' && strcmp(spec->timezone, "UTC") != 0) {
        return tg__fail(err, TG_ERR_UNSUPPORTED,
                        "the redis ledger keeps UTC windows only (time zone '%.64s')",
                        spec->timezone);
    }
    const int64_t limits[] = {spec->cost_limit_micros, spec->calls_limit, spec->tokens_limit};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        if (limits[i] > TG__LEDGER_REDIS_COUNTER_MAX) {
            return tg__fail(err, TG_ERR_RANGE,
                            "the redis ledger counts exactly up to %" PRId64 " (2^53 - 1): a "
                            "limit of %" PRId64 " is too large",
                            TG__LEDGER_REDIS_COUNTER_MAX, limits[i]);
        }
    }
    return TG_OK;
}

/* A call whose reply says nothing but that it succeeded (put, delete, freeze). */
static tg_status call_done(tg__redis_ledger *ledger, tg__redis_args *args, size_t fields,
                           tg_error *err) {
    redisReply *reply = NULL;
    tg_status status = tg__redis_call(ledger, args, fields, &reply, err);
    if (status == TG_OK) {
        tg__redis_done(ledger, reply);
    }
    return status;
}

/* The arguments every call on an existing budget starts with: FCALL name 1 prefix now path;
 * TG_ERR_NOT_FOUND when the budget's root has no tree. The arguments borrow `prefix` (the
 * caller's, so it outlives the call). */
static tg_status budget_call(tg__redis_ledger *ledger, const char *name, const char *path,
                             int64_t now_ms, char prefix[TG__REDIS_PREFIX_SIZE_MAX],
                             tg__redis_args *args, tg_error *err) {
    tg_status status = tg__redis_budget_prefix(ledger, path, prefix, err);
    if (status != TG_OK) {
        return status;
    }
    tg__redis_args_fcall(args, name, prefix);
    tg__redis_args_i64(args, now_ms);
    tg__redis_args_str(args, path);
    return TG_OK;
}

tg_status tg__redis_budget_put(void *self, const char *path, const tg_budget_spec *spec,
                               int64_t now_ms, tg_error *err) {
    tg__redis_ledger *ledger = self;
    tg_status status = tg__path_check(path, err);
    if (status != TG_OK || (status = spec_check(spec, err)) != TG_OK) {
        return status;
    }
    char root[TG_SEGMENT_SIZE_MAX], prefix[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_root_of(path, root);
    bool is_root = strcmp(root, path) == 0;
    int64_t tree = 0;
    if ((status = tg__redis_tree_of_root(ledger, root, is_root, &tree, err)) != TG_OK) {
        return status;
    }
    if (tree == 0) {
        return tg__fail(err, TG_ERR_NOT_FOUND,
                        "the parent of budget '%s' does not exist; create it first", path);
    }
    tg__redis_prefix_of(root, prefix);
    tg__budget derived = {.spec = spec};
    tg__budget_derive(&derived);
    char text[TG__REDIS_SPEC_TEXT_SIZE_MAX];
    spec_format(spec, text, sizeof text);
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_budget_put", prefix);
    tg__redis_args_i64(&args, now_ms);
    tg__redis_args_str(&args, path);
    tg__redis_args_i64(&args, tree);
    tg__redis_args_str(&args, text);
    tg__redis_args_i64(&args, spec->cost_limit_micros);
    tg__redis_args_i64(&args, spec->calls_limit);
    tg__redis_args_i64(&args, spec->tokens_limit);
    tg__redis_args_i64(&args, spec->window);
    tg__redis_args_i64(&args, derived.threshold_micros);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        tg__redis_args_i64(&args, derived.ceiling_micros[c]);
    }
    tg__redis_args_i64(&args, spec->above_hold == TG_ABOVE_HOLD_CAP);
    tg__redis_args_bounds(ledger, &args, now_ms);
    /* The alerts with their levels in micros, rounded up as budget.c's fire_alerts does ("80%
     * reached" means at least 80% was spent), in 128 bits as there; a budget without a limit
     * fires none (its levels are never read). */
    tg__redis_args_i64(&args, spec->alerts_count);
    for (int i = 0; i < spec->alerts_count; i++) {
        int64_t limit = spec->cost_limit_micros;
        int64_t level =
            limit < 0 ? TG_NONE
                      : (int64_t)(((__int128)limit * spec->alerts_ppm[i] + TG_PPM - 1) / TG_PPM);
        tg__redis_args_i64(&args, level);
        tg__redis_args_i64(&args, spec->alerts_ppm[i]);
    }
    tg__redis_args_i64(&args, ledger->options.budgets_max); /* the tree's (tollgate.lua) */
    return call_done(ledger, &args, 2, err);
}

tg_status tg__redis_budget_get(void *self, const char *path, int64_t now_ms, tg_budget_info *out,
                               tg_error *err) {
    tg__redis_ledger *ledger = self;
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_args args;
    tg_status status = budget_call(ledger, "tg_budget_get", path, now_ms, prefix, &args, err);
    if (status != TG_OK) {
        return status;
    }
    tg__redis_args_bounds(ledger, &args, now_ms);
    redisReply *reply = NULL;
    if ((status = tg__redis_call(ledger, &args, 23, &reply, err)) != TG_OK) {
        return status;
    }
    /* {0, spec, frozen, ws, we, spent, held, cu, ch, tu, th, thr, c0..c3, rem0..rem3, revoked,
     *  locked, children} */
    tg_budget_info info;
    memset(&info, 0, sizeof info);
    if ((status = spec_parse(tg__redis_str(reply, 1), &info.spec, err)) != TG_OK) {
        tg__redis_done(ledger, reply);
        return status;
    }
    snprintf(info.path, sizeof info.path, "%s", path);
    info.frozen = tg__redis_i64(reply, 2) != 0;
    bool lifetime = info.spec.window == TG_WINDOW_LIFETIME;
    info.window_start_ms = lifetime ? INT64_MIN : tg__redis_i64(reply, 3);
    info.window_end_ms = lifetime ? INT64_MAX : tg__redis_i64(reply, 4);
    info.spent_micros = tg__redis_i64(reply, 5);
    info.held_micros = tg__redis_i64(reply, 6);
    info.calls_used = tg__redis_i64(reply, 7);
    info.calls_held = tg__redis_i64(reply, 8);
    info.tokens_used = tg__redis_i64(reply, 9);
    info.tokens_held = tg__redis_i64(reply, 10);
    info.threshold_micros = tg__redis_i64(reply, 11);
    int64_t revoked = tg__redis_i64(reply, 20);
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        info.ceiling_micros[c] = tg__redis_i64(reply, 12 + (size_t)c);
        info.remaining_micros[c] = tg__redis_i64(reply, 16 + (size_t)c);
        info.revoked[c] = (revoked >> c) & 1;
    }
    info.locked = tg__redis_i64(reply, 21) != 0;
    info.children = tg__redis_i64(reply, 22);
    tg_budget_spec_init(&info.template_spec);
    tg__redis_done(ledger, reply);
    *out = info;
    return TG_OK;
}

tg_status tg__redis_budget_delete(void *self, const char *path, int64_t now_ms, tg_error *err) {
    tg__redis_ledger *ledger = self;
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_args args;
    tg_status status = budget_call(ledger, "tg_budget_delete", path, now_ms, prefix, &args, err);
    return status != TG_OK ? status : call_done(ledger, &args, 1, err);
}

tg_status tg__redis_budget_freeze(void *self, const char *path, bool frozen, int64_t now_ms,
                                  tg_error *err) {
    tg__redis_ledger *ledger = self;
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_args args;
    tg_status status = budget_call(ledger, "tg_budget_freeze", path, now_ms, prefix, &args, err);
    if (status != TG_OK) {
        return status;
    }
    tg__redis_args_i64(&args, frozen ? 1 : 0);
    return call_done(ledger, &args, 1, err);
}
