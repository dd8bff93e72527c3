/*
 * proxy_background: OpenAI Responses runs started with `background: true`. The call
 * that starts one answers at once (status queued), long before the run has billed
 * anything, so its hold cannot be settled with the call: it moves here, keyed by the
 * response id, and stays open until a retrieve or cancel that Tollgate proxies shows
 * the run ended (its usage is then charged), or until the run's deadline
 * (proxy.background_deadline_ms), when the held worst case is charged.
 *
 * The table also remembers which key started each run, so that only that key (or an
 * admin's) may retrieve or cancel it through Tollgate. Settled runs stay as owners
 * only, and are the first replaced when the table is full; open runs are never
 * replaced (a new background call is refused instead).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/runtime/proxy_internal.h"

struct tg__proxy_runs {
    tg__proxy_run runs[TG__PROXY_RUNS_MAX]; /* id "" = free */
    int64_t open_count;                     /* runs whose hold is open */
    uint64_t puts;                          /* for ages */
};

tg__proxy_runs *tg__proxy_runs_new(void) {
    return calloc(1, sizeof(tg__proxy_runs));
}

void tg__proxy_runs_free(tg__proxy_runs *runs) {
    free(runs);
}

bool tg__proxy_runs_full(const tg__proxy_runs *runs) {
    return runs == NULL || runs->open_count >= TG__PROXY_RUNS_MAX;
}

tg__proxy_run *tg__proxy_run_find(tg__proxy_runs *runs, const char *id) {
    if (runs == NULL || id == NULL || id[0] == '\0') {
        return NULL;
    }
    for (int i = 0; i < TG__PROXY_RUNS_MAX; i++) {
        if (strcmp(runs->runs[i].id, id) == 0) {
            return &runs->runs[i];
        }
    }
    return NULL;
}

tg__proxy_run *tg__proxy_run_put(tg__proxy_runs *runs, const char *id) {
    size_t size = id != NULL ? strlen(id) : 0;
    if (runs == NULL || size == 0 || size >= sizeof runs->runs[0].id) {
        return NULL;
    }
    tg__proxy_run *target = tg__proxy_run_find(runs, id);
    if (target != NULL && target->hold_id != 0) {
        return NULL; /* an id already open: the upstream repeated one; never two holds */
    }
    for (int i = 0; target == NULL && i < TG__PROXY_RUNS_MAX; i++) {
        if (runs->runs[i].id[0] == '\0') {
            target = &runs->runs[i];
        }
    }
    for (int i = 0; target == NULL && i < TG__PROXY_RUNS_MAX; i++) {
        tg__proxy_run *run = &runs->runs[i];
        if (run->hold_id == 0 && (target == NULL || run->age < target->age)) {
            target = run; /* the oldest settled run */
        }
    }
    if (target == NULL) {
        return NULL;
    }
    memset(target, 0, sizeof *target);
    memcpy(target->id, id, size + 1);
    target->age = ++runs->puts;
    return target;
}

void tg__proxy_run_opened(tg__proxy_runs *runs) {
    runs->open_count++;
}

void tg__proxy_run_closed(tg__proxy_runs *runs, tg__proxy_run *run) {
    if (run->hold_id != 0) {
        run->hold_id = 0;
        runs->open_count--;
    }
}

int64_t tg__proxy_runs_open(const tg__proxy_runs *runs) {
    return runs != NULL ? runs->open_count : 0;
}

tg__proxy_run *tg__proxy_run_at(tg__proxy_runs *runs, int index) {
    return runs != NULL && index >= 0 && index < TG__PROXY_RUNS_MAX ? &runs->runs[index] : NULL;
}
