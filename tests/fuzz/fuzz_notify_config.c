/*
 * fuzz_notify_config: the `notify:` section reader (src/notify/config.c) on
 * any bytes. Whatever parses must hold only checked values: sinks within the
 * maximum with a name, a kind and a URL or file that suit it, headers on one
 * line, bounds within their ranges; the filter and urgency lookups then run
 * on it. Whatever does not parse must fail with a message, and nothing leaks.
 */
#include <stdlib.h>
#include <string.h>

#include "notify/config.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sink(const tg__notify_sink *sink) {
    FUZZ_CHECK(sink->name[0] != '\0');
    FUZZ_CHECK(sink->kind >= TG__SINK_WEBHOOK && sink->kind <= TG__SINK_JSONL);
    if (sink->kind == TG__SINK_JSONL) {
        FUZZ_CHECK(sink->file[0] != '\0');
    } else {
        FUZZ_CHECK(strncmp(sink->url, "http", 4) == 0);
    }
    FUZZ_CHECK(sink->headers_count >= 0 && sink->headers_count <= TG__NOTIFY_HEADERS_MAX);
    for (int i = 0; i < sink->headers_count; i++) {
        FUZZ_CHECK(strpbrk(sink->headers[i], "\r\n") == NULL);
    }
    FUZZ_CHECK(sink->timeout_ms >= 1 && sink->concurrency >= 1 && sink->concurrency <= 64);
    FUZZ_CHECK(sink->filter.budget_globs_count <= TG__NOTIFY_GLOBS_MAX);
    FUZZ_CHECK(sink->filter.severity_min <= TG__SEVERITY_CRITICAL);
    FUZZ_CHECK(sink->filter.kinds_mask < (1u << TG__NOTIFY_KINDS_COUNT));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) {
        return 0;
    }
    tg__notify_config *config = NULL;
    tg_error err = {0};
    tg_status status = tg__notify_config_parse((const char *)data, size, &config, &err);
    if (status != TG_OK) {
        FUZZ_CHECK(config == NULL && err.message[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(config->sinks_count >= 0 && config->sinks_count <= TG__NOTIFY_SINKS_MAX);
    FUZZ_CHECK(config->urgency_count <= TG__NOTIFY_URGENCY_RULES_MAX);
    FUZZ_CHECK(config->retry.initial_ms >= 1 && config->retry.max_ms >= config->retry.initial_ms);
    FUZZ_CHECK(config->batch_events_max >= 1 && config->batch_events_max <= 1000);
    FUZZ_CHECK(config->denied_interval_ms >= 1 && config->poll_ms >= 10);
    for (int i = 0; i < config->sinks_count; i++) {
        check_sink(&config->sinks[i]);
        (void)tg__notify_filter_match(&config->sinks[i].filter, TG_EVENT_REVOKED, "team/a",
                                      TG__SEVERITY_WARNING);
    }
    tg__urgency_mode mode;
    int64_t within_ms = 0;
    tg__notify_urgency_of(config, "team/coding-agent", &mode, &within_ms);
    FUZZ_CHECK(within_ms >= 1);
    tg__notify_config_free(config);
    return 0;
}
