/*
 * proxy_internal: what proxy.c (loop, routing), proxy_call.c (admission and
 * forwarding) and proxy_reply.c (the upstream's answer, commits) share.
 */
#ifndef TG_SERVER_PROXY_INTERNAL_H
#define TG_SERVER_PROXY_INTERNAL_H

#include <curl/curl.h>

#include "core/journal.h"
#include "proxy/attribution.h"
#include "core/buf.h"
#include "proxy/chains.h"
#include "proxy/header_lines.h"
#include "proxy/prices.h"
#include "proxy/request.h"
#include "proxy/sse.h"
#include "proxy/stream.h"
#include "proxy/runtime/proxy.h"

#define TG__PROXY_RESPONSE_HEADERS_SIZE_MAX (64 * 1024) /* upstream headers passed on */
#define TG__PROXY_PIECE_OUT_SIZE_MAX (32 * 1024 * 1024) /* events sent from one piece */
#define TG__PROXY_CLIENT_BUFFERED_MAX (1024 * 1024) /* unsent bytes before the upstream pauses */

#define TG__PROXY_RUNS_MAX                                                                         \
    1024 /* background runs known: open ones, then owners of settled ones                          \
          */

/* A hold and what settling it needs: a view over a call's or a background run's fields. */
typedef struct {
    uint64_t hold_id;             /* the open hold, 0 when there is none */
    int64_t hold_micros;          /* its amount */
    const tg__model_price *price; /* prices copied at admission */
    const char *budget;           /* the key's scope, for a forced record */
    const char *model;            /* the model called */
    tg__route route;              /* the route that held it */
    int64_t cost_floor_micros;    /* what the upstream said it billed: the charge is at
                                     least this, never above the hold; 0 none */
} tg__proxy_hold;

/* What settling a hold did (tg__proxy_hold_settle). */
typedef struct {
    bool charged;        /* a charge was made (commit, or a forced record) */
    uint64_t charge_id;  /* its row, 0 when none */
    int64_t cost_micros; /* what was charged, 0 when nothing */
} tg__proxy_settled;

/* A background Responses run (proxy_background.c). */
typedef struct {
    char id[TG__ROUTE_ID_SIZE_MAX];           /* the response id, "" = free slot */
    char owner[64];                           /* the name of the key that started it */
    uint64_t hold_id;                         /* open hold, 0 once settled */
    int64_t hold_micros;                      /* its amount */
    tg__model_price price;                    /* prices at admission */
    char budget[TG_PATH_SIZE_MAX];            /* the owner's scope */
    char model[TG_NAME_SIZE_MAX];             /* the model called */
    char conversation[TG__CHAIN_ID_SIZE_MAX]; /* a conversation it continues, "" none */
    int64_t deadline_ms;                      /* charged its hold when still open then */
    uint64_t age;                             /* put counter when written */
    char user[TG__USER_SIZE_MAX];             /* the create's user, for the spend log */
    char tags[TG__TAGS_SIZE_MAX];             /* the create's tags, for the spend log */
    int64_t started_ms;                       /* when the create arrived */
} tg__proxy_run;

typedef struct tg__proxy_runs tg__proxy_runs;

/* proxy_background.c: the table. From calloc; tg__proxy_runs_free(NULL) is a no-op. */
tg__proxy_runs *tg__proxy_runs_new(void);
void tg__proxy_runs_free(tg__proxy_runs *runs);
/* True when no more runs can be open (a new background call is refused). */
bool tg__proxy_runs_full(const tg__proxy_runs *runs);
/* The run with this id, NULL when unknown. */
tg__proxy_run *tg__proxy_run_find(tg__proxy_runs *runs, const char *id);
/* A cleared slot for id (a free one, else the oldest settled run's), NULL when every slot
 * holds an open run or id is already open. Call tg__proxy_run_opened once its hold is set. */
tg__proxy_run *tg__proxy_run_put(tg__proxy_runs *runs, const char *id);
void tg__proxy_run_opened(tg__proxy_runs *runs);
/* Marks a run settled (hold_id 0); it stays as its id's owner. */
void tg__proxy_run_closed(tg__proxy_runs *runs, tg__proxy_run *run);
int64_t tg__proxy_runs_open(const tg__proxy_runs *runs);
/* Slot `index` (0..TG__PROXY_RUNS_MAX-1), for the sweep. */
tg__proxy_run *tg__proxy_run_at(tg__proxy_runs *runs, int index);

struct tg__proxy {
    struct event_base *base;  /* the daemon's loop */
    tg__daemon *daemon;       /* engine, keys, metrics; not owned */
    tg__proxy_config config;  /* from the config file */
    tg__price_table *prices;  /* owned */
    tg__proxy_flush_fn flush; /* asks the daemon to commit its batch soon */
    void *flush_user;         /* for flush */
    CURLM *multi;             /* owned; every upstream transfer */
    struct event *timer;      /* curl's timeout; owned */
    struct event *sweep;      /* disconnects and revocations; owned */
    struct proxy_call *calls; /* calls in flight (doubly linked) */
    int64_t calls_count;      /* length of calls */
    tg__chains *chains;       /* stored state seen (Responses ids, conversations); owned */
    tg__proxy_runs *runs;     /* background runs; owned */
    CURL *easy_idle[TG__PROXY_EASY_IDLE_MAX]; /* reset handles for the next calls; owned */
    int easy_idle_count;                      /* handles in easy_idle */
    struct proxy_call *call_idle[TG__PROXY_CALL_IDLE_MAX];        /* freed calls' memory; owned */
    int call_idle_count;                                          /* entries in call_idle */
    struct tg__proxy_socket *sockets[TG__PROXY_SOCKETS_KEPT_MAX]; /* kept connections'; owned */
    int sockets_count;                                            /* entries in sockets */
    int64_t date_seconds;          /* the second date was formatted for */
    char date[TG__HTTP_DATE_SIZE]; /* the replies' Date header, "" until the first */
};

/* One proxied call, from admission to its commit. Freed by tg__proxy_call_free. */
typedef struct proxy_call {
    tg__proxy *proxy;                         /* owner */
    struct proxy_call *prev, *next;           /* proxy->calls */
    struct evhttp_request *request;           /* the client's; answered exactly once */
    tg__route route;                          /* which route */
    const tg__provider *provider;             /* the provider serving it (its table) */
    const tg__upstream *upstream;             /* where it goes: the provider's, or a named
                                                 one; in proxy->config */
    size_t prefix_size;                       /* bytes of the path not sent upstream (/p/NAME) */
    char deployment[TG__PROXY_NAME_SIZE_MAX]; /* Azure: the path's deployment, "" none */
    int64_t cost_reported_micros;             /* reports_cost: what the upstream said it
                                                 billed, -1 until it says */
    bool metered;                             /* held and charged */
    tg__request parsed;                       /* metered: the request; owned */
    tg__model_price price;                    /* metered: prices of the model called */
    uint64_t hold_id;                         /* metered: the open hold, 0 once closed */
    int64_t hold_micros;                      /* its amount */
    int64_t hold_expires_ms;                  /* when the engine would expire it */
    char budget[TG_PATH_SIZE_MAX];            /* metered: the budget charged (the key's scope
                                                 or one under it, attribution.h) */
    char user[TG__USER_SIZE_MAX];             /* metered: the request's user, "" none */
    char tags[TG__TAGS_SIZE_MAX];             /* metered: x-tollgate-tags joined, "" none */
    char conversation[TG__CHAIN_ID_SIZE_MAX]; /* responses: the conversation id, "" none */
    char plan_header[192];                    /* x-tollgate-plan, "" when as is */
    bool background;                          /* responses: background: true */
    char owner[64];                           /* the name of the key that made the call */
    char run_id[TG__ROUTE_ID_SIZE_MAX];       /* retrieve, cancel: the response id */
    CURL *easy;                               /* owned; NULL once removed from the multi */
    struct curl_slist *headers;               /* owned; sent upstream */
    char *body;                               /* owned; the body sent upstream */
    size_t body_size;                         /* bytes of body */
    tg__buf response_headers;                 /* "name: value\r\n" lines to pass on
                                                 (header_lines.h) */
    tg__buf response;                         /* a non-streamed body (or an error's) */
    long status;                              /* the upstream's status, 0 until known */
    bool streaming;                           /* the reply was started as an event stream */
    bool easy_reusable;                       /* easy ended normally, never streamed or paused */
    tg__sse_parser sse;                       /* streaming: the parser */
    tg__stream stream;                        /* streaming: what has gone by */
    tg__buf held;                             /* streaming: bytes of an event not yet complete */
    tg__buf out;                              /* streaming: whole events to send from a piece */
    const char *piece;                        /* streaming: the piece being fed */
    size_t piece_size;                        /* bytes of piece */
    size_t piece_used;                        /* bytes of piece already sent or dropped */
    bool cut;                                 /* Tollgate ended the stream */
    bool client_gone;                         /* the client disconnected */
    bool replied;                             /* the request has been answered */
    bool paused;                              /* the upstream is paused: the client reads slowly */
    int64_t last_byte_ms; /* when the upstream last sent a byte (or the call began) */
    /* Falling back to other upstreams (proxy_failover.c). */
    const tg__upstream *origin; /* the upstream the call started on: its fallbacks are tried */
    int64_t fallback_next;      /* index in origin->fallbacks of the next one to try */
    int64_t first_sent_ms;      /* when the first attempt started: timeout_ms bounds them all */
    int64_t attempt_started_ms; /* when this attempt started (answer_timeout_ms) */
    bool answered;              /* this attempt's upstream sent its status line */
    /* What the response headers, the final stream comment and the spend log tell
     * (proxy_spend.c). */
    int64_t started_ms;                            /* when the call arrived */
    tg_class cls;                                  /* the class its hold was given */
    char request_id[TG__CALL_REQUEST_ID_SIZE_MAX]; /* the upstream's x-request-id / request-id */
    int reply_status;                              /* the HTTP status the client was sent */
    const char *outcome;                           /* how it ended (static text), NULL not yet */
    tg__proxy_settled settled;                     /* what its settlement charged */
    int64_t held_micros;                           /* its hold's amount (kept after settlement) */
    tg__usage usage;                               /* the usage charged (usage_known) */
    bool usage_known;                              /* usage is set */
    bool reply_ended;                              /* a stream's reply end has been sent */
    /* Waiting for room (proxy_wait.c): the engine's waiter, the worst case it asks for, and
     * the agent's key kept until the call starts (a pass_agent_key upstream needs it). */
    uint64_t wait_id;          /* 0: not waiting */
    int64_t wait_asked_micros; /* the worst case held once granted */
    char *wait_secret;         /* from malloc, freed with the call; NULL none */
} proxy_call;

/* proxy_call.c: the bookkeeping of a granted hold of `amount_micros` on the call. */
void tg__proxy_call_granted(proxy_call *call, const tg_reserve_result *result,
                            int64_t amount_micros);

/* proxy_call.c: puts the call on proxy->calls (the sweep's list), once. */
void tg__proxy_call_link(proxy_call *call);

/* proxy_call.c: the agent's key from whichever header its SDK sent, NULL when none. */
const char *tg__proxy_agent_secret(struct evhttp_request *request);

/* proxy_call.c: reserves `amount_micros` for the call on `budget` at call->price (wait_ms
 * > 0: it may queue); a grant is recorded on the call (tg__proxy_call_granted). */
tg_status tg__proxy_reserve(proxy_call *call, const char *budget, int64_t amount_micros,
                            int64_t wait_ms, tg_reserve_result *result, tg_error *err);

/* proxy_failover.c: what tg__proxy_failover did with a finished attempt. */
typedef enum {
    TG__FAILOVER_NONE,     /* nothing: the attempt's end is the call's (answer it as usual) */
    TG__FAILOVER_STARTED,  /* the call is in flight on the next upstream */
    TG__FAILOVER_ANSWERED, /* the client was answered (the fallback did not fit the budget) */
} tg__failover;

/* proxy_failover.c: an attempt that failed before any byte reached the client (a refused or
 * reset connection, no status line in time, a status of proxy.fallback_on_status) settles
 * by docs/proxy.md's rules, is logged, and the call moves to the next fallback of its
 * upstream that prices its model, re-held at that upstream's prices. `result` is the
 * transfer's end; the easy handle is out of the multi already. */
tg__failover tg__proxy_failover(proxy_call *call, CURLcode result);

/* proxy_failover.c: true when the call's attempt has waited longer than its upstream's
 * answer_timeout_ms for a status line (the sweep then ends it as a timeout). */
bool tg__proxy_answer_late(const proxy_call *call, int64_t now_ms);

/* proxy_call.c: sends the call upstream with the agent's key `secret`; false on failure. */
bool tg__proxy_start_transfer(proxy_call *call, const char *secret);

/* proxy_call.c: answers a budget refusal in the provider's shape (429, Retry-After...). */
void tg__proxy_send_refusal(proxy_call *call, const tg_refusal *refused, int64_t needed_micros);

/* proxy_wait.c: the wait a call on `upstream` may make (its wait_ms, else proxy.wait_ms). */
int64_t tg__proxy_wait_ms(const tg__proxy *proxy, const tg__upstream *upstream);

/* proxy_wait.c: the call waits in the engine (call->wait_id set): keeps the agent's key for
 * the transfer. False when it cannot (out of memory: the waiter is cancelled). */
bool tg__proxy_wait_park(proxy_call *call, const char *secret);

/* proxy_wait.c: the sweep's check of a waiting call; true when its client left and the
 * call was ended (waiter cancelled, nothing held). */
bool tg__proxy_wait_sweep(proxy_call *call);

/* proxy_call.c: admits a request on a proxy route (auth, price, hold) and starts it. */
/* `upstream` is a named upstream the path chose (/p/NAME/..., or /openai/... for the one
 * named azure), NULL for the route provider's own; the first prefix_size bytes of the path
 * (/p/NAME) are not sent upstream; `deployment` is an Azure path's deployment ("" none). */
void tg__proxy_call_start(tg__proxy *proxy, struct evhttp_request *request, tg__route route,
                          const tg__upstream *upstream, size_t prefix_size, const char *deployment);

/* proxy_reply.c: curl's callbacks for a call's easy handle. */
size_t tg__proxy_on_header(char *data, size_t size, size_t count, void *user);
size_t tg__proxy_on_body(char *data, size_t size, size_t count, void *user);

/* proxy.c: a curl handle for a new call: a kept one (reset) or a new one; NULL when out
 * of memory. Handed back by tg__proxy_call_free. */
CURL *tg__proxy_easy_take(tg__proxy *proxy);

/* proxy_sockets.c: one of curl's sockets, watched in the loop. */
typedef struct tg__proxy_socket tg__proxy_socket;

/* proxy_sockets.c: CURLMOPT_SOCKETFUNCTION, with the proxy as its data. */
int tg__proxy_on_socket(CURL *easy, curl_socket_t fd, int what, void *user, void *socket_user);

/* proxy_sockets.c: makes `easy` open and close its connections' sockets through the
 * proxy, which keeps a kept connection's socket in the loop between calls. Set on every
 * handle, after any reset. */
void tg__proxy_sockets_use(tg__proxy *proxy, CURL *easy);

/* proxy_sockets.c: frees what is left of the sockets' watches, after curl_multi_cleanup. */
void tg__proxy_sockets_free(tg__proxy *proxy);

/* proxy.c: ends the calls whose transfers curl reports finished. */
void tg__proxy_read_done(tg__proxy *proxy);

/* proxy.c: runs curl's due work now (what its timer would run on the next loop turn)
 * and ends the calls that finished. Never from inside a curl callback (curl refuses
 * re-entry): only from a client request's own handler. */
void tg__proxy_drive(tg__proxy *proxy);

/* proxy_reply.c: the transfer ended with `result` (after removal from the multi):
 * answers the client if not yet, commits or releases, frees the call. */
void tg__proxy_call_done(proxy_call *call, CURLcode result);

/* proxy_reply.c: answers with an error in the route's provider shape. */
void tg__proxy_send_error(proxy_call *call, int status, const char *code, const char *message);

/* proxy_reply.c: the call's hold as tg__proxy_hold_settle takes it (its id, amount, prices,
 * budget, model and route), for the final settle and for a failed attempt's alike. */
tg__proxy_hold tg__proxy_call_hold(const proxy_call *call);

/* proxy_reply.c: charges a hold: usage at its prices plus fee_micros (usage NULL: the
 * hold's whole amount), or releases it (release true). Then asks for a flush. Returns
 * what was charged. */
tg__proxy_settled tg__proxy_hold_settle(tg__proxy *proxy, const tg__proxy_hold *hold,
                                        const tg__usage *usage, int64_t fee_micros, bool release);

/* proxy_headers.c: one of Tollgate's own headers (name, value or number) added to the
 * reply's lines (call->response_headers), or on its own when the lines are full. */
void tg__proxy_reply_header(proxy_call *call, const char *name, const char *value);
void tg__proxy_reply_number(proxy_call *call, const char *name, int64_t value);

/* proxy_headers.c: the reply's lines handed to its output headers, just before it is
 * sent: the Content-Type (content_type when the upstream gave none), a Date and the rest
 * as one entry. Empties the lines. */
void tg__proxy_reply_headers_flush(proxy_call *call, const char *content_type);

/* proxy_spend.c: the x-tollgate-* response headers: the hold, the budget, what remains
 * on it and, once settled, the cost (docs/proxy.md, "Cost in the response"). */
void tg__proxy_cost_headers(proxy_call *call);

/* proxy_spend.c: a stream's last words, an SSE comment every SDK skips:
 * ": tollgate hold_micros=H cost_micros=C remaining_micros=R budget=PATH". */
void tg__proxy_cost_comment(proxy_call *call, tg__buf *out);

/* proxy_spend.c: the call's spend-log row (core/journal.h tg__call_row), journaled with
 * the batch that settles it. Metered calls only. */
void tg__proxy_call_log(proxy_call *call);

/* proxy_spend.c: the spend-log row of a background run settled after its create (a
 * retrieve, a cancel, its deadline): outcome "background_ended", or "no_usage" when it
 * was charged its hold. usage NULL: none reported. */
void tg__proxy_run_log(tg__proxy *proxy, const tg__proxy_run *run, const tg__proxy_settled *settled,
                       const tg__usage *usage);

/* proxy_reply.c: settles a background run from a final response object (status completed,
 * failed, cancelled, incomplete): its usage and tool fees, else its hold. */
void tg__proxy_run_settle(tg__proxy *proxy, tg__proxy_run *run, const tg__usage *usage,
                          int64_t fee_micros);

/* proxy.c: a zeroed call's memory, a kept one or a new one; NULL when out of memory.
 * Handed back by tg__proxy_call_free. */
proxy_call *tg__proxy_call_alloc(tg__proxy *proxy);

/* proxy.c: unlinks and frees a call (its transfer must be removed already). */
void tg__proxy_call_free(proxy_call *call);

/* proxy.c: true when more than TG__PROXY_CLIENT_BUFFERED_MAX waits to go to the client. */
bool tg__proxy_client_slow(proxy_call *call);

/* proxy.c: true when the client's connection is gone. */
bool tg__proxy_client_gone(proxy_call *call);

#endif
