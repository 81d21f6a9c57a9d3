// SPDX-License-Identifier: MIT
// funnelctl targets check: checks a targets file (and the CSV it names) against the funnel of
// the settings and summarises it: rows, the scorecard's KPIs, weights, rules and grades, the
// periods scored (a tool; reads no Redis). Reference: docs/scorecards.md.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "scoring/targets.h"

/* "90s", "15m", "2h", "3d": the largest unit that divides ms. */
static void duration(int64_t ms, char *buf, size_t size) {
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms >= units[i].ms && ms % units[i].ms == 0) {
            snprintf(buf, size, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    snprintf(buf, size, "%" PRId64 "ms", ms);
}

static void print_kpi(const fd_score_kpi_t *k) {
    printf("    %-22s weight %-6g %-6s ", k->name, k->weight,
           k->direction == FD_DIR_LOWER ? "lower" : "higher");
    if (k->scoring == FD_SCORING_LINEAR) {
        printf("linear: 0 points at attainment %g, 100 at %g, capped at %g (at most %g points)\n",
               k->zero, k->full, k->cap, 100 * (k->cap - k->zero) / (k->full - k->zero));
        return;
    }
    printf("bands:");
    for (size_t b = 0; b < k->nbands; b++)
        printf("%s >= %g: %g", b ? "," : "", k->bands[b].min_attainment, k->bands[b].points);
    printf(", below: 0\n");
}

fd_err_t cmd_targets(ctl_t *ctl) {
    const char *path = ctl->nargs > 1 ? ctl->args[1] : ctl->cfg.targets_file;
    if (path == NULL || path[0] == '\0')
        return ctl_fail(FD_ERR_CONFIG, "targets check: no file given and targets.file is empty");
    char errstr[1024] = "";
    fd_targets_t *t = NULL;
    fd_err_t err = fd_targets_load(ctl->fn, path, &t, errstr, sizeof errstr);
    if (err != FD_OK)
        return ctl_fail(FD_ERR_CONFIG, "targets check: %s", errstr[0] ? errstr : fd_strerror(err));
    size_t n = fd_targets_count(t);
    char every[32], grace[32], periods[64] = "";
    duration(fd_targets_recompute_ms(t), every, sizeof every);
    duration(fd_targets_grace_ms(t), grace, sizeof grace);
    for (int k = 0; k < FD_PERIOD_COUNT; k++)
        if (fd_targets_scores_period(t, (fd_period_kind_t)k))
            snprintf(periods + strlen(periods), sizeof periods - strlen(periods), "%s%s",
                     periods[0] ? ", " : "", fd_period_kind_name((fd_period_kind_t)k));
    printf("%s: %zu target%s, clock %s, periods %s, recomputed every %s, final %s after a "
           "period ends, team targets %s\n",
           path, n, n == 1 ? "" : "s", fd_targets_event_clock(t) ? "event" : "wall", periods, every,
           grace, fd_targets_team_sums(t) ? "sum_of_reps" : "explicit");
    const fd_scorecard_def_t *def = fd_targets_scorecard(t);
    if (def == NULL) {
        printf("  no scorecard: targets only (for alert rules)\n");
    } else {
        printf("  scorecard: %zu KPI%s, grades A >= %g, B >= %g, C >= %g, else D\n", def->nkpis,
               def->nkpis == 1 ? "" : "s", def->grade_min[0], def->grade_min[1], def->grade_min[2]);
        for (size_t i = 0; i < def->nkpis; i++)
            print_kpi(&def->kpis[i]);
    }
    fd_targets_destroy(t);
    return ctl_finish_output(FD_OK);
}
