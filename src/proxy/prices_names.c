/*
 * prices_names: model names a provider's price data may lack, priced through another
 * name the data has. tg__prices_lookup resolves a name as the price data does; this
 * is the proxy's own, documented, second try (docs/proxy.md, "Model names"):
 *
 *   ft:BASE:ORG::ID   a fine-tuned model. The data prices some fine-tunes itself
 *                     (ft:gpt-4o-2024-..., ft:gpt-4o-mini-2024-..., ft:gpt-3.5-turbo),
 *                     which the first lookup finds; any other is priced as BASE.
 *   VENDOR/MODEL      on OpenRouter, a model its data does not list: the price data's
 *                     provider VENDOR, model MODEL ("mistralai/..." has no such
 *                     provider and stays unpriced).
 *
 * Never a price of 0 by default: a name no rule prices is refused.
 */
#include <string.h>

#include "proxy/prices.h"

tg_status tg__prices_lookup_name(const tg__price_table *table, const char *provider,
                                 const char *model, int64_t now_ms, tg__model_price *out,
                                 tg_error *err) {
    tg_status status = tg__prices_lookup(table, provider, model, now_ms, out, err);
    if (status != TG_ERR_NOT_FOUND || model == NULL || provider == NULL) {
        return status;
    }
    char base[TG_NAME_SIZE_MAX];
    const char *slash = strchr(model, '/');
    if (strncmp(model, "ft:", 3) == 0) {
        size_t size = strcspn(model + 3, ":");
        if (size == 0 || size >= sizeof base) {
            return status;
        }
        memcpy(base, model + 3, size);
        base[size] = '\0';
        tg_error unused = {0};
        tg_status retried = tg__prices_lookup(table, provider, base, now_ms, out, &unused);
        return retried == TG_OK ? TG_OK : status;
    }
    if (slash != NULL && strcmp(provider, "openrouter") == 0) {
        char vendor[TG__PROVIDER_SIZE_MAX];
        size_t size = (size_t)(slash - model);
        if (size == 0 || size >= sizeof vendor || slash[1] == '\0') {
            return status;
        }
        memcpy(vendor, model, size);
        vendor[size] = '\0';
        tg_error unused = {0};
        tg_status retried = tg__prices_lookup(table, vendor, slash + 1, now_ms, out, &unused);
        return retried == TG_OK ? TG_OK : status;
    }
    return status;
}
