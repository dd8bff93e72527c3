/* peer: the one socket peek behind every "has the client left?" (peer.h). */
#include <errno.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>

#include "server/peer.h"

evutil_socket_t tg__peer_fd(struct evhttp_request *request) {
    struct evhttp_connection *connection =
        request != NULL ? evhttp_request_get_connection(request) : NULL;
    struct bufferevent *events =
        connection != NULL ? evhttp_connection_get_bufferevent(connection) : NULL;
    return events != NULL ? bufferevent_getfd(events) : -1;
}

bool tg__peer_left(evutil_socket_t fd) {
    char byte;
    ssize_t got = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}
