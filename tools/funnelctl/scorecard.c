// SPDX-License-Identifier: MIT
// funnelctl scorecard rep <id> | team <id> and funnelctl ranking: the scorecards and rankings
// funneld's scorer keeps in Redis (docs/scorecards.md), every number of a breakdown shown (a
// tool).
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "io/webread.h"
#include "model/funnelview.h"
#include "scoring/targets.h"

/* ---- the period ---- */

/* --period into buf: an id as given, or month / quarter / year (default month) for the current
 * one in funnel.timezone. FD_ERR_INVAL (reported). */
static fd_err_t period_resolve(ctl_t *ctl, char *buf, size_t size) {
    const char *p = ctl->period != NULL ? ctl->period : "month";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fd_windows_t w;
    fd_timewin_of(ctl->tw, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &w);
    fd_period_t pd;
    if (!fd_period_alias(p, &w, &pd) && !fd_period_parse(p, strlen(p), &pd))
        return ctl_fail(FD_ERR_INVAL,
                        "--period expects month, quarter, year, month:YYYY-MM, "
                        "quarter:YYYY-Qn or year:YYYY, found '%s'",
                        p);
    fd_period_format(&pd, buf, size);
    return FD_OK;
}

static fd_err_t read_failed(ctl_t *ctl, fd_err_t err) {
    if (err == FD_ERR_NOMEM) return ctl_fail(err, "out of memory");
    return ctl_fail(FD_ERR_REDIS, "Redis at %s: %s", fd_redis_address(ctl->redis),
                    fd_redis_errstr(ctl->redis));
}

/* ---- scorecard ---- */

static const char *or_dash(const char *s) {
    return s != NULL ? s : "-";
}

/* A JSON item as text: a string as it is, anything else as JSON; "-" when absent. */
static char *item_text(const cJSON *j) {
    if (j == NULL || cJSON_IsNull(j)) return xstrdup("-");
    if (cJSON_IsString(j)) return xstrdup(j->valuestring);
    char *s = cJSON_PrintUnformatted(j);
    char *t = xstrdup(s != NULL ? s : "-");
    free(s);
    return t;
}

static void ms_text(const char *ms, char *buf, size_t size) {
    char t[40];
    if (ms != NULL && fd_funnelview_rfc3339(strtoll(ms, NULL, 10), t, sizeof t))
        snprintf(buf, size, "%s", t);
    else
        snprintf(buf, size, "-");
}

static void print_adjustments(FILE *out, const fd_webhash_t *h, char **adj, size_t nadj) {
    const char *count = fd_webhash_get(h, "adjustments");
    if (count == NULL && nadj == 0) return;
    fprintf(out, "\nadjustments %s: adjusted score %s, grade %s\n", or_dash(count),
            or_dash(fd_webhash_get(h, "adjusted_score")),
            or_dash(fd_webhash_get(h, "adjusted_grade")));
    table_t t = {.ncols = 8, .left = {true, true, false, false, false, false, true, true}};
    static const char *const heads[] = {"at",    "kpi",   "from",  "to",
                                        "delta", "score", "grade", "events"};
    for (size_t i = 0; i < 8; i++)
        table_cell(&t, heads[i]);
    for (size_t i = 0; i < nadj; i++) {
        cJSON *j = cJSON_Parse(adj[i]);
        if (!cJSON_IsObject(j)) {
            table_cell(&t, "(unreadable)");
            for (size_t k = 1; k < 8; k++)
                table_cell(&t, k == 7 ? adj[i] : "");
            cJSON_Delete(j);
            continue;
        }
        char at[40], *x;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "at_ms");
        char msbuf[32];
        snprintf(msbuf, sizeof msbuf, "%.0f", cJSON_IsNumber(a) ? a->valuedouble : 0.0);
        ms_text(cJSON_IsNumber(a) ? msbuf : NULL, at, sizeof at);
        table_cell(&t, at);
        static const char *const keys[] = {"kpi",   "from",           "to",
                                           "delta", "adjusted_score", "adjusted_grade"};
        for (size_t k = 0; k < 6; k++) {
            x = item_text(cJSON_GetObjectItemCaseSensitive(j, keys[k]));
            table_cell(&t, x);
            free(x);
        }
        /* the late events behind it: their ids, or "unknown" when the log did not have them */
        char *ev = NULL;
        size_t evlen = 0;
        FILE *e = xmemstream(&ev, &evlen);
        const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "events"), *it;
        size_t n = 0;
        cJSON_ArrayForEach(it, evs) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "event_id");
            fprintf(e, "%s%s", n++ ? " " : "", cJSON_IsString(id) ? id->valuestring : "?");
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "events_unknown")))
            fprintf(e, "%sunknown", n ? " " : "");
        fclose(e);
        table_cell(&t, evlen ? ev : "-");
        free(ev);
        cJSON_Delete(j);
    }
    table_print(out, &t);
}

static void print_scorecard(FILE *out, const fd_webhash_t *h, const char *scope, const char *id,
                            const char *period, char **adj, size_t nadj) {
    const char *team = fd_webhash_get(h, "team");
    char start[40], end[40], computed[40], final_at[40];
    ms_text(fd_webhash_get(h, "start_ms"), start, sizeof start);
    ms_text(fd_webhash_get(h, "end_ms"), end, sizeof end);
    ms_text(fd_webhash_get(h, "computed_ms"), computed, sizeof computed);
    ms_text(fd_webhash_get(h, "final_ms"), final_at, sizeof final_at);
    /* two lines of at most 80 columns (for the demo's 80x24 screen) before the score */
    fprintf(out, "%s %s%s%s%s, period %s, state %s, elapsed %s\n", scope, id, team ? " (team " : "",
            team ? team : "", team ? ")" : "", period, or_dash(fd_webhash_get(h, "state")),
            or_dash(fd_webhash_get(h, "elapsed")));
    if (fd_webhash_get(h, "final_ms") != NULL)
        fprintf(out, "from %s to %s, final %s", start, end, final_at);
    else
        fprintf(out, "from %s to %s, computed %s", start, end, computed);
    fprintf(out, "\nscore %s, grade %s, rank %s of %s in the org",
            or_dash(fd_webhash_get(h, "score")), or_dash(fd_webhash_get(h, "grade")),
            or_dash(fd_webhash_get(h, "rank_org")), or_dash(fd_webhash_get(h, "of_org")));
    if (fd_webhash_get(h, "rank_team") != NULL)
        fprintf(out, ", %s of %s in the team", fd_webhash_get(h, "rank_team"),
                or_dash(fd_webhash_get(h, "of_team")));
    fputs("\n\n", out);

    /* 80 columns: each line's numbers; where they came from follows the table */
    static const char *const cols[] = {"value",  "target", "expected", "attain",
                                       "points", "weight", "weighted"};
    static const char *const fields[] = {"value",  "target",      "expected", "attainment",
                                         "points", "weight_used", "weighted"};
    enum { NCOLS = sizeof cols / sizeof *cols };
    table_t t = {.ncols = NCOLS + 1, .left = {[0] = true}};
    table_cell(&t, "kpi");
    for (size_t c = 0; c < NCOLS; c++)
        table_cell(&t, cols[c]);
    strvec_t kpis = {0};
    const char *list = fd_webhash_get(h, "kpis");
    while (list != NULL && *list != '\0') {
        size_t len = strcspn(list, ",");
        strvec_push(&kpis, xasprintf("%.*s", (int)len, list));
        list += len;
        if (*list == ',') list++;
    }
    for (size_t k = 0; k < kpis.n; k++) {
        char *status_name = xasprintf("%s.status", kpis.item[k]);
        const char *status = fd_webhash_get(h, status_name);
        bool scored = status == NULL || strcmp(status, "scored") == 0;
        free(status_name);
        table_cell(&t, kpis.item[k]);
        for (size_t c = 0; c < NCOLS; c++) {
            /* a line left out says why where its points would be */
            if (!scored && strcmp(fields[c], "points") == 0) {
                table_cell(&t, status);
                continue;
            }
            char *name = xasprintf("%s.%s", kpis.item[k], fields[c]);
            table_cell(&t, or_dash(fd_webhash_get(h, name)));
            free(name);
        }
    }
    table_print(out, &t);
    /* where each value and target came from, the weights, and what changed after final */
    fputc('\n', out);
    for (size_t k = 0; k < kpis.n; k++) {
        const char *kpi = kpis.item[k];
        char *n_fields = xasprintf("%s.fields", kpi), *n_src = xasprintf("%s.target_source", kpi),
             *n_dir = xasprintf("%s.direction", kpi), *n_w = xasprintf("%s.weight", kpi),
             *n_wu = xasprintf("%s.weight_used", kpi), *n_adj = xasprintf("%s.adjusted_value", kpi);
        const char *src = fd_webhash_get(h, n_src), *dir = fd_webhash_get(h, n_dir),
                   *w = fd_webhash_get(h, n_w), *wu = fd_webhash_get(h, n_wu),
                   *a = fd_webhash_get(h, n_adj);
        fprintf(out, "%s: %s; target %s; %s is better; weight %s", kpi,
                or_dash(fd_webhash_get(h, n_fields)), src ? src : "none", or_dash(dir), or_dash(w));
        if (wu != NULL && w != NULL && strcmp(wu, w) != 0 && strtod(wu, NULL) > 0)
            fprintf(out, " (%s after renormalising)", wu);
        if (a != NULL) fprintf(out, "; adjusted value %s", a);
        fputc('\n', out);
        free(n_fields);
        free(n_src);
        free(n_dir);
        free(n_w);
        free(n_wu);
        free(n_adj);
    }
    strvec_clear(&kpis);
    print_adjustments(out, h, adj, nadj);
}

fd_err_t cmd_scorecard(ctl_t *ctl) {
    const char *name = ctl->args[0], *id = ctl->args[1];
    if (strcmp(name, "rep") != 0 && strcmp(name, "team") != 0)
        return ctl_fail(FD_ERR_INVAL, "scorecard expects 'rep <id>' or 'team <id>', found '%s'",
                        name);
    fd_scope_t scope = name[0] == 'r' ? FD_SCOPE_REP : FD_SCOPE_TEAM;
    char period[FD_WIN_ID_MAX];
    fd_err_t err = period_resolve(ctl, period, sizeof period);
    if (err != FD_OK) return err;
    if ((err = redis_open(ctl)) != FD_OK) return err;
    fd_webhash_t h = {0};
    char **adj = NULL;
    size_t nadj = 0;
    err = fd_webread_scorecard(ctl->redis, ctl->cfg.prefix, scope, period, id, &h, &adj, &nadj);
    if (err != FD_OK) return read_failed(ctl, err);
    if (h.n == 0) {
        err = ctl_fail(FD_ERR_NOTFOUND,
                       "no scorecard for %s '%s' in period %s (prefix '%s')\n"
                       "hint: funneld's scorer writes them when targets.file has a scorecard; "
                       "`funnelctl ranking --period %s%s` lists the ids scored",
                       name, id, period, ctl->cfg.prefix, period,
                       scope == FD_SCOPE_TEAM ? " --scope team" : "");
    } else if (ctl->json) {
        char *json = NULL;
        err = fd_funnelview_scorecard_json((const char *const *)h.fields,
                                           (const char *const *)h.values, h.n,
                                           (const char *const *)adj, nadj, &json);
        if (err == FD_OK)
            printf("%s\n", json);
        else
            err = ctl_fail(err, "out of memory");
        free(json);
    } else {
        print_scorecard(stdout, &h, name, id, period, adj, nadj);
    }
    fd_webread_ids_free(adj, nadj);
    fd_webhash_clear(&h);
    return ctl_finish_output(err);
}

/* ---- ranking ---- */

fd_err_t cmd_ranking(ctl_t *ctl) {
    const char *sname = ctl->scope != NULL ? ctl->scope : "rep";
    if (strcmp(sname, "rep") != 0 && strcmp(sname, "team") != 0)
        return ctl_fail(FD_ERR_INVAL, "--scope expects rep or team, found '%s'", sname);
    fd_scope_t scope = sname[0] == 'r' ? FD_SCOPE_REP : FD_SCOPE_TEAM;
    if (ctl->team != NULL && scope != FD_SCOPE_REP)
        return ctl_fail(FD_ERR_INVAL, "--team applies to --scope rep only");
    char period[FD_WIN_ID_MAX];
    fd_err_t err = period_resolve(ctl, period, sizeof period);
    if (err != FD_OK) return err;
    if ((err = redis_open(ctl)) != FD_OK) return err;
    size_t limit = ctl->limit > 0 ? (size_t)ctl->limit : (size_t)-1;
    fd_webrank_t *rows = NULL;
    size_t n = 0, total = 0;
    err = fd_webread_ranking(ctl->redis, ctl->cfg.prefix, period, scope, ctl->team, limit, &rows,
                             &n, &total);
    if (err != FD_OK) return read_failed(ctl, err);
    static const char *const texts[] = {"grade", "team", "state", "adjusted_score",
                                        "adjusted_grade"};
    if (ctl->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "period", period);
        cJSON_AddStringToObject(o, "scope", sname);
        if (ctl->team != NULL)
            cJSON_AddStringToObject(o, "team", ctl->team);
        else
            cJSON_AddNullToObject(o, "team");
        cJSON_AddNumberToObject(o, "total", (double)total);
        cJSON *a = cJSON_AddArrayToObject(o, "rows");
        for (size_t i = 0; i < n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "rank", (double)(i + 1));
            cJSON_AddStringToObject(e, "id", rows[i].id);
            char buf[64];
            snprintf(buf, sizeof buf, "%.2f", rows[i].score);
            cJSON_AddRawToObject(e, "score", buf);
            for (size_t k = 0; k < 5; k++) {
                const char *x = fd_webhash_get(&rows[i].card, texts[k]);
                if (x == NULL)
                    cJSON_AddNullToObject(e, texts[k]);
                else if (k == 3)
                    cJSON_AddRawToObject(e, texts[k], x);
                else
                    cJSON_AddStringToObject(e, texts[k], x);
            }
            cJSON_AddItemToArray(a, e);
        }
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (s != NULL) printf("%s\n", s);
        free(s);
    } else if (n == 0) {
        printf("no scorecards ranked in %s%s%s\n", period, ctl->team ? " for team " : "",
               ctl->team ? ctl->team : "");
    } else {
        table_t t = {.ncols = 8, .left = {false, true, false, true, true, true, false, true}};
        static const char *const heads[] = {"rank", "id",    "score",          "grade",
                                            "team", "state", "adjusted_score", "adjusted_grade"};
        for (size_t c = 0; c < 8; c++)
            table_cell(&t, heads[c]);
        for (size_t i = 0; i < n; i++) {
            char buf[64];
            snprintf(buf, sizeof buf, "%zu", i + 1);
            table_cell(&t, buf);
            table_cell(&t, rows[i].id);
            snprintf(buf, sizeof buf, "%.2f", rows[i].score);
            table_cell(&t, buf);
            for (size_t k = 0; k < 5; k++)
                table_cell(&t, or_dash(fd_webhash_get(&rows[i].card, texts[k])));
        }
        printf("%s ranking of %s%s%s: %zu of %zu\n", sname, period, ctl->team ? ", team " : "",
               ctl->team ? ctl->team : "", n, total);
        table_print(stdout, &t);
    }
    fd_webranks_free(rows, n);
    return ctl_finish_output(FD_OK);
}
