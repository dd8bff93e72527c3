/*
 * budget_bulk: the budget verbs that deal in many budgets (budget_bulk.c): `apply`, a
 * file of budgets through the bulk API, and `list`, paged by the API's cursor.
 */
#ifndef TG_CLI_BUDGET_BULK_H
#define TG_CLI_BUDGET_BULK_H

#include <stdbool.h>

#include <jansson.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/remote.h"

/* `tollgate budget apply FILE [--patch]`: the file's budgets, PUT (or PATCH) in requests of
 * at most 10,000, each whole or not at all. Exit code. */
int tg__cli_budget_apply(const tg__cli_command *command, const tg__cli_args *args,
                         const tg__remote *remote);

/* `tollgate budget list [PREFIX] [--state S] [--after PATH] [--limit N] [--all]`: pages of
 * GET /v1/budgets; print_page prints one page as a table (the header when `header`).
 * With --json, the answer as it is (one page) or, with --all, one budget a line. Exit code. */
int tg__cli_budget_list(const tg__cli_command *command, const tg__cli_args *args,
                        const tg__remote *remote, void (*print_page)(json_t *page, bool header));

#endif
