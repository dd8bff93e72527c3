/*
 * stream_end: the clean ending of a stream Tollgate cuts short (a hold used up,
 * a class revoked). It reads as the provider's own stop at an output limit, so
 * an SDK's stream helper returns a complete message instead of throwing, and an
 * agent sees "stopped: length" rather than a broken connection.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/stream.h"
#include "proxy/usage.h"

/* Appends one SSE event (named, or data-only when name is NULL); takes `data`. */
static tg_status put_event(tg__buf *out, const char *name, json_t *data) {
    if (data == NULL) {
        return TG_ERR_NOMEM;
    }
    char *text = json_dumps(data, JSON_COMPACT); /* one line: newlines in strings are escaped */
    json_decref(data);
    if (text == NULL) {
        return TG_ERR_NOMEM;
    }
    tg_status status = name ? tg__buf_printf(out, "event: %s\ndata: %s\n\n", name, text)
                            : tg__buf_printf(out, "data: %s\n\n", text);
    free(text);
    return status;
}

static json_t *openai_chunk(const tg__stream *stream, int64_t now_ms, json_t *choices) {
    bool chat = stream->route == TG__ROUTE_OPENAI_CHAT;
    json_t *chunk =
        json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", stream->id[0] ? stream->id : "chatcmpl-tollgate",
                  "object", chat ? "chat.completion.chunk" : "text_completion", "created",
                  (json_int_t)(stream->created ? stream->created : now_ms / 1000), "model",
                  stream->model, "choices", choices);
    if (chunk != NULL && stream->client_wants_usage) {
        json_object_set_new(chunk, "usage", json_null());
    }
    return chunk;
}

static tg_status end_openai(const tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                            tg__buf *out) {
    bool chat = stream->route == TG__ROUTE_OPENAI_CHAT;
    bool any = false;
    for (int i = 0; i < TG__STREAM_CHOICES_MAX; i++) {
        any = any || stream->choices[i] != 0;
    }
    tg_status status = TG_OK;
    for (int i = 0; i < TG__STREAM_CHOICES_MAX && status == TG_OK; i++) {
        if (stream->choices[i] == 2 || (stream->choices[i] == 0 && (any || i > 0))) {
            continue; /* finished already, or never started (choice 0 stands in if none did) */
        }
        json_t *choice;
        if (chat) {
            json_t *delta = stream->choices[i] == 0
                                ? json_pack("{s:s,s:s}", "role", "assistant", "content", "")
                                : json_object();
            choice = json_pack("{s:i,s:o,s:n,s:s}", "index", i, "delta", delta, "logprobs",
                               "finish_reason", "length");
        } else {
            choice = json_pack("{s:s,s:i,s:n,s:s}", "text", "", "index", i, "logprobs",
                               "finish_reason", "length");
        }
        status = put_event(out, NULL, openai_chunk(stream, now_ms, json_pack("[o]", choice)));
    }
    if (status == TG_OK && stream->client_wants_usage) {
        json_t *chunk = openai_chunk(stream, now_ms, json_array());
        if (chunk != NULL) {
            json_object_set_new(chunk, "usage", tg__usage_to_json(stream->route, usage));
        }
        status = put_event(out, NULL, chunk);
    }
    return status == TG_OK ? tg__buf_puts(out, "data: [DONE]\n\n") : status;
}

/* Marks items the cut left unfinished as incomplete, as the API itself does. */
static void mark_incomplete(json_t *response) {
    json_t *output = json_object_get(response, "output");
    for (size_t i = 0; i < json_array_size(output); i++) {
        json_t *item = json_array_get(output, i);
        const char *status = json_string_value(json_object_get(item, "status"));
        if (status != NULL && strcmp(status, "in_progress") == 0) {
            json_object_set_new(item, "status", json_string("incomplete"));
        }
    }
}

static tg_status end_responses(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                               tg__buf *out) {
    tg_status status = TG_OK;
    if (stream->snapshot == NULL) {
        /* Nothing came yet: the SDK needs response.created before anything else. */
        stream->snapshot =
            json_pack("{s:s,s:s,s:I,s:s,s:s,s:[],s:n,s:n,s:n}", "id",
                      stream->id[0] ? stream->id : "resp_tollgate", "object", "response",
                      "created_at", (json_int_t)(now_ms / 1000), "status", "in_progress", "model",
                      stream->model, "output", "error", "incomplete_details", "usage");
        if (stream->snapshot == NULL) {
            return TG_ERR_NOMEM;
        }
        status = put_event(out, "response.created",
                           json_pack("{s:s,s:I,s:O}", "type", "response.created", "sequence_number",
                                     (json_int_t)++stream->sequence_number, "response",
                                     stream->snapshot));
    }
    json_t *response = json_deep_copy(stream->snapshot);
    if (status != TG_OK || response == NULL) {
        json_decref(response);
        return status != TG_OK ? status : TG_ERR_NOMEM;
    }
    mark_incomplete(response);
    json_object_set_new(response, "status", json_string("incomplete"));
    json_object_set_new(response, "incomplete_details",
                        json_pack("{s:s}", "reason", "max_output_tokens"));
    json_object_set_new(response, "usage", tg__usage_to_json(stream->route, usage));
    return put_event(out, "response.incomplete",
                     json_pack("{s:s,s:I,s:o}", "type", "response.incomplete", "sequence_number",
                               (json_int_t)++stream->sequence_number, "response", response));
}

static tg_status end_anthropic(const tg__stream *stream, const tg__usage *usage, tg__buf *out) {
    tg_status status = TG_OK;
    int64_t output = usage->counts[TG__UNIT_OUTPUT];
    if (!stream->started) {
        json_t *start_usage = tg__usage_to_json(stream->route, usage);
        if (start_usage != NULL) {
            json_object_set_new(start_usage, "output_tokens", json_integer(0));
        }
        status = put_event(out, "message_start",
                           json_pack("{s:s,s:{s:s,s:s,s:s,s:[],s:s,s:n,s:n,s:o}}", "type",
                                     "message_start", "message", "id",
                                     stream->id[0] ? stream->id : "msg_tollgate", "type", "message",
                                     "role", "assistant", "content", "model", stream->model,
                                     "stop_reason", "stop_sequence", "usage", start_usage));
    }
    if (status == TG_OK && stream->open_block >= 0) {
        status = put_event(out, "content_block_stop",
                           json_pack("{s:s,s:I}", "type", "content_block_stop", "index",
                                     (json_int_t)stream->open_block));
    }
    if (status == TG_OK) {
        status = put_event(out, "message_delta",
                           json_pack("{s:s,s:{s:s,s:n},s:{s:I}}", "type", "message_delta", "delta",
                                     "stop_reason", "max_tokens", "stop_sequence", "usage",
                                     "output_tokens", (json_int_t)output));
    }
    if (status == TG_OK) {
        status = put_event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
    }
    return status;
}

tg_status tg__stream_write_end(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                               tg__buf *out) {
    if (stream->finished) {
        return TG_OK;
    }
    tg_status status;
    if (stream->route == TG__ROUTE_OPENAI_RESPONSES) {
        status = end_responses(stream, usage, now_ms, out);
    } else if (tg__route_wire(stream->route) == TG__WIRE_ANTHROPIC) {
        status = end_anthropic(stream, usage, out);
    } else {
        status = end_openai(stream, usage, now_ms, out);
    }
    if (status == TG_OK) {
        stream->finished = true;
    }
    return status;
}
