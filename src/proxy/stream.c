/*
 * stream: reading upstream events. One reader per wire shape: OpenAI chat and
 * completions chunks, Responses API events, Anthropic message events. Each keeps
 * what the ending writer (stream_end.c) needs and counts output text as it goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "proxy/numbers.h"
#include "proxy/stream.h"
#include "proxy/usage.h"

void tg__stream_init(tg__stream *stream, tg__route route, const char *model,
                     bool client_wants_usage) {
    memset(stream, 0, sizeof *stream);
    stream->route = route;
    stream->client_wants_usage = client_wants_usage;
    stream->sequence_number = -1;
    stream->open_block = -1;
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
static void keep_text(tg__stream *stream, const char *text, size_t size) {
    if (stream->exact && !stream->exact_lost &&
        tg__buf_append(&stream->exact_text, text, size) != TG_OK) {
        stream->exact_lost = true;
        tg__buf_free(&stream->exact_text);
    }
}

static void copy_string(char *dst, size_t size, const json_t *value) {
    if (json_is_string(value) && json_string_length(value) < size) {
        memcpy(dst, json_string_value(value), json_string_length(value) + 1);
    }
}

/* Counts a piece of output text (content, tool arguments, reasoning). */
static void count_text(tg__stream *stream, const json_t *value) {
    if (json_is_string(value) && json_string_length(value) > 0) {
        stream->text_bytes += (int64_t)json_string_length(value);
        stream->text_events++;
        keep_text(stream, json_string_value(value), json_string_length(value));
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

static void read_usage(tg__stream *stream, const json_t *usage, bool final) {
    if (json_is_object(usage) &&
        tg__usage_merge_json(stream->route, usage, &stream->reported) == TG_OK) {
        stream->input_reported = stream->input_reported || reports_input(usage);
        stream->output_final = stream->output_final || final;
    }
}

static void read_openai_choice(tg__stream *stream, const json_t *choice) {
    const json_t *index = json_object_get(choice, "index");
    json_int_t i = json_is_integer(index) ? json_integer_value(index) : 0;
    if (i >= 0 && i < TG__STREAM_CHOICES_MAX) {
        bool done = json_is_string(json_object_get(choice, "finish_reason"));
        stream->choices[i] = done ? 2 : (stream->choices[i] ? stream->choices[i] : 1);
    }
    if (i != 0) {
        stream->exact_lost = true; /* choices interleave: one text would mix them */
    }
    const json_t *delta = json_object_get(choice, "delta");
    count_text(stream, json_object_get(choice, "text")); /* completions */
    count_text(stream, json_object_get(delta, "content"));
    count_text(stream, json_object_get(delta, "refusal"));
    count_text(stream, json_object_get(delta, "reasoning_content"));
    count_text(stream, json_object_get(json_object_get(delta, "function_call"), "arguments"));
    const json_t *calls = json_object_get(delta, "tool_calls");
    for (size_t c = 0; c < json_array_size(calls); c++) {
        if (json_is_string(json_object_get(json_array_get(calls, c), "id"))) {
            stream->exact_items++; /* a tool call begins: its name and framing */
        }
        const json_t *function = json_object_get(json_array_get(calls, c), "function");
        count_text(stream, json_object_get(function, "arguments"));
    }
}

static void read_openai_chunk(tg__stream *stream, const json_t *chunk, bool *forward) {
    if (json_object_get(chunk, "error") != NULL) {
        stream->failed = true;
        return;
    }
    if (!stream->started) {
        stream->started = true;
        copy_string(stream->id, sizeof stream->id, json_object_get(chunk, "id"));
        copy_string(stream->model, sizeof stream->model, json_object_get(chunk, "model"));
        const json_t *created = json_object_get(chunk, "created");
        stream->created = json_is_integer(created) ? json_integer_value(created) : 0;
    }
    const json_t *choices = json_object_get(chunk, "choices");
    for (size_t c = 0; c < json_array_size(choices); c++) {
        read_openai_choice(stream, json_array_get(choices, c));
    }
    const json_t *usage = json_object_get(chunk, "usage");
    if (json_is_object(usage)) {
        read_usage(stream, usage, true);
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
        count_text(stream, delta);
        snapshot_append(stream, part, "text", delta);
    } else if (strcmp(type, "response.function_call_arguments.delta") == 0) {
        count_text(stream, delta);
        snapshot_append(stream, item, "arguments", delta);
    } else if (strstr(type, ".delta") != NULL) {
        count_text(stream, delta); /* reasoning, refusal, tool inputs */
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
        copy_string(stream->id, sizeof stream->id, json_object_get(response, "id"));
        copy_string(stream->model, sizeof stream->model, json_object_get(response, "model"));
        bool terminal = strcmp(type, "response.completed") == 0 ||
                        strcmp(type, "response.incomplete") == 0 ||
                        strcmp(type, "response.failed") == 0;
        read_usage(stream, json_object_get(response, "usage"), terminal);
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

static void read_anthropic_event(tg__stream *stream, const json_t *event) {
    const char *type = json_string_value(json_object_get(event, "type"));
    if (type == NULL) {
        return;
    }
    if (strcmp(type, "message_start") == 0) {
        const json_t *message = json_object_get(event, "message");
        stream->started = true;
        copy_string(stream->id, sizeof stream->id, json_object_get(message, "id"));
        copy_string(stream->model, sizeof stream->model, json_object_get(message, "model"));
        read_usage(stream, json_object_get(message, "usage"), false);
    } else if (strcmp(type, "content_block_start") == 0) {
        const json_t *index = json_object_get(event, "index");
        stream->open_block = json_is_integer(index) ? json_integer_value(index) : 0;
    } else if (strcmp(type, "content_block_delta") == 0) {
        const json_t *delta = json_object_get(event, "delta");
        count_text(stream, json_object_get(delta, "text"));
        count_text(stream, json_object_get(delta, "partial_json"));
        count_text(stream, json_object_get(delta, "thinking"));
    } else if (strcmp(type, "content_block_stop") == 0) {
        stream->open_block = -1;
    } else if (strcmp(type, "message_delta") == 0) {
        read_usage(stream, json_object_get(event, "usage"), true);
    } else if (strcmp(type, "message_stop") == 0) {
        stream->finished = true;
    } else if (strcmp(type, "error") == 0) {
        stream->failed = true;
    }
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
        keep_text(stream, text, text_size); /* valid UTF-8 without escapes: the text itself */
    }
    return true;
}

tg_status tg__stream_event(tg__stream *stream, const tg__sse_event *event, bool *forward) {
    bool keep = true;
    bool openai = tg__route_wire(stream->route) == TG__WIRE_OPENAI;
    if (openai && strncmp(event->data, "[DONE]", 6) == 0) {
        stream->finished = true;
    } else if (read_openai_text_chunk(stream, event->data, event->data_size)) {
        /* read in place: a text delta and nothing else */
    } else {
        json_t *data = json_loadb(event->data, event->data_size, 0, NULL);
        if (json_is_object(data)) {
            if (stream->route == TG__ROUTE_OPENAI_RESPONSES) {
                read_responses_event(stream, data);
            } else if (openai) {
                read_openai_chunk(stream, data, &keep);
            } else {
                read_anthropic_event(stream, data);
            }
        }
        json_decref(data);
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
