/*
 * fuzz_api: the daemon's JSON API (tg__api_handle, the router and every handler
 * of src/api/api*.c) on a memory engine, with requests made of any bytes.
 * An input is up to 8 requests separated by NUL bytes; each is
 *   METHOD \n URI \n AUTHORIZATION \n BODY
 * (an empty AUTHORIZATION line sends none). The config declares budgets, an
 * agent key (scope team/a, secret "agent") and a read key ("reader"); the admin
 * secret is "adm". Each input starts from a fresh engine, so a crash replays.
 *
 * Every answer must be a known status with a JSON object body, and every error
 * body {"error":{"code","message"}}, both text; the ledger must stay sound:
 * spend and holds never negative, holds never past a limit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_api: %s failed\n", #cond);                                       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define REQUESTS_MAX 8
#define INPUT_SIZE_MAX 65536
#define NOW_MS INT64_C(1767225600000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tg__daemon daemon;
static tg__config *config; /* made once: declared budgets, keys, policy, a price */

static void add_key(const char *name, const char *secret, tg__role role, const char *scope) {
    tg__key *key = &config->keys[config->keys_count++];
    snprintf(key->name, sizeof key->name, "%s", name);
    tg__key_hash(secret, key->sha256);
    key->role = role;
    snprintf(key->scope, sizeof key->scope, "%s", scope);
}

static void add_budget(const char *path, int64_t limit_micros, int64_t revoke_micros) {
    tg__budget_decl *budget = &config->budgets[config->budgets_count++];
    snprintf(budget->path, sizeof budget->path, "%s", path);
    tg_budget_spec_init(&budget->spec);
    budget->spec.cost_limit_micros = limit_micros;
    budget->spec.revoke_at.micros = revoke_micros;
}

static void make_config(void) {
    config = calloc(1, sizeof *config);
    FUZZ_CHECK(config != NULL);
    tg__config_defaults(config);
    snprintf(config->store, sizeof config->store, "memory");
    add_key("agent", "agent", TG__ROLE_AGENT, "team/a");
    add_key("reader", "reader", TG__ROLE_READ, "");
    add_budget("team", 100000000, TG_NONE);
    add_budget("team/a", 10000000, 8000000);
    add_budget("team/b", 5000000, TG_NONE);
    tg__rule_decl *rule = &config->rules[config->rules_count++];
    snprintf(rule->tool, sizeof rule->tool, "refund_*");
    rule->cls = TG_CLASS_CRITICAL;
    tg__price *price = &config->prices[config->prices_count++];
    snprintf(price->model, sizeof price->model, "gpt-4o");
    price->input_micros = 2500000;
    price->output_micros = 10000000;
}

static void open_engine(void) {
    tg_engine_options options;
    tg_engine_options_init(&options);
    options.store = "memory";
    options.holds_max = 1000; /* small tables: a fresh engine per input stays cheap */
    options.budgets_max = 64;
    options.idempotency_max = 1000;
    options.on_event = tg__daemon_on_event;
    options.on_event_user = &daemon;
    FUZZ_CHECK(tg_engine_open(&options, NOW_MS, &daemon.engine, NULL) == TG_OK);
    FUZZ_CHECK(tg__config_apply(config, NULL, daemon.engine, NOW_MS, NULL) == TG_OK);
}

static void check_reply(const tg__reply *reply) {
    /* TG__STATUS_WAITING: a waiting hold or an approval parked (http.c would keep it). */
    static const int known[] = {
        TG__STATUS_WAITING, 200, 400, 401, 402, 403, 404, 405, 409, 413, 414, 501, 503};
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        ok = ok || reply->status == known[i];
    }
    FUZZ_CHECK(ok);
    FUZZ_CHECK(json_is_object(reply->body));
    if (reply->status != 200 && reply->status != 402) {
        json_t *error = json_object_get(reply->body, "error");
        FUZZ_CHECK(json_is_string(json_object_get(error, "code")));
        FUZZ_CHECK(json_is_string(json_object_get(error, "message")));
    }
}

/* Spend and holds are never negative; holds never pass a limit (a forced charge may). */
static void check_ledger(void) {
    static const char *const paths[] = {"team", "team/a", "team/b"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        tg_budget_info info;
        if (tg_budget_get(daemon.engine, paths[i], NOW_MS, &info, NULL) != TG_OK) {
            continue; /* deleted by a request */
        }
        FUZZ_CHECK(info.spent_micros >= 0 && info.held_micros >= 0);
        FUZZ_CHECK(info.spec.cost_limit_micros == TG_NONE ||
                   info.held_micros <= info.spec.cost_limit_micros);
    }
}

/* One request: "METHOD\nURI\nAUTH\nBODY" (missing parts are empty). */
static void one_request(const char *text, size_t size, int64_t now_ms) {
    char *copy = malloc(size + 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, text, size);
    copy[size] = '\0';
    char *parts[3] = {copy, "", ""};
    char *at = copy;
    for (int i = 1; i < 3; i++) {
        char *newline = memchr(at, '\n', size - (size_t)(at - copy));
        if (newline == NULL) {
            break;
        }
        *newline = '\0';
        parts[i] = at = newline + 1;
    }
    char *body = NULL;
    size_t body_size = 0;
    char *newline = memchr(at, '\n', size - (size_t)(at - copy));
    if (newline != NULL && parts[2] == at) {
        *newline = '\0';
        body = newline + 1;
        body_size = size - (size_t)(body - copy);
    }
    tg__reply reply = tg__api_handle(&daemon, parts[0], parts[1], parts[2][0] ? parts[2] : NULL,
                                     body_size ? body : NULL, body_size, now_ms);
    check_reply(&reply);
    if (getenv("FUZZ_API_VERBOSE") != NULL) {
        char *shown = json_dumps(reply.body, JSON_COMPACT);
        fprintf(stderr, "%s %s -> %d %.160s\n", parts[0], parts[1], reply.status, shown);
        free(shown);
    }
    json_decref(reply.body);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_SIZE_MAX) {
        return 0;
    }
    if (config == NULL) {
        make_config();
        daemon.config = config;
        daemon.admin_secret = "adm";
    }
    daemon.events_total = 0;
    open_engine();
    const char *text = (const char *)data;
    size_t start = 0;
    for (int i = 0; i < REQUESTS_MAX && start <= size; i++) {
        const char *nul = memchr(text + start, '\0', size - start);
        size_t length = nul ? (size_t)(nul - (text + start)) : size - start;
        one_request(text + start, length, NOW_MS + i);
        check_ledger();
        start += length + 1;
    }
    tg_engine_close(daemon.engine);
    daemon.engine = NULL;
    return 0;
}
