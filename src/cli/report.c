/*
 * report: `tollgate report`, spend grouped by budget, tool, model, day, or (for
 * proxied calls, from the spend log) key, user, tag or provider, as a table, CSV, JSON
 * or JSON lines; or with --log the spend log itself, one line per charge, as CSV or
 * JSON lines (an export). The charges come from the daemon (GET /v1/charges, paged)
 * or, with --db, straight from a SQLite ledger file opened read-only (no daemon
 * needed; safe while one runs: WAL readers never block its writer). Both paths
 * read the same rows, so they print the same report.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "store/store_read.h"
#include "tollgate.h"

#define ROWS_MAX 100000 /* distinct groups a report may show */

static const tg__cli_option options[] = {
    {"by", "COLUMN",
     "budget, tool, model, day (UTC), key, user, tag or provider: what the rows are (default "
     "budget)"},
    {"log", NULL, "print the spend log, one line per charge, instead of sums"},
    {"model", "MODEL", "only charges for this model"},
    {"key-name", "NAME", "only charges of proxied calls made with this key"},
    {"user", "USER", "only charges of proxied calls for this user"},
    {"tag", "TAG", "only charges of proxied calls with this tag"},
    {"budget", "PREFIX", "only this budget and its subtree"},
    {"since", "WHEN", "charges from WHEN on: a date (2026-11-28, UTC) or Unix milliseconds"},
    {"until", "WHEN", "charges before WHEN"},
    {"format", "FORMAT", "table, csv, json or jsonl (default table; --log: csv or jsonl)"},
    {"db", "FILE", "read this SQLite ledger file (read-only) instead of asking the daemon"},
    {"url", "URL", "the daemon (default: $TOLLGATE_URL, else http://127.0.0.1:8420)"},
    {"key", "KEY", "the bearer key (default: $TOLLGATE_KEY)"},
    {NULL, NULL, NULL}};

static const tg__cli_command command = {
    .name = "tollgate report",
    .synopsis = "tollgate report [--by budget|tool|model|day|key|user|tag|provider] [--log]\n"
                "                       [--budget PREFIX] [--since WHEN] [--until WHEN]\n"
                "                       [--model M] [--key-name K] [--user U] [--tag T]\n"
                "                       [--format table|csv|json|jsonl] [--db FILE]",
    .about = "Sums the charges (what was really spent: commits and recorded costs) by one\n"
             "column. Each charge counts once, on the budget it was made to; --budget keeps\n"
             "that budget and its subtree. --since is inclusive, --until exclusive.\n"
             "The charges come from the daemon (any key that may read them), or with --db\n"
             "from the SQLite ledger file itself, read-only, with or without a daemon.\n"
             "key, user, tag and provider come from the spend log of proxied calls: a\n"
             "charge made over the API has none (its row is \"\"); a charge with two tags\n"
             "counts under each, and once in TOTAL. --log prints every charge with its\n"
             "call's fields instead of sums (CSV or JSON lines).\n",
    .options = options,
    .positional_max = 0,
    .examples = "  tollgate report                                   # spend per budget, all time\n"
                "  tollgate report --by day --since 2026-11-01 --budget team/support-agent\n"
                "  tollgate report --by model --format csv > models.csv\n"
                "  tollgate report --db tollgate.db --by tool --format json\n"
                "  tollgate report --by user --since 2026-11-01 --format jsonl\n"
                "  tollgate report --log --tag nightly --format csv > calls.csv\n"};

typedef struct {
    char key[TG_PATH_SIZE_MAX];
    int64_t charges;
    int64_t cost_micros;
    int64_t tokens_in;
    int64_t tokens_out;
} row;

typedef struct {
    const char *by;     /* budget, tool, model, day, key, user, tag, provider */
    const char *budget; /* prefix, "" for all */
    int64_t since_ms;
    int64_t until_ms;
    const char *format; /* table, csv, json, jsonl */
    const char *db;     /* ledger file, or NULL: ask the daemon */
    const char *url;
    const char *key;
    bool log;               /* --log: every charge, not sums */
    const char *filters[4]; /* model, key name, user, tag: "" for any */
    row *rows;              /* from malloc, ROWS_MAX */
    int count;
    row total;     /* each charge once (a charge with two tags is in two rows) */
    json_t *index; /* key -> position in rows */
} report;

/* The query names of r->filters, in order (GET /v1/charges). */
static const char *const FILTER_NAMES[] = {"model", "key", "user", "tag"};

/* "2026-11-28" (UTC midnight) or Unix milliseconds. */
static bool parse_when(const char *text, int64_t *out) {
    int year, month, day;
    char tail;
    if (sscanf(text, "%4d-%2d-%2d%c", &year, &month, &day, &tail) == 3) {
        struct tm date = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day};
        time_t seconds = timegm(&date);
        if (month < 1 || month > 12 || day < 1 || day > 31 || seconds == (time_t)-1) {
            return false;
        }
        *out = (int64_t)seconds * 1000;
        return true;
    }
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (*text < '0' || *text > '9' || *end != '\0') {
        return false;
    }
    *out = value;
    return true;
}

/* Adds one charge (or one group of them) under `key`. False when there are too many groups. */
static bool add(report *r, const char *key, int64_t charges, int64_t cost, int64_t in,
                int64_t out) {
    json_t *at = json_object_get(r->index, key);
    row *target;
    if (at != NULL) {
        target = &r->rows[json_integer_value(at)];
    } else {
        if (r->count == ROWS_MAX) {
            return false;
        }
        target = &r->rows[r->count];
        memset(target, 0, sizeof *target);
        snprintf(target->key, sizeof target->key, "%s", key);
        json_object_set_new(r->index, key, json_integer(r->count++));
    }
    target->charges += charges;
    target->cost_micros += cost;
    target->tokens_in += in;
    target->tokens_out += out;
    return true;
}

static void day_of(int64_t time_ms, char *out, size_t size) {
    time_t seconds = (time_t)(time_ms / 1000);
    struct tm date;
    gmtime_r(&seconds, &date);
    strftime(out, size, "%Y-%m-%d", &date);
}

/* ---- one charge (as GET /v1/charges shows it) ------------------------------------- */

static const char *text_of(const json_t *charge, const char *name) {
    const char *text = json_string_value(json_object_get(charge, name));
    return text != NULL ? text : "";
}

static int64_t number_of(const json_t *charge, const char *name) {
    return json_integer_value(json_object_get(charge, name));
}

/* The spend log's columns, in the order --log prints them. */
static const char *const LOG_COLUMNS[] = {"id",
                                          "time_ms",
                                          "budget",
                                          "model",
                                          "provider",
                                          "key",
                                          "user",
                                          "tags",
                                          "request_id",
                                          "tokens_in",
                                          "tokens_out",
                                          "tokens_cached",
                                          "tokens_reasoning",
                                          "cost_micros",
                                          "held_micros",
                                          "latency_ms",
                                          "status",
                                          "outcome",
                                          NULL};

static void csv_text(const char *text) {
    putchar('"');
    for (const char *c = text; *c; c++) {
        if (*c == '"') {
            putchar('"');
        }
        putchar(*c);
    }
    putchar('"');
}

/* One line of the spend log: CSV or JSON lines. */
static void print_log_line(const report *r, const json_t *charge) {
    if (strcmp(r->format, "jsonl") == 0) {
        json_t *line = json_object();
        for (int i = 0; LOG_COLUMNS[i] != NULL; i++) {
            json_t *value = json_object_get(charge, LOG_COLUMNS[i]);
            json_object_set(line, LOG_COLUMNS[i], value != NULL ? value : json_null());
        }
        char *text = json_dumps(line, JSON_COMPACT);
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(line);
        return;
    }
    for (int i = 0; LOG_COLUMNS[i] != NULL; i++) {
        const json_t *value = json_object_get(charge, LOG_COLUMNS[i]);
        if (i > 0) {
            putchar(',');
        }
        if (json_is_integer(value)) {
            printf("%" PRId64, (int64_t)json_integer_value(value));
        } else if (json_is_string(value)) {
            csv_text(json_string_value(value));
        } else if (json_is_array(value)) {
            char joined[1024] = "";
            size_t at;
            json_t *tag;
            json_array_foreach(value, at, tag) {
                size_t used = strlen(joined);
                snprintf(joined + used, sizeof joined - used, "%s%s", used ? "," : "",
                         json_string_value(tag) ? json_string_value(tag) : "");
            }
            csv_text(joined);
        }
    }
    putchar('\n');
}

/* Takes one charge: printed (--log), or added to its group(s) and the total. */
static bool take(report *r, const json_t *charge) {
    if (r->log) {
        print_log_line(r, charge);
        return true;
    }
    int64_t cost = number_of(charge, "cost_micros"), in = number_of(charge, "tokens_in"),
            out = number_of(charge, "tokens_out");
    r->total.charges++;
    r->total.cost_micros += cost;
    r->total.tokens_in += in;
    r->total.tokens_out += out;
    if (strcmp(r->by, "tag") == 0) {
        const json_t *tags = json_object_get(charge, "tags");
        size_t at;
        json_t *tag;
        json_array_foreach(tags, at, tag) {
            if (!add(r, json_string_value(tag) ? json_string_value(tag) : "", 1, cost, in, out)) {
                return false;
            }
        }
        return json_array_size(tags) > 0 || add(r, "", 1, cost, in, out);
    }
    char day[16];
    const char *key = day;
    if (strcmp(r->by, "day") == 0) {
        day_of(number_of(charge, "time_ms"), day, sizeof day);
    } else {
        key = text_of(charge, r->by);
    }
    return add(r, key, 1, cost, in, out);
}

static bool take_or_say(report *r, const json_t *charge) {
    if (!take(r, charge)) {
        fprintf(stderr, "tollgate report: more than %d groups\n", ROWS_MAX);
        return false;
    }
    return true;
}

/* ---- from the daemon ------------------------------------------------------------ */

static int from_daemon(report *r) {
    char path[2048];
    int64_t after = 0;
    for (;;) {
        char *prefix = curl_easy_escape(NULL, r->budget, 0);
        int used = snprintf(path, sizeof path,
                            "/v1/charges?budget=%s&since=%" PRId64 "&until=%" PRId64
                            "&after=%" PRId64 "&limit=1000",
                            prefix ? prefix : "", r->since_ms, r->until_ms, after);
        curl_free(prefix);
        for (int i = 0; i < 4; i++) {
            if (r->filters[i][0] != '\0') {
                char *value = curl_easy_escape(NULL, r->filters[i], 0);
                used += snprintf(path + used, sizeof path - (size_t)used, "&%s=%s", FILTER_NAMES[i],
                                 value ? value : "");
                curl_free(value);
            }
        }
        json_t *answer = NULL;
        long status = tg__cli_call(r->url, r->key, "GET", path, NULL, &answer);
        if (status != 200) {
            json_t *error = json_object_get(json_object_get(answer, "error"), "message");
            if (status > 0) {
                fprintf(stderr, "tollgate report: the daemon answered %ld: %s\n", status,
                        error ? json_string_value(error) : "(no message)");
            }
            json_decref(answer);
            return status < 0 || status >= 500 ? TG__EXIT_FAILURE : TG__EXIT_REJECTED;
        }
        json_t *charges = json_object_get(answer, "charges");
        size_t i;
        json_t *charge;
        json_array_foreach(charges, i, charge) {
            if (!take_or_say(r, charge)) {
                json_decref(answer);
                return TG__EXIT_FAILURE;
            }
        }
        /* The end is a page that moves the cursor nowhere: on the Redis store a page may
         * be short, even empty, before the end (docs/api.md, "Charges"). */
        int64_t next = json_integer_value(json_object_get(answer, "next"));
        json_decref(answer);
        if (next <= after) {
            return TG__EXIT_OK;
        }
        after = next;
    }
}

/* ---- from the file ---------------------------------------------------------------- */

/* Waits this long for a lock (a daemon's checkpoint) before failing. */
#define REPORT_BUSY_TIMEOUT_MS 5000

typedef struct {
    report *r;
    bool full;        /* more than ROWS_MAX groups */
    uint64_t last_id; /* the last charge read, the next page's cursor */
    size_t read;      /* rows in this page */
} file_context;

static bool add_total(void *user, const tg__charge_total *total) {
    file_context *context = user;
    context->full = !add(context->r, total->key, total->charges, total->cost_micros,
                         total->tokens_in, total->tokens_out);
    if (!context->full) {
        context->r->total.charges += total->charges;
        context->r->total.cost_micros += total->cost_micros;
        context->r->total.tokens_in += total->tokens_in;
        context->r->total.tokens_out += total->tokens_out;
    }
    return !context->full;
}

static json_t *text_or_null(bool logged, const char *text) {
    return logged ? json_string(text) : json_null();
}

static json_t *number_or_null(bool logged, int64_t value) {
    return logged ? json_integer(value) : json_null();
}

/* A spend row as GET /v1/charges shows it (src/api/charges.c), so both paths print
 * the same. */
static json_t *spend_json(const tg__spend_row *spend) {
    const tg__charge_info *c = &spend->charge;
    const tg__call_row *l = &spend->call;
    bool logged = spend->logged;
    json_t *tags = json_array();
    for (const char *at = logged ? l->tags : ""; *at != '\0';) {
        size_t length = strcspn(at, ",");
        json_array_append_new(tags, json_stringn(at, length));
        at += length + (at[length] == ',');
    }
    return json_pack(
        "{s:I,s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
        "s:o}",
        "id", (json_int_t)c->id, "time_ms", (json_int_t)c->time_ms, "budget", c->budget, "tool",
        c->tool, "model", c->model, "tokens_in", (json_int_t)c->tokens_in, "tokens_out",
        (json_int_t)c->tokens_out, "cost_micros", (json_int_t)c->cost_micros, "held_micros",
        (json_int_t)c->held_micros, "request_id", text_or_null(logged, l->request_id), "provider",
        text_or_null(logged, l->provider), "key", text_or_null(logged, l->key), "user",
        text_or_null(logged, l->user), "tags", tags, "tokens_cached",
        number_or_null(logged, l->tokens_cached), "tokens_reasoning",
        number_or_null(logged, l->tokens_reasoning), "latency_ms",
        number_or_null(logged, l->latency_ms), "status", number_or_null(logged, l->status),
        "outcome", text_or_null(logged, l->outcome));
}

static bool take_spend(void *user, const tg__spend_row *spend) {
    file_context *context = user;
    context->last_id = spend->charge.id;
    context->read++;
    json_t *charge = spend_json(spend);
    if (charge == NULL) {
        fprintf(stderr, "tollgate report: out of memory\n");
    }
    context->full = charge == NULL || !take_or_say(context->r, charge);
    json_decref(charge);
    return !context->full;
}

/* Every charge, page by page through the spend log (filters, key/user/tag/provider, --log). */
static tg_status file_spend(report *r, tg__store_reader *reader, file_context *context,
                            tg_error *err) {
    tg__spend_filter filter = {r->filters[0], r->filters[1], r->filters[2], r->filters[3], NULL};
    for (;;) {
        tg__store_page page = {.budget = r->budget, .after_id = context->last_id, .limit = 1000};
        context->read = 0;
        tg_status status = tg__store_read_spend(reader, &page, r->since_ms, r->until_ms, &filter,
                                                take_spend, context, err);
        if (status != TG_OK || context->full || context->read < 1000) {
            return status;
        }
    }
}

static int from_file(report *r) {
    static const char *const names[] = {
        [TG__TOTALS_BY_BUDGET] = "budget",
        [TG__TOTALS_BY_TOOL] = "tool",
        [TG__TOTALS_BY_MODEL] = "model",
        [TG__TOTALS_BY_DAY] = "day",
    };
    int by = -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        by = strcmp(r->by, names[i]) == 0 ? (int)i : by;
    }
    bool filtered = false;
    for (int i = 0; i < 4; i++) {
        filtered = filtered || r->filters[i][0] != '\0';
    }
    tg__store_reader *reader = NULL;
    tg_error err = {0};
    if (tg__store_reader_open(r->db, REPORT_BUSY_TIMEOUT_MS, &reader, &err) != TG_OK) {
        fprintf(stderr, "tollgate report: cannot read %s: %s\n", r->db, err.message);
        return TG__EXIT_FAILURE;
    }
    file_context context = {r, false, 0, 0};
    tg_status status =
        by >= 0 && !filtered && !r->log
            ? tg__store_read_charge_totals(reader, (tg__totals_by)by, r->budget, r->since_ms,
                                           r->until_ms, add_total, &context, &err)
            : file_spend(r, reader, &context, &err);
    tg__store_reader_close(reader);
    if (context.full) {
        if (by >= 0 && !filtered && !r->log) {
            fprintf(stderr, "tollgate report: more than %d groups\n", ROWS_MAX);
        }
        return TG__EXIT_FAILURE;
    }
    if (status != TG_OK) {
        fprintf(stderr, "tollgate report: cannot read %s: %s\n", r->db, err.message);
        return TG__EXIT_FAILURE;
    }
    return TG__EXIT_OK;
}

/* ---- printing ---------------------------------------------------------------------- */

static int by_key(const void *a, const void *b) {
    return strcmp(((const row *)a)->key, ((const row *)b)->key);
}

static void print(report *r) {
    qsort(r->rows, (size_t)r->count, sizeof r->rows[0], by_key);
    row total = r->total;
    snprintf(total.key, sizeof total.key, "TOTAL");
    char money[40];
    if (strcmp(r->format, "jsonl") == 0) {
        /* One group a line, then the total as a line of its own ("total": true). */
        for (int i = 0; i <= r->count; i++) {
            const row *x = i < r->count ? &r->rows[i] : &total;
            json_t *item = json_pack(
                "{s:s,s:s,s:I,s:I,s:I,s:I}", "by", r->by, "key", i < r->count ? x->key : "",
                "charges", (json_int_t)x->charges, "cost_micros", (json_int_t)x->cost_micros,
                "tokens_in", (json_int_t)x->tokens_in, "tokens_out", (json_int_t)x->tokens_out);
            if (i == r->count) {
                json_object_set_new(item, "total", json_true());
            }
            char *text = json_dumps(item, JSON_COMPACT);
            printf("%s\n", text ? text : "{}");
            free(text);
            json_decref(item);
        }
        return;
    }
    if (strcmp(r->format, "json") == 0) {
        json_t *rows = json_array();
        for (int i = 0; i <= r->count; i++) {
            const row *x = i < r->count ? &r->rows[i] : &total;
            json_t *item =
                json_pack("{s:s,s:I,s:I,s:I,s:I}", "key", x->key, "charges", (json_int_t)x->charges,
                          "cost_micros", (json_int_t)x->cost_micros, "tokens_in",
                          (json_int_t)x->tokens_in, "tokens_out", (json_int_t)x->tokens_out);
            if (i < r->count) {
                json_array_append_new(rows, item);
            } else {
                json_t *whole =
                    json_pack("{s:s,s:o,s:o}", "by", r->by, "rows", rows, "total", item);
                char *text = json_dumps(whole, JSON_INDENT(2));
                printf("%s\n", text ? text : "{}");
                free(text);
                json_decref(whole);
            }
        }
        return;
    }
    bool csv = strcmp(r->format, "csv") == 0;
    if (csv) {
        printf("%s,charges,cost,cost_micros,tokens_in,tokens_out\n", r->by);
    } else {
        printf("%-40s %10s %18s %14s %14s\n", r->by, "charges", "cost", "tokens in", "tokens out");
    }
    for (int i = 0; i <= r->count; i++) {
        const row *x = i < r->count ? &r->rows[i] : &total;
        tg_money_format(x->cost_micros, money, sizeof money);
        if (csv && i < r->count) {
            /* Keys are paths, names and dates; quote them anyway, doubling any quote. */
            putchar('"');
            for (const char *c = x->key; *c; c++) {
                if (*c == '"') {
                    putchar('"');
                }
                putchar(*c);
            }
            printf("\",%" PRId64 ",%s,%" PRId64 ",%" PRId64 ",%" PRId64 "\n", x->charges, money,
                   x->cost_micros, x->tokens_in, x->tokens_out);
        } else if (!csv) {
            printf("%-40s %10" PRId64 " %18s %14" PRId64 " %14" PRId64 "\n",
                   x->key[0] ? x->key : "(none)", x->charges, money, x->tokens_in, x->tokens_out);
        }
    }
}

static int usage_error(const char *message) {
    return tg__cli_usage_error(&command, "%s", message);
}

static int parse(report *r, int argc, char **argv) {
    tg__cli_args args;
    int code = tg__cli_args_run(&command, argc - 1, argv + 1, &args);
    if (code >= 0) {
        return code == 0 ? -1 : code;
    }
    static const char *const texts[] = {"by",  "budget", "format",   "db",   "url",
                                        "key", "model",  "key-name", "user", "tag"};
    const char **fields[] = {&r->by,         &r->budget,    &r->format,     &r->db,
                             &r->url,        &r->key,       &r->filters[0], &r->filters[1],
                             &r->filters[2], &r->filters[3]};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *value = tg__cli_arg(&command, &args, texts[i]);
        *fields[i] = value != NULL ? value : *fields[i];
    }
    const char *since = tg__cli_arg(&command, &args, "since");
    const char *until = tg__cli_arg(&command, &args, "until");
    if ((since != NULL && !parse_when(since, &r->since_ms)) ||
        (until != NULL && !parse_when(until, &r->until_ms))) {
        return usage_error("--since and --until take 2026-11-28 or Unix milliseconds");
    }
    r->log = tg__cli_flag(&command, &args, "log");
    static const char *const groupings[] = {"budget", "tool", "model", "day",
                                            "key",    "user", "tag",   "provider"};
    bool known = false;
    for (size_t i = 0; i < sizeof groupings / sizeof groupings[0]; i++) {
        known = known || strcmp(r->by, groupings[i]) == 0;
    }
    if (!known) {
        return usage_error("--by is budget, tool, model, day, key, user, tag or provider");
    }
    if (strcmp(r->format, "table") && strcmp(r->format, "csv") && strcmp(r->format, "json") &&
        strcmp(r->format, "jsonl")) {
        return usage_error("--format is table, csv, json or jsonl");
    }
    if (r->log && strcmp(r->format, "csv") && strcmp(r->format, "jsonl")) {
        return usage_error("--log prints csv or jsonl: add --format csv or --format jsonl");
    }
    if (r->log && tg__cli_arg(&command, &args, "by") != NULL) {
        return usage_error("--log prints every charge: it takes no --by");
    }
    return TG__EXIT_OK;
}

int tg__cli_report(int argc, char **argv) {
    report r = {.by = "budget",
                .filters = {"", "", "", ""},
                .budget = "",
                .since_ms = 0,
                .until_ms = INT64_MAX,
                .format = "table"};
    int code = parse(&r, argc, argv);
    if (code != TG__EXIT_OK) {
        return code < 0 ? TG__EXIT_OK : code;
    }
    tg__remote remote;
    tg__remote_init(&remote, r.url, r.key, false);
    r.url = remote.url;
    r.key = remote.key;
    r.rows = malloc(ROWS_MAX * sizeof *r.rows);
    r.index = json_object();
    if (r.rows == NULL || r.index == NULL) {
        free(r.rows);
        json_decref(r.index);
        return TG__EXIT_FAILURE;
    }
    if (r.log && strcmp(r.format, "csv") == 0) {
        for (int i = 0; LOG_COLUMNS[i] != NULL; i++) {
            printf("%s%s", i ? "," : "", LOG_COLUMNS[i]);
        }
        putchar('\n');
    }
    if (r.db != NULL) {
        code = from_file(&r);
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        code = from_daemon(&r);
        curl_global_cleanup();
    }
    if (code == TG__EXIT_OK && !r.log) {
        print(&r);
    }
    free(r.rows);
    json_decref(r.index);
    return code;
}
