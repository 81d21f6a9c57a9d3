// SPDX-License-Identifier: MIT
// The metrics publisher: a thread of its own that, while it holds the publisher lease, takes
// the metric hashes the applies marked changed (or every hash, for a snapshot) at most once per
// feeds.metrics_interval_ms, reads each with the offsets it reflects, renders it as a row
// (model/metricrow) and produces it to the compacted topic feeds.metrics_topic with the
// idempotent producer; a round ends in Redis only once Kafka acknowledged all of it (io/lease,
// io/metricstore, io/publisher; layer 5). Reference: docs/feeds.md.
#ifndef FUNNELD_METRICSFEED_H
#define FUNNELD_METRICSFEED_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/config.h"
#include "model/funnel.h"
#include "app/opsmetrics.h"

typedef struct fd_metricsfeed fd_metricsfeed_t;

/* The publisher for cfg (redis.*, kafka.*, feeds.*, funnel.timezone: copied or read now) and
 * funnel fn (borrowed, read-only from the thread; must outlive it), named instance in its lease.
 * The thread renders window bounds in funnel.timezone (model/timewin sets the process's TZ once
 * per zone): every timewin of the process must use that same zone.
 * Does not start the thread. FD_ERR_CONFIG with errstr when librdkafka refuses the settings or
 * the time zone is unknown; FD_ERR_NOMEM. */
fd_err_t fd_metricsfeed_new(const fd_config_t *cfg, const fd_funnel_t *fn, const char *instance,
                            fd_metricsfeed_t **out, char *errstr, size_t errstr_size);
/* Reports to om (borrowed; must outlive the thread): the lease held, the rows published, the
 * position and lag of each complete round. Call before fd_metricsfeed_start; NULL: none. */
void fd_metricsfeed_set_metrics(fd_metricsfeed_t *mf, fd_opsmetrics_t *om);
/* Starts the thread. FD_ERR_FATAL when it cannot be created. */
fd_err_t fd_metricsfeed_start(fd_metricsfeed_t *mf);
/* Stops the thread (a round in progress is left for the next holder to publish again), waits up
 * to flush_ms for messages in flight, frees everything. NULL does nothing. */
void fd_metricsfeed_destroy(fd_metricsfeed_t *mf, int flush_ms);

#endif
