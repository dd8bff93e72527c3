/*
 * config_file: one read and one parse of the daemon's YAML file (config_file.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_file.h"
#include "core/path.h"
#include "core/yaml_file.h"

tg_status tg__config_file_open(const char *path, tg__config_file **out, tg_error *err) {
    *out = NULL;
    if (strlen(path) >= sizeof((tg__config_file *)0)->path) {
        return tg__fail(err, TG_ERR_INVALID, "config: the file name is too long (%zu bytes)",
                        strlen(path));
    }
    tg__config_file *file = calloc(1, sizeof *file);
    if (file == NULL) {
        return tg__fail(err, TG_ERR_NOMEM, "config: out of memory");
    }
    snprintf(file->path, sizeof file->path, "%s", path);
    tg_status status = tg__yaml_file_load(path, "config", &file->document, err);
    if (status != TG_OK) {
        free(file);
        return status;
    }
    *out = file;
    return TG_OK;
}

void tg__config_file_close(tg__config_file *file) {
    if (file == NULL) {
        return;
    }
    fy_document_destroy(file->document);
    free(file);
}
