/*
 * api_budgets: /v1/budgets (put, patch, get, list, delete, freeze, unfreeze,
 * history). Only an admin changes a budget; others read inside their scope.
 * History is read from the SQLite file (reader.c, store/store_read.h), not through the engine.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"
#include "store/store_read.h"

static json_t *budget_json(const tg_budget_info *info) {
    json_t *classes = json_object();
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        json_object_set_new(
            classes, tg_class_str((tg_class)c),
            json_pack("{s:o,s:o,s:b}", "ceiling_micros", tg__json_optional(info->ceiling_micros[c]),
                      "remaining_micros", tg__json_optional(info->remaining_micros[c]), "revoked",
                      info->revoked[c]));
    }
    json_t *alerts = json_array();
    for (int i = 0; i < info->spec.alerts_count; i++) {
        json_array_append_new(alerts, json_integer(info->spec.alerts_ppm[i]));
    }
    const tg_level *revoke = &info->spec.revoke_at;
    return json_pack(
        "{s:s,s:o,s:o,s:o,s:s,s:s,s:{s:o,s:o},s:o,s:b,s:I,s:I,s:I,s:I,s:I,s:o,s:o,"
        "s:o,s:o,s:b,s:s}",
        "path", info->path, "limit_micros", tg__json_optional(info->spec.cost_limit_micros),
        "calls_limit", tg__json_optional(info->spec.calls_limit), "tokens_limit",
        tg__json_optional(info->spec.tokens_limit), "window", tg_window_str(info->spec.window),
        "timezone", info->spec.timezone[0] ? info->spec.timezone : "UTC", "revoke_at", "micros",
        tg__json_optional(revoke->micros), "ppm", tg__json_optional(revoke->ppm), "alerts_ppm",
        alerts, "frozen", info->frozen, "spent_micros", (json_int_t)info->spent_micros,
        "held_micros", (json_int_t)info->held_micros, "calls_used", (json_int_t)info->calls_used,
        "tokens_used", (json_int_t)info->tokens_used, "calls_held", (json_int_t)info->calls_held,
        "threshold_micros", tg__json_optional(info->threshold_micros), "window_start_ms",
        info->window_start_ms == INT64_MIN ? json_null() : json_integer(info->window_start_ms),
        "window_end_ms",
        info->window_end_ms == INT64_MAX ? json_null() : json_integer(info->window_end_ms),
        "classes", classes, "locked", info->locked, "above_hold",
        tg_above_hold_str(info->spec.above_hold));
}

/* ---- Budgets ------------------------------------------------------------------ */

static bool read_spec(tg__fields *in, tg_budget_spec *spec) {
    static const char *const allowed[] = {
        "limit_micros",     "limit",     "calls_limit",   "tokens_limit", "window",     "timezone",
        "revoke_at_micros", "revoke_at", "revoke_at_ppm", "alerts_ppm",   "above_hold", NULL};
    static const char *const revoke_spellings[] = {"revoke_at_micros", "revoke_at", "revoke_at_ppm",
                                                   NULL};
    const char *window = NULL;
    const char *above_hold = NULL;
    const char *zone = NULL;
    int64_t revoke_micros = TG_NONE;
    int64_t revoke_ppm = TG_NONE;
    if (!tg__fields_only(in, allowed) || !tg__fields_one_of(in, revoke_spellings) ||
        !tg__field_money(in, "limit", &spec->cost_limit_micros, TG_LIMIT_MAX) ||
        !tg__field_int(in, "calls_limit", &spec->calls_limit, TG_LIMIT_MAX) ||
        !tg__field_int(in, "tokens_limit", &spec->tokens_limit, TG_LIMIT_MAX) ||
        !tg__field_text(in, "window", &window, 16) ||
        !tg__field_text(in, "timezone", &zone, sizeof spec->timezone) ||
        !tg__field_money(in, "revoke_at", &revoke_micros, TG_LIMIT_MAX) ||
        !tg__field_int(in, "revoke_at_ppm", &revoke_ppm, TG_PPM) ||
        !tg__field_text(in, "above_hold", &above_hold, 16)) {
        return false;
    }
    if (above_hold != NULL && tg_above_hold_parse(above_hold, &spec->above_hold) != TG_OK) {
        snprintf(in->message, sizeof in->message, "'above_hold' must be charge or cap");
        return false;
    }
    if (window != NULL && tg_window_parse(window, &spec->window) != TG_OK) {
        snprintf(in->message, sizeof in->message,
                 "'window' must be lifetime, hour, day, week or "
                 "month");
        return false;
    }
    if (zone != NULL) {
        snprintf(spec->timezone, sizeof spec->timezone, "%s", zone);
    }
    if (revoke_micros != TG_NONE || revoke_ppm != TG_NONE) {
        spec->revoke_at =
            (tg_level){revoke_micros, revoke_micros != TG_NONE ? TG_NONE : revoke_ppm};
    }
    json_t *alerts = json_object_get(in->object, "alerts_ppm");
    if (alerts != NULL) {
        if (!json_is_array(alerts) || json_array_size(alerts) > TG_ALERTS_MAX) {
            snprintf(in->message, sizeof in->message, "'alerts_ppm' must be at most 8 integers");
            return false;
        }
        spec->alerts_count = 0;
        size_t i;
        json_t *alert;
        json_array_foreach(alerts, i, alert) {
            if (!json_is_integer(alert) || json_integer_value(alert) < 0 ||
                json_integer_value(alert) > TG_PPM) {
                snprintf(in->message, sizeof in->message, "'alerts_ppm' items must be 0..1000000");
                return false;
            }
            spec->alerts_ppm[spec->alerts_count++] = json_integer_value(alert);
        }
    }
    return true;
}

static tg__reply show_budget(tg__daemon *daemon, const char *path, int64_t now_ms) {
    tg_budget_info info;
    tg_error err = {0};
    tg_status status = tg_budget_get(daemon->engine, path, now_ms, &info, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    return tg__api_ok(budget_json(&info));
}

static tg__reply put_budget(tg__daemon *daemon, const char *path, json_t *body, bool patch,
                            int64_t now_ms) {
    tg_budget_spec spec;
    tg_budget_spec_init(&spec);
    if (patch) {
        tg_budget_info info;
        tg_error err = {0};
        tg_status status = tg_budget_get(daemon->engine, path, now_ms, &info, &err);
        if (status != TG_OK) {
            return tg__api_from_status(status, &err);
        }
        spec = info.spec;
    }
    tg__fields in = {body, ""};
    if (!read_spec(&in, &spec)) {
        return tg__api_bad_field(&in);
    }
    tg_error err = {0};
    tg_status status = tg_budget_put(daemon->engine, path, &spec, now_ms, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    return show_budget(daemon, path, now_ms);
}

typedef struct {
    tg__daemon *daemon;
    const tg__caller *caller;
    json_t *list;
    int64_t now_ms;
} list_walk;

static bool list_one(void *user, const char *path) {
    list_walk *walk = user;
    tg_budget_info info;
    if (tg__may_touch(walk->caller, path) &&
        tg_budget_get(walk->daemon->engine, path, walk->now_ms, &info, NULL) == TG_OK) {
        json_array_append_new(walk->list, budget_json(&info));
    }
    return json_array_size(walk->list) < 10000;
}

tg__reply tg__api_list_budgets(tg__daemon *daemon, const tg__caller *caller, const char *prefix,
                               int64_t now_ms) {
    list_walk walk = {daemon, caller, json_array(), now_ms};
    tg_error err = {0};
    tg_status status = tg_budget_list(daemon->engine, prefix, list_one, &walk, &err);
    if (status != TG_OK) {
        json_decref(walk.list);
        return tg__api_from_status(status, &err);
    }
    return tg__api_ok(json_pack("{s:o}", "budgets", walk.list));
}

static bool window_json(void *user, const tg_window_record *w) {
    json_array_append_new(
        user, json_pack("{s:I,s:I,s:I,s:I,s:I}", "window_start_ms", (json_int_t)w->window_start_ms,
                        "window_end_ms", (json_int_t)w->window_end_ms, "spent_micros",
                        (json_int_t)w->spent_micros, "calls_used", (json_int_t)w->calls_used,
                        "tokens_used", (json_int_t)w->tokens_used));
    return true;
}

/* Closed windows, newest first, from the SQLite file through the read-only connection
 * (store/store_read.h): the engine's own connection belongs to the writer thread. */
static tg__reply budget_history(tg__daemon *daemon, const char *path, int64_t now_ms) {
    tg_budget_info info;
    tg_error err = {0};
    tg_status status = tg_budget_get(daemon->engine, path, now_ms, &info, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    tg__reply error;
    tg__store_reader *reader = tg__reader(daemon, &error);
    if (reader == NULL) {
        return error;
    }
    json_t *windows = json_array();
    if (tg__store_read_windows(reader, path, TG__PAGE_MAX, window_json, windows, &err) != TG_OK) {
        json_decref(windows);
        return tg__api_error(503, "store_unavailable", err.message);
    }
    return tg__api_ok(json_pack("{s:s,s:o}", "budget", path, "windows", windows));
}

static const char *const reserved_names[] = {"freeze", "unfreeze", "history"};

bool tg__path_reserved(const char *path, const char **segment) {
    for (const char *at = path; *at != '\0';) {
        size_t length = strcspn(at, "/");
        for (size_t i = 0; i < sizeof reserved_names / sizeof reserved_names[0]; i++) {
            if (strlen(reserved_names[i]) == length &&
                strncmp(at, reserved_names[i], length) == 0) {
                *segment = reserved_names[i];
                return true;
            }
        }
        at += length + (at[length] == '/');
    }
    return false;
}

/*
 * /v1/budgets/PATH and /v1/budgets/PATH/ACTION. The last segment names an action
 * when it is freeze, unfreeze or history; no budget may have a segment so named
 * (PUT refuses it with 400 reserved_name), so the two never collide.
 */
tg__reply tg__api_budget_route(tg__daemon *daemon, const tg__caller *caller, const char *method,
                               char *path, json_t *body, int64_t now_ms) {
    const char *action = NULL;
    char *slash = strrchr(path, '/');
    for (size_t i = 0; slash != NULL && i < sizeof reserved_names / sizeof reserved_names[0]; i++) {
        if (strcmp(slash + 1, reserved_names[i]) == 0) {
            action = reserved_names[i];
            *slash = '\0';
        }
    }
    if (!tg__may_touch(caller, path)) {
        return tg__api_forbidden("this key may not see that budget");
    }
    bool read = strcmp(method, "GET") == 0;
    bool post = strcmp(method, "POST") == 0;
    bool put = strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (action != NULL && put) {
        char message[160];
        snprintf(message, sizeof message,
                 "'%s' is reserved for /v1/budgets/PATH/%s; name the budget otherwise", action,
                 action);
        return tg__api_error(400, "reserved_name", message);
    }
    if (action != NULL) {
        if (action[0] == 'h' ? !read : !post) {
            return tg__api_error(405, "method_not_allowed",
                                 action[0] == 'h' ? "history is read with GET"
                                                  : "freeze and unfreeze are POST actions");
        }
        if (action[0] == 'h') {
            return budget_history(daemon, path, now_ms);
        }
    }
    if (!read && caller->role != TG__ROLE_ADMIN) {
        return tg__api_forbidden("only an admin key may change budgets");
    }
    tg_error err = {0};
    if (action != NULL) {
        tg_status status = tg_budget_freeze(daemon->engine, path, action[0] == 'f', now_ms, &err);
        return status == TG_OK ? show_budget(daemon, path, now_ms)
                               : tg__api_from_status(status, &err);
    }
    if (read) {
        return show_budget(daemon, path, now_ms);
    }
    if (put) {
        const char *reserved = NULL;
        if (tg__path_reserved(path, &reserved)) {
            char message[160];
            snprintf(message, sizeof message,
                     "'%s' is reserved for /v1/budgets/PATH/%s; name the budget otherwise",
                     reserved, reserved);
            return tg__api_error(400, "reserved_name", message);
        }
        if (body == NULL) {
            return tg__api_error(400, "missing_body", "a JSON object body is required");
        }
        return put_budget(daemon, path, body, method[1] == 'A', now_ms);
    }
    if (strcmp(method, "DELETE") == 0) {
        tg_status status = tg_budget_delete(daemon->engine, path, now_ms, &err);
        return status == TG_OK ? tg__api_ok(json_pack("{s:b}", "deleted", 1))
                               : tg__api_from_status(status, &err);
    }
    return tg__api_error(405, "method_not_allowed", "that method is not allowed on this resource");
}
