/*
 * redis_url: parses redis://[[user]:password@]host[:port][/db] (redis_url.h). Every part is
 * bounded and checked here, so a bad `store.url` is one clear config error at start instead
 * of a connection failing later with hiredis's message.
 */
#include <stdio.h>
#include <string.h>

#include "core/hex.h"
#include "core/path.h"
#include "store/redis_url.h"

/* Copies text[0..len) into out[size], decoding %XX. False when too long, a bad escape, or
 * an escape decoding to NUL (which would cut the secret short without saying so). */
static bool decode_part(const char *text, size_t len, char *out, size_t size) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= len) {
                return false;
            }
            int h = tg__hex_value(text[i + 1]);
            int l = tg__hex_value(text[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                return false;
            }
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (n + 1 >= size) {
            return false;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

/* Digits only, value in [min, max]. */
static bool parse_number(const char *text, size_t len, int min, int max, int *out) {
    if (len == 0 || len > 5) {
        return false;
    }
    int value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    if (value < min || value > max) {
        return false;
    }
    *out = value;
    return true;
}

/* host[:port] or [v6][:port] into url. */
static tg_status parse_address(const char *text, size_t len, tg__redis_url *url, tg_error *err) {
    const char *host = text;
    size_t host_len;
    const char *rest;
    if (len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (close == NULL) {
            return tg__fail(err, TG_ERR_INVALID, "store.url: an IPv6 host needs its ']'");
        }
        host = text + 1;
        host_len = (size_t)(close - host);
        rest = close + 1;
    } else {
        const char *colon = memchr(text, ':', len);
        host_len = colon ? (size_t)(colon - text) : len;
        rest = text + host_len;
    }
    size_t rest_len = len - (size_t)(rest - text);
    if (host_len == 0 || host_len >= sizeof url->host) {
        return tg__fail(err, TG_ERR_INVALID, "store.url: the host must be 1 to %d bytes",
                        TG__REDIS_URL_HOST_SIZE_MAX - 1);
    }
    for (size_t i = 0; i < host_len; i++) {
        char c = host[i];
        if (c <= ' ' || c == '/' || c == '@' || c == '?' || c == '#' || c == '[' || c == ']' ||
            (c == ':' && text[0] != '[') || (unsigned char)c >= 0x7f) {
            return tg__fail(err, TG_ERR_INVALID,
                            "store.url: the host has a character not "
                            "allowed in a host name");
        }
    }
    if (rest_len > 0) {
        if (rest[0] != ':' || !parse_number(rest + 1, rest_len - 1, 1, 65535, &url->port)) {
            return tg__fail(err, TG_ERR_INVALID, "store.url: the port must be 1..65535");
        }
    }
    memcpy(url->host, host, host_len);
    url->host[host_len] = '\0';
    return TG_OK;
}

/* [user]:password before the '@'. A part without ':' is a password alone, as redis-cli -u
 * reads it. */
static tg_status parse_credentials(const char *text, size_t len, tg__redis_url *url,
                                   tg_error *err) {
    const char *colon = memchr(text, ':', len);
    const char *secret = colon ? colon + 1 : text;
    size_t user_len = colon ? (size_t)(colon - text) : 0;
    size_t secret_len = len - (size_t)(secret - text);
    if (!decode_part(text, user_len, url->user, sizeof url->user)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "store.url: the user must be under %d bytes, with %%XX escapes only "
                        "of non-zero bytes",
                        TG__REDIS_URL_USER_SIZE_MAX);
    }
    if (secret_len == 0 || !decode_part(secret, secret_len, url->password, sizeof url->password)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "store.url: the password must be 1 to %d bytes, with %%XX escapes only "
                        "of non-zero bytes",
                        TG__REDIS_URL_SECRET_SIZE_MAX - 1);
    }
    return TG_OK;
}

tg_status tg__redis_url_parse(const char *text, tg__redis_url *out, tg_error *err) {
    static const char scheme[] = "redis://";
    if (text == NULL || strnlen(text, TG__REDIS_URL_SIZE_MAX) >= TG__REDIS_URL_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "store.url must be under %d bytes",
                        TG__REDIS_URL_SIZE_MAX);
    }
    if (strncmp(text, "rediss://", 9) == 0) {
        return tg__fail(err, TG_ERR_INVALID,
                        "store.url: rediss:// (TLS) is not supported: this build's hiredis has "
                        "no TLS (docs/multi-node.md)");
    }
    if (strncmp(text, scheme, sizeof scheme - 1) != 0) {
        return tg__fail(err, TG_ERR_INVALID,
                        "store.url must start with redis:// "
                        "(redis://[[user]:password@]host[:port][/db])");
    }
    tg__redis_url url = {.port = 6379};
    const char *start = text + sizeof scheme - 1;
    const char *slash = strchr(start, '/');
    size_t authority_len = slash ? (size_t)(slash - start) : strlen(start);
    /* The last '@' ends the credentials: a password may hold an unescaped '@'. */
    const char *at = NULL;
    for (size_t i = 0; i < authority_len; i++) {
        if (start[i] == '@') {
            at = start + i;
        }
    }
    tg_status status = TG_OK;
    if (at != NULL) {
        status = parse_credentials(start, (size_t)(at - start), &url, err);
    }
    const char *address = at ? at + 1 : start;
    if (status == TG_OK) {
        status = parse_address(address, authority_len - (size_t)(address - start), &url, err);
    }
    if (status == TG_OK && slash != NULL && slash[1] != '\0' &&
        !parse_number(slash + 1, strlen(slash + 1), 0, TG__REDIS_URL_DB_MAX, &url.db)) {
        status = tg__fail(err, TG_ERR_INVALID, "store.url: the database after '/' must be 0..%d",
                          TG__REDIS_URL_DB_MAX);
    }
    if (status == TG_OK) {
        *out = url;
    }
    return status;
}
