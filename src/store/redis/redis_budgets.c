/*
 * redis_budgets: budget put, get, delete and freeze on the redis ledger, and many puts and
 * deletes of one tree as one change (tg_budgets_apply). The spec
 * is checked and its ceilings derived here by the core's own functions
 * (tg__budget_spec_check, tg__budget_derive), so both implementations read a spec
 * the same way; the server keeps the spec as text (for tg_budget_get and for "the
 * same spec again changes nothing") beside the numbers its functions decide with.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
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

/* The numbers tollgate.lua decides a budget with (its LIMIT .. CAP): the three limits, the
 * window, the threshold and the four class ceilings derived by the core's own function, and
 * whether a commit above its hold is capped. */
#define PUT_NUMBERS 10
static void put_numbers(const tg_budget_spec *spec, int64_t out[PUT_NUMBERS]) {
    tg__budget derived = {.spec = spec};
    tg__budget_derive(&derived);
    out[0] = spec->cost_limit_micros, out[1] = spec->calls_limit, out[2] = spec->tokens_limit;
    out[3] = spec->window, out[4] = derived.threshold_micros;
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        out[5 + c] = derived.ceiling_micros[c];
    }
    out[9] = spec->above_hold == TG_ABOVE_HOLD_CAP;
}

/* Alert i's level in micros, rounded up as budget.c's fire_alerts does ("80% reached" means at
 * least 80% was spent), in 128 bits as there; a budget without a limit fires none (its levels
 * are never read). */
static int64_t alert_level(const tg_budget_spec *spec, int i) {
    int64_t limit = spec->cost_limit_micros;
    return limit < 0 ? TG_NONE
                     : (int64_t)(((__int128)limit * spec->alerts_ppm[i] + TG_PPM - 1) / TG_PPM);
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
    char text[TG__REDIS_SPEC_TEXT_SIZE_MAX];
    spec_format(spec, text, sizeof text);
    int64_t numbers[PUT_NUMBERS];
    put_numbers(spec, numbers);
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_budget_put", prefix);
    tg__redis_args_i64(&args, now_ms);
    tg__redis_args_str(&args, path);
    tg__redis_args_i64(&args, tree);
    tg__redis_args_str(&args, text);
    for (int i = 0; i < PUT_NUMBERS; i++) {
        tg__redis_args_i64(&args, numbers[i]);
    }
    tg__redis_args_bounds(ledger, &args, now_ms);
    tg__redis_args_i64(&args, spec->alerts_count);
    for (int i = 0; i < spec->alerts_count; i++) {
        tg__redis_args_i64(&args, alert_level(spec, i));
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

/* ---- many budgets of one tree as one change (tollgate.lua, tg_budgets_apply) ----------- */

/* The most bytes one operation takes packed: kind, path, spec text, numbers, alerts. */
#define BULK_OP_SIZE_MAX                                                                           \
    (8 + TG_PATH_SIZE_MAX + TG__REDIS_SPEC_TEXT_SIZE_MAX +                                         \
     8 * (PUT_NUMBERS + 1 + 2 * TG_ALERTS_MAX))
#define BULK_SIZE_MAX ((size_t)TG__REDIS_BUDGET_OPS_MAX * BULK_OP_SIZE_MAX)

static tg_status pack_i64(tg__buf *buf, int64_t value) {
    unsigned char bytes[8]; /* '<l' of tollgate.lua's struct: little-endian */
    uint64_t v = (uint64_t)value;
    for (int i = 0; i < 8; i++) {
        bytes[i] = (unsigned char)(v >> (8 * i));
    }
    return tg__buf_append(buf, bytes, sizeof bytes);
}

static tg_status pack_str(tg__buf *buf, const char *text) {
    return tg__buf_append(buf, text, strlen(text) + 1); /* 's': zero-terminated */
}

static tg_status pack_op(tg__buf *buf, const tg_budget_op *op) {
    tg_status status = pack_i64(buf, op->remove ? 0 : 1);
    if (status != TG_OK || (status = pack_str(buf, op->path)) != TG_OK || op->remove) {
        return status;
    }
    char text[TG__REDIS_SPEC_TEXT_SIZE_MAX];
    spec_format(op->spec, text, sizeof text);
    int64_t numbers[PUT_NUMBERS];
    put_numbers(op->spec, numbers);
    status = pack_str(buf, text);
    for (int i = 0; i < PUT_NUMBERS && status == TG_OK; i++) {
        status = pack_i64(buf, numbers[i]);
    }
    status = status == TG_OK ? pack_i64(buf, op->spec->alerts_count) : status;
    for (int i = 0; i < op->spec->alerts_count && status == TG_OK; i++) {
        status = pack_i64(buf, alert_level(op->spec, i));
        status = status == TG_OK ? pack_i64(buf, op->spec->alerts_ppm[i]) : status;
    }
    return status;
}

/* The checks on one operation that need nothing but the operation itself (budget_bulk.c's
 * check_alone, plus what this ledger keeps: UTC, 2^53, no templates). */
static tg_status check_alone(const tg_budget_op *op, tg_error *why) {
    if (op->path == NULL) {
        return tg__fail(why, TG_ERR_INVALID, "no budget path given");
    }
    tg_status status = tg__path_check(op->path, why);
    if (status != TG_OK || op->remove) {
        return status;
    }
    if (op->spec == NULL) {
        return tg__fail(why, TG_ERR_INVALID, "no budget spec given for '%s'", op->path);
    }
    if (op->child_template != NULL || op->remove_template) {
        return tg__fail(why, TG_ERR_UNSUPPORTED, "templates need the local ledger, not redis");
    }
    return spec_check(op->spec, why);
}

/* Every operation checked alone, no path named twice, every path in the tree of operation 0:
 * a tree is one hash slot, so one call, atomic on a cluster too; two trees would be two. */
static tg_status check_request(const tg_budget_op *ops, size_t count, tg_error *err) {
    char root[TG_SEGMENT_SIZE_MAX], first_root[TG_SEGMENT_SIZE_MAX] = "";
    for (size_t i = 0; i < count; i++) {
        tg_error why = {0};
        tg_status status = check_alone(&ops[i], &why);
        if (status != TG_OK) {
            return tg__fail(err, status, "operation %zu: %s", i, why.message);
        }
        for (size_t j = 0; j < i; j++) { /* at most TG__REDIS_BUDGET_OPS_MAX^2 / 2 compares */
            if (strcmp(ops[j].path, ops[i].path) == 0) {
                return tg__fail(err, TG_ERR_INVALID,
                                "operation %zu: budget '%s' is named twice in one request", i,
                                ops[i].path);
            }
        }
        tg__redis_root_of(ops[i].path, root);
        if (i == 0) {
            memcpy(first_root, root, sizeof root);
        } else if (strcmp(root, first_root) != 0) {
            return tg__fail(err, TG_ERR_UNSUPPORTED,
                            "operation %zu: budget '%s' is in the budget tree '%s', operation 0 in "
                            "'%s'; on the redis ledger one request changes one budget tree (one "
                            "atomic call): send one request per tree",
                            i, ops[i].path, root, first_root);
        }
    }
    return TG_OK;
}

tg_status tg__redis_budgets_apply(void *self, const tg_budget_op *ops, size_t count, int64_t now_ms,
                                  tg_budget_counts *counts, tg_error *err) {
    tg__redis_ledger *ledger = self;
    if (count > TG__REDIS_BUDGET_OPS_MAX) {
        return tg__fail(err, TG_ERR_RANGE,
                        "at most %d budget operations in one request on the redis ledger (one "
                        "call, which the server runs to its end before any other)",
                        TG__REDIS_BUDGET_OPS_MAX);
    }
    tg_status status = check_request(ops, count, err);
    if (status != TG_OK || count == 0) {
        if (status == TG_OK && counts != NULL) {
            *counts = (tg_budget_counts){0};
        }
        return status;
    }
    char root[TG_SEGMENT_SIZE_MAX], prefix[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_root_of(ops[0].path, root);
    bool puts_root = false; /* a root is numbered when it is created, as by one put */
    for (size_t i = 0; i < count; i++) {
        puts_root = puts_root || (!ops[i].remove && strcmp(ops[i].path, root) == 0);
    }
    int64_t tree = 0;
    if ((status = tg__redis_tree_of_root(ledger, root, puts_root, &tree, err)) != TG_OK) {
        return status;
    }
    tg__redis_prefix_of(root, prefix); /* with no tree, each op is refused there as alone */
    tg__buf packed;
    tg__buf_init(&packed, BULK_SIZE_MAX);
    for (size_t i = 0; i < count && status == TG_OK; i++) {
        status = pack_op(&packed, &ops[i]);
    }
    if (status != TG_OK) {
        tg__buf_free(&packed);
        return tg__fail(err, TG_ERR_NOMEM, "out of memory packing %zu budget operations", count);
    }
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_budgets_apply", prefix);
    tg__redis_args_i64(&args, now_ms);
    tg__redis_args_i64(&args, tree);
    tg__redis_args_i64(&args, ledger->options.budgets_max); /* the tree's (tollgate.lua) */
    tg__redis_args_i64(&args, (int64_t)count);
    tg__redis_args_bytes(&args, packed.data, packed.size);
    tg__redis_args_bounds(ledger, &args, now_ms);
    redisReply *reply = NULL;
    status = tg__redis_call(ledger, &args, 4, &reply, err);
    if (status == TG_OK) {
        if (counts != NULL) {
            *counts = (tg_budget_counts){.created = tg__redis_i64(reply, 1),
                                         .updated = tg__redis_i64(reply, 2),
                                         .deleted = tg__redis_i64(reply, 3)};
        }
        tg__redis_done(ledger, reply);
    }
    tg__buf_free(&packed);
    return status;
}
