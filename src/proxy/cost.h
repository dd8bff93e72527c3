/*
 * cost: what an LLM call costs, in integer micros, from a model's prices and the
 * call's usage. Pure arithmetic: no I/O, no clock, no floating point.
 *
 * Usage is counted the way the price source (@pydantic/genai-prices) counts it:
 * totals with parts inside them. `input` is every prompt token, cached and
 * cache-written ones included; `cache_read` is the part of it read from the cache,
 * and so on. A part is charged at its own price only when the model has one;
 * otherwise it stays in its parent and is charged at the parent's price. The sum
 * is rounded up once, to a whole micro, so the ledger never under-counts.
 */
#ifndef TG_PROXY_COST_H
#define TG_PROXY_COST_H

#include <stdbool.h>
#include <stdint.h>

#include "tollgate.h"

/* What a call is charged for. Token units are priced per million tokens, counted
 * units (requests, web searches) per thousand. Comments give the containment. */
typedef enum {
    TG__UNIT_INPUT = 0,            /* every prompt token */
    TG__UNIT_CACHE_READ = 1,       /* in input: read from the prompt cache */
    TG__UNIT_CACHE_WRITE = 2,      /* in input: written to the prompt cache (any ttl) */
    TG__UNIT_CACHE_WRITE_1H = 3,   /* in cache_write: written with a one-hour ttl */
    TG__UNIT_INPUT_AUDIO = 4,      /* in input: audio */
    TG__UNIT_CACHE_AUDIO_READ = 5, /* in cache_read and input_audio */
    TG__UNIT_OUTPUT = 6,           /* every generated token, reasoning included */
    TG__UNIT_OUTPUT_REASONING = 7, /* in output: reasoning (thinking) */
    TG__UNIT_OUTPUT_AUDIO = 8,     /* in output: audio */
    TG__UNIT_REQUESTS = 9,         /* calls: a per-request fee */
    TG__UNIT_WEB_SEARCHES = 10     /* server-side web searches */
} tg__unit;
#define TG__UNIT_COUNT 11

#define TG__PRICE_TIERS_MAX 4                       /* price tiers per unit */
#define TG__PRICE_MICROS_MAX INT64_C(1000000000000) /* $1M per million tokens */
#define TG__USAGE_COUNT_MAX INT64_C(1000000000000)  /* tokens (or calls) in one call */

/* One call's usage. Counts are totals with parts inside them (see above). */
typedef struct {
    int64_t counts[TG__UNIT_COUNT]; /* indexed by tg__unit; 0 when not reported */
    bool estimated;                 /* counted by Tollgate, not reported by the provider */
} tg__usage;

/* A price for one unit: base, or a tier's price when the call's input exceeds the
 * tier's start (the source prices long prompts higher this way). */
typedef struct {
    int64_t base_micros;                            /* micros per million (or thousand) */
    int tiers_count;                                /* 0..TG__PRICE_TIERS_MAX */
    int64_t tier_start_tokens[TG__PRICE_TIERS_MAX]; /* ascending */
    int64_t tier_micros[TG__PRICE_TIERS_MAX];       /* price above that start */
} tg__rate;

#define TG__PROVIDER_SIZE_MAX 64 /* bytes in a provider id, NUL included */

/* A model's prices as in force at one moment: what a lookup returns, by value. */
typedef struct {
    char provider[TG__PROVIDER_SIZE_MAX]; /* "openai" */
    char model[TG_NAME_SIZE_MAX];         /* the table's id for it ("gpt-4o") */
    uint32_t priced_mask;                 /* bit (1 << unit) for each unit with a price */
    tg__rate rates[TG__UNIT_COUNT];       /* meaningful where priced */
    int64_t context_window_tokens;        /* 0 = unknown */
    int64_t max_output_tokens;            /* 0 = unknown (the config may set it) */
    bool overridden;                      /* from the config rather than the table */
} tg__model_price;

/* Empties *price: nothing priced, nothing known. */
void tg__model_price_init(tg__model_price *price);

/* Sets a flat price for a unit (micros per million tokens, or per thousand). */
void tg__model_price_set(tg__model_price *price, tg__unit unit, int64_t micros);

/* The price key of a unit in the table ("input_mtok"), and the reverse
 * (TG_ERR_NOT_FOUND for a key Tollgate does not charge). */
const char *tg__unit_price_key(tg__unit unit);
tg_status tg__unit_from_price_key(const char *key, tg__unit *out);

/*
 * Checks a model's prices: amounts in range, tiers ascending, and every priced
 * part's containing units priced too (a cache-read price without an input price
 * would leave uncached input unpriced). TG_ERR_INVALID with a sentence.
 */
tg_status tg__model_price_check(const tg__model_price *price, tg_error *err);

/*
 * The exact cost of a call, rounded up to a whole micro. A priced per-request fee
 * counts at least one request. A part larger than its total (a provider's bad
 * report) is charged in full and its total taken as at least the part.
 * TG_ERR_RANGE when a count is negative or past TG__USAGE_COUNT_MAX, or the cost
 * passes TG_AMOUNT_MAX.
 */
tg_status tg__cost_micros(const tg__model_price *price, const tg__usage *usage,
                          int64_t *cost_micros_out);

/*
 * The most a call with these token counts can cost: every input token at the
 * dearest input-side price (cache writes can cost more than plain input), every
 * output token at the dearest output-side price, plus the request fee. This is
 * the amount held before the call. Same errors as tg__cost_micros.
 */
tg_status tg__cost_worst_case(const tg__model_price *price, int64_t input_tokens,
                              int64_t output_tokens, int64_t *cost_micros_out);

/*
 * The most output tokens whose worst case, with input_tokens, fits in
 * budget_micros (0 when not even the input fits; TG__USAGE_COUNT_MAX when output
 * is free). Used by the "lower" policy to shrink a request's output cap.
 */
tg_status tg__cost_output_fit(const tg__model_price *price, int64_t input_tokens,
                              int64_t budget_micros, int64_t *output_tokens_out);

#endif
