/*
 * body_json: the generic webhook body and the JSON-lines record. One object
 * per item with every field of the event (null when it does not apply), its
 * severity, a sentence for people, and for summaries and forecasts the extra
 * fields; the schema is in docs/notifications.md. Receivers de-duplicate on
 * "id" (a summary's id is its first refusal's).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "notify/body.h"

json_t *tg__json_text(const char *text) {
    json_t *value = json_string(text);
    if (value != NULL) {
        return value;
    }
    /* Not UTF-8 (a tool name is the agent's to choose): keep ASCII, mark the rest. */
    char clean[TG_NAME_SIZE_MAX * 2];
    size_t i = 0;
    for (; text[i] != '\0' && i + 1 < sizeof clean; i++) {
        unsigned char c = (unsigned char)text[i];
        clean[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    clean[i] = '\0';
    return json_string(clean);
}

static json_t *optional(int64_t value) {
    return value == TG_NONE ? json_null() : json_integer(value);
}

static void add_summary(json_t *object, const tg__notify_item *item) {
    json_object_set_new(object, "last_id", json_integer((json_int_t)item->last_id));
    json_object_set_new(object, "last_time_ms", json_integer(item->last_time_ms));
    if (item->event.kind == TG_EVENT_DENIED) {
        json_object_set_new(object, "amount_sum_micros", json_integer(item->amount_sum_micros));
        json_t *reasons = json_object();
        for (int r = 0; r < TG__NOTIFY_REASONS_COUNT; r++) {
            if (item->reasons[r] > 0) {
                json_object_set_new(reasons, tg_reason_str((tg_reason)r),
                                    json_integer(item->reasons[r]));
            }
        }
        json_object_set_new(object, "reasons", reasons);
    }
    json_t *tools = json_array();
    for (int i = 0; i < item->tools_count; i++) {
        json_array_append_new(tools, tg__json_text(item->tools[i]));
    }
    json_object_set_new(object, "tools", tools);
}

static json_t *forecast_json(const tg__forecast *forecast) {
    char text[160];
    return json_pack("{s:I,s:I,s:I,s:s,s:I,s:o,s:s}", "window_ms", (json_int_t)forecast->window_ms,
                     "burned_micros", (json_int_t)forecast->burned_micros, "spent_micros",
                     (json_int_t)forecast->spent_micros, "target",
                     forecast->target_is_limit ? "limit" : "threshold", "target_micros",
                     (json_int_t)forecast->target_micros, "eta_ms", optional(forecast->eta_ms),
                     "text", tg__forecast_text(forecast, text, sizeof text));
}

/* The event's own `count` column means something per kind; name it for what it is. */
static const char *count_name(tg_event_kind kind) {
    switch (kind) {
    case TG_EVENT_REVOKED:
        return "holds_cancelled";
    case TG_EVENT_THRESHOLD_CROSSED:
        return "alert_ppm";
    case TG_EVENT_WINDOW_ROLLED:
        return "calls_used";
    case TG_EVENT_APPROVAL_REQUESTED:
    case TG_EVENT_APPROVAL_DECIDED:
        return "approval_id";
    default:
        return NULL;
    }
}

json_t *tg__item_json(const tg__notify_item *item) {
    const tg_event *e = &item->event;
    char sentence[1024];
    tg__item_sentence(item, sentence, sizeof sentence);
    json_t *object = json_pack(
        "{s:I,s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I}", "id", (json_int_t)e->id, "kind",
        tg_event_kind_str(e->kind), "severity", tg__severity_str(item->severity), "time_ms",
        (json_int_t)e->time_ms, "budget", tg__json_text(e->budget), "class",
        e->cls >= 0 && e->cls < TG_CLASS_COUNT ? json_string(tg_class_str((tg_class)e->cls))
                                               : json_null(),
        "reason", e->reason >= 0 ? json_string(tg_reason_str((tg_reason)e->reason)) : json_null(),
        "amount_micros", optional(e->amount_micros), "held_micros", optional(e->held_micros),
        "spent_micros", optional(e->spent_micros), "limit_micros", optional(e->limit_micros),
        "threshold_micros", optional(e->threshold_micros), "count", (json_int_t)item->count);
    if (object == NULL) {
        return NULL;
    }
    json_object_set_new(object, "hold_id",
                        e->hold_id ? json_integer((json_int_t)e->hold_id) : json_null());
    if (count_name(e->kind) != NULL) {
        json_object_set_new(object, count_name(e->kind), optional(e->count));
    }
    json_object_set_new(object, "tool", tg__json_text(e->tool));
    json_object_set_new(object, "detail", tg__json_text(e->detail));
    json_object_set_new(object, "summary", tg__json_text(sentence));
    if (item->count > 1 || e->kind == TG_EVENT_DENIED || e->kind == TG_EVENT_REVOKED) {
        add_summary(object, item);
    }
    if (item->has_forecast) {
        json_object_set_new(object, "forecast", forecast_json(&item->forecast));
    }
    return object;
}

/* json_dump_callback's sink: a bounded buffer, so a body stops growing at its limit
 * instead of being built whole and measured afterwards. */
static int dump_into(const char *bytes, size_t size, void *data) {
    return tg__buf_append(data, bytes, size) == TG_OK ? 0 : -1;
}

/* Serializes and frees `value`, then appends `end`, in at most size_max bytes; from malloc,
 * NULL when out of memory or past size_max. */
static char *dump(json_t *value, const char *end, size_t size_max, size_t *size_out) {
    tg__buf text;
    tg__buf_init(&text, size_max);
    bool ok = value != NULL && json_dump_callback(value, dump_into, &text, JSON_COMPACT) == 0 &&
              tg__buf_puts(&text, end) == TG_OK && text.data != NULL;
    json_decref(value);
    if (!ok) {
        tg__buf_free(&text);
        return NULL;
    }
    *size_out = text.size;
    return text.data;
}

char *tg__json_finish(json_t *value, size_t *size_out) {
    return dump(value, "", TG__NOTIFY_BODY_SIZE_MAX, size_out);
}

char *tg__body_json(const tg__notify_envelope *envelope, const tg__notify_item *items, size_t count,
                    size_t *size_out) {
    json_t *events = json_array();
    for (size_t i = 0; i < count; i++) {
        json_array_append_new(events, tg__item_json(&items[i]));
    }
    json_t *body = json_pack("{s:s,s:i,s:s,s:o,s:s,s:I,s:o}", "type", "tollgate.notification",
                             "version", 1, "sink", envelope->sink, "budget",
                             tg__json_text(count ? items[0].event.budget : ""), "urgency",
                             envelope->urgency == TG__URGENCY_DIGEST ? "digest" : "immediate",
                             "sent_at_ms", (json_int_t)envelope->sent_at_ms, "events", events);
    return tg__json_finish(body, size_out);
}

char *tg__body_jsonl(const tg__notify_envelope *envelope, const tg__notify_item *item,
                     size_t *size_out) {
    (void)envelope;
    return dump(tg__item_json(item), "\n", TG__NOTIFY_LINE_SIZE_MAX, size_out);
}
