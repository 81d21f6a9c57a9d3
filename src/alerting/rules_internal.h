// SPDX-License-Identifier: MIT
// The parsed rule set as the rules-file parser builds it, shared by the modules that read it
// (rulesfile, ruleeval, rules_describe); nothing outside src/alerting/ includes it (layer 3).
#ifndef FUNNELD_RULES_INTERNAL_H
#define FUNNELD_RULES_INTERNAL_H

#include "alerting/rulesfile.h"

#define HOUR_MS ((int64_t)3600000)
#define DAY_MS  (24 * HOUR_MS)

/* Which parameters a team override sets (a bit each). */
enum {
    OV_OP = 1 << 0,
    OV_VALUE = 1 << 1,
    OV_TOLERANCE = 1 << 2,
    OV_MAX_CHANGE = 1 << 3,
    OV_Z = 1 << 4,
    OV_MIN_SAMPLES = 1 << 5,
    OV_FOR = 1 << 6,
    OV_RESOLVE_FOR = 1 << 7,
    OV_HYSTERESIS = 1 << 8,
    OV_REPEAT = 1 << 9,
};

typedef struct {
    char *id;
    double value;
} id_value_t;

typedef struct {
    char *team;
    unsigned mask; /* OV_* */
    fd_rule_params_t p;
} override_t;

typedef struct {
    fd_rule_t pub;
    fd_rule_params_t base;
    bool has_value; /* target: a target for every id ("value") */
    char **reps;    /* filter: rep ids (rep scope) */
    size_t nreps;
    char **teams; /* filter: team ids (rep and team scope) */
    size_t nteams;
    id_value_t *target_reps; /* target: per-rep values */
    size_t ntarget_reps;
    id_value_t *target_teams; /* target: per-team values */
    size_t ntarget_teams;
    override_t *overrides;
    size_t noverrides;
    char *summary[2]; /* en, zh; NULL = the condition's default */
} rule_t;

struct fd_rules {
    const fd_funnel_t *fn;
    rule_t *rules;
    size_t n;
    char locale[4];
    bool wall;
    int64_t interval_ms;
    int64_t stall_scan_ms;
    char **mgr_team; /* managers: team id -> name */
    char **mgr_name;
    size_t nmgr;
};

#endif
