/*
 * store_redis: the daemon's Redis store, opened from the config and plugged into the engine
 * (store_redis.h). Built with the Redis ledger when hiredis is installed (TG_HAVE_REDIS);
 * without it, `kind: redis` is refused at start with a sentence saying why.
 */
#include "server/store_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/path.h"
#include "engine/ledger_ops.h"

#ifdef TG_HAVE_REDIS
#include <event2/event.h>

#include "store/redis/redis_async.h"
#include "store/redis/redis_collect.h"
#include "store/redis/redis_dead.h"
#include "store/redis/redis_internal.h"
#include "store/redis/redis_ledger.h"
#include "store/redis/redis_notify.h"
#include "store/redis/redis_read.h"
#include "notify/notify.h"

/* The ledger plugged into this process's engine (one daemon per process), for http.c's
 * passes; NULL when the store is not Redis. */
static tg__redis_ledger *plugged;

static void close_ledger(void *self) {
    if (plugged == self) {
        plugged = NULL;
    }
    tg__redis_ledger_close(self);
}

/* The collector's state (one daemon per process): a collect runs in passes of the async
 * connection like a request (redis_collect.h), so a slow or stopped server never blocks the
 * loop for it. */
static struct {
    struct event *timer;
    void (*wake)(void *user);
    void *user;
    void *pass;       /* the running collect's pass (redis_async.h), or NULL */
    bool running;     /* a collect began and has not ended */
    uint64_t last_id; /* the ledger-wide stream's last id as last read */
    bool failing;     /* the last collect failed (said once, not every tick) */
} collector;

/* The requests' resume (http.c), and the collector's token among theirs. */
static tg__store_redis_resume_fn resume_request;
static void *resume_user;
static void collect_pass(void);

static void on_resume(void *user, void *token) {
    if (token == &collector) {
        collect_pass();
    } else {
        resume_request(user, token);
    }
}

tg_status tg__store_redis_async(struct event_base *base, tg__store_redis_resume_fn resume,
                                void *user, tg_error *err) {
    /* The fallback (docs/multi-node.md): every call on the synchronous connection. */
    const char *sync = getenv("TOLLGATE_REDIS_SYNC");
    if (plugged == NULL || (sync != NULL && strcmp(sync, "1") == 0)) {
        return TG_OK;
    }
    resume_request = resume;
    resume_user = user;
    return tg__redis_async_start(plugged, base, on_resume, user, err);
}

void tg__store_redis_enter(void **state) {
    if (plugged) {
        tg__redis_async_enter(plugged, state);
    }
}

bool tg__store_redis_leave(void **state, void *token) {
    return plugged ? tg__redis_async_leave(plugged, state, token) : false;
}

void tg__store_redis_abandon(void **state) {
    if (plugged) {
        tg__redis_async_abandon(plugged, state);
    }
}

tg_status tg__store_redis_read_charges(const tg__store_page *page, int64_t since_ms,
                                       int64_t until_ms, const char *model, tg__charge_visit visit,
                                       void *user, uint64_t *next_out, tg_error *err) {
    if (plugged == NULL) {
        return tg__fail(err, TG_ERR_UNSUPPORTED, "no redis ledger is plugged");
    }
    return tg__redis_read_charges(plugged, page, since_ms, until_ms, model, visit, user, next_out,
                                  err);
}

tg_status tg__store_redis_events_since(uint64_t after_id, tg_event *out, size_t max,
                                       size_t *count_out, tg_error *err) {
    if (plugged == NULL) {
        return tg__fail(err, TG_ERR_UNSUPPORTED, "no redis ledger is plugged");
    }
    return tg__redis_ledger_events(plugged, after_id, out, max, count_out, NULL, err);
}

tg_status tg__store_redis_dead_letters(const tg__store_page *page, tg__dead_letter_visit visit,
                                       void *user, tg_error *err) {
    if (plugged == NULL) {
        return tg__fail(err, TG_ERR_UNSUPPORTED, "no redis ledger is plugged");
    }
    return tg__redis_dead_letters(plugged, page, visit, user, err);
}

tg_status tg__store_redis_events_last(uint64_t *last_id_out, tg_error *err) {
    if (plugged == NULL) {
        return tg__fail(err, TG_ERR_UNSUPPORTED, "no redis ledger is plugged");
    }
    return tg__redis_ledger_events_last(plugged, last_id_out, err);
}

uint64_t tg__store_redis_events_known(void) {
    return collector.last_id;
}

/* One pass of the running collect; its end when no call parks. */
static void collect_pass(void) {
    if (plugged == NULL) {
        return;
    }
    tg_error err = {0};
    int64_t copied = 0;
    uint64_t last_id = 0;
    tg__redis_async_enter(plugged, &collector.pass);
    tg_status status = tg__redis_collect_run(plugged, &copied, &last_id, &err);
    if (tg__redis_async_leave(plugged, &collector.pass, &collector)) {
        return; /* parked: on_resume runs the next pass */
    }
    tg__redis_collect_end(plugged);
    collector.running = false;
    if (status != TG_OK && !collector.failing) {
        fprintf(stderr, "tollgate: collecting events: %s (tried again every %d ms)\n", err.message,
                TG__STORE_REDIS_COLLECT_MS);
    }
    collector.failing = status != TG_OK;
    bool moved = status == TG_OK && last_id != collector.last_id;
    if (status == TG_OK) {
        collector.last_id = last_id;
    }
    if ((moved || copied > 0) && collector.wake != NULL) {
        collector.wake(collector.user);
    }
}

static void on_collect(evutil_socket_t fd, short what, void *user) {
    (void)fd, (void)what, (void)user;
    if (plugged == NULL || collector.running) {
        return; /* the last collect still waits for Redis */
    }
    collector.running = true;
    if (tg__redis_collect_begin(plugged, NULL) != TG_OK) {
        tg__redis_collect_end(plugged); /* out of memory: try again next tick */
        collector.running = false;
        return;
    }
    collect_pass();
}

tg_status tg__store_redis_collector_start(struct event_base *base, void (*wake)(void *user),
                                          void *user, tg_error *err) {
    if (plugged == NULL || collector.timer != NULL) {
        return TG_OK;
    }
    collector.timer = event_new(base, -1, EV_PERSIST, on_collect, NULL);
    if (collector.timer == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory for the events collector's timer");
    }
    collector.wake = wake;
    collector.user = user;
    struct timeval every = {0, TG__STORE_REDIS_COLLECT_MS * 1000};
    event_add(collector.timer, &every);
    return TG_OK;
}

void tg__store_redis_collector_pause(void) {
    if (collector.timer != NULL) {
        event_del(collector.timer);
    }
}

bool tg__store_redis_collector_busy(void) {
    return collector.running;
}

void tg__store_redis_collector_stop(void) {
    if (collector.timer == NULL) {
        return;
    }
    event_free(collector.timer);
    collector.timer = NULL;
    if (plugged == NULL || collector.running) {
        /* Still waiting after the drain: its calls are in flight, their callbacks name its
         * pass, so it is left to the connection's end (never freed under them). */
        return;
    }
    /* What this daemon decided last, copied before it goes (synchronous: the loop ends). */
    tg_error err = {0};
    if (tg__redis_events_collect(plugged, NULL, &err) != TG_OK) {
        fprintf(stderr, "tollgate: collecting events at exit: %s\n", err.message);
    }
}

/* What the notifier's own connection needs of the config, copied at plug: the daemon's config
 * is replaced at every reload, and the store's settings need a restart anyway. */
static struct {
    tg__redis_url url;
    tg__redis_tls_options tls;
    char server_name[256], ca_file[1024], cert_file[1024], key_file[1024];
    tg__redis_ledger_options options;
    char consumer[TG__REDIS_NOTIFY_CONSUMER_SIZE]; /* "HOST-PID": this daemon in each group */
} notify_store;

/* The notifier's source on Redis (notify.h's tg__notify_use_source): a consumer group per
 * sink, read on a connection of the notifier's own. */
static tg_status open_notify_source(const char *const *names, int count, int64_t claim_idle_ms,
                                    tg__outbox_source *out, tg_error *err) {
    return tg__redis_notify_source_open(&notify_store.options, notify_store.consumer, claim_idle_ms,
                                        names, count, out, err);
}

static void notify_store_keep(const tg__config *config, const tg__redis_ledger_options *options) {
    notify_store.url = config->redis;
    snprintf(notify_store.server_name, sizeof notify_store.server_name, "%s",
             config->store_tls.server_name);
    snprintf(notify_store.ca_file, sizeof notify_store.ca_file, "%s", config->store_tls.ca_file);
    snprintf(notify_store.cert_file, sizeof notify_store.cert_file, "%s",
             config->store_tls.cert_file);
    snprintf(notify_store.key_file, sizeof notify_store.key_file, "%s", config->store_tls.key_file);
    notify_store.tls = (tg__redis_tls_options){.server_name = notify_store.server_name,
                                               .ca_file = notify_store.ca_file,
                                               .cert_file = notify_store.cert_file,
                                               .key_file = notify_store.key_file};
    notify_store.options = *options;
    notify_store.options.host = notify_store.url.host;
    notify_store.options.sentinels = &notify_store.url.sentinels;
    notify_store.options.tls = options->tls != NULL ? &notify_store.tls : NULL;
    notify_store.options.user = notify_store.url.user;
    notify_store.options.password = notify_store.url.password;
    /* Deliveries promise nothing about money: the decisions' connection checked persistence. */
    notify_store.options.durability = TG__REDIS_DURABILITY_UNCHECKED;
    notify_store.options.wait_replicas = 0;
    char host[64] = "";
    if (gethostname(host, sizeof host) != 0) {
        snprintf(host, sizeof host, "tollgate");
    }
    host[sizeof host - 1] = '\0';
    snprintf(notify_store.consumer, sizeof notify_store.consumer, "%s-%ld", host, (long)getpid());
    tg__notify_use_source(open_notify_source);
}

tg_status tg__store_redis_plug(const tg__config *config, tg_engine *engine, tg_error *err) {
    tg__redis_ledger_options options;
    tg__redis_ledger_options_init(&options);
    options.host = config->redis.host;
    options.port = config->redis.port;
    options.sentinels = &config->redis.sentinels;
    tg__redis_tls_options tls = {.server_name = config->store_tls.server_name,
                                 .ca_file = config->store_tls.ca_file,
                                 .cert_file = config->store_tls.cert_file,
                                 .key_file = config->store_tls.key_file};
    options.tls = config->redis.tls ? &tls : NULL;
    options.user = config->redis.user;
    options.password = config->redis.password;
    options.db = config->redis.db;
    options.cluster = config->store_cluster;
    options.timeout_ms = config->store_timeout_ms;
    options.retry_interval_ms = TG__STORE_REDIS_RETRY_INTERVAL_MS;
    options.default_hold_ttl_ms = config->default_hold_ttl_ms;
    options.max_hold_ttl_ms = config->max_hold_ttl_ms;
    options.holds_max = config->holds_max; /* each tree's (redis_ledger.h) */
    options.budgets_max = config->budgets_max;
    options.idempotency_max = config->idempotency_max;
    /* store.durability is a promise about the server's persistence: checked at connect. */
    options.durability = config->durability == TG_DURABILITY_STRICT ? TG__REDIS_DURABILITY_STRICT
                                                                    : TG__REDIS_DURABILITY_RELAXED;
    options.wait_replicas = (int)config->store_wait_replicas;
    options.wait_timeout_ms = config->store_wait_timeout_ms;
    tg__redis_ledger *ledger = NULL;
    tg_status status = tg__redis_ledger_open(&options, &ledger, err);
    if (status != TG_OK) {
        return status;
    }
    if (tg__redis_ledger_warning(ledger)[0] != '\0') {
        fprintf(stderr, "tollgate: warning: %s\n", tg__redis_ledger_warning(ledger));
    }
    tg__engine_ledger_plug(engine, &tg__ledger_ops_redis, ledger, close_ledger);
    plugged = ledger;
    notify_store_keep(config, &options);
    return TG_OK;
}

#else

tg_status tg__store_redis_events_since(uint64_t after_id, tg_event *out, size_t max,
                                       size_t *count_out, tg_error *err) {
    (void)after_id, (void)out, (void)max, (void)count_out;
    return tg__fail(err, TG_ERR_UNSUPPORTED, "this tollgate was built without hiredis");
}

tg_status tg__store_redis_dead_letters(const tg__store_page *page, tg__dead_letter_visit visit,
                                       void *user, tg_error *err) {
    (void)page, (void)visit, (void)user;
    return tg__fail(err, TG_ERR_UNSUPPORTED, "this tollgate was built without hiredis");
}

tg_status tg__store_redis_events_last(uint64_t *last_id_out, tg_error *err) {
    (void)last_id_out;
    return tg__fail(err, TG_ERR_UNSUPPORTED, "this tollgate was built without hiredis");
}

tg_status tg__store_redis_collector_start(struct event_base *base, void (*wake)(void *user),
                                          void *user, tg_error *err) {
    (void)base, (void)wake, (void)user, (void)err;
    return TG_OK;
}

uint64_t tg__store_redis_events_known(void) {
    return 0;
}

void tg__store_redis_collector_pause(void) {
}

bool tg__store_redis_collector_busy(void) {
    return false;
}

void tg__store_redis_collector_stop(void) {
}

tg_status tg__store_redis_plug(const tg__config *config, tg_engine *engine, tg_error *err) {
    (void)config, (void)engine;
    return tg__fail(err, TG_ERR_UNSUPPORTED,
                    "store.kind redis: this tollgate was built without hiredis (install "
                    "libhiredis-dev and rebuild)");
}

tg_status tg__store_redis_async(struct event_base *base, tg__store_redis_resume_fn resume,
                                void *user, tg_error *err) {
    (void)base, (void)resume, (void)user, (void)err;
    return TG_OK;
}

void tg__store_redis_enter(void **state) {
    (void)state;
}

bool tg__store_redis_leave(void **state, void *token) {
    (void)state, (void)token;
    return false;
}

void tg__store_redis_abandon(void **state) {
    (void)state;
}

tg_status tg__store_redis_read_charges(const tg__store_page *page, int64_t since_ms,
                                       int64_t until_ms, const char *model, tg__charge_visit visit,
                                       void *user, uint64_t *next_out, tg_error *err) {
    (void)page, (void)since_ms, (void)until_ms, (void)model, (void)visit, (void)user;
    *next_out = page->after_id;
    return tg__fail(err, TG_ERR_UNSUPPORTED, "this tollgate was built without hiredis");
}

#endif
