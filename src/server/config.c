/*
 * config: reads the daemon's YAML file (libfyaml) into a tg__config, and
 * applies its budgets and policy to the engine. Unknown keys are errors, so a
 * typo in a limit never silently leaves a budget unlimited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "core/path.h"
#include "core/yaml_file.h"
#include "server/server.h"

static tg_status fail(tg_error *err, tg_status status, const char *format, const char *a,
                      const char *b) {
    if (err != NULL) {
        err->status = status;
        snprintf(err->message, sizeof err->message, format, a, b);
    }
    return status;
}

void tg__config_defaults(tg__config *config) {
    memset(config, 0, sizeof *config);
    snprintf(config->address, sizeof config->address, "127.0.0.1");
    config->port = 8420;
    snprintf(config->store, sizeof config->store, "sqlite");
    snprintf(config->store_path, sizeof config->store_path, "tollgate.db");
    config->durability = TG_DURABILITY_STRICT;
    config->sync_interval_ms = 50;
    config->holds_max = 1000000;
    config->budgets_max = 100000;
    config->idempotency_max = 1000000;
    config->default_hold_ttl_ms = 600000;
    config->max_hold_ttl_ms = 86400000;
    config->header_size_max_bytes = 16384;
    config->body_size_max_bytes = 1048576;
    config->request_timeout_s = 10;
    config->connections_max = 4096;
    config->event_streams_max = 64;
    config->event_stream_buffer_max_bytes = 1 << 20;
    config->event_stream_keepalive_ms = 15000;
    config->default_class = TG_CLASS_NORMAL;
}

static const char *scalar(struct fy_node *node) {
    if (node == NULL || !fy_node_is_scalar(node)) {
        return NULL;
    }
    return fy_node_get_scalar0(node);
}

static tg_status copy_text(struct fy_node *node, char *out, size_t size, const char *what,
                           tg_error *err) {
    const char *text = scalar(node);
    if (text == NULL || strlen(text) >= size) {
        return fail(err, TG_ERR_INVALID, "config: '%s' must be text shorter than the limit%s", what,
                    "");
    }
    memcpy(out, text, strlen(text) + 1);
    return TG_OK;
}

static tg_status read_int(struct fy_node *node, int64_t *out, const char *what, tg_error *err) {
    const char *text = scalar(node);
    char *end = NULL;
    if (text == NULL || *text == '\0') {
        return fail(err, TG_ERR_INVALID, "config: '%s' must be a whole number%s", what, "");
    }
    long long value = strtoll(text, &end, 10);
    if (*end != '\0' || value < 0) {
        return fail(err, TG_ERR_INVALID, "config: '%s' must be a whole number, not '%s'", what,
                    text);
    }
    *out = value;
    return TG_OK;
}

/* An amount ("480.00") or a fraction ("0.96" with fraction=true, or "96%"). */
static tg_status read_level(struct fy_node *node, tg_level *out, const char *what, tg_error *err) {
    const char *text = scalar(node);
    if (text == NULL) {
        return fail(err, TG_ERR_INVALID, "config: '%s' must be an amount or a fraction%s", what,
                    "");
    }
    size_t length = strlen(text);
    if (length > 0 && length < 32 && text[length - 1] == '%') {
        char number[32];
        memcpy(number, text, length - 1);
        number[length - 1] = '\0';
        int64_t percent_micros = 0;
        if (tg_money_parse(number, &percent_micros) != TG_OK || percent_micros > 100000000) {
            return fail(err, TG_ERR_INVALID, "config: '%s' is not a percentage: '%s'", what, text);
        }
        out->micros = TG_NONE;
        out->ppm = percent_micros / 100;
        return TG_OK;
    }
    if (strncmp(text, "fraction ", 9) == 0) {
        out->micros = TG_NONE;
        if (tg_fraction_parse(text + 9, &out->ppm) != TG_OK) {
            return fail(err, TG_ERR_INVALID, "config: '%s' is not a fraction: '%s'", what, text);
        }
        return TG_OK;
    }
    out->ppm = TG_NONE;
    if (tg_money_parse(text, &out->micros) != TG_OK) {
        return fail(err, TG_ERR_INVALID, "config: '%s' is not an amount: '%s'", what, text);
    }
    return TG_OK;
}

static tg_status read_budget(struct fy_node *node, tg__budget_decl *out, tg_error *err) {
    tg_budget_spec_init(&out->spec);
    out->path[0] = '\0';
    if (!fy_node_is_mapping(node)) {
        return fail(err, TG_ERR_INVALID, "config: each budget must be a mapping%s%s", "", "");
    }
    void *iter = NULL;
    struct fy_node_pair *pair;
    tg_status status = TG_OK;
    while (status == TG_OK && (pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        const char *key = scalar(fy_node_pair_key(pair));
        struct fy_node *value = fy_node_pair_value(pair);
        const char *text = scalar(value);
        if (key == NULL) {
            return fail(err, TG_ERR_INVALID, "config: budget keys must be text%s%s", "", "");
        } else if (strcmp(key, "path") == 0) {
            status = copy_text(value, out->path, sizeof out->path, "path", err);
        } else if (strcmp(key, "limit") == 0) {
            if (text == NULL || tg_money_parse(text, &out->spec.cost_limit_micros) != TG_OK) {
                return fail(err, TG_ERR_INVALID, "config: budget limit '%s' is not an amount%s",
                            text ? text : "?", "");
            }
        } else if (strcmp(key, "calls") == 0) {
            status = read_int(value, &out->spec.calls_limit, "calls", err);
        } else if (strcmp(key, "tokens") == 0) {
            status = read_int(value, &out->spec.tokens_limit, "tokens", err);
        } else if (strcmp(key, "window") == 0) {
            if (text == NULL || tg_window_parse(text, &out->spec.window) != TG_OK) {
                return fail(err, TG_ERR_INVALID,
                            "config: window '%s' is not lifetime, hour, day, week or month%s",
                            text ? text : "?", "");
            }
        } else if (strcmp(key, "timezone") == 0) {
            status =
                copy_text(value, out->spec.timezone, sizeof out->spec.timezone, "timezone", err);
        } else if (strcmp(key, "revoke_at") == 0) {
            status = read_level(value, &out->spec.revoke_at, "revoke_at", err);
        } else if (strcmp(key, "above_hold") == 0) {
            if (text == NULL || tg_above_hold_parse(text, &out->spec.above_hold) != TG_OK) {
                return fail(err, TG_ERR_INVALID, "config: above_hold '%s' is not charge or cap%s",
                            text ? text : "?", "");
            }
        } else if (strcmp(key, "alerts") == 0 && fy_node_is_sequence(value)) {
            void *alert_iter = NULL;
            struct fy_node *alert;
            while ((alert = fy_node_sequence_iterate(value, &alert_iter)) != NULL) {
                const char *alert_text = scalar(alert);
                if (out->spec.alerts_count >= TG_ALERTS_MAX || alert_text == NULL ||
                    tg_fraction_parse(alert_text, &out->spec.alerts_ppm[out->spec.alerts_count]) !=
                        TG_OK) {
                    return fail(err, TG_ERR_INVALID,
                                "config: alerts must be at most 8 fractions like 0.8 (%s)%s",
                                out->path, "");
                }
                out->spec.alerts_count++;
            }
        } else if (strcmp(key, "ceilings") == 0 && fy_node_is_mapping(value)) {
            void *ceiling_iter = NULL;
            struct fy_node_pair *ceiling;
            while ((ceiling = fy_node_mapping_iterate(value, &ceiling_iter)) != NULL) {
                tg_class cls;
                const char *name = scalar(fy_node_pair_key(ceiling));
                if (name == NULL || tg_class_parse(name, &cls) != TG_OK || cls >= TG_CLASS_AUTO) {
                    return fail(err, TG_ERR_INVALID, "config: '%s' is not an impact class%s",
                                name ? name : "?", "");
                }
                status = read_level(fy_node_pair_value(ceiling), &out->spec.class_ceiling[cls],
                                    name, err);
                if (status != TG_OK) {
                    return status;
                }
            }
        } else {
            return fail(err, TG_ERR_INVALID, "config: unknown budget field '%s'%s", key, "");
        }
    }
    if (status == TG_OK && out->path[0] == '\0') {
        return fail(err, TG_ERR_INVALID, "config: every budget needs a path%s%s", "", "");
    }
    const char *reserved = NULL;
    if (status == TG_OK && tg__path_reserved(out->path, &reserved)) {
        return fail(err, TG_ERR_INVALID,
                    "config: budget '%s': '%s' is reserved for /v1/budgets/PATH/ACTION routes",
                    out->path, reserved);
    }
    return status;
}

static tg_status read_key(struct fy_node *node, tg__key *out, tg_error *err) {
    memset(out, 0, sizeof *out);
    out->role = TG__ROLE_READ;
    bool hashed = false;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        const char *key = scalar(fy_node_pair_key(pair));
        const char *text = scalar(fy_node_pair_value(pair));
        if (key == NULL || text == NULL) {
            return fail(err, TG_ERR_INVALID, "config: key fields must be text%s%s", "", "");
        } else if (strcmp(key, "name") == 0) {
            snprintf(out->name, sizeof out->name, "%s", text);
        } else if (strcmp(key, "sha256") == 0) {
            hashed = tg__hex_decode(text, out->sha256);
        } else if (strcmp(key, "scope") == 0) {
            snprintf(out->scope, sizeof out->scope, "%s", text);
        } else if (strcmp(key, "role") == 0) {
            if (strcmp(text, "admin") == 0) {
                out->role = TG__ROLE_ADMIN;
            } else if (strcmp(text, "agent") == 0) {
                out->role = TG__ROLE_AGENT;
            } else if (strcmp(text, "read") == 0) {
                out->role = TG__ROLE_READ;
            } else {
                return fail(err, TG_ERR_INVALID, "config: role '%s' is not admin, agent or read%s",
                            text, "");
            }
        } else {
            return fail(err, TG_ERR_INVALID, "config: unknown key field '%s'%s", key, "");
        }
    }
    if (!hashed) {
        return fail(err, TG_ERR_INVALID,
                    "config: key '%s' needs sha256: 64 hex digits (tollgate keys create)%s",
                    out->name, "");
    }
    return TG_OK;
}

static tg_status read_rule(struct fy_node *node, tg__rule_decl *out, tg_error *err) {
    memset(out, 0, sizeof *out);
    out->cls = TG_CLASS_NORMAL;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        const char *key = scalar(fy_node_pair_key(pair));
        struct fy_node *value = fy_node_pair_value(pair);
        tg_status status = TG_OK;
        if (key == NULL) {
            status = fail(err, TG_ERR_INVALID, "config: rule keys must be text%s%s", "", "");
        } else if (strcmp(key, "tool") == 0) {
            status = copy_text(value, out->tool, sizeof out->tool, "tool", err);
        } else if (strcmp(key, "model") == 0) {
            status = copy_text(value, out->model, sizeof out->model, "model", err);
        } else if (strcmp(key, "budget") == 0) {
            status = copy_text(value, out->budget, sizeof out->budget, "budget", err);
        } else if (strcmp(key, "class") == 0) {
            const char *text = scalar(value);
            if (text == NULL || tg_class_parse(text, &out->cls) != TG_OK ||
                out->cls == TG_CLASS_AUTO) {
                status = fail(err, TG_ERR_INVALID, "config: rule class '%s' is not a class%s",
                              text ? text : "?", "");
            }
        } else {
            status = fail(err, TG_ERR_INVALID, "config: unknown rule field '%s'%s", key, "");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static tg_status read_section_ints(struct fy_node *node, tg__config *config, tg_error *err) {
    struct {
        const char *name;
        int64_t *field;
    } fields[] = {
        {"holds_max", &config->holds_max},
        {"budgets_max", &config->budgets_max},
        {"idempotency_max", &config->idempotency_max},
        {"default_hold_ttl_ms", &config->default_hold_ttl_ms},
        {"max_hold_ttl_ms", &config->max_hold_ttl_ms},
        {"header_size_max_bytes", &config->header_size_max_bytes},
        {"body_size_max_bytes", &config->body_size_max_bytes},
        {"request_timeout_s", &config->request_timeout_s},
        {"connections_max", &config->connections_max},
        {"event_streams_max", &config->event_streams_max},
        {"event_stream_buffer_max_bytes", &config->event_stream_buffer_max_bytes},
        {"event_stream_keepalive_ms", &config->event_stream_keepalive_ms},
        {"sync_interval_ms", &config->sync_interval_ms},
    };
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        const char *key = scalar(fy_node_pair_key(pair));
        bool known = false;
        for (size_t i = 0; key != NULL && i < sizeof fields / sizeof fields[0]; i++) {
            if (strcmp(key, fields[i].name) == 0) {
                tg_status status = read_int(fy_node_pair_value(pair), fields[i].field, key, err);
                if (status != TG_OK) {
                    return status;
                }
                known = true;
            }
        }
        if (!known) {
            return fail(err, TG_ERR_INVALID, "config: unknown limit '%s'%s", key ? key : "?", "");
        }
    }
    return TG_OK;
}

static tg_status read_store(struct fy_node *node, tg__config *config, tg_error *err) {
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        const char *key = scalar(fy_node_pair_key(pair));
        struct fy_node *value = fy_node_pair_value(pair);
        const char *text = scalar(value);
        tg_status status = TG_OK;
        if (key == NULL || text == NULL) {
            status = fail(err, TG_ERR_INVALID, "config: store fields must be text%s%s", "", "");
        } else if (strcmp(key, "kind") == 0) {
            status = copy_text(value, config->store, sizeof config->store, "store.kind", err);
        } else if (strcmp(key, "path") == 0) {
            status =
                copy_text(value, config->store_path, sizeof config->store_path, "store.path", err);
        } else if (strcmp(key, "durability") == 0) {
            if (strcmp(text, "strict") == 0) {
                config->durability = TG_DURABILITY_STRICT;
            } else if (strcmp(text, "relaxed") == 0) {
                config->durability = TG_DURABILITY_RELAXED;
            } else {
                status = fail(err, TG_ERR_INVALID,
                              "config: durability '%s' is not strict or relaxed%s", text, "");
            }
        } else {
            status = fail(err, TG_ERR_INVALID, "config: unknown store field '%s'%s", key, "");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static tg_status read_list(struct fy_node *node, tg__config *config, const char *what,
                           tg_error *err) {
    const char *empty = scalar(node);
    if (node == NULL || (empty != NULL && (empty[0] == '\0' || strcmp(empty, "null") == 0 ||
                                           strcmp(empty, "~") == 0))) {
        return TG_OK; /* `keys:` with its last entry removed is an empty list */
    }
    if (!fy_node_is_sequence(node)) {
        return fail(err, TG_ERR_INVALID, "config: '%s' must be a list%s", what, "");
    }
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter)) != NULL) {
        tg_status status;
        if (strcmp(what, "budgets") == 0) {
            if (config->budgets_count >= TG__BUDGETS_MAX) {
                return fail(err, TG_ERR_FULL, "config: more than 4096 budgets%s%s", "", "");
            }
            status = read_budget(item, &config->budgets[config->budgets_count++], err);
        } else if (strcmp(what, "keys") == 0) {
            if (config->keys_count >= TG__KEYS_MAX) {
                return fail(err, TG_ERR_FULL, "config: more than 256 keys%s%s", "", "");
            }
            status = read_key(item, &config->keys[config->keys_count++], err);
        } else {
            if (config->rules_count >= TG__RULES_MAX) {
                return fail(err, TG_ERR_FULL, "config: more than 1024 rules%s%s", "", "");
            }
            status = read_rule(item, &config->rules[config->rules_count++], err);
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static tg_status read_policy(struct fy_node *node, tg__config *config, tg_error *err) {
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        const char *key = scalar(fy_node_pair_key(pair));
        struct fy_node *value = fy_node_pair_value(pair);
        tg_status status = TG_OK;
        if (key != NULL && strcmp(key, "default") == 0) {
            const char *text = scalar(value);
            if (text == NULL || tg_class_parse(text, &config->default_class) != TG_OK ||
                config->default_class == TG_CLASS_AUTO) {
                status = fail(err, TG_ERR_INVALID, "config: policy default '%s' is not a class%s",
                              text ? text : "?", "");
            }
        } else if (key != NULL && strcmp(key, "rules") == 0) {
            status = read_list(value, config, "rules", err);
        } else {
            status = fail(err, TG_ERR_INVALID, "config: unknown policy field '%s'%s",
                          key ? key : "?", "");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static tg_status read_root(struct fy_node *root, tg__config *config, tg_error *err) {
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(root, &iter)) != NULL) {
        const char *key = scalar(fy_node_pair_key(pair));
        struct fy_node *value = fy_node_pair_value(pair);
        tg_status status = TG_OK;
        int64_t port = 0;
        if (key == NULL) {
            status = fail(err, TG_ERR_INVALID, "config: top-level keys must be text%s%s", "", "");
        } else if (strcmp(key, "address") == 0) {
            status = copy_text(value, config->address, sizeof config->address, "address", err);
        } else if (strcmp(key, "port") == 0) {
            status = read_int(value, &port, "port", err);
            if (status == TG_OK && port > 65535) {
                status = fail(err, TG_ERR_INVALID, "config: port must be 0..65535%s%s", "", "");
            }
            config->port = (int)port;
        } else if (strcmp(key, "store") == 0 && fy_node_is_mapping(value)) {
            status = read_store(value, config, err);
        } else if (strcmp(key, "limits") == 0 && fy_node_is_mapping(value)) {
            status = read_section_ints(value, config, err);
        } else if (strcmp(key, "policy") == 0 && fy_node_is_mapping(value)) {
            status = read_policy(value, config, err);
        } else if (strcmp(key, "budgets") == 0 || strcmp(key, "keys") == 0) {
            status = read_list(value, config, key, err);
        } else if (strcmp(key, "prices") == 0) {
            status = tg__prices_read(value, config, err);
        } else if (strcmp(key, "notify") == 0) {
            /* Read and checked by src/notify (tg__notify_start_file in serve.c). */
        } else if (strcmp(key, "proxy") == 0 || strcmp(key, "upstreams") == 0) {
            /* Read and checked by the proxy (proxy_config.c, from serve.c). */
        } else if (strcmp(key, "mcp") == 0) {
            /* Read and checked by MCP over HTTP (mcp_http_config.c, from serve.c). */
        } else {
            status =
                fail(err, TG_ERR_INVALID, "config: unknown or malformed section '%s'%s", key, "");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* Limits outside these ranges are mistakes (or would let one client take the daemon). */
static tg_status check_limits(const tg__config *config, tg_error *err) {
    const struct {
        const char *name;
        int64_t value, min, max;
    } ranges[] = {
        {"connections_max", config->connections_max, 1, TG__CONNECTIONS_MAX},
        {"header_size_max_bytes", config->header_size_max_bytes, 1024, 1 << 20},
        {"body_size_max_bytes", config->body_size_max_bytes, 1024, 1 << 30},
        {"request_timeout_s", config->request_timeout_s, 1, 3600},
        {"event_streams_max", config->event_streams_max, 1, 100000},
        {"event_stream_buffer_max_bytes", config->event_stream_buffer_max_bytes, 64 * 1024,
         1 << 30},
        {"event_stream_keepalive_ms", config->event_stream_keepalive_ms, 100, 3600 * 1000},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        if (ranges[i].value < ranges[i].min || ranges[i].value > ranges[i].max) {
            char range[64];
            snprintf(range, sizeof range, "%lld..%lld", (long long)ranges[i].min,
                     (long long)ranges[i].max);
            return fail(err, TG_ERR_INVALID, "config: limits.%s must be in %s", ranges[i].name,
                        range);
        }
    }
    return TG_OK;
}

tg_status tg__config_load(const char *file, tg__config *config, tg_error *err) {
    struct fy_document *document;
    tg_status read = tg__yaml_file_load(file, "config", &document, err);
    if (read != TG_OK) {
        return read;
    }
    struct fy_node *root = fy_document_root(document);
    tg_status status = TG_OK;
    if (root != NULL && !fy_node_is_mapping(root)) {
        status = fail(err, TG_ERR_INVALID, "config: '%s' must hold a mapping%s", file, "");
    } else if (root != NULL) {
        status = read_root(root, config, err);
    }
    fy_document_destroy(document);
    return status == TG_OK ? check_limits(config, err) : status;
}
