// SPDX-License-Identifier: MIT
// Unit tests of the window plan: the hashes a rolling window, a calendar window and a drift
// baseline read at one clock (hourly buckets, whole days, shared hashes read once), how the read
// values sum into each rule's input, and incomplete windows before the first event; the window
// ids are worked out by hand for 2026-11-22T10:30Z in UTC (docs/alerts.md). Every window is read
// as of the clock: up to 10:00, the start of the clock's hour, never the hour in progress.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alerting/winplan.h"

#define NOW  INT64_C(1795343400000) /* 2026-11-22T10:30:00Z */
#define HOUR INT64_C(3600000)
#define DAY  (24 * HOUR)
#define NF   56 /* the default funnel's fields (5 stages, 5 kinds) */
#define WON  40
#define CALL 51

typedef struct {
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    fd_rules_t *rs;
    fd_winplan_t *p;
} fx_t;

static const char rules[] =
    "{\"rules\":["
    "{\"name\":\"day24\",\"kpi\":\"won\",\"scope\":\"rep\",\"window\":\"24h\","
    " \"threshold\":{\"op\":\"<\",\"value\":1}},"
    "{\"name\":\"today\",\"kpi\":\"won\",\"scope\":\"rep\",\"window\":\"day\","
    " \"target\":{\"value\":4}},"
    "{\"name\":\"calls\",\"kpi\":\"activity:call\",\"scope\":\"rep\",\"window\":\"7d\","
    " \"drift\":{\"baseline_days\":3,\"max_change\":0.5}},"
    "{\"name\":\"stuck\",\"kpi\":\"stalled:lead\",\"scope\":\"rep\",\"stalled_after\":\"7d\","
    " \"threshold\":{\"op\":\">\",\"value\":1}}]}";

static int setup(void **state) {
    static fx_t fx;
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};
    char err[256] = "";
    if (fd_funnel_new(stages, 5, kinds, 5, &fx.fn, err, sizeof err) != FD_OK ||
        fd_timewin_new("UTC", &fx.tw, err, sizeof err) != FD_OK ||
        fd_rules_parse(fx.fn, rules, strlen(rules), &fx.rs, err, sizeof err) != FD_OK ||
        fd_winplan_new(fx.rs, fx.fn, fx.tw, &fx.p, err, sizeof err) != FD_OK) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    *state = &fx;
    return 0;
}

static int teardown(void **state) {
    fx_t *fx = *state;
    fd_winplan_destroy(fx->p);
    fd_rules_destroy(fx->rs);
    fd_timewin_destroy(fx->tw);
    fd_funnel_destroy(fx->fn);
    return 0;
}

static bool has(const fd_winplan_t *p, const char *id) {
    for (size_t w = 0; w < fd_winplan_nwins(p); w++)
        if (strcmp(fd_winplan_win_id(p, w), id) == 0) return true;
    return false;
}

static void test_plan_reads_the_union_of_fields_and_knows_stalled_rules(void **state) {
    fx_t *fx = *state;
    assert_int_equal(fd_winplan_nfields(fx->p), 2);
    assert_int_equal(fd_winplan_field(fx->p, 0), WON);
    assert_int_equal(fd_winplan_field(fx->p, 1), CALL);
    assert_true(fd_winplan_any_stalled(fx->p));
    /* 24h, day, 7d: one slot each; the baseline: one per day */
    assert_int_equal(fd_winplan_slots(fx->p), 1 + 1 + 1 + 3);
}

static void test_windows_at_a_clock_are_hours_whole_days_and_baseline_days(void **state) {
    fx_t *fx = *state;
    assert_int_equal(fd_winplan_at(fx->p, NOW, INT64_MIN), FD_OK);
    /* 24h: 2026-11-21T10..23 and 2026-11-22T00..09 (24 hours); day: the hours 2026-11-22T00..09
     * (shared), not the day hash, which may already hold events after the clock; 7d: the hours
     * 2026-11-15T10..23, the days 16..21, the hours of the 22nd (shared); baseline: the days
     * 12, 13, 14 */
    assert_int_equal(fd_winplan_nwins(fx->p), 24 + 14 + 6 + 3);
    static const char *const present[] = {
        "hour:2026-11-21T10", "hour:2026-11-21T23", "hour:2026-11-22T00",
        "hour:2026-11-22T09", "hour:2026-11-15T10", "day:2026-11-16",
        "day:2026-11-21",     "day:2026-11-12",     "day:2026-11-14"};
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++)
        if (!has(fx->p, present[i])) fail_msg("%s not planned", present[i]);
    static const char *const absent[] = {"hour:2026-11-21T09", "hour:2026-11-22T10",
                                         "day:2026-11-22",     "day:2026-11-15",
                                         "day:2026-11-11",     "hour:2026-11-16T00"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (has(fx->p, absent[i])) fail_msg("%s planned", absent[i]);
}

static void test_calendar_windows_read_whole_months_weeks_days_then_hours(void **state) {
    (void)state;
    static const char *const stages[] = {"lead", "won"};
    static const char *const kinds[] = {"call"};
    static const char q[] = "{\"rules\":[{\"name\":\"q\",\"kpi\":\"won\",\"scope\":\"rep\","
                            "\"window\":\"quarter\",\"target\":{\"value\":4}}]}";
    char err[256] = "";
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    fd_rules_t *rs;
    fd_winplan_t *p;
    assert_int_equal(fd_funnel_new(stages, 2, kinds, 1, &fn, err, sizeof err), FD_OK);
    assert_int_equal(fd_timewin_new("Asia/Shanghai", &tw, err, sizeof err), FD_OK);
    assert_int_equal(fd_rules_parse(fn, q, strlen(q), &rs, err, sizeof err), FD_OK);
    assert_int_equal(fd_winplan_new(rs, fn, tw, &p, err, sizeof err), FD_OK);
    /* 2026-11-22T10:30Z is 18:30 on Sunday 22 November in Shanghai; Q4 began on 1 October
     * (2026-09-30T16:00Z). As of 18:00 local: October; 1 November (a Sunday: its ISO week 44
     * began in October); the weeks 45 (2-8 Nov) and 46 (9-15 Nov); the days 16 to 21 (week 47
     * ends with the 22nd, not over yet); then the hours 00..17 local of the 22nd, i.e.
     * 2026-11-21T16..23 and 2026-11-22T00..09 UTC. */
    assert_int_equal(fd_winplan_at(p, NOW, INT64_MIN), FD_OK);
    static const char *const want[] = {
        "month:2026-10",      "day:2026-11-01",    "week:2026-W45",      "week:2026-W46",
        "day:2026-11-16",     "day:2026-11-21",    "hour:2026-11-21T16", "hour:2026-11-21T23",
        "hour:2026-11-22T00", "hour:2026-11-22T09"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!has(p, want[i])) fail_msg("%s not planned", want[i]);
    assert_int_equal(fd_winplan_nwins(p), 1 + 1 + 2 + 6 + 18);
    assert_false(has(p, "hour:2026-11-22T10"));
    assert_false(has(p, "week:2026-W47"));
    assert_false(has(p, "day:2026-11-22"));
    assert_false(has(p, "month:2026-11"));
    assert_false(has(p, "quarter:2026-Q4"));
    fd_winplan_destroy(p);
    fd_rules_destroy(rs);
    fd_timewin_destroy(tw);
    fd_funnel_destroy(fn);
}

static void test_score_rules_read_no_window_and_know_their_period(void **state) {
    (void)state;
    static const char *const stages[] = {"lead", "won"};
    static const char *const kinds[] = {"call"};
    static const char q[] =
        "{\"rules\":[{\"name\":\"g\",\"kpi\":\"grade\",\"scope\":\"rep\","
        "\"window\":\"quarter\",\"threshold\":{\"op\":\"<=\",\"value\":\"D\"}},"
        "{\"name\":\"m\",\"kpi\":\"won\",\"scope\":\"rep\",\"window\":\"month\","
        "\"target\":{\"from\":\"targets\"}},"
        "{\"name\":\"r\",\"kpi\":\"won\",\"scope\":\"rep\",\"window\":\"24h\","
        "\"threshold\":{\"op\":\"<\",\"value\":1}}]}";
    char err[256] = "";
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    fd_rules_t *rs;
    fd_winplan_t *p;
    assert_int_equal(fd_funnel_new(stages, 2, kinds, 1, &fn, err, sizeof err), FD_OK);
    assert_int_equal(fd_timewin_new("Asia/Shanghai", &tw, err, sizeof err), FD_OK);
    assert_int_equal(fd_rules_parse(fn, q, strlen(q), &rs, err, sizeof err), FD_OK);
    assert_int_equal(fd_winplan_new(rs, fn, tw, &p, err, sizeof err), FD_OK);
    assert_int_equal(fd_winplan_at(p, NOW, INT64_MIN), FD_OK);
    /* the periods of the clock in the funnel's time zone */
    assert_string_equal(fd_winplan_period(p, 0), "quarter:2026-Q4");
    assert_string_equal(fd_winplan_period(p, 1), "month:2026-11");
    assert_null(fd_winplan_period(p, 2));
    /* the grade rule marks no window: its scope reads only the scorecard */
    bool used[FD_WINPLAN_MAX_SIGS] = {false};
    fd_winplan_mark(p, 0, used);
    for (size_t w = 0; w < fd_winplan_nwins(p); w++)
        assert_false(fd_winplan_win_needed(p, w, used));
    int64_t sums[16 * 8] = {0};
    const int64_t *days[400];
    fd_rule_input_t in;
    assert_true(fd_winplan_input(p, 0, sums, days, &in)); /* complete whatever first_ms says */
    assert_null(in.cur);
    /* a window before the first event: the scorecard still judges, the target rule does not */
    assert_int_equal(fd_winplan_at(p, NOW, NOW - DAY), FD_OK);
    assert_true(fd_winplan_input(p, 0, sums, days, &in));
    assert_false(fd_winplan_input(p, 1, sums, days, &in));
    fd_winplan_destroy(p);
    fd_rules_destroy(rs);
    fd_timewin_destroy(tw);
    fd_funnel_destroy(fn);
}

static void test_reads_sum_into_each_rule_input(void **state) {
    fx_t *fx = *state;
    assert_int_equal(fd_winplan_at(fx->p, NOW, NOW - 2 * DAY), FD_OK);
    bool used[FD_WINPLAN_MAX_SIGS] = {false};
    for (size_t i = 0; i < 4; i++)
        fd_winplan_mark(fx->p, i, used);
    int64_t sums[6 * NF] = {0};
    const int64_t vals[2] = {1, 2}; /* won, calls of each hash */
    for (size_t w = 0; w < fd_winplan_nwins(fx->p); w++) {
        assert_true(fd_winplan_win_needed(fx->p, w, used));
        fd_winplan_add(fx->p, w, used, vals, sums);
    }
    const int64_t *days[400];
    fd_rule_input_t in;
    /* 24 hashes of 1 won and 2 calls each; complete (it starts after the first event) */
    assert_true(fd_winplan_input(fx->p, 0, sums, days, &in));
    assert_int_equal(in.cur[WON], 24);
    assert_int_equal(in.cur[CALL], 48);
    assert_true(in.cur_days == 1.0);
    assert_int_equal(in.ndays, 0);
    /* today: its 10 whole hours, and the pace taken at the same 10:00: 10 of 24 hours */
    assert_true(fd_winplan_input(fx->p, 1, sums, days, &in));
    assert_int_equal(in.cur[WON], 10);
    assert_true(in.elapsed == 10.0 / 24);
    /* 7d: 14 + 6 + 10 hashes; its baseline days one each; it starts before the first event */
    assert_false(fd_winplan_input(fx->p, 2, sums, days, &in));
    assert_int_equal(in.cur[CALL], 2 * 30);
    assert_true(in.cur_days == 7.0);
    assert_int_equal(in.ndays, 3);
    for (size_t d = 0; d < 3; d++)
        assert_int_equal(in.days[d][CALL], 2);
    /* the stalled rule reads no window */
    assert_true(fd_winplan_input(fx->p, 3, sums, days, &in));
    assert_null(in.cur);
}

static void test_unused_signatures_are_neither_needed_nor_summed(void **state) {
    fx_t *fx = *state;
    assert_int_equal(fd_winplan_at(fx->p, NOW, INT64_MIN), FD_OK);
    bool used[FD_WINPLAN_MAX_SIGS] = {false};
    fd_winplan_mark(fx->p, 1, used); /* only today */
    size_t needed = 0;
    int64_t sums[6 * NF] = {0};
    const int64_t vals[2] = {1, 1};
    for (size_t w = 0; w < fd_winplan_nwins(fx->p); w++) {
        if (!fd_winplan_win_needed(fx->p, w, used)) continue;
        needed++;
        fd_winplan_add(fx->p, w, used, vals, sums);
    }
    assert_int_equal(needed, 10);
    const int64_t *days[400];
    fd_rule_input_t in;
    fd_winplan_input(fx->p, 0, sums, days, &in);
    assert_int_equal(in.cur[WON], 0);
    fd_winplan_input(fx->p, 1, sums, days, &in);
    assert_int_equal(in.cur[WON], 10);
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_plan_reads_the_union_of_fields_and_knows_stalled_rules),
        T(test_windows_at_a_clock_are_hours_whole_days_and_baseline_days),
        T(test_calendar_windows_read_whole_months_weeks_days_then_hours),
        T(test_score_rules_read_no_window_and_know_their_period),
        T(test_reads_sum_into_each_rule_input),
        T(test_unused_signatures_are_neither_needed_nor_summed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
