/*
 * tollgate_tokens.h: exact token counts before a call is sent.
 *
 * A hold is only as good as its estimate. This header exposes a byte-exact
 * reimplementation of OpenAI's tiktoken BPE tokenizer for the two encodings in use
 * (o200k_base: GPT-4o, GPT-4.1, GPT-5, o-series; cl100k_base: GPT-4, GPT-3.5,
 * embeddings), and prompt-token counting for whole request bodies (Chat
 * Completions, Responses, Embeddings, Anthropic Messages). docs/tokenizer.md says
 * how each count is made and how close it is to what providers bill.
 *
 * Conventions are those of tollgate.h: fallible calls return tg_status, a failed
 * call leaves its outputs untouched, and "caller frees" marks memory from malloc.
 *
 * Thread safety: a tg_tokenizer's tables are immutable once open and its cache of
 * recently merged long pieces is locked inside, so one tokenizer may be used from
 * any number of threads at once. Every function here is thread-safe.
 */
#ifndef TOLLGATE_TOKENS_H
#define TOLLGATE_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Encodings ---------------------------------------------------------------- */

typedef enum {
    TG_ENCODING_CL100K_BASE = 1, /* GPT-4, GPT-3.5, text-embedding-ada-002 and -3 */
    TG_ENCODING_O200K_BASE = 2   /* GPT-4o, GPT-4.1, GPT-4.5, GPT-5, o1, o3, o4 */
} tg_encoding;

/* "cl100k_base" / "o200k_base"; "unknown" for any other value. */
const char *tg_encoding_name(tg_encoding encoding);

/* The reverse of tg_encoding_name. TG_ERR_INVALID on unknown text. */
tg_status tg_encoding_parse(const char *name, tg_encoding *encoding_out);

/*
 * The encoding a model name uses, matched by family prefix ("gpt-4o-mini-2024-07-18"
 * is o200k_base). Unknown models get o200k_base and TG_ERR_NOT_FOUND, so a caller
 * that only wants a best guess may ignore the status.
 */
tg_status tg_encoding_for_model(const char *model, tg_encoding *encoding_out);

/* ---- Tokenizers --------------------------------------------------------------- */

typedef struct tg_tokenizer tg_tokenizer;

/* Ids of the special tokens; the text of each is in docs/tokenizer.md. */
#define TG_TOKEN_ENDOFTEXT_CL100K 100257u
#define TG_TOKEN_ENDOFPROMPT_CL100K 100276u
#define TG_TOKEN_ENDOFTEXT_O200K 199999u
#define TG_TOKEN_ENDOFPROMPT_O200K 200018u

/*
 * Opens a tokenizer (about 4 MiB for cl100k_base, 8 MiB for o200k_base: a hash
 * table over the rank table embedded in the library; about 10 ms).
 * *tokenizer_out: caller closes with tg_tokenizer_close.
 * Errors: TG_ERR_INVALID (unknown encoding), TG_ERR_NOMEM, TG_ERR_UNSUPPORTED (the
 * library was built without the rank tables: scripts/setup was not run).
 */
tg_status tg_tokenizer_open(tg_encoding encoding, tg_tokenizer **tokenizer_out);

/* Frees a tokenizer. NULL is a no-op. */
void tg_tokenizer_close(tg_tokenizer *tokenizer);

/*
 * A process-wide tokenizer opened on first use and never closed, for callers that
 * count occasionally (the proxy, the request counters below). NULL when it cannot
 * be opened (the reasons of tg_tokenizer_open). Owned by the library.
 */
const tg_tokenizer *tg_tokenizer_shared(tg_encoding encoding);

tg_encoding tg_tokenizer_encoding(const tg_tokenizer *tokenizer);

/* Flags for encode and count. */
enum {
    /* Text of a special token ("<|endoftext|>") becomes that token; by default it is
     * ordinary text, as in tiktoken's encode_ordinary and in what chat APIs bill. */
    TG_TOKENS_SPECIAL = 1u << 0
};

/* Longest input encode and count accept; larger is TG_ERR_RANGE. */
#define TG_TOKENS_INPUT_SIZE_MAX ((size_t)1 << 30)

/*
 * Encodes text (any bytes; invalid UTF-8 is encoded byte by byte, so decode gives
 * back the same bytes) into token ids, exactly as tiktoken's encode_ordinary (or
 * encode with allowed_special="all" under TG_TOKENS_SPECIAL).
 * *ids_out: from malloc, caller frees; NULL when *count_out is 0.
 * Time is O(n log n) in the longest pre-token, linear otherwise; memory is about 40
 * bytes per byte of the longest pre-token (a run of letters with no space). Pieces
 * of 32 bytes or more are remembered (at most 1024 of them, 16 MiB in all), so a
 * long piece seen again costs a hash and a compare.
 * Errors: TG_ERR_INVALID (NULL text with len > 0), TG_ERR_RANGE, TG_ERR_NOMEM.
 */
tg_status tg_tokens_encode(const tg_tokenizer *tokenizer, const char *text, size_t len,
                           unsigned flags, uint32_t **ids_out, size_t *count_out);

/* Counts the tokens tg_tokens_encode would return, without storing them. */
tg_status tg_tokens_count(const tg_tokenizer *tokenizer, const char *text, size_t len,
                          unsigned flags, size_t *count_out);

/*
 * Decodes ids to the bytes they stand for (not necessarily valid UTF-8 when the ids
 * are a slice). *text_out: from malloc, NUL-terminated, caller frees.
 * Errors: TG_ERR_INVALID (an id that is no token), TG_ERR_NOMEM.
 */
tg_status tg_tokens_decode(const tg_tokenizer *tokenizer, const uint32_t *ids, size_t count,
                           char **text_out, size_t *len_out);

/* ---- Request bodies ------------------------------------------------------------ */

typedef enum {
    TG_REQUEST_CHAT_COMPLETIONS = 1,  /* POST /v1/chat/completions */
    TG_REQUEST_RESPONSES = 2,         /* POST /v1/responses */
    TG_REQUEST_EMBEDDINGS = 3,        /* POST /v1/embeddings */
    TG_REQUEST_ANTHROPIC_MESSAGES = 4 /* POST /v1/messages (Anthropic) */
} tg_request_kind;

/* How a count was made, from most to least certain. */
typedef enum {
    TG_COUNT_EXACT = 0,   /* the provider's tokenizer and its documented framing */
    TG_COUNT_FRAMED = 1,  /* exact text tokens, framing of some parts inferred */
    TG_COUNT_ESTIMATE = 2 /* no public tokenizer: a calibrated bound that errs high */
} tg_count_quality;

typedef struct {
    int64_t prompt_tokens;    /* what the request is expected to be billed as input */
    int64_t text_tokens;      /* of which: tokens of text (messages, tools, names) */
    int64_t image_tokens;     /* of which: images by the model's tile or patch formula */
    int64_t images;           /* images seen */
    int64_t images_unsized;   /* images whose size was unknown (remote URL): counted
                                 at the largest size the model bills */
    tg_encoding encoding;     /* the encoding used */
    tg_count_quality quality; /* the least certain part of the count */
} tg_prompt_count;

/* Largest request body the counters parse; larger is TG_ERR_RANGE. */
#define TG_REQUEST_BODY_SIZE_MAX ((size_t)64 << 20)

/*
 * Counts the prompt tokens of a request body (JSON text). The model is taken from
 * the body's "model" unless `model` is non-NULL. Anthropic bodies are estimated
 * (see docs/tokenizer.md for the calibration and its error bound).
 * Errors: TG_ERR_INVALID (not JSON, or not the request shape; err says where),
 * TG_ERR_RANGE (body too large), TG_ERR_NOMEM, TG_ERR_UNSUPPORTED (no rank tables).
 */
tg_status tg_tokens_count_request(tg_request_kind kind, const char *model, const char *body,
                                  size_t len, tg_prompt_count *count_out, tg_error *err);

/*
 * Image tokens for one image of the given size on a model, by OpenAI's published
 * tile formula (GPT-4o family: 85 + 170 per 512 px tile after fitting in 2048 and
 * scaling the short side to 768) or patch formula (GPT-4.1-mini/nano, o4-mini, GPT-5
 * mini/nano: 32 px patches capped at 1536, times the model's multiplier).
 * detail is "low", "high", "auto" or NULL (= auto, billed as high). A width or height
 * of 0 means unknown: the largest count the model can bill.
 */
int64_t tg_tokens_image(const char *model, const char *detail, uint32_t width, uint32_t height);

/* The Unicode version of the character classes (e.g. "15.0.0"). */
const char *tg_tokens_unicode_version(void);

#ifdef __cplusplus
}
#endif

#endif
