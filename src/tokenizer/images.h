/*
 * images: image tokens by the billing formulas of models.h, and the pixel size of
 * an image sent inline (a data: URL or raw base64) read from its header, since a
 * request carries no size. PNG, JPEG, GIF and WebP are understood.
 */
#ifndef TG_TOKENIZER_IMAGES_H
#define TG_TOKENIZER_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/models.h"

/* Tokens for one image; width or height 0 means unknown (the most the model bills). */
int64_t tg__image_tokens(const tg__model *model, const char *detail, uint32_t width,
                         uint32_t height);

/* Size of the image in a data: URL ("data:image/png;base64,...") or bare base64;
 * false when it is a remote URL or the header cannot be read. */
bool tg__image_size(const char *url, size_t len, uint32_t *width_out, uint32_t *height_out);

/* The value of one base64 digit (standard or URL-safe alphabet), -1 for any other byte.
 * Shared with the proxy's PDF reader (src/proxy/pdf.c). */
int tg__base64_value(unsigned char c);

#endif
