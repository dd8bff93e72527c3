/*
 * tokens: the `tollgate tokens` command (tokens.c), which counts tokens of a file or
 * a request body on the command line with the library's tokenizer.
 */
#ifndef TG_CLI_TOKENS_H
#define TG_CLI_TOKENS_H

/* Runs `tollgate tokens` (argv[0] is "tokens"). Returns an exit code. */
int tg__cli_tokens(int argc, char **argv);

#endif
