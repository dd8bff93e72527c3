/*
 * http: the daemon's loop. libevent's evhttp parses requests on one thread that
 * owns the engine. The first request of a loop turn opens a group-commit batch
 * and activates a lowest-priority "flush" event; it runs after every request of
 * the turn, writes the batch (one transaction, one fsync), and only then sends
 * the replies: nothing is acknowledged before it is durable.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server/daemon.h"

#define TICK_INTERVAL_US 10000 /* tg_engine_tick every 10 ms */
#define DRAIN_US 200000        /* at SIGTERM: time to finish requests already read */

/* A reply waiting for the group commit. */
typedef struct {
    struct evhttp_request *request; /* NULL once its connection closed */
    struct evhttp_connection *connection;
    tg__reply reply;
} pending;

typedef struct {
    tg__daemon daemon;
    const char *config_file;
    struct event_base *base;
    struct evhttp *http;
    struct event *flush; /* lowest priority: runs after a turn's requests */
    struct event *tick;
    struct evhttp_bound_socket *listener; /* closed first at SIGTERM */
    bool batch_open;
    pending replies[TG__REPLIES_MAX];
    int replies_count;
} loop;

int64_t tg__now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void send_reply(struct evhttp_request *request, tg__reply *reply) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    evhttp_add_header(headers, "Content-Type", "application/json");
    if (reply->status == 402 && reply->retry_after_ms != TG_NONE) {
        char seconds[32];
        snprintf(seconds, sizeof seconds, "%" PRId64, (reply->retry_after_ms + 999) / 1000);
        evhttp_add_header(headers, "Retry-After", seconds);
    }
    struct evbuffer *out = evbuffer_new();
    char *text = reply->body ? json_dumps(reply->body, JSON_COMPACT) : NULL;
    if (text != NULL) {
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
        free(text);
    }
    evhttp_send_reply(request, reply->status, reply->status == 200 ? "OK" : "Error", out);
    evbuffer_free(out);
    json_decref(reply->body);
    reply->body = NULL;
}

static void connection_closed(struct evhttp_connection *connection, void *user) {
    loop *self = user;
    for (int i = 0; i < self->replies_count; i++) {
        if (self->replies[i].connection == connection) {
            self->replies[i].request = NULL;
        }
    }
}

static void flush_replies(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    loop *self = user;
    int64_t started_us = monotonic_us();
    tg_error err = {0};
    tg_status status = self->batch_open ? tg_engine_batch_end(self->daemon.engine, &err) : TG_OK;
    self->batch_open = false;
    self->daemon.metrics.commits++;
    self->daemon.metrics.commit_latency_sum_us += (uint64_t)(monotonic_us() - started_us);
    if (status != TG_OK) {
        fprintf(stderr, "tollgate: group commit failed: %s\n", err.message);
    }
    for (int i = 0; i < self->replies_count; i++) {
        pending *item = &self->replies[i];
        if (status != TG_OK) {
            json_decref(item->reply.body);
            item->reply = tg__api_error(503, "store_unavailable",
                                        "the store failed to write; nothing was acknowledged");
        }
        if (item->request != NULL) {
            evhttp_connection_set_closecb(item->connection, NULL, NULL);
            send_reply(item->request, &item->reply);
        } else {
            json_decref(item->reply.body);
        }
    }
    self->replies_count = 0;
}

static void observe_latency(tg__metrics *metrics, int64_t latency_us) {
    static const int64_t bounds_us[7] = {50, 100, 250, 500, 1000, 5000, 25000};
    int bucket = 0;
    while (bucket < 7 && latency_us > bounds_us[bucket]) {
        bucket++;
    }
    metrics->latency_buckets[bucket]++;
    metrics->latency_count++;
    metrics->latency_sum_us += (uint64_t)latency_us;
}

static void on_request(struct evhttp_request *request, void *user) {
    loop *self = user;
    int64_t started_us = monotonic_us();
    const char *method = "OTHER";
    switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_GET:
        method = "GET";
        break;
    case EVHTTP_REQ_POST:
        method = "POST";
        break;
    case EVHTTP_REQ_PUT:
        method = "PUT";
        break;
    case EVHTTP_REQ_PATCH:
        method = "PATCH";
        break;
    case EVHTTP_REQ_DELETE:
        method = "DELETE";
        break;
    default:
        break;
    }
    if (strcmp(evhttp_request_get_uri(request), "/metrics") == 0) {
        char *text = tg__metrics_text(&self->daemon, tg__now_ms());
        struct evbuffer *out = evbuffer_new();
        evbuffer_add(out, text, strlen(text));
        free(text);
        evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type",
                          "text/plain; version=0.0.4");
        evhttp_send_reply(request, 200, "OK", out);
        evbuffer_free(out);
        return;
    }
    struct evbuffer *input = evhttp_request_get_input_buffer(request);
    size_t body_size = evbuffer_get_length(input);
    const char *body = body_size ? (const char *)evbuffer_pullup(input, -1) : NULL;
    const char *authorization =
        evhttp_find_header(evhttp_request_get_input_headers(request), "Authorization");
    if (!self->batch_open) {
        tg_engine_batch_begin(self->daemon.engine);
        self->batch_open = true;
    }
    tg__reply reply = tg__api_handle(&self->daemon, method, evhttp_request_get_uri(request),
                                     authorization, body, body_size, tg__now_ms());
    self->daemon.metrics.requests++;
    if (reply.status != 200 && reply.status != 402) {
        self->daemon.metrics.errors++;
    }
    observe_latency(&self->daemon.metrics, monotonic_us() - started_us);
    if (self->replies_count == TG__REPLIES_MAX) {
        flush_replies(-1, 0, self); /* a full queue commits early rather than grow */
        tg_engine_batch_begin(self->daemon.engine);
        self->batch_open = true;
    }
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    evhttp_connection_set_closecb(connection, connection_closed, self);
    self->replies[self->replies_count++] = (pending){request, connection, reply};
    event_active(self->flush, EV_WRITE, 0);
}

static void on_tick(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    loop *self = user;
    tg_error err = {0};
    if (self->batch_open) {
        return; /* the flush of this turn comes first; the next tick catches up */
    }
    if (tg_engine_tick(self->daemon.engine, tg__now_ms(), &err) != TG_OK) {
        fprintf(stderr, "tollgate: tick: %s\n", err.message);
    }
}

static void on_reload(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    loop *self = user;
    tg__config *fresh = malloc(sizeof *fresh);
    tg_error err = {0};
    if (fresh == NULL) {
        return;
    }
    tg__config_defaults(fresh);
    if (tg__config_load(self->config_file, fresh, &err) != TG_OK ||
        tg__config_apply(fresh, self->daemon.engine, tg__now_ms(), &err) != TG_OK ||
        tg_engine_sync(self->daemon.engine, &err) != TG_OK) {
        fprintf(stderr, "tollgate: reload refused, keeping the old config: %s\n", err.message);
        free(fresh);
        return;
    }
    /* Listen address and store cannot change without a restart; keys and budgets can. */
    free(self->daemon.config);
    self->daemon.config = fresh;
    fprintf(stderr, "tollgate: reloaded %s\n", self->config_file);
}

static void on_stop(evutil_socket_t fd, short what, void *user) {
    (void)fd;
    (void)what;
    loop *self = user;
    /* Stop accepting, then keep the loop running for a short drain so requests
     * already read are decided, committed and their replies written out. */
    if (self->listener != NULL) {
        evhttp_del_accept_socket(self->http, self->listener);
        self->listener = NULL;
    }
    struct timeval drain = {0, DRAIN_US};
    event_base_loopexit(self->base, &drain);
}

static bool open_engine(loop *self, tg__config *config) {
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
    options.on_event = tg__daemon_on_event;
    options.on_event_user = &self->daemon;
    tg_error err = {0};
    if (tg_engine_open(&options, tg__now_ms(), &self->daemon.engine, &err) != TG_OK ||
        tg__config_apply(config, self->daemon.engine, tg__now_ms(), &err) != TG_OK ||
        tg_engine_sync(self->daemon.engine, &err) != TG_OK) {
        fprintf(stderr, "tollgate: cannot start: %s\n", err.message);
        return false;
    }
    return true;
}

static bool start_http(loop *self, tg__config *config) {
    self->http = evhttp_new(self->base);
    evhttp_set_max_headers_size(self->http, (ev_ssize_t)config->header_size_max_bytes);
    evhttp_set_max_body_size(self->http, (ev_ssize_t)config->body_size_max_bytes);
    evhttp_set_timeout(self->http, (int)config->request_timeout_s);
    evhttp_set_allowed_methods(self->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                               EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(self->http, on_request, self);
    struct evhttp_bound_socket *socket =
        evhttp_bind_socket_with_handle(self->http, config->address, (ev_uint16_t)config->port);
    if (socket == NULL) {
        fprintf(stderr, "tollgate: cannot listen on %s:%d\n", config->address, config->port);
        return false;
    }
    self->listener = socket;
    struct sockaddr_storage address;
    ev_socklen_t length = sizeof address;
    getsockname(evhttp_bound_socket_get_fd(socket), (struct sockaddr *)&address, &length);
    int port = ntohs(((struct sockaddr_in *)&address)->sin_port);
    /* Tests and scripts read this line to find a port chosen by the kernel. */
    printf("tollgate: listening on http://%s:%d\n", config->address, port);
    bool has_admin = getenv("TOLLGATE_ADMIN_KEY") != NULL;
    for (int i = 0; i < config->keys_count; i++) {
        has_admin = has_admin || config->keys[i].role == TG__ROLE_ADMIN;
    }
    if (!has_admin) {
        fprintf(stderr, "tollgate: no admin key: restart with TOLLGATE_ADMIN_KEY=<secret>, "
                        "or add one with `tollgate keys create NAME --role admin`\n");
    }
    fflush(stdout);
    return true;
}

int tg__serve(const char *config_file, tg__config *config) {
    static loop self; /* large (reply queue); one per process */
    self.config_file = config_file;
    self.daemon.config = config;
    self.daemon.admin_secret = getenv("TOLLGATE_ADMIN_KEY");
    signal(SIGPIPE, SIG_IGN);
    self.base = event_base_new();
    event_base_priority_init(self.base, 3);
    if (!open_engine(&self, config) || !start_http(&self, config)) {
        tg_engine_close(self.daemon.engine);
        return 1;
    }
    self.flush = event_new(self.base, -1, 0, flush_replies, &self);
    event_priority_set(self.flush, 2);
    self.tick = event_new(self.base, -1, EV_PERSIST, on_tick, &self);
    struct timeval interval = {0, TICK_INTERVAL_US};
    event_add(self.tick, &interval);
    struct event *term = evsignal_new(self.base, SIGTERM, on_stop, &self);
    struct event *interrupt = evsignal_new(self.base, SIGINT, on_stop, &self);
    struct event *hangup = evsignal_new(self.base, SIGHUP, on_reload, &self);
    event_add(term, NULL);
    event_add(interrupt, NULL);
    event_add(hangup, NULL);
    event_base_dispatch(self.base);
    if (self.replies_count > 0) {
        flush_replies(-1, 0, &self);
    }
    evhttp_free(self.http);
    tg_error err = {0};
    int code = tg_engine_sync(self.daemon.engine, &err) == TG_OK ? 0 : 1;
    tg_engine_close(self.daemon.engine);
    event_free(term);
    event_free(interrupt);
    event_free(hangup);
    event_free(self.flush);
    event_free(self.tick);
    event_base_free(self.base);
    free(self.daemon.config);
    return code;
}
