// SPDX-License-Identifier: MIT
// The API's typed view of a metric hash (layer 1, pure). See funnelview.h.
#include "model/funnelview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "model/metrics.h"

fd_field_kind_t fd_funnelview_kind(const fd_funnel_t *fn, const char *name) {
    size_t last = fd_funnel_nstages(fn) - 1;
    for (size_t i = 0; i < fd_funnel_nfields(fn); i++) {
        if (strcmp(fd_funnel_field_name(fn, i), name) != 0) continue;
        /* the won stage has entered only */
        for (int f = 1; f < FD_F_PER_STAGE; f++)
            if (i == fd_funnel_field_stage(fn, (int)last, f)) return FD_FIELD_UNKNOWN;
        return fd_funnel_field_hundredths(fn, i) ? FD_FIELD_AMOUNT : FD_FIELD_COUNTER;
    }
    char buf[160];
    for (size_t i = 0; i < fd_metrics_count(fn); i++) {
        fd_metric_t m;
        fd_metrics_get(fn, i, &m);
        fd_metrics_name(fn, &m, buf, sizeof buf);
        if (strcmp(buf, name) == 0) return FD_FIELD_RATE;
    }
    return FD_FIELD_UNKNOWN;
}

/* A JSON integer's digits: "0" or no leading zero, at most 18 digits (exact in int64). */
static bool is_integer(const char *s) {
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 18 && s[n] == '\0' && (s[0] != '0' || n == 1);
}

/* [-]<integer>[.<digits>] as a JSON number. */
static bool is_decimal(const char *s) {
    if (*s == '-') s++;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || (s[0] == '0' && n > 1)) return false;
    s += n;
    if (*s == '.') {
        s++;
        size_t d = strspn(s, "0123456789");
        if (d == 0) return false;
        s += d;
    }
    return *s == '\0';
}

static cJSON *typed(fd_field_kind_t kind, const char *value) {
    switch (kind) {
    case FD_FIELD_COUNTER:
        if (value == NULL) return cJSON_CreateRaw("0");
        return is_integer(value) ? cJSON_CreateRaw(value) : cJSON_CreateString(value);
    case FD_FIELD_AMOUNT:
        return cJSON_CreateString(value != NULL ? value : "0.00");
    case FD_FIELD_RATE:
        if (value == NULL) return cJSON_CreateNull();
        return is_decimal(value) ? cJSON_CreateRaw(value) : cJSON_CreateString(value);
    default:
        return value != NULL ? cJSON_CreateString(value) : cJSON_CreateNull();
    }
}

char *fd_funnelview_value(fd_field_kind_t kind, const char *value) {
    cJSON *j = typed(kind, value);
    if (j == NULL) return NULL;
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

bool fd_funnelview_number(fd_field_kind_t kind, const char *value, double *out) {
    if (value == NULL) {
        if (kind == FD_FIELD_RATE || kind == FD_FIELD_UNKNOWN) return false;
        *out = 0;
        return true;
    }
    if (!is_decimal(value)) return false;
    *out = strtod(value, NULL);
    return true;
}

bool fd_funnelview_rfc3339(int64_t ms, char *buf, size_t size) {
    int64_t s = ms / 1000;
    if (ms % 1000 < 0) s--;
    time_t t = (time_t)s;
    struct tm tm;
    if ((int64_t)t != s || gmtime_r(&t, &tm) == NULL) return false;
    if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) return false;
    int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n > 0 && (size_t)n < size;
}

static const char *hget(const fd_funnelview_t *v, const char *name) {
    for (size_t i = 0; i < v->nfields; i++)
        if (strcmp(v->fields[i], name) == 0) return v->values[i];
    return NULL;
}

/* Adds name: the typed value of the stored field `field`; false when memory is short. */
static bool add(cJSON *o, const char *name, const fd_funnelview_t *v, fd_field_kind_t kind,
                const char *field) {
    cJSON *j = typed(kind, hget(v, field));
    return j != NULL && cJSON_AddItemToObject(o, name, j);
}

static bool add_str_or_null(cJSON *o, const char *name, const char *s) {
    return (s != NULL ? cJSON_AddStringToObject(o, name, s) : cJSON_AddNullToObject(o, name)) !=
           NULL;
}

static bool add_bound(cJSON *o, const char *name, bool bounded, int64_t ms, bool *range) {
    if (!bounded) return cJSON_AddNullToObject(o, name) != NULL;
    char buf[40];
    if (!fd_funnelview_rfc3339(ms, buf, sizeof buf)) {
        *range = true;
        return false;
    }
    return cJSON_AddStringToObject(o, name, buf) != NULL;
}

static const char *all_get(const fd_funnelview_t *v, const char *name) {
    for (size_t i = 0; i < v->nall; i++)
        if (strcmp(v->all_fields[i], name) == 0) return v->all_values[i];
    return NULL;
}

/* "pipeline": the open deals and their amount per stage (all but the won stage) and in total,
 * from the scope's "all" hash: a stock, as of now whatever the window. */
static bool add_pipeline(cJSON *o, const fd_funnel_t *fn, const fd_funnelview_t *v) {
    cJSON *p = cJSON_AddObjectToObject(o, "pipeline");
    bool ok = p != NULL && cJSON_AddStringToObject(p, "window", "all") != NULL;
    cJSON *st = ok ? cJSON_AddArrayToObject(p, "stages") : NULL;
    ok = ok && st != NULL;
    size_t ns = fd_funnel_nstages(fn);
    char name[160];
    for (size_t s = 0; ok && s + 1 < ns; s++) {
        cJSON *e = cJSON_CreateObject();
        ok = e != NULL && cJSON_AddItemToArray(st, e);
        const char *sn = fd_funnel_stage_name(fn, (int)s);
        ok = ok && cJSON_AddStringToObject(e, "stage", sn) != NULL;
        snprintf(name, sizeof name, "open:%s", sn);
        cJSON *j = ok ? typed(FD_FIELD_COUNTER, all_get(v, name)) : NULL;
        ok = j != NULL && cJSON_AddItemToObject(e, "open", j);
        snprintf(name, sizeof name, "open_amount:%s", sn);
        j = ok ? typed(FD_FIELD_AMOUNT, all_get(v, name)) : NULL;
        ok = j != NULL && cJSON_AddItemToObject(e, "open_amount", j);
    }
    cJSON *j = ok ? typed(FD_FIELD_COUNTER, all_get(v, "open")) : NULL;
    ok = j != NULL && cJSON_AddItemToObject(p, "open", j);
    j = ok ? typed(FD_FIELD_AMOUNT, all_get(v, "open_amount")) : NULL;
    return j != NULL && cJSON_AddItemToObject(p, "open_amount", j);
}

/* A stored counter (absent or malformed: 0). */
static int64_t counter(const fd_funnelview_t *v, const char *name) {
    const char *s = hget(v, name);
    return s != NULL && is_integer(s) ? strtoll(s, NULL, 10) : 0;
}

/* A stored amount with two decimals in hundredths (absent or malformed: 0), exactly. */
static int64_t hundredths(const fd_funnelview_t *v, const char *name) {
    const char *s = hget(v, name);
    if (s == NULL || !is_decimal(s)) return 0;
    bool neg = *s == '-';
    if (neg) s++;
    int64_t units = strtoll(s, NULL, 10), cents = 0;
    const char *dot = strchr(s, '.');
    if (dot != NULL) {
        cents = (dot[1] - '0') * 10;
        if (dot[2] >= '0' && dot[2] <= '9') cents += dot[2] - '0';
    }
    int64_t h = units * 100 + cents;
    return neg ? -h : h;
}

bool fd_funnelview_velocity(const fd_funnel_t *fn, const fd_funnelview_t *v, int64_t open,
                            double *value, double in[3], bool has[3]) {
    size_t nf = fd_funnel_nfields(fn);
    int64_t fields[FD_MAX_STAGES * FD_F_PER_STAGE + FD_G_COUNT + FD_MAX_KINDS];
    for (size_t f = 0; f < nf; f++) {
        const char *name = fd_funnel_field_name(fn, f);
        fields[f] = fd_funnel_field_hundredths(fn, f) ? hundredths(v, name) : counter(v, name);
    }
    return fd_metrics_velocity(fn, fields, open, value, in, has);
}

static bool add_number(cJSON *o, const char *name, bool has, int decimals, double x) {
    if (!has) return cJSON_AddNullToObject(o, name) != NULL;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", decimals, x);
    return cJSON_AddRawToObject(o, name, buf) != NULL;
}

/* "velocity": the value (null when undefined), its unit, the formula and its four inputs: the
 * open deals now, and the window's win_rate, avg_won_amount and cycle_days. */
static bool add_velocity(cJSON *o, const fd_funnel_t *fn, const fd_funnelview_t *v) {
    const char *os = all_get(v, "open");
    int64_t open = os != NULL && is_integer(os) ? strtoll(os, NULL, 10) : 0;
    double value, in[3];
    bool has[3];
    bool defined = fd_funnelview_velocity(fn, v, open, &value, in, has);
    cJSON *j = cJSON_AddObjectToObject(o, "velocity");
    bool ok = j != NULL && add_number(j, "value", defined, 2, value) &&
              cJSON_AddStringToObject(j, "unit", "per day") != NULL &&
              cJSON_AddStringToObject(j, "formula",
                                      "open × win_rate × avg_won_amount ÷ cycle_days") != NULL;
    cJSON *inputs = ok ? cJSON_AddObjectToObject(j, "inputs") : NULL;
    ok = ok && inputs != NULL;
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)open);
    return ok && cJSON_AddRawToObject(inputs, "open", buf) != NULL &&
           add_number(inputs, "win_rate", has[0], 4, in[0]) &&
           add_number(inputs, "avg_won_amount", has[1], 2, in[1]) &&
           add_number(inputs, "cycle_days", has[2], 2, in[2]);
}

static const char *const stage_fields[] = {"entered",      "advanced",    "conv",
                                           "moved_on",     "lost_at",     "exit_conv",
                                           "dwell_sum_ms", "dwell_count", "dwell_hours"};

fd_err_t fd_funnelview_json(const fd_funnel_t *fn, const fd_funnelview_t *v, char **out) {
    *out = NULL;
    bool range = false, ok = true;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return FD_ERR_NOMEM;
    ok = ok && add_str_or_null(o, "scope", v->scope) && add_str_or_null(o, "id", v->id) &&
         add_str_or_null(o, "window", v->window) &&
         add_bound(o, "window_start", v->bounded, v->start_ms, &range) &&
         add_bound(o, "window_end", v->bounded, v->end_ms, &range) &&
         add_str_or_null(o, "timezone", v->timezone) &&
         cJSON_AddBoolToObject(o, "exists", v->nfields > 0) != NULL &&
         add_str_or_null(o, "position", v->position);
    cJSON *stages = ok ? cJSON_AddArrayToObject(o, "stages") : NULL;
    ok = ok && stages != NULL;
    size_t ns = fd_funnel_nstages(fn);
    char name[160];
    for (size_t s = 0; ok && s < ns; s++) {
        cJSON *st = cJSON_CreateObject();
        ok = st != NULL && cJSON_AddItemToArray(stages, st);
        const char *sn = fd_funnel_stage_name(fn, (int)s);
        ok = ok && cJSON_AddStringToObject(st, "stage", sn) != NULL;
        size_t nf = s + 1 < ns ? sizeof stage_fields / sizeof *stage_fields : 1;
        for (size_t f = 0; ok && f < nf; f++) {
            snprintf(name, sizeof name, "%s:%s", stage_fields[f], sn);
            ok = add(st, stage_fields[f], v, fd_funnelview_kind(fn, name), name);
        }
    }
    ok = ok && add(o, "won", v, FD_FIELD_COUNTER, "won") &&
         add(o, "lost", v, FD_FIELD_COUNTER, "lost") &&
         add(o, "won_amount", v, FD_FIELD_AMOUNT, "won_amount") &&
         add(o, "win_rate", v, FD_FIELD_RATE, "win_rate");
    cJSON *acts = ok ? cJSON_AddObjectToObject(o, "activities") : NULL;
    ok = ok && acts != NULL;
    for (size_t k = 0; ok && k < fd_funnel_nkinds(fn); k++) {
        const char *kn = fd_funnel_kind_name(fn, (int)k);
        snprintf(name, sizeof name, "activity:%s", kn);
        ok = add(acts, kn, v, FD_FIELD_COUNTER, name);
    }
    ok = ok && add(o, "feedback_count", v, FD_FIELD_COUNTER, "feedback_count") &&
         add(o, "feedback_sum", v, FD_FIELD_AMOUNT, "feedback_sum") &&
         add(o, "feedback_avg", v, FD_FIELD_RATE, "feedback_avg") &&
         add(o, "complaints", v, FD_FIELD_COUNTER, "complaints") &&
         add(o, "events", v, FD_FIELD_COUNTER, "events");
    ok = ok && add(o, "cycle_sum_ms", v, FD_FIELD_COUNTER, "cycle_sum_ms") &&
         add(o, "cycle_count", v, FD_FIELD_COUNTER, "cycle_count") &&
         add(o, "cycle_days", v, FD_FIELD_RATE, "cycle_days") &&
         add(o, "avg_won_amount", v, FD_FIELD_RATE, "avg_won_amount");
    ok = ok && add_pipeline(o, fn, v) && add_velocity(o, fn, v);
    cJSON *fields = ok ? cJSON_AddObjectToObject(o, "fields") : NULL;
    ok = ok && fields != NULL;
    for (size_t i = 0; ok && i < v->nfields; i++) {
        cJSON *j = typed(fd_funnelview_kind(fn, v->fields[i]), v->values[i]);
        ok = j != NULL && cJSON_AddItemToObject(fields, v->fields[i], j);
    }
    if (ok) *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (*out == NULL) return range ? FD_ERR_RANGE : FD_ERR_NOMEM;
    return FD_OK;
}

/* ---- scorecards ---- */

typedef struct {
    const char *const *f;
    const char *const *v;
    size_t n;
} card_t;

static const char *card_get(const card_t *c, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->f[i], name) == 0) return c->v[i];
    return NULL;
}

/* A stored number (integer or decimal) as a JSON number, absent as null, anything else as the
 * string it is. */
static bool card_number(cJSON *o, const char *name, const char *value) {
    cJSON *j = value == NULL       ? cJSON_CreateNull()
               : is_decimal(value) ? cJSON_CreateRaw(value)
                                   : cJSON_CreateString(value);
    return j != NULL && cJSON_AddItemToObject(o, name, j);
}

static bool card_string(cJSON *o, const char *name, const char *value) {
    return (value != NULL ? cJSON_AddStringToObject(o, name, value)
                          : cJSON_AddNullToObject(o, name)) != NULL;
}

static bool card_time(cJSON *o, const char *name, const char *ms) {
    char buf[40];
    if (ms == NULL || !is_decimal(ms) || strchr(ms, '.') != NULL ||
        !fd_funnelview_rfc3339(strtoll(ms, NULL, 10), buf, sizeof buf))
        return cJSON_AddNullToObject(o, name) != NULL;
    return cJSON_AddStringToObject(o, name, buf) != NULL;
}

/* Per KPI line: the suffixes of "<kpi>.<suffix>" and whether each is a number. */
static const struct {
    const char *name;
    bool number;
} line_fields[] = {
    {"status", false}, {"direction", false},     {"value", true},       {"samples", true},
    {"target", true},  {"target_source", false}, {"expected", true},    {"attainment", true},
    {"points", true},  {"weight", true},         {"weight_used", true}, {"weighted", true},
    {"fields", false}, {"adjusted_value", true},
};

fd_err_t fd_funnelview_scorecard_json(const char *const *fields, const char *const *values,
                                      size_t n, const char *const *adj, size_t nadj, char **out) {
    *out = NULL;
    card_t c = {fields, values, n};
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return FD_ERR_NOMEM;
    static const char *const strings[] = {"scope", "id", "team", "period", "state"};
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof strings / sizeof *strings; i++)
        ok = card_string(o, strings[i], card_get(&c, strings[i]));
    ok = ok && card_time(o, "start", card_get(&c, "start_ms")) &&
         card_time(o, "end", card_get(&c, "end_ms"));
    static const char *const numbers[] = {"start_ms", "end_ms",  "clock_ms", "computed_ms",
                                          "final_ms", "elapsed", "score"};
    for (size_t i = 0; ok && i < sizeof numbers / sizeof *numbers; i++)
        ok = card_number(o, numbers[i], card_get(&c, numbers[i]));
    ok = ok && card_string(o, "grade", card_get(&c, "grade"));
    static const char *const ranks[] = {"rank_org", "of_org", "rank_team", "of_team"};
    for (size_t i = 0; ok && i < sizeof ranks / sizeof *ranks; i++)
        ok = card_number(o, ranks[i], card_get(&c, ranks[i]));
    cJSON *lines = ok ? cJSON_AddArrayToObject(o, "kpis") : NULL;
    ok = ok && lines != NULL;
    const char *kpis = card_get(&c, "kpis");
    char name[256];
    while (ok && kpis != NULL && *kpis != '\0') {
        size_t len = strcspn(kpis, ",");
        cJSON *l = cJSON_CreateObject();
        ok = l != NULL && cJSON_AddItemToArray(lines, l);
        snprintf(name, sizeof name, "%.*s", (int)(len < 200 ? len : 200), kpis);
        ok = ok && cJSON_AddStringToObject(l, "kpi", name) != NULL;
        for (size_t k = 0; ok && k < sizeof line_fields / sizeof *line_fields; k++) {
            snprintf(name, sizeof name, "%.*s.%s", (int)(len < 200 ? len : 200), kpis,
                     line_fields[k].name);
            const char *x = card_get(&c, name);
            ok = line_fields[k].number ? card_number(l, line_fields[k].name, x)
                                       : card_string(l, line_fields[k].name, x);
        }
        kpis += len;
        if (*kpis == ',') kpis++;
    }
    const char *na = card_get(&c, "adjustments");
    ok = ok && card_number(o, "adjustment_count", na != NULL ? na : "0") &&
         card_number(o, "adjusted_score", card_get(&c, "adjusted_score")) &&
         card_string(o, "adjusted_grade", card_get(&c, "adjusted_grade"));
    cJSON *list = ok ? cJSON_AddArrayToObject(o, "adjustments") : NULL;
    ok = ok && list != NULL;
    for (size_t i = 0; ok && i < nadj; i++) {
        cJSON *j = cJSON_Parse(adj[i]);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            j = cJSON_CreateString(adj[i]);
        }
        ok = j != NULL && cJSON_AddItemToArray(list, j);
    }
    if (ok) *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *out != NULL ? FD_OK : FD_ERR_NOMEM;
}
