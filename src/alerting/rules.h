// SPDX-License-Identifier: MIT
// Alert rules: the rules file (JSON) parsed and validated against the funnel, KPIs computed from
// summed metric fields, and the three conditions (threshold, target pace, drift) evaluated over
// values the caller read; no I/O, no clock (layer 2). Reference: docs/alerts.md.
#ifndef FUNNELD_RULES_H
#define FUNNELD_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/funnel.h"
#include "model/metrics.h"
#include "model/timewin.h"

#define FD_RULE_NAME_MAX 64 /* rule names: 1..64 bytes of [A-Za-z0-9_.-] */


/* A KPI: kind plus its argument (a stage or an activity kind index, -1 when it has none). */
typedef enum {
    FD_KPI_ENTERED = 0,  /* entered:<stage>      count */
    FD_KPI_EXIT_CONV,    /* exit_conv:<stage>    moved_on / (moved_on + lost_at), samples = den */
    FD_KPI_CONV,         /* conv:<stage>         advanced / entered, samples = entered */
    FD_KPI_DWELL_HOURS,  /* dwell_hours:<stage>  dwell_sum_ms / dwell_count / 3.6e6, samples = count
                          */
    FD_KPI_WIN_RATE,     /* win_rate             won / (won + lost), samples = won + lost */
    FD_KPI_WON,          /* won                  count */
    FD_KPI_WON_AMOUNT,   /* won_amount           currency units (hundredths / 100), samples = won */
    FD_KPI_ACTIVITY,     /* activity:<kind>      count */
    FD_KPI_FEEDBACK_AVG, /* feedback_avg         sum / count, samples = feedback_count */
    FD_KPI_COMPLAINTS,   /* complaints           count */
    FD_KPI_STALLED, /* stalled:<stage>      open deals in the stage longer than stalled_after */
    FD_KPI_COUNT
} fd_kpi_kind_t;

typedef struct {
    fd_kpi_kind_t kind;
    int arg;
} fd_kpi_t;

/* Where a rule's value comes from. Rolling: [clock - lag - span, clock - lag), summed from hourly
 * buckets (and whole local days). Calendar: the day/week/month/quarter window containing the
 * clock. Stalled KPIs have no window (kind FD_RULE_WIN_NONE). */
typedef enum { FD_RULE_WIN_ROLLING = 0, FD_RULE_WIN_CALENDAR, FD_RULE_WIN_NONE } fd_rule_win_t;

typedef struct {
    fd_rule_win_t type;
    int64_t span_ms;   /* rolling: a whole number of hours ("24h", "7d", "28d") */
    int64_t lag_ms;    /* rolling: the window ends this long before the clock (0 = at it) */
    fd_win_kind_t cal; /* calendar: FD_WIN_DAY, FD_WIN_WEEK, FD_WIN_MONTH or FD_WIN_QUARTER */
    char name[24];     /* as written in the rules file: "7d", "week" */
} fd_rule_window_t;

typedef enum { FD_COND_THRESHOLD = 0, FD_COND_TARGET, FD_COND_DRIFT } fd_cond_kind_t;
typedef enum { FD_OP_LT = 0, FD_OP_LE, FD_OP_GT, FD_OP_GE } fd_op_t;

/* The parameters of a rule for one scope id, after per-team overrides and per-id targets. */
typedef struct {
    fd_op_t op;        /* threshold: value op bound fires; target: GE (at least) or LE (at most) */
    double value;      /* threshold bound, or the target for the whole calendar window */
    double tolerance;  /* target: fires when behind pace by more than this fraction (0.2) */
    double hysteresis; /* threshold: KPI units; target and drift: fraction; the band the value
                        * must clear, on the healthy side, before the alert can resolve */
    int64_t min_samples;      /* the KPI's denominator must reach this (both sides for drift) */
    int baseline_days;        /* drift: whole local days before the current window (28) */
    double max_change;        /* drift: relative change that fires (0.3 = 30 %), 0 = not used */
    double z;                 /* drift: |z-score| that fires, 0 = not used */
    int direction;            /* drift: -1 a drop fires, +1 a rise fires, 0 both */
    bool require_both;        /* drift: with max_change and z both set, both must hold (default) */
    int64_t for_ms;           /* condition must hold this long before firing (0 = at once) */
    int64_t resolve_for_ms;   /* healthy this long before resolving (0 = at once) */
    int64_t repeat_ms;        /* re-notify a firing alert this often (0 = never) */
    int64_t stalled_after_ms; /* stalled KPIs: a deal is stalled after this long in the stage */
} fd_rule_params_t;

/* One rule as written in the file (filters and overrides stay inside the rule set). */
typedef struct {
    char name[FD_RULE_NAME_MAX + 1];
    fd_kpi_t kpi;
    fd_scope_t scope;
    fd_rule_window_t window;
    fd_cond_kind_t cond;
    char severity[16]; /* "info", "warning" or "critical" */
} fd_rule_t;

typedef struct fd_rules fd_rules_t;

/* Parses a rules document (JSON text of len bytes) for funnel fn (borrowed; must outlive the
 * set). Every problem is FD_ERR_CONFIG with errstr naming the rule and field ("rules[2]
 * (proposal-low).threshold.value: expected a number, found \"x\""); unknown keys are errors.
 * FD_ERR_NOMEM. *out is NULL on error. */
fd_err_t fd_rules_parse(const fd_funnel_t *fn, const char *json, size_t len, fd_rules_t **out,
                        char *errstr, size_t errstr_size);
/* Reads and parses a rules file; FD_ERR_IO with errstr naming the path when it cannot be read. */
fd_err_t fd_rules_load(const fd_funnel_t *fn, const char *path, fd_rules_t **out, char *errstr,
                       size_t errstr_size);
void fd_rules_destroy(fd_rules_t *rs);

size_t fd_rules_count(const fd_rules_t *rs);
const fd_rule_t *fd_rules_at(const fd_rules_t *rs, size_t i);
/* Global settings of the file. */
const char *fd_rules_locale(const fd_rules_t *rs);    /* "en" (default) or "zh" */
bool fd_rules_wall_clock(const fd_rules_t *rs);       /* "clock": "wall"; default event time */
int64_t fd_rules_interval_ms(const fd_rules_t *rs);   /* "evaluate_every", default 60 s */
int64_t fd_rules_stall_scan_ms(const fd_rules_t *rs); /* "stall_scan_every", default 5 min */
/* The manager of team_id from the "managers" table, or NULL when the table has none. */
const char *fd_rules_manager(const fd_rules_t *rs, const char *team_id);
/* The longest span of hourly buckets any rule reads (rolling span + lag), 0 when no rule is
 * rolling; hourly buckets must be kept at least this long. */
int64_t fd_rules_hour_span_ms(const fd_rules_t *rs);
/* The most baseline days of any drift rule (0 when none): day buckets must be kept that long. */
int fd_rules_max_baseline_days(const fd_rules_t *rs);
/* Rule i's own parameters, before overrides and per-id targets (for an id it does not apply to). */
void fd_rules_base_params(const fd_rules_t *rs, size_t i, fd_rule_params_t *p);
/* Baseline days of drift rule i, the same for every id (overrides and filters do not change it);
 * 0 for a rule of another condition. */
int fd_rules_baseline_days(const fd_rules_t *rs, size_t i);

/* Whether rule i applies to scope id `id` (team_id: the rep's team for rep scope, the id itself
 * for team scope, "" for org) and, if so, its effective parameters in *p (defaults, then the
 * team's override, then per-id target values). False when the rule's reps/teams filter excludes
 * it, or it is a target rule without a target for that id. */
bool fd_rules_params(const fd_rules_t *rs, size_t i, const char *id, const char *team_id,
                     fd_rule_params_t *p);

/* Name of a KPI as written in rules and alerts ("exit_conv:proposal"); fills buf. */
void fd_kpi_name(const fd_funnel_t *fn, fd_kpi_t kpi, char *buf, size_t size);
/* The funnel field indices a KPI reads (up to 2, written to idx); 0 for stalled KPIs. */
size_t fd_kpi_fields(const fd_funnel_t *fn, fd_kpi_t kpi, size_t idx[2]);
/* The KPI's value over summed fields (fd_funnel_nfields entries, amounts in hundredths) and its
 * sample count (its denominator; for plain counts the count itself). False when the value is
 * undefined (a zero denominator); *value is then 0. */
bool fd_kpi_value(const fd_funnel_t *fn, fd_kpi_t kpi, const int64_t *fields, double *value,
                  int64_t *samples);
/* True for KPIs that are plain counts or amounts (volume: compared per day in drift rules). */
bool fd_kpi_is_volume(fd_kpi_kind_t kind);

/* What the caller read for one evaluation of one rule and scope id. */
typedef struct {
    const int64_t *cur;         /* summed fields of the current window */
    double elapsed;             /* calendar windows: fraction of the window elapsed at the clock */
    double cur_days;            /* drift: length of the current window in days */
    const int64_t *const *days; /* drift: summed fields of each baseline day, oldest first */
    size_t ndays;
    int64_t stalled; /* stalled KPIs: the count */
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

/* Parses a duration "90s", "15m", "2h", "7d", "0" into ms; FD_ERR_PARSE otherwise. */
fd_err_t fd_rules_parse_duration(const char *s, int64_t *out_ms);

const char *fd_cond_name(fd_cond_kind_t cond); /* "threshold", "target", "drift" */

/* Writes a description of rule i in words ("fires when a rep's exit conversion at proposal over
 * the last 7 days is below 0.20 with at least 10 deals, for 2h; ...") to buf, for funnelctl rules
 * check. */
void fd_rules_describe(const fd_rules_t *rs, size_t i, char *buf, size_t size);

#endif
