/*
 * http: the daemon's HTTP front and its group-commit pipeline. Requests are
 * decided on the loop thread as they arrive; their replies wait in the open
 * batch. At the end of a loop turn the batch is detached as one group commit and
 * handed to the writer thread, and the loop decides the next batch meanwhile;
 * a batch's replies go out when its commit is on disk (strict), or at once
 * (relaxed, or when the batch changed nothing durable).
 */
#ifndef TG_SERVER_HTTP_H
#define TG_SERVER_HTTP_H

#include <stddef.h>

#include <event2/event.h>

#include "server/daemon.h"

typedef struct tg__http tg__http;

/* Listens on config's address and port (port >= 0 overrides it), prints the
 * "listening on" line. The engine must be inside a batch (tg_engine_batch_begin)
 * from here on: the pipeline keeps it so. NULL after printing why on stderr. */
tg__http *tg__http_start(struct event_base *base, tg__daemon *daemon, const tg__config *config,
                         int port);

/* The port the listener is bound to (the kernel's choice when started with port 0). */
int tg__http_port(const tg__http *http);

/* Rows of the route table (ROUTES in http.c), so that the test driving a request to every row
 * (tests/unit/test_server_routes.c) notices a new one. */
size_t tg__http_routes_count(void);

/* Time-driven work: engine tick and a commit of what is pending (refusal events
 * included). A timer calls it at the engine's next deadline (tg_engine_deadline_ms),
 * re-armed after every batch: there is no periodic tick. */
void tg__http_tick(tg__http *http);

/* Commits what is pending at the end of this loop turn (after a reload). */
void tg__http_flush_soon(tg__http *http);

/* Stopping: every long poll (POST /v1/holds with wait_ms) is answered 503 shutting_down
 * and its waiter cancelled, so nothing is held for it; called before the drain. */
void tg__http_refuse_waiting(tg__http *h);

/* SIGTERM: stop accepting connections; requests already read are still answered. */
void tg__http_stop_listening(tg__http *http);

/* True when no commit is in flight and no reply waits. */
bool tg__http_idle(const tg__http *http);

/* After the loop (or a failed start): waits for the writer, commits and answers what
 * is left, ends the engine's batch (writing on this thread: the writer is gone),
 * closes every connection and frees. False if the store failed on the way. */
bool tg__http_finish(tg__http *http);

#endif
