/*
 * test_tokens_requests: request-level counts against what the provider billed.
 * Each file in tests/tokenizer/requests/ holds a request body, the prompt_tokens the
 * API reported for it, and where that figure was published. The test prints the
 * error of every request and requires it to be zero. The shapes the cookbook's
 * examples do not show (tool messages, fine-tuned names, escapes) carry the count its
 * published rules give, computed with tiktoken (each file's "source" says how).
 * Below them, the shapes without a published rule: each must add at least its text.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "tollgate_tokens.h"

#define PATH_SIZE 1024

static tg_request_kind kind_of(const char *name) {
    if (strcmp(name, "responses") == 0) {
        return TG_REQUEST_RESPONSES;
    }
    if (strcmp(name, "embeddings") == 0) {
        return TG_REQUEST_EMBEDDINGS;
    }
    return TG_REQUEST_CHAT_COMPLETIONS;
}

static void check_file(const char *dir, const char *name, int *exact, int *total) {
    char path[PATH_SIZE];
    int written = snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_true(written > 0 && written < (int)sizeof path);
    json_error_t error;
    json_t *record = json_load_file(path, 0, &error);
    assert_non_null(record);
    json_int_t billed = json_integer_value(json_object_get(record, "billed_prompt_tokens"));
    /* body_text: the body exactly as sent, for escapes the record's own parser would
     * refuse to read inside "body" ("\u0000", lone surrogates). */
    const json_t *body_text = json_object_get(record, "body_text");
    char *body = json_is_string(body_text)
                     ? strdup(json_string_value(body_text))
                     : json_dumps(json_object_get(record, "body"), JSON_COMPACT);
    assert_non_null(body);
    tg_prompt_count count;
    tg_error err = {0};
    tg_status status =
        tg_tokens_count_request(kind_of(json_string_value(json_object_get(record, "kind"))), NULL,
                                body, strlen(body), &count, &err);
    if (status != TG_OK) {
        fail_msg("%s: %s", name, err.message);
    }
    double error_percent = 100.0 * (double)(count.prompt_tokens - billed) / (double)billed;
    printf("%-40s billed %5lld counted %5lld error %+6.2f%%\n", name, (long long)billed,
           (long long)count.prompt_tokens, error_percent);
    *exact += count.prompt_tokens == billed;
    (*total)++;
    free(body);
    json_decref(record);
}

static void counts_match_billed(void **state) {
    (void)state;
    const char *source = getenv("TG_SOURCE_DIR");
    char dir[PATH_SIZE];
    snprintf(dir, sizeof dir, "%s/tests/tokenizer/requests", source ? source : ".");
    DIR *d = opendir(dir);
    assert_non_null(d);
    int exact = 0, total = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strstr(entry->d_name, ".json") != NULL) {
            check_file(dir, entry->d_name, &exact, &total);
        }
    }
    closedir(d);
    printf("%d of %d requests counted exactly\n", exact, total);
    assert_true(total >= 17);
    assert_int_equal(exact, total);
}

static int64_t count_chat(const char *body) {
    tg_prompt_count count;
    tg_error err = {0};
    tg_status status = tg_tokens_count_request(TG_REQUEST_CHAT_COMPLETIONS, NULL, body,
                                               strlen(body), &count, &err);
    if (status != TG_OK) {
        fail_msg("%s: %s", body, err.message);
    }
    return count.prompt_tokens;
}

static int64_t count_kind(tg_request_kind kind, const char *body) {
    tg_prompt_count count;
    tg_error err = {0};
    assert_int_equal(tg_tokens_count_request(kind, NULL, body, strlen(body), &count, &err), TG_OK);
    return count.prompt_tokens;
}

static int64_t text_tokens(const char *text) {
    size_t n;
    assert_int_equal(
        tg_tokens_count(tg_tokenizer_shared(TG_ENCODING_O200K_BASE), text, strlen(text), 0, &n),
        TG_OK);
    return (int64_t)n;
}

#define CHAT_HEAD "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define SCHEMA                                                                                     \
    "{\"name\":\"answer\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{"        \
    "\"steps\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/step\"}}},\"$defs\":{\"step\":{"  \
    "\"type\":\"object\",\"properties\":{\"explanation\":{\"type\":\"string\"},\"output\":{"       \
    "\"type\":\"string\"}}}}}}"

/* A json_schema response format adds at least its JSON text; json_object adds nothing. */
static void response_format_counts_its_schema(void **state) {
    (void)state;
    int64_t bare = count_chat(CHAT_HEAD "}");
    int64_t with_schema = count_chat(
        CHAT_HEAD ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":" SCHEMA "}}");
    assert_int_equal(with_schema - bare, text_tokens(SCHEMA));
    assert_int_equal(count_chat(CHAT_HEAD ",\"response_format\":{\"type\":\"json_object\"}}"),
                     bare);
    /* Responses: the schema sits beside "type" in text.format. */
    int64_t r_bare = count_kind(TG_REQUEST_RESPONSES, "{\"model\":\"gpt-4o\",\"input\":\"hi\"}");
    int64_t r_schema = count_kind(
        TG_REQUEST_RESPONSES, "{\"model\":\"gpt-4o\",\"input\":\"hi\",\"text\":{\"format\":{"
                              "\"type\":\"json_schema\",\"name\":\"x\",\"schema\":{\"$defs\":"
                              "{\"a\":{\"type\":\"string\",\"description\":\"long words\"}}}}}}");
    assert_true(r_schema - r_bare >=
                text_tokens("{\"a\":{\"type\":\"string\",\"description\":\"long words\"}}"));
}

/* $defs of a tool's parameters (what its properties refer to) are read by the model. */
static void tool_defs_count(void **state) {
    (void)state;
    const char *head =
        CHAT_HEAD ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                  "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":"
                  "\"#/$defs/thing\"}},\"required\":[\"a\"]";
    const char *defs = "{\"thing\":{\"type\":\"string\",\"enum\":[\"one\",\"two\",\"three\"]}}";
    char without[1024], with[1024];
    snprintf(without, sizeof without, "%s}}}]}", head);
    snprintf(with, sizeof with, "%s,\"$defs\":%s}}}]}", head, defs);
    assert_int_equal(count_chat(with) - count_chat(without),
                     text_tokens("$defs") + text_tokens(defs));
}

/* Escapes jansson refuses but OpenAI reads as U+FFFD: each counts as U+FFFD would; an
 * escaped backslash before "u0000" is text; a valid pair is its character. */
static void escapes_count_as_replacement(void **state) {
    (void)state;
    const char *cases[][2] = {
        {"\\u0000", "\\uFFFD"},
        {"a\\ud800b", "a\\uFFFDb"},
        {"a\\uDFFFb", "a\\uFFFDb"},
        {"\\uD83D\\uDE00\\uD83D", "\\uD83D\\uDE00\\uFFFD"},
        {"\\uDBFF\\uDBFF\\uDC00", "\\uFFFD\\uDBFF\\uDC00"},
        {"x\\ud800\\u0041", "x\\uFFFD\\u0041"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sent[256], read[256];
        snprintf(sent, sizeof sent,
                 "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                 cases[i][0]);
        snprintf(read, sizeof read,
                 "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                 cases[i][1]);
        assert_int_equal(count_chat(sent), count_chat(read));
    }
    /* An escaped backslash, then "u0000": the text \u0000 (more tokens than U+FFFD). */
    assert_true(count_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"\\\\u0000\"}]}") >
                count_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"\\uFFFD\"}]}"));
    /* Still refused: a truncated escape, and a string left open after a lone half. */
    tg_prompt_count count;
    tg_error err = {0};
    const char *bad[] = {"{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud8\"}]}",
                         "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(tg_tokens_count_request(TG_REQUEST_CHAT_COMPLETIONS, NULL, bad[i],
                                                 strlen(bad[i]), &count, &err),
                         TG_ERR_INVALID);
    }
}

/* A fine-tuned name bills as its base model; an unknown base stays unknown. */
static void fine_tuned_names(void **state) {
    (void)state;
    tg_encoding encoding;
    assert_int_equal(tg_encoding_for_model("ft:gpt-3.5-turbo:acme::abc123", &encoding), TG_OK);
    assert_int_equal(encoding, TG_ENCODING_CL100K_BASE);
    assert_int_equal(tg_encoding_for_model("ft:gpt-4o-mini-2024-07-18:acme::x", &encoding), TG_OK);
    assert_int_equal(encoding, TG_ENCODING_O200K_BASE);
    assert_int_equal(tg_encoding_for_model("ft:davinci-002:acme::x", &encoding), TG_OK);
    assert_int_equal(encoding, TG_ENCODING_CL100K_BASE);
    assert_int_equal(tg_encoding_for_model("ft:", &encoding), TG_ERR_NOT_FOUND);
    assert_int_equal(tg_encoding_for_model("ft:my-own-model", &encoding), TG_ERR_NOT_FOUND);
}

int main(void) {
    tg_tokenizer *probe;
    if (tg_tokenizer_open(TG_ENCODING_O200K_BASE, &probe) == TG_ERR_UNSUPPORTED) {
        print_message("built without the rank tables (run scripts/setup): skipped\n");
        return 0;
    }
    tg_tokenizer_close(probe);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_match_billed), cmocka_unit_test(response_format_counts_its_schema),
        cmocka_unit_test(tool_defs_count),     cmocka_unit_test(escapes_count_as_replacement),
        cmocka_unit_test(fine_tuned_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
