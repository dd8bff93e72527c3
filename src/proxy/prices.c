/*
 * prices: the table handle. It holds the loaded data, the file it came from (for
 * reload) and the config's overrides, which outlive reloads: the file is the
 * base, the config is on top, and a reload only ever swaps the base.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "proxy/prices_internal.h"

typedef struct {
    char provider[TG__PROVIDER_SIZE_MAX]; /* lowercase */
    char model[TG_NAME_SIZE_MAX];         /* lowercase: a request name or a table id */
    tg__model_price price;                /* as the config gave it */
} price_override;

struct tg__price_table {
    tg__price_data *data;      /* the base; replaced whole by a reload */
    char *file;                /* from malloc; NULL when parsed from memory */
    price_override *overrides; /* from malloc */
    int overrides_count;
    int overrides_capacity;
};

static tg_status read_file(const char *file, char **text_out, size_t *size_out, tg_error *err) {
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        return tg__fail(err, TG_ERR_IO, "price table %s: cannot open", file);
    }
    char *text = malloc(TG__PRICE_FILE_SIZE_MAX + 1);
    if (text == NULL) {
        fclose(f);
        return tg__fail(err, TG_ERR_NOMEM, "out of memory");
    }
    size_t size = fread(text, 1, TG__PRICE_FILE_SIZE_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || size > TG__PRICE_FILE_SIZE_MAX) {
        free(text);
        return tg__fail(err, failed ? TG_ERR_IO : TG_ERR_FULL, "price table %s: %s", file,
                        failed ? "read failed" : "too large");
    }
    *text_out = text;
    *size_out = size;
    return TG_OK;
}

static tg_status load_file(const char *file, tg__price_data **out, tg_error *err) {
    char *text = NULL;
    size_t size = 0;
    tg_status status = read_file(file, &text, &size, err);
    if (status == TG_OK) {
        status = tg__price_data_parse(text, size, out, err);
        free(text);
    }
    return status;
}

static tg_status table_new(tg__price_data *data, const char *file, tg__price_table **out,
                           tg_error *err) {
    tg__price_table *table = calloc(1, sizeof *table);
    char *copy = file ? strdup(file) : NULL;
    if (table == NULL || (file != NULL && copy == NULL)) {
        free(table);
        free(copy);
        tg__price_data_free(data);
        return tg__fail(err, TG_ERR_NOMEM, "out of memory");
    }
    table->data = data;
    table->file = copy;
    *out = table;
    return TG_OK;
}

tg_status tg__prices_open(const char *file, tg__price_table **out, tg_error *err) {
    tg__price_data *data;
    tg_status status = load_file(file, &data, err);
    return status == TG_OK ? table_new(data, file, out, err) : status;
}

tg_status tg__prices_parse(const char *text, size_t size, tg__price_table **out, tg_error *err) {
    tg__price_data *data;
    tg_status status = tg__price_data_parse(text, size, &data, err);
    return status == TG_OK ? table_new(data, NULL, out, err) : status;
}

void tg__prices_close(tg__price_table *table) {
    if (table == NULL) {
        return;
    }
    tg__price_data_free(table->data);
    free(table->file);
    free(table->overrides);
    free(table);
}

tg_status tg__prices_reload(tg__price_table *table, tg_error *err) {
    if (table->file == NULL) {
        return tg__fail(err, TG_ERR_STATE, "price table was not read from a file");
    }
    tg__price_data *data;
    tg_status status = load_file(table->file, &data, err);
    if (status != TG_OK) {
        return status;
    }
    tg__price_data_free(table->data);
    table->data = data;
    return TG_OK;
}

/* Lowercases and trims into a fixed buffer; false when it does not fit. */
static bool normalize(const char *text, char *out, size_t size) {
    while (isspace((unsigned char)*text)) {
        text++;
    }
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1])) {
        length--;
    }
    if (length == 0 || length >= size) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        out[i] = (char)tolower((unsigned char)text[i]);
    }
    out[length] = '\0';
    return true;
}

static price_override *override_find(const tg__price_table *table, const char *provider,
                                     const char *model) {
    for (int i = 0; i < table->overrides_count; i++) {
        price_override *o = &table->overrides[i];
        if (strcmp(o->provider, provider) == 0 && strcmp(o->model, model) == 0) {
            return o;
        }
    }
    return NULL;
}

tg_status tg__prices_override(tg__price_table *table, const char *provider, const char *model,
                              const tg__model_price *price, tg_error *err) {
    price_override entry;
    if (!normalize(provider, entry.provider, sizeof entry.provider) ||
        !normalize(model, entry.model, sizeof entry.model)) {
        return tg__fail(err, TG_ERR_INVALID,
                        "price override: provider or model name empty or too long");
    }
    tg_status status = tg__model_price_check(price, err);
    if (status != TG_OK) {
        return status;
    }
    entry.price = *price;
    price_override *existing = override_find(table, entry.provider, entry.model);
    if (existing != NULL) {
        *existing = entry;
        return TG_OK;
    }
    if (table->overrides_count == TG__PRICE_OVERRIDES_MAX) {
        return tg__fail(err, TG_ERR_FULL, "more than %d price overrides", TG__PRICE_OVERRIDES_MAX);
    }
    if (table->overrides_count == table->overrides_capacity) {
        int capacity = table->overrides_capacity ? table->overrides_capacity * 2 : 16;
        price_override *grown = realloc(table->overrides, (size_t)capacity * sizeof *grown);
        if (grown == NULL) {
            return tg__fail(err, TG_ERR_NOMEM, "out of memory");
        }
        table->overrides = grown;
        table->overrides_capacity = capacity;
    }
    table->overrides[table->overrides_count++] = entry;
    return TG_OK;
}

void tg__prices_override_clear(tg__price_table *table) {
    table->overrides_count = 0;
}

/* The variant in force at now_ms: the last one whose condition holds, as in the
 * source (later variants are newer prices), else the first. */
static const tg__price_variant *variant_at(const tg__price_model *model, int64_t now_ms) {
    int64_t day_ms = INT64_C(86400000);
    int32_t second = (int32_t)((((now_ms % day_ms) + day_ms) % day_ms) / 1000);
    for (uint32_t v = model->variants_count; v-- > 0;) {
        const tg__price_variant *variant = &model->variants[v];
        bool dated = variant->from_ms != TG_NONE, timed = variant->utc_start_s >= 0;
        if (!dated && !timed) {
            return variant;
        }
        if (dated && now_ms >= variant->from_ms) {
            return variant;
        }
        if (timed) {
            int32_t start = variant->utc_start_s, end = variant->utc_end_s;
            bool inside =
                end < start ? (second >= start || second < end) : (second >= start && second < end);
            if (inside) {
                return variant;
            }
        }
    }
    return &model->variants[0];
}

/* Provider, then its fallbacks (not theirs), as the source tries them. */
static const tg__price_model *find_in(const tg__price_data *data,
                                      const tg__price_provider *provider, const char *name,
                                      const tg__price_provider **found_in) {
    const tg__price_model *model = tg__price_provider_match(provider, name);
    *found_in = provider;
    for (uint32_t f = 0; model == NULL && f < provider->fallbacks_count; f++) {
        const tg__price_provider *fallback = tg__price_data_provider(data, provider->fallbacks[f]);
        if (fallback != NULL) {
            model = tg__price_provider_match(fallback, name);
            *found_in = fallback;
        }
    }
    return model;
}

static const tg__price_model *find_model(const tg__price_data *data, const char *provider_id,
                                         const char *name, const tg__price_provider **found_in) {
    const tg__price_provider *provider = tg__price_data_provider(data, provider_id);
    if (provider == NULL) {
        return NULL;
    }
    const tg__price_model *model = find_in(data, provider, name, found_in);
    char dashed[TG_NAME_SIZE_MAX + 32];
    if (model == NULL && tg__price_name_dashed_dates(name, dashed, sizeof dashed)) {
        model = find_in(data, provider, dashed, found_in);
    }
    return model;
}

static void fill_from_table(const tg__price_provider *provider, const tg__price_model *model,
                            int64_t now_ms, tg__model_price *out) {
    const tg__price_variant *variant = variant_at(model, now_ms);
    tg__model_price_init(out);
    snprintf(out->provider, sizeof out->provider, "%s", provider->id);
    snprintf(out->model, sizeof out->model, "%s", model->id);
    out->priced_mask = variant->priced_mask;
    memcpy(out->rates, variant->rates, sizeof out->rates);
    out->context_window_tokens = model->context_window_tokens;
    out->max_output_tokens = model->max_output_tokens;
}

tg_status tg__prices_lookup(const tg__price_table *table, const char *provider, const char *model,
                            int64_t now_ms, tg__model_price *out, tg_error *err) {
    char provider_id[TG__PROVIDER_SIZE_MAX], name[TG_NAME_SIZE_MAX];
    if (!normalize(provider, provider_id, sizeof provider_id) ||
        !normalize(model, name, sizeof name)) {
        return tg__fail(err, TG_ERR_INVALID, "provider or model name empty or too long");
    }
    const tg__price_provider *found_in = NULL;
    const tg__price_model *entry = find_model(table->data, provider_id, name, &found_in);
    const price_override *override = override_find(table, provider_id, name);
    if (override == NULL && entry != NULL) {
        override = override_find(table, provider_id, entry->id);
    }
    if (override != NULL) {
        *out = override->price;
        snprintf(out->provider, sizeof out->provider, "%s", provider_id);
        snprintf(out->model, sizeof out->model, "%s", entry ? entry->id : name);
        if (entry != NULL && out->context_window_tokens == 0) {
            out->context_window_tokens = entry->context_window_tokens;
        }
        if (entry != NULL && out->max_output_tokens == 0) {
            out->max_output_tokens = entry->max_output_tokens;
        }
        out->overridden = true;
        return TG_OK;
    }
    if (entry == NULL) {
        return tg__fail(err, TG_ERR_NOT_FOUND, "no price for %s model %s", provider_id, name);
    }
    fill_from_table(found_in, entry, now_ms, out);
    return TG_OK;
}

const char *tg__prices_source(const tg__price_table *table) {
    return table->data->source;
}

int64_t tg__prices_models_count(const tg__price_table *table) {
    return table->data->models_count;
}
