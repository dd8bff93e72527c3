/*
 * redis_tls: TLS to a Redis server for a hiredis that has none (Debian 12's is 0.14; TLS came
 * in 1.0). A thread of its own runs a bridge: hiredis connects in clear to a Unix socket in
 * a private directory (mode 0700, so only this process's user reaches it), and the bridge
 * carries each connection made there over TLS to the server (OpenSSL, through libevent's
 * bufferevent_openssl). The server's certificate is verified against the CA file (or the
 * system's trust store) and must name `server_name` (the URL's host when not given: a name
 * is matched against the certificate's DNS names, an address against its IP addresses); a
 * client certificate is presented when one is given (Redis asks for one by default:
 * `tls-auth-clients yes`). TLS 1.2 at least.
 *
 * What a caller must know:
 *   - One bridge serves one server (host:port): not a cluster, not sentinels.
 *   - A refused handshake closes the clear side: hiredis sees the connection closed, and
 *     tg__redis_tls_last_error says why (e.g. "certificate verify failed"), for messages.
 *   - The bridge holds at most TG__REDIS_TLS_BUFFERED_MAX bytes toward either side before
 *     it stops reading from the other, so a slow side cannot make it grow without bound.
 *   - Thread safety: start and stop from one thread; last_error from any.
 */
#ifndef TG_STORE_REDIS_TLS_H
#define TG_STORE_REDIS_TLS_H

#include <stddef.h>

#include "tollgate.h"

#define TG__REDIS_TLS_BUFFERED_MAX (16 * 1024 * 1024) /* bytes queued toward one side */
#define TG__REDIS_TLS_CONNECTIONS_MAX 256             /* bridged connections at once */
#define TG__REDIS_TLS_ERROR_SIZE 256                  /* the last failure, NUL included */

typedef struct {
    const char *host;        /* the server, as the URL names it */
    int port;                /* 1..65535 */
    const char *server_name; /* checked in the certificate and sent as SNI; NULL/"": host */
    const char *ca_file;     /* PEM bundle; NULL/"": the system's trust store */
    const char *cert_file;   /* client certificate chain (PEM), with key_file; or NULL/"" */
    const char *key_file;    /* its private key (PEM), or NULL/"" */
} tg__redis_tls_options;

typedef struct tg__redis_tls tg__redis_tls;

/* Loads the certificates (a bad file is TG_ERR_INVALID naming it), makes the private socket
 * and starts the bridge's thread. Freed with tg__redis_tls_stop. */
tg_status tg__redis_tls_start(const tg__redis_tls_options *options, tg__redis_tls **out,
                              tg_error *err);

/* The Unix socket hiredis connects to instead of host:port. */
const char *tg__redis_tls_socket(const tg__redis_tls *tls);

/* Why the last bridged connection failed on the TLS side, or "" (copied into out). */
void tg__redis_tls_last_error(tg__redis_tls *tls, char *out, size_t size);

/* Stops the thread, closes every bridged connection, removes the socket. NULL is a no-op. */
void tg__redis_tls_stop(tg__redis_tls *tls);

#endif
