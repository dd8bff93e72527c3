/*
 * fuzz_ledger: arbitrary operation sequences on the pure ledger. Each 4-byte
 * group of the input is one operation (reserve, commit, release, record, time
 * passing, freeze, limit change, tick) on a small tree. After every operation
 * the ledger's own invariant check must pass, and no budget may be above its
 * limit unless an overrun was reported or its limit was lowered below its spend
 * (both lock it: nothing more is granted there).
 */
#include <stdlib.h>
#include <string.h>

#include "core/ledger.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define HOLDS_KEPT 16

static const char *const paths[] = {"a", "a/b", "a/b/c", "a/d"};
static int overruns;
static bool lowered; /* a limit was put below a budget's spend */

static void count_overruns(void *user, const tg_event *event) {
    (void)user;
    overruns += event->kind == TG_EVENT_OVERRUN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_budget(tg__ledger *ledger, const tg__tz *utc, int which, uint8_t limit_byte,
                       uint8_t shape, int64_t now_ms) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = limit_byte == 255 ? TG_NONE : (int64_t)limit_byte * 1000;
    spec.calls_limit = (shape & 3) == 0 ? (shape >> 2) : TG_NONE;
    spec.window = (tg_window_kind)(shape % 3);
    if (spec.cost_limit_micros >= 0 && (shape & 8)) {
        spec.revoke_at.ppm = 800000;
    }
    spec.above_hold = (shape & 16) ? TG_ABOVE_HOLD_CAP : TG_ABOVE_HOLD_CHARGE;
    tg_budget_info info;
    if (tg__ledger_budget_get(ledger, paths[which], now_ms, &info, NULL) == TG_OK &&
        spec.cost_limit_micros >= 0 && spec.cost_limit_micros < info.spent_micros) {
        lowered = true;
    }
    tg__ledger_budget_put(ledger, paths[which], &spec, utc, now_ms, NULL);
}

static void step(tg__ledger *ledger, const tg__tz *utc, const uint8_t *op, uint64_t *holds,
                 int64_t *now_ms) {
    int which = op[1] % 4;
    switch (op[0] % 8) {
    case 0: {
        tg_reserve_request r = {.budget = paths[which],
                                .amount_micros = op[2] * 100,
                                .cls = (tg_class)(op[3] % 5),
                                .ttl_ms = 1000 + op[3] * 10};
        tg_reserve_result out;
        if (tg__ledger_reserve(ledger, &r, *now_ms, &out, NULL) == TG_OK && out.granted) {
            holds[op[3] % HOLDS_KEPT] = out.hold_id;
        }
        break;
    }
    case 1: {
        tg_commit_request r = {.hold_id = holds[op[1] % HOLDS_KEPT],
                               .actual_micros = op[2] * 100,
                               .agent_reported = op[3] & 1};
        tg_commit_result out;
        tg__ledger_commit(ledger, &r, *now_ms, &out, NULL);
        break;
    }
    case 2:
        tg__ledger_release(ledger, holds[op[1] % HOLDS_KEPT], NULL, *now_ms, NULL, NULL);
        break;
    case 3: {
        tg_record_request r = {.budget = paths[which],
                               .cost_micros = op[2] * 100,
                               .cls = (tg_class)(op[3] % 4),
                               .force = op[3] & 0x80};
        tg_record_result out;
        tg__ledger_record(ledger, &r, *now_ms, &out, NULL);
        break;
    }
    case 4:
        *now_ms += (int64_t)op[2] * op[3] * 1000;
        break;
    case 5:
        tg__ledger_budget_freeze(ledger, paths[which], op[2] & 1, *now_ms, NULL);
        break;
    case 6:
        put_budget(ledger, utc, which, op[2], op[3], *now_ms);
        break;
    default:
        tg__ledger_tick(ledger, *now_ms);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tg__tz *utc = tg__tz_utc();
    tg__ledger_options options = {.holds_max = 64,
                                  .budgets_max = 8,
                                  .idempotency_max = 64,
                                  .idempotency_ttl_ms = 60000,
                                  .default_hold_ttl_ms = 5000,
                                  .max_hold_ttl_ms = 60000,
                                  .journal = true,
                                  .on_event = count_overruns};
    tg__ledger *ledger = tg__ledger_new(&options);
    FUZZ_CHECK(ledger != NULL && utc != NULL);
    overruns = 0;
    lowered = false;
    int64_t now_ms = 1700000000000;
    for (int i = 0; i < 4; i++) {
        put_budget(ledger, utc, i, size > (size_t)i ? data[i] : 100, 0, now_ms);
    }
    uint64_t holds[HOLDS_KEPT] = {0};
    for (size_t at = 4; at + 4 <= size && at < 4 * 512; at += 4) {
        step(ledger, utc, data + at, holds, &now_ms);
        FUZZ_CHECK(tg__ledger_check(ledger, NULL) == TG_OK);
        for (int i = 0; i < 4; i++) {
            tg_budget_info info;
            if (tg__ledger_budget_get(ledger, paths[i], now_ms, &info, NULL) == TG_OK &&
                info.spec.cost_limit_micros >= 0) {
                FUZZ_CHECK(info.spent_micros <= info.spec.cost_limit_micros || overruns > 0 ||
                           lowered);
                FUZZ_CHECK(info.locked == (info.spent_micros > info.spec.cost_limit_micros));
            }
        }
        tg__journal_clear(tg__ledger_journal(ledger));
    }
    tg__ledger_free(ledger);
    tg__tz_free(utc);
    return 0;
}
