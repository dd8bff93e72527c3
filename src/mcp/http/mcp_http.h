/*
 * mcp_http: MCP over Streamable HTTP in `tollgate serve` (docs/mcp.md). Each
 * server of the config's `mcp.servers` list is served at /mcp/{name}: an agent's
 * MCP client initializes a session there, and the daemon spawns that server's
 * command as a stdio child for the session and relays through the same session
 * core as `tollgate mcp` (src/mcp/relay.h), with the daemon's engine deciding
 * every tools/call. Everything runs on the daemon's libevent loop, like the LLM
 * proxy: a waiting POST or an open SSE stream costs no thread.
 *
 * Like the proxy's, a relayed message does not wait for the group commit of the
 * hold or charge behind it (an fsync per tool call would be the call's latency):
 * the commit goes out with the loop turn's batch, and a crash before it loses
 * only holds (they are re-made by nobody and simply never charged) or the charge
 * of a result just relayed.
 */
#ifndef TG_SERVER_MCP_HTTP_H
#define TG_SERVER_MCP_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "mcp/config.h"
#include "server/daemon.h"

#define TG__MCP_HTTP_SERVERS_MAX 64         /* entries of mcp.servers */
#define TG__MCP_HTTP_NAME_SIZE 64           /* bytes of a server's name, NUL included */
#define TG__MCP_HTTP_ARGS_MAX 64            /* words of a server's command */
#define TG__MCP_HTTP_ARG_SIZE_MAX 4096      /* bytes of one word */
#define TG__MCP_HTTP_SESSIONS_DEFAULT 64    /* sessions (so children) at once */
#define TG__MCP_HTTP_SESSIONS_LIMIT 4096    /* the largest sessions_max accepted */
#define TG__MCP_HTTP_IDLE_MS_DEFAULT 600000 /* a session nobody uses this long is ended */

/* One `mcp.servers` entry. */
typedef struct {
    char name[TG__MCP_HTTP_NAME_SIZE];     /* the URL's {name}: [A-Za-z0-9._-]+ */
    char *argv[TG__MCP_HTTP_ARGS_MAX + 1]; /* the command, NULL-terminated; each from malloc */
    char budget[TG_PATH_SIZE_MAX];         /* every session's calls are charged here */
    tg__mcp_config *config;                /* from malloc: prices, classes, caps, limits */
} tg__mcp_http_server;

/* The `mcp:` section as the daemon reads it. From malloc; tg__mcp_http_config_free. */
typedef struct {
    tg__mcp_http_server servers[TG__MCP_HTTP_SERVERS_MAX];
    int servers_count;
    int64_t sessions_max;    /* sessions across all servers */
    int64_t session_idle_ms; /* a session with no request and no stream this long is ended */
} tg__mcp_http_config;

/*
 * Reads the config file's `mcp:` section. *out is NULL (and TG_OK) when the file
 * has no `mcp.servers`: nothing is served then. TG_ERR_INVALID with a sentence.
 */
tg_status tg__mcp_http_config_load(const char *config_file, tg__mcp_http_config **out,
                                   tg_error *err);
/* The same from the config file's parsed document (config/config_file.h: read once). */
struct fy_document;
tg_status tg__mcp_http_config_read(struct fy_document *config_document, tg__mcp_http_config **out,
                                   tg_error *err);
void tg__mcp_http_config_free(tg__mcp_http_config *config);

typedef struct tg__mcp_http tg__mcp_http;

/* Called when the engine has work to commit (the daemon flushes its batch soon). */
typedef void (*tg__mcp_http_flush_fn)(void *user);

/*
 * Reads `mcp:` from the config file's document and starts serving it. *out is NULL (and
 * TG_OK) when there is nothing to serve. TG_ERR_INVALID / TG_ERR_NOMEM.
 */
tg_status tg__mcp_http_start_config(struct fy_document *config_document, struct event_base *base,
                                    tg__daemon *daemon, tg__mcp_http_flush_fn flush,
                                    void *flush_user, tg__mcp_http **out, tg_error *err);

/*
 * SIGHUP: serves `fresh` (taken; read with tg__mcp_http_config_load, so a bad section
 * was refused before anything changed; NULL: the file serves no servers). Sessions of
 * a server whose command and budget are unchanged go on with its new prices, classes
 * and limits (list_changed if what they may see changed); the others end, and their
 * clients initialize again. Starts serving (*mcp was NULL) or stops (fresh NULL).
 */
tg_status tg__mcp_http_reload(tg__mcp_http **mcp, tg__mcp_http_config *fresh,
                              struct event_base *base, tg__daemon *daemon,
                              tg__mcp_http_flush_fn flush, void *flush_user, tg_error *err);

/* A waiter the engine decided (tg_wait_poll): handed to the session whose tools/call waits
 * for it. False when no session owns it (the caller releases a grant). NULL mcp: false. */
bool tg__mcp_http_wait_decided(tg__mcp_http *mcp, const tg_wait_result *decided);

/* Takes the request when its path is /mcp or below, or the protected-resource metadata
 * of a server (true). NULL: always false. */
bool tg__mcp_http_handle(tg__mcp_http *mcp, struct evhttp_request *request);

/* The engine's event, for every session (revocation, reinstatement). NULL is a no-op. */
void tg__mcp_http_note_event(tg__mcp_http *mcp, const tg_event *event);

/* Ends every session (holds released, children stopped), frees. NULL is a no-op. */
void tg__mcp_http_free(tg__mcp_http *mcp);

#endif
