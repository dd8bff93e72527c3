/*
 * stream: follows a streamed LLM response event by event (after the SSE parser
 * has split it), so the proxy knows at every moment how much output has gone
 * by, what the provider reported, and how to end the stream cleanly.
 *
 * Counting: providers report usage at the end (OpenAI with
 * stream_options.include_usage, the Responses API in response.completed) or as
 * running totals (Anthropic's message_start and message_delta). Until then, and
 * when a stream breaks before it, output is estimated from the streamed text
 * (tg__usage_output_estimate) and the input from the request; a charge that uses
 * an estimate is marked estimated.
 *
 * Ending: tg__stream_write_end writes the events a provider itself would send at
 * an output limit, so the official SDKs finish without error: OpenAI chat a last
 * chunk per open choice with finish_reason "length" (and the usage chunk when
 * the client asked for it), then "data: [DONE]"; Responses a response.incomplete
 * carrying the output so far; Anthropic content_block_stop for an open block,
 * message_delta with stop_reason "max_tokens", and message_stop.
 */
#ifndef TG_PROXY_STREAM_H
#define TG_PROXY_STREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "proxy/cost.h"
#include "proxy/sse.h"
#include "proxy/tool_fees.h"
#include "proxy/wire.h"
#include "tollgate.h"

#define TG__STREAM_CHOICES_MAX 128                     /* OpenAI choices (n) followed */
#define TG__STREAM_SNAPSHOT_SIZE_MAX (8 * 1024 * 1024) /* Responses output text kept */

typedef struct {
    tg__route route;                         /* how to read the events */
    bool client_wants_usage;                 /* OpenAI: the client asked for the usage chunk */
    tg__usage reported;                      /* what the provider reported so far */
    bool input_reported;                     /* reported holds the real input counts */
    bool output_final;                       /* reported holds the final output counts */
    int64_t cost_reported_micros;            /* a usage's own cost (OpenRouter), -1 none */
    int64_t text_bytes;                      /* output text streamed so far */
    int64_t text_events;                     /* events that carried output text */
    bool started;                            /* the provider's first event arrived */
    bool finished;                           /* its last event arrived, or an ending was written */
    bool failed;                             /* it sent an error event */
    char id[128];                            /* the upstream's id for the call, "" unknown */
    char model[TG_NAME_SIZE_MAX];            /* the model as reported (else as requested) */
    int64_t created;                         /* OpenAI "created" (Unix seconds), 0 unknown */
    uint8_t choices[TG__STREAM_CHOICES_MAX]; /* OpenAI: 0 unseen, 1 open, 2 finished */
    int64_t sequence_number;                 /* Responses: the last seen, -1 none */
    int64_t open_block;                      /* Anthropic: started, unstopped block, -1 none */
    json_t *snapshot;                        /* Responses: the response so far; owned */
    int64_t snapshot_bytes;                  /* text appended to the snapshot */
    tg__tool_uses tool_uses;                 /* Responses: built-in tool calls seen (fees) */
    bool exact;                              /* OpenAI tokenizer model: output text is kept */
    tg__buf exact_text;                      /* exact: the output text streamed (bounded) */
    int64_t exact_items;                     /* exact: output items and tool calls begun */
    bool exact_lost;                         /* exact: the text passed its bound, or a second
                                                choice interleaved (n > 1): no exact count */
} tg__stream;

/* Starts following a stream of `route`, for `model` as requested. */
void tg__stream_init(tg__stream *stream, tg__route route, const char *model,
                     bool client_wants_usage);

/*
 * Reads one event from the upstream. *forward (may be NULL) is set false for an
 * event the client must not see: the usage-only chunk the proxy asked for on
 * the client's behalf. Data that is not JSON is forwarded and otherwise ignored
 * (the client's SDK will report it). TG_ERR_NOMEM only.
 */
tg_status tg__stream_event(tg__stream *stream, const tg__sse_event *event, bool *forward);

/* Output tokens so far: reported when final, else the larger of report and estimate. */
int64_t tg__stream_output_tokens(const tg__stream *stream);

/*
 * The output of a stream that ended without usage, counted exactly with the model's
 * tokenizer (OpenAI families, stream_exact.c): the text streamed, counted as one
 * piece, plus TG__STREAM_ITEM_TOKENS per output item or tool call for its framing.
 * TG_ERR_NOT_FOUND when no exact count exists: not an OpenAI tokenizer model, a
 * reasoning model (its hidden reasoning is billed as output and never streamed), more
 * than one choice, text past TG__STREAM_SNAPSHOT_SIZE_MAX, or a stream that did not
 * reach its last event (the upstream may have generated more than it sent).
 */
#define TG__STREAM_ITEM_TOKENS 8
tg_status tg__stream_exact_output(const tg__stream *stream, int64_t *tokens_out);

/* True when the model's streamed output can be counted exactly (see above). */
bool tg__stream_exact_model(tg__route route, const char *model);

/* The usage to charge now (see the header comment); estimated parts marked. */
void tg__stream_usage(const tg__stream *stream, int64_t prompt_tokens_estimate, tg__usage *out);

/*
 * Appends to `out` the events that end the stream now in the provider's own
 * format, reporting `usage` (now_ms dates events when the upstream sent none).
 * Does nothing when the stream already finished; marks it finished. On an error
 * `out` may hold part of the ending. TG_ERR_FULL (out's limit), TG_ERR_NOMEM.
 */
tg_status tg__stream_write_end(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                               tg__buf *out);

/* Frees what the stream holds. NULL is a no-op. */
void tg__stream_free(tg__stream *stream);

#endif
