// SPDX-License-Identifier: MIT
// The scorer: a thread of its own that, while it holds the scorer lease, materialises the
// scorecards of targets.file in Redis: every rep and team for the current and the previous
// calendar periods, recomputed for the scopes the change feed names at most once per
// recompute_every, everything when the clock's hour changes, at period and grace boundaries and
// on reload; once final, a scorecard only records adjustments (io/scorestore, io/lease,
// scoring/scorecard; layer 5). Reference: docs/scorecards.md, docs/redis.md.
#ifndef FUNNELD_SCORER_H
#define FUNNELD_SCORER_H

#include <stdbool.h>
#include <stddef.h>

#include "app/opsmetrics.h"
#include "base/err.h"
#include "model/config.h"
#include "model/funnel.h"

typedef struct fd_scorer fd_scorer_t;

/* Loads cfg->targets_file for funnel fn (borrowed; must outlive the scorer) and builds the
 * scorer (redis.*, funnel.timezone, backoff_max_ms, alerts.lease_ms for its lease: copied),
 * named instance in its lease. *out is NULL and FD_OK when the file has no scorecard (targets
 * only: nothing to score). FD_ERR_CONFIG with errstr "targets.file (<path>): <why>" when the
 * file cannot be read or is wrong; FD_ERR_NOMEM. Does not start the thread. */
fd_err_t fd_scorer_new(const fd_config_t *cfg, const fd_funnel_t *fn, const char *instance,
                       fd_scorer_t **out, char *errstr, size_t errstr_size);
/* Reports to om (borrowed; must outlive the thread): lease held, round duration, scorecards
 * written, adjustments. Call before fd_scorer_start; NULL: none. */
void fd_scorer_set_metrics(fd_scorer_t *sc, fd_opsmetrics_t *om);
/* Starts the thread. FD_ERR_FATAL when it cannot be created. */
fd_err_t fd_scorer_start(fd_scorer_t *sc);
/* Asks the thread to load targets.file again (SIGHUP): a good file replaces the old one and
 * everything is scored again; a bad one is logged and the old one kept. Thread safe. */
void fd_scorer_reload(fd_scorer_t *sc);
/* Stops the thread (gives the lease up) and frees everything. NULL does nothing. */
void fd_scorer_destroy(fd_scorer_t *sc);

#endif
