/*
 * fsync_log: an LD_PRELOAD library that logs, for one process, every fdatasync/fsync
 * (when, how long, which thread, on which kind of file) and every pwrite to a SQLite
 * ledger's main file or WAL, so that each strict commit's WAL fsync can be set beside
 * what the checkpointer was doing at that moment (bench/fsync_log/overlap.py;
 * docs/benchmarks.md, run N). strace -T does the same but slows each call by tens of
 * microseconds and stretches the checkpoints it is meant to watch; this costs one
 * write(2) of a short line per logged call.
 *
 *   cc -O2 -Wall -Wextra -shared -fPIC -o /tmp/fsync_log.so bench/fsync_log/fsync_log.c -ldl
 *   FSYNC_LOG=/tmp/io.log LD_PRELOAD=/tmp/fsync_log.so build/tollgate serve --config ...
 *
 * A line: EVENT KIND START_NS DURATION_NS TID ARG. EVENT is S (fdatasync), F (fsync),
 * W (pwrite; ARG the end offset written) or R (sync_file_range; ARG its flags); KIND is
 * d (a *.db file), w (a *.db-wal file) or o (anything else). Measurement only: it is
 * built by hand and never linked into Tollgate.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Descriptors whose kind is remembered (a daemon's files are opened once, early). */
#define FDS_MAX 1024

static int log_fd = -2;     /* -2: not opened yet; -1: FSYNC_LOG unset */
static char kinds[FDS_MAX]; /* 0: not looked up yet */

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static char kind_of(int fd) {
    if (fd < 0 || fd >= FDS_MAX) {
        return 'o';
    }
    if (kinds[fd] != 0) {
        return kinds[fd];
    }
    char link[64];
    char target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) {
        return 'o';
    }
    target[n] = '\0';
    size_t len = (size_t)n;
    char kind = 'o';
    if (len > 7 && strcmp(target + len - 7, ".db-wal") == 0) {
        kind = 'w';
    } else if (len > 3 && strcmp(target + len - 3, ".db") == 0) {
        kind = 'd';
    }
    kinds[fd] = kind;
    return kind;
}

static void log_line(char event, int fd, long long start, long long took, long long arg) {
    if (log_fd == -2) {
        const char *path = getenv("FSYNC_LOG");
        log_fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    }
    if (log_fd < 0) {
        return;
    }
    char line[128];
    int n = snprintf(line, sizeof line, "%c %c %lld %lld %ld %lld\n", event, kind_of(fd), start,
                     took, (long)syscall(SYS_gettid), arg);
    if (write(log_fd, line, (size_t)n) < 0) {
        log_fd = -1; /* a full disk ends the log, not the daemon */
    }
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    }
    long long t = now_ns();
    int rc = real(fd);
    log_line('S', fd, t, now_ns() - t, -1);
    return rc;
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    }
    long long t = now_ns();
    int rc = real(fd);
    log_line('F', fd, t, now_ns() - t, -1);
    return rc;
}

ssize_t pwrite64(int fd, const void *data, size_t size, off_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (real == NULL) {
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    }
    long long t = now_ns();
    ssize_t n = real(fd, data, size, offset);
    if (kind_of(fd) != 'o') {
        log_line('W', fd, t, now_ns() - t, (long long)offset + (long long)size);
    }
    return n;
}

ssize_t pwrite(int fd, const void *data, size_t size, off_t offset) {
    return pwrite64(fd, data, size, offset);
}

int sync_file_range(int fd, off_t offset, off_t size, unsigned int flags) {
    static int (*real)(int, off_t, off_t, unsigned int);
    if (real == NULL) {
        real = (int (*)(int, off_t, off_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
    }
    long long t = now_ns();
    int rc = real(fd, offset, size, flags);
    log_line('R', fd, t, now_ns() - t, (long long)flags);
    return rc;
}
