// SPDX-License-Identifier: MIT
// A rule in words, for funnelctl rules check and the coming HTTP API (layer 3, pure). It stays in
// the alerting layer, beside the parsed rules it reads, rather than in tools/funnelctl: two
// front ends show it, and moving it out would mean public accessors for every rule field.
#include "alerting/rules_describe.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "alerting/ruleeval.h"
#include "alerting/rules_internal.h"

/* Appends printf output to buf at *len, never past size. */
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t size, size_t *len, const char *fmt, ...) {
    if (*len >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    *len = (size_t)n >= size - *len ? size - 1 : *len + (size_t)n;
}

static void put_duration(char *buf, size_t size, size_t *len, int64_t ms) {
    if (ms == 0)
        put(buf, size, len, "0");
    else if (ms % DAY_MS == 0)
        put(buf, size, len, "%" PRId64 "d", ms / DAY_MS);
    else if (ms % HOUR_MS == 0)
        put(buf, size, len, "%" PRId64 "h", ms / HOUR_MS);
    else if (ms % 60000 == 0)
        put(buf, size, len, "%" PRId64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        put(buf, size, len, "%" PRId64 "s", ms / 1000);
    else
        put(buf, size, len, "%" PRId64 "ms", ms);
}

static const char *op_words(fd_op_t op) {
    static const char *const w[] = {"below", "at or below", "above", "at or above"};
    return (unsigned)op <= FD_OP_GE ? w[op] : "?";
}

void fd_rules_describe(const fd_rules_t *rs, size_t i, char *buf, size_t size) {
    if (size == 0) return;
    buf[0] = '\0';
    if (rs == NULL || i >= rs->n) return;
    const rule_t *r = &rs->rules[i];
    const fd_rule_t *u = &r->pub;
    const fd_rule_params_t *p = &r->base;
    size_t len = 0;
    char kpi[FD_NAME_MAX + 24];
    fd_rules_kpi_name(rs, i, kpi, sizeof kpi);
    static const char *const whose[] = {"a rep's", "a team's", "the org's"};
    put(buf, size, &len, "%s (%s, %s): fires when %s %s", u->name, u->severity,
        fd_cond_name(u->cond), whose[u->scope], kpi);
    const fd_rule_window_t *w = &u->window;
    if (w->type == FD_RULE_WIN_ROLLING) {
        put(buf, size, &len, " over the last %s", w->name);
        if (w->lag_ms) {
            put(buf, size, &len, " ending ");
            put_duration(buf, size, &len, w->lag_ms);
            put(buf, size, &len, " ago");
        }
    } else if (u->card != FD_RULE_CARD_NONE) {
        put(buf, size, &len, " on the scorecard of this %s (%s)", w->name,
            u->card == FD_RULE_CARD_GRADE ? "projected grade; A 4, B 3, C 2, D 1"
                                          : "projected score, 0..100");
    } else if (w->type == FD_RULE_WIN_CALENDAR) {
        put(buf, size, &len, " this %s", w->name);
    } else {
        put(buf, size, &len, " (open deals in the stage longer than ");
        put_duration(buf, size, &len, p->stalled_after_ms);
        put(buf, size, &len, ")");
    }
    switch (u->cond) {
    case FD_COND_THRESHOLD:
        if (u->card == FD_RULE_CARD_GRADE && p->value >= 1 && p->value <= 4 &&
            p->value == (double)(int)p->value)
            put(buf, size, &len, " is %s %c", op_words(p->op), 'A' + (4 - (int)p->value));
        else
            put(buf, size, &len, " is %s %g", op_words(p->op), p->value);
        if (u->card != FD_RULE_CARD_NONE) put(buf, size, &len, " (no scorecard yet: never fires)");
        break;
    case FD_COND_TARGET:
        put(buf, size, &len, " is %s pace",
            p->op == FD_OP_LE ? "ahead of the maximum's" : "behind the target's");
        if (u->from_targets)
            put(buf, size, &len,
                " (each id's target for the %s in the targets file, teams "
                "without one the sum of their reps' for counts and amounts",
                w->name);
        else if (r->has_value)
            put(buf, size, &len, " (target %g", p->value);
        else
            put(buf, size, &len, " (per-id targets");
        if (r->ntarget_teams || r->ntarget_reps)
            put(buf, size, &len, ", %zu per-team and %zu per-rep targets", r->ntarget_teams,
                r->ntarget_reps);
        put(buf, size, &len, ") by more than %g%%", p->tolerance * 100);
        break;
    case FD_COND_DRIFT: {
        const char *dir = p->direction < 0 ? "dropped" : p->direction > 0 ? "risen" : "moved";
        put(buf, size, &len, " has %s against the %d days before", dir, p->baseline_days);
        if (p->max_change > 0) put(buf, size, &len, " by at least %g%%", p->max_change * 100);
        if (p->max_change > 0 && p->z > 0) put(buf, size, &len, p->require_both ? " and" : " or");
        if (p->z > 0) put(buf, size, &len, " with |z| >= %g", p->z);
        break;
    }
    }
    if (p->min_samples > 0) {
        if (fd_kpi_is_volume(u->kpi.kind) && u->cond != FD_COND_DRIFT)
            put(buf, size, &len, " (min_samples %" PRId64 " ignored: a count needs no samples)",
                p->min_samples);
        else if (u->cond == FD_COND_DRIFT && fd_kpi_is_volume(u->kpi.kind))
            put(buf, size, &len, " with at least %" PRId64 " in the baseline", p->min_samples);
        else
            put(buf, size, &len, " with at least %" PRId64 " samples%s", p->min_samples,
                u->cond == FD_COND_DRIFT ? " on each side" : "");
    }
    if (p->for_ms) {
        put(buf, size, &len, ", held for ");
        put_duration(buf, size, &len, p->for_ms);
    }
    put(buf, size, &len, "; resolves");
    if (p->resolve_for_ms) {
        put(buf, size, &len, " after ");
        put_duration(buf, size, &len, p->resolve_for_ms);
        put(buf, size, &len, " healthy");
    } else {
        put(buf, size, &len, " at once when healthy");
    }
    if (p->hysteresis > 0) {
        if (u->cond == FD_COND_THRESHOLD)
            put(buf, size, &len, " beyond %g",
                p->op == FD_OP_LT || p->op == FD_OP_LE ? p->value + p->hysteresis
                                                       : p->value - p->hysteresis);
        else
            put(buf, size, &len, " (hysteresis %g%%)", p->hysteresis * 100);
    }
    if (p->repeat_ms) {
        put(buf, size, &len, "; repeats every ");
        put_duration(buf, size, &len, p->repeat_ms);
    }
    if (r->nreps || r->nteams) {
        put(buf, size, &len, "; only");
        if (r->nreps) {
            put(buf, size, &len, " reps");
            for (size_t k = 0; k < r->nreps; k++)
                put(buf, size, &len, "%s %s", k ? "," : "", r->reps[k]);
        }
        if (r->nteams) {
            put(buf, size, &len, "%s %s", r->nreps ? " and" : "",
                u->scope == FD_SCOPE_REP ? "reps of teams" : "teams");
            for (size_t k = 0; k < r->nteams; k++)
                put(buf, size, &len, "%s %s", k ? "," : "", r->teams[k]);
        }
    }
    if (r->noverrides) {
        put(buf, size, &len, "; overrides for");
        for (size_t k = 0; k < r->noverrides; k++)
            put(buf, size, &len, "%s %s", k ? "," : "", r->overrides[k].team);
    }
    if (u->kpi.kind == FD_KPI_CONV && w->type == FD_RULE_WIN_ROLLING && w->lag_ms < 7 * DAY_MS)
        put(buf, size, &len,
            "; note: cohort conversion of recent windows is immature (deals entered lately have "
            "not had time to advance; consider \"lag\": \"28d\")");
    put(buf, size, &len, ".");
}
