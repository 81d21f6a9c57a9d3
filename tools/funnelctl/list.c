// SPDX-License-Identifier: MIT
// funnelctl reps | teams: the ids with metrics in a window (a tool).
#include "ctl.h"

static fd_err_t list(ctl_t *ctl, fd_scope_t scope) {
    char window[FD_WIN_ID_MAX];
    ctl_current_window(ctl, window, sizeof window);
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    strvec_t ids = {0};
    if ((err = redis_list_ids(ctl, scope, window, &ids)) != FD_OK) {
        strvec_clear(&ids);
        return err;
    }
    if (ctl->json) {
        fputc('[', stdout);
        for (size_t i = 0; i < ids.n; i++) {
            fputs(i ? ", " : "", stdout);
            json_string(stdout, ids.item[i]);
        }
        fputs("]\n", stdout);
    } else {
        for (size_t i = 0; i < ids.n; i++)
            printf("%s\n", ids.item[i]);
    }
    if (ids.n == 0)
        err = ctl_fail(FD_ERR_NOTFOUND, "no %s has metrics in window '%s' (prefix '%s')",
                       fd_scope_name(scope), window, ctl->cfg.prefix);
    strvec_clear(&ids);
    return ctl_finish_output(err);
}

fd_err_t cmd_reps(ctl_t *ctl) {
    return list(ctl, FD_SCOPE_REP);
}

fd_err_t cmd_teams(ctl_t *ctl) {
    return list(ctl, FD_SCOPE_TEAM);
}
