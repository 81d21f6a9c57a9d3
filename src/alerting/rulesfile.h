// SPDX-License-Identifier: MIT
// The rules file: a JSON document parsed and validated against the funnel into a rule set, and
// the set's accessors (layer 3, pure but for fd_rules_load reading the file). Reference:
// docs/alerts.md.
#ifndef FUNNELD_RULESFILE_H
#define FUNNELD_RULESFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/kpi.h"
#include "base/err.h"
#include "model/funnel.h"
#include "model/metrics.h"
#include "model/timewin.h"

#define FD_RULE_NAME_MAX 64 /* rule names: 1..64 bytes of [A-Za-z0-9_.-] */

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

/* Where a rule's KPI comes from: the metric windows (NONE), or the scorer's scorecard of the
 * calendar period of the rule's window, <p>:score:<scope>:<period>:<id>: its `score`, or its
 * `grade` as a number (A 4, B 3, C 2, D 1). */
typedef enum { FD_RULE_CARD_NONE = 0, FD_RULE_CARD_SCORE, FD_RULE_CARD_GRADE } fd_rule_card_t;
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
    char severity[16];   /* "info", "warning" or "critical" */
    fd_rule_card_t card; /* score / grade KPIs (kpi.kind is then FD_KPI_COUNT) */
    bool from_targets;   /* target: "from": "targets", each id's target is the targets file's */
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
/* The longest span of hourly buckets any rule reads (rolling span + lag; 25 hours for a
 * calendar window, whose current day is read from hourly buckets), 0 when no rule has a window;
 * hourly buckets must be kept at least this long. */
int64_t fd_rules_hour_span_ms(const fd_rules_t *rs);
/* The most baseline days of any drift rule (0 when none): day buckets must be kept that long. */
int fd_rules_max_baseline_days(const fd_rules_t *rs);
/* Rule i's own parameters, before overrides and per-id targets (for an id it does not apply to). */
void fd_rules_base_params(const fd_rules_t *rs, size_t i, fd_rule_params_t *p);
/* Baseline days of drift rule i, the same for every id (overrides and filters do not change it);
 * 0 for a rule of another condition. */
int fd_rules_baseline_days(const fd_rules_t *rs, size_t i);

/* The KPI of rule i as written in the file ("exit_conv:proposal", "score", "grade"). */
void fd_rules_kpi_name(const fd_rules_t *rs, size_t i, char *buf, size_t size);
/* Whether a rule takes its targets from the targets file ("from": "targets"): true with the
 * index of the first such rule in *first. */
bool fd_rules_need_targets(const fd_rules_t *rs, size_t *first);

/* Parses a duration "90s", "15m", "2h", "7d", "0" into ms; FD_ERR_PARSE otherwise. */
fd_err_t fd_rules_parse_duration(const char *s, int64_t *out_ms);

#endif
