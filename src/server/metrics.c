/*
 * metrics: GET /metrics in the Prometheus text format, built from plain
 * counters the loop thread keeps (no locks: only that thread touches them).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/daemon.h"

#define METRICS_SIZE_MAX (4 * 1024 * 1024) /* text for about 20k budgets */

typedef struct {
    char *text;
    size_t used;
    size_t size;
} text_buffer;

static void append(text_buffer *out, const char *format, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void append(text_buffer *out, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int wrote = vsnprintf(out->text + out->used, out->size - out->used, format, args);
    va_end(args);
    if (wrote > 0 && (size_t)wrote < out->size - out->used) {
        out->used += (size_t)wrote;
    }
}

typedef struct {
    tg__daemon *daemon;
    text_buffer *out;
    int64_t now_ms;
} walk;

static bool one_budget(void *user, const char *path) {
    walk *state = user;
    tg_budget_info info;
    if (tg_budget_get(state->daemon->engine, path, state->now_ms, &info, NULL) == TG_OK) {
        append(state->out, "tollgate_budget_spent_micros{budget=\"%s\"} %" PRId64 "\n", path,
               info.spent_micros);
        append(state->out, "tollgate_budget_held_micros{budget=\"%s\"} %" PRId64 "\n", path,
               info.held_micros);
        if (info.spec.cost_limit_micros != TG_NONE) {
            append(state->out, "tollgate_budget_remaining_micros{budget=\"%s\"} %" PRId64 "\n",
                   path, info.spec.cost_limit_micros - info.spent_micros - info.held_micros);
        }
    }
    return state->out->used + 1024 < state->out->size;
}

char *tg__metrics_text(tg__daemon *daemon, int64_t now_ms) {
    text_buffer out = {malloc(METRICS_SIZE_MAX), 0, METRICS_SIZE_MAX};
    if (out.text == NULL) {
        return strdup("");
    }
    out.text[0] = '\0';
    const tg__metrics *m = &daemon->metrics;
    append(&out, "# TYPE tollgate_decisions_total counter\n");
    append(&out, "tollgate_decisions_total{outcome=\"granted\"} %" PRIu64 "\n", m->granted);
    for (int r = 1; r <= TG_REASON_TOKENS; r++) {
        append(&out, "tollgate_decisions_total{outcome=\"refused\",reason=\"%s\"} %" PRIu64 "\n",
               tg_reason_str((tg_reason)r), m->refused[r]);
    }
    append(&out, "# TYPE tollgate_requests_total counter\ntollgate_requests_total %" PRIu64 "\n",
           m->requests);
    append(&out, "tollgate_request_errors_total %" PRIu64 "\n", m->errors);
    static const char *const bounds[8] = {"0.00005", "0.0001", "0.00025", "0.0005",
                                          "0.001",   "0.005",  "0.025",   "+Inf"};
    append(&out, "# TYPE tollgate_request_seconds histogram\n");
    uint64_t cumulative = 0;
    for (int b = 0; b < 8; b++) {
        cumulative += m->latency_buckets[b];
        append(&out, "tollgate_request_seconds_bucket{le=\"%s\"} %" PRIu64 "\n", bounds[b],
               cumulative);
    }
    append(&out, "tollgate_request_seconds_sum %.6f\n", (double)m->latency_sum_us / 1e6);
    append(&out, "tollgate_request_seconds_count %" PRIu64 "\n", m->latency_count);
    append(&out, "# TYPE tollgate_store_commits_total counter\n");
    append(&out, "tollgate_store_commits_total %" PRIu64 "\n", m->commits);
    append(&out, "tollgate_store_commit_seconds_sum %.6f\n",
           (double)m->commit_latency_sum_us / 1e6);
    append(&out, "# TYPE tollgate_budget_spent_micros gauge\n");
    walk state = {daemon, &out, now_ms};
    tg_budget_list(daemon->engine, "", one_budget, &state, NULL);
    return out.text;
}
