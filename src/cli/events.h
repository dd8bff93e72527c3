/*
 * events: `tollgate events --failed`, the notifications given up on (the
 * dead-letter list of src/notify). The rest of `tollgate events` is remote.c's.
 */
#ifndef TG_CLI_EVENTS_H
#define TG_CLI_EVENTS_H

#include <stdbool.h>

/* True when the arguments after `events` ask for --failed. */
bool tg__cli_events_wants_failed(int argc, char **argv);

/* Runs `tollgate events --failed ...` (argv: the arguments after `events`). An exit code. */
int tg__cli_events_failed(int argc, char **argv);

#endif
