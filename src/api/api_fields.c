/*
 * api_fields: reading request fields with their types checked and unknown fields
 * refused, and the shared reply builders (errors, refusals of access).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "api/api.h"

tg__reply tg__api_error(int status, const char *code, const char *message) {
    tg__reply reply = {status, NULL, TG_NONE};
    /* A message may quote the client's bytes (a path): JSON text must be UTF-8, so what is
     * not is shown as '?' rather than leaving the reply without a body (found by fuzz_api). */
    char shown[TG_ERROR_MESSAGE_SIZE];
    size_t length = strlen(message) < sizeof shown - 1 ? strlen(message) : sizeof shown - 1;
    memcpy(shown, message, length);
    shown[length] = '\0';
    for (size_t at = 0; at < length;) {
        at += tg__utf8_valid_prefix((const unsigned char *)shown + at, length - at);
        if (at < length) {
            shown[at++] = '?';
        }
    }
    reply.body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", shown);
    return reply;
}

tg__reply tg__api_ok(json_t *body) {
    return (tg__reply){200, body, TG_NONE};
}

tg__reply tg__api_from_status(tg_status status, const tg_error *err) {
    switch (status) {
    case TG_ERR_NOT_FOUND:
        return tg__api_error(404, "not_found", err->message);
    case TG_ERR_EXISTS:
    case TG_ERR_CONFLICT:
        return tg__api_error(409, status == TG_ERR_EXISTS ? "exists" : "idempotency_conflict",
                             err->message);
    case TG_ERR_STATE:
        return tg__api_error(409, "state", err->message);
    case TG_ERR_FULL:
        /* A parent at its bound of children made from its template is not the daemon
         * short of room: a retry will not help, an admin raising children_max will. */
        if (strstr(err->message, "(children_max)") != NULL) {
            return tg__api_error(409, "children_max", err->message);
        }
        return tg__api_error(503, "full", err->message);
    case TG_ERR_IO:
    case TG_ERR_CORRUPT:
    case TG_ERR_NOMEM:
        return tg__api_error(503, "store_unavailable", err->message);
    case TG_ERR_UNSUPPORTED:
        return tg__api_error(501, "unsupported", err->message);
    default:
        return tg__api_error(400, status == TG_ERR_TZ ? "bad_timezone" : "invalid", err->message);
    }
}

/* ---- Field reading: every field checked for type; unknown fields refused. ---- */

bool tg__fields_only(tg__fields *in, const char *const *allowed) {
    const char *key;
    json_t *value;
    json_object_foreach(in->object, key, value) {
        bool known = false;
        for (int i = 0; allowed[i] != NULL; i++) {
            known = known || strcmp(key, allowed[i]) == 0;
        }
        if (!known) {
            snprintf(in->message, sizeof in->message, "unknown field '%s'", key);
            return false;
        }
    }
    return true;
}

/* Reads an optional string; false (with a message) on a wrong type or length. */
bool tg__field_text(tg__fields *in, const char *name, const char **out, size_t size_max) {
    json_t *value = json_object_get(in->object, name);
    if (value == NULL || json_is_null(value)) {
        return true;
    }
    if (!json_is_string(value) || json_string_length(value) >= size_max) {
        snprintf(in->message, sizeof in->message, "'%s' must be a string shorter than %zu bytes",
                 name, size_max);
        return false;
    }
    *out = json_string_value(value);
    return true;
}

bool tg__field_int(tg__fields *in, const char *name, int64_t *out, int64_t max) {
    json_t *value = json_object_get(in->object, name);
    if (value == NULL || json_is_null(value)) {
        return true;
    }
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > max) {
        snprintf(in->message, sizeof in->message, "'%s' must be an integer from 0 to %" PRId64,
                 name, max);
        return false;
    }
    *out = json_integer_value(value);
    return true;
}

bool tg__fields_one_of(tg__fields *in, const char *const *names) {
    const char *seen = NULL;
    for (int i = 0; names[i] != NULL; i++) {
        json_t *value = json_object_get(in->object, names[i]);
        if (value == NULL || json_is_null(value)) {
            continue;
        }
        if (seen != NULL) {
            /* Two spellings of one value: which one to believe is a guess, so neither is. */
            snprintf(in->message, sizeof in->message, "send '%s' or '%s', not both", seen,
                     names[i]);
            return false;
        }
        seen = names[i];
    }
    return true;
}

/* Money: `<name>_micros` as an integer, or `<name>` as a decimal string ("12.50"). */
bool tg__field_money(tg__fields *in, const char *name, int64_t *out, int64_t max) {
    char micros_name[64];
    snprintf(micros_name, sizeof micros_name, "%s_micros", name);
    const char *const spellings[] = {micros_name, name, NULL};
    if (!tg__fields_one_of(in, spellings)) {
        return false;
    }
    if (!tg__field_int(in, micros_name, out, max)) {
        return false;
    }
    const char *text = NULL;
    if (!tg__field_text(in, name, &text, 64)) {
        return false;
    }
    if (text != NULL && (tg_money_parse(text, out) != TG_OK || *out > max)) {
        snprintf(in->message, sizeof in->message, "'%s' must be a decimal amount like \"12.50\"",
                 name);
        return false;
    }
    return true;
}

bool tg__field_idempotency_key(tg__fields *in, const tg__caller *caller, char out[TG_KEY_SIZE_MAX],
                               const char **key_out) {
    const char *key = NULL;
    if (!tg__field_text(in, "idempotency_key", &key, TG__CLIENT_KEY_SIZE_MAX)) {
        return false;
    }
    if (key == NULL) {
        *key_out = NULL;
        return true;
    }
    /* The engine's keys are one space; each API key gets its own part of it. */
    snprintf(out, TG_KEY_SIZE_MAX, "%s:%s", caller->key_id, key);
    *key_out = out;
    return true;
}

bool tg__field_bool(tg__fields *in, const char *name, bool *out) {
    json_t *value = json_object_get(in->object, name);
    if (value == NULL || json_is_null(value)) {
        return true;
    }
    if (!json_is_boolean(value)) {
        snprintf(in->message, sizeof in->message, "'%s' must be true or false", name);
        return false;
    }
    *out = json_is_true(value);
    return true;
}

tg__reply tg__api_bad_field(const tg__fields *in) {
    return tg__api_error(400, "invalid_field", in->message);
}

json_t *tg__json_optional(int64_t value) {
    return value == TG_NONE ? json_null() : json_integer(value);
}

tg__reply tg__api_forbidden(const char *message) {
    return tg__api_error(403, "forbidden", message);
}

bool tg__may_touch(const tg__caller *caller, const char *budget) {
    return caller->role == TG__ROLE_ADMIN || tg__path_in_scope(caller->scope, budget);
}

const char *tg__read_subtree(const tg__caller *caller, const char *budget) {
    if (budget[0] != '\0') {
        return budget;
    }
    return caller->role == TG__ROLE_ADMIN ? "" : caller->scope;
}
