// SPDX-License-Identifier: MIT
// Rule evaluation: a rule's effective parameters for one scope id and its condition (threshold,
// target pace, drift) over values the caller read; the summary templates (layer 3, pure).
// Reference: docs/alerts.md.
#ifndef FUNNELD_RULEEVAL_H
#define FUNNELD_RULEEVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerting/rulesfile.h"

/* Whether rule i applies to scope id `id` (team_id: the rep's team for rep scope, the id itself
 * for team scope, "" for org) and, if so, its effective parameters in *p (defaults, then the
 * team's override, then per-id target values). False when the rule's reps/teams filter excludes
 * it, or it is a target rule without a target for that id. A rule "from": "targets" applies
 * (p->value 0): the caller sets p->value from the targets file, or drops the id without one. */
bool fd_rules_params(const fd_rules_t *rs, size_t i, const char *id, const char *team_id,
                     fd_rule_params_t *p);

/* What the caller read for one evaluation of one rule and scope id. */
typedef struct {
    const int64_t *cur;         /* summed fields of the current window */
    double elapsed;             /* calendar windows: fraction of the window elapsed at the clock */
    double cur_days;            /* drift: length of the current window in days */
    const int64_t *const *days; /* drift: summed fields of each baseline day, oldest first */
    size_t ndays;
    int64_t stalled;   /* stalled KPIs: the count */
    bool card_defined; /* score / grade KPIs: the scorecard holds the value */
    double card;       /* score / grade KPIs: the score, or the grade as 4 (A) .. 1 (D) */
} fd_rule_input_t;

/* The outcome. fire: the condition holds with enough samples. clear: healthy beyond the
 * hysteresis band, or not enough samples (no evidence is treated as healthy). Both false: inside
 * the band (a firing alert stays firing, a pending one goes back to ok). */
typedef struct {
    bool defined; /* KPI defined with enough samples */
    bool fire;
    bool clear;
    double value;             /* the KPI now (drift on volume KPIs: per day) */
    double bound;             /* threshold: the bound; target: what pace expects by now;
                               * drift: the baseline's value (per day for volume KPIs) */
    double target;            /* target: the whole window's target; otherwise 0 */
    double change;            /* drift: (value - bound) / bound; otherwise 0 */
    double z;                 /* drift: z-score against the baseline days (0 when not used) */
    int64_t samples;          /* the current window's samples */
    int64_t baseline_samples; /* drift: the baseline's samples; otherwise 0 */
} fd_rule_result_t;

/* Evaluates rule i with parameters p (from fd_rules_params) over in. Pure. */
void fd_rules_eval(const fd_rules_t *rs, size_t i, const fd_rule_params_t *p,
                   const fd_rule_input_t *in, fd_rule_result_t *out);

/* The summary template of rule i for locale ("en"/"zh"): the rule's own, else the default of its
 * condition type. Placeholders are listed in docs/alerts.md. Static or rule-owned storage. */
const char *fd_rules_template(const fd_rules_t *rs, size_t i, const char *locale);

const char *fd_cond_name(fd_cond_kind_t cond); /* "threshold", "target", "drift" */

#endif
