/*
 * store_sqlite_writeback: the checkpointer's writes to the main file, paced.
 *
 * A checkpoint copies the WAL's pages into the main file with plain writes (into the
 * OS page cache) and then fsyncs the file once. At a million budgets that is a few
 * hundred random pages at once (each commit dirties a different budget leaf), and the
 * device works through all of them while the engine's commits wait for their own WAL
 * fsyncs behind them: the strict tail (docs/benchmarks.md, runs J and M). Here the
 * checkpointer's connection opens the file through a VFS that, after every
 * TG__WRITEBACK_PAGES pages, asks the kernel to start writing them
 * (sync_file_range SYNC_FILE_RANGE_WRITE) and waits for the batch before that one: at
 * most two batches are ever in flight, and the fsync at the end finds little left.
 *
 * Durability does not move: this only starts writes earlier and waits for them; the
 * checkpoint's own fsync still runs (xSync goes to SQLite's VFS unchanged) before the
 * WAL may be reused. sync_file_range makes nothing durable on its own and is not
 * relied on for that. On a system without it the VFS passes writes through.
 *
 * The file descriptor is the store's lock_fd (an O_RDWR descriptor of the same file,
 * kept open until every SQLite connection is closed): a descriptor of our own, once
 * closed, would drop the process's POSIX locks on the file, SQLite's included.
 */
#include <fcntl.h> /* sync_file_range: _GNU_SOURCE, set for the whole build */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

/* Pages per batch handed to the kernel (64 KiB of 4 KiB pages). */
#define TG__WRITEBACK_PAGES 16

/* One VFS per store, so that its files know the store's descriptor. */
struct tg__writeback {
    sqlite3_vfs vfs;          /* registered under name; pAppData is this struct */
    sqlite3_vfs *real;        /* SQLite's default VFS, which does the work */
    int fd;                   /* the store's lock_fd; not owned */
    _Atomic uint64_t batches; /* batches handed to the kernel, for tests */
    char name[64];            /* "tollgate-writeback-" and this struct's address */
};

/* An open file: ours, then the real VFS's file right after it (szOsFile covers both). */
typedef struct {
    sqlite3_file base;    /* methods: writeback_methods */
    sqlite3_file *real;   /* the real file, in the same allocation */
    tg__writeback *owner; /* the VFS that opened it */
    int fd;               /* where to start writeback; -1: not the main file */
    int pages;            /* pages written since the last batch was handed over */
    int64_t batch_start;  /* offset range of the batch being gathered */
    int64_t batch_end;    /* (exclusive); batch_start == batch_end: empty */
    int64_t flight_start; /* the batch handed to the kernel, not yet waited for */
    int64_t flight_end;
} writeback_file;

#define REAL(file) (((writeback_file *)(file))->real)

/* Waits for the batch in flight, then starts the one gathered: at most two in flight. */
static void writeback_step(writeback_file *f) {
#ifdef SYNC_FILE_RANGE_WRITE
    if (f->flight_end > f->flight_start) {
        sync_file_range(f->fd, f->flight_start, f->flight_end - f->flight_start,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER);
    }
    if (f->batch_end > f->batch_start) {
        sync_file_range(f->fd, f->batch_start, f->batch_end - f->batch_start,
                        SYNC_FILE_RANGE_WRITE);
        atomic_fetch_add(&f->owner->batches, 1);
    }
#endif
    f->flight_start = f->batch_start;
    f->flight_end = f->batch_end;
    f->batch_start = f->batch_end = 0;
    f->pages = 0;
}

static int wb_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    writeback_file *f = (writeback_file *)file;
    int rc = f->real->pMethods->xWrite(f->real, data, amount, offset);
    if (rc != SQLITE_OK || f->fd < 0) {
        return rc;
    }
    /* A checkpoint writes in page order: a batch is the range from its first to its last. */
    if (f->batch_end == f->batch_start) {
        f->batch_start = offset;
        f->batch_end = offset + amount;
    } else {
        f->batch_start = offset < f->batch_start ? offset : f->batch_start;
        f->batch_end = offset + amount > f->batch_end ? offset + amount : f->batch_end;
    }
    if (++f->pages >= TG__WRITEBACK_PAGES) {
        writeback_step(f);
    }
    return SQLITE_OK;
}

static int wb_sync(sqlite3_file *file, int flags) {
    writeback_file *f = (writeback_file *)file;
    f->batch_start = f->batch_end = f->flight_start = f->flight_end = 0;
    f->pages = 0;
    return f->real->pMethods->xSync(f->real, flags); /* the fsync itself, never skipped */
}

static int wb_close(sqlite3_file *file) {
    return REAL(file)->pMethods->xClose(REAL(file));
}
static int wb_read(sqlite3_file *file, void *data, int amount, sqlite3_int64 offset) {
    return REAL(file)->pMethods->xRead(REAL(file), data, amount, offset);
}
static int wb_truncate(sqlite3_file *file, sqlite3_int64 size) {
    return REAL(file)->pMethods->xTruncate(REAL(file), size);
}
static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size) {
    return REAL(file)->pMethods->xFileSize(REAL(file), size);
}
static int wb_lock(sqlite3_file *file, int level) {
    return REAL(file)->pMethods->xLock(REAL(file), level);
}
static int wb_unlock(sqlite3_file *file, int level) {
    return REAL(file)->pMethods->xUnlock(REAL(file), level);
}
static int wb_check_reserved_lock(sqlite3_file *file, int *out) {
    return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}
static int wb_file_control(sqlite3_file *file, int op, void *arg) {
    return REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}
static int wb_sector_size(sqlite3_file *file) {
    return REAL(file)->pMethods->xSectorSize(REAL(file));
}
static int wb_device_characteristics(sqlite3_file *file) {
    return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}
static int wb_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out) {
    return REAL(file)->pMethods->xShmMap(REAL(file), page, size, extend, out);
}
static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags) {
    return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}
static void wb_shm_barrier(sqlite3_file *file) {
    REAL(file)->pMethods->xShmBarrier(REAL(file));
}
static int wb_shm_unmap(sqlite3_file *file, int delete_flag) {
    return REAL(file)->pMethods->xShmUnmap(REAL(file), delete_flag);
}

/* Version 2 (shared memory, which WAL needs); no memory-mapped fetches: the
 * checkpointer's connection never sets mmap_size. */
static const sqlite3_io_methods writeback_methods = {
    .iVersion = 2,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved_lock,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
};

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
                   int *out_flags) {
    tg__writeback *w = vfs->pAppData;
    writeback_file *f = (writeback_file *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    f->owner = w;
    f->fd = (flags & SQLITE_OPEN_MAIN_DB) ? w->fd : -1;
    int rc = w->real->xOpen(w->real, name, f->real, flags, out_flags);
    /* A failed open leaves pMethods NULL, so SQLite does not close it. */
    f->base.pMethods = f->real->pMethods != NULL ? &writeback_methods : NULL;
    return rc;
}

/* The rest of the VFS is the real one's. */
static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xDelete(real, name, sync_dir);
}
static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xAccess(real, name, flags, out);
}
static int wb_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xFullPathname(real, name, size, out);
}
static int wb_randomness(sqlite3_vfs *vfs, int size, char *out) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xRandomness(real, size, out);
}
static int wb_sleep(sqlite3_vfs *vfs, int microseconds) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xSleep(real, microseconds);
}
static int wb_current_time(sqlite3_vfs *vfs, double *out) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xCurrentTime(real, out);
}
static int wb_get_last_error(sqlite3_vfs *vfs, int size, char *out) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xGetLastError(real, size, out);
}
static void *wb_dl_open(sqlite3_vfs *vfs, const char *name) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xDlOpen(real, name);
}
static void wb_dl_error(sqlite3_vfs *vfs, int size, char *out) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    real->xDlError(real, size, out);
}
static void (*wb_dl_sym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xDlSym(real, handle, symbol);
}
static void wb_dl_close(sqlite3_vfs *vfs, void *handle) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    real->xDlClose(real, handle);
}
static int wb_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    sqlite3_vfs *real = ((tg__writeback *)vfs->pAppData)->real;
    return real->xCurrentTimeInt64(real, out);
}

tg__writeback *tg__writeback_register(int fd) {
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    tg__writeback *w = calloc(1, sizeof *w);
    if (real == NULL || real->iVersion < 2 || w == NULL) {
        free(w);
        return NULL;
    }
    snprintf(w->name, sizeof w->name, "tollgate-writeback-%p", (void *)w);
    w->real = real;
    w->fd = fd;
    w->vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(writeback_file) + real->szOsFile,
        .mxPathname = real->mxPathname,
        .zName = w->name,
        .pAppData = w,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dl_open,
        .xDlError = wb_dl_error,
        .xDlSym = wb_dl_sym,
        .xDlClose = wb_dl_close,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_get_last_error,
        .xCurrentTimeInt64 = wb_current_time_int64,
    };
    if (sqlite3_vfs_register(&w->vfs, 0) != SQLITE_OK) {
        free(w);
        return NULL;
    }
    return w;
}

uint64_t tg__writeback_batches(const tg__writeback *w) {
    return w != NULL ? atomic_load(&w->batches) : 0;
}

const char *tg__writeback_name(const tg__writeback *w) {
    return w != NULL ? w->name : NULL;
}

void tg__writeback_unregister(tg__writeback *w) {
    if (w == NULL) {
        return;
    }
    sqlite3_vfs_unregister(&w->vfs);
    free(w);
}
