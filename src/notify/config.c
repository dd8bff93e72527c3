/*
 * config: reads the `notify:` section of the daemon's YAML file (libfyaml) into
 * a tg__notify_config. It is its own reader, beside src/config/config.c, so the
 * notification subsystem can be started with one call from the same file. The
 * text is hand-edited and may be anything: every value is checked and a bad one
 * is an error naming the field; unknown keys are errors too, so a typo never
 * leaves a sink silently unfiltered or unsigned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "core/path.h"
#include "core/yaml_file.h"
#include "core/text_file.h"
#include "notify/config.h"
#include "notify/sink_types.h"

#define MILLISECONDS_MAX (INT64_C(365) * TG__NOTIFY_DAY_MS) /* any duration in the file */

void tg__notify_config_defaults(tg__notify_config *config) {
    memset(config, 0, sizeof *config);
    config->urgency_default = TG__URGENCY_IMMEDIATE;
    config->urgency_default_within_ms = 2000;
    config->denied_interval_ms = 10000;
    config->forecast_window_ms = 3600000;
    config->backfill_ms = 600000;
    config->batch_events_max = 100;
    config->poll_ms = 200;
    config->claim_idle_ms = 30000;
    config->retry = (tg__notify_backoff){500, 60000, TG__NOTIFY_DAY_MS};
}

static void sink_defaults(tg__notify_sink *sink) {
    memset(sink, 0, sizeof *sink);
    sink->timeout_ms = 5000;
    sink->concurrency = 4;
    sink->rotate_keep = 5;
    sink->filter.severity_min = TG__SEVERITY_INFO;
}

/* ---- scalars ------------------------------------------------------------------- */

static tg_status read_text(struct fy_node *node, char *out, size_t size, const char *what,
                           tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    if (text == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "notify config: '%s' must be text", what);
    }
    if (!tg__copy_name(out, size, text)) {
        return tg__fail(err, TG_ERR_INVALID, "notify config: '%s' is longer than %zu bytes", what,
                        size - 1);
    }
    return TG_OK;
}

/* A whole number in [min, max]. */
static tg_status read_int(struct fy_node *node, int64_t min, int64_t max, int64_t *out,
                          const char *what, tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    char *end = NULL;
    long long value = 0;
    if (text != NULL && text[0] >= '0' && text[0] <= '9') {
        value = strtoll(text, &end, 10);
    }
    if (end == NULL || *end != '\0' || value < min || value > max) {
        return tg__fail(err, TG_ERR_INVALID,
                        "notify config: '%s' must be a whole number from %lld to %lld, not '%s'",
                        what, (long long)min, (long long)max, text ? text : "(not text)");
    }
    *out = value;
    return TG_OK;
}

static tg_status read_bool(struct fy_node *node, bool *out, const char *what, tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    if (text != NULL && strcmp(text, "true") == 0) {
        *out = true;
    } else if (text != NULL && strcmp(text, "false") == 0) {
        *out = false;
    } else {
        return tg__fail(err, TG_ERR_INVALID, "notify config: '%s' must be true or false", what);
    }
    return TG_OK;
}

static tg_status read_mode(struct fy_node *node, tg__urgency_mode *out, const char *what,
                           tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    if (text != NULL && strcmp(text, "immediate") == 0) {
        *out = TG__URGENCY_IMMEDIATE;
    } else if (text != NULL && strcmp(text, "digest") == 0) {
        *out = TG__URGENCY_DIGEST;
    } else {
        return tg__fail(err, TG_ERR_INVALID, "notify config: '%s' must be immediate or digest",
                        what);
    }
    return TG_OK;
}

/* ---- one mapping at a time ----------------------------------------------------------- */

/* Calls `field` for each key of a mapping; stops at the first error. */
typedef tg_status (*field_fn)(void *target, const char *key, struct fy_node *value, tg_error *err);

static tg_status each_field(struct fy_node *node, const char *what, field_fn field, void *target,
                            tg_error *err) {
    if (node == NULL || !fy_node_is_mapping(node)) {
        return tg__fail(err, TG_ERR_INVALID, "notify config: '%s' must be a mapping", what);
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        if (entry.key == NULL) {
            return tg__fail(err, TG_ERR_INVALID, "notify config: keys of '%s' must be text", what);
        }
        tg_status status = field(target, entry.key, entry.value, err);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static tg_status unknown(const char *where, const char *key, tg_error *err) {
    return tg__fail(err, TG_ERR_INVALID, "notify config: unknown %s field '%s'", where, key);
}

/* A bounded list: `item` reads node into slot *count of the target's array, which counts
 * it; `what` names the list ("'sinks'"), `items` its entries in the error past `max`. */
typedef tg_status (*item_fn)(void *target, int index, struct fy_node *node, tg_error *err);

static tg_status each_item(struct fy_node *node, const char *what, const char *items, int max,
                           int *count, item_fn item, void *target, tg_error *err) {
    if (node == NULL || !fy_node_is_sequence(node)) {
        return tg__fail(err, TG_ERR_INVALID, "notify config: %s must be a list", what);
    }
    for (tg__yaml_item entry = {0}; tg__yaml_next_item(node, &entry);) {
        if (*count == max) {
            return tg__fail(err, TG_ERR_FULL, "notify config: more than %d %s", max, items);
        }
        tg_status status = item(target, *count, entry.node, err);
        if (status != TG_OK) {
            return status;
        }
        (*count)++;
    }
    return TG_OK;
}

/* ---- filter --------------------------------------------------------------------------- */

static tg_status read_kinds(struct fy_node *node, uint32_t *mask, tg_error *err) {
    if (node == NULL || !fy_node_is_sequence(node)) {
        return tg__fail(err, TG_ERR_INVALID, "notify config: filter 'kinds' must be a list");
    }
    for (tg__yaml_item item = {0}; tg__yaml_next_item(node, &item);) {
        const char *text = tg__yaml_scalar(item.node);
        tg_event_kind kind;
        if (text == NULL || tg__event_kind_parse(text, &kind) != TG_OK) {
            return tg__fail(err, TG_ERR_INVALID, "notify config: '%s' is not an event kind",
                            text ? text : "(not text)");
        }
        *mask |= UINT32_C(1) << kind;
    }
    return TG_OK;
}

static tg_status glob_item(void *target, int index, struct fy_node *node, tg_error *err) {
    tg__notify_filter *filter = target;
    return read_text(node, filter->budget_globs[index], TG_PATH_SIZE_MAX, "budgets", err);
}

static tg_status read_globs(struct fy_node *node, tg__notify_filter *filter, tg_error *err) {
    return each_item(node, "filter 'budgets'", "budget patterns", TG__NOTIFY_GLOBS_MAX,
                     &filter->budget_globs_count, glob_item, filter, err);
}

static tg_status filter_field(void *target, const char *key, struct fy_node *value, tg_error *err) {
    tg__notify_filter *filter = target;
    if (strcmp(key, "kinds") == 0) {
        return read_kinds(value, &filter->kinds_mask, err);
    }
    if (strcmp(key, "budgets") == 0) {
        return read_globs(value, filter, err);
    }
    if (strcmp(key, "severity") == 0) {
        const char *text = tg__yaml_scalar(value);
        if (text == NULL || tg__severity_parse(text, &filter->severity_min) != TG_OK) {
            return tg__fail(err, TG_ERR_INVALID,
                            "notify config: severity must be info, warning or critical");
        }
        return TG_OK;
    }
    return unknown("filter", key, err);
}

/* ---- sinks ------------------------------------------------------------------------------ */

static tg_status header_field(void *target, const char *key, struct fy_node *value, tg_error *err) {
    tg__notify_sink *sink = target;
    const char *text = tg__yaml_scalar(value);
    if (sink->headers_count == TG__NOTIFY_HEADERS_MAX) {
        return tg__fail(err, TG_ERR_FULL, "notify config: more than %d headers",
                        TG__NOTIFY_HEADERS_MAX);
    }
    if (text == NULL || key[0] == '\0' || strpbrk(key, ": \t\r\n") != NULL ||
        strpbrk(text, "\r\n") != NULL) {
        /* A newline would let the file smuggle another header or a body into the request. */
        return tg__fail(err, TG_ERR_INVALID,
                        "notify config: header '%s' needs a name without ':' or spaces and a "
                        "one-line value",
                        key);
    }
    char *line = sink->headers[sink->headers_count];
    int length = snprintf(line, TG__NOTIFY_HEADER_SIZE_MAX, "%s: %s", key, text);
    if (length < 0 || length >= TG__NOTIFY_HEADER_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "notify config: header '%s' is too long", key);
    }
    sink->headers_count++;
    return TG_OK;
}

static tg_status read_kind(struct fy_node *value, tg__notify_sink *sink, tg_error *err) {
    const tg__sink_type *type = tg__sink_type_find(tg__yaml_scalar(value));
    if (type == NULL) {
        char names[128] = "";
        for (int i = 0; TG__SINK_TYPES[i] != NULL; i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s",
                     i == 0                          ? ""
                     : TG__SINK_TYPES[i + 1] == NULL ? " or "
                                                     : ", ",
                     TG__SINK_TYPES[i]->name);
        }
        return tg__fail(err, TG_ERR_INVALID, "notify config: sink kind must be %s", names);
    }
    sink->kind = type->kind;
    sink->aggregate_denied = type->aggregate_denied;
    return TG_OK;
}

static tg_status read_secret_env(struct fy_node *value, tg__notify_sink *sink, tg_error *err) {
    const char *name = tg__yaml_scalar(value);
    const char *secret = name ? getenv(name) : NULL;
    if (secret == NULL || secret[0] == '\0') {
        return tg__fail(err, TG_ERR_INVALID,
                        "notify config: secret_env names '%s', which is not set in the environment",
                        name ? name : "(not text)");
    }
    if (!tg__copy_name(sink->secret, sizeof sink->secret, secret)) {
        return tg__fail(err, TG_ERR_INVALID, "notify config: the secret in %s is too long", name);
    }
    return TG_OK;
}

static tg_status sink_number(const char *key, struct fy_node *value, tg__notify_sink *sink,
                             bool *known, tg_error *err) {
    const struct {
        const char *name;
        int64_t *field;
        int64_t min, max;
    } numbers[] = {
        {"timeout_ms", &sink->timeout_ms, 1, 600000},
        {"concurrency", &sink->concurrency, 1, 64},
        {"rotate_bytes", &sink->rotate_bytes, 0, INT64_C(1) << 40},
        {"rotate_keep", &sink->rotate_keep, 1, 100},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        if (strcmp(key, numbers[i].name) == 0) {
            *known = true;
            return read_int(value, numbers[i].min, numbers[i].max, numbers[i].field, key, err);
        }
    }
    *known = false;
    return TG_OK;
}

static tg_status sink_field(void *target, const char *key, struct fy_node *value, tg_error *err) {
    tg__notify_sink *sink = target;
    bool known = false;
    tg_status status = sink_number(key, value, sink, &known, err);
    if (known || status != TG_OK) {
        return status;
    }
    if (strcmp(key, "name") == 0) {
        return read_text(value, sink->name, sizeof sink->name, "name", err);
    } else if (strcmp(key, "kind") == 0) {
        return read_kind(value, sink, err);
    } else if (strcmp(key, "url") == 0) {
        return read_text(value, sink->url, sizeof sink->url, "url", err);
    } else if (strcmp(key, "secret") == 0) {
        return read_text(value, sink->secret, sizeof sink->secret, "secret", err);
    } else if (strcmp(key, "secret_env") == 0) {
        return read_secret_env(value, sink, err);
    } else if (strcmp(key, "file") == 0) {
        return read_text(value, sink->file, sizeof sink->file, "file", err);
    } else if (strcmp(key, "aggregate_denied") == 0) {
        return read_bool(value, &sink->aggregate_denied, key, err);
    } else if (strcmp(key, "headers") == 0) {
        return each_field(value, "headers", header_field, sink, err);
    } else if (strcmp(key, "filter") == 0) {
        return each_field(value, "filter", filter_field, &sink->filter, err);
    }
    return unknown("sink", key, err);
}

/* What a sink needs besides its fields: a name, a URL or a file that suit its kind. */
static tg_status sink_check(const tg__notify_config *config, const tg__notify_sink *sink,
                            tg_error *err) {
    if (sink->name[0] == '\0' ||
        strspn(sink->name, "abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(sink->name)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "notify config: every sink needs a name of letters, digits, '.', '_', '-'");
    }
    for (int i = 0; i < config->sinks_count; i++) {
        if (strcmp(config->sinks[i].name, sink->name) == 0) {
            return tg__fail(err, TG_ERR_INVALID, "notify config: two sinks are named '%s'",
                            sink->name);
        }
    }
    return tg__sink_type_of(sink->kind)->check(sink, err);
}

static tg_status sink_item(void *target, int index, struct fy_node *node, tg_error *err) {
    tg__notify_config *config = target;
    tg__notify_sink *sink = &config->sinks[index];
    sink_defaults(sink);
    sink->kind = (tg__sink_kind)-1;
    tg_status status = each_field(node, "sinks", sink_field, sink, err);
    if (status == TG_OK && (int)sink->kind == -1) {
        status = tg__fail(err, TG_ERR_INVALID, "notify config: sink '%s' needs a kind", sink->name);
    }
    return status == TG_OK ? sink_check(config, sink, err) : status;
}

static tg_status read_sinks(struct fy_node *node, tg__notify_config *config, tg_error *err) {
    return each_item(node, "'sinks'", "sinks", TG__NOTIFY_SINKS_MAX, &config->sinks_count,
                     sink_item, config, err);
}

/* ---- urgency --------------------------------------------------------------------------- */

static tg_status rule_field(void *target, const char *key, struct fy_node *value, tg_error *err) {
    tg__notify_urgency_rule *rule = target;
    if (strcmp(key, "budget") == 0) {
        return read_text(value, rule->budget_glob, sizeof rule->budget_glob, "budget", err);
    } else if (strcmp(key, "mode") == 0) {
        return read_mode(value, &rule->mode, "mode", err);
    } else if (strcmp(key, "within_ms") == 0) {
        return read_int(value, 1, 3600000, &rule->within_ms, key, err);
    }
    return unknown("urgency rule", key, err);
}

static tg_status rule_item(void *target, int index, struct fy_node *node, tg_error *err) {
    tg__notify_urgency_rule *rule = &((tg__notify_config *)target)->urgency[index];
    *rule = (tg__notify_urgency_rule){"", TG__URGENCY_IMMEDIATE, TG_NONE};
    return each_field(node, "urgency rule", rule_field, rule, err);
}

static tg_status read_rules(struct fy_node *node, tg__notify_config *config, tg_error *err) {
    return each_item(node, "urgency 'budgets'", "urgency rules", TG__NOTIFY_URGENCY_RULES_MAX,
                     &config->urgency_count, rule_item, config, err);
}

static tg_status urgency_field(void *target, const char *key, struct fy_node *value,
                               tg_error *err) {
    tg__notify_config *config = target;
    if (strcmp(key, "default") == 0) {
        return read_mode(value, &config->urgency_default, "urgency default", err);
    } else if (strcmp(key, "within_ms") == 0) {
        return read_int(value, 1, 3600000, &config->urgency_default_within_ms, key, err);
    } else if (strcmp(key, "budgets") == 0) {
        return read_rules(value, config, err);
    }
    return unknown("urgency", key, err);
}

/* ---- the section ------------------------------------------------------------------------ */

static tg_status retry_field(void *target, const char *key, struct fy_node *value, tg_error *err) {
    tg__notify_backoff *retry = target;
    if (strcmp(key, "initial_ms") == 0) {
        return read_int(value, 1, 3600000, &retry->initial_ms, key, err);
    } else if (strcmp(key, "max_ms") == 0) {
        return read_int(value, 1, 3600000, &retry->max_ms, key, err);
    } else if (strcmp(key, "give_up_after_ms") == 0) {
        return read_int(value, 1, MILLISECONDS_MAX, &retry->give_up_after_ms, key, err);
    }
    return unknown("retry", key, err);
}

static tg_status notify_field(void *target, const char *key, struct fy_node *value, tg_error *err) {
    tg__notify_config *config = target;
    const struct {
        const char *name;
        int64_t *field;
        int64_t min, max;
    } numbers[] = {
        {"denied_interval_ms", &config->denied_interval_ms, 1, TG__NOTIFY_DAY_MS},
        {"forecast_window_ms", &config->forecast_window_ms, 0, 31 * TG__NOTIFY_DAY_MS},
        {"backfill_ms", &config->backfill_ms, 0, MILLISECONDS_MAX},
        {"batch_events_max", &config->batch_events_max, 1, 1000},
        {"poll_ms", &config->poll_ms, 10, 60000},
        {"claim_idle_ms", &config->claim_idle_ms, 100, TG__NOTIFY_DAY_MS},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        if (strcmp(key, numbers[i].name) == 0) {
            return read_int(value, numbers[i].min, numbers[i].max, numbers[i].field, key, err);
        }
    }
    if (strcmp(key, "sinks") == 0) {
        return read_sinks(value, config, err);
    } else if (strcmp(key, "urgency") == 0) {
        return each_field(value, "urgency", urgency_field, config, err);
    } else if (strcmp(key, "retry") == 0) {
        return each_field(value, "retry", retry_field, &config->retry, err);
    }
    return unknown("notify", key, err);
}

static tg_status read_document(struct fy_document *document, tg__notify_config *config,
                               tg_error *err) {
    struct fy_node *root = fy_document_root(document);
    if (root == NULL) {
        return TG_OK; /* an empty file: no sinks */
    }
    if (!fy_node_is_mapping(root)) {
        return tg__fail(err, TG_ERR_INVALID, "notify config: the file must hold a mapping");
    }
    struct fy_node *section = fy_node_mapping_lookup_by_string(root, "notify", 6);
    if (section == NULL) {
        return TG_OK;
    }
    tg_status status = each_field(section, "notify", notify_field, config, err);
    if (status == TG_OK && config->retry.max_ms < config->retry.initial_ms) {
        status = tg__fail(err, TG_ERR_INVALID,
                          "notify config: retry max_ms must be at least initial_ms");
    }
    /* On Redis a daemon refreshes what it holds at its reads, every poll_ms at the latest,
     * and must do so a few times within the claim time or other daemons take it over. */
    if (status == TG_OK && config->claim_idle_ms < 4 * config->poll_ms) {
        status = tg__fail(err, TG_ERR_INVALID,
                          "notify config: claim_idle_ms must be at least 4 times poll_ms");
    }
    return status;
}

/* libfyaml reports to stderr by default; here its errors are kept to name the line. */
static void quiet(struct fy_diag *diag, void *user, const char *buf, size_t len) {
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

static tg_status parse_error(struct fy_diag *diag, const char *source, tg_error *err) {
    void *iter = NULL;
    struct fy_diag_error *first = diag ? fy_diag_errors_iterate(diag, &iter) : NULL;
    if (first != NULL && first->msg != NULL) {
        return tg__fail(err, TG_ERR_INVALID,
                        "notify config: cannot read or parse YAML %s: line %d, column %d: %s",
                        source, first->line, first->column, first->msg);
    }
    return tg__fail(err, TG_ERR_INVALID, "notify config: cannot read or parse YAML %s", source);
}

static tg_status finish(struct fy_document *document, tg__notify_config **out, tg_error *err) {
    tg__notify_config *config = malloc(sizeof *config);
    if (config == NULL) {
        fy_document_destroy(document);
        return tg__fail(err, TG_ERR_NOMEM, "notify config: out of memory");
    }
    tg__notify_config_defaults(config);
    tg_status status = document ? read_document(document, config, err) : TG_OK;
    fy_document_destroy(document);
    if (status != TG_OK) {
        free(config);
        return status;
    }
    *out = config;
    return TG_OK;
}

/* Parses text with a diagnostic object that collects errors instead of printing them. */
static tg_status build(const char *text, size_t size, const char *source, tg__notify_config **out,
                       tg_error *err) {
    size_t valid = tg__utf8_valid_prefix((const unsigned char *)text, size);
    if (valid < size) {
        return tg__fail(err, TG_ERR_INVALID,
                        "notify config: %s is not UTF-8 text (byte %zu); YAML must be", source,
                        valid);
    }
    struct fy_diag_cfg diag_cfg;
    fy_diag_cfg_default(&diag_cfg);
    diag_cfg.fp = NULL;
    diag_cfg.output_fn = quiet;
    struct fy_diag *diag = fy_diag_create(&diag_cfg);
    if (diag == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "notify config: out of memory");
    }
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg parse = {.flags = FYPCF_QUIET, .diag = diag};
    struct fy_document *document = NULL;
    bool empty = size == 0; /* libfyaml refuses an empty string: no sinks */
    if (!empty) {
        document = fy_document_build_from_string(&parse, text, size);
    }
    tg_status status =
        document != NULL || empty ? finish(document, out, err) : parse_error(diag, source, err);
    fy_diag_destroy(diag);
    return status;
}

tg_status tg__notify_config_read(struct fy_document *document, tg__notify_config **out,
                                 tg_error *err) {
    tg__notify_config *config = malloc(sizeof *config);
    if (config == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "notify config: out of memory");
    }
    tg__notify_config_defaults(config);
    tg_status status = read_document(document, config, err);
    if (status != TG_OK) {
        free(config);
        return status;
    }
    *out = config;
    return TG_OK;
}

tg_status tg__notify_config_parse(const char *text, size_t size, tg__notify_config **out,
                                  tg_error *err) {
    return build(text, size, "text", out, err);
}

tg_status tg__notify_config_load(const char *file, tg__notify_config **out, tg_error *err) {
    char *text = NULL;
    size_t size = 0;
    tg_status status = tg__text_file_read(file, "notify config", &text, &size, err);
    if (status == TG_OK) {
        status = build(text, size, file, out, err); /* the document is destroyed before return */
        free(text);
    }
    return status;
}

void tg__notify_config_free(tg__notify_config *config) {
    free(config);
}
