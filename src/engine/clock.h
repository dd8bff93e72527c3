/*
 * clock: the two clocks the daemon and its tools read, in one place. Core never
 * reads a clock (time comes in as an argument); the engine and the front ends
 * read it here. Wall time is what the ledger's windows and events are stamped
 * with; monotonic time measures durations and deadlines that must not jump when
 * the wall clock is set.
 */
#ifndef TG_ENGINE_CLOCK_H
#define TG_ENGINE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch. */
static inline int64_t tg__clock_wall_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Milliseconds since an arbitrary start; never goes back. */
static inline int64_t tg__clock_monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Microseconds since an arbitrary start; never goes back. */
static inline int64_t tg__clock_monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

#endif
