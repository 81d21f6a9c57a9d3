// SPDX-License-Identifier: MIT
// The daemon: owns the funnel, windows, stores, source, deal cache, alerts and the batch ledger,
// and runs the loop poll -> take -> submit -> settle (layer 5).
#ifndef FUNNELD_SERVICE_H
#define FUNNELD_SERVICE_H

#include <signal.h>
#include <stddef.h>

#include "app/opsmetrics.h"
#include "model/config.h"
#include "base/err.h"
#include "io/current.h"

typedef struct fd_service fd_service_t;

/* Builds every part from cfg (read during the call only). FD_ERR_CONFIG with errstr naming the
 * setting when a part refuses it (stages, timezone, kafka.<property>). Does not touch Redis yet. */
fd_err_t fd_service_new(const fd_config_t *cfg, fd_service_t **out, char *errstr,
                        size_t errstr_size);
void fd_service_destroy(fd_service_t *svc);

/* Runs until *stop becomes non-zero (a signal handler sets it): then applies the pending batch,
 * commits and leaves the group. If *stop reaches 2 (a second signal) while Redis is still
 * unreachable, gives up on the pending batch (nothing is lost: its offsets were not stored).
 * FD_OK on a clean stop; FD_ERR_FATAL on a fatal Kafka error; FD_ERR_REDIS when stopped while
 * the last batch could not be applied. */
fd_err_t fd_service_run(fd_service_t *svc, volatile sig_atomic_t *stop);

/* The service's operator metrics and health (app/opsmetrics), for the HTTP endpoints: valid
 * until fd_service_destroy (stop the HTTP server first); thread safe. */
fd_opsmetrics_t *fd_service_metrics(fd_service_t *svc);

/* SIGHUP: the loop of fd_service_run calls fd_service_reload when *reload (a signal handler
 * sets it) is non-zero, and clears it. Call before fd_service_run. */
void fd_service_watch_reload(fd_service_t *svc, volatile sig_atomic_t *reload);
/* Loads targets.file again in the scorer (a bad file is logged, the old one kept); logs the
 * request. */
void fd_service_reload(fd_service_t *svc);

/* Follows the active-prefix pointer (borrowed: main's; NULL: not followed): at most every second
 * the loop reads it, and when it names another prefix than the one in use the run stops as if
 * *stop were set (it sets it to 1: pass a flag of main's, not only the signal count), applying
 * the pending batch; fd_current_pending(follow) then names the new prefix. Call before
 * fd_service_run. */
void fd_service_follow(fd_service_t *svc, fd_current_t *follow);

#endif
