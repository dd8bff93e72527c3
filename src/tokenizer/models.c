/*
 * models: the table behind models.h. Sources, so each number can be checked:
 *   - message framing and the tool constants: OpenAI cookbook "How to count tokens
 *     with tiktoken" (num_tokens_from_messages, num_tokens_for_tools), whose worked
 *     examples tests/tokenizer/requests/ replays against the billed counts;
 *   - images: OpenAI's "Images and vision" guide, "Calculating costs" (tiles: base and
 *     per-tile tokens per model; patches: 32 px, cap 1536, per-model multiplier);
 *   - Claude: Anthropic's vision guide (tokens = width * height / 750) and the
 *     calibration in docs/tokenizer.md for the text estimate.
 * Longer prefixes come first: the first match wins.
 */
#include "tokenizer/models.h"

#include <string.h>

#define O200K TG_ENCODING_O200K_BASE
#define CL100K TG_ENCODING_CL100K_BASE
#define TILES(base, tile) TG__IMAGE_TILES, base, tile, 0
#define PATCHES(milli) TG__IMAGE_PATCHES, 0, 0, milli
#define CHAT_4O 3, 1, 3, 7, 12
#define CHAT_4 3, 1, 3, 10, 12

static const tg__model models[] = {
    {"gpt-4o-mini", O200K, CHAT_4O, TILES(2833, 5667), 0},
    {"gpt-4o", O200K, CHAT_4O, TILES(85, 170), 0},
    {"chatgpt-4o", O200K, CHAT_4O, TILES(85, 170), 0},
    {"gpt-4.1-mini", O200K, CHAT_4O, PATCHES(1620), 0},
    {"gpt-4.1-nano", O200K, CHAT_4O, PATCHES(2460), 0},
    {"gpt-4.1", O200K, CHAT_4O, TILES(85, 170), 0},
    {"gpt-4.5", O200K, CHAT_4O, TILES(85, 170), 0},
    {"gpt-5-mini", O200K, CHAT_4O, PATCHES(1620), 0},
    {"gpt-5-nano", O200K, CHAT_4O, PATCHES(2460), 0},
    {"gpt-5", O200K, CHAT_4O, TILES(70, 140), 0},
    {"o4-mini", O200K, CHAT_4O, PATCHES(1720), 0},
    {"o1", O200K, CHAT_4O, TILES(75, 150), 0},
    {"o3", O200K, CHAT_4O, TILES(75, 150), 0},
    {"computer-use-preview", O200K, CHAT_4O, TILES(65, 129), 0},
    {"gpt-oss", O200K, CHAT_4O, TILES(85, 170), 0},
    {"gpt-4-turbo", CL100K, CHAT_4, TILES(85, 170), 0},
    {"gpt-4-vision", CL100K, CHAT_4, TILES(85, 170), 0},
    {"gpt-4", CL100K, CHAT_4, TILES(85, 170), 0},
    /* gpt-3.5-turbo-0301 framed differently: 4 per message, a name replaced the role. */
    {"gpt-3.5-turbo-0301", CL100K, 4, -1, 3, 10, 12, TILES(85, 170), 0},
    {"gpt-3.5", CL100K, CHAT_4, TILES(85, 170), 0},
    {"gpt-35", CL100K, CHAT_4, TILES(85, 170), 0},
    {"text-embedding", CL100K, CHAT_4, TILES(85, 170), 0},
    {"davinci-002", CL100K, CHAT_4, TILES(85, 170), 0},
    {"babbage-002", CL100K, CHAT_4, TILES(85, 170), 0},
    /* Claude: no public tokenizer; cl100k_base counts scaled up, calibrated in
     * docs/tokenizer.md (at most 1.30x on the corpus). Opus 4.7 and later use a
     * tokenizer that makes up to 1.35x more tokens than the earlier one. */
    {"claude-opus-4-7", CL100K, CHAT_4O, TG__IMAGE_PIXELS, 0, 0, 0, 1800},
    {"claude-opus-5", CL100K, CHAT_4O, TG__IMAGE_PIXELS, 0, 0, 0, 1800},
    {"claude", CL100K, CHAT_4O, TG__IMAGE_PIXELS, 0, 0, 0, 1350},
};

static const tg__model default_model = {"", O200K, CHAT_4O, TILES(85, 170), 0};

const tg__model *tg__model_find(const char *model, bool *known_out) {
    *known_out = false;
    if (model == NULL) {
        return &default_model;
    }
    const char *slash = strrchr(model, '/');
    if (slash != NULL) {
        model = slash + 1;
    }
    /* A fine-tuned model ("ft:gpt-3.5-turbo-0125:org:suffix:id", or the legacy
     * "ft:davinci-002:...") has its base model's tokenizer, framing and image
     * billing. */
    if (strncmp(model, "ft:", 3) == 0) {
        model += 3;
    }
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        if (strncmp(model, models[i].prefix, strlen(models[i].prefix)) == 0) {
            *known_out = true;
            return &models[i];
        }
    }
    return &default_model;
}

tg_status tg_encoding_for_model(const char *model, tg_encoding *encoding_out) {
    bool known;
    const tg__model *row = tg__model_find(model, &known);
    *encoding_out = row->encoding;
    return known ? TG_OK : TG_ERR_NOT_FOUND;
}
