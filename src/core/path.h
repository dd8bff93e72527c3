/*
 * path: budget paths ("acme/support/agent-7") and glob patterns over names.
 * Paths come from the network and config files, so every check here returns an
 * error value with a sentence, never asserts.
 */
#ifndef TG_CORE_PATH_H
#define TG_CORE_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "tollgate.h"

/* Checks a budget path; on failure writes why into err (may be NULL). */
tg_status tg__path_check(const char *path, tg_error *err);

/* Length of the parent's path in `path` (0 for a root). */
size_t tg__path_parent_len(const char *path);

/* Depth in segments: "a" is 1, "a/b" is 2. */
int tg__path_depth(const char *path);

/*
 * Glob match: '*' any run of characters (including '/'), '?' one character.
 * NULL or "" pattern matches anything. Linear in practice: one backtrack point.
 */
bool tg__glob_match(const char *pattern, const char *text);

/* Fills err (if any) with status and a printf-formatted message; returns status. */
tg_status tg__fail(tg_error *err, tg_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies src into a fixed buffer; false when it does not fit (dst untouched then). */
bool tg__copy_name(char *dst, size_t size, const char *src);

/* Offset of the first byte that is not valid UTF-8, or `size` when all are. */
size_t tg__utf8_valid_prefix(const unsigned char *text, size_t size);

#endif
