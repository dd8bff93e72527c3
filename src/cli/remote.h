/*
 * remote: what the commands that talk to a running daemon share (remote.c): the
 * options every one of them takes (--url, --key, --json), the HTTP call, printing
 * an answer as an exit code, and building request paths safely: a budget path
 * goes into a URL segment by segment, %-encoded, and `.`, `..` and empty segments
 * are refused here (libcurl would fold `acc/../holds` into `holds`).
 */
#ifndef TG_CLI_REMOTE_H
#define TG_CLI_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/args.h"
#include "tollgate.h"

#define TG__CLI_URL_DEFAULT "http://127.0.0.1:8420"
#define TG__CLI_PATH_SIZE_MAX (3 * TG_PATH_SIZE_MAX + 128) /* an encoded request path */

/* The options every remote command's table ends with (then {NULL}). */
#define TG__CLI_REMOTE_OPTIONS                                                                     \
    {"url", "URL", "the daemon (default: $TOLLGATE_URL, else " TG__CLI_URL_DEFAULT ")"},           \
        {"key", "KEY", "the bearer key (default: $TOLLGATE_KEY)"}, {                               \
        "json", NULL, "print the daemon's JSON answer as it is, for scripts"                       \
    }

#define TG__CLI_EXIT_CODES                                                                         \
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 refused by a budget (HTTP 402),\n"              \
    "            4 rejected (another 4xx: not found, forbidden, invalid)\n"

/* Where and how to call: from --url/--key/--json, else the environment. */
typedef struct {
    const char *url; /* borrowed */
    const char *key; /* borrowed; "" when none */
    bool json;       /* print the daemon's JSON answer unchanged */
} tg__remote;

/* Where the daemon is: url and key as given (NULL when not), else $TOLLGATE_URL and
 * $TOLLGATE_KEY, else TG__CLI_URL_DEFAULT and no key. The one rule every command follows. */
void tg__remote_init(tg__remote *out, const char *url, const char *key, bool json);

/*
 * Parses a remote command's arguments as tg__cli_args_run does (its return: 0 after --help,
 * 2 after a usage error, -1 to go on) and, on -1, fills remote from --url/--key/--json.
 * Every remote command starts with it, so each reads the daemon's address the same way.
 */
int tg__remote_args_run(const tg__cli_command *command, int argc, char **argv, tg__cli_args *args,
                        tg__remote *remote);

/* One HTTP call (tg__cli_call). */
long tg__remote_call(const tg__remote *remote, const char *method, const char *path, json_t *body,
                     json_t **out);

/* One call between curl_global_init and curl_global_cleanup, for a command that makes only
 * this one. */
long tg__remote_call_once(const tg__remote *remote, const char *method, const char *path,
                          json_t *body, json_t **out);

/* GET path and print each row of the answer's array `rows` with print_row; any other
 * answer (an error, or --json) as tg__remote_finish prints it. Returns the exit code. */
int tg__remote_list(const tg__remote *remote, const char *path, const char *rows,
                    void (*print_row)(json_t *row));

/* Prints an answer (takes it) and turns its HTTP status into an exit code. */
int tg__remote_finish(const tg__remote *remote, long status, json_t *answer);

/*
 * Appends budget path `budget` to `prefix` as URL segments into out (size bytes):
 * each segment %-encoded (so `?`, `#`, `%` stay in the name). False with a
 * sentence in error when a segment is empty, `.` or `..`, or it does not fit.
 */
bool tg__cli_budget_url(const char *prefix, const char *budget, char *out, size_t size, char *error,
                        size_t error_size);

/* A whole number 0..max ("17"), as for ids and counts. False when it is anything else. */
bool tg__cli_whole_number(const char *text, int64_t max, int64_t *out);

/* `tollgate budget ...` (budget.c) and `tollgate events ...` (events.c). Exit codes. */
int tg__cli_budget(int argc, char **argv);
int tg__cli_events(int argc, char **argv);
/* `tollgate approvals`, `approve ID`, `deny ID` (approvals.c). Exit codes. */
int tg__cli_approvals(int argc, char **argv);

#endif
