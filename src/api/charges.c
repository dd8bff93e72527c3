/*
 * charges: GET /v1/charges, paged from the charges table of the SQLite file
 * through the daemon's read-only connection (reader.c, store/store_read.h), so
 * paging a large history never touches the engine's connection. Each charge a
 * proxied call made carries that call's spend-log fields (request id, provider, key,
 * user, tags, cached and reasoning tokens, latency, outcome); filters by model, key,
 * user, tag and provider narrow the page (docs/api.md). On the Redis store the charges
 * come from each tree's stream (store/redis/redis_read.h) and carry no spend log.
 */
#include <string.h>

#include "api/api.h"
#include "server/daemon.h"
#include "server/store_redis.h"
#include "store/store_read.h"

static const char *class_text(int cls) {
    return cls >= 0 && cls < TG_CLASS_COUNT ? tg_class_str((tg_class)cls) : "";
}

/* "a,b" as ["a","b"]. */
static json_t *tags_json(const char *joined) {
    json_t *tags = json_array();
    for (const char *at = joined; *at != '\0';) {
        size_t length = strcspn(at, ",");
        if (length > 0) {
            json_array_append_new(tags, json_stringn(at, length));
        }
        at += length + (at[length] == ',');
    }
    return tags;
}

static json_t *text_or_null(bool logged, const char *text) {
    return logged ? json_string(text) : json_null();
}

static json_t *number_or_null(bool logged, int64_t value) {
    return logged ? json_integer(value) : json_null();
}

static bool charge_json(void *user, const tg__spend_row *row) {
    tg__json_page *page = user;
    const tg__charge_info *c = &row->charge;
    const tg__call_row *l = &row->call;
    bool logged = row->logged;
    page->next = (int64_t)c->id;
    json_t *item = json_pack(
        "{s:I,s:I,s:s,s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id", (json_int_t)c->id, "time_ms",
        (json_int_t)c->time_ms, "budget", c->budget, "hold_id", (json_int_t)c->hold_id, "class",
        class_text(c->cls), "tool", c->tool, "model", c->model, "tokens_in",
        (json_int_t)c->tokens_in, "tokens_out", (json_int_t)c->tokens_out, "cost_micros",
        (json_int_t)c->cost_micros, "held_micros", (json_int_t)c->held_micros);
    if (item == NULL) {
        return false;
    }
    json_object_set_new(item, "request_id", text_or_null(logged, l->request_id));
    json_object_set_new(item, "provider", text_or_null(logged, l->provider));
    json_object_set_new(item, "key", text_or_null(logged, l->key));
    json_object_set_new(item, "user", text_or_null(logged, l->user));
    json_object_set_new(item, "tags", tags_json(logged ? l->tags : ""));
    json_object_set_new(item, "tokens_cached", number_or_null(logged, l->tokens_cached));
    json_object_set_new(item, "tokens_reasoning", number_or_null(logged, l->tokens_reasoning));
    json_object_set_new(item, "latency_ms", number_or_null(logged, l->latency_ms));
    json_object_set_new(item, "status", number_or_null(logged, l->status));
    json_object_set_new(item, "outcome", text_or_null(logged, l->outcome));
    json_array_append_new(page->rows, item);
    return true;
}

/* A Redis charge as a row of the page: no spend log on Redis. */
static bool redis_charge_json(void *user, const tg__charge_info *charge) {
    tg__spend_row row = {.charge = *charge, .logged = false};
    return charge_json(user, &row);
}

/* GET /v1/charges on the Redis store: the same page from the trees' streams. The spend-log
 * filters (key, user, tag, provider) match only logged charges, which Redis has none of:
 * refused rather than answered with an empty page that would read as "none". */
static tg__reply redis_charges(const tg__caller *caller, const char *budget, int64_t since_ms,
                               int64_t until_ms, int64_t after_id, int64_t limit,
                               const tg__charges_filter *filter) {
    if (budget[0] != '\0' && !tg__may_touch(caller, budget)) {
        return tg__api_forbidden("this key may not read that budget");
    }
    if (filter != NULL &&
        (filter->key[0] || filter->user[0] || filter->tag[0] || filter->provider[0])) {
        return tg__api_error(501, "unsupported",
                             "the redis store keeps no spend log: 'key', 'user', 'tag' and "
                             "'provider' filters need the sqlite store (docs/multi-node.md)");
    }
    tg__store_page query = {.budget = tg__read_subtree(caller, budget),
                            .after_id = (uint64_t)after_id,
                            .limit = (size_t)limit};
    tg__json_page page = {json_array(), after_id};
    tg_error err = {0};
    uint64_t next = (uint64_t)after_id;
    tg_status status =
        tg__store_redis_read_charges(&query, since_ms, until_ms, filter ? filter->model : "",
                                     redis_charge_json, &page, &next, &err);
    page.next = (int64_t)next;
    return tg__json_page_reply("charges", &page, status, &err);
}

tg__reply tg__charges_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                           int64_t since_ms, int64_t until_ms, int64_t after_id, int64_t limit,
                           const tg__charges_filter *filter) {
    if (strcmp(daemon->config->store, "redis") == 0) {
        return redis_charges(caller, budget, since_ms, until_ms, after_id, limit, filter);
    }
    tg__reply error;
    tg__store_page query;
    tg__store_reader *reader =
        tg__reader_page(daemon, caller, budget, after_id, limit, &query, &error);
    if (reader == NULL) {
        return error;
    }
    tg__spend_filter spend = {0};
    if (filter != NULL) {
        spend = (tg__spend_filter){filter->model, filter->key, filter->user, filter->tag,
                                   filter->provider};
    }
    tg__json_page page = {json_array(), after_id};
    tg_error err = {0};
    tg_status status =
        tg__store_read_spend(reader, &query, since_ms, until_ms, &spend, charge_json, &page, &err);
    return tg__json_page_reply("charges", &page, status, &err);
}
