// SPDX-License-Identifier: MIT
// funneld's operator metrics: THE table of metric definitions (name, type, help, labels) in one
// registry (base/prom), the per-partition and per-reason series, and the health state that
// /livez and /readyz read (layer 5). Every update is a relaxed atomic: the service loop, the
// metrics publisher thread and the HTTP threads share it without locks. Reference: docs/http.md.
#ifndef FUNNELD_OPSMETRICS_H
#define FUNNELD_OPSMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/prom.h"
#include "model/event.h"

/* Metric ids: one per row of the table in opsmetrics.c. */
typedef enum {
    FD_OM_BUILD_INFO = 0,
    FD_OM_CONSUMED,
    FD_OM_ACCEPTED,
    FD_OM_DUPLICATES,
    FD_OM_REJECTED,
    FD_OM_BATCHES,
    FD_OM_APPLY_SECONDS,
    FD_OM_REFUSED,
    FD_OM_PART_OFFSET,
    FD_OM_PART_LAG,
    FD_OM_PARTS,
    FD_OM_REBALANCES,
    FD_OM_REDIS_ERRORS,
    FD_OM_REDIS_UP,
    FD_OM_KAFKA_ERRORS,
    FD_OM_FEED_ENTRIES,
    FD_OM_ALERTS_LEADER,
    FD_OM_ALERTS,
    FD_OM_ALERT_NOTIFICATIONS,
    FD_OM_MF_LEADER,
    FD_OM_MF_POSITION,
    FD_OM_MF_LAG,
    FD_OM_MF_LAST_ROUND,
    FD_OM_MF_ROWS,
    FD_OM_LOOP_SECONDS,
    FD_OM_SCORER_LEADER,
    FD_OM_SCORER_ROUND_SECONDS,
    FD_OM_SCORER_CARDS,
    FD_OM_SCORER_ADJUSTMENTS,
    FD_OM_COUNT
} fd_om_id_t;

/* Most partitions a single instance exposes series for (beyond: not exposed, counted nowhere). */
#define FD_OM_PARTITIONS_MAX 1024

typedef struct fd_opsmetrics fd_opsmetrics_t;

/* The registry with every family of the table registered, the unlabelled series and the
 * rejection reasons' series created at 0, and funneld_build_info{version} set to 1.
 * FD_ERR_NOMEM; FD_ERR_INVAL if the table is wrong (a bug: the unit test catches it). */
fd_err_t fd_opsmetrics_new(const char *version, fd_opsmetrics_t **out);
/* NULL does nothing. No other thread may use it any more. */
void fd_opsmetrics_destroy(fd_opsmetrics_t *om);

/* The definition of metric id (for docs and tests). */
const fd_prom_def_t *fd_opsmetrics_def(fd_om_id_t id);

/* The series of an unlabelled metric id (NULL for a labelled one). */
fd_prom_series_t *fd_opsmetrics_one(fd_opsmetrics_t *om, fd_om_id_t id);
/* The series of a labelled metric with the given values (see the table for their order), or
 * NULL when the family holds its bound of label sets already or a value is invalid. */
fd_prom_series_t *fd_opsmetrics_series(fd_opsmetrics_t *om, fd_om_id_t id,
                                       const char *const *values);
/* The per-partition series (FD_OM_PART_OFFSET, FD_OM_PART_LAG) of (topic, partition), or NULL. */
fd_prom_series_t *fd_opsmetrics_part(fd_opsmetrics_t *om, fd_om_id_t id, const char *topic,
                                     int32_t partition);
/* The rejected-messages counter of reason (created at start for every reason). */
fd_prom_series_t *fd_opsmetrics_rejected(fd_opsmetrics_t *om, fd_reject_t reason);

/* Prometheus text of every metric (fd_prom_render). */
fd_err_t fd_opsmetrics_render(fd_opsmetrics_t *om, char **text, size_t *len);

/* ---- health, for /livez and /readyz ---- */

/* The service loop turned at monotonic time now_ms. */
void fd_opsmetrics_beat(fd_opsmetrics_t *om, int64_t now_ms);
/* Monotonic ms of the last turn (0: the loop has not started). */
int64_t fd_opsmetrics_last_beat(const fd_opsmetrics_t *om);
/* The readiness inputs the loop knows: Redis answered the loop's last command (not in a
 * backoff); the group assigned this consumer (an empty assignment counts) and the summed lag of
 * the partitions it holds (-1 when unknown). */
void fd_opsmetrics_set_redis(fd_opsmetrics_t *om, bool ok);
void fd_opsmetrics_set_group(fd_opsmetrics_t *om, bool assigned, int64_t lag);
void fd_opsmetrics_ready(const fd_opsmetrics_t *om, bool *redis_ok, bool *assigned, int64_t *lag);

#endif
