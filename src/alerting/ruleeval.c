// SPDX-License-Identifier: MIT
// Rule evaluation: the effective parameters of a rule for one scope id (filters, team
// overrides, per-id targets) and the threshold, target-pace and drift conditions over values
// the caller read; the summary templates (layer 3, pure). Reference: docs/alerts.md.
#include "alerting/ruleeval.h"

#include <math.h>
#include <string.h>

#include "alerting/rules_internal.h"

const char *fd_cond_name(fd_cond_kind_t cond) {
    static const char *const names[] = {"threshold", "target", "drift"};
    return (unsigned)cond <= FD_COND_DRIFT ? names[cond] : "unknown";
}

static bool in_list(char *const *v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0) return true;
    return false;
}

static const id_value_t *find_value(const id_value_t *v, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].id, id) == 0) return &v[i];
    return NULL;
}

bool fd_rules_params(const fd_rules_t *rs, size_t i, const char *id, const char *team_id,
                     fd_rule_params_t *p) {
    if (rs == NULL || i >= rs->n || p == NULL) return false;
    const rule_t *r = &rs->rules[i];
    if (id == NULL) id = "";
    if (team_id == NULL) team_id = "";
    /* filters: a rep matches when it is listed or its team is */
    if (r->nreps || r->nteams) {
        bool match = false;
        if (r->pub.scope == FD_SCOPE_REP)
            match = in_list(r->reps, r->nreps, id) || in_list(r->teams, r->nteams, team_id);
        else if (r->pub.scope == FD_SCOPE_TEAM)
            match = in_list(r->teams, r->nteams, id);
        if (!match) return false;
    }
    *p = r->base;
    bool has_value = r->has_value;
    if (r->pub.scope != FD_SCOPE_ORG) {
        const char *team = r->pub.scope == FD_SCOPE_TEAM ? id : team_id;
        for (size_t k = 0; k < r->noverrides; k++) {
            const override_t *ov = &r->overrides[k];
            if (strcmp(ov->team, team) != 0) continue;
            if (ov->mask & OV_OP) p->op = ov->p.op;
            if (ov->mask & OV_VALUE) p->value = ov->p.value, has_value = true;
            if (ov->mask & OV_TOLERANCE) p->tolerance = ov->p.tolerance;
            if (ov->mask & OV_MAX_CHANGE) p->max_change = ov->p.max_change;
            if (ov->mask & OV_Z) p->z = ov->p.z;
            if (ov->mask & OV_MIN_SAMPLES) p->min_samples = ov->p.min_samples;
            if (ov->mask & OV_FOR) p->for_ms = ov->p.for_ms;
            if (ov->mask & OV_RESOLVE_FOR) p->resolve_for_ms = ov->p.resolve_for_ms;
            if (ov->mask & OV_HYSTERESIS) p->hysteresis = ov->p.hysteresis;
            if (ov->mask & OV_REPEAT) p->repeat_ms = ov->p.repeat_ms;
            break;
        }
        if (r->pub.cond == FD_COND_TARGET) {
            const id_value_t *v = NULL;
            if (r->pub.scope == FD_SCOPE_REP) v = find_value(r->target_reps, r->ntarget_reps, id);
            if (v == NULL) v = find_value(r->target_teams, r->ntarget_teams, team);
            if (v) p->value = v->value, has_value = true;
        }
    }
    if (r->pub.cond == FD_COND_TARGET && !has_value && !r->pub.from_targets) return false;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Evaluation */

static bool cmp(double v, fd_op_t op, double bound) {
    switch (op) {
    case FD_OP_LT:
        return v < bound;
    case FD_OP_LE:
        return v <= bound;
    case FD_OP_GT:
        return v > bound;
    default:
        return v >= bound;
    }
}

/* Whether x passes threshold thr in direction dir (-1 a drop, +1 a rise, 0 either way). */
static bool drift_holds(double x, double thr, int dir) {
    if (dir < 0) return x <= -thr;
    if (dir > 0) return x >= thr;
    return fabs(x) >= thr;
}

static void eval_drift(const fd_rules_t *rs, const rule_t *r, const fd_rule_params_t *p,
                       const fd_rule_input_t *in, fd_rule_result_t *out) {
    const fd_funnel_t *fn = rs->fn;
    fd_kpi_t kpi = r->pub.kpi;
    bool volume = fd_kpi_is_volume(kpi.kind);
    size_t nf = fd_funnel_nfields(fn);
    double cur;
    int64_t cur_samples;
    bool cur_def = fd_kpi_value(fn, kpi, in->cur, &cur, &cur_samples);
    out->samples = cur_samples;

    /* the baseline: summed fields over the days, and each day's value */
    int64_t sum[FD_MAX_STAGES * FD_F_PER_STAGE + FD_G_COUNT + FD_MAX_KINDS];
    memset(sum, 0, sizeof sum);
    double mean = 0, m2 = 0;
    size_t ndef = 0;
    for (size_t d = 0; d < in->ndays; d++) {
        const int64_t *day = in->days[d];
        for (size_t k = 0; k < nf; k++)
            sum[k] += day[k];
        double dv;
        int64_t ds;
        if (!fd_kpi_value(fn, kpi, day, &dv, &ds)) continue;
        /* Welford's running mean and sum of squared deviations */
        ndef++;
        double delta = dv - mean;
        mean += delta / (double)ndef;
        m2 += delta * (dv - mean);
    }
    double base;
    int64_t base_samples;
    bool base_def = fd_kpi_value(fn, kpi, sum, &base, &base_samples);
    out->baseline_samples = base_samples;
    if (volume) {
        double days = in->cur_days > 0 ? in->cur_days : 1;
        cur /= days;
        base = in->ndays ? base / (double)in->ndays : 0;
        base_def = in->ndays > 0;
    }
    out->value = cur;
    out->bound = base;
    bool enough = cur_def && base_def && base_samples >= p->min_samples &&
                  (volume || cur_samples >= p->min_samples);
    if (!enough) {
        out->defined = false;
        out->fire = false;
        out->clear = true;
        return;
    }
    out->defined = true;
    if (base != 0)
        out->change = (cur - base) / fabs(base);
    else
        out->change = cur > 0 ? 1e9 : cur < 0 ? -1e9 : 0;
    double sd = ndef >= 2 ? sqrt(m2 / (double)ndef) : 0;
    bool z_usable = ndef >= 2 && sd > 0;
    out->z = z_usable ? (cur - mean) / sd : 0;

    bool use_rel = p->max_change > 0, use_z = p->z > 0;
    /* fire with the configured thresholds; clear when even the relaxed ones (by the hysteresis
     * fraction) no longer hold */
    for (int pass = 0; pass < 2; pass++) {
        double f = pass == 0 ? 1 : 1 - p->hysteresis;
        bool rel = use_rel && drift_holds(out->change, p->max_change * f, p->direction);
        bool zh = use_z && z_usable && drift_holds(out->z, p->z * f, p->direction);
        bool holds;
        if (use_rel && use_z)
            holds = p->require_both ? rel && zh : rel || zh;
        else
            holds = use_rel ? rel : zh;
        if (pass == 0)
            out->fire = holds;
        else
            out->clear = !holds;
    }
}

void fd_rules_eval(const fd_rules_t *rs, size_t i, const fd_rule_params_t *p,
                   const fd_rule_input_t *in, fd_rule_result_t *out) {
    memset(out, 0, sizeof *out);
    if (rs == NULL || i >= rs->n || p == NULL || in == NULL) {
        out->clear = true;
        return;
    }
    const rule_t *r = &rs->rules[i];
    fd_kpi_t kpi = r->pub.kpi;
    if (r->pub.cond == FD_COND_DRIFT) {
        eval_drift(rs, r, p, in, out);
        return;
    }
    double v;
    int64_t samples;
    bool def;
    bool volume = fd_kpi_is_volume(kpi.kind);
    if (kpi.kind == FD_KPI_STALLED) {
        v = (double)in->stalled;
        samples = in->stalled;
        def = true;
    } else if (r->pub.card != FD_RULE_CARD_NONE) {
        /* the scorecard's score or grade: defined when the hash holds it, one sample */
        def = in->card_defined;
        v = def ? in->card : 0;
        samples = def ? 1 : 0;
        volume = true; /* min_samples does not apply */
    } else {
        def = fd_kpi_value(rs->fn, kpi, in->cur, &v, &samples);
    }
    out->value = v;
    out->samples = samples;
    /* target pace: a count accrues over the calendar window, so by now pace expects the elapsed
     * fraction of it; a ratio or an average does not accrue, its expectation is the target.
     * Known even when the value is not, for the notification of a resolve for lack of samples. */
    double elapsed = in->elapsed < 0 ? 0 : in->elapsed > 1 ? 1 : in->elapsed;
    double expected = volume ? p->value * elapsed : p->value;
    if (r->pub.cond == FD_COND_TARGET) {
        out->target = p->value;
        out->bound = expected;
    }
    /* volume KPIs ignore min_samples: a silent rep has 0, and that is the signal */
    if (!def || (!volume && samples < p->min_samples)) {
        out->defined = false;
        out->clear = true;
        if (r->pub.cond == FD_COND_THRESHOLD) out->bound = p->value;
        return;
    }
    out->defined = true;
    if (r->pub.cond == FD_COND_THRESHOLD) {
        out->bound = p->value;
        out->fire = cmp(v, p->op, p->value);
        /* clear: not firing even with the bound moved by the hysteresis band toward the healthy
         * side; with no band this is exactly "not fire" */
        double shifted = p->op == FD_OP_LT || p->op == FD_OP_LE ? p->value + p->hysteresis
                                                                : p->value - p->hysteresis;
        out->clear = !cmp(v, p->op, shifted);
        return;
    }
    if (p->op == FD_OP_LE) {
        out->fire = v > expected * (1 + p->tolerance);
        out->clear = v <= expected * (1 + p->tolerance - p->hysteresis);
    } else {
        out->fire = v < expected * (1 - p->tolerance);
        out->clear = v >= expected * (1 - p->tolerance + p->hysteresis);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Templates and descriptions */

static const char *const default_tmpl[2][3] = {
    {
        "{scope} {id}: {kpi} over {window} is {value} ({state}; threshold {bound}, {samples} "
        "samples)",
        "{scope} {id}: {kpi} this {window} is {value}, pace expects {bound} of target {target} "
        "({state})",
        "{scope} {id}: {kpi} over {window} is {value} vs baseline {bound} ({change_pct}, z={z}; "
        "{state})",
    },
    {
        "{scope} {id}：{window} 内 {kpi} 为 {value}（{state}；阈值 {bound}，样本 {samples}）",
        "{scope} {id}：本{window} {kpi} 为 {value}，按进度应达 {bound}，目标 {target}（{state}）",
        "{scope} {id}：{window} 内 {kpi} 为 {value}，基线 {bound}（{change_pct}，z={z}；{state}）",
    },
};

const char *fd_rules_template(const fd_rules_t *rs, size_t i, const char *locale) {
    int l = locale && strcmp(locale, "zh") == 0 ? 1 : 0;
    if (rs == NULL || i >= rs->n) return default_tmpl[l][0];
    const rule_t *r = &rs->rules[i];
    if (r->summary[l]) return r->summary[l];
    return default_tmpl[l][r->pub.cond];
}
