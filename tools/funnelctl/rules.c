// SPDX-License-Identifier: MIT
// funnelctl rules check: checks a rules file against the funnel of the settings and says each
// rule in words (a tool; reads no Redis).
#include <inttypes.h>

#include "alerting/rules.h"
#include "ctl.h"

fd_err_t cmd_rules(ctl_t *ctl) {
    const char *path = ctl->nargs > 1 ? ctl->args[1] : ctl->cfg.alerts_rules;
    if (path == NULL || path[0] == '\0')
        return ctl_fail(FD_ERR_CONFIG, "rules check: no file given and alerts.rules is empty");
    char errstr[1024] = "";
    fd_rules_t *rs = NULL;
    fd_err_t err = fd_rules_load(ctl->fn, path, &rs, errstr, sizeof errstr);
    if (err != FD_OK)
        return ctl_fail(FD_ERR_CONFIG, "rules check: %s", errstr[0] ? errstr : fd_strerror(err));
    size_t n = fd_rules_count(rs);
    printf("%s: %zu rule%s, locale %s, clock %s, evaluated every %" PRId64 " s", path, n,
           n == 1 ? "" : "s", fd_rules_locale(rs), fd_rules_wall_clock(rs) ? "wall" : "event",
           fd_rules_interval_ms(rs) / 1000);
    if (fd_rules_hour_span_ms(rs) > 0)
        printf(", hourly buckets read up to %" PRId64 " h back",
               fd_rules_hour_span_ms(rs) / 3600000);
    if (fd_rules_max_baseline_days(rs) > 0)
        printf(", day buckets up to %d days back", fd_rules_max_baseline_days(rs));
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        char buf[2048];
        fd_rules_describe(rs, i, buf, sizeof buf);
        printf("  %s\n", buf);
    }
    fd_rules_destroy(rs);
    return ctl_finish_output(FD_OK);
}
