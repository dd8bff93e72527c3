/*
 * body_slack: a Slack incoming-webhook body. "text" is the fallback Slack
 * shows in notifications; "blocks" is the message: a header, one mrkdwn
 * section per item, and a context line. Slack refuses a message with more than
 * 50 blocks, a section text over 3000 characters or a header over 150, so
 * digests show at most SLACK_ITEMS_SHOWN items and say how many more there
 * were; text that came from agents (tool names) is escaped, since Slack reads
 * '<' as the start of a link or an @channel mention.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "notify/body.h"

#define SLACK_ITEMS_SHOWN 20   /* sections in one message (Slack's maximum is 50 blocks) */
#define SLACK_SECTION_MAX 2900 /* section text (Slack's maximum is 3000 characters) */
#define SLACK_HEADER_MAX 150   /* header text */

/* Cuts text at `max` bytes without splitting a UTF-8 sequence. */
static void cut(char *text, size_t max) {
    size_t length = strlen(text);
    if (length <= max) {
        return;
    }
    while (max > 0 && ((unsigned char)text[max] & 0xc0) == 0x80) {
        max--;
    }
    text[max] = '\0';
}

/* Slack's three control characters as entities; other control bytes dropped. */
static void escape(const char *text, char *out, size_t size) {
    size_t used = 0;
    for (; *text != '\0' && used + 6 < size; text++) {
        const char *entity = *text == '&'   ? "&amp;"
                             : *text == '<' ? "&lt;"
                             : *text == '>' ? "&gt;"
                                            : NULL;
        if (entity != NULL) {
            memcpy(out + used, entity, strlen(entity));
            used += strlen(entity);
        } else if ((unsigned char)*text >= 0x20 || *text == '\n') {
            out[used++] = *text;
        }
    }
    out[used] = '\0';
}

static const char *emoji(tg__severity severity) {
    return severity == TG__SEVERITY_CRITICAL  ? ":red_circle:"
           : severity == TG__SEVERITY_WARNING ? ":large_orange_circle:"
                                              : ":large_blue_circle:";
}

static void utc_text(int64_t time_ms, char *buf, size_t size) {
    time_t seconds = (time_t)(time_ms / 1000);
    struct tm parts;
    if (gmtime_r(&seconds, &parts) == NULL ||
        strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &parts) == 0) {
        snprintf(buf, size, "%lld ms", (long long)time_ms);
    }
}

static json_t *section(const tg__notify_item *item) {
    char sentence[1024], escaped[SLACK_SECTION_MAX + 8], when[40], ids[64],
        text[SLACK_SECTION_MAX + 256];
    tg__item_sentence(item, sentence, sizeof sentence);
    escape(sentence, escaped, sizeof escaped);
    cut(escaped, SLACK_SECTION_MAX - 200);
    utc_text(item->last_time_ms, when, sizeof when);
    if (item->count > 1) {
        snprintf(ids, sizeof ids, "events %llu to %llu", (unsigned long long)item->event.id,
                 (unsigned long long)item->last_id);
    } else {
        snprintf(ids, sizeof ids, "event %llu", (unsigned long long)item->event.id);
    }
    snprintf(text, sizeof text, "%s *%s* %s\n_%s · %s_", emoji(item->severity),
             tg__severity_str(item->severity), escaped, ids, when);
    cut(text, SLACK_SECTION_MAX);
    return json_pack("{s:s,s:{s:s,s:o}}", "type", "section", "text", "type", "mrkdwn", "text",
                     tg__json_text(text));
}

static tg__severity highest(const tg__notify_item *items, size_t count) {
    tg__severity top = TG__SEVERITY_INFO;
    for (size_t i = 0; i < count; i++) {
        top = items[i].severity > top ? items[i].severity : top;
    }
    return top;
}

static json_t *header(const tg__notify_item *items, size_t count, tg__severity top) {
    char title[320], text[400];
    if (count == 1) {
        tg__item_title(&items[0], title, sizeof title);
    } else {
        snprintf(title, sizeof title, "%zu notifications on %s", count, items[0].event.budget);
    }
    snprintf(text, sizeof text, "%s Tollgate: %s", emoji(top), title);
    cut(text, SLACK_HEADER_MAX);
    return json_pack("{s:s,s:{s:s,s:o,s:b}}", "type", "header", "text", "type", "plain_text",
                     "text", tg__json_text(text), "emoji", 1);
}

static json_t *context(const tg__notify_envelope *envelope, const tg__notify_item *items,
                       size_t count) {
    char text[256];
    int used = snprintf(text, sizeof text, "Tollgate · sink %s · %s", envelope->sink,
                        envelope->urgency == TG__URGENCY_DIGEST ? "digest" : "immediate");
    if (count > SLACK_ITEMS_SHOWN && used > 0 && (size_t)used < sizeof text) {
        snprintf(text + used, sizeof text - (size_t)used, " · and %zu more (to event %llu)",
                 count - SLACK_ITEMS_SHOWN, (unsigned long long)items[count - 1].last_id);
    }
    return json_pack("{s:s,s:[{s:s,s:o}]}", "type", "context", "elements", "type", "mrkdwn", "text",
                     tg__json_text(text));
}

/* The notification text: the one sentence, or how many and how bad. */
static json_t *fallback(const tg__notify_item *items, size_t count, tg__severity top) {
    char sentence[1024], escaped[SLACK_SECTION_MAX + 8], text[SLACK_SECTION_MAX + 64];
    if (count == 1) {
        tg__item_sentence(&items[0], sentence, sizeof sentence);
    } else {
        snprintf(sentence, sizeof sentence, "%zu notifications on %s", count,
                 items[0].event.budget);
    }
    escape(sentence, escaped, sizeof escaped);
    snprintf(text, sizeof text, "[%s] %s", tg__severity_str(top), escaped);
    cut(text, SLACK_SECTION_MAX);
    return tg__json_text(text);
}

char *tg__body_slack(const tg__notify_envelope *envelope, const tg__notify_item *items,
                     size_t count, size_t *size_out) {
    if (count == 0) {
        return NULL;
    }
    tg__severity top = highest(items, count);
    json_t *blocks = json_array();
    json_array_append_new(blocks, header(items, count, top));
    for (size_t i = 0; i < count && i < SLACK_ITEMS_SHOWN; i++) {
        json_array_append_new(blocks, section(&items[i]));
    }
    json_array_append_new(blocks, context(envelope, items, count));
    json_t *body = json_pack("{s:o,s:o}", "text", fallback(items, count, top), "blocks", blocks);
    return tg__json_finish(body, size_out);
}
