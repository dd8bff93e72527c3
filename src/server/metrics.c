/*
 * metrics: GET /metrics in the Prometheus text format, built from plain
 * counters the loop thread keeps (no locks: only that thread touches them) and
 * from the engine's own state read at scrape time (budgets, holds open).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "server/connections.h"
#include "server/daemon.h"
#include "api/events_stream.h"

#define METRICS_SIZE_MAX (8 * 1024 * 1024) /* text for about 20k budgets */

static const int64_t bounds_us[TG__LATENCY_BUCKETS - 1] = TG__LATENCY_BOUNDS_US;

void tg__histogram_observe(tg__histogram *histogram, int64_t us) {
    int bucket = 0;
    while (bucket < TG__LATENCY_BUCKETS - 1 && us > bounds_us[bucket]) {
        bucket++;
    }
    histogram->buckets[bucket]++;
    histogram->count++;
    histogram->sum_us += (uint64_t)(us > 0 ? us : 0);
}

typedef struct {
    char *text;
    size_t used;
    size_t size;
} text_buffer;

static void append(text_buffer *out, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void append(text_buffer *out, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int wrote = vsnprintf(out->text + out->used, out->size - out->used, format, args);
    va_end(args);
    if (wrote > 0 && (size_t)wrote < out->size - out->used) {
        out->used += (size_t)wrote;
    }
}

static void metric(text_buffer *out, const char *name, const char *type, const char *help) {
    append(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric of one series without labels: its HELP and TYPE lines, then its value
 * (counters of the daemon's own are uint64_t, the engine's figures int64_t). */
static void series_u64(text_buffer *out, const char *name, const char *type, const char *help,
                       uint64_t value) {
    metric(out, name, type, help);
    append(out, "%s %" PRIu64 "\n", name, value);
}

static void series_i64(text_buffer *out, const char *name, const char *type, const char *help,
                       int64_t value) {
    metric(out, name, type, help);
    append(out, "%s %" PRId64 "\n", name, value);
}

static void histogram(text_buffer *out, const char *name, const char *help,
                      const tg__histogram *h) {
    metric(out, name, "histogram", help);
    uint64_t cumulative = 0;
    for (int b = 0; b < TG__LATENCY_BUCKETS; b++) {
        cumulative += h->buckets[b];
        if (b < TG__LATENCY_BUCKETS - 1) {
            char seconds[32]; /* "0.00025", not "2.5e-04" */
            int length = snprintf(seconds, sizeof seconds, "%.6f", (double)bounds_us[b] / 1e6);
            while (length > 1 && seconds[length - 1] == '0' && seconds[length - 2] != '.') {
                seconds[--length] = '\0';
            }
            append(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, seconds, cumulative);
        } else {
            append(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
        }
    }
    append(out, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, (double)h->sum_us / 1e6, name,
           h->count);
}

/* Which budgets have series of their own: the top-level ones, those the config file
 * declares, and those metrics.budgets names. The rest are in their ancestors' totals
 * (spend is charged on every budget of a path), so a million per-user budgets make a
 * scrape of the few that a dashboard shows, not four million lines. */
typedef struct {
    const tg__config *config;
    const char **declared; /* the config's budget paths, sorted, for bsearch */
    size_t declared_count;
} series_filter;

static int text_compare(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool exported(void *user, const char *path) {
    const series_filter *filter = user;
    if (strchr(path, '/') == NULL) {
        return true;
    }
    if (filter->declared_count > 0 && bsearch(&path, filter->declared, filter->declared_count,
                                              sizeof *filter->declared, text_compare) != NULL) {
        return true;
    }
    for (int i = 0; i < filter->config->metrics_budgets_count; i++) {
        if (tg__glob_match(filter->config->metrics_budgets[i], path)) {
            return true;
        }
    }
    return false;
}

static void budget_lines(text_buffer *out, const char (*paths)[TG_PATH_SIZE_MAX],
                         const tg_budget_info *infos, size_t count) {
    static const char *const help[][2] = {
        {"tollgate_budget_spent_micros", "spend charged in the current window"},
        {"tollgate_budget_held_micros", "held by open holds"},
        {"tollgate_budget_limit_micros", "the cost limit (budgets with one)"},
        {"tollgate_budget_remaining_micros", "limit - spent - held, at least 0"},
    };
    /* Prometheus wants a metric's lines together: one walk of the budgets per metric. */
    for (int pass = 0; pass < 4; pass++) {
        metric(out, help[pass][0], "gauge", help[pass][1]);
        for (size_t i = 0; i < count; i++) {
            const tg_budget_info *info = &infos[i];
            int64_t value = pass == 0   ? info->spent_micros
                            : pass == 1 ? info->held_micros
                                        : info->spec.cost_limit_micros;
            if (pass == 3 && value != TG_NONE) {
                value = info->spec.cost_limit_micros - info->spent_micros - info->held_micros;
                value = value < 0 ? 0 : value;
            }
            if (value != TG_NONE) {
                append(out, "%s{budget=\"%s\"} %" PRId64 "\n", help[pass][0], paths[i], value);
            }
        }
    }
}

static void budgets(text_buffer *out, tg__daemon *daemon, int64_t now_ms) {
    const tg__config *config = daemon->config;
    size_t max = (size_t)config->metrics_budget_series_max;
    series_filter filter = {config, malloc(((size_t)config->budgets_count + 1) * sizeof(char *)),
                            0};
    char(*paths)[TG_PATH_SIZE_MAX] = malloc((max ? max : 1) * sizeof *paths);
    tg_budget_info *infos = malloc((max ? max : 1) * sizeof *infos);
    size_t count = 0, matched = 0;
    if (filter.declared != NULL && paths != NULL && infos != NULL) {
        for (int i = 0; i < config->budgets_count; i++) {
            filter.declared[filter.declared_count++] = config->budgets[i].path;
        }
        qsort(filter.declared, filter.declared_count, sizeof *filter.declared, text_compare);
        tg_budget_select(daemon->engine, exported, &filter, max, paths, &count, &matched, NULL);
    }
    size_t kept = 0;
    int64_t spent = 0, held = 0;
    for (size_t i = 0; i < count; i++) {
        if (tg_budget_get(daemon->engine, paths[i], now_ms, &infos[kept], NULL) != TG_OK) {
            continue;
        }
        if (strchr(paths[i], '/') == NULL) {
            spent += infos[kept].spent_micros;
            held += infos[kept].held_micros;
        }
        memmove(paths[kept], paths[i], sizeof paths[i]);
        kept++;
    }
    metric(out, "tollgate_budget_series_omitted", "gauge",
           "budgets that would have series of their own past metrics.budget_series_max");
    append(out, "tollgate_budget_series_omitted %zu\n", matched > count ? matched - count : 0);
    series_i64(out, "tollgate_spent_micros", "gauge",
               "spend in the current windows of the top-level budgets shown (their subtrees')",
               spent);
    series_i64(out, "tollgate_held_micros", "gauge", "held on the top-level budgets shown", held);
    budget_lines(out, (const char(*)[TG_PATH_SIZE_MAX])paths, infos, kept);
    free(filter.declared);
    free(paths);
    free(infos);
}

static void decisions(text_buffer *out, const tg__metrics *m) {
    metric(out, "tollgate_decisions_total", "counter",
           "holds and charges decided, by outcome and refusal reason");
    append(out, "tollgate_decisions_total{outcome=\"granted\"} %" PRIu64 "\n", m->granted);
    for (int r = 1; r < TG_REASON_COUNT; r++) {
        append(out, "tollgate_decisions_total{outcome=\"refused\",reason=\"%s\"} %" PRIu64 "\n",
               tg_reason_str((tg_reason)r), m->refused[r]);
    }
}

char *tg__metrics_text(tg__daemon *daemon, int64_t now_ms) {
    text_buffer out = {malloc(METRICS_SIZE_MAX), 0, METRICS_SIZE_MAX};
    if (out.text == NULL) {
        return strdup("");
    }
    out.text[0] = '\0';
    const tg__metrics *m = &daemon->metrics;
    decisions(&out, m);
    series_u64(&out, "tollgate_requests_total", "counter", "HTTP requests answered", m->requests);
    series_u64(&out, "tollgate_request_errors_total", "counter", "answers other than 200 and 402",
               m->errors);
    histogram(&out, "tollgate_request_seconds",
              "from a request read to its reply sent, group commit included", &m->latency);
    tg_engine_stats stats;
    tg_engine_stats_get(daemon->engine, &stats);
    series_i64(&out, "tollgate_holds_open", "gauge", "holds granted and not yet closed",
               stats.holds_open);
    series_i64(&out, "tollgate_waiters", "gauge", "reserves waiting for room (wait_ms)",
               tg_wait_count(daemon->engine));
    series_i64(&out, "tollgate_approvals_pending", "gauge", "refused reserves waiting for a person",
               tg_approval_pending_count(daemon->engine));
    metric(&out, "tollgate_waits_total", "counter", "waiting reserves decided, by outcome");
    append(&out, "tollgate_waits_total{outcome=\"granted\"} %" PRIu64 "\n", m->waits_granted);
    append(&out, "tollgate_waits_total{outcome=\"refused\"} %" PRIu64 "\n", m->waits_refused);
    append(&out, "tollgate_waits_total{outcome=\"abandoned\"} %" PRIu64 "\n", m->waits_abandoned);
    series_u64(&out, "tollgate_proxy_cost_reports_total", "counter",
               "proxied calls whose upstream reported what it billed (OpenRouter usage.cost)",
               m->cost_reports);
    series_u64(&out, "tollgate_proxy_cost_disagreements_total", "counter",
               "... where that differed from the proxy's own price by more than a micro",
               m->cost_disagreements);
    series_i64(&out, "tollgate_budgets", "gauge", "budgets in the tree", stats.budgets);
    series_u64(&out, "tollgate_store_commits_total", "counter", "group commits written",
               m->commits);
    series_u64(&out, "tollgate_store_commit_failures_total", "counter", "group commits refused",
               m->commit_failures);
    series_u64(&out, "tollgate_store_commit_replies_total", "counter",
               "replies that waited for a group commit", m->commit_replies);
    histogram(&out, "tollgate_store_commit_seconds",
              "one group commit on the writer thread: transaction and fsync", &m->commit_latency);
    series_i64(&out, "tollgate_store_pages_written_total", "counter",
               "pages (WAL frames) the store's commits wrote", stats.store_pages_written);
    series_i64(&out, "tollgate_store_pages_read_total", "counter",
               "pages the store's commits read from the file (page cache misses)",
               stats.store_pages_read);
    metric(&out, "tollgate_store_checkpoints_total", "counter",
           "WAL checkpoints, by where they ran (a thread of their own, or inside a commit)");
    append(&out, "tollgate_store_checkpoints_total{on=\"thread\"} %" PRId64 "\n",
           stats.store_checkpoints - stats.store_checkpoints_inline);
    append(&out, "tollgate_store_checkpoints_total{on=\"commit\"} %" PRId64 "\n",
           stats.store_checkpoints_inline);
    series_i64(
        &out, "tollgate_store_checkpoint_pages_inline_total", "counter",
        "pages the checkpoints inside commits copied (catch-ups of a few, or past the bound)",
        stats.store_checkpoint_pages_inline);
    series_i64(&out, "tollgate_store_wal_frames", "gauge", "pages in the WAL after the last commit",
               stats.store_wal_frames);
    series_i64(&out, "tollgate_store_wal_frames_max", "gauge",
               "the most pages the WAL held since start", stats.store_wal_frames_max);
    series_i64(&out, "tollgate_store_wal_restarts_total", "counter",
               "times the WAL started over, every page of it checkpointed",
               stats.store_wal_restarts);
    tg__conns_stats conns = {0, 0, 0, 0, 0};
    if (daemon->conns != NULL) {
        tg__conns_stats_get(daemon->conns, &conns);
    }
    series_i64(&out, "tollgate_connections_open", "gauge", "HTTP connections open, accept to close",
               conns.open);
    series_u64(&out, "tollgate_connections_refused_total", "counter",
               "connections answered 503 past limits.connections_max or out of descriptors",
               m->connections_refused + conns.refused);
    series_u64(&out, "tollgate_requests_malformed_total", "counter",
               "requests refused for their HTTP framing (a JSON 4xx/5xx, then closed)",
               conns.malformed);
    series_u64(&out, "tollgate_requests_timed_out_total", "counter",
               "requests past limits.header_timeout_s or body_timeout_s (408, then closed)",
               conns.timed_out);
    series_u64(&out, "tollgate_accept_backoffs_total", "counter",
               "times accepting paused for want of file descriptors", conns.accept_backoffs);
    series_i64(&out, "tollgate_event_streams_open", "gauge", "GET /v1/events/stream clients",
               tg__streams_count(daemon->streams));
    series_u64(&out, "tollgate_event_streams_cut_total", "counter",
               "event streams cut because their client stopped reading",
               tg__streams_cut_total(daemon->streams));
    budgets(&out, daemon, now_ms);
    return out.text;
}
