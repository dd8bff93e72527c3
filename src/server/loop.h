/*
 * loop: what the front ends (the API, the LLM proxy, MCP over HTTP, the event stream)
 * call back on the daemon's loop. Its clock is here, inline; "commit soon" is the function
 * pointer each is handed (tg__daemon.flush and the proxy's and MCP's copies). So those
 * front ends need nothing defined in http.c: http.c routes to them (its route table),
 * they never call into it, and the link order has no circle.
 */
#ifndef TG_SERVER_LOOP_H
#define TG_SERVER_LOOP_H

#include <stdint.h>

#include "engine/clock.h"

/* The wall clock the daemon stamps its decisions with, in ms since the epoch. */
static inline int64_t tg__now_ms(void) {
    return tg__clock_wall_ms();
}

#endif
