/*
 * mcp_http_config: the daemon's reading of `mcp:`. The section's own keys of the
 * stdio gateway (tools, call_timeout_ms, calls_per_task, ...) are the defaults of
 * every server; each `servers:` entry names a server, its command and its budget,
 * and may override any of them (src/mcp/config.c reads those, so prices and
 * classes mean the same in both gateways). Unknown keys are errors.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "core/path.h"
#include "core/yaml_file.h"
#include "mcp/http/mcp_http.h"

/* The keys of a servers: entry that tg__mcp_config_read_except leaves to this file. */
static const char *const ENTRY_KEYS[] = {"name", "command", "budget", NULL};
/* The section's keys that are not per-server defaults. */
static const char *const SECTION_KEYS[] = {"servers", "sessions_max", "session_idle_ms", NULL};

void tg__mcp_http_config_free(tg__mcp_http_config *config) {
    if (config == NULL) {
        return;
    }
    for (int i = 0; i < config->servers_count; i++) {
        for (int a = 0; config->servers[i].argv[a] != NULL; a++) {
            free(config->servers[i].argv[a]);
        }
        free(config->servers[i].config);
    }
    free(config);
}

static bool name_ok(const char *name) {
    size_t length = strlen(name);
    if (length == 0 || length >= TG__MCP_HTTP_NAME_SIZE) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* command: [program, arg, ...] (a sequence of text; no shell is involved). */
static tg_status read_command(struct fy_node *node, tg__mcp_http_server *server, tg_error *err) {
    int count = node != NULL && fy_node_is_sequence(node) ? fy_node_sequence_item_count(node) : 0;
    if (count < 1 || count > TG__MCP_HTTP_ARGS_MAX) {
        return tg__fail(err, TG_ERR_INVALID,
                        "config: mcp.servers '%s': command must be a list of 1..%d words "
                        "(program first)",
                        server->name, TG__MCP_HTTP_ARGS_MAX);
    }
    for (int i = 0; i < count; i++) {
        const char *word = tg__yaml_scalar(fy_node_sequence_get_by_index(node, i));
        if (word == NULL || (i == 0 && *word == '\0') ||
            strlen(word) >= TG__MCP_HTTP_ARG_SIZE_MAX) {
            return tg__fail(err, TG_ERR_INVALID,
                            "config: mcp.servers '%s': command word %d must be text of at most "
                            "%d bytes",
                            server->name, i, TG__MCP_HTTP_ARG_SIZE_MAX - 1);
        }
        server->argv[i] = strdup(word);
        if (server->argv[i] == NULL) {
            return tg__fail(err, TG_ERR_NOMEM, "config: out of memory");
        }
    }
    return TG_OK;
}

static tg_status read_entry(struct fy_node *entry, const tg__mcp_config *defaults,
                            tg__mcp_http_config *config, tg_error *err) {
    if (entry == NULL || !fy_node_is_mapping(entry)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "config: each mcp.servers entry must be a mapping (name, command, budget)");
    }
    tg__mcp_http_server *server = &config->servers[config->servers_count];
    memset(server, 0, sizeof *server);
    config->servers_count++; /* from here on, tg__mcp_http_config_free frees what it holds */
    const char *name = tg__yaml_scalar(fy_node_mapping_lookup_by_string(entry, "name", FY_NT));
    if (name == NULL || !name_ok(name)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "config: mcp.servers: name must be 1..%d bytes of A-Z a-z 0-9 . _ -",
                        TG__MCP_HTTP_NAME_SIZE - 1);
    }
    memcpy(server->name, name, strlen(name) + 1);
    for (int i = 0; i < config->servers_count - 1; i++) {
        if (strcmp(config->servers[i].name, name) == 0) {
            return tg__fail(err, TG_ERR_INVALID, "config: mcp.servers: '%s' is named twice", name);
        }
    }
    const char *budget = tg__yaml_scalar(fy_node_mapping_lookup_by_string(entry, "budget", FY_NT));
    if (budget == NULL || tg__path_check(budget, NULL) != TG_OK) {
        return tg__fail(err, TG_ERR_INVALID, "config: mcp.servers '%s': budget must be a path",
                        name);
    }
    memcpy(server->budget, budget, strlen(budget) + 1);
    tg_status status =
        read_command(fy_node_mapping_lookup_by_string(entry, "command", FY_NT), server, err);
    if (status != TG_OK) {
        return status;
    }
    server->config = malloc(sizeof *server->config);
    if (server->config == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "config: out of memory");
    }
    *server->config = *defaults;
    return tg__mcp_config_read_except(entry, ENTRY_KEYS, server->config, err);
}

static tg_status read_section(struct fy_node *section, tg__mcp_http_config *config, tg_error *err) {
    if (!fy_node_is_mapping(section)) {
        return tg__fail(err, TG_ERR_INVALID, "config: mcp must be a mapping");
    }
    tg__mcp_config *defaults = malloc(sizeof *defaults);
    if (defaults == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "config: out of memory");
    }
    tg__mcp_config_defaults(defaults);
    tg_status status = tg__mcp_config_read_except(section, SECTION_KEYS, defaults, err);
    struct fy_node *node = fy_node_mapping_lookup_by_string(section, "sessions_max", FY_NT);
    if (status == TG_OK && node != NULL) {
        status = tg__mcp_config_read_int(node, "sessions_max", 1, TG__MCP_HTTP_SESSIONS_LIMIT,
                                         &config->sessions_max, err);
    }
    node = fy_node_mapping_lookup_by_string(section, "session_idle_ms", FY_NT);
    if (status == TG_OK && node != NULL) {
        status = tg__mcp_config_read_int(node, "session_idle_ms", 1000, 7 * 86400000LL,
                                         &config->session_idle_ms, err);
    }
    struct fy_node *servers = fy_node_mapping_lookup_by_string(section, "servers", FY_NT);
    if (status == TG_OK && servers != NULL && !fy_node_is_sequence(servers)) {
        status = tg__fail(err, TG_ERR_INVALID, "config: mcp.servers must be a list");
    }
    int count = status == TG_OK && servers != NULL ? fy_node_sequence_item_count(servers) : 0;
    if (count > TG__MCP_HTTP_SERVERS_MAX) {
        status = tg__fail(err, TG_ERR_FULL, "config: mcp.servers holds more than %d servers",
                          TG__MCP_HTTP_SERVERS_MAX);
    }
    for (int i = 0; status == TG_OK && i < count; i++) {
        status = read_entry(fy_node_sequence_get_by_index(servers, i), defaults, config, err);
    }
    free(defaults);
    return status;
}

tg_status tg__mcp_http_config_read(struct fy_document *document, tg__mcp_http_config **out,
                                   tg_error *err) {
    *out = NULL;
    tg_status status = TG_OK;
    struct fy_node *root = fy_document_root(document);
    struct fy_node *section = root != NULL && fy_node_is_mapping(root)
                                  ? fy_node_mapping_lookup_by_string(root, "mcp", FY_NT)
                                  : NULL;
    tg__mcp_http_config *config = section != NULL ? calloc(1, sizeof *config) : NULL;
    if (section != NULL && config == NULL) {
        status = tg__fail(err, TG_ERR_NOMEM, "config: out of memory");
    } else if (config != NULL) {
        config->sessions_max = TG__MCP_HTTP_SESSIONS_DEFAULT;
        config->session_idle_ms = TG__MCP_HTTP_IDLE_MS_DEFAULT;
        status = read_section(section, config, err);
    }
    if (status != TG_OK || config == NULL || config->servers_count == 0) {
        tg__mcp_http_config_free(config);
        return status;
    }
    *out = config;
    return TG_OK;
}

tg_status tg__mcp_http_config_load(const char *config_file, tg__mcp_http_config **out,
                                   tg_error *err) {
    *out = NULL;
    struct fy_document *document;
    tg_status status = tg__yaml_file_load(config_file, "config", &document, err);
    if (status != TG_OK) {
        return status;
    }
    status = tg__mcp_http_config_read(document, out, err);
    fy_document_destroy(document);
    return status;
}
