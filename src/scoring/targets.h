// SPDX-License-Identifier: MIT
// The targets file: calendar periods, targets per rep and team per period for any KPI, the
// scorecard definition and the scorer's settings, parsed and validated against the funnel;
// lookups with their precedence (layer 2, pure but for fd_targets_load reading the files).
// Reference: docs/scorecards.md.
#ifndef FUNNELD_TARGETS_H
#define FUNNELD_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/map.h"
#include "model/funnel.h"
#include "model/kpi.h"
#include "model/metrics.h"
#include "model/timewin.h"
#include "scoring/scorecard.h"

/* ---- calendar periods ---- */

typedef enum {
    FD_PERIOD_MONTH = 0,
    FD_PERIOD_QUARTER,
    FD_PERIOD_YEAR,
    FD_PERIOD_COUNT
} fd_period_kind_t;

/* One calendar period in the business timezone: month 1..12, quarter 1..4, index 0 for a year. */
typedef struct {
    fd_period_kind_t kind;
    int year;
    int index;
} fd_period_t;

#define FD_PERIOD_ID_MAX 16 /* "quarter:2026-Q4", "month:2026-11", "year:2026" */

/* "month", "quarter", "year"; "unknown" out of range. */
const char *fd_period_kind_name(fd_period_kind_t kind);
/* Parses len bytes "month:2026-11", "quarter:2026-Q4" or "year:2026" (years 1970..9999).
 * False (out untouched) otherwise. */
bool fd_period_parse(const char *s, size_t len, fd_period_t *out);
/* Writes the period id into buf (always NUL-terminated when size > 0); returns its length. */
size_t fd_period_format(const fd_period_t *p, char *buf, size_t size);
/* The period of kind containing at_ms in tw's timezone. */
void fd_period_of(fd_timewin_t *tw, fd_period_kind_t kind, int64_t at_ms, fd_period_t *out);
/* Whether s is an alias of the current period, "month", "quarter" or "year"; *out gets that
 * period of the windows now (fd_timewin_of at the present instant). False, *out untouched, for
 * anything else. */
bool fd_period_alias(const char *s, const fd_windows_t *now, fd_period_t *out);
/* The period before p (the previous month, quarter, year). */
void fd_period_prev(const fd_period_t *p, fd_period_t *out);
/* [start, end) of p in ms since the epoch, local midnights in tw's timezone. */
void fd_period_bounds(fd_timewin_t *tw, const fd_period_t *p, int64_t *start_ms, int64_t *end_ms);
/* The metric-hash window ids whose counters sum to p: a month and a quarter are one window
 * ("month:2026-11", "quarter:2026-Q4"); a year is its four quarters. Returns the count (1 or 4). */
size_t fd_period_windows(const fd_period_t *p, char out[4][FD_PERIOD_ID_MAX + 8]);

/* ---- the file ---- */

typedef struct fd_targets fd_targets_t;

/* Parses the targets document (JSON text of len bytes) for funnel fn (borrowed; must outlive
 * the set). base_dir resolves a relative "csv" path (NULL: the working directory). Every
 * problem is FD_ERR_CONFIG with errstr naming the place ("targets[3].kpi: unknown KPI
 * \"wins\"; valid: ...", "targets.csv:12: value: expected a number >= 0, found \"x\"",
 * "scorecard.kpis: the weights sum to 95, not 100"); unknown and duplicate keys are errors,
 * and so is a second row for the same (scope, id, period, kpi). FD_ERR_NOMEM. *out NULL on
 * error. */
fd_err_t fd_targets_parse(const fd_funnel_t *fn, const char *json, size_t len, const char *base_dir,
                          fd_targets_t **out, char *errstr, size_t errstr_size);
/* Reads and parses the file at path (and the CSV it names, relative to path's folder).
 * FD_ERR_IO with errstr naming the path when a file cannot be read. */
fd_err_t fd_targets_load(const fd_funnel_t *fn, const char *path, fd_targets_t **out, char *errstr,
                         size_t errstr_size);
void fd_targets_destroy(fd_targets_t *t);

/* The explicit target of (scope, id, period, kpi), by precedence: a row for the id and this
 * exact period ("month:2026-11"), then the id and the period kind ("month"), then id "*" with the
 * exact period, then "*" with the kind. True with *value and a description of the row in
 * source ("targets[4]" or "targets.csv:12"; always NUL-terminated) when one applies. Team
 * defaults (the sum of the reps' targets) are computed by the caller that knows the members:
 * fd_targets_team_sums says whether they apply. */
bool fd_targets_find(const fd_targets_t *t, fd_scope_t scope, const char *id, const fd_period_t *p,
                     fd_kpi_t kpi, double *value, char *source, size_t source_size);
/* The target of (scope, id, period, kpi) as scorecards and alert rules apply it: the explicit
 * one (fd_targets_find), else, for a team and a volume KPI when fd_targets_team_sums, the sum of
 * the explicit targets of its reps, source "sum of N reps". rep_team maps each rep id (the key)
 * to its team (the value: a NUL-terminated team id, or NULL for none), as <p>:rep_team holds
 * them. False when none applies (or no rep of the team has a target). */
bool fd_targets_resolve(const fd_targets_t *t, fd_scope_t scope, const char *id,
                        const fd_period_t *p, fd_kpi_t kpi, const fd_map_t *rep_team, double *value,
                        char *source, size_t source_size);
/* Whether a team without an explicit target for a volume KPI gets the sum of its reps'
 * targets ("team_targets": "sum_of_reps", the default) rather than none ("explicit"). */
bool fd_targets_team_sums(const fd_targets_t *t);
/* Ids named by rows (not "*") of scope, for the scorer to score even without events; calls fn
 * once per distinct id. */
void fd_targets_ids(const fd_targets_t *t, fd_scope_t scope, void (*fn)(const char *id, void *arg),
                    void *arg);
/* The scorecard definition, or NULL when the file has none (targets only, for alert rules). */
const fd_scorecard_def_t *fd_targets_scorecard(const fd_targets_t *t);
/* The scorer's settings from the file: which periods are scored ("periods", default all three),
 * how often changed scopes are recomputed ("recompute_every", default 60 s), how long after a
 * period's end its scorecards become final ("grace", default 3 days), and the clock (true: the
 * event-time watermark, the default; false: the wall clock). */
bool fd_targets_scores_period(const fd_targets_t *t, fd_period_kind_t kind);
int64_t fd_targets_recompute_ms(const fd_targets_t *t);
int64_t fd_targets_grace_ms(const fd_targets_t *t);
bool fd_targets_event_clock(const fd_targets_t *t);
/* Rows in the file (JSON and CSV), for `funnelctl targets check`. */
size_t fd_targets_count(const fd_targets_t *t);

#endif
