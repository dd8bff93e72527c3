/*
 * quiet_thread: start a background thread with every signal blocked.
 *
 * Why: a process signal goes to any thread that does not block it. The handlers that
 * Tollgate installs (the daemon's SIGTERM/SIGHUP through libevent, `tollgate mcp`'s
 * SIGCHLD and SIGTERM self-pipe) assume they run on the thread that installed them;
 * run on a helper thread they race that thread's teardown (TSan caught it on the WAL
 * checkpointer). Every helper thread starts here, so none can take a signal. The
 * caller's own mask is restored before returning.
 */
#ifndef TG_CORE_QUIET_THREAD_H
#define TG_CORE_QUIET_THREAD_H

#include <pthread.h>
#include <signal.h>

/* pthread_create with every signal blocked in the new thread; its return value. */
static inline int tg__quiet_thread_start(pthread_t *thread, const pthread_attr_t *attr,
                                         void *(*main)(void *), void *arg) {
    sigset_t all, caller;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &caller);
    int started = pthread_create(thread, attr, main, arg);
    pthread_sigmask(SIG_SETMASK, &caller, NULL);
    return started;
}

#endif
