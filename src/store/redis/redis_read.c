/*
 * redis_read: pages of charges from the trees' streams (redis_read.h), through
 * tollgate.lua's read-only functions tg_trees and tg_charges.
 */
#include "store/redis/redis_read.h"

#include <string.h>

#include "core/path.h"
#include "store/redis/redis_internal.h"

#define ROW_FIELDS 11 /* seq, time, budget, hold, cls, tool, model, in, out, cost, held */
#define SEQ_MASK ((UINT64_C(1) << TG__REDIS_SEQ_BITS) - 1)

/* Copies a reply string into a fixed field, cut at its size (the ledger never stores more). */
static void text_into(char *out, size_t size, const redisReply *reply, size_t i) {
    snprintf(out, size, "%s", tg__redis_str(reply, i));
}

/* One row of a tg_charges answer, from element `at`, as the SQLite reader gives it. */
static void row_of(const redisReply *reply, size_t at, int64_t tree, tg__charge_info *c) {
    memset(c, 0, sizeof *c);
    c->id = tg__redis_id_make(tree, tg__redis_i64(reply, at));
    c->time_ms = tg__redis_i64(reply, at + 1);
    text_into(c->budget, sizeof c->budget, reply, at + 2);
    int64_t hold = tg__redis_i64(reply, at + 3);
    c->hold_id = hold > 0 ? tg__redis_id_make(tree, hold) : 0;
    c->cls = (int)tg__redis_i64(reply, at + 4);
    text_into(c->tool, sizeof c->tool, reply, at + 5);
    text_into(c->model, sizeof c->model, reply, at + 6);
    c->tokens_in = tg__redis_i64(reply, at + 7);
    c->tokens_out = tg__redis_i64(reply, at + 8);
    c->cost_micros = tg__redis_i64(reply, at + 9);
    c->held_micros = tg__redis_i64(reply, at + 10);
}

/* How many trees were ever numbered: 1..*count_out. */
static tg_status trees_count(tg__redis_ledger *ledger, int64_t *count_out, tg_error *err) {
    tg__redis_args args;
    tg__redis_args_fcall(&args, "tg_trees", TG__REDIS_REGISTRY_KEY);
    redisReply *reply = NULL;
    tg_status status = tg__redis_call(ledger, &args, 2, &reply, err);
    if (status == TG_OK) {
        *count_out = tg__redis_i64(reply, 1);
        tg__redis_done(ledger, reply);
    }
    return status;
}

/* What one page's walk over the trees shares. */
typedef struct {
    tg__redis_ledger *ledger;
    const tg__store_page *page;
    int64_t since_ms, until_ms;
    const char *model;
    tg__charge_visit visit;
    void *user;
    size_t taken;  /* rows visited */
    int calls;     /* tg_charges calls made */
    bool stopped;  /* a visit said stop, or the calls ran out */
    uint64_t next; /* the next page's after_id */
} walk;

/* Reads tree `tree` after sequence `after_seq` until the page is full, the tree's stream
 * ends, or the calls run out. */
static tg_status read_tree(walk *w, int64_t tree, int64_t after_seq, tg_error *err) {
    char root[TG_SEGMENT_SIZE_MAX];
    tg_status status = tg__redis_root_of_tree(w->ledger, tree, root, err);
    if (status != TG_OK || root[0] == '\0') {
        return status;
    }
    char prefix[TG__REDIS_PREFIX_SIZE_MAX];
    tg__redis_prefix_of(root, prefix);
    for (;;) {
        if (w->calls == TG__REDIS_READ_CALLS_MAX) {
            w->stopped = true; /* a short page: the next one goes on from w->next */
            return TG_OK;
        }
        w->calls++;
        tg__redis_args args;
        tg__redis_args_fcall(&args, "tg_charges", prefix);
        tg__redis_args_i64(&args, after_seq);
        tg__redis_args_i64(&args, (int64_t)(w->page->limit - w->taken));
        tg__redis_args_i64(&args, w->since_ms);
        tg__redis_args_i64(&args, w->until_ms);
        tg__redis_args_str(&args, w->page->budget);
        tg__redis_args_str(&args, w->model);
        redisReply *reply = NULL;
        if ((status = tg__redis_call(w->ledger, &args, 3, &reply, err)) != TG_OK) {
            return status;
        }
        if ((reply->elements - 3) % ROW_FIELDS != 0) {
            tg__redis_done(w->ledger, reply);
            return tg__fail(err, TG_ERR_IO, "redis function tg_charges answered %zu fields",
                            reply->elements);
        }
        for (size_t at = 3; at < reply->elements && !w->stopped; at += ROW_FIELDS) {
            tg__charge_info charge;
            row_of(reply, at, tree, &charge);
            w->next = charge.id;
            w->taken++;
            w->stopped = !w->visit(w->user, &charge);
        }
        int64_t last = tg__redis_i64(reply, 1);
        bool done = tg__redis_i64(reply, 2) != 0;
        tg__redis_done(w->ledger, reply);
        if (w->stopped) {
            return TG_OK;
        }
        w->next = tg__redis_id_make(tree, last); /* entries looked at and left out too */
        after_seq = last;
        if (done || w->taken == w->page->limit) {
            return TG_OK;
        }
    }
}

tg_status tg__redis_read_charges(tg__redis_ledger *ledger, const tg__store_page *page,
                                 int64_t since_ms, int64_t until_ms, const char *model,
                                 tg__charge_visit visit, void *user, uint64_t *next_out,
                                 tg_error *err) {
    *next_out = page->after_id;
    if (page->limit < 1 || page->limit > TG__STORE_PAGE_ROWS_MAX) {
        return tg__fail(err, TG_ERR_INVALID, "a page holds 1..%d rows", TG__STORE_PAGE_ROWS_MAX);
    }
    walk w = {ledger, page, since_ms, until_ms, model ? model : "", visit,
              user,   0,    0,        false,    page->after_id};
    int64_t first = (int64_t)(page->after_id >> TG__REDIS_SEQ_BITS);
    int64_t after_seq = (int64_t)(page->after_id & SEQ_MASK);
    int64_t last;
    tg_status status;
    if (page->budget[0] != '\0') {
        char root[TG_SEGMENT_SIZE_MAX];
        tg__redis_root_of(page->budget, root);
        int64_t tree = 0;
        if ((status = tg__redis_tree_of_root(ledger, root, false, &tree, err)) != TG_OK) {
            return status;
        }
        if (tree == 0 || tree < first) {
            return TG_OK; /* no such tree, or the cursor is past it */
        }
        if (tree > first) {
            after_seq = 0;
        }
        first = last = tree;
    } else if ((status = trees_count(ledger, &last, err)) != TG_OK) {
        return status;
    }
    if (first == 0) {
        first = 1, after_seq = 0;
    }
    for (int64_t tree = first; tree <= last && !w.stopped && w.taken < page->limit; tree++) {
        if ((status = read_tree(&w, tree, after_seq, err)) != TG_OK) {
            return status;
        }
        after_seq = 0;
    }
    *next_out = w.next;
    return TG_OK;
}
