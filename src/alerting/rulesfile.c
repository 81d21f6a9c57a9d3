// SPDX-License-Identifier: MIT
// The rules file: parses and validates the JSON document against the funnel into a rule set,
// with error messages naming the rule and field, and the set's accessors (layer 3, pure but for
// fd_rules_load reading the file; cJSON stays inside). Reference: docs/alerts.md.
#include "alerting/rulesfile.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alerting/rules_internal.h"
#include "alerting/rulesjson.h"
#include "base/file.h"
#include "base/jsontext.h"

fd_err_t fd_rules_parse_duration(const char *s, int64_t *out_ms) {
    if (s == NULL || out_ms == NULL) return FD_ERR_PARSE;
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return FD_OK;
    }
    const char *p = s;
    if (*p < '0' || *p > '9') return FD_ERR_PARSE;
    int64_t n = 0;
    while (*p >= '0' && *p <= '9') {
        if (n > INT64_MAX / 10 - 9) return FD_ERR_PARSE;
        n = n * 10 + (*p++ - '0');
    }
    int64_t unit;
    switch (*p) {
    case 's':
        unit = 1000;
        break;
    case 'm':
        unit = 60000;
        break;
    case 'h':
        unit = HOUR_MS;
        break;
    case 'd':
        unit = DAY_MS;
        break;
    default:
        return FD_ERR_PARSE;
    }
    if (p[1] != '\0') return FD_ERR_PARSE;
    /* bounded to about 292 years, far beyond any sensible duration */
    if (n > INT64_MAX / unit) return FD_ERR_PARSE;
    *out_ms = n * unit;
    return FD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing */

static const char *const stage_kpis_help = "entered, exit_conv, conv, dwell_hours, stalled";

/* "exit_conv:proposal" etc.; "score" and "grade" read the scorecard (*card). */
static fd_err_t parse_kpi(fd_rulesjson_t *c, const cJSON *it, fd_kpi_t *kpi, fd_rule_card_t *card) {
    const char *s = NULL;
    fd_err_t err = fd_rulesjson_string(c, it, "kpi", &s);
    if (err) return err;
    *card = FD_RULE_CARD_NONE;
    if (strcmp(s, "score") == 0 || strcmp(s, "grade") == 0) {
        *card = s[0] == 's' ? FD_RULE_CARD_SCORE : FD_RULE_CARD_GRADE;
        kpi->kind = FD_KPI_COUNT; /* no metric KPI: the value is the scorecard's */
        kpi->arg = -1;
        return FD_OK;
    }
    const char *colon = strchr(s, ':');
    size_t plen = colon ? (size_t)(colon - s) : strlen(s);
    int kind = -1;
    for (int k = 0; k < FD_KPI_COUNT; k++)
        if (strlen(fd_kpi_kind_name((fd_kpi_kind_t)k)) == plen &&
            memcmp(fd_kpi_kind_name((fd_kpi_kind_t)k), s, plen) == 0)
            kind = k;
    char f[64];
    fd_rulesjson_found(it, f, sizeof f);
    if (kind < 0)
        return fd_rulesjson_bad(
            c, "kpi",
            "expected entered:<stage>, exit_conv:<stage>, conv:<stage>, "
            "dwell_hours:<stage>, stalled:<stage>, activity:<kind>, win_rate, won, "
            "won_amount, feedback_avg, complaints, score or grade, found %s",
            f);
    kpi->kind = (fd_kpi_kind_t)kind;
    kpi->arg = -1;
    fd_kpi_arg_t t = fd_kpi_arg(kpi->kind);
    if (t == FD_KPI_ARG_NONE) {
        if (colon)
            return fd_rulesjson_bad(c, "kpi", "%s takes no argument, found %s",
                                    fd_kpi_kind_name(kpi->kind), f);
        return FD_OK;
    }
    if (colon == NULL || colon[1] == '\0')
        return fd_rulesjson_bad(
            c, "kpi", "%s needs %s (\"%s:<%s>\"), found %s", fd_kpi_kind_name(kpi->kind),
            t == FD_KPI_ARG_STAGE ? "a stage" : "an activity kind", fd_kpi_kind_name(kpi->kind),
            t == FD_KPI_ARG_STAGE ? "stage" : "kind", f);
    const char *arg = colon + 1;
    const fd_funnel_t *fn = c->fn;
    char list[FD_MAX_KINDS * (FD_NAME_MAX + 2)] = "";
    size_t count = t == FD_KPI_ARG_STAGE ? fd_funnel_nstages(fn) : fd_funnel_nkinds(fn);
    for (size_t i = 0; i < count; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "",
                 t == FD_KPI_ARG_STAGE ? fd_funnel_stage_name(fn, (int)i)
                                       : fd_funnel_kind_name(fn, (int)i));
    }
    int idx;
    bool known = t == FD_KPI_ARG_STAGE ? fd_funnel_stage_index(fn, arg, strlen(arg), &idx)
                                       : fd_funnel_kind_index(fn, arg, strlen(arg), &idx);
    if (!known)
        return fd_rulesjson_bad(c, "kpi", "unknown %s in %s (valid: %s)",
                                t == FD_KPI_ARG_STAGE ? "stage" : "activity kind", f, list);
    int last = (int)fd_funnel_nstages(fn) - 1;
    if (t == FD_KPI_ARG_STAGE && idx == last && kpi->kind != FD_KPI_ENTERED)
        return fd_rulesjson_bad(
            c, "kpi", "%s is the won stage: only entered:%s is valid there (of %s), found %s",
            fd_funnel_stage_name(fn, last), fd_funnel_stage_name(fn, last), stage_kpis_help, f);
    kpi->arg = idx;
    return FD_OK;
}

/* "7d", "24h", "day", "week", "month", "quarter". */
static fd_err_t parse_window(fd_rulesjson_t *c, const cJSON *it, fd_rule_window_t *w) {
    const char *s = NULL;
    fd_err_t err = fd_rulesjson_string(c, it, "window", &s);
    if (err) return err;
    char f[64];
    fd_rulesjson_found(it, f, sizeof f);
    static const char *const cal[] = {"day", "week", "month", "quarter"};
    static const fd_win_kind_t calk[] = {FD_WIN_DAY, FD_WIN_WEEK, FD_WIN_MONTH, FD_WIN_QUARTER};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(s, cal[i]) == 0) {
            w->type = FD_RULE_WIN_CALENDAR;
            w->cal = calk[i];
            snprintf(w->name, sizeof w->name, "%s", s);
            return FD_OK;
        }
    int64_t ms;
    size_t n = strlen(s);
    if (n < 2 || (s[n - 1] != 'h' && s[n - 1] != 'd') || fd_rules_parse_duration(s, &ms) != FD_OK)
        return fd_rulesjson_bad(
            c, "window",
            "expected a rolling window (\"24h\", \"7d\": whole hours or days) or day, week, "
            "month, quarter, found %s",
            f);
    if (ms < HOUR_MS || ms > 90 * DAY_MS)
        return fd_rulesjson_bad(c, "window", "expected a rolling window of 1h..90d, found %s", f);
    w->type = FD_RULE_WIN_ROLLING;
    w->span_ms = ms;
    snprintf(w->name, sizeof w->name, "%s", s);
    return FD_OK;
}

static const char *const ops[] = {"<", "<=", ">", ">=", NULL};

/* The condition object of a rule (or of an override when ov is set: only the overridable keys).
 */
static fd_err_t parse_threshold(fd_rulesjson_t *c, const cJSON *o, const char *where,
                                fd_rule_card_t card, fd_rule_params_t *p, unsigned *mask, bool ov) {
    static const char *const keys[] = {"op", "value", NULL};
    char f[160];
    if (!cJSON_IsObject(o)) {
        fd_rulesjson_found(o, f, sizeof f);
        return fd_rulesjson_bad(c, where, "expected an object, found %s", f);
    }
    fd_err_t err = fd_rulesjson_check_keys(c, o, where, keys);
    if (err) return err;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(o, "value");
    snprintf(f, sizeof f, "%s.op", where);
    if (op) {
        int i;
        if ((err = fd_rulesjson_choice(c, op, f, ops, &i))) return err;
        p->op = (fd_op_t)i;
        *mask |= OV_OP;
    } else if (!ov) {
        return fd_rulesjson_bad(c, f, "missing (one of \"<\", \"<=\", \">\", \">=\")");
    }
    snprintf(f, sizeof f, "%s.value", where);
    if (val && card == FD_RULE_CARD_GRADE && cJSON_IsString(val)) {
        /* a grade as a letter: A 4, B 3, C 2, D 1 */
        const char *g = val->valuestring;
        if (g[0] < 'A' || g[0] > 'D' || g[1] != '\0') {
            char found[64];
            fd_rulesjson_found(val, found, sizeof found);
            return fd_rulesjson_bad(
                c, f, "expected a grade \"A\" .. \"D\" or a number 1..4, found %s", found);
        }
        p->value = 4 - (g[0] - 'A');
        *mask |= OV_VALUE;
    } else if (val) {
        if ((err = fd_rulesjson_number(c, val, f, -1e15, 1e15, &p->value))) return err;
        *mask |= OV_VALUE;
    } else if (!ov) {
        return fd_rulesjson_bad(c, f, "missing (the bound, a number)");
    }
    return FD_OK;
}

static fd_err_t parse_target(fd_rulesjson_t *c, const cJSON *o, const char *where, rule_t *r,
                             fd_rule_params_t *p, unsigned *mask, bool ov) {
    static const char *const keys[] = {"op", "value", "tolerance", "teams", "reps", "from", NULL};
    static const char *const okeys[] = {"value", "tolerance", NULL};
    static const char *const froms[] = {"targets", NULL};
    static const char *const tops[] = {">=", "<=", NULL};
    char f[160];
    if (!cJSON_IsObject(o)) {
        fd_rulesjson_found(o, f, sizeof f);
        return fd_rulesjson_bad(c, where, "expected an object, found %s", f);
    }
    fd_err_t err = fd_rulesjson_check_keys(c, o, where, ov ? okeys : keys);
    if (err) return err;
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "op"))) {
        int i;
        snprintf(f, sizeof f, "%s.op", where);
        if ((err = fd_rulesjson_choice(c, it, f, tops, &i))) return err;
        p->op = i == 0 ? FD_OP_GE : FD_OP_LE;
    }
    if (!ov && (it = cJSON_GetObjectItemCaseSensitive(o, "from"))) {
        int i;
        snprintf(f, sizeof f, "%s.from", where);
        if ((err = fd_rulesjson_choice(c, it, f, froms, &i))) return err;
        static const char *const excl[] = {"value", "teams", "reps"};
        for (size_t k = 0; k < 3; k++)
            if (cJSON_GetObjectItemCaseSensitive(o, excl[k]))
                return fd_rulesjson_bad(c, f,
                                        "\"from\": \"targets\" takes each id's target from the "
                                        "targets file: no %s beside it",
                                        excl[k]);
        r->pub.from_targets = true;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "value"))) {
        snprintf(f, sizeof f, "%s.value", where);
        if (ov && r->pub.from_targets)
            return fd_rulesjson_bad(c, f,
                                    "the rule's targets come from the targets file (\"from\": "
                                    "\"targets\"): an override may set only tolerance");
        if ((err = fd_rulesjson_number(c, it, f, 0, 1e15, &p->value))) return err;
        *mask |= OV_VALUE;
        if (!ov) r->has_value = true;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "tolerance"))) {
        snprintf(f, sizeof f, "%s.tolerance", where);
        if ((err = fd_rulesjson_number(c, it, f, 0, 1, &p->tolerance))) return err;
        *mask |= OV_TOLERANCE;
    }
    if (ov) return FD_OK;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "teams"))) {
        snprintf(f, sizeof f, "%s.teams", where);
        if (r->pub.scope == FD_SCOPE_ORG)
            return fd_rulesjson_bad(c, f,
                                    "per-team targets need scope rep or team, found scope org");
        if ((err = fd_rulesjson_id_values(c, it, f, &r->target_teams, &r->ntarget_teams)))
            return err;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "reps"))) {
        snprintf(f, sizeof f, "%s.reps", where);
        if (r->pub.scope != FD_SCOPE_REP)
            return fd_rulesjson_bad(c, f, "per-rep targets need scope rep, found scope %s",
                                    fd_scope_name(r->pub.scope));
        if ((err = fd_rulesjson_id_values(c, it, f, &r->target_reps, &r->ntarget_reps))) return err;
    }
    if (!r->has_value && r->ntarget_teams == 0 && r->ntarget_reps == 0 && !r->pub.from_targets)
        return fd_rulesjson_bad(
            c, where, "expected a target: value, teams or reps (or \"from\": \"targets\")");
    return FD_OK;
}

static fd_err_t parse_drift(fd_rulesjson_t *c, const cJSON *o, const char *where,
                            fd_rule_params_t *p, unsigned *mask, bool ov) {
    static const char *const keys[] = {"baseline_days", "max_change", "z",
                                       "direction",     "require",    NULL};
    static const char *const okeys[] = {"max_change", "z", NULL};
    static const char *const dirs[] = {"down", "up", "both", NULL};
    static const char *const reqs[] = {"both", "either", NULL};
    char f[160];
    if (!cJSON_IsObject(o)) {
        fd_rulesjson_found(o, f, sizeof f);
        return fd_rulesjson_bad(c, where, "expected an object, found %s", f);
    }
    fd_err_t err = fd_rulesjson_check_keys(c, o, where, ov ? okeys : keys);
    if (err) return err;
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "max_change"))) {
        snprintf(f, sizeof f, "%s.max_change", where);
        if ((err = fd_rulesjson_number(c, it, f, 0, 1e6, &p->max_change))) return err;
        if (p->max_change <= 0)
            return fd_rulesjson_bad(c, f, "expected a number > 0, found %g", p->max_change);
        *mask |= OV_MAX_CHANGE;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "z"))) {
        snprintf(f, sizeof f, "%s.z", where);
        if ((err = fd_rulesjson_number(c, it, f, 0, 1e6, &p->z))) return err;
        if (p->z <= 0) return fd_rulesjson_bad(c, f, "expected a number > 0, found %g", p->z);
        *mask |= OV_Z;
    }
    if (ov) return FD_OK;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "baseline_days"))) {
        int64_t v = 0; /* set on success; GCC -O3 cannot see it (-Wmaybe-uninitialized) */
        snprintf(f, sizeof f, "%s.baseline_days", where);
        if ((err = fd_rulesjson_int(c, it, f, 1, 365, &v))) return err;
        p->baseline_days = (int)v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "direction"))) {
        int i;
        snprintf(f, sizeof f, "%s.direction", where);
        if ((err = fd_rulesjson_choice(c, it, f, dirs, &i))) return err;
        p->direction = i == 0 ? -1 : i == 1 ? 1 : 0;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "require"))) {
        int i;
        snprintf(f, sizeof f, "%s.require", where);
        if ((err = fd_rulesjson_choice(c, it, f, reqs, &i))) return err;
        p->require_both = i == 0;
    }
    if (p->max_change <= 0 && p->z <= 0)
        return fd_rulesjson_bad(c, where, "expected max_change, z or both");
    return FD_OK;
}

static const char *const severities[] = {"info", "warning", "critical", NULL};

/* The parameters shared by a rule and its overrides: min_samples, for, resolve_for, hysteresis,
 * repeat_every. */
static fd_err_t parse_common(fd_rulesjson_t *c, const cJSON *o, const char *where,
                             fd_cond_kind_t cond, fd_rule_params_t *p, unsigned *mask) {
    const cJSON *it;
    fd_err_t err;
    char f[160];
#define FIELD(name) (snprintf(f, sizeof f, "%s%s%s", where, where[0] ? "." : "", name), f)
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "min_samples"))) {
        if ((err = fd_rulesjson_int(c, it, FIELD("min_samples"), 0, 1000000000, &p->min_samples)))
            return err;
        *mask |= OV_MIN_SAMPLES;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "for"))) {
        if ((err = fd_rulesjson_duration(c, it, FIELD("for"), 0, 90 * DAY_MS, &p->for_ms)))
            return err;
        *mask |= OV_FOR;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "resolve_for"))) {
        if ((err = fd_rulesjson_duration(c, it, FIELD("resolve_for"), 0, 90 * DAY_MS,
                                         &p->resolve_for_ms)))
            return err;
        *mask |= OV_RESOLVE_FOR;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "repeat_every"))) {
        if ((err = fd_rulesjson_duration(c, it, FIELD("repeat_every"), 0, 90 * DAY_MS,
                                         &p->repeat_ms)))
            return err;
        if (p->repeat_ms > 0 && p->repeat_ms < 60000)
            return fd_rulesjson_bad(
                c, f, "expected \"0\" (never) or at least 1m, found %" PRId64 "ms", p->repeat_ms);
        *mask |= OV_REPEAT;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "hysteresis"))) {
        /* threshold: KPI units; target and drift: a fraction below 1 */
        double hi = cond == FD_COND_THRESHOLD ? 1e15 : 0.999;
        if ((err = fd_rulesjson_number(c, it, FIELD("hysteresis"), 0, hi, &p->hysteresis)))
            return err;
        *mask |= OV_HYSTERESIS;
    }
#undef FIELD
    return FD_OK;
}

static const char *const cond_keys[] = {"threshold", "target", "drift"};

static fd_err_t parse_overrides(fd_rulesjson_t *c, const cJSON *o, rule_t *r) {
    char f[200];
    if (r->pub.scope == FD_SCOPE_ORG)
        return fd_rulesjson_bad(c, "overrides",
                                "overrides are per team: they need scope rep or team");
    if (!cJSON_IsObject(o)) {
        fd_rulesjson_found(o, f, sizeof f);
        return fd_rulesjson_bad(c, "overrides", "expected an object keyed by team id, found %s", f);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(o);
    if (cnt == 0) return FD_OK;
    if ((r->overrides = calloc(cnt, sizeof *r->overrides)) == NULL) return FD_ERR_NOMEM;
    static const char *const keys[][7] = {
        {"threshold", "min_samples", "for", "resolve_for", "hysteresis", "repeat_every", NULL},
        {"target", "min_samples", "for", "resolve_for", "hysteresis", "repeat_every", NULL},
        {"drift", "min_samples", "for", "resolve_for", "hysteresis", "repeat_every", NULL},
    };
    for (const cJSON *t = o->child; t; t = t->next) {
        snprintf(f, sizeof f, "overrides.%s", t->string);
        if (!fd_rulesjson_valid_id(t->string))
            return fd_rulesjson_bad(c, f, "expected a team id as key");
        for (const cJSON *d = o->child; d != t; d = d->next)
            if (strcmp(d->string, t->string) == 0) return fd_rulesjson_bad(c, f, "duplicate key");
        if (!cJSON_IsObject(t)) {
            char g[64];
            fd_rulesjson_found(t, g, sizeof g);
            return fd_rulesjson_bad(c, f, "expected an object, found %s", g);
        }
        override_t *ov = &r->overrides[r->noverrides];
        if ((ov->team = fd_rulesjson_strdup(t->string)) == NULL) return FD_ERR_NOMEM;
        r->noverrides++;
        fd_err_t err = fd_rulesjson_check_keys(c, t, f, keys[r->pub.cond]);
        if (err) return err;
        const cJSON *cond = cJSON_GetObjectItemCaseSensitive(t, cond_keys[r->pub.cond]);
        if (cond) {
            char g[240];
            snprintf(g, sizeof g, "%s.%s", f, cond_keys[r->pub.cond]);
            if (r->pub.cond == FD_COND_THRESHOLD)
                err = parse_threshold(c, cond, g, r->pub.card, &ov->p, &ov->mask, true);
            else if (r->pub.cond == FD_COND_TARGET)
                err = parse_target(c, cond, g, r, &ov->p, &ov->mask, true);
            else
                err = parse_drift(c, cond, g, &ov->p, &ov->mask, true);
            if (err) return err;
        }
        if ((err = parse_common(c, t, f, r->pub.cond, &ov->p, &ov->mask))) return err;
        if (ov->mask == 0)
            return fd_rulesjson_bad(c, f, "expected at least one parameter to override");
    }
    return FD_OK;
}

static fd_err_t parse_summary(fd_rulesjson_t *c, const cJSON *it, rule_t *r) {
    char f[64];
    if (cJSON_IsString(it)) {
        if (it->valuestring[0] == '\0')
            return fd_rulesjson_bad(c, "summary", "expected a non-empty template");
        if ((r->summary[0] = fd_rulesjson_strdup(it->valuestring)) == NULL) return FD_ERR_NOMEM;
        if ((r->summary[1] = fd_rulesjson_strdup(it->valuestring)) == NULL) return FD_ERR_NOMEM;
        return FD_OK;
    }
    if (!cJSON_IsObject(it)) {
        fd_rulesjson_found(it, f, sizeof f);
        return fd_rulesjson_bad(c, "summary",
                                "expected a string or an object {\"en\", \"zh\"}, found %s", f);
    }
    static const char *const keys[] = {"en", "zh", NULL};
    fd_err_t err = fd_rulesjson_check_keys(c, it, "summary", keys);
    if (err) return err;
    for (int l = 0; l < 2; l++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, keys[l]);
        if (s == NULL) continue;
        char g[32];
        snprintf(g, sizeof g, "summary.%s", keys[l]);
        const char *v = NULL;
        if ((err = fd_rulesjson_string(c, s, g, &v))) return err;
        if (v[0] == '\0') return fd_rulesjson_bad(c, g, "expected a non-empty template");
        if ((r->summary[l] = fd_rulesjson_strdup(v)) == NULL) return FD_ERR_NOMEM;
    }
    return FD_OK;
}

static bool valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > FD_RULE_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

static fd_err_t parse_rule(fd_rulesjson_t *c, const cJSON *o, size_t i, rule_t *r,
                           const rule_t *prev) {
    static const char *const keys[] = {"name",       "kpi",          "scope",         "window",
                                       "lag",        "severity",     "threshold",     "target",
                                       "drift",      "min_samples",  "for",           "resolve_for",
                                       "hysteresis", "repeat_every", "stalled_after", "reps",
                                       "teams",      "overrides",    "summary",       NULL};
    snprintf(c->path, sizeof c->path, "rules[%zu]", i);
    char f[64];
    if (!cJSON_IsObject(o)) {
        fd_rulesjson_found(o, f, sizeof f);
        return fd_rulesjson_bad(c, "", "expected an object, found %s", f);
    }
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "name");
    const char *name = NULL;
    fd_err_t err;
    if (it == NULL)
        return fd_rulesjson_bad(c, "name", "missing (1..%d of A-Z a-z 0-9 _ . -)",
                                FD_RULE_NAME_MAX);
    if ((err = fd_rulesjson_string(c, it, "name", &name))) return err;
    if (!valid_name(name)) {
        fd_rulesjson_found(it, f, sizeof f);
        return fd_rulesjson_bad(c, "name", "expected 1..%d of A-Z a-z 0-9 _ . -, found %s",
                                FD_RULE_NAME_MAX, f);
    }
    for (const rule_t *q = prev; q < r; q++)
        if (strcmp(q->pub.name, name) == 0)
            return fd_rulesjson_bad(c, "name", "duplicate rule name \"%s\" (rules[%zu])", name,
                                    (size_t)(q - prev));
    snprintf(r->pub.name, sizeof r->pub.name, "%s", name);
    snprintf(c->path, sizeof c->path, "rules[%zu] (%s)", i, name);
    if ((err = fd_rulesjson_check_keys(c, o, "", keys))) return err;

    if ((it = cJSON_GetObjectItemCaseSensitive(o, "kpi")) == NULL)
        return fd_rulesjson_bad(c, "kpi", "missing (e.g. \"exit_conv:proposal\", \"win_rate\")");
    if ((err = parse_kpi(c, it, &r->pub.kpi, &r->pub.card))) return err;
    bool stalled = r->pub.kpi.kind == FD_KPI_STALLED;
    const char *card = r->pub.card == FD_RULE_CARD_SCORE ? "score" : "grade";

    static const char *const scopes[] = {"rep", "team", "org", NULL};
    int v;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "scope")) == NULL)
        return fd_rulesjson_bad(c, "scope", "missing (\"rep\", \"team\" or \"org\")");
    if ((err = fd_rulesjson_choice(c, it, "scope", scopes, &v))) return err;
    r->pub.scope = (fd_scope_t)v;
    if (r->pub.card && r->pub.scope == FD_SCOPE_ORG)
        return fd_rulesjson_bad(c, "scope",
                                "%s KPIs need scope rep or team (scorecards are per "
                                "rep and team), found org",
                                card);

    snprintf(r->pub.severity, sizeof r->pub.severity, "warning");
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "severity"))) {
        if ((err = fd_rulesjson_choice(c, it, "severity", severities, &v))) return err;
        snprintf(r->pub.severity, sizeof r->pub.severity, "%s", severities[v]);
    }

    /* window, lag, stalled_after */
    it = cJSON_GetObjectItemCaseSensitive(o, "window");
    const cJSON *lag = cJSON_GetObjectItemCaseSensitive(o, "lag");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(o, "stalled_after");
    if (stalled) {
        if (it)
            return fd_rulesjson_bad(c, "window",
                                    "stalled KPIs take no window (they count open deals now)");
        if (lag) return fd_rulesjson_bad(c, "lag", "stalled KPIs take no window and no lag");
        if (sa == NULL)
            return fd_rulesjson_bad(c, "stalled_after",
                                    "missing (required for stalled KPIs, e.g. \"21d\")");
        if ((err = fd_rulesjson_duration(c, sa, "stalled_after", HOUR_MS, 3650 * DAY_MS,
                                         &r->base.stalled_after_ms)))
            return err;
        r->pub.window.type = FD_RULE_WIN_NONE;
        snprintf(r->pub.window.name, sizeof r->pub.window.name, "now");
    } else {
        if (sa)
            return fd_rulesjson_bad(c, "stalled_after",
                                    "only stalled:<stage> KPIs take stalled_after");
        if (it == NULL)
            return fd_rulesjson_bad(c, "window",
                                    "missing (\"24h\", \"7d\", day, week, month or quarter)");
        if ((err = parse_window(c, it, &r->pub.window))) return err;
        if (lag) {
            if (r->pub.window.type != FD_RULE_WIN_ROLLING)
                return fd_rulesjson_bad(c, "lag",
                                        "only rolling windows (\"7d\") take a lag, found window %s",
                                        r->pub.window.name);
            if ((err = fd_rulesjson_duration(c, lag, "lag", 0, 90 * DAY_MS, &r->pub.window.lag_ms)))
                return err;
            if (r->pub.window.lag_ms % HOUR_MS)
                return fd_rulesjson_bad(c, "lag", "expected whole hours, found %" PRId64 "ms",
                                        r->pub.window.lag_ms);
        }
    }

    /* the condition: exactly one */
    int ncond = 0;
    for (int k = 0; k < 3; k++)
        if (cJSON_GetObjectItemCaseSensitive(o, cond_keys[k])) {
            r->pub.cond = (fd_cond_kind_t)k;
            ncond++;
        }
    if (ncond != 1)
        return fd_rulesjson_bad(c, "", "expected exactly one of threshold, target, drift, found %d",
                                ncond);
    fd_rule_params_t *p = &r->base;
    unsigned mask = 0;
    p->op = FD_OP_GE;
    p->baseline_days = 28;
    p->direction = -1;
    p->require_both = true;
    p->min_samples = r->pub.cond == FD_COND_DRIFT ? 10 : 0;
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(o, cond_keys[r->pub.cond]);
    const fd_rule_window_t *w = &r->pub.window;
    if (stalled && r->pub.cond != FD_COND_THRESHOLD)
        return fd_rulesjson_bad(c, cond_keys[r->pub.cond],
                                "stalled KPIs take a threshold condition");
    if (r->pub.card) {
        if (r->pub.cond != FD_COND_THRESHOLD)
            return fd_rulesjson_bad(c, cond_keys[r->pub.cond], "%s KPIs take a threshold condition",
                                    card);
        if (w->type != FD_RULE_WIN_CALENDAR || (w->cal != FD_WIN_MONTH && w->cal != FD_WIN_QUARTER))
            return fd_rulesjson_bad(c, "window",
                                    "%s KPIs read the scorecard of a calendar period: month or "
                                    "quarter, found %s",
                                    card, w->name);
    }
    switch (r->pub.cond) {
    case FD_COND_THRESHOLD:
        err = parse_threshold(c, cond, "threshold", r->pub.card, p, &mask, false);
        break;
    case FD_COND_TARGET:
        if (w->type != FD_RULE_WIN_CALENDAR)
            return fd_rulesjson_bad(
                c, "target",
                "a target needs a calendar window (day, week, month, quarter), found "
                "window %s",
                w->name);
        err = parse_target(c, cond, "target", r, p, &mask, false);
        if (err == FD_OK && r->pub.from_targets && w->cal != FD_WIN_MONTH &&
            w->cal != FD_WIN_QUARTER)
            return fd_rulesjson_bad(c, "target.from",
                                    "the targets file holds targets per month, quarter or year: "
                                    "the window must be month or quarter, found %s",
                                    w->name);
        break;
    default:
        if (w->type != FD_RULE_WIN_ROLLING || w->lag_ms != 0)
            return fd_rulesjson_bad(c, "drift",
                                    "drift needs a rolling window without lag (\"7d\"), found %s%s",
                                    w->name, w->lag_ms ? " with a lag" : "");
        err = parse_drift(c, cond, "drift", p, &mask, false);
        break;
    }
    if (err) return err;
    if ((err = parse_common(c, o, "", r->pub.cond, p, &mask))) return err;

    /* filters */
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "reps"))) {
        if (r->pub.scope != FD_SCOPE_REP)
            return fd_rulesjson_bad(c, "reps", "a reps filter needs scope rep, found scope %s",
                                    fd_scope_name(r->pub.scope));
        if ((err = fd_rulesjson_id_list(c, it, "reps", &r->reps, &r->nreps))) return err;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "teams"))) {
        if (r->pub.scope == FD_SCOPE_ORG)
            return fd_rulesjson_bad(c, "teams",
                                    "a teams filter needs scope rep or team, found scope org");
        if ((err = fd_rulesjson_id_list(c, it, "teams", &r->teams, &r->nteams))) return err;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "overrides")) &&
        (err = parse_overrides(c, it, r)))
        return err;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "summary")) && (err = parse_summary(c, it, r)))
        return err;
    return FD_OK;
}

static void rule_clear(rule_t *r) {
    for (size_t i = 0; i < r->nreps; i++)
        free(r->reps[i]);
    free(r->reps);
    for (size_t i = 0; i < r->nteams; i++)
        free(r->teams[i]);
    free(r->teams);
    for (size_t i = 0; i < r->ntarget_reps; i++)
        free(r->target_reps[i].id);
    free(r->target_reps);
    for (size_t i = 0; i < r->ntarget_teams; i++)
        free(r->target_teams[i].id);
    free(r->target_teams);
    for (size_t i = 0; i < r->noverrides; i++)
        free(r->overrides[i].team);
    free(r->overrides);
    free(r->summary[0]);
    free(r->summary[1]);
}

void fd_rules_destroy(fd_rules_t *rs) {
    if (rs == NULL) return;
    for (size_t i = 0; i < rs->n; i++)
        rule_clear(&rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->nmgr; i++) {
        free(rs->mgr_team[i]);
        free(rs->mgr_name[i]);
    }
    free(rs->mgr_team);
    free(rs->mgr_name);
    free(rs);
}

static fd_err_t parse_managers(fd_rulesjson_t *c, const cJSON *o, fd_rules_t *rs) {
    char f[200];
    if (!cJSON_IsObject(o)) {
        fd_rulesjson_found(o, f, sizeof f);
        return fd_rulesjson_bad(c, "managers",
                                "expected an object of team id: manager name, found %s", f);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(o);
    if (cnt == 0) return FD_OK;
    if ((rs->mgr_team = calloc(cnt, sizeof(char *))) == NULL ||
        (rs->mgr_name = calloc(cnt, sizeof(char *))) == NULL)
        return FD_ERR_NOMEM;
    for (const cJSON *it = o->child; it; it = it->next) {
        snprintf(f, sizeof f, "managers.%s", it->string);
        if (!fd_rulesjson_valid_id(it->string))
            return fd_rulesjson_bad(c, f, "expected a team id as key");
        for (const cJSON *d = o->child; d != it; d = d->next)
            if (strcmp(d->string, it->string) == 0) return fd_rulesjson_bad(c, f, "duplicate key");
        const char *name = NULL;
        fd_err_t err = fd_rulesjson_string(c, it, f, &name);
        if (err) return err;
        if (!fd_rulesjson_valid_id(name))
            return fd_rulesjson_bad(
                c, f, "expected a name of 1..%d bytes without control characters", FD_ID_MAX);
        rs->mgr_team[rs->nmgr] = fd_rulesjson_strdup(it->string);
        rs->mgr_name[rs->nmgr] = fd_rulesjson_strdup(name);
        rs->nmgr++;
        if (!rs->mgr_team[rs->nmgr - 1] || !rs->mgr_name[rs->nmgr - 1]) return FD_ERR_NOMEM;
    }
    return FD_OK;
}

fd_err_t fd_rules_parse(const fd_funnel_t *fn, const char *json, size_t len, fd_rules_t **out,
                        char *errstr, size_t errstr_size) {
    fd_rulesjson_t c = {.fn = fn, .errstr = errstr, .errstr_size = errstr_size};
    fd_err_t err = FD_OK;
    cJSON *root = NULL;
    fd_rules_t *rs = NULL;
    if (errstr && errstr_size) errstr[0] = '\0';
    if (out == NULL || fn == NULL || (json == NULL && len > 0)) return FD_ERR_INVAL;
    *out = NULL;
    /* cJSON parses a NUL-terminated copy: 1.7.15 to 1.7.17 read one byte past the given length
     * when the text ends just after a comma inside an object (CVE-2023-53154; found by
     * fuzz_rules), and that byte must be ours whatever the caller's buffer is. */
    char *text = malloc(len + 1);
    if (text == NULL) return FD_ERR_NOMEM;
    if (len > 0) memcpy(text, json, len);
    text[len] = '\0';
    size_t nul_at = 0;
    if (fd_jsontext_has_nul_escape(text, len, &nul_at)) {
        free(text);
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size,
                     "rules: a \\u0000 escape at byte %zu: names, ids and summaries cannot hold "
                     "a NUL character",
                     nul_at);
        return FD_ERR_CONFIG;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    size_t junk_at = len, bad_at = len;
    if (root != NULL) {
        size_t e = (size_t)(end - text);
        while (e < len && (text[e] == ' ' || text[e] == '\t' || text[e] == '\n' || text[e] == '\r'))
            e++;
        if (e != len) { /* "{...} junk", or a NUL byte that ended the text early */
            junk_at = e;
            cJSON_Delete(root);
            root = NULL;
        }
    } else {
        const char *at = cJSON_GetErrorPtr();
        if (at != NULL && at >= text && at <= text + len) bad_at = (size_t)(at - text);
    }
    free(text); /* the cJSON tree holds copies of every string */
    if (root == NULL) {
        if (errstr && errstr_size && junk_at != len)
            snprintf(errstr, errstr_size,
                     "rules: unexpected data after the JSON document at byte %zu", junk_at);
        else if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "rules: not valid JSON near byte %zu", bad_at);
        return FD_ERR_CONFIG;
    }
    if ((rs = calloc(1, sizeof *rs)) == NULL) {
        err = FD_ERR_NOMEM;
        goto fail;
    }
    rs->fn = fn;
    snprintf(rs->locale, sizeof rs->locale, "en");
    rs->interval_ms = 60000;
    rs->stall_scan_ms = 300000;
    char f[64];
    if (!cJSON_IsObject(root)) {
        fd_rulesjson_found(root, f, sizeof f);
        err = fd_rulesjson_bad(&c, "rules file", "expected a JSON object, found %s", f);
        goto fail;
    }
    static const char *const keys[] = {
        "locale", "clock", "evaluate_every", "stall_scan_every", "managers", "rules", NULL};
    if ((err = fd_rulesjson_check_keys(&c, root, "", keys))) goto fail;
    const cJSON *it;
    int v;
    static const char *const locales[] = {"en", "zh", NULL};
    static const char *const clocks[] = {"event", "wall", NULL};
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "locale"))) {
        if ((err = fd_rulesjson_choice(&c, it, "locale", locales, &v))) goto fail;
        snprintf(rs->locale, sizeof rs->locale, "%s", locales[v]);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "clock"))) {
        if ((err = fd_rulesjson_choice(&c, it, "clock", clocks, &v))) goto fail;
        rs->wall = v == 1;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "evaluate_every")) &&
        (err = fd_rulesjson_duration(&c, it, "evaluate_every", 1000, DAY_MS, &rs->interval_ms)))
        goto fail;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "stall_scan_every")) &&
        (err = fd_rulesjson_duration(&c, it, "stall_scan_every", 1000, DAY_MS, &rs->stall_scan_ms)))
        goto fail;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "managers")) &&
        (err = parse_managers(&c, it, rs)))
        goto fail;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "rules");
    if (arr == NULL) {
        err = fd_rulesjson_bad(&c, "rules", "missing (an array of rules)");
        goto fail;
    }
    if (!cJSON_IsArray(arr)) {
        fd_rulesjson_found(arr, f, sizeof f);
        err = fd_rulesjson_bad(&c, "rules", "expected an array of rules, found %s", f);
        goto fail;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    if (cnt > 0 && (rs->rules = calloc(cnt, sizeof *rs->rules)) == NULL) {
        err = FD_ERR_NOMEM;
        goto fail;
    }
    size_t i = 0;
    for (it = arr->child; it; it = it->next, i++) {
        rs->n = i + 1; /* so that destroy frees what this rule allocated */
        if ((err = parse_rule(&c, it, i, &rs->rules[i], rs->rules))) goto fail;
    }
    cJSON_Delete(root);
    *out = rs;
    return FD_OK;
fail:
    if (err == FD_ERR_NOMEM && errstr && errstr_size)
        snprintf(errstr, errstr_size, "rules: out of memory");
    fd_rules_destroy(rs);
    cJSON_Delete(root);
    return err;
}

fd_err_t fd_rules_load(const fd_funnel_t *fn, const char *path, fd_rules_t **out, char *errstr,
                       size_t errstr_size) {
    if (out) *out = NULL;
    if (path == NULL || out == NULL) return FD_ERR_INVAL;
    char *buf = NULL;
    size_t len = 0;
    fd_err_t rerr = fd_file_read(path, (size_t)64 << 20, &buf, &len);
    if (rerr == FD_ERR_RANGE) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s: rules file larger than 64 MiB", path);
        return FD_ERR_CONFIG;
    }
    if (rerr == FD_ERR_NOMEM) return FD_ERR_NOMEM;
    if (rerr != FD_OK) goto io;
    char inner[768] = "";
    fd_err_t err = fd_rules_parse(fn, buf ? buf : "", len, out, inner, sizeof inner);
    free(buf);
    if (err && errstr && errstr_size) snprintf(errstr, errstr_size, "%s: %s", path, inner);
    return err;
io:
    if (errstr && errstr_size) snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return FD_ERR_IO;
}

/* ---------------------------------------------------------------------------------------------
 * Accessors */

size_t fd_rules_count(const fd_rules_t *rs) {
    return rs ? rs->n : 0;
}

const fd_rule_t *fd_rules_at(const fd_rules_t *rs, size_t i) {
    return rs && i < rs->n ? &rs->rules[i].pub : NULL;
}

const char *fd_rules_locale(const fd_rules_t *rs) {
    return rs->locale;
}

bool fd_rules_wall_clock(const fd_rules_t *rs) {
    return rs->wall;
}

int64_t fd_rules_interval_ms(const fd_rules_t *rs) {
    return rs->interval_ms;
}

int64_t fd_rules_stall_scan_ms(const fd_rules_t *rs) {
    return rs->stall_scan_ms;
}

const char *fd_rules_manager(const fd_rules_t *rs, const char *team_id) {
    if (team_id == NULL) return NULL;
    for (size_t i = 0; i < rs->nmgr; i++)
        if (strcmp(rs->mgr_team[i], team_id) == 0) return rs->mgr_name[i];
    return NULL;
}

int64_t fd_rules_hour_span_ms(const fd_rules_t *rs) {
    int64_t m = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const fd_rule_window_t *w = &rs->rules[i].pub.window;
        if (w->type == FD_RULE_WIN_ROLLING && w->span_ms + w->lag_ms > m)
            m = w->span_ms + w->lag_ms;
        /* a calendar window is read as of the clock: its current local day (up to 25 hours
         * across a DST change) from hourly buckets */
        if (w->type == FD_RULE_WIN_CALENDAR && m < 25 * 3600000LL) m = 25 * 3600000LL;
    }
    return m;
}

int fd_rules_max_baseline_days(const fd_rules_t *rs) {
    int m = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->rules[i].pub.cond == FD_COND_DRIFT && rs->rules[i].base.baseline_days > m)
            m = rs->rules[i].base.baseline_days;
    return m;
}

void fd_rules_base_params(const fd_rules_t *rs, size_t i, fd_rule_params_t *p) {
    memset(p, 0, sizeof *p);
    if (rs != NULL && i < rs->n) *p = rs->rules[i].base;
}

int fd_rules_baseline_days(const fd_rules_t *rs, size_t i) {
    if (rs == NULL || i >= rs->n || rs->rules[i].pub.cond != FD_COND_DRIFT) return 0;
    return rs->rules[i].base.baseline_days;
}

void fd_rules_kpi_name(const fd_rules_t *rs, size_t i, char *buf, size_t size) {
    if (size == 0) return;
    buf[0] = '\0';
    if (rs == NULL || i >= rs->n) return;
    const fd_rule_t *r = &rs->rules[i].pub;
    if (r->card != FD_RULE_CARD_NONE)
        snprintf(buf, size, "%s", r->card == FD_RULE_CARD_SCORE ? "score" : "grade");
    else
        fd_kpi_name(rs->fn, r->kpi, buf, size);
}

bool fd_rules_need_targets(const fd_rules_t *rs, size_t *first) {
    for (size_t i = 0; rs != NULL && i < rs->n; i++)
        if (rs->rules[i].pub.from_targets) {
            if (first) *first = i;
            return true;
        }
    return false;
}
