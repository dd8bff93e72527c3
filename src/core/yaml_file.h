/*
 * yaml_file: a configuration file's YAML document, for every reader that takes
 * one (daemon, proxy, MCP over HTTP, the MCP gateway and its CLI). The text goes
 * through tg__text_file_read first (bounded, UTF-8 only: libfyaml 0.7.12 loops on
 * some other bytes), then libfyaml builds the document without printing.
 *
 * A syntax error is told as "FILE:LINE:COLUMN: what libfyaml expected": libfyaml's
 * own report names the text by its address in memory (`<alloc-@0x...>`), so its
 * first line is caught through a diagnostic callback and its position reused.
 * tg__yaml_node_position gives the same position for any node, so that every
 * reader can say where a value it refuses is.
 *
 * Header-only, inline: the core library does not link libfyaml; only the parts
 * that read YAML include this and do.
 */
#ifndef TG_CORE_YAML_FILE_H
#define TG_CORE_YAML_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "core/path.h"
#include "core/text_file.h"

/* libfyaml's first error line, caught instead of printed. */
typedef struct {
    char text[TG_ERROR_MESSAGE_SIZE]; /* "<alloc-@...>:3:1: error: flow sequence without ..." */
    bool caught;
} tg__yaml_diagnostic;

static inline void tg__yaml_diagnostic_catch(struct fy_diag *diag, void *user, const char *text,
                                             size_t length) {
    (void)diag;
    tg__yaml_diagnostic *caught = user;
    /* The report comes in pieces (the message, then the source line and a caret): the
     * first piece naming an error is the one with the position and the sentence. */
    if (caught->caught || length == 0 || memmem(text, length, ": error: ", 9) == NULL) {
        return;
    }
    size_t kept = length < sizeof caught->text - 1 ? length : sizeof caught->text - 1;
    memcpy(caught->text, text, kept);
    caught->text[kept] = '\0';
    caught->text[strcspn(caught->text, "\n")] = '\0';
    caught->caught = true;
}

/* Reads "NAME:LINE:COLUMN: error: SENTENCE" into line, column and sentence; false when
 * the text has another shape. */
static inline bool tg__yaml_diagnostic_parse(const char *text, int *line, int *column,
                                             const char **sentence) {
    const char *error = strstr(text, ": error: ");
    if (error == NULL) {
        return false;
    }
    const char *at = error;
    int numbers[2] = {0, 0};
    for (int i = 1; i >= 0; i--) {
        const char *digits = at;
        while (digits > text && digits[-1] >= '0' && digits[-1] <= '9') {
            digits--;
        }
        if (digits == at || digits == text || digits[-1] != ':' || at - digits > 9) {
            return false;
        }
        numbers[i] = atoi(digits);
        at = digits - 1;
    }
    *line = numbers[0];
    *column = numbers[1];
    *sentence = error + 9;
    return true;
}

/*
 * *document (destroy with fy_document_destroy) from the `size` bytes of `text`, named
 * `file` in errors that start with `what`. With `owned`, text is from malloc and
 * libfyaml takes it (and frees it, also on failure); without, text must outlive the
 * document. The caller has checked the bytes are UTF-8 (tg__utf8_valid_prefix).
 */
static inline tg_status tg__yaml_text_build(const char *file, const char *what, const char *text,
                                            size_t size, bool owned, struct fy_document **document,
                                            tg_error *err) {
    tg__yaml_diagnostic caught = {{0}, false};
    struct fy_diag_cfg diag_cfg;
    fy_diag_cfg_default(&diag_cfg);
    diag_cfg.fp = NULL;
    diag_cfg.output_fn = tg__yaml_diagnostic_catch;
    diag_cfg.user = &caught;
    diag_cfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&diag_cfg);
    struct fy_parse_cfg parse = {.flags = FYPCF_QUIET, .diag = diag};
    *document = owned ? fy_document_build_from_malloc_string(&parse, (char *)text, size)
                      : fy_document_build_from_string(&parse, text, size);
    fy_diag_destroy(diag);
    if (*document == NULL) {
        /* Not freed here: libfyaml owns a malloc'd text from the call on and frees it
         * itself when the build fails (a free here was a double free: a crash on any file
         * with a YAML syntax error; daemon_cli tests it). */
        int line = 0, column = 0;
        const char *sentence = NULL;
        if (caught.caught && tg__yaml_diagnostic_parse(caught.text, &line, &column, &sentence)) {
            return tg__fail(err, TG_ERR_INVALID, "%s: %s:%d:%d: YAML syntax error: %s", what, file,
                            line, column, sentence);
        }
        return tg__fail(err, TG_ERR_INVALID, "%s: %s: YAML syntax error (no position given)", what,
                        file);
    }
    return TG_OK;
}

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
    return tg__yaml_text_build(file, what, text, size, true, document, err);
}

/* A scalar node's text (NUL-ended, owned by the document); NULL for a missing node, a
 * mapping or a sequence. Every section reader's first step. */
static inline const char *tg__yaml_scalar(struct fy_node *node) {
    return node != NULL && fy_node_is_scalar(node) ? fy_node_get_scalar0(node) : NULL;
}

/*
 * One entry of a mapping, as every reader walks them:
 *
 *     for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
 *         if (tg__yaml_key_is(&entry, "kind")) { ... entry.value ... }
 *     }
 *
 * A node that is not a mapping (or NULL) has no entries. Every pointer is the document's.
 */
typedef struct {
    struct fy_node_pair *pair; /* the entry itself */
    struct fy_node *key_node;  /* its key, for the position of an error */
    const char *key;           /* the key's text; NULL when the key is not a scalar */
    struct fy_node *value;     /* its value; NULL for an empty one */
    void *iter;                /* libfyaml's cursor; NULL before the first entry */
} tg__yaml_entry;

/* Moves `entry` to the next entry of `mapping`; false after the last. */
static inline bool tg__yaml_next(struct fy_node *mapping, tg__yaml_entry *entry) {
    entry->pair = mapping != NULL ? fy_node_mapping_iterate(mapping, &entry->iter) : NULL;
    if (entry->pair == NULL) {
        return false;
    }
    entry->key_node = fy_node_pair_key(entry->pair);
    entry->key = tg__yaml_scalar(entry->key_node);
    entry->value = fy_node_pair_value(entry->pair);
    return true;
}

/* True when the entry's key is the text `name`. */
static inline bool tg__yaml_key_is(const tg__yaml_entry *entry, const char *name) {
    return entry->key != NULL && strcmp(entry->key, name) == 0;
}

/*
 * One item of a sequence, as the readers walk them:
 *
 *     for (tg__yaml_item item = {0}; tg__yaml_next_item(node, &item);) { ... item.node ... }
 *
 * A node that is not a sequence (or NULL) has no items.
 */
typedef struct {
    struct fy_node *node; /* the item; the document's */
    void *iter;           /* libfyaml's cursor; NULL before the first item */
} tg__yaml_item;

/* Moves `item` to the next item of `sequence`; false after the last. */
static inline bool tg__yaml_next_item(struct fy_node *sequence, tg__yaml_item *item) {
    item->node = sequence != NULL ? fy_node_sequence_iterate(sequence, &item->iter) : NULL;
    return item->node != NULL;
}

/*
 * The 1-based line and column where `node` starts in its file; false (both 0) when
 * libfyaml keeps none (an empty {} or []). A mapping or sequence is placed at its
 * first scalar: libfyaml 0.7.12 gives positions to scalar tokens only.
 */
static inline bool tg__yaml_node_position(struct fy_node *node, int *line, int *column) {
    *line = *column = 0;
    for (int depth = 0; node != NULL && depth < 64; depth++) {
        if (fy_node_is_scalar(node)) {
            struct fy_token *token = fy_node_get_scalar_token(node);
            const struct fy_mark *mark = token != NULL ? fy_token_start_mark(token) : NULL;
            if (mark == NULL) {
                return false;
            }
            *line = mark->line + 1;
            *column = mark->column + 1;
            return true;
        }
        void *iter = NULL;
        if (fy_node_is_mapping(node)) {
            struct fy_node_pair *pair = fy_node_mapping_iterate(node, &iter);
            node = pair != NULL ? fy_node_pair_key(pair) : NULL;
        } else if (fy_node_is_sequence(node)) {
            node = fy_node_sequence_iterate(node, &iter);
        } else {
            node = NULL; /* an alias */
        }
    }
    return false;
}

#endif
