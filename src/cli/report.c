/*
 * report: `tollgate report`, spend grouped by budget, tool, model or day, as a
 * table, CSV or JSON. The charges come from the daemon (GET /v1/charges, paged)
 * or, with --db, straight from a SQLite ledger file opened read-only (no daemon
 * needed; safe while one runs: WAL readers never block its writer). Both paths
 * sum the same rows, so they print the same report.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "store/store_read.h"
#include "tollgate.h"

#define ROWS_MAX 100000 /* distinct groups a report may show */

static const tg__cli_option options[] = {
    {"by", "COLUMN", "budget, tool, model or day (UTC): what the rows are (default budget)"},
    {"budget", "PREFIX", "only this budget and its subtree"},
    {"since", "WHEN", "charges from WHEN on: a date (2026-11-28, UTC) or Unix milliseconds"},
    {"until", "WHEN", "charges before WHEN"},
    {"format", "FORMAT", "table, csv or json (default table)"},
    {"db", "FILE", "read this SQLite ledger file (read-only) instead of asking the daemon"},
    {"url", "URL", "the daemon (default: $TOLLGATE_URL, else http://127.0.0.1:8420)"},
    {"key", "KEY", "the bearer key (default: $TOLLGATE_KEY)"},
    {NULL, NULL, NULL}};

static const tg__cli_command command = {
    .name = "tollgate report",
    .synopsis = "tollgate report [--by budget|tool|model|day] [--budget PREFIX] [--since WHEN]\n"
                "                       [--until WHEN] [--format table|csv|json] [--db FILE]",
    .about = "Sums the charges (what was really spent: commits and recorded costs) by one\n"
             "column. Each charge counts once, on the budget it was made to; --budget keeps\n"
             "that budget and its subtree. --since is inclusive, --until exclusive.\n"
             "The charges come from the daemon (any key that may read them), or with --db\n"
             "from the SQLite ledger file itself, read-only, with or without a daemon.\n",
    .options = options,
    .positional_max = 0,
    .examples = "  tollgate report                                   # spend per budget, all time\n"
                "  tollgate report --by day --since 2026-11-01 --budget team/support-agent\n"
                "  tollgate report --by model --format csv > models.csv\n"
                "  tollgate report --db tollgate.db --by tool --format json\n"};

typedef struct {
    char key[TG_PATH_SIZE_MAX];
    int64_t charges;
    int64_t cost_micros;
    int64_t tokens_in;
    int64_t tokens_out;
} row;

typedef struct {
    const char *by;     /* budget, tool, model, day */
    const char *budget; /* prefix, "" for all */
    int64_t since_ms;
    int64_t until_ms;
    const char *format; /* table, csv, json */
    const char *db;     /* ledger file, or NULL: ask the daemon */
    const char *url;
    const char *key;
    row *rows; /* from malloc, ROWS_MAX */
    int count;
    json_t *index; /* key -> position in rows */
} report;

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

/* ---- from the daemon ------------------------------------------------------------ */

static int from_daemon(report *r) {
    char path[1024];
    int64_t after = 0;
    for (;;) {
        char *prefix = curl_easy_escape(NULL, r->budget, 0);
        snprintf(path, sizeof path,
                 "/v1/charges?budget=%s&since=%" PRId64 "&until=%" PRId64 "&after=%" PRId64
                 "&limit=1000",
                 prefix ? prefix : "", r->since_ms, r->until_ms, after);
        curl_free(prefix);
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
            char day[16];
            const char *key;
            if (strcmp(r->by, "day") == 0) {
                day_of(json_integer_value(json_object_get(charge, "time_ms")), day, sizeof day);
                key = day;
            } else {
                key = json_string_value(json_object_get(charge, r->by));
            }
            if (!add(r, key ? key : "", 1,
                     json_integer_value(json_object_get(charge, "cost_micros")),
                     json_integer_value(json_object_get(charge, "tokens_in")),
                     json_integer_value(json_object_get(charge, "tokens_out")))) {
                json_decref(answer);
                fprintf(stderr, "tollgate report: more than %d groups\n", ROWS_MAX);
                return TG__EXIT_FAILURE;
            }
        }
        size_t got = json_array_size(charges);
        after = json_integer_value(json_object_get(answer, "next"));
        json_decref(answer);
        if (got < 1000) {
            return TG__EXIT_OK;
        }
    }
}

/* ---- from the file ---------------------------------------------------------------- */

/* Waits this long for a lock (a daemon's checkpoint) before failing. */
#define REPORT_BUSY_TIMEOUT_MS 5000

typedef struct {
    report *r;
    bool full; /* more than ROWS_MAX groups */
} file_context;

static bool add_total(void *user, const tg__charge_total *total) {
    file_context *context = user;
    context->full = !add(context->r, total->key, total->charges, total->cost_micros,
                         total->tokens_in, total->tokens_out);
    return !context->full;
}

static int from_file(report *r) {
    static const char *const names[] = {
        [TG__TOTALS_BY_BUDGET] = "budget",
        [TG__TOTALS_BY_TOOL] = "tool",
        [TG__TOTALS_BY_MODEL] = "model",
        [TG__TOTALS_BY_DAY] = "day",
    };
    tg__totals_by by = TG__TOTALS_BY_BUDGET;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        by = strcmp(r->by, names[i]) == 0 ? (tg__totals_by)i : by;
    }
    tg__store_reader *reader = NULL;
    tg_error err = {0};
    if (tg__store_reader_open(r->db, REPORT_BUSY_TIMEOUT_MS, &reader, &err) != TG_OK) {
        fprintf(stderr, "tollgate report: cannot read %s: %s\n", r->db, err.message);
        return TG__EXIT_FAILURE;
    }
    file_context context = {r, false};
    tg_status status = tg__store_read_charge_totals(reader, by, r->budget, r->since_ms, r->until_ms,
                                                    add_total, &context, &err);
    tg__store_reader_close(reader);
    if (context.full) {
        fprintf(stderr, "tollgate report: more than %d groups\n", ROWS_MAX);
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
    row total = {.key = "TOTAL"};
    for (int i = 0; i < r->count; i++) {
        total.charges += r->rows[i].charges;
        total.cost_micros += r->rows[i].cost_micros;
        total.tokens_in += r->rows[i].tokens_in;
        total.tokens_out += r->rows[i].tokens_out;
    }
    char money[40];
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
    static const char *const texts[] = {"by", "budget", "format", "db", "url", "key"};
    const char **fields[] = {&r->by, &r->budget, &r->format, &r->db, &r->url, &r->key};
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
    if (strcmp(r->by, "budget") && strcmp(r->by, "tool") && strcmp(r->by, "model") &&
        strcmp(r->by, "day")) {
        return usage_error("--by is budget, tool, model or day");
    }
    if (strcmp(r->format, "table") && strcmp(r->format, "csv") && strcmp(r->format, "json")) {
        return usage_error("--format is table, csv or json");
    }
    return TG__EXIT_OK;
}

int tg__cli_report(int argc, char **argv) {
    report r = {.by = "budget",
                .budget = "",
                .since_ms = 0,
                .until_ms = INT64_MAX,
                .format = "table",
                .url = getenv("TOLLGATE_URL"),
                .key = getenv("TOLLGATE_KEY")};
    int code = parse(&r, argc, argv);
    if (code != TG__EXIT_OK) {
        return code < 0 ? TG__EXIT_OK : code;
    }
    r.url = r.url ? r.url : "http://127.0.0.1:8420";
    r.key = r.key ? r.key : "";
    r.rows = malloc(ROWS_MAX * sizeof *r.rows);
    r.index = json_object();
    if (r.rows == NULL || r.index == NULL) {
        free(r.rows);
        json_decref(r.index);
        return TG__EXIT_FAILURE;
    }
    if (r.db != NULL) {
        code = from_file(&r);
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        code = from_daemon(&r);
        curl_global_cleanup();
    }
    if (code == TG__EXIT_OK) {
        print(&r);
    }
    free(r.rows);
    json_decref(r.index);
    return code;
}
