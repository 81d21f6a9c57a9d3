// SPDX-License-Identifier: MIT
// The window plan: signatures of the rules and the window hashes each needs at a clock
// (layer 3, pure).
#include "alerting/winplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS    3600000LL
#define DAY_MS     86400000LL
#define MAX_DAYS   400 /* baseline days handed to a rule */
#define MAX_FIELDS 512

/* A window signature: what one group of rules reads. Rolling: the hours ending at the clock
 * minus lag; calendar: one window; baseline: the `days` local days before a rolling window. */
typedef enum { SIG_ROLL = 0, SIG_CAL, SIG_BASE } sig_type_t;
typedef struct {
    sig_type_t type;
    int64_t span_ms, lag_ms;
    fd_win_kind_t cal;
    int days;
    /* per clock: window ids and the slot each sums into */
    char (*ids)[FD_WIN_ID_MAX];
    int *slot;
    size_t nids, ids_cap;
    double elapsed;             /* calendar: fraction of the window elapsed */
    char period[FD_WIN_ID_MAX]; /* calendar: the window's id at the clock ("month:2026-11") */
    bool complete;              /* the window starts at or after the stream's first event */
    size_t off;                 /* first slot of this signature in a scope's slots */
    size_t nslots;              /* 1, or days */
} sig_t;

/* A distinct window hash of one clock and every (signature, slot) it sums into. */
typedef struct {
    char id[FD_WIN_ID_MAX];
    size_t ndest;
    int sig[FD_WINPLAN_MAX_SIGS * 2];
    size_t slot[FD_WINPLAN_MAX_SIGS * 2]; /* absolute slot in a scope's slots */
} win_t;

typedef struct {
    int cur_sig, base_sig;
    bool card; /* a score / grade rule: its signature gives the period, no window is read */
} rule_plan_t;

struct fd_winplan {
    const fd_rules_t *rs;
    const fd_funnel_t *fn;
    fd_timewin_t *tw;
    size_t nrules, nfields;
    rule_plan_t *plan;
    sig_t sigs[FD_WINPLAN_MAX_SIGS];
    size_t nsigs, slots_per_scope;
    win_t *wins; /* this clock's distinct window hashes */
    size_t nwins, wins_cap;
    size_t *fields; /* funnel fields read (union over rules) */
    size_t nread;
    bool any_stalled;
};

/* The signature equal to s, added when new: true with its index, false when full. */
static bool sig_find(fd_winplan_t *p, const sig_t *s, int *idx) {
    for (size_t i = 0; i < p->nsigs; i++) {
        const sig_t *t = &p->sigs[i];
        if (t->type == s->type && t->span_ms == s->span_ms && t->lag_ms == s->lag_ms &&
            t->cal == s->cal && t->days == s->days) {
            *idx = (int)i;
            return true;
        }
    }
    if (p->nsigs == FD_WINPLAN_MAX_SIGS) return false;
    p->sigs[p->nsigs] = *s;
    *idx = (int)p->nsigs++;
    return true;
}

fd_err_t fd_winplan_new(const fd_rules_t *rs, const fd_funnel_t *fn, fd_timewin_t *tw,
                        fd_winplan_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    fd_winplan_t *p = calloc(1, sizeof *p);
    if (p == NULL) return FD_ERR_NOMEM;
    fd_err_t err = FD_ERR_NOMEM;
    p->rs = rs;
    p->fn = fn;
    p->tw = tw;
    p->nrules = fd_rules_count(rs);
    p->nfields = fd_funnel_nfields(fn);
    p->plan = calloc(p->nrules + 1, sizeof *p->plan);
    p->fields = calloc(p->nfields + 1, sizeof *p->fields);
    if (p->plan == NULL || p->fields == NULL) goto fail;

    bool want[MAX_FIELDS] = {false};
    for (size_t i = 0; i < p->nrules; i++) {
        const fd_rule_t *r = fd_rules_at(rs, i);
        p->plan[i].cur_sig = p->plan[i].base_sig = -1;
        p->plan[i].card = r->card != FD_RULE_CARD_NONE;
        size_t idx[2];
        size_t n = p->plan[i].card ? 0 : fd_kpi_fields(fn, r->kpi, idx);
        for (size_t k = 0; k < n; k++)
            if (idx[k] < MAX_FIELDS) want[idx[k]] = true;
        sig_t s = {0};
        if (r->kpi.kind == FD_KPI_STALLED) {
            p->any_stalled = true;
            continue;
        }
        if (r->window.type == FD_RULE_WIN_ROLLING) {
            s.type = SIG_ROLL;
            s.span_ms = r->window.span_ms;
            s.lag_ms = r->window.lag_ms;
        } else {
            s.type = SIG_CAL;
            s.cal = r->window.cal;
        }
        bool ok = sig_find(p, &s, &p->plan[i].cur_sig);
        if (ok && r->cond == FD_COND_DRIFT) {
            /* the rule's own baseline days: no override or filter changes them (asking the
             * parameters of the id "" gave 28 whenever a filter excluded that id) */
            int days = fd_rules_baseline_days(rs, i);
            if (days < 1) days = 28;
            sig_t b = {.type = SIG_BASE, .span_ms = s.span_ms, .lag_ms = s.lag_ms, .days = days};
            ok = sig_find(p, &b, &p->plan[i].base_sig);
        }
        if (!ok) {
            snprintf(errstr, errstr_size, "alerts.rules: more than %d distinct windows",
                     FD_WINPLAN_MAX_SIGS);
            err = FD_ERR_CONFIG;
            goto fail;
        }
    }
    for (size_t f = 0; f < p->nfields && f < MAX_FIELDS; f++)
        if (want[f]) p->fields[p->nread++] = f;
    size_t off = 0;
    for (size_t g = 0; g < p->nsigs; g++) {
        sig_t *s = &p->sigs[g];
        s->off = off;
        s->nslots = s->type == SIG_BASE ? (size_t)s->days : 1;
        off += s->nslots;
    }
    p->slots_per_scope = off;
    *out = p;
    return FD_OK;
fail:
    fd_winplan_destroy(p);
    return err;
}

void fd_winplan_destroy(fd_winplan_t *p) {
    if (p == NULL) return;
    for (size_t g = 0; g < p->nsigs; g++) {
        free(p->sigs[g].ids);
        free(p->sigs[g].slot);
    }
    free(p->wins);
    free(p->plan);
    free(p->fields);
    free(p);
}

size_t fd_winplan_nfields(const fd_winplan_t *p) {
    return p->nread;
}

size_t fd_winplan_field(const fd_winplan_t *p, size_t k) {
    return p->fields[k];
}

bool fd_winplan_any_stalled(const fd_winplan_t *p) {
    return p->any_stalled;
}

size_t fd_winplan_slots(const fd_winplan_t *p) {
    return p->slots_per_scope;
}

static fd_err_t sig_push(sig_t *s, const char *id, int slot) {
    if (s->nids == s->ids_cap) {
        size_t cap = s->ids_cap ? s->ids_cap * 2 : 64;
        char(*ids)[FD_WIN_ID_MAX] = realloc(s->ids, cap * sizeof *ids);
        if (ids == NULL) return FD_ERR_NOMEM;
        s->ids = ids;
        int *sl = realloc(s->slot, cap * sizeof *sl);
        if (sl == NULL) return FD_ERR_NOMEM;
        s->slot = sl;
        s->ids_cap = cap;
    }
    snprintf(s->ids[s->nids], FD_WIN_ID_MAX, "%s", id);
    s->slot[s->nids++] = slot;
    return FD_OK;
}

/* Windows are judged AS OF THE CLOCK at an hour's resolution: every window ends at `cut`, the
 * start of the UTC hour of the clock; the hour in progress is not read. Live, its bucket holds
 * the events up to the clock; in a replay or a catch-up it already holds the events after it
 * (batches span hours or days of event time). Whole hours before the clock are complete in both,
 * so both judge the same numbers (docs/alerts.md, "Windows").
 *
 * The ids covering [from, to), from a local-day boundary (or an hour boundary) to an hour
 * boundary: the coarsest whole windows that fit (months when inside a quarter, ISO weeks, local
 * days; never past `to` nor out of the calendar window `within`), then hourly buckets. A day
 * that does not begin on a UTC hour (a zone whose offset is not whole hours) is read from hourly
 * buckets from the first whole hour on: its first part-hour counts once the day is complete. */
static fd_err_t cover(fd_winplan_t *p, sig_t *s, int64_t from, int64_t to, fd_win_kind_t within) {
    static const fd_win_kind_t coarse[] = {FD_WIN_MONTH, FD_WIN_WEEK, FD_WIN_DAY};
    fd_windows_t w;
    fd_err_t err = FD_OK;
    int64_t t = from;
    while (t < to && err == FD_OK) {
        fd_timewin_of(p->tw, t, &w);
        bool whole = false;
        for (size_t k = 0; k < sizeof coarse / sizeof coarse[0] && !whole; k++) {
            fd_win_kind_t g = coarse[k];
            if (g >= within) continue; /* only windows finer than the one covered */
            /* on a chain of whole hours, never step off it (a day that ends inside an hour) */
            bool aligned_end = t % HOUR_MS != 0 || w.end_ms[g] % HOUR_MS == 0 || w.end_ms[g] == to;
            if (w.start_ms[g] == t && w.end_ms[g] <= to && aligned_end) {
                err = sig_push(s, w.id[g], 0);
                t = w.end_ms[g];
                whole = true;
            }
        }
        if (whole) continue;
        if (t % HOUR_MS != 0) { /* a day boundary inside a UTC hour */
            t = (t / HOUR_MS + 1) * HOUR_MS;
            continue;
        }
        err = sig_push(s, w.id[FD_WIN_HOUR], 0);
        t += HOUR_MS;
    }
    return err;
}

/* The window ids of one signature at clock (see cover). A calendar window is the day / week /
 * month / quarter holding the clock, read from its start to the hour of the clock; its elapsed
 * fraction (the pace) is taken at that same hour. A rolling window of span h hours is the h
 * whole UTC hours before the hour of (clock - lag); whole local days inside it are read from
 * the day hashes, the rest from hourly buckets. A baseline is the `days` whole local days before
 * the local day its rolling window starts in. */
static fd_err_t plan_sig(fd_winplan_t *p, sig_t *s, int64_t clock, int64_t first_ms) {
    fd_windows_t w;
    s->nids = 0;
    int64_t cut = clock / HOUR_MS * HOUR_MS; /* clocks are after 1970 */
    if (s->type == SIG_CAL) {
        fd_timewin_of(p->tw, clock, &w);
        int64_t ws = w.start_ms[s->cal], we = w.end_ms[s->cal];
        double len = (double)(we - ws);
        s->elapsed = len > 0 ? (double)(cut - ws) / len : 1.0;
        if (s->elapsed < 0) s->elapsed = 0;
        if (s->elapsed > 1) s->elapsed = 1;
        s->complete = ws >= first_ms;
        snprintf(s->period, sizeof s->period, "%s", w.id[s->cal]);
        return cover(p, s, ws, cut, s->cal);
    }
    int64_t to = cut - s->lag_ms, from = to - s->span_ms;
    s->complete = from >= first_ms;
    if (s->type == SIG_ROLL) return cover(p, s, from, to, FD_WIN_WEEK);
    fd_timewin_of(p->tw, from, &w);
    int64_t t = w.start_ms[FD_WIN_DAY];
    fd_err_t err = FD_OK;
    for (int d = s->days - 1; d >= 0 && err == FD_OK; d--) {
        fd_timewin_of(p->tw, t - 1, &w);
        err = sig_push(s, w.id[FD_WIN_DAY], d);
        t = w.start_ms[FD_WIN_DAY];
    }
    s->complete = t >= first_ms;
    return err;
}

fd_err_t fd_winplan_at(fd_winplan_t *p, int64_t clock, int64_t first_ms) {
    for (size_t g = 0; g < p->nsigs; g++) {
        fd_err_t err = plan_sig(p, &p->sigs[g], clock, first_ms);
        if (err) return err;
    }
    /* the distinct hashes, with where each sums into */
    p->nwins = 0;
    for (size_t g = 0; g < p->nsigs; g++) {
        const sig_t *s = &p->sigs[g];
        for (size_t k = 0; k < s->nids; k++) {
            size_t w = 0;
            while (w < p->nwins && strcmp(p->wins[w].id, s->ids[k]) != 0)
                w++;
            if (w == p->nwins) {
                if (p->nwins == p->wins_cap) {
                    size_t cap = p->wins_cap ? p->wins_cap * 2 : 64;
                    win_t *nw = realloc(p->wins, cap * sizeof *nw);
                    if (nw == NULL) return FD_ERR_NOMEM;
                    p->wins = nw;
                    p->wins_cap = cap;
                }
                snprintf(p->wins[w].id, sizeof p->wins[w].id, "%s", s->ids[k]);
                p->wins[w].ndest = 0;
                p->nwins++;
            }
            win_t *wn = &p->wins[w];
            if (wn->ndest < sizeof wn->sig / sizeof wn->sig[0]) {
                wn->sig[wn->ndest] = (int)g;
                wn->slot[wn->ndest] = s->off + (size_t)s->slot[k];
                wn->ndest++;
            }
        }
    }
    return FD_OK;
}

void fd_winplan_mark(const fd_winplan_t *p, size_t rule, bool *used) {
    if (p->plan[rule].card) return;
    if (p->plan[rule].cur_sig >= 0) used[p->plan[rule].cur_sig] = true;
    if (p->plan[rule].base_sig >= 0) used[p->plan[rule].base_sig] = true;
}

size_t fd_winplan_nwins(const fd_winplan_t *p) {
    return p->nwins;
}

const char *fd_winplan_win_id(const fd_winplan_t *p, size_t w) {
    return p->wins[w].id;
}

bool fd_winplan_win_needed(const fd_winplan_t *p, size_t w, const bool *used) {
    for (size_t d = 0; d < p->wins[w].ndest; d++)
        if (used[p->wins[w].sig[d]]) return true;
    return false;
}

void fd_winplan_add(const fd_winplan_t *p, size_t w, const bool *used, const int64_t *vals,
                    int64_t *sums) {
    const win_t *wn = &p->wins[w];
    for (size_t d = 0; d < wn->ndest; d++) {
        if (!used[wn->sig[d]]) continue;
        int64_t *acc = &sums[wn->slot[d] * p->nfields];
        for (size_t f = 0; f < p->nread; f++)
            acc[p->fields[f]] += vals[f];
    }
}

bool fd_winplan_input(const fd_winplan_t *p, size_t rule, const int64_t *sums, const int64_t **days,
                      fd_rule_input_t *in) {
    size_t nf = p->nfields;
    int cs = p->plan[rule].cur_sig, bs = p->plan[rule].base_sig;
    memset(in, 0, sizeof *in);
    if (cs >= 0) {
        in->cur = &sums[p->sigs[cs].off * nf];
        in->elapsed = p->sigs[cs].elapsed;
        in->cur_days = (double)p->sigs[cs].span_ms / (double)DAY_MS;
    }
    if (bs >= 0) {
        size_t nd = p->sigs[bs].nslots < MAX_DAYS ? p->sigs[bs].nslots : MAX_DAYS;
        for (size_t d = 0; d < nd; d++)
            days[d] = &sums[(p->sigs[bs].off + d) * nf];
        in->days = days;
        in->ndays = nd;
    }
    if (p->plan[rule].card) {
        in->cur = NULL; /* nothing summed: the value is the scorecard's */
        return true;    /* the scorecard judges its own period, from its start */
    }
    return !((cs >= 0 && !p->sigs[cs].complete) || (bs >= 0 && !p->sigs[bs].complete));
}

const char *fd_winplan_period(const fd_winplan_t *p, size_t rule) {
    int cs = rule < p->nrules ? p->plan[rule].cur_sig : -1;
    if (cs < 0 || p->sigs[cs].type != SIG_CAL) return NULL;
    return p->sigs[cs].period;
}
