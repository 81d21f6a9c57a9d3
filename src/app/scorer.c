// SPDX-License-Identifier: MIT
// The scorer (layer 5). One thread owns everything below after start: its own Redis connection,
// the lease, the store, the targets (swapped on reload) and the round's state.
#include "app/scorer.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/map.h"
#include "io/keys.h"
#include "io/lease.h"
#include "io/redis.h"
#include "io/scorestore.h"
#include "model/kpi.h"
#include "model/timewin.h"
#include "scoring/scorecard.h"
#include "scoring/targets.h"

#define IDLE_SLICE_MS 50  /* the thread's longest sleep, so that a stop is seen soon */
#define CHUNK_CARDS   100 /* scorecards per commit */
#define HOUR_MS       3600000LL
#define MAX_PERIODS   (2 * FD_PERIOD_COUNT)
#define MAX_FIELDS    (24 + 16 * FD_SCORE_MAX_KPIS)

typedef enum { ST_LIVE = 0, ST_GRACE, ST_FINALISE, ST_FINAL } pstate_t;

/* A period scored in a round. */
typedef struct {
    fd_period_t p;
    char id[FD_PERIOD_ID_MAX];
    char windows[4][FD_PERIOD_ID_MAX + 8];
    size_t nwin;
    int64_t start_ms, end_ms;
    pstate_t state;
} period_t;

/* A late event of <p>:late read this round. */
typedef struct {
    char *rep, *team;
    int64_t occurred_ms;
    cJSON *json;
} late_t;

/* The fields of one breakdown being built (owned strings). */
typedef struct {
    char *f[MAX_FIELDS], *v[MAX_FIELDS];
    size_t n;
} kv_t;

struct fd_scorer {
    const fd_funnel_t *fn;
    char path[4096];
    fd_targets_t *t;
    fd_timewin_t *tw;
    fd_redis_t *redis;
    fd_lease_t *lease;
    fd_scorestore_t *ss;
    int64_t lease_ms, backoff_max_ms;
    pthread_t thread;
    bool started;
    atomic_bool stop, reload;
    fd_opsmetrics_t *om;
    /* the thread's state */
    bool held, outage, need_all;
    int64_t renewed_ms;
    char position[FD_SCORESTORE_POS_MAX], late_pos[FD_SCORESTORE_POS_MAX];
    char frame[512];     /* hour and periods' states of the last round: a change rescores all */
    fd_map_t *reps;      /* rep -> team (owned string, "" unknown) */
    fd_map_t *teams;     /* team -> non-NULL */
    fd_map_t *changed;   /* "<scope>\x1f<period>\x1f<id>" -> non-NULL */
    fd_map_t *finalised; /* period id -> non-NULL */
    fd_map_t *prev;      /* a stored breakdown: field -> owned value */
    late_t *late;
    size_t nlate, late_cap;
    bool late_known;
    int64_t *sums;
};

static void nap(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- small helpers ---- */

static void map_free_values(fd_map_t *m) {
    size_t pos = 0;
    const char *k;
    size_t len;
    void *v;
    while (fd_map_next(m, &pos, &k, &len, &v))
        if (v != (void *)1) free(v);
    fd_map_clear(m);
}

static void late_clear(fd_scorer_t *sc) {
    for (size_t i = 0; i < sc->nlate; i++) {
        free(sc->late[i].rep);
        free(sc->late[i].team);
        cJSON_Delete(sc->late[i].json);
    }
    sc->nlate = 0;
}

static void kv_clear(kv_t *kv) {
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->f[i]);
        free(kv->v[i]);
    }
    kv->n = 0;
}

static fd_err_t kv_add(kv_t *kv, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fd_err_t kv_add(kv_t *kv, const char *field, const char *fmt, ...) {
    if (kv->n == MAX_FIELDS) return FD_ERR_FULL;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *f = strdup(field), *v = strdup(buf);
    if (f == NULL || v == NULL) {
        free(f);
        free(v);
        return FD_ERR_NOMEM;
    }
    kv->f[kv->n] = f;
    kv->v[kv->n++] = v;
    return FD_OK;
}

/* How a KPI's values print: counts as integers, ratios with 4 decimals, the rest 2. */
static const char *value_fmt(fd_kpi_kind_t kind) {
    switch (kind) {
    case FD_KPI_ENTERED:
    case FD_KPI_WON:
    case FD_KPI_ACTIVITY:
    case FD_KPI_COMPLAINTS:
    case FD_KPI_STALLED:
        return "%.0f";
    case FD_KPI_CONV:
    case FD_KPI_EXIT_CONV:
    case FD_KPI_WIN_RATE:
        return "%.4f";
    default:
        return "%.2f";
    }
}

/* Targets and expectations: ratios with 4 decimals, everything else 2. */
static const char *target_fmt(fd_kpi_kind_t kind) {
    return strcmp(value_fmt(kind), "%.4f") == 0 ? "%.4f" : "%.2f";
}

static void fmt_num(char *buf, size_t size, const char *fmt, double v) {
    snprintf(buf, size, fmt, v);
    if (strcmp(buf, "-0") == 0 || strcmp(buf, "-0.00") == 0 || strcmp(buf, "-0.0000") == 0)
        memmove(buf, buf + 1, strlen(buf)); /* no negative zero */
}

static const char *state_name(pstate_t s) {
    return s == ST_LIVE ? "live" : s == ST_GRACE ? "grace" : "final";
}

/* ---- life cycle ---- */

fd_err_t fd_scorer_new(const fd_config_t *cfg, const fd_funnel_t *fn, const char *instance,
                       fd_scorer_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    fd_targets_t *t = NULL;
    char why[512] = "";
    fd_err_t err = fd_targets_load(fn, cfg->targets_file, &t, why, sizeof why);
    if (err != FD_OK) {
        snprintf(errstr, errstr_size, "targets.file (%s): %s", cfg->targets_file, why);
        return err == FD_ERR_NOMEM ? err : FD_ERR_CONFIG;
    }
    if (fd_targets_scorecard(t) == NULL) {
        fd_targets_destroy(t); /* targets only (for alert rules): nothing to score */
        return FD_OK;
    }
    fd_scorer_t *sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        fd_targets_destroy(t);
        return FD_ERR_NOMEM;
    }
    sc->t = t;
    sc->fn = fn;
    snprintf(sc->path, sizeof sc->path, "%s", cfg->targets_file);
    sc->lease_ms = cfg->alerts_lease_ms;
    sc->backoff_max_ms = cfg->backoff_max_ms;
    atomic_init(&sc->stop, false);
    atomic_init(&sc->reload, false);
    snprintf(sc->position, sizeof sc->position, "0-0");
    snprintf(sc->late_pos, sizeof sc->late_pos, "0-0");
    if ((err = fd_timewin_new(cfg->timezone, &sc->tw, errstr, errstr_size)) != FD_OK) goto fail;
    fd_redis_opts_t ro = {.host = cfg->redis_host,
                          .port = (int)cfg->redis_port,
                          .user = cfg->redis_user,
                          .password = cfg->redis_password,
                          .db = (int)cfg->redis_db,
                          .timeout_ms = (int)cfg->redis_timeout_ms};
    err = FD_ERR_NOMEM;
    sc->sums = calloc(fd_funnel_nfields(fn) + 1, sizeof *sc->sums);
    if (sc->sums == NULL || fd_map_new(&sc->reps) != FD_OK || fd_map_new(&sc->teams) != FD_OK ||
        fd_map_new(&sc->changed) != FD_OK || fd_map_new(&sc->finalised) != FD_OK ||
        fd_map_new(&sc->prev) != FD_OK) {
        snprintf(errstr, errstr_size, "scorer: out of memory");
        goto fail;
    }
    if ((err = fd_redis_new(&ro, &sc->redis)) != FD_OK ||
        (err = fd_lease_new(sc->redis, cfg->prefix, FD_KEY_SCORE_LEASE, instance, sc->lease_ms,
                            &sc->lease)) != FD_OK ||
        (err = fd_scorestore_new(sc->redis, cfg->prefix, fn, &sc->ss)) != FD_OK) {
        snprintf(errstr, errstr_size, "scorer: %s", fd_strerror(err));
        goto fail;
    }
    *out = sc;
    return FD_OK;
fail:
    fd_scorer_destroy(sc);
    return err;
}

void fd_scorer_destroy(fd_scorer_t *sc) {
    if (sc == NULL) return;
    if (sc->started) {
        atomic_store(&sc->stop, true);
        pthread_join(sc->thread, NULL);
    }
    fd_scorestore_destroy(sc->ss);
    fd_lease_destroy(sc->lease);
    fd_redis_destroy(sc->redis);
    fd_timewin_destroy(sc->tw);
    fd_targets_destroy(sc->t);
    if (sc->reps) map_free_values(sc->reps);
    if (sc->prev) map_free_values(sc->prev);
    fd_map_destroy(sc->reps);
    fd_map_destroy(sc->teams);
    fd_map_destroy(sc->changed);
    fd_map_destroy(sc->finalised);
    fd_map_destroy(sc->prev);
    late_clear(sc);
    free(sc->late);
    free(sc->sums);
    free(sc);
}

void fd_scorer_set_metrics(fd_scorer_t *sc, fd_opsmetrics_t *om) {
    sc->om = om;
    if (om) fd_prom_set(fd_opsmetrics_one(om, FD_OM_SCORER_LEADER), 0);
}

void fd_scorer_reload(fd_scorer_t *sc) {
    if (sc) atomic_store(&sc->reload, true);
}

/* ---- the round ---- */

/* Logs the first failure of an outage (the next success ends it). */
static void note_failure(fd_scorer_t *sc, const char *what, fd_err_t err) {
    if (sc->outage) return;
    sc->outage = true;
    fd_log_warn("scorer", "%s: %s: %s; retrying with backoff", what, fd_strerror(err),
                fd_redis_errstr(sc->redis));
}

static void on_rep_team(const char *rep, const char *team, void *arg) {
    fd_scorer_t *sc = arg;
    char *copy = strdup(team);
    if (copy == NULL) return;
    char *old = fd_map_get(sc->reps, rep, strlen(rep));
    if (fd_map_put(sc->reps, rep, strlen(rep), copy) != FD_OK) {
        free(copy);
        return;
    }
    free(old);
    if (team[0] != '\0') fd_map_put(sc->teams, team, strlen(team), (void *)1);
}

static void on_target_rep(const char *id, void *arg) {
    fd_scorer_t *sc = arg;
    if (fd_map_get(sc->reps, id, strlen(id)) != NULL) return;
    char *empty = strdup("");
    if (empty && fd_map_put(sc->reps, id, strlen(id), empty) != FD_OK) free(empty);
}

static void on_target_team(const char *id, void *arg) {
    fd_scorer_t *sc = arg;
    fd_map_put(sc->teams, id, strlen(id), (void *)1);
}

/* Reads who is on which team, plus the ids the targets name. */
static fd_err_t load_ids(fd_scorer_t *sc) {
    map_free_values(sc->reps);
    fd_map_clear(sc->teams);
    fd_err_t err = fd_scorestore_rep_team(sc->ss, on_rep_team, sc);
    if (err != FD_OK) return err;
    fd_targets_ids(sc->t, FD_SCOPE_REP, on_target_rep, sc);
    fd_targets_ids(sc->t, FD_SCOPE_TEAM, on_target_team, sc);
    return FD_OK;
}

static void changed_put(fd_scorer_t *sc, const char *scope, const char *period, const char *id) {
    char k[FD_KEY_MAX];
    int n = snprintf(k, sizeof k, "%s\x1f%s\x1f%s", scope, period, id);
    if (n > 0 && (size_t)n < sizeof k) fd_map_put(sc->changed, k, (size_t)n, (void *)1);
}

static bool is_changed(fd_scorer_t *sc, fd_scope_t scope, const char *period, const char *id) {
    char k[FD_KEY_MAX];
    int n = snprintf(k, sizeof k, "%s\x1f%s\x1f%s", fd_scope_name(scope), period, id);
    return n > 0 && (size_t)n < sizeof k && fd_map_get(sc->changed, k, (size_t)n) != NULL;
}

/* A changed hash of the feed: rep/team month and quarter windows name their period (and a
 * quarter its year). */
static void on_change_key(const char *key, void *arg) {
    fd_scorer_t *sc = arg;
    const char *scope = NULL;
    if (strncmp(key, "rep:", 4) == 0)
        scope = "rep";
    else if (strncmp(key, "team:", 5) == 0)
        scope = "team";
    else
        return;
    const char *w = key + strlen(scope) + 1;
    const char *c1 = strchr(w, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL) return;
    fd_period_t p;
    if (!fd_period_parse(w, (size_t)(c2 - w), &p)) return;
    char id[FD_PERIOD_ID_MAX];
    fd_period_format(&p, id, sizeof id);
    changed_put(sc, scope, id, c2 + 1);
    if (p.kind == FD_PERIOD_QUARTER) {
        fd_period_t y = {.kind = FD_PERIOD_YEAR, .year = p.year, .index = 0};
        fd_period_format(&y, id, sizeof id);
        changed_put(sc, scope, id, c2 + 1);
    }
}

static void on_state(const char *field, const char *value, void *arg) {
    fd_scorer_t *sc = arg;
    if (strncmp(field, "finalised:", 10) == 0)
        fd_map_put(sc->finalised, field + 10, strlen(field + 10), (void *)1);
    else if (strcmp(field, "late") == 0)
        snprintf(sc->late_pos, sizeof sc->late_pos, "%s", value);
}

static void on_late(const char *id, const char *const *fields, const char *const *values, size_t n,
                    void *arg) {
    (void)id;
    fd_scorer_t *sc = arg;
    if (sc->nlate == sc->late_cap) {
        size_t c = sc->late_cap ? sc->late_cap * 2 : 64;
        late_t *p = realloc(sc->late, c * sizeof *p);
        if (p == NULL) return;
        sc->late = p;
        sc->late_cap = c;
    }
    late_t *l = &sc->late[sc->nlate];
    memset(l, 0, sizeof *l);
    l->json = cJSON_CreateObject();
    const char *rep = "", *team = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i], "rep") == 0) rep = values[i];
        if (strcmp(fields[i], "team") == 0) team = values[i];
        if (strcmp(fields[i], "occurred_ms") == 0) l->occurred_ms = strtoll(values[i], NULL, 10);
        if (l->json) cJSON_AddStringToObject(l->json, fields[i], values[i]);
    }
    l->rep = strdup(rep);
    l->team = strdup(team);
    if (l->json == NULL || l->rep == NULL || l->team == NULL) {
        free(l->rep);
        free(l->team);
        cJSON_Delete(l->json);
        return;
    }
    sc->nlate++;
}

static void on_prev(const char *field, const char *value, void *arg) {
    fd_scorer_t *sc = arg;
    char *v = strdup(value);
    if (v && fd_map_put(sc->prev, field, strlen(field), v) != FD_OK) free(v);
}

static const char *prev_get(fd_scorer_t *sc, const char *field) {
    return fd_map_get(sc->prev, field, strlen(field));
}

/* The periods of the round at clock: the current period of each kind scored, and the previous
 * one: in grace while clock < its end + grace, else final (finalised once). */
static size_t plan_periods(fd_scorer_t *sc, int64_t clock, period_t *out) {
    size_t n = 0;
    int64_t grace = fd_targets_grace_ms(sc->t);
    for (int k = 0; k < FD_PERIOD_COUNT; k++) {
        if (!fd_targets_scores_period(sc->t, (fd_period_kind_t)k)) continue;
        fd_period_t cur, prv;
        fd_period_of(sc->tw, (fd_period_kind_t)k, clock, &cur);
        fd_period_prev(&cur, &prv);
        const fd_period_t *ps[2] = {&cur, &prv};
        for (int i = 0; i < 2; i++) {
            period_t *p = &out[n++];
            p->p = *ps[i];
            fd_period_format(&p->p, p->id, sizeof p->id);
            p->nwin = fd_period_windows(&p->p, p->windows);
            fd_period_bounds(sc->tw, &p->p, &p->start_ms, &p->end_ms);
            if (clock < p->end_ms)
                p->state = ST_LIVE;
            else if (clock < p->end_ms + grace)
                p->state = ST_GRACE;
            else
                p->state = fd_map_get(sc->finalised, p->id, strlen(p->id)) ? ST_FINAL : ST_FINALISE;
        }
    }
    return n;
}

/* The summed metric fields a KPI comes from, for <kpi>.fields. */
static void kpi_fields_text(fd_scorer_t *sc, const period_t *p, fd_kpi_t kpi, char *buf,
                            size_t size) {
    size_t idx[2];
    size_t n = fd_kpi_fields(sc->fn, kpi, idx), at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < size; i++) {
        size_t f = idx[i];
        if (fd_funnel_field_hundredths(sc->fn, f))
            at += (size_t)snprintf(buf + at, size - at, "%s%s=%.2f", i ? " " : "",
                                   fd_funnel_field_name(sc->fn, f), (double)sc->sums[f] / 100.0);
        else
            at += (size_t)snprintf(buf + at, size - at, "%s%s=%" PRId64, i ? " " : "",
                                   fd_funnel_field_name(sc->fn, f), sc->sums[f]);
    }
    for (size_t w = 0; w < p->nwin && at < size; w++)
        at += (size_t)snprintf(buf + at, size - at, "%s%s", w ? "," : (n ? " from " : "from "),
                               p->windows[w]);
}

/* The target of a line: explicit (by precedence), or for a team's volume KPI the sum of its
 * reps' targets when the file says sum_of_reps. */
static void find_target(fd_scorer_t *sc, fd_scope_t scope, const char *id, const period_t *p,
                        fd_kpi_t kpi, fd_score_line_t *l) {
    l->has_target = fd_targets_resolve(sc->t, scope, id, &p->p, kpi, sc->reps, &l->target,
                                       l->target_source, sizeof l->target_source);
}

/* Fills the lines' inputs from sc->sums; targets from the file, or for a final scorecard
 * (frozen) from its stored breakdown in sc->prev. */
static void fill_lines(fd_scorer_t *sc, fd_scope_t scope, const char *id, const period_t *p,
                       bool frozen, fd_score_t *s) {
    const fd_scorecard_def_t *def = fd_targets_scorecard(sc->t);
    memset(s, 0, sizeof *s);
    s->nlines = def->nkpis;
    for (size_t i = 0; i < def->nkpis; i++) {
        const fd_score_kpi_t *k = &def->kpis[i];
        fd_score_line_t *l = &s->lines[i];
        l->has_value = fd_kpi_value(sc->fn, k->kpi, sc->sums, &l->value, &l->samples);
        if (!frozen) {
            find_target(sc, scope, id, p, k->kpi, l);
            continue;
        }
        char f[FD_NAME_MAX + 48];
        snprintf(f, sizeof f, "%s.target", k->name);
        const char *v = prev_get(sc, f);
        l->has_target = v != NULL;
        l->target = v ? strtod(v, NULL) : 0;
        snprintf(f, sizeof f, "%s.target_source", k->name);
        v = prev_get(sc, f);
        snprintf(l->target_source, sizeof l->target_source, "%s", v ? v : "");
    }
}

static double elapsed_at(const period_t *p, int64_t clock) {
    int64_t hour = clock - ((clock % HOUR_MS) + HOUR_MS) % HOUR_MS; /* floor to the UTC hour */
    int64_t at = hour < p->end_ms ? hour : p->end_ms;
    double e = (double)(at - p->start_ms) / (double)(p->end_ms - p->start_ms);
    return e < 0 ? 0 : e > 1 ? 1 : e;
}

/* Builds the breakdown of (scope, id) for period p into kv; *scored and score (its text). */
static fd_err_t build_card(fd_scorer_t *sc, fd_scope_t scope, const char *id, const char *team,
                           const period_t *p, int64_t clock, int64_t now, kv_t *kv, bool *scored,
                           char score[32]) {
    const fd_scorecard_def_t *def = fd_targets_scorecard(sc->t);
    const char *win[4] = {p->windows[0], p->windows[1], p->windows[2], p->windows[3]};
    fd_err_t err = fd_scorestore_sums(sc->ss, scope, id, win, p->nwin, sc->sums);
    if (err != FD_OK) return err;
    fd_score_t s;
    fill_lines(sc, scope, id, p, false, &s);
    double elapsed = elapsed_at(p, clock);
    fd_score_compute(def, elapsed, &s);
    kv_clear(kv);
    err = kv_add(kv, "scope", "%s", fd_scope_name(scope));
    if (!err) err = kv_add(kv, "id", "%s", id);
    if (!err && scope == FD_SCOPE_REP) err = kv_add(kv, "team", "%s", team);
    if (!err) err = kv_add(kv, "period", "%s", p->id);
    if (!err) err = kv_add(kv, "start_ms", "%" PRId64, p->start_ms);
    if (!err) err = kv_add(kv, "end_ms", "%" PRId64, p->end_ms);
    if (!err) err = kv_add(kv, "clock_ms", "%" PRId64, clock);
    if (!err) err = kv_add(kv, "elapsed", "%.4f", elapsed);
    if (!err) err = kv_add(kv, "state", "%s", state_name(p->state));
    *scored = s.scored;
    fmt_num(score, 32, "%.2f", s.score);
    if (!err && s.scored) err = kv_add(kv, "score", "%s", score);
    if (!err) err = kv_add(kv, "grade", "%c", s.grade);
    if (!err) err = kv_add(kv, "computed_ms", "%" PRId64, now);
    if (!err && p->state >= ST_FINALISE) err = kv_add(kv, "final_ms", "%" PRId64, now);
    char names[FD_SCORE_MAX_KPIS * (FD_NAME_MAX + 17)] = "";
    size_t at = 0;
    for (size_t i = 0; i < def->nkpis; i++)
        at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? "," : "",
                               def->kpis[i].name);
    if (!err) err = kv_add(kv, "kpis", "%s", names);
    for (size_t i = 0; i < def->nkpis && !err; i++) {
        const fd_score_kpi_t *k = &def->kpis[i];
        const fd_score_line_t *l = &s.lines[i];
        char f[FD_NAME_MAX + 48], num[64], text[1024];
        const char *vf = value_fmt(k->kpi.kind), *tf = target_fmt(k->kpi.kind);
#define FIELD(suffix) (snprintf(f, sizeof f, "%s." suffix, k->name), f)
        if (l->has_value) {
            fmt_num(num, sizeof num, vf, l->value);
            err = kv_add(kv, FIELD("value"), "%s", num);
        }
        if (!err) err = kv_add(kv, FIELD("samples"), "%" PRId64, l->samples);
        if (!err && l->has_target) {
            fmt_num(num, sizeof num, tf, l->target);
            err = kv_add(kv, FIELD("target"), "%s", num);
            if (!err) err = kv_add(kv, FIELD("target_source"), "%s", l->target_source);
            fmt_num(num, sizeof num, tf, l->expected);
            if (!err) err = kv_add(kv, FIELD("expected"), "%s", num);
        }
        if (!err && l->status == FD_LINE_SCORED) {
            err = kv_add(kv, FIELD("attainment"), "%.4f", l->attainment);
            if (!err) err = kv_add(kv, FIELD("points"), "%.2f", l->points);
            if (!err) err = kv_add(kv, FIELD("weighted"), "%.2f", l->weighted);
        }
        if (!err) err = kv_add(kv, FIELD("weight"), "%.2f", k->weight);
        if (!err) err = kv_add(kv, FIELD("weight_used"), "%.2f", l->weight_used);
        if (!err)
            err = kv_add(kv, FIELD("direction"), "%s",
                         k->direction == FD_DIR_LOWER ? "lower" : "higher");
        if (!err) err = kv_add(kv, FIELD("status"), "%s", fd_score_status_name(l->status));
        kpi_fields_text(sc, p, k->kpi, text, sizeof text);
        if (!err) err = kv_add(kv, FIELD("fields"), "%s", text);
#undef FIELD
    }
    return err;
}

/* Commits what the store holds (state pairs, cards, adjustments). */
static fd_err_t flush(fd_scorer_t *sc) {
    bool held;
    fd_err_t err = fd_scorestore_commit(sc->ss, fd_lease_token(sc->lease), &held);
    if (err != FD_OK) return err;
    if (!held) return FD_ERR_FENCED;
    return FD_OK;
}

static fd_err_t begin(fd_scorer_t *sc, const period_t *p, bool rerank) {
    return fd_scorestore_begin(sc->ss, p ? p->id : "", p ? p->start_ms : 0, rerank);
}

/* Writes the scorecards of every id of scope (all) or those changed, for a live, grace or
 * finalising period; *written counts them. */
static fd_err_t score_scope(fd_scorer_t *sc, const period_t *p, fd_scope_t scope, bool all,
                            int64_t clock, int64_t now, kv_t *kv, int64_t *written) {
    fd_map_t *ids = scope == FD_SCOPE_REP ? sc->reps : sc->teams;
    size_t pos = 0, len;
    const char *key;
    void *val;
    fd_err_t err = FD_OK;
    while (err == FD_OK && fd_map_next(ids, &pos, &key, &len, &val)) {
        char id[FD_KEY_MAX];
        snprintf(id, sizeof id, "%.*s", (int)len, key);
        if (!all && !is_changed(sc, scope, p->id, id)) continue;
        const char *team = scope == FD_SCOPE_REP ? val : "";
        bool scored;
        char score[32];
        if ((err = build_card(sc, scope, id, team, p, clock, now, kv, &scored, score)) != FD_OK)
            break;
        err = fd_scorestore_card(sc->ss, scope, id, team, scored ? score : NULL,
                                 (const char *const *)kv->f, (const char *const *)kv->v, kv->n);
        if (err == FD_OK) (*written)++;
        if (err == FD_OK && fd_scorestore_pending(sc->ss) >= CHUNK_CARDS) {
            if ((err = flush(sc)) == FD_OK) err = begin(sc, p, true);
        }
    }
    return err;
}

/* After final: compares (scope, id)'s values now with its frozen breakdown; a KPI that moved
 * gets an adjustment entry naming the late events of the scope in the period. */
static fd_err_t adjust_one(fd_scorer_t *sc, const period_t *p, fd_scope_t scope, const char *id,
                           int64_t clock, int64_t now, int64_t *adjusted) {
    map_free_values(sc->prev);
    bool exists = false;
    fd_err_t err = fd_scorestore_breakdown(sc->ss, scope, p->id, id, on_prev, sc, &exists);
    if (err != FD_OK || !exists) return err;
    const char *st = prev_get(sc, "state");
    if (st == NULL || strcmp(st, "final") != 0) return FD_OK;
    const char *win[4] = {p->windows[0], p->windows[1], p->windows[2], p->windows[3]};
    if ((err = fd_scorestore_sums(sc->ss, scope, id, win, p->nwin, sc->sums)) != FD_OK) return err;
    const fd_scorecard_def_t *def = fd_targets_scorecard(sc->t);
    fd_score_t s;
    fill_lines(sc, scope, id, p, true, &s);
    fd_score_compute(def, 1.0, &s);
    const char *cnt = prev_get(sc, "adjustments");
    int64_t count = cnt ? strtoll(cnt, NULL, 10) : 0;
    char score[32] = "";
    if (s.scored) fmt_num(score, sizeof score, "%.2f", s.score);
    kv_t kv = {0};
    cJSON *entries[FD_SCORE_MAX_KPIS];
    size_t nentries = 0;
    for (size_t i = 0; i < def->nkpis && err == FD_OK; i++) {
        const fd_score_kpi_t *k = &def->kpis[i];
        const fd_score_line_t *l = &s.lines[i];
        char f[FD_NAME_MAX + 48], g0[FD_NAME_MAX + 48], to[64] = "";
        if (l->has_value) fmt_num(to, sizeof to, value_fmt(k->kpi.kind), l->value);
        snprintf(f, sizeof f, "%s.adjusted_value", k->name);
        snprintf(g0, sizeof g0, "%s.value", k->name);
        const char *from = prev_get(sc, f);
        if (from == NULL) from = prev_get(sc, g0);
        if (from == NULL) from = "";
        if (strcmp(from, to) == 0) continue;
        cJSON *e = cJSON_CreateObject();
        if (e == NULL) {
            err = FD_ERR_NOMEM;
            break;
        }
        cJSON_AddNumberToObject(e, "at_ms", (double)now);
        cJSON_AddNumberToObject(e, "clock_ms", (double)clock);
        cJSON_AddStringToObject(e, "kpi", k->name);
        if (from[0])
            cJSON_AddNumberToObject(e, "from", strtod(from, NULL));
        else
            cJSON_AddNullToObject(e, "from");
        if (to[0])
            cJSON_AddNumberToObject(e, "to", strtod(to, NULL));
        else
            cJSON_AddNullToObject(e, "to");
        double delta = (to[0] ? strtod(to, NULL) : 0) - (from[0] ? strtod(from, NULL) : 0);
        cJSON_AddNumberToObject(e, "delta", round(delta * 10000.0) / 10000.0);
        if (s.scored)
            cJSON_AddNumberToObject(e, "adjusted_score", strtod(score, NULL));
        else
            cJSON_AddNullToObject(e, "adjusted_score");
        char g[2] = {s.grade, '\0'};
        cJSON_AddStringToObject(e, "adjusted_grade", g);
        cJSON *ev = cJSON_AddArrayToObject(e, "events");
        size_t found = 0;
        for (size_t j = 0; j < sc->nlate && ev; j++) {
            const late_t *lt = &sc->late[j];
            const char *who = scope == FD_SCOPE_REP ? lt->rep : lt->team;
            if (strcmp(who, id) != 0 || lt->occurred_ms < p->start_ms ||
                lt->occurred_ms >= p->end_ms)
                continue;
            cJSON_AddItemToArray(ev, cJSON_Duplicate(lt->json, true));
            found++;
        }
        if (found == 0) cJSON_AddTrueToObject(e, "events_unknown");
        entries[nentries++] = e;
        err = kv_add(&kv, f, "%s", to);
    }
    if (err == FD_OK && nentries > 0) {
        err = kv_add(&kv, "adjustments", "%" PRId64, count + (int64_t)nentries);
        if (!err) err = kv_add(&kv, "adjusted_score", "%s", score);
        if (!err) err = kv_add(&kv, "adjusted_grade", "%c", s.grade);
        for (size_t i = 0; i < nentries && err == FD_OK; i++) {
            char *json = cJSON_PrintUnformatted(entries[i]);
            if (json == NULL) {
                err = FD_ERR_NOMEM;
                break;
            }
            /* the hash's pairs go with the last entry */
            bool last = i + 1 == nentries;
            err = fd_scorestore_adjust(sc->ss, scope, id, json, (const char *const *)kv.f,
                                       (const char *const *)kv.v, last ? kv.n : 0);
            free(json);
        }
        if (err == FD_OK) *adjusted += (int64_t)nentries;
    }
    for (size_t i = 0; i < nentries; i++)
        cJSON_Delete(entries[i]);
    kv_clear(&kv);
    return err;
}

/* Adjustments of a final period: every id (all) or those changed. */
static fd_err_t adjust_period(fd_scorer_t *sc, const period_t *p, bool all, int64_t clock,
                              int64_t now, int64_t *adjusted) {
    fd_err_t err = begin(sc, p, false);
    for (int s = 0; s < 2 && err == FD_OK; s++) {
        fd_scope_t scope = s == 0 ? FD_SCOPE_REP : FD_SCOPE_TEAM;
        fd_map_t *ids = scope == FD_SCOPE_REP ? sc->reps : sc->teams;
        size_t pos = 0, len;
        const char *key;
        void *val;
        while (err == FD_OK && fd_map_next(ids, &pos, &key, &len, &val)) {
            char id[FD_KEY_MAX];
            snprintf(id, sizeof id, "%.*s", (int)len, key);
            if (!all && !is_changed(sc, scope, p->id, id)) continue;
            err = adjust_one(sc, p, scope, id, clock, now, adjusted);
            if (err == FD_OK && fd_scorestore_pending(sc->ss) >= CHUNK_CARDS) {
                if ((err = flush(sc)) == FD_OK) err = begin(sc, p, false);
            }
        }
    }
    if (err == FD_OK && fd_scorestore_pending(sc->ss) > 0) err = flush(sc);
    return err;
}

/* One round. *ran: something was computed (for the round metrics). */
static fd_err_t run_round(fd_scorer_t *sc, bool *ran) {
    *ran = false;
    int64_t now = fd_clock_wall_ms(), clock = now;
    fd_err_t err = FD_OK;
    if (fd_targets_event_clock(sc->t)) {
        if ((err = fd_scorestore_watermark(sc->ss, &clock)) != FD_OK) return err;
        if (clock <= 0) return FD_OK; /* no event applied yet: nothing to score */
    }
    fd_map_clear(sc->finalised);
    if ((err = fd_scorestore_state(sc->ss, on_state, sc)) != FD_OK) return err;
    period_t ps[MAX_PERIODS];
    size_t np = plan_periods(sc, clock, ps);
    int64_t hour = clock - ((clock % HOUR_MS) + HOUR_MS) % HOUR_MS;
    char frame[sizeof sc->frame];
    size_t at = (size_t)snprintf(frame, sizeof frame, "%" PRId64, hour);
    for (size_t i = 0; i < np && at < sizeof frame; i++)
        at += (size_t)snprintf(frame + at, sizeof frame - at, " %s=%d", ps[i].id,
                               ps[i].state == ST_FINALISE ? ST_FINAL : (int)ps[i].state);
    bool all = sc->need_all || strcmp(frame, sc->frame) != 0;
    char to[FD_SCORESTORE_POS_MAX];
    fd_map_clear(sc->changed);
    if (all) {
        err = fd_scorestore_position(sc->ss, to);
    } else {
        bool every = false;
        err = fd_scorestore_changes(sc->ss, sc->position, on_change_key, sc, &every, to);
        all = every;
    }
    if (err != FD_OK) return err;
    late_clear(sc);
    char late_last[FD_SCORESTORE_POS_MAX];
    if ((err = fd_scorestore_late(sc->ss, sc->late_pos, to, on_late, sc, &sc->late_known,
                                  late_last)) != FD_OK)
        return err;
    if (!all && fd_map_size(sc->changed) == 0) {
        snprintf(sc->position, sizeof sc->position, "%s", to);
        snprintf(sc->late_pos, sizeof sc->late_pos, "%s", late_last);
        return FD_OK; /* nothing changed */
    }
    if ((err = load_ids(sc)) != FD_OK) return err;
    *ran = true;
    kv_t kv = {0};
    int64_t written = 0, adjusted = 0;
    for (size_t i = 0; i < np && err == FD_OK; i++) {
        const period_t *p = &ps[i];
        if (p->state == ST_FINAL) {
            err = adjust_period(sc, p, all, clock, now, &adjusted);
            continue;
        }
        bool every = all || p->state == ST_FINALISE;
        if ((err = begin(sc, p, true)) != FD_OK) break;
        err = score_scope(sc, p, FD_SCOPE_REP, every, clock, now, &kv, &written);
        if (err == FD_OK) err = score_scope(sc, p, FD_SCOPE_TEAM, every, clock, now, &kv, &written);
        if (err != FD_OK) break;
        if (p->state == ST_FINALISE) {
            /* the last chunk marks the period final: a crash before it finalises it again */
            char f[FD_PERIOD_ID_MAX + 16], v[24];
            snprintf(f, sizeof f, "finalised:%s", p->id);
            snprintf(v, sizeof v, "%" PRId64, now);
            err = flush(sc);
            if (err == FD_OK) err = begin(sc, p, true);
            if (err == FD_OK) err = fd_scorestore_set_state(sc->ss, f, v);
            if (err == FD_OK) err = flush(sc);
            if (err == FD_OK)
                fd_log_info("scorer", "%s final: %" PRId64 " scorecards frozen", p->id, written);
        } else if (fd_scorestore_pending(sc->ss) > 0) {
            err = flush(sc);
        }
    }
    kv_clear(&kv);
    /* finalised periods older than those planned: their late changes are adjustments too */
    if (err == FD_OK && !all) {
        size_t pos = 0, len;
        const char *k;
        void *v;
        while (err == FD_OK && fd_map_next(sc->finalised, &pos, &k, &len, &v)) {
            period_t p = {0};
            if (!fd_period_parse(k, len, &p.p)) continue;
            bool planned = false;
            for (size_t i = 0; i < np; i++)
                planned = planned || strcmp(ps[i].id, k) == 0;
            if (planned) continue;
            fd_period_format(&p.p, p.id, sizeof p.id);
            p.nwin = fd_period_windows(&p.p, p.windows);
            fd_period_bounds(sc->tw, &p.p, &p.start_ms, &p.end_ms);
            p.state = ST_FINAL;
            err = adjust_period(sc, &p, false, clock, now, &adjusted);
        }
    }
    if (err != FD_OK) return err;
    /* the position, last: a crash before it scores these changes again */
    char cv[24], hv[24];
    snprintf(cv, sizeof cv, "%" PRId64, clock);
    snprintf(hv, sizeof hv, "%" PRId64, hour);
    if ((err = begin(sc, NULL, false)) != FD_OK ||
        (err = fd_scorestore_set_state(sc->ss, "changes", to)) != FD_OK ||
        (err = fd_scorestore_set_state(sc->ss, "late", late_last)) != FD_OK ||
        (err = fd_scorestore_set_state(sc->ss, "clock_ms", cv)) != FD_OK ||
        (err = fd_scorestore_set_state(sc->ss, "hour", hv)) != FD_OK || (err = flush(sc)) != FD_OK)
        return err;
    snprintf(sc->position, sizeof sc->position, "%s", to);
    snprintf(sc->late_pos, sizeof sc->late_pos, "%s", late_last);
    snprintf(sc->frame, sizeof sc->frame, "%s", frame);
    sc->need_all = false;
    if (sc->om) {
        fd_prom_add(fd_opsmetrics_one(sc->om, FD_OM_SCORER_CARDS), (uint64_t)written);
        fd_prom_add(fd_opsmetrics_one(sc->om, FD_OM_SCORER_ADJUSTMENTS), (uint64_t)adjusted);
    }
    return FD_OK;
}

/* SIGHUP: loads the file again; the old targets stay when it is wrong. */
static void reload(fd_scorer_t *sc) {
    fd_targets_t *t = NULL;
    char why[512] = "";
    if (fd_targets_load(sc->fn, sc->path, &t, why, sizeof why) != FD_OK) {
        fd_log_error("scorer", "reload of targets.file (%s) failed, the targets in force stay: %s",
                     sc->path, why);
        return;
    }
    if (fd_targets_scorecard(t) == NULL) {
        fd_log_error("scorer",
                     "reload of targets.file (%s): the file has no scorecard any more; the "
                     "targets in force stay (restart funneld to stop scoring)",
                     sc->path);
        fd_targets_destroy(t);
        return;
    }
    fd_targets_destroy(sc->t);
    sc->t = t;
    sc->need_all = true;
    fd_log_info("scorer", "targets.file (%s) reloaded: %zu targets; scoring everything again",
                sc->path, fd_targets_count(t));
}

static void report_leader(fd_scorer_t *sc) {
    if (sc->om) fd_prom_set(fd_opsmetrics_one(sc->om, FD_OM_SCORER_LEADER), sc->held ? 1 : 0);
}

static bool keep_lease(fd_scorer_t *sc) {
    int64_t now = fd_clock_mono_ms();
    if (sc->held && now - sc->renewed_ms < sc->lease_ms / 3) return true;
    bool was = sc->held;
    fd_err_t err = fd_lease_renew(sc->lease, &sc->held);
    if (err != FD_OK) note_failure(sc, "scorer lease", err);
    if (sc->held) sc->renewed_ms = now;
    if (!was && sc->held) {
        fd_log_info("scorer", "scorer lease taken: scoring everything");
        sc->need_all = true;
    }
    if (was && !sc->held) fd_log_info("scorer", "scorer lease lost");
    if (was != sc->held) report_leader(sc);
    return sc->held;
}

static void *run(void *arg) {
    fd_scorer_t *sc = arg;
    int64_t next_ms = 0, backoff = 0;
    sc->need_all = true;
    while (!atomic_load(&sc->stop)) {
        if (atomic_exchange(&sc->reload, false)) {
            reload(sc);
            next_ms = 0;
        }
        if (!keep_lease(sc)) {
            nap(IDLE_SLICE_MS * 4);
            continue;
        }
        int64_t now = fd_clock_mono_ms();
        if (now < next_ms) {
            nap(next_ms - now < IDLE_SLICE_MS ? next_ms - now : IDLE_SLICE_MS);
            continue;
        }
        bool ran = false;
        fd_err_t err = run_round(sc, &ran);
        int64_t end = fd_clock_mono_ms();
        if (err == FD_OK) {
            if (sc->outage) fd_log_info("scorer", "Redis answers again: scoring resumed");
            sc->outage = false;
            backoff = 0;
            next_ms = now + fd_targets_recompute_ms(sc->t);
            if (ran && sc->om)
                fd_prom_set(fd_opsmetrics_one(sc->om, FD_OM_SCORER_ROUND_SECONDS),
                            (double)(end - now) / 1000.0);
        } else if (!atomic_load(&sc->stop)) {
            if (err == FD_ERR_FENCED) {
                sc->held = false;
                report_leader(sc);
                fd_log_info("scorer", "scorer lease lost during a round");
            } else {
                note_failure(sc, "scoring round", err);
            }
            sc->need_all = true;
            backoff = backoff == 0 ? 100 : backoff * 2;
            if (backoff > sc->backoff_max_ms) backoff = sc->backoff_max_ms;
            next_ms = end + backoff;
        }
    }
    if (sc->held && fd_lease_release(sc->lease) == FD_OK) sc->held = false;
    return NULL;
}

fd_err_t fd_scorer_start(fd_scorer_t *sc) {
    if (pthread_create(&sc->thread, NULL, run, sc) != 0) return FD_ERR_FATAL;
    sc->started = true;
    return FD_OK;
}
