/*
 * writer: one thread that writes detached group commits, so the event loop never
 * blocks on fsync. A single slot, guarded by a mutex: the loop puts a commit in,
 * the thread writes it and marks it written, then writes one byte to a pipe whose
 * read end is an event on the loop. The commit is touched by one thread at a
 * time, handed over under the mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/writer.h"
#include "core/quiet_thread.h"
#include "engine/clock.h"

typedef enum { SLOT_EMPTY, SLOT_QUEUED, SLOT_WRITTEN } slot_state;

struct tg__writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;  /* signalled when the slot is queued, written, or stopping */
    slot_state state;        /* guarded by lock */
    bool stopping;           /* guarded by lock */
    tg_group_commit *commit; /* the slot's commit; guarded by lock */
    tg_status status;        /* outcome of the write; guarded by lock */
    tg_error err;            /* its message; guarded by lock */
    int64_t write_us;        /* how long the write took */
    int wake[2];             /* pipe: the thread writes a byte when a commit is written */
    struct event *woken;     /* read event on wake[0], on the loop */
    tg__writer_done_fn done; /* loop thread callback */
    void *user;
};

static void *writer_main(void *arg) {
    tg__writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->state != SLOT_QUEUED && !w->stopping) {
            pthread_cond_wait(&w->changed, &w->lock);
        }
        if (w->state != SLOT_QUEUED) {
            break; /* stopping with nothing to write */
        }
        tg_group_commit *commit = w->commit;
        pthread_mutex_unlock(&w->lock);
        tg_error err = {0};
        int64_t started_us = tg__clock_monotonic_us();
        tg_status status = tg_group_commit_write(commit, &err);
        int64_t write_us = tg__clock_monotonic_us() - started_us;
        pthread_mutex_lock(&w->lock);
        w->status = status;
        w->err = err;
        w->write_us = write_us;
        w->state = SLOT_WRITTEN;
        pthread_cond_broadcast(&w->changed);
        char byte = 1;
        /* A full pipe already holds a wake-up; the loop drains it and checks the slot. */
        while (write(w->wake[1], &byte, 1) < 0 && errno == EINTR) {
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Loop thread: reports a written commit, if any, and empties the slot. */
static void report(tg__writer *w) {
    pthread_mutex_lock(&w->lock);
    if (w->state != SLOT_WRITTEN) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    tg_group_commit *commit = w->commit;
    tg_status status = w->status;
    tg_error err = w->err;
    int64_t write_us = w->write_us;
    w->commit = NULL;
    w->state = SLOT_EMPTY;
    pthread_mutex_unlock(&w->lock);
    w->done(w->user, commit, status, status == TG_OK ? "" : err.message, write_us);
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    char bytes[64];
    while (read(fd, bytes, sizeof bytes) > 0) {
    }
    report(arg);
}

/* What start made, after the thread (if any) has been joined. */
static void writer_free(tg__writer *w) {
    if (w->woken != NULL) {
        event_free(w->woken);
    }
    close(w->wake[0]);
    close(w->wake[1]);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->changed);
    free(w);
}

tg__writer *tg__writer_start(struct event_base *base, tg__writer_done_fn done, void *user) {
    tg__writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return NULL;
    }
    w->done = done;
    w->user = user;
    w->wake[0] = w->wake[1] = -1;
    if (pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(w);
        return NULL;
    }
    w->woken = event_new(base, w->wake[0], EV_READ | EV_PERSIST, on_wake, w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
    /* The loop's wake-up outranks request handling: a written commit frees replies. */
    if (w->woken == NULL || event_priority_set(w->woken, 0) != 0 ||
        event_add(w->woken, NULL) != 0 ||
        tg__quiet_thread_start(&w->thread, NULL, writer_main, w) != 0) {
        writer_free(w);
        return NULL;
    }
    return w;
}

bool tg__writer_busy(const tg__writer *w) {
    tg__writer *unconst = (tg__writer *)w;
    pthread_mutex_lock(&unconst->lock);
    bool busy = w->state != SLOT_EMPTY;
    pthread_mutex_unlock(&unconst->lock);
    return busy;
}

void tg__writer_submit(tg__writer *w, tg_group_commit *commit) {
    pthread_mutex_lock(&w->lock);
    if (w->state != SLOT_EMPTY) {
        fprintf(stderr, "tollgate: writer misuse at %s:%d: a commit is already in flight\n",
                __FILE__, __LINE__);
        abort();
    }
    w->commit = commit;
    w->state = SLOT_QUEUED;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

void tg__writer_wait(tg__writer *w) {
    pthread_mutex_lock(&w->lock);
    while (w->state == SLOT_QUEUED) {
        pthread_cond_wait(&w->changed, &w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    report(w); /* the pipe's byte stays; on_wake finds the slot empty then */
}

void tg__writer_stop(tg__writer *w) {
    if (w == NULL) {
        return;
    }
    tg__writer_wait(w);
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    report(w); /* a commit submitted by the last report was still written: hand it back */
    writer_free(w);
}
