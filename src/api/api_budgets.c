/*
 * api_budgets: /v1/budgets (put, patch, get, list, delete, freeze, unfreeze,
 * history). Only an admin changes a budget; others read inside their scope.
 * History is read from the SQLite file (reader.c, store/store_read.h), not through the engine.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "store/store_read.h"

static json_t *budget_json_spec(const tg_budget_info *info) {
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

/* A template as GET shows it: the spec fields a PUT accepts under "template". */
static json_t *template_json(const tg_budget_spec *spec) {
    json_t *alerts = json_array();
    for (int i = 0; i < spec->alerts_count; i++) {
        json_array_append_new(alerts, json_integer(spec->alerts_ppm[i]));
    }
    return json_pack("{s:o,s:o,s:o,s:s,s:s,s:o,s:o,s:o,s:s}", "limit_micros",
                     tg__json_optional(spec->cost_limit_micros), "calls_limit",
                     tg__json_optional(spec->calls_limit), "tokens_limit",
                     tg__json_optional(spec->tokens_limit), "window", tg_window_str(spec->window),
                     "timezone", spec->timezone[0] ? spec->timezone : "UTC", "revoke_at_micros",
                     tg__json_optional(spec->revoke_at.micros), "revoke_at_ppm",
                     tg__json_optional(spec->revoke_at.ppm), "alerts_ppm", alerts, "above_hold",
                     tg_above_hold_str(spec->above_hold));
}

static json_t *budget_json(const tg_budget_info *info) {
    json_t *json = budget_json_spec(info);
    json_object_set_new(json, "template",
                        info->has_template ? template_json(&info->template_spec) : json_null());
    json_object_set_new(json, "children_max",
                        info->has_template ? json_integer(info->children_max) : json_null());
    json_object_set_new(json, "children", json_integer(info->children));
    return json;
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

/*
 * The template part of a PUT or PATCH body: "template" (a spec object, replacing the
 * whole template; null removes it) and "children_max" (alone: a new bound for the
 * template the budget has). Takes both out of `in`, which then holds the spec.
 */
static bool read_template(tg__fields *in, const tg_budget_info *current, tg_budget_op *op,
                          tg_budget_spec *tmpl) {
    json_t *given = json_object_get(in->object, "template");
    int64_t children_max = TG_NONE;
    if (!tg__field_int(in, "children_max", &children_max, TG_LIMIT_MAX)) {
        return false;
    }
    if (json_object_get(in->object, "children_max") != NULL && children_max == 0) {
        snprintf(in->message, sizeof in->message, "'children_max' must be at least 1");
        return false;
    }
    if (given != NULL && !json_is_object(given) && !json_is_null(given)) {
        snprintf(in->message, sizeof in->message,
                 "'template' must be a budget spec object (or null to remove it)");
        return false;
    }
    if (json_is_object(given)) {
        tg_budget_spec_init(tmpl);
        tg__fields sub = {given, ""};
        if (!read_spec(&sub, tmpl)) {
            snprintf(in->message, sizeof in->message, "template: %.180s", sub.message);
            return false;
        }
        op->child_template = tmpl;
        op->children_max = children_max;
    } else if (json_is_null(given)) {
        if (children_max != TG_NONE) {
            snprintf(in->message, sizeof in->message,
                     "'children_max' bounds a template; this body removes it");
            return false;
        }
        op->remove_template = true;
    } else if (children_max != TG_NONE) {
        if (current == NULL || !current->has_template) {
            snprintf(in->message, sizeof in->message,
                     "'children_max' bounds a template; give one in 'template'");
            return false;
        }
        *tmpl = current->template_spec;
        op->child_template = tmpl;
        op->children_max = children_max;
    }
    json_object_del(in->object, "template");
    json_object_del(in->object, "children_max");
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
    tg_budget_spec spec, tmpl;
    tg_budget_spec_init(&spec);
    tg_budget_info info;
    tg_error err = {0};
    tg_status status = tg_budget_get(daemon->engine, path, now_ms, &info, &err);
    if (patch && status != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    if (patch) {
        spec = info.spec;
    }
    /* The spec and the template change together, all or nothing: one bulk operation. */
    tg_budget_op op = {.path = path, .spec = &spec};
    json_t *fields = json_is_object(body) ? json_copy(body) : json_object();
    tg__fields in = {fields, ""};
    bool ok =
        read_template(&in, status == TG_OK ? &info : NULL, &op, &tmpl) && read_spec(&in, &spec);
    json_decref(fields);
    if (!ok) {
        return tg__api_bad_field(&in); /* reads only the message */
    }
    err = (tg_error){0};
    if ((status = tg_budgets_apply(daemon->engine, &op, 1, now_ms, NULL, &err)) != TG_OK) {
        return tg__api_from_status(status, &err);
    }
    return show_budget(daemon, path, now_ms);
}

/* A state filter of GET /v1/budgets: "" for any. */
static bool state_matches(const tg_budget_info *info, const char *state) {
    bool revoked = false;
    for (int c = 0; c < TG_CLASS_COUNT; c++) {
        revoked = revoked || info->revoked[c];
    }
    if (state[0] == '\0') {
        return true;
    }
    if (strcmp(state, "frozen") == 0) {
        return info->frozen;
    }
    if (strcmp(state, "locked") == 0) {
        return info->locked;
    }
    if (strcmp(state, "revoked") == 0) {
        return revoked;
    }
    return !info->frozen && !info->locked && !revoked; /* "open" */
}

#define LIST_CANDIDATES 256 /* paths read from the ledger per pass while filtering */
/* What one request reads on the Redis store, where each read is a round trip of the
 * request's pass (store/redis/redis_async.h): budgets, and pages of candidates (a scoped
 * key may skip many). A page stops there, short, with its cursor. */
#define LIST_GETS_MAX_REDIS 200
#define LIST_PAGES_MAX_REDIS 8

/*
 * GET /v1/budgets: a page in path order, `next` the cursor for the following page
 * (null on the last). Filters apply before the page is cut, so a page is full unless
 * it is the last. Each pass over the ledger reads LIST_CANDIDATES paths. On the Redis
 * store the order is tree by tree (store/redis/redis_paths.c) and a page reads at most
 * LIST_GETS_MAX_REDIS budgets, so it may be short before the last (`next` then set).
 */
tg__reply tg__api_list_budgets(tg__daemon *daemon, const tg__caller *caller,
                               const tg__budget_filter *filter, int64_t now_ms) {
    static char candidates[LIST_CANDIDATES][TG_PATH_SIZE_MAX]; /* loop thread only */
    char after[TG_PATH_SIZE_MAX];
    snprintf(after, sizeof after, "%s", filter->after);
    json_t *list = json_array();
    bool more = true; /* budgets after `after` may remain */
    bool redis = strcmp(daemon->config->store, "redis") == 0;
    size_t gets = 0, gets_max = redis ? LIST_GETS_MAX_REDIS : SIZE_MAX;
    size_t pages = 0, pages_max = redis ? LIST_PAGES_MAX_REDIS : SIZE_MAX;
    while (more && (int64_t)json_array_size(list) < filter->limit && gets < gets_max &&
           pages++ < pages_max) {
        size_t count = 0;
        tg_error err = {0};
        tg_status status = tg_budget_page(daemon->engine, filter->prefix, after[0] ? after : NULL,
                                          LIST_CANDIDATES, candidates, &count, &err);
        if (status != TG_OK) {
            json_decref(list);
            return tg__api_from_status(status, &err);
        }
        size_t looked = 0;
        for (; looked < count && (int64_t)json_array_size(list) < filter->limit && gets < gets_max;
             looked++) {
            snprintf(after, sizeof after, "%s", candidates[looked]);
            tg_budget_info info;
            if (!tg__may_touch(caller, candidates[looked])) {
                continue;
            }
            gets++;
            status = tg_budget_get(daemon->engine, candidates[looked], now_ms, &info, &err);
            if (status != TG_OK && status != TG_ERR_NOT_FOUND) {
                json_decref(list); /* a store that cannot answer: not a shorter list */
                return tg__api_from_status(status, &err);
            }
            if (status != TG_OK || !state_matches(&info, filter->state) ||
                info.spent_micros < filter->spent_min || info.spent_micros > filter->spent_max) {
                continue;
            }
            json_array_append_new(list, budget_json(&info));
        }
        more = looked < count || count == LIST_CANDIDATES;
    }
    return tg__api_ok(
        json_pack("{s:o,s:o}", "budgets", list, "next", more ? json_string(after) : json_null()));
}

/* ---- PUT and PATCH /v1/budgets: many budgets in one request, all or none ------------- */

typedef struct {
    tg_budget_op *ops;
    tg_budget_spec *specs;
    tg_budget_spec *templates;
    json_t **paths; /* the items' path strings, kept alive by the body */
    size_t count;
} bulk_request;

/* One item: {"path": P, "delete": true} or {"path": P, spec fields...}. */
static tg__reply read_item(tg__daemon *daemon, json_t *item, size_t index, bool patch,
                           int64_t now_ms, bulk_request *bulk) {
    char message[TG_ERROR_MESSAGE_SIZE];
    json_t *path = json_object_get(item, "path");
    json_t *remove = json_object_get(item, "delete");
    if (!json_is_object(item) || !json_is_string(path) || (remove && !json_is_boolean(remove))) {
        snprintf(message, sizeof message,
                 "budgets[%zu] must be {\"path\": \"a/b\", ...spec} or {\"path\": \"a/b\", "
                 "\"delete\": true}",
                 index);
        return tg__api_error(400, "invalid_field", message);
    }
    const char *text = json_string_value(path);
    const char *reserved = NULL;
    if (tg__path_reserved(text, &reserved)) {
        snprintf(message, sizeof message,
                 "budgets[%zu]: '%s' is reserved; name the budget otherwise", index, reserved);
        return tg__api_error(400, "reserved_name", message);
    }
    tg_budget_op *op = &bulk->ops[index];
    op->path = text;
    op->remove = json_is_true(remove);
    op->spec = &bulk->specs[index];
    tg_budget_spec_init(&bulk->specs[index]);
    if (op->remove) {
        if (json_object_size(item) != 2) {
            snprintf(message, sizeof message, "budgets[%zu]: a delete names only its path", index);
            return tg__api_error(400, "invalid_field", message);
        }
        return (tg__reply){0, NULL, TG_NONE};
    }
    tg_budget_info info;
    bool exists = tg_budget_get(daemon->engine, text, now_ms, &info, NULL) == TG_OK;
    if (patch && exists) {
        bulk->specs[index] = info.spec; /* a new budget starts from the defaults */
    }
    json_t *fields = json_copy(item);
    json_object_del(fields, "path");
    json_object_del(fields, "delete");
    tg__fields in = {fields, ""};
    bool ok = read_template(&in, exists ? &info : NULL, op, &bulk->templates[index]) &&
              read_spec(&in, &bulk->specs[index]);
    json_decref(fields);
    if (!ok) {
        snprintf(message, sizeof message, "budgets[%zu]: %s", index, in.message);
        return tg__api_error(400, "invalid_field", message);
    }
    return (tg__reply){0, NULL, TG_NONE};
}

tg__reply tg__api_budgets_bulk(tg__daemon *daemon, const tg__caller *caller, json_t *body,
                               bool patch, int64_t now_ms) {
    if (caller->role != TG__ROLE_ADMIN) {
        return tg__api_forbidden("only an admin key may change budgets");
    }
    json_t *items = json_object_get(body, "budgets");
    if (body == NULL || json_object_size(body) != 1 || !json_is_array(items)) {
        return tg__api_error(400, "invalid_field", "the body must be {\"budgets\": [...]}");
    }
    size_t count = json_array_size(items);
    if (count > TG_BUDGET_OPS_MAX) {
        return tg__api_error(413, "batch_too_large", "at most 10000 budgets per request");
    }
    bulk_request bulk = {calloc(count + 1, sizeof *bulk.ops), calloc(count + 1, sizeof *bulk.specs),
                         calloc(count + 1, sizeof *bulk.templates), NULL, count};
    tg__reply reply = {0, NULL, TG_NONE};
    if (bulk.ops == NULL || bulk.specs == NULL || bulk.templates == NULL) {
        reply = tg__api_error(503, "full", "out of memory reading the budgets");
    }
    for (size_t i = 0; i < count && reply.status == 0; i++) {
        reply = read_item(daemon, json_array_get(items, i), i, patch, now_ms, &bulk);
    }
    if (reply.status == 0) {
        tg_budget_counts counts = {0};
        tg_error err = {0};
        tg_status status = tg_budgets_apply(daemon->engine, bulk.ops, count, now_ms, &counts, &err);
        reply = status != TG_OK
                    ? tg__api_from_status(status, &err)
                    : tg__api_ok(json_pack("{s:I,s:I,s:I}", "created", (json_int_t)counts.created,
                                           "updated", (json_int_t)counts.updated, "deleted",
                                           (json_int_t)counts.deleted));
    }
    free(bulk.ops);
    free(bulk.specs);
    free(bulk.templates);
    return reply;
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
