// SPDX-License-Identifier: MIT
// The stall index: open deals by the stage they sit in and since when, per rep, team and the
// org, built from the deal states of a stall scan; stalled:<stage> KPIs count in it (layer 3,
// pure).
#ifndef FUNNELD_STALLS_H
#define FUNNELD_STALLS_H

#include <stdint.h>

#include "base/err.h"
#include "model/funnel.h"
#include "model/metrics.h"

typedef struct fd_stalls fd_stalls_t;

/* An empty index for funnel fn (borrowed). FD_ERR_NOMEM. */
fd_err_t fd_stalls_new(const fd_funnel_t *fn, fd_stalls_t **out);
void fd_stalls_destroy(fd_stalls_t *st);
/* Empties the index: a new scan begins, for evaluations at clocks after since_ms (INT64_MIN:
 * any). A stay that ended at or before since_ms can count at no such clock and is not indexed,
 * so in steady state the index holds about the open deals only. */
void fd_stalls_clear(fd_stalls_t *st, int64_t since_ms);
/* Indexes the encoded deal state (len bytes): each stay of the deal in a stage short of the won
 * one (from reaching it to reaching the next, or until now for an open deal's furthest stage),
 * under the rep, team and org of its owner then. An undecodable state is counted
 * (fd_stalls_unreadable) and skipped. FD_ERR_NOMEM. */
fd_err_t fd_stalls_add(fd_stalls_t *st, const char *state, size_t len);
/* The states skipped as undecodable since the last clear. */
size_t fd_stalls_unreadable(const fd_stalls_t *st);
/* The deals of (scope, id) that were in stage at clock_ms and had entered it more than after_ms
 * before (as of the clock: a deal that moved on later still counts). */
int64_t fd_stalls_count(const fd_stalls_t *st, fd_scope_t scope, const char *id, int stage,
                        int64_t clock_ms, int64_t after_ms);

#endif
