// SPDX-License-Identifier: MIT
// KPIs: what an alert rule or a scorecard measures (a stage's conversion, a count, an
// average...), the funnel fields each reads and its value over summed fields; derived KPIs take
// their formula from the one metrics table (model/metrics.h) (layer 1, pure). Reference:
// docs/alerts.md.
#ifndef FUNNELD_KPI_H
#define FUNNELD_KPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/funnel.h"

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
    FD_KPI_STALLED,    /* stalled:<stage>      open deals in the stage longer than stalled_after */
    FD_KPI_CYCLE_DAYS, /* cycle_days      cycle_sum_ms / cycle_count / 86400000: days from a
                        * won deal's first stage entry to won, samples = cycle_count */
    FD_KPI_AVG_WON_AMOUNT, /* avg_won_amount  won_amount / won in currency units, samples = won */
    FD_KPI_COUNT
} fd_kpi_kind_t;

typedef struct {
    fd_kpi_kind_t kind;
    int arg;
} fd_kpi_t;

/* What a KPI's argument names. */
typedef enum { FD_KPI_ARG_NONE = 0, FD_KPI_ARG_STAGE, FD_KPI_ARG_KIND } fd_kpi_arg_t;

/* The name of a kind as written before the colon ("exit_conv"); "unknown" out of range. */
const char *fd_kpi_kind_name(fd_kpi_kind_t kind);
/* What the argument of kind names: a stage, an activity kind, or nothing. */
fd_kpi_arg_t fd_kpi_arg(fd_kpi_kind_t kind);
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
/* Parses the len bytes at s as a KPI name of fn ("exit_conv:proposal", "won_amount"). False,
 * *out untouched, with a message into errstr (always NUL-terminated when errstr_size > 0) that
 * says what was expected and lists the valid stages or kinds, when it is none. At the won
 * stage only entered:<won stage> is valid. */
bool fd_kpi_parse(const fd_funnel_t *fn, const char *s, size_t len, fd_kpi_t *out, char *errstr,
                  size_t errstr_size);

#endif
