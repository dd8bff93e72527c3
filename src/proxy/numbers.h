/*
 * numbers: int64 arithmetic that saturates instead of overflowing. A bound is
 * built from counts a client controls (pages, uses, tokens, pixels); a sum or a
 * product past INT64_MAX must stay "too much", never wrap into a small hold.
 * Inputs are non-negative; a negative one is treated as 0.
 */
#ifndef TG_PROXY_NUMBERS_H
#define TG_PROXY_NUMBERS_H

#include <stdint.h>

/* a + b, or INT64_MAX when it would pass it. */
int64_t tg__sat_add(int64_t a, int64_t b);

/* a * b, or INT64_MAX when it would pass it. */
int64_t tg__sat_mul(int64_t a, int64_t b);

/* ceil(a / b) for b > 0. */
int64_t tg__div_up(int64_t a, int64_t b);

/* The smaller of a and b. */
int64_t tg__min64(int64_t a, int64_t b);

/* The larger of a and b. */
int64_t tg__max64(int64_t a, int64_t b);

#endif
