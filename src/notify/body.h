/*
 * body: helpers shared by the two body builders (body_json.c, body_slack.c).
 * Nothing outside src/notify/body_*.c includes this.
 */
#ifndef TG_NOTIFY_BODY_H
#define TG_NOTIFY_BODY_H

#include <jansson.h>

#include "notify/item.h"

/* A JSON string of text that may not be UTF-8 (bytes outside printable ASCII become '?'). */
json_t *tg__json_text(const char *text);
/* One item as the generic body's event object (new reference; NULL when out of memory). */
json_t *tg__item_json(const tg__notify_item *item);
/* Serializes and frees `value`; from malloc, caller frees; NULL past TG__NOTIFY_BODY_SIZE_MAX. */
char *tg__json_finish(json_t *value, size_t *size_out);

#endif
