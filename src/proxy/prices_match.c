/*
 * prices_match: model name to model, with the source's semantics (the first
 * model in table order whose rules match wins). Most names are plain aliases,
 * so each provider keeps a sorted index of names that alone make a model match;
 * only the models with other rules (prefixes, regexes...) that come before the
 * indexed hit in table order are tried one by one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/prices_internal.h"

static bool node_matches(const tg__price_provider *provider, uint32_t index, const char *name,
                         size_t name_size) {
    const tg__match_node *node = &provider->nodes[index];
    switch (node->kind) {
    case TG__MATCH_EQUALS:
        return name_size == node->text_size && memcmp(name, node->text, name_size) == 0;
    case TG__MATCH_STARTS_WITH:
        return name_size >= node->text_size && memcmp(name, node->text, node->text_size) == 0;
    case TG__MATCH_ENDS_WITH:
        return name_size >= node->text_size &&
               memcmp(name + name_size - node->text_size, node->text, node->text_size) == 0;
    case TG__MATCH_CONTAINS:
        return strstr(name, node->text) != NULL;
    case TG__MATCH_REGEX:
        return regexec(node->regex, name, 0, NULL, 0) == 0;
    case TG__MATCH_OR:
        for (uint32_t i = 0; i < node->child_count; i++) {
            if (node_matches(provider, node->first_child + i, name, name_size)) {
                return true;
            }
        }
        return false;
    case TG__MATCH_AND:
        for (uint32_t i = 0; i < node->child_count; i++) {
            if (!node_matches(provider, node->first_child + i, name, name_size)) {
                return false;
            }
        }
        return true;
    case TG__MATCH_NOT:
        return !node_matches(provider, node->first_child, name, name_size);
    }
    return false;
}

/* True when the rule is plain names only (equals, or an "or" of such). */
static bool only_names(const tg__price_provider *provider, uint32_t index) {
    const tg__match_node *node = &provider->nodes[index];
    if (node->kind == TG__MATCH_EQUALS) {
        return true;
    }
    if (node->kind != TG__MATCH_OR) {
        return false;
    }
    for (uint32_t i = 0; i < node->child_count; i++) {
        if (!only_names(provider, node->first_child + i)) {
            return false;
        }
    }
    return true;
}

/* Visits the names that alone make the rule match; counts them, or stores them. */
static uint32_t collect_names(tg__price_provider *provider, uint32_t index, uint32_t model,
                              tg__price_exact *out, uint32_t used) {
    const tg__match_node *node = &provider->nodes[index];
    if (node->kind == TG__MATCH_EQUALS) {
        if (out != NULL) {
            out[used] = (tg__price_exact){.name = node->text, .model = model};
        }
        return used + 1;
    }
    if (node->kind == TG__MATCH_OR) {
        for (uint32_t i = 0; i < node->child_count; i++) {
            used = collect_names(provider, node->first_child + i, model, out, used);
        }
    }
    return used;
}

static int exact_order(const void *a, const void *b) {
    const tg__price_exact *x = a, *y = b;
    int by_name = strcmp(x->name, y->name);
    if (by_name != 0) {
        return by_name;
    }
    return (x->model > y->model) - (x->model < y->model);
}

tg_status tg__price_provider_index(tg__arena *arena, tg__price_provider *provider) {
    uint32_t names = 0, patterns = 0;
    for (uint32_t m = 0; m < provider->models_count; m++) {
        uint32_t root = provider->models[m].match_root;
        names = collect_names(provider, root, m, NULL, names);
        patterns += only_names(provider, root) ? 0 : 1;
    }
    provider->exact = tg__arena_alloc(arena, (names ? names : 1) * sizeof *provider->exact);
    provider->pattern_models = tg__arena_alloc(arena, (patterns ? patterns : 1) * sizeof(uint32_t));
    if (provider->exact == NULL || provider->pattern_models == NULL) {
        return TG_ERR_NOMEM;
    }
    for (uint32_t m = 0; m < provider->models_count; m++) {
        uint32_t root = provider->models[m].match_root;
        provider->exact_count =
            collect_names(provider, root, m, provider->exact, provider->exact_count);
        if (!only_names(provider, root)) {
            provider->pattern_models[provider->pattern_count++] = m;
        }
    }
    qsort(provider->exact, provider->exact_count, sizeof *provider->exact, exact_order);
    return TG_OK;
}

/* The first model (lowest index) with `name` as a plain name, or models_count. */
static uint32_t exact_find(const tg__price_provider *provider, const char *name) {
    uint32_t low = 0, high = provider->exact_count;
    while (low < high) {
        uint32_t mid = low + (high - low) / 2;
        if (strcmp(provider->exact[mid].name, name) < 0) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    if (low < provider->exact_count && strcmp(provider->exact[low].name, name) == 0) {
        return provider->exact[low].model;
    }
    return provider->models_count;
}

const tg__price_model *tg__price_provider_match(const tg__price_provider *provider,
                                                const char *name) {
    uint32_t best = exact_find(provider, name);
    size_t name_size = strlen(name);
    for (uint32_t p = 0; p < provider->pattern_count; p++) {
        uint32_t m = provider->pattern_models[p];
        if (m >= best) {
            break; /* pattern_models is in table order */
        }
        if (node_matches(provider, provider->models[m].match_root, name, name_size)) {
            return &provider->models[m];
        }
    }
    return best < provider->models_count ? &provider->models[best] : NULL;
}

const tg__price_provider *tg__price_data_provider(const tg__price_data *data, const char *id) {
    for (uint32_t p = 0; p < data->providers_count; p++) {
        if (strcmp(data->providers[p].id, id) == 0) {
            return &data->providers[p];
        }
    }
    return NULL;
}

static int digits_value(const char *text, int count) {
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

static bool is_calendar_date(int year, int month, int day) {
    static const int DAYS[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 2000 || year > 2099 || month < 1 || month > 12 || day < 1 || day > DAYS[month - 1]) {
        return false;
    }
    bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    return !(month == 2 && day == 29 && !leap);
}

bool tg__price_name_dashed_dates(const char *name, char *out, size_t size) {
    size_t length = strlen(name), written = 0;
    bool changed = false;
    for (size_t i = 0; i < length;) {
        int year = -1, month = -1, day = -1;
        if (name[i] == '-' && i + 9 <= length && name[i + 1] == '2' && name[i + 2] == '0') {
            year = digits_value(name + i + 1, 4);
            month = digits_value(name + i + 5, 2);
            day = digits_value(name + i + 7, 2);
        }
        char after = i + 9 < length ? name[i + 9] : '\0';
        bool date =
            is_calendar_date(year, month, day) && (after == '\0' || after == '-' || after == ':');
        if (date) {
            if (written + 11 >= size) {
                return false;
            }
            snprintf(out + written, size - written, "-%04d-%02d-%02d", year, month, day);
            written += 11;
            i += 9;
            changed = true;
        } else {
            if (written + 1 >= size) {
                return false;
            }
            out[written++] = name[i++];
        }
    }
    out[written] = '\0';
    return changed;
}
