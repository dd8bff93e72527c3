/*
 * journal: the rows a batch of ledger mutations leaves behind, for a store to
 * write in one transaction. Core fills it; stores read it; neither knows the
 * other. The rows mirror the SQLite tables one to one, so a person reading the
 * database with plain SQL sees what the engine saw.
 */
#ifndef TG_CORE_JOURNAL_H
#define TG_CORE_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tollgate.h"

/* A budget's declared spec and persisted state (held amounts are derived from holds). */
typedef struct {
    char path[TG_PATH_SIZE_MAX];
    tg_budget_spec spec;
    bool frozen;
    int64_t window_start_ms;
    int64_t window_end_ms;
    int64_t spent_micros;
    int64_t calls_used;
    int64_t tokens_used;
    uint32_t alerts_fired; /* bit i: alert i reported in this window */
    uint32_t revoked;      /* bit c: class c revoked in this window */
    bool has_template;     /* the budget_templates row (templates.c) */
    tg_budget_spec template_spec;
    int64_t children_max;
} tg__budget_row;

typedef struct {
    uint64_t id;
    char budget[TG_PATH_SIZE_MAX];
    int64_t amount_micros;
    int64_t tokens;
    int cls;
    char tool[TG_NAME_SIZE_MAX];
    char model[TG_NAME_SIZE_MAX];
    int64_t created_at_ms;
    int64_t expires_at_ms;
    bool cancel_requested;
} tg__hold_row;

typedef enum { TG__HOLD_PUT, TG__HOLD_DELETE } tg__hold_op_kind;

typedef struct {
    tg__hold_op_kind kind;
    tg__hold_row row; /* DELETE uses row.id only */
} tg__hold_op;

typedef struct {
    uint64_t id;
    int64_t time_ms;
    char budget[TG_PATH_SIZE_MAX];
    uint64_t hold_id; /* 0 for a record without a hold */
    int cls;
    char tool[TG_NAME_SIZE_MAX];
    char model[TG_NAME_SIZE_MAX];
    int64_t tokens_in;
    int64_t tokens_out;
    int64_t cost_micros;
    int64_t held_micros; /* the hold's amount, 0 without a hold */
} tg__charge_row;

typedef struct {
    char budget[TG_PATH_SIZE_MAX];
    tg_window_record window;
} tg__window_row;

#define TG__CALL_REQUEST_ID_SIZE_MAX 128 /* bytes of a call's request id, NUL included */
#define TG__CALL_PROVIDER_SIZE_MAX                                                                 \
    64                               /* bytes of a provider's id ("openai", or a configured        \
                                        upstream's name, TG__PROXY_NAME_SIZE_MAX) */
#define TG__CALL_KEY_SIZE_MAX 64     /* bytes of a key's name */
#define TG__CALL_USER_SIZE_MAX 128   /* bytes of the request's user */
#define TG__CALL_TAGS_SIZE_MAX 1024  /* bytes of the tags joined by ',' */
#define TG__CALL_OUTCOME_SIZE_MAX 24 /* bytes of an outcome ("ok", "cut", ...) */

/* One proxied call as the spend log keeps it (table calls, docs/proxy.md "Spend log"):
 * written in the batch that settles it, beside its charge. Not ledger state: never read
 * back at open, never decided on. Strings are NUL-terminated, "" when not known. */
typedef struct {
    int64_t time_ms;                               /* when the call was settled */
    uint64_t charge_id;                            /* its charge row, 0 when none */
    char request_id[TG__CALL_REQUEST_ID_SIZE_MAX]; /* the provider's request id */
    char provider[TG__CALL_PROVIDER_SIZE_MAX];     /* "openai", "anthropic" */
    char route[TG__CALL_PROVIDER_SIZE_MAX];        /* "openai.chat", ... */
    char model[TG_NAME_SIZE_MAX];                  /* the model called */
    char budget[TG_PATH_SIZE_MAX];                 /* the budget charged */
    char key[TG__CALL_KEY_SIZE_MAX];               /* the name of the key that called */
    char user[TG__CALL_USER_SIZE_MAX];             /* the request's user */
    char tags[TG__CALL_TAGS_SIZE_MAX];             /* "a,b" */
    int64_t tokens_in;                             /* input, cached included */
    int64_t tokens_out;                            /* output, reasoning included */
    int64_t tokens_cached;                         /* input read from cache */
    int64_t tokens_reasoning;                      /* output spent reasoning */
    int64_t cost_micros;                           /* what was charged, 0 when nothing */
    int64_t held_micros;                           /* what was held */
    int64_t latency_ms;                            /* admission to settlement */
    int status;                                    /* HTTP status the client saw */
    char outcome[TG__CALL_OUTCOME_SIZE_MAX];       /* how it ended (docs/proxy.md) */
} tg__call_row;

/* What an idempotent operation answered the first time. */
typedef enum { TG__OP_RESERVE = 1, TG__OP_COMMIT, TG__OP_RELEASE, TG__OP_RECORD } tg__op_kind;

typedef struct {
    char key[TG_KEY_SIZE_MAX];
    int op;             /* tg__op_kind */
    uint64_t args_hash; /* the arguments of the first call */
    int64_t created_ms;
    uint64_t hold_id; /* reserve */
    int64_t expires_at_ms;
    int cls;
    int64_t charged_micros; /* commit */
    int64_t overrun_micros;
    bool capped;        /* commit: the overrun was not charged */
    uint64_t charge_id; /* commit, record */
} tg__idem_row;

typedef struct {
    uint64_t next_hold_id;
    uint64_t next_charge_id;
    uint64_t next_event_id;
} tg__meta_row;

/* A budget path or an idempotency key as a row of its own (deletions). */
typedef struct {
    char path[TG_PATH_SIZE_MAX];
} tg__path_row;

typedef struct {
    char key[TG_KEY_SIZE_MAX];
} tg__key_row;

/* An API key's name, for its deletion. */
typedef struct {
    char name[TG_API_KEY_NAME_SIZE_MAX];
} tg__name_row;

/* Growable array of rows, each with a maximum; from malloc, owned by the journal. */
#define TG__ROWS(type)                                                                             \
    struct {                                                                                       \
        type *items;                                                                               \
        uint32_t count;                                                                            \
        uint32_t capacity;                                                                         \
    }

typedef struct {
    TG__ROWS(tg__path_row) budgets_deleted; /* applied before budgets */
    TG__ROWS(tg__budget_row) budgets;       /* latest state of each changed budget */
    TG__ROWS(tg__hold_op) holds;            /* in order */
    TG__ROWS(tg__charge_row) charges;
    TG__ROWS(tg_event) events;
    TG__ROWS(tg__window_row) windows;
    TG__ROWS(tg__idem_row) idem_put;
    TG__ROWS(tg__key_row) idem_deleted;      /* forgotten after their ttl */
    TG__ROWS(tg__name_row) api_keys_deleted; /* applied before api_keys_put */
    TG__ROWS(tg_api_key) api_keys_put;
    TG__ROWS(tg__call_row) calls;         /* the spend log */
    TG__ROWS(tg_approval_info) approvals; /* each transition: the approval after it */
    tg__meta_row meta;
} tg__journal;

/* True when the journal holds nothing to write. */
bool tg__journal_empty(const tg__journal *journal);
/* Forgets the rows, keeping the allocations for the next batch. */
void tg__journal_clear(tg__journal *journal);
void tg__journal_free(tg__journal *journal);

#endif
