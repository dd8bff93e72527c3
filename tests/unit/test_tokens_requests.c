/*
 * test_tokens_requests: request-level counts against what the provider billed.
 * Each file in tests/tokenizer/requests/ holds a request body, the prompt_tokens the
 * API reported for it, and where that figure was published. The test prints the
 * error of every request and requires it to be zero.
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
    char *body = json_dumps(json_object_get(record, "body"), JSON_COMPACT);
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
    assert_true(total >= 10);
    assert_int_equal(exact, total);
}

int main(void) {
    tg_tokenizer *probe;
    if (tg_tokenizer_open(TG_ENCODING_O200K_BASE, &probe) == TG_ERR_UNSUPPORTED) {
        print_message("built without the rank tables (run scripts/setup): skipped\n");
        return 0;
    }
    tg_tokenizer_close(probe);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_match_billed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
