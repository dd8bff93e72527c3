/*
 * split: pre-tokenization, the step before BPE that cuts text into pieces, as a
 * hand-written scanner for each encoding's regular expression. A scanner beats a
 * regex engine several times over (no backtracking machinery, an ASCII fast path)
 * and its rules are short enough to check by reading; the conformance test
 * (tests/tokenizer/) checks them against tiktoken itself.
 *
 * tiktoken finds pieces with the leftmost-first alternation of its pattern at each
 * position; each function below takes the alternatives in the pattern's order and
 * says in a comment which one it is and how backtracking resolves it.
 *
 * cl100k_base:
 *   '(?i:[sdmt]|ll|ve|re) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
 *   | ' '?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 * o200k_base:
 *   [^\r\n\p{L}\p{N}]?UPPER*LOWER+CONTRACTION? | [^\r\n\p{L}\p{N}]?UPPER+LOWER*CONTRACTION?
 *   | \p{N}{1,3} | ' '?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *   with UPPER = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], LOWER = [\p{Ll}\p{Lm}\p{Lo}\p{M}],
 *   CONTRACTION = (?i:'s|'t|'re|'ve|'m|'ll|'d).
 */
#include "tokenizer/split.h"

#include "tokenizer/unicode.h"

/* Classes of ASCII characters, the fast path of tg__class_of. */
#define L_UP (TG__CLASS_LETTER | TG__CLASS_UPPER)
#define L_LO (TG__CLASS_LETTER | TG__CLASS_LOWER)
#define N__ TG__CLASS_NUMBER
#define S__ TG__CLASS_SPACE
#define NL_ (TG__CLASS_SPACE | TG__CLASS_NEWLINE)
const uint8_t tg__ascii_class[128] = {
    0,    0,    0,    0,    0,    0,    0,    0,    0,    S__,  NL_,  S__,  S__,  NL_,  0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    S__,  0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    N__,  N__,  N__,  N__,  N__,  N__,  N__,  N__,  N__,  N__,  0,    0,    0,    0,    0,    0,
    0,    L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP,
    L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, L_UP, 0,    0,    0,    0,    0,
    0,    L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO,
    L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, L_LO, 0,    0,    0,    0,    0,
};

/* End of the run of characters that have any of `kind` bits, from i. The hottest
 * loop of the tokenizer on prose (every word); aligned to a cache line so unrelated
 * edits that move it do not swing prose speed (measured: 6% between placements). */
__attribute__((aligned(64))) static size_t run_of(const uint8_t *s, size_t n, size_t i,
                                                  unsigned kind) {
    while (i < n) {
        if (s[i] < 0x80) {
            if ((tg__ascii_class[s[i]] & kind) == 0) {
                return i;
            }
            i++;
            continue;
        }
        tg__char c = tg__decode_multi(s, n, i);
        if ((c.kind & kind) == 0) {
            return i;
        }
        i = c.next;
    }
    return n;
}

/* End of the run of [^\s\p{L}\p{N}] characters from i. */
static size_t run_of_other(const uint8_t *s, size_t n, size_t i) {
    while (i < n) {
        tg__char c = tg__char_at(s, n, i);
        if (!tg__is_other(c.kind)) {
            return i;
        }
        i = c.next;
    }
    return n;
}

/* [\r\n]* (cl100k), or [\r\n/]* (o200k) with slash set: a slash can follow the
 * newlines, as in ";\n//". */
static size_t run_of_newlines(const uint8_t *s, size_t n, size_t i, int slash) {
    while (i < n && (s[i] == '\r' || s[i] == '\n' || (slash && s[i] == '/'))) {
        i++;
    }
    return i;
}

/* Length of one letter of a case-insensitive contraction at s[i]: the ASCII letter
 * in either case, and for 's' also U+017F LATIN SMALL LETTER LONG S, which Unicode
 * simple case folding makes equal to it (as the reference's regex engine does). */
static size_t letter_ci(const uint8_t *s, size_t n, size_t i, char lower) {
    if (i < n && (s[i] | 0x20) == lower) {
        return 1;
    }
    if (lower == 's' && i + 1 < n && s[i] == 0xC5 && s[i + 1] == 0xBF) {
        return 2;
    }
    return 0;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[i]: its length, or 0. The alternatives do not
 * share a first letter after the apostrophe, so order does not matter. */
static size_t contraction(const uint8_t *s, size_t n, size_t i) {
    if (i >= n || s[i] != '\'') {
        return 0;
    }
    size_t a;
    const char *one = "stmd";
    for (; *one; one++) {
        if ((a = letter_ci(s, n, i + 1, *one)) != 0) {
            return 1 + a;
        }
    }
    static const char two[][2] = {{'r', 'e'}, {'v', 'e'}, {'l', 'l'}};
    for (size_t k = 0; k < 3; k++) {
        size_t b;
        if ((a = letter_ci(s, n, i + 1, two[k][0])) != 0 &&
            (b = letter_ci(s, n, i + 1 + a, two[k][1])) != 0) {
            return 1 + a + b;
        }
    }
    return 0;
}

/* \s*[\r\n]+ | \s+(?!\S) | \s+ at s[i], a white-space character. The greedy \s*
 * backs off to the last newline of the run; (?!\S) backs off one character before a
 * non-space unless that leaves nothing. */
static size_t whitespace(const uint8_t *s, size_t n, size_t i) {
    size_t end = i;
    size_t after_newline = 0;
    size_t last = i;
    while (end < n) {
        if (s[end] == ' ') {
            /* A run of plain spaces (indentation, padding) in one tight loop. */
            size_t run = end + 1;
            while (run < n && s[run] == ' ') {
                run++;
            }
            last = run - 1;
            end = run;
            continue;
        }
        tg__char c = tg__char_at(s, n, end);
        if ((c.kind & TG__CLASS_SPACE) == 0) {
            break;
        }
        if (c.kind & TG__CLASS_NEWLINE) {
            after_newline = c.next;
        }
        last = end;
        end = c.next;
    }
    if (after_newline != 0) {
        return after_newline;
    }
    if (end == n || last == i) {
        return end;
    }
    return last;
}

/* \p{N}{1,3} at s[i], a number. */
static size_t digits(const uint8_t *s, size_t n, size_t i) {
    for (int k = 0; k < 3; k++) {
        tg__char c = tg__char_at(s, n, i);
        if ((c.kind & TG__CLASS_NUMBER) == 0) {
            break;
        }
        i = c.next;
    }
    return i;
}

/* ' '?[^\s\p{L}\p{N}]+[\r\n]* at the character c, or [\r\n/]* at the end with slash set
 * (o200k). 0 if it does not match. */
static size_t punctuation(const uint8_t *s, size_t n, tg__char c, int slash) {
    size_t from;
    if (c.cp == ' ') {
        tg__char d = tg__char_at(s, n, c.next);
        if (!tg__is_other(d.kind)) {
            return 0;
        }
        from = d.next;
    } else if (!tg__is_other(c.kind)) {
        return 0;
    } else {
        from = c.next;
    }
    /* The first character of the run is known; the scan starts after it. */
    return run_of_newlines(s, n, run_of_other(s, n, from), slash);
}

size_t tg__split_cl100k(const uint8_t *s, size_t n, size_t i) {
    tg__char c = tg__char_at(s, n, i);
    if (c.cp == '\'') {
        size_t m = contraction(s, n, i);
        if (m != 0) {
            return i + m;
        }
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+: without backtracking into the prefix, which could
     * only help if the prefix character were itself a letter. */
    if (c.kind & TG__CLASS_LETTER) {
        return run_of(s, n, c.next, TG__CLASS_LETTER);
    }
    if (tg__is_prefix(c.kind)) {
        tg__char d = tg__char_at(s, n, c.next);
        if (d.kind & TG__CLASS_LETTER) {
            return run_of(s, n, d.next, TG__CLASS_LETTER);
        }
    }
    if (c.kind & TG__CLASS_NUMBER) {
        return digits(s, n, i);
    }
    size_t end = punctuation(s, n, c, 0);
    if (end != 0) {
        return end;
    }
    return whitespace(s, n, i);
}

/* UPPER*LOWER+CONTRACTION? from p: 0 if it does not match. Greedy UPPER* takes the
 * whole run [p, u); LOWER+ then starts at u if it can, else the backtracking finds
 * the last character of the run that is also LOWER (Lm, Lo, M) and matches it
 * alone (the characters after it up to u are Lu or Lt). */
static size_t word_lower(const uint8_t *s, size_t n, size_t p) {
    size_t u = p;
    size_t last_lower = n + 1;
    size_t last_lower_next = 0;
    for (;;) {
        tg__char c = tg__char_at(s, n, u);
        if ((c.kind & TG__CLASS_UPPER) == 0) {
            if (c.kind & TG__CLASS_LOWER) {
                size_t w = run_of(s, n, c.next, TG__CLASS_LOWER);
                return w + contraction(s, n, w);
            }
            break;
        }
        if (c.kind & TG__CLASS_LOWER) {
            last_lower = u;
            last_lower_next = c.next;
        }
        u = c.next;
    }
    if (last_lower == n + 1) {
        return 0;
    }
    return last_lower_next + contraction(s, n, last_lower_next);
}

/* UPPER+LOWER*CONTRACTION? from p: 0 if it does not match. */
static size_t word_upper(const uint8_t *s, size_t n, size_t p) {
    size_t u = run_of(s, n, p, TG__CLASS_UPPER);
    if (u == p) {
        return 0;
    }
    size_t w = run_of(s, n, u, TG__CLASS_LOWER);
    return w + contraction(s, n, w);
}

size_t tg__split_o200k(const uint8_t *s, size_t n, size_t i) {
    tg__char c = tg__char_at(s, n, i);
    /* The two word alternatives, each first with the optional prefix character
     * taken, then without it (a mark may be both prefix and word character). */
    int prefix = tg__is_prefix(c.kind);
    /* Both word alternatives need an UPPER or LOWER character where they start: the
     * test spares punctuation (and random bytes) from decoding each character
     * four times. */
    const unsigned word = TG__CLASS_UPPER | TG__CLASS_LOWER;
    int prefix_word = prefix && c.next < n && (tg__char_at(s, n, c.next).kind & word) != 0;
    int own_word = (c.kind & word) != 0;
    size_t end;
    if (prefix_word && (end = word_lower(s, n, c.next)) != 0) {
        return end;
    }
    if (own_word && (end = word_lower(s, n, i)) != 0) {
        return end;
    }
    if (prefix_word && (end = word_upper(s, n, c.next)) != 0) {
        return end;
    }
    if (own_word && (end = word_upper(s, n, i)) != 0) {
        return end;
    }
    if (c.kind & TG__CLASS_NUMBER) {
        return digits(s, n, i);
    }
    end = punctuation(s, n, c, 1);
    if (end != 0) {
        return end;
    }
    return whitespace(s, n, i);
}
