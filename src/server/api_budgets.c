/*
 * api_budgets: /v1/budgets (put, patch, get, list, delete, freeze, unfreeze,
 * history). Only an admin changes a budget; others read inside their scope.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"

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
        "s:o,s:o}",
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
        "classes", classes);
}

/* ---- Budgets ------------------------------------------------------------------ */

static bool read_spec(tg__fields *in, tg_budget_spec *spec) {
    static const char *const allowed[] = {
        "limit_micros",     "limit",     "calls_limit",   "tokens_limit", "window", "timezone",
        "revoke_at_micros", "revoke_at", "revoke_at_ppm", "alerts_ppm",   NULL};
    const char *window = NULL;
    const char *zone = NULL;
    int64_t revoke_micros = TG_NONE;
    int64_t revoke_ppm = TG_NONE;
    if (!tg__fields_only(in, allowed) ||
        !tg__field_money(in, "limit", &spec->cost_limit_micros, TG_LIMIT_MAX) ||
        !tg__field_int(in, "calls_limit", &spec->calls_limit, TG_LIMIT_MAX) ||
        !tg__field_int(in, "tokens_limit", &spec->tokens_limit, TG_LIMIT_MAX) ||
        !tg__field_text(in, "window", &window, 16) ||
        !tg__field_text(in, "timezone", &zone, sizeof spec->timezone) ||
        !tg__field_money(in, "revoke_at", &revoke_micros, TG_LIMIT_MAX) ||
        !tg__field_int(in, "revoke_at_ppm", &revoke_ppm, TG_PPM)) {
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

static tg__reply budget_history(tg__daemon *daemon, const char *path) {
    /* Static: 40 kB is too much for a stack frame, and only the loop thread calls this. */
    static tg_window_record records[1000];
    size_t count = 0;
    tg_error err = {0};
    tg_status status = tg_budget_history(daemon->engine, path, records, 1000, &count, &err);
    if (status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    json_t *windows = json_array();
    for (size_t i = 0; i < count; i++) {
        json_array_append_new(windows,
                              json_pack("{s:I,s:I,s:I,s:I,s:I}", "window_start_ms",
                                        (json_int_t)records[i].window_start_ms, "window_end_ms",
                                        (json_int_t)records[i].window_end_ms, "spent_micros",
                                        (json_int_t)records[i].spent_micros, "calls_used",
                                        (json_int_t)records[i].calls_used, "tokens_used",
                                        (json_int_t)records[i].tokens_used));
    }
    return tg__api_ok(json_pack("{s:s,s:o}", "budget", path, "windows", windows));
}

tg__reply tg__api_budget_route(tg__daemon *daemon, const tg__caller *caller, const char *method,
                               char *path, json_t *body, int64_t now_ms) {
    char *action = NULL;
    size_t length = strlen(path);
    const char *suffixes[] = {"/freeze", "/unfreeze", "/history"};
    for (int i = 0; i < 3; i++) {
        size_t suffix = strlen(suffixes[i]);
        if (length > suffix && strcmp(path + length - suffix, suffixes[i]) == 0) {
            action = path + length - suffix + 1;
            path[length - suffix] = '\0';
        }
    }
    if (!tg__may_touch(caller, path)) {
        return tg__api_forbidden("this key may not see that budget");
    }
    bool read = strcmp(method, "GET") == 0;
    if (!read && caller->role != TG__ROLE_ADMIN) {
        return tg__api_forbidden("only an admin key may change budgets");
    }
    tg_error err = {0};
    if (action != NULL && strcmp(action, "history") == 0 && read) {
        return budget_history(daemon, path);
    }
    if (action != NULL && strcmp(method, "POST") == 0 && strcmp(action, "history") != 0) {
        tg_status status = tg_budget_freeze(daemon->engine, path, action[0] == 'f', now_ms, &err);
        return status == TG_OK ? show_budget(daemon, path, now_ms)
                               : tg__api_from_status(status, &err);
    }
    if (action == NULL && read) {
        return show_budget(daemon, path, now_ms);
    }
    if (action == NULL && (strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0)) {
        if (body == NULL) {
            return tg__api_error(400, "missing_body", "a JSON object body is required");
        }
        return put_budget(daemon, path, body, method[1] == 'A', now_ms);
    }
    if (action == NULL && strcmp(method, "DELETE") == 0) {
        tg_status status = tg_budget_delete(daemon->engine, path, now_ms, &err);
        return status == TG_OK ? tg__api_ok(json_pack("{s:b}", "deleted", 1))
                               : tg__api_from_status(status, &err);
    }
    return tg__api_error(405, "method_not_allowed", "that method is not allowed on this resource");
}
