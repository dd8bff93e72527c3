/*
 * split: pre-tokenization for each encoding (see split.c). Each function returns
 * the end of the piece that starts at offset i of s[0..n), i < n; the result is
 * always > i, so a caller loops `for (i = 0; i < n; i = end)`.
 */
#ifndef TG_TOKENIZER_SPLIT_H
#define TG_TOKENIZER_SPLIT_H

#include <stddef.h>
#include <stdint.h>

size_t tg__split_cl100k(const uint8_t *s, size_t n, size_t i);
size_t tg__split_o200k(const uint8_t *s, size_t n, size_t i);

#endif
