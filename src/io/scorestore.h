// SPDX-License-Identifier: MIT
// The scorer's Redis side: reads the clock (the feed watermark), who is on which team, the
// summed metric fields of a scope's windows, the change feed since a position, a stored
// breakdown, the late-event log, and commits a period's scorecards, rankings and adjustments in
// one step fenced by the scorer lease (src/lua/score_commit.lua; layer 4). Reference:
// docs/redis.md "Scorecard keys".
#ifndef FUNNELD_SCORESTORE_H
#define FUNNELD_SCORESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/redis.h"
#include "model/funnel.h"
#include "model/metrics.h"

typedef struct fd_scorestore fd_scorestore_t;

#define FD_SCORESTORE_POS_MAX 48 /* a stream id "<ms>-<seq>" */

/* The store over redis (borrowed; register before it connects) for keys of prefix (copied) and
 * the fields of funnel fn (borrowed). FD_ERR_NOMEM, FD_ERR_FULL (script registry),
 * FD_ERR_RANGE (prefix longer than 64 bytes). */
fd_err_t fd_scorestore_new(fd_redis_t *redis, const char *prefix, const fd_funnel_t *fn,
                           fd_scorestore_t **out);
void fd_scorestore_destroy(fd_scorestore_t *ss);

/* A callback for the pairs of a hash (or of a stream entry): lent for the call only. */
typedef void (*fd_scorestore_pair_fn)(const char *field, const char *value, void *arg);

/* The `watermark` of <p>:feed, 0 when absent. FD_ERR_REDIS (errstr in fd_redis_errstr). */
fd_err_t fd_scorestore_watermark(fd_scorestore_t *ss, int64_t *ms);
/* Calls fn(rep, team) for every entry of <p>:rep_team. FD_ERR_REDIS. */
fd_err_t fd_scorestore_rep_team(fd_scorestore_t *ss, fd_scorestore_pair_fn fn, void *arg);
/* Calls fn for every field of the scorer's state hash <p>:score:state. FD_ERR_REDIS. */
fd_err_t fd_scorestore_state(fd_scorestore_t *ss, fd_scorestore_pair_fn fn, void *arg);

/* Sums every funnel field over the metric hashes of (scope, id) for the nwin window ids into
 * sums (fd_funnel_nfields entries, amount fields in hundredths); a missing hash or field counts
 * 0. FD_ERR_REDIS. */
fd_err_t fd_scorestore_sums(fd_scorestore_t *ss, fd_scope_t scope, const char *id,
                            const char *const *windows, size_t nwin, int64_t *sums);

/* The change feed after position from: calls on_key(key suffix, NULL) for every hash a `change`
 * entry names ("rep:month:2026-11:anna"), and sets *all when something is unknown (a `bulk`
 * entry, a trimmed or recreated stream, from "0-0": re-read everything). *to receives the id
 * of the last entry (the next position; "0-0" for an empty stream). FD_ERR_REDIS. */
fd_err_t fd_scorestore_changes(fd_scorestore_t *ss, const char *from,
                               void (*on_key)(const char *key, void *arg), void *arg, bool *all,
                               char to[FD_SCORESTORE_POS_MAX]);
/* The id of the change feed's last entry ("0-0" when empty or absent). FD_ERR_REDIS. */
fd_err_t fd_scorestore_position(fd_scorestore_t *ss, char pos[FD_SCORESTORE_POS_MAX]);

/* Calls fn for every field of the breakdown <p>:score:<scope>:<period>:<id>; *exists false
 * when there is none. FD_ERR_REDIS. */
fd_err_t fd_scorestore_breakdown(fd_scorestore_t *ss, fd_scope_t scope, const char *period,
                                 const char *id, fd_scorestore_pair_fn fn, void *arg, bool *exists);

/* Entries of <p>:late with ids after `after` up to and including the ms of `upto` (a change-feed
 * position): on_entry(id, fields, values, n) for each. *exists false when the stream does not
 * exist (the core writes it; an older funneld did not). *last the id of the last entry read
 * (after when none). FD_ERR_REDIS. */
fd_err_t fd_scorestore_late(fd_scorestore_t *ss, const char *after, const char *upto,
                            void (*on_entry)(const char *id, const char *const *fields,
                                             const char *const *values, size_t n, void *arg),
                            void *arg, bool *exists, char last[FD_SCORESTORE_POS_MAX]);

/* ---- a commit: one period's writes, built then run in one step ---- */

/* Starts a commit for period (an id, "month:2026-11") starting at start_ms; rerank: recompute
 * the period's ranks after the writes (false for adjustments of a final period). Drops what a
 * previous commit held. FD_ERR_NOMEM. */
fd_err_t fd_scorestore_begin(fd_scorestore_t *ss, const char *period, int64_t start_ms,
                             bool rerank);
/* A field of the state hash written with the commit. FD_ERR_NOMEM. */
fd_err_t fd_scorestore_set_state(fd_scorestore_t *ss, const char *field, const char *value);
/* Replaces the breakdown of (scope, id) by the n pairs; team: the rep's team ("" none; ignored
 * for teams); score: its text ("12.50", the rank's score) or NULL when nothing scored (left out
 * of the rankings). FD_ERR_NOMEM. */
fd_err_t fd_scorestore_card(fd_scorestore_t *ss, fd_scope_t scope, const char *id, const char *team,
                            const char *score, const char *const *fields, const char *const *values,
                            size_t n);
/* Appends entry (JSON; NULL: none) to the adjustment list of (scope, id) and sets the n pairs in
 * its (frozen) breakdown. FD_ERR_NOMEM. */
fd_err_t fd_scorestore_adjust(fd_scorestore_t *ss, fd_scope_t scope, const char *id,
                              const char *entry, const char *const *fields,
                              const char *const *values, size_t n);
/* How many cards and adjustments the commit holds. */
size_t fd_scorestore_pending(const fd_scorestore_t *ss);
/* Runs the commit under the lease token: *held false (nothing written) when the lease is not
 * ours. FD_ERR_REDIS (also when Redis refused the script: errstr says why), FD_ERR_RANGE (too
 * many arguments). */
fd_err_t fd_scorestore_commit(fd_scorestore_t *ss, const char *token, bool *held);

#endif
