// SPDX-License-Identifier: MIT
// Weighted scorecards: attainment, points, weights, grades (layer 2, pure). The rules, their
// zero cases and a worked example: docs/scorecards.md.
#include "scoring/scorecard.h"

char fd_score_grade(const fd_scorecard_def_t *def, double score) {
    static const char letters[3] = {'A', 'B', 'C'};
    for (int i = 0; i < 3; i++)
        if (score >= def->grade_min[i]) return letters[i];
    return 'D';
}

const char *fd_score_status_name(fd_line_status_t status) {
    switch (status) {
    case FD_LINE_SCORED:
        return "scored";
    case FD_LINE_NO_TARGET:
        return "no_target";
    case FD_LINE_NO_DATA:
        return "no_data";
    }
    return "unknown";
}

/* The attainment that earns a KPI's most points: the cap of a linear rule, the first band's
 * minimum. Given to a lower-is-better KPI that measured nothing bad (value 0). */
static double best_attainment(const fd_score_kpi_t *k) {
    if (k->scoring == FD_SCORING_BANDS) return k->nbands > 0 ? k->bands[0].min_attainment : 1.0;
    return k->cap;
}

/* Attainment of one line (docs/scorecards.md, "Attainment"): higher is better value /
 * expected, lower is better expected / value, with the zero cases spelled out. */
static double attainment(const fd_score_kpi_t *k, const fd_score_line_t *l) {
    if (k->direction == FD_DIR_HIGHER) return l->expected > 0 ? l->value / l->expected : 1.0;
    if (l->value <= 0) return l->target <= 0 ? 1.0 : best_attainment(k);
    if (l->target <= 0) return 0.0;
    return l->expected / l->value;
}

static double points(const fd_score_kpi_t *k, double att) {
    if (k->scoring == FD_SCORING_BANDS) {
        for (size_t b = 0; b < k->nbands; b++)
            if (att >= k->bands[b].min_attainment) return k->bands[b].points;
        return 0.0;
    }
    double a = att < k->cap ? att : k->cap;
    double p = 100.0 * (a - k->zero) / (k->full - k->zero);
    return p > 0 ? p : 0.0;
}

void fd_score_compute(const fd_scorecard_def_t *def, double elapsed, fd_score_t *sc) {
    if (!(elapsed >= 0)) elapsed = 0; /* NaN too */
    if (elapsed > 1) elapsed = 1;
    sc->nlines = def->nkpis;
    double weights = 0;
    for (size_t i = 0; i < def->nkpis; i++) {
        const fd_score_kpi_t *k = &def->kpis[i];
        fd_score_line_t *l = &sc->lines[i];
        l->expected = l->attainment = l->points = l->weight_used = l->weighted = 0;
        if (!l->has_target) {
            l->status = FD_LINE_NO_TARGET;
            continue;
        }
        /* what the pace asks for by now: a volume accrues over the period, a rate does not */
        l->expected = fd_kpi_is_volume(k->kpi.kind) ? l->target * elapsed : l->target;
        if (!l->has_value) {
            l->status = FD_LINE_NO_DATA;
            continue;
        }
        l->status = FD_LINE_SCORED;
        l->attainment = attainment(k, l);
        l->points = points(k, l->attainment);
        weights += k->weight;
    }
    sc->scored = weights > 0;
    sc->score = 0;
    sc->grade = '-';
    if (!sc->scored) return;
    /* the lines left out (no target, no data) give their weight to the others, in proportion */
    for (size_t i = 0; i < def->nkpis; i++) {
        fd_score_line_t *l = &sc->lines[i];
        if (l->status != FD_LINE_SCORED) continue;
        l->weight_used = def->kpis[i].weight * 100.0 / weights;
        l->weighted = l->points * l->weight_used / 100.0;
        sc->score += l->weighted;
    }
    sc->grade = fd_score_grade(def, sc->score);
}
