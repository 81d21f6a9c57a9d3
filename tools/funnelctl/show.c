// SPDX-License-Identifier: MIT
// funnelctl show rep <id> | team <id> | org: one metrics hash, as a table or JSON; and the
// scope argument and funnel renderer that watch shares with it (a tool).
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

fd_err_t scope_parse(const ctl_t *ctl, scope_arg_t *sa) {
    const char *cmd = ctl->cmd->name, *name = ctl->args[0];
    bool org = strcmp(name, "org") == 0;
    if (!org && strcmp(name, "rep") != 0 && strcmp(name, "team") != 0)
        return ctl_fail(FD_ERR_INVAL, "%s expects 'rep <id>', 'team <id>' or 'org', found '%s'",
                        cmd, name);
    if (org ? ctl->nargs != 1 : ctl->nargs != 2)
        return org ? ctl_fail(FD_ERR_INVAL, "%s org takes no id", cmd)
                   : ctl_fail(FD_ERR_INVAL, "%s %s expects an id", cmd, name);
    sa->scope = org ? FD_SCOPE_ORG : strcmp(name, "rep") == 0 ? FD_SCOPE_REP : FD_SCOPE_TEAM;
    sa->name = name;
    sa->id = org ? NULL : ctl->args[1];
    return FD_OK;
}

void show_print_funnel(FILE *out, const ctl_t *ctl, const scope_arg_t *sa, const char *window,
                       const redisReply *h) {
    if (sa->id == NULL)
        fprintf(out, "org, window %s\n\n", window);
    else
        fprintf(out, "%s %s, window %s\n\n", sa->name, sa->id, window);
    if (h != NULL)
        hash_print_table(out, ctl->fn, h);
    else
        fputs("(no metrics yet in this window)\n", out);
}

fd_err_t cmd_show(ctl_t *ctl) {
    scope_arg_t sa = {0};
    fd_err_t err = scope_parse(ctl, &sa);
    if (err != FD_OK) return err;
    char window[FD_WIN_ID_MAX];
    ctl_current_window(ctl, window, sizeof window);
    if ((err = redis_open(ctl)) != FD_OK) return err;
    const char *p = ctl->cfg.prefix;
    char *key = key_metric(ctl, sa.scope, window, sa.id);
    redisReply *h = NULL;
    err = redis_hgetall(ctl, key, &h);
    if (err != FD_OK) {
        /* reported */
    } else if (h == NULL) {
        if (sa.id == NULL)
            err = ctl_fail(FD_ERR_NOTFOUND,
                           "no metrics for the org in window '%s' (prefix '%s')\n"
                           "hint: check --window (try --window all) and redis.prefix",
                           window, p);
        else
            err = ctl_fail(FD_ERR_NOTFOUND,
                           "no metrics for %s '%s' in window '%s' (prefix '%s')\n"
                           "hint: `funnelctl %ss --window %s` lists the %ss with metrics in it",
                           sa.name, sa.id, window, p, sa.name, window, sa.name);
    } else if (ctl->json) {
        hash_print_json(stdout, ctl->fn, h, NULL, NULL);
        fputc('\n', stdout);
    } else {
        show_print_funnel(stdout, ctl, &sa, window, h);
    }
    if (h) freeReplyObject(h);
    free(key);
    return ctl_finish_output(err);
}
