// SPDX-License-Identifier: MIT
// The one metrics table: the scopes a metric hash belongs to and every derived field (rates and
// averages) with its numerator, denominator, scale and precision, as docs/redis.md defines them;
// the apply script, the alert KPIs, funnelctl and the API all read it from here (layer 1, pure).
#ifndef FUNNELD_METRICS_H
#define FUNNELD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/funnel.h"

/* Whose metrics a hash holds. */
typedef enum { FD_SCOPE_REP = 0, FD_SCOPE_TEAM, FD_SCOPE_ORG, FD_SCOPE_COUNT } fd_scope_t;

/* "rep", "team", "org"; "unknown" out of range. Static storage. */
const char *fd_scope_name(fd_scope_t scope);

/* A derived field: value = num / ((den [+ num when den_plus_num]) × scale), printed with
 * `decimals` decimals as C's printf("%.*f") of that one division of two doubles; absent when the
 * denominator is 0. Counters are named by their funnel field kind: per stage (FD_F_*) when
 * per_stage, else scope-wide (FD_G_*). */
typedef struct {
    const char *name; /* "conv" (written "conv:<stage>" when per_stage), "win_rate" */
    bool per_stage;   /* one field per stage but the last (the won stage has only entered) */
    int num;          /* FD_F_* or FD_G_* of the numerator */
    int den;          /* FD_F_* or FD_G_* of the denominator */
    bool den_plus_num;
    int64_t scale;   /* 3600000 turns milliseconds into hours; 100 turns hundredths into units */
    int decimals;    /* 4 for rates, 2 for averages */
    const char *doc; /* the formula in words, for help texts and docs */
} fd_metric_def_t;

/* The table, in the order docs/redis.md lists the fields: conv, exit_conv, dwell_hours (per
 * stage), win_rate, feedback_avg, cycle_days, avg_won_amount. */
size_t fd_metrics_ndefs(void);
const fd_metric_def_t *fd_metrics_def(size_t i);
/* The definition named name ("conv", "win_rate"; without ":<stage>"), or NULL. */
const fd_metric_def_t *fd_metrics_def_find(const char *name, size_t len);

/* One derived field of a funnel: a definition for one stage (or scope-wide), with the indexes
 * of its counters in the funnel's field layout (fd_funnel_field_*). */
typedef struct {
    const fd_metric_def_t *def;
    int stage;  /* -1 when scope-wide */
    size_t num; /* funnel field index of the numerator */
    size_t den; /* funnel field index of the denominator */
} fd_metric_t;

/* The number of derived fields of fn, and the i-th one (0 <= i < that number), in the order
 * of the table: every stage's conv, exit_conv, dwell_hours for stages 0..L-2, then the
 * scope-wide ones. */
size_t fd_metrics_count(const fd_funnel_t *fn);
void fd_metrics_get(const fd_funnel_t *fn, size_t i, fd_metric_t *out);
/* The Redis field name of m ("conv:lead", "win_rate") into buf (truncated to size, always
 * NUL-terminated when size > 0); returns the length it needs, excluding the NUL. */
size_t fd_metrics_name(const fd_funnel_t *fn, const fd_metric_t *m, char *buf, size_t size);

/* The value of m over counters fields (indexed as the funnel's fields; amounts in hundredths).
 * False, *value 0, when the denominator is 0 (the field is absent). *den gets the denominator
 * before scaling (the number of samples the value stands for). */
bool fd_metrics_value(const fd_metric_t *m, const int64_t *fields, double *value, int64_t *den);

/* Prints value as the field is written in Redis ("%.4f" or "%.2f") into buf (truncated to size,
 * always NUL-terminated when size > 0); returns the length it needs, excluding the NUL. */
size_t fd_metrics_format(const fd_metric_t *m, double value, char *buf, size_t size);

/* Sales velocity (currency per day), not stored (it mixes a stock and a window): given a
 * window's counters fields (indexed as the funnel's fields, amounts in hundredths) and the
 * scope's open pipeline count `open` (from its "all" hash),
 *   velocity = open x win_rate x avg_won_amount / cycle_days
 * with each factor computed unrounded from its counters as the table defines it. False, *value
 * 0, when a factor is undefined (no won deal, no cycle) or cycle_days is 0. in[0..2] (unless
 * NULL) get win_rate, avg_won_amount and cycle_days, have[k] (unless NULL) whether each is
 * defined. */
bool fd_metrics_velocity(const fd_funnel_t *fn, const int64_t *fields, int64_t open, double *value,
                         double in[3], bool have[3]);

#endif
