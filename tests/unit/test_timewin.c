// SPDX-License-Identifier: MIT
// Unit tests of the timewin module: window ids and ends across timezones, DST, year, ISO-week
// and quarter boundaries; expected values worked out by hand from the calendar and tzdata.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "model/timewin.h"

/* "2026-11-23T16:00:00Z" or "...00.999Z" (always UTC) -> epoch ms, through timegm: the oracle
 * for expected instants never goes through the local-time code under test. */
static int64_t ms(const char *utc) {
    struct tm tm = {0};
    int frac = 0;
    int n = sscanf(utc, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec, &frac);
    assert_true(n >= 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + frac;
}

static fd_timewin_t *new_zone(const char *zone) {
    fd_timewin_t *tw = NULL;
    char errstr[256] = "";
    fd_err_t err = fd_timewin_new(zone, &tw, errstr, sizeof errstr);
    if (err != FD_OK) fail_msg("fd_timewin_new(%s): %s", zone, errstr);
    return tw;
}

/* ---- one table of instants with every window id and end, by hand ---- */

typedef struct {
    const char *zone, *at;
    const char *day, *day_end, *week, *week_end, *month, *month_end, *quarter, *quarter_end;
} win_case_t;

static const win_case_t win_cases[] = {
    /* UTC: the example instant, then local midnight exactly (belongs to the new day and,
     * on a Monday, to the new week) and the last millisecond before it. */
    {"UTC", "2026-11-22T18:00:00Z", "day:2026-11-22", "2026-11-23T00:00:00Z", "week:2026-W47",
     "2026-11-23T00:00:00Z", "month:2026-11", "2026-12-01T00:00:00Z", "quarter:2026-Q4",
     "2027-01-01T00:00:00Z"},
    {"UTC", "2026-11-23T00:00:00Z", "day:2026-11-23", "2026-11-24T00:00:00Z", "week:2026-W48",
     "2026-11-30T00:00:00Z", "month:2026-11", "2026-12-01T00:00:00Z", "quarter:2026-Q4",
     "2027-01-01T00:00:00Z"},
    {"UTC", "2026-11-22T23:59:59.999Z", "day:2026-11-22", "2026-11-23T00:00:00Z", "week:2026-W47",
     "2026-11-23T00:00:00Z", "month:2026-11", "2026-12-01T00:00:00Z", "quarter:2026-Q4",
     "2027-01-01T00:00:00Z"},
    /* ISO weeks at year ends: 2026 begins on a Thursday, so it has a W53 reaching into 2027;
     * 2024-12-30 is in 2025-W01; 2021-01-03 (Sunday) is in 2020-W53 (leap year begun Wednesday). */
    {"UTC", "2026-12-31T12:00:00Z", "day:2026-12-31", "2027-01-01T00:00:00Z", "week:2026-W53",
     "2027-01-04T00:00:00Z", "month:2026-12", "2027-01-01T00:00:00Z", "quarter:2026-Q4",
     "2027-01-01T00:00:00Z"},
    {"UTC", "2027-01-01T00:00:00Z", "day:2027-01-01", "2027-01-02T00:00:00Z", "week:2026-W53",
     "2027-01-04T00:00:00Z", "month:2027-01", "2027-02-01T00:00:00Z", "quarter:2027-Q1",
     "2027-04-01T00:00:00Z"},
    {"UTC", "2027-01-04T08:00:00Z", "day:2027-01-04", "2027-01-05T00:00:00Z", "week:2027-W01",
     "2027-01-11T00:00:00Z", "month:2027-01", "2027-02-01T00:00:00Z", "quarter:2027-Q1",
     "2027-04-01T00:00:00Z"},
    {"UTC", "2024-12-30T08:00:00Z", "day:2024-12-30", "2024-12-31T00:00:00Z", "week:2025-W01",
     "2025-01-06T00:00:00Z", "month:2024-12", "2025-01-01T00:00:00Z", "quarter:2024-Q4",
     "2025-01-01T00:00:00Z"},
    {"UTC", "2021-01-03T08:00:00Z", "day:2021-01-03", "2021-01-04T00:00:00Z", "week:2020-W53",
     "2021-01-04T00:00:00Z", "month:2021-01", "2021-02-01T00:00:00Z", "quarter:2021-Q1",
     "2021-04-01T00:00:00Z"},
    /* Leap day (Thursday of 2024-W09), and quarter ends Q2 -> Q3 and Q3 -> Q4. */
    {"UTC", "2024-02-29T10:00:00Z", "day:2024-02-29", "2024-03-01T00:00:00Z", "week:2024-W09",
     "2024-03-04T00:00:00Z", "month:2024-02", "2024-03-01T00:00:00Z", "quarter:2024-Q1",
     "2024-04-01T00:00:00Z"},
    {"UTC", "2026-06-30T23:59:59.999Z", "day:2026-06-30", "2026-07-01T00:00:00Z", "week:2026-W27",
     "2026-07-06T00:00:00Z", "month:2026-06", "2026-07-01T00:00:00Z", "quarter:2026-Q2",
     "2026-07-01T00:00:00Z"},
    {"UTC", "2026-09-30T12:00:00Z", "day:2026-09-30", "2026-10-01T00:00:00Z", "week:2026-W40",
     "2026-10-05T00:00:00Z", "month:2026-09", "2026-10-01T00:00:00Z", "quarter:2026-Q3",
     "2026-10-01T00:00:00Z"},
    /* -1 ms: floor division, not truncation toward zero. 1969-12-31 (Wednesday) is in 1970-W01. */
    {"UTC", "1969-12-31T23:59:59.999Z", "day:1969-12-31", "1970-01-01T00:00:00Z", "week:1970-W01",
     "1970-01-05T00:00:00Z", "month:1969-12", "1970-01-01T00:00:00Z", "quarter:1969-Q4",
     "1970-01-01T00:00:00Z"},

    /* Asia/Shanghai, +08:00 all year: 18:00Z is 02:00 on Monday the 23rd. */
    {"Asia/Shanghai", "2026-11-22T18:00:00Z", "day:2026-11-23", "2026-11-23T16:00:00Z",
     "week:2026-W48", "2026-11-29T16:00:00Z", "month:2026-11", "2026-11-30T16:00:00Z",
     "quarter:2026-Q4", "2026-12-31T16:00:00Z"},
    {"Asia/Shanghai", "2026-11-22T15:59:59.999Z", "day:2026-11-22", "2026-11-22T16:00:00Z",
     "week:2026-W47", "2026-11-22T16:00:00Z", "month:2026-11", "2026-11-30T16:00:00Z",
     "quarter:2026-Q4", "2026-12-31T16:00:00Z"},

    /* America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (day of 23 h, midnight at 05:00Z,
     * next midnight at 04:00Z); 2026-11-01 02:00 EDT -> 01:00 EST (25 h, 01:30 happens twice). */
    {"America/New_York", "2026-03-08T12:00:00Z", "day:2026-03-08", "2026-03-09T04:00:00Z",
     "week:2026-W10", "2026-03-09T04:00:00Z", "month:2026-03", "2026-04-01T04:00:00Z",
     "quarter:2026-Q1", "2026-04-01T04:00:00Z"},
    {"America/New_York", "2026-03-08T05:00:00Z", "day:2026-03-08", "2026-03-09T04:00:00Z",
     "week:2026-W10", "2026-03-09T04:00:00Z", "month:2026-03", "2026-04-01T04:00:00Z",
     "quarter:2026-Q1", "2026-04-01T04:00:00Z"},
    {"America/New_York", "2026-03-08T04:59:59.999Z", "day:2026-03-07", "2026-03-08T05:00:00Z",
     "week:2026-W10", "2026-03-09T04:00:00Z", "month:2026-03", "2026-04-01T04:00:00Z",
     "quarter:2026-Q1", "2026-04-01T04:00:00Z"},
    {"America/New_York", "2026-11-01T05:30:00Z", "day:2026-11-01", "2026-11-02T05:00:00Z",
     "week:2026-W44", "2026-11-02T05:00:00Z", "month:2026-11", "2026-12-01T05:00:00Z",
     "quarter:2026-Q4", "2027-01-01T05:00:00Z"},
    {"America/New_York", "2026-11-01T06:30:00Z", "day:2026-11-01", "2026-11-02T05:00:00Z",
     "week:2026-W44", "2026-11-02T05:00:00Z", "month:2026-11", "2026-12-01T05:00:00Z",
     "quarter:2026-Q4", "2027-01-01T05:00:00Z"},
    {"America/New_York", "2026-11-01T04:00:00Z", "day:2026-11-01", "2026-11-02T05:00:00Z",
     "week:2026-W44", "2026-11-02T05:00:00Z", "month:2026-11", "2026-12-01T05:00:00Z",
     "quarter:2026-Q4", "2027-01-01T05:00:00Z"},
    {"America/New_York", "2026-11-01T03:59:59.999Z", "day:2026-10-31", "2026-11-01T04:00:00Z",
     "week:2026-W44", "2026-11-02T05:00:00Z", "month:2026-10", "2026-11-01T04:00:00Z",
     "quarter:2026-Q4", "2027-01-01T05:00:00Z"},

    /* Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; New Year 2027 at 23:00Z, whose Q1 ends
     * at 2027-04-01 00:00 CEST (summer time from 2027-03-28). */
    {"Europe/Berlin", "2026-03-28T23:30:00Z", "day:2026-03-29", "2026-03-29T22:00:00Z",
     "week:2026-W13", "2026-03-29T22:00:00Z", "month:2026-03", "2026-03-31T22:00:00Z",
     "quarter:2026-Q1", "2026-03-31T22:00:00Z"},
    {"Europe/Berlin", "2026-12-31T22:59:59.999Z", "day:2026-12-31", "2026-12-31T23:00:00Z",
     "week:2026-W53", "2027-01-03T23:00:00Z", "month:2026-12", "2026-12-31T23:00:00Z",
     "quarter:2026-Q4", "2026-12-31T23:00:00Z"},
    {"Europe/Berlin", "2026-12-31T23:00:00Z", "day:2027-01-01", "2027-01-01T23:00:00Z",
     "week:2026-W53", "2027-01-03T23:00:00Z", "month:2027-01", "2027-01-31T23:00:00Z",
     "quarter:2027-Q1", "2027-03-31T22:00:00Z"},

    /* Asia/Kathmandu, +05:45: local midnight at hh:15Z. */
    {"Asia/Kathmandu", "2026-06-30T18:15:00Z", "day:2026-07-01", "2026-07-01T18:15:00Z",
     "week:2026-W27", "2026-07-05T18:15:00Z", "month:2026-07", "2026-07-31T18:15:00Z",
     "quarter:2026-Q3", "2026-09-30T18:15:00Z"},
    {"Asia/Kathmandu", "2026-06-30T18:14:59.999Z", "day:2026-06-30", "2026-06-30T18:15:00Z",
     "week:2026-W27", "2026-07-05T18:15:00Z", "month:2026-06", "2026-06-30T18:15:00Z",
     "quarter:2026-Q2", "2026-06-30T18:15:00Z"},

    /* Pacific/Chatham: +13:45 in summer, +12:45 from 2026-04-05 03:45 -> 02:45 (14:00Z). */
    {"Pacific/Chatham", "2026-01-01T00:00:00Z", "day:2026-01-01", "2026-01-01T10:15:00Z",
     "week:2026-W01", "2026-01-04T10:15:00Z", "month:2026-01", "2026-01-31T10:15:00Z",
     "quarter:2026-Q1", "2026-03-31T10:15:00Z"},
    {"Pacific/Chatham", "2026-04-04T12:00:00Z", "day:2026-04-05", "2026-04-05T11:15:00Z",
     "week:2026-W14", "2026-04-05T11:15:00Z", "month:2026-04", "2026-04-30T11:15:00Z",
     "quarter:2026-Q2", "2026-06-30T11:15:00Z"},

    /* America/Santiago: 2026-09-06 begins at 01:00 -03 (04:00Z), midnight does not exist; the
     * 5th must end there, not at 03:00Z (00:00 read as -03) nor stay open. */
    {"America/Santiago", "2026-09-06T04:00:00Z", "day:2026-09-06", "2026-09-07T03:00:00Z",
     "week:2026-W36", "2026-09-07T03:00:00Z", "month:2026-09", "2026-10-01T03:00:00Z",
     "quarter:2026-Q3", "2026-10-01T03:00:00Z"},
    {"America/Santiago", "2026-09-06T03:59:59.999Z", "day:2026-09-05", "2026-09-06T04:00:00Z",
     "week:2026-W36", "2026-09-07T03:00:00Z", "month:2026-09", "2026-10-01T03:00:00Z",
     "quarter:2026-Q3", "2026-10-01T03:00:00Z"},

    /* Asia/Beirut: 2026-03-29 begins at 01:00 EEST (22:00Z on the 28th). */
    {"Asia/Beirut", "2026-03-28T22:00:00Z", "day:2026-03-29", "2026-03-29T21:00:00Z",
     "week:2026-W13", "2026-03-29T21:00:00Z", "month:2026-03", "2026-03-31T21:00:00Z",
     "quarter:2026-Q1", "2026-03-31T21:00:00Z"},
    {"Asia/Beirut", "2026-03-28T21:59:59.999Z", "day:2026-03-28", "2026-03-28T22:00:00Z",
     "week:2026-W13", "2026-03-29T21:00:00Z", "month:2026-03", "2026-03-31T21:00:00Z",
     "quarter:2026-Q1", "2026-03-31T21:00:00Z"},

    /* America/Moncton 1993: at 00:01 ADT on Oct 31 (03:01Z) clocks fell back to 23:01 AST on
     * Oct 30, so the 31st began twice. Looked up in this order, the cached 31st must not
     * swallow the repeated hour, and that hour's day ends at 00:00 AST (04:00Z), after it. */
    {"America/Moncton", "1993-10-31T12:00:00Z", "day:1993-10-31", "1993-11-01T04:00:00Z",
     "week:1993-W43", "1993-11-01T04:00:00Z", "month:1993-10", "1993-11-01T04:00:00Z",
     "quarter:1993-Q4", "1994-01-01T04:00:00Z"},
    {"America/Moncton", "1993-10-31T03:30:00Z", "day:1993-10-30", "1993-10-31T04:00:00Z",
     "week:1993-W43", "1993-11-01T04:00:00Z", "month:1993-10", "1993-11-01T04:00:00Z",
     "quarter:1993-Q4", "1994-01-01T04:00:00Z"},
    {"America/Moncton", "1993-10-31T03:00:30Z", "day:1993-10-31", "1993-11-01T04:00:00Z",
     "week:1993-W43", "1993-11-01T04:00:00Z", "month:1993-10", "1993-11-01T04:00:00Z",
     "quarter:1993-Q4", "1994-01-01T04:00:00Z"},
};

static void check_case(const win_case_t *c, const fd_windows_t *w) {
    const char *ids[FD_WIN_HOUR] = {"all", c->day, c->week, c->month, c->quarter};
    const char *ends[FD_WIN_HOUR] = {NULL, c->day_end, c->week_end, c->month_end, c->quarter_end};
    for (int k = 0; k < FD_WIN_HOUR; k++) {
        if (strcmp(w->id[k], ids[k]) != 0)
            fail_msg("%s %s: %s id: expected %s, got %s", c->zone, c->at, fd_timewin_kind_name(k),
                     ids[k], w->id[k]);
        int64_t want = ends[k] ? ms(ends[k]) : INT64_MAX;
        if (w->end_ms[k] != want)
            fail_msg("%s %s: %s end: expected %s (%lld), got %lld", c->zone, c->at,
                     fd_timewin_kind_name(k), ends[k] ? ends[k] : "INT64_MAX", (long long)want,
                     (long long)w->end_ms[k]);
    }
}

/* Runs the table with one object per run of rows of the same zone, each row twice (the second
 * lookup is served by the day cache when the day is a plain one). */
static void test_timewin_table_of_instants_across_zones(void **state) {
    (void)state;
    fd_timewin_t *tw = NULL;
    const char *zone = NULL;
    for (size_t i = 0; i < sizeof win_cases / sizeof win_cases[0]; i++) {
        const win_case_t *c = &win_cases[i];
        if (zone == NULL || strcmp(zone, c->zone) != 0) {
            fd_timewin_destroy(tw);
            tw = new_zone(c->zone);
            zone = c->zone;
        }
        fd_windows_t w;
        fd_timewin_of(tw, ms(c->at), &w);
        check_case(c, &w);
        memset(&w, 0, sizeof w);
        fd_timewin_of(tw, ms(c->at), &w);
        check_case(c, &w);
    }
    fd_timewin_destroy(tw);
}

/* ---- window lengths around DST changes: end of the window minus end of the one before ---- */

typedef struct {
    const char *zone;
    fd_win_kind_t kind;
    const char *before, *at; /* an instant of the window before, one of the window */
    int hours;
} len_case_t;

static const len_case_t len_cases[] = {
    {"America/New_York", FD_WIN_DAY, "2026-03-07T12:00:00Z", "2026-03-08T12:00:00Z", 23},
    {"America/New_York", FD_WIN_DAY, "2026-10-31T12:00:00Z", "2026-11-01T12:00:00Z", 25},
    {"America/New_York", FD_WIN_DAY, "2026-11-01T12:00:00Z", "2026-11-02T12:00:00Z", 24},
    {"America/New_York", FD_WIN_WEEK, "2026-03-01T12:00:00Z", "2026-03-08T12:00:00Z", 167},
    {"America/New_York", FD_WIN_MONTH, "2026-10-15T12:00:00Z", "2026-11-15T12:00:00Z", 30 * 24 + 1},
    {"Europe/Berlin", FD_WIN_DAY, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z", 23},
    {"Europe/Berlin", FD_WIN_DAY, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z", 25},
    {"Pacific/Chatham", FD_WIN_DAY, "2026-04-04T00:00:00Z", "2026-04-04T12:00:00Z", 25},
    {"Pacific/Chatham", FD_WIN_DAY, "2026-09-26T00:00:00Z", "2026-09-26T12:00:00Z", 23},
    {"America/Santiago", FD_WIN_DAY, "2026-09-05T12:00:00Z", "2026-09-06T12:00:00Z", 23},
    {"America/Santiago", FD_WIN_DAY, "2026-04-04T12:00:00Z", "2026-04-05T12:00:00Z", 24},
    {"America/Santiago", FD_WIN_DAY, "2026-04-03T12:00:00Z", "2026-04-04T12:00:00Z", 25},
    {"Asia/Beirut", FD_WIN_DAY, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z", 23},
    {"Asia/Shanghai", FD_WIN_DAY, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z", 24},
    {"UTC", FD_WIN_QUARTER, "2026-12-15T12:00:00Z", "2027-02-15T12:00:00Z", 90 * 24},
};

static void test_timewin_dst_days_last_23_or_25_hours(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof len_cases / sizeof len_cases[0]; i++) {
        const len_case_t *c = &len_cases[i];
        fd_timewin_t *tw = new_zone(c->zone);
        fd_windows_t before, w;
        fd_timewin_of(tw, ms(c->before), &before);
        fd_timewin_of(tw, ms(c->at), &w);
        int64_t len = w.end_ms[c->kind] - before.end_ms[c->kind];
        if (len != (int64_t)c->hours * 3600000)
            fail_msg("%s %s of %s: expected %d h, got %lld ms", c->zone,
                     fd_timewin_kind_name(c->kind), c->at, c->hours, (long long)len);
        fd_timewin_destroy(tw);
    }
}

/* ---- a sweep against the C library's own calendar (strftime %G-W%V for ISO weeks) ---- */

static void libc_ids(int64_t at_ms, char ids[FD_WIN_COUNT][FD_WIN_ID_MAX]) {
    time_t t = (time_t)(at_ms >= 0 ? at_ms / 1000 : -((-at_ms + 999) / 1000));
    struct tm tm;
    assert_non_null(localtime_r(&t, &tm));
    strcpy(ids[FD_WIN_ALL], "all");
    strftime(ids[FD_WIN_DAY], FD_WIN_ID_MAX, "day:%Y-%m-%d", &tm);
    strftime(ids[FD_WIN_WEEK], FD_WIN_ID_MAX, "week:%G-W%V", &tm);
    strftime(ids[FD_WIN_MONTH], FD_WIN_ID_MAX, "month:%Y-%m", &tm);
    snprintf(ids[FD_WIN_QUARTER], FD_WIN_ID_MAX, "quarter:%04d-Q%d", tm.tm_year + 1900,
             tm.tm_mon / 3 + 1);
    assert_non_null(gmtime_r(&t, &tm));
    strftime(ids[FD_WIN_HOUR], FD_WIN_ID_MAX, "hour:%Y-%m-%dT%H", &tm);
}

/* Every 37 minutes through a year: ids match libc's (hours: UTC), and each start and end is
 * exactly a boundary: the start and the millisecond before the end are in the same window, the
 * millisecond before the start and the end itself are not. */
static void test_timewin_sweep_matches_libc_calendar(void **state) {
    (void)state;
    static const char *const zones[] = {"UTC",
                                        "America/New_York",
                                        "Europe/Berlin",
                                        "Asia/Kathmandu",
                                        "Pacific/Chatham",
                                        "America/Santiago",
                                        "Asia/Beirut",
                                        "Australia/Lord_Howe",
                                        "America/St_Johns"};
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        fd_timewin_t *tw = new_zone(zones[z]);
        int64_t from = ms("2026-01-01T00:00:00Z"), to = ms("2027-01-15T00:00:00Z");
        for (int64_t at = from; at < to; at += 37 * 60000 + 7) {
            fd_windows_t w;
            char want[FD_WIN_COUNT][FD_WIN_ID_MAX], last[FD_WIN_COUNT][FD_WIN_ID_MAX],
                next[FD_WIN_COUNT][FD_WIN_ID_MAX];
            fd_timewin_of(tw, at, &w);
            libc_ids(at, want);
            for (int k = 0; k < FD_WIN_COUNT; k++)
                if (strcmp(w.id[k], want[k]) != 0)
                    fail_msg("%s at %lld: expected %s, got %s", zones[z], (long long)at, want[k],
                             w.id[k]);
            assert_int_equal(w.end_ms[FD_WIN_ALL], INT64_MAX);
            for (int k = FD_WIN_DAY; k < FD_WIN_COUNT; k++) {
                assert_true(w.end_ms[k] > at);
                libc_ids(w.end_ms[k] - 1, last);
                libc_ids(w.end_ms[k], next);
                if (strcmp(last[k], w.id[k]) != 0 || strcmp(next[k], w.id[k]) == 0)
                    fail_msg("%s at %lld: %s ends at %lld, before which is %s and at which %s",
                             zones[z], (long long)at, w.id[k], (long long)w.end_ms[k], last[k],
                             next[k]);
                assert_true(w.start_ms[k] <= at);
                libc_ids(w.start_ms[k] - 1, last);
                libc_ids(w.start_ms[k], next);
                if (strcmp(next[k], w.id[k]) != 0 || strcmp(last[k], w.id[k]) == 0)
                    fail_msg("%s at %lld: %s starts at %lld, before which is %s and at which %s",
                             zones[z], (long long)at, w.id[k], (long long)w.start_ms[k], last[k],
                             next[k]);
            }
        }
        fd_timewin_destroy(tw);
    }
}

/* ---- the day cache ---- */

static void test_timewin_cache_never_serves_a_neighbouring_day(void **state) {
    (void)state;
    fd_timewin_t *tw = new_zone("Asia/Shanghai");
    fd_windows_t w;
    /* Fill the cache with 2026-11-23 (local), then step just outside it on both sides, and
     * back in. */
    fd_timewin_of(tw, ms("2026-11-23T04:00:00Z"), &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-23");
    fd_timewin_of(tw, ms("2026-11-23T15:59:59.999Z"), &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-23");
    fd_timewin_of(tw, ms("2026-11-23T16:00:00Z"), &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-24");
    fd_timewin_of(tw, ms("2026-11-22T15:59:59.999Z"), &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-22");
    assert_string_equal(w.id[FD_WIN_WEEK], "week:2026-W47");
    fd_timewin_of(tw, ms("2026-11-22T16:00:00Z"), &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-23");
    assert_string_equal(w.id[FD_WIN_WEEK], "week:2026-W48");
    assert_int_equal(w.end_ms[FD_WIN_DAY], ms("2026-11-23T16:00:00Z"));
    fd_timewin_destroy(tw);
}

/* Instants in pseudo-random order over a year, so that the remembered days and hours are
 * replaced again and again (more than 16 of each in play): every answer equals that of a new
 * object, which has nothing remembered. */
static void test_timewin_remembered_days_equal_fresh_lookups(void **state) {
    (void)state;
    static const char *const zones[] = {"Asia/Shanghai", "America/New_York", "Europe/Berlin",
                                        "Australia/Lord_Howe"};
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        fd_timewin_t *tw = new_zone(zones[z]);
        int64_t from = ms("2026-01-01T00:00:00Z"), span = 366LL * 86400000;
        uint64_t x = 12345;
        for (int i = 0; i < 3000; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            /* mostly within 40 days of each other, now and then anywhere in the year */
            int64_t base =
                from + (int64_t)((x >> 20) % (uint64_t)(i % 50 == 0 ? span : 40 * 86400000LL));
            fd_windows_t got, want;
            fd_timewin_of(tw, base, &got);
            fd_timewin_t *fresh = new_zone(zones[z]);
            fd_timewin_of(fresh, base, &want);
            fd_timewin_destroy(fresh);
            for (int k = 0; k < FD_WIN_COUNT; k++) {
                if (strcmp(got.id[k], want.id[k]) != 0 || got.start_ms[k] != want.start_ms[k] ||
                    got.end_ms[k] != want.end_ms[k])
                    fail_msg("%s at %lld, %s: remembered %s [%lld, %lld), fresh %s [%lld, %lld)",
                             zones[z], (long long)base, fd_timewin_kind_name((fd_win_kind_t)k),
                             got.id[k], (long long)got.start_ms[k], (long long)got.end_ms[k],
                             want.id[k], (long long)want.start_ms[k], (long long)want.end_ms[k]);
            }
        }
        fd_timewin_destroy(tw);
    }
}

/* ---- zones: the process has one TZ; the object looked up last makes it its own again ---- */

static void test_timewin_objects_created_one_after_the_other_each_use_their_zone(void **state) {
    (void)state;
    fd_timewin_t *sh = new_zone("Asia/Shanghai");
    fd_timewin_t *ny = new_zone("America/New_York"); /* the last created sets TZ */
    fd_windows_t w;
    int64_t at = ms("2026-11-22T18:00:00Z"); /* Shanghai: 23rd 02:00; New York: 22nd 13:00 */
    fd_timewin_of(ny, at, &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-22");
    assert_int_equal(w.end_ms[FD_WIN_DAY], ms("2026-11-23T05:00:00Z"));
    fd_timewin_of(sh, at, &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-23");
    assert_int_equal(w.end_ms[FD_WIN_DAY], ms("2026-11-23T16:00:00Z"));
    fd_timewin_of(ny, at + 3600000, &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-22");
    fd_timewin_of(ny, ms("2026-11-23T04:59:59Z"), &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-22");
    fd_timewin_of(ny, ms("2026-11-23T05:00:00Z"), &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-23");
    fd_timewin_destroy(sh);
    fd_timewin_destroy(ny);
}

static void test_timewin_rejects_unknown_or_unsafe_zone_names(void **state) {
    (void)state;
    static const char *const bad[] = {
        "Mars/Olympus", "../etc/passwd", "/etc/localtime",         "",   "Asia",
        "zone.tab",     "Asia/../UTC",   "EST5EDT,M3.2.0,M11.1.0", "utc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fd_timewin_t *tw = (fd_timewin_t *)&tw; /* must be reset to NULL */
        char errstr[256] = "";
        fd_err_t err = fd_timewin_new(bad[i], &tw, errstr, sizeof errstr);
        if (err != FD_ERR_CONFIG) fail_msg("zone \"%s\": expected FD_ERR_CONFIG", bad[i]);
        assert_null(tw);
        if (strstr(errstr, "funnel.timezone") == NULL || strstr(errstr, bad[i]) == NULL ||
            strstr(errstr, "Asia/Shanghai") == NULL)
            fail_msg("zone \"%s\": errstr should name the setting, the value and an example, "
                     "got: %s",
                     bad[i], errstr);
    }
}

static void test_timewin_accepts_utc_and_iana_names(void **state) {
    (void)state;
    static const char *const good[] = {"UTC",           "Etc/UTC",
                                       "Asia/Shanghai", "America/New_York",
                                       "Etc/GMT+5",     "America/Argentina/Buenos_Aires"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fd_timewin_t *tw = NULL;
        char errstr[256] = "";
        if (fd_timewin_new(good[i], &tw, errstr, sizeof errstr) != FD_OK)
            fail_msg("zone \"%s\" rejected: %s", good[i], errstr);
        fd_timewin_destroy(tw);
    }
    fd_timewin_destroy(NULL);
}

/* Etc/GMT+5 is UTC-5 (POSIX sign convention): a check that the zone file, not a parsed rule,
 * is in force. */
static void test_timewin_etc_gmt_sign_follows_the_zone_file(void **state) {
    (void)state;
    fd_timewin_t *tw = new_zone("Etc/GMT+5");
    fd_windows_t w;
    fd_timewin_of(tw, ms("2026-11-23T03:00:00Z"), &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:2026-11-22");
    assert_int_equal(w.end_ms[FD_WIN_DAY], ms("2026-11-23T05:00:00Z"));
    fd_timewin_destroy(tw);
}

/* Out-of-range instants are clamped to years 0001..9999 instead of failing. */
static void test_timewin_extreme_instants_are_clamped(void **state) {
    (void)state;
    fd_timewin_t *tw = new_zone("UTC");
    fd_windows_t w;
    fd_timewin_of(tw, INT64_MAX, &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:9999-12-31");
    assert_int_equal(w.end_ms[FD_WIN_DAY], 253402300800000LL);
    fd_timewin_of(tw, INT64_MIN, &w);
    assert_string_equal(w.id[FD_WIN_DAY], "day:0001-01-01");
    assert_string_equal(w.id[FD_WIN_MONTH], "month:0001-01");
    fd_timewin_destroy(tw);
}

static void test_timewin_kind_names(void **state) {
    (void)state;
    assert_string_equal(fd_timewin_kind_name(FD_WIN_ALL), "all");
    assert_string_equal(fd_timewin_kind_name(FD_WIN_DAY), "day");
    assert_string_equal(fd_timewin_kind_name(FD_WIN_WEEK), "week");
    assert_string_equal(fd_timewin_kind_name(FD_WIN_MONTH), "month");
    assert_string_equal(fd_timewin_kind_name(FD_WIN_QUARTER), "quarter");
    assert_string_equal(fd_timewin_kind_name(FD_WIN_COUNT), "unknown");
}

/* ---- window id syntax ---- */

static const struct {
    const char *id;
    fd_err_t want;
} id_cases[] = {
    {"all", FD_OK},
    {"day:2026-11-22", FD_OK},
    {"day:2024-02-29", FD_OK},
    {"day:2000-02-29", FD_OK},
    {"day:2026-12-31", FD_OK},
    {"week:2026-W47", FD_OK},
    {"week:2026-W53", FD_OK},
    {"week:2020-W53", FD_OK},
    {"week:2026-W01", FD_OK},
    {"month:2026-11", FD_OK},
    {"month:2026-01", FD_OK},
    {"quarter:2026-Q4", FD_OK},
    {"quarter:2026-Q1", FD_OK},
    {"hour:2026-11-22T10", FD_OK},
    {"hour:2026-11-22T00", FD_OK},
    {"hour:2024-02-29T23", FD_OK},
    {"hour:2026-11-22T24", FD_ERR_PARSE},
    {"hour:2026-11-22 10", FD_ERR_PARSE},
    {"hour:2026-11-22T1", FD_ERR_PARSE},
    {"hour:2026-02-29T10", FD_ERR_PARSE},
    {"hour:2026-11-22", FD_ERR_PARSE},
    {"week:2025-W53", FD_ERR_PARSE}, /* 2025 begins on a Wednesday, not leap: 52 weeks */
    {"week:2021-W53", FD_ERR_PARSE},
    {"week:2026-W00", FD_ERR_PARSE},
    {"week:2026-W54", FD_ERR_PARSE},
    {"week:2026-W7", FD_ERR_PARSE},
    {"week:2026-w47", FD_ERR_PARSE},
    {"day:2026-02-29", FD_ERR_PARSE},
    {"day:1900-02-29", FD_ERR_PARSE},
    {"day:2026-04-31", FD_ERR_PARSE},
    {"day:2026-13-01", FD_ERR_PARSE},
    {"day:2026-00-10", FD_ERR_PARSE},
    {"day:2026-11-00", FD_ERR_PARSE},
    {"day:2026-11-22x", FD_ERR_PARSE},
    {"day:2026-11-2", FD_ERR_PARSE},
    {"day:26-11-22", FD_ERR_PARSE},
    {"quarter:2026-Q5", FD_ERR_PARSE},
    {"quarter:2026-Q0", FD_ERR_PARSE},
    {"quarter:2026-Q4 ", FD_ERR_PARSE},
    {"month:2026-1", FD_ERR_PARSE},
    {"month:2026-13", FD_ERR_PARSE},
    {"month:2026-00", FD_ERR_PARSE},
    {"month:+026-11", FD_ERR_PARSE},
    {"all ", FD_ERR_PARSE},
    {"allx", FD_ERR_PARSE},
    {"ALL", FD_ERR_PARSE},
    {"year:2026", FD_ERR_PARSE},
    {"", FD_ERR_PARSE},
    {"day:", FD_ERR_PARSE},
};

static void test_timewin_check_id_accepts_only_valid_ids(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof id_cases / sizeof id_cases[0]; i++) {
        fd_err_t got = fd_timewin_check_id(id_cases[i].id);
        if (got != id_cases[i].want)
            fail_msg("\"%s\": expected %s, got %s", id_cases[i].id, fd_err_name(id_cases[i].want),
                     fd_err_name(got));
    }
    assert_int_equal(fd_timewin_check_id(NULL), FD_ERR_PARSE);
}

/* ---- the bounds of a window id ---- */

typedef struct {
    const char *zone, *id, *start, *end; /* start and end NULL: INT64_MIN and INT64_MAX */
} bounds_case_t;

/* Worked out by hand: Europe/Berlin is UTC+1 in winter, UTC+2 from 2026-03-29 01:00Z to
 * 2026-10-25 01:00Z (and from 2027-03-28 01:00Z). */
static const bounds_case_t bounds_cases[] = {
    {"UTC", "all", NULL, NULL},
    {"Europe/Berlin", "all", NULL, NULL},
    {"Europe/Berlin", "day:2026-11-22", "2026-11-21T23:00:00Z", "2026-11-22T23:00:00Z"},
    /* spring forward: 23 h; fall back: 25 h */
    {"Europe/Berlin", "day:2026-03-29", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"},
    {"Europe/Berlin", "day:2026-10-25", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"},
    {"Europe/Berlin", "day:2026-07-01", "2026-06-30T22:00:00Z", "2026-07-01T22:00:00Z"},
    /* 2026 begins on a Thursday: W53 is Monday 2026-12-28 to Sunday 2027-01-03 */
    {"Europe/Berlin", "week:2026-W53", "2026-12-27T23:00:00Z", "2027-01-03T23:00:00Z"},
    {"Europe/Berlin", "week:2026-W13", "2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z"},
    {"Europe/Berlin", "month:2026-03", "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"},
    {"Europe/Berlin", "month:2026-12", "2026-11-30T23:00:00Z", "2026-12-31T23:00:00Z"},
    {"Europe/Berlin", "quarter:2026-Q4", "2026-09-30T22:00:00Z", "2026-12-31T23:00:00Z"},
    {"Europe/Berlin", "quarter:2027-Q1", "2026-12-31T23:00:00Z", "2027-03-31T22:00:00Z"},
    /* hours are UTC hours whatever the zone, also across the DST change */
    {"Europe/Berlin", "hour:2026-03-29T01", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"},
    {"UTC", "day:2026-11-22", "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"},
    {"UTC", "week:2026-W53", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"},
    {"UTC", "week:2026-W01", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z"},
    {"UTC", "week:2025-W01", "2024-12-30T00:00:00Z", "2025-01-06T00:00:00Z"},
    {"UTC", "week:2020-W53", "2020-12-28T00:00:00Z", "2021-01-04T00:00:00Z"},
    {"UTC", "month:2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
    {"UTC", "quarter:2026-Q4", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"},
    {"UTC", "quarter:2026-Q2", "2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z"},
    {"UTC", "hour:2024-02-29T23", "2024-02-29T23:00:00Z", "2024-03-01T00:00:00Z"},
    {"UTC", "hour:1969-12-31T23", "1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z"},
    {"Asia/Shanghai", "day:2026-11-23", "2026-11-22T16:00:00Z", "2026-11-23T16:00:00Z"},
    {"Asia/Kathmandu", "day:2026-07-01", "2026-06-30T18:15:00Z", "2026-07-01T18:15:00Z"},
    {"America/New_York", "day:2026-11-01", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"},
    /* midnight does not exist: the day begins at 01:00 -03 */
    {"America/Santiago", "day:2026-09-06", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"},
};

static void test_timewin_bounds_of_window_ids(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bounds_cases / sizeof bounds_cases[0]; i++) {
        const bounds_case_t *c = &bounds_cases[i];
        fd_timewin_t *tw = new_zone(c->zone);
        int64_t start = 0, end = 0;
        fd_err_t err = fd_timewin_bounds(tw, c->id, &start, &end);
        if (err != FD_OK) fail_msg("%s %s: %s", c->zone, c->id, fd_err_name(err));
        int64_t want_start = c->start ? ms(c->start) : INT64_MIN;
        int64_t want_end = c->end ? ms(c->end) : INT64_MAX;
        if (start != want_start || end != want_end)
            fail_msg("%s %s: expected [%lld, %lld), got [%lld, %lld)", c->zone, c->id,
                     (long long)want_start, (long long)want_end, (long long)start, (long long)end);
        fd_timewin_destroy(tw);
    }
}

static void test_timewin_bounds_refuse_what_is_no_window_id(void **state) {
    (void)state;
    fd_timewin_t *tw = new_zone("Europe/Berlin");
    static const char *const bad[] = {"",
                                      "ALL",
                                      "day:2026-02-29",
                                      "week:2025-W53",
                                      "year:2026",
                                      "day:2026-11-22:anna",
                                      "hour:2026-11-22"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t start = 7, end = 8;
        if (fd_timewin_bounds(tw, bad[i], &start, &end) != FD_ERR_PARSE)
            fail_msg("\"%s\": expected FD_ERR_PARSE", bad[i]);
        assert_int_equal(start, 7); /* untouched */
        assert_int_equal(end, 8);
    }
    int64_t start = 7, end = 8;
    assert_int_equal(fd_timewin_bounds(tw, NULL, &start, &end), FD_ERR_PARSE);
    assert_int_equal(start, 7);
    fd_timewin_destroy(tw);
}

/* Every 5 h 17 min through a year: the bounds of each window id fd_timewin_of gives are the
 * bounds it gives with it. */
static void test_timewin_bounds_agree_with_the_windows_of_instants(void **state) {
    (void)state;
    static const char *const zones[] = {"UTC",
                                        "Europe/Berlin",
                                        "America/New_York",
                                        "Asia/Kathmandu",
                                        "America/Santiago",
                                        "Australia/Lord_Howe"};
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        fd_timewin_t *tw = new_zone(zones[z]);
        for (int64_t at = ms("2026-01-01T00:00:00Z"); at < ms("2027-01-15T00:00:00Z");
             at += (5 * 60 + 17) * 60000) {
            fd_windows_t w;
            fd_timewin_of(tw, at, &w);
            for (int k = 0; k < FD_WIN_COUNT; k++) {
                int64_t start, end;
                assert_int_equal(fd_timewin_bounds(tw, w.id[k], &start, &end), FD_OK);
                if (start != w.start_ms[k] || end != w.end_ms[k])
                    fail_msg("%s at %lld: %s: bounds [%lld, %lld), windows [%lld, %lld)", zones[z],
                             (long long)at, w.id[k], (long long)start, (long long)end,
                             (long long)w.start_ms[k], (long long)w.end_ms[k]);
            }
        }
        fd_timewin_destroy(tw);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timewin_table_of_instants_across_zones),
        cmocka_unit_test(test_timewin_dst_days_last_23_or_25_hours),
        cmocka_unit_test(test_timewin_sweep_matches_libc_calendar),
        cmocka_unit_test(test_timewin_cache_never_serves_a_neighbouring_day),
        cmocka_unit_test(test_timewin_remembered_days_equal_fresh_lookups),
        cmocka_unit_test(test_timewin_objects_created_one_after_the_other_each_use_their_zone),
        cmocka_unit_test(test_timewin_rejects_unknown_or_unsafe_zone_names),
        cmocka_unit_test(test_timewin_accepts_utc_and_iana_names),
        cmocka_unit_test(test_timewin_etc_gmt_sign_follows_the_zone_file),
        cmocka_unit_test(test_timewin_extreme_instants_are_clamped),
        cmocka_unit_test(test_timewin_kind_names),
        cmocka_unit_test(test_timewin_check_id_accepts_only_valid_ids),
        cmocka_unit_test(test_timewin_bounds_of_window_ids),
        cmocka_unit_test(test_timewin_bounds_refuse_what_is_no_window_id),
        cmocka_unit_test(test_timewin_bounds_agree_with_the_windows_of_instants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
