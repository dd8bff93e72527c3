/*
 * stdio: the MCP stdio transport around a relay session. The agent speaks MCP
 * on the gateway's stdin and stdout; the MCP server runs as a child and speaks
 * MCP on its own. One poll loop, one thread, which owns the engine: each turn
 * reads what is ready, lets the session decide (inside one engine batch), makes
 * the batch durable, and only then writes: nothing reaches the server or the
 * agent before the hold or charge behind it is on disk.
 */
#ifndef TG_MCP_STDIO_H
#define TG_MCP_STDIO_H

#include <stdint.h>
#include <stdio.h>

#include "mcp/relay.h"

/* Called on SIGHUP to re-read the configuration; the session is refreshed after. */
typedef void (*tg__mcp_reload_fn)(void *user, int64_t now_ms);

typedef struct {
    char *const *argv;               /* the MCP server's command line, NULL-terminated */
    int agent_in;                    /* where the agent's messages arrive (stdin) */
    int agent_out;                   /* where the agent's answers go (stdout) */
    tg__mcp_session_options session; /* engine, config, budget, cap, log; sends are set here */
    tg__mcp_session **session_slot;  /* optional: set to the session while it exists (for the
                                        engine's on_event) */
    tg__mcp_reload_fn reload;        /* optional */
    void *reload_user;
    int stop_grace_ms; /* at shutdown: wait this long before SIGTERM, then SIGKILL */
} tg__mcp_stdio_options;

/*
 * Runs until the agent closes its input (the server is then stopped), the
 * server exits (pending requests are answered), or SIGTERM/SIGINT. Returns a
 * process exit code: 0 after a clean shutdown, the server's exit code if it
 * exited on its own (0 is then turned into 1: the session ended early), 1 on
 * a failure of the gateway itself.
 */
int tg__mcp_stdio_run(const tg__mcp_stdio_options *options);

/* Unix time in milliseconds, the engine's clock. */
int64_t tg__mcp_now_ms(void);

#endif
