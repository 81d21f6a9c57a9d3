// SPDX-License-Identifier: MIT
// Unit tests of KPI values, their samples and the fields each reads, worked out by hand from
// docs/alerts.md.
#include "rules_fixture.h"

#define G_CYCLE_SUM   47
#define G_CYCLE_COUNT 48

/* ---------------------------------------------------------------------------------------------
 * KPI values */

typedef struct {
    fd_kpi_t kpi;
    int f1, f2; /* field indices to set, -1 for none */
    int64_t v1, v2;
    bool defined;
    double value;
    int64_t samples;
} kpi_case_t;

static const kpi_case_t kpi_cases[] = {
    {{FD_KPI_ENTERED, PROPOSAL}, SF(PROPOSAL, F_ENTERED), -1, 7, 0, true, 7, 7},
    {{FD_KPI_ENTERED, PROPOSAL}, -1, -1, 0, 0, true, 0, 0},
    {{FD_KPI_EXIT_CONV, PROPOSAL},
     SF(PROPOSAL, F_MOVED_ON),
     SF(PROPOSAL, F_LOST_AT),
     3,
     1,
     true,
     0.75,
     4},
    {{FD_KPI_EXIT_CONV, PROPOSAL}, -1, -1, 0, 0, false, 0, 0},
    {{FD_KPI_CONV, QUALIFIED},
     SF(QUALIFIED, F_ADVANCED),
     SF(QUALIFIED, F_ENTERED),
     2,
     8,
     true,
     0.25,
     8},
    {{FD_KPI_CONV, QUALIFIED}, SF(QUALIFIED, F_ADVANCED), -1, 2, 0, false, 0, 0},
    {{FD_KPI_DWELL_HOURS, LEAD},
     SF(LEAD, F_DWELL_SUM),
     SF(LEAD, F_DWELL_COUNT),
     3 * 2 * 3600000,
     3,
     true,
     2,
     3},
    {{FD_KPI_DWELL_HOURS, LEAD}, SF(LEAD, F_DWELL_SUM), -1, 5, 0, false, 0, 0},
    {{FD_KPI_WIN_RATE, -1}, G_WON, G_LOST, 1, 3, true, 0.25, 4},
    {{FD_KPI_WIN_RATE, -1}, -1, -1, 0, 0, false, 0, 0},
    {{FD_KPI_WON, -1}, G_WON, -1, 5, 0, true, 5, 5},
    {{FD_KPI_WON_AMOUNT, -1}, G_AMOUNT, G_WON, 123456, 2, true, 1234.56, 2},
    {{FD_KPI_WON_AMOUNT, -1}, -1, -1, 0, 0, true, 0, 0},
    {{FD_KPI_ACTIVITY, 1}, K_VISIT, K_CALL, 5, 99, true, 5, 5},
    {{FD_KPI_FEEDBACK_AVG, -1}, G_FB_SUM, G_FB_COUNT, 1350, 3, true, 4.5, 3},
    {{FD_KPI_FEEDBACK_AVG, -1}, G_FB_SUM, -1, 1350, 0, false, 0, 0},
    {{FD_KPI_COMPLAINTS, -1}, G_COMPL, -1, 2, 0, true, 2, 2},
    {{FD_KPI_STALLED, NEGOTIATION}, -1, -1, 0, 0, false, 0, 0},
    /* 3 deals won in 30, 45 and 60 days: 135 days = 11664000000 ms; / 3 / 86400000 = 45 */
    {{FD_KPI_CYCLE_DAYS, -1}, G_CYCLE_SUM, G_CYCLE_COUNT, INT64_C(11664000000), 3, true, 45, 3},
    {{FD_KPI_CYCLE_DAYS, -1}, G_CYCLE_SUM, -1, 5, 0, false, 0, 0},
    /* 1234.56 won over 4 deals: 123456 / (4 x 100) = 308.64 */
    {{FD_KPI_AVG_WON_AMOUNT, -1}, G_AMOUNT, G_WON, 123456, 4, true, 308.64, 4},
    {{FD_KPI_AVG_WON_AMOUNT, -1}, -1, -1, 0, 0, false, 0, 0},
};

static void test_kpi_values_samples_and_undefined(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof kpi_cases / sizeof kpi_cases[0]; i++) {
        const kpi_case_t *c = &kpi_cases[i];
        int64_t f[NF] = {0};
        if (c->f1 >= 0) f[c->f1] = c->v1;
        if (c->f2 >= 0) f[c->f2] = c->v2;
        double v = -1;
        int64_t s = -1;
        bool def = fd_kpi_value(fn, c->kpi, f, &v, &s);
        if (def != c->defined || v < c->value - 1e-9 || v > c->value + 1e-9 ||
            (c->defined && s != c->samples))
            fail_msg("case %zu: got %d %g %lld", i, def, v, (long long)s);
    }
}

static void test_kpi_fields_lists_what_each_kpi_reads(void **state) {
    (void)state;
    size_t idx[2];
    assert_int_equal(fd_kpi_fields(fn, (fd_kpi_t){FD_KPI_EXIT_CONV, PROPOSAL}, idx), 2);
    assert_int_equal(idx[0], SF(PROPOSAL, F_MOVED_ON));
    assert_int_equal(idx[1], SF(PROPOSAL, F_LOST_AT));
    assert_int_equal(fd_kpi_fields(fn, (fd_kpi_t){FD_KPI_ACTIVITY, 0}, idx), 1);
    assert_int_equal(idx[0], K_CALL);
    assert_int_equal(fd_kpi_fields(fn, (fd_kpi_t){FD_KPI_WON_AMOUNT, -1}, idx), 2);
    assert_int_equal(idx[0], G_AMOUNT);
    assert_int_equal(fd_kpi_fields(fn, (fd_kpi_t){FD_KPI_STALLED, LEAD}, idx), 0);
    assert_int_equal(fd_kpi_fields(fn, (fd_kpi_t){FD_KPI_CYCLE_DAYS, -1}, idx), 2);
    assert_int_equal(idx[0], G_CYCLE_SUM);
    assert_int_equal(idx[1], G_CYCLE_COUNT);
    assert_int_equal(fd_kpi_fields(fn, (fd_kpi_t){FD_KPI_AVG_WON_AMOUNT, -1}, idx), 2);
    assert_int_equal(idx[0], G_AMOUNT);
    assert_int_equal(idx[1], G_WON);
}

static void test_kpi_parse_names_round_trip_and_errors(void **state) {
    (void)state;
    static const char *const good[] = {"entered:won",
                                       "exit_conv:proposal",
                                       "conv:lead",
                                       "dwell_hours:qualified",
                                       "win_rate",
                                       "won",
                                       "won_amount",
                                       "activity:visit",
                                       "feedback_avg",
                                       "complaints",
                                       "stalled:negotiation",
                                       "cycle_days",
                                       "avg_won_amount"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fd_kpi_t k = {FD_KPI_COUNT, -7};
        char err[256] = "", name[96];
        if (!fd_kpi_parse(fn, good[i], strlen(good[i]), &k, err, sizeof err))
            fail_msg("%s: %s", good[i], err);
        fd_kpi_name(fn, k, name, sizeof name);
        assert_string_equal(name, good[i]);
    }
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"wins", "unknown KPI \"wins\"; valid: entered:<stage>, exit_conv:<stage>"},
        {"won:lead", "won takes no argument, found \"won:lead\""},
        {"conv", "conv needs a stage (\"conv:<stage>\"), found \"conv\""},
        {"conv:", "conv needs a stage"},
        {"activity:fax", "unknown activity kind in \"activity:fax\"; valid: call, visit, email"},
        {"conv:won", "won is the won stage: only entered:won is valid there"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fd_kpi_t k = {FD_KPI_WON, 3};
        char err[512] = "";
        assert_false(fd_kpi_parse(fn, bad[i].in, strlen(bad[i].in), &k, err, sizeof err));
        assert_int_equal(k.kind, FD_KPI_WON); /* untouched */
        assert_int_equal(k.arg, 3);
        if (strstr(err, bad[i].msg) == NULL) fail_msg("%s: %s", bad[i].in, err);
    }
    /* the list of valid KPIs names the new ones */
    char err[512];
    assert_false(fd_kpi_parse(fn, "x", 1, &(fd_kpi_t){0}, err, sizeof err));
    assert_non_null(strstr(err, "cycle_days, avg_won_amount"));
}

static void test_kpi_volume_kinds(void **state) {
    (void)state;
    static const bool want[FD_KPI_COUNT] = {
        [FD_KPI_ENTERED] = true,  [FD_KPI_WON] = true,        [FD_KPI_WON_AMOUNT] = true,
        [FD_KPI_ACTIVITY] = true, [FD_KPI_COMPLAINTS] = true, [FD_KPI_STALLED] = true};
    for (int k = 0; k < FD_KPI_COUNT; k++)
        assert_int_equal(fd_kpi_is_volume((fd_kpi_kind_t)k), want[k]);
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_kpi_values_samples_and_undefined),
        T(test_kpi_fields_lists_what_each_kpi_reads),
        T(test_kpi_volume_kinds),
        T(test_kpi_parse_names_round_trip_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
