/*
 * tokenizer_internal: the tg_tokenizer handle, shared by the files of
 * src/tokenizer/ (encode and decode in tokenizer.c, counting in request_*.c).
 */
#ifndef TG_TOKENIZER_INTERNAL_H
#define TG_TOKENIZER_INTERNAL_H

#include "tollgate_tokens.h"
#include "tokenizer/piece_cache.h"
#include "tokenizer/vocab.h"

typedef struct {
    const char *text; /* e.g. "<|endoftext|>" */
    size_t len;       /* bytes of text */
    uint32_t id;      /* its token id (above every rank) */
} tg__special;

struct tg_tokenizer {
    tg_encoding encoding;                             /* which encoding */
    tg__vocab vocab;                                  /* ranks; owns its hash table */
    size_t (*split)(const uint8_t *, size_t, size_t); /* the encoding's pre-tokenizer */
    const tg__special *specials;                      /* static table */
    size_t specials_count;                            /* entries in specials */
    tg__piece_cache *cache;                           /* from malloc; long pieces merged
                                                         lately (internally locked) */
};

/* Counts ordinary text (no special tokens) with a shared tokenizer; the building
 * block of the request counters. TG_OK or TG_ERR_NOMEM. */
tg_status tg__count_text(const tg_tokenizer *tokenizer, const char *text, size_t len,
                         int64_t *count_out);

#endif
