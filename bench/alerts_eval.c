// SPDX-License-Identifier: MIT
// Benchmark of the alert evaluator: writes a realistic dataset of reps' and teams' metric
// hashes (days, hourly buckets, calendar windows) into a running Redis, writes a rules file of
// 10 rules covering every condition type, and times complete sweeps (fd_alerts_sweep) at a fixed
// evaluation clock, reporting wall time, reads, Redis CPU and the evaluator's own CPU per sweep.
//
// Usage: alerts_eval --redis-port P [--host H] [--reps 10000] [--teams 50] [--days 35]
//                    [--hour-days 8] [--runs 3] [--prefix bench] [--tz Asia/Shanghai]
//                    [--deals 0] [--seed 1] [--load-only | --no-load] [--keep-rules]
// The database must not hold keys under the prefix (FLUSHDB is not done). bench/alerts_run
// starts a private redis-server and runs it. --deals N adds N deal states and an 11th rule
// (stalled:negotiation). --load-only writes the data and exits; --no-load sweeps data an earlier
// --load-only wrote with the same options (for profiling the sweeps alone).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#include "app/alerter.h"
#include "io/keys.h"
#include "model/config.h"
#include "model/funnel.h"
#include "base/log.h"
#include "alerting/rules.h"
#include "model/timewin.h"

#define HOUR_MS   3600000LL
#define DAY_MS    86400000LL
#define WORK_FROM 9  /* local working hours: events happen in 09:00..18:59 */
#define WORK_N    10 /* hours per working day */
#define MAXF      64 /* metric fields (5 stages, 5 kinds: 42) */
#define NCAL      4  /* all, week, month, quarter */
#define MAXCAL    24 /* distinct calendar windows a scope can have in the history */
#define PIPE      1000

static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};

/* The evaluation clock: Friday 2026-11-20 18:00 in Asia/Shanghai (10:00 UTC). */
static const struct tm clock_tm = {.tm_year = 126, .tm_mon = 10, .tm_mday = 20, .tm_hour = 10};

typedef struct {
    char id[FD_WIN_ID_MAX];
    int64_t f[MAXF];
} acc_t;

/* The calendar windows (all, week, month, quarter) of one scope, summed over its history. */
typedef struct {
    acc_t w[MAXCAL];
    size_t n;
} cal_t;

typedef struct {
    const char *host, *prefix, *tz;
    int port, reps, teams, days, hour_days, runs, deals;
    unsigned seed;
    int load, sweep;
} opts_t;

/* One working hour of the history: its time and window ids. */
typedef struct {
    int64_t t;
    bool hourly; /* within --hour-days of the clock: its bucket is written */
    fd_windows_t w;
} slot_t;

typedef struct {
    const fd_funnel_t *fn;
    redisContext *c;
    size_t pending; /* commands appended, replies not read */
    long long cmds;
} writer_t;

static uint64_t rng_state;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* 0..n, uniform. */
static int64_t upto(int n) {
    return (int64_t)(rnd() % (uint32_t)(n + 1));
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* used_cpu_sys + used_cpu_user of the whole redis-server process, from INFO cpu. */
static double redis_cpu_s(redisContext *c) {
    double user = 0, sys = 0;
    redisReply *r = redisCommand(c, "INFO cpu");
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "used_cpu_sys:");
        if (p != NULL) sscanf(p, "used_cpu_sys:%lf", &sys);
        p = strstr(r->str, "used_cpu_user:");
        if (p != NULL) sscanf(p, "used_cpu_user:%lf", &user);
    }
    if (r != NULL) freeReplyObject(r);
    return user + sys;
}

static long long info_ll(redisContext *c, const char *section, const char *name) {
    long long v = -1;
    redisReply *r = redisCommand(c, "INFO %s", section);
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        char pat[64];
        snprintf(pat, sizeof pat, "\r\n%s:", name);
        const char *p = strstr(r->str, pat);
        if (p != NULL) v = strtoll(p + strlen(pat), NULL, 10);
    }
    if (r != NULL) freeReplyObject(r);
    return v;
}

/* ---- pipelined writes ---- */

static void drain(writer_t *wr) {
    while (wr->pending > 0) {
        redisReply *r = NULL;
        if (redisGetReply(wr->c, (void **)&r) != REDIS_OK || r == NULL) {
            fprintf(stderr, "alerts_eval: write failed: %s\n", wr->c->errstr);
            exit(1);
        }
        if (r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "alerts_eval: write failed: %s\n", r->str);
            exit(1);
        }
        freeReplyObject(r);
        wr->pending--;
    }
}

static void append(writer_t *wr, int argc, const char **argv, const size_t *len) {
    if (redisAppendCommandArgv(wr->c, argc, argv, len) != REDIS_OK) {
        fprintf(stderr, "alerts_eval: append failed\n");
        exit(1);
    }
    wr->cmds++;
    if (++wr->pending >= PIPE) drain(wr);
}

/* HSET of the counters of f as funneld stores them (absent when 0), and the derived rates and
 * averages (absent when their denominator is 0). Nothing when every counter is 0. */
static void put_hash(writer_t *wr, const char *key, const int64_t *f) {
    static char vals[2 * MAXF + 2 * 8 * 5][40];
    const char *argv[2 + 2 * (2 * MAXF + 8 * 5)];
    size_t len[2 + 2 * (2 * MAXF + 8 * 5)];
    const fd_funnel_t *fn = wr->fn;
    size_t nf = fd_funnel_nfields(fn), argc = 2, nv = 0;
    argv[0] = "HSET";
    argv[1] = key;
    for (size_t i = 0; i < nf; i++) {
        if (f[i] == 0) continue;
        argv[argc++] = fd_funnel_field_name(fn, i);
        if (fd_funnel_field_hundredths(fn, i))
            snprintf(vals[nv], sizeof vals[nv], "%" PRId64 ".%02" PRId64, f[i] / 100, f[i] % 100);
        else
            snprintf(vals[nv], sizeof vals[nv], "%" PRId64, f[i]);
        argv[argc++] = vals[nv++];
    }
    if (argc == 2) return;
    static char names[8 * 5][48];
    size_t nn = 0;
    size_t ns = fd_funnel_nstages(fn);
    for (size_t s = 0; s + 1 < ns; s++) {
        int64_t en = f[fd_funnel_field_stage(fn, (int)s, FD_F_ENTERED)];
        int64_t ad = f[fd_funnel_field_stage(fn, (int)s, FD_F_ADVANCED)];
        int64_t mo = f[fd_funnel_field_stage(fn, (int)s, FD_F_MOVED_ON)];
        int64_t lo = f[fd_funnel_field_stage(fn, (int)s, FD_F_LOST_AT)];
        int64_t ds = f[fd_funnel_field_stage(fn, (int)s, FD_F_DWELL_SUM_MS)];
        int64_t dc = f[fd_funnel_field_stage(fn, (int)s, FD_F_DWELL_COUNT)];
        if (en > 0) {
            snprintf(names[nn], sizeof names[nn], "conv:%s", stages[s]);
            argv[argc++] = names[nn++];
            snprintf(vals[nv], sizeof vals[nv], "%.4f", (double)ad / (double)en);
            argv[argc++] = vals[nv++];
        }
        if (mo + lo > 0) {
            snprintf(names[nn], sizeof names[nn], "exit_conv:%s", stages[s]);
            argv[argc++] = names[nn++];
            snprintf(vals[nv], sizeof vals[nv], "%.4f", (double)mo / (double)(mo + lo));
            argv[argc++] = vals[nv++];
        }
        if (dc > 0) {
            snprintf(names[nn], sizeof names[nn], "dwell_hours:%s", stages[s]);
            argv[argc++] = names[nn++];
            snprintf(vals[nv], sizeof vals[nv], "%.2f", (double)ds / ((double)dc * 3600000.0));
            argv[argc++] = vals[nv++];
        }
    }
    int64_t won = f[fd_funnel_field_global(fn, FD_G_WON)];
    int64_t lost = f[fd_funnel_field_global(fn, FD_G_LOST)];
    int64_t fc = f[fd_funnel_field_global(fn, FD_G_FEEDBACK_COUNT)];
    int64_t fs = f[fd_funnel_field_global(fn, FD_G_FEEDBACK_SUM)];
    if (won + lost > 0) {
        argv[argc++] = "win_rate";
        snprintf(vals[nv], sizeof vals[nv], "%.4f", (double)won / (double)(won + lost));
        argv[argc++] = vals[nv++];
    }
    if (fc > 0) {
        argv[argc++] = "feedback_avg";
        snprintf(vals[nv], sizeof vals[nv], "%.2f", (double)fs / ((double)fc * 100.0));
        argv[argc++] = vals[nv++];
    }
    for (size_t i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    append(wr, (int)argc, argv, len);
}

/* ---- the synthetic history ---- */

static void add_into(int64_t *dst, const int64_t *src, size_t nf) {
    for (size_t i = 0; i < nf; i++)
        dst[i] += src[i];
}

static void cal_add(cal_t *c, const char *id, const int64_t *f, size_t nf) {
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->w[i].id, id) == 0) {
            add_into(c->w[i].f, f, nf);
            return;
        }
    if (c->n == MAXCAL) abort();
    acc_t *a = &c->w[c->n++];
    snprintf(a->id, sizeof a->id, "%s", id);
    memset(a->f, 0, sizeof a->f);
    add_into(a->f, f, nf);
}

/* One working hour of a rep: a healthy rep's counters, or, for unhealthy ones, a proposal stage
 * that loses most of its deals. */
static void gen_hour(const fd_funnel_t *fn, bool unhealthy, int64_t *f) {
    size_t nf = fd_funnel_nfields(fn), ns = fd_funnel_nstages(fn);
    memset(f, 0, nf * sizeof *f);
    int64_t lost = 0, events = 0;
    for (size_t s = 0; s < ns; s++) {
        int64_t en = s == 0 ? upto(3) : upto(s + 1 < ns ? 2 : 1);
        f[fd_funnel_field_stage(fn, (int)s, FD_F_ENTERED)] = en;
        events += en;
        if (s + 1 == ns) break;
        f[fd_funnel_field_stage(fn, (int)s, FD_F_ADVANCED)] = en ? upto((int)en) : 0;
        int64_t mo = upto(2), lo = rnd() % 4 == 0;
        if (unhealthy && s == 2) {
            mo = rnd() % 5 == 0;
            lo = 1 + upto(1);
        }
        f[fd_funnel_field_stage(fn, (int)s, FD_F_MOVED_ON)] = mo;
        f[fd_funnel_field_stage(fn, (int)s, FD_F_LOST_AT)] = lo;
        f[fd_funnel_field_stage(fn, (int)s, FD_F_DWELL_COUNT)] = mo;
        int64_t dwell = 0;
        for (int64_t k = 0; k < mo; k++)
            dwell += (20 + upto(40)) * HOUR_MS + upto(3599) * 1000;
        f[fd_funnel_field_stage(fn, (int)s, FD_F_DWELL_SUM_MS)] = dwell;
        lost += lo;
        events += lo;
    }
    int64_t won = f[fd_funnel_field_stage(fn, (int)ns - 1, FD_F_ENTERED)];
    f[fd_funnel_field_global(fn, FD_G_WON)] = won;
    f[fd_funnel_field_global(fn, FD_G_LOST)] = lost;
    int64_t amount = 0;
    for (int64_t k = 0; k < won; k++)
        amount += (1000 + upto(4000)) * 100 + upto(99);
    f[fd_funnel_field_global(fn, FD_G_WON_AMOUNT)] = amount;
    int64_t fc = rnd() % 3 == 0;
    f[fd_funnel_field_global(fn, FD_G_FEEDBACK_COUNT)] = fc;
    f[fd_funnel_field_global(fn, FD_G_FEEDBACK_SUM)] = fc ? 300 + upto(200) : 0;
    f[fd_funnel_field_global(fn, FD_G_COMPLAINTS)] = rnd() % 50 == 0;
    static const int kind_max[] = {3, 1, 5, 1, 2};
    for (size_t k = 0; k < fd_funnel_nkinds(fn); k++) {
        int64_t v = upto(kind_max[k]) + (k == 0);
        f[fd_funnel_field_kind(fn, (int)k)] = v;
        events += v;
    }
    f[fd_funnel_field_global(fn, FD_G_EVENTS)] = events + fc;
}

static void rep_id(char *buf, size_t size, int r) {
    snprintf(buf, size, "rep-%05d", r);
}

static void team_id(char *buf, size_t size, int t) {
    snprintf(buf, size, "team-%02d", t);
}

static void put_scope_key(writer_t *wr, const opts_t *o, fd_scope_t scope, const char *win,
                          const char *id, const int64_t *f) {
    char key[FD_KEY_MAX];
    fd_keys_metric(key, sizeof key, o->prefix, scope, win, id);
    put_hash(wr, key, f);
}

/* Writes every rep's and team's hashes; returns the mean of the reps' quarter won_amount (in
 * hundredths), which sizes the quarter target. */
static double load_data(writer_t *wr, const opts_t *o, fd_timewin_t *tw, int64_t clock) {
    const fd_funnel_t *fn = wr->fn;
    size_t nf = fd_funnel_nfields(fn);
    /* the working hours of the history, oldest first */
    size_t nslots = (size_t)o->days * WORK_N, ns = 0;
    slot_t *slots = calloc(nslots, sizeof *slots);
    int *slot_day = calloc(nslots, sizeof *slot_day);
    fd_windows_t w;
    fd_timewin_of(tw, clock, &w);
    int64_t day_start = w.start_ms[FD_WIN_DAY];
    int64_t *starts = calloc((size_t)o->days, sizeof *starts);
    for (int d = o->days - 1; d >= 0; d--) {
        starts[d] = day_start;
        fd_timewin_of(tw, day_start - 1, &w);
        day_start = w.start_ms[FD_WIN_DAY];
    }
    for (int d = 0; d < o->days; d++)
        for (int h = 0; h < WORK_N; h++) {
            int64_t t = starts[d] + (WORK_FROM + h) * HOUR_MS;
            if (t + HOUR_MS > clock) continue;
            slot_t *s = &slots[ns];
            s->t = t;
            s->hourly = clock - t <= (int64_t)o->hour_days * DAY_MS;
            fd_timewin_of(tw, t, &s->w);
            slot_day[ns++] = d;
        }
    size_t hour_rows = 0;
    for (size_t i = 0; i < ns; i++)
        hour_rows += slots[i].hourly;
    /* teams: per day and per written hour, and their calendar windows */
    int64_t *team_day = calloc((size_t)o->teams * (size_t)o->days * MAXF, sizeof *team_day);
    int64_t *team_hour = calloc((size_t)o->teams * (hour_rows + 1) * MAXF, sizeof *team_hour);
    cal_t *team_cal = calloc((size_t)o->teams, sizeof *team_cal);
    cal_t *cal = calloc(1, sizeof *cal);
    if (!slots || !slot_day || !starts || !team_day || !team_hour || !team_cal || !cal) abort();

    double quarter_sum = 0;
    char rid[32], tid[32], key[256];
    int64_t f[MAXF], day[MAXF];
    for (int r = 0; r < o->reps; r++) {
        int t = r % o->teams;
        rep_id(rid, sizeof rid, r);
        team_id(tid, sizeof tid, t);
        bool unhealthy = r % 100 == 7;
        cal->n = 0;
        size_t hrow = 0;
        for (size_t i = 0; i < ns;) {
            int d = slot_day[i];
            memset(day, 0, sizeof day);
            for (; i < ns && slot_day[i] == d; i++) {
                gen_hour(fn, unhealthy, f);
                add_into(day, f, nf);
                if (slots[i].hourly) {
                    put_scope_key(wr, o, FD_SCOPE_REP, slots[i].w.id[FD_WIN_HOUR], rid, f);
                    add_into(&team_hour[((size_t)t * (hour_rows + 1) + hrow) * MAXF], f, nf);
                    hrow++;
                }
            }
            put_scope_key(wr, o, FD_SCOPE_REP, slots[i - 1].w.id[FD_WIN_DAY], rid, day);
            add_into(&team_day[((size_t)t * (size_t)o->days + (size_t)d) * MAXF], day, nf);
            for (int k = 0; k < NCAL; k++) {
                const fd_win_kind_t wk[NCAL] = {FD_WIN_ALL, FD_WIN_WEEK, FD_WIN_MONTH,
                                                FD_WIN_QUARTER};
                cal_add(cal, slots[i - 1].w.id[wk[k]], day, nf);
                cal_add(&team_cal[t], slots[i - 1].w.id[wk[k]], day, nf);
            }
        }
        fd_timewin_of(tw, clock, &w);
        for (size_t k = 0; k < cal->n; k++) {
            put_scope_key(wr, o, FD_SCOPE_REP, cal->w[k].id, rid, cal->w[k].f);
            if (strcmp(cal->w[k].id, w.id[FD_WIN_QUARTER]) == 0)
                quarter_sum +=
                    (double)cal->w[k].f[fd_funnel_field_global(fn, FD_G_WON_AMOUNT)] / 100.0;
        }
        /* <p>:rep_team, as the evaluator learns it from events */
        fd_keys_single(key, sizeof key, o->prefix, FD_KEY_REP_TEAM);
        const char *argv[] = {"HSET", key, rid, tid};
        size_t len[] = {4, strlen(key), strlen(rid), strlen(tid)};
        append(wr, 4, argv, len);
    }
    for (int t = 0; t < o->teams; t++) {
        team_id(tid, sizeof tid, t);
        size_t hrow = 0;
        for (size_t i = 0; i < ns; i++)
            if (slots[i].hourly)
                put_scope_key(wr, o, FD_SCOPE_TEAM, slots[i].w.id[FD_WIN_HOUR], tid,
                              &team_hour[((size_t)t * (hour_rows + 1) + hrow++) * MAXF]);
        for (size_t i = 0; i < ns; i++)
            if (i + 1 == ns || slot_day[i + 1] != slot_day[i])
                put_scope_key(
                    wr, o, FD_SCOPE_TEAM, slots[i].w.id[FD_WIN_DAY], tid,
                    &team_day[((size_t)t * (size_t)o->days + (size_t)slot_day[i]) * MAXF]);
        for (size_t k = 0; k < team_cal[t].n; k++)
            put_scope_key(wr, o, FD_SCOPE_TEAM, team_cal[t].w[k].id, tid, team_cal[t].w[k].f);
    }
    drain(wr);
    free(cal);
    free(team_cal);
    free(team_hour);
    free(team_day);
    free(starts);
    free(slot_day);
    free(slots);
    return o->reps > 0 ? quarter_sum / o->reps : 0;
}

/* Open deals spread over the reps: stage reached at random times in the last 40 days. */
static void load_deals(writer_t *wr, const opts_t *o, int64_t clock) {
    const fd_funnel_t *fn = wr->fn;
    char key[256], buf[2048], rid[32], tid[32];
    for (int i = 0; i < o->deals; i++) {
        int r = (int)(rnd() % (uint32_t)o->reps);
        rep_id(rid, sizeof rid, r);
        team_id(tid, sizeof tid, r % o->teams);
        fd_deal_t deal;
        fd_deal_init(&deal);
        deal.owners = calloc(fd_funnel_nstages(fn), sizeof *deal.owners);
        if (deal.owners == NULL) abort();
        deal.owners[0].rep = strdup(rid);
        deal.owners[0].team = strdup(tid);
        deal.nowners = 1;
        deal.furthest = (int)(rnd() % 4);
        deal.amount_c = (1000 + upto(4000)) * 100;
        int64_t at = clock - 40 * DAY_MS + (int64_t)(rnd() % (uint32_t)(20 * 24)) * HOUR_MS;
        for (int s = 0; s <= deal.furthest; s++) {
            deal.reach[s].at_ms = at;
            deal.reach[s].owner = 0;
            deal.reach[s].flags = FD_REACH_REACHED;
            at += (int64_t)(rnd() % (uint32_t)(5 * 24)) * HOUR_MS;
        }
        size_t n = fd_deal_encode(fn, &deal, buf, sizeof buf);
        fd_deal_clear(&deal);
        if (n >= sizeof buf) abort();
        char deal_id[16];
        snprintf(deal_id, sizeof deal_id, "d%08d", i);
        fd_keys_deal(key, sizeof key, o->prefix, deal_id);
        const char *argv[] = {"SET", key, buf};
        size_t len[] = {3, strlen(key), n};
        append(wr, 3, argv, len);
    }
    drain(wr);
}

/* The rules: every condition type, rep and team scope, rolling and calendar windows. */
static int write_rules(const char *path, double quarter_target, bool stalled) {
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    fprintf(f,
            "{\"locale\": \"en\", \"clock\": \"event\", \"rules\": [\n"
            "{\"name\": \"proposal-exit-24h\", \"kpi\": \"exit_conv:proposal\", \"scope\": "
            "\"rep\", \"window\": \"24h\", \"threshold\": {\"op\": \"<\", \"value\": 0.2}, "
            "\"min_samples\": 5, \"hysteresis\": 0.05},\n"
            "{\"name\": \"proposal-exit-7d\", \"kpi\": \"exit_conv:proposal\", \"scope\": "
            "\"rep\", \"window\": \"7d\", \"threshold\": {\"op\": \"<\", \"value\": 0.2}, "
            "\"min_samples\": 10, \"for\": \"2h\", \"resolve_for\": \"2h\", \"hysteresis\": "
            "0.05, \"repeat_every\": \"1d\"},\n"
            "{\"name\": \"calls-today-low\", \"kpi\": \"activity:call\", \"scope\": \"rep\", "
            "\"window\": \"24h\", \"threshold\": {\"op\": \"<\", \"value\": 5}},\n"
            "{\"name\": \"visits-behind\", \"kpi\": \"activity:visit\", \"scope\": \"rep\", "
            "\"window\": \"week\", \"target\": {\"op\": \">=\", \"value\": 20, \"tolerance\": "
            "0.25}, \"hysteresis\": 0.1},\n"
            "{\"name\": \"won-amount-quarter\", \"kpi\": \"won_amount\", \"scope\": \"rep\", "
            "\"window\": \"quarter\", \"target\": {\"op\": \">=\", \"value\": %.0f, "
            "\"tolerance\": 0.25}},\n"
            "{\"name\": \"win-rate-drift\", \"kpi\": \"win_rate\", \"scope\": \"rep\", "
            "\"window\": \"7d\", \"drift\": {\"baseline_days\": 28, \"max_change\": 0.3, \"z\": "
            "3, \"direction\": \"down\", \"require\": \"both\"}, \"min_samples\": 10},\n"
            "{\"name\": \"leads-drop\", \"kpi\": \"entered:lead\", \"scope\": \"rep\", "
            "\"window\": \"24h\", \"drift\": {\"baseline_days\": 14, \"max_change\": 0.6, "
            "\"direction\": \"down\"}, \"min_samples\": 20},\n"
            "{\"name\": \"negotiation-dwell\", \"kpi\": \"dwell_hours:negotiation\", \"scope\": "
            "\"rep\", \"window\": \"7d\", \"threshold\": {\"op\": \">\", \"value\": 240}, "
            "\"min_samples\": 3},\n"
            "{\"name\": \"feedback-low\", \"kpi\": \"feedback_avg\", \"scope\": \"rep\", "
            "\"window\": \"28d\", \"threshold\": {\"op\": \"<\", \"value\": 3}, "
            "\"min_samples\": 5},\n"
            "{\"name\": \"team-win-rate\", \"kpi\": \"win_rate\", \"scope\": \"team\", "
            "\"window\": \"7d\", \"threshold\": {\"op\": \"<\", \"value\": 0.15}, "
            "\"min_samples\": 20}%s\n",
            quarter_target, stalled ? "," : "");
    if (stalled)
        fprintf(f, "{\"name\": \"negotiation-stalled\", \"kpi\": \"stalled:negotiation\", "
                   "\"scope\": \"rep\", \"stalled_after\": \"21d\", \"threshold\": {\"op\": "
                   "\">=\", \"value\": 3}}\n");
    fprintf(f, "]}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* The keyspace scans every sweep starts with (load_registry: rep:all:*, team:all:*; with a
 * stalled rule scan_deals: deal:*), timed alone: SCAN calls and wall ms. */
static void time_scans(redisContext *c, const char *prefix, bool deals) {
    const char *what[] = {"rep:all:*", "team:all:*", "deal:*"};
    for (int k = 0; k < (deals ? 3 : 2); k++) {
        char pattern[256], cursor[32] = "0";
        snprintf(pattern, sizeof pattern, "%s:%s", prefix, what[k]);
        long calls = 0, keys = 0;
        double t0 = mono_ms();
        do {
            redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
            if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
                if (r) freeReplyObject(r);
                return;
            }
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            keys += (long)r->element[1]->elements;
            calls++;
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
        printf("  scan %-12s %6ld SCAN calls, %7ld keys, %8.1f ms\n", what[k], calls, keys,
               mono_ms() - t0);
    }
}

static int usage(void) {
    fprintf(stderr, "usage: alerts_eval --redis-port P [--host H] [--reps N] [--teams M] "
                    "[--days D] [--hour-days H] [--runs R] [--prefix P] [--tz TZ] [--deals N] "
                    "[--seed S] [--load-only | --no-load]\n");
    return 2;
}

int main(int argc, char **argv) {
    opts_t o = {.host = "127.0.0.1",
                .prefix = "bench",
                .tz = "Asia/Shanghai",
                .reps = 10000,
                .teams = 50,
                .days = 35,
                .hour_days = 8,
                .runs = 3,
                .seed = 1,
                .load = 1,
                .sweep = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--load-only") == 0) {
            o.sweep = 0;
            continue;
        }
        if (strcmp(a, "--no-load") == 0) {
            o.load = 0;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "alerts_eval: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--redis-port") == 0)
            o.port = atoi(v);
        else if (strcmp(a, "--host") == 0)
            o.host = v;
        else if (strcmp(a, "--reps") == 0)
            o.reps = atoi(v);
        else if (strcmp(a, "--teams") == 0)
            o.teams = atoi(v);
        else if (strcmp(a, "--days") == 0)
            o.days = atoi(v);
        else if (strcmp(a, "--hour-days") == 0)
            o.hour_days = atoi(v);
        else if (strcmp(a, "--runs") == 0)
            o.runs = atoi(v);
        else if (strcmp(a, "--prefix") == 0)
            o.prefix = v;
        else if (strcmp(a, "--tz") == 0)
            o.tz = v;
        else if (strcmp(a, "--deals") == 0)
            o.deals = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            o.seed = (unsigned)strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "alerts_eval: unknown option %s\n", a);
            return usage();
        }
    }
    if (o.port <= 0 || o.reps < 1 || o.teams < 1 || o.days < 1 || o.days > 365 || o.hour_days < 0 ||
        o.runs < 1 || o.deals < 0)
        return usage();
    rng_state = 0x9e3779b97f4a7c15ULL ^ o.seed;
    fd_log_level = FD_LOG_WARN; /* one info line per notification otherwise */

    char errstr[512];
    fd_funnel_t *fn = NULL;
    fd_timewin_t *tw = NULL;
    if (fd_funnel_new(stages, 5, kinds, 5, &fn, errstr, sizeof errstr) != FD_OK ||
        fd_timewin_new(o.tz, &tw, errstr, sizeof errstr) != FD_OK) {
        fprintf(stderr, "alerts_eval: %s\n", errstr);
        return 1;
    }
    if (fd_funnel_nfields(fn) > MAXF) abort();
    struct tm ct = clock_tm;
    int64_t clock = (int64_t)timegm(&ct) * 1000;
    redisContext *cli = redisConnect(o.host, o.port);
    if (cli == NULL || cli->err) {
        fprintf(stderr, "alerts_eval: connect %s:%d failed\n", o.host, o.port);
        return 1;
    }
    writer_t wr = {.fn = fn, .c = cli};
    char clk[64];
    time_t cs = (time_t)(clock / 1000);
    strftime(clk, sizeof clk, "%Y-%m-%dT%H:%M:%SZ", gmtime(&cs));
    printf("alerts_eval: %d reps, %d teams, %d days of history (hourly buckets for the last %d), "
           "%d deals, clock %s, tz %s, prefix %s\n",
           o.reps, o.teams, o.days, o.hour_days, o.deals, clk, o.tz, o.prefix);

    /* the quarter target depends on the data: load first, or read it back (--no-load) */
    double quarter_mean = 0;
    char qkey[128];
    snprintf(qkey, sizeof qkey, "%s:bench:quarter_mean", o.prefix);
    if (o.load) {
        double t0 = mono_ms();
        quarter_mean = load_data(&wr, &o, tw, clock);
        if (o.deals > 0) load_deals(&wr, &o, clock);
        char q[64];
        snprintf(q, sizeof q, "%.2f", quarter_mean);
        freeReplyObject(redisCommand(cli, "SET %s %s", qkey, q));
        /* the event clock: the stream began a year before the clock (older hashes expired), so
         * every window the rules read is complete */
        freeReplyObject(redisCommand(cli, "HSET %s:clock event_ms %lld first_ms %lld", o.prefix,
                                     (long long)clock, (long long)(clock - 365 * DAY_MS)));
        printf("load: %lld commands in %.1f s\n", wr.cmds, (mono_ms() - t0) / 1e3);
    } else {
        redisReply *r = redisCommand(cli, "GET %s", qkey);
        if (r == NULL || r->type != REDIS_REPLY_STRING) {
            fprintf(stderr, "alerts_eval: --no-load: no dataset under prefix %s\n", o.prefix);
            return 1;
        }
        quarter_mean = strtod(r->str, NULL);
        freeReplyObject(r);
    }
    redisReply *dbs = redisCommand(cli, "DBSIZE");
    long long nkeys = dbs && dbs->type == REDIS_REPLY_INTEGER ? dbs->integer : -1;
    if (dbs) freeReplyObject(dbs);
    printf("dataset: %lld keys, used_memory %.1f MiB\n", nkeys,
           (double)info_ll(cli, "memory", "used_memory") / 1048576.0);
    if (!o.sweep) goto done;

    /* the quarter target: 90 % of what the mean rep won by the clock, scaled to the quarter */
    fd_windows_t w;
    fd_timewin_of(tw, clock, &w);
    double elapsed = (double)(clock - w.start_ms[FD_WIN_QUARTER]) /
                     (double)(w.end_ms[FD_WIN_QUARTER] - w.start_ms[FD_WIN_QUARTER]);
    double target = 0.9 * quarter_mean / elapsed;
    char rules_path[] = "/tmp/alerts_eval_rules_XXXXXX";
    int fd = mkstemp(rules_path);
    if (fd < 0 || (close(fd), write_rules(rules_path, target, o.deals > 0)) != 0) {
        fprintf(stderr, "alerts_eval: cannot write the rules file\n");
        return 1;
    }
    fd_rules_t *rs = NULL;
    fd_err_t err = fd_rules_load(fn, rules_path, &rs, errstr, sizeof errstr);
    unlink(rules_path);
    if (err != FD_OK) {
        fprintf(stderr, "alerts_eval: rules: %s\n", errstr);
        return 1;
    }
    fd_config_t cfg;
    if (fd_config_init(&cfg) != FD_OK) return 1;
    char port[16];
    snprintf(port, sizeof port, "%d", o.port);
    if (fd_config_set(&cfg, "redis.host", o.host, errstr, sizeof errstr) != FD_OK ||
        fd_config_set(&cfg, "redis.port", port, errstr, sizeof errstr) != FD_OK ||
        fd_config_set(&cfg, "redis.prefix", o.prefix, errstr, sizeof errstr) != FD_OK ||
        fd_config_set(&cfg, "redis.timeout_ms", "600000", errstr, sizeof errstr) != FD_OK) {
        fprintf(stderr, "alerts_eval: config: %s\n", errstr);
        return 1;
    }
    fd_alerts_opts_t ao = {
        .cfg = &cfg, .fn = fn, .tw = tw, .rs = rs, .instance = "alerts_eval", .publish = false};
    fd_alerts_t *al = NULL;
    if (fd_alerts_new(&ao, &al, errstr, sizeof errstr) != FD_OK) {
        fprintf(stderr, "alerts_eval: %s\n", errstr);
        return 1;
    }
    printf("rules: %zu (quarter won_amount target %.0f)\n", fd_rules_count(rs), target);
    printf("%-4s %10s %10s %7s %12s %10s %10s %9s %10s %10s\n", "run", "wall_ms", "evaluator_ms",
           "scopes", "evaluations", "hmgets", "notifs", "redis_cpu", "client_cpu", "hmget/s");
    fd_alerts_stats_t prev = {0};
    for (int run = 1; run <= o.runs; run++) {
        double rc0 = redis_cpu_s(cli), cc0 = self_cpu_s(), t0 = mono_ms();
        err = fd_alerts_sweep(al, clock);
        double wall = mono_ms() - t0, cc = self_cpu_s() - cc0, rc = redis_cpu_s(cli) - rc0;
        if (err != FD_OK) {
            fprintf(stderr, "alerts_eval: sweep: %s: %s\n", fd_err_name(err), fd_alerts_errstr(al));
            return 1;
        }
        fd_alerts_stats_t st;
        fd_alerts_stats(al, &st);
        int64_t reads = st.reads - prev.reads;
        printf("%-4d %10.1f %10.1f %7" PRId64 " %12" PRId64 " %10" PRId64 " %10" PRId64
               " %8.2fs %9.2fs %10.0f\n",
               run, wall, (double)st.last_sweep_us / 1e3, st.scopes,
               st.evaluations - prev.evaluations, reads, st.notifications - prev.notifications, rc,
               cc, (double)reads / (wall / 1e3));
        fflush(stdout);
        prev = st;
    }
    printf("(wall_ms: the whole fd_alerts_sweep: lease, registry load%s, the sweep; "
           "evaluator_ms: the sweep's own timer, from its first chunk)\n",
           o.deals > 0 ? ", deal scan" : "");
    time_scans(cli, o.prefix, o.deals > 0);
    fd_alerts_destroy(al, 0);
    fd_rules_destroy(rs);
    fd_config_clear(&cfg);
done:
    redisFree(cli);
    fd_timewin_destroy(tw);
    fd_funnel_destroy(fn);
    return 0;
}
