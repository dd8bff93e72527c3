/*
 * test_cli_args: the command-line parser every `tollgate` command shares
 * (src/cli/args.c). Everything not in a command's table is refused with a
 * sentence, the closest option named; nothing is guessed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli/args.h"

static const tg__cli_option hold_options[] = {{"tool", "NAME", "the tool"},
                                              {"model", "NAME", "the model"},
                                              {"idempotency-key", "KEY", "retries replay"},
                                              {"json", NULL, "JSON out"},
                                              {NULL, NULL, NULL}};
static const tg__cli_command hold = {.name = "tollgate hold",
                                     .synopsis = "tollgate hold BUDGET AMOUNT [options]",
                                     .options = hold_options,
                                     .arguments = "BUDGET AMOUNT",
                                     .positional_min = 2,
                                     .positional_max = 2};

static const tg__cli_option mcp_options[] = {
    {"budget", "PATH", "the budget"}, {"config", "FILE", "the config"}, {NULL, NULL, NULL}};
static const tg__cli_command mcp = {.name = "tollgate mcp",
                                    .synopsis = "tollgate mcp --budget PATH [--] COMMAND...",
                                    .options = mcp_options,
                                    .takes_rest = true};

/* Parses a NULL-ended list of words; the error lands in `error`. */
static char error[TG__CLI_ERROR_SIZE];
static bool parse(const tg__cli_command *command, tg__cli_args *out, char **words) {
    int count = 0;
    while (words[count] != NULL) {
        count++;
    }
    return tg__cli_args_parse(command, count, words, out, error, sizeof error);
}

#define WORDS(...) ((char *[]){__VA_ARGS__, NULL})

static void assert_refused(const tg__cli_command *command, char **words, const char *expected) {
    tg__cli_args args;
    assert_false(parse(command, &args, words));
    if (strstr(error, expected) == NULL) {
        print_error("error \"%s\" does not contain \"%s\"\n", error, expected);
        fail();
    }
}

static void test_reads_options_values_and_arguments(void **state) {
    (void)state;
    tg__cli_args args;
    assert_true(
        parse(&hold, &args,
              WORDS("team/a", "--tool", "web_search", "0.25", "--idempotency-key=r1", "--json")));
    assert_int_equal(args.positional_count, 2);
    assert_string_equal(args.positional[0], "team/a");
    assert_string_equal(args.positional[1], "0.25");
    assert_string_equal(tg__cli_arg(&hold, &args, "tool"), "web_search");
    assert_string_equal(tg__cli_arg(&hold, &args, "idempotency-key"), "r1");
    assert_true(tg__cli_flag(&hold, &args, "json"));
    assert_null(tg__cli_arg(&hold, &args, "model"));
    assert_false(args.help);
}

static void test_names_the_closest_option(void **state) {
    (void)state;
    assert_refused(&hold, WORDS("a", "1", "--idempotency_key", "r1"),
                   "unknown option '--idempotency_key'; did you mean --idempotency-key?");
    assert_refused(&hold, WORDS("a", "1", "--too", "web_search"), "did you mean --tool?");
    assert_refused(&hold, WORDS("a", "1", "--Tool", "x"), "did you mean --tool?");
    assert_refused(&hold, WORDS("a", "1", "--mdoel", "x"), "did you mean --model?");
    assert_refused(&hold, WORDS("a", "1", "--idem", "x"), "did you mean --idempotency-key?");
    assert_refused(&hold, WORDS("a", "1", "--hepl"), "did you mean --help?");
    assert_refused(&hold, WORDS("a", "1", "--frobnicate", "x"),
                   "unknown option '--frobnicate' (see --help");
    assert_refused(&hold, WORDS("a", "1", "-t", "x"), "unknown option '-t'");
}

static void test_refuses_what_is_not_in_the_table(void **state) {
    (void)state;
    assert_refused(&hold, WORDS("a", "1", "extra"), "unexpected argument 'extra'");
    assert_refused(&hold, WORDS("a"), "missing AMOUNT");
    assert_refused(&hold, WORDS(NULL), "missing BUDGET");
    assert_refused(&hold, WORDS("a", "1", "--tool"), "--tool needs a value (NAME)");
    assert_refused(&hold, WORDS("a", "1", "--tool", "--json"), "--tool needs a value");
    assert_refused(&hold, WORDS("a", "1", "--tool", "x", "--tool=y"), "--tool is given twice");
    assert_refused(&hold, WORDS("a", "1", "--json", "--json"), "--json is given twice");
    assert_refused(&hold, WORDS("a", "1", "--json=yes"), "--json takes no value");
}

static void test_help_dashes_and_numbers(void **state) {
    (void)state;
    tg__cli_args args;
    assert_true(parse(&hold, &args, WORDS("--help", "--nonsense")));
    assert_true(args.help);
    assert_true(parse(&hold, &args, WORDS("-h")));
    assert_true(args.help);
    /* After "--" everything is an argument, even what looks like an option. */
    assert_true(parse(&hold, &args, WORDS("--", "-a", "--help")));
    assert_false(args.help);
    assert_string_equal(args.positional[0], "-a");
    assert_string_equal(args.positional[1], "--help");
    /* A negative or dotted number is an argument (refused later as money), not an option. */
    assert_true(parse(&hold, &args, WORDS("a", "-5")));
    assert_string_equal(args.positional[1], "-5");
    assert_true(parse(&hold, &args, WORDS("a", "-.5")));
    assert_true(parse(&hold, &args, WORDS("-", "1")));
    assert_string_equal(args.positional[0], "-");
    /* A value may start with one dash. */
    assert_true(parse(&hold, &args, WORDS("a", "1", "--tool", "-x")));
    assert_string_equal(tg__cli_arg(&hold, &args, "tool"), "-x");
    assert_true(parse(&hold, &args, WORDS("a", "1", "--tool=")));
    assert_string_equal(tg__cli_arg(&hold, &args, "tool"), "");
}

static void test_the_rest_is_a_command(void **state) {
    (void)state;
    tg__cli_args args;
    /* Without "--": the first word that is not an option starts the server's command. */
    assert_true(parse(&mcp, &args, WORDS("--budget", "a", "npx", "-y", "server", "--budget")));
    assert_string_equal(tg__cli_arg(&mcp, &args, "budget"), "a");
    assert_int_equal(args.rest_count, 4);
    assert_string_equal(args.rest[0], "npx");
    assert_string_equal(args.rest[1], "-y");
    assert_null(args.rest[4]);
    /* With "--", as before; and a command starting with a dash needs it. */
    assert_true(parse(&mcp, &args, WORDS("--budget", "a", "--", "-weird", "x")));
    assert_int_equal(args.rest_count, 2);
    assert_string_equal(args.rest[0], "-weird");
    assert_true(parse(&mcp, &args, WORDS("--budget", "a")));
    assert_null(args.rest);
    assert_refused(&mcp, WORDS("--budegt", "a", "node"), "did you mean --budget?");
}

static void test_closest_words(void **state) {
    (void)state;
    const char *const verbs[] = {"set", "show", "list", "delete", "freeze", "unfreeze", NULL};
    assert_string_equal(tg__cli_closest("sett", verbs), "set");
    assert_string_equal(tg__cli_closest("lsit", verbs), "list");
    assert_string_equal(tg__cli_closest("unfrezee", verbs), "unfreeze");
    assert_null(tg__cli_closest("x", verbs));
    assert_null(tg__cli_closest("history", verbs));
    assert_null(tg__cli_closest("", verbs));
    char long_word[200];
    memset(long_word, 'a', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = '\0';
    assert_null(tg__cli_closest(long_word, verbs));
}

static void test_help_lists_every_option(void **state) {
    (void)state;
    char text[4096] = "";
    FILE *out = fmemopen(text, sizeof text, "w");
    assert_non_null(out);
    tg__cli_args_help(&hold, out);
    fclose(out);
    assert_non_null(strstr(text, "usage: tollgate hold BUDGET AMOUNT"));
    assert_non_null(strstr(text, "  --idempotency-key KEY    retries replay\n"));
    assert_non_null(strstr(text, "  --json                   JSON out\n"));
    assert_non_null(strstr(text, "  --help "));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_options_values_and_arguments),
        cmocka_unit_test(test_names_the_closest_option),
        cmocka_unit_test(test_refuses_what_is_not_in_the_table),
        cmocka_unit_test(test_help_dashes_and_numbers),
        cmocka_unit_test(test_the_rest_is_a_command),
        cmocka_unit_test(test_closest_words),
        cmocka_unit_test(test_help_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
