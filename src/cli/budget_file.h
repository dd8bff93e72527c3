/*
 * budget_file: the budgets of a `tollgate budget apply` file, parsed from its bytes
 * (budget_file.c). Pure: no I/O, no printing, so the unit test and fuzz_budget_file
 * drive it directly; budget_bulk.c reads the file and sends what comes back.
 *
 * The bytes are JSON lines (one object a line; blank lines and lines starting with #
 * skipped) or, when the name ends in .yaml or .yml, a YAML list of the same objects (or
 * a mapping whose `budgets:` is that list). Every budget must be an object with a text
 * "path"; the daemon checks the rest.
 */
#ifndef TG_CLI_BUDGET_FILE_H
#define TG_CLI_BUDGET_FILE_H

#include <stddef.h>

#include <jansson.h>

#include "tollgate.h"

#define TG__BUDGET_FILE_SIZE_MAX_BYTES ((size_t)16 * 1024 * 1024) /* the whole file */
#define TG__BUDGET_FILE_LINE_SIZE_MAX_BYTES ((size_t)64 * 1024)   /* one JSON line */
#define TG__BUDGET_FILE_ITEMS_MAX ((size_t)2 * 1024 * 1024)       /* budgets in a file */
#define TG__BUDGET_FILE_DEPTH_MAX 8 /* YAML nesting within one budget */

/* One budget of the file and the line it starts on (for messages). */
typedef struct {
    json_t *item; /* {"path": ..., fields...}; owned by the list */
    int line;     /* 1-based */
} tg__budget_item;

typedef struct {
    tg__budget_item *items; /* from malloc; free with tg__budget_file_free */
    size_t count;
} tg__budget_file;

/*
 * Parses `size` bytes (need not be NUL-terminated) named `name` ("budgets.yaml", or
 * "(stdin)") into *file, the budgets in file order. On failure *file is empty, *line is
 * the 1-based line at fault (0 when the whole file is: too large, not a list) and
 * err->message says what, starting "NAME:LINE: " when there is a line. Bytes that are
 * not UTF-8, NUL bytes, YAML aliases and more than TG__BUDGET_FILE_ITEMS_MAX budgets
 * are refused. TG_ERR_INVALID for bad input, TG_ERR_NOMEM.
 */
tg_status tg__budget_file_parse(const char *name, const char *bytes, size_t size,
                                tg__budget_file *file, int *line, tg_error *err);

/* Frees the budgets; the file is empty after. NULL is a no-op. */
void tg__budget_file_free(tg__budget_file *file);

/* Whether `name` is read as YAML (ends in .yaml or .yml). */
bool tg__budget_file_is_yaml(const char *name);

#endif
