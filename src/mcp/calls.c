/*
 * calls: grows by doubling up to max, never shrinks (a session's peak is
 * small); removal swaps the last call in, so indices are not stable across a
 * removal and callers that remove while scanning walk backwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/calls.h"

void tg__calls_init(tg__calls *calls, size_t max) {
    memset(calls, 0, sizeof *calls);
    calls->max = max;
}

void tg__calls_free(tg__calls *calls) {
    for (size_t i = 0; i < calls->count; i++) {
        json_decref(calls->items[i].id);
        free(calls->items[i].parked);
    }
    free(calls->items);
    memset(calls, 0, sizeof *calls);
}

long tg__calls_find(const tg__calls *calls, const char *id_text) {
    for (size_t i = 0; i < calls->count; i++) {
        if (strcmp(calls->items[i].id_text, id_text) == 0) {
            return (long)i;
        }
    }
    return -1;
}

long tg__calls_find_progress(const tg__calls *calls, const char *token_text) {
    for (size_t i = 0; token_text[0] != '\0' && i < calls->count; i++) {
        if (calls->items[i].kind == TG__CALL_TOOL &&
            strcmp(calls->items[i].progress_token, token_text) == 0) {
            return (long)i;
        }
    }
    return -1;
}

tg_status tg__calls_add(tg__calls *calls, const char *id_text, json_t *id, tg__call **out) {
    if (calls->count >= calls->max) {
        return TG_ERR_FULL;
    }
    if (calls->count == calls->capacity) {
        size_t capacity = calls->capacity ? calls->capacity * 2 : 8;
        if (capacity > calls->max) {
            capacity = calls->max;
        }
        tg__call *items = realloc(calls->items, capacity * sizeof *items);
        if (items == NULL) {
            return TG_ERR_NOMEM;
        }
        calls->items = items;
        calls->capacity = capacity;
    }
    tg__call *call = &calls->items[calls->count++];
    memset(call, 0, sizeof *call);
    snprintf(call->id_text, sizeof call->id_text, "%s", id_text);
    call->id = json_incref(id);
    call->deadline_ms = INT64_MAX;
    *out = call;
    return TG_OK;
}

void tg__calls_remove(tg__calls *calls, size_t index) {
    json_decref(calls->items[index].id);
    free(calls->items[index].parked);
    calls->items[index] = calls->items[calls->count - 1];
    calls->count--;
}
