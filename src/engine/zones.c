/*
 * zones: loads /usr/share/zoneinfo/<name> once per name. Names come from
 * operators and the network, so they are checked to be plain IANA names
 * before they touch the file system: no "..", no leading '/'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "engine/zones.h"

struct tg__zones {
    char *dir;                    /* from strdup */
    tg__tz *utc;                  /* always loaded */
    tg__tz *loaded[TG_ZONES_MAX]; /* owned */
    int count;
};

tg__zones *tg__zones_new(const char *dir) {
    tg__zones *zones = calloc(1, sizeof *zones);
    if (zones == NULL) {
        return NULL;
    }
    zones->dir = strdup(dir ? dir : "/usr/share/zoneinfo");
    zones->utc = tg__tz_utc();
    if (zones->dir == NULL || zones->utc == NULL) {
        tg__zones_free(zones);
        return NULL;
    }
    return zones;
}

void tg__zones_free(tg__zones *zones) {
    if (zones == NULL) {
        return;
    }
    for (int i = 0; i < zones->count; i++) {
        tg__tz_free(zones->loaded[i]);
    }
    tg__tz_free(zones->utc);
    free(zones->dir);
    free(zones);
}

static bool name_ok(const char *name) {
    size_t len = strnlen(name, TG_TZ_NAME_SIZE_MAX);
    if (len == 0 || len >= TG_TZ_NAME_SIZE_MAX || name[0] == '/' || strstr(name, "..")) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+')) {
            return false;
        }
    }
    return true;
}

static tg_status read_file(const char *path, uint8_t **data, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return TG_ERR_TZ;
    }
    uint8_t *buf = malloc(TG_TZ_FILE_SIZE_MAX);
    if (buf == NULL) {
        fclose(f);
        return TG_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, TG_TZ_FILE_SIZE_MAX, f);
    bool too_big = n == TG_TZ_FILE_SIZE_MAX && fgetc(f) != EOF;
    fclose(f);
    if (too_big) {
        free(buf);
        return TG_ERR_TZ;
    }
    *data = buf;
    *size = n;
    return TG_OK;
}

tg_status tg__zones_get(tg__zones *zones, const char *name, const tg__tz **out, tg_error *err) {
    if (name == NULL || name[0] == '\0' || strcmp(name, "UTC") == 0) {
        *out = zones->utc;
        return TG_OK;
    }
    for (int i = 0; i < zones->count; i++) {
        if (strcmp(tg__tz_name(zones->loaded[i]), name) == 0) {
            *out = zones->loaded[i];
            return TG_OK;
        }
    }
    if (!name_ok(name)) {
        return tg__fail(err, TG_ERR_TZ, "'%.64s' is not an IANA time zone name", name);
    }
    if (zones->count >= TG_ZONES_MAX) {
        return tg__fail(err, TG_ERR_FULL, "more than %d time zones in use", TG_ZONES_MAX);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", zones->dir, name);
    uint8_t *data = NULL;
    size_t size = 0;
    tg_status status = read_file(path, &data, &size);
    tg__tz *tz = NULL;
    if (status == TG_OK) {
        status = tg__tz_parse(name, data, size, &tz);
        free(data);
    }
    if (status == TG_ERR_NOMEM) {
        return tg__fail(err, status, "out of memory loading time zone '%s'", name);
    }
    if (status != TG_OK) {
        return tg__fail(err, TG_ERR_TZ, "unknown time zone '%s' (no valid file %s)", name, path);
    }
    zones->loaded[zones->count++] = tz;
    *out = tz;
    return TG_OK;
}
