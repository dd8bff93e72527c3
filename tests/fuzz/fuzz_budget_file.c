/*
 * fuzz_budget_file: the `tollgate budget apply` file parser (src/cli/budget_file.c) on any
 * bytes. The first byte picks the name, and so the format (JSON lines or YAML); the rest is
 * the file. Whatever parses must be budgets (objects with a text "path") on lines that are
 * in the file, in file order (strictly rising for JSON lines, one a line; never falling for
 * YAML, where a flow list holds several on a line); whatever does not must say why in a
 * NUL-terminated sentence naming the file, and name a line that is in the file or none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/budget_file.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"budgets.jsonl", "budgets.yaml", "(stdin)", "b.yml"};

static int lines_in(const char *text, size_t size) {
    int lines = 1;
    for (size_t i = 0; i < size; i++) {
        lines += text[i] == '\n';
    }
    return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 1024 * 1024) {
        return 0;
    }
    const char *name = names[data[0] % (sizeof names / sizeof names[0])];
    bool yaml = tg__budget_file_is_yaml(name);
    size_t text_size = size - 1;
    char *text = malloc(text_size ? text_size : 1); /* exact size: ASan sees reads past it */
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, text_size);
    int lines = lines_in(text, text_size);
    tg__budget_file file = {(tg__budget_item *)(uintptr_t)1, 99}; /* must be overwritten */
    int line = -1;
    tg_error err;
    memset(&err, 0x55, sizeof err);
    tg_status status = tg__budget_file_parse(name, text, text_size, &file, &line, &err);
    if (status == TG_OK) {
        FUZZ_CHECK(line == 0);
        FUZZ_CHECK(file.count <= TG__BUDGET_FILE_ITEMS_MAX);
        FUZZ_CHECK(file.count == 0 || file.items != NULL);
        for (size_t i = 0; i < file.count; i++) {
            const tg__budget_item *item = &file.items[i];
            FUZZ_CHECK(json_is_object(item->item));
            FUZZ_CHECK(json_is_string(json_object_get(item->item, "path")));
            FUZZ_CHECK(item->line >= 1 && item->line <= lines);
            if (i > 0) {
                int previous = file.items[i - 1].line;
                FUZZ_CHECK(yaml ? item->line >= previous : item->line > previous);
            }
        }
        if (!yaml) {
            FUZZ_CHECK(file.count <= (size_t)lines);
        }
    } else {
        FUZZ_CHECK(status == TG_ERR_INVALID || status == TG_ERR_NOMEM);
        FUZZ_CHECK(file.items == NULL && file.count == 0);
        FUZZ_CHECK(memchr(err.message, '\0', sizeof err.message) != NULL);
        FUZZ_CHECK(strstr(err.message, name) != NULL);
        FUZZ_CHECK(line >= 0 && line <= lines);
    }
    tg__budget_file_free(&file);
    FUZZ_CHECK(file.items == NULL && file.count == 0);
    free(text);
    return 0;
}
