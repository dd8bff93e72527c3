/*
 * auth: who is calling. A request's bearer secret is found (hashed, unless
 * recently seen) in the keyring (config keys, ledger keys, TOLLGATE_ADMIN_KEY); the caller gets a
 * copy of what the key allows (role, scope, highest class) and its own space
 * of idempotency keys. The API, the event stream, the proxy and MCP over HTTP
 * all authenticate here, so a key revoked or rotated stops working for all of
 * them at once.
 */
#include <stdio.h>
#include <string.h>

#include "api/events_stream.h"
#include "config/keyring.h"

const tg__key *tg__daemon_key_find(const tg__daemon *daemon, const char *secret) {
    return tg__keyring_find_secret(daemon->keyring, secret); /* hashed unless cached */
}

bool tg__authenticate(const tg__daemon *daemon, const char *authorization, tg__caller *out) {
    if (authorization == NULL || strncmp(authorization, "Bearer ", 7) != 0) {
        return false;
    }
    const tg__key *key = tg__daemon_key_find(daemon, authorization + 7);
    if (key == NULL) {
        return false;
    }
    memset(out, 0, sizeof *out);
    out->role = key->role;
    snprintf(out->scope, sizeof out->scope, "%s", key->scope);
    out->class_max = key->class_max;
    snprintf(out->name, sizeof out->name, "%s", key->name);
    memcpy(out->sha256, key->sha256, TG__SHA256_SIZE);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out->key_id[2 * i] = digits[key->sha256[i] >> 4];
        out->key_id[2 * i + 1] = digits[key->sha256[i] & 15];
    }
    out->key_id[16] = '\0';
    return true;
}

void tg__daemon_keys_changed(tg__daemon *daemon) {
    tg__keyring *fresh = tg__keyring_build(daemon->config, daemon->admin_secret, daemon->engine);
    if (fresh == NULL) {
        /* Keeping the old ring would keep a revoked key working: accept none instead. */
        fprintf(stderr, "tollgate: out of memory rebuilding the keys: every key is refused "
                        "until the next reload\n");
    }
    tg__keyring_free(daemon->keyring);
    daemon->keyring = fresh;
    tg__streams_keys_changed(daemon->streams);
}

tg_class tg__caller_class(const tg__daemon *daemon, const tg__caller *caller, const char *budget,
                          const char *tool, const char *model) {
    tg_class cls = tg_policy_classify(daemon->engine, budget, tool, model);
    /* AUTO when the policy's class is within reach, so that the engine decides (and an
     * idempotent retry hashes the same) exactly as before keys had a highest class. */
    return cls > caller->class_max ? caller->class_max : TG_CLASS_AUTO;
}
