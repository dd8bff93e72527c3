/*
 * prices_internal: the loaded form of a price table, shared by prices_load.c
 * (JSON to this), prices_match.c (model names to a model) and prices.c (the
 * table's lifecycle and lookups). All of one load lives in one arena, freed at
 * once, so a failed load or a reload has a single place that frees.
 */
#ifndef TG_PROXY_PRICES_INTERNAL_H
#define TG_PROXY_PRICES_INTERNAL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/cost.h"
#include "proxy/prices.h"

/* ---- Arena: many small allocations, one free. ---- */

typedef struct tg__arena_chunk tg__arena_chunk;

typedef struct {
    tg__arena_chunk *chunks; /* newest first */
    regex_t **regexes;       /* compiled patterns, for regfree */
    size_t regexes_count;
    size_t regexes_capacity;
} tg__arena;

void *tg__arena_alloc(tg__arena *arena, size_t size);        /* zeroed; NULL when out of memory */
char *tg__arena_strdup(tg__arena *arena, const char *text);  /* NULL when out of memory */
bool tg__arena_keep_regex(tg__arena *arena, regex_t *regex); /* false when out of memory */
void tg__arena_free(tg__arena *arena);

/* ---- Match rules ---- */

typedef enum {
    TG__MATCH_EQUALS = 0,
    TG__MATCH_STARTS_WITH = 1,
    TG__MATCH_ENDS_WITH = 2,
    TG__MATCH_CONTAINS = 3,
    TG__MATCH_REGEX = 4,
    TG__MATCH_OR = 5,
    TG__MATCH_AND = 6,
    TG__MATCH_NOT = 7
} tg__match_kind;

typedef struct {
    tg__match_kind kind;
    const char *text;     /* literal, lowercase (leaves other than regex) */
    size_t text_size;     /* strlen(text) */
    const regex_t *regex; /* compiled POSIX extended pattern (regex) */
    uint32_t first_child; /* index of the first child in the provider's nodes (or/and/not) */
    uint32_t child_count; /* children; 1 for not */
} tg__match_node;

/* ---- Models and providers ---- */

typedef struct {
    int64_t from_ms;      /* in force from this instant; TG_NONE when not dated */
    int32_t utc_start_s;  /* in force from this second of the UTC day ... */
    int32_t utc_end_s;    /* ... to this one (may wrap midnight); -1 when not timed */
    uint32_t priced_mask; /* as tg__model_price */
    tg__rate rates[TG__UNIT_COUNT];
} tg__price_variant;

typedef struct {
    const char *id;      /* the table's id, as written */
    uint32_t match_root; /* node index */
    const tg__price_variant *variants;
    uint32_t variants_count;       /* >= 1 */
    int64_t context_window_tokens; /* 0 = unknown */
    int64_t max_output_tokens;     /* 0 = unknown */
} tg__price_model;

/* A name that alone makes a model match: the fast path for most lookups. */
typedef struct {
    const char *name; /* lowercase */
    uint32_t model;   /* index in the provider's models */
} tg__price_exact;

typedef struct {
    const char *id;         /* "openai" */
    const char **fallbacks; /* provider ids tried after this one */
    uint32_t fallbacks_count;
    tg__price_model *models; /* in table order (first match wins) */
    uint32_t models_count;
    tg__match_node *nodes; /* every model's rule nodes */
    uint32_t nodes_count;
    tg__price_exact *exact; /* sorted by name, then model */
    uint32_t exact_count;
    uint32_t *pattern_models; /* models with some rule other than a plain name */
    uint32_t pattern_count;
} tg__price_provider;

typedef struct {
    tg__arena arena; /* owns everything below */
    tg__price_provider *providers;
    uint32_t providers_count;
    int64_t models_count;
    char source[160]; /* "package@version" */
} tg__price_data;

/* JSON text to loaded data; *out from malloc, freed with tg__price_data_free. */
tg_status tg__price_data_parse(const char *text, size_t size, tg__price_data **out, tg_error *err);
void tg__price_data_free(tg__price_data *data);

/* Compiles the exact-name index and pattern list of a loaded provider. */
tg_status tg__price_provider_index(tg__arena *arena, tg__price_provider *provider);

/* The provider with this id (lowercase), or NULL. */
const tg__price_provider *tg__price_data_provider(const tg__price_data *data, const char *id);

/* The first model of a provider whose rules match `name` (lowercase), or NULL. */
const tg__price_model *tg__price_provider_match(const tg__price_provider *provider,
                                                const char *name);

/*
 * Rewrites dates written -YYYYMMDD (a real calendar date, followed by '-', ':'
 * or the end) as -YYYY-MM-DD, as the source does before its second try. Returns
 * false when there is none or the result would not fit in `size`.
 */
bool tg__price_name_dashed_dates(const char *name, char *out, size_t size);

#endif
