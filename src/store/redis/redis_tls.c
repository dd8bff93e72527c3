/*
 * redis_tls: the bridge from a private Unix socket, in clear, to a Redis server over TLS
 * (redis_tls.h). Everything below runs on the bridge's own thread and event base but
 * tg__redis_tls_start, tg__redis_tls_stop and tg__redis_tls_last_error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/path.h"
#include "store/redis/redis_tls.h"

#define HOST_SIZE 256

/* One bridged connection: hiredis's side and the server's. A side is NULL once closed. */
typedef struct pair {
    struct tg__redis_tls *tls;
    struct bufferevent *plain;  /* hiredis's side, in clear */
    struct bufferevent *secure; /* the server's side, over TLS */
    bool answered;              /* the server has sent bytes (past the handshake) */
    struct pair *prev, *next;
} pair;

struct tg__redis_tls {
    char host[HOST_SIZE];
    char port[8];
    char server_name[HOST_SIZE];
    bool server_is_address; /* an IP: matched against the certificate's IPs, no SNI */
    SSL_CTX *ctx;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *stop_event;
    int stop_pipe[2];
    pthread_t thread;
    bool running;
    char dir[64];
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pair *pairs; /* the bridge thread's alone */
    int count;
    pthread_mutex_t lock; /* guards last_error, read from the daemon's thread */
    char last_error[TG__REDIS_TLS_ERROR_SIZE];
};

static void set_error(tg__redis_tls *tls, const char *message) {
    pthread_mutex_lock(&tls->lock);
    snprintf(tls->last_error, sizeof tls->last_error, "%s", message);
    pthread_mutex_unlock(&tls->lock);
}

void tg__redis_tls_last_error(tg__redis_tls *tls, char *out, size_t size) {
    pthread_mutex_lock(&tls->lock);
    snprintf(out, size, "%s", tls->last_error);
    pthread_mutex_unlock(&tls->lock);
}

const char *tg__redis_tls_socket(const tg__redis_tls *tls) {
    return tls->socket_path;
}

/* Why the server's side failed: a certificate that did not verify, an OpenSSL error (an alert
 * from the server, a protocol mismatch), the socket's own error (refused, reset), or a close
 * before any answer (with TLS 1.3 a server refusing our certificate may send its alert after
 * the handshake and close; the alert is not always read before the close). */
static void note_failure(tg__redis_tls *tls, struct bufferevent *secure, bool closed) {
    char text[TG__REDIS_TLS_ERROR_SIZE] = "";
    char openssl[200] = "";
    for (unsigned long e; (e = bufferevent_get_openssl_error(secure)) != 0;) {
        if (ERR_GET_LIB(e) == 0) {
            /* Not OpenSSL's: libevent's note of SSL_get_error (SSL_ERROR_SYSCALL when the
             * peer closed the socket under the TLS layer), which prints as "lib(0)". */
            closed = closed || ERR_GET_REASON(e) == SSL_ERROR_SYSCALL ||
                     ERR_GET_REASON(e) == SSL_ERROR_ZERO_RETURN;
        } else if (openssl[0] == '\0') {
            ERR_error_string_n(e, openssl, sizeof openssl);
        }
    }
    SSL *ssl = bufferevent_openssl_get_ssl(secure);
    long verified = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    int socket_error = EVUTIL_SOCKET_ERROR();
    if (verified != X509_V_OK) {
        snprintf(text, sizeof text, "certificate verify failed: %s (server name '%.100s')",
                 X509_verify_cert_error_string(verified), tls->server_name);
    } else if (openssl[0] != '\0') {
        snprintf(text, sizeof text, "TLS failed: %s", openssl);
    } else if (socket_error == ECONNREFUSED || socket_error == EHOSTUNREACH ||
               socket_error == ENETUNREACH || socket_error == ETIMEDOUT) {
        snprintf(text, sizeof text, "connection to %.100s:%s failed: %s", tls->host, tls->port,
                 evutil_socket_error_to_string(socket_error));
    } else if (closed) {
        snprintf(text, sizeof text,
                 "TLS failed: the server closed the connection before answering (a client "
                 "certificate it wanted and did not get? its log says)");
    } else {
        snprintf(text, sizeof text, "connection to %.100s:%s failed: %s", tls->host, tls->port,
                 socket_error != 0 ? evutil_socket_error_to_string(socket_error) : "closed");
    }
    set_error(tls, text);
}

static void pair_free(pair *p) {
    tg__redis_tls *tls = p->tls;
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        tls->pairs = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    tls->count--;
    if (p->plain != NULL) {
        bufferevent_free(p->plain);
    }
    if (p->secure != NULL) {
        bufferevent_free(p->secure); /* frees its SSL too (BEV_OPT_CLOSE_ON_FREE) */
    }
    free(p);
}

static struct bufferevent *other(const pair *p, const struct bufferevent *bev) {
    return bev == p->plain ? p->secure : p->plain;
}

static void on_read(struct bufferevent *bev, void *user);
static void on_event(struct bufferevent *bev, short what, void *user);

/* The side that was full has drained to half: read from its peer again. */
static void on_drained(struct bufferevent *bev, void *user) {
    pair *p = user;
    bufferevent_setcb(bev, on_read, NULL, on_event, p);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    struct bufferevent *from = other(p, bev);
    if (from != NULL) {
        bufferevent_enable(from, EV_READ);
    }
}

/* Bytes in on one side go out on the other; past the bound, reading pauses. */
static void on_read(struct bufferevent *bev, void *user) {
    pair *p = user;
    if (bev == p->secure) {
        p->answered = true;
    }
    struct bufferevent *to = other(p, bev);
    if (to == NULL) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    bufferevent_write_buffer(to, bufferevent_get_input(bev));
    if (evbuffer_get_length(bufferevent_get_output(to)) >= TG__REDIS_TLS_BUFFERED_MAX) {
        bufferevent_setwatermark(to, EV_WRITE, TG__REDIS_TLS_BUFFERED_MAX / 2, 0);
        bufferevent_setcb(to, on_read, on_drained, on_event, p);
        bufferevent_disable(bev, EV_READ);
    }
}

/* The last side flushed what the closed one sent: the pair is done. */
static void on_flushed(struct bufferevent *bev, void *user) {
    (void)bev;
    pair_free(user);
}

static void on_event(struct bufferevent *bev, short what, void *user) {
    pair *p = user;
    if (what & BEV_EVENT_CONNECTED) {
        if (bev == p->secure) {
            set_error(p->tls, ""); /* a handshake passed: an older failure no longer says why */
        }
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
        return;
    }
    if (bev == p->secure && ((what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) || !p->answered)) {
        note_failure(p->tls, bev, (what & BEV_EVENT_EOF) != 0);
    }
    struct bufferevent *to = other(p, bev);
    if (to != NULL) {
        bufferevent_write_buffer(to, bufferevent_get_input(bev));
    }
    bufferevent_free(bev);
    if (bev == p->plain) {
        p->plain = NULL;
    } else {
        p->secure = NULL;
    }
    if (to == NULL || evbuffer_get_length(bufferevent_get_output(to)) == 0) {
        pair_free(p);
        return;
    }
    /* What the closed side said last (an error reply before a close) still reaches the peer. */
    bufferevent_disable(to, EV_READ);
    bufferevent_setwatermark(to, EV_WRITE, 0, 0);
    bufferevent_setcb(to, NULL, on_flushed, on_event, p);
}

/* Checks the certificate against server_name: DNS names for a name, IP addresses for one. */
static bool set_peer_name(tg__redis_tls *tls, SSL *ssl) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (tls->server_is_address) {
        return X509_VERIFY_PARAM_set1_ip_asc(param, tls->server_name) == 1;
    }
    return SSL_set_tlsext_host_name(ssl, tls->server_name) == 1 &&
           X509_VERIFY_PARAM_set1_host(param, tls->server_name, 0) == 1;
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *from,
                      int length, void *user) {
    (void)listener, (void)from, (void)length;
    tg__redis_tls *tls = user;
    if (tls->count >= TG__REDIS_TLS_CONNECTIONS_MAX) {
        set_error(tls, "too many connections through the TLS bridge");
        evutil_closesocket(fd);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    int resolved = getaddrinfo(tls->host, tls->port, &hints, &found);
    if (resolved != 0) {
        char text[TG__REDIS_TLS_ERROR_SIZE];
        snprintf(text, sizeof text, "cannot resolve %.100s: %s", tls->host, gai_strerror(resolved));
        set_error(tls, text);
        evutil_closesocket(fd);
        return;
    }
    SSL *ssl = SSL_new(tls->ctx);
    pair *p = calloc(1, sizeof *p);
    if (ssl == NULL || p == NULL || !set_peer_name(tls, ssl)) {
        set_error(tls, "out of memory starting a TLS connection");
        SSL_free(ssl);
        free(p);
        freeaddrinfo(found);
        evutil_closesocket(fd);
        return;
    }
    p->tls = tls;
    p->plain = bufferevent_socket_new(tls->base, fd, BEV_OPT_CLOSE_ON_FREE);
    p->secure = bufferevent_openssl_socket_new(tls->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                               BEV_OPT_CLOSE_ON_FREE);
    if (p->plain == NULL) {
        evutil_closesocket(fd);
    }
    if (p->secure == NULL) {
        SSL_free(ssl);
    }
    p->next = tls->pairs;
    if (tls->pairs != NULL) {
        tls->pairs->prev = p;
    }
    tls->pairs = p;
    tls->count++;
    if (p->plain == NULL || p->secure == NULL) {
        set_error(tls, "out of memory starting a TLS connection");
        pair_free(p);
        freeaddrinfo(found);
        return;
    }
    /* Redis closes without close_notify at times (a killed server): not an attack here, the
     * protocol's own framing says where a reply ends. */
    bufferevent_openssl_set_allow_dirty_shutdown(p->secure, 1);
    bufferevent_setcb(p->plain, on_read, NULL, on_event, p);
    bufferevent_setcb(p->secure, on_read, NULL, on_event, p);
    int connected = bufferevent_socket_connect(p->secure, found->ai_addr, (int)found->ai_addrlen);
    freeaddrinfo(found);
    if (connected != 0) {
        note_failure(tls, p->secure, false);
        pair_free(p);
        return;
    }
    bufferevent_enable(p->plain, EV_READ | EV_WRITE);
    bufferevent_enable(p->secure, EV_READ | EV_WRITE);
}

static void on_stop(evutil_socket_t fd, short what, void *user) {
    (void)fd, (void)what;
    tg__redis_tls *tls = user;
    event_base_loopbreak(tls->base);
}

static void *run(void *user) {
    tg__redis_tls *tls = user;
    event_base_dispatch(tls->base);
    while (tls->pairs != NULL) {
        pair_free(tls->pairs);
    }
    return NULL;
}

static tg_status load_certificates(tg__redis_tls *tls, const tg__redis_tls_options *o,
                                   tg_error *err) {
    tls->ctx = SSL_CTX_new(TLS_client_method());
    if (tls->ctx == NULL || SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION) != 1) {
        return tg__fail(err, TG_ERR_NOMEM, "cannot make the TLS context for redis");
    }
    SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
    char why[200] = "";
    bool has_ca = o->ca_file != NULL && o->ca_file[0] != '\0';
    if (has_ca ? SSL_CTX_load_verify_locations(tls->ctx, o->ca_file, NULL) != 1
               : SSL_CTX_set_default_verify_paths(tls->ctx) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        return tg__fail(err, TG_ERR_INVALID, "store.tls.ca_file %.300s: cannot load it (%s)",
                        has_ca ? o->ca_file : "(the system's trust store)", why);
    }
    bool has_cert = o->cert_file != NULL && o->cert_file[0] != '\0';
    bool has_key = o->key_file != NULL && o->key_file[0] != '\0';
    if (has_cert != has_key) {
        return tg__fail(err, TG_ERR_INVALID, "store.tls: cert_file and key_file go together");
    }
    if (has_cert && SSL_CTX_use_certificate_chain_file(tls->ctx, o->cert_file) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        return tg__fail(err, TG_ERR_INVALID, "store.tls.cert_file %.300s: cannot load it (%s)",
                        o->cert_file, why);
    }
    if (has_key && (SSL_CTX_use_PrivateKey_file(tls->ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
                    SSL_CTX_check_private_key(tls->ctx) != 1)) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        return tg__fail(err, TG_ERR_INVALID,
                        "store.tls.key_file %.300s: cannot load it, or it is not the key of "
                        "cert_file (%s)",
                        o->key_file, why);
    }
    return TG_OK;
}

/* The private directory and its socket, listened on by the bridge's base. */
static tg_status make_socket(tg__redis_tls *tls, tg_error *err) {
    const char *tmp = getenv("TMPDIR");
    snprintf(tls->dir, sizeof tls->dir, "%s/tollgate-redis-tls-XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 30 ? tmp : "/tmp");
    if (mkdtemp(tls->dir) == NULL) { /* mode 0700 */
        tls->dir[0] = '\0';
        return tg__fail(err, TG_ERR_IO, "cannot make the TLS bridge's directory: %s",
                        strerror(errno));
    }
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(tls->socket_path, sizeof tls->socket_path, "%s/s", tls->dir);
    memcpy(address.sun_path, tls->socket_path, strlen(tls->socket_path) + 1);
    tls->listener = evconnlistener_new_bind(tls->base, on_accept, tls,
                                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
                                            (struct sockaddr *)&address, (int)sizeof address);
    if (tls->listener == NULL) {
        return tg__fail(err, TG_ERR_IO, "cannot listen on the TLS bridge's socket %s: %s",
                        tls->socket_path, strerror(errno));
    }
    return TG_OK;
}

tg_status tg__redis_tls_start(const tg__redis_tls_options *options, tg__redis_tls **out,
                              tg_error *err) {
    const char *name = options->server_name != NULL && options->server_name[0] != '\0'
                           ? options->server_name
                           : options->host;
    if (options->host == NULL || strlen(options->host) >= HOST_SIZE || strlen(name) >= HOST_SIZE ||
        options->port < 1 || options->port > 65535) {
        return tg__fail(err, TG_ERR_INVALID,
                        "redis tls: a host and server name under %d bytes, port 1..65535",
                        HOST_SIZE);
    }
    tg__redis_tls *tls = calloc(1, sizeof *tls);
    if (tls == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "out of memory starting the redis TLS bridge");
    }
    tls->stop_pipe[0] = tls->stop_pipe[1] = -1;
    pthread_mutex_init(&tls->lock, NULL);
    snprintf(tls->host, sizeof tls->host, "%s", options->host);
    snprintf(tls->port, sizeof tls->port, "%d", options->port);
    snprintf(tls->server_name, sizeof tls->server_name, "%s", name);
    unsigned char scratch[sizeof(struct in6_addr)];
    tls->server_is_address =
        inet_pton(AF_INET, name, scratch) == 1 || inet_pton(AF_INET6, name, scratch) == 1;
    tg_status status = load_certificates(tls, options, err);
    if (status == TG_OK && ((tls->base = event_base_new()) == NULL ||
                            pipe2(tls->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
                            (tls->stop_event = event_new(tls->base, tls->stop_pipe[0], EV_READ,
                                                         on_stop, tls)) == NULL ||
                            event_add(tls->stop_event, NULL) != 0)) {
        status = tg__fail(err, TG_ERR_IO, "cannot make the redis TLS bridge's loop");
    }
    if (status == TG_OK) {
        status = make_socket(tls, err);
    }
    if (status == TG_OK) {
        /* The daemon's signals are for its own loop: the bridge's thread takes none. */
        sigset_t all, before;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &before);
        tls->running = pthread_create(&tls->thread, NULL, run, tls) == 0;
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        if (!tls->running) {
            status = tg__fail(err, TG_ERR_IO, "cannot start the redis TLS bridge's thread");
        }
    }
    if (status != TG_OK) {
        tg__redis_tls_stop(tls);
        return status;
    }
    *out = tls;
    return TG_OK;
}

void tg__redis_tls_stop(tg__redis_tls *tls) {
    if (tls == NULL) {
        return;
    }
    if (tls->running) {
        ssize_t written;
        do {
            written = write(tls->stop_pipe[1], "x", 1);
        } while (written < 0 && errno == EINTR);
        pthread_join(tls->thread, NULL);
    }
    if (tls->listener != NULL) {
        evconnlistener_free(tls->listener);
    }
    if (tls->stop_event != NULL) {
        event_free(tls->stop_event);
    }
    if (tls->base != NULL) {
        event_base_free(tls->base);
    }
    for (int i = 0; i < 2; i++) {
        if (tls->stop_pipe[i] >= 0) {
            close(tls->stop_pipe[i]);
        }
    }
    if (tls->socket_path[0] != '\0') {
        unlink(tls->socket_path);
    }
    if (tls->dir[0] != '\0') {
        rmdir(tls->dir);
    }
    SSL_CTX_free(tls->ctx);
    pthread_mutex_destroy(&tls->lock);
    free(tls);
}
