/*
 * charges: GET /v1/charges, paged from the charges table of the SQLite file
 * through the daemon's read-only connection (reader.c, store/store_read.h), so
 * paging a large history never touches the engine's connection.
 */
#include "server/api.h"
#include "server/daemon.h"
#include "store/store_read.h"

static const char *class_text(int cls) {
    return cls >= 0 && cls < TG_CLASS_COUNT ? tg_class_str((tg_class)cls) : "";
}

static bool charge_json(void *user, const tg__charge_info *c) {
    tg__json_page *page = user;
    page->next = (int64_t)c->id;
    json_array_append_new(
        page->rows,
        json_pack("{s:I,s:I,s:s,s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id", (json_int_t)c->id,
                  "time_ms", (json_int_t)c->time_ms, "budget", c->budget, "hold_id",
                  (json_int_t)c->hold_id, "class", class_text(c->cls), "tool", c->tool, "model",
                  c->model, "tokens_in", (json_int_t)c->tokens_in, "tokens_out",
                  (json_int_t)c->tokens_out, "cost_micros", (json_int_t)c->cost_micros,
                  "held_micros", (json_int_t)c->held_micros));
    return true;
}

tg__reply tg__charges_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                           int64_t since_ms, int64_t until_ms, int64_t after_id, int64_t limit) {
    if (budget[0] != '\0' && !tg__may_touch(caller, budget)) {
        return tg__api_forbidden("this key may not read that budget");
    }
    tg__reply error;
    tg__store_reader *reader = tg__reader(daemon, &error);
    if (reader == NULL) {
        return error;
    }
    tg__store_page query = {.budget = tg__read_subtree(caller, budget),
                            .after_id = (uint64_t)after_id,
                            .limit = (size_t)limit};
    tg__json_page page = {json_array(), after_id};
    tg_error err = {0};
    tg_status status =
        tg__store_read_charges(reader, &query, since_ms, until_ms, charge_json, &page, &err);
    return tg__json_page_reply("charges", &page, status, &err);
}
