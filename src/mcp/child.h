/*
 * child: the MCP server as a child process of the stdio gateway. Its stdin and
 * stdout are pipes to the gateway (non-blocking on the gateway's side); its
 * stderr is the gateway's, so its logs reach whoever runs the gateway. Signals
 * the gateway cares about (child exit, stop, reload) arrive as bytes on a
 * self-pipe, so the poll loop sees them in order with everything else.
 */
#ifndef TG_MCP_CHILD_H
#define TG_MCP_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

#include "tollgate.h"

typedef struct {
    pid_t pid;       /* the server process; 0 once reaped */
    int to_child;    /* write end of its stdin; -1 when closed */
    int from_child;  /* read end of its stdout; -1 when closed */
    int exit_status; /* from waitpid, once reaped */
} tg__mcp_child;

/*
 * Starts argv[0] (looked up in PATH) with argv. TG_ERR_IO with a sentence in
 * err when the program cannot be started.
 */
tg_status tg__mcp_child_spawn(char *const *argv, tg__mcp_child *child, tg_error *err);

/* Reaps the child if it has exited; true once it has. */
bool tg__mcp_child_reap(tg__mcp_child *child);

/*
 * Ends the child the way the MCP stdio transport asks: close its stdin, wait
 * up to wait_ms for it to exit, then SIGTERM, then after grace_ms SIGKILL.
 * Returns when it is reaped.
 */
void tg__mcp_child_stop(tg__mcp_child *child, int wait_ms, int grace_ms);

/* A shell-like exit code for the child's status: its code, or 128 + signal. */
int tg__mcp_child_exit_code(const tg__mcp_child *child);

/*
 * Routes SIGCHLD, SIGTERM, SIGINT and SIGHUP to a self-pipe whose read end is
 * returned (one byte per signal: its number); SIGPIPE is ignored. -1 on failure.
 */
int tg__mcp_signals_install(void);

/* Restores the default actions and closes the self-pipe. */
void tg__mcp_signals_uninstall(void);

#endif
