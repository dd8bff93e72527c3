/*
 * redis_events: the events of the Redis ledger, read back from the trees' streams.
 *
 * tollgate.lua writes every event of a decision in the same atomic call as the
 * decision, to the stream of the decision's tree ("tg:{ROOT}:events"), numbered 1, 2,
 * ... within the tree (the entry id "SEQ-0"), the oldest trimmed past about 100,000
 * (EVENTS_KEEP_TEXT there). An event's id is (tree << TG__REDIS_SEQ_BITS) | SEQ, as a
 * hold's or a charge's: increasing within a tree, not across trees. A hold id in an
 * event is the full id too.
 */
#ifndef TG_STORE_REDIS_EVENTS_H
#define TG_STORE_REDIS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "store/redis/redis_ledger.h"
#include "tollgate.h"

#define TG__REDIS_EVENTS_CALL_MAX 1000 /* events one tg_events call answers, at most */

/*
 * The events of the tree of root `root` numbered after `after_seq`, in order, at most
 * `max` (and TG__REDIS_EVENTS_CALL_MAX): *count_out of them into out. None when the
 * root has no tree. Errors: TG_ERR_IO (Redis unreachable, or a reply not as
 * tollgate.lua answers).
 */
tg_status tg__redis_tree_events(tg__redis_ledger *ledger, const char *root, int64_t after_seq,
                                tg_event *out, size_t max, size_t *count_out, tg_error *err);

#endif
