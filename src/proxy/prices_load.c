/*
 * prices_load: price table JSON (format "tollgate-prices/1", written by
 * scripts/build-prices.js) to the loaded form in prices_internal.h. The file is
 * input like any other: every field is checked and an error names the provider
 * and model it is in. Variant keys are strict (a misspelt price key would
 * silently leave a unit unpriced); other unknown model keys are ignored.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "proxy/prices_internal.h"

#define FORMAT "tollgate-prices/1"
#define MATCH_DEPTH_MAX 8

typedef struct {
    tg__arena *arena;
    tg__price_provider *provider;
    const char *model_id; /* for messages */
    uint32_t nodes_used;  /* nodes filled in provider->nodes */
    tg_error *err;
} loader;

static char *lower_dup(tg__arena *arena, const char *text) {
    char *copy = tg__arena_strdup(arena, text);
    for (char *c = copy; c != NULL && *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return copy;
}

static tg_status fail_at(loader *l, tg_status status, const char *what) {
    return tg__fail(l->err, status, "price table: provider %s model %s: %s", l->provider->id,
                    l->model_id ? l->model_id : "-", what);
}

/* Nodes in a rule tree, or -1 when malformed or too deep. */
static int count_nodes(const json_t *match, int depth) {
    if (!json_is_object(match) || json_object_size(match) != 1 || depth > MATCH_DEPTH_MAX) {
        return -1;
    }
    const char *kind = json_object_iter_key(json_object_iter((json_t *)match));
    const json_t *value = json_object_iter_value(json_object_iter((json_t *)match));
    if (strcmp(kind, "not") == 0) {
        int inner = count_nodes(value, depth + 1);
        return inner < 0 ? -1 : 1 + inner;
    }
    if (strcmp(kind, "or") != 0 && strcmp(kind, "and") != 0) {
        return 1;
    }
    if (!json_is_array(value) || json_array_size(value) == 0) {
        return -1;
    }
    int total = 1;
    for (size_t i = 0; i < json_array_size(value); i++) {
        int inner = count_nodes(json_array_get(value, i), depth + 1);
        if (inner < 0 || total + inner > TG__PRICE_MATCH_NODES_MAX) {
            return -1;
        }
        total += inner;
    }
    return total;
}

static const struct {
    const char *name;
    tg__match_kind kind;
} MATCH_KINDS[] = {
    {"equals", TG__MATCH_EQUALS},
    {"starts_with", TG__MATCH_STARTS_WITH},
    {"ends_with", TG__MATCH_ENDS_WITH},
    {"contains", TG__MATCH_CONTAINS},
    {"regex", TG__MATCH_REGEX},
    {"or", TG__MATCH_OR},
    {"and", TG__MATCH_AND},
    {"not", TG__MATCH_NOT},
};

#define REGEX_SIZE_MAX 256  /* bytes of one pattern */
#define REGEX_BOUNDS_MAX 16 /* {m,n} bounds in one pattern */
#define REGEX_BOUND_MAX 32  /* largest m or n */
#define REGEX_DEPTH_MAX 4   /* nested groups */

/*
 * True for a pattern glibc compiles in bounded time and memory. Its compiler
 * copies a repeated subexpression once per repetition, so stacked quantifiers
 * ("a++++"), repeated groups ("(a{9}){9}") or deep nesting grow exponentially; a
 * price table is input, so those are refused. The source's patterns ("^gpt-5-
 * [0-9]{4}-[0-9]{2}-[0-9]{2}$") are far inside these limits.
 */
static bool regex_is_tame(const char *pattern) {
    size_t size = strlen(pattern);
    int depth = 0, bounds = 0;
    bool after_quantifier = false, after_group = false, in_class = false;
    if (size > REGEX_SIZE_MAX) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        char c = pattern[i];
        bool quantifier = !in_class && (c == '*' || c == '+' || c == '?' || c == '{');
        if (quantifier && (after_quantifier || (c == '{' && after_group))) {
            return false;
        }
        if (c == '\\' && i + 1 < size) {
            i++;
        } else if (in_class) {
            in_class = c != ']';
        } else if (c == '[') {
            in_class = true;
            /* A ']' first in a class (after an optional '^') is a literal. */
            i += pattern[i + 1] == ']'                              ? 1
                 : (pattern[i + 1] == '^' && pattern[i + 2] == ']') ? 2
                                                                    : 0;
        } else if (c == '(' && ++depth > REGEX_DEPTH_MAX) {
            return false;
        } else if (c == ')') {
            depth--;
        } else if (c == '{') {
            char *end;
            long low = strtol(pattern + i + 1, &end, 10), high = low;
            if (*end == ',') {
                high = end[1] == '}' ? REGEX_BOUND_MAX + 1 : strtol(end + 1, &end, 10);
            }
            if (++bounds > REGEX_BOUNDS_MAX || low > REGEX_BOUND_MAX || high > REGEX_BOUND_MAX) {
                return false;
            }
        }
        /* A bound's digits reset this; its closing brace sets it again. */
        after_quantifier = !in_class && (quantifier || c == '}');
        after_group = c == ')';
    }
    return true;
}

static tg_status build_leaf(loader *l, tg__match_node *node, const json_t *value) {
    if (!json_is_string(value) || json_string_length(value) >= TG_NAME_SIZE_MAX) {
        return fail_at(l, TG_ERR_INVALID, "a match rule needs a string shorter than a model name");
    }
    if (node->kind != TG__MATCH_REGEX) {
        node->text = lower_dup(l->arena, json_string_value(value));
        node->text_size = json_string_length(value);
        return node->text ? TG_OK : TG_ERR_NOMEM;
    }
    regex_t *regex = tg__arena_alloc(l->arena, sizeof *regex);
    if (regex == NULL) {
        return TG_ERR_NOMEM;
    }
    if (!regex_is_tame(json_string_value(value))) {
        return fail_at(l, TG_ERR_INVALID, "a regex is too long or repeats repetitions");
    }
    if (regcomp(regex, json_string_value(value), REG_EXTENDED | REG_NOSUB) != 0) {
        return fail_at(l, TG_ERR_INVALID, "a regex is not a POSIX extended expression");
    }
    if (!tg__arena_keep_regex(l->arena, regex)) {
        regfree(regex);
        return TG_ERR_NOMEM;
    }
    node->regex = regex;
    return TG_OK;
}

/* Fills node `index` from `match`; its children go to freshly used slots. */
static tg_status build_node(loader *l, uint32_t index, const json_t *match) {
    tg__match_node *node = &l->provider->nodes[index];
    const char *key = json_object_iter_key(json_object_iter((json_t *)match));
    const json_t *value = json_object_iter_value(json_object_iter((json_t *)match));
    size_t k = 0;
    while (k < sizeof MATCH_KINDS / sizeof MATCH_KINDS[0] && strcmp(MATCH_KINDS[k].name, key)) {
        k++;
    }
    if (k == sizeof MATCH_KINDS / sizeof MATCH_KINDS[0]) {
        return fail_at(l, TG_ERR_INVALID, "unknown match rule");
    }
    node->kind = MATCH_KINDS[k].kind;
    if (node->kind < TG__MATCH_OR) {
        return build_leaf(l, node, value);
    }
    node->child_count = node->kind == TG__MATCH_NOT ? 1 : (uint32_t)json_array_size(value);
    node->first_child = l->nodes_used;
    l->nodes_used += node->child_count;
    for (uint32_t i = 0; i < node->child_count; i++) {
        const json_t *child = node->kind == TG__MATCH_NOT ? value : json_array_get(value, i);
        tg_status status = build_node(l, node->first_child + i, child);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

static bool get_count(const json_t *value, int64_t max, int64_t *out) {
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > max) {
        return false;
    }
    *out = json_integer_value(value);
    return true;
}

static bool load_rate(const json_t *value, tg__rate *rate) {
    memset(rate, 0, sizeof *rate);
    if (json_is_integer(value)) {
        return get_count(value, TG__PRICE_MICROS_MAX, &rate->base_micros);
    }
    const json_t *tiers = json_object_get(value, "tiers");
    if (!get_count(json_object_get(value, "base"), TG__PRICE_MICROS_MAX, &rate->base_micros) ||
        !json_is_array(tiers) || json_array_size(tiers) > TG__PRICE_TIERS_MAX) {
        return false;
    }
    rate->tiers_count = (int)json_array_size(tiers);
    for (int t = 0; t < rate->tiers_count; t++) {
        const json_t *tier = json_array_get(tiers, (size_t)t);
        if (!get_count(json_object_get(tier, "start"), TG__USAGE_COUNT_MAX,
                       &rate->tier_start_tokens[t]) ||
            !get_count(json_object_get(tier, "price"), TG__PRICE_MICROS_MAX,
                       &rate->tier_micros[t])) {
            return false;
        }
    }
    return true; /* order is checked with the rest by tg__model_price_check */
}

static tg_status load_variant(loader *l, const json_t *json, tg__price_variant *variant) {
    if (!json_is_object(json)) {
        return fail_at(l, TG_ERR_INVALID, "a price variant must be an object");
    }
    variant->from_ms = TG_NONE;
    variant->utc_start_s = variant->utc_end_s = -1;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)json, key, value) {
        tg__unit unit;
        int64_t start, end;
        if (strcmp(key, "from_ms") == 0) {
            if (!get_count(value, INT64_C(1) << 52, &variant->from_ms)) {
                return fail_at(l, TG_ERR_INVALID, "from_ms must be a time in ms");
            }
        } else if (strcmp(key, "utc_seconds") == 0) {
            if (!json_is_array(value) || json_array_size(value) != 2 ||
                !get_count(json_array_get(value, 0), 86400, &start) ||
                !get_count(json_array_get(value, 1), 86400, &end)) {
                return fail_at(l, TG_ERR_INVALID, "utc_seconds must be [start, end] seconds");
            }
            variant->utc_start_s = (int32_t)start;
            variant->utc_end_s = (int32_t)end;
        } else if (tg__unit_from_price_key(key, &unit) == TG_OK) {
            if (!load_rate(value, &variant->rates[unit])) {
                return fail_at(l, TG_ERR_INVALID, "a price must be micros or {base, tiers}");
            }
            variant->priced_mask |= 1u << unit;
        } else {
            return fail_at(l, TG_ERR_INVALID, "unknown price key");
        }
    }
    tg__model_price check;
    tg__model_price_init(&check);
    check.priced_mask = variant->priced_mask;
    memcpy(check.rates, variant->rates, sizeof check.rates);
    tg_error why;
    if (tg__model_price_check(&check, &why) != TG_OK) {
        return fail_at(l, TG_ERR_INVALID, why.message);
    }
    return TG_OK;
}

static tg_status load_model(loader *l, const json_t *json, tg__price_model *model) {
    const json_t *id = json_object_get(json, "id");
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) >= TG_NAME_SIZE_MAX) {
        return fail_at(l, TG_ERR_INVALID, "a model needs an id");
    }
    l->model_id = json_string_value(id);
    model->id = tg__arena_strdup(l->arena, l->model_id);
    const json_t *prices = json_object_get(json, "prices");
    size_t variants = json_array_size(prices);
    if (!json_is_array(prices) || variants == 0 || variants > TG__PRICE_VARIANTS_MAX) {
        return fail_at(l, TG_ERR_INVALID, "prices must be a list of 1 to 16 variants");
    }
    tg__price_variant *list = tg__arena_alloc(l->arena, variants * sizeof *list);
    if (model->id == NULL || list == NULL) {
        return TG_ERR_NOMEM;
    }
    for (size_t v = 0; v < variants; v++) {
        tg_status status = load_variant(l, json_array_get(prices, v), &list[v]);
        if (status != TG_OK) {
            return status;
        }
    }
    model->variants = list;
    model->variants_count = (uint32_t)variants;
    const json_t *window = json_object_get(json, "context_window");
    const json_t *output = json_object_get(json, "max_output_tokens");
    if ((window && !get_count(window, TG__USAGE_COUNT_MAX, &model->context_window_tokens)) ||
        (output && !get_count(output, TG__USAGE_COUNT_MAX, &model->max_output_tokens))) {
        return fail_at(l, TG_ERR_INVALID, "token limits must be counts");
    }
    model->match_root = l->nodes_used++;
    return build_node(l, model->match_root, json_object_get(json, "match"));
}

static tg_status load_fallbacks(loader *l, const json_t *json) {
    if (json == NULL) {
        return TG_OK;
    }
    size_t count = json_array_size(json);
    if (!json_is_array(json) || count > TG__PRICE_FALLBACKS_MAX) {
        return fail_at(l, TG_ERR_INVALID, "fallback must be a short list of provider ids");
    }
    l->provider->fallbacks = tg__arena_alloc(l->arena, (count ? count : 1) * sizeof(char *));
    if (l->provider->fallbacks == NULL) {
        return TG_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *id = json_array_get(json, i);
        if (!json_is_string(id) || json_string_length(id) >= TG__PROVIDER_SIZE_MAX) {
            return fail_at(l, TG_ERR_INVALID, "fallback must be a list of provider ids");
        }
        if ((l->provider->fallbacks[i] = lower_dup(l->arena, json_string_value(id))) == NULL) {
            return TG_ERR_NOMEM;
        }
    }
    l->provider->fallbacks_count = (uint32_t)count;
    return TG_OK;
}

/* Counts the rule nodes of every model, so the node array is allocated once. */
static tg_status count_provider_nodes(loader *l, const json_t *models, uint32_t *out) {
    uint64_t total = 0;
    for (size_t m = 0; m < json_array_size(models); m++) {
        const json_t *model = json_array_get(models, m);
        int nodes = count_nodes(json_object_get(model, "match"), 0);
        if (!json_is_object(model) || nodes < 0) {
            const json_t *id = json_object_get(model, "id");
            l->model_id = json_is_string(id) ? json_string_value(id) : "?";
            return fail_at(l, TG_ERR_INVALID, "match must be a rule of one key, at most 8 deep");
        }
        total += (uint64_t)nodes;
    }
    *out = (uint32_t)total;
    return TG_OK;
}

static tg_status load_provider(tg__arena *arena, const json_t *json, tg__price_provider *provider,
                               tg_error *err) {
    const json_t *id = json_object_get(json, "id");
    const json_t *models = json_object_get(json, "models");
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) >= TG__PROVIDER_SIZE_MAX || !json_is_array(models)) {
        return tg__fail(err, TG_ERR_INVALID, "price table: a provider needs an id and models");
    }
    if ((provider->id = lower_dup(arena, json_string_value(id))) == NULL) {
        return TG_ERR_NOMEM;
    }
    loader l = {.arena = arena, .provider = provider, .err = err};
    uint32_t nodes = 0;
    tg_status status = load_fallbacks(&l, json_object_get(json, "fallback"));
    if (status == TG_OK) {
        status = count_provider_nodes(&l, models, &nodes);
    }
    if (status != TG_OK) {
        return status;
    }
    size_t count = json_array_size(models);
    provider->models = tg__arena_alloc(arena, (count ? count : 1) * sizeof *provider->models);
    provider->nodes = tg__arena_alloc(arena, (nodes ? nodes : 1) * sizeof *provider->nodes);
    if (provider->models == NULL || provider->nodes == NULL) {
        return TG_ERR_NOMEM;
    }
    provider->nodes_count = nodes;
    for (size_t m = 0; m < count; m++) {
        l.model_id = NULL;
        status = load_model(&l, json_array_get(models, m), &provider->models[m]);
        if (status != TG_OK) {
            return status;
        }
        provider->models_count++;
    }
    return tg__price_provider_index(arena, provider);
}

static void load_source(tg__price_data *data, const json_t *source) {
    const char *package = json_string_value(json_object_get(source, "package"));
    const char *version = json_string_value(json_object_get(source, "version"));
    if (package != NULL && version != NULL) {
        snprintf(data->source, sizeof data->source, "%s@%s", package, version);
    }
}

static tg_status load_root(tg__price_data *data, const json_t *root, tg_error *err) {
    const char *format = json_string_value(json_object_get(root, "format"));
    if (format == NULL || strcmp(format, FORMAT) != 0) {
        return tg__fail(err, TG_ERR_INVALID, "price table: format must be \"" FORMAT "\"");
    }
    load_source(data, json_object_get(root, "source"));
    const json_t *providers = json_object_get(root, "providers");
    size_t count = json_array_size(providers);
    if (!json_is_array(providers) || count > TG__PRICE_PROVIDERS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "price table: providers must be a list");
    }
    data->providers = tg__arena_alloc(&data->arena, (count ? count : 1) * sizeof *data->providers);
    if (data->providers == NULL) {
        return TG_ERR_NOMEM;
    }
    for (size_t p = 0; p < count; p++) {
        tg__price_provider *provider = &data->providers[p];
        tg_status status = load_provider(&data->arena, json_array_get(providers, p), provider, err);
        if (status != TG_OK) {
            return status == TG_ERR_NOMEM ? tg__fail(err, status, "out of memory") : status;
        }
        data->providers_count++;
        data->models_count += provider->models_count;
        if (data->models_count > TG__PRICE_MODELS_MAX) {
            return tg__fail(err, TG_ERR_FULL, "price table: more than %d models",
                            TG__PRICE_MODELS_MAX);
        }
        if (tg__price_data_provider(data, provider->id) != provider) {
            return tg__fail(err, TG_ERR_INVALID, "price table: provider %s twice", provider->id);
        }
    }
    return TG_OK;
}

tg_status tg__price_data_parse(const char *text, size_t size, tg__price_data **out, tg_error *err) {
    if (size > TG__PRICE_FILE_SIZE_MAX) {
        return tg__fail(err, TG_ERR_FULL, "price table: larger than %d bytes",
                        TG__PRICE_FILE_SIZE_MAX);
    }
    json_error_t json_err;
    json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &json_err);
    if (root == NULL) {
        return tg__fail(err, TG_ERR_INVALID, "price table: %s at line %d column %d", json_err.text,
                        json_err.line, json_err.column);
    }
    tg__price_data *data = calloc(1, sizeof *data);
    if (data == NULL) {
        json_decref(root);
        return tg__fail(err, TG_ERR_NOMEM, "out of memory");
    }
    tg_status status = load_root(data, root, err);
    json_decref(root);
    if (status != TG_OK) {
        tg__price_data_free(data);
        return status;
    }
    *out = data;
    return TG_OK;
}

void tg__price_data_free(tg__price_data *data) {
    if (data == NULL) {
        return;
    }
    tg__arena_free(&data->arena);
    free(data);
}
