/*
 * tokens: `tollgate tokens`, token counts from the command line: of a text file
 * (with OpenAI's o200k_base or cl100k_base, byte-exact with tiktoken), or of a whole
 * API request body, framed as the provider bills it (docs/tokenizer.md). Works
 * offline; no daemon needed.
 */
#include "cli/tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/buf.h"
#include "tollgate_tokens.h"

#define TEXT_SIZE_MAX ((size_t)256 << 20)

static const tg__cli_option option_table[] = {
    {"encoding", "NAME", "o200k_base or cl100k_base (default: from --model, else o200k_base)"},
    {"model", "MODEL",
     "the model the text is for (picks the encoding; with --request, the "
     "framing)"},
    {"request", "KIND", "FILE is a request body: chat, responses, embeddings or anthropic"},
    {"special", NULL, "text such as <|endoftext|> becomes the special token"},
    {"ids", NULL, "print the token ids instead of their count"},
    {"json", NULL, "print JSON"},
    {NULL, NULL, NULL}};

static const tg__cli_command command = {
    .name = "tollgate tokens",
    .synopsis = "tollgate tokens [options] [FILE | -]",
    .about = "Counts the tokens of FILE (default: standard input) offline; with --request,\n"
             "the prompt tokens of a request body as the provider would bill them.\n",
    .options = option_table,
    .arguments = "FILE",
    .positional_max = 1,
    .examples = "  tollgate tokens README.md\n"
                "  tollgate tokens --model gpt-4 --ids notes.txt\n"
                "  tollgate tokens --request chat body.json\n"
                "exit codes: 0 ok, 1 failure, 2 usage error\n"};

typedef struct {
    const char *file;     /* NULL or "-": standard input */
    const char *model;    /* --model, or NULL */
    const char *encoding; /* --encoding, or NULL */
    const char *request;  /* --request kind, or NULL */
    unsigned flags;       /* TG_TOKENS_SPECIAL */
    int ids;              /* --ids */
    int json;             /* --json */
} options;

static int parse(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    tg__cli_args args;
    int code = tg__cli_args_run(&command, argc - 1, argv + 1, &args);
    if (code >= 0) {
        return code;
    }
    o->file = args.positional_count > 0 ? args.positional[0] : NULL;
    o->model = tg__cli_arg(&command, &args, "model");
    o->encoding = tg__cli_arg(&command, &args, "encoding");
    o->request = tg__cli_arg(&command, &args, "request");
    o->flags = tg__cli_flag(&command, &args, "special") ? TG_TOKENS_SPECIAL : 0;
    o->ids = tg__cli_flag(&command, &args, "ids");
    o->json = tg__cli_flag(&command, &args, "json");
    return -1;
}

/* Reads all of a file (or stdin) up to size_max. *text_out: from malloc, caller frees. */
static int read_all(const char *file, size_t size_max, char **text_out, size_t *len_out) {
    FILE *f = file == NULL || strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "tollgate tokens: %s: %s\n", file, strerror(errno));
        return 1;
    }
    tg__buf text;
    tg__buf_init(&text, size_max);
    tg_status status = TG_OK;
    static char chunk[1 << 16];
    size_t got;
    while (status == TG_OK && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        status = tg__buf_append(&text, chunk, got);
    }
    int failed = f != stdin ? fclose(f) != 0 : ferror(f);
    if (status == TG_OK && !failed && text.data == NULL) {
        status = tg__buf_append(&text, "", 0); /* an empty file: an empty text, not NULL */
    }
    if (status != TG_OK || failed) {
        fprintf(stderr, "tollgate tokens: %s\n",
                status == TG_ERR_FULL ? "input too large"
                : status != TG_OK     ? "out of memory"
                                      : "read error");
        tg__buf_free(&text);
        return 1;
    }
    *text_out = text.data;
    *len_out = text.size;
    return 0;
}

static const char *quality_name(tg_count_quality q) {
    return q == TG_COUNT_EXACT ? "exact" : q == TG_COUNT_FRAMED ? "framed" : "estimate";
}

static int count_request(const options *o, const char *body, size_t len) {
    static const struct {
        const char *name;
        tg_request_kind kind;
    } kinds[] = {{"chat", TG_REQUEST_CHAT_COMPLETIONS},
                 {"responses", TG_REQUEST_RESPONSES},
                 {"embeddings", TG_REQUEST_EMBEDDINGS},
                 {"anthropic", TG_REQUEST_ANTHROPIC_MESSAGES}};
    size_t k = 0;
    while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].name, o->request) != 0) {
        k++;
    }
    if (k == sizeof kinds / sizeof kinds[0]) {
        return tg__cli_usage_error(&command,
                                   "--request must be chat, responses, embeddings or anthropic");
    }
    tg_prompt_count c;
    tg_error err = {0};
    if (tg_tokens_count_request(kinds[k].kind, o->model, body, len, &c, &err) != TG_OK) {
        fprintf(stderr, "tollgate tokens: %s\n", err.message);
        return 1;
    }
    if (o->json) {
        printf("{\"prompt_tokens\":%lld,\"text_tokens\":%lld,\"image_tokens\":%lld,"
               "\"images\":%lld,\"images_unsized\":%lld,\"encoding\":\"%s\",\"quality\":\"%s\"}\n",
               (long long)c.prompt_tokens, (long long)c.text_tokens, (long long)c.image_tokens,
               (long long)c.images, (long long)c.images_unsized, tg_encoding_name(c.encoding),
               quality_name(c.quality));
    } else {
        printf("%lld prompt tokens (text %lld, images %lld; %s, %s)\n", (long long)c.prompt_tokens,
               (long long)c.text_tokens, (long long)c.image_tokens, quality_name(c.quality),
               tg_encoding_name(c.encoding));
    }
    return 0;
}

static int count_text(const options *o, tg_encoding encoding, const char *text, size_t len) {
    const tg_tokenizer *tokenizer = tg_tokenizer_shared(encoding);
    uint32_t *ids = NULL;
    size_t count = 0;
    tg_status status = tokenizer == NULL ? TG_ERR_UNSUPPORTED
                       : o->ids ? tg_tokens_encode(tokenizer, text, len, o->flags, &ids, &count)
                                : tg_tokens_count(tokenizer, text, len, o->flags, &count);
    if (status != TG_OK) {
        fprintf(stderr, "tollgate tokens: %s\n", tg_status_str(status));
        return 1;
    }
    if (o->json) {
        printf("{\"tokens\":%zu,\"encoding\":\"%s\"", count, tg_encoding_name(encoding));
        if (o->ids) {
            fputs(",\"ids\":[", stdout);
            for (size_t i = 0; i < count; i++) {
                printf(i ? ",%u" : "%u", ids[i]);
            }
            putchar(']');
        }
        puts("}");
    } else if (o->ids) {
        for (size_t i = 0; i < count; i++) {
            printf(i ? " %u" : "%u", ids[i]);
        }
        putchar('\n');
    } else {
        printf("%zu\n", count);
    }
    free(ids);
    return 0;
}

int tg__cli_tokens(int argc, char **argv) {
    options o;
    int code = parse(argc, argv, &o);
    if (code >= 0) {
        return code;
    }
    tg_encoding encoding;
    tg_encoding_for_model(o.model, &encoding); /* unknown models: o200k_base */
    if (o.encoding != NULL && tg_encoding_parse(o.encoding, &encoding) != TG_OK) {
        return tg__cli_usage_error(&command, "--encoding must be o200k_base or cl100k_base");
    }
    char *text;
    size_t len;
    if (read_all(o.file, o.request ? TG_REQUEST_BODY_SIZE_MAX : TEXT_SIZE_MAX, &text, &len) != 0) {
        return 1;
    }
    code = o.request ? count_request(&o, text, len) : count_text(&o, encoding, text, len);
    free(text);
    return code;
}
