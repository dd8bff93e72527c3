/*
 * fuzz_cli_args: the CLI's argument parser (src/cli/args.c) on any words. The
 * first byte picks a command table (options with and without values, positional
 * bounds, a command taking the rest of the line); the rest is the argument words,
 * separated by NUL bytes. Whatever parses must point only into those words, within
 * the table's bounds; whatever does not must say why in a NUL-terminated sentence.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define WORDS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const tg__cli_option set_options[] = {
    {"limit", "AMOUNT", "l"},  {"calls-limit", "N", "c"},   {"tokens-limit", "N", "t"},
    {"window", "WINDOW", "w"}, {"revoke-at", "LEVEL", "r"}, {"alerts", "LIST", "a"},
    {"replace", NULL, "p"},    {"url", "URL", "u"},         {"key", "KEY", "k"},
    {"json", NULL, "j"},       {NULL, NULL, NULL}};
static const tg__cli_option mcp_options[] = {
    {"budget", "PATH", "b"}, {"config", "FILE", "c"}, {"task", "NAME", "t"}, {NULL, NULL, NULL}};
static const tg__cli_option no_options[] = {{NULL, NULL, NULL}};

static const tg__cli_command commands[] = {
    {.name = "set",
     .synopsis = "set PATH",
     .options = set_options,
     .arguments = "PATH",
     .positional_min = 1,
     .positional_max = 1},
    {.name = "hold",
     .synopsis = "hold B A",
     .options = set_options,
     .arguments = "B A",
     .positional_min = 2,
     .positional_max = 2},
    {.name = "mcp", .synopsis = "mcp", .options = mcp_options, .takes_rest = true},
    {.name = "status", .synopsis = "status", .options = no_options, .positional_max = 1},
    {.name = "many",
     .synopsis = "many",
     .options = no_options,
     .positional_max = TG__CLI_POSITIONAL_MAX,
     .takes_rest = true},
};

static bool inside(const char *pointer, const char *start, size_t size) {
    return pointer >= start && pointer <= start + size;
}

static void check(const tg__cli_command *command, const tg__cli_args *args, char **words, int count,
                  const char *text, size_t size) {
    if (args->help) {
        return;
    }
    FUZZ_CHECK(args->positional_count >= command->positional_min);
    FUZZ_CHECK(args->positional_count <= command->positional_max);
    for (int i = 0; i < args->positional_count; i++) {
        FUZZ_CHECK(inside(args->positional[i], text, size));
    }
    for (int i = 0; i < TG__CLI_OPTIONS_MAX && command->options[i].name != NULL; i++) {
        const char *value = args->values[i];
        FUZZ_CHECK(value == NULL || inside(value, text, size) || value[0] == '\0');
        FUZZ_CHECK(value == NULL || command->options[i].value != NULL || value[0] == '\0');
        FUZZ_CHECK(value == tg__cli_arg(command, args, command->options[i].name));
    }
    if (args->rest != NULL) {
        FUZZ_CHECK(command->takes_rest && args->rest_count > 0);
        FUZZ_CHECK(args->rest >= words && args->rest + args->rest_count == words + count);
    } else {
        FUZZ_CHECK(args->rest_count == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) {
        return 0;
    }
    const tg__cli_command *command = &commands[data[0] % (sizeof commands / sizeof commands[0])];
    size_t text_size = size - 1;
    char *text = malloc(text_size + 1); /* the words, each ended by a NUL */
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, text_size);
    text[text_size] = '\0';
    char *words[WORDS_MAX + 1];
    int count = 0;
    for (size_t at = 0; at < text_size && count < WORDS_MAX; at += strlen(text + at) + 1) {
        words[count++] = text + at;
    }
    words[count] = NULL;
    tg__cli_args args;
    char error[TG__CLI_ERROR_SIZE];
    if (tg__cli_args_parse(command, count, words, &args, error, sizeof error)) {
        check(command, &args, words, count, text, text_size);
    } else {
        FUZZ_CHECK(error[0] != '\0' && memchr(error, '\0', sizeof error) != NULL);
    }
    (void)tg__cli_closest(count > 0 ? words[0] : "", (const char *const[]){"limit", "set", NULL});
    free(text);
    return 0;
}
