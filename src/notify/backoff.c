/*
 * backoff: when to try a failed delivery again. Doubling waits keep a receiver
 * that is down from being hammered; jitter keeps sinks that failed together
 * from retrying together; a cap keeps the wait bounded so a receiver that
 * comes back is found within max_ms.
 */
#include "notify/item.h"

int64_t tg__backoff_ms(const tg__notify_backoff *backoff, int64_t failures, uint32_t random) {
    int64_t base = backoff->initial_ms;
    /* Double up to the cap; stop early so the shift can never overflow. */
    for (int64_t i = 1; i < failures && base < backoff->max_ms; i++) {
        base *= 2;
    }
    if (base > backoff->max_ms) {
        base = backoff->max_ms;
    }
    int64_t half = base / 2;
    return base - half + (int64_t)(random % (uint64_t)(half + 1));
}
