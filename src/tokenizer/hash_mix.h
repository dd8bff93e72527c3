/*
 * hash_mix: the byte mixing the tokenizer's two hashes share (vocab.h's key hash and
 * piece_cache.c's piece hash): a word of 8 bytes at a time, then a byte at a time. One
 * copy, so a change to the mixing changes both the same way. Each caller seeds and
 * finishes its own hash.
 */
#ifndef TG_TOKENIZER_HASH_MIX_H
#define TG_TOKENIZER_HASH_MIX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Mixes bytes p[from..len) into h and returns it. Always inlined: inside the BPE merge
 * loop (bpe.c, through tg__vocab_hash) the code is then what it was when the loop was
 * written out there (same instructions, one register move fewer). */
__attribute__((always_inline)) static inline uint64_t tg__hash_mix(uint64_t h, const uint8_t *p,
                                                                   size_t from, size_t len) {
    size_t i = from;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    for (; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001B3ull;
    }
    return h;
}

#endif
