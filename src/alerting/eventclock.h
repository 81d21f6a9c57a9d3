// SPDX-License-Identifier: MIT
// The alert event clock, pure: which partitions' latest event times wait to be written to the
// shared clock (noted, sent, applied), which partitions wait to be registered or held, the
// watermark read back from the clock hash, and the clock of the next evaluation (never
// backwards, walking a back-fill forward hour by hour). No I/O: the alert store writes and
// reads the hash (layer 3). Reference: docs/alerts.md.
#ifndef FUNNELD_EVENTCLOCK_H
#define FUNNELD_EVENTCLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/map.h"

/* The event clock never runs ahead of the wall clock by more than this: one event stamped far in
 * the future must not make every rolling window look empty. */
#define FD_CLOCK_SKEW_MS (5 * 60 * 1000LL)
/* A partition whose latest event time has not moved for this long (wall time) no longer holds
 * the watermark back: the stream may simply have gone quiet there. */
#define FD_CLOCK_IDLE_PARTITION_MS (5 * 60 * 1000LL)
/* The resolution of alert windows (winplan.c): they end at the start of the clock's UTC hour, so
 * on event time the evaluation clock is rounded down to it. */
#define FD_CLOCK_RESOLUTION_MS 3600000LL
/* When the event clock jumps (a back-fill, a restart with a backlog), sweeps walk forward in
 * steps of this much, so that for / resolve_for durations see the history as live traffic. */
#define FD_CLOCK_CATCH_UP_STEP_MS FD_CLOCK_RESOLUTION_MS
/* "<topic>:<partition>", the partition part of a clock field */
#define FD_CLOCK_PART_MAX 272

typedef struct fd_eventclock fd_eventclock_t;

/* An empty clock. FD_ERR_NOMEM. */
fd_err_t fd_eventclock_new(fd_eventclock_t **out);
void fd_eventclock_destroy(fd_eventclock_t *ec);

/* An event of (topic, partition) at occurred_ms was folded into the current batch. */
void fd_eventclock_note(fd_eventclock_t *ec, const char *topic, int32_t partition,
                        int64_t occurred_ms);
/* The batch of the events noted so far was sent; later notes belong to the next batch. */
void fd_eventclock_batch_sent(fd_eventclock_t *ec);
/* The sent batch was applied (true: its latest times wait to be written), or everything not yet
 * applied was dropped (false). */
void fd_eventclock_batch_done(fd_eventclock_t *ec, bool applied);

/* (topic, partition) waits to be held (assigned here) / registered (partitions 0..count-1 of a
 * consumed topic). FD_ERR_INVAL when the name is too long; FD_ERR_NOMEM. */
fd_err_t fd_eventclock_hold(fd_eventclock_t *ec, const char *topic, int32_t partition);
fd_err_t fd_eventclock_expect(fd_eventclock_t *ec, const char *topic, int32_t count);
/* Drops a hold not yet written (the partition was revoked). */
void fd_eventclock_unhold(fd_eventclock_t *ec, const char *topic, int32_t partition);

/* What waits to be written: partition fields ("<topic>:<partition>") to hold or to register
 * (values unused), and the applied latest times (values int64_t *). Lent until the matching
 * fd_eventclock_*_written. */
typedef enum { FD_CLOCK_EXPECT = 0, FD_CLOCK_HOLD, FD_CLOCK_APPLIED } fd_clock_set_t;
const fd_map_t *fd_eventclock_waiting(const fd_eventclock_t *ec, fd_clock_set_t set);
/* The earliest event time of the applied batches waiting (INT64_MAX when none). */
int64_t fd_eventclock_first_applied(const fd_eventclock_t *ec);
/* The set was written to the shared clock: empties it. */
void fd_eventclock_written(fd_eventclock_t *ec, fd_clock_set_t set);

/* One field of the clock hash as read: its name and its value as a number. */
typedef struct {
    const char *name;
    int64_t value;
} fd_clock_field_t;

typedef struct {
    int64_t clock_ms;     /* the watermark (capped at now + FD_CLOCK_SKEW_MS); 0: no event */
    int64_t first_ms;     /* the earliest event of the stream, INT64_MAX when unknown */
    int64_t evaluated_ms; /* the clock of the last complete sweep, 0 when none */
} fd_clock_reading_t;

/* The event clock from the fields of the clock hash, read at Redis time redis_ms: the least of
 * the partitions' latest event times (p:<part>), ignoring partitions whose seen time (s:<part>,
 * Redis TIME) is more than FD_CLOCK_IDLE_PARTITION_MS old; when every partition is idle, the
 * overall latest. Capped at now_ms + FD_CLOCK_SKEW_MS. */
void fd_eventclock_read(const fd_clock_field_t *fields, size_t n, int64_t redis_ms, int64_t now_ms,
                        fd_clock_reading_t *out);

/* What the next evaluation list starts from. */
typedef struct {
    bool wall;            /* the rules run on the wall clock: no catching up */
    bool sweep;           /* a sweep (false: touched scopes only) */
    int64_t read_ms;      /* the clock read (the watermark, or now on the wall clock) */
    int64_t override_ms;  /* a clock the caller gives (0 = none): taken as is */
    int64_t evaluated_ms; /* the last complete sweep's clock */
    int64_t max_clock_ms; /* the highest clock evaluated here (touched scopes too) */
    int64_t first_ms;     /* the first event's time, INT64_MAX unknown */
} fd_clock_step_t;

/* The clock of the next list: true with *clock_ms when there is one to evaluate. Without an
 * override the clock never runs backwards (not behind the last sweep nor behind an evaluation of
 * touched scopes); when it ran ahead of the last sweep (or of the first event, never evaluated)
 * by more than FD_CLOCK_CATCH_UP_STEP_MS, a sweep is evaluated one step on (*catching_up true)
 * and touched scopes wait for the sweeps. *catching_up is set whenever a clock was read (left
 * untouched when the clock is 0: no event yet). */
bool fd_eventclock_step(const fd_clock_step_t *in, int64_t *clock_ms, bool *catching_up);

#endif
