/*
 * outbox: the notify side of the durable outbox. The connection and its tables are the
 * store's (store/store_outbox.h); what a message says beyond its event row is read here.
 */
#ifndef TG_NOTIFY_OUTBOX_H
#define TG_NOTIFY_OUTBOX_H

#include "notify/item.h"
#include "store/store_outbox.h"

/*
 * Fills what a threshold or revocation item says beyond its event: the burn-rate
 * forecast over `window_ms` before the event, and for a revocation the tools
 * that class used on the budget in that window. Best effort: a failed query
 * leaves the item as it was.
 */
void tg__outbox_enrich(tg__outbox *outbox, int64_t window_ms, tg__notify_item *item);

#endif
