/*
 * test_proxy_attribution: the budget a proxied call may be charged to (src/proxy/
 * attribution.c). The promise under attack: a key never reaches outside its scope.
 * Every trick an agent could send in x-tollgate-budget or its request's user is tried:
 * a sibling's path and one that only shares the scope's prefix, the parent, "..", ".",
 * encoded slashes and dots, empty segments, spaces, over-long and over-deep paths, NUL
 * and non-ASCII bytes. Tags are bounded, normalized and checked.
 */
#include <string.h>

#include "proxy/attribution.h"
#include "proxy_fixture.h"

static tg_status pick(const char *scope, const char *selected, const char *user, bool users,
                      char *out) {
    tg_error err = {0};
    strcpy(out, "untouched");
    tg_status status = tg__attribution_budget(scope, selected, user, users, out, &err);
    if (status != TG_OK) {
        assert_true(err.message[0] != '\0'); /* every refusal says why */
        assert_string_equal(out, "untouched");
    }
    return status;
}

static void test_budget_within_scope(void **state) {
    (void)state;
    char out[TG_PATH_SIZE_MAX];
    assert_int_equal(pick("acme/support", NULL, NULL, false, out), TG_OK);
    assert_string_equal(out, "acme/support");
    assert_int_equal(pick("acme/support", "acme/support", NULL, false, out), TG_OK);
    assert_string_equal(out, "acme/support");
    assert_int_equal(pick("acme/support", "acme/support/customer-42", NULL, false, out), TG_OK);
    assert_string_equal(out, "acme/support/customer-42");
    assert_int_equal(pick("acme/support", "acme/support/a/b", NULL, false, out), TG_OK);
    /* The user names a child only when configured; the header wins over the user. */
    assert_int_equal(pick("acme/support", NULL, "u-42", false, out), TG_OK);
    assert_string_equal(out, "acme/support");
    assert_int_equal(pick("acme/support", NULL, "u-42", true, out), TG_OK);
    assert_string_equal(out, "acme/support/u-42");
    assert_int_equal(pick("acme/support", "acme/support/x", "u-42", true, out), TG_OK);
    assert_string_equal(out, "acme/support/x");
    assert_int_equal(pick("acme/support", NULL, "", true, out), TG_OK);
    assert_string_equal(out, "acme/support");
}

static void test_budget_outside_scope(void **state) {
    (void)state;
    char out[TG_PATH_SIZE_MAX];
    const char *outside[] = {
        "acme",                  /* the parent */
        "acme/sales",            /* a sibling */
        "acme/sales/customer-1", /* under a sibling */
        "acme/supportx",         /* shares the prefix, not the path */
        "acme/support-2/x",      /* the same */
        "other",                 /* another tree */
        "Acme/support",          /* paths are case-sensitive */
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        assert_int_equal(pick("acme/support", outside[i], NULL, false, out), TG_ERR_STATE);
    }
    /* Malformed: refused before any comparison with the scope. */
    const char *malformed[] = {
        "",
        "acme/support/..",
        "acme/support/../sales",
        "acme/support/./x",
        "acme/support/",
        "acme/support//x",
        "/acme/support/x",
        "acme%2Fsupport%2Fx",
        "acme/support/%2e%2e",
        "acme/support%2F..%2Fsales",
        "acme/support/x y",
        " acme/support/x",
        "acme/support/x\\..\\y",
        "acme/support/\xc3\xa9",
        "acme/support/a/b/c/d/e/f/g", /* 9 levels: deeper than TG_PATH_DEPTH_MAX */
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        assert_int_equal(pick("acme/support", malformed[i], NULL, false, out), TG_ERR_INVALID);
    }
    char longer[TG_PATH_SIZE_MAX + 16];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    memcpy(longer, "acme/support/", 13);
    assert_int_equal(pick("acme/support", longer, NULL, false, out), TG_ERR_INVALID);
    /* A user that is not one segment never walks the tree. */
    const char *users[] = {"..", ".", "a/b", "../sales", "a%2Fb", "u@example.com", "x y"};
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        assert_int_equal(pick("acme/support", NULL, users[i], true, out), TG_ERR_INVALID);
    }
    char user[80];
    memset(user, 'u', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    assert_int_equal(pick("acme/support", NULL, user, true, out), TG_ERR_INVALID);
    /* A key without a scope has nothing to narrow. */
    assert_int_equal(pick("", "acme", NULL, false, out), TG_ERR_STATE);
    assert_int_equal(pick(NULL, NULL, NULL, false, out), TG_ERR_STATE);
}

static void test_tags(void **state) {
    (void)state;
    char out[TG__TAGS_SIZE_MAX];
    int count = -1;
    tg_error err = {0};
    assert_int_equal(tg__attribution_tags(NULL, out, sizeof out, &count, &err), TG_OK);
    assert_string_equal(out, "");
    assert_int_equal(count, 0);
    assert_int_equal(tg__attribution_tags(" a , b,,a, c:d/e ,", out, sizeof out, &count, &err),
                     TG_OK);
    assert_string_equal(out, "a,b,c:d/e");
    assert_int_equal(count, 3);
    strcpy(out, "kept");
    assert_int_equal(tg__attribution_tags("a,b c", out, sizeof out, NULL, &err), TG_ERR_INVALID);
    assert_int_equal(tg__attribution_tags("a;b", out, sizeof out, NULL, &err), TG_ERR_INVALID);
    assert_int_equal(tg__attribution_tags("%2C", out, sizeof out, NULL, &err), TG_ERR_INVALID);
    assert_string_equal(out, "kept");
    char many[256] = "";
    for (int i = 0; i <= TG__TAGS_MAX; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "t%d,", i);
        strcat(many, tag);
    }
    assert_int_equal(tg__attribution_tags(many, out, sizeof out, NULL, &err), TG_ERR_INVALID);
    many[strlen(many) - 5] = '\0'; /* drop "t16," : exactly the maximum */
    assert_int_equal(tg__attribution_tags(many, out, sizeof out, &count, &err), TG_OK);
    assert_int_equal(count, TG__TAGS_MAX);
    char longer[TG__TAG_SIZE_MAX + 1];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(tg__attribution_tags(longer, out, sizeof out, NULL, &err), TG_ERR_INVALID);
    longer[TG__TAG_SIZE_MAX - 1] = '\0'; /* 63 bytes: fits */
    assert_int_equal(tg__attribution_tags(longer, out, sizeof out, NULL, &err), TG_OK);
    /* The longest list fits its buffer; a smaller buffer is refused, not overrun. */
    assert_int_equal(tg__attribution_tags("abc,def", out, 4, NULL, &err), TG_ERR_INVALID);
}

static void test_user(void **state) {
    (void)state;
    char out[TG__USER_SIZE_MAX];
    json_t *body = json_loads("{\"user\":\"u-1\",\"metadata\":{\"user_id\":\"a-2\"}}", 0, NULL);
    tg__attribution_user(TG__ROUTE_OPENAI_CHAT, body, out, NULL);
    assert_string_equal(out, "u-1");
    tg__attribution_user(TG__ROUTE_ANTHROPIC_MESSAGES, body, out, NULL);
    assert_string_equal(out, "a-2");
    json_decref(body);
    body = json_loads("{\"user\":7}", 0, NULL);
    tg__attribution_user(TG__ROUTE_OPENAI_RESPONSES, body, out, NULL);
    assert_string_equal(out, "");
    json_decref(body);
    /* Cut at a character boundary: 126 ASCII bytes then a two-byte character. */
    char text[300];
    memset(text, 'a', 126);
    strcpy(text + 126, "\xc3\xa9\xc3\xa9");
    body = json_pack("{s:s}", "user", text);
    tg__attribution_user(TG__ROUTE_OPENAI_CHAT, body, out, NULL);
    assert_int_equal(strlen(out), 126);
    json_decref(body);
    tg__attribution_user(TG__ROUTE_OPENAI_CHAT, NULL, out, NULL);
    assert_string_equal(out, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_within_scope),
        cmocka_unit_test(test_budget_outside_scope),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
