/*
 * mcp_http_internal: the state shared by mcp_http.c (HTTP: routing, requests,
 * the session table) and mcp_http_session.c (one session: its child, its relay,
 * and where each message for the agent goes). Not for other files: mcp_http.h.
 */
#ifndef TG_SERVER_MCP_HTTP_INTERNAL_H
#define TG_SERVER_MCP_HTTP_INTERNAL_H

#include "mcp/child.h"
#include "mcp/jsonrpc.h"
#include "mcp/queue.h"
#include "mcp/relay.h"
#include "mcp/http/mcp_http.h"

#define TG__MCP_HTTP_METADATA_PATH "/.well-known/oauth-protected-resource" /* + /mcp/{name} */
#define TG__MCP_HTTP_SWEEP_MS 20                  /* timeouts, gone clients, children reaped */
#define TG__MCP_HTTP_KEEPALIVE_MS 15000           /* a comment on a silent GET stream */
#define TG__MCP_HTTP_STREAM_LOG_BYTES_MAX 1048576 /* GET-stream messages: unsent, then kept */
#define TG__MCP_HTTP_STREAM_BUFFERED_MAX (8 * 1024 * 1024) /* unsent bytes before a cut */
#define TG__MCP_HTTP_QUEUE_BYTES (4 * 1024 * 1024)         /* bytes waiting for the child's stdin */
#define TG__MCP_HTTP_STOP_GRACE_MS 2000 /* stdin closed, then SIGTERM, then SIGKILL */
#define TG__MCP_HTTP_SESSION_ID_SIZE 33 /* 128 random bits in hex, NUL included */
#define TG__MCP_HTTP_GONE_KEEP_MS 60000 /* a left POST's late answer is dropped this long */

/* A POST carrying a request, waiting for its response. */
typedef struct mcp_post {
    struct evhttp_request *request;            /* NULL once the client left */
    char id_text[TG__RPC_ID_TEXT_SIZE];        /* the request's id as JSON text */
    char progress_token[TG__RPC_ID_TEXT_SIZE]; /* params._meta.progressToken, or "" */
    bool sse_ok;                               /* the client accepts text/event-stream */
    bool streaming;                            /* the reply is an SSE stream already */
    int64_t gone_ms;                           /* when the client left (request NULL) */
    struct mcp_post *next;
} mcp_post;

/* A child being stopped after its session ended: stdin closed, then signals. */
typedef struct mcp_dying {
    pid_t pid;
    int64_t term_at_ms; /* SIGTERM then */
    int64_t kill_at_ms; /* SIGKILL then */
    struct mcp_dying *next;
} mcp_dying;

typedef struct mcp_session {
    tg__mcp_http *owner;
    const tg__mcp_http_server *server;     /* borrowed from owner->config */
    char id[TG__MCP_HTTP_SESSION_ID_SIZE]; /* Mcp-Session-Id */
    unsigned char caller[TG__SHA256_SIZE]; /* SHA-256 of the key that made it: only it may use it */
    tg__mcp_session *relay;                /* owned */
    tg__mcp_child child;                   /* the server process */
    struct event *child_read;              /* its stdout */
    struct event *child_write;             /* its stdin, pending while bytes wait */
    tg__rpc_framer framer;                 /* lines from the child */
    tg__mcp_queue to_server;               /* bytes for the child's stdin */
    mcp_post *posts;                       /* waiting POSTs, newest first */
    size_t posts_count;
    size_t posts_max;              /* calls_in_flight_max + a few for other requests */
    struct evhttp_request *stream; /* the GET stream, or NULL */
    int64_t stream_written_ms;     /* last write to it, for keep-alives */
    tg__mcp_queue stream_log;      /* GET-stream messages as "ID JSON" lines, oldest first:
                                      unsent ones, and sent ones kept for Last-Event-ID */
    uint64_t stream_next_id;       /* the id of the next GET-stream message (from 1) */
    uint64_t stream_sent_id;       /* the last id written to a GET stream */
    int64_t active_ms;             /* last request or open stream, for the idle limit */
    bool server_gone;              /* the child's output ended */
    struct mcp_session *next;
} mcp_session;

struct tg__mcp_http {
    struct event_base *base;
    tg__daemon *daemon;
    tg__mcp_http_config *config; /* owned */
    tg__mcp_http_flush_fn flush;
    void *flush_user;
    mcp_session *sessions; /* every open session */
    int64_t sessions_count;
    mcp_dying *dying;      /* children being stopped */
    struct event *sweep;   /* every TG__MCP_HTTP_SWEEP_MS */
    struct event *refresh; /* made active by engine events: revocation reaches sessions now */
};

/* mcp_http_session.c: a new session for `server`, its child started. NULL with err set. */
mcp_session *tg__mcp_http_session_new(tg__mcp_http *mcp, const tg__mcp_http_server *server,
                                      tg_error *err);

/* Ends a session: waiting POSTs answered with an error, holds released, child stopped. */
void tg__mcp_http_session_end(mcp_session *session, const char *why);

/* A JSON-RPC message from the agent, relayed (a request's POST was registered first). */
void tg__mcp_http_session_from_agent(mcp_session *session, const char *body, size_t size);

/*
 * Opens the GET stream on request (replacing an older one). It starts with the messages
 * after id `after_id` still kept (resume: a client's Last-Event-ID, at most
 * tg__mcp_http_stream_newest), or else with those never sent. mcp_http_stream.c.
 */
void tg__mcp_http_session_open_stream(mcp_session *session, struct evhttp_request *request,
                                      bool resume, uint64_t after_id);

/* A message for the GET stream: numbered, kept, and sent if a stream is open. */
void tg__mcp_http_stream_message(mcp_session *session, const char *message, size_t size);

/* The newest id a GET-stream message of this session got (0: none yet). */
uint64_t tg__mcp_http_stream_newest(const mcp_session *session);

/* mcp_http_session.c, for mcp_http_stream.c: SSE framing on a request. */
void tg__mcp_http_sse_start(mcp_session *session, struct evhttp_request *request);
void tg__mcp_http_sse_event(struct evhttp_request *request, uint64_t id, const char *message,
                            size_t size);
void tg__mcp_http_stream_close(mcp_session *session);
bool tg__mcp_http_client_gone(struct evhttp_request *request);
size_t tg__mcp_http_buffered(struct evhttp_request *request);

/* Time-driven work of one session; false when the session ended. */
bool tg__mcp_http_session_sweep(mcp_session *session, int64_t now_ms);

/* mcp_http_session.c: reaps and signals the children of ended sessions. */
void tg__mcp_http_dying_sweep(tg__mcp_http *mcp, int64_t now_ms, bool final);

/* mcp_http_auth.c: 0 when the key may use the server, else 401 or 403 with *why. */
int tg__mcp_http_authorize(const tg__daemon *daemon, const tg__mcp_http_server *server,
                           const char *authorization, const char **why);
/* mcp_http_auth.c: false when a browser's Origin names another host than the request's. */
bool tg__mcp_http_origin_allowed(const char *origin, const char *host);
/* mcp_http_auth.c: answers 401 with WWW-Authenticate (key_sent: a key was refused). */
void tg__mcp_http_unauthorized(struct evhttp_request *request, const tg__mcp_http_server *server,
                               bool key_sent, const char *why);
/* mcp_http_auth.c: answers GET TG__MCP_HTTP_METADATA_PATH/mcp/{name} (RFC 9728). */
void tg__mcp_http_resource_metadata(struct evhttp_request *request,
                                    const tg__mcp_http_server *server);

/* mcp_http.c: replies status with body (taken; NULL: an empty body) as compact JSON. */
void tg__mcp_http_json_reply(struct evhttp_request *request, int status, json_t *body);

/* mcp_http.c: replies with a JSON-RPC error body; id_text NULL for null. */
void tg__mcp_http_error_reply(struct evhttp_request *request, int status, const char *id_text,
                              int code, const char *message);

#endif
