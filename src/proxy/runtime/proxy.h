/*
 * proxy: the LLM routes (docs/proxy.md) served by `tollgate serve` beside the API.
 * Each call is priced and its worst case held before it is forwarded; the
 * upstream is called with libcurl's multi interface on the daemon's own event
 * loop, so a stream costs no thread. What the call really used is committed when
 * it ends, however it ends (finished, cut, failed, or the client gone).
 *
 * Unlike the API's replies, a proxied reply does not wait for its hold's group
 * commit: the call's latency would include an fsync. A crash before the commit
 * loses only holds, never a charge already acknowledged by the API.
 */
#ifndef TG_SERVER_PROXY_H
#define TG_SERVER_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "proxy/cost.h"
#include "proxy/plan.h"
#include "proxy/provider.h"
#include "server/daemon.h"

#define TG__PROXY_CALLS_MAX 65536          /* calls in flight at once */
#define TG__PROXY_HEADERS_MAX 64           /* client headers forwarded upstream */
#define TG__PROXY_URL_SIZE_MAX 512         /* bytes of an upstream base URL */
#define TG__PROXY_KEY_SIZE_MAX 512         /* bytes of a provider key */
#define TG__PROXY_SWEEP_INTERVAL_MS 20     /* how often disconnects and revocations are checked */
#define TG__PROXY_COMPATIBLE_MAX 32        /* OpenAI-compatible upstreams configured by name */
#define TG__PROXY_NAME_SIZE_MAX 64         /* bytes of such an upstream's name, NUL included */
#define TG__PROXY_DEPLOYMENTS_MAX 16       /* Azure deployments mapped to models, per upstream */
#define TG__PROXY_FALLBACKS_MAX 4          /* upstreams an upstream's failed call may move to */
#define TG__PROXY_FALLBACK_STATUSES_MAX 16 /* entries of proxy.fallback_on_status */
#define TG__PROXY_EASY_IDLE_MAX 64         /* finished curl handles kept for the next calls */
#define TG__PROXY_CALL_IDLE_MAX 16         /* freed calls' memory kept for the next calls */
#define TG__PROXY_SOCKETS_KEPT_MAX 256     /* upstream connections whose sockets stay watched */

/* An Azure deployment and the model it serves (upstreams.NAME.deployments). */
typedef struct {
    char name[TG__PROXY_NAME_SIZE_MAX]; /* the deployment, as in the path */
    char model[TG_NAME_SIZE_MAX];       /* the model it runs, for prices ("gpt-4o") */
} tg__deployment;

/* One upstream provider, from the config's `upstreams:` section. */
typedef struct {
    bool configured;                       /* the section names it */
    char base_url[TG__PROXY_URL_SIZE_MAX]; /* "https://api.openai.com" (no /v1) */
    char api_key[TG__PROXY_KEY_SIZE_MAX];  /* the provider key ("" none) */
    bool pass_agent_key;                   /* forward the agent's own key instead */
    /* An OpenAI-compatible upstream configured by name (Groq, Mistral, a local vLLM), served
     * under /p/NAME/v1/...: */
    char name[TG__PROXY_NAME_SIZE_MAX];    /* its name, "" for a provider's own upstream */
    char prices_id[TG__PROVIDER_SIZE_MAX]; /* the price data's provider id (default: name) */
    bool free;                             /* `prices: free`: every model at price 0 */
    const tg__provider *wire;              /* `wire:` (openai, azure, openrouter): the table
                                              its calls use; NULL for a provider's own */
    tg__deployment deployments[TG__PROXY_DEPLOYMENTS_MAX]; /* wire: azure, its mapping */
    int64_t deployments_count;                             /* entries in deployments */
    bool wait_set;   /* `wait_ms` was given: it overrides proxy.wait_ms */
    int64_t wait_ms; /* wait_set: this upstream's wait (0: none) */
    /* `fallbacks: [a, b]`: upstreams of the same wire a call started here moves to, in
     * order, when this one fails before answering (proxy_failover.c). Names, not pointers:
     * the config is copied by value. */
    char fallbacks[TG__PROXY_FALLBACKS_MAX][TG__PROXY_NAME_SIZE_MAX];
    int64_t fallbacks_count;   /* entries in fallbacks */
    int64_t answer_timeout_ms; /* no status line by then: the attempt failed (0: only
                                  proxy.timeout_ms bounds it) */
} tg__upstream;

/* The proxy's settings (`proxy:` and `upstreams:`). */
typedef struct {
    tg__upstream upstreams[TG__PROVIDERS_MAX];         /* by provider index (proxy/provider.h) */
    tg__upstream compatible[TG__PROXY_COMPATIBLE_MAX]; /* OpenAI-wire ones, by name */
    int64_t compatible_count;                          /* entries in compatible */
    char prices_file[1024];                            /* "" = prices.json beside the binary */
    int64_t timeout_ms;                                /* whole upstream call, streams included */
    int64_t stream_idle_timeout_ms;    /* silence between upstream bytes before giving up */
    int64_t default_max_output_tokens; /* the cap given to a call that sets none */
    int64_t server_tool_uses_max;      /* server tools without max_uses; 0 refuse */
    int64_t server_tool_result_tokens; /* tokens one server-tool use adds; 0 context window */
    int64_t stored_state_tokens_max;   /* an unknown previous_response_id; 0 refuse */
    int64_t pdf_page_tokens;           /* per-page maximum of a PDF */
    int64_t background_deadline_ms;    /* a background run not settled by then is charged
                                          its hold (at most max_hold_ttl_ms) */
    int64_t connect_timeout_ms;        /* connecting to the upstream */
    tg__over_policy over_budget;       /* refuse | lower | switch */
    int64_t min_output_tokens;         /* lower: the smallest cap worth calling */
    char switch_models[TG__PLAN_SWITCH_MODELS_MAX][TG_NAME_SIZE_MAX]; /* switch: the cheaper
                                            models, tried in order (`switch_model:`) */
    int64_t switch_models_count;                                      /* entries in switch_models */
    int64_t retry_automatic_ms_max; /* SDKs retry a refusal on their own below this */
    int refusal_status;             /* a final refusal's status: 429, 402 or 403; 0 auto
                                       (402 to the Vercel AI SDK, 429 to the others) */
    bool user_budgets;              /* the request's user names a child of the scope */
    int64_t wait_ms;                /* a refused call waits in the daemon up to this long
                                       for room (a waiting hold); 0: refused at once */
    int fallback_statuses[TG__PROXY_FALLBACK_STATUSES_MAX]; /* upstream statuses that move a
                                       call to the next fallback (proxy.fallback_on_status) */
    int64_t fallback_statuses_count;                        /* entries in fallback_statuses */
    tg__model_price *overrides; /* proxy.price_overrides (provider, model, rates);
                                   from malloc, freed by tg__proxy_config_free */
    int64_t overrides_count;    /* entries in overrides */
} tg__proxy_config;

typedef struct tg__proxy tg__proxy;

/* Called when the engine has work to commit (the daemon flushes its batch soon). */
typedef void (*tg__proxy_flush_fn)(void *user);

/*
 * Reads the config file's `proxy:` and `upstreams:` sections and starts the
 * proxy. *out is NULL (and TG_OK) when the file has no `upstreams:`: the routes
 * are then not served. TG_ERR_INVALID / TG_ERR_IO with a sentence in err.
 */
struct fy_document;
tg_status tg__proxy_start_config(struct fy_document *config_document, struct event_base *base,
                                 tg__daemon *daemon, tg__proxy_flush_fn flush, void *flush_user,
                                 tg__proxy **out, tg_error *err);

/* Reads the sections into *config (defaults first). *found says whether upstreams: exists.
 * On success the caller frees *config with tg__proxy_config_free; on failure nothing is
 * left to free. */
tg_status tg__proxy_config_load(const char *config_file, tg__proxy_config *config, bool *found,
                                tg_error *err);
/* The same from the config file's parsed document (config/config_file.h: read once). */
tg_status tg__proxy_config_read(struct fy_document *config_document, tg__proxy_config *config,
                                bool *found, tg_error *err);

/* The configured upstream called `name` (a provider's own, "openai", or one named by the
 * config), NULL when none is. Points into config. */
const tg__upstream *tg__proxy_upstream_find(const tg__proxy_config *config, const char *name);

/* The table an upstream's calls use: its `wire:`, or its provider's own. NULL when the
 * upstream is not in config. */
const tg__provider *tg__proxy_upstream_wire(const tg__proxy_config *config,
                                            const tg__upstream *upstream);

/* The upstream's name as logs and x-tollgate-upstream tell it ("openai", "backup"). */
const char *tg__proxy_upstream_label(const tg__proxy_config *config, const tg__upstream *upstream);

/* Frees what tg__proxy_config_load allocated (the overrides). NULL is a no-op. */
void tg__proxy_config_free(tg__proxy_config *config);

/*
 * SIGHUP: reads the `proxy:` section of the config file's document (parsed once by the
 * reload) and the price table file again, and
 * applies the config's price overrides to the fresh table. All or nothing: on any error
 * (a bad section, a missing or broken price file) the old table, overrides and settings
 * stay and err says why. Calls in flight keep the prices they were held with (each call
 * copied its model's prices at admission). Upstreams and limits take a restart.
 * NULL proxy: TG_OK (the routes are not served).
 */
tg_status tg__proxy_reload(tg__proxy *proxy, struct fy_document *config_document, tg_error *err);

/* Takes the request when it is on a proxy route (true); false leaves it to the API.
 * NULL proxy: always false. */
bool tg__proxy_handle(tg__proxy *proxy, struct evhttp_request *request);

/* Aborts every call in flight (each commits what it used), frees. NULL is a no-op. */
void tg__proxy_free(tg__proxy *proxy);

/* A waiter the engine decided (tg_wait_poll): handed to the proxied call waiting for it
 * (proxy.wait_ms, proxy_wait.c), which goes upstream or is refused. False when no call
 * owns it (the caller releases a grant). NULL proxy: false. */
bool tg__proxy_wait_decided(tg__proxy *proxy, const tg_wait_result *decided);

#endif
