/*
 * cli: the `tollgate` command's remote half: commands that talk to a running
 * daemon over its JSON API (docs/api.md) through libcurl.
 */
#ifndef TG_CLI_CLI_H
#define TG_CLI_CLI_H

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

#endif
