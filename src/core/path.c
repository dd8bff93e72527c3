/*
 * path: validation of budget paths, glob matching for policy rules, and the
 * small error helper every module uses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/path.h"

tg_status tg__fail(tg_error *err, tg_status status, const char *format, ...) {
    if (err != NULL) {
        err->status = status;
        va_list args;
        va_start(args, format);
        vsnprintf(err->message, sizeof err->message, format, args);
        va_end(args);
    }
    return status;
}

bool tg__copy_name(char *dst, size_t size, const char *src) {
    if (src == NULL) {
        src = "";
    }
    size_t len = strlen(src);
    if (len >= size) {
        return false;
    }
    memcpy(dst, src, len + 1);
    return true;
}

static bool segment_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

tg_status tg__path_check(const char *path, tg_error *err) {
    if (path == NULL || path[0] == '\0') {
        return tg__fail(err, TG_ERR_INVALID, "budget path is empty");
    }
    size_t len = strnlen(path, TG_PATH_SIZE_MAX);
    if (len >= TG_PATH_SIZE_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "budget path is longer than %d bytes",
                        TG_PATH_SIZE_MAX - 1);
    }
    int depth = 1;
    size_t segment = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = path[i];
        if (c == '/' || c == '\0') {
            /* "." and ".." name no budget of their own: in a URL they would walk the tree. */
            if ((segment == 1 && path[i - 1] == '.') ||
                (segment == 2 && path[i - 1] == '.' && path[i - 2] == '.')) {
                return tg__fail(err, TG_ERR_INVALID, "budget path '%.*s' has a '.' or '..' segment",
                                (int)len, path);
            }
            if (segment == 0) {
                return tg__fail(err, TG_ERR_INVALID,
                                "budget path '%.*s' has an empty segment (leading, trailing "
                                "or double '/')",
                                (int)len, path);
            }
            if (segment >= TG_SEGMENT_SIZE_MAX) {
                return tg__fail(err, TG_ERR_INVALID,
                                "a segment of budget path '%.*s' is longer than %d bytes", (int)len,
                                path, TG_SEGMENT_SIZE_MAX - 1);
            }
            if (c == '/' && ++depth > TG_PATH_DEPTH_MAX) {
                return tg__fail(err, TG_ERR_INVALID, "budget path is deeper than %d levels",
                                TG_PATH_DEPTH_MAX);
            }
            segment = 0;
            continue;
        }
        if (!segment_char_ok(c)) {
            return tg__fail(err, TG_ERR_INVALID,
                            "budget path '%.*s' has a character outside [A-Za-z0-9._-/]", (int)len,
                            path);
        }
        segment++;
    }
    if (strstr(path, "..") != NULL) {
        return tg__fail(err, TG_ERR_INVALID, "budget path '%s' may not contain '..'", path);
    }
    return TG_OK;
}

size_t tg__path_parent_len(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash == NULL ? 0 : (size_t)(slash - path);
}

int tg__path_depth(const char *path) {
    int depth = 1;
    for (const char *p = path; *p; p++) {
        depth += *p == '/';
    }
    return depth;
}

bool tg__glob_match(const char *pattern, const char *text) {
    if (pattern == NULL || pattern[0] == '\0') {
        return true;
    }
    if (text == NULL) {
        text = "";
    }
    const char *star = NULL, *star_text = NULL;
    while (*text) {
        if (*pattern == '*') {
            star = pattern++;
            star_text = text;
        } else if (*pattern == '?' || *pattern == *text) {
            pattern++;
            text++;
        } else if (star != NULL) {
            pattern = star + 1;
            text = ++star_text;
        } else {
            return false;
        }
    }
    while (*pattern == '*') {
        pattern++;
    }
    return *pattern == '\0';
}

/*
 * YAML is Unicode text. Checked before libfyaml sees it: libfyaml 0.7.12 loops forever
 * on a directive line ("%...") holding bytes that are not UTF-8 (found by
 * fuzz_notify_config), so every YAML reader checks first. Returns the offset of the first bad byte,
 * or `size`.
 */
size_t tg__utf8_valid_prefix(const unsigned char *text, size_t size) {
    size_t i = 0;
    while (i < size) {
        unsigned char c = text[i];
        size_t length = c < 0x80                 ? 1
                        : c >= 0xc2 && c <= 0xdf ? 2
                        : (c & 0xf0) == 0xe0     ? 3
                        : c >= 0xf0 && c <= 0xf4 ? 4
                                                 : 0;
        if (length == 0 || i + length > size) {
            return i;
        }
        for (size_t k = 1; k < length; k++) {
            if ((text[i + k] & 0xc0) != 0x80) {
                return i;
            }
        }
        /* Overlong three- and four-byte forms, surrogates, and past U+10FFFF. */
        unsigned char next = length > 1 ? text[i + 1] : 0;
        if ((c == 0xe0 && next < 0xa0) || (c == 0xed && next > 0x9f) ||
            (c == 0xf0 && next < 0x90) || (c == 0xf4 && next > 0x8f)) {
            return i;
        }
        i += length;
    }
    return size;
}
