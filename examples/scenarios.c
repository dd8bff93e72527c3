/*
 * scenarios: the seed's three budgets played through the engine, printing
 * every decision. Also the shortest tour of the C API: open an engine, declare
 * budgets and policy, reserve before a paid action, commit after it.
 *
 *   build/example_scenarios [sqlite-file]     (default: in memory)
 *
 * Support agent: $500/day, routine work revoked at $480, refunds are critical.
 * Coding agent: $1000/day, revoked at $950. Data analysis: $2000/day at $1800.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

#define USD(x) ((int64_t)((x)*1000000))

static const char *event_budget_filter = "";

static void print_event(void *user, const tg_event *event) {
    (void)user;
    char spent[32], level[32] = "-";
    if (strncmp(event->budget, event_budget_filter, strlen(event_budget_filter)) != 0 ||
        event->kind == TG_EVENT_BUDGET_CHANGED || event->kind == TG_EVENT_DENIED) {
        return;
    }
    printf("    event %-17s %-28s class=%-8s spent=$%s level=$%s holds-told-to-cancel=%lld\n",
           tg_event_kind_str(event->kind), event->budget,
           event->cls >= 0 ? tg_class_str((tg_class)event->cls) : "-",
           tg_money_format(event->spent_micros, spent, sizeof spent),
           event->threshold_micros >= 0
               ? tg_money_format(event->threshold_micros, level, sizeof level)
               : level,
           event->kind == TG_EVENT_REVOKED ? (long long)event->count : 0LL);
}

static void check(tg_status status, const tg_error *err, const char *what) {
    if (status != TG_OK) {
        fprintf(stderr, "scenarios: %s: %s: %s\n", what, tg_status_str(status), err->message);
        exit(1);
    }
}

static void budget(tg_engine *engine, const char *path, int64_t limit, int64_t revoke_at,
                   int64_t now_ms) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    spec.cost_limit_micros = limit;
    spec.revoke_at.micros = revoke_at;
    spec.window = limit >= 0 ? TG_WINDOW_DAY : TG_WINDOW_LIFETIME;
    snprintf(spec.timezone, sizeof spec.timezone, "%s", "Asia/Taipei");
    spec.alerts_ppm[0] = 500000;
    spec.alerts_ppm[1] = 800000;
    spec.alerts_count = limit >= 0 ? 2 : 0;
    tg_error err;
    check(tg_budget_put(engine, path, &spec, now_ms, &err), &err, path);
}

/* One paid action: hold the worst case, then charge the actual cost. */
static void action(tg_engine *engine, const char *path, const char *tool, int64_t worst,
                   int64_t actual, int64_t now_ms) {
    tg_reserve_request request = {
        .budget = path, .amount_micros = worst, .cls = TG_CLASS_AUTO, .tool = tool};
    tg_reserve_result held;
    tg_error err;
    check(tg_reserve(engine, &request, now_ms, &held, &err), &err, "reserve");
    char a[32], b[32], c[32];
    if (!held.granted) {
        printf("  REFUSED %-14s %-8s $%-12s by %s: %s; largest that passes $%s; retry %s\n", tool,
               tg_class_str(held.cls), tg_money_format(worst, a, sizeof a), held.refusal.budget,
               tg_reason_str(held.refusal.reason),
               tg_money_format(held.refusal.max_amount_micros, b, sizeof b),
               held.refusal.retry_after_ms >= 0 ? "at the next window" : "needs a person");
        return;
    }
    tg_commit_request commit = {.hold_id = held.hold_id, .actual_micros = actual};
    tg_commit_result done;
    check(tg_commit(engine, &commit, now_ms, &done, &err), &err, "commit");
    tg_budget_info info;
    check(tg_budget_get(engine, path, now_ms, &info, &err), &err, "get");
    printf("  ok      %-14s %-8s held $%-12s charged $%-12s spent now $%s\n", tool,
           tg_class_str(held.cls), tg_money_format(worst, a, sizeof a),
           tg_money_format(actual, b, sizeof b), tg_money_format(info.spent_micros, c, sizeof c));
}

/* Calls `tool` at `cost` until the budget refuses, then tries a critical tool once more. */
static void play(tg_engine *engine, const char *path, const char *routine, int64_t cost,
                 const char *critical, int64_t critical_cost, int64_t now_ms) {
    event_budget_filter = path;
    printf("\n%s\n", path);
    tg_budget_info info;
    tg_error err;
    for (int i = 0; i < 200; i++) {
        check(tg_budget_get(engine, path, now_ms, &info, &err), &err, "get");
        int64_t room = info.remaining_micros[TG_CLASS_NORMAL];
        if (room < cost) {
            action(engine, path, routine, cost, cost, now_ms); /* shows the refusal */
            break;
        }
        if (i % 5 == 4 || room < 3 * cost) {
            action(engine, path, routine, cost, cost, now_ms);
        } else {
            tg_record_request quiet = {
                .budget = path, .cost_micros = cost, .cls = TG_CLASS_AUTO, .tool = routine};
            tg_record_result recorded;
            check(tg_record(engine, &quiet, now_ms, &recorded, &err), &err, "record");
        }
    }
    for (int i = 0; i < 4; i++) {
        action(engine, path, critical, critical_cost, critical_cost, now_ms);
    }
    check(tg_budget_get(engine, path, now_ms, &info, &err), &err, "get");
    char spent[32], limit[32];
    printf("  => spent $%s of $%s; never above the limit\n",
           tg_money_format(info.spent_micros, spent, sizeof spent),
           tg_money_format(info.spec.cost_limit_micros, limit, sizeof limit));
}

int main(int argc, char **argv) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    if (argc > 1) {
        options.store = "sqlite";
        options.path = argv[1];
    }
    options.on_event = print_event;
    int64_t now_ms = INT64_C(1795833600000); /* 2026-11-28T00:00:00Z */
    tg_engine *engine;
    tg_error err;
    check(tg_engine_open(&options, now_ms, &engine, &err), &err, "open");

    /* Operators, not agents, decide what is critical. */
    const tg_policy_rule rules[] = {
        {.tool_glob = "refund_*", .cls = TG_CLASS_CRITICAL},
        {.tool_glob = "deploy_*", .cls = TG_CLASS_CRITICAL},
        {.tool_glob = "integrity_check", .cls = TG_CLASS_CRITICAL},
    };
    check(tg_policy_set(engine, rules, 3, TG_CLASS_NORMAL, &err), &err, "policy");

    budget(engine, "acme", TG_NONE, TG_NONE, now_ms);
    budget(engine, "acme/support", USD(500), USD(480), now_ms);
    budget(engine, "acme/coding", USD(1000), USD(950), now_ms);
    budget(engine, "acme/analysis", USD(2000), USD(1800), now_ms);

    printf("Three budgets, each per day in Asia/Taipei. Routine work stops at the revocation\n"
           "threshold; critical work (by policy) may spend the rest, never past the limit.\n");
    play(engine, "acme/support", "answer_ticket", USD(12.5), "refund_order", USD(7), now_ms);
    play(engine, "acme/coding", "code_completion", USD(23), "deploy_fix", USD(20), now_ms);
    play(engine, "acme/analysis", "run_query", USD(95), "integrity_check", USD(60), now_ms);

    /* A day later (Taipei midnight has passed): spend resets, revocations lift. */
    event_budget_filter = "acme/support";
    printf("\nacme/support, one day later\n");
    action(engine, "acme/support", "answer_ticket", USD(12.5), USD(11), now_ms + 86400000);
    tg_engine_close(engine);
    return 0;
}
