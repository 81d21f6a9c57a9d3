// SPDX-License-Identifier: MIT
// The alerter, the alert evaluator's orchestrator: holds the evaluator lease (io/lease),
// keeps the scope registry and the event clock (alerting/eventclock), reads the windows each
// rule needs (alerting/winplan, io/alertstore), steps every (rule, scope id) state machine,
// commits state changes and notifications atomically through the alert store, then produces
// them to Kafka (io/publisher) (layer 5). Reference: docs/alerts.md.
#ifndef FUNNELD_ALERTER_H
#define FUNNELD_ALERTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerting/alertfsm.h"
#include "alerting/rules.h"
#include "base/err.h"
#include "model/config.h"
#include "model/event.h"
#include "model/funnel.h"
#include "model/timewin.h"

typedef struct fd_alerts fd_alerts_t;

/* What the evaluator borrows; all must outlive it. publish = false leaves Kafka out (the Redis
 * sinks and the outbox still work: entries wait in the outbox), for tools and benchmarks. */
typedef struct {
    const fd_config_t *cfg; /* redis.*, kafka.* (publisher), alerts.*, redis.prefix */
    const fd_funnel_t *fn;
    fd_timewin_t *tw;
    const fd_rules_t *rs;
    const char *instance; /* names the lease holder */
    bool publish;
} fd_alerts_opts_t;

/* Builds the evaluator; connects lazily. Rules "from": "targets" read the targets file of the
 * setting targets.file, loaded here. FD_ERR_CONFIG with errstr when the Kafka publisher refuses
 * its settings, when such a rule has no targets file (errstr names the rule) or the file is
 * invalid; FD_ERR_IO when it cannot be read; FD_ERR_NOMEM. */
fd_err_t fd_alerts_new(const fd_alerts_opts_t *opts, fd_alerts_t **out, char *errstr,
                       size_t errstr_size);
/* Flushes notifications in flight to Kafka for up to timeout_ms, then frees everything. NULL
 * does nothing. */
void fd_alerts_destroy(fd_alerts_t *al, int timeout_ms);

/* Notes an event read from (topic, partition) and folded into the current batch: its rep and
 * team become due for evaluation and its time feeds that partition's share of the event-time
 * watermark. Cheap (map lookups); no I/O. */
void fd_alerts_note(fd_alerts_t *al, const fd_event_t *ev, const char *topic, int32_t partition);
/* (topic, partition) was assigned to this instance: it holds the event-time watermark (unseen
 * partitions at 0, i.e. nothing can be judged yet) until its events are applied or it has been
 * quiet for 5 minutes. Written at once; FD_ERR_REDIS leaves it to be written on the next tick. */
fd_err_t fd_alerts_hold(fd_alerts_t *al, const char *topic, int32_t partition);
/* Partitions 0..count-1 of topic exist: each not yet registered holds the watermark at 0 (for
 * 5 minutes, or until its events are applied), even before its owner is assigned it. Written at
 * once; FD_ERR_REDIS leaves it to be written on the next tick. */
fd_err_t fd_alerts_expect(fd_alerts_t *al, const char *topic, int32_t count);
/* (topic, partition) was revoked: a hold of it not yet written (Redis was unreachable) is
 * dropped, so it cannot be written later and hold back a clock another instance now feeds. */
void fd_alerts_unhold(fd_alerts_t *al, const char *topic, int32_t partition);
/* The batch holding the events noted so far was sent to Redis (its apply is in flight); later
 * notes belong to the next batch. */
void fd_alerts_batch_sent(fd_alerts_t *al);
/* The batch sent was applied (true), or everything not yet applied was dropped (false: the sent
 * batch and the notes since). An applied batch's latest event times are written to the shared
 * event clock (<prefix>:clock) on the next tick. */
void fd_alerts_batch_done(fd_alerts_t *al, bool applied);

/* Does what is due at wall time now_ms, bounded to about one chunk of scopes: renews or takes
 * the lease, evaluates touched scopes and the periodic sweep, scans deals for stalled rules,
 * delivers notifications. FD_ERR_REDIS when Redis is unreachable (retried on the next tick; no
 * state was half written); other errors are logged here and returned. */
fd_err_t fd_alerts_tick(fd_alerts_t *al, int64_t now_ms);

/* Runs one complete sweep of every known scope now, at evaluation clock clock_ms (0 = the
 * configured clock), taking the lease first; for tests and benchmarks. FD_ERR_FENCED when
 * another instance holds the lease. */
fd_err_t fd_alerts_sweep(fd_alerts_t *al, int64_t clock_ms);

/* Reads the targets file (the setting targets.file) again, for the rules whose targets come
 * from it ("from": "targets"); call it on SIGHUP from the thread that ticks the evaluator. On
 * success the new targets apply from the next evaluation; on error (FD_ERR_CONFIG, FD_ERR_IO
 * with errstr naming the file and the place, FD_ERR_NOMEM) the targets in use stay. Nothing to
 * do (FD_OK) when no rule reads the targets file. */
fd_err_t fd_alerts_reload_targets(fd_alerts_t *al, char *errstr, size_t errstr_size);

/* Figures of the evaluator, for logs and benchmarks. */
typedef struct {
    bool leader;
    int64_t sweeps;        /* complete sweeps */
    int64_t last_sweep_us; /* wall time of the last complete sweep */
    int64_t scopes;        /* scopes known (reps + teams + org) */
    int64_t evaluations;   /* (rule, scope) evaluations */
    int64_t reads;         /* HMGETs issued */
    int64_t notifications; /* firing + repeat + resolved notifications written */
    int64_t delivered;     /* acknowledged by Kafka */
    int64_t clock_ms;      /* the evaluation clock of the last evaluation */
    /* (rule, scope) pairs by state (FD_ALERT_*) at the end of the last complete sweep;
     * states_known false until one completed */
    int64_t states[FD_ALERT_STATE_COUNT];
    bool states_known;
} fd_alerts_stats_t;
void fd_alerts_stats(const fd_alerts_t *al, fd_alerts_stats_t *out);

/* The last error message (Redis or Kafka), for logs. */
const char *fd_alerts_errstr(const fd_alerts_t *al);

#endif
