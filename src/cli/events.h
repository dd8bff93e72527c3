/*
 * events: `tollgate events` (events.c): the event log, paged or followed, and
 * `--failed`, the notifications given up on (the dead-letter list of src/notify);
 * events_stream.c reads the daemon's event stream for --follow.
 */
#ifndef TG_CLI_EVENTS_H
#define TG_CLI_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/*
 * `tollgate events --follow`, once the backlog is printed: reads the daemon's event
 * stream (GET /v1/events/stream) from after *since, calls print(event, user) for each
 * event (its JSON, borrowed) and moves *since on; when the stream ends (the daemon
 * restarts) it reconnects after a second with Last-Event-ID, so nothing is missed or
 * printed twice. Runs until the daemon refuses, or print returns false (its output is
 * gone; print said so), with an exit code; or, when the daemon has no stream (501:
 * memory store), returns -1 for the caller to poll instead.
 */
int tg__cli_events_stream(const char *url, const char *key, uint64_t *since,
                          bool (*print)(json_t *event, void *user), void *user);

#endif
