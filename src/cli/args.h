/*
 * args: the one command-line parser every `tollgate` command uses. A command
 * describes itself in a table (its options: name, whether it takes a value, one
 * line of help; how many positional arguments it takes; its usage and examples),
 * and the parser refuses anything else: an unknown option (naming the closest
 * one: "did you mean --idempotency-key?"), an option given twice, a missing value,
 * an extra argument. A misspelled option silently ignored would run a different
 * command than the one typed (charge twice, run as the wrong class), so nothing
 * is guessed.
 *
 * tg__cli_args_parse is pure (no output, no exit), for the fuzz target;
 * tg__cli_args_run prints --help or the error the way every command does.
 */
#ifndef TG_CLI_ARGS_H
#define TG_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#define TG__CLI_OPTIONS_MAX 24    /* options in one command's table */
#define TG__CLI_POSITIONAL_MAX 16 /* positional arguments one command may take */
#define TG__CLI_ERROR_SIZE 256    /* bytes of a parse error, NUL included */

/* One option: "--name VALUE  help". */
typedef struct {
    const char *name;  /* without the dashes: "idempotency-key"; NULL ends a table */
    const char *value; /* what the value is called in help ("KEY"), or NULL for a flag */
    const char *help;  /* one line */
} tg__cli_option;

/* A command as the parser and --help see it. */
typedef struct {
    const char *name;              /* "tollgate budget set", for messages */
    const char *synopsis;          /* the usage line(s) after "usage: " */
    const char *about;             /* what it does, a few lines (or NULL) */
    const tg__cli_option *options; /* ended by a {NULL} entry */
    const char *arguments;         /* the positional arguments' names: "BUDGET AMOUNT" */
    int positional_min;            /* positional arguments required */
    int positional_max;            /* and allowed (<= TG__CLI_POSITIONAL_MAX) */
    /* True: the first argument beyond positional_max positionals, and everything after it,
     * is left in `rest` unread (a command to run, as for `tollgate mcp`). */
    bool takes_rest;
    const char *examples; /* lines shown by --help (or NULL) */
} tg__cli_command;

/* What the parser read. Pointers borrow argv. */
typedef struct {
    const char *values[TG__CLI_OPTIONS_MAX]; /* by table position: the value, "" for a flag
                                                given, NULL when absent */
    const char *positional[TG__CLI_POSITIONAL_MAX];
    int positional_count;
    char **rest; /* takes_rest: the first word of the rest, or NULL when there is none */
    int rest_count;
    bool help; /* --help or -h was given: nothing else was checked */
} tg__cli_args;

/*
 * Parses argv[0..argc) (the words after the command's name) by `command`. On a
 * usage error returns false with a sentence in error (error_size bytes); the
 * closest valid option is named when one is near. --name=value and --name value
 * are both read; "--" ends the options.
 */
bool tg__cli_args_parse(const tg__cli_command *command, int argc, char **argv, tg__cli_args *out,
                        char *error, size_t error_size);

/*
 * Parses and reacts as every command does: --help prints the help on stdout and
 * returns 0; a usage error prints "NAME: error" and the synopsis on stderr and
 * returns 2; a successful parse returns -1 (go on).
 */
int tg__cli_args_run(const tg__cli_command *command, int argc, char **argv, tg__cli_args *out);

/*
 * A usage error found after parsing (a value that is not a number, options that do not
 * go together): prints "NAME: message", the synopsis and the pointer to --help on
 * stderr, like a parse error. Returns 2, the usage exit code.
 */
int tg__cli_usage_error(const tg__cli_command *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints the whole help of a command (synopsis, about, options, examples) to `stream`. */
void tg__cli_args_help(const tg__cli_command *command, void *stream);

/* The value of option `name` (a table name), or NULL when it was not given. */
const char *tg__cli_arg(const tg__cli_command *command, const tg__cli_args *args, const char *name);
/* True when flag `name` was given. */
bool tg__cli_flag(const tg__cli_command *command, const tg__cli_args *args, const char *name);

/*
 * The word of `words` (NULL-ended) closest to `typed` by edit distance, or NULL
 * when none is near enough to be what was meant. For options and verbs alike.
 */
const char *tg__cli_closest(const char *typed, const char *const *words);

#endif
