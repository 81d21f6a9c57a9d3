// SPDX-License-Identifier: MIT
// Unit tests of scorecards: pace, attainment (higher and lower is better, the zero cases),
// linear points with their cap, bands, renormalised weights, grades; every number worked out by
// hand in the comments, and the worked example of docs/scorecards.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scoring/scorecard.h"

#define EPS 1e-9
#define assert_near(a, b)                                                                          \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ > b_ - 1e-6 && a_ < b_ + 1e-6)) fail_msg("%s = %.9f, want %.9f", #a, a_, b_);     \
    } while (0)

/* A KPI line of a definition: linear with the defaults (0.5, 1.0, 1.2). */
static fd_score_kpi_t linear(fd_kpi_kind_t kind, double weight, fd_direction_t dir) {
    fd_score_kpi_t k;
    memset(&k, 0, sizeof k);
    k.kpi = (fd_kpi_t){kind, -1};
    k.weight = weight;
    k.direction = dir;
    k.scoring = FD_SCORING_LINEAR;
    k.zero = 0.5;
    k.full = 1.0;
    k.cap = 1.2;
    return k;
}

/* Bands 100 points from attainment 1.0, 60 from 0.8, else 0. */
static fd_score_kpi_t banded(fd_kpi_kind_t kind, double weight, fd_direction_t dir) {
    fd_score_kpi_t k = linear(kind, weight, dir);
    k.scoring = FD_SCORING_BANDS;
    k.bands[0] = (fd_band_t){1.0, 100};
    k.bands[1] = (fd_band_t){0.8, 60};
    k.nbands = 2;
    return k;
}

static void def_init(fd_scorecard_def_t *def) {
    memset(def, 0, sizeof *def);
    def->grade_min[0] = 90;
    def->grade_min[1] = 75;
    def->grade_min[2] = 60;
}

static void line(fd_score_t *sc, size_t i, bool has_value, double value, bool has_target,
                 double target) {
    fd_score_line_t *l = &sc->lines[i];
    memset(l, 0, sizeof *l);
    l->has_value = has_value;
    l->value = value;
    l->samples = (int64_t)value;
    l->has_target = has_target;
    l->target = target;
}

/* One KPI alone (weight 100): its points are the score. */
static fd_score_line_t one(fd_score_kpi_t k, double elapsed, bool has_value, double value,
                           bool has_target, double target) {
    fd_scorecard_def_t def;
    def_init(&def);
    k.weight = 100;
    def.kpis[0] = k;
    def.nkpis = 1;
    fd_score_t sc;
    memset(&sc, 0, sizeof sc);
    line(&sc, 0, has_value, value, has_target, target);
    fd_score_compute(&def, elapsed, &sc);
    return sc.lines[0];
}

static void test_score_linear_points_and_cap(void **state) {
    (void)state;
    fd_score_kpi_t k = linear(FD_KPI_WON_AMOUNT, 100, FD_DIR_HIGHER);
    /* month over (elapsed 1): 50000 of 50000 → attainment 1.0 → 100 points */
    fd_score_line_t l = one(k, 1.0, true, 50000, true, 50000);
    assert_int_equal(l.status, FD_LINE_SCORED);
    assert_near(l.expected, 50000);
    assert_near(l.attainment, 1.0);
    assert_near(l.points, 100);
    /* 37500 of 50000 → 0.75 → 100 × (0.75 − 0.5) / (1 − 0.5) = 50 */
    l = one(k, 1.0, true, 37500, true, 50000);
    assert_near(l.attainment, 0.75);
    assert_near(l.points, 50);
    /* 100000 of 50000 → attainment 2.0 (kept), capped at 1.2 for points: 100 × 0.7 / 0.5 = 140 */
    l = one(k, 1.0, true, 100000, true, 50000);
    assert_near(l.attainment, 2.0);
    assert_near(l.points, 140);
    /* 20000 of 50000 → 0.4, under zero (0.5): 0 points, never negative */
    l = one(k, 1.0, true, 20000, true, 50000);
    assert_near(l.points, 0);
    /* zero 0.6, full 0.9, cap 1.0: attainment 0.8 → 100 × 0.2 / 0.3 = 66.667 */
    k.zero = 0.6;
    k.full = 0.9;
    k.cap = 1.0;
    l = one(k, 1.0, true, 40000, true, 50000);
    assert_near(l.points, 200.0 / 3);
    /* ... and 1.8: capped at 1.0 → 100 × 0.4 / 0.3 = 133.33 */
    l = one(k, 1.0, true, 90000, true, 50000);
    assert_near(l.points, 400.0 / 3);
    /* full == cap (0.6, 1.0, 1.0): at most 100 */
    k.full = 1.0;
    l = one(k, 1.0, true, 90000, true, 50000);
    assert_near(l.points, 100);
}

static void test_score_pace_for_volumes_not_ratios(void **state) {
    (void)state;
    /* 12 days of a 30-day month: elapsed 0.4. 20 visits of a target of 40: expected 16,
     * attainment 1.25 → capped 1.2 → 140 points */
    fd_score_line_t l = one(linear(FD_KPI_ACTIVITY, 100, FD_DIR_HIGHER), 0.4, true, 20, true, 40);
    assert_near(l.expected, 16);
    assert_near(l.attainment, 1.25);
    assert_near(l.points, 140);
    /* a rate does not accrue: conv 0.2 against 0.25 at any elapsed → 0.8 → 60 points */
    l = one(linear(FD_KPI_CONV, 100, FD_DIR_HIGHER), 0.4, true, 0.2, true, 0.25);
    assert_near(l.expected, 0.25);
    assert_near(l.attainment, 0.8);
    assert_near(l.points, 60);
    /* the start of the period: nothing asked yet (expected 0) → met, 1.0 → 100 */
    l = one(linear(FD_KPI_WON, 100, FD_DIR_HIGHER), 0.0, true, 0, true, 10);
    assert_near(l.expected, 0);
    assert_near(l.attainment, 1.0);
    assert_near(l.points, 100);
    /* elapsed is clamped to [0, 1]: 1.5 counts as 1 (10 of 10 → 1.0) */
    l = one(linear(FD_KPI_WON, 100, FD_DIR_HIGHER), 1.5, true, 10, true, 10);
    assert_near(l.expected, 10);
    assert_near(l.points, 100);
}

static void test_score_bands(void **state) {
    (void)state;
    fd_score_kpi_t k = banded(FD_KPI_WON, 100, FD_DIR_HIGHER);
    /* exactly at a band's minimum gets it: 10 of 10 → 1.0 → 100 */
    assert_near(one(k, 1.0, true, 10, true, 10).points, 100);
    /* 12 of 10 → 1.2: bands have no cap above their top, still 100 */
    assert_near(one(k, 1.0, true, 12, true, 10).points, 100);
    /* 8.5 of 10 → 0.85 → the 0.8 band: 60 */
    assert_near(one(k, 1.0, true, 8.5, true, 10).points, 60);
    /* 8 of 10 → 0.8 exactly → 60 */
    assert_near(one(k, 1.0, true, 8, true, 10).points, 60);
    /* 7.9 of 10 → below every band: 0 */
    assert_near(one(k, 1.0, true, 7.9, true, 10).points, 0);
}

static void test_score_lower_is_better(void **state) {
    (void)state;
    fd_score_kpi_t k = linear(FD_KPI_COMPLAINTS, 100, FD_DIR_LOWER);
    /* month over, at most 4 complaints, 5 happened: 4 / 5 = 0.8 → 60 points */
    fd_score_line_t l = one(k, 1.0, true, 5, true, 4);
    assert_near(l.attainment, 0.8);
    assert_near(l.points, 60);
    /* half-way (elapsed 0.5), 2 so far: expected 2, 2 / 2 = 1.0 → 100 */
    l = one(k, 0.5, true, 2, true, 4);
    assert_near(l.expected, 2);
    assert_near(l.points, 100);
    /* 3 so far: 2 / 3 = 0.6667 → 100 × 0.1667 / 0.5 = 33.33 */
    l = one(k, 0.5, true, 3, true, 4);
    assert_near(l.points, 100.0 * (2.0 / 3 - 0.5) / 0.5);
    /* 1 so far: 2 / 1 = 2.0, capped 1.2 → 140 */
    assert_near(one(k, 0.5, true, 1, true, 4).points, 140);
    /* cycle_days (a ratio) with bands: 40-day target, 45 days measured: 40 / 45 = 0.8889 →
     * the 0.8 band: 60 */
    l = one(banded(FD_KPI_CYCLE_DAYS, 100, FD_DIR_LOWER), 0.5, true, 45, true, 40);
    assert_near(l.expected, 40);
    assert_near(l.attainment, 40.0 / 45);
    assert_near(l.points, 60);
}

static void test_score_zero_cases(void **state) {
    (void)state;
    fd_score_kpi_t lo = linear(FD_KPI_COMPLAINTS, 100, FD_DIR_LOWER);
    /* lower, value 0, target 4: nothing bad happened → the cap (1.2) → 140 */
    fd_score_line_t l = one(lo, 1.0, true, 0, true, 4);
    assert_near(l.attainment, 1.2);
    assert_near(l.points, 140);
    /* ... with bands: the top band's minimum (1.0) → 100 */
    l = one(banded(FD_KPI_COMPLAINTS, 100, FD_DIR_LOWER), 1.0, true, 0, true, 4);
    assert_near(l.attainment, 1.0);
    assert_near(l.points, 100);
    /* lower, target 0 and value 0: exactly met → 1.0 → 100 (not the cap) */
    l = one(lo, 1.0, true, 0, true, 0);
    assert_near(l.attainment, 1.0);
    assert_near(l.points, 100);
    /* lower, target 0 and value 1: missed → 0 */
    l = one(lo, 1.0, true, 1, true, 0);
    assert_near(l.attainment, 0);
    assert_near(l.points, 0);
    /* lower, early in the period (expected 0) but the target is 4 and 1 happened: 0 / 1 = 0 */
    l = one(lo, 0.0, true, 1, true, 4);
    assert_near(l.attainment, 0);
    /* higher, target 0: nothing was asked → met, 1.0 → 100, whatever the value */
    l = one(linear(FD_KPI_WON, 100, FD_DIR_HIGHER), 1.0, true, 0, true, 0);
    assert_near(l.attainment, 1.0);
    assert_near(l.points, 100);
    /* higher, value 0 of a target 10 → 0 */
    assert_near(one(linear(FD_KPI_WON, 100, FD_DIR_HIGHER), 1.0, true, 0, true, 10).points, 0);
}

static void test_score_missing_target_or_data_renormalises(void **state) {
    (void)state;
    fd_scorecard_def_t def;
    def_init(&def);
    def.kpis[0] = linear(FD_KPI_WON_AMOUNT, 50, FD_DIR_HIGHER);
    def.kpis[1] = linear(FD_KPI_WIN_RATE, 30, FD_DIR_HIGHER);
    def.kpis[2] = linear(FD_KPI_COMPLAINTS, 20, FD_DIR_LOWER);
    def.nkpis = 3;
    fd_score_t sc;
    memset(&sc, 0, sizeof sc);
    line(&sc, 0, true, 45000, true, 50000); /* 0.9 → 80 points */
    line(&sc, 1, false, 0, true, 0.3);      /* win_rate undefined: no data */
    line(&sc, 2, true, 1, false, 0);        /* no complaints target */
    fd_score_compute(&def, 1.0, &sc);
    assert_int_equal(sc.nlines, 3);
    assert_int_equal(sc.lines[0].status, FD_LINE_SCORED);
    assert_int_equal(sc.lines[1].status, FD_LINE_NO_DATA);
    assert_int_equal(sc.lines[2].status, FD_LINE_NO_TARGET);
    assert_near(sc.lines[1].expected, 0.3); /* the target still shows what was asked */
    assert_near(sc.lines[1].weight_used, 0);
    assert_near(sc.lines[2].points, 0);
    /* only won_amount scored: its 50 becomes 100 → score = 80 → B */
    assert_near(sc.lines[0].weight_used, 100);
    assert_near(sc.lines[0].weighted, 80);
    assert_true(sc.scored);
    assert_near(sc.score, 80);
    assert_int_equal(sc.grade, 'B');
    /* with complaints' target (2, one complaint: 2/1 = 2 → cap → 140): weights 50 + 20 = 70 →
     * 71.43 and 28.57; 80 × 0.7143 + 140 × 0.2857 = (80 × 50 + 140 × 20) / 70 = 97.14 → A */
    line(&sc, 2, true, 1, true, 2);
    fd_score_compute(&def, 1.0, &sc);
    assert_near(sc.lines[0].weight_used, 5000.0 / 70);
    assert_near(sc.lines[2].weight_used, 2000.0 / 70);
    assert_near(sc.score, 6800.0 / 70);
    assert_int_equal(sc.grade, 'A');
    /* nothing scored: no score, grade '-' */
    line(&sc, 0, true, 1, false, 0);
    line(&sc, 2, true, 1, false, 0);
    fd_score_compute(&def, 1.0, &sc);
    assert_false(sc.scored);
    assert_near(sc.score, 0);
    assert_int_equal(sc.grade, '-');
}

static void test_score_grades_at_their_bounds(void **state) {
    (void)state;
    fd_scorecard_def_t def;
    def_init(&def);
    assert_int_equal(fd_score_grade(&def, 140), 'A');
    assert_int_equal(fd_score_grade(&def, 90), 'A');
    assert_int_equal(fd_score_grade(&def, 89.99), 'B');
    assert_int_equal(fd_score_grade(&def, 75), 'B');
    assert_int_equal(fd_score_grade(&def, 74.99), 'C');
    assert_int_equal(fd_score_grade(&def, 60), 'C');
    assert_int_equal(fd_score_grade(&def, 59.99), 'D');
    assert_int_equal(fd_score_grade(&def, 0), 'D');
    def.grade_min[0] = 95;
    assert_int_equal(fd_score_grade(&def, 94), 'B');
    assert_string_equal(fd_score_status_name(FD_LINE_NO_DATA), "no_data");
}

/* docs/scorecards.md, "A worked example": Anna Snelling, month:2026-11 at 2026-11-16 00:00
 * (15 of 30 days: elapsed 0.5). The metric fields summed over month:2026-11 of
 * <p>:rep:month:Anna Snelling and the target rows are traced there; here the KPI values. */
static void test_score_worked_example_of_the_docs(void **state) {
    (void)state;
    fd_scorecard_def_t def;
    def_init(&def);
    def.kpis[0] = linear(FD_KPI_WON_AMOUNT, 40, FD_DIR_HIGHER);
    def.kpis[1] = linear(FD_KPI_ACTIVITY, 20, FD_DIR_HIGHER);
    def.kpis[1].kpi.arg = 1;
    def.kpis[2] = linear(FD_KPI_CONV, 20, FD_DIR_HIGHER);
    def.kpis[2].kpi.arg = 0;
    def.kpis[3] = banded(FD_KPI_CYCLE_DAYS, 10, FD_DIR_LOWER);
    def.kpis[4] = linear(FD_KPI_COMPLAINTS, 10, FD_DIR_LOWER);
    def.nkpis = 5;
    fd_score_t sc;
    memset(&sc, 0, sizeof sc);
    line(&sc, 0, true, 42000, true, 80000); /* won_amount 4200000 hundredths; month row 80000 */
    line(&sc, 1, true, 13, true, 40);       /* activity:visit 13; "*" month row 40 */
    line(&sc, 2, true, 0.2, true, 0.25);    /* advanced:lead 2 / entered:lead 10; "*" 0.25 */
    line(&sc, 3, true, 45, true, 40);       /* 11664000000 ms / 3 / 86400000 = 45; "*" 40 */
    line(&sc, 4, true, 1, true, 2);         /* complaints 1; "*" month row 2 */
    fd_score_compute(&def, 0.5, &sc);
    /* won_amount: expected 80000 × 0.5 = 40000; 42000 / 40000 = 1.05;
     * 100 × (1.05 − 0.5) / 0.5 = 110 points; × 40 % = 44 */
    assert_near(sc.lines[0].expected, 40000);
    assert_near(sc.lines[0].attainment, 1.05);
    assert_near(sc.lines[0].points, 110);
    assert_near(sc.lines[0].weighted, 44);
    /* visits: expected 20; 13 / 20 = 0.65; 100 × 0.15 / 0.5 = 30; × 20 % = 6 */
    assert_near(sc.lines[1].expected, 20);
    assert_near(sc.lines[1].attainment, 0.65);
    assert_near(sc.lines[1].points, 30);
    assert_near(sc.lines[1].weighted, 6);
    /* conv:lead: a rate, expected 0.25; 0.2 / 0.25 = 0.8; 60 points; × 20 % = 12 */
    assert_near(sc.lines[2].expected, 0.25);
    assert_near(sc.lines[2].attainment, 0.8);
    assert_near(sc.lines[2].points, 60);
    assert_near(sc.lines[2].weighted, 12);
    /* cycle_days: lower, a ratio: 40 / 45 = 0.8889 → band 0.8: 60; × 10 % = 6 */
    assert_near(sc.lines[3].attainment, 0.888888889);
    assert_near(sc.lines[3].points, 60);
    assert_near(sc.lines[3].weighted, 6);
    /* complaints: lower, a volume: expected 2 × 0.5 = 1; 1 / 1 = 1.0 → 100; × 10 % = 10 */
    assert_near(sc.lines[4].expected, 1);
    assert_near(sc.lines[4].attainment, 1.0);
    assert_near(sc.lines[4].points, 100);
    assert_near(sc.lines[4].weighted, 10);
    /* 44 + 6 + 12 + 6 + 10 = 78 → B (75 <= 78 < 90) */
    assert_near(sc.score, 78);
    assert_int_equal(sc.grade, 'B');
    /* without the complaints target: 68 of 90 weight → 68 / 0.9 = 75.56, still B */
    sc.lines[4].has_target = false;
    fd_score_compute(&def, 0.5, &sc);
    assert_near(sc.lines[0].weight_used, 400.0 / 9);
    assert_near(sc.score, 680.0 / 9);
    assert_int_equal(sc.grade, 'B');
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_score_linear_points_and_cap),
        T(test_score_pace_for_volumes_not_ratios),
        T(test_score_bands),
        T(test_score_lower_is_better),
        T(test_score_zero_cases),
        T(test_score_missing_target_or_data_renormalises),
        T(test_score_grades_at_their_bounds),
        T(test_score_worked_example_of_the_docs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
