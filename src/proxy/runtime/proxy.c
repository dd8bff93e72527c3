/*
 * proxy: the proxy's place in the daemon: routing requests to it, and driving
 * libcurl's multi interface from the daemon's libevent loop (one event per
 * socket curl asks for, in proxy_sockets.c, one timer for curl's timeouts), the
 * way curl's hiperfifo example does, so thousands of streams cost no thread.
 *
 * A periodic sweep finds calls whose client left (libevent detaches such a
 * request from its connection) and streams whose class was revoked while the
 * upstream was silent; both are ended here rather than at the next upstream byte.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event_struct.h>

#include "core/path.h"
#include "proxy/refusal.h"
#include "proxy/runtime/proxy_internal.h"

/* ---- curl on libevent --------------------------------------------------------- */

void tg__proxy_read_done(tg__proxy *proxy) {
    CURLMsg *message;
    int left = 0;
    while ((message = curl_multi_info_read(proxy->multi, &left)) != NULL) {
        if (message->msg != CURLMSG_DONE) {
            continue;
        }
        proxy_call *call = NULL;
        CURLcode result = message->data.result;
        CURL *easy = message->easy_handle;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
        curl_multi_remove_handle(proxy->multi, easy);
        call->easy_reusable = result == CURLE_OK && !call->streaming;
        tg__proxy_call_done(call, result);
    }
}

static void on_timeout(evutil_socket_t fd, short kind, void *user) {
    (void)fd;
    (void)kind;
    tg__proxy_drive(user);
}

void tg__proxy_drive(tg__proxy *proxy) {
    int running = 0;
    curl_multi_socket_action(proxy->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    tg__proxy_read_done(proxy);
}

static int on_timer(CURLM *multi, long timeout_ms, void *user) {
    (void)multi;
    tg__proxy *proxy = user;
    if (timeout_ms < 0) {
        evtimer_del(proxy->timer);
        return 0;
    }
    struct timeval after = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(proxy->timer, &after);
    return 0;
}

/* ---- calls ---------------------------------------------------------------------- */

/* Handles are kept rather than made and destroyed per call: curl_easy_init and
 * curl_easy_cleanup cost ~4 us a call, curl_easy_reset ~0.5 us (a plain call's whole
 * CPU is ~150 us). Only a handle whose transfer ended normally and never streamed is
 * kept, so no pause or abort state can reach the next call; reset clears every option,
 * and the connections stay in the multi's cache either way. */
CURL *tg__proxy_easy_take(tg__proxy *proxy) {
    if (proxy->easy_idle_count > 0) {
        return proxy->easy_idle[--proxy->easy_idle_count];
    }
    return curl_easy_init();
}

static void easy_give(tg__proxy *proxy, CURL *easy, bool reusable) {
    if (!reusable || proxy->easy_idle_count == TG__PROXY_EASY_IDLE_MAX) {
        curl_easy_cleanup(easy);
        return;
    }
    curl_easy_reset(easy);
    proxy->easy_idle[proxy->easy_idle_count++] = easy;
}

bool tg__proxy_client_gone(proxy_call *call) {
    if (!call->client_gone && !call->replied &&
        evhttp_request_get_connection(call->request) == NULL) {
        call->client_gone = true; /* libevent detached it: the connection closed */
    }
    return call->client_gone;
}

bool tg__proxy_client_slow(proxy_call *call) {
    struct evhttp_connection *connection = evhttp_request_get_connection(call->request);
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    return events != NULL &&
           evbuffer_get_length(bufferevent_get_output(events)) > TG__PROXY_CLIENT_BUFFERED_MAX;
}

/* A call's struct is ~5 kB: glibc serves that size from its large bins, and first
 * consolidates the small chunks the last call freed, so calloc cost ~10,000
 * instructions a call (callgrind, docs/benchmarks-proxy.md) against ~300 to zero kept
 * memory. Only the struct is kept: everything it owns is freed as before. Not under
 * AddressSanitizer, so that a call used after its free is still caught there. */
#if defined(__SANITIZE_ADDRESS__)
#define KEEP_CALLS false
#else
#define KEEP_CALLS true
#endif

proxy_call *tg__proxy_call_alloc(tg__proxy *proxy) {
    if (proxy->call_idle_count > 0) {
        proxy_call *call = proxy->call_idle[--proxy->call_idle_count];
        memset(call, 0, sizeof *call);
        return call;
    }
    return calloc(1, sizeof(proxy_call));
}

void tg__proxy_call_free(proxy_call *call) {
    tg__proxy *proxy = call->proxy;
    if (call->prev != NULL) {
        call->prev->next = call->next;
    } else if (proxy->calls == call) {
        proxy->calls = call->next;
    }
    if (call->next != NULL) {
        call->next->prev = call->prev;
    }
    proxy->calls_count--;
    if (call->wait_id != 0) { /* still waiting: dropped, nothing was held for it */
        (void)tg_wait_cancel(proxy->daemon->engine, call->wait_id, tg__now_ms(), NULL);
    }
    free(call->wait_secret);
    if (call->easy != NULL) {
        easy_give(proxy, call->easy, call->easy_reusable);
    }
    curl_slist_free_all(call->headers);
    free(call->body);
    tg__request_free(&call->parsed);
    tg__buf_free(&call->response_headers);
    tg__buf_free(&call->response);
    tg__buf_free(&call->held);
    tg__buf_free(&call->out);
    tg__sse_free(&call->sse);
    tg__stream_free(&call->stream);
    if (KEEP_CALLS && proxy->call_idle_count < TG__PROXY_CALL_IDLE_MAX) {
        proxy->call_idle[proxy->call_idle_count++] = call;
    } else {
        free(call);
    }
}

/* Ends a call from outside curl's callbacks (client gone, revoked, idle, shutdown). */
static void end_call(proxy_call *call, CURLcode result) {
    curl_multi_remove_handle(call->proxy->multi, call->easy);
    tg__proxy_call_done(call, result);
}

static void abort_call(proxy_call *call) {
    end_call(call, CURLE_ABORTED_BY_CALLBACK);
}

/* Background runs nobody settled by their deadline are charged their hold; at shutdown
 * (`all`) every open run is, since Tollgate stops following it (docs/proxy.md). */
static void settle_runs(tg__proxy *proxy, bool all) {
    int64_t now_ms = tg__now_ms();
    for (int i = 0; i < TG__PROXY_RUNS_MAX && tg__proxy_runs_open(proxy->runs) > 0; i++) {
        tg__proxy_run *run = tg__proxy_run_at(proxy->runs, i);
        if (run->hold_id != 0 && (all || now_ms >= run->deadline_ms)) {
            tg__proxy_run_settle(proxy, run, NULL, 0);
        }
    }
}

static void on_sweep(evutil_socket_t fd, short kind, void *user) {
    (void)fd;
    (void)kind;
    tg__proxy *proxy = user;
    settle_runs(proxy, false);
    proxy_call *call = proxy->calls;
    while (call != NULL) {
        proxy_call *next = call->next;
        if (tg__proxy_wait_sweep(call)) {
            call = next; /* its client left while it waited: ended, nothing held */
            continue;
        }
        bool revoked = false;
        if (call->streaming && call->hold_id != 0) {
            tg_hold_info hold;
            revoked = tg_hold_get(proxy->daemon->engine, call->hold_id, &hold, NULL) == TG_OK &&
                      hold.cancel_requested;
        }
        /* A paused transfer is the client's slowness, not the upstream's silence. */
        bool idle = call->easy != NULL && !call->paused && call->last_byte_ms > 0 &&
                    (tg__now_ms() - call->last_byte_ms > proxy->config.stream_idle_timeout_ms ||
                     tg__proxy_answer_late(call, tg__now_ms()));
        if (call->easy != NULL && (tg__proxy_client_gone(call) || revoked)) {
            call->cut = revoked && !call->client_gone;
            abort_call(call);
        } else if (idle) {
            end_call(call, CURLE_OPERATION_TIMEDOUT);
        } else if (call->paused && !tg__proxy_client_slow(call)) {
            call->paused = false; /* back-pressure: the client caught up */
            call->last_byte_ms = tg__now_ms();
            curl_easy_pause(call->easy, CURLPAUSE_CONT);
        }
        call = next;
    }
}

/* ---- the daemon's calls ------------------------------------------------------------ */

/* prices.json beside the binary: where the build puts it. */
static void default_prices_file(char *out, size_t size) {
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    self[length > 0 ? length : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL) {
        slash[1] = '\0';
    }
    size_t length_used = strlen(self);
    if (slash == NULL || length_used + sizeof "prices.json" > size) {
        snprintf(out, size, "prices.json"); /* the working directory's */
        return;
    }
    memcpy(out, self, length_used);
    memcpy(out + length_used, "prices.json", sizeof "prices.json");
}

/* Is `model` priced for a provider some upstream of `config` serves? */
static bool priced_somewhere(const tg__proxy_config *config, const tg__price_table *table,
                             const char *model) {
    tg__model_price price;
    for (int i = 0; TG__PROVIDERS[i] != NULL; i++) {
        if (config->upstreams[TG__PROVIDERS[i]->index].configured &&
            tg__prices_lookup(table, TG__PROVIDERS[i]->prices_id, model, tg__now_ms(), &price,
                              NULL) == TG_OK) {
            return true;
        }
    }
    for (int64_t i = 0; i < config->compatible_count; i++) {
        if (tg__prices_lookup(table, config->compatible[i].prices_id, model, tg__now_ms(), &price,
                              NULL) == TG_OK) {
            return true;
        }
    }
    return false;
}

/* over_budget: switch to a model without a price would hold nothing true: the config is
 * refused when any listed model has no price for any configured upstream. */
static tg_status switch_models_check(const tg__proxy_config *config, const tg__price_table *table,
                                     tg_error *err) {
    for (int64_t i = 0; config->over_budget == TG__OVER_SWITCH && i < config->switch_models_count;
         i++) {
        if (!priced_somewhere(config, table, config->switch_models[i])) {
            return tg__fail(err, TG_ERR_INVALID,
                            "config: proxy.switch_model: %.64s has no price for any configured "
                            "upstream (add it to proxy.price_overrides)",
                            config->switch_models[i]);
        }
    }
    return TG_OK;
}

/* Opens the price table named by `config` and applies its overrides: a table ready to
 * use, or an error and nothing (so a reload can keep the old table whole). */
static tg_status prices_load(tg__proxy_config *config, tg__price_table **out, tg_error *err) {
    if (config->prices_file[0] == '\0') {
        default_prices_file(config->prices_file, sizeof config->prices_file);
    }
    tg__price_table *table = NULL;
    tg_status status = tg__prices_open(config->prices_file, &table, err);
    for (int64_t i = 0; status == TG_OK && i < config->overrides_count; i++) {
        const tg__model_price *price = &config->overrides[i];
        status = tg__prices_override(table, price->provider, price->model, price, err);
    }
    if (status == TG_OK) {
        status = switch_models_check(config, table, err);
    }
    if (status != TG_OK) {
        tg__prices_close(table);
        return status;
    }
    *out = table;
    return TG_OK;
}

tg_status tg__proxy_start_config(struct fy_document *config_document, struct event_base *base,
                                 tg__daemon *daemon, tg__proxy_flush_fn flush, void *flush_user,
                                 tg__proxy **out, tg_error *err) {
    *out = NULL;
    tg__proxy_config config;
    bool found = false;
    tg_status status = tg__proxy_config_read(config_document, &config, &found, err);
    if (status != TG_OK) {
        return status;
    }
    if (!found) {
        tg__proxy_config_free(&config);
        return TG_OK;
    }
    tg__proxy *proxy = calloc(1, sizeof *proxy);
    if (proxy == NULL) {
        tg__proxy_config_free(&config);
        return TG_ERR_NOMEM;
    }
    proxy->base = base;
    proxy->daemon = daemon;
    proxy->flush = flush;
    proxy->flush_user = flush_user;
    status = prices_load(&config, &proxy->prices, err);
    proxy->config = config; /* owned by the proxy from here: freed by tg__proxy_free */
    if (status != TG_OK) {
        tg__proxy_free(proxy);
        return status;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    proxy->multi = curl_multi_init();
    proxy->timer = evtimer_new(base, on_timeout, proxy);
    proxy->sweep = event_new(base, -1, EV_PERSIST, on_sweep, proxy);
    proxy->chains = tg__chains_new();
    proxy->runs = tg__proxy_runs_new();
    if (proxy->multi == NULL || proxy->timer == NULL || proxy->sweep == NULL ||
        proxy->chains == NULL || proxy->runs == NULL) {
        tg__proxy_free(proxy);
        return TG_ERR_NOMEM;
    }
    curl_multi_setopt(proxy->multi, CURLMOPT_SOCKETFUNCTION, tg__proxy_on_socket);
    curl_multi_setopt(proxy->multi, CURLMOPT_SOCKETDATA, proxy);
    curl_multi_setopt(proxy->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(proxy->multi, CURLMOPT_TIMERDATA, proxy);
    struct timeval interval = {0, TG__PROXY_SWEEP_INTERVAL_MS * 1000};
    event_add(proxy->sweep, &interval);
    fprintf(stderr, "tollgate: proxy: %lld models priced (%s), %lld price overrides\n",
            (long long)tg__prices_models_count(proxy->prices), tg__prices_source(proxy->prices),
            (long long)proxy->config.overrides_count);
    *out = proxy;
    return TG_OK;
}

tg_status tg__proxy_reload(tg__proxy *proxy, struct fy_document *config_document, tg_error *err) {
    if (proxy == NULL) {
        return TG_OK;
    }
    tg__proxy_config fresh;
    bool found = false;
    tg_status status = tg__proxy_config_read(config_document, &fresh, &found, err);
    if (status != TG_OK) {
        return status;
    }
    tg__price_table *table = NULL;
    status = prices_load(&fresh, &table, err);
    if (status != TG_OK) {
        tg__proxy_config_free(&fresh);
        return status;
    }
    /* Calls in flight copied their prices at admission: closing the old table is safe. */
    tg__prices_close(proxy->prices);
    proxy->prices = table;
    /* Upstreams are kept: a call in flight may be on one, and a removed section cannot
     * stop the routes that are being served. The other settings apply to new calls. */
    memcpy(fresh.upstreams, proxy->config.upstreams, sizeof fresh.upstreams);
    memcpy(fresh.compatible, proxy->config.compatible, sizeof fresh.compatible);
    fresh.compatible_count = proxy->config.compatible_count;
    tg__proxy_config_free(&proxy->config);
    proxy->config = fresh;
    fprintf(stderr, "tollgate: proxy: reloaded %lld models priced (%s), %lld price overrides\n",
            (long long)tg__prices_models_count(table), tg__prices_source(table),
            (long long)fresh.overrides_count);
    return TG_OK;
}

/* The named upstream `name` (name_size bytes), NULL when none is configured. */
static const tg__upstream *upstream_named(const tg__proxy *proxy, const char *name,
                                          size_t name_size) {
    for (int64_t i = 0; i < proxy->config.compatible_count; i++) {
        const tg__upstream *candidate = &proxy->config.compatible[i];
        if (strlen(candidate->name) == name_size &&
            strncmp(candidate->name, name, name_size) == 0) {
            return candidate;
        }
    }
    return NULL;
}

/* The route `path` serves for `method` ("GET" or "POST") on `upstream` (NULL: the
 * provider's own paths). False: none. */
static bool route_of(const tg__upstream *upstream, const char *method, const char *path,
                     tg__route *route, char *deployment, size_t deployment_size) {
    if (upstream != NULL && upstream->wire == &tg__provider_azure) {
        return strcmp(method, "POST") == 0 &&
               tg__azure_route(path, route, deployment, deployment_size) == TG_OK;
    }
    return tg__route_find(method, path, route) == TG_OK &&
           (upstream == NULL || tg__route_provider(*route) == &tg__provider_openai);
}

/* Another method than the route's on one of the proxy's paths: 405 in the provider's error
 * shape, as the daemon's route table promises for a front end that claims its own paths.
 * False when the path is no route of the proxy's (the next front end is asked). */
static bool wrong_method(tg__proxy *proxy, struct evhttp_request *request,
                         const tg__upstream *upstream, const char *path) {
    tg__route route;
    char deployment[TG__PROXY_NAME_SIZE_MAX];
    bool post = route_of(upstream, "POST", path, &route, deployment, sizeof deployment);
    if (!post && !route_of(upstream, "GET", path, &route, deployment, sizeof deployment)) {
        return false;
    }
    tg__buf body;
    tg__buf_init(&body, 4096);
    tg__error_write(tg__route_provider(route), 405, "method_not_allowed",
                    post ? "Tollgate: this route takes POST" : "Tollgate: this route takes GET",
                    &body);
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    evhttp_add_header(headers, "Content-Type", "application/json");
    evhttp_add_header(headers, "Allow", post ? "POST" : "GET");
    struct evbuffer *out = evbuffer_new();
    if (out != NULL && body.data != NULL) {
        evbuffer_add(out, body.data, body.size);
    }
    evhttp_send_reply(request, 405, "Method Not Allowed", out);
    if (out != NULL) {
        evbuffer_free(out);
    }
    tg__buf_free(&body);
    proxy->daemon->metrics.errors++;
    return true;
}

bool tg__proxy_handle(tg__proxy *proxy, struct evhttp_request *request) {
    if (proxy == NULL) {
        return false;
    }
    const char *method = NULL; /* NULL: neither GET nor POST */
    switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_GET:
        method = "GET";
        break;
    case EVHTTP_REQ_POST:
        method = "POST";
        break;
    default:
        break;
    }
    char path[256];
    const char *uri = evhttp_request_get_uri(request);
    size_t length = strcspn(uri, "?");
    if (length >= sizeof path) {
        return false;
    }
    memcpy(path, uri, length);
    path[length] = '\0';
    /* /p/NAME/...: a route of the upstream NAME (OpenAI's, or Azure's deployment paths);
     * /openai/deployments/...: Azure's, of the upstream named azure. */
    const tg__upstream *upstream = NULL;
    const char *route_path = path;
    size_t prefix_size = 0;
    if (strncmp(path, "/p/", 3) == 0) {
        const char *name = path + 3;
        size_t name_size = strcspn(name, "/");
        upstream = upstream_named(proxy, name, name_size);
        if (upstream == NULL) {
            return false; /* the API answers 404 */
        }
        route_path = name + name_size;
        prefix_size = 3 + name_size;
    } else if (strncmp(path, "/openai/", 8) == 0) {
        upstream = upstream_named(proxy, "azure", 5);
    }
    if (method == NULL) {
        return wrong_method(proxy, request, upstream, route_path);
    }
    tg__route route;
    char deployment[TG__PROXY_NAME_SIZE_MAX] = "";
    if (!route_of(upstream, method, route_path, &route, deployment, sizeof deployment)) {
        return false;
    }
    tg__proxy_call_start(proxy, request, route, upstream, prefix_size, deployment);
    proxy->flush(proxy->flush_user);
    return true;
}

void tg__proxy_free(tg__proxy *proxy) {
    if (proxy == NULL) {
        return;
    }
    while (proxy->calls != NULL) {
        if (proxy->calls->wait_id != 0) { /* waiting for room: nothing held, nothing sent */
            tg__proxy_send_error(proxy->calls, 503, "shutting_down",
                                 "Tollgate is stopping; nothing was held for this call");
            tg__proxy_call_done(proxy->calls, CURLE_OK); /* its waiter is cancelled */
            continue;
        }
        proxy->calls->client_gone = true; /* shutting down: commit what was used */
        abort_call(proxy->calls);
    }
    if (proxy->runs != NULL) {
        settle_runs(proxy, true);
    }
    for (int i = 0; i < proxy->easy_idle_count; i++) {
        curl_easy_cleanup(proxy->easy_idle[i]);
    }
    for (int i = 0; i < proxy->call_idle_count; i++) {
        free(proxy->call_idle[i]);
    }
    if (proxy->multi != NULL) {
        curl_multi_cleanup(proxy->multi); /* closes the connections: close_socket */
    }
    tg__proxy_sockets_free(proxy);
    if (proxy->timer != NULL) {
        event_free(proxy->timer);
    }
    if (proxy->sweep != NULL) {
        event_free(proxy->sweep);
    }
    tg__prices_close(proxy->prices);
    tg__proxy_config_free(&proxy->config);
    tg__chains_free(proxy->chains);
    tg__proxy_runs_free(proxy->runs);
    free(proxy);
}
