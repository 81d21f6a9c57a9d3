// SPDX-License-Identifier: MIT
// funnel-gen's simulation: deals arriving as a Poisson process and walking the stages (per-stage
// conversion, log-normal dwell, skips, moves back, feedback after won deals) and activities on
// each rep's working-time clock, as timed tasks in a min-heap that yields events in time order
// (tool, outside the layers). Every draw comes from the model's stream g->rng.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

/* Dwell in a stage: log-normal around the stage's median (g->dwell_h) with sigma DWELL_SIGMA,
 * clamped. */
#define DWELL_SIGMA   0.9
#define DWELL_MIN_MS  (5 * 60 * 1000LL)
#define DWELL_MAX_MS  (90 * DAY_MS)
#define SKIP_RATE     0.05 /* a move skips the next stage (back-filled by funneld) */
#define BACK_RATE     0.03 /* a deal moves back one stage, then returns */
#define AMOUNT_MEDIAN 5000.0
#define AMOUNT_SIGMA  0.9
/* deal.won carries the amount; else the deal's last amount applies */
#define WON_AMOUNT_RATE    0.65
#define FEEDBACK_RATE      0.45 /* won deals that get a feedback.received */
#define FEEDBACK_DELAY_H   96.0
#define ACTIVITY_DEAL_RATE 0.35 /* activities that name the rep's latest deal */

/* Scheduler: a binary min-heap of tasks. */

static bool task_before(const task_t *a, const task_t *b) {
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

void out_of_memory(void) {
    fprintf(stderr, PROG ": out of memory\n");
    exit(1);
}

static void heap_push(gen_t *g, int64_t t, uint32_t what, uint32_t idx) {
    if (g->nheap == g->heap_cap) {
        size_t cap = g->heap_cap ? g->heap_cap * 2 : 1024;
        task_t *h = realloc(g->heap, cap * sizeof *h);
        if (!h) out_of_memory();
        g->heap = h;
        g->heap_cap = cap;
    }
    task_t tk = {.t = t, .seq = g->task_seq++, .what = what, .idx = idx};
    size_t i = g->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!task_before(&tk, &g->heap[parent])) break;
        g->heap[i] = g->heap[parent];
        i = parent;
    }
    g->heap[i] = tk;
}

static task_t heap_pop(gen_t *g) {
    task_t top = g->heap[0];
    task_t last = g->heap[--g->nheap];
    size_t i = 0, n = g->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && task_before(&g->heap[c + 1], &g->heap[c])) c++;
        if (!task_before(&g->heap[c], &last)) break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (n) g->heap[i] = last;
    return top;
}

/* A deal slot: a freed one, else a new one (the pool doubles, so growth is amortised). */
static uint32_t deal_alloc(gen_t *g) {
    if (g->nfree) return g->free_deals[--g->nfree];
    if (g->ndeals == g->deals_cap) {
        uint32_t cap = g->deals_cap ? g->deals_cap * 2 : 1024;
        deal_t *d = realloc(g->deals, cap * sizeof *d);
        uint32_t *f = d ? realloc(g->free_deals, cap * sizeof *f) : NULL;
        if (d) g->deals = d;
        if (!f) out_of_memory();
        g->free_deals = f;
        g->deals_cap = cap;
    }
    return g->ndeals++;
}

static void deal_free(gen_t *g, uint32_t idx) {
    g->free_deals[g->nfree++] = idx;
}

/* The model: what happens when a task comes due. */

static int64_t dwell_ms(gen_t *g, int stage, double scale) {
    double ms = rng_lognormal(&g->rng, g->dwell_h[stage] * (double)HOUR_MS, DWELL_SIGMA) * scale;
    if (ms < (double)DWELL_MIN_MS) ms = (double)DWELL_MIN_MS;
    if (ms > (double)DWELL_MAX_MS) ms = (double)DWELL_MAX_MS;
    return (int64_t)ms;
}

static int64_t new_amount(gen_t *g) {
    return llround(rng_lognormal(&g->rng, AMOUNT_MEDIAN, AMOUNT_SIGMA) * 100.0);
}

/* A revised amount: the deal's value drifts while it is negotiated. */
static int64_t revise_amount(gen_t *g, int64_t c) {
    int64_t r = llround((double)c * rng_range(&g->rng, 0.8, 1.25));
    return r > 0 ? r : 1;
}

static void schedule_activity(gen_t *g, uint32_t r) {
    rep_t *rep = &g->reps[r];
    rep->work_ms += rng_exp(&g->rng, (double)WORK_MS / g->kind_total);
    heap_push(g, work_to_calendar(g, rep->work_ms), TASK_ACTIVITY, r);
}

/* Conversion probability out of stage s for a deal of rep r deciding at t. */
static double conversion(gen_t *g, uint32_t r, int s, int64_t t) {
    double p = g->conv[s] * g->reps[r].skill;
    for (int i = 0; i < g->ncollapse; i++) {
        const collapse_t *c = &g->collapse[i];
        if (c->stage == s && t >= c->at_ms && t < c->until_ms && strcmp(c->rep, g->reps[r].id) == 0)
            p *= c->factor;
    }
    return p > 0.97 ? 0.97 : p;
}

static uint32_t pick_rep(gen_t *g) {
    double x = rng_unit(&g->rng) * g->reps[g->nreps - 1].weight_cum;
    uint32_t lo = 0, hi = g->nreps - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->reps[mid].weight_cum > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void ev_init(gev_t *ev, fd_event_type_t type, int64_t t, uint32_t rep, uint64_t deal) {
    *ev = (gev_t){.type = type,
                  .at_ms = t,
                  .rep = rep,
                  .deal = deal,
                  .stage = -1,
                  .amount_c = -1,
                  .kind = -1,
                  .score_c = -1,
                  .complaint = -1};
}

/* A deal leaves its current stage: moves back (then returns), moves on (possibly skipping one),
 * is won, or is lost. Returns true when the deal is finished (slot freed by the caller). */
static bool deal_exit(gen_t *g, deal_t *d, int64_t t, gev_t *ev, int64_t *next_t) {
    int s = d->stage;
    ev_init(ev, FD_DEAL_STAGE_CHANGED, t, d->rep, d->num);
    if (s > 0 && rng_chance(&g->rng, BACK_RATE)) {
        /* Back to the previous stage for a while; NEXT_RETURN brings it forward again. */
        d->stage = (int8_t)(s - 1);
        d->next = NEXT_RETURN;
        ev->stage = s - 1;
        *next_t = t + dwell_ms(g, s - 1, 0.3);
        return false;
    }
    if (!rng_chance(&g->rng, conversion(g, d->rep, s, t))) {
        ev->type = FD_DEAL_LOST;
        ev->stage = rng_chance(&g->rng, 0.8) ? s : -1; /* without stage: funneld uses furthest */
        if (rng_chance(&g->rng, 0.1)) ev->amount_c = d->amount_c;
        return true;
    }
    int target = s + 1;
    if (target < g->last && rng_chance(&g->rng, SKIP_RATE)) target++;
    if (rng_chance(&g->rng, 0.3)) d->amount_c = revise_amount(g, d->amount_c);
    if (target == g->last) {
        ev->type = FD_DEAL_WON;
        if (rng_chance(&g->rng, WON_AMOUNT_RATE)) ev->amount_c = d->amount_c;
        if (!rng_chance(&g->rng, FEEDBACK_RATE)) return true;
        d->next = NEXT_FEEDBACK;
        *next_t = t + (int64_t)rng_lognormal(&g->rng, FEEDBACK_DELAY_H * (double)HOUR_MS, 0.8);
        return false;
    }
    ev->stage = target;
    if (rng_chance(&g->rng, 0.4)) ev->amount_c = d->amount_c;
    d->stage = (int8_t)target;
    d->next = NEXT_EXIT;
    *next_t = t + dwell_ms(g, target, 1.0);
    return false;
}

static void make_feedback(gen_t *g, gev_t *ev, int64_t t, uint32_t rep, uint64_t deal) {
    static const double score_w[5] = {7, 8, 15, 35, 35}; /* scores 1..5 */
    ev_init(ev, FD_FEEDBACK_RECEIVED, t, rep, rng_chance(&g->rng, 0.8) ? deal : 0);
    int score = 1 + (int)rng_pick(&g->rng, score_w, 5);
    if (rng_chance(&g->rng, 0.92)) {
        ev->score_c = score * 100;
        if (score < 5 && rng_chance(&g->rng, 0.2)) ev->score_c += 50; /* 4.5 */
    }
    if (rng_chance(&g->rng, 0.7)) ev->complaint = rng_chance(&g->rng, score <= 2 ? 0.6 : 0.04);
}

/* The time an event is stamped with: synthetic, or the wall clock in --live mode (never going
 * back, so the stream stays sorted). */
static int64_t stamp(gen_t *g, int64_t t) {
    if (!g->o.live) return t;
    int64_t now = wall_ms();
    if (now < g->last_live_ms) now = g->last_live_ms;
    g->last_live_ms = now;
    return now;
}

/* Produces the next valid event in time order into *ev; false when the model is done (the span
 * ended, or nothing is left to happen). */
bool sim_next(gen_t *g, gev_t *ev) {
    while (g->nheap > 0) {
        if (g->heap[0].t >= g->end_ms) return false;
        task_t tk = heap_pop(g);
        int64_t t = stamp(g, tk.t);
        switch (tk.what) {
        case TASK_ARRIVAL: {
            if (g->max_deals >= 0 && g->deals_made >= g->max_deals) continue;
            g->deals_made++;
            heap_push(g, tk.t + 1 + (int64_t)rng_exp(&g->rng, g->arrival_mean_ms), TASK_ARRIVAL, 0);
            uint32_t idx = deal_alloc(g);
            deal_t *d = &g->deals[idx];
            d->num = ++g->next_deal_num;
            d->rep = pick_rep(g);
            d->amount_c = new_amount(g);
            d->stage = 0;
            d->next = NEXT_EXIT;
            g->reps[d->rep].last_deal = d->num;
            ev_init(ev, FD_DEAL_CREATED, t, d->rep, d->num);
            if (rng_chance(&g->rng, 0.7)) ev->stage = 0;
            if (rng_chance(&g->rng, 0.9)) ev->amount_c = d->amount_c;
            heap_push(g, tk.t + dwell_ms(g, 0, 1.0), TASK_DEAL, idx);
            return true;
        }
        case TASK_ACTIVITY: {
            rep_t *rep = &g->reps[tk.idx];
            schedule_activity(g, tk.idx);
            int kind = (int)rng_pick(&g->rng, g->kind_rate, (size_t)g->nkinds);
            bool with_deal = rep->last_deal && rng_chance(&g->rng, ACTIVITY_DEAL_RATE);
            if (tk.t < g->start_ms) continue; /* the first working day may begin before the start */
            ev_init(ev, FD_ACTIVITY_LOGGED, t, tk.idx, with_deal ? rep->last_deal : 0);
            ev->kind = kind;
            return true;
        }
        default: {
            deal_t *d = &g->deals[tk.idx];
            int64_t next_t = 0;
            bool done;
            if (d->next == NEXT_FEEDBACK) {
                make_feedback(g, ev, t, d->rep, d->num);
                done = true;
            } else if (d->next == NEXT_RETURN) {
                d->stage = (int8_t)(d->stage + 1);
                d->next = NEXT_EXIT;
                ev_init(ev, FD_DEAL_STAGE_CHANGED, t, d->rep, d->num);
                ev->stage = d->stage;
                next_t = tk.t + dwell_ms(g, d->stage, 0.5);
                done = false;
            } else {
                done = deal_exit(g, d, t, ev, &next_t);
                /* in --live mode t is the wall clock; the schedule stays on the synthetic clock */
                next_t += tk.t - t;
            }
            if (done)
                deal_free(g, tk.idx);
            else
                heap_push(g, next_t, TASK_DEAL, tk.idx);
            return true;
        }
        }
    }
    return false;
}

void sim_start(gen_t *g) {
    /* First tasks: the first deal arrival and each rep's first activity. */
    heap_push(g, g->start_ms + (int64_t)rng_exp(&g->rng, g->arrival_mean_ms), TASK_ARRIVAL, 0);
    for (uint32_t r = 0; r < g->nreps; r++)
        schedule_activity(g, r);
}
