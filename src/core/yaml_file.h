/*
 * yaml_file: a configuration file's YAML document, for every reader that takes
 * one (daemon, proxy, MCP over HTTP, the MCP gateway and its CLI). The text goes
 * through tg__text_file_read first (bounded, UTF-8 only: libfyaml 0.7.12 loops on
 * some other bytes), then libfyaml builds the document without printing.
 *
 * Header-only, inline: the core library does not link libfyaml; only the parts
 * that read YAML include this and do.
 */
#ifndef TG_CORE_YAML_FILE_H
#define TG_CORE_YAML_FILE_H

#include <stdlib.h>

#include <libfyaml.h>

#include "core/path.h"
#include "core/text_file.h"

/* *document (destroy with fy_document_destroy) from `file`; errors start with `what`. */
static inline tg_status tg__yaml_file_load(const char *file, const char *what,
                                           struct fy_document **document, tg_error *err) {
    char *text;
    size_t size;
    *document = NULL;
    tg_status status = tg__text_file_read(file, what, &text, &size, err);
    if (status != TG_OK) {
        return status;
    }
    struct fy_parse_cfg parse = {.flags = FYPCF_QUIET};
    *document = fy_document_build_from_malloc_string(&parse, text, size);
    if (*document == NULL) {
        /* Not freed here: libfyaml owns the text from the call on and frees it itself
         * when the build fails (a free here was a double free: a crash on any file
         * with a YAML syntax error; daemon_cli tests it). */
        return tg__fail(err, TG_ERR_INVALID, "%s: cannot read or parse YAML file '%s'", what, file);
    }
    return TG_OK;
}

#endif
