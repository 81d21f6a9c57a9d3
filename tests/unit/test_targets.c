// SPDX-License-Identifier: MIT
// Unit tests of the targets file: calendar periods (ids, the period of an instant, bounds across
// DST and year ends, windows), the JSON and CSV parsers with an error naming its place for
// every kind of mistake, the scorecard definition's defaults, and the lookup precedence.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "scoring/targets.h"

static fd_funnel_t *fn;
static char dir[64]; /* a temporary folder for the CSV files */

static int setup(void **state) {
    (void)state;
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};
    char err[256];
    snprintf(dir, sizeof dir, "/tmp/fd_targets_XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    return fd_funnel_new(stages, 5, kinds, 5, &fn, err, sizeof err) == FD_OK ? 0 : -1;
}

static void write_file(const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int teardown(void **state) {
    (void)state;
    static const char *const files[] = {"t.csv", "t.json", "alone.csv", "bad.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    fd_funnel_destroy(fn);
    return 0;
}

/* JSON written with single quotes (readable in C) turned into double quotes. */
static char *J(const char *s) {
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'') *p = '"';
    return out;
}

static fd_targets_t *parse_ok(const char *sq) {
    char *json = J(sq);
    char err[512] = "";
    fd_targets_t *t = NULL;
    if (fd_targets_parse(fn, json, strlen(json), dir, &t, err, sizeof err) != FD_OK)
        fail_msg("parse failed: %s\n%s", err, json);
    free(json);
    return t;
}

static void parse_fails(const char *sq, fd_err_t want, const char *msg) {
    char *json = J(sq);
    char err[512] = "";
    fd_targets_t *t = (fd_targets_t *)&err; /* must become NULL */
    fd_err_t e = fd_targets_parse(fn, json, strlen(json), dir, &t, err, sizeof err);
    if (e != want || t != NULL || strstr(err, msg) == NULL)
        fail_msg("%s\n got %d \"%s\"\n want %d \"%s\"", json, e, err, want, msg);
    free(json);
}

static fd_kpi_t K(const char *name) {
    fd_kpi_t k;
    char err[256];
    if (!fd_kpi_parse(fn, name, strlen(name), &k, err, sizeof err)) fail_msg("%s", err);
    return k;
}

static fd_period_t P(const char *id) {
    fd_period_t p;
    if (!fd_period_parse(id, strlen(id), &p)) fail_msg("period %s", id);
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * Periods */

static void test_period_ids_parse_and_format(void **state) {
    (void)state;
    static const char *const good[] = {"month:2026-11", "month:1970-01", "quarter:2026-Q4",
                                       "year:2026", "year:9999"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fd_period_t p = P(good[i]);
        char buf[FD_PERIOD_ID_MAX];
        assert_int_equal(fd_period_format(&p, buf, sizeof buf), strlen(good[i]));
        assert_string_equal(buf, good[i]);
    }
    fd_period_t p = P("quarter:2026-Q4");
    assert_int_equal(p.kind, FD_PERIOD_QUARTER);
    assert_int_equal(p.year, 2026);
    assert_int_equal(p.index, 4);
    static const char *const bad[] = {"month:2026-13",
                                      "month:2026-00",
                                      "month:2026-1",
                                      "quarter:2026-Q5",
                                      "quarter:2026-4",
                                      "year:1969",
                                      "year:26",
                                      "week:2026-W01",
                                      "month",
                                      "month:2026-11x",
                                      ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fd_period_t q = {FD_PERIOD_YEAR, 1, 1};
        assert_false(fd_period_parse(bad[i], strlen(bad[i]), &q));
        assert_int_equal(q.year, 1); /* untouched */
    }
    assert_string_equal(fd_period_kind_name(FD_PERIOD_QUARTER), "quarter");
    assert_string_equal(fd_period_kind_name(FD_PERIOD_COUNT), "unknown");
}

static void test_period_prev_crosses_year_ends(void **state) {
    (void)state;
    static const char *const pairs[][2] = {{"month:2026-01", "month:2025-12"},
                                           {"month:2026-11", "month:2026-10"},
                                           {"quarter:2026-Q1", "quarter:2025-Q4"},
                                           {"quarter:2026-Q3", "quarter:2026-Q2"},
                                           {"year:2026", "year:2025"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        fd_period_t p = P(pairs[i][0]), q;
        char buf[FD_PERIOD_ID_MAX];
        fd_period_prev(&p, &q);
        fd_period_format(&q, buf, sizeof buf);
        assert_string_equal(buf, pairs[i][1]);
    }
}

static void test_period_of_and_bounds_in_the_business_timezone(void **state) {
    (void)state;
    fd_timewin_t *tw = NULL;
    char err[256];
    assert_int_equal(fd_timewin_new("Europe/Berlin", &tw, err, sizeof err), FD_OK);
    /* 2026-12-31T23:30Z is 2027-01-01 00:30 in Berlin (CET, +1): January, Q1, 2027 */
    int64_t at = INT64_C(1798759800000);
    fd_period_t p;
    char buf[FD_PERIOD_ID_MAX];
    static const char *const want[] = {"month:2027-01", "quarter:2027-Q1", "year:2027"};
    for (int k = 0; k < FD_PERIOD_COUNT; k++) {
        fd_period_of(tw, (fd_period_kind_t)k, at, &p);
        fd_period_format(&p, buf, sizeof buf);
        assert_string_equal(buf, want[k]);
    }
    /* half an hour earlier, 2026-12-31T23:00Z - 1 ms: still December 2026 */
    fd_period_of(tw, FD_PERIOD_YEAR, INT64_C(1798758000000) - 1, &p);
    assert_int_equal(p.year, 2026);
    /* March 2026 in Berlin holds the switch to summer time (29 March): it starts at
     * 2026-02-28T23:00Z (00:00 CET) and ends at 2026-03-31T22:00Z (00:00 CEST): 743 hours */
    int64_t s, e;
    p = P("month:2026-03");
    fd_period_bounds(tw, &p, &s, &e);
    assert_int_equal(s, INT64_C(1772319600000));
    assert_int_equal(e, INT64_C(1774994400000));
    assert_int_equal(e - s, INT64_C(743) * 3600000);
    /* Q4 2026 starts 2026-09-30T22:00Z (00:00 CEST) */
    p = P("quarter:2026-Q4");
    fd_period_bounds(tw, &p, &s, &e);
    assert_int_equal(s, INT64_C(1790805600000));
    assert_int_equal(e, INT64_C(1798758000000)); /* 2027-01-01 00:00 CET */
    /* the year 2026: 2025-12-31T23:00Z .. 2026-12-31T23:00Z */
    p = P("year:2026");
    fd_period_bounds(tw, &p, &s, &e);
    assert_int_equal(s, INT64_C(1767222000000));
    assert_int_equal(e, INT64_C(1798758000000));
    fd_timewin_destroy(tw);
}

/* "month", "quarter", "year": the current ones, from the windows of now. */
static void test_period_alias_names_the_current_period(void **state) {
    (void)state;
    fd_windows_t now;
    memset(&now, 0, sizeof now);
    snprintf(now.id[FD_WIN_MONTH], sizeof now.id[FD_WIN_MONTH], "month:2026-12");
    snprintf(now.id[FD_WIN_QUARTER], sizeof now.id[FD_WIN_QUARTER], "quarter:2026-Q4");
    fd_period_t p;
    char buf[FD_PERIOD_ID_MAX + 1];
    assert_true(fd_period_alias("month", &now, &p));
    fd_period_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "month:2026-12");
    assert_true(fd_period_alias("quarter", &now, &p));
    fd_period_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "quarter:2026-Q4");
    assert_true(fd_period_alias("year", &now, &p));
    fd_period_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "year:2026");
    assert_false(fd_period_alias("month:2026-12", &now, &p));
    assert_false(fd_period_alias("week", &now, &p));
}

static void test_period_windows(void **state) {
    (void)state;
    char w[4][FD_PERIOD_ID_MAX + 8];
    fd_period_t p = P("month:2026-11");
    assert_int_equal(fd_period_windows(&p, w), 1);
    assert_string_equal(w[0], "month:2026-11");
    p = P("quarter:2026-Q2");
    assert_int_equal(fd_period_windows(&p, w), 1);
    assert_string_equal(w[0], "quarter:2026-Q2");
    p = P("year:2026");
    assert_int_equal(fd_period_windows(&p, w), 4);
    assert_string_equal(w[0], "quarter:2026-Q1");
    assert_string_equal(w[3], "quarter:2026-Q4");
}

/* ---------------------------------------------------------------------------------------------
 * The file */

static const char *full_doc =
    "{'clock': 'wall', 'recompute_every': '30s', 'grace': '5d', 'periods': ['month', 'quarter'],"
    " 'team_targets': 'explicit',"
    " 'scorecard': {'kpis': ["
    "   {'kpi': 'won_amount', 'weight': 40},"
    "   {'kpi': 'activity:visit', 'weight': 20, 'scoring': {'rule': 'linear', 'zero': 0.4, 'full': "
    "1.0, 'cap': 1.5}},"
    "   {'kpi': 'conv:lead', 'weight': 20},"
    "   {'kpi': 'cycle_days', 'weight': 10, 'scoring': {'rule': 'bands', 'bands': [{'min': 1.0, "
    "'points': 100}, {'min': 0.8, 'points': 60}]}},"
    "   {'kpi': 'complaints', 'weight': 10, 'direction': 'higher'}],"
    "  'grades': {'A': 85}},"
    " 'targets': ["
    "   {'scope': 'rep', 'id': '*', 'period': 'month', 'kpi': 'won_amount', 'value': 50000},"
    "   {'scope': 'rep', 'id': 'Anna Snelling', 'period': 'month:2026-11', 'kpi': 'won_amount', "
    "'value': 80000},"
    "   {'scope': 'team', 'id': 'Celia Rouche', 'period': 'quarter', 'kpi': 'conv:lead', 'value': "
    "0.3}]}";

static void test_targets_full_document(void **state) {
    (void)state;
    fd_targets_t *t = parse_ok(full_doc);
    assert_false(fd_targets_event_clock(t));
    assert_int_equal(fd_targets_recompute_ms(t), 30000);
    assert_int_equal(fd_targets_grace_ms(t), INT64_C(5) * 86400000);
    assert_true(fd_targets_scores_period(t, FD_PERIOD_MONTH));
    assert_true(fd_targets_scores_period(t, FD_PERIOD_QUARTER));
    assert_false(fd_targets_scores_period(t, FD_PERIOD_YEAR));
    assert_false(fd_targets_team_sums(t));
    assert_int_equal(fd_targets_count(t), 3);
    const fd_scorecard_def_t *d = fd_targets_scorecard(t);
    assert_non_null(d);
    assert_int_equal(d->nkpis, 5);
    assert_string_equal(d->kpis[0].name, "won_amount");
    assert_int_equal(d->kpis[0].direction, FD_DIR_HIGHER);
    assert_int_equal(d->kpis[0].scoring, FD_SCORING_LINEAR);
    assert_true(d->kpis[0].zero == 0.5 && d->kpis[0].full == 1.0 && d->kpis[0].cap == 1.2);
    assert_true(d->kpis[1].zero == 0.4 && d->kpis[1].cap == 1.5);
    assert_string_equal(d->kpis[1].name, "activity:visit");
    assert_int_equal(d->kpis[3].direction, FD_DIR_LOWER); /* cycle_days: lower by default */
    assert_int_equal(d->kpis[3].scoring, FD_SCORING_BANDS);
    assert_int_equal(d->kpis[3].nbands, 2);
    assert_true(d->kpis[3].bands[1].min_attainment == 0.8 && d->kpis[3].bands[1].points == 60);
    assert_int_equal(d->kpis[4].direction, FD_DIR_HIGHER); /* said so, over the default */
    assert_true(d->grade_min[0] == 85 && d->grade_min[1] == 75 && d->grade_min[2] == 60);
    fd_targets_destroy(t);
    /* the defaults: event clock, 60 s, 3 days, every period, team sums, no scorecard */
    t = parse_ok("{}");
    assert_true(fd_targets_event_clock(t));
    assert_int_equal(fd_targets_recompute_ms(t), 60000);
    assert_int_equal(fd_targets_grace_ms(t), INT64_C(3) * 86400000);
    assert_true(fd_targets_scores_period(t, FD_PERIOD_YEAR));
    assert_true(fd_targets_team_sums(t));
    assert_null(fd_targets_scorecard(t));
    assert_int_equal(fd_targets_count(t), 0);
    fd_targets_destroy(t);
    fd_targets_destroy(NULL);
}

static void test_targets_find_precedence(void **state) {
    (void)state;
    fd_targets_t *t = parse_ok(
        "{'targets': ["
        " {'scope': 'rep', 'id': '*', 'period': 'month', 'kpi': 'won', 'value': 1},"
        " {'scope': 'rep', 'id': '*', 'period': 'month:2026-11', 'kpi': 'won', 'value': 2},"
        " {'scope': 'rep', 'id': 'Anna', 'period': 'month', 'kpi': 'won', 'value': 3},"
        " {'scope': 'rep', 'id': 'Anna', 'period': 'month:2026-11', 'kpi': 'won', 'value': 4},"
        " {'scope': 'team', 'id': 'T', 'period': 'quarter', 'kpi': 'won', 'value': 5}]}");
    double v = -1;
    char src[FD_SCORE_SOURCE_MAX];
    fd_period_t nov = P("month:2026-11"), oct = P("month:2026-10"), q4 = P("quarter:2026-Q4");
    /* the id and the exact period first */
    assert_true(fd_targets_find(t, FD_SCOPE_REP, "Anna", &nov, K("won"), &v, src, sizeof src));
    assert_true(v == 4);
    assert_string_equal(src, "targets[3]");
    /* then the id and the kind */
    assert_true(fd_targets_find(t, FD_SCOPE_REP, "Anna", &oct, K("won"), &v, src, sizeof src));
    assert_true(v == 3);
    /* then "*" with the exact period */
    assert_true(fd_targets_find(t, FD_SCOPE_REP, "Bob", &nov, K("won"), &v, src, sizeof src));
    assert_true(v == 2);
    assert_string_equal(src, "targets[1]");
    /* then "*" with the kind */
    assert_true(fd_targets_find(t, FD_SCOPE_REP, "Bob", &oct, K("won"), &v, src, sizeof src));
    assert_true(v == 1);
    /* no month row applies to a quarter, no rep row to a team, no won row to won_amount */
    v = -1;
    assert_false(fd_targets_find(t, FD_SCOPE_REP, "Anna", &q4, K("won"), &v, src, sizeof src));
    assert_false(fd_targets_find(t, FD_SCOPE_TEAM, "Anna", &nov, K("won"), &v, src, sizeof src));
    assert_false(
        fd_targets_find(t, FD_SCOPE_REP, "Anna", &nov, K("won_amount"), &v, src, sizeof src));
    assert_true(v == -1);
    assert_true(fd_targets_find(t, FD_SCOPE_TEAM, "T", &q4, K("won"), &v, NULL, 0));
    assert_true(v == 5);
    fd_targets_destroy(t);
}

/* A team's target: its own row first; else, for a count or amount, the sum of its reps' (from
 * the rep -> team map), never for a rate, and not with "team_targets": "explicit". */
static void test_targets_resolve_sums_a_teams_reps(void **state) {
    (void)state;
    const char *rows =
        "'targets': ["
        " {'scope': 'rep', 'id': '*', 'period': 'month', 'kpi': 'won', 'value': 2},"
        " {'scope': 'rep', 'id': 'Anna', 'period': 'month', 'kpi': 'won', 'value': 5},"
        " {'scope': 'rep', 'id': 'Anna', 'period': 'month', 'kpi': 'win_rate', 'value': 0.5},"
        " {'scope': 'team', 'id': 'East', 'period': 'month', 'kpi': 'complaints', 'value': 9}]}";
    char doc[1024];
    snprintf(doc, sizeof doc, "{%s", rows);
    fd_targets_t *t = parse_ok(doc);
    fd_map_t *rt;
    assert_int_equal(fd_map_new(&rt), FD_OK);
    static char east[] = "East", west[] = "West";
    assert_int_equal(fd_map_put(rt, "Anna", 4, east), FD_OK);
    assert_int_equal(fd_map_put(rt, "Ben", 3, east), FD_OK);
    assert_int_equal(fd_map_put(rt, "Cleo", 4, west), FD_OK);
    assert_int_equal(fd_map_put(rt, "Dan", 3, NULL), FD_OK); /* no team known */
    fd_period_t nov = P("month:2026-11");
    double v = -1;
    char src[FD_SCORE_SOURCE_MAX];
    /* East: Anna 5 + Ben 2 (the "*" row) */
    assert_true(
        fd_targets_resolve(t, FD_SCOPE_TEAM, "East", &nov, K("won"), rt, &v, src, sizeof src));
    assert_true(v == 7);
    assert_string_equal(src, "sum of 2 reps");
    /* its own row wins */
    assert_true(fd_targets_resolve(t, FD_SCOPE_TEAM, "East", &nov, K("complaints"), rt, &v, src,
                                   sizeof src));
    assert_true(v == 9);
    assert_string_equal(src, "targets[3]");
    /* a rate is not summed; a rep is never summed */
    assert_false(
        fd_targets_resolve(t, FD_SCOPE_TEAM, "East", &nov, K("win_rate"), rt, &v, src, sizeof src));
    assert_true(
        fd_targets_resolve(t, FD_SCOPE_REP, "Anna", &nov, K("won"), rt, &v, src, sizeof src));
    assert_true(v == 5);
    /* a team without members */
    assert_false(
        fd_targets_resolve(t, FD_SCOPE_TEAM, "North", &nov, K("won"), rt, &v, src, sizeof src));
    fd_targets_destroy(t);
    snprintf(doc, sizeof doc, "{'team_targets': 'explicit', %s", rows);
    t = parse_ok(doc);
    assert_false(
        fd_targets_resolve(t, FD_SCOPE_TEAM, "East", &nov, K("won"), rt, &v, src, sizeof src));
    fd_targets_destroy(t);
    fd_map_destroy(rt);
}

static void collect(const char *id, void *arg) {
    char *buf = arg;
    strcat(buf, id);
    strcat(buf, "|");
}

static void test_targets_ids_named_once_in_order(void **state) {
    (void)state;
    fd_targets_t *t =
        parse_ok("{'targets': ["
                 " {'scope': 'rep', 'id': 'B', 'period': 'month', 'kpi': 'won', 'value': 1},"
                 " {'scope': 'rep', 'id': '*', 'period': 'month', 'kpi': 'won', 'value': 1},"
                 " {'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'won', 'value': 1},"
                 " {'scope': 'rep', 'id': 'B', 'period': 'quarter', 'kpi': 'won', 'value': 1},"
                 " {'scope': 'team', 'id': 'T', 'period': 'month', 'kpi': 'won', 'value': 1}]}");
    char buf[64] = "";
    fd_targets_ids(t, FD_SCOPE_REP, collect, buf);
    assert_string_equal(buf, "B|A|");
    buf[0] = '\0';
    fd_targets_ids(t, FD_SCOPE_TEAM, collect, buf);
    assert_string_equal(buf, "T|");
    fd_targets_destroy(t);
}

/* A scorecard document with one KPI line (its members, without braces) and weight 100. */
#define SC1(members) "{'scorecard': {'kpis': [{'kpi': 'won', 'weight': 100, " members "}]}}"
#define ROW(members)                                                                               \
    "{'targets': [{'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'won', 'value': 1}, "      \
    "{" members "}]}"

static void test_targets_every_error_names_its_place(void **state) {
    (void)state;
    static const struct {
        const char *doc, *msg;
    } cases[] = {
        {"{'clok': 'event'}", "targets file: unknown key \"clok\"; valid: clock, recompute_every"},
        {"{'grace': '1d', 'grace': '2d'}", "grace: duplicate key"},
        {"[]", "targets file: expected a JSON object, found an array"},
        {"{'clock': 'utc'}", "clock: expected one of \"event\", \"wall\", found \"utc\""},
        {"{'recompute_every': '0'}", "recompute_every: expected a duration in [1s, 1d]"},
        {"{'recompute_every': 60}", "recompute_every: expected a duration such as"},
        {"{'grace': '91d'}", "grace: expected a duration in [0s, 90d], found \"91d\""},
        {"{'periods': []}", "periods: expected a non-empty array"},
        {"{'periods': ['month', 'week']}", "periods[1]: expected one of \"month\""},
        {"{'periods': ['month', 'month']}", "periods[1]: \"month\" is listed twice"},
        {"{'team_targets': 'sum'}", "team_targets: expected one of \"sum_of_reps\", \"explicit\""},
        {"{'scorecard': []}", "scorecard: expected an object, found an array"},
        {"{'scorecard': {'kpi': []}}", "scorecard: unknown key \"kpi\"; valid: kpis, grades"},
        {"{'scorecard': {}}", "scorecard.kpis: missing"},
        {"{'scorecard': {'kpis': []}}", "scorecard.kpis: expected an array of 1..16 KPIs, found "
                                        "an empty array"},
        {"{'scorecard': {'kpis': [{'kpi': 'won', 'weight': 60}, {'kpi': 'complaints', "
         "'weight': 35}]}}",
         "scorecard.kpis: the weights sum to 95, not 100"},
        {"{'scorecard': {'kpis': [{'kpi': 'won', 'weight': 60}, {'kpi': 'won', 'weight': 40}]}}",
         "scorecard.kpis[1].kpi: won is already scorecard.kpis[0]"},
        {"{'scorecard': {'kpis': [{'weight': 100}]}}", "scorecard.kpis[0].kpi: missing"},
        {"{'scorecard': {'kpis': [{'kpi': 'won'}]}}", "scorecard.kpis[0].weight: missing"},
        {"{'scorecard': {'kpis': [{'kpi': 'won', 'weight': 0}]}}",
         "scorecard.kpis[0].weight: expected a weight > 0"},
        {"{'scorecard': {'kpis': [{'kpi': 'won', 'weight': 101}]}}",
         "scorecard.kpis[0].weight: expected a number in [0, 100], found 101"},
        {"{'scorecard': {'kpis': [{'kpi': 'wins', 'weight': 100}]}}",
         "scorecard.kpis[0].kpi: unknown KPI \"wins\"; valid: entered:<stage>"},
        {"{'scorecard': {'kpis': [{'kpi': 'stalled:lead', 'weight': 100}]}}",
         "scorecard.kpis[0].kpi: stalled is not a KPI of a period"},
        {SC1("'wieght': 1"), "scorecard.kpis[0]: unknown key \"wieght\""},
        {SC1("'direction': 'up'"), "scorecard.kpis[0].direction: expected one of \"higher\", "
                                   "\"lower\", found \"up\""},
        {SC1("'scoring': {}"), "scorecard.kpis[0].scoring.rule: missing"},
        {SC1("'scoring': {'rule': 'steps'}"), "scorecard.kpis[0].scoring.rule: expected one of"},
        {SC1("'scoring': {'rule': 'linear', 'zero': 1.0}"),
         "scorecard.kpis[0].scoring: expected 0 <= zero < full <= cap, found zero 1, full 1, cap "
         "1.2"},
        {SC1("'scoring': {'rule': 'linear', 'full': 1.3}"),
         "scorecard.kpis[0].scoring: expected 0 <= zero < full <= cap, found zero 0.5, full 1.3"},
        {SC1("'scoring': {'rule': 'linear', 'zero': -1}"),
         "scorecard.kpis[0].scoring.zero: expected a number in [0, 10], found -1"},
        {SC1("'scoring': {'rule': 'linear', 'bands': []}"),
         "scorecard.kpis[0].scoring: unknown key \"bands\""},
        {SC1("'scoring': {'rule': 'bands', 'cap': 1}"),
         "scorecard.kpis[0].scoring: unknown key \"cap\""},
        {SC1("'scoring': {'rule': 'bands'}"), "scorecard.kpis[0].scoring.bands: missing"},
        {SC1("'scoring': {'rule': 'bands', 'bands': []}"),
         "scorecard.kpis[0].scoring.bands: expected an array of 1..8 bands"},
        {SC1("'scoring': {'rule': 'bands', 'bands': [{'min': 0.8, 'points': 60}, {'min': 1.0, "
             "'points': 100}]}"),
         "scorecard.kpis[0].scoring.bands[1].min: bands go from the highest min down: expected "
         "less than 0.8, found 1"},
        {SC1("'scoring': {'rule': 'bands', 'bands': [{'min': 1.0, 'points': 60}, {'min': 0.8, "
             "'points': 100}]}"),
         "scorecard.kpis[0].scoring.bands[1].points: a lower band cannot give more points"},
        {SC1("'scoring': {'rule': 'bands', 'bands': [{'min': 1.0}]}"),
         "scorecard.kpis[0].scoring.bands[0].points: missing"},
        {"{'scorecard': {'kpis': [{'kpi': 'won', 'weight': 100}], 'grades': {'A': 70}}}",
         "scorecard.grades: expected A > B > C (below C is D), found A 70, B 75, C 60"},
        {"{'scorecard': {'kpis': [{'kpi': 'won', 'weight': 100}], 'grades': {'D': 10}}}",
         "scorecard.grades: unknown key \"D\"; valid: A, B, C"},
        {"{'targets': {}}", "targets: expected an array of rows, found an object"},
        {"{'targets': [3]}", "targets[0]: expected an object, found 3"},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'won'"),
         "targets[1].value: missing"},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'won', 'value': 1, 'note': "
             "''"),
         "targets[1]: unknown key \"note\""},
        {ROW("'scope': 'org', 'id': 'A', 'period': 'month', 'kpi': 'won', 'value': 1"),
         "targets[1].scope: expected \"rep\" or \"team\", found \"org\""},
        {ROW("'scope': 'rep', 'id': '', 'period': 'month', 'kpi': 'won', 'value': 1"),
         "targets[1].id: expected an id"},
        {ROW("'scope': 'rep', 'id': 7, 'period': 'month', 'kpi': 'won', 'value': 1"),
         "targets[1].id: expected a string (an id or \"*\"), found 7"},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'week', 'kpi': 'won', 'value': 1"),
         "targets[1].period: expected \"month\", \"quarter\", \"year\""},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'month:2026-13', 'kpi': 'won', 'value': 1"),
         "targets[1].period: expected"},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'conv:won', 'value': 1"),
         "targets[1].kpi: won is the won stage"},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'won', 'value': -1"),
         "targets[1].value: expected a number >= 0, found -1"},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'won', 'value': '3'"),
         "targets[1].value: expected a number >= 0, found \"3\""},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'conv:lead', 'value': 30"),
         "targets[1].value: a rate is a fraction in [0, 1] (30 % is 0.3), found 30"},
        {ROW("'scope': 'rep', 'id': 'A', 'period': 'month', 'kpi': 'won', 'value': 2"),
         "targets[1]: a second target for rep \"A\", month, won (the first is targets[0])"},
        {"{'csv': ''}", "csv: expected the path of a CSV file of rows, found \"\""},
        {"{'clock': 'event' 'x'}", "targets file: not valid JSON near line 1, column 19"},
        {"{}\n{}", "targets file: unexpected data after the JSON document at line 2, column 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_fails(cases[i].doc, FD_ERR_CONFIG, cases[i].msg);
    /* a CSV that cannot be read: FD_ERR_IO naming it */
    parse_fails("{'csv': 'missing.csv'}", FD_ERR_IO, "missing.csv: cannot read");
    /* a \u0000 escape */
    const char *nul = "{\"csv\": \"a\\u0000b\"}";
    char err[256];
    fd_targets_t *t = NULL;
    assert_int_equal(fd_targets_parse(fn, nul, strlen(nul), dir, &t, err, sizeof err),
                     FD_ERR_CONFIG);
    assert_non_null(strstr(err, "a \\u0000 escape at line 1, column 11"));
}

/* ---------------------------------------------------------------------------------------------
 * CSV rows */

static void test_targets_csv_rows(void **state) {
    (void)state;
    /* a BOM, CRLF line ends, blank lines, spaces around unquoted fields, quoted ids holding
     * commas and doubled quotes */
    write_file("t.csv", "\xEF\xBB\xBFscope,id,period,kpi,value\r\n"
                        "rep,\"Snelling, Anna\",month,won_amount,60000\r\n"
                        "\r\n"
                        " team , Celia Rouche , quarter , conv:lead , 0.3\r\n"
                        "rep,\"Bob \"\"the closer\"\"\",month:2026-11,won,12.5\n"
                        "rep,*,month,complaints,2");
    fd_targets_t *t = parse_ok(
        "{'csv': 't.csv', 'targets': [{'scope': 'rep', 'id': 'X', 'period': 'year', 'kpi': "
        "'won', 'value': 100}]}");
    assert_int_equal(fd_targets_count(t), 5);
    double v = 0;
    char src[FD_SCORE_SOURCE_MAX];
    fd_period_t nov = P("month:2026-11"), q4 = P("quarter:2026-Q4");
    assert_true(fd_targets_find(t, FD_SCOPE_REP, "Snelling, Anna", &nov, K("won_amount"), &v, src,
                                sizeof src));
    assert_true(v == 60000);
    assert_string_equal(src, "t.csv:2"); /* the line in the file */
    assert_true(fd_targets_find(t, FD_SCOPE_TEAM, "Celia Rouche", &q4, K("conv:lead"), &v, src,
                                sizeof src));
    assert_true(v == 0.3);
    assert_string_equal(src, "t.csv:4");
    assert_true(fd_targets_find(t, FD_SCOPE_REP, "Bob \"the closer\"", &nov, K("won"), &v, src,
                                sizeof src));
    assert_true(v == 12.5);
    assert_true(fd_targets_find(t, FD_SCOPE_REP, "Z", &nov, K("complaints"), &v, src, sizeof src));
    assert_true(v == 2);
    assert_string_equal(src, "t.csv:6");
    fd_targets_destroy(t);

    static const struct {
        const char *csv, *msg;
    } bad[] = {
        {"", "t.csv: empty: expected the header"},
        {"scope,id,kpi,period,value\n", "t.csv:1: expected the header scope,id,period,kpi,value"},
        {"scope,id,period,kpi,value\nrep,A,month,won\n",
         "t.csv:2: expected 5 fields (scope,id,period,kpi,value), found 4"},
        {"scope,id,period,kpi,value\n\nrep,A,month,won,1,2\n", "t.csv:3: expected 5 fields"},
        {"scope,id,period,kpi,value\nrep,\"A,month,won,1\n", "t.csv:2: a quoted field is not "
                                                             "closed"},
        {"scope,id,period,kpi,value\nrep,A\"B,month,won,1\n", "t.csv:2: a quote inside an "
                                                              "unquoted field"},
        {"scope,id,period,kpi,value\nrep,\"A\"B,month,won,1\n",
         "t.csv:2: expected a comma or the end of the line after a quoted field"},
        {"scope,id,period,kpi,value\nrep,A,month,won,x\n",
         "t.csv:2: value: expected a number >= 0, found \"x\""},
        {"scope,id,period,kpi,value\nrep,A,month,won,\n",
         "t.csv:2: value: expected a number >= 0, found \"\""},
        {"scope,id,period,kpi,value\nrep,A,month,wins,1\n", "t.csv:2: kpi: unknown KPI \"wins\""},
        {"scope,id,period,kpi,value\nrep,A,month,won,1\nteam,B,year,won,1\nrep,A,month,won,2\n",
         "t.csv:4: a second target for rep \"A\", month, won (the first is t.csv:2)"},
        {"scope,id,period,kpi,value\nrep,Z,month,won,1\n",
         "t.csv:2: a second target for rep \"Z\", month, won (the first is targets[0])"},
        {"scope,id,period,kpi,value\nman,A,month,won,1\n",
         "t.csv:2: scope: expected \"rep\" or \"team\", found \"man\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file("t.csv", bad[i].csv);
        parse_fails("{'targets': [{'scope': 'rep', 'id': 'Z', 'period': 'month', 'kpi': 'won', "
                    "'value': 1}], 'csv': 't.csv'}",
                    FD_ERR_CONFIG, bad[i].msg);
    }
}

static void test_targets_load_json_with_csv_and_csv_alone(void **state) {
    (void)state;
    write_file("t.csv", "scope,id,period,kpi,value\nrep,A,month,won,3\n");
    write_file("t.json", "{\"csv\": \"t.csv\", \"scorecard\": {\"kpis\": [{\"kpi\": \"won\", "
                         "\"weight\": 100}]}}");
    char path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/t.json", dir);
    fd_targets_t *t = NULL;
    /* the CSV is found beside the JSON file, whatever the working directory */
    assert_int_equal(chdir("/"), 0);
    if (fd_targets_load(fn, path, &t, err, sizeof err) != FD_OK) fail_msg("%s", err);
    assert_int_equal(fd_targets_count(t), 1);
    assert_non_null(fd_targets_scorecard(t));
    fd_targets_destroy(t);
    /* a CSV file as the targets file: rows only, no scorecard */
    write_file("alone.csv", "scope,id,period,kpi,value\nrep,A,month,won,3\nrep,B,month,won,4\n");
    snprintf(path, sizeof path, "%s/alone.csv", dir);
    assert_int_equal(fd_targets_load(fn, path, &t, err, sizeof err), FD_OK);
    assert_int_equal(fd_targets_count(t), 2);
    assert_null(fd_targets_scorecard(t));
    fd_targets_destroy(t);
    write_file("bad.csv", "scope,id,period,kpi,value\nrep,A,month,won,-3\n");
    snprintf(path, sizeof path, "%s/bad.csv", dir);
    assert_int_equal(fd_targets_load(fn, path, &t, err, sizeof err), FD_ERR_CONFIG);
    assert_null(t);
    assert_non_null(strstr(err, "bad.csv:2: value: expected a number >= 0, found \"-3\""));
    /* a file that is not there */
    snprintf(path, sizeof path, "%s/none.json", dir);
    assert_int_equal(fd_targets_load(fn, path, &t, err, sizeof err), FD_ERR_IO);
    assert_non_null(strstr(err, "none.json: cannot read"));
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_period_ids_parse_and_format),
        T(test_period_prev_crosses_year_ends),
        T(test_period_of_and_bounds_in_the_business_timezone),
        T(test_period_alias_names_the_current_period),
        T(test_period_windows),
        T(test_targets_full_document),
        T(test_targets_find_precedence),
        T(test_targets_resolve_sums_a_teams_reps),
        T(test_targets_ids_named_once_in_order),
        T(test_targets_every_error_names_its_place),
        T(test_targets_csv_rows),
        T(test_targets_load_json_with_csv_and_csv_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
