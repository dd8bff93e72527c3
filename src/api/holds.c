/*
 * holds: GET /v1/holds, the open holds of a subtree, paged by id from the holds table of
 * the SQLite file through the daemon's read-only connection (reader.c, store/store_read.h),
 * like charges.c. The table is what the last group commit wrote, so a hold answered to its
 * client is listed (strict durability writes it before the answer). The console lists a
 * budget's open holds with it, and an admin releases a stuck one with
 * POST /v1/holds/{id}/release.
 */
#include "api/api.h"
#include "server/daemon.h"
#include "store/store_read.h"

static bool hold_json(void *user, const tg__hold_row *h) {
    tg__json_page *page = user;
    page->next = (int64_t)h->id;
    const char *cls = h->cls >= 0 && h->cls < TG_CLASS_COUNT ? tg_class_str((tg_class)h->cls) : "";
    json_array_append_new(
        page->rows,
        json_pack("{s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:I,s:I,s:b}", "id", (json_int_t)h->id, "budget",
                  h->budget, "amount_micros", (json_int_t)h->amount_micros, "tokens",
                  (json_int_t)h->tokens, "class", cls, "tool", h->tool, "model", h->model,
                  "created_at_ms", (json_int_t)h->created_at_ms, "expires_at_ms",
                  (json_int_t)h->expires_at_ms, "cancel_requested", h->cancel_requested));
    return true;
}

tg__reply tg__holds_list(tg__daemon *daemon, const tg__caller *caller, const char *budget,
                         int64_t after_id, int64_t limit) {
    tg__reply error;
    tg__store_page query;
    tg__store_reader *reader =
        tg__reader_page(daemon, caller, budget, after_id, limit, &query, &error);
    if (reader == NULL) {
        return error;
    }
    tg__json_page page = {json_array(), after_id};
    tg_error err = {0};
    tg_status status = tg__store_read_holds(reader, &query, hold_json, &page, &err);
    return tg__json_page_reply("holds", &page, status, &err);
}
