/*
 * prices: the price table the proxy prices calls with. It is loaded from the
 * JSON that scripts/build-prices.js converts from @pydantic/genai-prices (see
 * docs/proxy.md), and the config may override any model on top of it.
 *
 * A lookup is by provider id ("openai", "anthropic", or any other provider in
 * the table for an OpenAI-compatible upstream) and the model name as the client
 * sent it. Names resolve as the source resolves them: case-insensitive, through
 * each model's match rules (aliases, prefixes, dated snapshots such as
 * gpt-4o-2024-08-06 -> gpt-4o), first matching model in table order, a date
 * written 20250514 retried as 2025-05-14, then the provider's fallback providers.
 * A model with no price is TG_ERR_NOT_FOUND: the proxy refuses it rather than
 * counting it free.
 *
 * Thread safety: none. The daemon uses a table from its loop thread only.
 * Lookups return prices by value, so a reload never leaves a caller holding a
 * pointer into freed memory.
 */
#ifndef TG_PROXY_PRICES_H
#define TG_PROXY_PRICES_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/cost.h"
#include "tollgate.h"

#define TG__PRICE_FILE_SIZE_MAX (64 * 1024 * 1024) /* bytes in a price table file */
#define TG__PRICE_PROVIDERS_MAX 1024               /* providers in a table */
#define TG__PRICE_MODELS_MAX 100000                /* models in a table */
#define TG__PRICE_VARIANTS_MAX 16                  /* dated or timed prices per model */
#define TG__PRICE_MATCH_NODES_MAX 256              /* match-rule nodes per model */
#define TG__PRICE_FALLBACKS_MAX 16                 /* fallback providers per provider */
#define TG__PRICE_OVERRIDES_MAX 4096               /* config overrides per table */

typedef struct tg__price_table tg__price_table;

/*
 * Reads a price table file. The file is remembered for tg__prices_reload.
 * Errors: TG_ERR_IO (cannot read), TG_ERR_INVALID (malformed, with the place),
 * TG_ERR_FULL (a limit above), TG_ERR_NOMEM. *out is set only on success.
 */
tg_status tg__prices_open(const char *file, tg__price_table **out, tg_error *err);

/* Same from text in memory (tests, fuzzing); the table cannot be reloaded. */
tg_status tg__prices_parse(const char *text, size_t size, tg__price_table **out, tg_error *err);

/* Frees a table. NULL is a no-op. */
void tg__prices_close(tg__price_table *table);

/*
 * Reads the table's file again. On success the new prices replace the old and
 * the overrides stay; on failure the table is unchanged and still usable.
 * TG_ERR_STATE for a table made by tg__prices_parse.
 */
tg_status tg__prices_reload(tg__price_table *table, tg_error *err);

/*
 * Sets the price of `model` (a name as clients send it, or a table id) for
 * `provider`, replacing the table's rates for it. A lookup tries overrides by the
 * requested name first, then by the id the name resolves to, so an override of
 * "gpt-4o" also covers "gpt-4o-2024-08-06". A context window or output maximum
 * left 0 is taken from the table's entry when there is one. The price is copied.
 * TG_ERR_INVALID (tg__model_price_check fails, or names too long), TG_ERR_FULL.
 * Setting the same provider and model again replaces the earlier override.
 */
tg_status tg__prices_override(tg__price_table *table, const char *provider, const char *model,
                              const tg__model_price *price, tg_error *err);

/* Drops every override (before applying a re-read config). */
void tg__prices_override_clear(tg__price_table *table);

/*
 * Finds the prices in force at now_ms (Unix ms; prices can change on a date or
 * by time of day) for a model. Fills *out on success. TG_ERR_NOT_FOUND when the
 * provider or model has no price, with a sentence in err; TG_ERR_INVALID for a
 * name longer than TG_NAME_SIZE_MAX - 1.
 */
tg_status tg__prices_lookup(const tg__price_table *table, const char *provider, const char *model,
                            int64_t now_ms, tg__model_price *out, tg_error *err);

/*
 * tg__prices_lookup, then the proxy's second try for names the data lacks
 * (prices_names.c): a fine-tuned "ft:BASE:..." at BASE's price, and on provider
 * "openrouter" a "VENDOR/MODEL" at provider VENDOR's price for MODEL. The first
 * lookup's error when neither finds a price.
 */
tg_status tg__prices_lookup_name(const tg__price_table *table, const char *provider,
                                 const char *model, int64_t now_ms, tg__model_price *out,
                                 tg_error *err);

/* "@pydantic/genai-prices@0.1.8" (or "" when the file does not say). Never NULL. */
const char *tg__prices_source(const tg__price_table *table);

/* Models in the table (overrides not counted). */
int64_t tg__prices_models_count(const tg__price_table *table);

#endif
