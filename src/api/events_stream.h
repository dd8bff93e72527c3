/*
 * events_stream: GET /v1/events/stream, the ledger's events as server-sent
 * events. Only durable events are streamed: they are read from the events table
 * (the daemon's read-only connection) after each group commit, the same moment
 * the notify sender is woken, so a client never sees an event a crash could
 * take back. Resumable with Last-Event-ID (the event's id in the table),
 * filtered by query (kinds, budget globs, minimum severity), scoped by the
 * caller's key. See docs/api.md, "Event stream".
 */
#ifndef TG_SERVER_EVENTS_STREAM_H
#define TG_SERVER_EVENTS_STREAM_H

#include <stdbool.h>

#include <event2/event.h>
#include <event2/http.h>

#include "server/daemon.h"

typedef struct tg__streams tg__streams;

/* The open streams of one daemon, on `base`'s loop thread. NULL when out of memory. */
tg__streams *tg__streams_new(struct event_base *base, tg__daemon *daemon);

/* Takes the request when it is for /v1/events/stream (true): answered with an error, or
 * kept as a stream until the client leaves or the daemon stops. False: not ours. */
bool tg__streams_handle(tg__streams *streams, struct evhttp_request *request);

/* New events are durable (a group commit was written): streams read them at the end of
 * this loop turn. NULL is a no-op. */
void tg__streams_wake(tg__streams *streams);

/* Open streams now, and streams cut for not reading since start (for /metrics). */
int64_t tg__streams_count(const tg__streams *streams);
uint64_t tg__streams_cut_total(const tg__streams *streams);

/* The keys changed (tg__daemon_keys_changed): streams whose key is gone, or now has another
 * role or scope, get a last `closed` event and end. NULL: no-op. */
void tg__streams_keys_changed(tg__streams *streams);

/* SIGTERM: ends every stream (a last empty chunk, written during the drain) and refuses
 * new ones (503 stopping). NULL: no-op. */
void tg__streams_stop(tg__streams *streams);

/* Ends every stream left (a last empty chunk) and frees. Call before evhttp_free. NULL: no-op. */
void tg__streams_free(tg__streams *streams);

#endif
