/*
 * chains: what Tollgate saw of stored conversation state, so that a call that
 * continues it (Responses previous_response_id, conversation) can be bounded: the
 * provider bills the stored context again as input, and that context is at most
 * the input plus output of the call that produced it. A fixed-size, lossy table:
 * an id pushed out (or never seen) is unknown, and an unknown id is refused or
 * held at the configured cap (bound.h), never guessed.
 */
#ifndef TG_PROXY_CHAINS_H
#define TG_PROXY_CHAINS_H

#include <stdint.h>

#define TG__CHAINS_SLOTS 65536    /* entries kept (a power of two) */
#define TG__CHAINS_PROBE 8        /* slots looked at per id; the oldest is replaced */
#define TG__CHAIN_ID_SIZE_MAX 128 /* bytes of an id, NUL included; longer ids are not kept */

typedef struct tg__chains tg__chains;

/* From malloc; free with tg__chains_free. NULL when out of memory. */
tg__chains *tg__chains_new(void);

/* NULL is a no-op. */
void tg__chains_free(tg__chains *chains);

/* Records (or raises) the context tokens of an id. */
void tg__chains_put(tg__chains *chains, const char *id, int64_t tokens);

/* The recorded tokens, -1 when unknown. Fits tg__state_tokens_fn (bound.h). */
int64_t tg__chains_get(void *chains, const char *id);

#endif
