/*
 * store_sqlite_spend: the spend log read back (store_read.h): charges left-joined with
 * the calls table (migration 6), filtered by model, key, user, tag and provider, paged
 * by charge id like every other page. A charge made over the API has no calls row and
 * reads with `logged` false.
 */
#include <string.h>

#include "store/store_sqlite_reader.h"

/* ?1 after, ?2 budget, ?3 limit (tg__sqlite_page_start); ?4 since, ?5 until, ?6 model,
 * ?7 key, ?8 user, ?9 tag, ?10 provider. */
static const char spend_sql[] =
    "SELECT c.id, c.time_ms, c.budget, c.hold_id, c.class, c.tool, c.model, c.tokens_in, "
    "c.tokens_out, c.cost_micros, c.held_micros, l.id IS NOT NULL, l.time_ms, l.request_id, "
    "l.provider, l.route, l.key, l.user, l.tags, l.tokens_cached, l.tokens_reasoning, "
    "l.latency_ms, l.status, l.outcome "
    "FROM charges c LEFT JOIN calls l ON l.charge_id = c.id "
    "WHERE c.id > ?1 AND c.time_ms >= ?4 AND c.time_ms < ?5 AND " TG__SQLITE_SUBTREE(
        "c.budget", "2") " AND (?6 = '' OR c.model = ?6) AND (?7 = '' OR l.key = ?7) "
                         "AND (?8 = '' OR l.user = ?8) "
                         "AND (?9 = '' OR instr(',' || l.tags || ',', ',' || ?9 || ',') > 0) "
                         "AND (?10 = '' OR l.provider = ?10) ORDER BY c.id LIMIT ?3";

static bool spend_row(sqlite3_stmt *s, const tg__sqlite_visit *visit) {
    tg__spend_row row;
    memset(&row, 0, sizeof row);
    tg__charge_info *c = &row.charge;
    tg__sqlite_charge_decode(s, c);
    row.logged = sqlite3_column_int(s, 11) != 0;
    if (row.logged) {
        tg__call_row *l = &row.call;
        l->time_ms = sqlite3_column_int64(s, 12);
        l->charge_id = c->id;
        tg__sqlite_column_copy(s, 13, l->request_id, sizeof l->request_id);
        tg__sqlite_column_copy(s, 14, l->provider, sizeof l->provider);
        tg__sqlite_column_copy(s, 15, l->route, sizeof l->route);
        tg__sqlite_column_copy(s, 16, l->key, sizeof l->key);
        tg__sqlite_column_copy(s, 17, l->user, sizeof l->user);
        tg__sqlite_column_copy(s, 18, l->tags, sizeof l->tags);
        l->tokens_cached = sqlite3_column_int64(s, 19);
        l->tokens_reasoning = sqlite3_column_int64(s, 20);
        l->latency_ms = sqlite3_column_int64(s, 21);
        l->status = sqlite3_column_int(s, 22);
        tg__sqlite_column_copy(s, 23, l->outcome, sizeof l->outcome);
        memcpy(l->model, c->model, sizeof l->model);
        memcpy(l->budget, c->budget, sizeof l->budget);
        l->tokens_in = c->tokens_in;
        l->tokens_out = c->tokens_out;
        l->cost_micros = c->cost_micros;
        l->held_micros = c->held_micros;
    }
    return visit->visit.spend(visit->user, &row);
}

static const char *or_empty(const char *text) {
    return text != NULL ? text : "";
}

tg_status tg__store_read_spend(tg__store_reader *reader, const tg__store_page *page,
                               int64_t since_ms, int64_t until_ms, const tg__spend_filter *filter,
                               tg__spend_visit visit, void *user, tg_error *err) {
    sqlite3_stmt *s = NULL;
    tg_status status = tg__sqlite_page_start(reader, page, spend_sql, &s, err);
    if (status != TG_OK) {
        return status;
    }
    static const tg__spend_filter none = {0};
    const tg__spend_filter *f = filter != NULL ? filter : &none;
    sqlite3_bind_int64(s, 4, since_ms);
    sqlite3_bind_int64(s, 5, until_ms);
    const char *texts[] = {f->model, f->key, f->user, f->tag, f->provider};
    for (int i = 0; i < 5; i++) {
        sqlite3_bind_text(s, 6 + i, or_empty(texts[i]), -1, SQLITE_STATIC);
    }
    tg__sqlite_visit context = {user, {.spend = visit}};
    return tg__sqlite_read_rows(reader, s, spend_row, &context, err);
}
