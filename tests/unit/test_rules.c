// SPDX-License-Identifier: MIT
// Unit tests of the alert rules: the rules file (keys, defaults, every error path naming its
// field), durations, KPI values and samples, parameters after overrides, per-id targets and
// filters, and the threshold, target-pace and drift conditions; expectations are worked out by
// hand from docs/alerts.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alerting/rules.h"

#define HOUR INT64_C(3600000)
#define DAY  (24 * HOUR)

/* The default funnel: 5 stages, 5 activity kinds. Field layout (docs/funnel.md): stage s field f
 * at s*6+f; globals from 30 (won, lost, won_amount, feedback_count, feedback_sum, complaints,
 * events); activity kinds from 37. */
enum { LEAD, QUALIFIED, PROPOSAL, NEGOTIATION, WON_STAGE };
enum { F_ENTERED, F_ADVANCED, F_MOVED_ON, F_LOST_AT, F_DWELL_SUM, F_DWELL_COUNT };
#define NF         42
#define SF(s, f)   ((s)*6 + (f))
#define G_WON      30
#define G_LOST     31
#define G_AMOUNT   32
#define G_FB_COUNT 33
#define G_FB_SUM   34
#define G_COMPL    35
#define K_CALL     37
#define K_VISIT    38

static fd_funnel_t *fn;

static int setup(void **state) {
    (void)state;
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};
    char err[256];
    return fd_funnel_new(stages, 5, kinds, 5, &fn, err, sizeof err) == FD_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    fd_funnel_destroy(fn);
    fn = NULL;
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

static fd_rules_t *parse_ok(const char *sq) {
    char *json = J(sq);
    char err[512] = "";
    fd_rules_t *rs = NULL;
    fd_err_t e = fd_rules_parse(fn, json, strlen(json), &rs, err, sizeof err);
    if (e != FD_OK) fail_msg("parse failed: %s\n%s", err, json);
    free(json);
    assert_non_null(rs);
    return rs;
}

/* A rules document with one rule (its members given without braces). */
static fd_rules_t *one_rule(const char *members) {
    char buf[2048];
    snprintf(buf, sizeof buf, "{'rules':[{'name':'r',%s}]}", members);
    return parse_ok(buf);
}

/* ---------------------------------------------------------------------------------------------
 * Parsing: a full document and its defaults */

static const char *const full_doc =
    "{'locale':'zh','clock':'wall','evaluate_every':'30s','stall_scan_every':'10m',"
    " 'managers':{'team-east':'Dustin Brinkmann','team-west':'Melvin Marxen'},"
    " 'rules':["
    "  {'name':'proposal-exit-low','kpi':'exit_conv:proposal','scope':'rep','window':'7d',"
    "   'severity':'warning','threshold':{'op':'<','value':0.2},'min_samples':10,"
    "   'for':'2h','resolve_for':'2h','hysteresis':0.05,'repeat_every':'0',"
    "   'teams':['team-east'],"
    "   'overrides':{'team-east':{'threshold':{'value':0.15},'min_samples':5}},"
    "   'summary':{'en':'low {value}','zh':'低 {value}'}},"
    "  {'name':'visits-behind','kpi':'activity:visit','scope':'rep','window':'week',"
    "   'severity':'info','target':{'op':'>=','value':20,'tolerance':0.25,"
    "   'teams':{'team-west':15},'reps':{'anna':30}}},"
    "  {'name':'win-rate-drift','kpi':'win_rate','scope':'team','window':'7d',"
    "   'severity':'critical','drift':{'baseline_days':28,'max_change':0.3,'z':3,"
    "   'direction':'down','require':'both'},'min_samples':20},"
    "  {'name':'negotiation-stalled','kpi':'stalled:negotiation','scope':'rep',"
    "   'severity':'warning','stalled_after':'21d','threshold':{'op':'>=','value':3}},"
    "  {'name':'conv-lagged','kpi':'conv:lead','scope':'org','window':'28d','lag':'28d',"
    "   'threshold':{'op':'<','value':0.1}}"
    " ]}";

static void test_parse_full_document_reads_every_global_setting(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok(full_doc);
    assert_int_equal(fd_rules_count(rs), 5);
    assert_string_equal(fd_rules_locale(rs), "zh");
    assert_true(fd_rules_wall_clock(rs));
    assert_int_equal(fd_rules_interval_ms(rs), 30000);
    assert_int_equal(fd_rules_stall_scan_ms(rs), 600000);
    assert_string_equal(fd_rules_manager(rs, "team-west"), "Melvin Marxen");
    assert_null(fd_rules_manager(rs, "team-north"));
    /* 28d span + 28d lag is the longest rolling read */
    assert_int_equal(fd_rules_hour_span_ms(rs), 56 * DAY);
    assert_int_equal(fd_rules_max_baseline_days(rs), 28);
    fd_rules_destroy(rs);
}

static void test_parse_full_document_reads_each_rule(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok(full_doc);
    const fd_rule_t *r = fd_rules_at(rs, 0);
    assert_string_equal(r->name, "proposal-exit-low");
    assert_int_equal(r->kpi.kind, FD_KPI_EXIT_CONV);
    assert_int_equal(r->kpi.arg, PROPOSAL);
    assert_int_equal(r->scope, FD_SCOPE_REP);
    assert_int_equal(r->window.type, FD_RULE_WIN_ROLLING);
    assert_int_equal(r->window.span_ms, 7 * DAY);
    assert_string_equal(r->window.name, "7d");
    assert_int_equal(r->cond, FD_COND_THRESHOLD);
    assert_string_equal(r->severity, "warning");
    r = fd_rules_at(rs, 1);
    assert_int_equal(r->kpi.kind, FD_KPI_ACTIVITY);
    assert_int_equal(r->kpi.arg, 1);
    assert_int_equal(r->window.type, FD_RULE_WIN_CALENDAR);
    assert_int_equal(r->window.cal, FD_WIN_WEEK);
    assert_int_equal(r->cond, FD_COND_TARGET);
    assert_string_equal(r->severity, "info");
    r = fd_rules_at(rs, 2);
    assert_int_equal(r->scope, FD_SCOPE_TEAM);
    assert_int_equal(r->cond, FD_COND_DRIFT);
    r = fd_rules_at(rs, 3);
    assert_int_equal(r->kpi.kind, FD_KPI_STALLED);
    assert_int_equal(r->kpi.arg, NEGOTIATION);
    assert_int_equal(r->window.type, FD_RULE_WIN_NONE);
    r = fd_rules_at(rs, 4);
    assert_int_equal(r->scope, FD_SCOPE_ORG);
    assert_int_equal(r->window.lag_ms, 28 * DAY);
    assert_null(fd_rules_at(rs, 5));
    fd_rules_destroy(rs);
}

static void test_parse_applies_documented_defaults(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok("{'rules':["
                              "{'name':'a','kpi':'won','scope':'rep','window':'day',"
                              " 'threshold':{'op':'<','value':1}},"
                              "{'name':'b','kpi':'won','scope':'org','window':'7d',"
                              " 'drift':{'z':2}},"
                              "{'name':'c','kpi':'won','scope':'org','window':'month',"
                              " 'target':{'value':10}}]}");
    assert_string_equal(fd_rules_locale(rs), "en");
    assert_false(fd_rules_wall_clock(rs));
    assert_int_equal(fd_rules_interval_ms(rs), 60000);
    assert_int_equal(fd_rules_stall_scan_ms(rs), 300000);
    assert_string_equal(fd_rules_at(rs, 0)->severity, "warning");
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "x", "t", &p));
    assert_int_equal(p.min_samples, 0);
    assert_int_equal(p.for_ms, 0);
    assert_int_equal(p.resolve_for_ms, 0);
    assert_int_equal(p.repeat_ms, 0);
    assert_true(p.hysteresis == 0);
    assert_true(fd_rules_params(rs, 1, "", "", &p));
    assert_int_equal(p.min_samples, 10);
    assert_int_equal(p.baseline_days, 28);
    assert_int_equal(p.direction, -1);
    assert_true(p.max_change == 0); /* only z given: z alone */
    assert_true(p.z == 2);
    assert_true(fd_rules_params(rs, 2, "", "", &p));
    assert_int_equal(p.op, FD_OP_GE);
    assert_true(p.tolerance == 0);
    assert_int_equal(fd_rules_hour_span_ms(rs), 7 * DAY);
    fd_rules_destroy(rs);
}

static void test_parse_empty_rules_array_and_no_rolling_rule(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok("{'rules':[]}");
    assert_int_equal(fd_rules_count(rs), 0);
    assert_int_equal(fd_rules_hour_span_ms(rs), 0);
    assert_int_equal(fd_rules_max_baseline_days(rs), 0);
    fd_rules_destroy(rs);
}

static void test_parse_accepts_every_kpi_form(void **state) {
    (void)state;
    static const struct {
        const char *kpi;
        fd_kpi_kind_t kind;
        int arg;
    } cases[] = {
        {"entered:lead", FD_KPI_ENTERED, LEAD},
        {"entered:won", FD_KPI_ENTERED, WON_STAGE},
        {"exit_conv:negotiation", FD_KPI_EXIT_CONV, NEGOTIATION},
        {"conv:qualified", FD_KPI_CONV, QUALIFIED},
        {"dwell_hours:proposal", FD_KPI_DWELL_HOURS, PROPOSAL},
        {"win_rate", FD_KPI_WIN_RATE, -1},
        {"won", FD_KPI_WON, -1},
        {"won_amount", FD_KPI_WON_AMOUNT, -1},
        {"activity:follow_up", FD_KPI_ACTIVITY, 4},
        {"feedback_avg", FD_KPI_FEEDBACK_AVG, -1},
        {"complaints", FD_KPI_COMPLAINTS, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char m[256];
        snprintf(m, sizeof m,
                 "'kpi':'%s','scope':'rep','window':'day','threshold':{'op':'<',"
                 "'value':1}",
                 cases[i].kpi);
        fd_rules_t *rs = one_rule(m);
        assert_int_equal(fd_rules_at(rs, 0)->kpi.kind, cases[i].kind);
        assert_int_equal(fd_rules_at(rs, 0)->kpi.arg, cases[i].arg);
        char name[96];
        fd_kpi_name(fn, fd_rules_at(rs, 0)->kpi, name, sizeof name);
        assert_string_equal(name, cases[i].kpi);
        fd_rules_destroy(rs);
    }
}

static void test_parse_windows_rolling_and_calendar(void **state) {
    (void)state;
    static const struct {
        const char *w;
        fd_rule_win_t type;
        int64_t span;
        fd_win_kind_t cal;
    } cases[] = {
        {"1h", FD_RULE_WIN_ROLLING, HOUR, 0},
        {"24h", FD_RULE_WIN_ROLLING, DAY, 0},
        {"90d", FD_RULE_WIN_ROLLING, 90 * DAY, 0},
        {"day", FD_RULE_WIN_CALENDAR, 0, FD_WIN_DAY},
        {"week", FD_RULE_WIN_CALENDAR, 0, FD_WIN_WEEK},
        {"month", FD_RULE_WIN_CALENDAR, 0, FD_WIN_MONTH},
        {"quarter", FD_RULE_WIN_CALENDAR, 0, FD_WIN_QUARTER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char m[256];
        snprintf(m, sizeof m,
                 "'kpi':'won','scope':'rep','window':'%s','threshold':{'op':'<','value':1}",
                 cases[i].w);
        fd_rules_t *rs = one_rule(m);
        const fd_rule_window_t *w = &fd_rules_at(rs, 0)->window;
        assert_int_equal(w->type, cases[i].type);
        if (w->type == FD_RULE_WIN_ROLLING)
            assert_int_equal(w->span_ms, cases[i].span);
        else
            assert_int_equal(w->cal, cases[i].cal);
        assert_string_equal(w->name, cases[i].w);
        fd_rules_destroy(rs);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Parse errors: each names the field */

typedef struct {
    const char *doc;  /* single-quoted JSON */
    const char *want; /* a substring of errstr */
} bad_case_t;

#define R(members) "{'rules':[{'name':'r'," members "}]}"
#define OKT        "'threshold':{'op':'<','value':1}"
#define BASE       "'kpi':'won','scope':'rep','window':'7d',"

static const bad_case_t bad_cases[] = {
    {"[1]", "rules file: expected a JSON object"},
    {"{'rules':[],'locale':'fr'}", "locale: expected one of \"en\", \"zh\""},
    {"{'rules':[],'clock':'cpu'}", "clock: expected one of"},
    {"{'rules':[],'evaluate_every':'soon'}", "evaluate_every: expected a duration"},
    {"{'rules':[],'evaluate_every':'0'}", "evaluate_every: expected a duration in"},
    {"{'rules':[],'stall_scan_every':5}", "stall_scan_every: expected a string, found 5"},
    {"{'rules':[],'managers':[]}", "managers: expected an object"},
    {"{'rules':[],'managers':{'t':7}}", "managers.t: expected a string"},
    {"{'rules':[],'extra':1}", "extra: unknown key"},
    {"{}", "rules: missing"},
    {"{'rules':{}}", "rules: expected an array"},
    {"{'rules':[7]}", "rules[0]: expected an object"},
    {"{'rules':[{'kpi':'won'}]}", "rules[0].name: missing"},
    {"{'rules':[{'name':'bad name'}]}", "rules[0].name: expected 1..64"},
    {"{'rules':[{'name':'r'," BASE OKT "},{'name':'r'," BASE OKT "}]}",
     "rules[1].name: duplicate rule name \"r\" (rules[0])"},
    {R(BASE OKT ",'colour':'red'"), "rules[0] (r).colour: unknown key"},
    {R("'scope':'rep','window':'7d'," OKT), "rules[0] (r).kpi: missing"},
    {R("'kpi':'speed','scope':'rep','window':'7d'," OKT), "rules[0] (r).kpi: expected entered"},
    {R("'kpi':'exit_conv:pitch','scope':'rep','window':'7d'," OKT),
     "kpi: unknown stage in \"exit_conv:pitch\" (valid: lead, qualified, proposal, negotiation, "
     "won)"},
    {R("'kpi':'activity:lunch','scope':'rep','window':'7d'," OKT),
     "kpi: unknown activity kind in \"activity:lunch\" (valid: call, visit, email"},
    {R("'kpi':'exit_conv:won','scope':'rep','window':'7d'," OKT), "kpi: won is the won stage"},
    {R("'kpi':'dwell_hours','scope':'rep','window':'7d'," OKT), "kpi: dwell_hours needs a stage"},
    {R("'kpi':'win_rate:lead','scope':'rep','window':'7d'," OKT), "kpi: win_rate takes no"},
    {R("'kpi':'won','window':'7d'," OKT), "(r).scope: missing"},
    {R("'kpi':'won','scope':'region','window':'7d'," OKT), "(r).scope: expected one of"},
    {R(BASE OKT ",'severity':'fatal'"), "(r).severity: expected one of \"info\""},
    {R("'kpi':'won','scope':'rep'," OKT), "(r).window: missing"},
    {R("'kpi':'won','scope':'rep','window':'fortnight'," OKT), "(r).window: expected a rolling"},
    {R("'kpi':'won','scope':'rep','window':'91d'," OKT), "(r).window: expected a rolling window "
                                                         "of 1h..90d"},
    {R("'kpi':'won','scope':'rep','window':'30m'," OKT), "(r).window: expected a rolling"},
    {R("'kpi':'won','scope':'rep','window':'week','lag':'7d'," OKT),
     "(r).lag: only rolling windows"},
    {R("'kpi':'won','scope':'rep','window':'7d','lag':'90m'," OKT), "(r).lag: expected whole"},
    {R(BASE "'stalled_after':'3d'," OKT), "(r).stalled_after: only stalled"},
    {R("'kpi':'stalled:proposal','scope':'rep'," OKT), "(r).stalled_after: missing"},
    {R("'kpi':'stalled:proposal','scope':'rep','window':'7d','stalled_after':'3d'," OKT),
     "(r).window: stalled KPIs take no window"},
    {R("'kpi':'stalled:proposal','scope':'rep','stalled_after':'3d',"
       "'target':{'value':3}"),
     "(r).target: stalled KPIs take a threshold"},
    {R(BASE "'min_samples':3"), "expected exactly one of threshold, target, drift, found 0"},
    {R(BASE OKT ",'drift':{'z':2}"), "expected exactly one of threshold, target, drift, found 2"},
    {R(BASE "'threshold':{'op':'=','value':1}"), "(r).threshold.op: expected one of \"<\""},
    {R(BASE "'threshold':{'op':'<','value':'x'}"),
     "(r).threshold.value: expected a number, found \"x\""},
    {R(BASE "'threshold':{'op':'<'}"), "(r).threshold.value: missing"},
    {R(BASE "'threshold':{'value':1}"), "(r).threshold.op: missing"},
    {R(BASE "'threshold':{'op':'<','value':1,'bound':2}"), "(r).threshold.bound: unknown key"},
    {R(BASE "'threshold':[1]"), "(r).threshold: expected an object"},
    {R(BASE "'target':{'value':10}"), "(r).target: a target needs a calendar window"},
    {R("'kpi':'won','scope':'rep','window':'week','target':{'tolernce':0.1,'value':1}"),
     "rules[0] (r).target.tolernce: unknown key"},
    {R("'kpi':'won','scope':'rep','window':'week','target':{'value':1,'tolerance':1.5}"),
     "(r).target.tolerance: expected a number in [0, 1]"},
    {R("'kpi':'won','scope':'rep','window':'week','target':{'value':1,'op':'>'}"),
     "(r).target.op: expected one of \">=\", \"<=\""},
    {R("'kpi':'won','scope':'rep','window':'week','target':{'tolerance':0.1}"),
     "(r).target: expected a target: value, teams or reps"},
    {R("'kpi':'won','scope':'team','window':'week','target':{'reps':{'a':1}}"),
     "(r).target.reps: per-rep targets need scope rep"},
    {R("'kpi':'won','scope':'org','window':'week','target':{'teams':{'a':1}}"),
     "(r).target.teams: per-team targets need scope rep or team"},
    {R("'kpi':'won','scope':'rep','window':'week','target':{'reps':{'a':'many'}}"),
     "(r).target.reps.a: expected a number"},
    {R("'kpi':'won','scope':'rep','window':'week','drift':{'z':2}"),
     "(r).drift: drift needs a rolling window without lag"},
    {R("'kpi':'won','scope':'rep','window':'7d','lag':'7d','drift':{'z':2}"),
     "(r).drift: drift needs a rolling window without lag (\"7d\"), found 7d with a lag"},
    {R(BASE "'drift':{'direction':'down'}"), "(r).drift: expected max_change, z or both"},
    {R(BASE "'drift':{'z':0}"), "(r).drift.z: expected a number > 0"},
    {R(BASE "'drift':{'z':2,'baseline_days':0}"), "(r).drift.baseline_days: expected an integer"},
    {R(BASE "'drift':{'z':2,'baseline_days':7.5}"), "(r).drift.baseline_days: expected an integer"},
    {R(BASE "'drift':{'z':2,'direction':'sideways'}"), "(r).drift.direction: expected one of"},
    {R(BASE "'drift':{'z':2,'require':'all'}"), "(r).drift.require: expected one of"},
    {R(BASE "'drift':{'z':2},'hysteresis':1.5"), "(r).hysteresis: expected a number in [0, 0.999]"},
    {R(BASE OKT ",'hysteresis':-1"), "(r).hysteresis: expected a number in"},
    {R(BASE OKT ",'min_samples':-1"), "(r).min_samples: expected an integer in [0,"},
    {R(BASE OKT ",'min_samples':2.5"), "(r).min_samples: expected an integer"},
    {R(BASE OKT ",'for':'2 hours'"), "(r).for: expected a duration"},
    {R(BASE OKT ",'resolve_for':120"), "(r).resolve_for: expected a string, found 120"},
    {R(BASE OKT ",'repeat_every':'30s'"),
     "(r).repeat_every: expected \"0\" (never) or at least 1m"},
    {R(BASE OKT ",'reps':'anna'"), "(r).reps: expected an array of ids"},
    {R(BASE OKT ",'reps':[]"), "(r).reps: expected at least one id"},
    {R(BASE OKT ",'reps':['a',3]"), "(r).reps[1]: expected an id"},
    {R("'kpi':'won','scope':'team','window':'7d'," OKT ",'reps':['a']"),
     "(r).reps: a reps filter needs scope rep, found scope team"},
    {R("'kpi':'won','scope':'org','window':'7d'," OKT ",'teams':['a']"),
     "(r).teams: a teams filter needs scope rep or team"},
    {R("'kpi':'won','scope':'org','window':'7d'," OKT ",'overrides':{'t':{'for':'1h'}}"),
     "(r).overrides: overrides are per team"},
    {R(BASE OKT ",'overrides':{'t':{'severity':'info'}}"), "(r).overrides.t.severity: unknown key"},
    {R(BASE OKT ",'overrides':{'t':{'drift':{'z':1}}}"), "(r).overrides.t.drift: unknown key"},
    {R(BASE OKT ",'overrides':{'t':{'threshold':{'value':'x'}}}"),
     "(r).overrides.t.threshold.value: expected a number"},
    {R(BASE OKT ",'overrides':{'t':{}}"), "(r).overrides.t: expected at least one parameter"},
    {R(BASE OKT ",'overrides':{'t':{'for':'later'}}"), "(r).overrides.t.for: expected a duration"},
    {R(BASE OKT ",'summary':7"), "(r).summary: expected a string or an object"},
    {R(BASE OKT ",'summary':{'fr':'x'}"), "(r).summary.fr: unknown key"},
    {R(BASE OKT ",'summary':''"), "(r).summary: expected a non-empty template"},
};

static void test_parse_errors_name_the_field(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char *json = J(bad_cases[i].doc);
        char err[512] = "";
        fd_rules_t *rs = (fd_rules_t *)1;
        fd_err_t e = fd_rules_parse(fn, json, strlen(json), &rs, err, sizeof err);
        if (e != FD_ERR_CONFIG || rs != NULL || strstr(err, bad_cases[i].want) == NULL)
            fail_msg("case %zu: %s\n  got %d '%s'\n  want '%s'", i, json, (int)e, err,
                     bad_cases[i].want);
        free(json);
    }
}

static void test_parse_rejects_malformed_json_with_the_offset(void **state) {
    (void)state;
    const char *json = "{\"rules\": [";
    char err[256] = "";
    fd_rules_t *rs = NULL;
    assert_int_equal(fd_rules_parse(fn, json, strlen(json), &rs, err, sizeof err), FD_ERR_CONFIG);
    assert_null(rs);
    assert_non_null(strstr(err, "not valid JSON near byte"));
}

static void test_parse_rejects_duplicate_keys(void **state) {
    (void)state;
    char *json = J(R(BASE OKT ",'for':'1h','for':'2h'"));
    char err[256] = "";
    fd_rules_t *rs = NULL;
    assert_int_equal(fd_rules_parse(fn, json, strlen(json), &rs, err, sizeof err), FD_ERR_CONFIG);
    assert_non_null(strstr(err, "rules[0] (r).for: duplicate key"));
    free(json);
}

static void test_load_reads_a_file_and_names_a_missing_one(void **state) {
    (void)state;
    char path[] = "/tmp/test_rules_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *json = J(R(BASE OKT));
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    free(json);
    char err[512] = "";
    fd_rules_t *rs = NULL;
    assert_int_equal(fd_rules_load(fn, path, &rs, err, sizeof err), FD_OK);
    assert_int_equal(fd_rules_count(rs), 1);
    fd_rules_destroy(rs);
    unlink(path);
    rs = (fd_rules_t *)1;
    assert_int_equal(fd_rules_load(fn, path, &rs, err, sizeof err), FD_ERR_IO);
    assert_null(rs);
    assert_non_null(strstr(err, path));
}

static void test_load_prefixes_parse_errors_with_the_path(void **state) {
    (void)state;
    char path[] = "/tmp/test_rules_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json = "{\"rules\": 3}";
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    char err[512] = "";
    fd_rules_t *rs = NULL;
    assert_int_equal(fd_rules_load(fn, path, &rs, err, sizeof err), FD_ERR_CONFIG);
    char want[600];
    snprintf(want, sizeof want, "%s: rules: expected an array", path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    unlink(path);
}

/* ---------------------------------------------------------------------------------------------
 * Durations */

static void test_durations_parse_each_unit(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {{"0", 0},  {"90s", 90000}, {"15m", 900000},    {"2h", 2 * HOUR},   {"7d", 7 * DAY},
                {"0s", 0}, {"1s", 1000},   {"36h", 36 * HOUR}, {"365d", 365 * DAY}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(fd_rules_parse_duration(good[i].s, &ms), FD_OK);
        assert_int_equal(ms, good[i].ms);
    }
}

static void test_durations_reject_malformed_text(void **state) {
    (void)state;
    static const char *const bad[] = {"",
                                      "h",
                                      "2",
                                      "2x",
                                      "-1h",
                                      "1.5h",
                                      "2 h",
                                      "2hh",
                                      "2H",
                                      " 2h",
                                      "1w",
                                      "0.0",
                                      "00x",
                                      "99999999999999999999d",
                                      "9999999999999999d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        if (fd_rules_parse_duration(bad[i], &ms) != FD_ERR_PARSE) fail_msg("accepted '%s'", bad[i]);
    }
}

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
}

static void test_kpi_volume_kinds(void **state) {
    (void)state;
    static const bool want[FD_KPI_COUNT] = {
        [FD_KPI_ENTERED] = true,  [FD_KPI_WON] = true,        [FD_KPI_WON_AMOUNT] = true,
        [FD_KPI_ACTIVITY] = true, [FD_KPI_COMPLAINTS] = true, [FD_KPI_STALLED] = true};
    for (int k = 0; k < FD_KPI_COUNT; k++)
        assert_int_equal(fd_kpi_is_volume((fd_kpi_kind_t)k), want[k]);
}

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

static void test_describe_says_the_rule_in_words(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok(full_doc);
    char buf[1024];
    fd_rules_describe(rs, 0, buf, sizeof buf);
    static const char *const want[] = {
        "proposal-exit-low", "a rep's exit_conv:proposal", "last 7d",
        "below 0.2",         "at least 10 samples",        "held for 2h",
        "after 2h",          "overrides for team-east"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(buf, want[i]) == NULL) fail_msg("'%s' not in '%s'", want[i], buf);
    fd_rules_describe(rs, 2, buf, sizeof buf);
    assert_non_null(strstr(buf, "dropped against the 28 days before by at least 30% and"));
    fd_rules_describe(rs, 3, buf, sizeof buf);
    assert_non_null(strstr(buf, "longer than 21d"));
    /* a lag of 28 days: mature cohorts, no note */
    fd_rules_describe(rs, 4, buf, sizeof buf);
    assert_null(strstr(buf, "immature"));
    fd_rules_destroy(rs);
}

static void test_describe_warns_of_immature_cohort_conversion(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'conv:lead','scope':'org','window':'7d',"
                              "'threshold':{'op':'<','value':0.1}");
    char buf[1024];
    fd_rules_describe(rs, 0, buf, sizeof buf);
    assert_non_null(strstr(buf, "cohort conversion of recent windows is immature"));
    /* a small buffer is cut and terminated */
    char small[16];
    fd_rules_describe(rs, 0, small, sizeof small);
    assert_int_equal(strlen(small), 15);
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

static void test_parse_last_stage_takes_only_entered(void **state) {
    (void)state;
    static const char *const bad[] = {"exit_conv:won", "conv:won", "dwell_hours:won",
                                      "stalled:won"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[512];
        snprintf(doc, sizeof doc,
                 "{\"rules\":[{\"name\":\"r\",\"kpi\":\"%s\",\"scope\":\"rep\","
                 "\"window\":\"7d\",\"threshold\":{\"op\":\"<\",\"value\":1}}]}",
                 bad[i]);
        char err[512] = "";
        fd_rules_t *rs = NULL;
        assert_int_equal(fd_rules_parse(fn, doc, strlen(doc), &rs, err, sizeof err), FD_ERR_CONFIG);
        if (strstr(err, "(r).kpi: won is the won stage: only entered:won is valid") == NULL)
            fail_msg("%s: %s", bad[i], err);
    }
}

static void test_parse_without_errstr_still_fails_cleanly(void **state) {
    (void)state;
    const char *doc = "{\"rules\": [{\"name\": \"r\"}]}";
    fd_rules_t *rs = (fd_rules_t *)1;
    assert_int_equal(fd_rules_parse(fn, doc, strlen(doc), &rs, NULL, 0), FD_ERR_CONFIG);
    assert_null(rs);
    assert_int_equal(fd_rules_parse(fn, NULL, 0, &rs, NULL, 0), FD_ERR_CONFIG);
    assert_int_equal(fd_rules_parse(NULL, doc, strlen(doc), &rs, NULL, 0), FD_ERR_INVAL);
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

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_parse_full_document_reads_every_global_setting),
        T(test_parse_full_document_reads_each_rule),
        T(test_parse_applies_documented_defaults),
        T(test_parse_empty_rules_array_and_no_rolling_rule),
        T(test_parse_accepts_every_kpi_form),
        T(test_parse_windows_rolling_and_calendar),
        T(test_parse_errors_name_the_field),
        T(test_parse_rejects_malformed_json_with_the_offset),
        T(test_parse_rejects_duplicate_keys),
        T(test_load_reads_a_file_and_names_a_missing_one),
        T(test_load_prefixes_parse_errors_with_the_path),
        T(test_durations_parse_each_unit),
        T(test_durations_reject_malformed_text),
        T(test_kpi_values_samples_and_undefined),
        T(test_kpi_fields_lists_what_each_kpi_reads),
        T(test_kpi_volume_kinds),
        T(test_params_team_override_applies_to_reps_of_that_team_only),
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
        T(test_describe_says_the_rule_in_words),
        T(test_describe_warns_of_immature_cohort_conversion),
        T(test_names_of_scopes_and_conditions),
        T(test_parse_last_stage_takes_only_entered),
        T(test_parse_without_errstr_still_fails_cleanly),
        T(test_params_org_scope_ignores_team_overrides_and_filters),
        T(test_eval_of_an_unknown_rule_is_healthy),
        T(test_drift_volume_value_is_per_day_of_the_current_window),
        T(test_target_of_zero_never_fires_at_least),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
