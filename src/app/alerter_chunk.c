// SPDX-License-Identifier: MIT
// One chunk of the alerter's list: which rules apply to which scope, the pipelined reads of
// their windows and states, evaluation and state machine steps, the atomic commit and delivery
// (layer 5).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerting/alertfsm.h"
#include "alerting/alertmsg.h"
#include "app/alerter_internal.h"
#include "base/log.h"
#include "io/keys.h"

#define MAX_SIGS FD_WINPLAN_MAX_SIGS

/* ---- one chunk: read, evaluate, commit, deliver ---- */

typedef struct {
    bool applies;
    bool orphan; /* the rule no longer applies to the id (a filter, a per-id target): a firing
                  * or pending state of it is ended (resolved), never left hanging */
    fd_rule_params_t p;
} cell_t;

/* One read of a chunk: a window hash of a scope (win >= 0), the states of a rule (win
 * READ_STATES) or the scorecard a score / grade rule reads for a scope (win READ_CARD). */
enum { READ_STATES = -1, READ_CARD = -2 };
typedef struct {
    size_t scope;
    int win;
    size_t rule;
} read_ref_t;

/* The state of one chunk's evaluation. */
typedef struct {
    fd_alerts_t *al;
    const scope_t *sc;
    size_t n;
    cell_t *cells;           /* n × nrules */
    int64_t *sums;           /* n × slots × nfields */
    bool *used;              /* n × MAX_SIGS: the signatures each scope reads */
    fd_alertfsm_t *states;   /* n × nrules */
    double *card;            /* n × nrules: score / grade rules, the scorecard's value */
    bool *card_def;          /* n × nrules: ... when it holds one */
    read_ref_t *ref;         /* what each read is */
    fd_alertstore_read_t *q; /* the reads */
    char **fields;           /* state fields ("rep|anna"), one per scope */
    const char **qfields;    /* the state fields of each rule read, back to back */
    size_t *qscope;          /* the scope of each of them (a state read's ref.scope: where its
                              * fields start) */
    fd_alertstore_change_t *chg;
    size_t nchg, chg_cap;
    char **owned; /* strings the changes point to */
    size_t nowned, owned_cap;
} chunk_t;

static void chunk_free(chunk_t *c) {
    free(c->cells);
    free(c->sums);
    free(c->used);
    free(c->states);
    free(c->card);
    free(c->card_def);
    free(c->ref);
    free(c->q);
    for (size_t s = 0; c->fields && s < c->n; s++)
        free(c->fields[s]);
    free(c->fields);
    free(c->qfields);
    free(c->qscope);
    free(c->chg);
    for (size_t i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    free(c->owned);
}

/* Keeps s (a malloc'd string) until the chunk is freed; NULL when memory is short. */
static const char *chunk_own(chunk_t *c, char *s) {
    if (s == NULL) return NULL;
    if (c->nowned == c->owned_cap) {
        size_t cap = c->owned_cap ? c->owned_cap * 2 : 64;
        char **o = realloc(c->owned, cap * sizeof *o);
        if (o == NULL) {
            free(s);
            return NULL;
        }
        c->owned = o;
        c->owned_cap = cap;
    }
    c->owned[c->nowned++] = s;
    return s;
}

static fd_alertstore_change_t *chunk_change(chunk_t *c) {
    if (c->nchg == c->chg_cap) {
        size_t cap = c->chg_cap ? c->chg_cap * 2 : 64;
        fd_alertstore_change_t *v = realloc(c->chg, cap * sizeof *v);
        if (v == NULL) return NULL;
        c->chg = v;
        c->chg_cap = cap;
    }
    fd_alertstore_change_t *ch = &c->chg[c->nchg++];
    memset(ch, 0, sizeof *ch);
    return ch;
}

static void on_metric(void *opaque, size_t k, const int64_t *vals) {
    chunk_t *c = opaque;
    const read_ref_t *r = &c->ref[k];
    size_t sps = fd_winplan_slots(c->al->plan);
    fd_winplan_add(c->al->plan, (size_t)r->win, &c->used[r->scope * MAX_SIGS], vals,
                   &c->sums[r->scope * sps * c->al->nfields]);
}

static void on_state(void *opaque, size_t k, size_t j, const char *text, size_t len) {
    chunk_t *c = opaque;
    size_t i = c->ref[k].rule, s = c->qscope[c->ref[k].scope + j];
    if (fd_alertfsm_decode(text, len, &c->states[s * c->al->nrules + i]) != FD_OK)
        fd_log_warn("alerts", "state of %s %s unreadable; starting from ok", c->q[k].rule,
                    c->q[k].fields[j]);
}

/* A scorecard's score, or its grade as 4 (A) .. 1 (D); undefined when absent or "-". */
static void on_card(void *opaque, size_t k, const char *score, const char *grade) {
    chunk_t *c = opaque;
    const read_ref_t *r = &c->ref[k];
    size_t at = r->scope * c->al->nrules + r->rule;
    const fd_rule_t *rule = fd_rules_at(c->al->rs, r->rule);
    if (rule->card == FD_RULE_CARD_GRADE) {
        if (grade != NULL && grade[0] >= 'A' && grade[0] <= 'D' && grade[1] == '\0') {
            c->card[at] = 4 - (grade[0] - 'A');
            c->card_def[at] = true;
        }
        return;
    }
    if (score == NULL) return;
    char *end;
    double v = strtod(score, &end);
    if (end != score && *end == '\0' && isfinite(v)) {
        c->card[at] = v;
        c->card_def[at] = true;
    } else {
        fd_log_warn("alerts", "scorecard of %s %s: score %.40s is not a number; undefined",
                    fd_scope_name(c->sc[r->scope].kind), c->sc[r->scope].id, score);
    }
}

static void on_refused(void *opaque, size_t k, const char *error) {
    chunk_t *c = opaque;
    const read_ref_t *r = &c->ref[k];
    size_t nr = c->al->nrules;
    if (r->win == READ_CARD) { /* a key of another type: no scorecard, undefined */
        fd_log_warn("alerts", "the scorecard of %s %s is unreadable (%s); undefined",
                    fd_scope_name(c->sc[r->scope].kind), c->sc[r->scope].id, error);
        return;
    }
    /* a key of another type (WRONGTYPE): a data problem, not a lost connection. A metric hash
     * counts as empty; a rule whose states cannot be read is skipped (its commit would be
     * refused anyway). */
    if (r->win >= 0) {
        fd_log_warn("alerts", "a window of %s %s is unreadable (%s); counted as empty",
                    fd_scope_name(c->sc[r->scope].kind), c->sc[r->scope].id, error);
        return;
    }
    char key[FD_KEY_MAX];
    fd_keys_alert_state(key, sizeof key, c->al->cfg->prefix, c->q[k].rule);
    fd_log_error("alerts", "%s: %s; rule %s skipped", key, error, c->q[k].rule);
    for (size_t s = 0; s < c->n; s++)
        c->cells[s * nr + r->rule].applies = c->cells[s * nr + r->rule].orphan = false;
}

static void iso_ms(int64_t ms, char *buf, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", d, (int)(ms % 1000));
}

/* Builds the notification of rule i for scope s into ch. */
static fd_err_t notify(chunk_t *c, size_t i, const scope_t *s, const fd_alertfsm_t *st,
                       fd_alert_emit_t emit, const fd_rule_result_t *res, int64_t clock,
                       fd_alertstore_change_t *ch) {
    fd_alerts_t *al = c->al;
    const fd_rule_t *r = fd_rules_at(al->rs, i);
    char kpi[FD_NAME_MAX + 32];
    fd_rules_kpi_name(al->rs, i, kpi, sizeof kpi);
    bool staged = r->kpi.kind == FD_KPI_ENTERED || r->kpi.kind == FD_KPI_EXIT_CONV ||
                  r->kpi.kind == FD_KPI_CONV || r->kpi.kind == FD_KPI_DWELL_HOURS ||
                  r->kpi.kind == FD_KPI_STALLED;
    const char *state = emit == FD_ALERT_EMIT_RESOLVED ? "resolved" : "firing";
    fd_alert_t msg = {
        .rule = r->name,
        .severity = r->severity,
        .state = state,
        .scope = fd_scope_name(r->scope),
        .scope_id = s->id,
        .team = s->team,
        .manager = s->team[0] ? fd_rules_manager(al->rs, s->team) : NULL,
        .kpi = kpi,
        .stage = staged ? fd_funnel_stage_name(al->fn, r->kpi.arg) : NULL,
        .window = r->kpi.kind == FD_KPI_STALLED ? "now" : r->window.name,
        .condition = fd_cond_name(r->cond),
        .r = *res,
        .started_ms = st->since_ms,
        .resolved_ms = emit == FD_ALERT_EMIT_RESOLVED ? st->resolved_ms : 0,
        .at_ms = clock,
        .repeat = emit == FD_ALERT_EMIT_REPEAT ? st->repeats : 0,
    };
    char id[FD_ALERT_ID_LEN + 1], summary[1024], field[FD_RULE_NAME_MAX + FD_ID_MAX + 16];
    fd_alertmsg_id(&msg, id);
    fd_alertmsg_summary_locale(fd_rules_template(al->rs, i, fd_rules_locale(al->rs)),
                               fd_rules_locale(al->rs), &msg, summary, sizeof summary);
    char *json = NULL;
    fd_err_t err = fd_alertmsg_json(&msg, summary, &json);
    if (err) return err;
    snprintf(field, sizeof field, "%s|%s|%s", r->name, fd_scope_name(r->scope), s->id);
    ch->kind = state;
    if ((ch->json = chunk_own(c, json)) == NULL ||
        (ch->alert_id = chunk_own(c, strdup(id))) == NULL ||
        (ch->firing_field = chunk_own(c, strdup(field))) == NULL)
        return FD_ERR_NOMEM;
    al->stats.notifications++;
    char clk[40];
    iso_ms(clock, clk, sizeof clk);
    fd_log_info("alerts", "%s %s %s %s: %s (clock %s)", state, r->name, fd_scope_name(r->scope),
                s->id[0] ? s->id : "org", summary, clk);
    return FD_OK;
}

/* Evaluates rule i for one scope from its summed windows (sums: that scope's slots) or, for a
 * score / grade rule, the scorecard read (card, card_def). */
static void eval_cell(fd_alerts_t *al, size_t i, const scope_t *sc, const cell_t *c,
                      const int64_t *sums, double card, bool card_def, int64_t clock,
                      fd_rule_result_t *res) {
    const int64_t *days[400];
    const fd_rule_t *r = fd_rules_at(al->rs, i);
    fd_rule_input_t in;
    bool complete = fd_winplan_input(al->plan, i, sums, days, &in);
    in.card = card;
    in.card_defined = card_def;
    if (r->kpi.kind == FD_KPI_STALLED)
        in.stalled = fd_stalls_count(al->stalled, sc->kind, sc->id, r->kpi.arg, clock,
                                     c->p.stalled_after_ms);
    fd_rules_eval(al->rs, i, &c->p, &in, res);
    if (!complete) {
        /* the window reaches back before the first event: no evidence either way */
        res->defined = res->fire = false;
        res->clear = true;
    }
}

/* The target of a rule "from": "targets" for scope sc at the clock planned: the targets file's
 * for the rule's calendar period (fd_targets_find), or for a team without one and a count or
 * amount KPI, the sum of its reps' (members from rep_team, as the scorer sums them) when the file
 * says so. False when none applies: the rule is not about that id. */
static bool target_of(fd_alerts_t *al, size_t i, const scope_t *sc, double *value) {
    const fd_rule_t *r = fd_rules_at(al->rs, i);
    const char *pid = fd_winplan_period(al->plan, i);
    fd_period_t per;
    char src[FD_SCORE_SOURCE_MAX];
    if (al->targets == NULL || pid == NULL || !fd_period_parse(pid, strlen(pid), &per))
        return false;
    return fd_targets_resolve(al->targets, sc->kind, sc->id, &per, r->kpi, al->reps, value, src,
                              sizeof src);
}

/* 1. which rules apply to which scope; each distinct hash a scope needs is read once, the
 * scorecard of each score / grade rule that applies, and the states of every rule that applies
 * (or applied) to some scope */
static fd_err_t plan_reads(chunk_t *c, size_t *nreads) {
    fd_alerts_t *al = c->al;
    size_t n = c->n, nr = al->nrules, nwins = fd_winplan_nwins(al->plan), k = 0, nq = 0;
    bool read_metrics = fd_winplan_nfields(al->plan) > 0;
    for (size_t s = 0; s < n; s++) {
        bool *u = &c->used[s * MAX_SIGS];
        for (size_t i = 0; i < nr; i++) {
            const fd_rule_t *r = fd_rules_at(al->rs, i);
            cell_t *cl = &c->cells[s * nr + i];
            if (r->scope != c->sc[s].kind) continue;
            cl->applies = fd_rules_params(al->rs, i, c->sc[s].id, c->sc[s].team, &cl->p);
            if (cl->applies && r->from_targets)
                cl->applies = target_of(al, i, &c->sc[s], &cl->p.value);
            if (!cl->applies) {
                cl->orphan = true;
                fd_rules_base_params(al->rs, i, &cl->p);
                continue;
            }
            fd_winplan_mark(al->plan, i, u);
            const char *period = r->card ? fd_winplan_period(al->plan, i) : NULL;
            if (period == NULL) continue;
            c->ref[k] = (read_ref_t){.scope = s, .win = READ_CARD, .rule = i};
            c->q[k++] =
                (fd_alertstore_read_t){.scope = c->sc[s].kind, .id = c->sc[s].id, .period = period};
        }
        for (size_t w = 0; w < nwins && read_metrics; w++) {
            if (!fd_winplan_win_needed(al->plan, w, u)) continue;
            c->ref[k] = (read_ref_t){.scope = s, .win = (int)w};
            c->q[k++] = (fd_alertstore_read_t){.scope = c->sc[s].kind,
                                               .id = c->sc[s].id,
                                               .window = fd_winplan_win_id(al->plan, w)};
        }
    }
    for (size_t i = 0; i < nr; i++) {
        size_t from = nq;
        for (size_t s = 0; s < n; s++) {
            if (!c->cells[s * nr + i].applies && !c->cells[s * nr + i].orphan) continue;
            c->qfields[nq] = c->fields[s];
            c->qscope[nq++] = s;
        }
        if (nq == from) continue;
        c->ref[k] = (read_ref_t){.scope = from, .win = READ_STATES, .rule = i};
        c->q[k++] = (fd_alertstore_read_t){.rule = fd_rules_at(al->rs, i)->name,
                                           .fields = &c->qfields[from],
                                           .nfields = nq - from};
    }
    *nreads = k;
    return FD_OK;
}

/* 3. evaluates and steps every cell; the changes go to c->chg */
static fd_err_t step_cells(chunk_t *c, int64_t clock) {
    fd_alerts_t *al = c->al;
    size_t nr = al->nrules, nf = al->nfields, sps = fd_winplan_slots(al->plan);
    fd_err_t err = FD_OK;
    for (size_t s = 0; s < c->n && !err; s++) {
        for (size_t i = 0; i < nr && !err; i++) {
            cell_t *cl = &c->cells[s * nr + i];
            fd_alertfsm_t *st = &c->states[s * nr + i];
            const fd_rule_t *r = fd_rules_at(al->rs, i);
            fd_rule_result_t res;
            int64_t for_ms = cl->p.for_ms, resolve_for_ms = cl->p.resolve_for_ms;
            if (!cl->applies) {
                if (!cl->orphan ||
                    (st->state != FD_ALERT_FIRING && st->state != FD_ALERT_PENDING)) {
                    if (al->work_is_sweep) al->sweep_states[st->state]++;
                    continue;
                }
                /* resolved at once, the value unknown: the rule is not about this id any more */
                memset(&res, 0, sizeof res);
                res.clear = true;
                if (r->cond != FD_COND_DRIFT) res.bound = cl->p.value;
                if (r->cond == FD_COND_TARGET) res.target = cl->p.value;
                resolve_for_ms = 0;
            } else {
                eval_cell(al, i, &c->sc[s], cl, &c->sums[s * sps * nf], c->card[s * nr + i],
                          c->card_def[s * nr + i], clock, &res);
            }
            al->stats.evaluations++;
            char before[FD_ALERTFSM_TEXT_MAX], after[FD_ALERTFSM_TEXT_MAX];
            fd_alertfsm_encode(st, before, sizeof before);
            fd_alert_emit_t emit = fd_alertfsm_step(st, res.fire, res.clear, clock, for_ms,
                                                    resolve_for_ms, cl->p.repeat_ms);
            if (al->work_is_sweep) al->sweep_states[st->state]++;
            fd_alertfsm_encode(st, after, sizeof after);
            if (emit == FD_ALERT_EMIT_NONE && strcmp(before, after) == 0) continue;
            fd_alertstore_change_t *ch = chunk_change(c);
            if (ch == NULL || (ch->state = chunk_own(c, strdup(after))) == NULL) {
                err = FD_ERR_NOMEM;
                break;
            }
            ch->rule = r->name;
            ch->field = c->fields[s];
            if (emit != FD_ALERT_EMIT_NONE)
                err = notify(c, i, &c->sc[s], st, emit, &res, clock, ch);
        }
    }
    return err;
}

fd_err_t fd_alerter_chunk(fd_alerts_t *al, const scope_t *sc, size_t n, int64_t clock) {
    size_t nr = al->nrules, nf = al->nfields, sps = fd_winplan_slots(al->plan);
    size_t maxreads = n * (fd_winplan_nwins(al->plan) + nr + 1) + nr + 1, nreads = 0;
    chunk_t c = {.al = al, .sc = sc, .n = n};
    c.cells = calloc(n * nr + 1, sizeof *c.cells);
    c.sums = calloc(n * sps * nf + 1, sizeof *c.sums);
    c.used = calloc(n * MAX_SIGS + 1, sizeof *c.used);
    c.states = calloc(n * nr + 1, sizeof *c.states);
    c.card = calloc(n * nr + 1, sizeof *c.card);
    c.card_def = calloc(n * nr + 1, sizeof *c.card_def);
    c.ref = calloc(maxreads, sizeof *c.ref);
    c.q = calloc(maxreads, sizeof *c.q);
    c.fields = calloc(n + 1, sizeof *c.fields);
    c.qfields = calloc(n * nr + 1, sizeof *c.qfields);
    c.qscope = calloc(n * nr + 1, sizeof *c.qscope);
    fd_err_t err = FD_ERR_NOMEM;
    if (c.cells == NULL || c.sums == NULL || c.used == NULL || c.states == NULL || c.card == NULL ||
        c.card_def == NULL || c.ref == NULL || c.q == NULL || c.fields == NULL ||
        c.qfields == NULL || c.qscope == NULL)
        goto out;
    for (size_t s = 0; s < n; s++) {
        char field[FD_ID_MAX + 16];
        snprintf(field, sizeof field, "%s|%s", fd_scope_name(sc[s].kind), sc[s].id);
        if ((c.fields[s] = strdup(field)) == NULL) goto out;
    }
    if ((err = plan_reads(&c, &nreads))) goto out;
    al->stats.reads += (int64_t)nreads;

    /* 2. the reads, pipelined */
    fd_alertstore_reader_t rd = {.fields = al->read_fields,
                                 .hundredths = al->read_hundredths,
                                 .nfields = fd_winplan_nfields(al->plan),
                                 .opaque = &c,
                                 .metric = on_metric,
                                 .state = on_state,
                                 .refused = on_refused,
                                 .card = on_card};
    if ((err = fd_alertstore_read(al->store, c.q, nreads, &rd))) goto out;

    /* 3. evaluate and step */
    if ((err = step_cells(&c, clock)) || c.nchg == 0) goto out;

    /* 4. commit, only while the lease is ours */
    bool ours = false;
    err = fd_alertstore_commit(al->store, fd_lease_token(al->lease), al->cfg->alerts_stream_maxlen,
                               c.chg, c.nchg, &ours);
    if (err) goto out;
    if (!ours) {
        fd_log_warn("alerts", "lease lost before the commit; another instance evaluates now");
        al->leader = false;
        err = FD_ERR_FENCED;
        goto out;
    }
    /* 5. deliver */
    for (size_t k = 0; k < c.nchg; k++)
        if (c.chg[k].kind != NULL)
            fd_alerter_deliver(al, c.chg[k].alert_id, c.chg[k].json, strlen(c.chg[k].json));
out:
    chunk_free(&c);
    return err;
}
