/*
 * attribution: the budget, user and tags of a proxied call (attribution.h). The one
 * promise is that an agent's key never reaches a budget outside its scope, whatever it
 * sends: every path is checked by the ledger's own path rules first (so "..", ".",
 * empty segments, '%' escapes and over-long paths never get as far as the comparison),
 * and then must equal the scope or continue it at a '/'.
 */
#include <stdio.h>
#include <string.h>

#include "core/path.h"
#include "proxy/attribution.h"

/* True when path is scope or lies under it: "a/b" is under "a", "ab" is not. */
static bool within(const char *scope, const char *path) {
    size_t length = strlen(scope);
    return length > 0 && strncmp(path, scope, length) == 0 &&
           (path[length] == '\0' || path[length] == '/');
}

tg_status tg__attribution_budget(const char *scope, const char *selected, const char *user,
                                 bool user_budgets, char *out, tg_error *err) {
    tg_error why = {0};
    if (scope == NULL || tg__path_check(scope, &why) != TG_OK) {
        return tg__fail(err, TG_ERR_STATE, "this key has no scope to charge calls to");
    }
    if (selected != NULL) {
        if (tg__path_check(selected, &why) != TG_OK) {
            return tg__fail(err, TG_ERR_INVALID, "x-tollgate-budget: %s", why.message);
        }
        if (!within(scope, selected)) {
            return tg__fail(err, TG_ERR_STATE,
                            "x-tollgate-budget: '%s' is outside this key's scope '%s'; a key "
                            "may only name its scope or a budget under it",
                            selected, scope);
        }
        snprintf(out, TG_PATH_SIZE_MAX, "%s", selected);
        return TG_OK;
    }
    if (user_budgets && user != NULL && user[0] != '\0') {
        char path[TG_PATH_SIZE_MAX];
        bool one_segment = strchr(user, '/') == NULL;
        int length = snprintf(path, sizeof path, "%s/%s", scope, user);
        if (!one_segment || length < 0 || (size_t)length >= sizeof path ||
            tg__path_check(path, &why) != TG_OK) {
            return tg__fail(err, TG_ERR_INVALID,
                            "the request's user '%.64s' cannot name a budget (proxy.user_budgets "
                            "is on): it must be 1 to %d bytes of [A-Za-z0-9._-], not '.' or '..', "
                            "and fit under the scope",
                            user, TG_SEGMENT_SIZE_MAX - 1);
        }
        memcpy(out, path, (size_t)length + 1);
        return TG_OK;
    }
    snprintf(out, TG_PATH_SIZE_MAX, "%s", scope);
    return TG_OK;
}

static bool tag_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':' || c == '/';
}

/* True when tag (length bytes) is already in the joined list. */
static bool listed(const char *joined, const char *tag, size_t length) {
    for (const char *at = joined; *at != '\0';) {
        size_t item = strcspn(at, ",");
        if (item == length && memcmp(at, tag, length) == 0) {
            return true;
        }
        at += item + (at[item] == ',');
    }
    return false;
}

tg_status tg__attribution_tags(const char *header, char *out, size_t size, int *count_out,
                               tg_error *err) {
    char joined[TG__TAGS_SIZE_MAX] = "";
    size_t used = 0;
    int count = 0;
    for (const char *at = header != NULL ? header : ""; *at != '\0';) {
        size_t length = strcspn(at, ",");
        const char *tag = at;
        at += length + (at[length] == ',');
        while (length > 0 && (*tag == ' ' || *tag == '\t')) {
            tag++;
            length--;
        }
        while (length > 0 && (tag[length - 1] == ' ' || tag[length - 1] == '\t')) {
            length--;
        }
        if (length == 0) {
            continue; /* "a,,b" and a trailing comma name no tag */
        }
        if (length >= TG__TAG_SIZE_MAX) {
            return tg__fail(err, TG_ERR_INVALID, "x-tollgate-tags: a tag is longer than %d bytes",
                            TG__TAG_SIZE_MAX - 1);
        }
        for (size_t i = 0; i < length; i++) {
            if (!tag_char(tag[i])) {
                return tg__fail(err, TG_ERR_INVALID,
                                "x-tollgate-tags: tag '%.*s' has a character outside "
                                "[A-Za-z0-9._:/-]",
                                (int)length, tag);
            }
        }
        if (listed(joined, tag, length)) {
            continue;
        }
        if (++count > TG__TAGS_MAX) {
            return tg__fail(err, TG_ERR_INVALID, "x-tollgate-tags: more than %d tags",
                            TG__TAGS_MAX);
        }
        if (used > 0) {
            joined[used++] = ',';
        }
        memcpy(joined + used, tag, length);
        used += length;
        joined[used] = '\0';
    }
    if (used >= size) {
        return tg__fail(err, TG_ERR_INVALID, "x-tollgate-tags: too long");
    }
    memcpy(out, joined, used + 1);
    if (count_out != NULL) {
        *count_out = count;
    }
    return TG_OK;
}

tg_status tg__attribution_user(tg__route route, const json_t *body, char *out, tg_error *err) {
    (void)err;
    const json_t *user = route == TG__ROUTE_ANTHROPIC_MESSAGES
                             ? json_object_get(json_object_get(body, "metadata"), "user_id")
                             : json_object_get(body, "user");
    out[0] = '\0';
    /* The provider checks its own field: what is not a string is not logged as a user. */
    if (!json_is_string(user)) {
        return TG_OK;
    }
    const char *text = json_string_value(user);
    size_t length = strnlen(text, json_string_length(user));
    if (length >= TG__USER_SIZE_MAX) {
        length = TG__USER_SIZE_MAX - 1;
        while (length > 0 && ((unsigned char)text[length] & 0xC0) == 0x80) {
            length--; /* cut before a UTF-8 continuation byte, never inside a character */
        }
    }
    memcpy(out, text, length);
    out[length] = '\0';
    return TG_OK;
}
