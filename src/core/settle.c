/*
 * settle: how much of a hold its owner usually commits, learnt from the holds that
 * closed, so a refusal can say whether waiting for open holds can help (issue 18).
 *
 * Why: open holds on a budget are worst cases. A retry advice that counts them as
 * money about to free (they may be released, expire, or commit below their amount)
 * sends agents to wait for room that never comes when live agents commit near their
 * estimate: the money becomes spend, the class is revoked, and the retry is refused
 * again. The engine cannot know which hold will commit; it can know how much of a
 * hold commits, as a figure over the holds that closed.
 *
 * The figure is the mean of charged / held per closed hold (a commit: its charge,
 * overruns included; a release or an expiry: 0) in parts per million, an exponential
 * moving mean over about the last 16 holds, plus the mean absolute deviation around
 * it: the money open holds are likely to free is held x (1 - mean - 2 deviations), so
 * a spread of outcomes makes the promise smaller, not larger (one deviation still sent
 * a third of the waiters of a 300-agent burst to wait in vain: other classes' grants
 * and overruns of up to 1.5x land while they wait). Integers only. With no
 * hold closed yet the daemon knows nothing and keeps the old rule: open holds may
 * free in full. In memory only: a restart learns again from its first closed holds.
 */
#include "core/ledger_internal.h"

#define PPM INT64_C(1000000)
#define SAMPLE_MAX (2 * PPM) /* a hold charged over twice its amount counts as twice */
#define WEIGHT 16            /* the moving mean's span, in closed holds */

void tg__settle_note(tg__ledger *ledger, int64_t held_micros, int64_t charged_micros) {
    if (held_micros <= 0) {
        return; /* a hold of nothing says nothing about the share that commits */
    }
    tg__settle *s = &ledger->settle;
    /* Both are at most TG_AMOUNT_MAX, so the product fits in 128 bits. */
    __int128 ratio = (__int128)(charged_micros < 0 ? 0 : charged_micros) * PPM / held_micros;
    int64_t sample = ratio > SAMPLE_MAX ? SAMPLE_MAX : (int64_t)ratio;
    int64_t weight = s->closed < WEIGHT ? s->closed + 1 : WEIGHT;
    int64_t dev_sample = sample > s->mean_ppm ? sample - s->mean_ppm : s->mean_ppm - sample;
    s->mean_ppm += (sample - s->mean_ppm) / weight;
    /* The first hold sets the mean (a spread needs two); then the mean absolute
     * deviation of each hold from the mean before it. */
    s->dev_ppm = s->closed == 0 ? 0 : s->dev_ppm + (dev_sample - s->dev_ppm) / weight;
    s->closed++;
}

int64_t tg__settle_likely_free(const tg__ledger *ledger, int64_t held_micros) {
    const tg__settle *s = &ledger->settle;
    if (s->closed == 0 || held_micros <= 0) {
        return held_micros > 0 ? held_micros : 0; /* nothing learnt: the old rule */
    }
    int64_t kept = s->mean_ppm + 2 * s->dev_ppm; /* each within [0, 2 PPM] */
    if (kept >= PPM) {
        return 0;
    }
    return (int64_t)((__int128)held_micros * (PPM - kept) / PPM);
}
