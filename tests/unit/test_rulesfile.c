// SPDX-License-Identifier: MIT
// Unit tests of the rules file: keys, defaults, every error path naming its field, loading,
// durations; expectations worked out by hand from docs/alerts.md.
#include "rules_fixture.h"

/* ---------------------------------------------------------------------------------------------
 * Parsing: a full document and its defaults */

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
    /* targets from the targets file (issue 16) */
    {R("'kpi':'won','scope':'rep','window':'month','target':{'from':'file'}"),
     "(r).target.from: expected one of \"targets\", found \"file\""},
    {R("'kpi':'won','scope':'rep','window':'month','target':{'from':'targets','value':3}"),
     "(r).target.from: \"from\": \"targets\" takes each id's target from the targets file: "
     "no value beside it"},
    {R("'kpi':'won','scope':'team','window':'month','target':{'from':'targets','teams':{'t':1}}"),
     "(r).target.from: \"from\": \"targets\" takes each id's target from the targets file: "
     "no teams beside it"},
    {R("'kpi':'won','scope':'rep','window':'month','target':{'from':'targets','reps':{'a':1}}"),
     "no reps beside it"},
    {R("'kpi':'won','scope':'rep','window':'week','target':{'from':'targets'}"),
     "(r).target.from: the targets file holds targets per month, quarter or year: the window "
     "must be month or quarter, found week"},
    {R("'kpi':'won','scope':'rep','window':'7d','target':{'from':'targets'}"),
     "(r).target: a target needs a calendar window"},
    {R("'kpi':'won','scope':'rep','window':'month','target':{'from':'targets'},"
       "'overrides':{'t':{'target':{'value':5}}}"),
     "(r).overrides.t.target.value: the rule's targets come from the targets file"},
    /* score and grade KPIs */
    {R("'kpi':'score','scope':'org','window':'month','threshold':{'op':'<','value':60}"),
     "(r).scope: score KPIs need scope rep or team"},
    {R("'kpi':'grade','scope':'rep','window':'week','threshold':{'op':'<=','value':'D'}"),
     "(r).window: grade KPIs read the scorecard of a calendar period: month or quarter, found "
     "week"},
    {R("'kpi':'score','scope':'rep','window':'24h','threshold':{'op':'<','value':60}"),
     "(r).window: score KPIs read the scorecard of a calendar period"},
    {R("'kpi':'score','scope':'rep','window':'month','target':{'value':60}"),
     "(r).target: score KPIs take a threshold condition"},
    {R("'kpi':'grade','scope':'rep','window':'month','drift':{'max_change':0.3}"),
     "(r).drift: grade KPIs take a threshold condition"},
    {R("'kpi':'grade','scope':'rep','window':'month','threshold':{'op':'<=','value':'E'}"),
     "(r).threshold.value: expected a grade \"A\" .. \"D\" or a number 1..4, found \"E\""},
    {R("'kpi':'grade','scope':'rep','window':'month','threshold':{'op':'<=','value':'AB'}"),
     "(r).threshold.value: expected a grade"},
    {R("'kpi':'score','scope':'rep','window':'month','threshold':{'op':'<','value':'D'}"),
     "(r).threshold.value: expected a number, found \"D\""},
    {R("'kpi':'grade','scope':'rep','window':'month','threshold':{'op':'<=','value':'D'},"
       "'overrides':{'t':{'threshold':{'value':'F'}}}"),
     "(r).overrides.t.threshold.value: expected a grade"},
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

static void test_parse_rejects_data_after_the_document_and_nul_escapes(void **state) {
    (void)state;
    static const struct {
        const char *json;
        size_t len;
        const char *want;
    } cases[] = {
        {"{\"rules\": []} junk", 17, "unexpected data after the JSON document at byte 14"},
        {"{\"rules\": []}\0{}", 16, "unexpected data after the JSON document at byte 13"},
        {"{\"rules\": [], \"locale\": \"e\\u0000n\"}", 35, "a \\u0000 escape at byte 26"},
        /* white space after the document is fine */
        {"{\"rules\": []}\n\r\t ", 17, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        fd_rules_t *rs = NULL;
        fd_err_t e = fd_rules_parse(fn, cases[i].json, cases[i].len, &rs, err, sizeof err);
        if (cases[i].want == NULL) {
            if (e != FD_OK) fail_msg("case %zu: %d '%s'", i, (int)e, err);
            fd_rules_destroy(rs);
            continue;
        }
        if (e != FD_ERR_CONFIG || rs != NULL || strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: got %d '%s', want '%s'", i, (int)e, err, cases[i].want);
    }
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

static void test_parse_target_from_targets_file(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok("{'rules':["
                              " {'name':'quota','kpi':'won_amount','scope':'rep','window':'month',"
                              "  'target':{'op':'>=','from':'targets','tolerance':0.2},"
                              "  'overrides':{'t':{'target':{'tolerance':0.3}}}},"
                              " {'name':'plain','kpi':'won','scope':'team','window':'quarter',"
                              "  'target':{'value':9}}]}");
    const fd_rule_t *r = fd_rules_at(rs, 0);
    assert_int_equal(r->cond, FD_COND_TARGET);
    assert_true(r->from_targets);
    assert_int_equal(r->card, FD_RULE_CARD_NONE);
    assert_false(fd_rules_at(rs, 1)->from_targets);
    size_t first = 99;
    assert_true(fd_rules_need_targets(rs, &first));
    assert_int_equal(first, 0);
    /* it applies to every id (the caller looks the target up), value 0 until then */
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 0, "anna", "t", &p));
    assert_true(p.value == 0);
    assert_true(p.tolerance == 0.3);
    assert_true(fd_rules_params(rs, 0, "bob", "u", &p));
    assert_true(p.tolerance == 0.2);
    fd_rules_destroy(rs);
    rs = one_rule("'kpi':'won','scope':'rep','window':'month','target':{'value':3}");
    assert_false(fd_rules_need_targets(rs, &first));
    fd_rules_destroy(rs);
}

static void test_parse_score_and_grade_kpis(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok(
        "{'rules':["
        " {'name':'low-score','kpi':'score','scope':'rep','window':'month',"
        "  'threshold':{'op':'<','value':60}},"
        " {'name':'grade-d','kpi':'grade','scope':'team','window':'quarter',"
        "  'threshold':{'op':'<=','value':'D'},'overrides':{'t':{'threshold':{'value':'B'}}}},"
        " {'name':'grade-num','kpi':'grade','scope':'rep','window':'month',"
        "  'threshold':{'op':'>=','value':3}}]}");
    const fd_rule_t *r = fd_rules_at(rs, 0);
    assert_int_equal(r->card, FD_RULE_CARD_SCORE);
    assert_int_equal(r->window.type, FD_RULE_WIN_CALENDAR);
    assert_int_equal(r->window.cal, FD_WIN_MONTH);
    char name[32];
    fd_rules_kpi_name(rs, 0, name, sizeof name);
    assert_string_equal(name, "score");
    fd_rules_kpi_name(rs, 1, name, sizeof name);
    assert_string_equal(name, "grade");
    fd_rules_kpi_name(rs, 3, name, sizeof name);
    assert_string_equal(name, "");
    assert_int_equal(fd_rules_at(rs, 1)->card, FD_RULE_CARD_GRADE);
    assert_int_equal(fd_rules_at(rs, 1)->window.cal, FD_WIN_QUARTER);
    fd_rule_params_t p;
    assert_true(fd_rules_params(rs, 1, "u", "u", &p));
    assert_true(p.value == 1); /* D */
    assert_int_equal(p.op, FD_OP_LE);
    assert_true(fd_rules_params(rs, 1, "t", "t", &p));
    assert_true(p.value == 3); /* B, the override */
    assert_true(fd_rules_params(rs, 2, "anna", "t", &p));
    assert_true(p.value == 3);
    /* the letters: A 4, B 3, C 2, D 1 */
    const char *letters = "ABCD";
    for (int k = 0; k < 4; k++) {
        char m[160];
        snprintf(m, sizeof m,
                 "'kpi':'grade','scope':'rep','window':'month','threshold':{'op':'<','value':'%c'}",
                 letters[k]);
        fd_rules_t *g = one_rule(m);
        fd_rules_base_params(g, 0, &p);
        assert_true(p.value == 4 - k);
        fd_rules_destroy(g);
    }
    assert_false(fd_rules_need_targets(rs, NULL));
    fd_rules_destroy(rs);
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
        T(test_parse_rejects_data_after_the_document_and_nul_escapes),
        T(test_parse_rejects_duplicate_keys),
        T(test_load_reads_a_file_and_names_a_missing_one),
        T(test_load_prefixes_parse_errors_with_the_path),
        T(test_durations_parse_each_unit),
        T(test_durations_reject_malformed_text),
        T(test_parse_last_stage_takes_only_entered),
        T(test_parse_without_errstr_still_fails_cleanly),
        T(test_parse_target_from_targets_file),
        T(test_parse_score_and_grade_kpis),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
