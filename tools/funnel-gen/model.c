// SPDX-License-Identifier: MIT
// funnel-gen's model set-up: stages with their conversions and dwell times, activity kinds with
// their rates, reps in teams (built in, or from a CRM export), and the --collapse windows (tool,
// outside the layers).
#include <stdlib.h>
#include <string.h>

#include "gen.h"

static const char *const default_stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
/* Probability of moving on out of lead, qualified, proposal, negotiation (else deal.lost there). */
static const double default_conv[] = {0.7, 0.6, 0.5, 0.6};
/* Median dwell per stage, hours; the spread is log-normal with sigma DWELL_SIGMA. */
static const double default_dwell_h[] = {20, 60, 120, 160};
#define DEFAULT_CONV    0.6 /* for configured stage lists other than the default */
#define DEFAULT_DWELL_H 72.0

static const char *const default_kinds[] = {"call", "visit", "email", "meeting", "follow_up"};
/* Activities per rep per working day, by kind. */
static const double default_kind_rate[] = {3.0, 0.5, 3.5, 1.0, 1.0};
#define DEFAULT_KIND_RATE 2.0

static const char *const rep_names[] = {"张伟",
                                        "Anna Müller",
                                        "moses.frase@corp.example",
                                        "王芳",
                                        "José García",
                                        "Søren Madsen",
                                        "李娜",
                                        "Zoë Clarke",
                                        "Łukasz Nowak",
                                        "Ayşe Yılmaz",
                                        "Nguyễn Thị Mai",
                                        "Ольга Смирнова",
                                        "佐藤 美咲",
                                        "김민준",
                                        "Priya Raman",
                                        "Ahmed Hassan",
                                        "Chiara Bianchi",
                                        "Björn Lindqvist",
                                        "Siobhán Kelly",
                                        "Mateus Araújo",
                                        "anna@corp.example",
                                        "Liam O'Connor",
                                        "Emily Carter",
                                        "Kwame Mensah",
                                        "Fatima Zahra",
                                        "Noah Schmidt",
                                        "刘洋",
                                        "François Lefèvre",
                                        "Mia Jensen",
                                        "Arjun Mehta",
                                        "Sofia Petrova",
                                        "Daniel Kim",
                                        "Hannah Weber",
                                        "Youssef Amrani",
                                        "陈静",
                                        "j.smith@corp.example",
                                        "Grace Liu",
                                        "Olivia Brown",
                                        "Ethan Wright",
                                        "Isabella Rossi"};
#define NREP_NAMES (sizeof rep_names / sizeof rep_names[0])

static const char *const team_names[] = {
    "central", "east",   "west", "north", "south", "apac", "emea",   "latam",  "dach",
    "nordics", "iberia", "anz",  "japan", "india", "mena", "africa", "canada", "benelux"};
#define NTEAM_NAMES (sizeof team_names / sizeof team_names[0])

static char *json_string_dup(const char *s, size_t *len_out) {
    size_t n = strlen(s);
    char *out = malloc(2 * n + 3);
    if (!out) return NULL;
    sb_t b;
    sb_init(&b, out, 2 * n + 3);
    sb_json(&b, s, n);
    out[b.len] = '\0';
    if (len_out) *len_out = b.len;
    return out;
}

fd_err_t add_team(gen_t *g, const char *id, uint32_t *out) {
    for (uint32_t i = 0; i < g->nteams; i++)
        if (strcmp(g->teams[i].id, id) == 0) {
            *out = i;
            return FD_OK;
        }
    team_t *t = realloc(g->teams, (g->nteams + 1) * sizeof *t);
    if (!t) return FD_ERR_NOMEM;
    g->teams = t;
    t = &g->teams[g->nteams];
    t->id = strdup(id);
    t->json = json_string_dup(id, &t->json_len);
    if (!t->id || !t->json) return FD_ERR_NOMEM;
    *out = g->nteams++;
    return FD_OK;
}

fd_err_t add_rep(gen_t *g, const char *id, uint32_t team) {
    size_t len = strlen(id);
    if (g->rep_ids == NULL && fd_map_new(&g->rep_ids) != FD_OK) return FD_ERR_NOMEM;
    if (fd_map_get(g->rep_ids, id, len) != NULL) return FD_OK; /* listed twice: one rep */
    if (g->nreps == g->reps_cap) {
        uint32_t cap = g->reps_cap ? 2 * g->reps_cap : 64;
        rep_t *r = realloc(g->reps, cap * sizeof *r);
        if (!r) return FD_ERR_NOMEM;
        g->reps = r;
        g->reps_cap = cap;
    }
    if (fd_map_put(g->rep_ids, id, len, (void *)1) != FD_OK) return FD_ERR_NOMEM;
    rep_t *r = &g->reps[g->nreps];
    *r = (rep_t){.team = team};
    r->id = strdup(id);
    r->json = json_string_dup(id, &r->json_len);
    if (!r->id || !r->json) return FD_ERR_NOMEM;
    g->nreps++;
    return FD_OK;
}

fd_err_t build_reps(gen_t *g) {
    if (g->o.reps_file) {
        if (load_reps_file(g, g->o.reps_file) != FD_OK) return FD_ERR_INVAL;
    } else {
        for (long t = 0; t < g->o.teams; t++) {
            char name[32];
            if ((size_t)t < NTEAM_NAMES)
                snprintf(name, sizeof name, "%s", team_names[t]);
            else
                snprintf(name, sizeof name, "team-%ld", t + 1);
            uint32_t idx;
            if (add_team(g, name, &idx) != FD_OK) return FD_ERR_INVAL;
        }
        for (long i = 0; i < g->o.reps; i++) {
            char name[160];
            if ((size_t)i < NREP_NAMES)
                snprintf(name, sizeof name, "%s", rep_names[i]);
            else
                snprintf(name, sizeof name, "%s %ld", rep_names[(size_t)i % NREP_NAMES],
                         (long)((size_t)i / NREP_NAMES) + 1);
            if (add_rep(g, name, (uint32_t)(i % g->o.teams)) != FD_OK) return FD_ERR_INVAL;
        }
    }
    /* Reps differ: skill scales their conversions, weight their share of new deals. */
    double cum = 0;
    for (uint32_t i = 0; i < g->nreps; i++) {
        rep_t *r = &g->reps[i];
        r->skill = rng_range(&g->rng, 0.85, 1.15);
        cum += rng_range(&g->rng, 0.6, 1.4);
        r->weight_cum = cum;
    }
    return FD_OK;
}

/* Splits a comma list into *count <= max trimmed entries (pointers into a copy kept in *store). */
static fd_err_t split_list(const char *opt, const char *s, char **store, char **item, int max,
                           int *count) {
    *store = strdup(s);
    if (!*store) return FD_ERR_NOMEM;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(*store, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            fprintf(stderr, PROG ": %s: expected at most %d entries, got more\n", opt, max);
            return FD_ERR_INVAL;
        }
        item[n++] = trim(tok);
    }
    if (n == 0) {
        fprintf(stderr, PROG ": %s: expected a comma-separated list, got '%s'\n", opt, s);
        return FD_ERR_INVAL;
    }
    *count = n;
    return FD_OK;
}

/* One end of a collapse: "+<duration>" from the start (from the run's start on the wall clock
 * with --live), or a time parse_time_arg accepts. */
static fd_err_t parse_when(gen_t *g, const char *s, int64_t now, int64_t *out) {
    if (s[0] == '+') {
        int64_t d;
        if (parse_duration_ms("--collapse time", s + 1, &d) != FD_OK) return FD_ERR_INVAL;
        *out = (g->o.live ? now : g->start_ms) + d;
        return FD_OK;
    }
    return parse_time_arg("--collapse time", s, now, out);
}

/* True when s is TIME or TIME..TIME with nothing after: relative ends hold no ':', absolute ones
 * must parse as RFC 3339 (which may hold ':'). */
static bool is_when_range(const char *s) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *dots = strstr(buf, "..");
    char *parts[2] = {buf, dots ? dots + 2 : NULL};
    if (dots) *dots = '\0';
    for (int i = 0; i < 2 && parts[i]; i++) {
        const char *p = parts[i];
        int64_t t;
        if (p[0] == '+' ? strchr(p, ':') != NULL
                        : fd_event_parse_time(p, strlen(p), &t) != FD_OK && strchr(p, ':') != NULL)
            return false;
    }
    return true;
}

/* 'REP:STAGE:TIME[..UNTIL][:FACTOR]'. TIME may contain ':' (RFC 3339), so FACTOR is only split
 * off when the whole rest is not a time range. */
fd_err_t parse_collapse(gen_t *g, const char *spec, int64_t now, collapse_t *c) {
    const char *a = strchr(spec, ':');
    const char *b = a ? strchr(a + 1, ':') : NULL;
    if (!a || !b || a == spec || b == a + 1 || b[1] == '\0') {
        fprintf(stderr,
                PROG ": --collapse: expected 'REP:STAGE:TIME[..UNTIL][:FACTOR]', got '%s'\n", spec);
        return FD_ERR_INVAL;
    }
    size_t rep_len = (size_t)(a - spec);
    if (rep_len > FD_ID_MAX) {
        fprintf(stderr, PROG ": --collapse: rep id longer than %d bytes in '%s'\n", FD_ID_MAX,
                spec);
        return FD_ERR_INVAL;
    }
    memcpy(c->rep, spec, rep_len);
    c->rep[rep_len] = '\0';
    bool found = false;
    for (uint32_t i = 0; i < g->nreps && !found; i++)
        found = strcmp(g->reps[i].id, c->rep) == 0;
    if (!found) {
        fprintf(stderr, PROG ": --collapse: no rep '%s'; the reps are:", c->rep);
        for (uint32_t i = 0; i < g->nreps && i < 50; i++)
            fprintf(stderr, "%s '%s'", i ? "," : "", g->reps[i].id);
        fprintf(stderr, "%s\n", g->nreps > 50 ? ", ..." : "");
        return FD_ERR_INVAL;
    }
    if (!fd_funnel_stage_index(g->fn, a + 1, (size_t)(b - a - 1), &c->stage) ||
        c->stage >= g->last) {
        fprintf(stderr, PROG ": --collapse: expected a stage before the won stage, got '%.*s'\n",
                (int)(b - a - 1), a + 1);
        return FD_ERR_INVAL;
    }
    char rest[128];
    snprintf(rest, sizeof rest, "%s", b + 1);
    c->factor = 0.1;
    c->until_ms = INT64_MAX;
    if (!is_when_range(rest)) {
        char *colon = strrchr(rest, ':');
        if (colon) {
            *colon = '\0';
            if (parse_double("--collapse factor", colon + 1, 0, 1, &c->factor) != FD_OK)
                return FD_ERR_INVAL;
        }
    }
    char *dots = strstr(rest, "..");
    if (dots) {
        *dots = '\0';
        if (parse_when(g, dots + 2, now, &c->until_ms) != FD_OK) return FD_ERR_INVAL;
    }
    if (parse_when(g, rest, now, &c->at_ms) != FD_OK) return FD_ERR_INVAL;
    if (c->until_ms <= c->at_ms) {
        fprintf(stderr, PROG ": --collapse: the end of '%s' is not after its start\n", spec);
        return FD_ERR_INVAL;
    }
    return FD_OK;
}

fd_err_t build_model(gen_t *g) {
    char *stage_store = NULL, *kind_store = NULL, *conv_store = NULL, *rate_store = NULL;
    char *stage[FD_MAX_STAGES], *kind[FD_MAX_KINDS], *conv[FD_MAX_STAGES], *rate[FD_MAX_KINDS];
    char errstr[256];
    fd_err_t rc = FD_ERR_INVAL;
    int ns = 5, nk = 5;
    bool default_stages_used = !g->o.stages, default_kinds_used = !g->o.activities;
    if (g->o.stages) {
        if (split_list("--stages", g->o.stages, &stage_store, stage, FD_MAX_STAGES, &ns) != FD_OK)
            goto done;
        /* The default list spelled out is still the default model. */
        default_stages_used = ns == 5;
        for (int i = 0; i < ns && default_stages_used; i++)
            default_stages_used = strcmp(stage[i], default_stages[i]) == 0;
    } else {
        for (int i = 0; i < ns; i++)
            stage[i] = (char *)default_stages[i];
    }
    if (g->o.activities) {
        if (split_list("--activities", g->o.activities, &kind_store, kind, FD_MAX_KINDS, &nk) !=
            FD_OK)
            goto done;
    } else {
        for (int i = 0; i < nk; i++)
            kind[i] = (char *)default_kinds[i];
    }
    if (fd_funnel_new((const char *const *)stage, (size_t)ns, (const char *const *)kind, (size_t)nk,
                      &g->fn, errstr, sizeof errstr) != FD_OK) {
        fprintf(stderr, PROG ": --stages/--activities: %s\n", errstr);
        goto done;
    }
    g->nstages = ns;
    g->last = ns - 1;
    g->nkinds = nk;
    for (int s = 0; s < g->last; s++) {
        g->conv[s] = default_stages_used ? default_conv[s] : DEFAULT_CONV;
        g->dwell_h[s] = default_stages_used ? default_dwell_h[s] : DEFAULT_DWELL_H;
    }
    if (g->o.conv) {
        int n = 0;
        if (split_list("--conv", g->o.conv, &conv_store, conv, FD_MAX_STAGES, &n) != FD_OK)
            goto done;
        if (n != g->last) {
            fprintf(stderr,
                    PROG ": --conv: expected %d probabilities (one per stage before the "
                         "won stage), got %d\n",
                    g->last, n);
            goto done;
        }
        for (int s = 0; s < n; s++)
            if (parse_double("--conv", conv[s], 0, 1, &g->conv[s]) != FD_OK) goto done;
    }
    for (int k = 0; k < nk; k++)
        g->kind_rate[k] = default_kinds_used ? default_kind_rate[k] : DEFAULT_KIND_RATE;
    if (g->o.activity_rates) {
        int n = 0;
        if (split_list("--activity-rates", g->o.activity_rates, &rate_store, rate, FD_MAX_KINDS,
                       &n) != FD_OK)
            goto done;
        if (n != nk) {
            fprintf(stderr,
                    PROG ": --activity-rates: expected %d rates (one per activity kind), "
                         "got %d\n",
                    nk, n);
            goto done;
        }
        for (int k = 0; k < n; k++)
            if (parse_double("--activity-rates", rate[k], 0, 1000, &g->kind_rate[k]) != FD_OK)
                goto done;
    }
    g->kind_total = 0;
    for (int k = 0; k < nk; k++)
        g->kind_total += g->kind_rate[k];
    for (int s = 0; s < ns; s++)
        if (!(g->stage_json[s] = json_string_dup(fd_funnel_stage_name(g->fn, s), NULL))) goto done;
    for (int k = 0; k < nk; k++)
        if (!(g->kind_json[k] = json_string_dup(fd_funnel_kind_name(g->fn, k), NULL))) goto done;
    rc = FD_OK;
done:
    free(stage_store);
    free(kind_store);
    free(conv_store);
    free(rate_store);
    return rc;
}
