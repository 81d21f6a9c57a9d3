// SPDX-License-Identifier: MIT
// The alerter's state, shared by its two files: alerter.c (lists, lease, tick, outbox) and
// alerter_chunk.c (one chunk of scopes: read, evaluate, commit, deliver) (layer 5, private to
// src/app/).
#ifndef FUNNELD_ALERTER_INTERNAL_H
#define FUNNELD_ALERTER_INTERNAL_H

#include "alerting/eventclock.h"
#include "alerting/stalls.h"
#include "alerting/winplan.h"
#include "app/alerter.h"
#include "base/map.h"
#include "io/lease.h"
#include "io/alertstore.h"
#include "io/publisher.h"
#include "io/redis.h"
#include "scoring/targets.h"

typedef struct {
    fd_scope_t kind;
    char *id;   /* "" for org */
    char *team; /* rep: its team ("" unknown); team: itself; org: "" */
} scope_t;

struct fd_alerts {
    const fd_config_t *cfg;
    const fd_funnel_t *fn;
    const fd_rules_t *rs;
    fd_targets_t *targets; /* the targets file, for rules "from": "targets" (NULL: none) */
    bool wall;
    int64_t interval_ms, stall_every_ms, lease_ms;
    fd_redis_t *redis;
    fd_lease_t *lease;
    fd_alertstore_t *store;
    fd_winplan_t *plan;
    fd_eventclock_t *ec;
    fd_publisher_t *pub;
    size_t nrules, nfields;
    const char **read_fields; /* names of the fields the plan reads */
    bool *read_hundredths;

    /* registry: rep -> team (heap strings), teams -> (void *)1 */
    fd_map_t *reps, *teams;
    fd_map_t *touched;    /* "<kind>\x1f<id>" -> (void *)1 */
    int64_t first_ms;     /* the earliest event time of the stream: windows before it lack data */
    fd_stalls_t *stalled; /* open deals by stage, from the last stall scan */
    fd_map_t *inflight;   /* alert_id -> (void *)1 while Kafka has it */
    int64_t sent;         /* notifications handed to Kafka */
    int64_t evaluated_ms; /* the clock of the last complete sweep (shared in <prefix>:clock) */
    int64_t max_clock_ms; /* the highest clock this instance evaluated at (touched scopes too) */
    bool catching_up;     /* the clock ran ahead of the last sweep by more than a step */
    char **acked;         /* delivered alert_ids to drop from the outbox */
    size_t nacked, acked_cap;

    bool leader;
    int64_t lease_next_ms, next_sweep_ms, next_stall_ms, last_touched_ms, next_scan_ms;
    scope_t *work; /* the current list: a sweep or touched scopes */
    size_t nwork, work_pos;
    bool work_is_sweep;
    bool work_explicit; /* the list runs at a clock given by the caller: not shared */
    int64_t sweep_started_us;
    int64_t sweep_states[FD_ALERT_STATE_COUNT]; /* states seen so far by the sweep in progress */
    int64_t clock_ms;                           /* the evaluation clock of the current list */
    fd_alerts_stats_t stats;
};

/* Evaluates the n scopes of sc at clock: reads their windows and states, steps every (rule,
 * scope) state machine, commits the changes while the lease is ours and delivers the
 * notifications. FD_ERR_FENCED when the lease was lost (nothing written), FD_ERR_REDIS,
 * FD_ERR_NOMEM. */
fd_err_t fd_alerter_chunk(fd_alerts_t *al, const scope_t *sc, size_t n, int64_t clock);
/* Hands one notification to Kafka unless it is already in flight (no publisher: nothing). */
void fd_alerter_deliver(fd_alerts_t *al, const char *id, const char *json, size_t len);

#endif
