/*
 * jsonrpc: MCP's wire format as the gateway sees it. Framing of the stdio
 * transport (one JSON-RPC message per line, no embedded newlines), with a
 * maximum line size; classification of one message (request, notification,
 * response, batch); and the few messages the gateway writes itself (tool error
 * results, JSON-RPC errors, notifications). Pure: no I/O, no engine.
 */
#ifndef TG_MCP_JSONRPC_H
#define TG_MCP_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tollgate.h"

#define TG__RPC_ID_TEXT_SIZE 256 /* bytes of an id's JSON text, NUL included */
#define TG__RPC_LINE_SIZE_MIN 1024
#define TG__RPC_LINE_SIZE_DEFAULT (4 * 1024 * 1024) /* default longest message, bytes */

/* JSON-RPC error codes the gateway answers with. */
#define TG__RPC_PARSE_ERROR (-32700)
#define TG__RPC_INVALID_REQUEST (-32600)
#define TG__RPC_INVALID_PARAMS (-32602)
#define TG__RPC_SERVER_GONE (-32000) /* implementation-defined range */

/* ---- Framing ------------------------------------------------------------------ */

/*
 * Called once per complete line, without its '\n' (a '\r' before it is kept:
 * the line is relayed exactly). A line longer than the maximum is dropped and
 * reported once with line == NULL and too_long == true.
 */
typedef void (*tg__rpc_line_fn)(void *user, const char *line, size_t size, bool too_long);

typedef struct {
    char *data;      /* a partial line carried between pushes; from malloc, owned here */
    size_t size;     /* bytes of it */
    size_t capacity; /* bytes allocated */
    size_t line_max; /* longest line accepted, newline not counted */
    bool discarding; /* inside a line past line_max: drop through its newline */
} tg__rpc_framer;

void tg__rpc_framer_init(tg__rpc_framer *framer, size_t line_max);
void tg__rpc_framer_free(tg__rpc_framer *framer);

/*
 * Feeds bytes read from a stream; calls fn for every line they complete.
 * TG_ERR_NOMEM if a partial line cannot be kept (the framer then discards it).
 */
tg_status tg__rpc_framer_push(tg__rpc_framer *framer, const char *bytes, size_t size,
                              tg__rpc_line_fn fn, void *user);

/* ---- One message ---------------------------------------------------------------- */

typedef enum {
    TG__RPC_INVALID = 0,      /* not JSON, or JSON that is not a JSON-RPC message */
    TG__RPC_REQUEST = 1,      /* method and id */
    TG__RPC_NOTIFICATION = 2, /* method, no id */
    TG__RPC_RESPONSE = 3,     /* id and result or error */
    TG__RPC_BATCH = 4         /* an array (JSON-RPC batch; removed in MCP 2025-06-18) */
} tg__rpc_kind;

typedef struct {
    tg__rpc_kind kind;
    json_t *root;       /* the parsed message; owned, freed by tg__rpc_message_clear */
    const char *method; /* request, notification: borrowed from root */
    json_t *id;         /* request, response: borrowed from root */
    char id_text[TG__RPC_ID_TEXT_SIZE]; /* compact JSON text of id: the matching key */
    bool id_too_long;                   /* the id's text did not fit id_text ("" then) */
    json_t *params;                     /* borrowed; NULL when absent */
    json_t *result;                     /* response: borrowed; NULL for an error response */
    json_t *error;                      /* response: borrowed */
} tg__rpc_message;

/*
 * Parses and classifies one line. Never fails: text that is not a message
 * gives kind TG__RPC_INVALID (root NULL when it is not JSON at all). Duplicate
 * keys make a message invalid, so the gateway and the server can never read
 * different methods or names from the same bytes.
 */
void tg__rpc_parse(const char *line, size_t size, tg__rpc_message *out);

/* Frees what tg__rpc_parse kept. */
void tg__rpc_message_clear(tg__rpc_message *message);

/* The compact JSON text of an id into out (TG__RPC_ID_TEXT_SIZE); false if it does not fit. */
bool tg__rpc_id_text(const json_t *id, char out[TG__RPC_ID_TEXT_SIZE]);

/* ---- Messages the gateway writes ---------------------------------------------------- */

/*
 * One message as a single line without its newline, from malloc (caller frees).
 * Compact JSON never contains a raw newline. NULL when out of memory.
 */
char *tg__rpc_dump(const json_t *message, size_t *size_out);

/* {"jsonrpc":"2.0","id":id,"result":{"content":[{"type":"text","text":text}],"isError":true,
 *  "_meta":meta}}. meta may be NULL; it is taken (stolen). Returns a new reference. */
json_t *tg__rpc_tool_error(const json_t *id, const char *text, json_t *meta);

/* {"jsonrpc":"2.0","id":id or null,"error":{"code":code,"message":message}}. */
json_t *tg__rpc_error(const json_t *id, int code, const char *message);

/* {"jsonrpc":"2.0","method":method,"params":params}; params may be NULL, and is stolen. */
json_t *tg__rpc_notification(const char *method, json_t *params);

#endif
