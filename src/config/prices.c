/*
 * prices: what a model costs, from the config's `prices:` section, and the exact
 * cost of a call's tokens. Kept in a file of its own because a later version
 * fills the table from a price database; the lookup and the arithmetic stay.
 *
 *   prices:                                   # per million tokens, in the budgets' currency
 *     gpt-4o: {input: "2.50", output: "10.00"}
 *     gpt-4o-mini: {input_micros: 150000, output_micros: 600000}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "config/config.h"
#include "core/yaml_file.h"

static tg_status fail(tg_error *err, const char *format, const char *a) {
    if (err != NULL) {
        err->status = TG_ERR_INVALID;
        snprintf(err->message, sizeof err->message, format, a);
    }
    return TG_ERR_INVALID;
}

/* Copies a model name that fits (non-empty, NUL included). */
static bool copy_model(char *dst, size_t size, const char *model) {
    size_t length = strlen(model);
    if (length == 0 || length >= size) {
        return false;
    }
    memcpy(dst, model, length + 1);
    return true;
}

/* `input: "2.50"` (currency per million) or `input_micros: 2500000`. */
static bool read_amount(const char *key, const char *text, const char *name, int64_t *out) {
    char micros_name[32];
    snprintf(micros_name, sizeof micros_name, "%s_micros", name);
    if (strcmp(key, name) == 0) {
        return tg_money_parse(text, out) == TG_OK && *out <= TG_AMOUNT_MAX;
    }
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 0 || value > TG_AMOUNT_MAX) {
        return false;
    }
    *out = value;
    return strcmp(key, micros_name) == 0;
}

static tg_status read_price(const char *model, struct fy_node *node, tg__price *out,
                            tg_error *err) {
    memset(out, 0, sizeof *out);
    out->input_micros = out->output_micros = TG_NONE;
    if (!copy_model(out->model, sizeof out->model, model)) {
        return fail(err, "config: price model name '%.100s' is empty or too long", model);
    }
    if (!fy_node_is_mapping(node)) {
        return fail(err, "config: the price of '%.100s' must be {input: ..., output: ...}", model);
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        const char *text = tg__yaml_scalar(entry.value);
        bool input = entry.key != NULL && strncmp(entry.key, "input", 5) == 0;
        int64_t *field = input ? &out->input_micros : &out->output_micros;
        if (entry.key == NULL || text == NULL ||
            !read_amount(entry.key, text, input ? "input" : "output", field)) {
            return fail(err,
                        "config: the price of '%.100s' takes input and output, as amounts per "
                        "million tokens (\"2.50\") or as input_micros/output_micros",
                        model);
        }
    }
    if (out->input_micros == TG_NONE || out->output_micros == TG_NONE) {
        return fail(err, "config: the price of '%.100s' needs both input and output", model);
    }
    return TG_OK;
}

static int by_model(const void *a, const void *b) {
    return strcmp(((const tg__price *)a)->model, ((const tg__price *)b)->model);
}

tg_status tg__prices_read(struct fy_node *node, tg__config *config, tg_error *err) {
    if (!fy_node_is_mapping(node)) {
        return fail(err, "config: 'prices' must map model names to prices%s", "");
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        const char *model = entry.key;
        if (config->prices_count >= TG__PRICES_MAX) {
            return fail(err, "config: more than 4096 prices%s", "");
        }
        tg_status status =
            read_price(model ? model : "", entry.value, &config->prices[config->prices_count], err);
        if (status != TG_OK) {
            return status;
        }
        config->prices_count++;
    }
    qsort(config->prices, (size_t)config->prices_count, sizeof config->prices[0], by_model);
    for (int i = 1; i < config->prices_count; i++) {
        if (strcmp(config->prices[i - 1].model, config->prices[i].model) == 0) {
            return fail(err, "config: model '%.100s' is priced twice", config->prices[i].model);
        }
    }
    return TG_OK;
}

const tg__price *tg__price_find(const tg__config *config, const char *model) {
    if (model == NULL || config->prices_count == 0) {
        return NULL;
    }
    tg__price key;
    if (!copy_model(key.model, sizeof key.model, model)) {
        return NULL;
    }
    return bsearch(&key, config->prices, (size_t)config->prices_count, sizeof key, by_model);
}

tg_status tg__price_cost(const tg__price *price, int64_t tokens_in, int64_t tokens_out,
                         int64_t *cost_micros, tg_error *err) {
    /* 128 bits: tokens (< 2^63) times micros per million (< 2^50) cannot overflow. */
    unsigned __int128 micros_per_million = (unsigned __int128)tokens_in * price->input_micros +
                                           (unsigned __int128)tokens_out * price->output_micros;
    unsigned __int128 cost = (micros_per_million + 999999) / 1000000;
    if (cost > (unsigned __int128)TG_AMOUNT_MAX) {
        if (err != NULL) {
            err->status = TG_ERR_RANGE;
            snprintf(err->message, sizeof err->message,
                     "%lld input and %lld output tokens of '%.100s' cost more than one call may",
                     (long long)tokens_in, (long long)tokens_out, price->model);
        }
        return TG_ERR_RANGE;
    }
    *cost_micros = (int64_t)cost;
    return TG_OK;
}
