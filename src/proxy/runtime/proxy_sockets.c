/*
 * proxy_sockets: curl's sockets in the daemon's libevent loop, one event per socket
 * curl asks to watch (curl's hiperfifo example), with one difference: the socket of a
 * kept upstream connection stays in the loop between calls.
 *
 * curl 7.88 tells the loop to forget a kept connection's socket when its transfer ends
 * (CURL_POLL_REMOVE) and to watch it again when the next call reuses it (CURL_POLL_IN):
 * two epoll_ctl system calls a plain call that need not be, since the socket is the
 * same and so is what is watched. Such a socket is parked instead: its event stays
 * added, and a reuse watching the same way changes nothing in the kernel. Parking is
 * safe only for sockets whose close Tollgate sees, else a closed socket's number, taken
 * by a new client connection, would still count as watched in libevent's map and the
 * client's reads would never be asked for. So only the sockets curl opens through
 * open_socket (its connections) are parked, and close_socket drops their events before
 * the close; curl's other sockets (its resolver's) are watched and forgotten as before.
 * A parked socket that turns readable (the upstream closed the idle connection) is
 * forgotten then; curl finds the connection dead at its reuse check and closes it.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "proxy/runtime/proxy_internal.h"

struct tg__proxy_socket {
    tg__proxy *proxy;   /* owner */
    struct event event; /* watches the socket while `added` */
    curl_socket_t fd;   /* the socket */
    short kind;         /* EV_READ / EV_WRITE watched while added */
    bool added;         /* event in the loop */
    bool parked;        /* curl forgot it; its connection idles in curl's cache */
    bool kept;          /* in proxy->sockets: opened by open_socket, closed by close_socket */
};

static tg__proxy_socket *kept_find(const tg__proxy *proxy, curl_socket_t fd) {
    for (int i = 0; i < proxy->sockets_count; i++) {
        if (proxy->sockets[i]->fd == fd) {
            return proxy->sockets[i];
        }
    }
    return NULL;
}

static void unwatch(tg__proxy_socket *watch) {
    if (watch->added) {
        event_del(&watch->event);
        watch->added = false;
    }
    watch->parked = false;
}

static void on_socket_event(evutil_socket_t fd, short kind, void *user) {
    tg__proxy_socket *watch = user;
    if (watch->parked) {
        unwatch(watch); /* an idle kept connection closed (or sent stray bytes) */
        return;
    }
    int action =
        ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    tg__proxy *proxy = watch->proxy;
    int running = 0;
    curl_multi_socket_action(proxy->multi, fd, action, &running);
    tg__proxy_read_done(proxy);
}

int tg__proxy_on_socket(CURL *easy, curl_socket_t fd, int what, void *user, void *socket_user) {
    (void)easy;
    tg__proxy *proxy = user;
    tg__proxy_socket *watch = socket_user != NULL ? socket_user : kept_find(proxy, fd);
    if (what == CURL_POLL_REMOVE) {
        if (watch == NULL) {
            return 0;
        }
        curl_multi_assign(proxy->multi, fd, NULL);
        if (watch->kept && watch->added && watch->kind == EV_READ) {
            watch->parked = true; /* stays in the loop for the connection's next call */
            return 0;
        }
        unwatch(watch);
        if (!watch->kept) {
            free(watch);
        }
        return 0;
    }
    if (watch == NULL) {
        watch = calloc(1, sizeof *watch);
        if (watch == NULL) {
            return -1;
        }
        watch->proxy = proxy;
        watch->fd = fd;
    }
    curl_multi_assign(proxy->multi, fd, watch);
    short kind =
        (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0));
    watch->parked = false;
    if (watch->added && watch->kind == kind) {
        return 0; /* a parked socket watched as before: nothing to change */
    }
    unwatch(watch);
    event_assign(&watch->event, proxy->base, fd, (short)(EV_PERSIST | kind), on_socket_event,
                 watch);
    if (event_add(&watch->event, NULL) != 0) {
        return -1;
    }
    watch->kind = kind;
    watch->added = true;
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: a connection's socket, made as curl would make it. Past
 * TG__PROXY_SOCKETS_KEPT_MAX open connections, a socket is not kept (never parked). */
static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *address) {
    (void)purpose;
    tg__proxy *proxy = user;
    curl_socket_t fd = socket(address->family, address->socktype, address->protocol);
    if (fd == CURL_SOCKET_BAD || proxy->sockets_count == TG__PROXY_SOCKETS_KEPT_MAX) {
        return fd;
    }
    tg__proxy_socket *watch = calloc(1, sizeof *watch);
    if (watch == NULL) {
        return fd; /* watched and forgotten per transfer, as curl's other sockets */
    }
    watch->proxy = proxy;
    watch->fd = fd;
    watch->kept = true;
    proxy->sockets[proxy->sockets_count++] = watch;
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: the event goes before the socket does. */
static int close_socket(void *user, curl_socket_t fd) {
    tg__proxy *proxy = user;
    for (int i = 0; i < proxy->sockets_count; i++) {
        tg__proxy_socket *watch = proxy->sockets[i];
        if (watch->fd == fd) {
            unwatch(watch);
            free(watch);
            proxy->sockets[i] = proxy->sockets[--proxy->sockets_count];
            break;
        }
    }
    return close(fd);
}

void tg__proxy_sockets_use(tg__proxy *proxy, CURL *easy) {
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, proxy);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, proxy);
}

void tg__proxy_sockets_free(tg__proxy *proxy) {
    for (int i = 0; i < proxy->sockets_count; i++) {
        unwatch(proxy->sockets[i]);
        free(proxy->sockets[i]);
    }
    proxy->sockets_count = 0;
}
