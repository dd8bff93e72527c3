/*
 * test_notify_sign: the webhook signature. HMAC-SHA256 itself against RFC
 * 4231's test case 2; the signature header over "v1:" + timestamp + ":" + body
 * against a vector computed independently (`openssl dgst -sha256 -hmac` and
 * node's crypto.createHmac agree on it); and a changed timestamp, body or key
 * changes the signature, so neither can be replayed or swapped.
 */
#include "notify_fixture.h"

static void hex(const unsigned char *bytes, size_t size, char *out) {
    for (size_t i = 0; i < size; i++) {
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    }
}

static void test_hmac_rfc4231_case2(void **state) {
    (void)state;
    unsigned char digest[32];
    char text[65];
    const char *data = "what do ya want for nothing?";
    /* Split anywhere: the two parts are one message. */
    assert_true(tg__hmac_sha256("Jefe", data, 10, data + 10, strlen(data) - 10, digest));
    hex(digest, sizeof digest, text);
    assert_string_equal(text, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_signature_known_vector(void **state) {
    (void)state;
    const char *body = "{\"type\":\"tollgate.notification\",\"events\":[]}";
    char signature[TG__NOTIFY_SIGNATURE_SIZE];
    assert_true(tg__notify_sign("whsec_test", 1700000000, body, strlen(body), signature));
    assert_string_equal(signature,
                        "v1=55ed281a45f27748374d3ba61ebb0b93a09f9d4cbf0d4f50a9cf06b3793646c5");
}

static void test_signature_binds_everything(void **state) {
    (void)state;
    const char *body = "{\"events\":[{\"id\":1}]}";
    char base[TG__NOTIFY_SIGNATURE_SIZE], other[TG__NOTIFY_SIGNATURE_SIZE];
    assert_true(tg__notify_sign("k", 1700000000, body, strlen(body), base));
    assert_true(tg__notify_sign("k", 1700000001, body, strlen(body), other));
    assert_string_not_equal(base, other);
    assert_true(tg__notify_sign("k", 1700000000, body, strlen(body) - 1, other));
    assert_string_not_equal(base, other);
    assert_true(tg__notify_sign("K", 1700000000, body, strlen(body), other));
    assert_string_not_equal(base, other);
    /* Same inputs, same signature: receivers can recompute it. */
    assert_true(tg__notify_sign("k", 1700000000, body, strlen(body), other));
    assert_string_equal(base, other);
    assert_i64(strlen(base), 67);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231_case2),
        cmocka_unit_test(test_signature_known_vector),
        cmocka_unit_test(test_signature_binds_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
