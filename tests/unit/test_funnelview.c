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
        "\"0.00\",\"feedback_avg\":null,\"complaints\":0,\"events\":0,\"cycle_sum_ms\":0,"
        "\"cycle_count\":0,\"cycle_days\":null,\"avg_won_amount\":null,\"pipeline\":{\"window\":"
        "\"all\",\"stages\":[{\"stage\":\"lead\",\"open\":0,\"open_amount\":\"0.00\"}],\"open\":0,"
        "\"open_amount\":\"0.00\"},\"velocity\":{\"value\":null,\"unit\":\"per day\",\"formula\":"
        "\"open × win_rate × avg_won_amount ÷ cycle_days\",\"inputs\":{\"open\":0,\"win_rate\":"
        "null,\"avg_won_amount\":null,\"cycle_days\":null}},\"fields\":{\"entered:lead\":"
        "2,\"conv:lead\":0.5000,\"won_amount\":\"1054.00\",\"entered:won\":1}}");
    free(json);
    fd_funnel_destroy(fn);
}

/* The pipeline comes from the "all" hash whatever the window; velocity is open × win_rate ×
 * avg_won_amount ÷ cycle_days, worked by hand: 3 won, 1 lost (0.75), 1500.00 won (500.00 a
 * deal), 2 cycles of 10 and 20 days (15 days), 4 open deals: 4 × 0.75 × 500 / 15 = 100.00. */
static void test_funnelview_pipeline_from_all_and_velocity(void **state) {
    (void)state;
    fd_funnel_t *fn = NULL;
    char err[128];
    static const char *const three[] = {"lead", "proposal", "won"};
    assert_int_equal(fd_funnel_new(three, 3, kinds, 1, &fn, err, sizeof err), FD_OK);
    const char *f[] = {"won",         "lost",       "won_amount",    "cycle_sum_ms",
                       "cycle_count", "cycle_days", "avg_won_amount"};
    const char *v[] = {"3", "1", "1500.00", "2592000000", "2", "15.00", "500.00"};
    const char *af[] = {"open:lead", "open_amount:lead", "open:proposal", "open_amount:proposal",
                        "open",      "open_amount"};
    const char *av[] = {"1", "100.50", "3", "2000.00", "4", "2100.50"};
    fd_funnelview_t view = {.scope = "org",
                            .window = "month:2026-11",
                            .timezone = "UTC",
                            .bounded = true,
                            .start_ms = 1793491200000,
                            .end_ms = 1796083200000,
                            .position = "1-0,0-0",
                            .fields = f,
                            .values = v,
                            .nfields = 7,
                            .all_fields = af,
                            .all_values = av,
                            .nall = 6};
    double value = 0, in[3];
    bool has[3];
    assert_true(fd_funnelview_velocity(fn, &view, 4, &value, in, has));
    assert_true(value > 99.999999 && value < 100.000001);
    assert_true(has[0] && has[1] && has[2]);
    char *json = NULL;
    assert_int_equal(fd_funnelview_json(fn, &view, &json), FD_OK);
    assert_non_null(strstr(json,
                           "\"cycle_sum_ms\":2592000000,\"cycle_count\":2,\"cycle_days\":15.00,"
                           "\"avg_won_amount\":500.00,"));
    assert_non_null(strstr(json, "\"pipeline\":{\"window\":\"all\",\"stages\":[{\"stage\":\"lead\","
                                 "\"open\":1,\"open_amount\":\"100.50\"},{\"stage\":\"proposal\","
                                 "\"open\":3,\"open_amount\":\"2000.00\"}],\"open\":4,"
                                 "\"open_amount\":\"2100.50\"}"));
    assert_non_null(strstr(json, "\"velocity\":{\"value\":100.00,\"unit\":\"per day\""));
    assert_non_null(strstr(json, "\"inputs\":{\"open\":4,\"win_rate\":0.7500,"
                                 "\"avg_won_amount\":500.00,\"cycle_days\":15.00}"));
    free(json);
    /* no cycle: velocity undefined whatever the rest */
    view.nfields = 4;
    assert_false(fd_funnelview_velocity(fn, &view, 4, &value, in, has));
    assert_false(has[2]);
    /* no deal decided: no win rate */
    view.nfields = 0;
    assert_false(fd_funnelview_velocity(fn, &view, 4, &value, in, has));
    assert_false(has[0] || has[1]);
    fd_funnel_destroy(fn);
}

/* The breakdown hash of docs/redis.md as typed JSON: numbers as numbers, the KPI lines in the
 * order of `kpis`, absent values null, the adjustments parsed, an unreadable one kept as text. */
static void test_funnelview_scorecard_types_lines_and_adjustments(void **state) {
    (void)state;
    const char *f[] = {"scope",
                       "id",
                       "team",
                       "period",
                       "start_ms",
                       "end_ms",
                       "elapsed",
                       "state",
                       "score",
                       "grade",
                       "rank_org",
                       "of_org",
                       "kpis",
                       "won_amount.value",
                       "won_amount.target",
                       "won_amount.points",
                       "won_amount.status",
                       "conv:lead.status",
                       "conv:lead.weight",
                       "adjustments"};
    const char *v[] = {"rep",
                       "anna",
                       "north",
                       "month:2026-11",
                       "1793491200000",
                       "1796083200000",
                       "0.5000",
                       "final",
                       "72.50",
                       "C",
                       "2",
                       "7",
                       "won_amount,conv:lead",
                       "1500.00",
                       "3000.00",
                       "50.00",
                       "scored",
                       "no_data",
                       "40.00",
                       "1"};
    const char *adj[] = {"{\"kpi\":\"won_amount\",\"delta\":100.0}", "not json"};
    char *json = NULL;
    assert_int_equal(fd_funnelview_scorecard_json(f, v, 20, adj, 2, &json), FD_OK);
    assert_non_null(strstr(json,
                           "\"scope\":\"rep\",\"id\":\"anna\",\"team\":\"north\","
                           "\"period\":\"month:2026-11\",\"state\":\"final\","
                           "\"start\":\"2026-11-01T00:00:00Z\",\"end\":\"2026-12-01T00:00:00Z\""));
    assert_non_null(strstr(json, "\"elapsed\":0.5000,\"score\":72.50,\"grade\":\"C\","
                                 "\"rank_org\":2,\"of_org\":7,\"rank_team\":null"));
    assert_non_null(strstr(json, "\"kpis\":[{\"kpi\":\"won_amount\",\"status\":\"scored\","
                                 "\"direction\":null,\"value\":1500.00,\"samples\":null,"
                                 "\"target\":3000.00,"));
    assert_non_null(strstr(json, "\"points\":50.00,"));
    assert_non_null(strstr(json, "{\"kpi\":\"conv:lead\",\"status\":\"no_data\",\"direction\":null,"
                                 "\"value\":null,"));
    assert_non_null(strstr(json, "\"adjustment_count\":1,\"adjusted_score\":null,"
                                 "\"adjusted_grade\":null,\"adjustments\":[{\"kpi\":\"won_amount\","
                                 "\"delta\":100},\"not json\"]}"));
    free(json);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_funnelview_kinds_of_redis_md_fields),
        cmocka_unit_test(test_funnelview_json_types_values_and_defaults),
        cmocka_unit_test(test_funnelview_pipeline_from_all_and_velocity),
        cmocka_unit_test(test_funnelview_scorecard_types_lines_and_adjustments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
