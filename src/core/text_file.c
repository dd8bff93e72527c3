/*
 * text_file: see text_file.h.
 */
#include "core/text_file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/path.h"

tg_status tg__text_file_read(const char *file, const char *what, char **text_out, size_t *size_out,
                             tg_error *err) {
    *text_out = NULL;
    *size_out = 0;
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "%s: cannot read '%s': %s", what, file,
                        strerror(errno));
    }
    /* One byte past the limit tells "too large" from "exactly the limit". A regular file
     * gets a buffer of its size (a config is a few KiB; 16 MiB each time made every reload,
     * and fuzz_config, touch 16 MiB), and the full one only if it grew since. */
    size_t capacity = TG_TEXT_FILE_SIZE_MAX + 1;
    struct stat info;
    if (fstat(fileno(f), &info) == 0 && S_ISREG(info.st_mode) &&
        info.st_size < TG_TEXT_FILE_SIZE_MAX) {
        capacity = (size_t)info.st_size + 1;
    }
    char *text = malloc(capacity + 1);
    size_t size = text != NULL ? fread(text, 1, capacity, f) : 0;
    if (text != NULL && size == capacity && capacity < TG_TEXT_FILE_SIZE_MAX + 1) {
        char *bigger = realloc(text, TG_TEXT_FILE_SIZE_MAX + 2);
        if (bigger == NULL) {
            free(text);
        }
        text = bigger;
        size += text != NULL ? fread(text + size, 1, TG_TEXT_FILE_SIZE_MAX + 1 - size, f) : 0;
    }
    bool failed = text == NULL || ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        return tg__fail(err, text == NULL ? TG_ERR_NOMEM : TG_ERR_INVALID, "%s: cannot read '%s'",
                        what, file);
    }
    if (size > TG_TEXT_FILE_SIZE_MAX) {
        free(text);
        return tg__fail(err, TG_ERR_INVALID, "%s: '%s' is over %d bytes", what, file,
                        TG_TEXT_FILE_SIZE_MAX);
    }
    size_t valid = tg__utf8_valid_prefix((const unsigned char *)text, size);
    if (valid < size) {
        free(text);
        return tg__fail(err, TG_ERR_INVALID, "%s: '%s' is not UTF-8 text (byte %zu)", what, file,
                        valid);
    }
    text[size] = '\0';
    *text_out = text;
    *size_out = size;
    return TG_OK;
}
