/*
 * text_file: a whole configuration file read into memory, bounded in size and
 * checked as UTF-8, for the YAML readers (daemon, proxy, notifications, MCP).
 * One function so that every reader refuses the same inputs the same way:
 * libfyaml 0.7.12 loops forever on some non-UTF-8 input (tg__utf8_valid_prefix).
 */
#ifndef TG_CORE_TEXT_FILE_H
#define TG_CORE_TEXT_FILE_H

#include <stddef.h>

#include "tollgate.h"

/* The largest configuration file any reader takes, bytes. */
#define TG_TEXT_FILE_SIZE_MAX (16 * 1024 * 1024)

/*
 * Reads `file` whole (at most TG_TEXT_FILE_SIZE_MAX bytes) into *text (from
 * malloc, NUL-terminated, caller frees) and *size. Fails with TG_ERR_INVALID and a
 * sentence starting with `what` ("config", "notify config", ...) when the file
 * cannot be read, is too large, or is not UTF-8 text.
 */
tg_status tg__text_file_read(const char *file, const char *what, char **text, size_t *size,
                             tg_error *err);

#endif
