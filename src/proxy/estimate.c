/*
 * estimate: the byte-count prompt estimate. Only the fields the model reads are
 * counted (not metadata, user ids or sampling settings); within them every key,
 * string and number counts, since tool schemas reach the model as JSON text.
 * Media parts count a fixed amount instead of their base64 bytes, which would
 * otherwise count a small image as tens of thousands of tokens.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/cost.h"
#include "proxy/estimate.h"
#include "proxy/provider.h"
#include "proxy/request.h"
#include "tokenizer/request.h"
#include "tollgate_tokens.h"

#define WALK_DEPTH_MAX 64 /* deeper parts are counted as media-sized lumps */

static const char *const PROMPT_FIELDS[] = {
    "messages",     "system", "tools",           "functions", "tool_choice", "input",
    "instructions", "prompt", "response_format", "text",      "suffix",
};

static const char *const MEDIA_TYPES[] = {
    "image_url", "input_image", "image", "input_audio", "audio", "file", "input_file", "document",
};

typedef struct {
    int64_t text_bytes; /* bytes of keys, strings and numbers */
    int64_t items;      /* messages (or input items) */
    int64_t media;      /* media parts */
    int64_t token_ids;  /* integers in arrays of token ids (embeddings, completions) */
} tally;

static bool is_media(const json_t *value) {
    const char *type = json_string_value(json_object_get(value, "type"));
    if (type == NULL) {
        return false;
    }
    for (size_t i = 0; i < sizeof MEDIA_TYPES / sizeof MEDIA_TYPES[0]; i++) {
        if (strcmp(type, MEDIA_TYPES[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void walk(const json_t *value, int depth, tally *t) {
    if (depth > WALK_DEPTH_MAX) {
        t->media++;
        return;
    }
    if (json_is_string(value)) {
        size_t size = json_string_length(value);
        if (size > 5 && memcmp(json_string_value(value), "data:", 5) == 0) {
            t->media++; /* an inline data URL outside a typed part */
        } else {
            t->text_bytes += (int64_t)size;
        }
    } else if (json_is_integer(value) || json_is_real(value)) {
        t->text_bytes += 4;
    } else if (json_is_array(value)) {
        size_t index;
        const json_t *item;
        json_array_foreach((json_t *)value, index, item) {
            walk(item, depth + 1, t);
        }
    } else if (json_is_object(value)) {
        if (is_media(value)) {
            t->media++;
            return;
        }
        const char *key;
        const json_t *item;
        json_object_foreach((json_t *)value, key, item) {
            t->text_bytes += (int64_t)strlen(key);
            walk(item, depth + 1, t);
        }
    }
}

/* Embeddings and completions accept token ids: an array of integers is exact. */
static bool count_token_ids(const json_t *value, tally *t) {
    if (!json_is_array(value) || json_array_size(value) == 0) {
        return false;
    }
    const json_t *first = json_array_get(value, 0);
    if (json_is_integer(first)) {
        t->token_ids += (int64_t)json_array_size(value);
        return true;
    }
    if (!json_is_array(first)) {
        return false;
    }
    size_t index;
    const json_t *item;
    json_array_foreach((json_t *)value, index, item) {
        if (!count_token_ids(item, t)) {
            walk(item, 1, t);
        }
    }
    return true;
}

/* The exact count of an OpenAI request by the model's own tokenizer (src/tokenizer),
 * or -1 when the route or model has none: the byte estimate below is used then. The
 * tokenizer counts the tree the proxy parsed (tg__tokens_count_tree): writing it out
 * and parsing it again cost about a tenth of a plain call's instructions. */
_Static_assert(TG__REQUEST_BODY_SIZE_MAX <= TG_REQUEST_BODY_SIZE_MAX,
               "every body the proxy parses is one the tokenizer would count");
static int64_t exact_count(tg__route route, const char *model, const json_t *body) {
    const tg__route_row *row = tg__route_row_of(route);
    if (row == NULL || row->count_kind < 0) {
        return -1;
    }
    tg_request_kind kind = (tg_request_kind)row->count_kind;
    tg_encoding encoding;
    if (model == NULL || tg_encoding_for_model(model, &encoding) != TG_OK) {
        return -1; /* a model the tokenizer does not know: its guess would not be exact */
    }
    tg_prompt_count count;
    tg_status status =
        tg__tokens_count_tree(kind, model[0] != '\0' ? model : NULL, body, &count, NULL);
    if (status != TG_OK || count.quality == TG_COUNT_ESTIMATE) {
        return -1;
    }
    return count.prompt_tokens;
}

int64_t tg__prompt_tokens_estimate(tg__route route, const char *model, const json_t *body) {
    int64_t exact = exact_count(route, model, body);
    if (exact >= 0) {
        return exact < TG__USAGE_COUNT_MAX ? exact : TG__USAGE_COUNT_MAX;
    }
    tally t = {0};
    for (size_t i = 0; i < sizeof PROMPT_FIELDS / sizeof PROMPT_FIELDS[0]; i++) {
        const json_t *field = json_object_get(body, PROMPT_FIELDS[i]);
        if (field == NULL) {
            continue;
        }
        const tg__route_row *row = tg__route_row_of(route);
        bool ids = row != NULL && row->token_ids && count_token_ids(field, &t);
        if (!ids) {
            walk(field, 1, &t);
        }
        if (json_is_array(field) && strcmp(PROMPT_FIELDS[i], "tools") != 0) {
            t.items += (int64_t)json_array_size(field);
        }
    }
    int64_t text_tokens = t.text_bytes / TG__ESTIMATE_BYTES_PER_TOKEN +
                          (t.text_bytes % TG__ESTIMATE_BYTES_PER_TOKEN != 0);
    int64_t margin = (text_tokens * TG__ESTIMATE_MARGIN_PERCENT + 99) / 100;
    int64_t tokens = text_tokens + margin + TG__ESTIMATE_FIXED_TOKENS +
                     t.items * TG__ESTIMATE_MESSAGE_TOKENS + t.media * TG__ESTIMATE_MEDIA_TOKENS +
                     t.token_ids;
    return tokens < TG__USAGE_COUNT_MAX ? tokens : TG__USAGE_COUNT_MAX;
}
