/*
 * sink_state: the tables behind schedule.h, shared by lanes.c (the lane table:
 * index by budget, allocation, the active list) and schedule.c (taking events,
 * planning messages, completing them). Nothing else includes this.
 */
#ifndef TG_NOTIFY_SINK_STATE_H
#define TG_NOTIFY_SINK_STATE_H

#include "notify/schedule.h"

#define NONE_POSITION (-1)

typedef enum { SLOT_WAITING = 0, SLOT_SENDING = 1, SLOT_DONE = 2 } slot_state;

/* One event held by the sink, at ring position p (slots[p % TG__NOTIFY_WINDOW]). */
typedef struct {
    tg_event event;
    tg__severity severity;
    int64_t read_at_ms; /* monotonic: when taken; digest bounds and give-up ages count from it */
    int64_t next;       /* next waiting position of the same lane, or NONE_POSITION */
    int64_t attempts;   /* deliveries tried */
    int32_t lane;       /* its lane */
    uint8_t state;      /* slot_state */
    bool saved;         /* DONE and saved in notify_sent */
} tg__slot;

/* The events of one budget waiting for this sink, and how its deliveries go. */
typedef struct {
    char budget[TG_PATH_SIZE_MAX];
    int64_t head, tail;      /* waiting positions, oldest first; NONE_POSITION when empty */
    int64_t waiting;         /* how many wait */
    int32_t active_at;       /* index in the active list, or -1 */
    bool used;               /* allocated */
    bool in_flight;          /* a message of this lane is being sent */
    int64_t failures;        /* failures in a row */
    int64_t next_attempt_ms; /* no message before this */
    int64_t denied_sent_ms;  /* last refusal message, or TG_NONE */
    tg__urgency_mode mode;   /* urgency of the budget */
    int64_t within_ms;       /* digest bound */
} tg__lane;

struct tg__sink_state {
    const tg__notify_config *config;
    const tg__notify_sink *sink;
    tg__slot *slots;              /* ring, TG__NOTIFY_WINDOW */
    int64_t ring_head, ring_tail; /* held positions: [head, tail) */
    uint64_t cursor;              /* highest id taken */
    uint64_t *skip;               /* ids finished before a restart, ascending (owned) */
    size_t skip_count, skip_next;
    tg__lane *lanes;     /* TG__NOTIFY_LANES_MAX */
    int32_t *lanes_free; /* stack of free lane indices */
    int32_t lanes_free_count;
    uint32_t *index; /* open addressing: lane index + 1, 0 empty */
    int32_t *active; /* lanes with waiting events */
    int32_t active_count;
    int32_t rotate;           /* where the next scan of active starts: fairness */
    int64_t in_flight;        /* messages being sent */
    int64_t failures;         /* the sink's failures in a row */
    int64_t failing_since_ms; /* first of those, or TG_NONE */
    int64_t next_attempt_ms;  /* while failing: the next probe */
    tg__outbox_dead *dead;    /* TG__NOTIFY_DEAD_MAX, count below */
    size_t dead_count;
    tg__sink_stats stats;
};

#define INDEX_CAPACITY (2 * TG__NOTIFY_LANES_MAX) /* power of two, at most half full */

tg__slot *tg__slot_at(tg__sink_state *state, int64_t position);

/* The lane of `budget`, made if new (urgency looked up); -1 when the table is full. */
int32_t tg__lane_get(tg__sink_state *state, const char *budget);
/* Frees lanes with nothing waiting or in flight and no refusal interval running. */
void tg__lanes_collect(tg__sink_state *state, int64_t now_ms);
/* Frees one lane if it is idle like that; true when freed. */
bool tg__lane_release_if_idle(tg__sink_state *state, int32_t lane, int64_t now_ms);
/* Keeps the active list in step with a lane's waiting count. */
void tg__lane_activate(tg__sink_state *state, int32_t lane);
void tg__lane_deactivate(tg__sink_state *state, int32_t lane);

#endif
