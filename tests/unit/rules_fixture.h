// SPDX-License-Identifier: MIT
// What the unit tests of the alert rules share (test_kpi, test_rulesfile, test_ruleeval,
// test_rules_describe): the default funnel and its field layout, and rules documents written
// with single quotes.
#ifndef FUNNELD_TEST_RULES_FIXTURE_H
#define FUNNELD_TEST_RULES_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/kpi.h"
#include "alerting/ruleeval.h"
#include "alerting/rules_describe.h"
#include "alerting/rulesfile.h"

#define HOUR INT64_C(3600000)
#define DAY  (24 * HOUR)

/* The default funnel: 5 stages, 5 activity kinds. Field layout (src/model/funnel.h): stage s
 * field f at s*8+f; globals from 40 (won, lost, won_amount, feedback_count, feedback_sum,
 * complaints, events, cycle_sum_ms, cycle_count, open, open_amount); activity kinds from 51. */
enum { LEAD, QUALIFIED, PROPOSAL, NEGOTIATION, WON_STAGE };
enum { F_ENTERED, F_ADVANCED, F_MOVED_ON, F_LOST_AT, F_DWELL_SUM, F_DWELL_COUNT };
#define NF         56
#define SF(s, f)   ((s)*8 + (f))
#define G_WON      40
#define G_LOST     41
#define G_AMOUNT   42
#define G_FB_COUNT 43
#define G_FB_SUM   44
#define G_COMPL    45
#define K_CALL     51
#define K_VISIT    52

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
static inline char *J(const char *s) {
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'') *p = '"';
    return out;
}

static inline fd_rules_t *parse_ok(const char *sq) {
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
static inline fd_rules_t *one_rule(const char *members) {
    char buf[2048];
    snprintf(buf, sizeof buf, "{'rules':[{'name':'r',%s}]}", members);
    return parse_ok(buf);
}

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

#define R(members) "{'rules':[{'name':'r'," members "}]}"
#define OKT        "'threshold':{'op':'<','value':1}"
#define BASE       "'kpi':'won','scope':'rep','window':'7d',"

#endif
