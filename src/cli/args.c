/*
 * args: the shared command-line parser (args.h). Strict on purpose: every word
 * is an option of the command's table, its value, or one of the positional
 * arguments the command takes; anything else is a usage error that names the
 * closest valid option.
 */
#include "cli/args.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define WORD_SIZE_MAX 64 /* longer words are never "close" to an option name */

/* ---- closest word ---------------------------------------------------------------------- */

/* Optimal string alignment distance (a swap of two neighbours counts one), case-blind. */
static size_t distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    size_t rows[3][WORD_SIZE_MAX + 1]; /* rows i-2, i-1, i of the table */
    for (size_t j = 0; j <= m; j++) {
        rows[1][j] = j;
    }
    for (size_t i = 1; i <= n; i++) {
        size_t *row = rows[(i + 1) % 3], *previous = rows[i % 3], *before = rows[(i + 2) % 3];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = previous[j - 1] + cost;
            best = previous[j] + 1 < best ? previous[j] + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                before[j - 2] + 1 < best) {
                best = before[j - 2] + 1;
            }
            row[j] = best;
        }
    }
    return rows[(n + 1) % 3][m];
}

const char *tg__cli_closest(const char *typed, const char *const *words) {
    size_t typed_length = strlen(typed);
    if (typed_length == 0 || typed_length >= WORD_SIZE_MAX) {
        return NULL;
    }
    const char *best = NULL;
    size_t best_distance = (size_t)-1;
    for (size_t i = 0; words[i] != NULL; i++) {
        size_t length = strlen(words[i]);
        if (length >= WORD_SIZE_MAX) {
            continue;
        }
        size_t d = distance(typed, words[i]);
        /* A prefix of 3+ letters ("--idem") is as good as one typo. */
        if (typed_length >= 3 && typed_length < length &&
            strncasecmp(typed, words[i], typed_length) == 0) {
            d = d < 1 ? d : 1;
        }
        if (d < best_distance) {
            best_distance = d;
            best = words[i];
        }
    }
    /* Near enough: two edits, and fewer than half of the word's letters. */
    size_t shorter = typed_length;
    if (best != NULL && strlen(best) < shorter) {
        shorter = strlen(best);
    }
    return best != NULL && best_distance <= 2 && best_distance * 2 < shorter + 1 ? best : NULL;
}

/* ---- parsing ------------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static bool fail(char *error, size_t size, const char *format,
                                                       ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(error, size, format, args);
    va_end(args);
    return false;
}

static int option_index(const tg__cli_command *command, const char *name, size_t length) {
    for (int i = 0; i < TG__CLI_OPTIONS_MAX && command->options[i].name != NULL; i++) {
        const char *candidate = command->options[i].name;
        if (strlen(candidate) == length && strncmp(candidate, name, length) == 0) {
            return i;
        }
    }
    return -1;
}

static bool unknown_option(const tg__cli_command *command, const char *word, char *error,
                           size_t size) {
    const char *names[TG__CLI_OPTIONS_MAX + 2];
    int count = 0;
    for (; count < TG__CLI_OPTIONS_MAX && command->options[count].name != NULL; count++) {
        names[count] = command->options[count].name;
    }
    names[count++] = "help";
    names[count] = NULL;
    char typed[WORD_SIZE_MAX];
    const char *bare = word + strspn(word, "-");
    size_t length = strcspn(bare, "=");
    snprintf(typed, sizeof typed, "%.*s", (int)(length < sizeof typed ? length : 0), bare);
    const char *near = tg__cli_closest(typed, names);
    if (near != NULL) {
        return fail(error, size, "unknown option '%.64s'; did you mean --%s?", word, near);
    }
    return fail(error, size, "unknown option '%.64s' (see --help for the options)", word);
}

/* The k-th name of the command's positional arguments ("BUDGET AMOUNT"), for messages. */
static void positional_name(const tg__cli_command *command, int k, char *out, size_t size) {
    const char *at = command->arguments != NULL ? command->arguments : "";
    for (int seen = 0; *at != '\0'; seen++) {
        at += strspn(at, " ");
        size_t length = strcspn(at, " ");
        if (seen == k && length > 0) {
            snprintf(out, size, "%.*s", (int)length, at);
            return;
        }
        at += length;
    }
    snprintf(out, size, "argument %d", k + 1);
}

static bool read_option(const tg__cli_command *command, int argc, char **argv, int *i,
                        tg__cli_args *out, char *error, size_t size) {
    const char *word = argv[*i];
    const char *name = word + 2;
    size_t length = strcspn(name, "=");
    int index = word[1] == '-' ? option_index(command, name, length) : -1;
    if (index < 0) {
        return unknown_option(command, word, error, size);
    }
    const tg__cli_option *option = &command->options[index];
    if (out->values[index] != NULL) {
        return fail(error, size, "--%s is given twice", option->name);
    }
    const char *value = name[length] == '=' ? name + length + 1 : NULL;
    if (option->value == NULL) {
        if (value != NULL) {
            return fail(error, size, "--%s takes no value", option->name);
        }
        out->values[index] = "";
        return true;
    }
    if (value == NULL) {
        if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0) {
            return fail(error, size, "--%s needs a value (%s)", option->name, option->value);
        }
        value = argv[++*i];
    }
    out->values[index] = value;
    return true;
}

static bool is_option(const char *word) {
    /* "-" alone is a file name (standard input); "-5" a (bad) number, not an option. */
    return word[0] == '-' && word[1] != '\0' && !isdigit((unsigned char)word[1]) && word[1] != '.';
}

bool tg__cli_args_parse(const tg__cli_command *command, int argc, char **argv, tg__cli_args *out,
                        char *error, size_t size) {
    memset(out, 0, sizeof *out);
    error[0] = '\0';
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i];
        if (!options_done && (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)) {
            out->help = true;
            return true;
        }
        if (!options_done && strcmp(word, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && is_option(word)) {
            if (!read_option(command, argc, argv, &i, out, error, size)) {
                return false;
            }
            continue;
        }
        if (out->positional_count < command->positional_max &&
            out->positional_count < TG__CLI_POSITIONAL_MAX) {
            out->positional[out->positional_count++] = word;
            continue;
        }
        if (command->takes_rest) {
            out->rest = argv + i;
            out->rest_count = argc - i;
            break;
        }
        return fail(error, size, "unexpected argument '%.64s'", word);
    }
    if (out->positional_count < command->positional_min) {
        char missing[48];
        positional_name(command, out->positional_count, missing, sizeof missing);
        return fail(error, size, "missing %s", missing);
    }
    return true;
}

/* ---- help and lookups -------------------------------------------------------------------- */

void tg__cli_args_help(const tg__cli_command *command, void *stream) {
    FILE *out = stream;
    fprintf(out, "usage: %s\n", command->synopsis);
    if (command->about != NULL) {
        fprintf(out, "\n%s", command->about);
    }
    if (command->options[0].name != NULL) {
        fputs("\noptions:\n", out);
    }
    for (int i = 0; i < TG__CLI_OPTIONS_MAX && command->options[i].name != NULL; i++) {
        const tg__cli_option *option = &command->options[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", option->name, option->value ? " " : "",
                 option->value ? option->value : "");
        fprintf(out, "  %-24s %s\n", left, option->help);
    }
    fputs("  --help                   this text\n", out);
    if (command->examples != NULL) {
        fprintf(out, "\nexamples:\n%s", command->examples);
    }
}

int tg__cli_usage_error(const tg__cli_command *command, const char *format, ...) {
    char message[TG__CLI_ERROR_SIZE + 256];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fprintf(stderr, "%s: %s\nusage: %s\n(`%s --help` explains every option)\n", command->name,
            message, command->synopsis, command->name);
    return 2;
}

int tg__cli_args_run(const tg__cli_command *command, int argc, char **argv, tg__cli_args *out) {
    char error[TG__CLI_ERROR_SIZE];
    if (!tg__cli_args_parse(command, argc, argv, out, error, sizeof error)) {
        return tg__cli_usage_error(command, "%s", error);
    }
    if (out->help) {
        tg__cli_args_help(command, stdout);
        return 0;
    }
    return -1;
}

const char *tg__cli_arg(const tg__cli_command *command, const tg__cli_args *args,
                        const char *name) {
    int index = option_index(command, name, strlen(name));
    return index >= 0 ? args->values[index] : NULL;
}

bool tg__cli_flag(const tg__cli_command *command, const tg__cli_args *args, const char *name) {
    return tg__cli_arg(command, args, name) != NULL;
}
