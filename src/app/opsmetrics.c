// SPDX-License-Identifier: MIT
// funneld's operator metrics: the table and the health state (layer 5).
#include "app/opsmetrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "alerting/alertfsm.h"

/* THE table. Names as Prometheus advises: the funneld_ prefix, base units (seconds), counters
 * end in _total. No label carries a rep, team or deal id: every label set is bounded (reasons,
 * kinds, states, and the partitions this instance holds). docs/http.md lists the same. */
static const fd_prom_def_t defs[FD_OM_COUNT] = {
    [FD_OM_BUILD_INFO] = {"funneld_build_info",
                          FD_PROM_GAUGE,
                          "Always 1; the label carries funneld's version.",
                          {"version"},
                          1},
    [FD_OM_CONSUMED] = {"funneld_messages_consumed_total",
                        FD_PROM_COUNTER,
                        "Messages read from Kafka (a message read again after a dropped batch "
                        "counts again).",
                        {0}},
    [FD_OM_ACCEPTED] = {"funneld_events_accepted_total",
                        FD_PROM_COUNTER,
                        "Events counted into the metrics by applied batches.",
                        {0}},
    [FD_OM_DUPLICATES] = {"funneld_events_duplicate_total",
                          FD_PROM_COUNTER,
                          "Events ignored as duplicates (an event_id seen before) by applied "
                          "batches.",
                          {0}},
    [FD_OM_REJECTED] = {"funneld_messages_rejected_total",
                        FD_PROM_COUNTER,
                        "Messages rejected by applied batches (sent to the dead-letter topic), "
                        "by reason.",
                        {"reason"},
                        FD_REJECT_COUNT},
    [FD_OM_BATCHES] = {"funneld_batches_applied_total",
                       FD_PROM_COUNTER,
                       "Batches applied to Redis (an apply that had landed already counts).",
                       {0}},
    [FD_OM_APPLY_SECONDS] = {"funneld_apply_duration_seconds",
                             FD_PROM_HISTOGRAM,
                             "Time from sending a batch's apply to Redis to reading its answer, "
                             "for applied batches.",
                             {0},
                             1,
                             {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                              2.5, 5, 10},
                             14},
    [FD_OM_REFUSED] = {"funneld_applies_refused_total",
                       FD_PROM_COUNTER,
                       "Applies Redis refused, by reason: fenced (a newer claim owns the "
                       "partition), gap (the stored offset moved), conflict (a deal assumed new "
                       "had a state).",
                       {"reason"},
                       3},
    [FD_OM_PART_OFFSET] = {"funneld_partition_next_offset",
                           FD_PROM_GAUGE,
                           "Next offset of a partition this instance holds, as stored in Redis "
                           "(by the claim, then by each applied batch): everything below is "
                           "applied.",
                           {"topic", "partition"},
                           FD_OM_PARTITIONS_MAX},
    [FD_OM_PART_LAG] = {"funneld_partition_lag",
                        FD_PROM_GAUGE,
                        "Messages of a partition this instance holds not yet applied: the high "
                        "watermark the consumer last saw minus the next offset stored.",
                        {"topic", "partition"},
                        FD_OM_PARTITIONS_MAX},
    [FD_OM_PARTS] = {"funneld_partitions_assigned",
                     FD_PROM_GAUGE,
                     "Partitions assigned to this instance.",
                     {0}},
    [FD_OM_REBALANCES] = {"funneld_rebalances_total",
                          FD_PROM_COUNTER,
                          "Rebalance callbacks of the consumer group, by kind (assign, revoke).",
                          {"kind"},
                          2},
    [FD_OM_REDIS_ERRORS] = {"funneld_redis_errors_total",
                            FD_PROM_COUNTER,
                            "Redis commands of the service loop that failed (each retry counts).",
                            {0}},
    [FD_OM_REDIS_UP] = {"funneld_redis_up",
                        FD_PROM_GAUGE,
                        "1 when Redis answered the service loop's last command, 0 while it "
                        "retries.",
                        {0}},
    [FD_OM_KAFKA_ERRORS] = {"funneld_kafka_errors_total",
                            FD_PROM_COUNTER,
                            "Kafka errors: consumer errors, undelivered dead letters, rebalance "
                            "and subscribe errors.",
                            {0}},
    [FD_OM_FEED_ENTRIES] = {"funneld_change_feed_entries_total",
                            FD_PROM_COUNTER,
                            "Entries this instance wrote to the change feed, by kind (change: "
                            "one per applied batch; heartbeat).",
                            {"kind"},
                            2},
    [FD_OM_ALERTS_LEADER] = {"funneld_alerts_leader",
                             FD_PROM_GAUGE,
                             "1 when this instance holds the alert evaluator's lease.",
                             {0}},
    [FD_OM_ALERTS] = {"funneld_alerts",
                      FD_PROM_GAUGE,
                      "Alerts (rule, scope) by state at the last complete sweep; exposed only by "
                      "the instance holding the alert lease.",
                      {"state"},
                      FD_ALERT_STATE_COUNT},
    [FD_OM_ALERT_NOTIFICATIONS] = {"funneld_alert_notifications_total",
                                   FD_PROM_COUNTER,
                                   "Alert notifications (firing, repeat, resolved) written by "
                                   "this instance.",
                                   {0}},
    [FD_OM_MF_LEADER] = {"funneld_metrics_publisher_leader",
                         FD_PROM_GAUGE,
                         "1 when this instance holds the metrics publisher's lease.",
                         {0}},
    [FD_OM_MF_POSITION] = {"funneld_metrics_publisher_position_seconds",
                           FD_PROM_GAUGE,
                           "The change-feed position the last complete round of the metrics "
                           "publisher covers, as the Unix time of that entry.",
                           {0}},
    [FD_OM_MF_LAG] = {"funneld_metrics_publisher_lag_seconds",
                      FD_PROM_GAUGE,
                      "Time from the last change a complete round covered to the end of that "
                      "round (0 after a round with nothing to publish).",
                      {0}},
    [FD_OM_MF_LAST_ROUND] = {"funneld_metrics_publisher_last_round_timestamp_seconds",
                             FD_PROM_GAUGE,
                             "Unix time the metrics publisher last completed a round.",
                             {0}},
    [FD_OM_MF_ROWS] = {"funneld_metrics_publisher_rows_total",
                       FD_PROM_COUNTER,
                       "Metric rows published to the metrics topic and acknowledged by Kafka.",
                       {0}},
    [FD_OM_LOOP_SECONDS] = {"funneld_loop_last_turn_timestamp_seconds",
                            FD_PROM_GAUGE,
                            "Unix time the service loop last turned (liveness).",
                            {0}},
    [FD_OM_SCORER_LEADER] = {"funneld_scorer_leader",
                             FD_PROM_GAUGE,
                             "1 when this instance holds the scorer's lease.",
                             {0}},
    [FD_OM_SCORER_ROUND_SECONDS] = {"funneld_scorer_last_round_duration_seconds",
                                    FD_PROM_GAUGE,
                                    "Duration of the scorer's last round that computed "
                                    "scorecards.",
                                    {0}},
    [FD_OM_SCORER_CARDS] = {"funneld_scorecards_written_total",
                            FD_PROM_COUNTER,
                            "Scorecards (rep and team breakdowns) written by this instance's "
                            "scorer.",
                            {0}},
    [FD_OM_SCORER_ADJUSTMENTS] = {"funneld_scorecard_adjustments_total",
                                  FD_PROM_COUNTER,
                                  "Adjustments recorded to final scorecards by this instance's "
                                  "scorer.",
                                  {0}},
};

struct fd_opsmetrics {
    fd_prom_t *reg;
    fd_prom_family_t *fam[FD_OM_COUNT];
    fd_prom_series_t *one[FD_OM_COUNT];
    fd_prom_series_t *rejected[FD_REJECT_COUNT];
    atomic_int_least64_t beat_ms, lag;
    atomic_bool redis_ok, assigned;
};

const fd_prom_def_t *fd_opsmetrics_def(fd_om_id_t id) {
    return id < FD_OM_COUNT ? &defs[id] : NULL;
}

fd_err_t fd_opsmetrics_new(const char *version, fd_opsmetrics_t **out) {
    *out = NULL;
    fd_opsmetrics_t *om = calloc(1, sizeof *om);
    if (om == NULL) return FD_ERR_NOMEM;
    atomic_init(&om->beat_ms, 0);
    atomic_init(&om->lag, -1);
    atomic_init(&om->redis_ok, false);
    atomic_init(&om->assigned, false);
    fd_err_t err = fd_prom_new(&om->reg);
    for (int i = 0; i < FD_OM_COUNT && err == FD_OK; i++) {
        err = fd_prom_register(om->reg, &defs[i], &om->fam[i]);
        if (err == FD_OK && defs[i].labels[0] == NULL)
            err = fd_prom_series(om->fam[i], NULL, &om->one[i]);
    }
    for (int r = 1; r < FD_REJECT_COUNT && err == FD_OK; r++) {
        const char *v[] = {fd_reject_name((fd_reject_t)r)};
        err = fd_prom_series(om->fam[FD_OM_REJECTED], v, &om->rejected[r]);
    }
    if (err == FD_OK) {
        const char *v[] = {version};
        fd_prom_series_t *s;
        if ((err = fd_prom_series(om->fam[FD_OM_BUILD_INFO], v, &s)) == FD_OK) fd_prom_set(s, 1);
    }
    if (err != FD_OK) {
        fd_opsmetrics_destroy(om);
        return err;
    }
    *out = om;
    return FD_OK;
}

void fd_opsmetrics_destroy(fd_opsmetrics_t *om) {
    if (om == NULL) return;
    fd_prom_destroy(om->reg);
    free(om);
}

fd_prom_series_t *fd_opsmetrics_one(fd_opsmetrics_t *om, fd_om_id_t id) {
    return id < FD_OM_COUNT ? om->one[id] : NULL;
}

fd_prom_series_t *fd_opsmetrics_series(fd_opsmetrics_t *om, fd_om_id_t id,
                                       const char *const *values) {
    fd_prom_series_t *s = NULL;
    if (id >= FD_OM_COUNT || fd_prom_series(om->fam[id], values, &s) != FD_OK) return NULL;
    return s;
}

fd_prom_series_t *fd_opsmetrics_part(fd_opsmetrics_t *om, fd_om_id_t id, const char *topic,
                                     int32_t partition) {
    char p[16];
    snprintf(p, sizeof p, "%" PRId32, partition);
    const char *v[] = {topic, p};
    return fd_opsmetrics_series(om, id, v);
}

fd_prom_series_t *fd_opsmetrics_rejected(fd_opsmetrics_t *om, fd_reject_t reason) {
    return reason > FD_REJECT_NONE && reason < FD_REJECT_COUNT ? om->rejected[reason] : NULL;
}

fd_err_t fd_opsmetrics_render(fd_opsmetrics_t *om, char **text, size_t *len) {
    return fd_prom_render(om->reg, text, len);
}

void fd_opsmetrics_beat(fd_opsmetrics_t *om, int64_t now_ms) {
    atomic_store_explicit(&om->beat_ms, now_ms, memory_order_relaxed);
}

int64_t fd_opsmetrics_last_beat(const fd_opsmetrics_t *om) {
    return atomic_load_explicit(&((fd_opsmetrics_t *)om)->beat_ms, memory_order_relaxed);
}

void fd_opsmetrics_set_redis(fd_opsmetrics_t *om, bool ok) {
    atomic_store_explicit(&om->redis_ok, ok, memory_order_relaxed);
}

void fd_opsmetrics_set_group(fd_opsmetrics_t *om, bool assigned, int64_t lag) {
    atomic_store_explicit(&om->assigned, assigned, memory_order_relaxed);
    atomic_store_explicit(&om->lag, lag, memory_order_relaxed);
}

void fd_opsmetrics_ready(const fd_opsmetrics_t *om, bool *redis_ok, bool *assigned, int64_t *lag) {
    fd_opsmetrics_t *m = (fd_opsmetrics_t *)om; /* C11 atomic loads take non-const pointers */
    *redis_ok = atomic_load_explicit(&m->redis_ok, memory_order_relaxed);
    *assigned = atomic_load_explicit(&m->assigned, memory_order_relaxed);
    *lag = atomic_load_explicit(&m->lag, memory_order_relaxed);
}
