/*
 * cli: the `tollgate` command's remote half: commands that talk to a running
 * daemon over its JSON API (docs/api.md) through libcurl.
 */
#ifndef TG_CLI_CLI_H
#define TG_CLI_CLI_H

#include <jansson.h>

/* Exit codes, documented in docs/cli.md. */
enum {
    TG__EXIT_OK = 0,
    TG__EXIT_FAILURE = 1, /* network, server or runtime failure */
    TG__EXIT_USAGE = 2,   /* bad command line */
    TG__EXIT_REFUSED = 3, /* the daemon refused the action (HTTP 402) */
    TG__EXIT_REJECTED = 4 /* the daemon answered with a 4xx error */
};

/* Runs a remote command (argv[0] is the command name). Returns an exit code. */
int tg__cli_remote(int argc, char **argv);

/* `tollgate report ...` (report.c) and `tollgate keys ...` (keys.c). Exit codes. */
int tg__cli_report(int argc, char **argv);
int tg__cli_keys(int argc, char **argv);
/* `tollgate reload` (reload.c): POST /v1/admin/reload. Exit code. */
int tg__cli_reload(int argc, char **argv);

/*
 * One HTTP call to the daemon at base_url with a bearer key. *out receives the
 * parsed JSON answer (NULL if none; caller decrefs). Returns the HTTP status, or
 * -1 when the daemon cannot be reached (said on stderr). curl_global_init first.
 */
long tg__cli_call(const char *base_url, const char *key, const char *method, const char *path,
                  json_t *body, json_t **out);

#endif
