/*
 * budget_bulk: `tollgate budget apply FILE` and the paged `tollgate budget list`.
 *
 * apply sends the budgets of a file (JSON lines, or YAML for a .yaml/.yml file) through
 * the daemon's bulk API (PUT /v1/budgets, or PATCH with --patch; docs/api.md, "Many
 * budgets in one request"). The whole file is read and checked before anything is
 * sent, so a typo on line 9,000 changes nothing. A file that fits one request (10,000
 * budgets and BODY_SIZE_MAX_BYTES of JSON) is applied whole or not at all; a longer one
 * goes in requests of that size, in file order, each whole or not at all, and the
 * command stops at the first one refused, saying which lines were applied.
 *
 * list pages through GET /v1/budgets by its cursor: one page (and the command for the
 * next), or every page with --all, so a million budgets print without one answer
 * holding them all.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/budget_bulk.h"
#include "cli/budget_file.h"
#include "core/text_file.h"

#define ITEMS_PER_REQUEST_MAX 10000              /* the API's bound on one request */
#define BODY_SIZE_MAX_BYTES ((size_t)512 * 1024) /* under the daemon's default body limit */
#define PAGE_LIMIT_MAX 1000                      /* GET /v1/budgets' largest page */

/* ---- reading the file ------------------------------------------------------------------ */

typedef tg__budget_file bulk_list;

/* The file's budgets into *list (parsed by budget_file.c); false, having said why, when
 * the file cannot be read or holds a mistake. */
static bool read_file(const char *file, bulk_list *list) {
    bool stdin_file = strcmp(file, "-") == 0;
    char *text = NULL;
    size_t size = 0;
    tg_error err = {0};
    if (tg__text_file_read(stdin_file ? "/dev/stdin" : file, "budgets file", &text, &size, &err) !=
        TG_OK) {
        fprintf(stderr, "tollgate budget apply: %s\n", err.message);
        return false;
    }
    int line = 0;
    tg_status status =
        tg__budget_file_parse(stdin_file ? "(stdin)" : file, text, size, list, &line, &err);
    free(text);
    if (status != TG_OK) {
        fprintf(stderr, "tollgate budget apply: %s\n", err.message);
        return false;
    }
    return true;
}

/* ---- apply ------------------------------------------------------------------------------ */

typedef struct {
    int64_t created, updated, deleted;
} bulk_counts;

static void counts_add(bulk_counts *counts, json_t *answer) {
    counts->created += json_integer_value(json_object_get(answer, "created"));
    counts->updated += json_integer_value(json_object_get(answer, "updated"));
    counts->deleted += json_integer_value(json_object_get(answer, "deleted"));
}

/* Items [from, *to) as one request body: at most ITEMS_PER_REQUEST_MAX of them and about
 * BODY_SIZE_MAX_BYTES of JSON (a single larger item goes alone). */
static json_t *request_body(const bulk_list *list, size_t from, size_t *to) {
    json_t *items = json_array();
    size_t bytes = 0;
    size_t i = from;
    for (; i < list->count && i - from < ITEMS_PER_REQUEST_MAX; i++) {
        size_t size = json_dumpb(list->items[i].item, NULL, 0, JSON_COMPACT) + 1;
        if (i > from && bytes + size > BODY_SIZE_MAX_BYTES) {
            break;
        }
        bytes += size;
        json_array_append(items, list->items[i].item);
    }
    *to = i;
    json_t *body = json_object();
    json_object_set_new(body, "budgets", items);
    return body;
}

static int apply_all(const tg__remote *remote, const char *method, const char *file,
                     const bulk_list *list) {
    bulk_counts counts = {0, 0, 0};
    size_t requests = 0;
    for (size_t from = 0, to = 0; from < list->count; from = to) {
        json_t *body = request_body(list, from, &to);
        json_t *answer = NULL;
        long status = tg__remote_call(remote, method, "/v1/budgets", body, &answer);
        json_decref(body);
        if (status != 200) {
            /* The API names the refused item by its place in the request: "budgets[3]: ..."
             * for a field, "operation 3: ..." for what the ledger refused. */
            const char *message =
                json_string_value(json_object_get(json_object_get(answer, "error"), "message"));
            unsigned long at = 0;
            if (message != NULL &&
                (sscanf(message, "operation %lu:", &at) == 1 ||
                 sscanf(message, "budgets[%lu]:", &at) == 1) &&
                at < to - from) {
                fprintf(stderr,
                        "tollgate budget apply: %s:%d: this budget was refused, and nothing of "
                        "its request applied\n",
                        file, list->items[from + at].line);
            }
            if (from > 0) {
                fprintf(stderr,
                        "tollgate budget apply: %s: budgets up to line %d were applied (%zu "
                        "requests); from line %d on, nothing was\n",
                        file, list->items[from - 1].line, requests, list->items[from].line);
            }
            return tg__remote_finish(remote, status, answer);
        }
        counts_add(&counts, answer);
        json_decref(answer);
        requests++;
    }
    if (remote->json) {
        printf("{\"created\": %" PRId64 ", \"updated\": %" PRId64 ", \"deleted\": %" PRId64
               ", \"requests\": %zu}\n",
               counts.created, counts.updated, counts.deleted, requests);
    } else {
        printf("%s: %" PRId64 " created, %" PRId64 " updated, %" PRId64
               " deleted (%zu budgets, %zu request%s)\n",
               file, counts.created, counts.updated, counts.deleted, list->count, requests,
               requests == 1 ? "" : "s");
    }
    return TG__EXIT_OK;
}

int tg__cli_budget_apply(const tg__cli_command *command, const tg__cli_args *args,
                         const tg__remote *remote) {
    const char *file = args->positional[0];
    bulk_list list = {NULL, 0};
    if (!read_file(file, &list)) {
        tg__budget_file_free(&list);
        return TG__EXIT_FAILURE;
    }
    if (list.count == 0) {
        tg__budget_file_free(&list);
        fprintf(stderr, "tollgate budget apply: %s holds no budgets\n", file);
        return TG__EXIT_FAILURE;
    }
    const char *method = tg__cli_flag(command, args, "patch") ? "PATCH" : "PUT";
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = apply_all(remote, method, strcmp(file, "-") == 0 ? "(stdin)" : file, &list);
    curl_global_cleanup();
    tg__budget_file_free(&list);
    return code;
}

/* ---- list ------------------------------------------------------------------------------- */

/* The page's query: prefix, state, after and limit, %-encoded. */
static bool page_path(const char *prefix, const char *state, const char *after, int64_t limit,
                      char *out, size_t size) {
    char *parts[3] = {curl_easy_escape(NULL, prefix, 0), curl_easy_escape(NULL, state, 0),
                      curl_easy_escape(NULL, after, 0)};
    bool ok = parts[0] && parts[1] && parts[2];
    if (ok) {
        int length =
            snprintf(out, size, "/v1/budgets?limit=%" PRId64 "&prefix=%s%s%s%s%s", limit, parts[0],
                     state[0] ? "&state=" : "", parts[1], after[0] ? "&after=" : "", parts[2]);
        ok = length > 0 && (size_t)length < size;
    }
    for (int i = 0; i < 3; i++) {
        curl_free(parts[i]);
    }
    return ok;
}

int tg__cli_budget_list(const tg__cli_command *command, const tg__cli_args *args,
                        const tg__remote *remote, void (*print_page)(json_t *, bool header)) {
    const char *prefix = args->positional_count ? args->positional[0] : "";
    const char *state = tg__cli_arg(command, args, "state");
    const char *after_arg = tg__cli_arg(command, args, "after");
    const char *limit_arg = tg__cli_arg(command, args, "limit");
    bool all = tg__cli_flag(command, args, "all");
    int64_t limit = PAGE_LIMIT_MAX;
    if (limit_arg != NULL &&
        (!tg__cli_whole_number(limit_arg, PAGE_LIMIT_MAX, &limit) || limit == 0)) {
        return tg__cli_usage_error(command, "--limit must be a whole number from 1 to %d",
                                   PAGE_LIMIT_MAX);
    }
    if (all && limit_arg != NULL) {
        return tg__cli_usage_error(command, "--all prints every page; leave out --limit");
    }
    char after[TG_PATH_SIZE_MAX];
    snprintf(after, sizeof after, "%s", after_arg ? after_arg : "");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = TG__EXIT_OK;
    for (bool first = true;; first = false) {
        char path[TG__CLI_PATH_SIZE_MAX * 2];
        if (!page_path(prefix, state ? state : "", after, limit, path, sizeof path)) {
            code = tg__cli_usage_error(command, "the prefix or --after is too long");
            break;
        }
        json_t *answer = NULL;
        long status = tg__remote_call(remote, "GET", path, NULL, &answer);
        if (status != 200 || (remote->json && !all)) {
            code = tg__remote_finish(remote, status, answer);
            break;
        }
        json_t *next = json_object_get(answer, "next");
        if (remote->json) {
            size_t i;
            json_t *budget;
            json_array_foreach(json_object_get(answer, "budgets"), i, budget) {
                char *line = json_dumps(budget, JSON_COMPACT);
                printf("%s\n", line ? line : "null");
                free(line);
            }
        } else {
            print_page(answer, first);
        }
        if (!json_is_string(next)) {
            json_decref(answer);
            break;
        }
        snprintf(after, sizeof after, "%s", json_string_value(next));
        json_decref(answer);
        if (!all) {
            fprintf(stderr, "more: tollgate budget list%s%s --after '%s' (or --all)\n",
                    prefix[0] ? " " : "", prefix, after);
            break;
        }
    }
    curl_global_cleanup();
    return code;
}
