/*
 * config: the `mcp:` section of a Tollgate YAML file (docs/mcp.md): tool
 * prices and classes, the per-task call cap, timeouts and limits, and where the
 * embedded ledger lives. Kept apart from the daemon's reader (src/config/config.c)
 * so the daemon can hand its `mcp:` node to tg__mcp_config_read when it serves
 * MCP over HTTP. Unknown keys are errors: a typo never leaves a tool free.
 */
#ifndef TG_MCP_CONFIG_H
#define TG_MCP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mcp/policy.h"
#include "tollgate.h"

struct fy_node;

#define TG__MCP_CALL_TIMEOUT_MS_DEFAULT 60000
#define TG__MCP_CALLS_IN_FLIGHT_DEFAULT 1024
#define TG__MCP_CALLS_IN_FLIGHT_MAX 65536
#define TG__MCP_MESSAGE_SIZE_MAX (64 * 1024 * 1024) /* the largest message_size_max_bytes */

/* Everything the gateway reads from `mcp:`. Large (the rules): allocate it. */
typedef struct {
    tg__mcp_tools tools;            /* prices and classes by tool name */
    int64_t call_timeout_ms;        /* a tools/call unanswered this long is cancelled */
    int64_t calls_per_task;         /* most granted calls per task, or TG_NONE */
    int64_t message_size_max_bytes; /* longest JSON-RPC message, either direction */
    int64_t calls_in_flight_max;    /* agent requests awaiting an answer at once */
    char database[1024];            /* the embedded ledger's SQLite file */
    tg_durability durability;       /* of the embedded ledger */
} tg__mcp_config;

/* Fills *config with the defaults: no rules, 60 s timeout, no cap, 4 MiB, tollgate-mcp.db. */
void tg__mcp_config_defaults(tg__mcp_config *config);

/* Reads the value of an `mcp:` key (a mapping) over what *config holds. The keys only
 * `tollgate serve` reads (servers, sessions_max, session_idle_ms) are skipped. */
tg_status tg__mcp_config_read(struct fy_node *section, tg__mcp_config *config, tg_error *err);

/* A whole number in [low, high] at `node`; the error names it "mcp.<what>". */
tg_status tg__mcp_config_read_int(struct fy_node *node, const char *what, int64_t low, int64_t high,
                                  int64_t *out, tg_error *err);

/* The same as tg__mcp_config_read, skipping the keys listed in `skip` (NULL-terminated)
 * instead: the daemon reads one entry of `mcp.servers` with it, its own keys (name,
 * command, budget) skipped. */
tg_status tg__mcp_config_read_except(struct fy_node *section, const char *const *skip,
                                     tg__mcp_config *config, tg_error *err);

/*
 * Reads the `mcp:` section of a whole YAML document in memory (tests, fuzzing)
 * or in a file. A document without `mcp:` leaves *config as it was.
 */
tg_status tg__mcp_config_parse(const char *yaml, size_t size, tg__mcp_config *config,
                               tg_error *err);
tg_status tg__mcp_config_load(const char *file, tg__mcp_config *config, tg_error *err);

#endif
