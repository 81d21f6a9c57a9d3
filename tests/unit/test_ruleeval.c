// SPDX-License-Identifier: MIT
// Unit tests of rule evaluation: parameters after overrides, per-id targets and filters, the
// threshold, target-pace and drift conditions, templates; expectations worked out by hand from
// docs/alerts.md.
#include "rules_fixture.h"

/* ---------------------------------------------------------------------------------------------
 * Parameters: overrides, per-id targets, filters */

static void test_params_team_override_applies_to_reps_of_that_team_only(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok(full_doc);
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "anna", "team-east", &p));
    assert_true(p.value == 0.15);
    assert_int_equal(p.min_samples, 5);
    assert_int_equal(p.for_ms, 2 * HOUR); /* not overridden */
    assert_true(p.hysteresis == 0.05);
    fd_rules_destroy(rs);
}

static void test_params_override_of_team_scope_uses_the_team_id(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'win_rate','scope':'team','window':'7d',"
                              "'drift':{'max_change':0.3},"
                              "'overrides':{'east':{'drift':{'max_change':0.5},'repeat_every':"
                              "'1h','resolve_for':'3h','for':'1h','hysteresis':0.2}}");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "east", "east", &p));
    assert_true(p.max_change == 0.5);
    assert_int_equal(p.repeat_ms, HOUR);
    assert_int_equal(p.resolve_for_ms, 3 * HOUR);
    assert_int_equal(p.for_ms, HOUR);
    assert_true(p.hysteresis == 0.2);
    assert_true(fd_rules_params(rs, 0, "west", "west", &p));
    assert_true(p.max_change == 0.3);
    assert_int_equal(p.repeat_ms, 0);
    fd_rules_destroy(rs);
}

static void test_params_override_op_of_threshold(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule(BASE OKT ",'overrides':{'t':{'threshold':{'op':'>='}}}");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "x", "t", &p));
    assert_int_equal(p.op, FD_OP_GE);
    assert_true(p.value == 1);
    assert_true(fd_rules_params(rs, 0, "x", "u", &p));
    assert_int_equal(p.op, FD_OP_LT);
    fd_rules_destroy(rs);
}

static void test_params_target_prefers_rep_then_team_then_value(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok(full_doc);
    static const struct {
        const char *id, *team;
        double want;
    } cases[] = {{"anna", "team-west", 30}, {"bob", "team-west", 15}, {"bob", "team-east", 20}};
    for (size_t i = 0; i < 3; i++) {
        fd_rule_params_t p;
        assert_true(fd_rules_params(rs, 1, cases[i].id, cases[i].team, &p));
        assert_true(p.value == cases[i].want);
        assert_true(p.tolerance == 0.25);
    }
    fd_rules_destroy(rs);
}

static void test_params_target_without_a_value_for_the_id_does_not_apply(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'won','scope':'rep','window':'month',"
                              "'target':{'teams':{'east':10}},"
                              "'overrides':{'north':{'target':{'value':4}}}");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "east", &p));
    assert_true(p.value == 10);
    assert_false(fd_rules_params(rs, 0, "a", "west", &p));
    /* an override's target.value is a target too */
    assert_true(fd_rules_params(rs, 0, "a", "north", &p));
    assert_true(p.value == 4);
    fd_rules_destroy(rs);
}

static void test_params_filters_match_listed_rep_or_listed_team(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule(BASE OKT ",'reps':['anna'],'teams':['east']");
    static const struct {
        const char *id, *team;
        bool want;
    } cases[] = {
        {"anna", "west", true}, {"bob", "east", true}, {"bob", "west", false}, {"", "", false}};
    for (size_t i = 0; i < 4; i++) {
        fd_rule_params_t p;
        assert_int_equal(fd_rules_params(rs, 0, cases[i].id, cases[i].team, &p), cases[i].want);
    }
    fd_rules_destroy(rs);
}

static void test_params_team_filter_of_team_scope_and_org_without_filters(void **state) {
    (void)state;
    fd_rules_t *rs =
        parse_ok("{'rules':["
                 "{'name':'t','kpi':'won','scope':'team','window':'7d'," OKT ",'teams':['east']},"
                 "{'name':'o','kpi':'won','scope':'org','window':'7d'," OKT "}]}");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "east", "east", &p));
    assert_false(fd_rules_params(rs, 0, "west", "west", &p));
    assert_true(fd_rules_params(rs, 1, "", "", &p));
    assert_false(fd_rules_params(rs, 2, "", "", &p)); /* no such rule */
    fd_rules_destroy(rs);
}

/* ---------------------------------------------------------------------------------------------
 * Threshold */

static void eval_with(fd_rules_t *rs, size_t i, const fd_rule_params_t *p, const int64_t *cur,
                      fd_rule_result_t *out) {
    fd_rule_input_t in = {.cur = cur, .elapsed = 1, .cur_days = 7};
    fd_rules_eval(rs, i, p, &in, out);
}

typedef struct {
    fd_op_t op;
    double bound, hyst;
    int64_t value;
    bool fire, clear;
} thr_case_t;

static const thr_case_t thr_cases[] = {
    /* no band: clear is exactly not fire */
    {FD_OP_LT, 10, 0, 9, true, false},
    {FD_OP_LT, 10, 0, 10, false, true},
    {FD_OP_LE, 10, 0, 10, true, false},
    {FD_OP_LE, 10, 0, 11, false, true},
    {FD_OP_GT, 10, 0, 11, true, false},
    {FD_OP_GT, 10, 0, 10, false, true},
    {FD_OP_GE, 10, 0, 10, true, false},
    {FD_OP_GE, 10, 0, 9, false, true},
    /* band of 2 on the healthy side */
    {FD_OP_LT, 10, 2, 9, true, false},
    {FD_OP_LT, 10, 2, 11, false, false},
    {FD_OP_LT, 10, 2, 12, false, true},
    {FD_OP_LE, 10, 2, 12, false, false},
    {FD_OP_LE, 10, 2, 13, false, true},
    {FD_OP_GT, 10, 2, 9, false, false},
    {FD_OP_GT, 10, 2, 8, false, true},
    {FD_OP_GE, 10, 2, 9, false, false},
    {FD_OP_GE, 10, 2, 8, false, false},
    {FD_OP_GE, 10, 2, 7, false, true},
};

static void test_threshold_fire_and_clear_for_each_op_and_band(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule(BASE OKT);
    for (size_t i = 0; i < sizeof thr_cases / sizeof thr_cases[0]; i++) {
        const thr_case_t *c = &thr_cases[i];
        fd_rule_params_t p;
        assert_true(fd_rules_params(rs, 0, "a", "t", &p));
        p.op = c->op;
        p.value = c->bound;
        p.hysteresis = c->hyst;
        int64_t f[NF] = {0};
        f[G_WON] = c->value;
        fd_rule_result_t r;
        eval_with(rs, 0, &p, f, &r);
        if (r.fire != c->fire || r.clear != c->clear || !r.defined || r.bound != c->bound ||
            r.value != (double)c->value)
            fail_msg("case %zu: fire %d clear %d", i, r.fire, r.clear);
    }
    fd_rules_destroy(rs);
}

static void test_threshold_ratio_below_min_samples_is_undefined_and_clears(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'win_rate','scope':'rep','window':'7d',"
                              "'threshold':{'op':'<','value':0.5},'min_samples':5");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "t", &p));
    int64_t f[NF] = {0};
    f[G_WON] = 0;
    f[G_LOST] = 4; /* win rate 0 but only 4 samples */
    fd_rule_result_t r;
    eval_with(rs, 0, &p, f, &r);
    assert_false(r.defined);
    assert_false(r.fire);
    assert_true(r.clear);
    assert_int_equal(r.samples, 4);
    f[G_LOST] = 5;
    eval_with(rs, 0, &p, f, &r);
    assert_true(r.defined);
    assert_true(r.fire);
    assert_false(r.clear);
    fd_rules_destroy(rs);
}

static void test_threshold_undefined_ratio_clears_even_without_min_samples(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'exit_conv:lead','scope':'rep','window':'7d',"
                              "'threshold':{'op':'<','value':0.5}");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "t", &p));
    int64_t f[NF] = {0};
    fd_rule_result_t r;
    eval_with(rs, 0, &p, f, &r);
    assert_false(r.defined);
    assert_false(r.fire);
    assert_true(r.clear);
    fd_rules_destroy(rs);
}

static void test_threshold_volume_kpi_ignores_min_samples(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'activity:call','scope':'rep','window':'7d',"
                              "'threshold':{'op':'<','value':5},'min_samples':10");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "t", &p));
    int64_t f[NF] = {0}; /* a silent rep: 0 calls, and that is the signal */
    fd_rule_result_t r;
    eval_with(rs, 0, &p, f, &r);
    assert_true(r.defined);
    assert_true(r.fire);
    assert_int_equal(r.samples, 0);
    fd_rules_destroy(rs);
}

static void test_threshold_stalled_uses_the_input_count(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'stalled:negotiation','scope':'rep','stalled_after':'21d',"
                              "'threshold':{'op':'>=','value':3}");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "t", &p));
    assert_int_equal(p.stalled_after_ms, 21 * DAY);
    fd_rule_input_t in = {.cur = NULL, .stalled = 3};
    fd_rule_result_t r;
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_true(r.fire);
    assert_true(r.value == 3);
    in.stalled = 2;
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_false(r.fire);
    assert_true(r.clear);
    fd_rules_destroy(rs);
}

/* ---------------------------------------------------------------------------------------------
 * Target pace */

typedef struct {
    fd_op_t op;
    double target, tol, hyst, elapsed;
    int64_t value;
    bool fire, clear;
    double expected;
} tgt_case_t;

static const tgt_case_t tgt_cases[] = {
    /* at least 20 by the end, half elapsed: pace expects 10; fires below 7.5 */
    {FD_OP_GE, 20, 0.25, 0, 0.5, 7, true, false, 10},
    {FD_OP_GE, 20, 0.25, 0, 0.5, 8, false, true, 10},
    {FD_OP_GE, 20, 0, 0, 0.5, 9, true, false, 10},
    {FD_OP_GE, 20, 0, 0, 0.5, 10, false, true, 10},
    /* band 0.1: clears at 10 * 0.85 = 8.5 */
    {FD_OP_GE, 20, 0.25, 0.1, 0.5, 8, false, false, 10},
    {FD_OP_GE, 20, 0.25, 0.1, 0.5, 9, false, true, 10},
    /* nothing elapsed: nothing expected, never behind */
    {FD_OP_GE, 20, 0.25, 0.1, 0, 0, false, true, 0},
    /* elapsed beyond the window is clamped to the whole target */
    {FD_OP_GE, 20, 0, 0, 1.5, 19, true, false, 20},
    /* at most 20: fires above 12.5 at half time */
    {FD_OP_LE, 20, 0.25, 0, 0.5, 13, true, false, 10},
    {FD_OP_LE, 20, 0.25, 0, 0.5, 12, false, true, 10},
    {FD_OP_LE, 20, 0.25, 0.1, 0.5, 12, false, false, 10},
    {FD_OP_LE, 20, 0.25, 0.1, 0.5, 11, false, true, 10},
};

static void test_target_pace_for_each_op_tolerance_and_band(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'activity:visit','scope':'rep','window':'week',"
                              "'target':{'value':20}");
    for (size_t i = 0; i < sizeof tgt_cases / sizeof tgt_cases[0]; i++) {
        const tgt_case_t *c = &tgt_cases[i];
        fd_rule_params_t p;
        assert_true(fd_rules_params(rs, 0, "a", "t", &p));
        p.op = c->op;
        p.value = c->target;
        p.tolerance = c->tol;
        p.hysteresis = c->hyst;
        int64_t f[NF] = {0};
        f[K_VISIT] = c->value;
        fd_rule_input_t in = {.cur = f, .elapsed = c->elapsed};
        fd_rule_result_t r;
        fd_rules_eval(rs, 0, &p, &in, &r);
        if (r.fire != c->fire || r.clear != c->clear || r.bound != c->expected ||
            r.target != c->target || !r.defined)
            fail_msg("case %zu: fire %d clear %d bound %g", i, r.fire, r.clear, r.bound);
    }
    fd_rules_destroy(rs);
}

static void test_target_on_a_ratio_expects_the_target_itself_with_min_samples(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'win_rate','scope':'rep','window':'month',"
                              "'target':{'value':0.3},'min_samples':4");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "t", &p));
    int64_t f[NF] = {0};
    f[G_WON] = 1;
    f[G_LOST] = 4; /* 0.2 < 0.3 */
    fd_rule_input_t in = {.cur = f, .elapsed = 0.1};
    fd_rule_result_t r;
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_true(r.fire);
    assert_true(r.bound == 0.3);
    f[G_LOST] = 2; /* 3 samples */
    memset(&r, 0, sizeof r);
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_false(r.defined);
    assert_false(r.fire);
    assert_true(r.clear);
    /* the resolve's notification still names the target and the pace's expectation */
    assert_true(r.target == 0.3);
    assert_true(r.bound == 0.3);
    fd_rules_destroy(rs);
}

/* ---------------------------------------------------------------------------------------------
 * Drift */

#define MAXDAYS 8

typedef struct {
    int64_t f[MAXDAYS][NF];
    const int64_t *ptr[MAXDAYS];
    int64_t cur[NF];
    fd_rule_input_t in;
} drift_in_t;

/* Calls per day in the baseline, and calls in the current window of cur_days days. */
static void calls_input(drift_in_t *d, const int64_t *daily, size_t n, int64_t cur, double days) {
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < n; i++) {
        d->f[i][K_CALL] = daily[i];
        d->ptr[i] = d->f[i];
    }
    d->cur[K_CALL] = cur;
    d->in = (fd_rule_input_t){.cur = d->cur, .cur_days = days, .days = d->ptr, .ndays = n};
}

static fd_rules_t *drift_rule(const char *drift, const char *extra) {
    char m[512];
    snprintf(m, sizeof m, "'kpi':'activity:call','scope':'rep','window':'7d','drift':{%s}%s", drift,
             extra);
    return one_rule(m);
}

static void run(fd_rules_t *rs, drift_in_t *d, fd_rule_result_t *r) {
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "t", &p));
    fd_rules_eval(rs, 0, &p, &d->in, r);
}

static void test_drift_volume_relative_drop_fires(void **state) {
    (void)state;
    fd_rules_t *rs = drift_rule("'max_change':0.3", ",'min_samples':0");
    static const int64_t daily[] = {10, 10, 10, 10};
    drift_in_t d;
    calls_input(&d, daily, 4, 35, 7); /* 5 a day against 10 a day: -50 % */
    fd_rule_result_t r;
    run(rs, &d, &r);
    assert_true(r.defined);
    assert_true(r.value == 5);
    assert_true(r.bound == 10);
    assert_true(r.change == -0.5);
    assert_true(r.z == 0); /* no spread: z not usable */
    assert_int_equal(r.baseline_samples, 40);
    assert_true(r.fire);
    assert_false(r.clear);
    calls_input(&d, daily, 4, 56, 7); /* 8 a day: -20 % */
    run(rs, &d, &r);
    assert_false(r.fire);
    assert_true(r.clear);
    fd_rules_destroy(rs);
}

static void test_drift_z_score_against_daily_values(void **state) {
    (void)state;
    fd_rules_t *rs = drift_rule("'z':2", ",'min_samples':0");
    static const int64_t daily[] = {8, 12, 8, 12}; /* mean 10, population sd 2 */
    drift_in_t d;
    calls_input(&d, daily, 4, 28, 7); /* 4 a day: z = -3 */
    fd_rule_result_t r;
    run(rs, &d, &r);
    assert_true(r.z == -3);
    assert_true(r.change == -0.6);
    assert_true(r.fire);
    calls_input(&d, daily, 4, 42, 7); /* 6 a day: z = -2, holds at exactly 2 */
    run(rs, &d, &r);
    assert_true(r.fire);
    calls_input(&d, daily, 4, 49, 7); /* 7 a day: z = -1.5 */
    run(rs, &d, &r);
    assert_false(r.fire);
    assert_true(r.clear);
    fd_rules_destroy(rs);
}

typedef struct {
    const char *drift;
    int64_t cur;
    bool fire;
} combo_case_t;

static void test_drift_require_both_either_and_direction(void **state) {
    (void)state;
    static const int64_t daily[] = {8, 12, 8, 12};
    /* current 28 in 7 days: 4 a day, change -0.6, z -3; 112: 16 a day, +0.6, z +3 */
    static const combo_case_t cases[] = {
        {"'max_change':0.3,'z':2", 28, true},
        {"'max_change':0.3,'z':4", 28, false},
        {"'max_change':0.3,'z':4,'require':'either'", 28, true},
        {"'max_change':0.7,'z':4,'require':'either'", 28, false},
        {"'max_change':0.7,'z':2,'require':'either'", 28, true},
        {"'max_change':0.3,'z':2,'direction':'up'", 28, false},
        {"'max_change':0.3,'z':2,'direction':'up'", 112, true},
        {"'max_change':0.3,'z':2", 112, false},
        {"'max_change':0.3,'z':2,'direction':'both'", 112, true},
        {"'max_change':0.3,'z':2,'direction':'both'", 28, true},
        {"'max_change':0.3,'z':2,'direction':'both'", 70, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_rules_t *rs = drift_rule(cases[i].drift, ",'min_samples':0");
        drift_in_t d;
        calls_input(&d, daily, 4, cases[i].cur, 7);
        fd_rule_result_t r;
        run(rs, &d, &r);
        if (r.fire != cases[i].fire) fail_msg("case %zu: fire %d", i, r.fire);
        assert_int_equal(r.clear, !r.fire); /* no band */
        fd_rules_destroy(rs);
    }
}

static void test_drift_hysteresis_fraction_keeps_it_inside_the_band(void **state) {
    (void)state;
    fd_rules_t *rs = drift_rule("'max_change':0.3", ",'min_samples':0,'hysteresis':0.1");
    static const int64_t daily[] = {100, 100};
    static const struct {
        int64_t cur;
        bool fire, clear;
    } cases[] = {
        {7 * 65, true, false},  /* -35 % */
        {7 * 72, false, false}, /* -28 %: relaxed bound 27 % still holds */
        {7 * 74, false, true},  /* -26 % */
    };
    for (size_t i = 0; i < 3; i++) {
        drift_in_t d;
        calls_input(&d, daily, 2, cases[i].cur, 7);
        fd_rule_result_t r;
        run(rs, &d, &r);
        if (r.fire != cases[i].fire || r.clear != cases[i].clear)
            fail_msg("case %zu: fire %d clear %d", i, r.fire, r.clear);
    }
    fd_rules_destroy(rs);
}

static void test_drift_volume_min_samples_applies_to_the_baseline_sum(void **state) {
    (void)state;
    fd_rules_t *rs = drift_rule("'max_change':0.3", ",'min_samples':10");
    static const int64_t daily[] = {2, 3, 4}; /* 9 in the baseline */
    drift_in_t d;
    calls_input(&d, daily, 3, 0, 7);
    fd_rule_result_t r;
    run(rs, &d, &r);
    assert_false(r.defined);
    assert_false(r.fire);
    assert_true(r.clear);
    assert_int_equal(r.baseline_samples, 9);
    static const int64_t more[] = {2, 3, 5}; /* 10: enough; the current 0 needs no samples */
    calls_input(&d, more, 3, 0, 7);
    run(rs, &d, &r);
    assert_true(r.defined);
    assert_true(r.fire);
    fd_rules_destroy(rs);
}

/* win_rate per day: won/lost given; the current window too. */
static void win_input(drift_in_t *d, const int64_t (*wl)[2], size_t n, int64_t won, int64_t lost) {
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < n; i++) {
        d->f[i][G_WON] = wl[i][0];
        d->f[i][G_LOST] = wl[i][1];
        d->ptr[i] = d->f[i];
    }
    d->cur[G_WON] = won;
    d->cur[G_LOST] = lost;
    d->in = (fd_rule_input_t){.cur = d->cur, .cur_days = 7, .days = d->ptr, .ndays = n};
}

static void test_drift_ratio_uses_summed_baseline_and_skips_undefined_days(void **state) {
    (void)state;
    char m[256];
    snprintf(m, sizeof m,
             "'kpi':'win_rate','scope':'rep','window':'7d',"
             "'drift':{'max_change':0.3,'z':1},'min_samples':4");
    fd_rules_t *rs = one_rule(m);
    /* days: 0.75 (4), undefined (0), 0.5 (4), 0.25 (4): baseline 6/12 = 0.5; daily mean 0.5,
     * population sd sqrt(1/24) */
    static const int64_t wl[][2] = {{3, 1}, {0, 0}, {2, 2}, {1, 3}};
    drift_in_t d;
    win_input(&d, wl, 4, 1, 4); /* 0.2 */
    fd_rule_result_t r;
    run(rs, &d, &r);
    assert_true(r.defined);
    assert_true(r.bound == 0.5);
    assert_int_equal(r.baseline_samples, 12);
    assert_int_equal(r.samples, 5);
    assert_true(r.change > -0.6 - 1e-9 && r.change < -0.6 + 1e-9);
    double want_z = (0.2 - 0.5) / 0.20412414523193154;
    assert_true(r.z > want_z - 1e-9 && r.z < want_z + 1e-9);
    assert_true(r.fire);
    fd_rules_destroy(rs);
}

static void test_drift_ratio_min_samples_on_both_sides(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'win_rate','scope':'rep','window':'7d',"
                              "'drift':{'max_change':0.3},'min_samples':4");
    static const int64_t wl[][2] = {{3, 1}, {2, 2}};
    drift_in_t d;
    fd_rule_result_t r;
    win_input(&d, wl, 2, 0, 3); /* current: 3 samples */
    run(rs, &d, &r);
    assert_false(r.defined);
    assert_false(r.fire);
    assert_true(r.clear);
    static const int64_t thin[][2] = {{1, 0}, {1, 1}}; /* baseline: 3 samples */
    win_input(&d, thin, 2, 0, 8);
    run(rs, &d, &r);
    assert_false(r.defined);
    assert_true(r.clear);
    win_input(&d, wl, 2, 0, 8);
    run(rs, &d, &r);
    assert_true(r.defined);
    assert_true(r.fire);
    fd_rules_destroy(rs);
}

static void test_drift_zero_baseline_counts_a_rise_as_huge(void **state) {
    (void)state;
    fd_rules_t *rs = drift_rule("'max_change':0.5,'direction':'up'", ",'min_samples':0");
    static const int64_t daily[] = {0, 0, 0};
    drift_in_t d;
    calls_input(&d, daily, 3, 7, 7);
    fd_rule_result_t r;
    run(rs, &d, &r);
    assert_true(r.bound == 0);
    assert_true(r.change >= 1e9);
    assert_true(r.fire);
    calls_input(&d, daily, 3, 0, 7);
    run(rs, &d, &r);
    assert_true(r.change == 0);
    assert_false(r.fire);
    fd_rules_destroy(rs);
}

static void test_drift_one_defined_day_makes_z_unusable(void **state) {
    (void)state;
    fd_rules_t *rs = drift_rule("'z':1", ",'min_samples':0");
    static const int64_t daily[] = {10};
    drift_in_t d;
    calls_input(&d, daily, 1, 0, 7);
    fd_rule_result_t r;
    run(rs, &d, &r);
    assert_true(r.z == 0);
    assert_false(r.fire);
    assert_true(r.clear);
    fd_rules_destroy(rs);
}

/* ---------------------------------------------------------------------------------------------
 * Templates and descriptions */

static void test_template_defaults_per_condition_and_locale(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok(full_doc);
    assert_string_equal(fd_rules_template(rs, 0, "en"), "low {value}");
    assert_string_equal(fd_rules_template(rs, 0, "zh"), "低 {value}");
    assert_non_null(strstr(fd_rules_template(rs, 1, "en"), "pace expects {bound} of target"));
    assert_non_null(strstr(fd_rules_template(rs, 2, "en"), "vs baseline {bound} ({change_pct}"));
    assert_non_null(strstr(fd_rules_template(rs, 3, "en"), "threshold {bound}, {samples} samples"));
    assert_non_null(strstr(fd_rules_template(rs, 3, "zh"), "阈值 {bound}"));
    assert_non_null(strstr(fd_rules_template(rs, 2, "zh"), "基线"));
    assert_non_null(strstr(fd_rules_template(rs, 1, "fr"), "pace expects")); /* en fallback */
    fd_rules_destroy(rs);
}

static void test_template_plain_string_serves_every_locale(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule(BASE OKT ",'summary':'{id} is low'");
    assert_string_equal(fd_rules_template(rs, 0, "en"), "{id} is low");
    assert_string_equal(fd_rules_template(rs, 0, "zh"), "{id} is low");
    fd_rules_destroy(rs);
    rs = one_rule(BASE OKT ",'summary':{'en':'only en'}");
    assert_string_equal(fd_rules_template(rs, 0, "en"), "only en");
    assert_non_null(strstr(fd_rules_template(rs, 0, "zh"), "阈值"));
    fd_rules_destroy(rs);
}

static void test_names_of_scopes_and_conditions(void **state) {
    (void)state;
    assert_string_equal(fd_scope_name(FD_SCOPE_REP), "rep");
    assert_string_equal(fd_scope_name(FD_SCOPE_TEAM), "team");
    assert_string_equal(fd_scope_name(FD_SCOPE_ORG), "org");
    assert_string_equal(fd_cond_name(FD_COND_THRESHOLD), "threshold");
    assert_string_equal(fd_cond_name(FD_COND_TARGET), "target");
    assert_string_equal(fd_cond_name(FD_COND_DRIFT), "drift");
}

static void test_params_org_scope_ignores_team_overrides_and_filters(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'won','scope':'org','window':'month',"
                              "'target':{'value':100,'tolerance':0.1}");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "", "", &p));
    assert_true(p.value == 100);
    assert_true(p.tolerance == 0.1);
    assert_true(fd_rules_params(rs, 0, NULL, NULL, &p));
    fd_rules_destroy(rs);
}

static void test_eval_of_an_unknown_rule_is_healthy(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule(BASE OKT);
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "t", &p));
    int64_t f[NF] = {0};
    fd_rule_input_t in = {.cur = f};
    fd_rule_result_t r;
    fd_rules_eval(rs, 7, &p, &in, &r);
    assert_false(r.fire);
    assert_true(r.clear);
    assert_false(r.defined);
    fd_rules_destroy(rs);
}

static void test_drift_volume_value_is_per_day_of_the_current_window(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'activity:call','scope':'rep','window':'24h',"
                              "'drift':{'max_change':0.3},'min_samples':0");
    static const int64_t daily[] = {10, 20};
    drift_in_t d;
    calls_input(&d, daily, 2, 9, 1); /* one day: 9 against 15 a day, -40 % */
    fd_rule_result_t r;
    run(rs, &d, &r);
    assert_true(r.value == 9);
    assert_true(r.bound == 15);
    assert_true(r.change == -0.4);
    assert_true(r.fire);
    fd_rules_destroy(rs);
}

static void test_target_of_zero_never_fires_at_least(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'won','scope':'rep','window':'day',"
                              "'target':{'value':0,'tolerance':0.5},'hysteresis':0.2");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "a", "t", &p));
    int64_t f[NF] = {0};
    fd_rule_input_t in = {.cur = f, .elapsed = 0.9};
    fd_rule_result_t r;
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_false(r.fire);
    assert_true(r.clear);
    assert_true(r.bound == 0);
    fd_rules_destroy(rs);
}

static void test_eval_score_and_grade_read_the_scorecard(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok("{'rules':["
                              " {'name':'s','kpi':'score','scope':'rep','window':'month',"
                              "  'threshold':{'op':'<','value':60},'hysteresis':5,'min_samples':3},"
                              " {'name':'g','kpi':'grade','scope':'rep','window':'month',"
                              "  'threshold':{'op':'<=','value':'D'}}]}");
    fd_rule_params_t p;
    fd_rule_result_t r;
    assert_true(fd_rules_params(rs, 0, "anna", "t", &p));
    /* no scorecard (the hash or its score absent): undefined, never fires, healthy */
    fd_rule_input_t in = {.cur = NULL, .elapsed = 0.5};
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_false(r.defined);
    assert_false(r.fire);
    assert_true(r.clear);
    /* 55.5 < 60 fires; one sample, min_samples does not apply to a scorecard */
    in.card_defined = true;
    in.card = 55.5;
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_true(r.defined);
    assert_true(r.fire);
    assert_false(r.clear);
    assert_true(r.value == 55.5);
    assert_true(r.bound == 60);
    assert_int_equal(r.samples, 1);
    /* 62 is inside the band (60 + 5): neither */
    in.card = 62;
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_false(r.fire);
    assert_false(r.clear);
    in.card = 65;
    fd_rules_eval(rs, 0, &p, &in, &r);
    assert_true(r.clear);
    /* grade D (1) <= D fires, C (2) does not */
    assert_true(fd_rules_params(rs, 1, "anna", "t", &p));
    in.card = 1;
    fd_rules_eval(rs, 1, &p, &in, &r);
    assert_true(r.fire);
    in.card = 2;
    fd_rules_eval(rs, 1, &p, &in, &r);
    assert_false(r.fire);
    assert_true(r.clear);
    fd_rules_destroy(rs);
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_params_team_override_applies_to_reps_of_that_team_only),
        T(test_eval_score_and_grade_read_the_scorecard),
        T(test_params_override_of_team_scope_uses_the_team_id),
        T(test_params_override_op_of_threshold),
        T(test_params_target_prefers_rep_then_team_then_value),
        T(test_params_target_without_a_value_for_the_id_does_not_apply),
        T(test_params_filters_match_listed_rep_or_listed_team),
        T(test_params_team_filter_of_team_scope_and_org_without_filters),
        T(test_threshold_fire_and_clear_for_each_op_and_band),
        T(test_threshold_ratio_below_min_samples_is_undefined_and_clears),
        T(test_threshold_undefined_ratio_clears_even_without_min_samples),
        T(test_threshold_volume_kpi_ignores_min_samples),
        T(test_threshold_stalled_uses_the_input_count),
        T(test_target_pace_for_each_op_tolerance_and_band),
        T(test_target_on_a_ratio_expects_the_target_itself_with_min_samples),
        T(test_drift_volume_relative_drop_fires),
        T(test_drift_z_score_against_daily_values),
        T(test_drift_require_both_either_and_direction),
        T(test_drift_hysteresis_fraction_keeps_it_inside_the_band),
        T(test_drift_volume_min_samples_applies_to_the_baseline_sum),
        T(test_drift_ratio_uses_summed_baseline_and_skips_undefined_days),
        T(test_drift_ratio_min_samples_on_both_sides),
        T(test_drift_zero_baseline_counts_a_rise_as_huge),
        T(test_drift_one_defined_day_makes_z_unusable),
        T(test_template_defaults_per_condition_and_locale),
        T(test_template_plain_string_serves_every_locale),
        T(test_names_of_scopes_and_conditions),
        T(test_params_org_scope_ignores_team_overrides_and_filters),
        T(test_eval_of_an_unknown_rule_is_healthy),
        T(test_drift_volume_value_is_per_day_of_the_current_window),
        T(test_target_of_zero_never_fires_at_least),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
