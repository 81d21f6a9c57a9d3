// SPDX-License-Identifier: MIT
// The window plan: which metric hashes each rule needs at an evaluation clock. Rules reading the
// same window share a signature (rolling span and lag, calendar window, or drift baseline); at
// each clock the plan lists the distinct window hashes ("day:2026-11-22", "hour:2026-11-22T10")
// and the slots each sums into, so each hash of a scope is read once however many rules need it;
// then it hands each rule its summed input (layer 3, pure). Reference: docs/alerts.md.
#ifndef FUNNELD_WINPLAN_H
#define FUNNELD_WINPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerting/ruleeval.h"
#include "alerting/rulesfile.h"
#include "base/err.h"
#include "model/funnel.h"
#include "model/timewin.h"

#define FD_WINPLAN_MAX_SIGS 64 /* distinct window signatures of a rules file */

typedef struct fd_winplan fd_winplan_t;

/* The signatures of every rule of rs over funnel fn, windows cut by tw (all borrowed; must
 * outlive the plan). FD_ERR_CONFIG with errstr when the rules need more than
 * FD_WINPLAN_MAX_SIGS distinct windows; FD_ERR_NOMEM. */
fd_err_t fd_winplan_new(const fd_rules_t *rs, const fd_funnel_t *fn, fd_timewin_t *tw,
                        fd_winplan_t **out, char *errstr, size_t errstr_size);
void fd_winplan_destroy(fd_winplan_t *p);

/* The funnel fields any rule reads (the union, in field order): their number and the k-th. */
size_t fd_winplan_nfields(const fd_winplan_t *p);
size_t fd_winplan_field(const fd_winplan_t *p, size_t k);
/* Whether a rule counts stalled deals (they need the deal scan). */
bool fd_winplan_any_stalled(const fd_winplan_t *p);
/* The slots of one scope: each holds fd_funnel_nfields summed fields. */
size_t fd_winplan_slots(const fd_winplan_t *p);

/* Plans the windows at clock_ms; windows starting before first_ms (the stream's first event)
 * are incomplete. FD_ERR_NOMEM. */
fd_err_t fd_winplan_at(fd_winplan_t *p, int64_t clock_ms, int64_t first_ms);

/* Marks in used (FD_WINPLAN_MAX_SIGS entries) the signatures rule i reads (none for score and
 * grade rules: they read the scorecard, not the metric windows). */
void fd_winplan_mark(const fd_winplan_t *p, size_t rule, bool *used);
/* The distinct window hashes of the clock planned: their number, and the id of the w-th. */
size_t fd_winplan_nwins(const fd_winplan_t *p);
const char *fd_winplan_win_id(const fd_winplan_t *p, size_t w);
/* Whether window w feeds a signature marked in used. */
bool fd_winplan_win_needed(const fd_winplan_t *p, size_t w, const bool *used);
/* Adds vals (the fields of fd_winplan_field order) read from window w into the slots of a scope
 * (sums: fd_winplan_slots × fd_funnel_nfields) that it feeds among the signatures marked used. */
void fd_winplan_add(const fd_winplan_t *p, size_t w, const bool *used, const int64_t *vals,
                    int64_t *sums);

/* The input of rule i from a scope's sums (in->stalled left 0); days must hold 400 pointers and
 * outlive in. False when its windows reach back before the first event: no evidence either
 * way. */
bool fd_winplan_input(const fd_winplan_t *p, size_t rule, const int64_t *sums, const int64_t **days,
                      fd_rule_input_t *in);

/* The calendar window of rule i at the clock planned, which is also the calendar period of
 * the targets file and the scorecards ("month:2026-11", "quarter:2026-Q4"); NULL for a rule
 * with a rolling window or none. */
const char *fd_winplan_period(const fd_winplan_t *p, size_t rule);

#endif
