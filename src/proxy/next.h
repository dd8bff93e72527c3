/*
 * next: what an agent refused can do next, as one JSON object every refusal carries
 * (the JSON API's 402, the LLM proxy's error details, the MCP gateway's tool error), so
 * an agent reads the same fields whichever way it came in (issue 18, "resumable work"):
 *
 *   {"wait_until_ms": T|null, "wait_ms": N|null, "shrink_to_micros": M|null,
 *    "approval": null}
 *
 * wait: a retry could pass from T (Unix ms; N from now) as open holds go or the window
 * rolls; a hold with wait_ms that long is queued instead (docs/ledger.md, "Waiting
 * holds"); null when only a person can help. shrink: the largest amount that would pass
 * now, when it is above 0 and below what was asked. approval: null here; the JSON API
 * fills it (api_holds.c: {"possible": true} on a class refusal, a person may let it
 * through; the approval's id, state and outcome on the answer of one). The proxy and the
 * MCP gateway do not ask for approvals yet.
 */
#ifndef TG_PROXY_NEXT_H
#define TG_PROXY_NEXT_H

#include <stdint.h>

#include <jansson.h>

/* A new object (caller decrefs; NULL on OOM). `retry_after_ms` TG_NONE (or < 0): no wait;
 * `max_amount_micros` or `asked_micros` < 0: unknown, no shrink. */
json_t *tg__next_steps(int64_t now_ms, int64_t retry_after_ms, int64_t max_amount_micros,
                       int64_t asked_micros);

#endif
