// SPDX-License-Identifier: MIT
// Unit tests of funnelview: field kinds of docs/redis.md and the JSON of /api/v1/funnel (typed
// values: counters integers, amounts strings verbatim, rates numbers, absent defaults), written
// by hand from docs/http.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/funnelview.h"

static const char *const stages[] = {"lead", "won"};
static const char *const kinds[] = {"call"};

static void test_funnelview_kinds_of_redis_md_fields(void **state) {
    (void)state;
    fd_funnel_t *fn = NULL;
    char err[128];
    assert_int_equal(fd_funnel_new(stages, 2, kinds, 1, &fn, err, sizeof err), FD_OK);
    assert_int_equal(fd_funnelview_kind(fn, "entered:lead"), FD_FIELD_COUNTER);
    assert_int_equal(fd_funnelview_kind(fn, "entered:won"), FD_FIELD_COUNTER);
    assert_int_equal(fd_funnelview_kind(fn, "advanced:won"), FD_FIELD_UNKNOWN);
    assert_int_equal(fd_funnelview_kind(fn, "won_amount"), FD_FIELD_AMOUNT);
    assert_int_equal(fd_funnelview_kind(fn, "conv:lead"), FD_FIELD_RATE);
    assert_int_equal(fd_funnelview_kind(fn, "feedback_avg"), FD_FIELD_RATE);
    assert_int_equal(fd_funnelview_kind(fn, "activity:call"), FD_FIELD_COUNTER);
    assert_int_equal(fd_funnelview_kind(fn, "activity:visit"), FD_FIELD_UNKNOWN);
    fd_funnel_destroy(fn);
}

static void test_funnelview_json_types_values_and_defaults(void **state) {
    (void)state;
    fd_funnel_t *fn = NULL;
    char err[128];
    assert_int_equal(fd_funnel_new(stages, 2, kinds, 1, &fn, err, sizeof err), FD_OK);
    const char *f[] = {"entered:lead", "conv:lead", "won_amount", "entered:won"};
    const char *v[] = {"2", "0.5000", "1054.00", "1"};
    fd_funnelview_t view = {.scope = "rep",
                            .id = "anna",
                            .window = "day:2026-11-22",
                            .timezone = "UTC",
                            .bounded = true,
                            .start_ms = 1795305600000,
                            .end_ms = 1795392000000,
                            .position = "1-0,0-0",
                            .fields = f,
                            .values = v,
                            .nfields = 4};
    char *json = NULL;
    assert_int_equal(fd_funnelview_json(fn, &view, &json), FD_OK);
    assert_string_equal(
        json,
        "{\"scope\":\"rep\",\"id\":\"anna\",\"window\":\"day:2026-11-22\","
        "\"window_start\":\"2026-11-22T00:00:00Z\",\"window_end\":\"2026-11-23T00:00:00Z\","
        "\"timezone\":\"UTC\",\"exists\":true,\"position\":\"1-0,0-0\",\"stages\":[{\"stage\":"
        "\"lead\",\"entered\":2,\"advanced\":0,\"conv\":0.5000,\"moved_on\":0,\"lost_at\":0,"
        "\"exit_conv\":null,\"dwell_sum_ms\":0,\"dwell_count\":0,\"dwell_hours\":null},"
        "{\"stage\":\"won\",\"entered\":1}],\"won\":0,\"lost\":0,\"won_amount\":\"1054.00\","
        "\"win_rate\":null,\"activities\":{\"call\":0},\"feedback_count\":0,\"feedback_sum\":"
        "\"0.00\",\"feedback_avg\":null,\"complaints\":0,\"events\":0,\"fields\":{\"entered:lead\":"
        "2,\"conv:lead\":0.5000,\"won_amount\":\"1054.00\",\"entered:won\":1}}");
    free(json);
    fd_funnel_destroy(fn);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_funnelview_kinds_of_redis_md_fields),
        cmocka_unit_test(test_funnelview_json_types_values_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
