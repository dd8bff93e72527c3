/*
 * stream: following upstream events. Each provider reads its own events
 * (provider.h's stream_event: provider_openai_stream.c, provider_anthropic.c)
 * with the helpers here, keeping what its ending writer needs and counting
 * output text as it goes; this file holds what every provider shares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "proxy/numbers.h"
#include "proxy/provider.h"
#include "proxy/stream.h"
#include "proxy/usage.h"

void tg__stream_init(tg__stream *stream, tg__route route, const char *model,
                     bool client_wants_usage) {
    memset(stream, 0, sizeof *stream);
    stream->route = route;
    stream->client_wants_usage = client_wants_usage;
    stream->sequence_number = -1;
    stream->open_block = -1;
    stream->cost_reported_micros = -1;
    snprintf(stream->model, sizeof stream->model, "%s", model ? model : "");
    stream->exact = tg__stream_exact_model(route, model);
    tg__buf_init(&stream->exact_text, TG__STREAM_SNAPSHOT_SIZE_MAX);
}

void tg__stream_free(tg__stream *stream) {
    if (stream != NULL) {
        json_decref(stream->snapshot);
        stream->snapshot = NULL;
        tg__buf_free(&stream->exact_text);
    }
}

/* Keeps output text for an exact count at the end (stream_exact.c). */
void tg__stream_keep_text(tg__stream *stream, const char *text, size_t size) {
    if (stream->exact && !stream->exact_lost &&
        tg__buf_append(&stream->exact_text, text, size) != TG_OK) {
        stream->exact_lost = true;
        tg__buf_free(&stream->exact_text);
    }
}

void tg__stream_copy_string(char *dst, size_t size, const json_t *value) {
    if (json_is_string(value) && json_string_length(value) < size) {
        memcpy(dst, json_string_value(value), json_string_length(value) + 1);
    }
}

json_int_t tg__stream_choice_mark(tg__stream *stream, const json_t *choice,
                                  const char *finish_key) {
    const json_t *index = json_object_get(choice, "index");
    json_int_t i = json_is_integer(index) ? json_integer_value(index) : 0;
    if (i >= 0 && i < TG__STREAM_CHOICES_MAX) {
        bool done = json_is_string(json_object_get(choice, finish_key));
        stream->choices[i] = done ? 2 : (stream->choices[i] ? stream->choices[i] : 1);
    }
    return i;
}

/* Counts a piece of output text (content, tool arguments, reasoning). */
void tg__stream_count_text(tg__stream *stream, const json_t *value) {
    if (json_is_string(value) && json_string_length(value) > 0) {
        stream->text_bytes += (int64_t)json_string_length(value);
        stream->text_events++;
        tg__stream_keep_text(stream, json_string_value(value), json_string_length(value));
    }
}

/* True when a usage object carries the input count itself. Anthropic's message_delta
 * may carry output_tokens alone: that says nothing of the input, and taking its
 * absence for a zero would charge an input never reported as free. */
static bool reports_input(const json_t *usage) {
    const json_t *input = json_object_get(usage, "input_tokens");
    if (input == NULL || json_is_null(input)) {
        input = json_object_get(usage, "prompt_tokens");
    }
    return input != NULL && !json_is_null(input);
}

void tg__stream_read_usage(tg__stream *stream, const json_t *usage, bool final) {
    if (json_is_object(usage) &&
        tg__usage_merge_json(stream->route, usage, &stream->reported) == TG_OK) {
        stream->input_reported = stream->input_reported || reports_input(usage);
        stream->output_final = stream->output_final || final;
        int64_t cost_micros;
        if (tg__usage_cost_micros(usage, &cost_micros) == TG_OK) {
            stream->cost_reported_micros = cost_micros;
        }
    }
}

tg_status tg__stream_event(tg__stream *stream, const tg__sse_event *event, bool *forward) {
    bool keep = true;
    const tg__provider *provider = tg__route_provider(stream->route);
    if (provider != NULL) {
        provider->stream_event(stream, event, &keep);
    }
    if (forward != NULL) {
        *forward = keep;
    }
    return TG_OK;
}

int64_t tg__stream_output_tokens(const tg__stream *stream) {
    int64_t reported = stream->reported.counts[TG__UNIT_OUTPUT];
    if (stream->output_final) {
        return reported;
    }
    int64_t estimate = tg__usage_output_estimate(stream->text_bytes, stream->text_events);
    return estimate > reported ? estimate : reported;
}

void tg__stream_usage(const tg__stream *stream, int64_t prompt_tokens_estimate, tg__usage *out) {
    *out = stream->reported;
    if (!stream->input_reported) {
        out->counts[TG__UNIT_INPUT] = prompt_tokens_estimate;
        out->estimated = true;
    }
    int64_t output = tg__stream_output_tokens(stream);
    if (output != out->counts[TG__UNIT_OUTPUT]) {
        out->counts[TG__UNIT_OUTPUT] = output;
        out->estimated = true;
    }
    out->counts[TG__UNIT_REQUESTS] = 1;
}
