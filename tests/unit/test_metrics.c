// SPDX-License-Identifier: MIT
// Unit tests of the metrics table's new rows (cycle_days, avg_won_amount) and of
// fd_metrics_velocity; expected values worked out by hand from docs/redis.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/funnel.h"
#include "model/metrics.h"

static fd_funnel_t *new_funnel(void) {
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    static const char *const kinds[] = {"call"};
    fd_funnel_t *fn = NULL;
    char err[128];
    assert_int_equal(fd_funnel_new(stages, 5, kinds, 1, &fn, err, sizeof err), FD_OK);
    return fn;
}

/* The derived field named name of fn, formatted from fields; false when absent. */
static bool derived(const fd_funnel_t *fn, const int64_t *fields, const char *name, char *out,
                    size_t size) {
    for (size_t i = 0; i < fd_metrics_count(fn); i++) {
        fd_metric_t m;
        char n[64];
        fd_metrics_get(fn, i, &m);
        fd_metrics_name(fn, &m, n, sizeof n);
        if (strcmp(n, name) != 0) continue;
        double v;
        int64_t den;
        if (!fd_metrics_value(&m, fields, &v, &den)) return false;
        fd_metrics_format(&m, v, out, size);
        return true;
    }
    fail_msg("no derived field %s", name);
    return false;
}

static void test_metrics_cycle_days_and_avg_won_amount(void **state) {
    (void)state;
    fd_funnel_t *fn = new_funnel();
    int64_t f[128] = {0};
    char out[32];
    assert_false(derived(fn, f, "cycle_days", out, sizeof out));
    assert_false(derived(fn, f, "avg_won_amount", out, sizeof out));
    f[fd_funnel_field_global(fn, FD_G_CYCLE_SUM_MS)] = 32400000; /* 9 h: 0.375 days */
    f[fd_funnel_field_global(fn, FD_G_CYCLE_COUNT)] = 1;
    f[fd_funnel_field_global(fn, FD_G_WON)] = 3;
    f[fd_funnel_field_global(fn, FD_G_WON_AMOUNT)] = 100001; /* 1000.01 over 3 deals */
    assert_true(derived(fn, f, "cycle_days", out, sizeof out));
    assert_string_equal(out, "0.38");
    assert_true(derived(fn, f, "avg_won_amount", out, sizeof out));
    assert_string_equal(out, "333.34"); /* 333.33666... */
    fd_funnel_destroy(fn);
}

static void test_metrics_velocity(void **state) {
    (void)state;
    fd_funnel_t *fn = new_funnel();
    int64_t f[128] = {0};
    double v = -1;
    assert_false(fd_metrics_velocity(fn, f, 10, &v, NULL, NULL)); /* nothing won */
    assert_true(v == 0);
    f[fd_funnel_field_global(fn, FD_G_WON)] = 2;
    f[fd_funnel_field_global(fn, FD_G_LOST)] = 2;
    f[fd_funnel_field_global(fn, FD_G_WON_AMOUNT)] = 200000;      /* 1000.00 a deal */
    assert_false(fd_metrics_velocity(fn, f, 10, &v, NULL, NULL)); /* no cycle */
    f[fd_funnel_field_global(fn, FD_G_CYCLE_COUNT)] = 2;
    assert_false(fd_metrics_velocity(fn, f, 10, &v, NULL, NULL)); /* cycle_days 0 */
    f[fd_funnel_field_global(fn, FD_G_CYCLE_SUM_MS)] = 2 * 20 * INT64_C(86400000); /* 20 days */
    /* 10 open x 0.5 x 1000.00 / 20 days = 250 a day */
    assert_true(fd_metrics_velocity(fn, f, 10, &v, NULL, NULL));
    assert_true(v > 249.999999 && v < 250.000001);
    assert_true(fd_metrics_velocity(fn, f, 0, &v, NULL, NULL));
    assert_true(v == 0);
    fd_funnel_destroy(fn);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_cycle_days_and_avg_won_amount),
        cmocka_unit_test(test_metrics_velocity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
