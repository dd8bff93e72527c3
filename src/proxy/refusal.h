/*
 * refusal: error replies shaped like the provider's own, so the official SDKs
 * raise their usual error classes with Tollgate's message, code and details.
 *
 *   OpenAI:    {"error":{"message","type","param":null,"code", ...details}}
 *   Anthropic: {"type":"error","error":{"type","message","details":{...}}}
 *
 * A budget refusal is HTTP 429: OpenAI type "insufficient_quota" and Anthropic
 * "rate_limit_error" (the types both use for exhausted spend), code
 * "budget_exceeded" (or "budget_frozen"), with the refusing budget, the reason,
 * what remains and when a retry could pass. Headers tell SDKs whether to retry
 * on their own: Retry-After and retry-after-ms when a retry could pass, and
 * x-should-retry "true" only when that is soon (both SDKs obey it), so an agent
 * is never put to sleep for hours inside an SDK.
 */
#ifndef TG_PROXY_REFUSAL_H
#define TG_PROXY_REFUSAL_H

#include <stdint.h>

#include "core/buf.h"
#include "proxy/wire.h"
#include "tollgate.h"

typedef struct tg__provider tg__provider; /* provider.h */

/* A refused call, as the engine explained it. */
typedef struct {
    const char *code;         /* "budget_exceeded" when NULL */
    const char *budget;       /* path of the budget that refused */
    const char *reason;       /* tg_reason_str(): "ceiling", "revoked", "frozen", ... */
    int64_t needed_micros;    /* the call's worst case; TG_NONE unknown */
    int64_t remaining_micros; /* the most that would pass now; TG_NONE unknown */
    int64_t retry_after_ms;   /* when a retry could pass; TG_NONE when only a person can help */
    int final_status;         /* HTTP status of a refusal SDKs must not retry (402 for the Vercel
                                 AI SDK, which retries every 429); 0 = 429 */
} tg__refusal;

/* Response headers to send with a refusal; empty strings are not sent. */
typedef struct {
    int http_status;         /* 429, or final_status for a refusal not to retry */
    char retry_after[24];    /* "Retry-After": whole seconds, rounded up */
    char retry_after_ms[24]; /* "retry-after-ms" */
    char should_retry[8];    /* "x-should-retry": "true" or "false" */
} tg__refusal_headers;

/*
 * Writes the body of a budget refusal in the provider's shape into `body`, and the
 * headers to send. SDKs retry automatically only when retry_after_ms is at most
 * retry_automatic_ms_max (429, x-should-retry: true); any other refusal is answered
 * with refusal->final_status when set (docs/proxy.md, "Which SDK retries what"). TG_ERR_FULL
 * (body's limit), TG_ERR_NOMEM.
 */
tg_status tg__refusal_write(const tg__provider *provider, const tg__refusal *refusal,
                            int64_t retry_automatic_ms_max, tg__buf *body,
                            tg__refusal_headers *headers);

/*
 * Writes any other error in the provider's shape: http_status picks the provider's
 * error type (400 invalid_request_error, 404 not_found_error, 502 api_error...),
 * `code` is Tollgate's stable code ("model_not_priced", "upstream_timeout"...).
 */
tg_status tg__error_write(const tg__provider *provider, int http_status, const char *code,
                          const char *message, tg__buf *body);

/*
 * Writes an error as an event inside a stream that has already started (an
 * upstream failure mid-stream): OpenAI chat "data: {"error":...}", the Responses
 * API an "error" event, Anthropic "event: error". The SDKs raise it as an error.
 */
tg_status tg__error_write_event(tg__route route, const char *code, const char *message,
                                int64_t sequence_number, tg__buf *out);

#endif
