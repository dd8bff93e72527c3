/*
 * stream_exact: the output of an OpenAI stream that ended without usage, counted
 * with the model's own tokenizer (stream.h). Tollgate asks the upstream for usage
 * (stream_options.include_usage), so this is for upstreams that do not send it.
 * The streamed text is counted as one piece with tiktoken's encoding for the model,
 * which is what the model generated for it; each output item or tool call adds
 * TG__STREAM_ITEM_TOKENS for the framing tokens the stream does not show. Where the
 * stream cannot show all that was billed, no exact count is claimed and the caller
 * charges the held worst case: reasoning models (hidden reasoning tokens), several
 * choices interleaved, a stream that broke off before its last event.
 */
#include <string.h>

#include "proxy/numbers.h"
#include "proxy/provider.h"
#include "proxy/stream.h"
#include "tollgate_tokens.h"

/* Model families that reason before they answer: their reasoning is billed as output
 * and not streamed (chat shows nothing of it), so the text is not the whole output. */
static const char *const REASONING_PREFIXES[] = {"o1",    "o3",    "o4",
                                                 "gpt-5", "codex", "computer-use"};

bool tg__stream_exact_model(tg__route route, const char *model) {
    const tg__route_row *row = tg__route_row_of(route);
    if (model == NULL || row == NULL || !row->stream_exact) {
        return false;
    }
    for (size_t i = 0; i < sizeof REASONING_PREFIXES / sizeof REASONING_PREFIXES[0]; i++) {
        if (strncmp(model, REASONING_PREFIXES[i], strlen(REASONING_PREFIXES[i])) == 0) {
            return false;
        }
    }
    tg_encoding encoding;
    return tg_encoding_for_model(model, &encoding) == TG_OK;
}

tg_status tg__stream_exact_output(const tg__stream *stream, int64_t *tokens_out) {
    if (!stream->exact || stream->exact_lost || !stream->finished || stream->failed) {
        return TG_ERR_NOT_FOUND;
    }
    tg_encoding encoding;
    tg_encoding_for_model(stream->model, &encoding);
    const tg_tokenizer *tokenizer = tg_tokenizer_shared(encoding);
    size_t count = 0;
    if (tokenizer == NULL ||
        tg_tokens_count(tokenizer, stream->exact_text.data ? stream->exact_text.data : "",
                        stream->exact_text.size, 0, &count) != TG_OK) {
        return TG_ERR_NOT_FOUND;
    }
    int64_t items = stream->exact_items > 0 ? stream->exact_items : 1;
    *tokens_out = tg__sat_add((int64_t)count, tg__sat_mul(items, TG__STREAM_ITEM_TOKENS));
    return TG_OK;
}
