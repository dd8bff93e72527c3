/*
 * test_tokenizer: the tokenizer's API: known encodings (ids from tiktoken itself, and
 * the OpenAI cookbook's worked examples), special tokens, decoding, invalid UTF-8,
 * long adversarial runs, model names and the image formulas. The full comparison
 * with tiktoken is tests/tokenizer/conformance.test.js.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tollgate_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer_internal.h"

static tg_tokenizer *cl100k;
static tg_tokenizer *o200k;

static int setup(void **state) {
    (void)state;
    if (tg_tokenizer_open(TG_ENCODING_CL100K_BASE, &cl100k) != TG_OK ||
        tg_tokenizer_open(TG_ENCODING_O200K_BASE, &o200k) != TG_OK) {
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tg_tokenizer_close(cl100k);
    tg_tokenizer_close(o200k);
    return 0;
}

#define ARRAY_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void expect_ids(const tg_tokenizer *t, const char *text, unsigned flags,
                       const uint32_t *expected, size_t expected_count) {
    uint32_t *ids = NULL;
    size_t count = 0;
    assert_int_equal(tg_tokens_encode(t, text, strlen(text), flags, &ids, &count), TG_OK);
    assert_int_equal(count, expected_count);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(ids[i], expected[i]);
    }
    size_t counted = 0;
    assert_int_equal(tg_tokens_count(t, text, strlen(text), flags, &counted), TG_OK);
    assert_int_equal(counted, expected_count);
    char *back = NULL;
    size_t back_len = 0;
    assert_int_equal(tg_tokens_decode(t, ids, count, &back, &back_len), TG_OK);
    assert_int_equal(back_len, strlen(text));
    assert_memory_equal(back, text, back_len);
    free(back);
    free(ids);
}

static void known_encodings(void **state) {
    (void)state;
    static const uint32_t hello_cl[] = {15339, 1917};
    static const uint32_t hello_o[] = {24912, 2375};
    expect_ids(cl100k, "hello world", 0, hello_cl, ARRAY_COUNT(hello_cl));
    expect_ids(o200k, "hello world", 0, hello_o, ARRAY_COUNT(hello_o));
    /* The cookbook's examples. */
    static const uint32_t great_cl[] = {83, 1609, 5963, 374, 2294, 0};
    static const uint32_t great_o[] = {83, 8251, 2488, 382, 2212, 0};
    expect_ids(cl100k, "tiktoken is great!", 0, great_cl, ARRAY_COUNT(great_cl));
    expect_ids(o200k, "tiktoken is great!", 0, great_o, ARRAY_COUNT(great_o));
    static const uint32_t birthday_cl[] = {33334, 45918, 243,   21990, 9080,
                                           33334, 62004, 16556, 78699};
    static const uint32_t birthday_o[] = {8930, 9697, 243, 128225, 8930, 17693, 4344, 48669};
    const char *birthday = "\xe3\x81\x8a\xe8\xaa\x95\xe7\x94\x9f\xe6\x97\xa5\xe3\x81\x8a\xe3\x82"
                           "\x81\xe3\x81\xa7\xe3\x81\xa8\xe3\x81\x86"; /* お誕生日おめでとう */
    expect_ids(cl100k, birthday, 0, birthday_cl, ARRAY_COUNT(birthday_cl));
    expect_ids(o200k, birthday, 0, birthday_o, ARRAY_COUNT(birthday_o));
    /* Contractions, digits in threes, white space before a word. */
    const char *mixed = "I'm here, it's 2024: 12345 ok?\n\n  done";
    static const uint32_t mixed_cl[] = {40, 2846, 1618, 11,   433,  596,  220, 2366, 19,
                                        25, 220,  4513, 1774, 5509, 1980, 220, 2884};
    static const uint32_t mixed_o[] = {15390, 2105, 11,   4275, 220,  1323, 19,  25,
                                       220,   7633, 2548, 4763, 1715, 220,  4167};
    expect_ids(cl100k, mixed, 0, mixed_cl, ARRAY_COUNT(mixed_cl));
    expect_ids(o200k, mixed, 0, mixed_o, ARRAY_COUNT(mixed_o));
    /* U+017F LONG S folds to 's' in a contraction; U+01C5 is title case (Lt). */
    const char *folds = "\xc5\xbf'S Hello WORLD \xc7\x85ungla";
    static const uint32_t folds_cl[] = {129, 123, 13575, 22691, 51991, 220, 131, 227, 2234, 4355};
    static const uint32_t folds_o[] = {70067, 31233, 32949, 79618, 220, 131, 227, 988, 1675};
    expect_ids(cl100k, folds, 0, folds_cl, ARRAY_COUNT(folds_cl));
    expect_ids(o200k, folds, 0, folds_o, ARRAY_COUNT(folds_o));
}

static void special_tokens(void **state) {
    (void)state;
    static const uint32_t plain_cl[] = {27, 91, 8862, 728, 428, 91, 29};
    static const uint32_t plain_o[] = {27, 91, 419, 1440, 919, 91, 29};
    expect_ids(cl100k, "<|endoftext|>", 0, plain_cl, ARRAY_COUNT(plain_cl));
    expect_ids(o200k, "<|endoftext|>", 0, plain_o, ARRAY_COUNT(plain_o));
    static const uint32_t special_cl[] = {64, TG_TOKEN_ENDOFTEXT_CL100K, 65};
    static const uint32_t special_o[] = {64, TG_TOKEN_ENDOFTEXT_O200K, 65};
    expect_ids(cl100k, "a<|endoftext|>b", TG_TOKENS_SPECIAL, special_cl, ARRAY_COUNT(special_cl));
    expect_ids(o200k, "a<|endoftext|>b", TG_TOKENS_SPECIAL, special_o, ARRAY_COUNT(special_o));
    static const uint32_t prompt_o[] = {TG_TOKEN_ENDOFPROMPT_O200K};
    expect_ids(o200k, "<|endofprompt|>", TG_TOKENS_SPECIAL, prompt_o, 1);
}

static void decode_rejects_unknown_ids(void **state) {
    (void)state;
    uint32_t ids[] = {15339, 100256}; /* 100256 is between the ranks and the specials */
    char *text = (char *)"untouched";
    size_t len = 99;
    assert_int_equal(tg_tokens_decode(cl100k, ids, 2, &text, &len), TG_ERR_INVALID);
    assert_string_equal(text, "untouched");
    assert_int_equal(len, 99);
    ids[1] = 300000;
    assert_int_equal(tg_tokens_decode(o200k, ids, 2, &text, &len), TG_ERR_INVALID);
}

static void roundtrip(const tg_tokenizer *t, const char *text, size_t len) {
    uint32_t *ids = NULL;
    size_t count = 0, counted = 0;
    assert_int_equal(tg_tokens_encode(t, text, len, 0, &ids, &count), TG_OK);
    assert_int_equal(tg_tokens_count(t, text, len, 0, &counted), TG_OK);
    assert_int_equal(count, counted);
    char *back = NULL;
    size_t back_len = 0;
    assert_int_equal(tg_tokens_decode(t, ids, count, &back, &back_len), TG_OK);
    assert_int_equal(back_len, len);
    assert_memory_equal(back, text, len);
    free(back);
    free(ids);
}

static void invalid_utf8_roundtrips(void **state) {
    (void)state;
    const char bytes[] = "\xff\xfe a\x80\xc3 \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 ok \xc0\xaf";
    roundtrip(cl100k, bytes, sizeof bytes - 1);
    roundtrip(o200k, bytes, sizeof bytes - 1);
    roundtrip(o200k, "", 0);
    uint32_t *ids = (uint32_t *)1;
    size_t count = 1;
    assert_int_equal(tg_tokens_encode(o200k, NULL, 0, 0, &ids, &count), TG_OK);
    assert_null(ids);
    assert_int_equal(count, 0);
    assert_int_equal(tg_tokens_encode(o200k, NULL, 5, 0, &ids, &count), TG_ERR_INVALID);
}

/* Long pieces take the heap merge: these finish in milliseconds where a quadratic merge
 * would take minutes. Only correctness is asserted; bench/tokenizer times them. */
static void adversarial_runs(void **state) {
    (void)state;
    size_t len = 1 << 20;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, 'a', len);
    roundtrip(cl100k, text, len);
    roundtrip(o200k, text, len);
    uint32_t seed = 12345;
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        text[i] = (char)('a' + (seed >> 16) % 26);
    }
    roundtrip(o200k, text, len);
    for (size_t i = 0; i + 3 <= len; i += 3) {
        memcpy(text + i, "\xe6\x88\x91", 3); /* 我 */
    }
    roundtrip(o200k, text, len - len % 3);
    memset(text, ' ', len);
    roundtrip(cl100k, text, len);
    free(text);
}

/* Long pieces merge in stitched windows (bpe.h); the heap merge is the plain
 * algorithm. The two must agree on every piece, including inputs made to break the
 * seams: small alphabets, runs of long tokens (spaces, dashes), runs that change
 * character, and text that mixes them. Lengths go far past what the conformance
 * test can ask of the quadratic reference. */
static void check_windows(const tg_tokenizer *t, const uint8_t *p, size_t len) {
    uint32_t *windows = malloc(len * sizeof *windows);
    uint32_t *heap = malloc(len * sizeof *heap);
    uint32_t *memory = malloc(len * TG__BPE_SCRATCH_PER_BYTE);
    assert_non_null(windows);
    assert_non_null(heap);
    assert_non_null(memory);
    tg__bpe_scratch scratch = {0};
    size_t count = 0;
    size_t counted = 0;
    assert_int_equal(tg__bpe(&t->vocab, p, len, p + len, &scratch, windows, &count), TG_OK);
    assert_int_equal(tg__bpe(&t->vocab, p, len, p + len, &scratch, NULL, &counted), TG_OK);
    size_t expected = tg__bpe_merge_heap(&t->vocab, p, len, p + len, memory, heap);
    if (tg__vocab_rank(&t->vocab, p, len, p + len) == TG__RANK_NONE) {
        assert_int_equal(count, expected);
        assert_memory_equal(windows, heap, count * sizeof *heap);
    }
    assert_int_equal(counted, count);
    tg__bpe_scratch_free(&scratch);
    free(memory);
    free(heap);
    free(windows);
}

static void windows_match_heap(void **state) {
    (void)state;
    static const char *const alphabets[] = {
        "ab",
        "abc",
        "etaoinshrdlu",
        "abcdefghijklmnopqrstuvwxyz",
        "a",
        " ",
        "=",
        "-",
        "-=",
        "0123456789abcdef",
        "\xe6\x88\x91\xe7\x9a\x84",
        "aaaaaaab",
        "        x",
        "=====-",
        "\xef\xbf\xbd",
        "ab\xc3\xa9",
    };
    size_t len_max = 256 * 1024;
    uint8_t *text = malloc(len_max);
    assert_non_null(text);
    uint32_t seed = 2024;
    for (int round = 0; round < 400; round++) {
        const char *alphabet = alphabets[round % ARRAY_COUNT(alphabets)];
        size_t alphabet_len = strlen(alphabet);
        seed = seed * 1103515245u + 12345u;
        size_t len = round % 50 == 49 ? len_max : 97 + (seed >> 8) % 6000;
        size_t stretch = 1 + (seed >> 4) % 300; /* how long a character repeats */
        size_t at = 0;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            if (round % 3 == 0 || i % stretch == 0) {
                at = (seed >> 8) % alphabet_len;
            }
            text[i] = (uint8_t)alphabet[at];
        }
        check_windows(round % 2 ? o200k : cl100k, text, len);
    }
    free(text);
}

/* Long pieces merge as two halves whose windows are stepped in turn and stitched at
 * the middle (bpe.c, merge_lanes); the windows in one run are the path it replaced.
 * The two must agree on every piece they both finish, and the halves must finish
 * nearly every ordinary one: random bytes, random words, CJK, accented text, and the
 * small alphabets and runs of long tokens that break seams (where the middle has to
 * take back tokens, or the halves do not meet and the windows go on from the first
 * half in one run), from 2 bytes to 1 MiB. Where the one run gives up, the halves are
 * checked against the heap. */
static void fill_kind(uint8_t *text, size_t len, int kind, uint32_t *seed) {
    static const char *const alphabets[] = {"ab", " -", "=", "\xe6\x88\x91\xe7\x9a\x84", "  x"};
    for (size_t i = 0; i < len;) {
        *seed = *seed * 1103515245u + 12345u;
        uint32_t r = *seed >> 8;
        if (kind == 0) { /* random bytes */
            text[i++] = (uint8_t)r;
        } else if (kind == 1) { /* a random word */
            text[i++] = (uint8_t)('a' + r % 26);
        } else if (kind == 2 && i + 3 <= len) { /* CJK: U+4E00..U+9FFF */
            uint32_t c = 0x4e00 + r % 0x5200;
            text[i++] = (uint8_t)(0xe0 | c >> 12);
            text[i++] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
            text[i++] = (uint8_t)(0x80 | (c & 0x3f));
        } else if (kind == 3 && r % 3 == 0 && i + 2 <= len) { /* accented: U+00C0..U+00FF */
            uint32_t c = 0xc0 + r / 3 % 0x40;
            text[i++] = (uint8_t)(0xc0 | c >> 6);
            text[i++] = (uint8_t)(0x80 | (c & 0x3f));
        } else if (kind >= 4) { /* seam breakers: small alphabets, runs */
            const char *alphabet = alphabets[kind - 4];
            text[i++] = (uint8_t)alphabet[r % strlen(alphabet)];
        } else {
            text[i++] = (uint8_t)('a' + r % 26);
        }
    }
}

#define LANE_KINDS 9

static void lanes_match_windows(void **state) {
    (void)state;
    size_t len_max = 1 << 20;
    uint8_t *text = malloc(len_max);
    uint32_t *lanes = malloc(len_max * sizeof *lanes);
    uint32_t *one_run = malloc(len_max * sizeof *one_run);
    uint32_t *memory = malloc(len_max * TG__BPE_SCRATCH_PER_BYTE);
    assert_non_null(text);
    assert_non_null(lanes);
    assert_non_null(one_run);
    assert_non_null(memory);
    uint32_t seed = 77;
    size_t finished[LANE_KINDS] = {0};
    size_t tried[LANE_KINDS] = {0};
    size_t one_run_finished[LANE_KINDS] = {0};
    for (int round = 0; round < 900; round++) {
        int kind = round % LANE_KINDS;
        seed = seed * 1103515245u + 12345u;
        /* Lengths spread over every power of two from 2 to 1 MiB; 1 MiB itself now
         * and then, and every length up to 300 early on (the cut near every window
         * boundary). */
        size_t len = round < 300         ? 2 + (size_t)round
                     : round % 100 == 99 ? len_max
                                         : 2 + (seed >> 8) % ((size_t)1 << (1 + (seed >> 3) % 19));
        fill_kind(text, len, kind, &seed);
        const tg_tokenizer *t = round % 2 ? o200k : cl100k;
        size_t got = tg__bpe_merge_lanes(&t->vocab, text, len, text + len, memory, lanes);
        size_t expected = tg__bpe_merge_windows(&t->vocab, text, len, text + len, memory, one_run);
        if (len >= 256 && expected != SIZE_MAX) {
            one_run_finished[kind]++;
        }
        if (expected == SIZE_MAX) {
            expected = tg__bpe_merge_heap(&t->vocab, text, len, text + len, memory, one_run);
        }
        if (len >= 256) {
            tried[kind]++;
        }
        if (got == SIZE_MAX) {
            continue;
        }
        if (len >= 256) {
            finished[kind]++;
        }
        assert_int_equal(got, expected);
        assert_memory_equal(lanes, one_run, got * sizeof *lanes);
    }
    /* The halves must not just give up: they finish every long piece the one run
     * finishes, and that is every piece of the ordinary kinds (random bytes, words,
     * CJK, accented). */
    for (int kind = 0; kind < LANE_KINDS; kind++) {
        assert_true(tried[kind] > 0);
        assert_true(finished[kind] >= one_run_finished[kind]);
        if (kind < 4) {
            assert_int_equal(finished[kind], tried[kind]);
        }
    }
    free(memory);
    free(one_run);
    free(lanes);
    free(text);
}

/* Pieces of up to TG__BPE_SMALL_MAX bytes take the small merge (bpe.c, merge_small:
 * 32-bit keys at their start byte, a vector scan, linked parts): against the heap at
 * every length from 3 bytes to the limit, on random bytes, small alphabets (ties of
 * equal pairs all over the piece: the leftmost must win), long tokens and multi-byte
 * characters, so every slot of the scan's vectors and every start is a minimum. */
static void small_matches_heap(void **state) {
    (void)state;
    static const char *const alphabets[] = {
        "ab",
        "a",
        " ",
        "=-",
        "etaoinshrdlu",
        "\xe6\x88\x91\xe7\x9a\x84",
        "\xef\xbf\xbd",
        "ab\xc3\xa9",
        "  \n",
        "0123456789",
        "aaaaaaab",
    };
    uint8_t text[TG__BPE_SMALL_MAX];
    uint32_t seed = 99;
    for (int round = 0; round < 24; round++) {
        for (size_t len = 3; len <= TG__BPE_SMALL_MAX; len++) {
            const char *alphabet = alphabets[round % ARRAY_COUNT(alphabets)];
            size_t alphabet_len = strlen(alphabet);
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                text[i] = round % 4 == 3 ? (uint8_t)(seed >> 16)
                                         : (uint8_t)alphabet[(seed >> 8) % alphabet_len];
            }
            check_windows(round % 2 ? o200k : cl100k, text, len);
        }
    }
}

/* Pieces under 32 bytes that are no whole token take tg__bpe_short (bpe.c: from 8
 * bytes with AVX2, merge_short_regs, keys held in four registers and written by
 * compare-and-blend; otherwise merge_scan). Against the heap on 20,000 pieces of every length from
 * 3 to TG__BPE_SHORT_MAX: random bytes, U+FFFD among ASCII symbols (what random bytes become),
 * small alphabets (ties all over the piece: the leftmost must win, in every lane of every
 * register), and vocabulary tokens side by side (merges that end in long tokens, so lanes far from
 * the start change). Seeded, so a failure replays. */
static void short_pieces_match_heap(void **state) {
    (void)state;
    static const char *const alphabets[] = {
        "ab",
        "a",
        "=-",
        " \t",
        "etaoinshrdlu",
        "\xef\xbf\xbd!#$",
        "\xe6\x88\x91\xe7\x9a\x84",
        "ab\xc3\xa9",
    };
    uint8_t text[TG__BPE_SHORT_MAX];
    uint32_t ids[TG__BPE_SHORT_MAX];
    uint32_t heap[TG__BPE_SHORT_MAX];
    uint64_t
        memory[TG__BPE_SHORT_MAX * TG__BPE_SCRATCH_PER_BYTE / sizeof(uint64_t)]; /* 8-aligned */
    uint32_t seed = 2022;
    size_t merged = 0;
    for (int round = 0; round < 20000; round++) {
        const tg_tokenizer *t = round % 2 ? o200k : cl100k;
        size_t len = 3 + (size_t)(round / 2) % (TG__BPE_SHORT_MAX - 2);
        int kind = round / 2 / (TG__BPE_SHORT_MAX - 2) % 10;
        size_t at = 0;
        while (at < len) {
            seed = seed * 1103515245u + 12345u;
            if (kind == 0) {
                text[at++] = (uint8_t)(seed >> 16);
            } else if (kind == 1) {
                /* A vocabulary token's bytes, cut to fit. */
                uint32_t rank = (seed >> 8) % t->vocab.count;
                const uint8_t *bytes = t->vocab.bytes + t->vocab.offsets[rank];
                size_t token_len = t->vocab.offsets[rank + 1] - t->vocab.offsets[rank];
                for (size_t k = 0; k < token_len && at < len; k++) {
                    text[at++] = bytes[k];
                }
            } else {
                const char *alphabet = alphabets[(kind - 2) % ARRAY_COUNT(alphabets)];
                text[at++] = (uint8_t)alphabet[(seed >> 8) % strlen(alphabet)];
            }
        }
        if (tg__vocab_rank(&t->vocab, text, len, text + len) != TG__RANK_NONE) {
            continue; /* tg__bpe_short is for pieces that are no whole token */
        }
        merged++;
        size_t expected =
            tg__bpe_merge_heap(&t->vocab, text, len, text + len, (uint32_t *)memory, heap);
        size_t got = tg__bpe_short(&t->vocab, text, len, text + len, ids);
        assert_int_equal(got, expected);
        assert_memory_equal(ids, heap, got * sizeof *ids);
        assert_int_equal(tg__bpe_short(&t->vocab, text, len, text + len, NULL), expected);
    }
    assert_true(merged > 15000);
}

/* Short pieces go through the call's memo (short_memo.h) once a call has merged a
 * few: a text whose pieces repeat (hits), whose pieces are many (replacements in the
 * direct-mapped slots), and whose pieces are random bytes (up to 31 bytes and often
 * more ids than an entry holds) must encode to exactly what merging each piece alone
 * gives, and count as many. */
static void check_pieces_alone(const tg_tokenizer *t, const uint8_t *text, size_t len) {
    uint32_t *ids = NULL;
    size_t count = 0;
    size_t counted = 0;
    assert_int_equal(tg_tokens_encode(t, (const char *)text, len, 0, &ids, &count), TG_OK);
    assert_int_equal(tg_tokens_count(t, (const char *)text, len, 0, &counted), TG_OK);
    assert_int_equal(counted, count);
    uint32_t *alone = malloc((len + 1) * sizeof *alone);
    assert_non_null(alone);
    tg__bpe_scratch scratch = {0};
    size_t total = 0;
    for (size_t i = 0; i < len;) {
        size_t stop = t->split(text, len, i);
        size_t got = 0;
        assert_int_equal(
            tg__bpe(&t->vocab, text + i, stop - i, text + len, &scratch, alone + total, &got),
            TG_OK);
        total += got;
        i = stop;
    }
    assert_int_equal(total, count);
    assert_memory_equal(alone, ids, count * sizeof *ids);
    tg__bpe_scratch_free(&scratch);
    free(alone);
    free(ids);
}

static void short_memo_matches_pieces_alone(void **state) {
    (void)state;
    size_t len_max = 256 * 1024;
    uint8_t *text = malloc(len_max + 32);
    uint8_t(*pool)[32] = malloc(6000 * sizeof *pool);
    size_t *pool_len = malloc(6000 * sizeof *pool_len);
    assert_non_null(text);
    assert_non_null(pool);
    assert_non_null(pool_len);
    static const size_t pool_sizes[] = {1, 40, 6000};
    uint32_t seed = 31;
    for (int round = 0; round < 12; round++) {
        size_t pool_size = pool_sizes[round % 3];
        int kind = round / 3; /* letters, random bytes, accented letters, all */
        for (size_t w = 0; w < pool_size; w++) {
            seed = seed * 1103515245u + 12345u;
            size_t word_len = 3 + (seed >> 8) % 29;
            int word_kind = kind == 3 ? (int)(w % 3) : kind;
            size_t at = 0;
            while (at < word_len) {
                seed = seed * 1103515245u + 12345u;
                if (word_kind == 0) {
                    pool[w][at++] = (uint8_t)('a' + (seed >> 8) % 26);
                } else if (word_kind == 1) {
                    pool[w][at++] = (uint8_t)(seed >> 16);
                } else if (at + 2 <= word_len && (seed >> 8) % 2) {
                    pool[w][at++] = 0xc3; /* U+00E0 .. U+00FF */
                    pool[w][at++] = (uint8_t)(0xa0 + (seed >> 12) % 32);
                } else {
                    pool[w][at++] = (uint8_t)('a' + (seed >> 8) % 26);
                }
            }
            pool_len[w] = word_len;
        }
        size_t len = 0;
        while (len < len_max) {
            seed = seed * 1103515245u + 12345u;
            size_t w = (seed >> 8) % pool_size;
            text[len++] = ' ';
            memcpy(text + len, pool[w], pool_len[w]);
            len += pool_len[w];
        }
        check_pieces_alone(round % 2 ? o200k : cl100k, text, len);
    }
    free(pool_len);
    free(pool);
    free(text);
}

/* Encoding walks a text's pieces in order, and may look some pieces ahead of the one
 * it merges; whatever it does, a text must encode to each of its pieces merged alone
 * by tg__bpe (check_pieces_alone), in order, with nothing lost or repeated at the
 * start, the end or between. Texts of 0 to 60 words (around any number of pieces held
 * ahead), then long texts up to 1 MiB, of words of every kind of fill_kind (random
 * bytes, random words, CJK, accented letters, small alphabets and runs) of 1 byte to
 * 64 KiB, between spaces, punctuation and newlines; both encodings, and with special
 * tokens between the words, each ordinary stretch against its encoding alone. */
static size_t append_words(uint8_t *text, size_t len_max, size_t words, uint32_t *seed) {
    static const char *const separators[] = {" ", "", ", ", "\n", "  ", ".\n\n", "\t", "'s "};
    size_t len = 0;
    for (size_t w = 0; w < words; w++) {
        *seed = *seed * 1103515245u + 12345u;
        uint32_t r = *seed >> 8;
        const char *sep = separators[r % ARRAY_COUNT(separators)];
        size_t word_len = r / 8 % 64 == 0   ? 64 * 1024
                          : r / 8 % 16 == 0 ? 200 + r / 64 % 2000
                                            : 1 + r / 64 % 40;
        if (len + strlen(sep) + word_len > len_max) {
            break;
        }
        memcpy(text + len, sep, strlen(sep));
        len += strlen(sep);
        fill_kind(text + len, word_len, (int)(r / 4096 % LANE_KINDS), seed);
        len += word_len;
    }
    return len;
}

static void check_specials_between(const tg_tokenizer *t, const uint8_t *text, size_t len,
                                   uint32_t *seed) {
    static const char special[] = "<|endoftext|>";
    uint32_t id = t == cl100k ? TG_TOKEN_ENDOFTEXT_CL100K : TG_TOKEN_ENDOFTEXT_O200K;
    size_t cuts[4];
    for (size_t k = 0; k < 4; k++) {
        *seed = *seed * 1103515245u + 12345u;
        cuts[k] = len == 0 ? 0 : (*seed >> 8) % (len + 1);
    }
    for (size_t k = 1; k < 4; k++) { /* sorted, so the stretches come in order */
        for (size_t j = k; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t c = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = c;
        }
    }
    uint8_t *joined = malloc(len + 4 * sizeof special);
    uint32_t *expected = malloc((len + 4) * sizeof *expected);
    assert_non_null(joined);
    assert_non_null(expected);
    size_t at = 0, from = 0, count = 0;
    for (size_t k = 0; k <= 4; k++) {
        size_t to = k < 4 ? cuts[k] : len;
        uint32_t *ids = NULL;
        size_t got = 0;
        assert_int_equal(tg_tokens_encode(t, (const char *)text + from, to - from, 0, &ids, &got),
                         TG_OK);
        if (got > 0) { /* an empty stretch gives no ids (NULL): memcpy must not see it */
            memcpy(expected + count, ids, got * sizeof *ids);
        }
        free(ids);
        count += got;
        if (to > from) {
            memcpy(joined + at, text + from, to - from);
        }
        at += to - from;
        if (k < 4) {
            memcpy(joined + at, special, sizeof special - 1);
            at += sizeof special - 1;
            expected[count++] = id;
        }
        from = to;
    }
    uint32_t *ids = NULL;
    size_t got = 0;
    assert_int_equal(tg_tokens_encode(t, (const char *)joined, at, TG_TOKENS_SPECIAL, &ids, &got),
                     TG_OK);
    assert_int_equal(got, count);
    assert_memory_equal(ids, expected, count * sizeof *ids);
    size_t counted = 0;
    assert_int_equal(tg_tokens_count(t, (const char *)joined, at, TG_TOKENS_SPECIAL, &counted),
                     TG_OK);
    assert_int_equal(counted, count);
    free(ids);
    free(expected);
    free(joined);
}

static void encode_matches_pieces_alone(void **state) {
    (void)state;
    size_t len_max = 1 << 20;
    uint8_t *text = malloc(len_max);
    assert_non_null(text);
    uint32_t seed = 4242;
    for (int round = 0; round < 400; round++) {
        const tg_tokenizer *t = round % 2 ? o200k : cl100k;
        size_t len = append_words(text, len_max, (size_t)round % 61, &seed);
        check_pieces_alone(t, text, len);
        if (round % 4 < 2) {
            check_specials_between(t, text, len, &seed);
        }
    }
    for (int round = 0; round < 3 * LANE_KINDS; round++) {
        const tg_tokenizer *t = round % 2 ? o200k : cl100k;
        /* Each kind alone to about 1 MiB in both encodings (random bytes: some 200,000
         * pieces), then words. */
        size_t len = round < 2 * LANE_KINDS ? len_max - (size_t)round * 4099 : 0;
        if (len > 0) {
            fill_kind(text, len, round / 2, &seed);
        } else {
            len = append_words(text, len_max, 100000, &seed);
        }
        check_pieces_alone(t, text, len);
    }
    free(text);
}

/* Runs of one unit take the run merge (bpe.c, merge_run): against the heap for every
 * length from 97 bytes to 1.6 KB (every rank boundary of the space tokens, which reach
 * 128 bytes) and some far longer, on characters of one to four bytes and on units that
 * are no character (CRLF, a split character), with and without tokens for their
 * repeats; long runs take the block merge, checked around its start and at random. */
static void runs_match_heap(void **state) {
    (void)state;
    static const char *const units[] = {
        " ",
        "\t",
        "\n",
        "=",
        "-",
        "a",
        "*",
        "\xc2\xa0",
        "\xe3\x80\x80",
        "\xe6\x88\x91",
        "\xf0\x9f\xa6\x84",
        "\xef\xbf\xbd",
        "\r",
        "0",
        "\x80",
        "\r\n",
        " \n",
        "\t\n",
        "ab",
        "-=",
        " \xe3\x80",
        "\n\n\r",
        "a\xc3",
    };
    size_t len_max = 200 * 1024;
    uint8_t *text = malloc(len_max);
    assert_non_null(text);
    uint32_t seed = 77;
    for (size_t u = 0; u < ARRAY_COUNT(units); u++) {
        size_t unit = strlen(units[u]);
        for (size_t k = 0; k < len_max / unit; k++) {
            memcpy(text + k * unit, units[u], unit);
        }
        for (size_t len = 97; len < len_max; len += len < 1600 ? 1 : len) {
            size_t n = len / unit;
            check_windows(cl100k, text, n * unit);
            check_windows(o200k, text, n * unit);
        }
        /* Runs of 2,048 units and more are merged a block at a time (merge_run_blocks):
         * lengths on both sides of where blocks start, and at random beyond. */
        for (size_t n = 2040; n < 2060; n++) {
            check_windows(cl100k, text, n * unit);
            check_windows(o200k, text, n * unit);
        }
        for (int round = 0; round < 8; round++) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 2048 + (seed >> 8) % (len_max / unit - 2048);
            check_windows(round % 2 ? o200k : cl100k, text, n * unit);
        }
    }
    free(text);
}

extern const uint8_t tg__ranks_cl100k[];
extern const uint64_t tg__ranks_cl100k_size;
extern const uint8_t tg__ranks_o200k[];
extern const uint64_t tg__ranks_o200k_size;
extern const uint8_t tg__table_cl100k[];
extern const uint64_t tg__table_cl100k_size;
extern const uint8_t tg__table_o200k[];
extern const uint64_t tg__table_o200k_size;

/* The table laid out at build time is byte for byte the one built at open, and a
 * table that does not belong to its blob is refused rather than used. */
static void mapped_tables(void **state) {
    (void)state;
    const uint8_t *blobs[] = {tg__ranks_cl100k, tg__ranks_o200k};
    const uint64_t blob_sizes[] = {tg__ranks_cl100k_size, tg__ranks_o200k_size};
    const uint8_t *tables[] = {tg__table_cl100k, tg__table_o200k};
    const uint64_t table_sizes[] = {tg__table_cl100k_size, tg__table_o200k_size};
    for (int e = 0; e < 2; e++) {
        tg__vocab built, mapped;
        assert_int_equal(tg__vocab_open(&built, blobs[e], blob_sizes[e]), TG_OK);
        assert_int_equal(tg__vocab_table_size(&built), table_sizes[e]);
        assert_memory_equal(built.owned, tables[e], table_sizes[e]);
        assert_int_equal(tg__vocab_map(&mapped, blobs[e], blob_sizes[e], tables[e], table_sizes[e]),
                         TG_OK);
        assert_null(mapped.owned);
        assert_int_equal(mapped.count, built.count);
        tg__vocab_close(&mapped);
        tg__vocab_close(&built);
        /* The other encoding's table, a cut table, a table with a flipped slot. */
        assert_int_equal(
            tg__vocab_map(&mapped, blobs[e], blob_sizes[e], tables[1 - e], table_sizes[1 - e]),
            TG_ERR_CORRUPT);
        assert_int_equal(
            tg__vocab_map(&mapped, blobs[e], blob_sizes[e], tables[e], table_sizes[e] - 64),
            TG_ERR_CORRUPT);
        uint8_t *copy = aligned_alloc(64, table_sizes[e]);
        assert_non_null(copy);
        memcpy(copy, tables[e], table_sizes[e]);
        uint32_t version = TG__VOCAB_TABLE_VERSION + 1;
        memcpy(copy + 8, &version, 4);
        assert_int_equal(tg__vocab_map(&mapped, blobs[e], blob_sizes[e], copy, table_sizes[e]),
                         TG_ERR_CORRUPT);
        free(copy);
    }
}

static void encodings_for_models(void **state) {
    (void)state;
    tg_encoding e;
    assert_int_equal(tg_encoding_for_model("gpt-4o-mini-2024-07-18", &e), TG_OK);
    assert_int_equal(e, TG_ENCODING_O200K_BASE);
    assert_int_equal(tg_encoding_for_model("gpt-4-0613", &e), TG_OK);
    assert_int_equal(e, TG_ENCODING_CL100K_BASE);
    assert_int_equal(tg_encoding_for_model("openai/gpt-4.1", &e), TG_OK);
    assert_int_equal(e, TG_ENCODING_O200K_BASE);
    assert_int_equal(tg_encoding_for_model("text-embedding-3-small", &e), TG_OK);
    assert_int_equal(e, TG_ENCODING_CL100K_BASE);
    assert_int_equal(tg_encoding_for_model("some-new-model", &e), TG_ERR_NOT_FOUND);
    assert_int_equal(e, TG_ENCODING_O200K_BASE);
    assert_int_equal(tg_encoding_parse("o200k_base", &e), TG_OK);
    assert_int_equal(tg_encoding_parse("p50k_base", &e), TG_ERR_INVALID);
    assert_string_equal(tg_encoding_name(TG_ENCODING_CL100K_BASE), "cl100k_base");
    assert_int_equal(tg_tokenizer_encoding(o200k), TG_ENCODING_O200K_BASE);
    assert_ptr_equal(tg_tokenizer_shared(TG_ENCODING_O200K_BASE),
                     tg_tokenizer_shared(TG_ENCODING_O200K_BASE));
}

/* The worked examples of OpenAI's vision guide. */
static void image_formulas(void **state) {
    (void)state;
    assert_int_equal(tg_tokens_image("gpt-4o", "high", 1024, 1024), 765);
    assert_int_equal(tg_tokens_image("gpt-4o", "high", 2048, 4096), 1105);
    assert_int_equal(tg_tokens_image("gpt-4o", "low", 4096, 8192), 85);
    assert_int_equal(tg_tokens_image("gpt-4o", NULL, 128, 64), 255); /* not scaled up */
    assert_int_equal(tg_tokens_image("gpt-4o", NULL, 0, 0), 85 + 8 * 170);
    assert_int_equal(tg_tokens_image("gpt-4o-mini", "high", 1024, 1024), 2833 + 4 * 5667);
    assert_int_equal(tg_tokens_image("gpt-4.1-mini", NULL, 1024, 1024), 1659); /* 1024 x 1.62 */
    assert_int_equal(tg_tokens_image("gpt-4.1-mini", NULL, 1800, 2400), 2353); /* 1452 x 1.62 */
    assert_int_equal(tg_tokens_image("gpt-4.1-nano", NULL, 0, 0), 3779);       /* 1536 x 2.46 */
    assert_int_equal(tg_tokens_image("claude-sonnet-4-5", NULL, 1000, 1000), 1334); /* / 750 */
    assert_int_equal(tg_tokens_image("claude-sonnet-4-5", NULL, 0, 0), 1600);
}

/* A 1 x 1 PNG and a 3 x 2 GIF sent inline are sized from their headers. */
static void inline_images_are_sized(void **state) {
    (void)state;
    const char *body =
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
        "rkJggg==\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/gif;base64,R0lGODlhAwACAIAAAP"
        "///wAAACH5BAEAAAAALAAAAAADAAIAAAICjF8AOw==\",\"detail\":\"low\"}}]}]}";
    tg_prompt_count count;
    tg_error err = {0};
    assert_int_equal(tg_tokens_count_request(TG_REQUEST_CHAT_COMPLETIONS, NULL, body, strlen(body),
                                             &count, &err),
                     TG_OK);
    assert_int_equal(count.images, 2);
    assert_int_equal(count.images_unsized, 0);
    assert_int_equal(count.image_tokens, 255 + 85);
    assert_int_equal(count.prompt_tokens, count.text_tokens + count.image_tokens);
    assert_int_equal(count.quality, TG_COUNT_FRAMED);
}

static void request_shapes(void **state) {
    (void)state;
    tg_prompt_count count;
    tg_error err = {0};
    const char *embeddings = "{\"model\":\"text-embedding-3-small\",\"input\":[\"hello world\","
                             "[1,2,3]]}";
    assert_int_equal(tg_tokens_count_request(TG_REQUEST_EMBEDDINGS, NULL, embeddings,
                                             strlen(embeddings), &count, &err),
                     TG_OK);
    assert_int_equal(count.prompt_tokens, 2 + 3);
    assert_int_equal(count.encoding, TG_ENCODING_CL100K_BASE);
    /* A string input is one user message: the same count as that chat request. */
    const char *responses = "{\"model\":\"gpt-4o\",\"input\":\"Hello!\"}";
    const char *chat = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"Hello!\"}]}";
    tg_prompt_count chat_count;
    assert_int_equal(tg_tokens_count_request(TG_REQUEST_RESPONSES, NULL, responses,
                                             strlen(responses), &count, &err),
                     TG_OK);
    assert_int_equal(tg_tokens_count_request(TG_REQUEST_CHAT_COMPLETIONS, NULL, chat, strlen(chat),
                                             &chat_count, &err),
                     TG_OK);
    assert_int_equal(count.prompt_tokens, chat_count.prompt_tokens);
    assert_int_equal(chat_count.prompt_tokens, 3 + 1 + 2 + 3);
    assert_int_equal(chat_count.quality, TG_COUNT_EXACT);
    assert_int_equal(count.quality, TG_COUNT_FRAMED);
    /* Anthropic: an estimate above the o200k count. */
    const char *messages = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":10,\"system\":"
                           "\"Be brief.\",\"messages\":[{\"role\":\"user\",\"content\":"
                           "[{\"type\":\"text\",\"text\":\"Hello, Claude\"}]}]}";
    assert_int_equal(tg_tokens_count_request(TG_REQUEST_ANTHROPIC_MESSAGES, NULL, messages,
                                             strlen(messages), &count, &err),
                     TG_OK);
    assert_int_equal(count.quality, TG_COUNT_ESTIMATE);
    assert_true(count.prompt_tokens > 3 + 3 + 1 + 3 + 3 + 3);
    /* Errors name the problem and leave the output alone. */
    count.prompt_tokens = -7;
    assert_int_equal(tg_tokens_count_request(TG_REQUEST_CHAT_COMPLETIONS, NULL,
                                             "{\"messages\":", 12, &count, &err),
                     TG_ERR_INVALID);
    assert_int_equal(count.prompt_tokens, -7);
    assert_non_null(strstr(err.message, "not a JSON object"));
    assert_int_equal(tg_tokens_count_request(TG_REQUEST_CHAT_COMPLETIONS, NULL, "{\"messages\":1}",
                                             14, &count, &err),
                     TG_ERR_INVALID);
    assert_non_null(strstr(err.message, "messages"));
}

int main(void) {
    tg_tokenizer *probe;
    if (tg_tokenizer_open(TG_ENCODING_O200K_BASE, &probe) == TG_ERR_UNSUPPORTED) {
        print_message("built without the rank tables (run scripts/setup): skipped\n");
        return 0;
    }
    tg_tokenizer_close(probe);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_encodings),
        cmocka_unit_test(special_tokens),
        cmocka_unit_test(decode_rejects_unknown_ids),
        cmocka_unit_test(invalid_utf8_roundtrips),
        cmocka_unit_test(adversarial_runs),
        cmocka_unit_test(windows_match_heap),
        cmocka_unit_test(small_matches_heap),
        cmocka_unit_test(lanes_match_windows),
        cmocka_unit_test(short_pieces_match_heap),
        cmocka_unit_test(short_memo_matches_pieces_alone),
        cmocka_unit_test(encode_matches_pieces_alone),
        cmocka_unit_test(runs_match_heap),
        cmocka_unit_test(mapped_tables),
        cmocka_unit_test(encodings_for_models),
        cmocka_unit_test(image_formulas),
        cmocka_unit_test(inline_images_are_sized),
        cmocka_unit_test(request_shapes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
