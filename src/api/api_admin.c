/*
 * api_admin: the admin's routes. /v1/keys makes, lists, revokes and rotates the
 * bearer keys kept with the ledger (the secret is made here, shown once in the
 * answer, and only its SHA-256 kept); POST /v1/admin/reload re-reads the
 * config file and says whether it applied and, if not, why. A key change holds
 * at once on every connection: the keyring is rebuilt before the answer, and
 * event streams of a revoked key end.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/hex.h"
#include "api/api.h"
#include "config/keyring.h"
#include "server/reload.h"

#define SECRET_RANDOM_BYTES 24 /* 192 bits, as hex after "tg_" */

static json_t *key_json(const tg__key *key) {
    char hex[65];
    tg__hex_encode(key->sha256, sizeof key->sha256, hex);
    hex[12] = '\0'; /* a prefix tells keys apart; the whole hash is no one's business */
    static const char *const sources[] = {"config", "ledger", "env"};
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "name", key->name, "role", tg__role_str(key->role),
        "scope", key->scope, "class_max", tg_class_str(key->class_max), "source",
        sources[key->source], "sha256_prefix", hex, "created_at_ms",
        key->source == TG__KEY_FROM_LEDGER ? json_integer(key->created_at_ms) : json_null(), "line",
        key->line > 0 ? json_integer(key->line) : json_null());
}

static tg__reply list_keys(tg__daemon *daemon) {
    json_t *list = json_array();
    for (int i = 0; i < tg__keyring_count(daemon->keyring); i++) {
        json_array_append_new(list, key_json(tg__keyring_at(daemon->keyring, i)));
    }
    return tg__api_ok(json_pack("{s:o}", "keys", list));
}

/* A key of that name that the API may not change: declared in the file or the environment. */
static tg__reply not_ours(tg__daemon *daemon, const char *name) {
    for (int i = 0; i < tg__keyring_count(daemon->keyring); i++) {
        const tg__key *key = tg__keyring_at(daemon->keyring, i);
        if (key->source != TG__KEY_FROM_LEDGER && strcmp(key->name, name) == 0) {
            char message[TG_ERROR_MESSAGE_SIZE];
            if (key->source == TG__KEY_FROM_CONFIG) {
                snprintf(message, sizeof message,
                         "key '%.63s' is declared in %.100s line %d: change it there, then run "
                         "`tollgate reload`",
                         name, daemon->config_file, key->line);
            } else {
                snprintf(message, sizeof message,
                         "key '%.63s' comes from TOLLGATE_ADMIN_KEY: change it there and restart",
                         name);
            }
            return tg__api_error(409, "declared_elsewhere", message);
        }
    }
    return (tg__reply){0, NULL, TG_NONE};
}

/* A fresh secret ("tg_" and 48 hex digits) and its hash. */
static bool new_secret(char secret[64], unsigned char sha256[TG__SHA256_SIZE]) {
    unsigned char random[SECRET_RANDOM_BYTES];
    if (RAND_bytes(random, sizeof random) != 1) {
        return false;
    }
    memcpy(secret, "tg_", 3);
    for (size_t i = 0; i < sizeof random; i++) {
        snprintf(secret + 3 + 2 * i, 3, "%02x", random[i]);
    }
    tg__key_hash(secret, sha256);
    return true;
}

/* Stores `key` with a new secret; the answer is the key and, once, its secret. */
static tg__reply store_with_secret(tg__daemon *daemon, tg_api_key *key, bool replace,
                                   int64_t now_ms) {
    char secret[64];
    if (!new_secret(secret, key->sha256)) {
        return tg__api_error(503, "unavailable", "no randomness available for a secret");
    }
    tg_error err = {0};
    tg_status status = tg_api_key_put(daemon->engine, key, replace, now_ms, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    tg__daemon_keys_changed(daemon); /* from the next request on, whatever the connection */
    const tg__key *stored = tg__keyring_find_hash(daemon->keyring, key->sha256);
    if (stored == NULL) {
        return tg__api_error(503, "full", "out of memory rebuilding the keys");
    }
    json_t *body = key_json(stored);
    json_object_set_new(body, "secret", json_string(secret));
    return tg__api_ok(body);
}

static tg__reply create_key(tg__daemon *daemon, json_t *body, int64_t now_ms) {
    static const char *const allowed[] = {"name", "role", "scope", "class_max", NULL};
    tg__fields in = {body, ""};
    const char *name = NULL, *role = NULL, *scope = NULL, *class_text = NULL;
    if (!tg__fields_only(&in, allowed) ||
        !tg__field_text(&in, "name", &name, TG_API_KEY_NAME_SIZE_MAX) ||
        !tg__field_text(&in, "role", &role, TG_API_KEY_ROLE_SIZE_MAX) ||
        !tg__field_text(&in, "scope", &scope, TG_PATH_SIZE_MAX) ||
        !tg__field_text(&in, "class_max", &class_text, 16)) {
        return tg__api_bad_field(&in);
    }
    if (name == NULL || role == NULL) {
        return tg__api_error(400, "missing_field", "'name' and 'role' are required");
    }
    tg_api_key key;
    memset(&key, 0, sizeof key);
    tg__role parsed;
    if (!tg__role_parse(role, &parsed)) {
        return tg__api_error(400, "invalid_field", "'role' is admin, agent, read or metrics");
    }
    key.class_max = tg__role_class_max(parsed);
    if (class_text != NULL &&
        (tg_class_parse(class_text, &key.class_max) != TG_OK || key.class_max == TG_CLASS_AUTO)) {
        return tg__api_error(400, "invalid_field", "'class_max' is low, normal, high or critical");
    }
    tg__reply clash = not_ours(daemon, name);
    if (clash.status != 0) {
        return clash;
    }
    snprintf(key.name, sizeof key.name, "%s", name);
    snprintf(key.role, sizeof key.role, "%s", role);
    snprintf(key.scope, sizeof key.scope, "%s", scope != NULL ? scope : "");
    return store_with_secret(daemon, &key, false, now_ms);
}

typedef struct {
    const char *name;
    tg_api_key found;
    bool seen;
} find_walk;

static bool find_one(void *user, const tg_api_key *key) {
    find_walk *walk = user;
    if (strcmp(key->name, walk->name) == 0) {
        walk->found = *key;
        walk->seen = true;
        return false;
    }
    return true;
}

/* DELETE /v1/keys/NAME, POST /v1/keys/NAME/rotate. */
static tg__reply change_key(tg__daemon *daemon, const char *method, const char *name, bool rotate,
                            int64_t now_ms) {
    if (strcmp(method, rotate ? "POST" : "DELETE") != 0) {
        return tg__api_error(405, "method_not_allowed",
                             rotate ? "rotate is a POST" : "a key is revoked with DELETE");
    }
    tg__reply clash = not_ours(daemon, name);
    if (clash.status != 0) {
        return clash;
    }
    find_walk walk;
    memset(&walk, 0, sizeof walk);
    walk.name = name;
    tg_api_key_list(daemon->engine, find_one, &walk, NULL);
    if (!walk.seen) {
        return tg__api_error(404, "not_found", "no key of that name (GET /v1/keys lists them)");
    }
    if (rotate) {
        return store_with_secret(daemon, &walk.found, true, now_ms);
    }
    tg_error err = {0};
    tg_status status = tg_api_key_delete(daemon->engine, name, now_ms, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    tg__daemon_keys_changed(daemon);
    return tg__api_ok(json_pack("{s:b,s:s}", "revoked", 1, "name", name));
}

static tg__reply reload(tg__daemon *daemon) {
    tg__apply_summary summary = {0, 0};
    tg_error err = {0};
    tg_status status = tg__daemon_reload(daemon, &summary, &err);
    if (status == TG_OK) {
        return tg__api_ok(json_pack("{s:b,s:s,s:i,s:i,s:i}", "applied", 1, "file",
                                    daemon->config_file, "budgets_changed", summary.budgets_changed,
                                    "budgets_kept", summary.budgets_kept, "keys",
                                    tg__keyring_count(daemon->keyring)));
    }
    bool file = status == TG_ERR_INVALID || status == TG_ERR_TZ || status == TG_ERR_FULL ||
                status == TG_ERR_NOT_FOUND;
    tg__reply reply = file ? tg__api_error(422, "config_invalid", err.message)
                           : tg__api_from_status(status, &err);
    json_object_set_new(reply.body, "applied", json_false());
    return reply;
}

tg__reply tg__api_admin_route(tg__daemon *daemon, const tg__caller *caller, const char *method,
                              const char *path, json_t *body, int64_t now_ms, bool *handled) {
    bool keys = strcmp(path, "/v1/keys") == 0;
    bool one_key = strncmp(path, "/v1/keys/", 9) == 0 && path[9] != '\0';
    *handled = keys || one_key || strcmp(path, "/v1/admin/reload") == 0;
    if (!*handled) {
        return (tg__reply){0, NULL, TG_NONE};
    }
    if (caller->role != TG__ROLE_ADMIN) {
        return tg__api_forbidden("only an admin key may manage keys or reload the config");
    }
    if (keys) {
        return strcmp(method, "GET") == 0 ? list_keys(daemon)
               : strcmp(method, "POST") == 0
                   ? create_key(daemon, body, now_ms)
                   : tg__api_error(405, "method_not_allowed", "GET lists keys, POST makes one");
    }
    if (one_key) {
        char name[TG_API_KEY_NAME_SIZE_MAX + 16];
        snprintf(name, sizeof name, "%s", path + 9);
        char *slash = strchr(name, '/');
        bool rotate = slash != NULL && strcmp(slash, "/rotate") == 0;
        if (slash != NULL && !rotate) {
            return tg__api_error(404, "no_route", "no such route; see docs/api.md");
        }
        if (slash != NULL) {
            *slash = '\0';
        }
        return change_key(daemon, method, name, rotate, now_ms);
    }
    if (strcmp(method, "POST") != 0) {
        return tg__api_error(405, "method_not_allowed", "reload is a POST");
    }
    return reload(daemon);
}
