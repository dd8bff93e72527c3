/*
 * The daemon's JSON API through its route table (src/api/api.c, TG__API_ROUTES), with no
 * socket and no loop: a memory engine, the config's keys in a keyring, and requests
 * handed to the table's handlers or to tg__api_handle, the router the HTTP front calls.
 *
 * What is tried: the table's own promises (a route's auth column holds for every route:
 * no key is 401, a metrics key 403; an admin route refuses a read key; a path served
 * with another method is 405, any other 404), and the ledger's through the handlers: a
 * hold then a commit charges exactly the actual cost on the whole path, a hold past the
 * revocation threshold is refused with nothing held, an agent cannot touch a budget
 * outside its scope, a replayed idempotency key holds once, ids out of range are 400.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "config/keyring.h"
#include "unit/assertions.h"

#define NOW_MS INT64_C(1767225600000)
#define USD INT64_C(1000000)

static tg__daemon daemon;

static void add_key(tg__config *config, const char *name, tg__role role, const char *scope) {
    tg__key *key = &config->keys[config->keys_count++];
    memset(key, 0, sizeof *key);
    snprintf(key->name, sizeof key->name, "%s", name);
    tg__key_hash(name, key->sha256); /* the secret is the name */
    key->role = role;
    key->class_max = tg__role_class_max(role);
    snprintf(key->scope, sizeof key->scope, "%s", scope);
}

static void add_budget(tg__config *config, const char *path, int64_t limit, int64_t revoke) {
    tg__budget_decl *budget = &config->budgets[config->budgets_count++];
    snprintf(budget->path, sizeof budget->path, "%s", path);
    tg_budget_spec_init(&budget->spec);
    budget->spec.cost_limit_micros = limit;
    budget->spec.revoke_at.micros = revoke;
}

static int setup(void **state) {
    (void)state;
    memset(&daemon, 0, sizeof daemon);
    tg__config *config = calloc(1, sizeof *config);
    assert_non_null(config);
    tg__config_defaults(config);
    snprintf(config->store, sizeof config->store, "memory");
    add_key(config, "agent", TG__ROLE_AGENT, "team/a");
    add_key(config, "reader", TG__ROLE_READ, "");
    add_key(config, "scraper", TG__ROLE_METRICS, "");
    add_budget(config, "team", 100 * USD, TG_NONE);
    add_budget(config, "team/a", 10 * USD, 8 * USD);
    add_budget(config, "team/b", 5 * USD, TG_NONE);
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = "memory";
    options.on_event = tg__daemon_on_event;
    options.on_event_user = &daemon;
    assert_status(tg_engine_open(&options, NOW_MS, &daemon.engine, NULL), TG_OK);
    daemon.config = config; /* before the apply: its events are kept by the config's store */
    assert_status(tg__config_apply(config, NULL, daemon.engine, NOW_MS, NULL), TG_OK);
    daemon.admin_secret = "adm";
    tg__daemon_keys_changed(&daemon);
    assert_non_null(daemon.keyring);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tg_engine_close(daemon.engine);
    tg__keyring_free(daemon.keyring);
    free(daemon.config);
    return 0;
}

/* A request as the HTTP front hands it over; the reply's body is the caller's. */
static tg__reply call(const char *method, const char *uri, const char *secret, const char *body) {
    char authorization[64];
    snprintf(authorization, sizeof authorization, "Bearer %s", secret ? secret : "");
    return tg__api_handle(&daemon, method, uri, secret ? authorization : NULL, body,
                          body ? strlen(body) : 0, NOW_MS);
}

static const char *error_code(const tg__reply *reply) {
    return json_string_value(json_object_get(json_object_get(reply->body, "error"), "code"));
}

static void expect(const char *method, const char *uri, const char *secret, const char *body,
                   int status, const char *code) {
    tg__reply reply = call(method, uri, secret, body);
    if (reply.status != status) {
        char *shown = json_dumps(reply.body, JSON_COMPACT);
        print_error("%s %s -> %d %s, expected %d\n", method, uri, reply.status, shown, status);
        free(shown);
        fail();
    }
    assert_true(json_is_object(reply.body));
    if (code != NULL) {
        assert_non_null(error_code(&reply));
        assert_string_equal(error_code(&reply), code);
    }
    json_decref(reply.body);
}

static tg_budget_info budget(const char *path) {
    tg_budget_info info;
    assert_status(tg_budget_get(daemon.engine, path, NOW_MS, &info, NULL), TG_OK);
    return info;
}

/* A concrete path a route serves: a prefix gets an id after it. */
static void route_path(const tg__api_route *route, char *out, size_t size) {
    size_t length = strlen(route->path);
    snprintf(out, size, "%s%s", route->path, route->path[length - 1] == '/' ? "1" : "");
}

/* Found by the table for its own method and path: no route hides another. */
static void test_every_route_is_found(void **state) {
    (void)state;
    assert_true(TG__API_ROUTES_COUNT >= 10);
    for (size_t i = 0; i < TG__API_ROUTES_COUNT; i++) {
        const tg__api_route *route = &TG__API_ROUTES[i];
        char path[128];
        route_path(route, path, sizeof path);
        const char *method = route->method ? route->method : "GET";
        const tg__api_route *found = tg__api_route_find(method, path, 0);
        assert_non_null(found);
        /* Either this route, or an earlier one for every method on the same path (the admin
         * routes share one handler, which decides). */
        assert_true(found == route || found->handle == route->handle);
    }
    assert_null(tg__api_route_find("GET", "/v1/nowhere", 0));
    assert_null(tg__api_route_find("DELETE", "/v1/holds", 0));
}

/* The auth column holds for every route, whatever its method or path. */
static void test_every_route_keeps_its_auth(void **state) {
    (void)state;
    for (size_t i = 0; i < TG__API_ROUTES_COUNT; i++) {
        const tg__api_route *route = &TG__API_ROUTES[i];
        char path[128];
        route_path(route, path, sizeof path);
        const char *method = route->method ? route->method : "POST";
        if (route->auth == TG__API_AUTH_NONE) {
            expect(method, path, NULL, "not json at all", 200, NULL); /* body unread */
            continue;
        }
        expect(method, path, NULL, "{}", 401, "unauthorized");
        expect(method, path, "wrong-secret", "{}", 401, "unauthorized");
        expect(method, path, "scraper", "{}", 403, "forbidden");
        if (route->auth == TG__API_AUTH_ADMIN) {
            expect(method, path, "reader", "{}", 403, "forbidden");
            expect(method, path, "agent", "{}", 403, "forbidden");
        }
    }
}

/* A hold through the table's handler, then its commit through the router: the actual
 * cost, not the hold, is charged on every budget of the path, and nothing stays held. */
static void test_hold_then_commit_charges_actual(void **state) {
    (void)state;
    const tg__api_route *route = tg__api_route_find("POST", "/v1/holds", 0);
    assert_non_null(route);
    tg__caller caller;
    assert_true(tg__authenticate(&daemon, "Bearer agent", &caller));
    char path[] = "/v1/holds";
    json_t *body = json_pack("{s:s,s:I}", "budget", "team/a", "amount_micros", 3 * USD);
    tg__api_request request = {&daemon, &caller, "POST", path, "", body, NOW_MS};
    tg__reply reply = route->handle(&request);
    json_decref(body);
    assert_int_equal(reply.status, 200);
    assert_true(json_is_true(json_object_get(reply.body, "granted")));
    json_int_t hold_id = json_integer_value(json_object_get(reply.body, "hold_id"));
    assert_true(hold_id > 0);
    json_decref(reply.body);
    assert_i64(budget("team/a").held_micros, 3 * USD);
    assert_i64(budget("team").held_micros, 3 * USD);

    char uri[64];
    snprintf(uri, sizeof uri, "/v1/holds/%lld/commit", (long long)hold_id);
    expect("POST", uri, "agent", "{\"actual_micros\":1234567}", 200, NULL);
    assert_i64(budget("team/a").spent_micros, 1234567);
    assert_i64(budget("team").spent_micros, 1234567);
    assert_i64(budget("team/a").held_micros, 0);
    assert_i64(budget("team").held_micros, 0);
    /* Committed once: a second commit of the same hold changes nothing. */
    tg__reply again = call("POST", uri, "agent", "{\"actual_micros\":1}");
    assert_true(again.status != 200);
    json_decref(again.body);
    assert_i64(budget("team/a").spent_micros, 1234567);
}

/* Past the revocation threshold (8 of 10 USD), a normal hold is refused, nothing held. */
static void test_refused_past_threshold_holds_nothing(void **state) {
    (void)state;
    tg__reply reply =
        call("POST", "/v1/holds", "agent", "{\"budget\":\"team/a\",\"amount_micros\":8000001}");
    assert_int_equal(reply.status, 402);
    assert_true(json_is_false(json_object_get(reply.body, "granted")));
    json_t *refusal = json_object_get(reply.body, "refusal");
    assert_string_equal(json_string_value(json_object_get(refusal, "reason")), "revoked");
    assert_string_equal(json_string_value(json_object_get(refusal, "budget")), "team/a");
    assert_i64(json_integer_value(json_object_get(refusal, "max_amount_micros")), 8 * USD);
    json_decref(reply.body);
    assert_i64(budget("team/a").held_micros, 0);
    assert_i64(budget("team").held_micros, 0);
    /* Exactly at the threshold passes. */
    expect("POST", "/v1/holds", "agent", "{\"budget\":\"team/a\",\"amount_micros\":8000000}", 200,
           NULL);
    assert_i64(budget("team/a").held_micros, 8 * USD);
}

/* An agent's scope is team/a: team/b and the root are out of reach, by any spelling. */
static void test_agent_stays_in_scope(void **state) {
    (void)state;
    expect("POST", "/v1/holds", "agent", "{\"budget\":\"team/b\",\"amount_micros\":1}", 403,
           "forbidden");
    expect("POST", "/v1/holds", "agent", "{\"budget\":\"team\",\"amount_micros\":1}", 403,
           "forbidden");
    expect("POST", "/v1/charges", "agent", "{\"budget\":\"team/ab\",\"cost_micros\":1}", 403,
           "forbidden");
    expect("POST", "/v1/holds", "agent", "{\"budget\":\"team/a/../b\",\"amount_micros\":1}", 400,
           NULL);
    assert_i64(budget("team/b").held_micros, 0);
    assert_i64(budget("team/b").spent_micros, 0);
}

/* The same idempotency key twice: one hold, the same id, the second marked replayed. */
static void test_idempotent_hold_holds_once(void **state) {
    (void)state;
    const char *body = "{\"budget\":\"team/a\",\"amount_micros\":1000,\"idempotency_key\":\"k1\"}";
    tg__reply first = call("POST", "/v1/holds", "agent", body);
    tg__reply second = call("POST", "/v1/holds", "agent", body);
    assert_int_equal(first.status, 200);
    assert_int_equal(second.status, 200);
    assert_i64(json_integer_value(json_object_get(second.body, "hold_id")),
               json_integer_value(json_object_get(first.body, "hold_id")));
    assert_true(json_is_true(json_object_get(second.body, "replayed")));
    json_decref(first.body);
    json_decref(second.body);
    assert_i64(budget("team/a").held_micros, 1000);
}

/* What no route serves: 405 on a path served with another method, 404 elsewhere, 400 on
 * ids out of range, 414 on a path too long, 400 on malformed JSON and escapes. */
static void test_unserved_requests(void **state) {
    (void)state;
    expect("DELETE", "/v1/holds", "adm", NULL, 405, "method_not_allowed");
    expect("POST", "/v1/events", "adm", NULL, 405, "method_not_allowed");
    expect("GET", "/v1/events/stream", "adm", NULL, 405, "method_not_allowed");
    expect("GET", "/v1/holds/", "adm", NULL, 404, "no_route");
    expect("GET", "/v1/budgets/", "adm", NULL, 404, "no_route");
    expect("GET", "/v1/nowhere", "adm", NULL, 404, "no_route");
    expect("GET", "/v1/holds/1/commit", "adm", NULL, 404, "no_route");
    expect("POST", "/v1/waits/", "adm", NULL, 404, "no_route");
    expect("GET", "/v1/holds/99999999999999999999", "adm", NULL, 400, "invalid_path");
    expect("GET", "/v1/holds/0", "adm", NULL, 400, "invalid_path");
    expect("GET", "/v1/holds/%zz", "adm", NULL, 400, "invalid_path");
    expect("POST", "/v1/holds", "adm", "{\"budget\":", 400, "malformed_json");
    expect("POST", "/v1/holds", "adm", "[1]", 400, "invalid_body");
    char uri[1100];
    memset(uri, 'a', sizeof uri - 1);
    uri[0] = '/';
    uri[sizeof uri - 1] = '\0';
    expect("GET", uri, "adm", NULL, 414, "uri_too_long");
    /* A batch goes through the same table: its inner hold is refused for scope. */
    tg__reply reply = call(
        "POST", "/v1/batch", "agent",
        "{\"operations\":[{\"op\":\"hold\",\"body\":{\"budget\":\"team/b\",\"amount_micros\":1}},"
        "{\"op\":\"hold\",\"body\":{\"budget\":\"team/a\",\"amount_micros\":5}}]}");
    assert_int_equal(reply.status, 200);
    json_t *results = json_object_get(reply.body, "results");
    assert_int_equal(json_array_size(results), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(results, 0), "status")),
                     403);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(results, 1), "status")),
                     200);
    json_decref(reply.body);
    assert_i64(budget("team/a").held_micros, 5);
    assert_i64(budget("team/b").held_micros, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_route_is_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_route_keeps_its_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_then_commit_charges_actual, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_past_threshold_holds_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_stays_in_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_hold_holds_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unserved_requests, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
