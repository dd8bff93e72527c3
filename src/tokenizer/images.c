/*
 * images: see images.h. The formulas follow the providers' published text (models.c
 * names the sources); where a rule is unclear, the choice that counts more wins, since
 * a hold should err high rather than low.
 */
#include "tokenizer/images.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate_tokens.h"

#define TILE_PIXELS 512
#define TILE_FIT_PIXELS 2048
#define TILE_SHORT_SIDE_PIXELS 768
#define TILES_MAX 8 /* 768 x 2048: 2 x 4 tiles */
#define PATCH_PIXELS 32
#define PATCHES_MAX 1536
#define CLAUDE_LONG_EDGE_PIXELS 1568
#define CLAUDE_PIXELS_PER_TOKEN 750
#define CLAUDE_UNSIZED_TOKENS 1600
/* Header bytes decoded to find a JPEG's frame header after its metadata segments. */
#define SNIFF_BYTES_MAX (192 * 1024)

static int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

/* Fit in 2048 x 2048, then bring the short side down to 768 (never up), then count
 * 512 px tiles. */
static int64_t tiles(const tg__model *model, const char *detail, uint32_t width, uint32_t height) {
    if (detail != NULL && strcmp(detail, "low") == 0) {
        return model->image_base;
    }
    if (width == 0 || height == 0) {
        return model->image_base + (int64_t)model->image_tile * TILES_MAX;
    }
    double w = width, h = height;
    double longest = w > h ? w : h;
    if (longest > TILE_FIT_PIXELS) {
        w = floor(w * TILE_FIT_PIXELS / longest);
        h = floor(h * TILE_FIT_PIXELS / longest);
    }
    double shortest = w < h ? w : h;
    if (shortest > TILE_SHORT_SIDE_PIXELS) {
        w = floor(w * TILE_SHORT_SIDE_PIXELS / shortest);
        h = floor(h * TILE_SHORT_SIDE_PIXELS / shortest);
    }
    int64_t count = ceil_div((int64_t)w, TILE_PIXELS) * ceil_div((int64_t)h, TILE_PIXELS);
    return model->image_base + (int64_t)model->image_tile * count;
}

/* 32 px patches; past 1536, scale down to fit, as the guide's worked examples do. */
static int64_t patches(const tg__model *model, uint32_t width, uint32_t height) {
    int64_t count = PATCHES_MAX;
    if (width != 0 && height != 0) {
        count = ceil_div(width, PATCH_PIXELS) * ceil_div(height, PATCH_PIXELS);
        if (count > PATCHES_MAX) {
            double w = width, h = height;
            double shrink = sqrt((double)PATCH_PIXELS * PATCH_PIXELS * PATCHES_MAX / (w * h));
            double fit_w = floor(w * shrink / PATCH_PIXELS) / (w * shrink / PATCH_PIXELS);
            double fit_h = floor(h * shrink / PATCH_PIXELS) / (h * shrink / PATCH_PIXELS);
            shrink *= fit_w < fit_h ? fit_w : fit_h;
            count = ceil_div((int64_t)(w * shrink), PATCH_PIXELS) *
                    ceil_div((int64_t)(h * shrink), PATCH_PIXELS);
            count = count > PATCHES_MAX ? PATCHES_MAX : count;
        }
    }
    return ceil_div(count * model->image_multiplier_milli, 1000);
}

static int64_t pixels(uint32_t width, uint32_t height) {
    if (width == 0 || height == 0) {
        return CLAUDE_UNSIZED_TOKENS;
    }
    double w = width, h = height;
    double longest = w > h ? w : h;
    if (longest > CLAUDE_LONG_EDGE_PIXELS) {
        w = floor(w * CLAUDE_LONG_EDGE_PIXELS / longest);
        h = floor(h * CLAUDE_LONG_EDGE_PIXELS / longest);
    }
    return ceil_div((int64_t)(w * h), CLAUDE_PIXELS_PER_TOKEN);
}

int64_t tg__image_tokens(const tg__model *model, const char *detail, uint32_t width,
                         uint32_t height) {
    switch (model->image) {
    case TG__IMAGE_TILES:
        return tiles(model, detail, width, height);
    case TG__IMAGE_PATCHES:
        return patches(model, width, height);
    case TG__IMAGE_PIXELS:
        return pixels(width, height);
    }
    return tiles(model, detail, width, height);
}

int64_t tg_tokens_image(const char *model, const char *detail, uint32_t width, uint32_t height) {
    bool known;
    return tg__image_tokens(tg__model_find(model, &known), detail, width, height);
}

int tg__base64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+' || c == '-') {
        return 62;
    }
    if (c == '/' || c == '_') {
        return 63;
    }
    return -1;
}

/* Decodes base64 text into out (room for out_max); stops at '=' or the first byte that
 * is not base64. Returns the bytes written. */
static size_t base64_decode(const char *text, size_t len, uint8_t *out, size_t out_max) {
    size_t written = 0;
    uint32_t bits = 0;
    int have = 0;
    for (size_t i = 0; i < len && written < out_max; i++) {
        int v = tg__base64_value((unsigned char)text[i]);
        if (v < 0) {
            if (text[i] == '\n' || text[i] == '\r') {
                continue;
            }
            break;
        }
        bits = bits << 6 | (uint32_t)v;
        have += 6;
        if (have >= 8) {
            have -= 8;
            out[written++] = (uint8_t)(bits >> have);
        }
    }
    return written;
}

static uint32_t be16(const uint8_t *p) {
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le16(const uint8_t *p) {
    return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le24(const uint8_t *p) {
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Walks JPEG segments to the first start-of-frame marker. */
static bool jpeg_size(const uint8_t *b, size_t n, uint32_t *w, uint32_t *h) {
    size_t i = 2;
    while (i + 9 < n) {
        if (b[i] != 0xFF) {
            return false;
        }
        uint8_t marker = b[i + 1];
        if (marker == 0xFF) {
            i++;
            continue;
        }
        bool frame =
            marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (frame) {
            *h = be16(b + i + 5);
            *w = be16(b + i + 7);
            return *w != 0 && *h != 0;
        }
        i += 2 + be16(b + i + 2);
    }
    return false;
}

static bool header_size(const uint8_t *b, size_t n, uint32_t *w, uint32_t *h) {
    if (n >= 24 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
        *w = be32(b + 16), *h = be32(b + 20);
        return *w != 0 && *h != 0;
    }
    if (n >= 10 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) {
        *w = le16(b + 6), *h = le16(b + 8);
        return *w != 0 && *h != 0;
    }
    if (n >= 30 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) {
        if (memcmp(b + 12, "VP8X", 4) == 0) {
            *w = le24(b + 24) + 1, *h = le24(b + 27) + 1;
            return true;
        }
        if (memcmp(b + 12, "VP8L", 4) == 0) {
            uint32_t bits = (uint32_t)b[21] | (uint32_t)b[22] << 8 | (uint32_t)b[23] << 16 |
                            (uint32_t)b[24] << 24;
            *w = (bits & 0x3FFF) + 1, *h = ((bits >> 14) & 0x3FFF) + 1;
            return true;
        }
        if (memcmp(b + 12, "VP8 ", 4) == 0) {
            *w = le16(b + 26) & 0x3FFF, *h = le16(b + 28) & 0x3FFF;
            return *w != 0 && *h != 0;
        }
        return false;
    }
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8) {
        return jpeg_size(b, n, w, h);
    }
    return false;
}

bool tg__image_size(const char *url, size_t len, uint32_t *width_out, uint32_t *height_out) {
    const char *data = url;
    if (len >= 5 && strncmp(url, "data:", 5) == 0) {
        const char *comma = memchr(url, ',', len);
        if (comma == NULL) {
            return false;
        }
        data = comma + 1;
    } else if (len >= 4 && (strncmp(url, "http", 4) == 0 || strncmp(url, "file", 4) == 0)) {
        return false;
    }
    uint8_t *header = malloc(SNIFF_BYTES_MAX);
    if (header == NULL) {
        return false; /* counted as unsized: the most the model bills */
    }
    size_t n = base64_decode(data, len - (size_t)(data - url), header, SNIFF_BYTES_MAX);
    bool found = header_size(header, n, width_out, height_out);
    free(header);
    return found;
}
