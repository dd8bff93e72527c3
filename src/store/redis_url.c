/*
 * redis_url: parses redis://[[user]:password@]host[:port][/db] and
 * redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master (redis_url.h). Every
 * part is bounded and checked here, so a bad `store.url` is one clear config error at start instead
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

/* host[:port] or [v6][:port] into out (its port left as it is when none is given). */
static tg_status parse_address(const char *text, size_t len, tg__redis_address *out,
                               tg_error *err) {
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
    if (host_len == 0 || host_len >= sizeof out->host) {
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
        if (rest[0] != ':' || !parse_number(rest + 1, rest_len - 1, 1, 65535, &out->port)) {
            return tg__fail(err, TG_ERR_INVALID, "store.url: the port must be 1..65535");
        }
    }
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    return TG_OK;
}

/* The comma-separated sentinels of a redis-sentinel:// URL, each named once (a repeat
 * would count one sentinel twice toward nothing and is most likely a typo). */
static tg_status parse_sentinels(const char *text, size_t len, tg__redis_sentinels *out,
                                 tg_error *err) {
    const char *end = text + len;
    while (text <= end) {
        const char *comma = memchr(text, ',', (size_t)(end - text));
        const char *stop = comma ? comma : end;
        if (out->count == TG__REDIS_SENTINELS_MAX) {
            return tg__fail(err, TG_ERR_INVALID, "store.url: at most %d sentinels",
                            TG__REDIS_SENTINELS_MAX);
        }
        tg__redis_address *node = &out->nodes[out->count];
        node->port = TG__REDIS_SENTINEL_PORT;
        tg_status status = parse_address(text, (size_t)(stop - text), node, err);
        if (status != TG_OK) {
            return status;
        }
        for (int i = 0; i < out->count; i++) {
            if (out->nodes[i].port == node->port && strcmp(out->nodes[i].host, node->host) == 0) {
                return tg__fail(err, TG_ERR_INVALID, "store.url: sentinel %s:%d is named twice",
                                node->host, node->port);
            }
        }
        out->count++;
        if (comma == NULL) {
            break;
        }
        text = comma + 1;
    }
    return TG_OK;
}

/* The master's name after '#': what `sentinel monitor NAME` calls it. */
static tg_status parse_master(const char *text, tg__redis_sentinels *out, tg_error *err) {
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof out->master) {
        return tg__fail(err, TG_ERR_INVALID,
                        "store.url: redis-sentinel:// needs the master's name after '#', 1 to "
                        "%d bytes",
                        TG__REDIS_MASTER_SIZE_MAX - 1);
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] <= ' ' || (unsigned char)text[i] >= 0x7f) {
            return tg__fail(err, TG_ERR_INVALID,
                            "store.url: the master's name has a space or a byte outside ASCII");
        }
    }
    memcpy(out->master, text, len + 1);
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
    static const char plain[] = "redis://";
    static const char sentinel[] = "redis-sentinel://";
    if (text == NULL || strnlen(text, TG__REDIS_URL_SIZE_MAX) >= TG__REDIS_URL_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "store.url must be under %d bytes",
                        TG__REDIS_URL_SIZE_MAX);
    }
    if (strncmp(text, "rediss-sentinel://", 18) == 0) {
        return tg__fail(err, TG_ERR_INVALID,
                        "store.url: rediss-sentinel:// is not supported: TLS goes to one server "
                        "(rediss://), not to sentinels (docs/multi-node.md)");
    }
    bool tls = strncmp(text, "rediss://", 9) == 0;
    bool sentinels = strncmp(text, sentinel, sizeof sentinel - 1) == 0;
    if (!sentinels && !tls && strncmp(text, plain, sizeof plain - 1) != 0) {
        return tg__fail(err, TG_ERR_INVALID,
                        "store.url must start with redis:// or rediss:// (TLS) "
                        "(redis://[[user]:password@]host[:port][/db]) or redis-sentinel:// "
                        "(redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]"
                        "#master)");
    }
    tg__redis_url url = {.port = 6379, .tls = tls};
    const char *start = text + (sentinels ? sizeof sentinel : sizeof plain + (tls ? 1 : 0)) - 1;
    /* The master's name ends a sentinel URL, after its last '#' (a password may hold one).
     * A plain URL has no fragment: a '#' there is the password's or a bad host. */
    char rest[TG__REDIS_URL_SIZE_MAX];
    snprintf(rest, sizeof rest, "%s", start);
    char *hash = sentinels ? strrchr(rest, '#') : NULL;
    tg_status status = TG_OK;
    if (sentinels) {
        if (hash == NULL) {
            return tg__fail(err, TG_ERR_INVALID,
                            "store.url: redis-sentinel:// needs '#master', the name the "
                            "sentinels monitor");
        }
        *hash = '\0';
        status = parse_master(hash + 1, &url.sentinels, err);
    }
    const char *slash = strchr(rest, '/');
    size_t authority_len = slash ? (size_t)(slash - rest) : strlen(rest);
    /* The last '@' ends the credentials: a password may hold an unescaped '@'. */
    const char *at = NULL;
    for (size_t i = 0; i < authority_len; i++) {
        if (rest[i] == '@') {
            at = rest + i;
        }
    }
    if (status == TG_OK && at != NULL) {
        status = parse_credentials(rest, (size_t)(at - rest), &url, err);
    }
    const char *address = at ? at + 1 : rest;
    size_t address_len = authority_len - (size_t)(address - rest);
    if (status == TG_OK && sentinels) {
        status = parse_sentinels(address, address_len, &url.sentinels, err);
        url.host[0] = '\0';
        url.port = 0;
    } else if (status == TG_OK) {
        tg__redis_address primary = {.port = 6379};
        status = parse_address(address, address_len, &primary, err);
        memcpy(url.host, primary.host, sizeof url.host);
        url.port = primary.port;
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
