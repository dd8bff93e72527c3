/*
 * scan_load: a JSON value that tg__usage_scan has already checked, loaded into a
 * jansson tree without jansson's own reader. The usage object of a plain answer
 * (about 250 bytes) cost jansson's json_loadb about 47,000 instructions, more than
 * parsing the whole request, on every proxied call: its reader goes byte by byte
 * through a function pointer and a string buffer. The scan has already checked every
 * byte (the grammar, UTF-8, escapes, no \u0000 or lone surrogate, integers of at most
 * 18 characters, reals without a large exponent, nesting at most 64 deep), so what is
 * left is building the same tree: the same values, members in the same order, the last
 * of duplicate keys kept, as jansson builds them (json_object_setn_new_nocheck, as its
 * reader calls). The unit tests and the fuzz target compare the two trees. A request
 * body (about 20,000 instructions for a small one through jansson, some 200 a byte) is
 * loaded the same way when tg__json_scan_object is sure of it.
 */
#ifndef TG_PROXY_SCAN_LOAD_H
#define TG_PROXY_SCAN_LOAD_H

#include <jansson.h>
#include <stddef.h>

/* The tree of `text` (size bytes), one JSON value the scan accepted (tg__usage_scan's
 * usage, or a body tg__json_scan_object accepted). From jansson; caller frees with
 * json_decref. flags: 0, or JSON_REJECT_DUPLICATES, with which an object holding a key
 * twice is not loaded. NULL when out of memory, on such a duplicate, or when the text is
 * not what the scan accepts: the caller then loads it with json_loadb and the same
 * flags, which answers as before (its error message included). */
json_t *tg__scan_load(const char *text, size_t size, size_t flags);

#endif
