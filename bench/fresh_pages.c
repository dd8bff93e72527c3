/*
 * bench_fresh_pages: how fast this machine hands out fresh anonymous memory, the cost a
 * daemon's start-up pays for its budget and hold tables (docs/benchmarks.md, "Start-up
 * alone"). Touches MiB of new memory one byte per 4 KiB page, with 4 KiB pages and with
 * transparent huge pages (MADV_HUGEPAGE), each in a fresh mapping, then huge pages again
 * in a mapping reused inside the process. On a VM with free page reporting, memory
 * freed a few seconds earlier has gone back to the host and the first touch of a huge
 * page costs a host fault, which is why the ledger's tables are not advised huge.
 *
 * usage: bench_fresh_pages [MiB] [rounds]   (default 200 MiB, 3 rounds; a 3 s pause
 * between rounds lets the freed memory be reported back, as between two daemon starts)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* GB/s of touching every page of `bytes` at `p` once. */
static double touch(volatile unsigned char *p, size_t bytes) {
    double start = now_s();
    for (size_t at = 0; at < bytes; at += PAGE) {
        p[at] = 1;
    }
    return (double)bytes / (now_s() - start) / 1e9;
}

/* A fresh mapping of `bytes`, advised huge or not, touched once; -1 when mmap failed. */
static double fresh(size_t bytes, int huge) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return -1;
    }
    if (huge) {
        madvise(p, bytes, MADV_HUGEPAGE);
    }
    double rate = touch(p, bytes);
    munmap(p, bytes);
    return rate;
}

int main(int argc, char **argv) {
    long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 200;
    long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 3;
    if (mib < 1 || mib > 65536 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: bench_fresh_pages [MiB 1..65536] [rounds 1..100]\n");
        return 2;
    }
    size_t bytes = (size_t)mib << 20;
    for (long r = 1; r <= rounds; r++) {
        if (r > 1) {
            sleep(3);
        }
        double small = fresh(bytes, 0);
        sleep(3);
        double huge = fresh(bytes, 1);
        double reused = fresh(bytes, 1); /* the huge pages just freed, taken again at once */
        if (small < 0 || huge < 0 || reused < 0) {
            fprintf(stderr, "bench_fresh_pages: mmap of %ld MiB failed\n", mib);
            return 1;
        }
        printf("round %ld: %ld MiB fresh: 4 KiB pages %.2f GB/s, 2 MiB pages (MADV_HUGEPAGE) "
               "%.2f GB/s, 2 MiB pages reused at once %.2f GB/s\n",
               r, mib, small, huge, reused);
    }
    return 0;
}
