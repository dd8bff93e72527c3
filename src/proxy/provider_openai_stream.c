/*
 * provider_openai_stream: OpenAI's streams, read and ended. Chat and completions
 * send data-only chunks ending in "data: [DONE]"; the Responses API sends named
 * events whose lifecycle ones carry the whole response (kept as a snapshot, so a
 * cut can end with response.incomplete carrying the output so far).
 * (Moved from stream.c and stream_end.c with the provider table.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "proxy/numbers.h"
#include "proxy/provider.h"
#include "proxy/usage.h"

static void read_openai_choice(tg__stream *stream, const json_t *choice) {
    json_int_t i = tg__stream_choice_mark(stream, choice, "finish_reason");
    if (i != 0) {
        stream->exact_lost = true; /* choices interleave: one text would mix them */
    }
    const json_t *delta = json_object_get(choice, "delta");
    tg__stream_count_text(stream, json_object_get(choice, "text")); /* completions */
    tg__stream_count_text(stream, json_object_get(delta, "content"));
    tg__stream_count_text(stream, json_object_get(delta, "refusal"));
    tg__stream_count_text(stream, json_object_get(delta, "reasoning_content"));
    tg__stream_count_text(stream,
                          json_object_get(json_object_get(delta, "function_call"), "arguments"));
    const json_t *calls = json_object_get(delta, "tool_calls");
    for (size_t c = 0; c < json_array_size(calls); c++) {
        if (json_is_string(json_object_get(json_array_get(calls, c), "id"))) {
            stream->exact_items++; /* a tool call begins: its name and framing */
        }
        const json_t *function = json_object_get(json_array_get(calls, c), "function");
        tg__stream_count_text(stream, json_object_get(function, "arguments"));
    }
}

static void read_openai_chunk(tg__stream *stream, const json_t *chunk, bool *forward) {
    if (json_object_get(chunk, "error") != NULL) {
        stream->failed = true;
        return;
    }
    if (!stream->started) {
        stream->started = true;
        tg__stream_copy_string(stream->id, sizeof stream->id, json_object_get(chunk, "id"));
        tg__stream_copy_string(stream->model, sizeof stream->model,
                               json_object_get(chunk, "model"));
        const json_t *created = json_object_get(chunk, "created");
        stream->created = json_is_integer(created) ? json_integer_value(created) : 0;
    }
    const json_t *choices = json_object_get(chunk, "choices");
    for (size_t c = 0; c < json_array_size(choices); c++) {
        read_openai_choice(stream, json_array_get(choices, c));
    }
    const json_t *usage = json_object_get(chunk, "usage");
    if (json_is_object(usage)) {
        tg__stream_read_usage(stream, usage, true);
        if (json_array_size(choices) == 0 && !stream->client_wants_usage) {
            *forward = false; /* the proxy asked for this chunk, not the client */
        }
    }
}

/* output[index] of the Responses snapshot, or NULL. */
static json_t *snapshot_item(tg__stream *stream, const json_t *event) {
    const json_t *index = json_object_get(event, "output_index");
    json_t *output = json_object_get(stream->snapshot, "output");
    return json_is_integer(index) ? json_array_get(output, (size_t)json_integer_value(index))
                                  : NULL;
}

/* Appends a delta to a string field of the snapshot, within the snapshot's limit. */
static void snapshot_append(tg__stream *stream, json_t *object, const char *key,
                            const json_t *delta) {
    const json_t *current = json_object_get(object, key);
    if (!json_is_string(current) || !json_is_string(delta) ||
        stream->snapshot_bytes + (int64_t)json_string_length(delta) >
            TG__STREAM_SNAPSHOT_SIZE_MAX) {
        return;
    }
    size_t a = json_string_length(current), b = json_string_length(delta);
    char *joined = malloc(a + b + 1);
    if (joined == NULL) {
        return;
    }
    memcpy(joined, json_string_value(current), a);
    memcpy(joined + a, json_string_value(delta), b);
    json_object_set_new(object, key, json_stringn_nocheck(joined, a + b));
    free(joined);
    stream->snapshot_bytes += (int64_t)b;
}

static void snapshot_put(json_t *array, const json_t *index, const json_t *value, bool replace) {
    json_t *copy = json_deep_copy(value);
    if (copy == NULL || !json_is_array(array)) {
        json_decref(copy);
        return;
    }
    if (replace && json_is_integer(index) &&
        (size_t)json_integer_value(index) < json_array_size(array)) {
        json_array_set_new(array, (size_t)json_integer_value(index), copy);
    } else if (!replace) {
        json_array_append_new(array, copy);
    } else {
        json_decref(copy);
    }
}

static void read_responses_output(tg__stream *stream, const char *type, const json_t *event) {
    json_t *item = snapshot_item(stream, event);
    json_t *content = json_object_get(item, "content");
    const json_t *part_index = json_object_get(event, "content_index");
    json_t *part = json_is_integer(part_index)
                       ? json_array_get(content, (size_t)json_integer_value(part_index))
                       : NULL;
    const json_t *delta = json_object_get(event, "delta");
    if (strcmp(type, "response.output_item.added") == 0) {
        const char *kind =
            json_string_value(json_object_get(json_object_get(event, "item"), "type"));
        if (kind != NULL && strcmp(kind, "reasoning") == 0) {
            stream->exact_lost = true; /* its hidden tokens are billed, never streamed */
        }
        stream->exact_items++;
        snapshot_put(json_object_get(stream->snapshot, "output"), NULL,
                     json_object_get(event, "item"), false);
    } else if (strcmp(type, "response.output_item.done") == 0) {
        tg__tool_uses_add_item(&stream->tool_uses, json_object_get(event, "item"));
        snapshot_put(json_object_get(stream->snapshot, "output"),
                     json_object_get(event, "output_index"), json_object_get(event, "item"), true);
    } else if (strcmp(type, "response.content_part.added") == 0) {
        snapshot_put(content, NULL, json_object_get(event, "part"), false);
    } else if (strcmp(type, "response.content_part.done") == 0) {
        snapshot_put(content, part_index, json_object_get(event, "part"), true);
    } else if (strcmp(type, "response.output_text.delta") == 0) {
        tg__stream_count_text(stream, delta);
        snapshot_append(stream, part, "text", delta);
    } else if (strcmp(type, "response.function_call_arguments.delta") == 0) {
        tg__stream_count_text(stream, delta);
        snapshot_append(stream, item, "arguments", delta);
    } else if (strstr(type, ".delta") != NULL) {
        tg__stream_count_text(stream, delta); /* reasoning, refusal, tool inputs */
    }
}

static void read_responses_event(tg__stream *stream, const json_t *event) {
    const json_t *sequence = json_object_get(event, "sequence_number");
    if (json_is_integer(sequence)) {
        stream->sequence_number = json_integer_value(sequence);
    }
    const char *type = json_string_value(json_object_get(event, "type"));
    if (type == NULL) {
        return;
    }
    const json_t *response = json_object_get(event, "response");
    if (json_is_object(response)) {
        /* Lifecycle events carry the whole response: it replaces the snapshot. */
        json_decref(stream->snapshot);
        stream->snapshot = json_deep_copy(response);
        stream->started = true;
        tg__stream_copy_string(stream->id, sizeof stream->id, json_object_get(response, "id"));
        tg__stream_copy_string(stream->model, sizeof stream->model,
                               json_object_get(response, "model"));
        bool terminal = strcmp(type, "response.completed") == 0 ||
                        strcmp(type, "response.incomplete") == 0 ||
                        strcmp(type, "response.failed") == 0;
        tg__stream_read_usage(stream, json_object_get(response, "usage"), terminal);
        if (terminal) {
            /* The final output lists every tool call; items seen one by one may be fewer. */
            tg__tool_uses final = {0};
            tg__tool_uses_add_response(&final, response);
            tg__tool_uses *seen = &stream->tool_uses;
            seen->web_searches = tg__max64(seen->web_searches, final.web_searches);
            seen->file_searches = tg__max64(seen->file_searches, final.file_searches);
            seen->code_interpreters = tg__max64(seen->code_interpreters, final.code_interpreters);
        }
        stream->finished = stream->finished || terminal;
        stream->failed = stream->failed || strcmp(type, "response.failed") == 0;
        return;
    }
    if (strcmp(type, "error") == 0) {
        stream->failed = true;
        return;
    }
    read_responses_output(stream, type, event);
}

/* ---- OpenAI chat text chunks without a JSON tree ----------------------------------- */

/* How many times `needle` occurs in text[0, size), counting at most 2. */
static int occurrences(const char *text, size_t size, const char *needle) {
    size_t length = strlen(needle);
    int count = 0;
    for (const char *at = text; count < 2 && (size_t)(at - text) + length <= size;) {
        const char *hit = memmem(at, size - (size_t)(at - text), needle, length);
        if (hit == NULL) {
            break;
        }
        count++;
        at = hit + 1;
    }
    return count;
}

/* The parts of a chunk around its choices hold only flat fields (no object or array,
 * so no usage object, no nested choices) and no error. */
static bool flat_fields(const char *text, size_t size) {
    return memchr(text, '{', size) == NULL && memchr(text, '[', size) == NULL &&
           occurrences(text, size, "\"error\"") == 0;
}

/*
 * Most events of an OpenAI chat stream carry one choice's piece of text and nothing else:
 *   {...,"choices":[{"index":N,"delta":{"content":"TEXT"},"logprobs":null,
 *    "finish_reason":null}],...}
 * Building and freeing a JSON tree for each was the largest part of the daemon's CPU on a
 * streamed call (jansson: 40% of samples), so this exact shape is read in place. It is taken only
 * when it cannot differ from the full parse: the stream already started (its id and model are
 * kept), one choices key, at the top level, flat fields around it, TEXT valid UTF-8 without escapes
 * or control characters. Anything else returns false and goes to the full parse.
 */
static bool read_openai_text_chunk(tg__stream *stream, const char *data, size_t size) {
    static const char CHOICE[] = "\"choices\":[{\"index\":";
    static const char CONTENT[] = ",\"delta\":{\"content\":\"";
    static const char TAIL[] = "\"},\"logprobs\":null,\"finish_reason\":null}]";
    if (stream->route != TG__ROUTE_OPENAI_CHAT || !stream->started || size < 2 || data[0] != '{' ||
        data[size - 1] != '}' || occurrences(data, size, "\"choices\"") != 1) {
        return false;
    }
    const char *choice = memmem(data, size, CHOICE, sizeof CHOICE - 1);
    const char *end = data + size;
    if (choice == NULL || !flat_fields(data + 1, (size_t)(choice - data - 1))) {
        return false;
    }
    const char *at = choice + sizeof CHOICE - 1;
    int64_t index = 0;
    int digits = 0;
    for (; at < end && *at >= '0' && *at <= '9' && digits < 4; at++, digits++) {
        index = index * 10 + (*at - '0');
    }
    if (digits == 0 || digits == 4 || (size_t)(end - at) < sizeof CONTENT - 1 ||
        memcmp(at, CONTENT, sizeof CONTENT - 1) != 0) {
        return false;
    }
    const char *text = at + sizeof CONTENT - 1;
    const char *quote = text;
    while (quote < end && *quote != '"' && *quote != '\\' && (unsigned char)*quote >= 0x20) {
        quote++;
    }
    size_t text_size = (size_t)(quote - text);
    if (quote >= end || *quote != '"' || (size_t)(end - quote) < sizeof TAIL - 1 ||
        memcmp(quote, TAIL, sizeof TAIL - 1) != 0 ||
        tg__utf8_valid_prefix((const unsigned char *)text, text_size) != text_size) {
        return false;
    }
    const char *rest = quote + sizeof TAIL - 1;
    if (!flat_fields(rest, (size_t)(end - 1 - rest))) {
        return false;
    }
    if (index < TG__STREAM_CHOICES_MAX && stream->choices[index] == 0) {
        stream->choices[index] = 1;
    }
    if (index != 0) {
        stream->exact_lost = true;
    }
    if (text_size > 0) {
        stream->text_bytes += (int64_t)text_size;
        stream->text_events++;
        tg__stream_keep_text(stream, text,
                             text_size); /* valid UTF-8 without escapes: the text itself */
    }
    return true;
}

void tg__openai_stream_event(tg__stream *stream, const tg__sse_event *event, bool *forward) {
    if (strncmp(event->data, "[DONE]", 6) == 0) {
        stream->finished = true;
        return;
    }
    if (read_openai_text_chunk(stream, event->data, event->data_size)) {
        return; /* read in place: a text delta and nothing else */
    }
    json_t *data = json_loadb(event->data, event->data_size, 0, NULL);
    if (json_is_object(data)) {
        if (stream->route == TG__ROUTE_OPENAI_RESPONSES) {
            read_responses_event(stream, data);
        } else {
            read_openai_chunk(stream, data, forward);
        }
    }
    json_decref(data);
}

/* ---- Endings ------------------------------------------------------------------------ */

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
        status =
            tg__stream_put_event(out, NULL, openai_chunk(stream, now_ms, json_pack("[o]", choice)));
    }
    if (status == TG_OK && stream->client_wants_usage) {
        json_t *chunk = openai_chunk(stream, now_ms, json_array());
        if (chunk != NULL) {
            json_object_set_new(chunk, "usage", tg__usage_to_json(stream->route, usage));
        }
        status = tg__stream_put_event(out, NULL, chunk);
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
        status = tg__stream_put_event(
            out, "response.created",
            json_pack("{s:s,s:I,s:O}", "type", "response.created", "sequence_number",
                      (json_int_t)++stream->sequence_number, "response", stream->snapshot));
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
    return tg__stream_put_event(out, "response.incomplete",
                                json_pack("{s:s,s:I,s:o}", "type", "response.incomplete",
                                          "sequence_number", (json_int_t)++stream->sequence_number,
                                          "response", response));
}

tg_status tg__openai_stream_end(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                                tg__buf *out) {
    if (stream->route == TG__ROUTE_OPENAI_RESPONSES) {
        return end_responses(stream, usage, now_ms, out);
    }
    return end_openai(stream, usage, now_ms, out);
}
