// SPDX-License-Identifier: MIT
// funnelctl show rep <id> | team <id> | org: one metrics hash, as a table or JSON (a tool).
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

fd_err_t cmd_show(ctl_t *ctl) {
    const char *scope_name = ctl->args[0];
    bool org = strcmp(scope_name, "org") == 0;
    if (!org && strcmp(scope_name, "rep") != 0 && strcmp(scope_name, "team") != 0)
        return ctl_fail(FD_ERR_INVAL, "show expects 'rep <id>', 'team <id>' or 'org', found '%s'",
                        scope_name);
    if (org ? ctl->nargs != 1 : ctl->nargs != 2)
        return ctl_fail(FD_ERR_INVAL, org ? "show org takes no id" : "show %s expects an id",
                        scope_name);
    fd_scope_t scope = org                              ? FD_SCOPE_ORG
                       : strcmp(scope_name, "rep") == 0 ? FD_SCOPE_REP
                                                        : FD_SCOPE_TEAM;
    char window[FD_WIN_ID_MAX];
    ctl_current_window(ctl, window, sizeof window);
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    const char *p = ctl->cfg.prefix;
    char *key = key_metric(ctl, scope, window, org ? NULL : ctl->args[1]);
    redisReply *h = NULL;
    err = redis_hgetall(ctl, key, &h);
    if (err != FD_OK) {
        /* reported */
    } else if (h == NULL) {
        if (org)
            err = ctl_fail(FD_ERR_NOTFOUND,
                           "no metrics for the org in window '%s' (prefix '%s')\n"
                           "hint: check --window (try --window all) and redis.prefix",
                           window, p);
        else
            err = ctl_fail(FD_ERR_NOTFOUND,
                           "no metrics for %s '%s' in window '%s' (prefix '%s')\n"
                           "hint: `funnelctl %ss --window %s` lists the %ss with metrics in it",
                           scope_name, ctl->args[1], window, p, scope_name, window, scope_name);
    } else if (ctl->json) {
        hash_print_json(stdout, ctl->fn, h, NULL, NULL);
        fputc('\n', stdout);
    } else {
        if (org)
            printf("org, window %s\n\n", window);
        else
            printf("%s %s, window %s\n\n", scope_name, ctl->args[1], window);
        hash_print_table(stdout, ctl->fn, h);
    }
    if (h) freeReplyObject(h);
    free(key);
    return ctl_finish_output(err);
}
