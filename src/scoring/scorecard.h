// SPDX-License-Identifier: MIT
// Weighted scorecards: a definition (KPIs with weights, directions and scoring rules; grade
// thresholds) and the score of one rep or team for one period, every number of the breakdown
// kept so that it can be traced (layer 2, pure). Reference: docs/scorecards.md.
#ifndef FUNNELD_SCORECARD_H
#define FUNNELD_SCORECARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/funnel.h"
#include "model/kpi.h"

#define FD_SCORE_MAX_KPIS   16
#define FD_SCORE_MAX_BANDS  8
#define FD_SCORE_SOURCE_MAX 96

typedef enum { FD_DIR_HIGHER = 0, FD_DIR_LOWER } fd_direction_t;
typedef enum { FD_SCORING_LINEAR = 0, FD_SCORING_BANDS } fd_scoring_kind_t;

/* Bands: the first band (highest min_attainment first) whose min the attainment reaches gives
 * its points; below every band: 0 points. */
typedef struct {
    double min_attainment;
    double points;
} fd_band_t;

typedef struct {
    fd_kpi_t kpi;
    char name[FD_NAME_MAX + 16]; /* as fd_kpi_name writes it: "won_amount", "conv:lead" */
    double weight;               /* > 0; the weights of a definition sum to 100 */
    fd_direction_t direction;    /* default: lower for complaints, cycle_days, dwell_hours */
    fd_scoring_kind_t scoring;
    double zero, full, cap; /* linear: 0 points at attainment zero, 100 at full, attainment
                             * capped at cap (defaults 0.5, 1.0, 1.2: at most 140 points) */
    fd_band_t bands[FD_SCORE_MAX_BANDS];
    size_t nbands;
} fd_score_kpi_t;

typedef struct {
    fd_score_kpi_t kpis[FD_SCORE_MAX_KPIS];
    size_t nkpis;
    double grade_min[3]; /* the least score of A, B, C (default 90, 75, 60); below C is D */
} fd_scorecard_def_t;

typedef enum {
    FD_LINE_SCORED = 0, /* value and target known: points computed */
    FD_LINE_NO_TARGET,  /* no target applies: left out, weights renormalised */
    FD_LINE_NO_DATA     /* a ratio KPI with no samples (undefined): left out, renormalised */
} fd_line_status_t;

/* One KPI of a scorecard. The caller fills the inputs; fd_score_compute the outputs. */
typedef struct {
    /* inputs */
    bool has_value;  /* false: the KPI is undefined (a ratio with a zero denominator) */
    double value;    /* fd_kpi_value: amounts in currency units */
    int64_t samples; /* its denominator (for volumes the value itself) */
    bool has_target;
    double target;                           /* for the whole period */
    char target_source[FD_SCORE_SOURCE_MAX]; /* "targets[4]", "sum of 6 reps", ... */
    /* outputs */
    fd_line_status_t status;
    double expected;    /* what the pace asks for by now: volume KPIs target × elapsed,
                         * ratios the target itself */
    double attainment;  /* higher is better: value / expected; lower: expected / value (see
                         * docs/scorecards.md for zeros) */
    double points;      /* from the scoring rule, 0 .. the rule's maximum */
    double weight_used; /* the weight renormalised over the scored lines (sums to 100) */
    double weighted;    /* points × weight_used / 100 */
} fd_score_line_t;

typedef struct {
    fd_score_line_t lines[FD_SCORE_MAX_KPIS]; /* in the definition's order */
    size_t nlines;
    bool scored;  /* at least one line scored; else no score and grade '-' */
    double score; /* the sum of the weighted points */
    char grade;   /* 'A', 'B', 'C', 'D', or '-' when nothing scored */
} fd_score_t;

/* Scores sc->lines (nlines = def->nkpis, inputs filled) at elapsed, the fraction 0..1 of the
 * period gone at the clock (1 once it is over): fills every output and sc's score and grade. */
void fd_score_compute(const fd_scorecard_def_t *def, double elapsed, fd_score_t *sc);
/* The grade of a score under def's thresholds: 'A'..'D'. */
char fd_score_grade(const fd_scorecard_def_t *def, double score);
/* "scored", "no_target", "no_data". */
const char *fd_score_status_name(fd_line_status_t status);

#endif
