/*
 * writer: the daemon's writer thread. The loop thread detaches a batch's commit
 * (tg_engine_batch_detach) and submits it here; the writer writes it (one
 * transaction, one fsync) while the loop goes on deciding the next batch, then
 * wakes the loop through a pipe, and `done` runs on the loop thread. One commit
 * is in flight at a time: the next batch grows meanwhile, which is what makes
 * the commit a group commit.
 */
#ifndef TG_SERVER_WRITER_H
#define TG_SERVER_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "tollgate.h"

typedef struct tg__writer tg__writer;

/* Called on the loop thread with the write's outcome; `message` is "" on success. */
typedef void (*tg__writer_done_fn)(void *user, tg_group_commit *commit, tg_status status,
                                   const char *message, int64_t write_us);

/* Starts the thread. NULL when a thread, pipe or event cannot be made. */
tg__writer *tg__writer_start(struct event_base *base, tg__writer_done_fn done, void *user);

/* True while a submitted commit has not been reported through `done`. */
bool tg__writer_busy(const tg__writer *writer);

/* Hands a commit to the thread. Only when not busy (a programmer error otherwise). */
void tg__writer_submit(tg__writer *writer, tg_group_commit *commit);

/* Blocks the loop thread until the commit in flight is written, and reports it through
 * `done` before returning (backpressure and shutdown). No-op when not busy. */
void tg__writer_wait(tg__writer *writer);

/* Waits for the commit in flight, stops and joins the thread, frees. NULL is a no-op. */
void tg__writer_stop(tg__writer *writer);

#endif
