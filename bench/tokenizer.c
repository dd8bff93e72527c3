/*
 * bench/tokenizer: Tollgate's tokenizer speed, in MB/s and tokens/s, cold and warm,
 * for both encodings, on each file given. bench/tokenizer.js writes the corpus parts
 * and runs this beside the JavaScript and WASM tokenizers in the same run; the
 * figures and the command are in docs/benchmarks-tokenizer.md.
 *
 * cold: open the tokenizer and encode the file once, in a process that has not
 *       tokenized anything yet (run with --cold, one part); the first sight of the text
 *       (no cache can help). --json also gives the open alone.
 * warm: the best of repeated encodes of the file (at least 5, and at least 0.5 s).
 * count: the same as warm through tg_tokens_count (no ids stored).
 * open: (--open, no files) the first tg_tokenizer_open of a fresh process, then the
 *       first count of a short sentence (the table's pages it touches are read in
 *       then), for each encoding.
 *
 * Usage: bench_tokenizer [--json] [--cold] [--encoding NAME] FILE...
 *        bench_tokenizer [--json] --open [--encoding NAME]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tollgate_tokens.h"

#define FILE_SIZE_MAX (256u << 20)
#define WARM_RUNS_MIN 5
#define WARM_SECONDS_MIN 0.5

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *text = malloc(FILE_SIZE_MAX);
    size_t len = text ? fread(text, 1, FILE_SIZE_MAX, f) : 0;
    fclose(f);
    *len_out = len;
    return text;
}

typedef struct {
    double cold_seconds;  /* open + first encode; 0 unless --cold */
    double open_seconds;  /* of which: open */
    double warm_seconds;  /* best encode */
    double count_seconds; /* best count */
    size_t tokens;        /* tokens in the file */
} result;

static int measure(tg_encoding encoding, const char *text, size_t len, int cold, result *r) {
    memset(r, 0, sizeof *r);
    uint32_t *ids = NULL;
    double start = now_seconds();
    tg_tokenizer *tokenizer;
    if (tg_tokenizer_open(encoding, &tokenizer) != TG_OK) {
        return -1;
    }
    r->open_seconds = now_seconds() - start;
    if (tg_tokens_encode(tokenizer, text, len, 0, &ids, &r->tokens) != TG_OK) {
        return -1;
    }
    r->cold_seconds = now_seconds() - start;
    free(ids);
    if (cold) {
        tg_tokenizer_close(tokenizer);
        return 0;
    }
    r->warm_seconds = r->count_seconds = 1e9;
    double spent = 0;
    for (int run = 0; run < WARM_RUNS_MIN || spent < WARM_SECONDS_MIN; run++) {
        size_t count;
        double t0 = now_seconds();
        tg_tokens_encode(tokenizer, text, len, 0, &ids, &count);
        double t1 = now_seconds();
        free(ids);
        tg_tokens_count(tokenizer, text, len, 0, &count);
        double t2 = now_seconds();
        r->warm_seconds = t1 - t0 < r->warm_seconds ? t1 - t0 : r->warm_seconds;
        r->count_seconds = t2 - t1 < r->count_seconds ? t2 - t1 : r->count_seconds;
        spent += t2 - t0;
    }
    tg_tokenizer_close(tokenizer);
    return 0;
}

/* The first open in this process, and the first short count after it. */
static int measure_open(int json, tg_encoding encoding) {
    static const char sentence[] = "Hello, world! How many tokens is this request?";
    tg_tokenizer *tokenizer;
    size_t count;
    double t0 = now_seconds();
    if (tg_tokenizer_open(encoding, &tokenizer) != TG_OK) {
        return -1;
    }
    double t1 = now_seconds();
    if (tg_tokens_count(tokenizer, sentence, sizeof sentence - 1, 0, &count) != TG_OK) {
        return -1;
    }
    double t2 = now_seconds();
    tg_tokenizer_close(tokenizer);
    if (json) {
        printf("{\"encoding\":\"%s\",\"open_s\":%.6f,\"first_count_s\":%.6f}\n",
               tg_encoding_name(encoding), t1 - t0, t2 - t1);
    } else {
        printf("%-12s open %8.3f ms, then a first short count %8.3f ms\n",
               tg_encoding_name(encoding), (t1 - t0) * 1e3, (t2 - t1) * 1e3);
    }
    return 0;
}

static void print(int json, const char *file, tg_encoding encoding, size_t len, const result *r,
                  int cold) {
    double mb = (double)len / 1e6;
    if (json) {
        printf("{\"file\":\"%s\",\"encoding\":\"%s\",\"bytes\":%zu,\"tokens\":%zu", file,
               tg_encoding_name(encoding), len, r->tokens);
        if (cold) {
            printf(",\"cold_s\":%.6f,\"open_s\":%.6f}\n", r->cold_seconds, r->open_seconds);
        } else {
            printf(",\"warm_s\":%.6f,\"count_s\":%.6f}\n", r->warm_seconds, r->count_seconds);
        }
        return;
    }
    if (cold) {
        printf("%-12s %-40s %9.3f ms cold %8.1f MB/s\n", tg_encoding_name(encoding), file,
               r->cold_seconds * 1e3, mb / r->cold_seconds);
        return;
    }
    printf("%-12s %-40s %8.1f MB/s %6.2f Mtok/s  count %8.1f MB/s\n", tg_encoding_name(encoding),
           file, mb / r->warm_seconds, (double)r->tokens / 1e6 / r->warm_seconds,
           mb / r->count_seconds);
}

int main(int argc, char **argv) {
    int json = 0;
    int cold = 0;
    int open_only = 0;
    int first_file = 1;
    tg_encoding encodings[2] = {TG_ENCODING_CL100K_BASE, TG_ENCODING_O200K_BASE};
    int encodings_count = 2;
    for (; first_file < argc && strncmp(argv[first_file], "--", 2) == 0; first_file++) {
        if (strcmp(argv[first_file], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[first_file], "--cold") == 0) {
            cold = 1;
        } else if (strcmp(argv[first_file], "--open") == 0) {
            open_only = 1;
        } else if (strcmp(argv[first_file], "--encoding") == 0 && first_file + 1 < argc &&
                   tg_encoding_parse(argv[first_file + 1], &encodings[0]) == TG_OK) {
            encodings_count = 1;
            first_file++;
        } else {
            first_file = argc;
        }
    }
    if (open_only) {
        for (int e = 0; e < encodings_count; e++) {
            if (measure_open(json, encodings[e]) != 0) {
                fputs("bench_tokenizer: cannot open the tokenizer\n", stderr);
                return 1;
            }
        }
        return 0;
    }
    if (first_file >= argc) {
        fputs("usage: bench_tokenizer [--json] [--cold] [--encoding NAME] FILE...\n"
              "       bench_tokenizer [--json] --open [--encoding NAME]\n"
              "  (bench/tokenizer.js makes the corpus and compares with other tokenizers)\n",
              stderr);
        return 2;
    }
    for (int i = first_file; i < argc; i++) {
        size_t len;
        char *text = read_file(argv[i], &len);
        if (text == NULL) {
            fprintf(stderr, "bench_tokenizer: cannot read %s\n", argv[i]);
            return 1;
        }
        for (int e = 0; e < encodings_count; e++) {
            result r;
            if (measure(encodings[e], text, len, cold, &r) != 0) {
                fprintf(stderr, "bench_tokenizer: cannot encode %s\n", argv[i]);
                return 1;
            }
            print(json, argv[i], encodings[e], len, &r, cold);
        }
        free(text);
    }
    return 0;
}
