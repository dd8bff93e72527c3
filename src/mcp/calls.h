/*
 * calls: the agent's requests that wait for the server's answer, by id. The
 * gateway must know them to charge a tools/call when its result comes back,
 * to filter a tools/list result, and to answer every one of them itself if the
 * server exits. Bounded by calls_in_flight_max; a handful are open at a time
 * in practice, so lookup is a scan of a dense array.
 */
#ifndef TG_MCP_CALLS_H
#define TG_MCP_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mcp/jsonrpc.h"
#include "mcp/policy.h"

typedef enum {
    TG__CALL_TOOL = 0,     /* tools/call: metered */
    TG__CALL_LIST = 1,     /* tools/list: its result is filtered */
    TG__CALL_INIT = 2,     /* initialize: its result is patched */
    TG__CALL_OTHER = 3,    /* anything else: only answered if the server exits */
    TG__CALL_PARKED = 4,   /* tools/call waiting for the gateway to learn the server's tools */
    TG__CALL_OWN_LIST = 5, /* the gateway's own tools/list: never shown to the agent */
    TG__CALL_WAITING = 6   /* tools/call refused now, waiting in the engine for room */
} tg__call_kind;

typedef enum {
    TG__CALL_LIVE = 0,            /* waiting for the server */
    TG__CALL_AGENT_CANCELLED = 1, /* the agent cancelled it; a racing result is still charged */
    TG__CALL_ABANDONED = 2        /* the gateway answered it; a late result is dropped */
} tg__call_state;

typedef struct {
    char id_text[TG__RPC_ID_TEXT_SIZE]; /* the request id's JSON text: the key */
    json_t *id;                         /* the id itself, for answers; owned reference */
    tg__call_kind kind;
    tg__call_state state;
    int64_t deadline_ms;                       /* timeout (live) or when to forget; INT64_MAX */
    bool first_page;                           /* tools/list without a cursor */
    uint64_t hold_id;                          /* tools/call: its hold, 0 once closed */
    tg_class cls;                              /* tools/call: the class it was given */
    int64_t cost_micros;                       /* tools/call: configured cost (the hold) */
    tg__mcp_charge charge;                     /* tools/call: how the charge is found */
    char tool[TG_NAME_SIZE_MAX];               /* tools/call: the tool's name */
    char progress_token[TG__RPC_ID_TEXT_SIZE]; /* its progressToken's JSON text, or "" */
    uint64_t wait_id;                          /* waiting: the engine's waiter */
    char *parked;                              /* parked, waiting: the agent's message; malloc */
    size_t parked_size;                        /* its bytes */
} tg__call;

typedef struct {
    tg__call *items; /* from malloc, owned; dense: [0, count) are in use */
    size_t count;    /* calls open */
    size_t capacity; /* slots allocated */
    size_t max;      /* calls_in_flight_max */
} tg__calls;

void tg__calls_init(tg__calls *calls, size_t max);
/* Drops every call (releasing their id references) and frees the table. */
void tg__calls_free(tg__calls *calls);

/* The index of the call with this id text, or -1. */
long tg__calls_find(const tg__calls *calls, const char *id_text);

/* The index of the live or abandoned tools/call whose progress token has this text, or -1. */
long tg__calls_find_progress(const tg__calls *calls, const char *token_text);

/*
 * Adds a call for the request id (its text and value); the caller fills the
 * rest of *out. TG_ERR_FULL at max, TG_ERR_NOMEM.
 */
tg_status tg__calls_add(tg__calls *calls, const char *id_text, json_t *id, tg__call **out);

/* Removes the call at index (the last call moves into its slot). */
void tg__calls_remove(tg__calls *calls, size_t index);

#endif
