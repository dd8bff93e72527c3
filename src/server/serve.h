/*
 * serve: `tollgate serve` in three steps, so that a unit test starts the very daemon the
 * command runs (tests/unit/test_server_routes.c drives its route table over a socket).
 * tg__serve (config/config.h) is start, then run.
 */
#ifndef TG_SERVER_SERVE_H
#define TG_SERVER_SERVE_H

#include "config/config.h"
#include "config/config_file.h"

typedef struct tg__served tg__served;

/* Everything before the loop: the engine with the config applied, the front ends, the
 * signal events (SIGTERM and SIGINT stop, SIGHUP reloads), the listener ("listening on"
 * printed). Takes `file` and `config` whatever happens. NULL after saying why on stderr.
 * One per process: the signals are the process's. */
tg__served *tg__serve_start(struct tg__config_file *file, tg__config *config, int port);

/* The port the listener is bound to (the kernel's choice for port 0). */
int tg__serve_port(const tg__served *served);

/* Runs the loop until SIGTERM or SIGINT, drains, stops and frees everything start made.
 * On the thread that runs the loop; nothing else may touch the daemon meanwhile. Returns a
 * process exit code: 0 when everything acknowledged is on disk. */
int tg__serve_run(tg__served *served);

#endif
