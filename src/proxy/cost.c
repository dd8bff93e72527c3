/*
 * cost: exact integer pricing. Each unit is described by a set of dimensions
 * (direction, cache, ttl, modality, token type), as in the price source's units
 * table; unit D is a part of unit U when D has all of U's dimensions and more.
 * A priced unit's "leaf" is its count less the leaves of its priced parts, so
 * every token is charged exactly once, at the most specific price the model has.
 * Sums are taken in 128 bits and divided once, rounding up.
 */
#include <string.h>

#include "core/path.h"
#include "proxy/cost.h"

enum {
    DIM_INPUT = 1 << 0,
    DIM_OUTPUT = 1 << 1,
    DIM_TOKENS = 1 << 2,
    DIM_CACHE_READ = 1 << 3,
    DIM_CACHE_WRITE = 1 << 4,
    DIM_TTL_1H = 1 << 5,
    DIM_AUDIO = 1 << 6,
    DIM_REASONING = 1 << 7,
    DIM_REQUESTS = 1 << 8,
    DIM_WEB_SEARCH = 1 << 9
};

typedef struct {
    const char *price_key; /* key in the price table */
    unsigned dims;         /* dimension set */
    int64_t per_million;   /* 1 for per-million prices, 1000 for per-thousand */
} unit_def;

static const unit_def UNITS[TG__UNIT_COUNT] = {
    [TG__UNIT_INPUT] = {"input_mtok", DIM_INPUT | DIM_TOKENS, 1},
    [TG__UNIT_CACHE_READ] = {"cache_read_mtok", DIM_INPUT | DIM_TOKENS | DIM_CACHE_READ, 1},
    [TG__UNIT_CACHE_WRITE] = {"cache_write_mtok", DIM_INPUT | DIM_TOKENS | DIM_CACHE_WRITE, 1},
    [TG__UNIT_CACHE_WRITE_1H] = {"cache_write_1h_mtok",
                                 DIM_INPUT | DIM_TOKENS | DIM_CACHE_WRITE | DIM_TTL_1H, 1},
    [TG__UNIT_INPUT_AUDIO] = {"input_audio_mtok", DIM_INPUT | DIM_TOKENS | DIM_AUDIO, 1},
    [TG__UNIT_CACHE_AUDIO_READ] = {"cache_audio_read_mtok",
                                   DIM_INPUT | DIM_TOKENS | DIM_CACHE_READ | DIM_AUDIO, 1},
    [TG__UNIT_OUTPUT] = {"output_mtok", DIM_OUTPUT | DIM_TOKENS, 1},
    [TG__UNIT_OUTPUT_REASONING] = {"output_reasoning_mtok", DIM_OUTPUT | DIM_TOKENS | DIM_REASONING,
                                   1},
    [TG__UNIT_OUTPUT_AUDIO] = {"output_audio_mtok", DIM_OUTPUT | DIM_TOKENS | DIM_AUDIO, 1},
    [TG__UNIT_REQUESTS] = {"requests_kcount", DIM_REQUESTS, 1000},
    [TG__UNIT_WEB_SEARCHES] = {"web_searches_kcount", DIM_WEB_SEARCH, 1000},
};

#define MICROS_PER_MILLION INT64_C(1000000)

typedef unsigned __int128 u128;

/* True when unit `part` is strictly inside unit `whole`. */
static bool unit_is_part_of(int part, int whole) {
    unsigned d = UNITS[part].dims, u = UNITS[whole].dims;
    return part != whole && (d & u) == u;
}

static bool is_priced(const tg__model_price *price, int unit) {
    return (price->priced_mask >> unit) & 1u;
}

void tg__model_price_init(tg__model_price *price) {
    memset(price, 0, sizeof *price);
}

void tg__model_price_set(tg__model_price *price, tg__unit unit, int64_t micros) {
    if ((unsigned)unit >= TG__UNIT_COUNT) {
        return;
    }
    price->rates[unit] = (tg__rate){.base_micros = micros};
    price->priced_mask |= 1u << unit;
}

const char *tg__unit_price_key(tg__unit unit) {
    return (unsigned)unit < TG__UNIT_COUNT ? UNITS[unit].price_key : "unknown";
}

tg_status tg__unit_from_price_key(const char *key, tg__unit *out) {
    for (int i = 0; i < TG__UNIT_COUNT; i++) {
        if (strcmp(UNITS[i].price_key, key) == 0) {
            *out = (tg__unit)i;
            return TG_OK;
        }
    }
    return TG_ERR_NOT_FOUND;
}

static tg_status rate_check(const tg__rate *rate, const char *key, tg_error *err) {
    if (rate->base_micros < 0 || rate->base_micros > TG__PRICE_MICROS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "price %s out of range", key);
    }
    if (rate->tiers_count < 0 || rate->tiers_count > TG__PRICE_TIERS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "price %s has too many tiers", key);
    }
    for (int t = 0; t < rate->tiers_count; t++) {
        if (rate->tier_micros[t] < 0 || rate->tier_micros[t] > TG__PRICE_MICROS_MAX ||
            rate->tier_start_tokens[t] < 0 || rate->tier_start_tokens[t] > TG__USAGE_COUNT_MAX ||
            (t > 0 && rate->tier_start_tokens[t] <= rate->tier_start_tokens[t - 1])) {
            return tg__fail(err, TG_ERR_INVALID, "price %s: tiers out of range or order", key);
        }
    }
    return TG_OK;
}

tg_status tg__model_price_check(const tg__model_price *price, tg_error *err) {
    if (price->priced_mask >> TG__UNIT_COUNT) {
        return tg__fail(err, TG_ERR_INVALID, "unknown priced unit");
    }
    for (int u = 0; u < TG__UNIT_COUNT; u++) {
        if (!is_priced(price, u)) {
            continue;
        }
        tg_status status = rate_check(&price->rates[u], UNITS[u].price_key, err);
        if (status != TG_OK) {
            return status;
        }
        for (int whole = 0; whole < TG__UNIT_COUNT; whole++) {
            if (unit_is_part_of(u, whole) && !is_priced(price, whole)) {
                return tg__fail(err, TG_ERR_INVALID,
                                "%s is priced but %s, which contains it, is not",
                                UNITS[u].price_key, UNITS[whole].price_key);
            }
        }
    }
    if (price->context_window_tokens < 0 || price->context_window_tokens > TG__USAGE_COUNT_MAX ||
        price->max_output_tokens < 0 || price->max_output_tokens > TG__USAGE_COUNT_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "token limit out of range");
    }
    return TG_OK;
}

/* The unit's price for a call with this many input tokens. */
static int64_t rate_for(const tg__rate *rate, int64_t input_tokens) {
    int64_t micros = rate->base_micros;
    for (int t = 0; t < rate->tiers_count; t++) {
        if (input_tokens > rate->tier_start_tokens[t]) {
            micros = rate->tier_micros[t];
        }
    }
    return micros;
}

static int popcount(unsigned x) {
    return __builtin_popcount(x);
}

static tg_status usage_check(const tg__usage *usage) {
    for (int u = 0; u < TG__UNIT_COUNT; u++) {
        if (usage->counts[u] < 0 || usage->counts[u] > TG__USAGE_COUNT_MAX) {
            return TG_ERR_RANGE;
        }
    }
    return TG_OK;
}

/* Rounds a sum in micro-micros (micros x 1e6) up to micros. */
static tg_status finish(u128 sum, int64_t *cost_micros_out) {
    u128 micros = (sum + (u128)(MICROS_PER_MILLION - 1)) / (u128)MICROS_PER_MILLION;
    if (micros > (u128)TG_AMOUNT_MAX) {
        return TG_ERR_RANGE;
    }
    *cost_micros_out = (int64_t)micros;
    return TG_OK;
}

tg_status tg__cost_micros(const tg__model_price *price, const tg__usage *usage,
                          int64_t *cost_micros_out) {
    if (usage_check(usage) != TG_OK) {
        return TG_ERR_RANGE;
    }
    int64_t counts[TG__UNIT_COUNT];
    memcpy(counts, usage->counts, sizeof counts);
    if (is_priced(price, TG__UNIT_REQUESTS) && counts[TG__UNIT_REQUESTS] < 1) {
        counts[TG__UNIT_REQUESTS] = 1;
    }
    /* Leaves, most specific units first so a unit's parts are done before it. */
    int64_t leaf[TG__UNIT_COUNT] = {0};
    for (int bits = 10; bits >= 1; bits--) {
        for (int u = 0; u < TG__UNIT_COUNT; u++) {
            if (popcount(UNITS[u].dims) != bits || !is_priced(price, u)) {
                continue;
            }
            int64_t value = counts[u];
            for (int part = 0; part < TG__UNIT_COUNT; part++) {
                if (is_priced(price, part) && unit_is_part_of(part, u)) {
                    value -= leaf[part];
                }
            }
            leaf[u] = value > 0 ? value : 0;
        }
    }
    u128 sum = 0;
    for (int u = 0; u < TG__UNIT_COUNT; u++) {
        if (is_priced(price, u) && leaf[u] > 0) {
            int64_t micros = rate_for(&price->rates[u], counts[TG__UNIT_INPUT]);
            sum += (u128)leaf[u] * (u128)micros * (u128)UNITS[u].per_million;
        }
    }
    return finish(sum, cost_micros_out);
}

/* The dearest price among priced units in one direction. */
static int64_t dearest(const tg__model_price *price, unsigned direction, int64_t input_tokens) {
    int64_t best = 0;
    for (int u = 0; u < TG__UNIT_COUNT; u++) {
        if (is_priced(price, u) && (UNITS[u].dims & direction)) {
            int64_t micros = rate_for(&price->rates[u], input_tokens);
            best = micros > best ? micros : best;
        }
    }
    return best;
}

static int64_t request_fee(const tg__model_price *price, int64_t input_tokens) {
    if (!is_priced(price, TG__UNIT_REQUESTS)) {
        return 0;
    }
    return rate_for(&price->rates[TG__UNIT_REQUESTS], input_tokens) *
           UNITS[TG__UNIT_REQUESTS].per_million;
}

tg_status tg__cost_worst_case(const tg__model_price *price, int64_t input_tokens,
                              int64_t output_tokens, int64_t *cost_micros_out) {
    if (input_tokens < 0 || input_tokens > TG__USAGE_COUNT_MAX || output_tokens < 0 ||
        output_tokens > TG__USAGE_COUNT_MAX) {
        return TG_ERR_RANGE;
    }
    u128 sum = (u128)input_tokens * (u128)dearest(price, DIM_INPUT, input_tokens);
    sum += (u128)output_tokens * (u128)dearest(price, DIM_OUTPUT, input_tokens);
    sum += (u128)request_fee(price, input_tokens);
    return finish(sum, cost_micros_out);
}

tg_status tg__cost_output_fit(const tg__model_price *price, int64_t input_tokens,
                              int64_t budget_micros, int64_t *output_tokens_out) {
    if (input_tokens < 0 || input_tokens > TG__USAGE_COUNT_MAX || budget_micros < 0) {
        return TG_ERR_RANGE;
    }
    u128 budget = (u128)budget_micros * (u128)MICROS_PER_MILLION;
    u128 fixed = (u128)input_tokens * (u128)dearest(price, DIM_INPUT, input_tokens) +
                 (u128)request_fee(price, input_tokens);
    if (fixed > budget) {
        *output_tokens_out = 0;
        return TG_OK;
    }
    int64_t per_token = dearest(price, DIM_OUTPUT, input_tokens);
    u128 tokens = per_token == 0 ? (u128)TG__USAGE_COUNT_MAX : (budget - fixed) / (u128)per_token;
    *output_tokens_out = tokens > (u128)TG__USAGE_COUNT_MAX ? TG__USAGE_COUNT_MAX : (int64_t)tokens;
    return TG_OK;
}
