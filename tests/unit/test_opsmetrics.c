// SPDX-License-Identifier: MIT
// Unit tests of funneld's metric table: names as Prometheus advises, bounded labels only, every
// rejection reason exposed at 0, the health state.
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app/opsmetrics.h"

static bool ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static void test_opsmetrics_names_follow_prometheus_advice(void **state) {
    (void)state;
    for (int i = 0; i < FD_OM_COUNT; i++) {
        const fd_prom_def_t *d = fd_opsmetrics_def((fd_om_id_t)i);
        assert_non_null(d->name);
        assert_int_equal(strncmp(d->name, "funneld_", 8), 0);
        assert_true(d->type == FD_PROM_COUNTER ? ends_with(d->name, "_total")
                                               : !ends_with(d->name, "_total"));
        if (d->type == FD_PROM_HISTOGRAM) assert_true(ends_with(d->name, "_seconds"));
        for (int k = 0; k < FD_PROM_LABELS_MAX && d->labels[k]; k++) {
            /* no high-cardinality label: never a rep, team, deal or event id */
            assert_null(strstr(d->labels[k], "rep"));
            assert_null(strstr(d->labels[k], "team"));
            assert_null(strstr(d->labels[k], "deal"));
            assert_null(strstr(d->labels[k], "id"));
            assert_true(d->max_series >= 1 && d->max_series <= FD_OM_PARTITIONS_MAX);
        }
    }
}

static void test_opsmetrics_exposes_every_reason_and_build_info(void **state) {
    (void)state;
    fd_opsmetrics_t *om;
    assert_int_equal(fd_opsmetrics_new("9.9.9", &om), FD_OK);
    fd_prom_add(fd_opsmetrics_rejected(om, FD_REJECT_NOT_JSON), 2);
    assert_null(fd_opsmetrics_rejected(om, FD_REJECT_NONE));
    fd_prom_series_t *off = fd_opsmetrics_part(om, FD_OM_PART_OFFSET, "crm.events", 3);
    assert_non_null(off);
    fd_prom_set(off, 42);
    char *text;
    size_t len;
    assert_int_equal(fd_opsmetrics_render(om, &text, &len), FD_OK);
    assert_non_null(strstr(text, "funneld_build_info{version=\"9.9.9\"} 1\n"));
    assert_non_null(strstr(text, "funneld_messages_rejected_total{reason=\"invalid_json\"} 2\n"));
    for (int r = 1; r < FD_REJECT_COUNT; r++) {
        char line[128];
        snprintf(line, sizeof line, "funneld_messages_rejected_total{reason=\"%s\"} ",
                 fd_reject_name((fd_reject_t)r));
        assert_non_null(strstr(text, line));
    }
    assert_non_null(
        strstr(text, "funneld_partition_next_offset{topic=\"crm.events\",partition=\"3\"} 42\n"));
    assert_non_null(strstr(text, "# TYPE funneld_apply_duration_seconds histogram\n"));
    free(text);
    fd_opsmetrics_destroy(om);
}

static void test_opsmetrics_health_state(void **state) {
    (void)state;
    fd_opsmetrics_t *om;
    assert_int_equal(fd_opsmetrics_new("1", &om), FD_OK);
    bool redis, assigned;
    int64_t lag;
    assert_int_equal(fd_opsmetrics_last_beat(om), 0);
    fd_opsmetrics_ready(om, &redis, &assigned, &lag);
    assert_false(redis);
    assert_false(assigned);
    assert_int_equal(lag, -1);
    fd_opsmetrics_beat(om, 1234);
    fd_opsmetrics_set_redis(om, true);
    fd_opsmetrics_set_group(om, true, 7);
    fd_opsmetrics_ready(om, &redis, &assigned, &lag);
    assert_true(redis && assigned);
    assert_int_equal(lag, 7);
    assert_int_equal(fd_opsmetrics_last_beat(om), 1234);
    fd_opsmetrics_destroy(om);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opsmetrics_names_follow_prometheus_advice),
        cmocka_unit_test(test_opsmetrics_exposes_every_reason_and_build_info),
        cmocka_unit_test(test_opsmetrics_health_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
