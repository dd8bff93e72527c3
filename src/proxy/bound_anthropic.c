/*
 * bound_anthropic: Anthropic messages (bound.h), from Anthropic's published
 * pricing and tool-use pages:
 *   - tools add a tool-use system prompt (per model, the larger of the tool_choice
 *     auto/none and any/tool figures) and their definitions as text; the
 *     Anthropic-defined client tools add their documented fixed amounts;
 *   - images cost width x height / 750 tokens after the long edge is brought to
 *     1568 px; an image whose size cannot be read (URL, file) costs the most that
 *     formula gives;
 *   - PDF documents bill text and an image per page: pages x per-page maximum;
 *     plain-text documents their text; a document by URL or file id is unbounded;
 *   - web_search costs $10 per 1,000 uses, web_fetch only tokens; both need
 *     max_uses (or proxy.server_tool_uses_max). Each use is a new sampling, with
 *     its own max_tokens of output. code_execution bills container time, which no
 *     request field bounds; MCP servers' results likewise without a cap.
 */
#include <string.h>

#include "core/path.h"
#include "proxy/bound.h"
#include "proxy/numbers.h"
#include "tokenizer/images.h"

#define TOOL_PROMPT_UNKNOWN 600 /* a model not in the table below */
#define BASH_TOOL_TOKENS 245
#define TEXT_EDITOR_TOOL_TOKENS 700
#define COMPUTER_TOOL_TOKENS (735 + 499) /* the tool, and its system prompt */
#define LONG_EDGE_PIXELS 1568
#define PIXELS_PER_TOKEN 750

/* Tool-use system prompt tokens, the larger of auto/none and any/tool, by model prefix. */
static const struct {
    const char *prefix;
    int64_t tokens;
} TOOL_PROMPTS[] = {
    {"claude-opus-4", 346},     {"claude-sonnet-4", 346},   {"claude-haiku-4", 346},
    {"claude-3-7-sonnet", 346}, {"claude-3-5-sonnet", 294}, {"claude-3-5-haiku", 340},
    {"claude-3-opus", 530},     {"claude-3-sonnet", 235},   {"claude-3-haiku", 340},
};

static int64_t tool_prompt_tokens(const char *model) {
    for (size_t i = 0; i < sizeof TOOL_PROMPTS / sizeof TOOL_PROMPTS[0]; i++) {
        if (strncmp(model, TOOL_PROMPTS[i].prefix, strlen(TOOL_PROMPTS[i].prefix)) == 0) {
            return TOOL_PROMPTS[i].tokens;
        }
    }
    return TOOL_PROMPT_UNKNOWN;
}

static int64_t image_pixels_tokens(uint32_t width, uint32_t height) {
    if (width == 0 || height == 0) {
        return TG__BOUND_CLAUDE_IMAGE_MAX;
    }
    int64_t w = width, h = height;
    int64_t longest = w > h ? w : h;
    if (longest > LONG_EDGE_PIXELS) {
        /* Rounded up: the resized image is never counted smaller than it is. */
        w = tg__div_up(w * LONG_EDGE_PIXELS, longest);
        h = tg__div_up(h * LONG_EDGE_PIXELS, longest);
    }
    return tg__min64(tg__div_up(w * h, PIXELS_PER_TOKEN), TG__BOUND_CLAUDE_IMAGE_MAX);
}

static tg_status image(tg__bound_walk *walk, const json_t *source) {
    uint32_t width = 0, height = 0;
    const char *type = json_string_value(json_object_get(source, "type"));
    const json_t *data = json_object_get(source, "data");
    if (type != NULL && strcmp(type, "base64") == 0 && json_is_string(data)) {
        tg__image_size(json_string_value(data), json_string_length(data), &width, &height);
    }
    walk->input_tokens = tg__sat_add(walk->input_tokens, image_pixels_tokens(width, height));
    return TG_OK;
}

static tg_status document(tg__bound_walk *walk, const json_t *source, tg_error *err) {
    const char *type = json_string_value(json_object_get(source, "type"));
    const json_t *data = json_object_get(source, "data");
    if (type != NULL && strcmp(type, "base64") == 0 && json_is_string(data)) {
        return tg__bound_pdf(walk, json_string_value(data), json_string_length(data), err);
    }
    if (type != NULL && strcmp(type, "text") == 0) {
        return tg__bound_json(walk, data, NULL, 1, err);
    }
    if (type != NULL && strcmp(type, "content") == 0) {
        return tg__bound_json(walk, json_object_get(source, "content"), NULL, 1, err);
    }
    return tg__fail(err, TG_ERR_RANGE,
                    "a document by URL or file id: Tollgate cannot count its pages, so its cost "
                    "is unbounded (send it as base64 or text)");
}

static tg_status anthropic_media(tg__bound_walk *walk, const json_t *part, bool *taken,
                                 tg_error *err) {
    const char *type = json_string_value(json_object_get(part, "type"));
    if (strcmp(type, "image") == 0) {
        *taken = true;
        return image(walk, json_object_get(part, "source"));
    }
    if (strcmp(type, "document") == 0) {
        *taken = true;
        tg_status status = document(walk, json_object_get(part, "source"), err);
        if (status == TG_OK) { /* title and context are text too */
            status = tg__bound_json(walk, json_object_get(part, "title"), NULL, 1, err);
        }
        if (status == TG_OK) {
            status = tg__bound_json(walk, json_object_get(part, "context"), NULL, 1, err);
        }
        return status;
    }
    return TG_OK;
}

static bool prefixed(const char *type, const char *prefix) {
    return strncmp(type, prefix, strlen(prefix)) == 0;
}

static tg_status tool(tg__bound_walk *walk, const json_t *definition, tg_error *err) {
    const char *type = json_string_value(json_object_get(definition, "type"));
    int64_t fixed = 0;
    if (type != NULL && (prefixed(type, "web_search_") || prefixed(type, "web_fetch_"))) {
        const json_t *max_uses = json_object_get(definition, "max_uses");
        int64_t uses = json_is_integer(max_uses) && json_integer_value(max_uses) >= 0
                           ? json_integer_value(max_uses)
                           : -1;
        tg_status status = tg__bound_uses(walk, uses, type, err);
        if (status != TG_OK) {
            return status;
        }
        if (prefixed(type, "web_search_")) {
            /* The published fee, or the price table's if dearer (it is what is charged). */
            int64_t fee = TG__BOUND_WEB_SEARCH_ANTHROPIC;
            const tg__rate *rate = &walk->price->rates[TG__UNIT_WEB_SEARCHES];
            int64_t table = tg__div_up(rate->base_micros, 1000);
            for (int i = 0; i < rate->tiers_count; i++) {
                table = tg__sat_add(0, rate->tier_micros[i] / 1000 + 1) > table
                            ? rate->tier_micros[i] / 1000 + 1
                            : table;
            }
            fee = table > fee ? table : fee;
            int64_t allowed = uses >= 0 ? uses : walk->options->server_tool_uses_max;
            walk->fee_micros = tg__sat_add(walk->fee_micros, tg__sat_mul(allowed, fee));
        }
        walk->rounds_per_use = true;
    } else if (type != NULL && prefixed(type, "code_execution_")) {
        return tg__fail(err, TG_ERR_RANGE,
                        "%.64s bills container time, which no request field bounds", type);
    } else if (type != NULL && prefixed(type, "bash_")) {
        fixed = BASH_TOOL_TOKENS;
    } else if (type != NULL && prefixed(type, "text_editor_")) {
        fixed = TEXT_EDITOR_TOOL_TOKENS;
    } else if (type != NULL && prefixed(type, "computer_")) {
        fixed = COMPUTER_TOOL_TOKENS;
    }
    walk->input_tokens = tg__sat_add(walk->input_tokens, fixed);
    return tg__bound_json(walk, definition, NULL, 1, err);
}

tg_status tg__bound_anthropic(tg__bound_walk *walk, const tg__request *request, tg_error *err) {
    const json_t *body = request->body;
    const json_t *messages = json_object_get(body, "messages");
    walk->input_tokens = tg__sat_mul(
        json_is_array(messages) ? (int64_t)json_array_size(messages) : 0, TG__BOUND_MESSAGE_TOKENS);
    static const char *const FIELDS[] = {"system", "messages", "tool_choice"};
    tg_status status = tg__bound_fields(walk, body, FIELDS, sizeof FIELDS / sizeof FIELDS[0],
                                        anthropic_media, err);
    if (status != TG_OK) {
        return status;
    }
    const json_t *tools = json_object_get(body, "tools");
    if (json_is_array(tools) && json_array_size(tools) > 0) {
        walk->input_tokens =
            tg__sat_add(walk->input_tokens, tool_prompt_tokens(request->info.model));
    }
    size_t index;
    const json_t *definition;
    json_array_foreach((json_t *)tools, index, definition) {
        status = tool(walk, definition, err);
        if (status != TG_OK) {
            return status;
        }
    }
    const json_t *servers = json_object_get(body, "mcp_servers");
    if (json_is_array(servers) && json_array_size(servers) > 0) {
        status = tg__bound_uses(walk, -1, "mcp_servers", err);
        if (status != TG_OK) {
            return status;
        }
        walk->rounds_per_use = true;
        return tg__bound_json(walk, servers, NULL, 1, err);
    }
    return TG_OK;
}
