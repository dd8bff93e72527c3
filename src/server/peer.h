/*
 * peer: has the client at the other end of a connection left?
 *
 * evhttp stops reading a connection while its request waits for a reply, so it never
 * sees the client's FIN or RST then (a long poll, a proxy call waiting for room, an MCP
 * tools/call queued for room). The daemon's three waiting places ask the socket
 * directly, the same way, here.
 */
#ifndef TG_SERVER_PEER_H
#define TG_SERVER_PEER_H

#include <stdbool.h>

#include <event2/http.h>
#include <event2/util.h>

/* The socket under request's connection; -1 when the request has no connection (any
 * more) or the connection no socket. */
evutil_socket_t tg__peer_fd(struct evhttp_request *request);

/* True when the peer closed the socket fd (>= 0) or it failed: a peek that consumes
 * nothing. Bytes waiting (a pipelined request) mean the client is still there. */
bool tg__peer_left(evutil_socket_t fd);

#endif
