// SPDX-License-Identifier: MIT
// funnelctl show rep <id> | team <id> | org: one metrics hash, as a table or JSON; and the
// scope argument and funnel renderer that watch shares with it (a tool).
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "model/funnelview.h"

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

/* A reply's pairs as the arrays of a funnel view (borrowed from the reply). */
static void view_pairs(const redisReply *h, const char ***f, const char ***v, size_t *n) {
    *n = h != NULL ? h->elements / 2 : 0;
    *f = xcalloc(*n + 1, sizeof **f);
    *v = xcalloc(*n + 1, sizeof **v);
    for (size_t i = 0; i < *n; i++) {
        (*f)[i] = h->element[2 * i]->str;
        (*v)[i] = h->element[2 * i + 1]->str;
    }
}

/* The velocity line: the value and, beside it, the formula with the numbers it multiplies. */
static void print_velocity(FILE *out, const ctl_t *ctl, const redisReply *h,
                           const redisReply *all) {
    fd_funnelview_t view = {0};
    view_pairs(h, (const char ***)&view.fields, (const char ***)&view.values, &view.nfields);
    const char *os = hget(all, "open");
    long long open = os != NULL ? strtoll(os, NULL, 10) : 0;
    double value, in[3];
    bool has[3];
    bool ok = fd_funnelview_velocity(ctl->fn, &view, open, &value, in, has);
    char v[32], a[32], b[32], c[32];
    snprintf(v, sizeof v, ok ? "%.2f per day" : "-", value);
    snprintf(a, sizeof a, has[0] ? "%.4f" : "-", in[0]);
    snprintf(b, sizeof b, has[1] ? "%.2f" : "-", in[1]);
    snprintf(c, sizeof c, has[2] ? "%.2f" : "-", in[2]);
    fprintf(out, "velocity %s = open %lld x win_rate %s x avg_won_amount %s / cycle_days %s\n", v,
            open, a, b, c);
    free((void *)view.fields);
    free((void *)view.values);
}

void show_print_funnel(FILE *out, const ctl_t *ctl, const scope_arg_t *sa, const char *window,
                       const redisReply *h, const redisReply *all, bool with_pipeline) {
    if (sa->id == NULL)
        fprintf(out, "org, window %s\n\n", window);
    else
        fprintf(out, "%s %s, window %s\n\n", sa->name, sa->id, window);
    if (h != NULL)
        hash_print_table(out, ctl->fn, h);
    else
        fputs("(no metrics yet in this window)\n", out);
    if (!with_pipeline) return;
    fputs("\nopen pipeline now (window all)\n", out);
    hash_print_pipeline(out, ctl->fn, all);
    fputc('\n', out);
    print_velocity(out, ctl, h, all);
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
    redisReply *h = NULL, *all = NULL;
    bool is_all = strcmp(window, "all") == 0;
    char *key_all = is_all ? NULL : key_metric(ctl, sa.scope, "all", sa.id);
    err = redis_hgetall(ctl, key, &h);
    if (err == FD_OK && key_all != NULL) err = redis_hgetall(ctl, key_all, &all);
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
        show_print_funnel(stdout, ctl, &sa, window, h, is_all ? h : all, true);
    }
    if (h) freeReplyObject(h);
    if (all) freeReplyObject(all);
    free(key);
    free(key_all);
    return ctl_finish_output(err);
}
