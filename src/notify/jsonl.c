/*
 * jsonl: the JSON-lines sink. One event per line, appended and flushed, so
 * `tail -f` and log shippers see each event as it is delivered. A file is
 * rotated by size like logrotate does it: file -> file.1 -> ... -> file.N,
 * the oldest dropped; rotation happens before a write that would pass the
 * size, so no line is ever split across two files.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "notify/transport.h"

bool tg__jsonl_open(tg__jsonl *out, const tg__notify_sink *sink, char *error, size_t error_size) {
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", sink->file);
    out->rotate_bytes = sink->rotate_bytes;
    out->keep = sink->rotate_keep;
    if (strcmp(sink->file, "-") == 0) {
        out->file = stdout;
        return true;
    }
    out->file = fopen(sink->file, "a");
    if (out->file == NULL) {
        snprintf(error, error_size, "cannot open %s: %s", sink->file, strerror(errno));
        return false;
    }
    struct stat st;
    out->size_bytes = fstat(fileno(out->file), &st) == 0 ? (int64_t)st.st_size : 0;
    return true;
}

void tg__jsonl_close(tg__jsonl *jsonl) {
    if (jsonl->file != NULL && jsonl->file != stdout) {
        fclose(jsonl->file);
    }
    jsonl->file = NULL;
}

static bool rotate(tg__jsonl *jsonl, char *error, size_t error_size) {
    char from[TG__NOTIFY_FILE_SIZE_MAX + 24], to[TG__NOTIFY_FILE_SIZE_MAX + 24];
    fclose(jsonl->file);
    jsonl->file = NULL;
    for (int64_t i = jsonl->keep - 1; i >= 1; i--) {
        snprintf(from, sizeof from, "%s.%lld", jsonl->path, (long long)i);
        snprintf(to, sizeof to, "%s.%lld", jsonl->path, (long long)(i + 1));
        rename(from, to); /* a missing older file is fine */
    }
    snprintf(to, sizeof to, "%s.1", jsonl->path);
    if (rename(jsonl->path, to) != 0 && errno != ENOENT) {
        snprintf(error, error_size, "cannot rotate %s: %s", jsonl->path, strerror(errno));
    }
    jsonl->file = fopen(jsonl->path, "a");
    jsonl->size_bytes = 0;
    if (jsonl->file == NULL) {
        snprintf(error, error_size, "cannot reopen %s: %s", jsonl->path, strerror(errno));
        return false;
    }
    return true;
}

bool tg__jsonl_write(tg__jsonl *jsonl, const char *lines, size_t size, char *error,
                     size_t error_size) {
    if (jsonl->file == NULL) {
        /* A rotation failed earlier: try the file again rather than give up on the sink. */
        jsonl->file = fopen(jsonl->path, "a");
        if (jsonl->file == NULL) {
            snprintf(error, error_size, "cannot open %s: %s", jsonl->path, strerror(errno));
            return false;
        }
    }
    if (jsonl->file != stdout && jsonl->rotate_bytes > 0 && jsonl->size_bytes > 0 &&
        jsonl->size_bytes + (int64_t)size > jsonl->rotate_bytes &&
        !rotate(jsonl, error, error_size)) {
        return false;
    }
    if (fwrite(lines, 1, size, jsonl->file) != size || fflush(jsonl->file) != 0) {
        snprintf(error, error_size, "cannot write %s: %s", jsonl->path, strerror(errno));
        clearerr(jsonl->file);
        return false;
    }
    jsonl->size_bytes += (int64_t)size;
    return true;
}
