/*
 * config: reads the daemon's YAML file (libfyaml) into a tg__config. Unknown
 * keys are errors, so a typo in a limit never silently leaves a budget
 * unlimited; every error names the file, the line and column of the value, and
 * what was expected there. A budget path declared twice, or one key hash given
 * two different roles or scopes, is an error too: the file would say two things.
 * Applying the result to the engine is config_apply.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "core/hex.h"
#include "core/path.h"
#include "config/config_file.h"
#include "core/yaml_file.h"
#include "config/config.h"

/* Where errors are told: the file's name, and the error to fill. */
typedef struct {
    const char *file;
    tg_error *err;
} reader;

static tg_status fail_at(const reader *r, struct fy_node *node, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* "config: FILE:LINE:COLUMN: sentence", or without the position when the node has none. */
static tg_status fail_at(const reader *r, struct fy_node *node, const char *format, ...) {
    if (r->err != NULL) {
        char sentence[TG_ERROR_MESSAGE_SIZE];
        va_list args;
        va_start(args, format);
        vsnprintf(sentence, sizeof sentence, format, args);
        va_end(args);
        int line = 0, column = 0;
        if (tg__yaml_node_position(node, &line, &column)) {
            tg__fail(r->err, TG_ERR_INVALID, "config: %s:%d:%d: %s", r->file, line, column,
                     sentence);
        } else {
            tg__fail(r->err, TG_ERR_INVALID, "config: %s: %s", r->file, sentence);
        }
    }
    return TG_ERR_INVALID;
}

static int line_of(struct fy_node *node) {
    int line = 0, column = 0;
    tg__yaml_node_position(node, &line, &column);
    return line;
}

void tg__config_defaults(tg__config *config) {
    memset(config, 0, sizeof *config);
    snprintf(config->address, sizeof config->address, "127.0.0.1");
    config->port = 8420;
    snprintf(config->store, sizeof config->store, "sqlite");
    snprintf(config->store_path, sizeof config->store_path, "tollgate.db");
    config->durability = TG_DURABILITY_STRICT;
    config->sync_interval_ms = 50;
    config->store_timeout_ms = 500;
    config->store_wait_replicas = 0;
    config->store_wait_timeout_ms = 100;
    config->holds_max = 1000000;
    config->budgets_max = 100000;
    config->idempotency_max = 1000000;
    config->default_hold_ttl_ms = 600000;
    config->max_hold_ttl_ms = 86400000;
    config->header_size_max_bytes = 16384;
    config->body_size_max_bytes = 1048576;
    config->request_timeout_s = 10;
    config->header_timeout_s = 10;
    config->body_timeout_s = 30;
    config->connections_max = 4096;
    config->event_streams_max = 64;
    config->event_stream_buffer_max_bytes = 1 << 20;
    config->metrics_budget_series_max = TG__METRICS_SERIES_DEFAULT;
    config->event_stream_keepalive_ms = 15000;
    config->default_class = TG_CLASS_NORMAL;
}

/* ---- scalars ---------------------------------------------------------------------- */

/* "unknown SECTION field 'KEY': expected ...", at the key. */
static tg_status unknown_field(const reader *r, struct fy_node_pair *pair, const char *section,
                               const char *expected) {
    const char *key = tg__yaml_scalar(fy_node_pair_key(pair));
    return fail_at(r, fy_node_pair_key(pair), "unknown %s field '%.40s': expected %s", section,
                   key != NULL ? key : "?", expected);
}

static tg_status copy_text(const reader *r, struct fy_node *node, char *out, size_t size,
                           const char *what) {
    const char *text = tg__yaml_scalar(node);
    if (text == NULL || strlen(text) >= size) {
        return fail_at(r, node, "'%s' must be text of at most %zu bytes", what, size - 1);
    }
    memcpy(out, text, strlen(text) + 1);
    return TG_OK;
}

/* A whole number in min..max (strtoll's clamping at 2^63 is refused, not used). */
static tg_status read_int(const reader *r, struct fy_node *node, int64_t *out, const char *what,
                          int64_t min, int64_t max) {
    const char *text = tg__yaml_scalar(node);
    char *end = NULL;
    errno = 0;
    long long value =
        text != NULL && text[0] >= '0' && text[0] <= '9' ? strtoll(text, &end, 10) : -1;
    if (value < 0 || *end != '\0' || errno == ERANGE || value < min || value > max) {
        return fail_at(r, node, "'%s' must be a whole number from %lld to %lld, not '%.40s'", what,
                       (long long)min, (long long)max, text != NULL ? text : "(not text)");
    }
    *out = value;
    return TG_OK;
}

/* An amount ("480.00"), a percentage ("96%") or "fraction 0.96". */
static tg_status read_level(const reader *r, struct fy_node *node, tg_level *out,
                            const char *what) {
    const char *text = tg__yaml_scalar(node);
    size_t length = text != NULL ? strlen(text) : 0;
    if (length > 0 && length < 32 && text[length - 1] == '%') {
        char number[32];
        memcpy(number, text, length - 1);
        number[length - 1] = '\0';
        int64_t percent_micros = 0;
        if (tg_money_parse(number, &percent_micros) != TG_OK || percent_micros > 100000000) {
            return fail_at(r, node, "'%s' must be a percentage from 0%% to 100%%, not '%s'", what,
                           text);
        }
        *out = (tg_level){TG_NONE, percent_micros / 100};
        return TG_OK;
    }
    if (text != NULL && strncmp(text, "fraction ", 9) == 0) {
        out->micros = TG_NONE;
        if (tg_fraction_parse(text + 9, &out->ppm) != TG_OK) {
            return fail_at(r, node, "'%s' must be a fraction from 0 to 1 like \"fraction 0.96\"",
                           what);
        }
        return TG_OK;
    }
    out->ppm = TG_NONE;
    if (text == NULL || tg_money_parse(text, &out->micros) != TG_OK) {
        return fail_at(r, node,
                       "'%s' must be an amount like \"480.00\" or a percentage like \"96%%\", "
                       "not '%.40s'",
                       what, text != NULL ? text : "(not text)");
    }
    return TG_OK;
}

/* ---- budgets ---------------------------------------------------------------------- */

static tg_status read_alerts(const reader *r, struct fy_node *node, tg_budget_spec *spec) {
    if (!fy_node_is_sequence(node)) {
        return fail_at(r, node, "'alerts' must be a list of fractions like [\"0.5\", \"0.8\"]");
    }
    for (tg__yaml_item alert = {0}; tg__yaml_next_item(node, &alert);) {
        const char *text = tg__yaml_scalar(alert.node);
        if (spec->alerts_count >= TG_ALERTS_MAX || text == NULL ||
            tg_fraction_parse(text, &spec->alerts_ppm[spec->alerts_count]) != TG_OK) {
            return fail_at(r, alert.node,
                           "'alerts' takes at most %d fractions from 0 to 1 like \"0.8\"",
                           TG_ALERTS_MAX);
        }
        spec->alerts_count++;
    }
    return TG_OK;
}

static tg_status read_ceilings(const reader *r, struct fy_node *node, tg_budget_spec *spec) {
    if (!fy_node_is_mapping(node)) {
        return fail_at(r, node, "'ceilings' must be a mapping like {high: \"1900.00\"}");
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        tg_class cls;
        const char *name = entry.key;
        if (name == NULL || tg_class_parse(name, &cls) != TG_OK || cls >= TG_CLASS_AUTO) {
            return fail_at(r, entry.key_node,
                           "'%.40s' is not an impact class: expected low, normal, high or "
                           "critical",
                           name != NULL ? name : "?");
        }
        tg_status status = read_level(r, entry.value, &spec->class_ceiling[cls], name);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static tg_status read_template(const reader *r, struct fy_node *node, tg__budget_decl *out);

static tg_status read_budget_field(const reader *r, const char *key, struct fy_node *value,
                                   tg__budget_decl *out) {
    const char *text = tg__yaml_scalar(value);
    tg_budget_spec *spec = &out->spec;
    if (strcmp(key, "path") == 0) {
        return copy_text(r, value, out->path, sizeof out->path, "path");
    } else if (strcmp(key, "limit") == 0) {
        if (text == NULL || tg_money_parse(text, &spec->cost_limit_micros) != TG_OK) {
            return fail_at(r, value, "'limit' must be an amount like \"500.00\", not '%.40s'",
                           text != NULL ? text : "(not text)");
        }
        return TG_OK;
    } else if (strcmp(key, "calls") == 0) {
        return read_int(r, value, &spec->calls_limit, "calls", 0, TG_LIMIT_MAX);
    } else if (strcmp(key, "tokens") == 0) {
        return read_int(r, value, &spec->tokens_limit, "tokens", 0, TG_LIMIT_MAX);
    } else if (strcmp(key, "window") == 0) {
        if (text == NULL || tg_window_parse(text, &spec->window) != TG_OK) {
            return fail_at(r, value,
                           "'window' must be lifetime, hour, day, week or month, not '%.40s'",
                           text != NULL ? text : "(not text)");
        }
        return TG_OK;
    } else if (strcmp(key, "timezone") == 0) {
        return copy_text(r, value, spec->timezone, sizeof spec->timezone, "timezone");
    } else if (strcmp(key, "revoke_at") == 0) {
        return read_level(r, value, &spec->revoke_at, "revoke_at");
    } else if (strcmp(key, "above_hold") == 0) {
        if (text == NULL || tg_above_hold_parse(text, &spec->above_hold) != TG_OK) {
            return fail_at(r, value, "'above_hold' must be charge or cap, not '%.40s'",
                           text != NULL ? text : "(not text)");
        }
        return TG_OK;
    } else if (strcmp(key, "alerts") == 0) {
        return read_alerts(r, value, spec);
    } else if (strcmp(key, "ceilings") == 0) {
        return read_ceilings(r, value, spec);
    } else if (strcmp(key, "children_max") == 0 && spec == &out->spec) {
        return read_int(r, value, &out->children_max, "children_max", 1, TG_LIMIT_MAX);
    } else if (strcmp(key, "template") == 0 && spec == &out->spec) {
        return read_template(r, value, out);
    }
    return TG_ERR_NOT_FOUND;
}

/* `template:` a mapping of the spec fields a budget takes (no path, no nested template). */
static tg_status read_template(const reader *r, struct fy_node *node, tg__budget_decl *out) {
    if (!fy_node_is_mapping(node)) {
        return fail_at(r, node, "'template' must be a mapping like {limit: \"5.00\", window: day}");
    }
    tg__budget_decl inner;
    memset(&inner, 0, sizeof inner);
    tg_budget_spec_init(&inner.spec);
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        bool allowed = entry.key != NULL && strcmp(entry.key, "path") != 0 &&
                       strcmp(entry.key, "template") != 0 && strcmp(entry.key, "children_max") != 0;
        tg_status status =
            allowed ? read_budget_field(r, entry.key, entry.value, &inner) : TG_ERR_NOT_FOUND;
        if (status == TG_ERR_NOT_FOUND) {
            return unknown_field(r, entry.pair, "template",
                                 "limit, calls, tokens, window, timezone, revoke_at, "
                                 "above_hold, alerts or ceilings");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    out->has_template = true;
    out->template_spec = inner.spec;
    return TG_OK;
}

static tg_status read_budget(const reader *r, struct fy_node *node, tg__budget_decl *out) {
    tg_budget_spec_init(&out->spec);
    out->path[0] = '\0';
    out->line = line_of(node);
    out->has_template = false;
    out->children_max = TG_NONE;
    if (!fy_node_is_mapping(node)) {
        return fail_at(r, node, "each budget must be a mapping like {path: team, limit: \"100\"}");
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        tg_status status = entry.key != NULL ? read_budget_field(r, entry.key, entry.value, out)
                                             : TG_ERR_NOT_FOUND;
        if (status == TG_ERR_NOT_FOUND) {
            return unknown_field(r, entry.pair, "budget",
                                 "path, limit, calls, tokens, window, timezone, revoke_at, "
                                 "above_hold, alerts, ceilings, template or children_max");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    tg_error why = {0};
    const char *reserved = NULL;
    if (out->path[0] == '\0') {
        return fail_at(r, node, "every budget needs a path (like team/support-agent)");
    }
    if (tg__path_check(out->path, &why) != TG_OK) {
        return fail_at(r, node, "%s", why.message);
    }
    if (tg__path_reserved(out->path, &reserved)) {
        return fail_at(r, node, "budget '%s': '%s' is reserved for /v1/budgets/PATH/ACTION routes",
                       out->path, reserved);
    }
    return TG_OK;
}

/* ---- keys -------------------------------------------------------------------------- */

static tg_status read_key_field(const reader *r, const char *key, struct fy_node *value,
                                tg__key *out, bool *hashed) {
    const char *text = tg__yaml_scalar(value);
    if (text == NULL) {
        return fail_at(r, value, "key field '%.40s' must be text", key);
    }
    tg_error why = {0};
    if (strcmp(key, "name") == 0) {
        return copy_text(r, value, out->name, sizeof out->name, "name");
    } else if (strcmp(key, "sha256") == 0) {
        *hashed = tg__hex_decode(text, out->sha256, sizeof out->sha256);
        return *hashed ? TG_OK
                       : fail_at(r, value,
                                 "'sha256' must be 64 hex digits (tollgate keys create "
                                 "--print-yaml prints them)");
    } else if (strcmp(key, "scope") == 0) {
        if (text[0] != '\0' && tg__path_check(text, &why) != TG_OK) {
            return fail_at(r, value, "'scope' must be a budget path: %s", why.message);
        }
        return copy_text(r, value, out->scope, sizeof out->scope, "scope");
    } else if (strcmp(key, "role") == 0) {
        if (!tg__role_parse(text, &out->role)) {
            return fail_at(r, value, "role '%.40s' is not admin, agent, read or metrics", text);
        }
        return TG_OK;
    } else if (strcmp(key, "class_max") == 0) {
        if (tg_class_parse(text, &out->class_max) != TG_OK || out->class_max == TG_CLASS_AUTO) {
            return fail_at(r, value, "'class_max' must be low, normal, high or critical");
        }
        return TG_OK;
    }
    return TG_ERR_NOT_FOUND;
}

static tg_status read_key(const reader *r, struct fy_node *node, tg__key *out) {
    memset(out, 0, sizeof *out);
    out->role = TG__ROLE_READ;
    out->class_max = TG_CLASS_AUTO; /* the role's default, set below */
    out->source = TG__KEY_FROM_CONFIG;
    out->line = line_of(node);
    if (!fy_node_is_mapping(node)) {
        return fail_at(r, node, "each key must be a mapping like {name: bot, role: agent, ...}");
    }
    bool hashed = false;
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        tg_status status = entry.key != NULL
                               ? read_key_field(r, entry.key, entry.value, out, &hashed)
                               : TG_ERR_NOT_FOUND;
        if (status == TG_ERR_NOT_FOUND) {
            return unknown_field(r, entry.pair, "key", "name, role, scope, class_max or sha256");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    if (!hashed) {
        return fail_at(r, node, "key '%s' needs sha256: 64 hex digits (tollgate keys create)",
                       out->name);
    }
    if (out->class_max == TG_CLASS_AUTO) {
        out->class_max = tg__role_class_max(out->role);
    }
    return TG_OK;
}

/* ---- policy ------------------------------------------------------------------------ */

static tg_status read_rule(const reader *r, struct fy_node *node, tg__rule_decl *out) {
    memset(out, 0, sizeof *out);
    out->cls = TG_CLASS_NORMAL;
    if (!fy_node_is_mapping(node)) {
        return fail_at(r, node,
                       "each rule must be a mapping like {tool: \"refund_*\", class: "
                       "critical}");
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        tg_status status = TG_OK;
        if (tg__yaml_key_is(&entry, "tool")) {
            status = copy_text(r, entry.value, out->tool, sizeof out->tool, "tool");
        } else if (tg__yaml_key_is(&entry, "model")) {
            status = copy_text(r, entry.value, out->model, sizeof out->model, "model");
        } else if (tg__yaml_key_is(&entry, "budget")) {
            status = copy_text(r, entry.value, out->budget, sizeof out->budget, "budget");
        } else if (tg__yaml_key_is(&entry, "class")) {
            const char *text = tg__yaml_scalar(entry.value);
            if (text == NULL || tg_class_parse(text, &out->cls) != TG_OK ||
                out->cls == TG_CLASS_AUTO) {
                status =
                    fail_at(r, entry.value, "rule class must be low, normal, high or critical");
            }
        } else {
            status = unknown_field(r, entry.pair, "rule", "tool, model, budget or class");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* ---- lists and sections ----------------------------------------------------------------- */

typedef enum { LIST_BUDGETS, LIST_KEYS, LIST_RULES } list_kind;

static tg_status read_item(const reader *r, struct fy_node *item, tg__config *config,
                           list_kind kind) {
    static const int maxima[] = {TG__BUDGETS_MAX, TG__KEYS_MAX, TG__RULES_MAX};
    static const char *const names[] = {"budgets", "keys", "rules"};
    int *count = kind == LIST_BUDGETS ? &config->budgets_count
                 : kind == LIST_KEYS  ? &config->keys_count
                                      : &config->rules_count;
    if (*count >= maxima[kind]) {
        fail_at(r, item, "more than %d %s", maxima[kind], names[kind]);
        r->err->status = TG_ERR_FULL;
        return TG_ERR_FULL;
    }
    int index = (*count)++;
    return kind == LIST_BUDGETS ? read_budget(r, item, &config->budgets[index])
           : kind == LIST_KEYS  ? read_key(r, item, &config->keys[index])
                                : read_rule(r, item, &config->rules[index]);
}

static tg_status read_list(const reader *r, struct fy_node *node, tg__config *config,
                           list_kind kind) {
    static const char *const names[] = {"budgets", "keys", "rules"};
    const char *empty = tg__yaml_scalar(node);
    if (node == NULL || (empty != NULL && (empty[0] == '\0' || strcmp(empty, "null") == 0 ||
                                           strcmp(empty, "~") == 0))) {
        return TG_OK; /* `keys:` with its last entry removed is an empty list */
    }
    if (!fy_node_is_sequence(node)) {
        return fail_at(r, node, "'%s' must be a list (entries starting with '- ')", names[kind]);
    }
    for (tg__yaml_item item = {0}; tg__yaml_next_item(node, &item);) {
        tg_status status = read_item(r, item.node, config, kind);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* Every limit: its name, its field, and its range (a value outside is a mistake, or would
 * let one client take the daemon). */
typedef struct {
    const char *name;
    int64_t *field;
    int64_t min, max;
} limit_field;

static size_t limit_fields(tg__config *config, limit_field *out) {
    const limit_field fields[] = {
        /* The engine's own ranges (engine.c, options_check), told here with a line. */
        {"holds_max", &config->holds_max, 1, INT32_MAX / 2},
        {"budgets_max", &config->budgets_max, 1, INT32_MAX / 2},
        {"idempotency_max", &config->idempotency_max, 1, INT32_MAX / 2},
        {"default_hold_ttl_ms", &config->default_hold_ttl_ms, 1, INT64_C(365) * 86400000},
        {"max_hold_ttl_ms", &config->max_hold_ttl_ms, 1, INT64_C(365) * 86400000},
        {"header_size_max_bytes", &config->header_size_max_bytes, 1024, 1 << 20},
        {"body_size_max_bytes", &config->body_size_max_bytes, 1024, 1 << 30},
        {"request_timeout_s", &config->request_timeout_s, 1, 3600},
        {"header_timeout_s", &config->header_timeout_s, 1, 3600},
        {"body_timeout_s", &config->body_timeout_s, 1, 3600},
        {"connections_max", &config->connections_max, 1, TG__CONNECTIONS_MAX},
        {"event_streams_max", &config->event_streams_max, 1, 100000},
        {"event_stream_buffer_max_bytes", &config->event_stream_buffer_max_bytes, 64 * 1024,
         1 << 30},
        {"event_stream_keepalive_ms", &config->event_stream_keepalive_ms, 100, 3600 * 1000},
        {"sync_interval_ms", &config->sync_interval_ms, 1, 60000},
    };
    memcpy(out, fields, sizeof fields);
    return sizeof fields / sizeof fields[0];
}

#define LIMIT_FIELDS_MAX 32

static tg_status read_limits(const reader *r, struct fy_node *node, tg__config *config) {
    limit_field fields[LIMIT_FIELDS_MAX];
    size_t count = limit_fields(config, fields);
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        size_t i = 0;
        while (entry.key != NULL && i < count && strcmp(entry.key, fields[i].name) != 0) {
            i++;
        }
        if (entry.key == NULL || i == count) {
            return fail_at(r, entry.key_node,
                           "unknown limit '%.40s' (docs/api.md, \"Limits\", lists them)",
                           entry.key != NULL ? entry.key : "?");
        }
        char what[64];
        snprintf(what, sizeof what, "limits.%s", entry.key);
        tg_status status =
            read_int(r, entry.value, fields[i].field, what, fields[i].min, fields[i].max);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* store.tls: {ca_file, cert_file, key_file, server_name}, for a rediss:// url. */
static tg_status read_store_tls(const reader *r, struct fy_node *node, tg__config *config) {
    config->store_tls.given = true;
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        tg_status status;
        if (tg__yaml_key_is(&entry, "ca_file")) {
            status = copy_text(r, entry.value, config->store_tls.ca_file,
                               sizeof config->store_tls.ca_file, "store.tls.ca_file");
        } else if (tg__yaml_key_is(&entry, "cert_file")) {
            status = copy_text(r, entry.value, config->store_tls.cert_file,
                               sizeof config->store_tls.cert_file, "store.tls.cert_file");
        } else if (tg__yaml_key_is(&entry, "key_file")) {
            status = copy_text(r, entry.value, config->store_tls.key_file,
                               sizeof config->store_tls.key_file, "store.tls.key_file");
        } else if (tg__yaml_key_is(&entry, "server_name")) {
            status = copy_text(r, entry.value, config->store_tls.server_name,
                               sizeof config->store_tls.server_name, "store.tls.server_name");
        } else {
            status = unknown_field(r, entry.pair, "store.tls",
                                   "ca_file, cert_file, key_file or server_name");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    if ((config->store_tls.cert_file[0] == '\0') != (config->store_tls.key_file[0] == '\0')) {
        return fail_at(r, node, "store.tls: cert_file and key_file go together");
    }
    return TG_OK;
}

static tg_status read_store(const reader *r, struct fy_node *node, tg__config *config) {
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        const char *text = tg__yaml_scalar(entry.value);
        tg_status status = TG_OK;
        if (tg__yaml_key_is(&entry, "kind")) {
            status = copy_text(r, entry.value, config->store, sizeof config->store, "store.kind");
            if (status == TG_OK && strcmp(text, "sqlite") != 0 && strcmp(text, "memory") != 0 &&
                strcmp(text, "redis") != 0) {
                status = fail_at(r, entry.value,
                                 "store.kind must be sqlite, memory or redis, not '%.40s'", text);
            }
        } else if (tg__yaml_key_is(&entry, "url")) {
            status =
                copy_text(r, entry.value, config->store_url, sizeof config->store_url, "store.url");
            tg_error url_err = {0};
            if (status == TG_OK &&
                tg__redis_url_parse(config->store_url, &config->redis, &url_err) != TG_OK) {
                status = fail_at(r, entry.value, "%s", url_err.message);
            }
        } else if (tg__yaml_key_is(&entry, "tls")) {
            status = read_store_tls(r, entry.value, config);
        } else if (tg__yaml_key_is(&entry, "cluster")) {
            if (text == NULL || (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)) {
                status = fail_at(r, entry.value, "store.cluster must be true or false");
            }
            config->store_cluster = status == TG_OK && strcmp(text, "true") == 0;
        } else if (tg__yaml_key_is(&entry, "wait_replicas")) {
            status = read_int(r, entry.value, &config->store_wait_replicas, "store.wait_replicas",
                              0, TG__CONFIG_WAIT_REPLICAS_MAX);
        } else if (tg__yaml_key_is(&entry, "wait_timeout_ms")) {
            status = read_int(r, entry.value, &config->store_wait_timeout_ms,
                              "store.wait_timeout_ms", 1, 60000);
        } else if (tg__yaml_key_is(&entry, "timeout_ms")) {
            status =
                read_int(r, entry.value, &config->store_timeout_ms, "store.timeout_ms", 1, 60000);
        } else if (tg__yaml_key_is(&entry, "path")) {
            status = copy_text(r, entry.value, config->store_path, sizeof config->store_path,
                               "store.path");
        } else if (tg__yaml_key_is(&entry, "durability")) {
            if (text != NULL && strcmp(text, "strict") == 0) {
                config->durability = TG_DURABILITY_STRICT;
            } else if (text != NULL && strcmp(text, "relaxed") == 0) {
                config->durability = TG_DURABILITY_RELAXED;
            } else {
                status = fail_at(r, entry.value, "store.durability must be strict or relaxed");
            }
        } else {
            status = unknown_field(r, entry.pair, "store",
                                   "kind, path, durability, url, tls, cluster, timeout_ms, "
                                   "wait_replicas or wait_timeout_ms");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    /* A url names a Redis server: on another kind it would be ignored without a word. */
    if (strcmp(config->store, "redis") == 0 && config->store_url[0] == '\0') {
        return fail_at(
            r, node,
            "store.kind redis needs store.url: redis://[[user]:password@]host[:port][/db] or "
            "redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master");
    }
    if (strcmp(config->store, "redis") != 0 && config->store_url[0] != '\0') {
        return fail_at(r, node, "store.url is for store.kind redis only");
    }
    /* TLS settings for a url in clear would be ignored without a word. */
    if (config->store_tls.given && !config->redis.tls) {
        return fail_at(r, node, "store.tls is for a rediss:// url (TLS); store.url is not one");
    }
    /* One TLS bridge goes to one server: a cluster's nodes are found at run time. */
    if (config->store_cluster && config->redis.tls) {
        return fail_at(r, node, "store.cluster with rediss:// (TLS) is not supported");
    }
    /* A cluster fails over by itself; sentinels watch a single primary. */
    if (config->store_cluster && config->redis.sentinels.count > 0) {
        return fail_at(r, node,
                       "store.cluster is for a redis:// seed, not redis-sentinel:// (a Redis "
                       "Cluster fails over by itself)");
    }
    /* A cluster has database 0 only: SELECT is refused by every node. */
    if (config->store_cluster && (strcmp(config->store, "redis") != 0 || config->redis.db != 0)) {
        return fail_at(r, node,
                       "store.cluster is for store.kind redis with database 0 (a Redis Cluster "
                       "has no other)");
    }
    /* WAIT blocks the connection until it answers: past timeout_ms the call would be
     * dropped as unanswered before WAIT could say how many replicas have the write. */
    if (config->store_wait_replicas > 0 &&
        config->store_wait_timeout_ms >= config->store_timeout_ms) {
        return fail_at(
            r, node, "store.wait_timeout_ms (%lld) must be below store.timeout_ms (%lld)",
            (long long)config->store_wait_timeout_ms, (long long)config->store_timeout_ms);
    }
    return TG_OK;
}

static tg_status read_policy(const reader *r, struct fy_node *node, tg__config *config) {
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        tg_status status = TG_OK;
        if (tg__yaml_key_is(&entry, "default")) {
            const char *text = tg__yaml_scalar(entry.value);
            if (text == NULL || tg_class_parse(text, &config->default_class) != TG_OK ||
                config->default_class == TG_CLASS_AUTO) {
                status =
                    fail_at(r, entry.value, "policy.default must be low, normal, high or critical");
            }
        } else if (tg__yaml_key_is(&entry, "rules")) {
            status = read_list(r, entry.value, config, LIST_RULES);
        } else {
            status = unknown_field(r, entry.pair, "policy", "default or rules");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static tg_status read_metrics_budgets(const reader *r, struct fy_node *node, tg__config *config) {
    if (node == NULL || !fy_node_is_sequence(node)) {
        return fail_at(r, node, "metrics.budgets must be a list of budget paths or globs");
    }
    config->metrics_budgets_count = 0;
    for (tg__yaml_item item = {0}; tg__yaml_next_item(node, &item);) {
        if (config->metrics_budgets_count == TG__METRICS_GLOBS_MAX) {
            return fail_at(r, item.node, "metrics.budgets holds at most %d globs",
                           TG__METRICS_GLOBS_MAX);
        }
        tg_status status =
            copy_text(r, item.node, config->metrics_budgets[config->metrics_budgets_count],
                      TG_PATH_SIZE_MAX, "metrics.budgets item");
        if (status != TG_OK) {
            return status;
        }
        config->metrics_budgets_count++;
    }
    return TG_OK;
}

static tg_status read_metrics(const reader *r, struct fy_node *node, tg__config *config) {
    static const char expected[] = "open_on_loopback, budgets or budget_series_max";
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        const char *text = tg__yaml_scalar(entry.value);
        tg_status status = TG_OK;
        if (tg__yaml_key_is(&entry, "budgets")) {
            status = read_metrics_budgets(r, entry.value, config);
        } else if (tg__yaml_key_is(&entry, "budget_series_max")) {
            status = read_int(r, entry.value, &config->metrics_budget_series_max,
                              "metrics.budget_series_max", 0, TG__METRICS_SERIES_MAX);
        } else if (entry.key == NULL || strcmp(entry.key, "open_on_loopback") != 0) {
            return unknown_field(r, entry.pair, "metrics", expected);
        } else if (text == NULL || (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)) {
            return fail_at(r, entry.value, "metrics.open_on_loopback must be true or false");
        } else {
            config->metrics_open_on_loopback = strcmp(text, "true") == 0;
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* The sections that must be mappings, and their readers. */
static tg_status read_section(const reader *r, const char *key, struct fy_node *value,
                              tg__config *config) {
    static const struct {
        const char *name;
        tg_status (*read)(const reader *, struct fy_node *, tg__config *);
    } sections[] = {{"store", read_store},
                    {"limits", read_limits},
                    {"policy", read_policy},
                    {"metrics", read_metrics}};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        if (strcmp(key, sections[i].name) == 0) {
            if (!fy_node_is_mapping(value)) {
                return fail_at(r, value, "'%s' must be a mapping (keys and values indented below)",
                               key);
            }
            return sections[i].read(r, value, config);
        }
    }
    return TG_ERR_NOT_FOUND;
}

static tg_status read_prices(const reader *r, struct fy_node *value, tg__config *config) {
    tg_status status = tg__prices_read(value, config, r->err);
    if (status != TG_OK && r->err != NULL) {
        /* prices.c says what is wrong ("config: the price of 'x' ..."); say where. */
        char message[TG_ERROR_MESSAGE_SIZE];
        const char *text = r->err->message;
        snprintf(message, sizeof message, "%s",
                 strncmp(text, "config: ", 8) == 0 ? text + 8 : text);
        fail_at(r, value, "prices: %s", message);
        r->err->status = status;
    }
    return status;
}

static tg_status read_root_entry(const reader *r, const char *key, struct fy_node *value,
                                 tg__config *config) {
    int64_t port = 0;
    tg_status status = read_section(r, key, value, config);
    if (status != TG_ERR_NOT_FOUND) {
        return status;
    }
    if (strcmp(key, "address") == 0) {
        return copy_text(r, value, config->address, sizeof config->address, "address");
    } else if (strcmp(key, "port") == 0) {
        status = read_int(r, value, &port, "port", 0, 65535);
        config->port = (int)port;
        return status;
    } else if (strcmp(key, "budgets") == 0) {
        return read_list(r, value, config, LIST_BUDGETS);
    } else if (strcmp(key, "keys") == 0) {
        return read_list(r, value, config, LIST_KEYS);
    } else if (strcmp(key, "prices") == 0) {
        return read_prices(r, value, config);
    } else if (strcmp(key, "notify") == 0 || strcmp(key, "proxy") == 0 ||
               strcmp(key, "upstreams") == 0 || strcmp(key, "mcp") == 0) {
        return TG_OK; /* read and checked by src/notify, the proxy, MCP over HTTP */
    }
    return TG_ERR_NOT_FOUND;
}

static tg_status read_root(const reader *r, struct fy_node *root, tg__config *config) {
    for (tg__yaml_entry entry = {0}; tg__yaml_next(root, &entry);) {
        tg_status status = entry.key != NULL ? read_root_entry(r, entry.key, entry.value, config)
                                             : TG_ERR_NOT_FOUND;
        if (status == TG_ERR_NOT_FOUND) {
            return fail_at(r, entry.key_node,
                           "unknown section '%.40s': expected address, port, store, limits, "
                           "budgets, policy, keys, prices, metrics, notify, proxy, upstreams or "
                           "mcp",
                           entry.key != NULL ? entry.key : "?");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* ---- what the file says twice --------------------------------------------------------- */

static int budget_by_path(const void *a, const void *b) {
    return strcmp((*(const tg__budget_decl *const *)a)->path,
                  (*(const tg__budget_decl *const *)b)->path);
}

static int key_by_hash(const void *a, const void *b) {
    return memcmp((*(const tg__key *const *)a)->sha256, (*(const tg__key *const *)b)->sha256,
                  TG__SHA256_SIZE);
}

static tg_status fail_twice(const reader *r, const char *what, int first_line, int line) {
    if (first_line > line) {
        int swap = first_line;
        first_line = line;
        line = swap;
    }
    return tg__fail(r->err, TG_ERR_INVALID, "config: %s:%d: %s (first at line %d)", r->file, line,
                    what, first_line);
}

static tg_status check_duplicates(const reader *r, const tg__config *config) {
    /* Static: too large for the stack; only one thread loads a config at a time. */
    static const tg__budget_decl *budgets[TG__BUDGETS_MAX];
    static const tg__key *keys[TG__KEYS_MAX];
    for (int i = 0; i < config->budgets_count; i++) {
        budgets[i] = &config->budgets[i];
    }
    qsort(budgets, (size_t)config->budgets_count, sizeof budgets[0], budget_by_path);
    for (int i = 1; i < config->budgets_count; i++) {
        if (strcmp(budgets[i - 1]->path, budgets[i]->path) == 0) {
            char what[TG_PATH_SIZE_MAX + 64];
            snprintf(what, sizeof what, "budget '%s' is declared twice", budgets[i]->path);
            return fail_twice(r, what, budgets[i - 1]->line, budgets[i]->line);
        }
    }
    for (int i = 0; i < config->keys_count; i++) {
        keys[i] = &config->keys[i];
    }
    qsort(keys, (size_t)config->keys_count, sizeof keys[0], key_by_hash);
    for (int i = 1; i < config->keys_count; i++) {
        const tg__key *a = keys[i - 1], *b = keys[i];
        if (memcmp(a->sha256, b->sha256, TG__SHA256_SIZE) == 0 &&
            (a->role != b->role || strcmp(a->scope, b->scope) != 0 ||
             a->class_max != b->class_max)) {
            return fail_twice(r,
                              "one sha256 is listed twice with different roles, scopes or "
                              "class_max: which one a request gets would be a guess",
                              a->line, b->line);
        }
    }
    return TG_OK;
}

tg_status tg__config_read(const tg__config_file *file, tg__config *config, tg_error *err) {
    tg_error scratch = {0};
    reader r = {file->path, err != NULL ? err : &scratch};
    struct fy_node *root = fy_document_root(file->document);
    tg_status status = TG_OK;
    if (root != NULL && !fy_node_is_mapping(root)) {
        status = fail_at(&r, root, "the file must hold a mapping (address:, budgets:, ...)");
    } else if (root != NULL) {
        status = read_root(&r, root, config);
    }
    return status == TG_OK ? check_duplicates(&r, config) : status;
}

tg_status tg__config_load(const char *file, tg__config *config, tg_error *err) {
    tg__config_file *parsed = NULL;
    tg_status status = tg__config_file_open(file, &parsed, err);
    if (status == TG_OK) {
        status = tg__config_read(parsed, config, err);
    }
    tg__config_file_close(parsed);
    return status;
}

tg_status tg__config_new(const char *file, tg__config **out, tg_error *err) {
    tg__config *config = malloc(sizeof *config);
    if (config == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "config: out of memory");
    }
    tg__config_defaults(config);
    tg_status status = tg__config_load(file, config, err);
    if (status != TG_OK) {
        free(config);
        return status;
    }
    *out = config;
    return TG_OK;
}

/* ---- roles ----------------------------------------------------------------------------- */

static const char *const role_names[TG__ROLES_COUNT] = {"admin", "agent", "read", "metrics"};

const char *tg__role_str(tg__role role) {
    return (unsigned)role < TG__ROLES_COUNT ? role_names[role] : "?";
}

bool tg__role_parse(const char *text, tg__role *out) {
    for (int i = 0; i < TG__ROLES_COUNT; i++) {
        if (strcmp(text, role_names[i]) == 0) {
            *out = (tg__role)i;
            return true;
        }
    }
    return false;
}

tg_class tg__role_class_max(tg__role role) {
    /* An agent names its own tools and models, so a policy rule matching them is the
     * agent's choice: by default it may not lift its work past normal. */
    return role == TG__ROLE_ADMIN ? TG_CLASS_CRITICAL : TG_CLASS_NORMAL;
}

void tg__config_keep_restart_settings(tg__config *fresh, const tg__config *running) {
    /* The listener, the store and every limit were set up from `running` at start; a
     * config that names others would describe a daemon that is not the one running. */
    memcpy(fresh->address, running->address, sizeof fresh->address);
    fresh->port = running->port;
    memcpy(fresh->store, running->store, sizeof fresh->store);
    memcpy(fresh->store_path, running->store_path, sizeof fresh->store_path);
    memcpy(fresh->store_url, running->store_url, sizeof fresh->store_url);
    fresh->redis = running->redis;
    fresh->store_timeout_ms = running->store_timeout_ms;
    fresh->store_cluster = running->store_cluster;
    fresh->store_wait_replicas = running->store_wait_replicas;
    fresh->store_wait_timeout_ms = running->store_wait_timeout_ms;
    fresh->store_tls = running->store_tls;
    fresh->durability = running->durability;
    fresh->sync_interval_ms = running->sync_interval_ms;
    fresh->holds_max = running->holds_max;
    fresh->budgets_max = running->budgets_max;
    fresh->idempotency_max = running->idempotency_max;
    fresh->default_hold_ttl_ms = running->default_hold_ttl_ms;
    fresh->max_hold_ttl_ms = running->max_hold_ttl_ms;
    fresh->header_size_max_bytes = running->header_size_max_bytes;
    fresh->body_size_max_bytes = running->body_size_max_bytes;
    fresh->request_timeout_s = running->request_timeout_s;
    fresh->header_timeout_s = running->header_timeout_s;
    fresh->body_timeout_s = running->body_timeout_s;
    fresh->connections_max = running->connections_max;
    fresh->event_streams_max = running->event_streams_max;
    fresh->event_stream_buffer_max_bytes = running->event_stream_buffer_max_bytes;
    fresh->event_stream_keepalive_ms = running->event_stream_keepalive_ms;
}
