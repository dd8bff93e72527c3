/*
 * chains: a small open-addressed cache keyed by id hash (chains.h). Each id may sit
 * in one of TG__CHAINS_PROBE slots after its hash; a put fills a free or matching
 * slot, else replaces the oldest of those. Lookups touch at most that many slots.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/chains.h"

typedef struct {
    char id[TG__CHAIN_ID_SIZE_MAX]; /* "" = free */
    int64_t tokens;                 /* recorded context tokens */
    uint64_t age;                   /* put counter when written */
} slot;

struct tg__chains {
    slot slots[TG__CHAINS_SLOTS]; /* the table */
    uint64_t puts;                /* for ages */
};

_Static_assert((TG__CHAINS_SLOTS & (TG__CHAINS_SLOTS - 1)) == 0, "slots: a power of two");

static uint64_t hash(const char *id) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *id != '\0'; id++) {
        h = (h ^ (uint8_t)*id) * 1099511628211ULL;
    }
    return h;
}

tg__chains *tg__chains_new(void) {
    return calloc(1, sizeof(tg__chains));
}

void tg__chains_free(tg__chains *chains) {
    free(chains);
}

void tg__chains_put(tg__chains *chains, const char *id, int64_t tokens) {
    size_t size = id != NULL ? strlen(id) : 0;
    if (chains == NULL || size == 0 || size >= TG__CHAIN_ID_SIZE_MAX || tokens < 0) {
        return;
    }
    uint64_t start = hash(id);
    slot *target = NULL;
    for (int i = 0; i < TG__CHAINS_PROBE; i++) {
        slot *s = &chains->slots[(start + (uint64_t)i) & (TG__CHAINS_SLOTS - 1)];
        if (strcmp(s->id, id) == 0) {
            target = s;
            break;
        }
        if (target == NULL ||
            (target->id[0] != '\0' && (s->id[0] == '\0' || s->age < target->age))) {
            target = s;
        }
    }
    if (strcmp(target->id, id) == 0 && target->tokens > tokens) {
        tokens = target->tokens; /* a chain's context only grows */
    }
    memcpy(target->id, id, size + 1);
    target->tokens = tokens;
    target->age = ++chains->puts;
}

int64_t tg__chains_get(void *user, const char *id) {
    tg__chains *chains = user;
    if (chains == NULL || id == NULL || id[0] == '\0' || strlen(id) >= TG__CHAIN_ID_SIZE_MAX) {
        return -1;
    }
    uint64_t start = hash(id);
    for (int i = 0; i < TG__CHAINS_PROBE; i++) {
        const slot *s = &chains->slots[(start + (uint64_t)i) & (TG__CHAINS_SLOTS - 1)];
        if (strcmp(s->id, id) == 0) {
            return s->tokens;
        }
    }
    return -1;
}
