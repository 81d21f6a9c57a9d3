// SPDX-License-Identifier: MIT
// KPIs of alert rules and scorecards: names, the funnel fields each reads and their values over
// summed fields; the derived ones (conversions, averages) come from the one metrics table
// (layer 1, pure).
#include "model/kpi.h"

#include <stdio.h>
#include <string.h>

#include "model/metrics.h"

static const char *const kpi_prefix[FD_KPI_COUNT] = {
    "entered", "exit_conv",  "conv",          "dwell_hours",  "win_rate",
    "won",     "won_amount", "activity",      "feedback_avg", "complaints",
    "stalled", "cycle_days", "avg_won_amount"};

const char *fd_kpi_kind_name(fd_kpi_kind_t kind) {
    return (unsigned)kind < FD_KPI_COUNT ? kpi_prefix[kind] : "unknown";
}

fd_kpi_arg_t fd_kpi_arg(fd_kpi_kind_t kind) {
    switch (kind) {
    case FD_KPI_ENTERED:
    case FD_KPI_EXIT_CONV:
    case FD_KPI_CONV:
    case FD_KPI_DWELL_HOURS:
    case FD_KPI_STALLED:
        return FD_KPI_ARG_STAGE;
    case FD_KPI_ACTIVITY:
        return FD_KPI_ARG_KIND;
    default:
        return FD_KPI_ARG_NONE;
    }
}

bool fd_kpi_is_volume(fd_kpi_kind_t kind) {
    switch (kind) {
    case FD_KPI_ENTERED:
    case FD_KPI_WON:
    case FD_KPI_WON_AMOUNT:
    case FD_KPI_ACTIVITY:
    case FD_KPI_COMPLAINTS:
    case FD_KPI_STALLED:
        return true;
    default:
        return false;
    }
}

void fd_kpi_name(const fd_funnel_t *fn, fd_kpi_t kpi, char *buf, size_t size) {
    if (size == 0) return;
    if ((unsigned)kpi.kind >= FD_KPI_COUNT) {
        snprintf(buf, size, "unknown");
        return;
    }
    fd_kpi_arg_t t = fd_kpi_arg(kpi.kind);
    if (t == FD_KPI_ARG_STAGE)
        snprintf(buf, size, "%s:%s", kpi_prefix[kpi.kind], fd_funnel_stage_name(fn, kpi.arg));
    else if (t == FD_KPI_ARG_KIND)
        snprintf(buf, size, "%s:%s", kpi_prefix[kpi.kind], fd_funnel_kind_name(fn, kpi.arg));
    else
        snprintf(buf, size, "%s", kpi_prefix[kpi.kind]);
}

/* The derived field of the metrics table a KPI is (conv, exit_conv, dwell_hours per stage;
 * win_rate, feedback_avg, cycle_days, avg_won_amount): false for counts, amounts and stalled
 * KPIs. */
static bool kpi_metric(const fd_funnel_t *fn, fd_kpi_t kpi, fd_metric_t *m) {
    switch (kpi.kind) {
    case FD_KPI_CONV:
    case FD_KPI_EXIT_CONV:
    case FD_KPI_DWELL_HOURS:
    case FD_KPI_WIN_RATE:
    case FD_KPI_FEEDBACK_AVG:
    case FD_KPI_CYCLE_DAYS:
    case FD_KPI_AVG_WON_AMOUNT:
        break;
    default:
        return false;
    }
    const char *name = kpi_prefix[kpi.kind];
    const fd_metric_def_t *d = fd_metrics_def_find(name, strlen(name));
    if (d == NULL) return false;
    m->def = d;
    if (d->per_stage) {
        m->stage = kpi.arg;
        m->num = fd_funnel_field_stage(fn, kpi.arg, d->num);
        m->den = fd_funnel_field_stage(fn, kpi.arg, d->den);
    } else {
        m->stage = -1;
        m->num = fd_funnel_field_global(fn, d->num);
        m->den = fd_funnel_field_global(fn, d->den);
    }
    return true;
}

size_t fd_kpi_fields(const fd_funnel_t *fn, fd_kpi_t kpi, size_t idx[2]) {
    fd_metric_t m;
    if (kpi_metric(fn, kpi, &m)) {
        idx[0] = m.num;
        idx[1] = m.den;
        return 2;
    }
    switch (kpi.kind) {
    case FD_KPI_ENTERED:
        idx[0] = fd_funnel_field_stage(fn, kpi.arg, FD_F_ENTERED);
        return 1;
    case FD_KPI_WON:
        idx[0] = fd_funnel_field_global(fn, FD_G_WON);
        return 1;
    case FD_KPI_WON_AMOUNT:
        idx[0] = fd_funnel_field_global(fn, FD_G_WON_AMOUNT);
        idx[1] = fd_funnel_field_global(fn, FD_G_WON);
        return 2;
    case FD_KPI_ACTIVITY:
        idx[0] = fd_funnel_field_kind(fn, kpi.arg);
        return 1;
    case FD_KPI_COMPLAINTS:
        idx[0] = fd_funnel_field_global(fn, FD_G_COMPLAINTS);
        return 1;
    default:
        return 0;
    }
}

bool fd_kpi_value(const fd_funnel_t *fn, fd_kpi_t kpi, const int64_t *fields, double *value,
                  int64_t *samples) {
    *value = 0;
    *samples = 0;
    /* a rate or an average: the metrics table's one division (samples = its denominator) */
    fd_metric_t m;
    if (kpi_metric(fn, kpi, &m)) return fd_metrics_value(&m, fields, value, samples);
    size_t idx[2] = {0, 0};
    size_t n = fd_kpi_fields(fn, kpi, idx);
    if (n == 0) return false;
    int64_t a = fields[idx[0]], b = n > 1 ? fields[idx[1]] : 0;
    if (kpi.kind == FD_KPI_WON_AMOUNT) {
        /* an amount is always defined: nothing won is 0, and that is the signal */
        *value = (double)a / 100;
        *samples = b;
        return true;
    }
    /* counts */
    *value = (double)a;
    *samples = a;
    return true;
}

/* The len bytes at s for a message: quoted, at most 40 bytes, control characters as '?'. */
static void quote(const char *s, size_t len, char *buf, size_t size) {
    char tmp[48];
    size_t n = len > 40 ? 40 : len, k = 0;
    while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    for (size_t i = 0; i < n; i++)
        tmp[k++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    tmp[k] = '\0';
    snprintf(buf, size, "\"%s\"%s", tmp, n < len ? "..." : "");
}

bool fd_kpi_parse(const fd_funnel_t *fn, const char *s, size_t len, fd_kpi_t *out, char *errstr,
                  size_t errstr_size) {
    char found[64];
    quote(s, len, found, sizeof found);
    const char *colon = memchr(s, ':', len);
    size_t plen = colon ? (size_t)(colon - s) : len;
    int kind = -1;
    for (int k = 0; k < FD_KPI_COUNT && kind < 0; k++)
        if (strlen(kpi_prefix[k]) == plen && memcmp(kpi_prefix[k], s, plen) == 0) kind = k;
    if (kind < 0) {
        if (errstr_size == 0) return false;
        int n = snprintf(errstr, errstr_size, "unknown KPI %s; valid: ", found);
        for (int k = 0; k < FD_KPI_COUNT && n >= 0 && (size_t)n < errstr_size; k++) {
            fd_kpi_arg_t t = fd_kpi_arg((fd_kpi_kind_t)k);
            n += snprintf(errstr + n, errstr_size - (size_t)n, "%s%s%s", k ? ", " : "",
                          kpi_prefix[k],
                          t == FD_KPI_ARG_STAGE  ? ":<stage>"
                          : t == FD_KPI_ARG_KIND ? ":<kind>"
                                                 : "");
        }
        return false;
    }
    fd_kpi_arg_t t = fd_kpi_arg((fd_kpi_kind_t)kind);
    if (t == FD_KPI_ARG_NONE) {
        if (colon) {
            if (errstr_size)
                snprintf(errstr, errstr_size, "%s takes no argument, found %s", kpi_prefix[kind],
                         found);
            return false;
        }
        *out = (fd_kpi_t){(fd_kpi_kind_t)kind, -1};
        return true;
    }
    const char *what = t == FD_KPI_ARG_STAGE ? "stage" : "activity kind";
    if (colon == NULL || (size_t)(colon + 1 - s) == len) {
        if (errstr_size)
            snprintf(errstr, errstr_size, "%s needs %s %s (\"%s:<%s>\"), found %s",
                     kpi_prefix[kind], t == FD_KPI_ARG_STAGE ? "a" : "an", what, kpi_prefix[kind],
                     t == FD_KPI_ARG_STAGE ? "stage" : "kind", found);
        return false;
    }
    const char *arg = colon + 1;
    size_t alen = len - (size_t)(arg - s);
    int idx;
    bool known = t == FD_KPI_ARG_STAGE ? fd_funnel_stage_index(fn, arg, alen, &idx)
                                       : fd_funnel_kind_index(fn, arg, alen, &idx);
    int last = (int)fd_funnel_nstages(fn) - 1;
    if (known && t == FD_KPI_ARG_STAGE && idx == last && kind != FD_KPI_ENTERED) {
        if (errstr_size)
            snprintf(errstr, errstr_size,
                     "%s is the won stage: only entered:%s is valid there, found %s",
                     fd_funnel_stage_name(fn, last), fd_funnel_stage_name(fn, last), found);
        return false;
    }
    if (!known) {
        if (errstr_size == 0) return false;
        int n = snprintf(errstr, errstr_size, "unknown %s in %s; valid: ", what, found);
        size_t count = t == FD_KPI_ARG_STAGE ? fd_funnel_nstages(fn) : fd_funnel_nkinds(fn);
        for (size_t i = 0; i < count && n >= 0 && (size_t)n < errstr_size; i++)
            n += snprintf(errstr + n, errstr_size - (size_t)n, "%s%s", i ? ", " : "",
                          t == FD_KPI_ARG_STAGE ? fd_funnel_stage_name(fn, (int)i)
                                                : fd_funnel_kind_name(fn, (int)i));
        return false;
    }
    *out = (fd_kpi_t){(fd_kpi_kind_t)kind, idx};
    return true;
}
