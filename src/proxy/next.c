/*
 * next: the "what can the agent do next" object shared by every refusal (next.h).
 */
#include <stdbool.h>

#include "proxy/next.h"

json_t *tg__next_steps(int64_t now_ms, int64_t retry_after_ms, int64_t max_amount_micros,
                       int64_t asked_micros) {
    bool wait = retry_after_ms >= 0;
    bool shrink = max_amount_micros > 0 && asked_micros >= 0 && max_amount_micros < asked_micros;
    return json_pack("{s:o,s:o,s:o,s:o}", "wait_until_ms",
                     wait ? json_integer((json_int_t)(now_ms + retry_after_ms)) : json_null(),
                     "wait_ms", wait ? json_integer((json_int_t)retry_after_ms) : json_null(),
                     "shrink_to_micros",
                     shrink ? json_integer((json_int_t)max_amount_micros) : json_null(), "approval",
                     json_null());
}
