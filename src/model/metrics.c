// SPDX-License-Identifier: MIT
// The one metrics table: scopes and the derived fields of docs/redis.md (layer 1, pure).
#include "model/metrics.h"

#include <stdio.h>
#include <string.h>

const char *fd_scope_name(fd_scope_t scope) {
    static const char *const names[] = {"rep", "team", "org"};
    return (unsigned)scope < FD_SCOPE_COUNT ? names[scope] : "unknown";
}

/* Every rate is ONE division of exact integers in doubles, so the printed value is that of the
 * double nearest the exact quotient and any reader can reproduce it (docs/redis.md). */
static const fd_metric_def_t defs[] = {
    {"conv", true, FD_F_ADVANCED, FD_F_ENTERED, false, 1, 4,
     "advanced / entered: cohort conversion of the deals that entered the stage"},
    {"exit_conv", true, FD_F_MOVED_ON, FD_F_LOST_AT, true, 1, 4,
     "moved_on / (moved_on + lost_at): live conversion of the deals that left the stage"},
    {"dwell_hours", true, FD_F_DWELL_SUM_MS, FD_F_DWELL_COUNT, false, 3600000, 2,
     "dwell_sum_ms / (dwell_count x 3600000): average hours in the stage"},
    {"win_rate", false, FD_G_WON, FD_G_LOST, true, 1, 4, "won / (won + lost)"},
    /* feedback_sum is kept in hundredths */
    {"feedback_avg", false, FD_G_FEEDBACK_SUM, FD_G_FEEDBACK_COUNT, false, 100, 2,
     "feedback_sum / feedback_count: average satisfaction score"},
    {"cycle_days", false, FD_G_CYCLE_SUM_MS, FD_G_CYCLE_COUNT, false, 86400000, 2,
     "cycle_sum_ms / (cycle_count x 86400000): average days from first stage entry to won"},
    /* won_amount is kept in hundredths */
    {"avg_won_amount", false, FD_G_WON_AMOUNT, FD_G_WON, false, 100, 2,
     "won_amount / won: average amount of a deal won"},
};
enum { NDEFS = sizeof defs / sizeof defs[0], NPER_STAGE = 3 };

size_t fd_metrics_ndefs(void) {
    return NDEFS;
}

const fd_metric_def_t *fd_metrics_def(size_t i) {
    return i < NDEFS ? &defs[i] : NULL;
}

const fd_metric_def_t *fd_metrics_def_find(const char *name, size_t len) {
    for (size_t i = 0; i < NDEFS; i++)
        if (strlen(defs[i].name) == len && memcmp(defs[i].name, name, len) == 0) return &defs[i];
    return NULL;
}

size_t fd_metrics_count(const fd_funnel_t *fn) {
    return NPER_STAGE * (fd_funnel_nstages(fn) - 1) + (NDEFS - NPER_STAGE);
}

void fd_metrics_get(const fd_funnel_t *fn, size_t i, fd_metric_t *out) {
    size_t staged = NPER_STAGE * (fd_funnel_nstages(fn) - 1);
    if (i < staged) {
        const fd_metric_def_t *d = &defs[i % NPER_STAGE];
        int stage = (int)(i / NPER_STAGE);
        *out = (fd_metric_t){d, stage, fd_funnel_field_stage(fn, stage, d->num),
                             fd_funnel_field_stage(fn, stage, d->den)};
    } else {
        const fd_metric_def_t *d = &defs[NPER_STAGE + (i - staged)];
        *out = (fd_metric_t){d, -1, fd_funnel_field_global(fn, d->num),
                             fd_funnel_field_global(fn, d->den)};
    }
}

size_t fd_metrics_name(const fd_funnel_t *fn, const fd_metric_t *m, char *buf, size_t size) {
    int n = m->stage >= 0
                ? snprintf(buf, size, "%s:%s", m->def->name, fd_funnel_stage_name(fn, m->stage))
                : snprintf(buf, size, "%s", m->def->name);
    return n < 0 ? 0 : (size_t)n;
}

bool fd_metrics_value(const fd_metric_t *m, const int64_t *fields, double *value, int64_t *den) {
    int64_t a = fields[m->num], b = fields[m->den];
    if (m->def->den_plus_num) b += a;
    *den = b;
    *value = 0;
    if (b <= 0) return false;
    *value = (double)a / ((double)b * (double)m->def->scale);
    return true;
}

size_t fd_metrics_format(const fd_metric_t *m, double value, char *buf, size_t size) {
    int n = snprintf(buf, size, "%.*f", m->def->decimals, value);
    return n < 0 ? 0 : (size_t)n;
}

bool fd_metrics_velocity(const fd_funnel_t *fn, const int64_t *fields, int64_t open, double *value,
                         double in[3], bool have[3]) {
    /* the three factors as the table defines them: win_rate, avg_won_amount, cycle_days */
    static const char *const factors[3] = {"win_rate", "avg_won_amount", "cycle_days"};
    double f[3] = {0, 0, 0};
    bool all = open >= 0;
    for (int k = 0; k < 3; k++) {
        const fd_metric_def_t *d = fd_metrics_def_find(factors[k], strlen(factors[k]));
        fd_metric_t m = {.def = d, .stage = -1};
        int64_t den;
        bool ok = false;
        if (d != NULL) {
            m.num = fd_funnel_field_global(fn, d->num);
            m.den = fd_funnel_field_global(fn, d->den);
            ok = fd_metrics_value(&m, fields, &f[k], &den);
        }
        if (in != NULL) in[k] = ok ? f[k] : 0;
        if (have != NULL) have[k] = ok;
        all = all && ok;
    }
    *value = 0;
    if (!all || f[2] <= 0) return false;
    *value = (double)open * f[0] * f[1] / f[2];
    return true;
}
