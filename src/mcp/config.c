/*
 * config: reads `mcp:` with libfyaml. Every number is checked against a named
 * maximum here, so the relay can trust its configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "core/path.h"
#include "core/yaml_file.h"
#include "mcp/config.h"

/* Keys of `mcp:` that only `tollgate serve` reads (src/mcp/http/mcp_http_config.c): the
 * stdio gateway accepts them so that one file can serve both. */
static const char *const SERVE_KEYS[] = {"servers", "sessions_max", "session_idle_ms", NULL};

void tg__mcp_config_defaults(tg__mcp_config *config) {
    memset(config, 0, sizeof *config);
    config->call_timeout_ms = TG__MCP_CALL_TIMEOUT_MS_DEFAULT;
    config->calls_per_task = TG_NONE;
    config->message_size_max_bytes = 4 * 1024 * 1024;
    config->calls_in_flight_max = TG__MCP_CALLS_IN_FLIGHT_DEFAULT;
    snprintf(config->database, sizeof config->database, "tollgate-mcp.db");
    config->durability = TG_DURABILITY_STRICT;
}

tg_status tg__mcp_config_read_int(struct fy_node *node, const char *what, int64_t low, int64_t high,
                                  int64_t *out, tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    char *end = NULL;
    long long value = text != NULL && *text != '\0' ? strtoll(text, &end, 10) : 0;
    if (text == NULL || *text == '\0' || *end != '\0' || value < low || value > high) {
        return tg__fail(err, TG_ERR_INVALID, "config: mcp.%s must be a whole number in %lld..%lld",
                        what, (long long)low, (long long)high);
    }
    *out = value;
    return TG_OK;
}

static tg_status read_class(const char *text, const char *glob, tg_class *out, tg_error *err) {
    if (text == NULL || tg_class_parse(text, out) != TG_OK || *out == TG_CLASS_AUTO) {
        return tg__fail(err, TG_ERR_INVALID,
                        "config: mcp.tools '%s': class must be low, normal, high or critical",
                        glob);
    }
    return TG_OK;
}

static tg_status read_cost(const char *text, const char *glob, int64_t *out, tg_error *err) {
    if (text == NULL || tg_money_parse(text, out) != TG_OK || *out > TG_AMOUNT_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "config: mcp.tools '%s': cost '%s' is not an amount",
                        glob, text != NULL ? text : "?");
    }
    return TG_OK;
}

/* `glob: {cost: "0.01", class: low, charge: fixed|result, wait_ms: 2000}` */
static tg_status read_rule_fields(struct fy_node *value, tg__mcp_tool_rule *rule, tg_error *err) {
    for (tg__yaml_entry entry = {0}; tg__yaml_next(value, &entry);) {
        const char *text = tg__yaml_scalar(entry.value);
        tg_status status = TG_OK;
        if (tg__yaml_key_is(&entry, "cost")) {
            status = read_cost(text, rule->glob, &rule->cost_micros, err);
        } else if (tg__yaml_key_is(&entry, "class")) {
            status = read_class(text, rule->glob, &rule->cls, err);
        } else if (tg__yaml_key_is(&entry, "wait_ms")) {
            char what[TG_NAME_SIZE_MAX + 32];
            snprintf(what, sizeof what, "tools '%s': wait_ms", rule->glob);
            status =
                tg__mcp_config_read_int(entry.value, what, 0, TG_WAIT_MS_MAX, &rule->wait_ms, err);
        } else if (tg__yaml_key_is(&entry, "charge") && text != NULL &&
                   (strcmp(text, "fixed") == 0 || strcmp(text, "result") == 0)) {
            rule->charge =
                strcmp(text, "fixed") == 0 ? TG__MCP_CHARGE_FIXED : TG__MCP_CHARGE_RESULT;
        } else {
            status =
                tg__fail(err, TG_ERR_INVALID,
                         "config: mcp.tools '%s': unknown or malformed field '%s' (cost, class, "
                         "charge: fixed|result, wait_ms)",
                         rule->glob, entry.key != NULL ? entry.key : "?");
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

/* One `glob: ...` entry: a mapping of fields, or a bare class or amount. */
static tg_status read_rule(struct fy_node_pair *pair, tg__mcp_tool_rule *rule, tg_error *err) {
    const char *glob = tg__yaml_scalar(fy_node_pair_key(pair));
    struct fy_node *value = fy_node_pair_value(pair);
    if (glob == NULL || *glob == '\0' || strlen(glob) >= sizeof rule->glob) {
        return tg__fail(err, TG_ERR_INVALID,
                        "config: mcp.tools keys must be tool name globs of 1..%d "
                        "bytes",
                        TG_NAME_SIZE_MAX - 1);
    }
    memset(rule, 0, sizeof *rule);
    memcpy(rule->glob, glob, strlen(glob) + 1);
    rule->cls = TG_CLASS_AUTO;
    rule->charge = TG__MCP_CHARGE_FIXED;
    if (value != NULL && fy_node_is_mapping(value)) {
        return read_rule_fields(value, rule, err);
    }
    const char *text = tg__yaml_scalar(value);
    if (text != NULL && tg_class_parse(text, &rule->cls) == TG_OK && rule->cls != TG_CLASS_AUTO) {
        return TG_OK;
    }
    rule->cls = TG_CLASS_AUTO;
    return read_cost(text, glob, &rule->cost_micros, err);
}

static tg_status read_tools(struct fy_node *node, tg__mcp_tools *tools, tg_error *err) {
    if (node == NULL || !fy_node_is_mapping(node)) {
        return tg__fail(err, TG_ERR_INVALID, "config: mcp.tools must be a mapping of glob: rule");
    }
    tools->rules_count = 0;
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        if (tools->rules_count >= TG__MCP_TOOL_RULES_MAX) {
            return tg__fail(err, TG_ERR_FULL, "config: mcp.tools holds more than %d rules",
                            TG__MCP_TOOL_RULES_MAX);
        }
        tg_status status = read_rule(entry.pair, &tools->rules[tools->rules_count], err);
        if (status != TG_OK) {
            return status;
        }
        tools->rules_count++;
    }
    return TG_OK;
}

static tg_status read_text(struct fy_node *node, const char *what, char *out, size_t size,
                           tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    if (text == NULL || *text == '\0' || strlen(text) >= size) {
        return tg__fail(err, TG_ERR_INVALID, "config: mcp.%s must be text of 1..%zu bytes", what,
                        size - 1);
    }
    memcpy(out, text, strlen(text) + 1);
    return TG_OK;
}

static tg_status read_durability(struct fy_node *node, tg_durability *out, tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    if (text != NULL && strcmp(text, "strict") == 0) {
        *out = TG_DURABILITY_STRICT;
    } else if (text != NULL && strcmp(text, "relaxed") == 0) {
        *out = TG_DURABILITY_RELAXED;
    } else {
        return tg__fail(err, TG_ERR_INVALID, "config: mcp.durability must be strict or relaxed");
    }
    return TG_OK;
}

static tg_status read_field(const char *key, struct fy_node *value, tg__mcp_config *config,
                            tg_error *err) {
    if (strcmp(key, "tools") == 0) {
        return read_tools(value, &config->tools, err);
    } else if (strcmp(key, "database") == 0) {
        return read_text(value, key, config->database, sizeof config->database, err);
    } else if (strcmp(key, "durability") == 0) {
        return read_durability(value, &config->durability, err);
    } else if (strcmp(key, "call_timeout_ms") == 0) {
        return tg__mcp_config_read_int(value, key, 1, 86400000, &config->call_timeout_ms, err);
    } else if (strcmp(key, "calls_per_task") == 0) {
        return tg__mcp_config_read_int(value, key, 1, TG_LIMIT_MAX, &config->calls_per_task, err);
    } else if (strcmp(key, "message_size_max_bytes") == 0) {
        return tg__mcp_config_read_int(value, key, 1024, TG__MCP_MESSAGE_SIZE_MAX,
                                       &config->message_size_max_bytes, err);
    } else if (strcmp(key, "calls_in_flight_max") == 0) {
        return tg__mcp_config_read_int(value, key, 1, TG__MCP_CALLS_IN_FLIGHT_MAX,
                                       &config->calls_in_flight_max, err);
    }
    return tg__fail(err, TG_ERR_INVALID,
                    "config: unknown mcp field '%s' (tools, database, durability, call_timeout_ms, "
                    "calls_per_task, message_size_max_bytes, calls_in_flight_max)",
                    key);
}

static bool listed(const char *key, const char *const *keys) {
    for (size_t i = 0; keys != NULL && keys[i] != NULL; i++) {
        if (strcmp(key, keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

static tg_status read_section(struct fy_node *section, tg__mcp_config *config,
                              const char *const *skip, tg_error *err) {
    for (tg__yaml_entry entry = {0}; tg__yaml_next(section, &entry);) {
        if (entry.key == NULL) {
            return tg__fail(err, TG_ERR_INVALID, "config: mcp keys must be text");
        }
        if (listed(entry.key, skip)) {
            continue;
        }
        tg_status status = read_field(entry.key, entry.value, config, err);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

tg_status tg__mcp_config_read(struct fy_node *section, tg__mcp_config *config, tg_error *err) {
    return tg__mcp_config_read_except(section, SERVE_KEYS, config, err);
}

tg_status tg__mcp_config_read_except(struct fy_node *section, const char *const *skip,
                                     tg__mcp_config *config, tg_error *err) {
    if (section == NULL || !fy_node_is_mapping(section)) {
        return tg__fail(err, TG_ERR_INVALID, "config: mcp must be a mapping");
    }
    /* Read into a copy so that a failure leaves *config as it was. */
    tg__mcp_config *work = malloc(sizeof *work);
    if (work == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "config: out of memory");
    }
    *work = *config;
    tg_status status = read_section(section, work, skip, err);
    if (status == TG_OK) {
        *config = *work;
    }
    free(work);
    return status;
}

static tg_status read_document(struct fy_document *document, const char *name,
                               tg__mcp_config *config, tg_error *err) {
    if (document == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "config: cannot read or parse YAML '%s'", name);
    }
    struct fy_node *root = fy_document_root(document);
    tg_status status = TG_OK;
    if (root != NULL && !fy_node_is_mapping(root)) {
        status = tg__fail(err, TG_ERR_INVALID, "config: '%s' must hold a mapping", name);
    } else if (root != NULL) {
        struct fy_node *section = fy_node_mapping_lookup_by_string(root, "mcp", FY_NT);
        if (section != NULL) {
            status = tg__mcp_config_read(section, config, err);
        }
    }
    fy_document_destroy(document);
    return status;
}

tg_status tg__mcp_config_parse(const char *yaml, size_t size, tg__mcp_config *config,
                               tg_error *err) {
    /* libfyaml 0.7.12 loops forever on some non-UTF-8 input: it never sees any. */
    size_t valid = tg__utf8_valid_prefix((const unsigned char *)yaml, size);
    if (valid < size) {
        return tg__fail(err, TG_ERR_INVALID, "config: the YAML text is not UTF-8 (byte %zu)",
                        valid);
    }
    struct fy_parse_cfg parse = {.flags = FYPCF_QUIET};
    return read_document(fy_document_build_from_string(&parse, yaml, size), "(text)", config, err);
}

tg_status tg__mcp_config_load(const char *file, tg__mcp_config *config, tg_error *err) {
    struct fy_document *document;
    tg_status status = tg__yaml_file_load(file, "config", &document, err);
    return status != TG_OK ? status : read_document(document, file, config, err);
}
