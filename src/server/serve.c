/*
 * serve: `tollgate serve` from start to exit. Opens the engine and applies the
 * config (all or nothing, in one transaction), starts the HTTP pipeline
 * (http.c) on one libevent loop, and handles the signals: SIGHUP re-reads the
 * config (reload.c); SIGTERM and SIGINT stop accepting, drain what was read,
 * and exit 0 once everything acknowledged is on disk.
 *
 * The signal events are added before the listener prints "listening": from
 * then on a script may signal the daemon, and a signal that arrives before the
 * loop runs waits for it instead of killing the process.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "notify/notify.h"
#include "api/events_stream.h"
#include "server/http.h"
#include "config/config_file.h"
#include "config/keyring.h"
#include "mcp/http/mcp_http.h"
#include "proxy/runtime/proxy.h"
#include "server/reload.h"
#include "server/serve.h"
#include "server/store_redis.h"

#define DRAIN_US 200000    /* at SIGTERM: time to finish requests already read */
#define DRAIN_WAIT_MAX 500 /* then at most this many 10 ms waits for the last commit */

struct tg__served {
    tg__daemon daemon;
    tg__config_file *file; /* owned: the config file parsed once, each section read from it */
    int port;              /* --port, or -1 */
    struct event_base *base;
    tg__http *http;
    struct event *drain, *term, *interrupt, *hangup;
    int drain_waits;
    bool stopping;
};
typedef struct tg__served serve_state;

static void on_reload(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    serve_state *self = user;
    if (self->http == NULL) {
        return; /* still starting: the config just read is the one applied */
    }
    tg_error err = {0};
    if (tg__daemon_reload(&self->daemon, NULL, &err) != TG_OK) {
        fprintf(stderr, "tollgate: reload refused, keeping the old config: %s\n", err.message);
    }
    tg__http_flush_soon(self->http);
}

static void on_drain(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    serve_state *self = user;
    if ((!tg__http_idle(self->http) || tg__store_redis_collector_busy()) &&
        self->drain_waits++ < DRAIN_WAIT_MAX) {
        struct timeval again = {0, 10000};
        event_add(self->drain, &again); /* the writer's reports keep committing */
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
    tg__http_refuse_waiting(self->http);
    tg__streams_stop(self->daemon.streams); /* clients reconnect elsewhere with Last-Event-ID */
    tg__store_redis_collector_pause();      /* a collect waiting for Redis ends in the drain */
    struct timeval drain = {0, DRAIN_US};
    event_add(self->drain, &drain);
}

/* The engine's events: kept for the API, and told to MCP sessions (revocation). */
/* A waiting hold was decided: its reply is made when this loop turn's batch ends. */
static void serve_on_wait_ready(void *user) {
    serve_state *self = user;
    if (self->http != NULL) {
        tg__http_flush_soon(self->http);
    }
}

static void serve_on_event(void *user, const tg_event *event) {
    serve_state *self = user;
    tg__daemon_on_event(&self->daemon, event);
    tg__mcp_http_note_event(self->daemon.mcp, event);
}

/* Opens the engine and applies the config in one transaction: a refused file leaves the
 * ledger file as it was. */
static bool open_engine(serve_state *self, tg__config *config) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    /* On Redis the engine keeps only what is not shared yet (API keys, waits) in memory;
     * every ledger call goes to the plugged Redis ledger. */
    bool redis = strcmp(config->store, "redis") == 0;
    options.store = redis ? "memory" : config->store;
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
    options.on_wait_ready = serve_on_wait_ready;
    options.on_wait_user = self;
    tg_error err = {0};
    tg_status status = tg_engine_open(&options, tg__now_ms(), &self->daemon.engine, &err);
    if (status == TG_OK && redis) {
        status = tg__store_redis_plug(config, self->daemon.engine, &err);
    }
    if (status == TG_OK) {
        tg_engine_batch_begin(self->daemon.engine);
        status = tg__config_apply(config, NULL, self->daemon.engine, tg__now_ms(), &err);
        tg_error end_err = {0};
        /* Ending the batch writes it: only when the whole file applied. */
        if (status == TG_OK && tg_engine_batch_end(self->daemon.engine, &end_err) != TG_OK) {
            status = end_err.status != TG_OK ? end_err.status : TG_ERR_IO;
            err = end_err;
        }
    }
    if (status != TG_OK) {
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

static void warn_without_admin(const tg__daemon *daemon) {
    for (int i = 0; i < tg__keyring_count(daemon->keyring); i++) {
        if (tg__keyring_at(daemon->keyring, i)->role == TG__ROLE_ADMIN) {
            return;
        }
    }
    fprintf(stderr, "tollgate: no admin key: restart with TOLLGATE_ADMIN_KEY=<secret>, "
                    "or add one with `tollgate keys create NAME --role admin --print-yaml`\n");
}

/* The proxy settled a call: its commit goes out with this loop turn's batch. */
static void proxy_flush(void *user) {
    tg__http_flush_soon(((serve_state *)user)->http);
}

/* Signals are caught from here on: before anything is printed to say the daemon is up. */
static bool install_signals(serve_state *self) {
    self->drain = evtimer_new(self->base, on_drain, self);
    self->term = evsignal_new(self->base, SIGTERM, on_stop, self);
    self->interrupt = evsignal_new(self->base, SIGINT, on_stop, self);
    self->hangup = evsignal_new(self->base, SIGHUP, on_reload, self);
    return self->drain != NULL && self->term != NULL && self->interrupt != NULL &&
           self->hangup != NULL && event_add(self->term, NULL) == 0 &&
           event_add(self->interrupt, NULL) == 0 && event_add(self->hangup, NULL) == 0;
}

/* The Redis store's events collector (store_redis.h): new events wake the SSE streams, and
 * the notifier, whose consumer groups read the same stream. */
static void wake_streams(void *user) {
    tg__streams_wake(((tg__daemon *)user)->streams);
    tg__notify_wake(((tg__daemon *)user)->notifier);
}

/* Everything before the loop runs; false after saying why on stderr. */
static bool start(serve_state *self, tg__config *config) {
    tg_error err = {0};
    if (!open_engine(self, config)) {
        return false;
    }
    self->daemon.keyring =
        tg__keyring_build(config, self->daemon.admin_secret, self->daemon.engine);
    if (self->daemon.keyring == NULL) {
        fprintf(stderr, "tollgate: cannot start: out of memory reading the keys\n");
        return false;
    }
    if (tg__notify_start_config(self->file->document, config->store, config->store_path,
                                &self->daemon.notifier, &err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start: %s\n", err.message);
        return false;
    }
    self->daemon.base = self->base;
    self->daemon.flush = proxy_flush;
    self->daemon.flush_user = self;
    /* Before listening, so a bad `mcp:` section stops the start (the flush runs later). */
    if (tg__mcp_http_start_config(self->file->document, self->base, &self->daemon, proxy_flush,
                                  self, &self->daemon.mcp, &err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start MCP over HTTP: %s\n", err.message);
        return false;
    }
    if (tg__proxy_start_config(self->file->document, self->base, &self->daemon, proxy_flush, self,
                               &self->daemon.proxy, &err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start the proxy: %s\n", err.message);
        return false;
    }
    self->daemon.streams = tg__streams_new(self->base, &self->daemon);
    if (self->daemon.streams == NULL || !install_signals(self)) {
        fprintf(stderr, "tollgate: cannot start: out of memory\n");
        return false;
    }
    tg_engine_batch_begin(self->daemon.engine); /* the pipeline's batch, ended by finish */
    self->http = tg__http_start(self->base, &self->daemon, config, self->port);
    if (self->http == NULL) {
        tg_engine_batch_end(self->daemon.engine, NULL);
        return false;
    }
    if (tg__store_redis_collector_start(self->base, wake_streams, &self->daemon, &err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start: %s\n", err.message);
        return false;
    }
    warn_without_admin(&self->daemon);
    return true;
}

/* Frees what start() made, in the order that lets in-flight work settle first. */
static bool stop(serve_state *self) {
    tg__mcp_http_free(self->daemon.mcp); /* holds of open calls released before the last commit */
    self->daemon.mcp = NULL;
    tg__proxy_free(self->daemon.proxy); /* in-flight calls settle before the last commit */
    self->daemon.proxy = NULL;
    tg__streams_free(self->daemon.streams); /* each stream ends with a last chunk */
    self->daemon.streams = NULL;
    tg__store_redis_collector_stop(); /* its last collect copies what this daemon decided */
    bool started = self->http != NULL;
    bool ok = tg__http_finish(self->http);
    tg_error err = {0};
    if (started) {
        ok = tg_engine_sync(self->daemon.engine, &err) == TG_OK && ok;
        if (!ok) {
            fprintf(stderr, "tollgate: the store failed; what was not acknowledged is lost\n");
        }
    }
    tg__notify_stop(self->daemon.notifier, 1000); /* undelivered events wait in the outbox */
    tg_engine_close(self->daemon.engine);
    tg__reader_close(&self->daemon);
    tg__keyring_free(self->daemon.keyring);
    struct event *events[] = {self->drain, self->term, self->interrupt, self->hangup};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        if (events[i] != NULL) {
            event_free(events[i]);
        }
    }
    event_base_free(self->base);
    free(self->daemon.config);
    self->daemon.config_file = NULL;
    tg__config_file_close(self->file);
    self->file = NULL;
    return ok;
}

/* The seam below (server/serve.h) exists for tests/unit/test_server_routes.c: it starts this
 * very daemon in-process, runs its loop on a thread of its own and stops it with SIGTERM, so
 * that the front end's route table is driven over a socket exactly as `tollgate serve` runs
 * it. tg__serve is the three calls in a row. */
tg__served *tg__serve_start(tg__config_file *file, tg__config *config, int port) {
    /* One per process (signal events point at it), kept on the heap so the seam can free it. */
    serve_state *self = calloc(1, sizeof *self);
    if (self == NULL) {
        tg__config_file_close(file);
        free(config);
        return NULL;
    }
    self->file = file;
    self->daemon.config_file = file->path; /* a reload parses it again (reload.c) */
    self->port = port;
    self->daemon.config = config;
    self->daemon.admin_secret = getenv("TOLLGATE_ADMIN_KEY");
    signal(SIGPIPE, SIG_IGN);
    raise_file_limit(config);
    self->base = event_base_new();
    if (self->base == NULL) {
        fprintf(stderr, "tollgate: cannot start: out of memory\n");
        tg__config_file_close(file);
        free(config);
        free(self);
        return NULL;
    }
    event_base_priority_init(self->base, 3);
    if (!start(self, config)) {
        stop(self);
        free(self);
        return NULL;
    }
    return self;
}

int tg__serve_port(const tg__served *self) {
    return tg__http_port(self->http);
}

int tg__serve_run(tg__served *self) {
    event_base_dispatch(self->base);
    bool ok = stop(self);
    free(self);
    return ok ? 0 : 1;
}

int tg__serve(tg__config_file *file, tg__config *config, int port) {
    tg__served *self = tg__serve_start(file, config, port);
    return self != NULL ? tg__serve_run(self) : 1;
}
