/*
 * serve: `tollgate serve` from start to exit. Opens the engine and applies the
 * config, starts the HTTP pipeline (http.c) on one libevent loop, and handles
 * the signals: SIGHUP re-reads the config (budgets, policy, keys, prices) into
 * the running engine and restarts the notify sinks when their section changed;
 * SIGTERM and SIGINT stop accepting, drain what was read, and exit 0 once
 * everything acknowledged is on disk.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "notify/notify.h"
#include "server/events_stream.h"
#include "server/http.h"
#include "server/mcp_http.h"
#include "server/proxy.h"

#define TICK_INTERVAL_US 10000 /* tg__http_tick every 10 ms */
#define DRAIN_US 200000        /* at SIGTERM: time to finish requests already read */
#define DRAIN_WAIT_MAX 500     /* then at most this many 10 ms waits for the last commit */

typedef struct {
    tg__daemon daemon;
    const char *config_file;
    int port; /* --port, or -1 */
    struct event_base *base;
    tg__http *http;
    struct event *drain;
    int drain_waits;
    bool stopping;
} serve_state;

static void on_tick(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    tg__http_tick(((serve_state *)user)->http);
}

static void proxy_flush(void *user);

static void on_reload(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    serve_state *self = user;
    tg__config *fresh = malloc(sizeof *fresh);
    tg_error err = {0};
    if (fresh == NULL) {
        fprintf(stderr, "tollgate: reload refused: out of memory\n");
        return;
    }
    tg__config_defaults(fresh);
    tg__notify_config *notify = NULL; /* read first: an error in it refuses the whole file */
    tg__mcp_http_config *mcp = NULL;  /* likewise */
    /* The engine is inside the pipeline's batch: these changes ride with the next commit. */
    if (tg__config_load(self->config_file, fresh, &err) != TG_OK ||
        tg__notify_config_load_for(self->config_file, self->daemon.config->store, &notify, &err) !=
            TG_OK ||
        tg__mcp_http_config_load(self->config_file, &mcp, &err) != TG_OK ||
        tg__config_apply(fresh, self->daemon.config, self->daemon.engine, tg__now_ms(), &err) !=
            TG_OK) {
        fprintf(stderr, "tollgate: reload refused, keeping the old config: %s\n", err.message);
        tg__notify_config_free(notify);
        tg__mcp_http_config_free(mcp);
        free(fresh);
        return;
    }
    /* MCP servers, prices and classes (sessions of a changed command or budget end). */
    if (tg__mcp_http_reload(&self->daemon.mcp, mcp, self->base, &self->daemon, proxy_flush, self,
                            &err) != TG_OK) {
        fprintf(stderr, "tollgate: reload: MCP over HTTP is unchanged: %s\n", err.message);
    }
    /* The store needs a restart: the sinks keep using the file the engine has open. */
    if (tg__notify_restart(&self->daemon.notifier, notify, self->daemon.config->store_path, &err) !=
        TG_OK) {
        fprintf(stderr, "tollgate: reload: the notify sinks are unchanged: %s\n", err.message);
    }
    /* The proxy's price table and overrides: a bad price file keeps the old prices. */
    if (tg__proxy_reload(self->daemon.proxy, self->config_file, &err) != TG_OK) {
        fprintf(stderr, "tollgate: reload: the proxy keeps its old prices and settings: %s\n",
                err.message);
    }
    /* Address, port, store and limits take a restart; keys, budgets, policy, prices do not. */
    free(self->daemon.config);
    self->daemon.config = fresh;
    tg__http_flush_soon(self->http);
    fprintf(stderr, "tollgate: reloaded %s\n", self->config_file);
}

static void on_drain(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    serve_state *self = user;
    if (!tg__http_idle(self->http) && self->drain_waits++ < DRAIN_WAIT_MAX) {
        struct timeval again = {0, 10000};
        event_add(self->drain, &again); /* the tick keeps committing meanwhile */
        return;
    }
    struct timeval written = {0, 20000}; /* the last replies leave their buffers */
    event_base_loopexit(self->base, &written);
}

static void on_stop(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    serve_state *self = user;
    if (self->stopping) {
        return;
    }
    self->stopping = true;
    /* Stop accepting, then keep the loop running for a short drain so requests already
     * read are decided, committed and their replies written out. */
    tg__http_stop_listening(self->http);
    tg__streams_stop(self->daemon.streams); /* clients reconnect elsewhere with Last-Event-ID */
    struct timeval drain = {0, DRAIN_US};
    event_add(self->drain, &drain);
}

/* The engine's events: kept for the API, and told to MCP sessions (revocation). */
static void serve_on_event(void *user, const tg_event *event) {
    serve_state *self = user;
    tg__daemon_on_event(&self->daemon, event);
    tg__mcp_http_note_event(self->daemon.mcp, event);
}

static bool open_engine(serve_state *self, tg__config *config) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = config->store;
    options.path = config->store_path;
    options.durability = config->durability;
    options.sync_interval_ms = config->sync_interval_ms;
    options.holds_max = config->holds_max;
    options.budgets_max = config->budgets_max;
    options.idempotency_max = config->idempotency_max;
    options.default_hold_ttl_ms = config->default_hold_ttl_ms;
    options.max_hold_ttl_ms = config->max_hold_ttl_ms;
    options.on_event = serve_on_event;
    options.on_event_user = self;
    tg_error err = {0};
    if (tg_engine_open(&options, tg__now_ms(), &self->daemon.engine, &err) != TG_OK ||
        tg__config_apply(config, NULL, self->daemon.engine, tg__now_ms(), &err) != TG_OK ||
        tg_engine_sync(self->daemon.engine, &err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start: %s\n", err.message);
        return false;
    }
    return true;
}

/* Each connection is a file descriptor: make room for connections_max of them. */
static void raise_file_limit(const tg__config *config) {
    struct rlimit files;
    rlim_t needed = (rlim_t)config->connections_max + 64;
    if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur >= needed) {
        return;
    }
    files.rlim_cur = files.rlim_max < needed ? files.rlim_max : needed;
    setrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur < needed) {
        fprintf(stderr,
                "tollgate: limits.connections_max is %lld but this process may open only %llu "
                "files (ulimit -n)\n",
                (long long)config->connections_max, (unsigned long long)files.rlim_cur);
    }
}

static void warn_without_admin(const tg__config *config) {
    bool has_admin = getenv("TOLLGATE_ADMIN_KEY") != NULL;
    for (int i = 0; i < config->keys_count; i++) {
        has_admin = has_admin || config->keys[i].role == TG__ROLE_ADMIN;
    }
    if (!has_admin) {
        fprintf(stderr, "tollgate: no admin key: restart with TOLLGATE_ADMIN_KEY=<secret>, "
                        "or add one with `tollgate keys create NAME --role admin`\n");
    }
}

/* The proxy settled a call: its commit goes out with this loop turn's batch. */
static void proxy_flush(void *user) {
    tg__http_flush_soon(((serve_state *)user)->http);
}

int tg__serve(const char *config_file, tg__config *config, int port) {
    static serve_state self; /* one per process; signal events point at it */
    self.config_file = config_file;
    self.port = port;
    self.daemon.config = config;
    self.daemon.admin_secret = getenv("TOLLGATE_ADMIN_KEY");
    signal(SIGPIPE, SIG_IGN);
    raise_file_limit(config);
    self.base = event_base_new();
    event_base_priority_init(self.base, 3);
    if (!open_engine(&self, config)) {
        tg_engine_close(self.daemon.engine);
        event_base_free(self.base);
        free(config);
        return 1;
    }
    tg_error notify_err = {0};
    if (tg__notify_start_file(config_file, config->store, config->store_path, &self.daemon.notifier,
                              &notify_err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start: %s\n", notify_err.message);
        tg_engine_close(self.daemon.engine);
        event_base_free(self.base);
        free(config);
        return 1;
    }
    /* Before listening, so a bad `mcp:` section stops the start (the flush runs later). */
    tg_error mcp_err = {0};
    if (tg__mcp_http_start_file(config_file, self.base, &self.daemon, proxy_flush, &self,
                                &self.daemon.mcp, &mcp_err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start MCP over HTTP: %s\n", mcp_err.message);
        tg_engine_close(self.daemon.engine);
        event_base_free(self.base);
        free(config);
        return 1;
    }
    tg_engine_batch_begin(self.daemon.engine); /* the pipeline's batch, ended by finish */
    self.http = tg__http_start(self.base, &self.daemon, config, port);
    if (self.http == NULL) {
        tg_engine_close(self.daemon.engine);
        event_base_free(self.base);
        free(config);
        return 1;
    }
    tg_error proxy_err = {0};
    if (tg__proxy_start_file(config_file, self.base, &self.daemon, proxy_flush, &self,
                             &self.daemon.proxy, &proxy_err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start the proxy: %s\n", proxy_err.message);
        tg__http_finish(self.http);
        tg_engine_close(self.daemon.engine);
        event_base_free(self.base);
        free(config);
        return 1;
    }
    self.daemon.streams = tg__streams_new(self.base, &self.daemon);
    if (self.daemon.streams == NULL) {
        fprintf(stderr, "tollgate: cannot start the event streams: out of memory\n");
        tg__mcp_http_free(self.daemon.mcp);
        tg__proxy_free(self.daemon.proxy);
        tg__http_finish(self.http);
        tg_engine_close(self.daemon.engine);
        event_base_free(self.base);
        free(config);
        return 1;
    }
    warn_without_admin(config);
    struct event *tick = event_new(self.base, -1, EV_PERSIST, on_tick, &self);
    struct timeval interval = {0, TICK_INTERVAL_US};
    event_add(tick, &interval);
    self.drain = evtimer_new(self.base, on_drain, &self);
    struct event *term = evsignal_new(self.base, SIGTERM, on_stop, &self);
    struct event *interrupt = evsignal_new(self.base, SIGINT, on_stop, &self);
    struct event *hangup = evsignal_new(self.base, SIGHUP, on_reload, &self);
    event_add(term, NULL);
    event_add(interrupt, NULL);
    event_add(hangup, NULL);
    event_base_dispatch(self.base);
    tg__mcp_http_free(self.daemon.mcp); /* holds of open calls released before the last commit */
    self.daemon.mcp = NULL;
    tg__proxy_free(self.daemon.proxy); /* in-flight calls settle before the last commit */
    self.daemon.proxy = NULL;
    tg__streams_free(self.daemon.streams); /* each stream ends with a last chunk */
    self.daemon.streams = NULL;
    bool ok = tg__http_finish(self.http);
    tg_error err = {0};
    ok = tg_engine_sync(self.daemon.engine, &err) == TG_OK && ok;
    if (!ok) {
        fprintf(stderr, "tollgate: the store failed; what was not acknowledged is lost\n");
    }
    tg__notify_stop(self.daemon.notifier, 1000); /* undelivered events wait in the outbox */
    tg_engine_close(self.daemon.engine);
    tg__reader_close(&self.daemon);
    event_free(tick);
    event_free(self.drain);
    event_free(term);
    event_free(interrupt);
    event_free(hangup);
    event_base_free(self.base);
    free(self.daemon.config);
    return ok ? 0 : 1;
}
