/*
 * fuzz_redis_url: the daemon's `store.url` (src/store/redis_url.c). Whatever parses has a
 * non-empty host without spaces and a port 1..65535 (or, from redis-sentinel://, no host and
 * 1..8 such sentinels with a master's name) and a database 0..15; whatever is refused
 * says why and leaves the output untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "store/redis_url.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > TG__REDIS_URL_SIZE_MAX + 8) {
        return 0;
    }
    char text[TG__REDIS_URL_SIZE_MAX + 9];
    memcpy(text, data, size);
    text[size] = '\0';
    tg__redis_url url;
    memset(&url, 0x5a, sizeof url);
    tg__redis_url before = url;
    tg_error err = {0};
    if (tg__redis_url_parse(text, &url, &err) == TG_OK) {
        if (url.sentinels.count == 0) {
            FUZZ_CHECK(url.host[0] != '\0' && strchr(url.host, ' ') == NULL);
            FUZZ_CHECK(url.port >= 1 && url.port <= 65535);
            FUZZ_CHECK(url.sentinels.master[0] == '\0');
        } else {
            FUZZ_CHECK(url.host[0] == '\0' && url.port == 0);
            FUZZ_CHECK(url.sentinels.count <= TG__REDIS_SENTINELS_MAX);
            FUZZ_CHECK(!url.tls); /* no TLS to sentinels */
            FUZZ_CHECK(url.sentinels.master[0] != '\0' &&
                       strchr(url.sentinels.master, ' ') == NULL);
            for (int i = 0; i < url.sentinels.count; i++) {
                const tg__redis_address *node = &url.sentinels.nodes[i];
                FUZZ_CHECK(node->host[0] != '\0' && strchr(node->host, ' ') == NULL);
                FUZZ_CHECK(node->port >= 1 && node->port <= 65535);
            }
        }
        FUZZ_CHECK(url.db >= 0 && url.db <= TG__REDIS_URL_DB_MAX);
        FUZZ_CHECK(memchr(url.user, '\0', sizeof url.user) != NULL);
        FUZZ_CHECK(memchr(url.password, '\0', sizeof url.password) != NULL);
    } else {
        FUZZ_CHECK(err.status == TG_ERR_INVALID && err.message[0] != '\0');
        FUZZ_CHECK(memcmp(&url, &before, sizeof url) == 0);
    }
    return 0;
}
