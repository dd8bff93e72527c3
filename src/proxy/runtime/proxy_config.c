/*
 * proxy_config: the `proxy:` and `upstreams:` sections of the daemon's YAML file.
 * Read here rather than in config.c so that the proxy's settings live beside the
 * code that uses them (as src/notify reads `notify:`); config.c only skips them.
 *
 *   upstreams:
 *     openai:    {base_url: https://api.openai.com, api_key_env: OPENAI_API_KEY}
 *     anthropic: {base_url: https://api.anthropic.com, api_key: sk-..., pass_agent_key: false}
 *     groq:      {wire: openai, base_url: https://api.groq.com/openai}      # /p/groq/v1/...
 *     azure:     {wire: azure, base_url: https://RESOURCE.openai.azure.com,  # /openai/...
 *                 deployments: {prod-4o: gpt-4o}}
 *     openrouter: {wire: openrouter, base_url: https://openrouter.ai/api}  # /p/openrouter/v1
 *     backup:    {wire: openai, base_url: https://gateway.example, prices: openai}
 *   (any upstream: fallbacks: [backup], up to 4 of the same wire, tried in order when it
 *    fails before answering; answer_timeout_ms: 20000, no status line by then is a failure)
 *   proxy:
 *     prices_file: /var/lib/tollgate/prices.json
 *     timeout_ms: 3600000            # the whole call (1 h)
 *     stream_idle_timeout_ms: 600000 # silence between upstream bytes
 *     default_max_output_tokens: 4096
 *     server_tool_uses_max: 0        # 0: refuse server tools without max_uses
 *     server_tool_result_tokens: 0   # 0: a use may add a whole context window
 *     stored_state_tokens_max: 0     # 0: refuse an unknown previous_response_id
 *     pdf_page_tokens: 6000
 *     background_deadline_ms: 3600000 # a background run nobody polls is charged its hold
 *     connect_timeout_ms: 10000
 *     over_budget: refuse            # refuse | lower | switch
 *     min_output_tokens: 16
 *     switch_model: gpt-4o-mini      # or a list, tried in order: [gpt-4o-mini, gpt-4.1-nano]
 *     retry_automatic_ms_max: 2000
 *     user_budgets: false            # the request's user names a child of the key's scope
 *     wait_ms: 0                     # a refused call waits for room this long (per upstream too)
 *     fallback_on_status: [429, 500, 502, 503, 504, 529] # statuses that move to a fallback
 *     price_overrides:               # replace or add a model's prices (docs/proxy.md)
 *       - {provider: openai, model: gpt-4o-mini, input_mtok: 150000, output_mtok: 600000}
 *
 * Prices here are integers in the price table's own units (micros per million tokens,
 * `*_mtok`; micros per thousand requests, `*_kcount`), so an override reads like the
 * table it overrides and no amount passes through floating point.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "core/yaml_file.h"
#include "proxy/prices.h"
#include "proxy/runtime/proxy.h"

static tg_status fail(tg_error *err, const char *what, const char *detail) {
    if (err != NULL) {
        err->status = TG_ERR_INVALID;
        snprintf(err->message, sizeof err->message, "config: %s %s", what, detail);
    }
    return TG_ERR_INVALID;
}

static tg_status read_text(struct fy_node *node, char *out, size_t size, const char *what,
                           tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    if (text == NULL || strlen(text) >= size) {
        return fail(err, what, "must be text within its size limit");
    }
    memcpy(out, text, strlen(text) + 1);
    return TG_OK;
}

static tg_status read_count(struct fy_node *node, int64_t *out, const char *what, tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    char *end = NULL;
    long long value = text ? strtoll(text, &end, 10) : -1;
    if (text == NULL || *text == '\0' || *end != '\0' || value < 0 || value > TG_LIMIT_MAX) {
        return fail(err, what, "must be a whole number >= 0");
    }
    *out = value;
    return TG_OK;
}

/* The names of a list (its length checked by the caller) into slots, slot_size bytes each
 * and one after another (a char[N][slot_size] array), counted in *count; none may be empty.
 * Upstream fallbacks and switch models are both such lists. */
static tg_status read_names(struct fy_node *list, char *slots, size_t slot_size, int64_t *count,
                            const char *what, const char *empty, tg_error *err) {
    *count = 0;
    for (tg__yaml_item item = {0}; tg__yaml_next_item(list, &item);) {
        char *slot = slots + (size_t)*count * slot_size;
        tg_status status = read_text(item.node, slot, slot_size, what, err);
        if (status == TG_OK && slot[0] == '\0') {
            status = fail(err, what, empty);
        }
        if (status != TG_OK) {
            return status;
        }
        (*count)++;
    }
    return TG_OK;
}

/* A wait in 0..TG_WAIT_MS_MAX (the engine's bound on a waiting hold). */
static tg_status read_wait(struct fy_node *node, int64_t *out, const char *what, tg_error *err) {
    int64_t value = 0;
    if (read_count(node, &value, what, err) != TG_OK || value > TG_WAIT_MS_MAX) {
        return fail(err, what, "must be a whole number of ms in 0..600000 (TG_WAIT_MS_MAX)");
    }
    *out = value;
    return TG_OK;
}

static tg_status read_flag(struct fy_node *node, bool *out, const char *what, tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    if (text == NULL || (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)) {
        return fail(err, what, "must be true or false");
    }
    *out = strcmp(text, "true") == 0;
    return TG_OK;
}

/* deployments: {DEPLOYMENT: MODEL, ...}: what each Azure deployment runs, for its prices. */
static tg_status read_deployments(struct fy_node *node, tg__upstream *out, tg_error *err) {
    if (!fy_node_is_mapping(node)) {
        return fail(err, "upstreams: deployments", "must map each deployment to its model");
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        const char *name = entry.key;
        tg__route route;
        char checked[TG__PROXY_NAME_SIZE_MAX + 64];
        snprintf(checked, sizeof checked, "/openai/deployments/%s/embeddings", name ? name : "");
        if (out->deployments_count >= TG__PROXY_DEPLOYMENTS_MAX) {
            return fail(err, "upstreams: deployments:", "at most 16 per upstream");
        }
        tg__deployment *deployment = &out->deployments[out->deployments_count];
        if (name == NULL || strlen(name) >= sizeof deployment->name ||
            tg__azure_route(checked, &route, deployment->name, sizeof deployment->name) != TG_OK) {
            return fail(err,
                        "upstreams: deployments: a deployment is 1 to 63 of A-Z a-z 0-9 . _ -:",
                        name ? name : "");
        }
        tg_status status = read_text(entry.value, deployment->model, sizeof deployment->model,
                                     "upstreams: deployments: model", err);
        if (status != TG_OK) {
            return status;
        }
        out->deployments_count++;
    }
    return TG_OK;
}

/* fallbacks: [NAME, ...]: 1 to 4 upstream names, checked against the whole section once it
 * is read (tg__proxy_fallbacks_check: the names may come later in the file). */
static tg_status read_fallbacks(struct fy_node *node, tg__upstream *out, tg_error *err) {
    int count = fy_node_is_sequence(node) ? fy_node_sequence_item_count(node) : -1;
    if (count < 1 || count > TG__PROXY_FALLBACKS_MAX) {
        return fail(err, "upstreams: fallbacks", "must be a list of 1 to 4 upstream names");
    }
    return read_names(node, (char *)out->fallbacks, sizeof out->fallbacks[0], &out->fallbacks_count,
                      "upstreams: fallbacks:", "a name cannot be empty", err);
}

static tg_status read_upstream(struct fy_node *node, tg__upstream *out, tg_error *err) {
    if (!fy_node_is_mapping(node)) {
        return fail(err, "upstreams:", "each provider must be a mapping");
    }
    out->configured = true;
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        char env[128];
        tg_status status = TG_OK;
        if (entry.key == NULL) {
            status = fail(err, "upstreams:", "keys must be text");
        } else if (strcmp(entry.key, "base_url") == 0) {
            status = read_text(entry.value, out->base_url, sizeof out->base_url, "base_url", err);
        } else if (strcmp(entry.key, "api_key") == 0) {
            status = read_text(entry.value, out->api_key, sizeof out->api_key, "api_key", err);
        } else if (strcmp(entry.key, "api_key_env") == 0) {
            status = read_text(entry.value, env, sizeof env, "api_key_env", err);
            const char *secret = status == TG_OK ? getenv(env) : NULL;
            if (secret != NULL && strlen(secret) < sizeof out->api_key) {
                memcpy(out->api_key, secret, strlen(secret) + 1);
            }
        } else if (strcmp(entry.key, "wire") == 0) {
            const char *text = tg__yaml_scalar(entry.value);
            out->wire = text == NULL                      ? NULL
                        : strcmp(text, "openai") == 0     ? &tg__provider_openai
                        : strcmp(text, "azure") == 0      ? &tg__provider_azure
                        : strcmp(text, "openrouter") == 0 ? &tg__provider_openrouter
                                                          : NULL;
            if (out->wire == NULL) {
                status = fail(err, "upstreams: wire", "must be openai, azure or openrouter");
            }
        } else if (strcmp(entry.key, "deployments") == 0) {
            status = read_deployments(entry.value, out, err);
        } else if (strcmp(entry.key, "fallbacks") == 0) {
            status = read_fallbacks(entry.value, out, err);
        } else if (strcmp(entry.key, "answer_timeout_ms") == 0) {
            status = read_count(entry.value, &out->answer_timeout_ms,
                                "upstreams: answer_timeout_ms", err);
        } else if (strcmp(entry.key, "prices") == 0) {
            status = read_text(entry.value, out->prices_id, sizeof out->prices_id, "prices", err);
            out->free = status == TG_OK && strcmp(out->prices_id, "free") == 0;
        } else if (strcmp(entry.key, "wait_ms") == 0) {
            status = read_wait(entry.value, &out->wait_ms, "upstreams: wait_ms", err);
            out->wait_set = status == TG_OK;
        } else if (strcmp(entry.key, "pass_agent_key") == 0) {
            const char *text = tg__yaml_scalar(entry.value);
            out->pass_agent_key = text != NULL && strcmp(text, "true") == 0;
            if (text == NULL || (!out->pass_agent_key && strcmp(text, "false") != 0)) {
                status = fail(err, "pass_agent_key", "must be true or false");
            }
        } else {
            status = fail(err, "upstreams: unknown key", entry.key);
        }
        if (status != TG_OK) {
            return status;
        }
    }
    if (out->base_url[0] == '\0') {
        return fail(err, "upstreams:", "each provider needs a base_url");
    }
    size_t size = strlen(out->base_url);
    if (out->base_url[size - 1] == '/') {
        out->base_url[size - 1] = '\0'; /* routes start with a slash */
    }
    return TG_OK;
}

static tg_status read_upstreams(struct fy_node *node, tg__proxy_config *config, tg_error *err) {
    if (!fy_node_is_mapping(node)) {
        return fail(err, "upstreams:", "must be a mapping of providers");
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        const tg__provider *provider = tg__provider_find(entry.key);
        tg__upstream *upstream;
        if (provider != NULL) {
            upstream = &config->upstreams[provider->index];
        } else if (entry.key == NULL || entry.key[0] == '\0' ||
                   strlen(entry.key) >= TG__PROXY_NAME_SIZE_MAX ||
                   strspn(entry.key, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
                       strlen(entry.key)) {
            return fail(err, "upstreams: a name is lowercase letters, digits, _ and -:",
                        entry.key ? entry.key : "");
        } else if (config->compatible_count >= TG__PROXY_COMPATIBLE_MAX) {
            return fail(err, "upstreams:", "at most 32 OpenAI-compatible upstreams");
        } else {
            upstream = &config->compatible[config->compatible_count++];
            snprintf(upstream->name, sizeof upstream->name, "%s", entry.key);
        }
        tg_status status = read_upstream(entry.value, upstream, err);
        if (status != TG_OK) {
            return status;
        }
        if (provider == NULL && upstream->wire == NULL) {
            return fail(err,
                        "upstreams: unknown provider (openai, anthropic, gemini, or one named "
                        "with wire: openai, azure or openrouter):",
                        entry.key);
        }
        if (provider != NULL && (upstream->wire != NULL || upstream->prices_id[0] != '\0')) {
            return fail(err, "upstreams: wire and prices are for upstreams named by you, not",
                        entry.key);
        }
        if (upstream->deployments_count > 0 && upstream->wire != &tg__provider_azure) {
            return fail(err, "upstreams: deployments are for wire: azure, not", entry.key);
        }
        if (provider == NULL && upstream->prices_id[0] == '\0') {
            /* OpenAI-compatible: the price data's provider of the same name ("groq");
             * Azure and OpenRouter: theirs, whatever the upstream is called. */
            snprintf(upstream->prices_id, sizeof upstream->prices_id, "%s",
                     upstream->wire == &tg__provider_openai ? entry.key
                                                            : upstream->wire->prices_id);
        }
    }
    return TG_OK;
}

/* One entry of proxy.price_overrides into *price (provider and model in its names). */
static tg_status read_override(struct fy_node *node, tg__model_price *price, tg_error *err) {
    if (!fy_node_is_mapping(node)) {
        return fail(err, "proxy.price_overrides:", "each entry must be a mapping");
    }
    tg__model_price_init(price);
    price->overridden = true;
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        tg_status status = TG_OK;
        tg__unit unit;
        int64_t number = 0;
        if (entry.key == NULL) {
            status = fail(err, "proxy.price_overrides:", "keys must be text");
        } else if (strcmp(entry.key, "provider") == 0) {
            status =
                read_text(entry.value, price->provider, sizeof price->provider, entry.key, err);
        } else if (strcmp(entry.key, "model") == 0) {
            status = read_text(entry.value, price->model, sizeof price->model, entry.key, err);
        } else if (strcmp(entry.key, "context_window") == 0) {
            status = read_count(entry.value, &price->context_window_tokens, entry.key, err);
        } else if (strcmp(entry.key, "max_output_tokens") == 0) {
            status = read_count(entry.value, &price->max_output_tokens, entry.key, err);
        } else if (tg__unit_from_price_key(entry.key, &unit) == TG_OK) {
            status = read_count(entry.value, &number, entry.key, err);
            if (status == TG_OK) {
                tg__model_price_set(price, unit, number);
            }
        } else {
            status = fail(err,
                          "proxy.price_overrides: unknown key (a price key such as "
                          "input_mtok, or provider, model, context_window, "
                          "max_output_tokens):",
                          entry.key);
        }
        if (status != TG_OK) {
            return status;
        }
    }
    if (price->provider[0] == '\0' || price->model[0] == '\0') {
        return fail(err, "proxy.price_overrides:", "each entry needs a provider and a model");
    }
    if (price->priced_mask == 0) {
        return fail(err, "proxy.price_overrides: no price given for", price->model);
    }
    tg_error why = {0};
    if (tg__model_price_check(price, &why) != TG_OK) {
        if (err != NULL) { /* bounded parts: the sentence fits err->message whole */
            err->status = TG_ERR_INVALID;
            snprintf(err->message, sizeof err->message,
                     "config: proxy.price_overrides: %.64s: %.120s", price->model, why.message);
        }
        return TG_ERR_INVALID;
    }
    return TG_OK;
}

static tg_status read_overrides(struct fy_node *node, tg__proxy_config *config, tg_error *err) {
    if (!fy_node_is_sequence(node)) {
        return fail(err, "proxy.price_overrides:", "must be a list");
    }
    int count = fy_node_sequence_item_count(node);
    if (count < 0 || count > TG__PRICE_OVERRIDES_MAX) {
        return fail(err, "proxy.price_overrides:", "has more entries than 4096");
    }
    free(config->overrides);
    config->overrides = NULL;
    config->overrides_count = 0;
    if (count == 0) {
        return TG_OK;
    }
    config->overrides = calloc((size_t)count, sizeof *config->overrides);
    if (config->overrides == NULL) {
        return fail(err, "proxy.price_overrides:", "out of memory");
    }
    for (tg__yaml_item item = {0}; tg__yaml_next_item(node, &item);) {
        tg_status status =
            read_override(item.node, &config->overrides[config->overrides_count], err);
        if (status != TG_OK) {
            return status;
        }
        config->overrides_count++;
    }
    return TG_OK;
}

static tg_status read_policy(struct fy_node *node, tg__proxy_config *config, tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    if (text != NULL && strcmp(text, "refuse") == 0) {
        config->over_budget = TG__OVER_REFUSE;
    } else if (text != NULL && strcmp(text, "lower") == 0) {
        config->over_budget = TG__OVER_LOWER;
    } else if (text != NULL && strcmp(text, "switch") == 0) {
        config->over_budget = TG__OVER_SWITCH;
    } else {
        return fail(err, "proxy.over_budget", "must be refuse, lower or switch");
    }
    return TG_OK;
}

/* proxy.switch_model: one model, or a list of 1 to 8 tried in order. */
static tg_status read_switch_models(struct fy_node *node, tg__proxy_config *config, tg_error *err) {
    config->switch_models_count = 0;
    if (!fy_node_is_sequence(node)) {
        tg_status status = read_text(node, config->switch_models[0],
                                     sizeof config->switch_models[0], "proxy.switch_model", err);
        config->switch_models_count = status == TG_OK ? 1 : 0;
        return status;
    }
    int count = fy_node_sequence_item_count(node);
    if (count < 1 || count > TG__PLAN_SWITCH_MODELS_MAX) {
        return fail(err, "proxy.switch_model:", "a list of 1 to 8 models");
    }
    return read_names(node, (char *)config->switch_models, sizeof config->switch_models[0],
                      &config->switch_models_count,
                      "proxy.switch_model:", "a model name cannot be empty", err);
}

/* proxy.refusal_status: auto, 429, 402 or 403 (docs/proxy.md, "Which SDK retries what"). */
static tg_status read_refusal_status(struct fy_node *node, tg__proxy_config *config,
                                     tg_error *err) {
    const char *text = tg__yaml_scalar(node);
    static const char *const allowed[] = {"auto", "429", "402", "403"};
    for (size_t i = 0; text != NULL && i < sizeof allowed / sizeof allowed[0]; i++) {
        if (strcmp(text, allowed[i]) == 0) {
            config->refusal_status = i == 0 ? 0 : atoi(text);
            return TG_OK;
        }
    }
    return fail(err, "proxy.refusal_status", "must be auto, 429, 402 or 403");
}

/* proxy.fallback_on_status: 1 to 16 HTTP statuses (400..599) after which a call moves to
 * its upstream's next fallback. */
static tg_status read_fallback_statuses(struct fy_node *node, tg__proxy_config *config,
                                        tg_error *err) {
    int count = fy_node_is_sequence(node) ? fy_node_sequence_item_count(node) : -1;
    if (count < 1 || count > TG__PROXY_FALLBACK_STATUSES_MAX) {
        return fail(err, "proxy.fallback_on_status", "must be a list of 1 to 16 HTTP statuses");
    }
    config->fallback_statuses_count = 0;
    for (tg__yaml_item item = {0}; tg__yaml_next_item(node, &item);) {
        int64_t status = 0;
        if (read_count(item.node, &status, "proxy.fallback_on_status:", err) != TG_OK ||
            status < 400 || status > 599) {
            return fail(err, "proxy.fallback_on_status:",
                        "each status is a whole number in 400..599 (an error the upstream "
                        "answered)");
        }
        config->fallback_statuses[config->fallback_statuses_count++] = (int)status;
    }
    return TG_OK;
}

/* The proxy: keys that are whole numbers >= 0, each a field of tg__proxy_config (the bounds
 * between them are checked once the section is read, in tg__proxy_config_read). The
 * _Generic has no other branch, so a listed field that is not an int64_t does not compile
 * (count_field writes through an int64_t pointer). */
#define COUNT_KEY(name)                                                                            \
    { #name, _Generic(((tg__proxy_config *)0)->name, int64_t : offsetof(tg__proxy_config, name)) }
static const struct {
    const char *key;
    size_t offset; /* of its int64_t in tg__proxy_config */
} COUNT_KEYS[] = {
    COUNT_KEY(timeout_ms),
    COUNT_KEY(connect_timeout_ms),
    COUNT_KEY(stream_idle_timeout_ms),
    COUNT_KEY(default_max_output_tokens),
    COUNT_KEY(server_tool_uses_max),
    COUNT_KEY(server_tool_result_tokens),
    COUNT_KEY(stored_state_tokens_max),
    COUNT_KEY(background_deadline_ms),
    COUNT_KEY(pdf_page_tokens),
    COUNT_KEY(min_output_tokens),
    COUNT_KEY(retry_automatic_ms_max),
};
#undef COUNT_KEY

/* The field of `key` when it is one of COUNT_KEYS, else NULL. */
static int64_t *count_field(tg__proxy_config *config, const char *key) {
    for (size_t i = 0; i < sizeof COUNT_KEYS / sizeof COUNT_KEYS[0]; i++) {
        if (strcmp(key, COUNT_KEYS[i].key) == 0) {
            return (int64_t *)((char *)config + COUNT_KEYS[i].offset);
        }
    }
    return NULL;
}

static tg_status read_proxy(struct fy_node *node, tg__proxy_config *config, tg_error *err) {
    if (!fy_node_is_mapping(node)) {
        return fail(err, "proxy:", "must be a mapping");
    }
    for (tg__yaml_entry entry = {0}; tg__yaml_next(node, &entry);) {
        tg_status status = TG_OK;
        int64_t *count = NULL;
        if (entry.key == NULL) {
            status = fail(err, "proxy:", "keys must be text");
        } else if ((count = count_field(config, entry.key)) != NULL) {
            status = read_count(entry.value, count, entry.key, err);
        } else if (strcmp(entry.key, "prices_file") == 0) {
            status = read_text(entry.value, config->prices_file, sizeof config->prices_file,
                               entry.key, err);
        } else if (strcmp(entry.key, "over_budget") == 0) {
            status = read_policy(entry.value, config, err);
        } else if (strcmp(entry.key, "switch_model") == 0) {
            status = read_switch_models(entry.value, config, err);
        } else if (strcmp(entry.key, "refusal_status") == 0) {
            status = read_refusal_status(entry.value, config, err);
        } else if (strcmp(entry.key, "wait_ms") == 0) {
            status = read_wait(entry.value, &config->wait_ms, "proxy.wait_ms", err);
        } else if (strcmp(entry.key, "fallback_on_status") == 0) {
            status = read_fallback_statuses(entry.value, config, err);
        } else if (strcmp(entry.key, "user_budgets") == 0) {
            status = read_flag(entry.value, &config->user_budgets, entry.key, err);
        } else if (strcmp(entry.key, "price_overrides") == 0) {
            status = read_overrides(entry.value, config, err);
        } else {
            status = fail(err, "proxy: unknown key", entry.key);
        }
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

const tg__upstream *tg__proxy_upstream_find(const tg__proxy_config *config, const char *name) {
    const tg__provider *provider = tg__provider_find(name);
    if (provider != NULL) {
        const tg__upstream *own = &config->upstreams[provider->index];
        return own->configured ? own : NULL;
    }
    for (int64_t i = 0; i < config->compatible_count; i++) {
        if (strcmp(config->compatible[i].name, name) == 0) {
            return &config->compatible[i];
        }
    }
    return NULL;
}

const tg__provider *tg__proxy_upstream_wire(const tg__proxy_config *config,
                                            const tg__upstream *upstream) {
    if (upstream->wire != NULL) {
        return upstream->wire;
    }
    for (int i = 0; TG__PROVIDERS[i] != NULL; i++) {
        if (&config->upstreams[TG__PROVIDERS[i]->index] == upstream) {
            return TG__PROVIDERS[i];
        }
    }
    return NULL;
}

const char *tg__proxy_upstream_label(const tg__proxy_config *config, const tg__upstream *upstream) {
    if (upstream->name[0] != '\0') {
        return upstream->name;
    }
    const tg__provider *wire = tg__proxy_upstream_wire(config, upstream);
    return wire != NULL ? wire->name : "";
}

/* One upstream's fallbacks: each configured, not itself, not twice, and of the same wire,
 * since a request is forwarded as the client wrote it (Tollgate does not translate between
 * wires: model names, paths and fields differ). */
static tg_status fallbacks_check_one(const tg__proxy_config *config, const tg__upstream *upstream,
                                     tg_error *err) {
    const char *label = tg__proxy_upstream_label(config, upstream);
    const tg__provider *wire = tg__proxy_upstream_wire(config, upstream);
    for (int64_t i = 0; i < upstream->fallbacks_count; i++) {
        const char *name = upstream->fallbacks[i];
        const tg__upstream *fallback = tg__proxy_upstream_find(config, name);
        const char *why = NULL;
        char sentence[256];
        if (fallback == NULL) {
            why = "is not an upstream of this config";
        } else if (fallback == upstream) {
            why = "is the upstream itself";
        } else if (tg__proxy_upstream_wire(config, fallback) != wire) {
            snprintf(sentence, sizeof sentence,
                     "speaks wire %s, not %s: a fallback must speak the same wire (the "
                     "request is forwarded as written, never translated)",
                     tg__proxy_upstream_wire(config, fallback)->name, wire->name);
            why = sentence;
        }
        for (int64_t j = 0; why == NULL && j < i; j++) {
            why = strcmp(upstream->fallbacks[j], name) == 0 ? "is listed twice" : NULL;
        }
        if (why != NULL) {
            if (err != NULL) {
                err->status = TG_ERR_INVALID;
                snprintf(err->message, sizeof err->message,
                         "config: upstreams: %.32s: fallback %.32s %.150s", label, name, why);
            }
            return TG_ERR_INVALID;
        }
    }
    return TG_OK;
}

static tg_status fallbacks_check(const tg__proxy_config *config, tg_error *err) {
    for (int i = 0; TG__PROVIDERS[i] != NULL; i++) {
        const tg__upstream *own = &config->upstreams[TG__PROVIDERS[i]->index];
        tg_status status = own->configured ? fallbacks_check_one(config, own, err) : TG_OK;
        if (status != TG_OK) {
            return status;
        }
    }
    for (int64_t i = 0; i < config->compatible_count; i++) {
        tg_status status = fallbacks_check_one(config, &config->compatible[i], err);
        if (status != TG_OK) {
            return status;
        }
    }
    return TG_OK;
}

tg_status tg__proxy_config_read(struct fy_document *document, tg__proxy_config *config, bool *found,
                                tg_error *err) {
    memset(config, 0, sizeof *config);
    config->timeout_ms = 3600000;
    config->stream_idle_timeout_ms = 600000;
    config->default_max_output_tokens = 4096;
    config->pdf_page_tokens = 6000;
    config->background_deadline_ms = 3600000;
    config->connect_timeout_ms = 10000;
    config->min_output_tokens = 16;
    config->retry_automatic_ms_max = 2000;
    /* What LiteLLM and Portkey users expect to fail over on: rate limits, server errors,
     * and Anthropic's 529 overloaded. */
    static const int default_statuses[] = {429, 500, 502, 503, 504, 529};
    for (size_t i = 0; i < sizeof default_statuses / sizeof default_statuses[0]; i++) {
        config->fallback_statuses[config->fallback_statuses_count++] = default_statuses[i];
    }
    *found = false;
    struct fy_node *root = fy_document_root(document);
    tg_status status = TG_OK;
    if (root != NULL && fy_node_is_mapping(root)) {
        struct fy_node *upstreams = fy_node_mapping_lookup_by_string(root, "upstreams", -1);
        struct fy_node *proxy = fy_node_mapping_lookup_by_string(root, "proxy", -1);
        *found = upstreams != NULL;
        if (upstreams != NULL) {
            status = read_upstreams(upstreams, config, err);
        }
        if (status == TG_OK && proxy != NULL) {
            status = read_proxy(proxy, config, err);
        }
        if (status == TG_OK) {
            status = fallbacks_check(config, err);
        }
        if (status == TG_OK && config->over_budget == TG__OVER_SWITCH &&
            (config->switch_models_count == 0 || config->switch_models[0][0] == '\0')) {
            status = fail(err, "proxy.over_budget: switch", "needs proxy.switch_model");
        }
        if (status == TG_OK &&
            (config->stream_idle_timeout_ms < 1000 || config->default_max_output_tokens < 1 ||
             config->timeout_ms < 1000 || config->background_deadline_ms < 1000)) {
            status = fail(err, "proxy:",
                          "timeout_ms, stream_idle_timeout_ms and background_deadline_ms must be "
                          "at least 1000 and default_max_output_tokens at least 1");
        }
        if (status == TG_OK && config->min_output_tokens < 1) {
            config->min_output_tokens = 1;
        }
    }
    if (status != TG_OK) {
        tg__proxy_config_free(config);
    }
    return status;
}

tg_status tg__proxy_config_load(const char *config_file, tg__proxy_config *config, bool *found,
                                tg_error *err) {
    /* Through the shared reader: a SIGHUP reload must never hang the loop on bad bytes. */
    struct fy_document *document;
    tg_status status = tg__yaml_file_load(config_file, "config", &document, err);
    if (status != TG_OK) {
        memset(config, 0, sizeof *config);
        *found = false;
        return status;
    }
    status = tg__proxy_config_read(document, config, found, err);
    fy_document_destroy(document);
    return status;
}

void tg__proxy_config_free(tg__proxy_config *config) {
    if (config == NULL) {
        return;
    }
    free(config->overrides);
    config->overrides = NULL;
    config->overrides_count = 0;
}
